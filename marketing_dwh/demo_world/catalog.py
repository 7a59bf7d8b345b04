"""Constants of the demo world: the shop's markets, prices, channel mix and traffic shapes.

The shop is a fictional online home & living store ("Nordlicht Home") selling in Europe and the US.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    code: str
    currency: str
    zone: str  # clock.ZONES key
    weight: float  # share of contacts
    phone_prefix: str
    phone_leads: str  # possible first digits of a mobile number
    phone_digits: int  # national number length
    payments: tuple[tuple[str, float], ...]


_EU_PAY = (("card", 0.30), ("paypal", 0.35), ("klarna", 0.20), ("bank_transfer", 0.10), ("apple_pay", 0.05))
COUNTRIES: tuple[Country, ...] = (
    Country("DE", "EUR", "CET", 0.30, "49", "1", 11, _EU_PAY),
    Country("FR", "EUR", "CET", 0.13, "33", "67", 9, (("card", 0.55), ("paypal", 0.30), ("apple_pay", 0.15))),
    Country("NL", "EUR", "CET", 0.10, "31", "6", 9, (("ideal", 0.55), ("card", 0.20), ("paypal", 0.25))),
    Country("ES", "EUR", "CET", 0.07, "34", "67", 9, (("card", 0.60), ("paypal", 0.30), ("bank_transfer", 0.10))),
    Country("AT", "EUR", "CET", 0.06, "43", "6", 10, _EU_PAY),
    Country("IE", "EUR", "WET", 0.04, "353", "8", 9, (("card", 0.65), ("paypal", 0.25), ("apple_pay", 0.10))),
    Country("GB", "GBP", "WET", 0.15, "44", "7", 10, (("card", 0.60), ("paypal", 0.25), ("klarna", 0.15))),
    Country(
        "US", "USD", "US_EASTERN", 0.15, "1", "23456789", 10, (("card", 0.62), ("paypal", 0.20), ("apple_pay", 0.18))
    ),
)
COUNTRY_BY_CODE = {c.code: c for c in COUNTRIES}
EU_MARKET = ("DE", "FR", "NL", "ES", "AT", "IE", "GB")
US_MARKET = ("US",)
ALL_MARKETS = EU_MARKET + US_MARKET

# fixed reporting exchange rates: EUR per unit of currency
EUR_PER_UNIT = {"EUR": 1.0, "USD": 0.92, "GBP": 1.17}


def convert_cents(cents: int, from_currency: str, to_currency: str) -> int:
    """Convert an amount in minor units with the fixed demo exchange rates."""
    if from_currency == to_currency:
        return cents
    return round(cents * EUR_PER_UNIT[from_currency] / EUR_PER_UNIT[to_currency])


# --- volumes at scale 1 ---------------------------------------------------------------------------
BASE_CONTACTS = 7000
ORDERS_PER_DAY = 8.5  # about 780 orders in the default 92-day window
REPEAT_SHARE = 0.16  # chance that an order comes from an earlier buyer
CHECKOUT_SIGNUP_SHARE = 0.40  # first orders whose contact is created at checkout
CONTACT_HISTORY_DAYS = 730  # the CRM base was built over two years before the window
CONTACTS_BEFORE_WINDOW = 0.78

# --- baskets ---------------------------------------------------------------------------------------
ITEM_WEIGHTS = (0.42, 0.26, 0.15, 0.09, 0.05, 0.03)  # 1..6 items
PRICE_POINTS_EUR_CENTS = (1495, 1995, 2495, 2995, 3495, 3995, 4995, 5995, 7995, 9900, 12900)
PRICE_WEIGHTS = (6, 10, 12, 14, 12, 10, 9, 6, 4, 2, 1)
SHIPPING_CENTS = {"EUR": 495, "USD": 599, "GBP": 399}
FREE_SHIPPING_FROM_CENTS = {"EUR": 4900, "USD": 5900, "GBP": 4500}
DISCOUNT_CODE_SHARE = 0.12

# --- channels --------------------------------------------------------------------------------------
CHANNELS = ("direct", "google", "facebook", "organic", "display", "email")
# order kind -> channel weights (email needs an opted-in contact; otherwise the order counts as direct)
CHANNEL_MIX: dict[str, dict[str, float]] = {
    "checkout": {"direct": 0.20, "google": 0.32, "facebook": 0.30, "organic": 0.13, "display": 0.05},
    "existing": {
        "direct": 0.15,
        "google": 0.25,
        "facebook": 0.25,
        "organic": 0.15,
        "display": 0.05,
        "email": 0.15,
    },
    "repeat": {
        "direct": 0.30,
        "google": 0.15,
        "facebook": 0.12,
        "organic": 0.15,
        "display": 0.03,
        "email": 0.25,
    },
}
EMAIL_OPT_IN_SHARE = 0.58
PHONE_SHARE = 0.88

# --- time shapes -----------------------------------------------------------------------------------
# orders per local hour in Berlin time (the shop's home zone)
HOUR_WEIGHTS = (
    1.0, 0.6, 0.3, 0.2, 0.2, 0.3, 0.6, 1.2, 2.0, 2.5, 2.8, 3.0,
    3.2, 3.0, 2.8, 2.8, 3.0, 3.3, 3.6, 4.2, 4.8, 4.6, 3.5, 2.0,
)  # fmt: skip
WEEKDAY_ORDER_WEIGHTS = (1.10, 1.00, 0.95, 0.95, 0.90, 0.85, 1.25)  # Monday..Sunday
WEEKDAY_TRAFFIC_WEIGHTS = (1.05, 1.00, 0.98, 0.97, 0.92, 0.90, 1.18)
PROMO_ORDER_UPLIFT = 0.12  # extra orders on days a promotion campaign runs
TREND = (0.92, 1.08)  # order level at the first and the last day of the window

# --- GA4 -------------------------------------------------------------------------------------------
GA4_PROPERTY_CURRENCY = "EUR"
GA4_PROPERTY_ZONE = "CET"  # property time zone Europe/Berlin
GA4_CONSENT_SHARE = 0.93  # contacts whose browser lets GA4 record anything
GA4_TRACKING_SUCCESS = 0.97  # purchases that reach GA4 when consent is given
DIRECT = ("(direct)", "(none)", "(direct)", "(not set)")  # source, medium, campaign name, campaign id
ORGANIC = ("google", "organic", "(organic)", "(not set)")
# sessions per day at scale 1 for traffic that carries no campaign
UNPAID_TRAFFIC: tuple[tuple[tuple[str, str, str, str], float], ...] = (
    (DIRECT, 70.0),
    (ORGANIC, 95.0),
    (("bing", "organic", "(organic)", "(not set)"), 9.0),
    (("pinterest.com", "referral", "(referral)", "(not set)"), 6.0),
    (("instagram.com", "referral", "(referral)", "(not set)"), 8.0),
)
NEWSLETTER_WEEKDAY = 1  # Tuesday send
NEWSLETTER_SESSIONS = 140.0
NEWSLETTER_DECAY = (1.0, 0.35, 0.15, 0.08, 0.05, 0.04, 0.03)  # by days since the send

# --- contact details -------------------------------------------------------------------------------
FIRST_NAMES = (
    "anna", "lena", "marie", "sophie", "julia", "laura", "emma", "clara", "lea", "nina",
    "lukas", "jonas", "felix", "paul", "leon", "max", "tim", "jan", "david", "elias",
    "camille", "chloe", "louis", "hugo", "lucas", "sanne", "daan", "sem", "lucia", "pablo",
    "olivia", "amelia", "oliver", "george", "harry", "emily", "james", "ava", "noah", "mia",
)  # fmt: skip
LAST_NAMES = (
    "mueller", "schmidt", "schneider", "fischer", "weber", "meyer", "wagner", "becker", "hoffmann", "koch",
    "martin", "bernard", "dubois", "durand", "moreau", "dejong", "jansen", "devries", "garcia", "lopez",
    "martinez", "gruber", "huber", "murphy", "kelly", "smith", "jones", "taylor", "brown", "wilson",
    "johnson", "williams", "miller", "davis", "walsh", "evans", "novak", "berg", "lindqvist", "rossi",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com", "post.example.net")
