"""Meta Marketing API constants (fields, defaults, error codes) and the source's settings, checked first."""

from typing import Any, ClassVar

from dlt.common.configuration import configspec
from dlt.common.typing import TSecretStrValue

from marketing_dwh.settings import SourceConfiguration

DEFAULT_API_VERSION = "v26.0"
DEFAULT_GRAPH_URL = "https://graph.facebook.com"

# attribution windows valid in 2026 (7d_view / 28d_view were retired in January 2026)
DEFAULT_WINDOWS = ("1d_click", "7d_click", "28d_click", "1d_view")
DEFAULT_ATTRIBUTION_DAYS = 28  # insights can still change for 28 days
MAX_HISTORY_MONTHS = 37  # the API keeps 37 months of insights
DEFAULT_LEVEL = "ad"
LEVELS = ("ad", "adset", "campaign", "account")

# breakdown reports: name -> API breakdowns; each lands in its own table insights_<name>
BREAKDOWNS = {
    "age_gender": ("age", "gender"),
    "country": ("country",),
    "platform_device": ("publisher_platform", "device_platform"),
}

INSIGHT_ID_FIELDS = ("account_id", "campaign_id", "adset_id", "ad_id", "date_start", "date_stop")
INSIGHT_NAME_FIELDS = ("account_currency", "campaign_name", "adset_name", "ad_name", "objective")
INSIGHT_METRIC_FIELDS = (
    "impressions",
    "reach",
    "frequency",
    "clicks",
    "inline_link_clicks",
    "spend",
    "cpm",
    "cpc",
    "ctr",
    "actions",
    "action_values",
    "attribution_setting",
)

ACCOUNT_FIELDS = ("id", "account_id", "name", "currency", "timezone_name", "account_status", "business_name")
CAMPAIGN_FIELDS = (
    "id", "account_id", "name", "objective", "status", "effective_status", "configured_status", "buying_type",
    "daily_budget", "lifetime_budget", "start_time", "stop_time", "created_time", "updated_time",
)  # fmt: skip
ADSET_FIELDS = (
    "id", "account_id", "campaign_id", "name", "status", "effective_status", "optimization_goal",
    "billing_event", "daily_budget", "start_time", "end_time", "created_time", "updated_time", "targeting",
)  # fmt: skip
AD_FIELDS = (
    "id", "account_id", "campaign_id", "adset_id", "name", "status", "effective_status", "creative",
    "created_time", "updated_time",
)  # fmt: skip
CREATIVE_FIELDS = (
    "id", "account_id", "name", "title", "body", "object_type", "call_to_action_type", "image_url", "url_tags",
    "status",
)  # fmt: skip

# error codes (api-notes.md; recorded responses in emulator/fixtures)
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 613, 960, *range(80000, 80015)})
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
RATE_LIMIT_NAMES = {
    4: "the app's request limit (#4)",
    17: "the user / ad account request limit (#17)",
    32: "the page request limit (#32)",
    613: "the call rate limit (#613)",
    80000: "the ads_insights business-use-case limit of the ad account (#80000)",
    80004: "the ads_management business-use-case limit of the ad account (#80004)",
}
_TOKEN_SETTING = "sources.meta_ads.access_token (env SOURCES__META_ADS__ACCESS_TOKEN)"
PERMANENT_HINTS: dict[object, str] = {
    190: f"the access token is invalid or expired: create a new long-lived token and set {_TOKEN_SETTING}",
    (190, 463): f"the access token has expired: create a new long-lived token and set {_TOKEN_SETTING}",
    100: "a requested field or parameter is invalid for this API version (the API's message names it): check "
    "sources.meta_ads attribution_windows, breakdowns, level and api_version",
    (100, 33): "the object does not exist or this token cannot see it: check sources.meta_ads.account_ids and "
    "that the token's user or system user has access to the account",
    200: "the token lacks permission on this account: grant ads_read on it to the system user or app",
    10: "the app lacks permission for this call: grant ads_read / ads_management to the app",
    "declared_permanent": "Meta marks this error as not transient, so retrying will not help: check the "
    "account and the token's user as the error's title says (e.g. use the Business Manager ad account id), "
    "then run again",
}
REDUCE_DATA_MESSAGE = "reduce the amount of data"
UNKNOWN_ERROR_MESSAGE = "an unknown error occurred"

# retries: one time budget per run for every wait caused by errors and limits (below the Airflow DAG timeout)
BUDGET_SETTING = "sources.meta_ads.retry_budget_s"
DEFAULT_RETRY_BUDGET_S = 900.0
RATE_LIMIT_MIN_WAIT_S = 60.0  # a rate limit without an announced regain time: 60 s, then doubling ...
RATE_LIMIT_MAX_WAIT_S = 600.0  # ... up to 10 minutes, each with up to 25% jitter on top
# days per report run of an account's first run (no cursor yet) or an explicit backfill: far fewer report runs
# than one per day (each costs a submission, polls and a result request); rows stay daily (time_increment=1)
DEFAULT_BACKFILL_SLICE_DAYS = 7
REPORT_RUN_NOT_FOUND_TRIES = 5  # error 100/33 right after a report run was created: poll again this often

# usage governor thresholds (percent)
PAUSE_AT_PCT = 95.0  # pause before the limit, for the announced regain time
INSIGHTS_START_BELOW_PCT = 90.0  # start new async jobs only below this insights throttle


@configspec
class MetaAdsConfiguration(SourceConfiguration):
    """The Meta Ads source's settings (``sources.meta_ads.*``, or its arguments), checked before anything runs."""

    SECTION: ClassVar[str] = "sources.meta_ads"
    MINIMUM: ClassVar[dict[str, float]] = {
        "attribution_days": 1, "initial_days": 1, "max_concurrent_jobs": 1, "slice_days": 1, "page_size": 1,
        "backfill_slice_days": 1,
    }  # fmt: skip
    POSITIVE: ClassVar[tuple[str, ...]] = ("poll_interval_s", "job_timeout_s", "retry_budget_s")
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"level": LEVELS, "breakdowns": tuple(BREAKDOWNS)}
    PATTERNS: ClassVar[dict[str, tuple[str, str]]] = {
        "account_ids": (r"(act_)?[0-9]+", "an ad account id (act_123 or 123)"),
        "api_version": (r"v[0-9]+\.[0-9]+", "a Graph API version such as v26.0"),
        "graph_url": (r"https?://\S+", "an http:// or https:// URL"),
    }
    ONE_OR_MANY: ClassVar[tuple[str, ...]] = ("account_ids", "attribution_windows", "breakdowns")
    DATES: ClassVar[tuple[str, ...]] = ("start_date", "since", "until", "today")
    ALLOWED: ClassVar[dict[str, str]] = {
        "retry_budget_s": "use a positive number of seconds, below the Airflow DAG timeout",
    }

    access_token: TSecretStrValue = None
    account_ids: Any | None = None  # one id or a list; none: every account the token can read
    app_id: str | None = None
    app_secret: TSecretStrValue | None = None
    api_version: str = DEFAULT_API_VERSION
    graph_url: str = DEFAULT_GRAPH_URL
    level: str = DEFAULT_LEVEL
    attribution_windows: Any | None = None  # one or a list; none: DEFAULT_WINDOWS
    attribution_days: int = DEFAULT_ATTRIBUTION_DAYS
    initial_days: int = 90
    start_date: str | None = None
    breakdowns: Any | None = None  # one or a list of BREAKDOWNS
    max_concurrent_jobs: int = 4
    slice_days: int = 1
    backfill_slice_days: int = DEFAULT_BACKFILL_SLICE_DAYS
    page_size: int = 500
    poll_interval_s: float = 2.0
    job_timeout_s: float = 900.0
    retry_budget_s: float = DEFAULT_RETRY_BUDGET_S
    since: str | None = None
    until: str | None = None
    today: str | None = None
