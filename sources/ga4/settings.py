"""GA4 Data API constants: built-in reports, defaults, quota buckets."""

DEFAULT_LOOKBACK_DAYS = 3  # GA4 processes data up to 48 hours late
DEFAULT_INITIAL_DAYS = 90
DEFAULT_PAGE_SIZE = 10_000  # rows per runReport page (the API allows 250,000)
SLOW_DOWN_BELOW = 0.10  # slow down when a quota bucket has less than 10% left

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
    },
}

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
# 429 message fragment -> (quota kind, seconds to wait before retrying; None = stop for today)
EXHAUSTED = {
    "tokens per day": ("tokens_per_day", None),
    "tokens per hour": ("tokens_per_hour", 3600.0),
    "concurrent requests": ("concurrent_requests", 5.0),
    "potentially thresholded": ("potentially_thresholded_requests_per_hour", 3600.0),
    "server errors": ("server_errors_per_project_per_hour", 3600.0),
}
