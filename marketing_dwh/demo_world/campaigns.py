"""Ad accounts and campaigns of the demo shop: about ten campaigns on Meta, Google Ads, Criteo and e-mail.

They belong to the world, not to a source: CRM orders and web sessions carry their ids whether or not the ad
platform's plugin is installed; an ad platform's plugin renders its own objects (ad sets, ads ...) beneath them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from random import Random

from marketing_dwh.demo_world.catalog import ALL_MARKETS, EU_MARKET, US_MARKET


@dataclass(frozen=True)
class AdAccount:
    """An account on an ad platform (Meta ad account, Google Ads customer, Criteo advertiser)."""

    platform: str  # meta / google_ads / criteo (``Campaign.platform``)
    account_id: str  # Meta: numeric id (the Graph API node is ``act_<account_id>``); Google Ads: 10 digits
    name: str
    currency: str
    timezone_name: str
    business_name: str
    created_time: datetime  # aware UTC
    account_status: int = 1  # 1 = ACTIVE

    @property
    def act_id(self) -> str:
        """The Graph API node of a Meta ad account."""
        return f"act_{self.account_id}"


@dataclass(frozen=True)
class Campaign:
    """A marketing campaign on any platform; ``campaign_id`` is what CRM orders and GA4 sessions carry."""

    campaign_id: str
    name: str
    channel: str  # CRM channel: facebook / google / display / email
    platform: str  # meta / google_ads / criteo / email
    account_id: str  # platform account (Meta: numeric ad account id), "" for e-mail
    kind: str  # prospecting / retargeting / promo / search / newsletter
    objective: str
    status: str  # ACTIVE or PAUSED (ended)
    start: date  # first active day
    stop: date | None  # last active day (inclusive); None = still running
    daily_budget: float  # in ``currency``; 0 when the channel has no media budget
    currency: str
    countries: tuple[str, ...]  # markets the campaign targets
    utm_source: str
    utm_medium: str
    utm_campaign: str  # also GA4's campaign name
    created_time: datetime  # aware UTC

    def is_active(self, day: date) -> bool:
        return self.start <= day and (self.stop is None or day <= self.stop)


@dataclass(frozen=True)
class _Spec:
    name: str
    platform: str
    channel: str
    market: tuple[str, ...]
    kind: str
    start_frac: float  # start day as a fraction of the window (negative = before it)
    stop_frac: float | None
    budget: float  # per day at scale 1, campaign currency
    medium: str
    objective: str


# fmt: off
_SPECS = (
    # name, platform, channel, markets, kind, start, stop, budget/day, utm_medium, objective
    _Spec("EU | Prospecting | Broad", "meta", "facebook", EU_MARKET, "prospecting", -1.3, None, 45.0,
          "paid_social", "OUTCOME_SALES"),
    _Spec("EU | Retargeting | Visitors 30d", "meta", "facebook", EU_MARKET, "retargeting", -1.3, None, 20.0,
          "paid_social", "OUTCOME_SALES"),
    _Spec("EU | Summer Sale", "meta", "facebook", EU_MARKET, "promo", 0.0, 0.33, 35.0,
          "paid_social", "OUTCOME_SALES"),
    _Spec("EU | Autumn Collection Launch", "meta", "facebook", EU_MARKET, "promo", 0.5, None, 40.0,
          "paid_social", "OUTCOME_SALES"),
    _Spec("US | Prospecting | Advantage+", "meta", "facebook", US_MARKET, "prospecting", -0.7, None, 22.0,
          "cpc", "OUTCOME_SALES"),
    _Spec("US | Retargeting | Cart 7d", "meta", "facebook", US_MARKET, "retargeting", 0.15, None, 9.0,
          "cpc", "OUTCOME_SALES"),
    _Spec("Search | Brand", "google_ads", "google", ALL_MARKETS, "search", -4.0, None, 15.0, "cpc", "SEARCH"),
    _Spec("Search | Generic | Home Decor", "google_ads", "google", ALL_MARKETS, "search", -2.2, None, 35.0,
          "cpc", "SEARCH"),
    _Spec("Display | Retargeting", "criteo", "display", ALL_MARKETS, "retargeting", -1.0, None, 20.0,
          "display", "RETARGETING"),
    _Spec("Newsletter", "email", "email", ALL_MARKETS, "newsletter", -4.0, None, 0.0, "email", "NEWSLETTER"),
)
# fmt: on

_SOURCE_BY_PLATFORM = {"meta": "facebook", "google_ads": "google", "criteo": "criteo", "email": "newsletter"}


class MetaIds:
    """Ascending 18-digit Graph API ids (campaigns, ad sets, ads and creatives share one sequence)."""

    def __init__(self, rng: Random, after: int = 0) -> None:
        self._rng = rng
        self._last = max(after, 120_210_000_000_000_000 + rng.randrange(10**13))

    def next(self) -> str:
        self._last += self._rng.randint(1_000, 9_000_000)
        return str(self._last)


def _slug(name: str) -> str:
    words = "".join(ch if ch.isalnum() else " " for ch in name.lower()).split()
    return "_".join(words)


def _utc_at(day: date, rng: Random) -> datetime:
    return datetime.combine(day, time(rng.randint(7, 17), rng.randrange(60), rng.randrange(60)), UTC)


def build_ad_accounts(rng: Random, start: date) -> list[AdAccount]:
    """Two Meta ad accounts (EU in EUR, US in USD), one Google Ads customer and one Criteo advertiser."""
    opened = start - timedelta(days=900)
    company = "Nordlicht Home GmbH"
    return [
        AdAccount(
            "meta", str(rng.randrange(10**14, 10**15)), "Nordlicht Home EU", "EUR", "Europe/Berlin", company,
            _utc_at(opened, rng),
        ),
        AdAccount(
            "meta", str(rng.randrange(10**14, 10**15)), "Nordlicht Home US", "USD", "America/New_York", company,
            _utc_at(opened + timedelta(days=200), rng),
        ),
        AdAccount(
            "google_ads", str(rng.randrange(10**9, 10**10)), "Nordlicht Home Search", "EUR", "Europe/Berlin",
            company, _utc_at(opened - timedelta(days=300), rng),
        ),
        AdAccount(
            "criteo", str(rng.randrange(10**5, 10**6)), "Nordlicht Home Retargeting", "EUR", "Europe/Paris",
            company, _utc_at(opened + timedelta(days=100), rng),
        ),
    ]  # fmt: skip


def build_campaigns(rng: Random, scale: float, start: date, days: int, accounts: list[AdAccount]) -> list[Campaign]:
    """The campaigns, in a fixed order; budgets grow with ``scale``."""
    meta_ids = MetaIds(rng)
    meta_eu, meta_us = (a for a in accounts if a.platform == "meta")
    google = next(a for a in accounts if a.platform == "google_ads")
    criteo = next(a for a in accounts if a.platform == "criteo")
    window_end = start + timedelta(days=days - 1)
    campaigns = []
    for spec in _SPECS:
        first = start + timedelta(days=math.floor(spec.start_frac * days))
        stop = None if spec.stop_frac is None else start + timedelta(days=math.floor(spec.stop_frac * days))
        if spec.platform == "meta":
            account = meta_eu if spec.market == EU_MARKET else meta_us
            campaign_id, account_id, currency = meta_ids.next(), account.account_id, account.currency
        elif spec.platform == "google_ads":
            campaign_id, account_id, currency = str(rng.randrange(10**10, 10**11)), google.account_id, google.currency
        elif spec.platform == "criteo":
            campaign_id, account_id, currency = str(rng.randrange(10**6, 10**7)), criteo.account_id, criteo.currency
        else:
            campaign_id, account_id, currency = f"EM-{rng.randrange(1, 10**6):06d}", "", "EUR"
        campaigns.append(
            Campaign(
                campaign_id=campaign_id,
                name=spec.name,
                channel=spec.channel,
                platform=spec.platform,
                account_id=account_id,
                kind=spec.kind,
                objective=spec.objective,
                status="PAUSED" if stop is not None and stop < window_end else "ACTIVE",
                start=first,
                stop=stop,
                daily_budget=round(spec.budget * scale, 2),
                currency=currency,
                countries=spec.market,
                utm_source=_SOURCE_BY_PLATFORM[spec.platform],
                utm_medium=spec.medium,
                utm_campaign=_slug(spec.name),
                created_time=_utc_at(first - timedelta(days=rng.randint(1, 6)), rng),
            )
        )
    return campaigns
