"""GA4 Data API constants: built-in reports, defaults, quota buckets."""

DEFAULT_LOOKBACK_DAYS = 3  # GA4 processes data up to 48 hours late
DEFAULT_INITIAL_DAYS = 90
DEFAULT_PAGE_SIZE = 10_000  # rows per runReport page (the API allows 250,000)
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
