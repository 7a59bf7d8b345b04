"""Report definitions (built-in and from config) and turning runReport responses into rows."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

import pyarrow as pa
from google.analytics.data_v1beta.types import (
    DateRange,
    Dimension,
    Filter,
    FilterExpression,
    Metric,
    RunReportRequest,
)

from sources.ga4.settings import BUILTIN_REPORTS, CURRENCY_PRECISION, CURRENCY_SCALE, METRIC_COLUMN_TYPES

OTHER = "(other)"  # the value GA4 puts in a high-cardinality dimension when a report hits its row limits


@dataclass(frozen=True)
class ReportSpec:
    name: str
    dimensions: tuple[str, ...]
    metrics: tuple[str, ...]
    dimension_filter: dict[str, Any] | None = None  # {"field": ..., "value": ...} or {"field": ..., "in": [...]}
    optional: tuple[str, ...] = ()  # dimensions the report runs without when a property lacks them

    def without(self, fields: set[str]) -> ReportSpec:
        """The same report without ``fields`` (optional dimensions the property has not registered)."""
        return replace(self, dimensions=tuple(d for d in self.dimensions if d not in fields))

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
    specs = [ReportSpec(name, tuple(r["dimensions"]), tuple(r["metrics"]), r.get("dimension_filter"),
                        tuple(r.get("optional", ())))
             for name, r in BUILTIN_REPORTS.items()]  # fmt: skip
    for r in custom or []:
        missing = [k for k in ("name", "dimensions", "metrics") if not r.get(k)]
        if missing:
            raise ValueError(f"sources.ga4.reports: a report lacks {', '.join(missing)}: {r}")
        optional = tuple(r.get("optional") or ())
        stray = [d for d in optional if d not in r["dimensions"]]
        if stray:
            raise ValueError(f"sources.ga4.reports: report {r['name']}: optional {stray} are not among its dimensions")
        specs.append(ReportSpec(r["name"], tuple(r["dimensions"]), tuple(r["metrics"]), r.get("dimension_filter"),
                                optional))  # fmt: skip
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"sources.ga4.reports: report names must be unique, repeated: {', '.join(dupes)}")
    return specs


def metric_type_name(header: Any) -> str:
    """A metric header's MetricType name (``TYPE_CURRENCY`` ...), whether the enum arrived as name or number."""
    kind = getattr(header, "type_", None)
    return getattr(kind, "name", None) or str(kind or "")


def metric_column_type(type_name: str) -> pa.DataType:
    """The declared column type of a metric of this MetricType (unknown future types: double)."""
    declared = METRIC_COLUMN_TYPES.get(type_name, "double")
    if declared == "bigint":
        return pa.int64()
    if declared == "decimal":
        return pa.decimal128(CURRENCY_PRECISION, CURRENCY_SCALE)
    return pa.float64()


def _metric_value(text: str, column_type: pa.DataType) -> Any:
    if pa.types.is_integer(column_type):
        return int(Decimal(text))
    if pa.types.is_decimal(column_type):
        return Decimal(text).quantize(Decimal(1).scaleb(-CURRENCY_SCALE))
    return float(text)


def has_other(row: dict[str, Any], dimensions: list[str]) -> bool:
    """Whether any dimension of the row is GA4's ``(other)`` bucket."""
    return any(row.get(d) == OTHER for d in dimensions)


def response_rows(response: Any, property_id: str) -> tuple[list[dict[str, Any]], dict[str, pa.DataType]]:
    """Rows of one runReport page (dimension values as sent, ``date`` as ISO; metrics typed by their header)
    and the column type of every metric."""
    dims = [column_name(h.name) for h in response.dimension_headers]
    types = {column_name(h.name): metric_column_type(metric_type_name(h)) for h in response.metric_headers}
    rows = []
    for r in raw_rows(response):
        row: dict[str, Any] = {"property_id": property_id}
        row.update(zip(dims, (v.value for v in r.dimension_values), strict=True))
        if len(row.get("date") or "") == 8 and row["date"].isdigit():  # YYYYMMDD -> ISO date; "(other)" stays
            d = row["date"]
            row["date"] = f"{d[:4]}-{d[4:6]}-{d[6:]}"
        values = (v.value for v in r.metric_values)
        row.update((m, _metric_value(v, t)) for (m, t), v in zip(types.items(), values, strict=True))
        rows.append(row)
    return rows, types


def raw_rows(response: Any) -> Any:
    """The response's rows as the protobuf messages under the SDK's proto-plus wrappers: reading a value there is
    a C accessor, not a wrapper per value (the rows are most of a report's reading time)."""
    pb = getattr(type(response), "pb", None)
    return pb(response).rows if pb is not None else response.rows


def rows_table(rows: list[dict[str, Any]], metric_types: dict[str, pa.DataType], dated: bool) -> pa.Table:
    """Report rows as an Arrow table: the declared metric types travel with the data into Bronze (Parquet) and
    the warehouse, so currency stays an exact decimal and counts stay integers."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    fields = []
    for name in columns:
        if name in metric_types:
            fields.append(pa.field(name, metric_types[name]))
        elif name == "date" and dated or name in ("range_start", "range_end"):
            fields.append(pa.field(name, pa.date32()))
        else:
            fields.append(pa.field(name, pa.string()))
    schema = pa.schema(fields)
    data = {f.name: [_date(r.get(f.name)) if pa.types.is_date(f.type) else r.get(f.name) for r in rows] for f in schema}
    return pa.table(data, schema=schema)


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value
