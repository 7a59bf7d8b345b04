"""Ad delivery of the demo world: what every paid campaign bought on each day it ran.

One figure per campaign and day, defined once: an ad platform's plugin splits it across its own ad sets / ad
groups and ads (``split_exact`` keeps the sums), and web analytics count ``visits`` as the sessions the campaign
brought. So spend in the ad platforms, clicks and sessions agree however many plugins are installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from random import Random

from marketing_dwh.demo_world.campaigns import Campaign

PAID_PLATFORMS = ("meta", "google_ads", "criteo")

_SPEND_BY_WEEKDAY = (1.0, 0.98, 0.98, 0.99, 1.0, 1.02, 1.03)  # Monday..Sunday pacing of the daily budget
# Meta buys impressions: account currency per 1000 impressions, and the click-through rate
_CPM = {"prospecting": 8.0, "retargeting": 14.0, "promo": 9.5}
_CTR = {"prospecting": (0.009, 0.016), "retargeting": (0.015, 0.026), "promo": (0.011, 0.020)}
# search and display buy clicks: cost per click and the click-through rate of their impressions
_CPC = {"search": 0.6, "retargeting": 0.45}
_CLICK_CTR = {"search": (0.04, 0.09), "retargeting": (0.003, 0.008)}


@dataclass(frozen=True)
class AdDelivery:
    """One paid campaign on one day (the day in its account's time zone)."""

    campaign_id: str
    day: date
    spend_cents: int  # account currency, minor units
    impressions: int
    clicks: int  # all clicks on the ads
    visits: int  # clicks that reached the shop: the sessions web analytics attribute to the campaign


def _one_day(rng: Random, campaign: Campaign, day: date) -> AdDelivery:
    spend = max(1, round(campaign.daily_budget * 100 * rng.uniform(0.88, 1.02) * _SPEND_BY_WEEKDAY[day.weekday()]))
    if campaign.platform == "meta":
        impressions = max(1, round(spend / 100 / (_CPM[campaign.kind] * rng.uniform(0.85, 1.15)) * 1000))
        clicks = round(impressions * rng.uniform(*_CTR[campaign.kind]))
        # link clicks (55-72%) -> landing page views (72-88%) -> sessions the shop's analytics see (75-90%)
        visits = round(clicks * rng.uniform(0.55, 0.72) * rng.uniform(0.72, 0.88) * rng.uniform(0.75, 0.9))
    else:
        clicks = max(1, round(spend / 100 / (_CPC[campaign.kind] * rng.uniform(0.85, 1.15))))
        impressions = max(clicks, round(clicks / rng.uniform(*_CLICK_CTR[campaign.kind])))
        visits = round(clicks * rng.uniform(0.8, 0.95))
    return AdDelivery(campaign.campaign_id, day, spend, impressions, clicks, visits)


def build_delivery(seed: int, start: date, days: int, campaigns: list[Campaign]) -> dict[tuple[str, date], AdDelivery]:
    """(campaign id, day) -> delivery, for every paid campaign on every day of the window it is active."""
    rng = Random(f"demo-world/{seed}/delivery")
    out = {}
    for d in range(days):
        day = start + timedelta(days=d)
        for campaign in campaigns:
            if campaign.platform in PAID_PLATFORMS and campaign.is_active(day):
                out[(campaign.campaign_id, day)] = _one_day(rng, campaign, day)
    return out


def split_exact(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights`` into whole numbers that add up to exactly ``total``
    (largest remainder; ties go to the earlier part)."""
    if total < 0 or not weights or any(w < 0 for w in weights):
        raise ValueError(f"split_exact needs total >= 0 and non-negative weights, got {total}, {weights}")
    weight_sum = sum(weights)
    if weight_sum == 0:
        weights, weight_sum = [1.0] * len(weights), float(len(weights))
    shares = [total * w / weight_sum for w in weights]
    parts = [int(s) for s in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: (parts[i] - shares[i], i))
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts
