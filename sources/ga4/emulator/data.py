"""What the emulator serves: per GA4 property, daily traffic rows and purchase events (see ``demo_data``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from marketing_dwh.demo_world import catalog as cat
from sources.ga4.demo import ga4_demo

DEMO_PROPERTY_ID = "412345678"
CUSTOM_DIMENSIONS = ("customUser:user_pseudo_id", "customEvent:event_timestamp")


@dataclass
class Ga4Property:
    """One GA4 property: ``traffic`` (one row per date x session source/medium/campaign) and ``purchases``.

    ``traffic`` rows: date (YYYYMMDD), source, medium, campaign_name, campaign_id, sessions, total_users,
    engaged_sessions, key_events, ecommerce_purchases, purchase_revenue (property currency).
    ``purchases`` rows: transaction_id, user_pseudo_id, event_timestamp (micros UTC), date, source, medium,
    campaign_id, campaign_name, value, currency (``revenue`` in the property currency is derived).
    """

    property_id: str
    traffic: list[dict[str, Any]]
    purchases: list[dict[str, Any]]
    time_zone: str = "Europe/Berlin"
    currency: str = "EUR"
    display_name: str = "Demo Shop - GA4"
    # custom dimensions registered in the property (Admin > Custom definitions); others answer 400
    custom_dimensions: tuple[str, ...] = CUSTOM_DIMENSIONS


@dataclass
class Ga4Data:
    properties: dict[str, Ga4Property] = field(default_factory=dict)

    def add(self, prop: Ga4Property) -> Ga4Property:
        self.properties[prop.property_id] = prop
        return prop


def purchase_revenue(event: dict[str, Any], currency: str) -> float:
    cents = cat.convert_cents(round(event["value"] * 100), event["currency"], currency)
    return cents / 100


def _scaled_traffic(rows: list[dict[str, Any]], factor: float) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        copy = dict(row)
        for key in ("sessions", "total_users", "engaged_sessions", "key_events", "ecommerce_purchases"):
            copy[key] = round(row[key] * factor)
        copy["total_users"] = min(copy["total_users"], copy["sessions"])
        copy["purchase_revenue"] = round(row["purchase_revenue"] * factor, 2)
        out.append(copy)
    return out


def _scaled_purchases(rows: list[dict[str, Any]], factor: float) -> list[dict[str, Any]]:
    return [dict(row, value=round(row["value"] * factor, 2)) for row in rows]


def demo_data(world: Any, properties: int = 1, first_property_id: str = DEMO_PROPERTY_ID) -> Ga4Data:
    """The demo world's GA4 property (id ``412345678``, Europe/Berlin, EUR), plus synthetic copies.

    ``properties`` is the TOTAL number of properties: the demo property first, then ``properties - 1`` copies
    with ids counting up from it (``412345679``, ...), the same shape (dates, channels, transaction ids) and
    values scaled by ``1 + 0.1 * k`` (counts rounded, so copies are not exact multiples).
    """
    if properties < 1:
        raise ValueError(f"properties must be at least 1, got {properties!r}")
    traffic = [dict(row) for row in ga4_demo(world).traffic]
    purchases = [dict(row) for row in ga4_demo(world).purchases]
    data = Ga4Data()
    for k in range(properties):
        pid = str(int(first_property_id) + k)
        factor = 1 + 0.1 * k
        name = "Demo Shop - GA4" if k == 0 else f"Demo Shop copy {k} - GA4"
        data.add(
            Ga4Property(
                pid,
                traffic if k == 0 else _scaled_traffic(traffic, factor),
                purchases if k == 0 else _scaled_purchases(purchases, factor),
                display_name=name,
            )
        )
    return data
