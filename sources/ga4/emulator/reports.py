"""The report engine: facts -> filter -> aggregate -> metric filter -> order; paging is left to the caller.

Facts are built once per property: traffic facts (no ``eventName``), event facts (traffic split by
``eventName``: session_start, page_view, purchase, generate_lead) and purchase facts (one per transaction).
``totalUsers`` is not additive across days: a group spanning ``n`` days reports
``max(largest daily value, round(sum * (0.8 + 0.2 / n)))``.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sources.ga4.emulator import errors
from sources.ga4.emulator.data import Ga4Property, purchase_revenue
from sources.ga4.emulator.schema import DIMENSIONS, METRICS, PURCHASE_DIMENSIONS, SUMMED, incompatible_fields

Fact = tuple[dict[str, str], dict[str, float]]  # dimension values, metric values
MAX_LIMIT = 250_000
DEFAULT_LIMIT = 10_000
EARLIEST = date(2015, 8, 14)

_MATCH_TYPES = {1: "EXACT", 2: "BEGINS_WITH", 3: "ENDS_WITH", 4: "CONTAINS", 5: "FULL_REGEXP", 6: "PARTIAL_REGEXP"}
_OPERATIONS = {1: "EQUAL", 2: "LESS_THAN", 3: "LESS_THAN_OR_EQUAL", 4: "GREATER_THAN", 5: "GREATER_THAN_OR_EQUAL"}
_ORDER_TYPES = {1: "ALPHANUMERIC", 2: "CASE_INSENSITIVE_ALPHANUMERIC", 3: "NUMERIC"}


def _enum(value: Any, names: dict[int, str], default: str) -> str:
    """REST clients send enums as ints (``enum-encoding=int``); hand-written JSON may send names."""
    if value in (None, 0, ""):
        return default
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return names.get(int(value), default)
    return str(value)


def _stable(key: str, lo: float, hi: float) -> float:
    return lo + (hi - lo) * (zlib.crc32(key.encode()) % 10_000) / 10_000


# --- facts ------------------------------------------------------------------------------------------------
@dataclass
class Facts:
    traffic: list[Fact]
    events: list[Fact]
    purchases: list[Fact]


def _session_dims(row: dict[str, Any]) -> dict[str, str]:
    return {
        "date": row["date"],
        "sessionSource": row["source"],
        "sessionMedium": row["medium"],
        "sessionCampaignName": row["campaign_name"],
        "sessionCampaignId": row["campaign_id"],
    }


def build_facts(prop: Ga4Property) -> Facts:
    traffic, events, purchases = [], [], []
    for row in prop.traffic:
        dims = _session_dims(row)
        s, u, e = row["sessions"], row["total_users"], row["engaged_sessions"]
        n, revenue = row["ecommerce_purchases"], row["purchase_revenue"]
        leads = max(0, row["key_events"] - n)
        views = round(s * _stable(f"{prop.property_id}|{'|'.join(dims.values())}", 2.2, 3.4))
        split = {
            "session_start": (s, u, e, 0, s, 0, 0.0),
            "page_view": (s, u, e, 0, views, 0, 0.0),
            "purchase": (n, n, n, n, n, n, revenue),
            "generate_lead": (leads, leads, leads, leads, leads, 0, 0.0),
        }
        total = {"sessions": s, "totalUsers": u, "engagedSessions": e, "keyEvents": n + leads}
        total |= {"eventCount": s + views + n + leads, "ecommercePurchases": n, "purchaseRevenue": revenue}
        traffic.append((dims, total))
        for name, values in split.items():
            if values[4]:
                events.append(({**dims, "eventName": name}, dict(zip(SUMMED, values, strict=True))))
    for ev in prop.purchases:
        dims = _session_dims(ev) | {
            "eventName": "purchase",
            "transactionId": ev["transaction_id"],
            "customUser:user_pseudo_id": ev["user_pseudo_id"],
            "customEvent:event_timestamp": str(ev["event_timestamp"]),
        }
        revenue = purchase_revenue(ev, prop.currency)
        metrics = {"keyEvents": 1, "eventCount": 1, "ecommercePurchases": 1, "purchaseRevenue": revenue}
        purchases.append((dims, metrics))
    return Facts(traffic, events, purchases)


def restated(metrics: dict[str, float], factor: float) -> dict[str, float]:
    """Late data: a day's values after a restatement (purchase counts stay, everything else scales)."""
    out = dict(metrics)
    for name, value in metrics.items():
        if name == "purchaseRevenue":
            out[name] = round(value * factor, 2)
        elif name != "ecommercePurchases":
            out[name] = round(value * factor)
    if "keyEvents" in out:
        out["keyEvents"] = max(out["keyEvents"], out.get("ecommercePurchases", 0))
    if "totalUsers" in out:
        out["totalUsers"] = min(out["totalUsers"], out["sessions"])
    return out


# --- requests ---------------------------------------------------------------------------------------------
def parse_date(value: str, today: date) -> date:
    value = (value or "").strip()
    if value == "today":
        return today
    if value == "yesterday":
        return today - timedelta(days=1)
    m = re.fullmatch(r"(\d+)daysAgo", value)
    if m:
        return today - timedelta(days=int(m.group(1)))
    try:
        return date.fromisoformat(value) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else _bad_date(value)
    except ValueError:
        return _bad_date(value)


def _bad_date(value: str) -> date:
    raise errors.invalid(
        f"Invalid date '{value}'. Dates must be in YYYY-MM-DD format, or 'today', 'yesterday', or 'NdaysAgo'."
    )


def _int(value: Any, name: str, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise errors.invalid(f"Invalid value at '{name}' (TYPE_INT64), \"{value}\"") from None


@dataclass
class Request:
    dimensions: list[str]
    metrics: list[str]
    ranges: list[tuple[str, str, str]]  # name, start YYYYMMDD, end YYYYMMDD
    dimension_filter: dict[str, Any] | None
    metric_filter: dict[str, Any] | None
    order_bys: list[dict[str, Any]]
    offset: int
    limit: int
    return_quota: bool


def check_registered(dims: list[str], unregistered: set[str]) -> None:
    """A custom dimension the property has not registered is unknown to it (400, the recorded message)."""
    for d in dims:
        if d in unregistered:
            raise errors.unregistered_dimension(d)


def parse_request(
    body: dict[str, Any], today: date, forced_incompatible: set[str], unregistered: set[str] = frozenset()
) -> Request:
    dims = [d.get("name", "") for d in body.get("dimensions") or []]
    mets = [m.get("name", "") for m in body.get("metrics") or []]
    check_registered(dims, unregistered)
    for d in dims:
        if d not in DIMENSIONS:
            raise errors.unknown_field(d, "dimension")
    for m in mets:
        if m not in METRICS:
            raise errors.unknown_field(m, "metric")
    if not mets and not dims:
        raise errors.invalid("The request must contain at least one dimension or metric.")
    if len(dims) > 9:
        raise errors.invalid("Requests are limited to 9 dimensions.")
    if len(mets) > 10:
        raise errors.invalid("Requests are limited to 10 metrics.")
    filter_dims = _filter_fields(body.get("dimensionFilter"))
    for name in filter_dims:
        if name not in DIMENSIONS:
            raise errors.unknown_field(name, "dimension")
    bad = incompatible_fields([*dims, *[f for f in filter_dims if f not in dims]], mets, forced_incompatible)
    if bad:
        raise errors.incompatible(bad[0])
    raw_ranges = body.get("dateRanges") or []
    if not raw_ranges:
        raise errors.invalid("Must specify at least one date range.")
    if len(raw_ranges) > 4:
        raise errors.invalid("Requests are limited to 4 dateRanges.")
    ranges = []
    for i, r in enumerate(raw_ranges):
        start, end = parse_date(r.get("startDate", ""), today), parse_date(r.get("endDate", ""), today)
        if start > end:
            raise errors.invalid(f"Invalid date range: startDate {start} is after endDate {end}.")
        if start < EARLIEST:
            raise errors.invalid(f"Invalid date range: dates before {EARLIEST.isoformat()} are not supported.")
        ranges.append((r.get("name") or f"date_range_{i}", start.strftime("%Y%m%d"), end.strftime("%Y%m%d")))
    offset = _int(body.get("offset"), "offset", 0)
    limit = _int(body.get("limit"), "limit", 0) or DEFAULT_LIMIT
    if offset < 0:
        raise errors.invalid("offset must be non-negative.")
    if limit < 0 or limit > MAX_LIMIT:
        raise errors.invalid(f"limit must be positive and at most {MAX_LIMIT}.")
    return Request(
        dims,
        mets,
        ranges,
        body.get("dimensionFilter") or None,
        body.get("metricFilter") or None,
        list(body.get("orderBys") or []),
        offset,
        limit,
        bool(body.get("returnPropertyQuota")),
    )


def _filter_fields(expr: dict[str, Any] | None) -> list[str]:
    if not expr:
        return []
    for group in ("andGroup", "orGroup"):
        if group in expr:
            return [f for sub in expr[group].get("expressions") or [] for f in _filter_fields(sub)]
    if "notExpression" in expr:
        return _filter_fields(expr["notExpression"])
    if "filter" in expr:
        return [expr["filter"].get("fieldName", "")]
    return []


# --- filters ----------------------------------------------------------------------------------------------
def _number(value: dict[str, Any] | None) -> float:
    value = value or {}
    if "int64Value" in value:
        return float(value["int64Value"])
    return float(value.get("doubleValue", 0.0))


def _match_filter(flt: dict[str, Any], value: str | float | None) -> bool:
    if "stringFilter" in flt:
        sf = flt["stringFilter"]
        want, got = str(sf.get("value", "")), "" if value is None else str(value)
        if not sf.get("caseSensitive"):
            want, got = want.lower(), got.lower()
        kind = _enum(sf.get("matchType"), _MATCH_TYPES, "EXACT")
        checks: dict[str, Callable[[], bool]] = {
            "EXACT": lambda: got == want,
            "BEGINS_WITH": lambda: got.startswith(want),
            "ENDS_WITH": lambda: got.endswith(want),
            "CONTAINS": lambda: want in got,
            "FULL_REGEXP": lambda: re.fullmatch(want, got) is not None,
            "PARTIAL_REGEXP": lambda: re.search(want, got) is not None,
        }
        return checks.get(kind, checks["EXACT"])()
    if "inListFilter" in flt:
        lf = flt["inListFilter"]
        values = [str(v) for v in lf.get("values") or []]
        got = "" if value is None else str(value)
        if lf.get("caseSensitive"):
            return got in values
        return got.lower() in {v.lower() for v in values}
    if "emptyFilter" in flt:
        return value in (None, "", "(not set)")
    number = float(value or 0) if not isinstance(value, str) else _to_float(value)
    if "numericFilter" in flt:
        nf = flt["numericFilter"]
        other = _number(nf.get("value"))
        op = _enum(nf.get("operation"), _OPERATIONS, "EQUAL")
        return {
            "EQUAL": number == other,
            "LESS_THAN": number < other,
            "LESS_THAN_OR_EQUAL": number <= other,
            "GREATER_THAN": number > other,
            "GREATER_THAN_OR_EQUAL": number >= other,
        }.get(op, False)
    if "betweenFilter" in flt:
        bf = flt["betweenFilter"]
        return _number(bf.get("fromValue")) <= number <= _number(bf.get("toValue"))
    raise errors.invalid("A filter must set one of stringFilter, inListFilter, numericFilter, betweenFilter.")


def _to_float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return float("nan")


def matches(expr: dict[str, Any] | None, lookup: Callable[[str], Any]) -> bool:
    if not expr:
        return True
    if "andGroup" in expr:
        return all(matches(e, lookup) for e in expr["andGroup"].get("expressions") or [])
    if "orGroup" in expr:
        return any(matches(e, lookup) for e in expr["orGroup"].get("expressions") or [])
    if "notExpression" in expr:
        return not matches(expr["notExpression"], lookup)
    if "filter" in expr:
        flt = expr["filter"]
        return _match_filter(flt, lookup(flt.get("fieldName", "")))
    return True


# --- running ----------------------------------------------------------------------------------------------
Row = tuple[list[str], dict[str, float]]


def run(req: Request, facts: Facts, factors: dict[str, float]) -> tuple[list[str], list[Row]]:
    """All rows of the report (dimension headers incl. ``dateRange`` when several ranges), in report order."""
    dims = list(req.dimensions)
    used = set(dims) | set(_filter_fields(req.dimension_filter))
    if used & PURCHASE_DIMENSIONS:
        table = facts.purchases
    elif "eventName" in used:
        table = facts.events
    else:
        table = facts.traffic
    multi = len(req.ranges) > 1
    headers = [*dims, "dateRange"] if multi else dims
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for name, start, end in req.ranges:
        for fact_dims, fact_metrics in table:
            day = fact_dims["date"]
            if not (start <= day <= end):
                continue
            if req.dimension_filter and not matches(req.dimension_filter, fact_dims.get):
                continue
            metrics = fact_metrics
            if day in factors:
                metrics = restated(metrics, factors[day])
            key = tuple(fact_dims.get(d, "(not set)") for d in dims) + ((name,) if multi else ())
            group = groups.get(key)
            if group is None:
                group = groups[key] = {"sums": dict.fromkeys(SUMMED, 0.0), "days": set(), "max_users": 0.0}
            sums = group["sums"]
            for m, v in metrics.items():
                sums[m] += v
            group["days"].add(day)
            group["max_users"] = max(group["max_users"], metrics.get("totalUsers", 0))
    rows: list[Row] = []
    for key, group in groups.items():
        sums = dict(group["sums"])
        n_days = len(group["days"])
        if n_days > 1:
            sums["totalUsers"] = max(group["max_users"], round(sums["totalUsers"] * (0.8 + 0.2 / n_days)))
        sums["engagementRate"] = sums["engagedSessions"] / sums["sessions"] if sums["sessions"] else 0.0
        sums["purchaseRevenue"] = round(sums["purchaseRevenue"], 2)
        values = {m: sums.get(m, 0.0) for m in req.metrics}
        if req.metric_filter and not matches(req.metric_filter, values.get):
            continue
        rows.append((list(key), values))
    return headers, _order(rows, headers, req)


def _order(rows: list[Row], headers: list[str], req: Request) -> list[Row]:
    rows.sort(key=lambda r: r[0])  # stable default: dimension values ascending, in request order
    for spec in reversed(req.order_bys):
        desc = bool(spec.get("desc"))
        if "metric" in spec:
            name = spec["metric"].get("metricName", "")
            if name not in req.metrics:
                raise errors.invalid(f"OrderBy metric {name} must be one of the request's metrics.")
            rows.sort(key=lambda r, n=name: r[1][n], reverse=desc)
        elif "dimension" in spec:
            name = spec["dimension"].get("dimensionName", "")
            if name not in headers:
                raise errors.invalid(f"OrderBy dimension {name} must be one of the request's dimensions.")
            i = headers.index(name)
            kind = _enum(spec["dimension"].get("orderType"), _ORDER_TYPES, "ALPHANUMERIC")
            if kind == "NUMERIC":
                rows.sort(key=lambda r, i=i: _to_float(r[0][i]), reverse=desc)
            elif kind == "CASE_INSENSITIVE_ALPHANUMERIC":
                rows.sort(key=lambda r, i=i: r[0][i].lower(), reverse=desc)
            else:
                rows.sort(key=lambda r, i=i: r[0][i], reverse=desc)
    return rows


def fold_other(rows: list[Row], metrics: list[str], headers: list[str]) -> list[Row]:
    """Cardinality limits: the last tenth of the rows (at least one) collapse into ``(other)`` rows.

    As in real responses, only the high-cardinality dimensions turn into ``(other)``: per date, the dimensions
    whose values differ among the folded rows; the date and the dimensions they share keep their values.
    """
    if len(rows) < 2:
        return rows
    keep = len(rows) - max(1, len(rows) // 10)
    day = headers.index("date") if "date" in headers else None
    by_day: dict[str | None, list[Row]] = {}
    for row in rows[keep:]:
        by_day.setdefault(row[0][day] if day is not None else None, []).append(row)
    out = list(rows[:keep])
    for group in by_day.values():
        dims = [
            values[0] if len(set(values)) == 1 and len(group) > 1 or i == day else "(other)"
            for i, values in enumerate(zip(*(r[0] for r in group), strict=True))
        ]
        totals = {m: sum(r[1][m] for r in group) for m in metrics}
        if "purchaseRevenue" in totals:
            totals["purchaseRevenue"] = round(totals["purchaseRevenue"], 2)
        if "engagementRate" in totals:
            totals["engagementRate"] = sum(r[1]["engagementRate"] for r in group) / len(group)
        out.append((dims, totals))
    return out


def format_value(value: float, metric_type: str) -> str:
    if metric_type == "TYPE_INTEGER":
        return str(int(round(value)))
    if metric_type == "TYPE_CURRENCY":
        text = f"{value:.2f}".rstrip("0").rstrip(".")
        return text if text not in ("-0", "") else "0"
    return repr(round(float(value), 10)) if value else "0"
