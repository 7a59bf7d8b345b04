"""Meta Marketing API constants: fields, defaults, error codes."""

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

# error codes (api-notes.md)
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 613, 960, *range(80000, 80015)})
PERMANENT_HINTS = {
    190: "the access token is invalid or expired: create a new long-lived token and set "
    "sources.meta_ads.access_token (env SOURCES__META_ADS__ACCESS_TOKEN)",
    100: "a requested field or parameter is invalid for this API version: check sources.meta_ads fields, "
    "breakdowns and api_version",
    200: "the token lacks permission on this account: grant ads_read on it to the system user or app",
    10: "the app lacks permission for this call: grant ads_read / ads_management to the app",
}
REDUCE_DATA_MESSAGE = "reduce the amount of data"

# usage governor thresholds (percent)
PAUSE_AT_PCT = 95.0  # pause before the limit, for the announced regain time
INSIGHTS_START_BELOW_PCT = 90.0  # start new async jobs only below this insights throttle
