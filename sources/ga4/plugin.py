"""Registration of the GA4 source (entry point ``mdw.sources: ga4``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from marketing_dwh.registry import FROZEN_DATA_TYPES, SourcePlugin
from sources.ga4 import ga4
from sources.ga4.tables import TABLES


@contextlib.contextmanager
def sandbox(world: Any, workdir: Path) -> Iterator[dict[str, Any]]:
    """Serve the demo world's GA4 property from the Data API emulator; the real client talks REST to it."""
    from sources.ga4.emulator import DataApiEmulator, demo_data

    data = demo_data(world)
    with DataApiEmulator(data) as emulator:
        yield {
            "property_ids": list(data.properties),
            "api_endpoint": emulator.url,
            "transport": "rest",
            "start_date": world.start.isoformat(),
        }


def load_warnings(client: Any, load_id: str) -> list[str]:
    """Sampled responses, ``(other)`` rows that came back, failed and degraded reports and stops (quota, retry
    budget) in this load's report metadata; each distinct message once."""
    if not client.has_dataset():
        return []
    table = client.make_qualified_table_name("report_metadata")
    columns = {c for (c,) in client.execute_sql(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
        client.dataset_name, "report_metadata")}  # fmt: skip
    checks = {
        "sampled": "report {} on property {} was sampled on {} request(s)",
    }
    # a multi-day backfill response fetched again one day per request (``fallback``) is not what was loaded
    kept = " and fallback is null" if "fallback" in columns else ""
    warnings = []
    for column, text in checks.items():
        if column in columns:
            rows = client.execute_sql(
                f"select report, property_id, count(*) from {table} where _dlt_load_id = %s and {column}{kept} "
                "group by 1, 2 order by 1, 2",
                load_id,
            )
            warnings += [text.format(*r) for r in rows or []]
    if "other_rows" in columns:  # dataLossFromOtherRow alone is no news: only rows that did come back
        rows = client.execute_sql(
            f"select report, property_id, sum(other_rows) from {table} where _dlt_load_id = %s and other_rows > 0"
            f"{kept} group by 1, 2 order by 1, 2",
            load_id,
        )
        warnings += [
            f"report {r} on property {p} had {int(n)} '(other)' row(s), kept in other_rows" for r, p, n in rows or []
        ]
    for column, prefix in (("failed", "failed: "), ("degraded", ""), ("stopped", "")):
        if column in columns:
            rows = client.execute_sql(
                f"select distinct {column} from {table} where _dlt_load_id = %s and {column} is not null order by 1",
                load_id,
            )
            warnings += [prefix + r[0] for r in rows or []]
    return warnings


plugin = SourcePlugin(
    name="ga4",
    description="Google Analytics 4: daily traffic, purchases and configured reports from the Data API",
    source_factory=ga4,
    config_section="sources.ga4",
    sandbox=sandbox,
    tables=TABLES,
    backfill_args=("since", "until"),
    load_warnings=load_warnings,
    dbt_package=Path(__file__).parent / "dbt",
    provides=("web_analytics",),
    freshness=("fct_ga4_traffic_daily", "date_day"),  # the newest GA4 day in Gold
    schema_contract=FROZEN_DATA_TYPES,  # new tables and columns may appear; data types are frozen
)
