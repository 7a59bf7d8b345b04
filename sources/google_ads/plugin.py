"""Registration of the Google Ads source (entry point ``mdw.sources: google_ads``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from marketing_dwh.registry import FROZEN_DATA_TYPES, SourcePlugin, messages_of_load
from sources.google_ads import google_ads
from sources.google_ads.tables import TABLES


@contextlib.contextmanager
def sandbox(world: Any, workdir: Path, customers: int = 1) -> Iterator[dict[str, Any]]:
    """Serve the demo world's Google Ads slice from the gRPC emulator and point the real client at it: the manager
    account as login_customer_id, its client accounts listed through customer_client."""
    from sources.google_ads.demo import demo_data
    from sources.google_ads.emulator import GoogleAdsEmulator

    data = demo_data(world, customers)
    manager = next(c for c, customer in data.customers.items() if customer.manager)
    with GoogleAdsEmulator(data) as emulator:
        yield emulator.source_kwargs(
            login_customer_id=manager,
            start_date=world.start.isoformat(),  # the first run reaches back to the demo world's start
        )


# Accounts that could not be read in this load (partial failures): customer id, error and what happened.
load_warnings = messages_of_load("partial_failures", order_by="customer_id")


plugin = SourcePlugin(
    name="google_ads",
    description="Google Ads: customers, campaigns, ad groups, ads and daily campaign / ad group metrics (GAQL)",
    source_factory=google_ads,
    config_section="sources.google_ads",
    sandbox=sandbox,
    tables=TABLES,
    load_warnings=load_warnings,
    dbt_package=Path(__file__).parent / "dbt",
    provides=("ad_platform",),
    freshness=("fct_google_ads_ad_group_daily", "date_day"),  # the newest ad day in Gold (its package builds it)
    schema_contract=FROZEN_DATA_TYPES,
)
