"""Keys and write dispositions of the GA4 tables in ``raw_ga4``.

Report tables are ``report_<name>`` for the built-in and the configured reports, so their specs are made from
the report definitions: a dated report merges on property x date (a re-fetched day replaces its rows, vanished
rows disappear), a snapshot report on property x date range.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import dlt

from marketing_dwh.registry import TableSpec
from sources.ga4.reports import ReportSpec, column_name, report_specs

_DATE = {"data_type": "date"}

FIXED: dict[str, TableSpec] = {
    "quota_ledger": TableSpec(
        "append", description="one row per Data API response: quota consumed/remaining per bucket", run_log=True
    ),
    "other_rows": TableSpec(
        "append",
        description="'(other)' rows of dated reports (no day to file them under), with their request range",
        run_log=True,
    ),
    "report_metadata": TableSpec(
        "append",
        description="one row per response: sampling, (other) row, thresholding, time zone, currency",
        run_log=True,
    ),
}


def report_table(spec: ReportSpec) -> TableSpec:
    # optional dimensions (custom ones a property may lack) are null there: never part of the key
    optional = {column_name(d) for d in spec.optional}
    dims = tuple(c for c in spec.columns if c != "date" and c not in optional)
    if spec.has_date:
        return TableSpec(
            "merge",
            ("property_id", "date", *dims),
            ("property_id", "date"),
            {"date": _DATE},
            f"GA4 report {spec.name}",
            partition="date",
            cluster=("property_id",),
        )
    key = ("property_id", "range_start", "range_end")
    return TableSpec("merge", (*key, *dims), key, {"range_start": _DATE, "range_end": _DATE},
                     f"GA4 report {spec.name} (snapshot of its date range)", cluster=("property_id",))  # fmt: skip


class Ga4Tables(Mapping[str, TableSpec]):
    """Specs of the fixed tables and of every report in ``sources.ga4.reports`` (read when asked)."""

    def _all(self) -> dict[str, TableSpec]:
        custom: Any = dlt.config.get("sources.ga4.reports")
        return {**FIXED, **{s.table: report_table(s) for s in report_specs(custom or [])}}

    def __getitem__(self, name: str) -> TableSpec:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


TABLES = Ga4Tables()
