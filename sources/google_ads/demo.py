"""``demo_data(world, customers=1)``: the demo world's Google Ads slice as the emulator serves it.

The world defines the Google customer (``world.accounts``), its two search campaigns and their
delivery per day (``world.delivery``: spend, impressions, clicks; GA4 sessions are its visits); this module
renders the rest in its own seeded structure: a manager (MCC) account above the customer, ad groups and ads
per campaign (plus a REMOVED campaign, a PAUSED ad group and REMOVED / PAUSED ads without delivery,
so status filters matter), and the delivery split across ad groups with exact sums. Conversions are the CRM
orders of the Google campaigns, counted on the order's day in the account's time zone.

``customers`` > 1 serves copies of the customer under the same manager (distinct ids; the benchmark's 10).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from random import Random
from typing import Any
from zoneinfo import ZoneInfo

from marketing_dwh.demo_world import AdAccount, AdDelivery, Campaign, DemoWorld, split_exact
from marketing_dwh.demo_world.catalog import convert_cents
from sources.google_ads.emulator.data import AdGroupDay, AdGroupNode, AdNode, AdsData, CampaignNode, Customer

PLATFORM = "google_ads"
MICROS_PER_CENT = 10_000


def _accounts(world: DemoWorld) -> list[AdAccount]:
    return list(world.accounts(PLATFORM))


def _campaigns(world: DemoWorld) -> list[Campaign]:
    return list(world.campaigns_on(PLATFORM))


def _delivery(world: DemoWorld, campaigns: list[Campaign]) -> dict[tuple[str, date], AdDelivery]:
    """The world's delivery of these campaigns (spend, impressions, clicks per day; GA4 sessions are its visits)."""
    ids = {c.campaign_id for c in campaigns}
    return {k: v for k, v in world.delivery.items() if k[0] in ids}


split = split_exact


_GROUP_NAMES = {
    "Search | Brand": ("Brand | Exact", "Brand | Phrase"),
    "Search | Generic | Home Decor": ("Generic | Cushions", "Generic | Lamps", "Generic | Rugs"),
}


def demo_data(world: Any, customers: int = 1) -> AdsData:
    """The world's Google Ads accounts, structure and daily metrics (``customers`` copies of each account)."""
    rng = Random(f"google-ads-demo/{world.seed}/structure")
    data = AdsData()
    manager_id = str(rng.randrange(10**9, 10**10))
    data.customers[manager_id] = Customer(manager_id, "Nordlicht Home MCC", "EUR", "Europe/Berlin", manager=True)
    data.links[manager_id] = []
    campaigns = _campaigns(world)
    delivery = _delivery(world, campaigns)
    next_id = iter(range(rng.randrange(10**10, 2 * 10**10), 10**12, 7919))
    conversions = _conversions(world, campaigns, {a.account_id: a.timezone_name for a in _accounts(world)})
    for account in _accounts(world):
        for copy in range(customers):
            cid = account.account_id if copy == 0 else str(int(account.account_id) + copy * 1_000_003)[-10:]
            name = account.name if copy == 0 else f"{account.name} #{copy + 1}"
            data.customers[cid] = Customer(cid, name, account.currency, account.timezone_name)
            data.links[manager_id].append(cid)
            mine = [c for c in campaigns if c.account_id == account.account_id]
            _render(data, rng, next_id, cid, copy, mine, delivery, conversions)
    # a cancelled account under the manager: listed, never read (the connector reads enabled accounts only)
    closed = str(rng.randrange(10**9, 10**10))
    data.customers[closed] = Customer(
        closed, "Nordlicht Home Search (closed)", "EUR", "Europe/Berlin", status="CANCELED"
    )
    data.links[manager_id].append(closed)
    return data


Conversions = dict[tuple[str, date], tuple[int, int]]


def _render(data: AdsData, rng: Random, next_id: Any, cid: str, copy: int, campaigns: list[Any],
            delivery: dict[tuple[str, date], Any], conversions: Conversions) -> None:  # fmt: skip
    for c in campaigns:
        campaign_id = c.campaign_id if copy == 0 else str(next(next_id))
        status = "ENABLED" if c.status == "ACTIVE" else "PAUSED"
        data.campaigns.append(CampaignNode(cid, campaign_id, c.name, status, "SEARCH", c.start, c.stop,
                                           round(c.daily_budget * 100) * MICROS_PER_CENT))  # fmt: skip
        groups, weights = [], []
        for group_name in _GROUP_NAMES.get(c.name, (f"{c.name} | All",)):
            group = AdGroupNode(cid, campaign_id, str(next(next_id)), group_name, "ENABLED")
            data.ad_groups.append(group)
            groups.append(group)
            weights.append(rng.uniform(0.5, 2.0))
            for n, ad_status in enumerate(("ENABLED", "PAUSED", "REMOVED")[: rng.randint(2, 3)]):
                data.ads.append(AdNode(cid, campaign_id, group.ad_group_id, str(next(next_id)),
                                       f"{group_name} | RSA {n + 1}", ad_status))  # fmt: skip
        paused = AdGroupNode(cid, campaign_id, str(next(next_id)), f"{c.name} | Test (paused)", "PAUSED")
        data.ad_groups.append(paused)
        data.ads.append(AdNode(cid, campaign_id, paused.ad_group_id, str(next(next_id)), "Test | RSA 1", "PAUSED"))
        days = sorted({d for (cmp, d) in delivery if cmp == c.campaign_id} | {
            d for (cmp, d) in conversions if cmp == c.campaign_id})  # fmt: skip
        for day in days:
            dv = delivery.get((c.campaign_id, day))
            n_conv, value_cents = conversions.get((c.campaign_id, day), (0, 0))
            clicks = dv.clicks if dv else 0
            by = [w * (1 + clicks) for w in weights]
            parts = {
                "cost": split(dv.spend_cents if dv else 0, by),
                "impressions": split(dv.impressions if dv else 0, by),
                "clicks": split(clicks, by),
                "conversions": split(n_conv, by),
                "value": split(value_cents, by),
                "extra": split(round(clicks * 0.02), by),  # view-through and cross-device: all_conversions only
            }
            rows = data.days.setdefault((cid, day), [])
            for i, group in enumerate(groups):
                if not any(parts[k][i] for k in parts):
                    continue
                n = parts["conversions"][i]
                rows.append(AdGroupDay(campaign_id, group.ad_group_id, parts["cost"][i] * MICROS_PER_CENT,
                                       parts["impressions"][i], parts["clicks"][i], float(n),
                                       parts["value"][i] / 100, float(n + parts["extra"][i])))  # fmt: skip
    if copy == 0 and campaigns:
        first = campaigns[0].start
        removed = CampaignNode(cid, str(next(next_id)), "Search | Competitors (removed)", "REMOVED", "SEARCH",
                               first - timedelta(days=200), first - timedelta(days=120), 10_000_000)  # fmt: skip
        data.campaigns.append(removed)
        group = AdGroupNode(cid, removed.campaign_id, str(next(next_id)), "Competitors | All", "REMOVED")
        data.ad_groups.append(group)
        data.ads.append(AdNode(cid, removed.campaign_id, group.ad_group_id, str(next(next_id)), "Competitors | RSA 1",
                               "REMOVED"))  # fmt: skip


def _conversions(world: Any, campaigns: list[Any], zones: dict[str, str]) -> dict[tuple[str, date], tuple[int, int]]:
    """CRM orders of the Google campaigns: (campaign, day in the account's zone) -> (orders, value in EUR cents)."""
    by_id = {c.campaign_id: c for c in campaigns}
    out: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0])
    for fact in world.order_facts:
        campaign = by_id.get(fact.campaign_id)
        if campaign is None or fact.channel != "google":
            continue
        day = fact.utc.astimezone(ZoneInfo(zones.get(campaign.account_id, "Europe/Berlin"))).date()
        entry = out[(campaign.campaign_id, day)]
        entry[0] += 1
        entry[1] += convert_cents(fact.amount_cents, fact.currency, campaign.currency)
    return {k: (v[0], v[1]) for k, v in out.items()}
