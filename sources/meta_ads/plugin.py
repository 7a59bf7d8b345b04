"""Registration of the Meta Ads source (entry point ``mdw.sources: meta_ads``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sources.meta_ads import meta_ads
from sources.meta_ads.tables import TABLES
from sources.registry import SourcePlugin


@contextlib.contextmanager
def sandbox(world: Any, workdir: Path) -> Iterator[dict[str, Any]]:
    """Serve the demo world's Meta accounts from the Graph API emulator and point the real SDK at it."""
    from sources.meta_ads.emulator import GraphEmulator, demo_data

    with GraphEmulator(demo_data(world)) as emulator:
        yield {
            "access_token": emulator.access_token,
            "graph_url": emulator.url,
            "account_ids": [a.account_id for a in world.meta_accounts],
            "start_date": world.start.isoformat(),  # the first run reaches back to the demo world's start
            "poll_interval_s": 0.02,
        }


plugin = SourcePlugin(
    name="meta_ads",
    description="Meta (Facebook) Ads: accounts, campaigns, ad sets, ads, creatives and daily insights",
    source_factory=meta_ads,
    config_section="sources.meta_ads",
    sandbox=sandbox,
    tables=TABLES,
    backfill_args=("since", "until"),
)
