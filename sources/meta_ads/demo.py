"""Meta's slice of the demo world: ad sets, ads, creatives and daily ad-level insights.

Each campaign's delivery (spend, impressions, clicks per day) comes from the world and is split across its ads.
Purchases reported by Meta come from the CRM orders: facebook orders are attributed to an ad of their campaign on
the click day (most of them; some are lost to signal loss), and a share of other orders is claimed too (assisted
clicks, view-through) as Meta does, so Meta's numbers roughly track but exceed the CRM's last-click facebook orders.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from random import Random
from typing import Any

from marketing_dwh.demo_world import AdAccount, AdDelivery, Campaign, DemoWorld, MetaIds, OrderFact, split_exact
from marketing_dwh.demo_world.catalog import convert_cents

WINDOWS = ("1d_click", "7d_click", "28d_click", "1d_view")
ACTION_TYPES = (
    "link_click",
    "landing_page_view",
    "view_content",
    "add_to_cart",
    "initiate_checkout",
    "purchase",
    "omni_purchase",
    "offsite_conversion.fb_pixel_purchase",
)
PURCHASE_TYPES = ("purchase", "omni_purchase", "offsite_conversion.fb_pixel_purchase")  # the same purchases
_COST_TYPES = ("link_click", "landing_page_view", "add_to_cart", "initiate_checkout", "purchase")


@dataclass(frozen=True)
class MetaAdSet:
    adset_id: str
    name: str
    campaign_id: str
    account_id: str
    status: str
    optimization_goal: str
    billing_event: str
    countries: tuple[str, ...]
    age_min: int
    age_max: int
    audience: str
    start_time: datetime  # aware UTC
    end_time: datetime | None
    created_time: datetime

    @property
    def targeting(self) -> dict[str, Any]:
        return {"geo_locations": {"countries": list(self.countries)}, "age_min": self.age_min, "age_max": self.age_max}


@dataclass(frozen=True)
class MetaCreative:
    creative_id: str
    name: str
    account_id: str
    object_type: str  # VIDEO / SHARE / PHOTO
    title: str
    body: str
    call_to_action_type: str
    image_url: str
    link_url: str
    url_tags: str  # the UTM parameters the ad appends to the landing page
    status: str = "ACTIVE"


@dataclass(frozen=True)
class MetaAd:
    ad_id: str
    name: str
    adset_id: str
    campaign_id: str
    account_id: str
    creative_id: str
    status: str
    created_time: datetime


@dataclass(frozen=True)
class MetaData:
    adsets: list[MetaAdSet]
    ads: list[MetaAd]
    creatives: list[MetaCreative]
    insights: list[dict[str, Any]]


# kind -> (ad set name, age_min, age_max, weight)
_ADSETS = {
    "prospecting": (
        ("Broad | 25-54", 25, 54, 1.0),
        ("Lookalike 1% | Purchasers", 25, 60, 0.8),
        ("Interests | Interior Design", 25, 54, 0.6),
    ),
    "retargeting": (("Site visitors | 30d", 18, 65, 1.0), ("Add to cart | 7d", 18, 65, 0.7)),
    "promo": (("Broad | 25-54", 25, 54, 1.0), ("Engaged shoppers | 60d", 18, 65, 0.7)),
}
_FORMATS = (
    ("Video 15s | Hero", "VIDEO"),
    ("Carousel | Bestsellers", "SHARE"),
    ("Static | Offer", "PHOTO"),
    ("UGC | Customer Review", "VIDEO"),
)
_COPY = {
    "prospecting": ("Nordic calm for every room", "Linen, oak and stoneware, designed in Hamburg."),
    "retargeting": ("Still thinking about it?", "Your favourites are waiting. Free shipping from 49."),
    "promo": ("The season's edit is here", "New colours, new textures, limited runs."),
}


@dataclass
class _Delivery:
    spend_cents: int
    impressions: int
    reach: int
    clicks: int
    link_clicks: int


def _structure(
    seed: int, meta_campaigns: list[Campaign]
) -> tuple[list[MetaAdSet], list[MetaAd], list[MetaCreative], dict[str, float]]:
    rng = Random(f"demo-world/{seed}/meta-structure")
    ids = MetaIds(rng, after=max(int(c.campaign_id) for c in meta_campaigns))
    adsets, ads, creatives, weights = [], [], [], {}
    for campaign in meta_campaigns:
        created = campaign.created_time + timedelta(minutes=rng.randint(5, 60))
        end = None if campaign.stop is None else datetime.combine(campaign.stop + timedelta(days=1), time(0), UTC)
        title, body = _COPY[campaign.kind]
        for name, age_min, age_max, adset_weight in _ADSETS[campaign.kind]:
            adset = MetaAdSet(
                adset_id=ids.next(),
                name=f"{campaign.name.split(' | ')[0]} | {name}",
                campaign_id=campaign.campaign_id,
                account_id=campaign.account_id,
                status=campaign.status,
                optimization_goal="OFFSITE_CONVERSIONS",
                billing_event="IMPRESSIONS",
                countries=campaign.countries,
                age_min=age_min,
                age_max=age_max,
                audience=name,
                start_time=datetime.combine(campaign.start, time(0), UTC),
                end_time=end,
                created_time=created,
            )
            adsets.append(adset)
            for ad_name, object_type in rng.sample(_FORMATS, rng.randint(2, 3)):
                creative_id, ad_id = ids.next(), ids.next()
                creatives.append(
                    MetaCreative(
                        creative_id=creative_id,
                        name=f"{campaign.utm_campaign} | {ad_name}",
                        account_id=campaign.account_id,
                        object_type=object_type,
                        title=title,
                        body=body,
                        call_to_action_type="SHOP_NOW",
                        image_url=f"https://cdn.example.com/creatives/{creative_id}.jpg",
                        link_url="https://shop.example.com/",
                        url_tags=(
                            f"utm_source={campaign.utm_source}&utm_medium={campaign.utm_medium}"
                            f"&utm_campaign={campaign.utm_campaign}&utm_id={campaign.campaign_id}"
                        ),
                    )
                )
                ads.append(
                    MetaAd(
                        ad_id,
                        ad_name,
                        adset.adset_id,
                        campaign.campaign_id,
                        campaign.account_id,
                        creative_id,
                        campaign.status,
                        created + timedelta(minutes=rng.randint(1, 30)),
                    )
                )
                weights[ad_id] = adset_weight * rng.uniform(0.3, 1.0)
    return adsets, ads, creatives, weights


def _deliver(
    rng: Random, campaign: Campaign, ads: list[MetaAd], weights: dict[str, float], day: AdDelivery
) -> dict[str, _Delivery]:
    """The campaign's delivery of the day split across its ads: each figure adds up to the world's exactly."""
    shares = [weights[ad.ad_id] * rng.uniform(0.75, 1.25) for ad in ads]
    spend = split_exact(day.spend_cents, shares)
    impressions = split_exact(day.impressions, [s * rng.uniform(0.85, 1.15) for s in shares])
    clicks = split_exact(day.clicks, [s * rng.uniform(0.85, 1.15) for s in shares])
    out = {}
    high = 2.2 if campaign.kind == "retargeting" else 1.35
    for ad, cents, shown, clicked in zip(ads, spend, impressions, clicks, strict=True):
        shown = max(shown, 1)
        reach = max(1, round(shown / rng.uniform(1.05, high)))
        out[ad.ad_id] = _Delivery(cents, shown, reach, clicked, round(clicked * rng.uniform(0.55, 0.72)))
    return out


def _lag(rng: Random, assisted: bool) -> int:
    r = rng.random()
    if assisted:
        return rng.randint(1, 3) if r < 0.5 else rng.randint(4, 7) if r < 0.85 else rng.randint(8, 27)
    return 0 if r < 0.55 else 1 if r < 0.70 else rng.randint(2, 7) if r < 0.90 else rng.randint(8, 27)


def _attribute(
    seed: int,
    start: date,
    facts: list[OrderFact],
    meta_campaigns: list[Campaign],
    accounts: dict[str, AdAccount],
    ads_by_campaign: dict[str, list[MetaAd]],
    delivery: dict[tuple[str, int], _Delivery],
) -> dict[tuple[str, int], dict[str, list[int]]]:
    """(ad id, day) -> window -> [purchases, value in account currency cents]."""
    rng = Random(f"demo-world/{seed}/meta-attribution")
    by_id = {c.campaign_id: c for c in meta_campaigns}
    conv: dict[tuple[str, int], dict[str, list[int]]] = defaultdict(lambda: {w: [0, 0] for w in WINDOWS})
    for fact in facts:
        r = rng.random()
        if fact.channel == "facebook":
            if r < 0.08:  # signal loss: Meta never sees this purchase
                continue
            campaign, view = by_id[fact.campaign_id], False
            touch = max(fact.day - _lag(rng, False), (campaign.start - start).days, 0)
        elif r < 0.15:  # Meta also claims some orders the CRM credits to other channels
            view = r >= 0.10
            touch = fact.day - (rng.randint(0, 1) if view else _lag(rng, True))
            day = start + timedelta(days=touch)
            fits = [c for c in meta_campaigns if c.is_active(day) and fact.country in c.countries]
            if touch < 0 or not fits:
                continue
            campaign = rng.choices(fits, [c.daily_budget for c in fits])[0]
        else:
            continue
        ads = ads_by_campaign[campaign.campaign_id]
        ad = rng.choices(ads, [delivery[(a.ad_id, touch)].spend_cents for a in ads])[0]
        lag = fact.day - touch
        cents = convert_cents(fact.amount_cents, fact.currency, accounts[campaign.account_id].currency)
        windows = (
            ("1d_view",)
            if view
            else tuple(w for w, days in (("1d_click", 1), ("7d_click", 7), ("28d_click", 28)) if lag <= days)
        )
        for window in windows:
            conv[(ad.ad_id, touch)][window][0] += 1
            conv[(ad.ad_id, touch)][window][1] += cents
    return conv


def _spread(rng: Random, n: int, view_share: float) -> dict[str, int]:
    return {
        "1d_click": min(n, round(n * rng.uniform(0.8, 0.95))),
        "7d_click": n,
        "28d_click": n + round(n * rng.uniform(0, 0.08)),
        "1d_view": round(n * rng.uniform(0, view_share)),
    }


def _actions(rng: Random, d: _Delivery, purchases: dict[str, int]) -> dict[str, dict[str, int]]:
    """Per action type, counts per window, with the funnel never inverted."""
    lpv = round(d.link_clicks * rng.uniform(0.72, 0.88))
    view_content = _spread(rng, round(lpv * rng.uniform(0.75, 0.95)), 0.05)
    add_to_cart = _spread(rng, round(lpv * rng.uniform(0.05, 0.11)), 0.10)
    checkout = _spread(rng, round(add_to_cart["7d_click"] * rng.uniform(0.45, 0.70)), 0.10)
    for w in WINDOWS:
        checkout[w] = max(checkout[w], purchases[w])
        add_to_cart[w] = max(add_to_cart[w], checkout[w])
        view_content[w] = max(view_content[w], add_to_cart[w])
    lpv = max(lpv, view_content["28d_click"])
    d.link_clicks = max(d.link_clicks, lpv)
    d.clicks = max(d.clicks, d.link_clicks)
    d.impressions = max(d.impressions, d.clicks * 12)
    clicks_only = {"1d_click": 1, "7d_click": 1, "28d_click": 1, "1d_view": 0}
    out = {
        t: {w: n * clicks_only[w] for w in WINDOWS}
        for t, n in (("link_click", d.link_clicks), ("landing_page_view", lpv))
    }
    out |= {"view_content": view_content, "add_to_cart": add_to_cart, "initiate_checkout": checkout}
    return out | {t: dict(purchases) for t in PURCHASE_TYPES}


def _entry(action_type: str, windows: dict[str, float]) -> dict[str, Any]:
    return {"action_type": action_type, "value": windows["7d_click"] + windows["1d_view"], **windows}


def _insight_row(
    rng: Random,
    campaign: Campaign,
    account: AdAccount,
    adset: MetaAdSet,
    ad: MetaAd,
    day: date,
    d: _Delivery,
    conv: dict[str, list[int]] | None,
) -> dict[str, Any]:
    purchases = {w: conv[w][0] if conv else 0 for w in WINDOWS}
    actions = _actions(rng, d, purchases)
    spend = d.spend_cents / 100
    row: dict[str, Any] = {
        "account_id": account.account_id,
        "account_name": account.name,
        "account_currency": account.currency,
        "campaign_id": campaign.campaign_id,
        "campaign_name": campaign.name,
        "objective": campaign.objective,
        "adset_id": adset.adset_id,
        "adset_name": adset.name,
        "ad_id": ad.ad_id,
        "ad_name": ad.name,
        "date_start": day.isoformat(),
        "date_stop": day.isoformat(),
        "impressions": d.impressions,
        "reach": min(d.reach, d.impressions),
        "frequency": round(d.impressions / min(d.reach, d.impressions), 6),
        "clicks": d.clicks,
        "inline_link_clicks": d.link_clicks,
        "spend": spend,
        "cpm": round(spend / d.impressions * 1000, 6),
        "ctr": round(d.clicks / d.impressions * 100, 6),
    }
    if d.clicks:
        row["cpc"] = round(spend / d.clicks, 6)
    entries = [_entry(t, actions[t]) for t in ACTION_TYPES if any(actions[t].values())]
    if entries:
        row["actions"] = entries
    if conv and any(conv[w][0] for w in WINDOWS):
        cents = {w: conv[w][1] for w in WINDOWS}
        values = {"value": (cents["7d_click"] + cents["1d_view"]) / 100, **{w: cents[w] / 100 for w in WINDOWS}}
        row["action_values"] = [{"action_type": t, **values} for t in PURCHASE_TYPES]
    costs = []
    for t in _COST_TYPES:
        entry = _entry(t, actions[t])
        if entry["value"]:
            costs.append({k: v if k == "action_type" else round(spend / v, 6) for k, v in entry.items() if v})
    if costs:
        row["cost_per_action_type"] = costs
    return row


@functools.cache
def meta_demo(world: DemoWorld) -> MetaData:
    """Meta's slice of ``world`` (cached per world; treat as read-only)."""
    seed, start, days, accounts, facts = world.seed, world.start, world.days, world.accounts("meta"), world.order_facts
    meta_campaigns = world.campaigns_on("meta")
    adsets, ads, creatives, weights = _structure(seed, meta_campaigns)
    account_by_id = {a.account_id: a for a in accounts}
    ads_by_campaign: dict[str, list[MetaAd]] = defaultdict(list)
    for ad in ads:
        ads_by_campaign[ad.campaign_id].append(ad)
    rng = Random(f"demo-world/{seed}/meta-delivery")
    delivery: dict[tuple[str, int], _Delivery] = {}
    for d in range(days):
        day = start + timedelta(days=d)
        for campaign in meta_campaigns:
            if (campaign.campaign_id, day) in world.delivery:
                for ad_id, result in _deliver(
                    rng,
                    campaign,
                    ads_by_campaign[campaign.campaign_id],
                    weights,
                    world.delivery[(campaign.campaign_id, day)],
                ).items():
                    delivery[(ad_id, d)] = result
    conv = _attribute(seed, start, facts, meta_campaigns, account_by_id, ads_by_campaign, delivery)
    rng = Random(f"demo-world/{seed}/meta-funnel")
    adset_by_id = {a.adset_id: a for a in adsets}
    campaign_by_id = {c.campaign_id: c for c in meta_campaigns}
    insights = []
    for d in range(days):
        for ad in ads:
            if (ad.ad_id, d) in delivery:
                campaign = campaign_by_id[ad.campaign_id]
                insights.append(
                    _insight_row(
                        rng,
                        campaign,
                        account_by_id[campaign.account_id],
                        adset_by_id[ad.adset_id],
                        ad,
                        start + timedelta(days=d),
                        delivery[(ad.ad_id, d)],
                        conv.get((ad.ad_id, d)),
                    )
                )
    return MetaData(adsets, ads, creatives, insights)
