"""Insights reports: parse a request, then filter, restate, split into breakdowns, aggregate and render rows.

Rows pass through one internal shape (money in cents, actions as ``{action_type: {"value": n, window: n}}``)
so that every level, time bucket and breakdown is computed the same way: sums of ad x day rows, with ratios
(ctr, cpc, cpm, frequency, cost per action ...) recomputed from the sums, never summed. Reach is summed, as if
audiences never overlapped. Rendered rows carry every number as a string.
"""

from __future__ import annotations

import itertools
import json
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sources.meta_ads.emulator.errors import GraphError, invalid_param
from sources.meta_ads.emulator.store import Store

LEVELS = ("account", "campaign", "adset", "ad")
_RANK = {level: i for i, level in enumerate(LEVELS)}
LEVEL_KEYS = {level: tuple(f"{lv}_id" for lv in LEVELS[: i + 1]) for i, level in enumerate(LEVELS)}
# identity fields and the level that has them
IDENTITY = {
    "account_id": "account",
    "account_name": "account",
    "account_currency": "account",
    "campaign_id": "campaign",
    "campaign_name": "campaign",
    "objective": "campaign",
    "buying_type": "campaign",
    "adset_id": "adset",
    "adset_name": "adset",
    "optimization_goal": "adset",
    "ad_id": "ad",
    "ad_name": "ad",
}
COUNTS = ("impressions", "reach", "clicks", "inline_link_clicks", "unique_clicks", "unique_inline_link_clicks")
ACTION_LISTS = {  # name -> holds money
    "actions": False,
    "action_values": True,
    "unique_actions": False,
    "outbound_clicks": False,
    "conversions": False,
    "conversion_values": True,
}
METRICS = frozenset((*COUNTS, "spend", *ACTION_LISTS))
ATTRIBUTION_SETTING = "7d_click_1d_view"
OTHER_FIELDS = frozenset(
    {
        "attribution_setting",
        "date_start",
        "date_stop",
        "cost_per_unique_click",
        "unique_ctr",
        "quality_ranking",
        "engagement_rate_ranking",
        "conversion_rate_ranking",
        "social_spend",
        "website_ctr",
        "full_view_impressions",
        "full_view_reach",
        "cost_per_conversion",
        "cost_per_outbound_click",
        "cost_per_thruplay",
        "created_time",
        "updated_time",
        "video_play_actions",
        "video_p25_watched_actions",
        "video_p50_watched_actions",
        "video_p75_watched_actions",
        "video_p100_watched_actions",
        "video_avg_time_watched_actions",
        "video_30_sec_watched_actions",
        "inline_post_engagement",
        "cost_per_inline_post_engagement",
        "website_purchase_roas",
        "cost_per_unique_action_type",
        "outbound_clicks_ctr",
        "catalog_segment_value",
    }
)
# valid attribution windows (7d_view and 28d_view were retired in January 2026)
WINDOWS = ("1d_click", "7d_click", "28d_click", "1d_view", "1d_ev", "dda", "default")
UNSCALED_ACTIONS = frozenset({"link_click", "landing_page_view"})  # a restatement moves conversions, not clicks
DEFAULT_FIELDS = ("account_id", "impressions", "spend")
FILTER_FIELDS = {"campaign.id": "campaign_id", "adset.id": "adset_id", "ad.id": "ad_id"}
PRESETS_DAYS = {"last_3d": 3, "last_7d": 7, "last_14d": 14, "last_28d": 28, "last_30d": 30, "last_90d": 90}
HISTORY_MONTHS = 37

# breakdown -> (value, share) profile; age buckets carry their bounds for the ad set's targeting
_AGES = (
    ("18-24", 18, 24, 0.10),
    ("25-34", 25, 34, 0.27),
    ("35-44", 35, 44, 0.25),
    ("45-54", 45, 54, 0.19),
    ("55-64", 55, 64, 0.12),
    ("65+", 65, 200, 0.07),
)
_PROFILES = {
    "gender": (("female", 0.55), ("male", 0.42), ("unknown", 0.03)),
    "publisher_platform": (("facebook", 0.55), ("instagram", 0.38), ("audience_network", 0.04), ("messenger", 0.03)),
    "device_platform": (("mobile_app", 0.78), ("mobile_web", 0.12), ("desktop", 0.10)),
    "impression_device": (
        ("iphone", 0.42),
        ("android_smartphone", 0.38),
        ("desktop", 0.10),
        ("ipad", 0.05),
        ("android_tablet", 0.03),
        ("other", 0.02),
    ),
}
BREAKDOWNS = ("age", "gender", "country", *_PROFILES)


@dataclass(frozen=True)
class Filter:
    key: str  # row key holding an id
    status: bool  # compare the effective status of that object instead of its id
    negate: bool
    values: frozenset[str]


@dataclass(frozen=True)
class Query:
    account_id: str
    since: date
    until: date
    level: str
    fields: tuple[str, ...]
    increment: int | str  # days per row, "monthly" or "all_days"
    breakdowns: tuple[str, ...]
    windows: tuple[str, ...]
    filters: tuple[Filter, ...]

    def describe(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "fields": list(self.fields),
            "breakdowns": list(self.breakdowns),
            "filtering": bool(self.filters),
        }


# --- parsing ----------------------------------------------------------------------------------------------


def as_list(value: Any, name: str) -> list[Any]:
    """A parameter sent as a JSON list or a comma-separated string."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    text = str(value).strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            raise invalid_param(f"Param {name} must be a JSON array or a comma-separated list") from None
        if not isinstance(parsed, list):
            raise invalid_param(f"Param {name} must be an array")
        return parsed
    return [part.strip() for part in text.split(",") if part.strip()]


def as_json(value: Any, name: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise invalid_param(f"Param {name} must be valid JSON") from None


def field_names(value: Any) -> list[str]:
    """``fields`` as names; nested selections like ``creative{id,name}`` keep their base name."""
    names = []
    for item in as_list(value, "fields"):
        name = str(item).split("{", 1)[0].strip()
        if name and name not in names:
            names.append(name)
    return names


def history_floor(today: date) -> date:
    months = today.year * 12 + today.month - 1 - HISTORY_MONTHS
    return date(months // 12, months % 12 + 1, 1)


def _day(value: Any, name: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise invalid_param(f"Param time_range[{name}] must be a date in YYYY-MM-DD format") from None


def _time_range(params: dict[str, Any], today: date) -> tuple[date, date]:
    if params.get("time_ranges"):
        raise invalid_param("time_ranges is not supported by the emulator: send one time_range per report")
    if params.get("time_range"):
        tr = as_json(params["time_range"], "time_range")
        if not isinstance(tr, dict) or "since" not in tr or "until" not in tr:
            raise invalid_param("Param time_range must be an object with since and until")
        since, until = _day(tr["since"], "since"), _day(tr["until"], "until")
    else:
        preset = params.get("date_preset") or "last_30d"
        yesterday = today - timedelta(days=1)
        if preset == "today":
            since = until = today
        elif preset == "yesterday":
            since = until = yesterday
        elif preset in PRESETS_DAYS:
            since, until = today - timedelta(days=PRESETS_DAYS[preset]), yesterday
        elif preset == "this_month":
            since, until = today.replace(day=1), today
        elif preset == "maximum":
            since, until = history_floor(today), today
        else:
            raise invalid_param(f"date_preset '{preset}' is not supported by the emulator")
    if since > until:
        raise invalid_param("Param time_range: since must not be after until")
    if since < history_floor(today):
        raise GraphError(
            3018, "(#3018) The start date of the time range cannot be beyond 37 months from the current date"
        )
    return since, until


def _filters(params: dict[str, Any], scope: tuple[str, str] | None) -> tuple[Filter, ...]:
    out = []
    if scope and scope[0] != "account":
        out.append(Filter(f"{scope[0]}_id", False, False, frozenset({scope[1]})))
    for rule in as_json(params.get("filtering") or "[]", "filtering") or []:
        if not isinstance(rule, dict) or "field" not in rule or "operator" not in rule:
            raise invalid_param("Param filtering must be an array of {field, operator, value} objects")
        name, op, value = str(rule["field"]), str(rule["operator"]).upper(), rule.get("value")
        obj = name.split(".", 1)[0]
        if name in FILTER_FIELDS:
            key, status = FILTER_FIELDS[name], False
        elif name.endswith(".effective_status") and f"{obj}.id" in FILTER_FIELDS:
            key, status = FILTER_FIELDS[f"{obj}.id"], True
        else:
            raise invalid_param(f"Filtering field {name} is invalid")
        if op not in ("IN", "NOT_IN", "EQUAL", "NOT_EQUAL"):
            raise invalid_param(f"Filtering operator {op} is not supported on {name}")
        values = value if isinstance(value, list) else [value]
        out.append(Filter(key, status, op.startswith("NOT"), frozenset(str(v) for v in values)))
    return tuple(out)


def parse_query(params: dict[str, Any], scope: tuple[str, str], account_id: str, store: Store, today: date) -> Query:
    """Validate an insights request (``scope`` = (node kind, node id)) the way the Graph API does."""
    level = params.get("level") or scope[0]
    if level not in LEVELS:
        raise invalid_param(f"level must be one of the following values: {', '.join(reversed(LEVELS))}")
    fields = tuple(field_names(params.get("fields"))) or DEFAULT_FIELDS
    known = set(IDENTITY) | METRICS | OTHER_FIELDS | set(DERIVERS) | set(store.extra_fields)
    for name in fields:
        if name not in known:
            raise invalid_param(
                f"{name} is not valid for fields param. please check "
                "https://developers.facebook.com/docs/marketing-api/reference/ads-insights/ for all valid values"
            )
    breakdowns = tuple(str(b) for b in as_list(params.get("breakdowns"), "breakdowns"))
    for i, name in enumerate(breakdowns):
        if name not in BREAKDOWNS:
            raise invalid_param(f"breakdowns[{i}] must be one of the following values: {', '.join(BREAKDOWNS)}")
    windows = tuple(str(w) for w in as_list(params.get("action_attribution_windows"), "action_attribution_windows"))
    for i, name in enumerate(windows):
        if name not in WINDOWS:
            raise invalid_param(
                f"action_attribution_windows[{i}] must be one of the following values: {', '.join(WINDOWS)}"
            )
    for i, name in enumerate(as_list(params.get("action_breakdowns"), "action_breakdowns")):
        if name != "action_type":
            raise invalid_param(f"action_breakdowns[{i}]: the emulator only serves action_type")
    increment: int | str = str(params.get("time_increment") or "all_days")
    if increment not in ("monthly", "all_days"):
        if not increment.isdigit() or not 1 <= int(increment) <= 90:
            raise invalid_param("time_increment must be an integer between 1 and 90, monthly or all_days")
        increment = int(increment)
    since, until = _time_range(params, today)
    return Query(account_id, since, until, level, fields, increment, breakdowns, windows, _filters(params, scope))


# --- computing --------------------------------------------------------------------------------------------


def run_report(store: Store, q: Query) -> list[str]:
    """The report's rows, each rendered as a JSON object text."""
    dropped, rows = store.dropped, []
    for raw in store.data.insights(q.account_id, q.since, q.until):
        if dropped and (raw["date_start"], str(raw["ad_id"])) in dropped:
            continue
        if q.filters and not _passes(raw, q.filters, store):
            continue
        row = _internal(raw)
        factor = store.factor(raw["date_start"], q.account_id)
        if factor != 1.0:
            _restate(row, factor)
        if q.breakdowns:
            rows.extend(_split(row, q.breakdowns, store))
        else:
            rows.append(row)
    if q.level != "ad" or q.increment != 1:
        rows = _aggregate(rows, q)
    render = Renderer(q, store)
    return [render(row) for row in rows]


def _passes(raw: dict[str, Any], filters: tuple[Filter, ...], store: Store) -> bool:
    for f in filters:
        value = str(raw.get(f.key))
        if f.status:
            value = store.status(value) or ""
        if (value in f.values) == f.negate:
            return False
    return True


def _cents(value: Any) -> int:
    return round(float(value) * 100)


def _count(value: Any) -> int:
    return value if type(value) is int else round(float(value))


def _internal(raw: dict[str, Any]) -> dict[str, Any]:
    """Counts as ints, spend in cents, ratios dropped (recomputed); action lists stay as given until a
    restatement, split or aggregation needs them as ``{action_type: {key: n}}`` (see ``_actions``)."""
    row: dict[str, Any] = {}
    for key, value in raw.items():
        if key in COUNTS:
            row[key] = _count(value)
        elif key == "spend":
            row[key] = _cents(value)
        elif key not in DERIVERS:
            row[key] = value
    return row


def _actions(value: Any, money: bool) -> dict[str, dict[str, int]]:
    """An action list as ``{action_type: {"value": n, window: n}}`` (money in cents)."""
    if not value:
        return {}
    if isinstance(value, dict):
        return value
    convert = _cents if money else _count
    return {e["action_type"]: {k: convert(v) for k, v in e.items() if k != "action_type"} for e in value}


def _restate(row: dict[str, Any], factor: float) -> None:
    for key, money in ACTION_LISTS.items():
        if row.get(key):
            row[key] = {
                t: v if t in UNSCALED_ACTIONS else {k: round(n * factor) for k, n in v.items()}
                for t, v in _actions(row[key], money).items()
            }


def _jitter(*parts: str) -> float:
    return 0.75 + 0.5 * (zlib.crc32("|".join(parts).encode()) / 2**32)


def _dimension(name: str, row: dict[str, Any], store: Store) -> list[tuple[str, float]]:
    targeting = store.targeting(str(row.get("adset_id")))
    if name == "age":
        lo, hi = targeting.get("age_min", 13), targeting.get("age_max", 65)
        profile = [(label, share) for label, a, b, share in _AGES if a <= hi and b >= lo] or [("18-24", 1.0)]
    elif name == "country":
        countries = (targeting.get("geo_locations") or {}).get("countries") or ["US"]
        profile = [(c, 1 / (i + 1)) for i, c in enumerate(countries)]
    else:
        profile = list(_PROFILES[name])
    ad, day = str(row.get("ad_id")), str(row["date_start"])
    return [(value, share * _jitter(ad, day, name, value)) for value, share in profile]


def _allocate(total: int, weights: list[float], wsum: float) -> list[int]:
    """Integers proportional to ``weights`` that sum exactly to ``total`` (largest remainder)."""
    if not total:
        return [0] * len(weights)
    raw = [total * w / wsum for w in weights]
    out = [int(x) for x in raw]
    rest = total - sum(out)
    if rest:
        for i in sorted(range(len(raw)), key=lambda i: out[i] - raw[i])[:rest]:
            out[i] += 1
    return out


def _split(row: dict[str, Any], breakdowns: tuple[str, ...], store: Store) -> list[dict[str, Any]]:
    dims = [_dimension(name, row, store) for name in breakdowns]
    cells = list(itertools.product(*dims))
    weights = [math.prod(share for _, share in cell) for cell in cells]
    wsum = sum(weights)
    base = {k: v for k, v in row.items() if k not in METRICS}
    parts = [{**base, **{name: value for name, (value, _) in zip(breakdowns, cell, strict=True)}} for cell in cells]
    for key in (*COUNTS, "spend"):
        if key in row:
            for part, n in zip(parts, _allocate(row[key], weights, wsum), strict=True):
                part[key] = n
    for key, money in ACTION_LISTS.items():
        for action_type, values in _actions(row.get(key), money).items():
            for window, total in values.items():
                for part, n in zip(parts, _allocate(total, weights, wsum), strict=True):
                    part.setdefault(key, {}).setdefault(action_type, {})[window] = n
    out = []
    for part in parts:
        for key in ACTION_LISTS:
            if key in part:
                kept = {t: v for t, v in part[key].items() if any(v.values())}
                if kept:
                    part[key] = kept
                else:
                    del part[key]
        if part.get("impressions") or part.get("spend") or any(k in part for k in ACTION_LISTS):
            out.append(part)
    return out


def _bucket(day: str, q: Query) -> tuple[str, str]:
    if q.increment == 1:
        return day, day
    if q.increment == "all_days":
        return q.since.isoformat(), q.until.isoformat()
    d = date.fromisoformat(day)
    if q.increment == "monthly":
        start = max(d.replace(day=1), q.since)
        next_month = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
        return start.isoformat(), min(next_month - timedelta(days=1), q.until).isoformat()
    step = int(q.increment)
    start = q.since + timedelta(days=(d - q.since).days // step * step)
    return start.isoformat(), min(start + timedelta(days=step - 1), q.until).isoformat()


def _aggregate(rows: list[dict[str, Any]], q: Query) -> list[dict[str, Any]]:
    keys, rank = LEVEL_KEYS[q.level], _RANK[q.level]
    groups: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        start, stop = _bucket(row["date_start"], q)
        key = (*(row.get(k) for k in keys), start, *(row.get(b) for b in q.breakdowns))
        acc = groups.get(key)
        if acc is None:
            acc = groups[key] = {
                k: v for k, v in row.items() if k not in METRICS and (k not in IDENTITY or _RANK[IDENTITY[k]] <= rank)
            }
            acc["date_start"], acc["date_stop"] = start, stop
        for k in (*COUNTS, "spend"):
            if k in row:
                acc[k] = acc.get(k, 0) + row[k]
        for k, money in ACTION_LISTS.items():
            for action_type, values in _actions(row.get(k), money).items():
                into = acc.setdefault(k, {}).setdefault(action_type, {})
                for window, n in values.items():
                    into[window] = into.get(window, 0) + n
    return list(groups.values())


# --- rendering --------------------------------------------------------------------------------------------

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def money(cents: int) -> str:
    if cents % 100 == 0:
        return str(cents // 100)
    return f"{cents / 100:.2f}".rstrip("0")


def ratio(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


def scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return ratio(value)
    return str(value)


def _per(num: str, den: str, scale: float = 1.0, num_money: bool = False) -> Callable[[dict[str, Any]], str | None]:
    def get(row: dict[str, Any]) -> str | None:
        d = row.get(den)
        if not d or num not in row:
            return None
        return ratio((row[num] / 100 if num_money else row[num]) / d * scale)

    return get


def _cost_per_action(windows: tuple[str, ...], allowed: frozenset[str] | None) -> Callable[[dict[str, Any]], Any]:
    def get(row: dict[str, Any]) -> list[dict[str, str]] | None:
        spend, out = row.get("spend", 0) / 100, []
        for action_type, values in _actions(row.get("actions"), False).items():
            if (allowed is not None and action_type not in allowed) or not values.get("value"):
                continue
            entry = {"action_type": action_type, "value": ratio(spend / values["value"])}
            entry.update({w: ratio(spend / values[w]) for w in windows if values.get(w)})
            out.append(entry)
        return out or None

    return get


def _roas(windows: tuple[str, ...], allowed: frozenset[str] | None) -> Callable[[dict[str, Any]], Any]:
    def get(row: dict[str, Any]) -> list[dict[str, str]] | None:
        spend, values = row.get("spend"), _actions(row.get("action_values"), True).get("omni_purchase")
        if not spend or not values:
            return None
        entry = {"action_type": "omni_purchase", "value": ratio(values.get("value", 0) / spend)}
        entry.update({w: ratio(values[w] / spend) for w in windows if w in values})
        return [entry]

    return get


# field -> factory(windows, cost action types) of a getter computing it from the sums
DERIVERS: dict[str, Callable[..., Callable[[dict[str, Any]], Any]]] = {
    "frequency": lambda w, a: _per("impressions", "reach"),
    "cpm": lambda w, a: _per("spend", "impressions", 1000, num_money=True),
    "cpp": lambda w, a: _per("spend", "reach", 1000, num_money=True),
    "ctr": lambda w, a: _per("clicks", "impressions", 100),
    "cpc": lambda w, a: _per("spend", "clicks", num_money=True),
    "cost_per_inline_link_click": lambda w, a: _per("spend", "inline_link_clicks", num_money=True),
    "inline_link_click_ctr": lambda w, a: _per("inline_link_clicks", "impressions", 100),
    "cost_per_action_type": _cost_per_action,
    "purchase_roas": _roas,
}


def _raw_money(value: Any) -> str:
    return money(_cents(value))


def _raw_count(value: Any) -> str:
    return str(value) if type(value) is int else str(round(float(value)))


def _action_list(name: str, is_money: bool, windows: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
    def get(row: dict[str, Any]) -> list[dict[str, str]] | None:
        value = row.get(name)
        if not value:
            return None
        out = []
        if isinstance(value, dict):  # converted: ints, money in cents
            fmt: Callable[[Any], str] = money if is_money else str
            for action_type, v in value.items():
                entry = {"action_type": action_type, "value": fmt(v.get("value", 0))}
                entry.update({w: fmt(v[w]) for w in windows if w in v})
                out.append(entry)
            return out
        raw = _raw_money if is_money else _raw_count

        def fmt(v: Any) -> str:  # a string is sent as given (the API sends e.g. "63.416842")
            return v if isinstance(v, str) else raw(v)

        for e in value:  # as the data gave it: numbers, money in currency units
            entry = {"action_type": e["action_type"], "value": fmt(e.get("value", 0))}
            for w in windows:
                if w in e:
                    entry[w] = fmt(e[w])
            out.append(entry)
        return out

    return get


def _identity(name: str, store: Store) -> Callable[[dict[str, Any]], str | None]:
    owner_key = "adset_id" if name == "optimization_goal" else "campaign_id"

    def get(row: dict[str, Any]) -> str | None:
        value = row.get(name)
        if value is None and name in ("objective", "buying_type", "optimization_goal"):
            found = store.node(str(row.get(owner_key)))
            value = found[1].get(name) if found else None
        return None if value is None else str(value)

    return get


def _plain(name: str, fmt: Callable[[Any], str]) -> Callable[[dict[str, Any]], str | None]:
    def get(row: dict[str, Any]) -> str | None:
        value = row.get(name)
        return None if value is None else fmt(value)

    return get


class Renderer:
    """Renders rows of one query: the requested fields (strings), dates, breakdown columns, added fields."""

    def __init__(self, q: Query, store: Store) -> None:
        self.steps: list[tuple[str, Callable[[dict[str, Any]], Any]]] = []
        for name in q.fields:
            if name in IDENTITY:
                if _RANK[IDENTITY[name]] <= _RANK[q.level]:
                    self.steps.append((name, _identity(name, store)))
            elif name in COUNTS:
                self.steps.append((name, _plain(name, str)))
            elif name == "spend":
                self.steps.append((name, _plain(name, money)))
            elif name in ACTION_LISTS:
                self.steps.append((name, _action_list(name, ACTION_LISTS[name], q.windows)))
            elif name in DERIVERS:
                self.steps.append((name, DERIVERS[name](q.windows, store.cost_action_types)))
            elif name == "attribution_setting":
                self.steps.append((name, lambda row: ATTRIBUTION_SETTING))
            elif name not in ("date_start", "date_stop"):
                self.steps.append((name, _plain(name, scalar)))
        self.breakdowns = q.breakdowns
        self.extra = {name: scalar(value) for name, value in store.extra_fields.items()}
        self.sent = store.sent_values if q.level == "ad" else {}

    def __call__(self, row: dict[str, Any]) -> str:
        out: dict[str, Any] = {}
        for name, get in self.steps:
            value = get(row)
            if value is not None:
                out[name] = value
        out["date_start"], out["date_stop"] = row["date_start"], row["date_stop"]
        for name in self.breakdowns:
            out[name] = row[name]
        if self.extra:
            out.update(self.extra)
        if self.sent:  # a value sent exactly as scripted (e.g. "spend": "1,5"), whatever the field's usual form
            out.update(self.sent.get((row["date_start"], str(row.get("ad_id"))), {}))
        return _encode(out)
