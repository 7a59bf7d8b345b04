"""Registration of the CRM source (entry point ``mdw.sources: crm``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from marketing_dwh.registry import FROZEN_DATA_TYPES, SourcePlugin
from sources.crm import crm
from sources.crm.settings import QUARANTINE_TABLE
from sources.crm.tables import TABLES


@contextlib.contextmanager
def sandbox(world: Any, workdir: Path) -> Iterator[dict[str, Any]]:
    """Write the demo world's CRM exports into a landing folder and point the source at it."""
    from sources.crm.demo import write_crm_landing

    landing = workdir / "landing" / "crm"
    write_crm_landing(world, landing)
    yield {"landing_url": str(landing)}


plugin = SourcePlugin(
    name="crm",
    description="CRM orders and contacts from CSV exports in a landing folder or bucket",
    source_factory=crm,
    config_section="sources.crm",
    sandbox=sandbox,
    tables=TABLES,
    quarantine_table=QUARANTINE_TABLE,
    dbt_package=Path(__file__).parent / "dbt",
    provides=("orders",),
    freshness=("fact_orders", "order_date_utc"),  # the newest order day in Gold
    schema_contract=FROZEN_DATA_TYPES,  # new tables and columns may appear; data types are frozen
)
