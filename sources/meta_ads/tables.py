"""Keys and write dispositions of the Meta Ads tables in ``raw_meta_ads``, and the column types dlt coerces
the API's strings into (the API sends numbers and ids as strings; Bronze keeps them as sent)."""

from typing import Any

from marketing_dwh.registry import TableSpec
from sources.meta_ads.settings import (
    ACCOUNT_FIELDS,
    AD_FIELDS,
    ADSET_FIELDS,
    BREAKDOWNS,
    CAMPAIGN_FIELDS,
    CREATIVE_FIELDS,
    INSIGHT_ID_FIELDS,
    INSIGHT_METRIC_FIELDS,
    INSIGHT_NAME_FIELDS,
)

_DATE = {"data_type": "date"}
_BIGINT = {"data_type": "bigint"}
_DOUBLE = {"data_type": "double"}
_JSON = {"data_type": "json"}
# money and action values as the API sends them ("63.416842"): decimal(38, 9) is BigQuery's NUMERIC
_EXACT = {"data_type": "decimal", "precision": 38, "scale": 9}

_TEXT = {"data_type": "text", "nullable": True}


def _declared(fields: tuple[str, ...], **typed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every requested field as a column, so a field the API leaves out everywhere still exists (as NULLs)."""
    return {f: typed.get(f, _TEXT) for f in fields if f != "creative"} | typed


INSIGHT_COLUMNS: dict[str, dict[str, Any]] = {
    **{f: _TEXT for f in (*INSIGHT_ID_FIELDS, *INSIGHT_NAME_FIELDS, *INSIGHT_METRIC_FIELDS, "level", "object_id")},
    "date_start": _DATE,
    "date_stop": _DATE,
    "impressions": _BIGINT,
    "reach": _BIGINT,
    "clicks": _BIGINT,
    "inline_link_clicks": _BIGINT,
    "spend": _EXACT,
    "frequency": _DOUBLE,
    "cpm": _DOUBLE,
    "cpc": _DOUBLE,
    "ctr": _DOUBLE,
    "actions": _JSON,
    "action_values": _JSON,
    "cost_per_action_type": _JSON,
    "_fetched_at": {"data_type": "timestamp"},
}
# one row per account x level object x day; a re-fetched day replaces every row of that account and day
INSIGHT_KEY = ("account_id", "level", "object_id", "date_start")
DAY_KEY = ("account_id", "level", "date_start")


def _entity(description: str, fields: tuple[str, ...], **typed: dict[str, Any]) -> TableSpec:
    return TableSpec("merge", ("id",), columns=_declared(fields, **typed), description=description)


TABLES: dict[str, TableSpec] = {
    "ad_accounts": _entity("one row per ad account", ACCOUNT_FIELDS, account_status=_BIGINT),
    "campaigns": _entity("one row per campaign, deleted and archived included", CAMPAIGN_FIELDS),
    "adsets": _entity("one row per ad set, deleted and archived included", ADSET_FIELDS, targeting=_JSON),
    "ads": _entity("one row per ad, deleted and archived included", AD_FIELDS, creative_id=_TEXT),
    "ad_creatives": _entity("one row per ad creative", CREATIVE_FIELDS),
    "insights": TableSpec(
        "merge",
        INSIGHT_KEY,
        DAY_KEY,
        INSIGHT_COLUMNS,
        "daily insights at the configured level (default ad)",
        partition="date_start",
        cluster=("account_id", "campaign_id"),
    ),
    "insights_actions": TableSpec(
        "merge",
        (*INSIGHT_KEY, "action_kind", "action_type", "attribution_window"),
        DAY_KEY,
        {"date_start": _DATE, "value": _EXACT},
        "actions and action_values unnested: one row per insight row, kind, action type and window",
        partition="date_start",
        cluster=("account_id", "ad_id"),
    ),
}
QUARANTINE_TABLE = "quarantine"
# a row whose values do not fit the declared types above (e.g. "spend": "1,5"): kept here, as sent, with the reason;
# a re-fetch of the same row replaces its entry
TABLES[QUARANTINE_TABLE] = TableSpec(
    "merge",
    ("table_name", "row_key"),
    columns={"reason": {"data_type": "text"}, "raw_text": {"data_type": "text"}},
    description="rows not loaded because a value does not fit its column's type: table, the row's key, the reason "
    "(column, value, type) and the row as sent",
)
TABLES["run_stops"] = TableSpec(
    "append",
    columns={"stopped_at": {"data_type": "timestamp"}, "first_missing_day": _DATE},
    description="one row per account whose insights stopped early (retry budget used up): why and what to do",
    run_log=True,
)
for _name, _columns in BREAKDOWNS.items():
    TABLES[f"insights_{_name}"] = TableSpec(
        "merge",
        (*INSIGHT_KEY, *_columns),
        DAY_KEY,
        INSIGHT_COLUMNS,
        f"daily insights broken down by {', '.join(_columns)}",
        partition="date_start",
        cluster=("account_id", "campaign_id"),
    )
