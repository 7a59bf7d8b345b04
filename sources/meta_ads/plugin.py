"""Registration of the Meta Ads source (entry point ``mdw.sources: meta_ads``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from marketing_dwh.registry import FROZEN_DATA_TYPES, SourcePlugin
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


def load_warnings(client: Any, load_id: str) -> list[str]:
    """Why insights stopped early in this load (retry budget used up): account, last error, what to do."""
    if not client.has_dataset():
        return []
    tables = {t for (t,) in client.execute_sql(
        "select table_name from information_schema.tables where table_schema = %s", client.dataset_name)}  # fmt: skip
    if "run_stops" not in tables:
        return []
    table = client.make_qualified_table_name("run_stops")
    rows = client.execute_sql(f"select message from {table} where _dlt_load_id = %s order by account_id", load_id)
    return [r[0] for r in rows or []]


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
