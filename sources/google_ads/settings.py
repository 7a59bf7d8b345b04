"""Google Ads API constants (version, GAQL fields, error classes, fixes) and the source's settings, checked first."""

from typing import Any, ClassVar

from dlt.common.configuration import configspec
from dlt.common.typing import TSecretStrValue

from marketing_dwh.settings import SourceConfiguration

# the newest API version google-ads 34.x ships (google/ads/googleads/v26)
API_VERSION = "v26"
DEFAULT_ENDPOINT = "googleads.googleapis.com"
DEFAULT_OAUTH_URL = "https://oauth2.googleapis.com/token"
DEFAULT_LOOKBACK_DAYS = 30  # conversions are restated for weeks: re-fetch the last 30 days on every run
MICROS = 1_000_000  # cost_micros / budget amount_micros: millionths of the account currency

# GAQL fields per raw table: (output column, GAQL field). Ids and names as the API sends them; enums as names.
CUSTOMER_FIELDS = (
    ("customer_id", "customer.id"),
    ("descriptive_name", "customer.descriptive_name"),
    ("currency_code", "customer.currency_code"),
    ("time_zone", "customer.time_zone"),
    ("manager", "customer.manager"),
    ("test_account", "customer.test_account"),
    ("status", "customer.status"),
)
CUSTOMER_CLIENT_FIELDS = (
    ("client_customer_id", "customer_client.id"),
    ("descriptive_name", "customer_client.descriptive_name"),
    ("manager", "customer_client.manager"),
    ("level", "customer_client.level"),
    ("status", "customer_client.status"),
)
CAMPAIGN_FIELDS = (
    ("campaign_id", "campaign.id"),
    ("name", "campaign.name"),
    ("status", "campaign.status"),
    ("advertising_channel_type", "campaign.advertising_channel_type"),
    ("start_date_time", "campaign.start_date_time"),
    ("end_date_time", "campaign.end_date_time"),
    ("budget_amount_micros", "campaign_budget.amount_micros"),
)
AD_GROUP_FIELDS = (
    ("ad_group_id", "ad_group.id"),
    ("campaign_id", "campaign.id"),
    ("name", "ad_group.name"),
    ("status", "ad_group.status"),
    ("type", "ad_group.type"),
)
AD_FIELDS = (
    ("ad_id", "ad_group_ad.ad.id"),
    ("ad_group_id", "ad_group.id"),
    ("campaign_id", "campaign.id"),
    ("name", "ad_group_ad.ad.name"),
    ("status", "ad_group_ad.status"),
    ("type", "ad_group_ad.ad.type"),
)
METRIC_FIELDS = (
    ("cost_micros", "metrics.cost_micros"),
    ("impressions", "metrics.impressions"),
    ("clicks", "metrics.clicks"),
    ("conversions", "metrics.conversions"),
    ("conversions_value", "metrics.conversions_value"),
    ("all_conversions", "metrics.all_conversions"),
)
CAMPAIGN_STATS_FIELDS = (("campaign_id", "campaign.id"), ("date", "segments.date"), *METRIC_FIELDS)
AD_GROUP_STATS_FIELDS = (
    ("ad_group_id", "ad_group.id"),
    ("campaign_id", "campaign.id"),
    ("date", "segments.date"),
    *METRIC_FIELDS,
)

# errors (GoogleAdsFailure error_code oneof names and gRPC status codes)
TRANSIENT_STATUS = frozenset({"INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED"})
QUOTA_MIN_WAIT_S = 30.0  # a quota error without retry_delay: 30 s, doubling, capped
QUOTA_MAX_WAIT_S = 600.0
DEFAULT_RETRY_BUDGET_S = 900.0  # one budget per run for every wait caused by errors (below the DAG timeout)

_SETTINGS = "sources.google_ads"
FIXES: dict[str, str] = {
    # AuthenticationError: the OAuth credentials or the developer token
    "OAUTH_TOKEN_INVALID": f"create a new OAuth refresh token for the client id and set {_SETTINGS}.refresh_token",
    "OAUTH_TOKEN_EXPIRED": f"create a new OAuth refresh token and set {_SETTINGS}.refresh_token",
    "OAUTH_TOKEN_REVOKED": f"the user revoked access: create a new refresh token and set {_SETTINGS}.refresh_token",
    "OAUTH_TOKEN_DISABLED": f"the token is disabled: create a new refresh token and set {_SETTINGS}.refresh_token",
    "NOT_ADS_USER": "the Google account of the refresh token has no Google Ads access: create the refresh token "
    "with a user of the account (or its manager)",
    "CUSTOMER_NOT_FOUND": f"no such customer: check {_SETTINGS}.customer_ids (10 digits, no dashes)",
    "CLIENT_CUSTOMER_ID_INVALID": f"check {_SETTINGS}.customer_ids (10 digits, no dashes)",
    "DEVELOPER_TOKEN_INVALID": f"set {_SETTINGS}.developer_token to the token in the manager account's API Center",
    # AuthorizationError: what the user / token may access
    "USER_PERMISSION_DENIED": f"the OAuth user cannot access this customer: set {_SETTINGS}.login_customer_id to "
    "the manager (MCC) account the customer is linked to, or link the customer to that manager",
    "DEVELOPER_TOKEN_NOT_APPROVED": "the developer token is approved for test accounts only: apply for Basic "
    "access in the API Center, or use test accounts",
    "DEVELOPER_TOKEN_PROHIBITED": "the developer token may not be used with this Google Cloud project: use the "
    f"project the token belongs to ({_SETTINGS}.client_id / client_secret)",
    "INVALID_LOGIN_CUSTOMER_ID_SERVING_CUSTOMER_ID_COMBINATION": f"{_SETTINGS}.login_customer_id does not manage "
    "this customer: use the manager it is linked to",
    "PROJECT_DISABLED": "enable the Google Ads API in the Google Cloud project of the OAuth client",
    "invalid_grant": f"the refresh token is expired or revoked: create a new one and set {_SETTINGS}.refresh_token",
    "invalid_client": f"the OAuth client is unknown: check {_SETTINGS}.client_id and client_secret",
}
# per-account states, not credentials: reported as partial failures, the other accounts still load
ACCOUNT_STATE_ERRORS = frozenset({"CUSTOMER_NOT_ENABLED", "ACTION_NOT_PERMITTED_FOR_SUSPENDED_ACCOUNT"})


@configspec
class GoogleAdsConfiguration(SourceConfiguration):
    """The Google Ads source's settings (``sources.google_ads.*``, or its arguments), checked before anything runs."""

    SECTION: ClassVar[str] = _SETTINGS
    MINIMUM: ClassVar[dict[str, float]] = {"lookback_days": 1}
    POSITIVE: ClassVar[tuple[str, ...]] = ("retry_budget_s",)
    PATTERNS: ClassVar[dict[str, tuple[str, str]]] = {
        "customer_ids": (r"[0-9]{3}-?[0-9]{3}-?[0-9]{4}", "a 10-digit customer id (123-456-7890 or 1234567890)"),
        "login_customer_id": (r"[0-9]{3}-?[0-9]{3}-?[0-9]{4}", "a 10-digit manager customer id"),
        "endpoint": (r"[A-Za-z0-9.\-]+(:[0-9]+)?", "a host[:port] such as googleads.googleapis.com"),
        "oauth_url": (r"https?://\S+", "an http:// or https:// URL"),
    }
    ONE_OR_MANY: ClassVar[tuple[str, ...]] = ("customer_ids",)
    DATES: ClassVar[tuple[str, ...]] = ("start_date", "today")

    developer_token: TSecretStrValue = None
    client_id: str = None
    client_secret: TSecretStrValue = None
    refresh_token: TSecretStrValue = None
    login_customer_id: str | None = None
    customer_ids: Any | None = None  # one id or a list; none: every client account under login_customer_id
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    start_date: str | None = None
    endpoint: str | None = None
    oauth_url: str = DEFAULT_OAUTH_URL
    retry_budget_s: float = DEFAULT_RETRY_BUDGET_S
    today: str | None = None
