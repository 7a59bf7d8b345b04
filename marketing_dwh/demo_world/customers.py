"""The demo shop's customers and their orders: the facts every source renders its own view of.

The CRM plugin renders them as its CSV exports, GA4 as purchase events, the ad platforms as the conversions they
claim. Values are typed (aware UTC instants, amounts in minor units); each plugin formats them its own way.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from random import Random

from marketing_dwh.demo_world import catalog as cat
from marketing_dwh.demo_world import clock
from marketing_dwh.demo_world.campaigns import Campaign


@dataclass(frozen=True)
class Customer:
    """A contact of the shop (a CRM contact); ``user_pseudo_id`` is their GA4 client id."""

    contact_id: str
    email: str
    created: datetime  # aware UTC instant of the sign-up
    country: str  # ISO code (``catalog.COUNTRY_BY_CODE``)
    zone: str  # the country's ``clock.ZONES`` key
    phone: str  # E.164 or "" when unknown
    email_opt_in: bool
    user_pseudo_id: str


@dataclass(frozen=True)
class OrderFact:
    """One order of a customer."""

    order_id: str
    contact_id: str
    user_pseudo_id: str
    utc: datetime  # aware instant of the order
    day: int  # index of the order's day in the window, in the shop's zone (Berlin)
    country: str
    currency: str
    amount_cents: int
    items: int
    channel: str
    campaign_id: str  # "" for direct and organic
    transaction_id: str
    is_repeat: bool
    zone: str  # the customer's zone: the CRM shows local times
    payment_method: str


@dataclass(frozen=True)
class CustomerBase:
    customers: list[Customer]  # in sign-up order
    orders: list[OrderFact]  # in time order


@dataclass
class _Contact:
    created: datetime
    country: cat.Country
    opt_in: bool
    contact_id: str = ""
    orders: int = 0
    last_order: datetime | None = None


@dataclass
class _Order:
    utc: datetime
    day: int
    kind: str  # checkout / existing / repeat
    contact: _Contact | None = None
    channel: str = ""
    campaign: Campaign | None = None
    items: int = 0
    cents: int = 0
    payment: str = ""


def _poisson(rng: Random, lam: float) -> int:
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _order_instants(rng: Random, scale: float, start: date, days: int, campaigns: list[Campaign]) -> list[_Order]:
    promos = [c for c in campaigns if c.kind == "promo"]
    weights = []
    for d in range(days):
        day = start + timedelta(days=d)
        trend = cat.TREND[0] + (cat.TREND[1] - cat.TREND[0]) * d / max(1, days - 1)
        promo = 1 + cat.PROMO_ORDER_UPLIFT * any(c.is_active(day) for c in promos)
        weights.append(cat.WEEKDAY_ORDER_WEIGHTS[day.weekday()] * trend * promo)
    mean = sum(weights) / days
    orders = []
    for d, w in enumerate(weights):
        day = start + timedelta(days=d)
        for _ in range(_poisson(rng, cat.ORDERS_PER_DAY * scale * w / mean)):
            hour = rng.choices(range(24), cat.HOUR_WEIGHTS)[0]
            local = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)))
            orders.append(_Order(clock.local_to_utc(local, cat.GA4_PROPERTY_ZONE), d, ""))
    orders.sort(key=lambda o: o.utc)
    buyers = 0
    for order in orders:
        if buyers and rng.random() < cat.REPEAT_SHARE:
            order.kind = "repeat"
        else:
            order.kind = "checkout" if rng.random() < cat.CHECKOUT_SIGNUP_SHARE else "existing"
            buyers += 1
    return orders


def _new_contact(rng: Random, created: datetime) -> _Contact:
    country = rng.choices(cat.COUNTRIES, [c.weight for c in cat.COUNTRIES])[0]
    return _Contact(created, country, rng.random() < cat.EMAIL_OPT_IN_SHARE)


def _contact_pool(rng: Random, n: int, start: date, days: int) -> list[_Contact]:
    """Contacts that exist independently of orders: the historic base plus sign-ups during the window."""
    window_start = clock.local_to_utc(datetime.combine(start, time(0)), cat.GA4_PROPERTY_ZONE)
    history = cat.CONTACT_HISTORY_DAYS * 86400
    pool = []
    for _ in range(n):
        if rng.random() < cat.CONTACTS_BEFORE_WINDOW:  # the base grew over time: more recent sign-ups
            offset = -history * (1 - rng.random() ** 0.75)
        else:
            offset = rng.random() * (days * 86400 - 3600)  # sign-ups during the window
        pool.append(_new_contact(rng, window_start + timedelta(seconds=int(offset))))
    pool.sort(key=lambda c: c.created)
    return pool


def _pick_unbought(rng: Random, pool: list[_Contact], created_at: list[datetime], before: datetime) -> _Contact | None:
    eligible = bisect_right(created_at, before)
    for _ in range(50):
        if not eligible:
            return None
        candidate = pool[rng.randrange(eligible)]
        if not candidate.orders:
            return candidate
    return next((c for c in pool[:eligible] if not c.orders), None)


def _pick_returning(rng: Random, buyers: list[_Contact], before: datetime) -> _Contact | None:
    for _ in range(20 if buyers else 0):
        candidate = rng.choice(buyers)
        if candidate.last_order is not None and candidate.last_order <= before:
            return candidate
    return None


def _pick_campaign(rng: Random, campaigns: list[Campaign], channel: str, country: str, day: date) -> Campaign | None:
    fits = [c for c in campaigns if c.channel == channel and c.is_active(day) and country in c.countries]
    if not fits:
        return None
    return rng.choices(fits, [c.daily_budget or 1.0 for c in fits])[0]


def _local_price(eur_cents: int, currency: str) -> int:
    if currency == "EUR":
        return eur_cents
    return max(99, round(eur_cents / cat.EUR_PER_UNIT[currency] / 100) * 100 - 1)  # .99 price points


def _basket(rng: Random, currency: str) -> tuple[int, int]:
    items = rng.choices(range(1, 7), cat.ITEM_WEIGHTS)[0]
    prices = rng.choices(cat.PRICE_POINTS_EUR_CENTS, cat.PRICE_WEIGHTS, k=items)
    subtotal = sum(_local_price(p, currency) for p in prices)
    if rng.random() < cat.DISCOUNT_CODE_SHARE:
        subtotal = subtotal * 90 // 100
    shipping = cat.SHIPPING_CENTS[currency] if subtotal < cat.FREE_SHIPPING_FROM_CENTS[currency] else 0
    return items, subtotal + shipping


def _assign(
    rng: Random, orders: list[_Order], pool: list[_Contact], start: date, campaigns: list[Campaign]
) -> list[_Contact]:
    """Give every order a contact, channel, campaign and basket; returns contacts created at checkout."""
    created_at = [c.created for c in pool]
    signups: list[_Contact] = []
    buyers: list[_Contact] = []
    for order in orders:
        contact = None
        if order.kind == "repeat":  # a customer comes back, at least a day after their last order
            contact = _pick_returning(rng, buyers, order.utc - timedelta(days=1))
            if contact is None:
                order.kind = "existing"
        if order.kind == "existing":
            contact = _pick_unbought(rng, pool, created_at, order.utc - timedelta(hours=1))
            if contact is None:
                order.kind = "checkout"
        if contact is None:
            contact = _new_contact(rng, order.utc - timedelta(seconds=rng.randint(120, 1500)))
            signups.append(contact)
        if not contact.orders:
            buyers.append(contact)
        contact.orders += 1
        contact.last_order = order.utc
        order.contact = contact
        mix = cat.CHANNEL_MIX[order.kind]
        channel = rng.choices(list(mix), list(mix.values()))[0]
        if channel == "email" and not contact.opt_in:
            channel = "direct"
        if channel not in ("direct", "organic"):
            day = start + timedelta(days=order.day)
            order.campaign = _pick_campaign(rng, campaigns, channel, contact.country.code, day)
            if order.campaign is None:
                channel = "direct"
        order.channel = channel
        order.items, order.cents = _basket(rng, contact.country.currency)
        payments = contact.country.payments
        order.payment = rng.choices([p for p, _ in payments], [w for _, w in payments])[0]
    return signups


def _email(rng: Random, seen: set[str]) -> str:
    first, last = rng.choice(cat.FIRST_NAMES), rng.choice(cat.LAST_NAMES)
    local = rng.choice(
        (f"{first}.{last}", f"{first[0]}{last}", f"{first}{last}{rng.randint(60, 99)}", f"{first}_{last}")
    )
    domain = rng.choice(cat.EMAIL_DOMAINS)
    email = f"{local}@{domain}"
    while email in seen:
        email = f"{local}{rng.randint(1, 999)}@{domain}"
    seen.add(email)
    return email


def _phone(rng: Random, country: cat.Country) -> str:
    if rng.random() >= cat.PHONE_SHARE:
        return ""
    rest = "".join(str(rng.randrange(10)) for _ in range(country.phone_digits - 1))
    return f"+{country.phone_prefix}{rng.choice(country.phone_leads)}{rest}"


def _pseudo_id(rng: Random, created: datetime, seen: set[str]) -> str:
    """GA4 client id: random 31-bit number '.' unix seconds of the first visit (before the sign-up)."""
    while True:
        first_visit = int(created.timestamp()) - rng.randint(0, 45 * 86400)
        upid = f"{rng.randint(100_000_000, 2_147_483_647)}.{first_visit}"
        if upid not in seen:
            seen.add(upid)
            return upid


def build_customers(seed: int, scale: float, start: date, days: int, campaigns: list[Campaign]) -> CustomerBase:
    rng = Random(f"demo-world/{seed}/crm")
    orders = _order_instants(rng, scale, start, days, campaigns)
    n_signups = sum(o.kind == "checkout" for o in orders)
    pool = _contact_pool(rng, max(0, round(cat.BASE_CONTACTS * scale) - n_signups), start, days)
    signups = _assign(rng, orders, pool, start, campaigns)

    emails: set[str] = set()
    upids: set[str] = set()
    customers = []
    for n, contact in enumerate(sorted([*pool, *signups], key=lambda c: c.created), start=1):
        contact.contact_id = f"C-{n:06d}"
        customers.append(
            Customer(
                contact_id=contact.contact_id,
                email=_email(rng, emails),
                created=contact.created,
                country=contact.country.code,
                zone=contact.country.zone,
                phone=_phone(rng, contact.country),
                email_opt_in=contact.opt_in,
                user_pseudo_id=_pseudo_id(rng, contact.created, upids),
            )
        )
    pseudo_ids = {c.contact_id: c.user_pseudo_id for c in customers}

    first_order = rng.randint(10_000, 19_000)
    transaction_ids = rng.sample(range(1_000_000_000, 9_000_000_000), len(orders))
    seen_buyers: set[str] = set()
    facts = []
    for n, (order, tx) in enumerate(zip(orders, transaction_ids, strict=True)):
        contact, campaign = order.contact, order.campaign
        assert contact is not None
        is_repeat = contact.contact_id in seen_buyers
        seen_buyers.add(contact.contact_id)
        facts.append(
            OrderFact(
                order_id=f"ORD-{first_order + n:06d}",
                contact_id=contact.contact_id,
                user_pseudo_id=pseudo_ids[contact.contact_id],
                utc=order.utc,
                day=order.day,
                country=contact.country.code,
                currency=contact.country.currency,
                amount_cents=order.cents,
                items=order.items,
                channel=order.channel,
                campaign_id=campaign.campaign_id if campaign else "",
                transaction_id=f"T-{tx}",
                is_repeat=is_repeat,
                zone=contact.country.zone,
                payment_method=order.payment,
            )
        )
    return CustomerBase(customers, facts)
