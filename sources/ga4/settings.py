"""GA4 Data API constants (built-in reports, defaults, quota buckets) and the source's settings, checked first."""

from typing import Any, ClassVar

from dlt.common.configuration import configspec
from dlt.common.typing import TSecretValue

from marketing_dwh.settings import SourceConfiguration

DEFAULT_LOOKBACK_DAYS = 3  # GA4 processes data up to 48 hours late
DEFAULT_INITIAL_DAYS = 90
DEFAULT_PAGE_SIZE = 10_000  # rows per runReport page (the API allows 250,000)
# batchRunReports runs up to 5 RunReportRequests of one property per call, answered in request order, each
# consuming its own quota tokens ("Each batch request is allowed up to 5 requests"; all reports "must be for the
# same Google Analytics property": https://developers.google.com/analytics/devguides/reporting/data/v1/rest/v1beta/
# properties/batchRunReports and the BatchRunReportsRequest.requests field reference)
MAX_BATCH_REPORTS = 5
# a first run (no cursor yet) or an explicit backfill asks for this many days per request (the date dimension
# splits the rows per day); a response that is sampled or lost rows to "(other)" is fetched again one day per
# request. 1 = always one day per request.
DEFAULT_BACKFILL_SLICE_DAYS = 31
SLOW_DOWN_BELOW = 0.10  # slow down when a quota bucket has less than 10% left
# one total retry time budget per run (waits for quota and transient errors included); it must end before the
# ingest DAG's run timeout (mdw.airflow.dagrun_timeout_minutes = 120) so a stuck run still reports its cause
DEFAULT_RETRY_BUDGET_MINUTES = 90
# a run paused by an hourly quota resumes in its next round; a run that starts later than this after the refill
# time is a new run (it starts again at the oldest incomplete day)
RESUME_WITHIN_S = 3600.0
HOURLY_REFILL_MARGIN_S = 60.0  # after the hour turns, wait a little longer before retrying an hourly bucket
CONCURRENT_BACKOFF_S = (5.0, 60.0)  # first and largest wait after "Exhausted concurrent requests quota."
SERVER_ERROR_BACKOFF_S = (2.0, 300.0)  # first and largest wait after a 5xx / deadline exceeded

# reports every warehouse needs; user-defined reports are added from config (sources.ga4.reports)
BUILTIN_REPORTS = {
    "traffic_daily": {
        "dimensions": ["date", "sessionSource", "sessionMedium", "sessionCampaignName", "sessionCampaignId"],
        "metrics": ["sessions", "totalUsers", "engagedSessions", "keyEvents", "purchaseRevenue"],
    },
    "purchases": {
        # user_pseudo_id and the event timestamp are not standard Data API dimensions: register them as custom
        # dimensions in the property (user scope / event scope) under these names
        "dimensions": [
            "date",
            "transactionId",
            "customUser:user_pseudo_id",
            "customEvent:event_timestamp",
            "sessionSource",
            "sessionMedium",
            "sessionCampaignName",
            "sessionCampaignId",
        ],
        "metrics": ["purchaseRevenue", "ecommercePurchases"],
        "dimension_filter": {"field": "eventName", "value": "purchase"},
        # without them the report still runs (transaction ids still link purchases to orders)
        "optional": ["customUser:user_pseudo_id", "customEvent:event_timestamp"],
    },
}

# how to register a custom dimension the built-in reports use, for the warning when a property lacks it
CUSTOM_DIMENSION_HELP = {
    "customUser:user_pseudo_id": "scope User, user property 'user_pseudo_id'",
    "customEvent:event_timestamp": "scope Event, event parameter 'event_timestamp'",
}

# MetricType (metricHeaders[].type) -> the declared warehouse column type of that metric; every documented type
# is listed. Currency is an exact decimal (BigQuery NUMERIC-like 38,9), never a double.
METRIC_COLUMN_TYPES = {
    "TYPE_INTEGER": "bigint",
    "TYPE_FLOAT": "double",
    "TYPE_SECONDS": "double",
    "TYPE_MILLISECONDS": "double",
    "TYPE_MINUTES": "double",
    "TYPE_HOURS": "double",
    "TYPE_STANDARD": "double",
    "TYPE_CURRENCY": "decimal",
    "TYPE_FEET": "double",
    "TYPE_MILES": "double",
    "TYPE_METERS": "double",
    "TYPE_KILOMETERS": "double",
}
CURRENCY_PRECISION, CURRENCY_SCALE = 38, 9

# propertyQuota reports per bucket what *this request* consumed and what remains; the share left is taken
# against the standard property's limits (Analytics 360 properties have higher ones: the share is then lower
# than real, which only makes the source slow down earlier)
QUOTA_LIMITS = {
    "tokens_per_day": 200_000,
    "tokens_per_hour": 40_000,
    "concurrent_requests": 10,
    "server_errors_per_project_per_hour": 10,
    "potentially_thresholded_requests_per_hour": 120,
    "tokens_per_project_per_hour": 14_000,
}
QUOTA_BUCKETS = tuple(QUOTA_LIMITS)
# 429 RESOURCE_EXHAUSTED messages -> the bucket they name and when it refills; the first rule whose fragments all
# occur in the (lower-cased) message wins. Real texts: sources/ga4/emulator/fixtures/quota_errors.jsonc.
QUOTA_MESSAGES = (
    (("concurrent requests",), "concurrent_requests", "backoff"),
    (("potentially thresholded",), "potentially_thresholded_requests_per_hour", "hour"),
    (("server errors",), "server_errors_per_project_per_hour", "hour"),
    (("tokens", "per day"), "tokens_per_day", "day"),
    (("tokens", "project", "per hour"), "tokens_per_project_per_hour", "hour"),
    (("tokens", "per hour"), "tokens_per_hour", "hour"),
)


@configspec
class Ga4Configuration(SourceConfiguration):
    """The GA4 source's settings (``sources.ga4.*``, or its arguments), checked before anything runs."""

    SECTION: ClassVar[str] = "sources.ga4"
    MINIMUM: ClassVar[dict[str, float]] = {"lookback_days": 1, "initial_days": 1, "slice_days": 1, "page_size": 1,
                                           "backfill_slice_days": 1}  # fmt: skip
    POSITIVE: ClassVar[tuple[str, ...]] = ("retry_budget_minutes",)
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"transport": ("grpc", "rest")}
    PATTERNS: ClassVar[dict[str, tuple[str, str]]] = {
        "property_ids": (r"(properties/)?[0-9]+", "a GA4 property id (a number, e.g. 123456789)"),
    }
    ONE_OR_MANY: ClassVar[tuple[str, ...]] = ("property_ids",)
    DATES: ClassVar[tuple[str, ...]] = ("start_date", "since", "until", "today")
    ALLOWED: ClassVar[dict[str, str]] = {
        "retry_budget_minutes": "use a positive number of minutes, below the ingest DAG's timeout "
        "(mdw.airflow.dagrun_timeout_minutes)",
        "property_timezones": 'use {"<property id>" = "<IANA time zone>"}, e.g. {"123456789" = "Europe/Berlin"}',
    }

    property_ids: Any = None  # required: one id or a list
    credentials: TSecretValue | None = None
    api_endpoint: str | None = None
    transport: str = "grpc"
    reports: list[dict[str, Any]] | None = None
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    initial_days: int = DEFAULT_INITIAL_DAYS
    start_date: str | None = None
    slice_days: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    backfill_slice_days: int = DEFAULT_BACKFILL_SLICE_DAYS
    retry_budget_minutes: float = DEFAULT_RETRY_BUDGET_MINUTES
    property_timezones: dict[str, str] | None = None
    since: str | None = None
    until: str | None = None
    today: str | None = None
    started_at: str | None = None

    def check(self) -> None:
        from sources.ga4.caller import Ga4ConfigError
        from sources.ga4.property_settings import zone_setting
        from sources.ga4.reports import report_specs

        if self.property_ids == []:
            raise self.invalid("property_ids", allowed='list the GA4 property ids to load, e.g. ["123456789"]')
        try:
            report_specs(self.reports)
        except (ValueError, KeyError, TypeError) as exc:
            raise self.invalid("reports", allowed=str(exc).removeprefix("sources.ga4.reports: ")) from None
        try:
            zone_setting(self.property_timezones)
        except Ga4ConfigError as exc:
            allowed = str(exc).removeprefix("sources.ga4.property_timezones: ")
            raise self.invalid("property_timezones", allowed=allowed) from None
