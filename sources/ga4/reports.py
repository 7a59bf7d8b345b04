"""Report definitions (built-in and from config) and turning runReport responses into rows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from google.analytics.data_v1beta.types import (
    DateRange,
    Dimension,
    Filter,
    FilterExpression,
    Metric,
    RunReportRequest,
)

from sources.ga4.settings import BUILTIN_REPORTS


@dataclass(frozen=True)
class ReportSpec:
    name: str
    dimensions: tuple[str, ...]
    metrics: tuple[str, ...]
    dimension_filter: dict[str, Any] | None = None  # {"field": ..., "value": ...} or {"field": ..., "in": [...]}

    @property
    def has_date(self) -> bool:
        return "date" in self.dimensions

    @property
    def table(self) -> str:
        return f"report_{self.name}"

    @property
    def columns(self) -> list[str]:
        return [column_name(d) for d in self.dimensions]

    def request(self, property_id: str, start: str, end: str, offset: int, limit: int) -> RunReportRequest:
        request = RunReportRequest(
            property=f"properties/{property_id}",
            dimensions=[Dimension(name=d) for d in self.dimensions],
            metrics=[Metric(name=m) for m in self.metrics],
            date_ranges=[DateRange(start_date=start, end_date=end)],
            offset=offset,
            limit=limit,
            return_property_quota=True,
        )
        if self.dimension_filter:
            request.dimension_filter = _filter(self.dimension_filter)
        return request


def _filter(spec: dict[str, Any]) -> FilterExpression:
    if "in" in spec:
        return FilterExpression(
            filter=Filter(field_name=spec["field"], in_list_filter=Filter.InListFilter(values=list(spec["in"])))
        )
    return FilterExpression(
        filter=Filter(field_name=spec["field"], string_filter=Filter.StringFilter(value=str(spec["value"])))
    )


def column_name(api_name: str) -> str:
    """GA4 API names as warehouse columns: sessionSource -> session_source, customUser:x -> x."""
    name = api_name.split(":", 1)[-1]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def report_specs(custom: list[dict[str, Any]] | None) -> list[ReportSpec]:
    """Built-in reports plus user-defined ones from config; names must be unique."""
    specs = [ReportSpec(name, tuple(r["dimensions"]), tuple(r["metrics"]), r.get("dimension_filter"))
             for name, r in BUILTIN_REPORTS.items()]  # fmt: skip
    for r in custom or []:
        missing = [k for k in ("name", "dimensions", "metrics") if not r.get(k)]
        if missing:
            raise ValueError(f"sources.ga4.reports: a report lacks {', '.join(missing)}: {r}")
        specs.append(ReportSpec(r["name"], tuple(r["dimensions"]), tuple(r["metrics"]), r.get("dimension_filter")))
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"sources.ga4.reports: report names must be unique, repeated: {', '.join(dupes)}")
    return specs


def _metric_cast(type_name: str) -> Any:
    """Metric values arrive as strings: integers by the header's type, everything else (currency included:
    GA4 computes it in floating point) as double; staging casts money to decimals."""
    return int if type_name == "TYPE_INTEGER" else float


def response_rows(spec: ReportSpec, response: Any, property_id: str) -> list[dict[str, Any]]:
    """Rows of one runReport page, dimension and metric values as the API sends them (strings)."""
    dims = [column_name(h.name) for h in response.dimension_headers]
    mets = [column_name(h.name) for h in response.metric_headers]
    casts = [_metric_cast(getattr(h.type_, "name", "")) for h in response.metric_headers]
    rows = []
    for r in response.rows:
        row: dict[str, Any] = {"property_id": property_id}
        row.update(zip(dims, (v.value for v in r.dimension_values), strict=True))
        if len(row.get("date") or "") == 8:  # YYYYMMDD -> ISO date; "(other)" stays as sent
            d = row["date"]
            row["date"] = f"{d[:4]}-{d[4:6]}-{d[6:]}"
        row.update((m, cast(v.value)) for m, cast, v in zip(mets, casts, r.metric_values, strict=True))
        rows.append(row)
    return rows
