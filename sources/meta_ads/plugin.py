"""Registration of the Meta Ads source (entry point ``mdw.sources: meta_ads``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from marketing_dwh.registry import FROZEN_DATA_TYPES, SourcePlugin, messages_of_load
from sources.meta_ads import meta_ads
from sources.meta_ads.tables import QUARANTINE_TABLE, TABLES


@contextlib.contextmanager
def sandbox(world: Any, workdir: Path) -> Iterator[dict[str, Any]]:
    """Serve the demo world's Meta accounts from the Graph API emulator and point the real SDK at it."""
    from sources.meta_ads.emulator import GraphEmulator, demo_data

    with GraphEmulator(demo_data(world)) as emulator:
        yield {
            "access_token": emulator.access_token,
            "graph_url": emulator.url,
            "account_ids": [a.account_id for a in world.accounts("meta")],
            "start_date": world.start.isoformat(),  # the first run reaches back to the demo world's start
            "poll_interval_s": 0.02,
        }


# Why insights stopped early in this load (retry budget used up): account, last error, what to do.
load_warnings = messages_of_load("run_stops", order_by="account_id")


plugin = SourcePlugin(
    name="meta_ads",
    description="Meta (Facebook) Ads: accounts, campaigns, ad sets, ads, creatives and daily insights",
    source_factory=meta_ads,
    config_section="sources.meta_ads",
    sandbox=sandbox,
    tables=TABLES,
    quarantine_table=QUARANTINE_TABLE,
    backfill_args=("since", "until"),
    load_warnings=load_warnings,
    dbt_package=Path(__file__).parent / "dbt",
    provides=("ad_platform",),
    freshness=("dim_meta_ads", "date_day"),  # the newest ad day in Gold (its package builds dim_meta_ads)
    schema_contract=FROZEN_DATA_TYPES,  # new tables and columns may appear; data types are frozen
)
