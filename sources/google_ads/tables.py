"""Keys and write dispositions of the Google Ads tables in ``raw_google_ads``, and their column types."""

from typing import Any

from marketing_dwh.registry import TableSpec

_TEXT = {"data_type": "text", "nullable": True}
_DATE = {"data_type": "date"}
_BIGINT = {"data_type": "bigint"}
_DOUBLE = {"data_type": "double"}
_BOOL = {"data_type": "bool"}
# money converted from micros ("cost_micros": 1230000 -> 1.23): decimal(38, 9) is BigQuery's NUMERIC, exact
_EXACT = {"data_type": "decimal", "precision": 38, "scale": 9}

_METRICS: dict[str, dict[str, Any]] = {
    "customer_id": _TEXT,
    "campaign_id": _TEXT,
    "date": _DATE,
    "currency_code": _TEXT,
    "cost_micros": _BIGINT,
    "cost": _EXACT,
    "impressions": _BIGINT,
    "clicks": _BIGINT,
    "conversions": _DOUBLE,
    "conversions_value": _DOUBLE,
    "all_conversions": _DOUBLE,
    "_fetched_at": {"data_type": "timestamp"},
}
# a re-fetched account-day replaces every row of that customer and day (restated conversions, vanished rows)
DAY_KEY = ("customer_id", "date")

TABLES: dict[str, TableSpec] = {
    "customers": TableSpec(
        "merge",
        ("customer_id",),
        columns={"customer_id": _TEXT, "currency_code": _TEXT, "time_zone": _TEXT, "manager": _BOOL},
        description="one row per customer (account) read: name, currency, time zone, status",
    ),
    "campaigns": TableSpec(
        "merge",
        ("customer_id", "campaign_id"),
        columns={
            "customer_id": _TEXT,
            "campaign_id": _TEXT,
            "budget_amount_micros": _BIGINT,
            "budget_amount": _EXACT,
            "start_date_time": _TEXT,
            "end_date_time": _TEXT,
        },  # fmt: skip
        description="one row per campaign, every status (REMOVED included)",
    ),
    "ad_groups": TableSpec(
        "merge",
        ("customer_id", "ad_group_id"),
        columns={"customer_id": _TEXT, "ad_group_id": _TEXT, "campaign_id": _TEXT},
        description="one row per ad group, every status",
    ),
    "ads": TableSpec(
        "merge",
        ("customer_id", "ad_group_id", "ad_id"),
        columns={"customer_id": _TEXT, "ad_group_id": _TEXT, "ad_id": _TEXT, "campaign_id": _TEXT, "name": _TEXT},
        description="one row per ad in an ad group (ad_group_ad), every status",
    ),
    "campaign_stats_daily": TableSpec(
        "merge",
        ("customer_id", "campaign_id", "date"),
        DAY_KEY,
        _METRICS,
        "campaign x day metrics (the account's time zone), cost in the account currency",
        partition="date",
        cluster=("customer_id", "campaign_id"),
    ),
    "ad_group_stats_daily": TableSpec(
        "merge",
        ("customer_id", "ad_group_id", "date"),
        DAY_KEY,
        {**_METRICS, "ad_group_id": _TEXT},
        "ad group x day metrics (the account's time zone), cost in the account currency",
        partition="date",
        cluster=("customer_id", "campaign_id"),
    ),
    "partial_failures": TableSpec(
        "append",
        columns={"failed_at": {"data_type": "timestamp"}, "customer_id": _TEXT, "message": _TEXT},
        description="one row per account (and query) that could not be read in a run: error code, message, "
        "request id; the other accounts were loaded",
        run_log=True,
    ),
}
