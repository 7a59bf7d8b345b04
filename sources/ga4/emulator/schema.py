"""The emulated GA4 schema: dimensions and metrics, their types, categories and compatibility.

Two fact tables answer reports: session traffic (date x session source / medium / campaign, optionally split
by ``eventName``) and purchase events (one row per transaction). A request whose dimensions (or dimension
filter) use an event-scoped purchase dimension (``transactionId``, ``customUser:user_pseudo_id``,
``customEvent:event_timestamp``) reads purchase events, and then the session-scoped metrics (``sessions``,
``totalUsers``, ``engagedSessions``, ``engagementRate``) are INCOMPATIBLE.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dimension:
    api_name: str
    ui_name: str
    category: str
    description: str
    custom: bool = False


@dataclass(frozen=True)
class Metric:
    api_name: str
    ui_name: str
    category: str
    type: str  # a MetricType name: TYPE_INTEGER, TYPE_FLOAT, TYPE_SECONDS, ..., TYPE_CURRENCY, TYPE_KILOMETERS
    description: str
    session_scoped: bool = False
    custom: bool = False


# the SDK's MetricType enum (google.analytics.data_v1beta.types.MetricType): name -> wire number
METRIC_TYPES = {
    "METRIC_TYPE_UNSPECIFIED": 0,
    "TYPE_INTEGER": 1,
    "TYPE_FLOAT": 2,
    "TYPE_SECONDS": 4,
    "TYPE_MILLISECONDS": 5,
    "TYPE_MINUTES": 6,
    "TYPE_HOURS": 7,
    "TYPE_STANDARD": 8,
    "TYPE_CURRENCY": 9,
    "TYPE_FEET": 10,
    "TYPE_MILES": 11,
    "TYPE_METERS": 12,
    "TYPE_KILOMETERS": 13,
}
COMPATIBILITY = {"COMPATIBILITY_UNSPECIFIED": 0, "COMPATIBLE": 1, "INCOMPATIBLE": 2}

DIMENSIONS = {
    d.api_name: d
    for d in (
        Dimension("date", "Date", "Time", "The date of the event, formatted as YYYYMMDD."),
        Dimension("sessionSource", "Session source", "Traffic source", "The source that initiated a session."),
        Dimension("sessionMedium", "Session medium", "Traffic source", "The medium that initiated a session."),
        Dimension("sessionCampaignName", "Session campaign", "Traffic source", "The marketing campaign of a session."),
        Dimension("sessionCampaignId", "Session campaign ID", "Traffic source", "The campaign id of a session."),
        Dimension("eventName", "Event name", "Event", "The name of the event."),
        Dimension("transactionId", "Transaction ID", "Ecommerce", "The ID of the ecommerce transaction."),
        Dimension(
            "customUser:user_pseudo_id",
            "user_pseudo_id",
            "Custom",
            "Emulator custom user dimension: the GA4 client id (user_pseudo_id) of the purchaser.",
            custom=True,
        ),
        Dimension(
            "customEvent:event_timestamp",
            "event_timestamp",
            "Custom",
            "Emulator custom event dimension: the purchase event time, microseconds since the epoch (UTC).",
            custom=True,
        ),
    )
}
PURCHASE_DIMENSIONS = frozenset({"transactionId", "customUser:user_pseudo_id", "customEvent:event_timestamp"})

METRICS = {
    m.api_name: m
    for m in (
        Metric("sessions", "Sessions", "Session", "TYPE_INTEGER", "The number of sessions.", session_scoped=True),
        Metric("totalUsers", "Total users", "User", "TYPE_INTEGER", "Distinct users.", session_scoped=True),
        Metric(
            "engagedSessions", "Engaged sessions", "Session", "TYPE_INTEGER", "Engaged sessions.", session_scoped=True
        ),
        Metric(
            "engagementRate",
            "Engagement rate",
            "Session",
            "TYPE_FLOAT",
            "Engaged sessions divided by sessions.",
            session_scoped=True,
        ),
        Metric("keyEvents", "Key events", "Event", "TYPE_INTEGER", "The count of key events."),
        Metric("eventCount", "Event count", "Event", "TYPE_INTEGER", "The count of events."),
        Metric("ecommercePurchases", "Ecommerce purchases", "Ecommerce", "TYPE_INTEGER", "Purchases completed."),
        Metric("purchaseRevenue", "Purchase revenue", "Ecommerce", "TYPE_CURRENCY", "Revenue from purchases."),
        Metric("userEngagementDuration", "User engagement", "User", "TYPE_SECONDS", "Engaged time in seconds."),
        # custom metrics with each measurement unit GA4 offers (values are 0 unless a fixture is replayed)
        *(
            Metric(f"customEvent:{name}", name, "Custom", kind, f"Emulator custom metric ({kind}).", custom=True)
            for name, kind in (
                ("load_ms", "TYPE_MILLISECONDS"),
                ("watch_minutes", "TYPE_MINUTES"),
                ("rental_hours", "TYPE_HOURS"),
                ("score", "TYPE_STANDARD"),
                ("height_ft", "TYPE_FEET"),
                ("ride_miles", "TYPE_MILES"),
                ("swim_m", "TYPE_METERS"),
                ("run_km", "TYPE_KILOMETERS"),
            )
        ),
    )
}
# metrics summed over facts (engagementRate is derived from two of them after aggregation)
SUMMED = (
    "sessions",
    "totalUsers",
    "engagedSessions",
    "keyEvents",
    "eventCount",
    "ecommercePurchases",
    "purchaseRevenue",
)


def incompatible_fields(dimensions: list[str], metrics: list[str], forced: set[str]) -> list[str]:
    """Fields of the request that make it incompatible (unknown fields are not checked here)."""
    bad = [name for name in [*dimensions, *metrics] if name in forced]
    uses_purchase = any(d in PURCHASE_DIMENSIONS for d in dimensions)
    session_metrics = [m for m in metrics if m in METRICS and METRICS[m].session_scoped]
    if uses_purchase and session_metrics:
        bad += [d for d in dimensions if d in PURCHASE_DIMENSIONS]
        bad += session_metrics
    return list(dict.fromkeys(bad))


def is_compatible(name: str, is_dimension: bool, dimensions: list[str], metrics: list[str], forced: set[str]) -> bool:
    """Whether adding ``name`` to the request (``dimensions`` / ``metrics``) keeps it compatible."""
    if name in forced or name not in (DIMENSIONS if is_dimension else METRICS):
        return False
    if is_dimension:
        dims, mets = [*dimensions, name], metrics
    else:
        dims, mets = dimensions, [*metrics, name]
    return name not in incompatible_fields(dims, mets, set())
