"""``synthetic_data(accounts, ads_per_account, days, start)``: a large, cheap data set for benchmarks.

Every ad is ACTIVE and delivers every day, so a report has exactly accounts x ads x days ad-level rows. Rows are
generated on demand from a seed per (ad, day), never held in memory; the same arguments give the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from random import Random
from typing import Any

from sources.meta_ads.emulator.data import (
    Node,
    account_node,
    ad_node,
    adset_node,
    campaign_node,
    creative_node,
    days_between,
)

_FUNNEL = ("link_click", "landing_page_view", "view_content", "add_to_cart", "initiate_checkout", "purchase")
_PURCHASES = ("purchase", "omni_purchase", "offsite_conversion.fb_pixel_purchase")
_SYNTHETIC_COST_TYPES = frozenset({"link_click", "landing_page_view", "add_to_cart", "initiate_checkout", "purchase"})


@dataclass
class _AdRef:
    index: int  # global ad number (seeds its rows)
    ad: Node
    adset: Node
    campaign: Node
    account: Node
    weight: float


class SyntheticData:
    """``accounts`` x ``ads_per_account`` ads, all ACTIVE and delivering every day of ``start`` + ``days``."""

    def __init__(self, accounts: int, ads_per_account: int, days: int, start: date, seed: int = 1) -> None:
        self.start, self.days, self.seed = start, days, seed
        self.accounts: list[Node] = []
        self.campaigns: list[Node] = []
        self.adsets: list[Node] = []
        self.ads: list[Node] = []
        self.creatives: list[Node] = []
        self.cost_action_types = _SYNTHETIC_COST_TYPES
        self._ads: dict[str, list[_AdRef]] = {}
        rng = Random(f"meta-emulator/synthetic/{seed}")
        next_id = 120_300_000_000_000_000 + seed * 10**12
        created = datetime.combine(start - timedelta(days=30), time(9), UTC)
        for a in range(accounts):
            tz = ("Europe/Berlin", "America/New_York")[a % 2]
            account_id = str(10**14 * (1 + a % 9) + seed * 10**9 + a)
            account = account_node(
                account_id,
                f"Synthetic Account {a + 1:02d}",
                ("EUR", "USD")[a % 2],
                tz,
                "Synthetic Shop Ltd",
                created - timedelta(days=400),
            )
            self.accounts.append(account)
            refs = self._ads[account_id] = []
            n_campaigns = max(1, ads_per_account // 20)
            for c in range(n_campaigns):
                next_id += 1
                campaign = campaign_node(
                    str(next_id),
                    account_id,
                    f"Campaign {c + 1:02d}",
                    "OUTCOME_SALES",
                    "ACTIVE",
                    rng.randrange(2_000, 20_000),
                    start,
                    None,
                    created,
                    tz,
                )
                self.campaigns.append(campaign)
                adsets = []
                for s in range(2):
                    next_id += 1
                    targeting = {"geo_locations": {"countries": [("DE", "US")[a % 2]]}, "age_min": 18, "age_max": 65}
                    adset = adset_node(
                        str(next_id),
                        campaign,
                        f"Campaign {c + 1:02d} | Ad set {s + 1}",
                        "ACTIVE",
                        targeting,
                        created,
                        tz,
                        "1" + account_id,
                    )
                    self.adsets.append(adset)
                    adsets.append(adset)
                share = [i for i in range(ads_per_account) if i % n_campaigns == c]
                for i in share:
                    adset = adsets[i % 2]
                    next_id += 2
                    creative = creative_node(
                        str(next_id - 1),
                        account_id,
                        f"Creative {i + 1:03d}",
                        object_type="PHOTO",
                        title="Title",
                        body="Body",
                    )
                    ad = ad_node(str(next_id), adset, f"Ad {i + 1:03d}", "ACTIVE", creative["id"], created, tz)
                    self.creatives.append(creative)
                    self.ads.append(ad)
                    refs.append(_AdRef(len(self.ads), ad, adset, campaign, account, rng.uniform(0.3, 1.0)))

    def insights(self, account_id: str, since: date, until: date) -> Iterator[dict[str, Any]]:
        refs = self._ads.get(account_id, ())
        first, last = max(since, self.start), min(until, self.start + timedelta(days=self.days - 1))
        for day in days_between(first, last):
            d = (day - self.start).days
            iso = day.isoformat()
            for ref in refs:
                yield self._row(ref, d, iso)

    def _row(self, ref: _AdRef, d: int, iso: str) -> dict[str, Any]:
        r = Random(self.seed * 1_000_003 + ref.index * 10_007 + d).random
        impressions = 300 + int(ref.weight * 6000 * (0.6 + 0.8 * r()))
        reach = max(1, int(impressions / (1.05 + 0.5 * r())))
        clicks = int(impressions * (0.008 + 0.017 * r()))
        link = int(clicks * (0.55 + 0.2 * r()))
        spend_cents = int(impressions * (0.6 + 0.8 * r()))
        lpv = int(link * (0.7 + 0.2 * r()))
        view = int(lpv * (0.6 + 0.3 * r()))
        cart = int(lpv * (0.04 + 0.07 * r()))
        checkout = int(cart * (0.4 + 0.3 * r()))
        bought = int(checkout * (0.3 + 0.5 * r()) + 0.5)
        counts = dict(zip(_FUNNEL, (link, lpv, view, cart, checkout, bought), strict=True))
        one_day, extra_28, view_share = 0.8 + 0.15 * r(), 0.08 * r(), 0.1 * r()
        basket = 40.0 + 80.0 * r()
        account, campaign, adset, ad = ref.account, ref.campaign, ref.adset, ref.ad
        row: dict[str, Any] = {
            "account_id": account["account_id"],
            "account_name": account["name"],
            "account_currency": account["currency"],
            "campaign_id": campaign["id"],
            "campaign_name": campaign["name"],
            "objective": campaign["objective"],
            "adset_id": adset["id"],
            "adset_name": adset["name"],
            "ad_id": ad["id"],
            "ad_name": ad["name"],
            "date_start": iso,
            "date_stop": iso,
            "impressions": impressions,
            "reach": min(reach, impressions),
            "clicks": clicks,
            "inline_link_clicks": link,
            "spend": spend_cents / 100,
        }
        actions = []
        for action_type, n in counts.items():
            if not n:
                continue
            entry = _windows(action_type, n, one_day, extra_28, view_share, clicks_only=action_type in _FUNNEL[:2])
            actions.extend([entry] if action_type != "purchase" else [{**entry, "action_type": t} for t in _PURCHASES])
        if actions:
            row["actions"] = actions
        if bought:
            entry = _windows("purchase", bought, one_day, extra_28, view_share, clicks_only=False)
            values = {k: (round(v * basket, 2) if k != "action_type" else v) for k, v in entry.items()}
            row["action_values"] = [{**values, "action_type": t} for t in _PURCHASES]
        return row


def _windows(action_type: str, n: int, one_day: float, extra_28: float, view_share: float, clicks_only: bool) -> dict:
    view = 0 if clicks_only else round(n * view_share)
    w = {
        "1d_click": n if clicks_only else round(n * one_day),
        "7d_click": n,
        "28d_click": n if clicks_only else n + round(n * extra_28),
        "1d_view": view,
    }
    return {"action_type": action_type, "value": n + view, **w}


def synthetic_data(accounts: int, ads_per_account: int, days: int, start: date, seed: int = 1) -> SyntheticData:
    """A benchmark-sized data set: ``accounts * ads_per_account * days`` insight rows, generated lazily."""
    return SyntheticData(accounts, ads_per_account, days, start, seed)
