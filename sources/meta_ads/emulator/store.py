"""The served data, indexed (nodes by id, edges by parent), and the upstream changes tests script on top of it."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime
from typing import Any

from sources.meta_ads.emulator.data import MetaData, Node

NODE_TYPES = {"account": "AdAccount", "campaign": "Campaign", "adset": "AdSet", "ad": "Ad", "creative": "AdCreative"}
# edge name -> kind of node it lists
EDGE_KINDS = {"campaigns": "campaign", "adsets": "adset", "ads": "ad", "adcreatives": "creative"}
EDGES_OF = {
    "account": ("campaigns", "adsets", "ads", "adcreatives", "insights"),
    "campaign": ("adsets", "ads", "insights"),
    "adset": ("ads", "insights"),
    "ad": ("adcreatives", "insights"),
    "creative": (),
}


class Store:
    def __init__(self, data: MetaData) -> None:
        self.data = data
        self.cost_action_types: frozenset[str] | None = getattr(data, "cost_action_types", None)
        self.account_ids = [str(a["account_id"]) for a in data.accounts]
        self.nodes: dict[str, tuple[str, Node]] = {a["id"]: ("account", a) for a in data.accounts}
        self.edges: dict[tuple[str, str], list[Node]] = defaultdict(list)
        for kind, nodes in (
            ("campaign", data.campaigns),
            ("adset", data.adsets),
            ("ad", data.ads),
            ("creative", data.creatives),
        ):
            edge = next(e for e, k in EDGE_KINDS.items() if k == kind)
            for node in nodes:
                self.nodes[node["id"]] = (kind, node)
                self.edges[(f"act_{node['account_id']}", edge)].append(node)
                if kind in ("adset", "ad"):
                    self.edges[(node["campaign_id"], edge)].append(node)
                if kind == "ad":
                    self.edges[(node["adset_id"], edge)].append(node)
        for ad in data.ads:
            creative = self.nodes.get((ad.get("creative") or {}).get("id", ""))
            if creative:
                self.edges[(ad["id"], "adcreatives")].append(creative[1])
        self._times: dict[tuple[str, str], float] = {}
        # upstream changes (tests): restatements, vanished rows, new insight fields, values sent in another form
        self._lock = threading.Lock()
        self.version = 0
        self._factors: dict[tuple[str, str], float] = {}
        self.dropped: frozenset[tuple[str, str]] = frozenset()
        self.extra_fields: dict[str, Any] = {}
        self.sent_values: dict[tuple[str, str], dict[str, Any]] = {}

    # --- lookups ------------------------------------------------------------------------------------
    def node(self, node_id: str) -> tuple[str, Node] | None:
        return self.nodes.get(node_id)

    def account_of(self, node_id: str) -> str | None:
        if node_id.startswith("act_"):
            return node_id[4:]
        found = self.nodes.get(node_id)
        return str(found[1]["account_id"]) if found else None

    def status(self, node_id: str) -> str | None:
        found = self.nodes.get(node_id)
        if not found:
            return None
        return found[1].get("effective_status") or found[1].get("status")

    def epoch(self, node: Node, key: str) -> float | None:
        value = node.get(key)
        if not value:
            return None
        cache_key = (node["id"], key)
        if cache_key not in self._times:
            self._times[cache_key] = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").timestamp()
        return self._times[cache_key]

    def targeting(self, adset_id: str) -> dict[str, Any]:
        found = self.nodes.get(adset_id)
        return (found[1].get("targeting") if found else None) or {}

    # --- scripted upstream changes ------------------------------------------------------------------
    def restate(self, day: str, account_id: str | None, factor: float) -> None:
        key = (day, str(account_id).removeprefix("act_") if account_id else "*")
        with self._lock:
            self._factors[key] = self._factors.get(key, 1.0) * factor
            self.version += 1

    def factor(self, day: str, account_id: str) -> float:
        if not self._factors:
            return 1.0
        return self._factors.get((day, "*"), 1.0) * self._factors.get((day, account_id), 1.0)

    def drop_rows(self, day: str, ad_ids: list[str]) -> None:
        with self._lock:
            self.dropped = self.dropped | {(day, str(a)) for a in ad_ids}
            self.version += 1

    def add_insight_field(self, name: str, value: Any) -> None:
        with self._lock:
            self.extra_fields = {**self.extra_fields, name: value}
            self.version += 1

    def send_value(self, day: str, ad_id: str, name: str, value: Any) -> None:
        key = (day, str(ad_id))
        with self._lock:
            self.sent_values = {**self.sent_values, key: {**self.sent_values.get(key, {}), name: value}}
            self.version += 1
