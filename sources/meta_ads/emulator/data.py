"""What the emulator serves: Graph API nodes (accounts, campaigns, ad sets, ads, creatives) and ad-level insights.

``MetaData`` is the contract. Node dicts are shaped like Graph API nodes (ids, money in minor units and times as
strings, times like ``2026-04-03T00:00:00+0200`` in the account's time zone). Insight rows are ad x day rows
with Graph API field names and *Python numbers* (the emulator aggregates them and turns them into strings):
ids and names, ``date_start``/``date_stop``, ``impressions``, ``reach``, ``clicks``, ``inline_link_clicks``,
``spend`` (account currency), and ``actions`` / ``action_values`` lists of
``{"action_type", "value", "<window>": n, ...}``. Ratios (``ctr``, ``cpm``, ``cost_per_action_type`` ...) may
be present; the emulator derives them when missing and whenever it aggregates, splits or restates rows.

An optional attribute ``cost_action_types`` (a set) limits ``cost_per_action_type`` to those action types.

Implementations: ``StaticData`` (in memory; ``demo.demo_data(world)``) and ``synthetic.SyntheticData``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

Node = dict[str, Any]
INACTIVE_STATUSES = ("DELETED", "ARCHIVED")


class MetaData(Protocol):
    accounts: list[Node]  # {"id": "act_<n>", "account_id": "<n>", "name", "currency", "timezone_name", ...}
    campaigns: list[Node]
    adsets: list[Node]
    ads: list[Node]  # "creative": {"id": ...}
    creatives: list[Node]

    def insights(self, account_id: str, since: date, until: date) -> Iterable[dict[str, Any]]:
        """Ad x day insight rows of one account (numeric id) for the days ``since``..``until`` inclusive."""
        ...


def days_between(since: date, until: date) -> Iterator[date]:
    day = since
    while day <= until:
        yield day
        day += timedelta(days=1)


def graph_time(moment: datetime, tz: str) -> str:
    """An aware datetime as the Graph API writes it, in the account's zone: ``2026-04-03T00:00:00+0200``."""
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M:%S%z")


def local_midnight(day: date, tz: str) -> str:
    return graph_time(datetime.combine(day, time(0), ZoneInfo(tz)), tz)


def effective_status(own: str, parent: str | None) -> str:
    """A child's effective status given its own (configured) status and its parent's effective status."""
    if own != "ACTIVE" or parent in (None, "ACTIVE"):
        return own
    if parent in ("PAUSED", "CAMPAIGN_PAUSED"):
        return "CAMPAIGN_PAUSED"
    if parent == "ADSET_PAUSED":
        return "ADSET_PAUSED"
    return parent


def account_node(
    account_id: str,
    name: str,
    currency: str,
    tz: str,
    business_name: str,
    created: datetime,
    status: int = 1,
    amount_spent_minor: int = 0,
) -> Node:
    offset = datetime(created.year, 1, 1, tzinfo=ZoneInfo(tz)).utcoffset() or timedelta(0)  # standard time
    return {
        "id": f"act_{account_id}",
        "account_id": account_id,
        "name": name,
        "currency": currency,
        "timezone_name": tz,
        "timezone_offset_hours_utc": offset.total_seconds() / 3600,
        "account_status": status,  # an integer in the real API too
        "disable_reason": 0,
        "business_name": business_name,
        "amount_spent": str(amount_spent_minor),
        "spend_cap": "0",
        "created_time": graph_time(created, tz),
    }


def campaign_node(
    campaign_id: str,
    account_id: str,
    name: str,
    objective: str,
    status: str,
    daily_budget_minor: int,
    start: date,
    stop: date | None,
    created: datetime,
    tz: str,
) -> Node:
    updated = created + timedelta(hours=2)
    if stop is not None:
        updated = max(updated, datetime.combine(stop + timedelta(days=1), time(9), ZoneInfo(tz)))
    node = {
        "id": campaign_id,
        "account_id": account_id,
        "name": name,
        "objective": objective,
        "status": status,
        "configured_status": status,
        "effective_status": status,
        "buying_type": "AUCTION",
        "bid_strategy": "LOWEST_COST_WITHOUT_CAP",
        "daily_budget": str(daily_budget_minor),
        "lifetime_budget": "0",
        "budget_remaining": str(daily_budget_minor if status == "ACTIVE" else 0),
        "special_ad_categories": [],
        "start_time": local_midnight(start, tz),
        "created_time": graph_time(created, tz),
        "updated_time": graph_time(updated, tz),
    }
    if stop is not None:
        node["stop_time"] = local_midnight(stop + timedelta(days=1), tz)
    return node


def adset_node(
    adset_id: str,
    campaign: Node,
    name: str,
    status: str,
    targeting: dict[str, Any],
    created: datetime,
    tz: str,
    pixel_id: str,
    optimization_goal: str = "OFFSITE_CONVERSIONS",
    billing_event: str = "IMPRESSIONS",
) -> Node:
    node = {
        "id": adset_id,
        "account_id": campaign["account_id"],
        "campaign_id": campaign["id"],
        "name": name,
        "status": status,
        "configured_status": status,
        "effective_status": effective_status(status, campaign["effective_status"]),
        "optimization_goal": optimization_goal,
        "billing_event": billing_event,
        "bid_strategy": "LOWEST_COST_WITHOUT_CAP",
        "destination_type": "WEBSITE",
        "promoted_object": {"pixel_id": pixel_id, "custom_event_type": "PURCHASE"},
        "targeting": targeting,
        "start_time": campaign["start_time"],
        "created_time": graph_time(created, tz),
        "updated_time": graph_time(created + timedelta(hours=1), tz),
    }
    if "stop_time" in campaign:
        node["end_time"] = campaign["stop_time"]
        node["updated_time"] = max(node["updated_time"], campaign["updated_time"])
    return node


def ad_node(ad_id: str, adset: Node, name: str, status: str, creative_id: str, created: datetime, tz: str) -> Node:
    return {
        "id": ad_id,
        "account_id": adset["account_id"],
        "campaign_id": adset["campaign_id"],
        "adset_id": adset["id"],
        "name": name,
        "status": status,
        "configured_status": status,
        "effective_status": effective_status(status, adset["effective_status"]),
        "creative": {"id": creative_id},
        "created_time": graph_time(created, tz),
        "updated_time": max(graph_time(created + timedelta(minutes=30), tz), adset["updated_time"]),
    }


def creative_node(creative_id: str, account_id: str, name: str, **fields: Any) -> Node:
    node = {"id": creative_id, "account_id": account_id, "name": name, "status": "ACTIVE"}
    node.update(fields)
    if "image_url" in node:
        node.setdefault("thumbnail_url", f"{node['image_url']}?size=64x64")
    return node


@dataclass
class StaticData:
    """Nodes and insight rows held in memory (``MetaData``)."""

    accounts: list[Node]
    campaigns: list[Node]
    adsets: list[Node]
    ads: list[Node]
    creatives: list[Node]
    rows_by_day: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    cost_action_types: frozenset[str] | None = None

    def insights(self, account_id: str, since: date, until: date) -> Iterator[dict[str, Any]]:
        for day in days_between(since, until):
            yield from self.rows_by_day.get((account_id, day.isoformat()), ())
