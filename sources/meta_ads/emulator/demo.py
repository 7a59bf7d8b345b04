"""``demo_data(world)``: the ``DemoWorld``'s Meta Ads accounts as Graph API nodes and insight rows.

Adds a few objects without delivery so that status filters matter (the demo world itself only has ACTIVE and
PAUSED campaigns): an ARCHIVED campaign (with its ad set and two ads) that ended before the window, a DELETED
ad set with its ad, and a DELETED ad in an active ad set.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from random import Random
from typing import Any

from sources.meta_ads.demo import meta_demo
from sources.meta_ads.emulator.data import (
    Node,
    StaticData,
    account_node,
    ad_node,
    adset_node,
    campaign_node,
    creative_node,
)


class _Ids:
    def __init__(self, rng: Random, after: int) -> None:
        self._rng, self._last = rng, after

    def next(self) -> str:
        self._last += self._rng.randint(1_000, 9_000_000)
        return str(self._last)


def demo_data(world: Any) -> StaticData:
    """The ``DemoWorld``'s Meta Ads data as Graph API nodes, plus a few ARCHIVED / DELETED objects."""
    rng = Random(f"meta-emulator/{world.seed}/demo")
    accounts = {a.account_id: a for a in world.accounts("meta")}
    tz = {a.account_id: a.timezone_name for a in world.accounts("meta")}
    pixel = {a: str(rng.randrange(10**14, 10**15)) for a in accounts}
    rows_by_day: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    spent: dict[str, int] = defaultdict(int)
    cost_types: set[str] = set()
    for row in meta_demo(world).insights:
        rows_by_day[(row["account_id"], row["date_start"])].append(row)
        spent[row["account_id"]] += round(row["spend"] * 100)
        cost_types.update(e["action_type"] for e in row.get("cost_per_action_type", ()))

    data = StaticData([], [], [], [], [], dict(rows_by_day), frozenset(cost_types) or None)
    for a in world.accounts("meta"):
        data.accounts.append(
            account_node(
                a.account_id,
                a.name,
                a.currency,
                a.timezone_name,
                a.business_name,
                a.created_time,
                a.account_status,
                spent[a.account_id],
            )
        )
    campaigns: dict[str, Node] = {}
    for c in world.campaigns_on("meta"):
        node = campaign_node(
            c.campaign_id,
            c.account_id,
            c.name,
            c.objective,
            c.status,
            round(c.daily_budget * 100),
            c.start,
            c.stop,
            c.created_time,
            tz[c.account_id],
        )
        campaigns[c.campaign_id] = node
        data.campaigns.append(node)
    adsets: dict[str, Node] = {}
    for s in meta_demo(world).adsets:
        node = adset_node(
            s.adset_id,
            campaigns[s.campaign_id],
            s.name,
            s.status,
            s.targeting,
            s.created_time,
            tz[s.account_id],
            pixel[s.account_id],
            s.optimization_goal,
            s.billing_event,
        )
        adsets[s.adset_id] = node
        data.adsets.append(node)
    for ad in meta_demo(world).ads:
        data.ads.append(
            ad_node(
                ad.ad_id, adsets[ad.adset_id], ad.name, ad.status, ad.creative_id, ad.created_time, tz[ad.account_id]
            )
        )
    for cr in meta_demo(world).creatives:
        data.creatives.append(
            creative_node(
                cr.creative_id,
                cr.account_id,
                cr.name,
                title=cr.title,
                body=cr.body,
                object_type=cr.object_type,
                call_to_action_type=cr.call_to_action_type,
                image_url=cr.image_url,
                link_url=cr.link_url,
                url_tags=cr.url_tags,
                status=cr.status,
            )
        )
    _add_status_variety(data, world, rng, tz, pixel)
    return data


def _add_status_variety(data: StaticData, world: Any, rng: Random, tz: dict[str, str], pixel: dict[str, str]) -> None:
    """An ARCHIVED campaign that ended before the window, a DELETED ad set and a DELETED ad (no delivery)."""
    ids = _Ids(rng, max(int(n["id"]) for n in [*data.campaigns, *data.adsets, *data.ads, *data.creatives]))
    eu, us = world.accounts("meta")[0], world.accounts("meta")[-1]
    opened = datetime.combine(world.start - timedelta(days=130), time(10), UTC)

    def ad_with_creative(adset: Node, name: str, status: str, created: datetime) -> None:
        creative_id, ad_id = ids.next(), ids.next()
        data.creatives.append(
            creative_node(
                creative_id,
                adset["account_id"],
                f"{adset['name']} | {name}",
                object_type="PHOTO",
                title="Spring edit",
                body="Fresh linen for lighter days.",
                call_to_action_type="SHOP_NOW",
                image_url=f"https://cdn.example.com/creatives/{creative_id}.jpg",
                link_url="https://shop.example.com/",
                url_tags="utm_source=facebook&utm_medium=paid_social",
            )
        )
        data.ads.append(ad_node(ad_id, adset, name, status, creative_id, created, tz[adset["account_id"]]))

    # an archived spring campaign of the EU account
    spring = campaign_node(
        ids.next(),
        eu.account_id,
        "EU | Spring Sale",
        "OUTCOME_SALES",
        "ARCHIVED",
        3000,
        world.start - timedelta(days=120),
        world.start - timedelta(days=100),
        opened,
        tz[eu.account_id],
    )
    data.campaigns.append(spring)
    targeting = {"geo_locations": {"countries": ["DE", "AT"]}, "age_min": 25, "age_max": 54}
    adset = adset_node(
        ids.next(),
        spring,
        "EU | Spring Sale | Broad | 25-54",
        "ARCHIVED",
        targeting,
        opened + timedelta(minutes=20),
        tz[eu.account_id],
        pixel[eu.account_id],
    )
    data.adsets.append(adset)
    for name in ("Static | Spring Offer", "Video 15s | Spring"):
        ad_with_creative(adset, name, "ARCHIVED", opened + timedelta(minutes=40))

    # a deleted ad in the first ad set of an active EU campaign
    eu_adset = next(s for s in data.adsets if s["account_id"] == eu.account_id and s["effective_status"] == "ACTIVE")
    created = datetime.fromisoformat(eu_adset["created_time"]) + timedelta(days=2)
    ad_with_creative(eu_adset, "Static | Offer (first draft)", "DELETED", created)

    # a deleted test ad set (with its ad) in the US account
    us_campaign = next(c for c in data.campaigns if c["account_id"] == us.account_id)
    created = datetime.fromisoformat(us_campaign["created_time"]) + timedelta(days=1)
    targeting = {"geo_locations": {"countries": ["US"]}, "age_min": 18, "age_max": 65}
    test = adset_node(
        ids.next(),
        us_campaign,
        "US | Interests | Test",
        "DELETED",
        targeting,
        created,
        tz[us.account_id],
        pixel[us.account_id],
    )
    data.adsets.append(test)
    ad_with_creative(test, "Carousel | Test", "DELETED", created + timedelta(minutes=15))
