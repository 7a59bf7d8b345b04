"""GA4's slice of the demo world: purchase events and daily traffic by session source / medium / campaign.

About 90% of CRM orders reach GA4 (the rest is lost to consent and blockers) with the CRM's transaction id,
the contact's GA4 client id and the order's source / medium / campaign. Sessions from paid campaigns are the
visits of the world's ad delivery; other traffic follows fixed baselines. Dates are the property's (Berlin) dates
as GA4 reports them (``YYYYMMDD``); revenue in traffic rows is in the property currency (EUR).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from random import Random
from typing import Any

from marketing_dwh.demo_world import AdDelivery, Campaign, DemoWorld, OrderFact, clock
from marketing_dwh.demo_world import catalog as cat

SessionKey = tuple[str, str, str, str]  # source, medium, campaign name, campaign id


@dataclass(frozen=True)
class Ga4Data:
    purchases: list[dict[str, Any]]
    traffic: list[dict[str, Any]]


def session_key(channel: str, campaign: Campaign | None) -> SessionKey:
    """GA4 session source / medium / campaign name / campaign id of an order's channel and campaign."""
    if campaign is not None:
        return campaign.utm_source, campaign.utm_medium, campaign.utm_campaign, campaign.campaign_id
    return cat.ORGANIC if channel == "organic" else cat.DIRECT


def _purchases(seed: int, facts: list[OrderFact], campaigns: dict[str, Campaign]) -> list[dict[str, Any]]:
    rng = Random(f"demo-world/{seed}/ga4-purchases")
    consent: dict[str, bool] = {}
    events = []
    for fact in facts:
        if fact.contact_id not in consent:
            consent[fact.contact_id] = rng.random() < cat.GA4_CONSENT_SHARE
        tracked = rng.random() < cat.GA4_TRACKING_SUCCESS
        lag, micros = rng.randint(2, 90), rng.randrange(1_000_000)
        if not (consent[fact.contact_id] and tracked):
            continue
        local, _ = clock.to_local(fact.utc, cat.GA4_PROPERTY_ZONE)
        lag = min(lag, 86399 - (local.hour * 3600 + local.minute * 60 + local.second))  # stay on the same day
        instant = fact.utc + timedelta(seconds=lag)
        source, medium, name, campaign_id = session_key(fact.channel, campaigns.get(fact.campaign_id))
        events.append(
            {
                "transaction_id": fact.transaction_id,
                "user_pseudo_id": fact.user_pseudo_id,
                "event_timestamp": int(instant.timestamp()) * 1_000_000 + micros,
                "date": clock.local_date(instant, cat.GA4_PROPERTY_ZONE).strftime("%Y%m%d"),
                "source": source,
                "medium": medium,
                "campaign_id": campaign_id,
                "campaign_name": name,
                "value": fact.amount_cents / 100,
                "currency": fact.currency,
            }
        )
    return events


def _base_sessions(
    rng: Random, scale: float, day: date, campaigns: list[Campaign], delivery: dict[tuple[str, date], AdDelivery]
) -> dict[SessionKey, float]:
    weekday = cat.WEEKDAY_TRAFFIC_WEIGHTS[day.weekday()]
    sessions = {key: base * scale * weekday * rng.uniform(0.85, 1.15) for key, base in cat.UNPAID_TRAFFIC}
    for campaign in campaigns:
        if not campaign.is_active(day):
            continue
        if campaign.platform == "email":
            since_send = (day.weekday() - cat.NEWSLETTER_WEEKDAY) % 7
            value = cat.NEWSLETTER_SESSIONS * scale * cat.NEWSLETTER_DECAY[since_send] * rng.uniform(0.85, 1.15)
        else:
            delivered = delivery.get((campaign.campaign_id, day))
            value = float(delivered.visits) if delivered else 0.0
        sessions[session_key(campaign.channel, campaign)] = value
    return sessions


@functools.cache
def ga4_demo(world: DemoWorld) -> Ga4Data:
    """GA4's slice of ``world`` (cached per world; treat as read-only)."""
    seed, scale, start, days, campaigns = world.seed, world.scale, world.start, world.days, world.campaigns
    purchases = _purchases(seed, world.order_facts, {c.campaign_id: c for c in campaigns})
    bought: dict[tuple[str, SessionKey], list[int]] = defaultdict(lambda: [0, 0])
    for event in purchases:
        key = (event["source"], event["medium"], event["campaign_name"], event["campaign_id"])
        bought[(event["date"], key)][0] += 1
        bought[(event["date"], key)][1] += cat.convert_cents(round(event["value"] * 100), event["currency"], "EUR")
    rng = Random(f"demo-world/{seed}/ga4-traffic")
    traffic = []
    for d in range(days):
        day = start + timedelta(days=d)
        ymd = day.strftime("%Y%m%d")
        sessions = _base_sessions(rng, scale, day, campaigns, world.delivery)
        for date_key, key in bought:
            if date_key == ymd:
                sessions.setdefault(key, 0.0)
        for key in sorted(sessions):
            n_purchases, revenue_cents = bought.get((ymd, key), (0, 0))
            n_sessions = max(round(sessions[key]), n_purchases)
            if not n_sessions:
                continue
            users = min(n_sessions, max(n_purchases, 1, round(n_sessions * rng.uniform(0.8, 0.93))))
            source, medium, name, campaign_id = key
            traffic.append(
                {
                    "date": ymd,
                    "source": source,
                    "medium": medium,
                    "campaign_name": name,
                    "campaign_id": campaign_id,
                    "sessions": n_sessions,
                    "total_users": users,
                    "engaged_sessions": max(n_purchases, round(n_sessions * rng.uniform(0.5, 0.68))),
                    "key_events": n_purchases + round(n_sessions * rng.uniform(0.005, 0.02)),
                    "ecommerce_purchases": n_purchases,
                    "purchase_revenue": revenue_cents / 100,
                }
            )
    return Ga4Data(purchases, traffic)
