"""Units of the GA4 source that need no server: report definitions, table keys, quota handling."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest
from google.analytics.data_v1beta.types import (
    DimensionHeader,
    DimensionValue,
    MetricHeader,
    MetricType,
    MetricValue,
    Row,
    RunReportResponse,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from sources.ga4 import ga4
from sources.ga4.emulator import fixtures
from sources.ga4.quota import QuotaLedger, QuotaRule, quota_rule, seconds_to_next_hour
from sources.ga4.reports import column_name, has_other, metric_column_type, report_specs, response_rows, rows_table
from sources.ga4.settings import DEFAULT_RETRY_BUDGET_MINUTES, METRIC_COLUMN_TYPES, QUOTA_LIMITS
from sources.ga4.tables import report_table
from test_meta_units import FakeClock


def test_api_names_become_column_names() -> None:
    assert column_name("sessionSource") == "session_source"
    assert column_name("customUser:user_pseudo_id") == "user_pseudo_id"
    assert column_name("date") == "date"


def test_custom_reports_join_the_builtins_and_are_validated() -> None:
    specs = report_specs([{"name": "users_by_country", "dimensions": ["country"], "metrics": ["totalUsers"]}])
    assert [s.name for s in specs] == ["traffic_daily", "purchases", "users_by_country"]
    with pytest.raises(ValueError, match="lacks metrics"):
        report_specs([{"name": "x", "dimensions": ["country"]}])
    with pytest.raises(ValueError, match="optional"):
        report_specs([{"name": "x", "dimensions": ["date"], "metrics": ["sessions"], "optional": ["customUser:a"]}])
    with pytest.raises(ValueError, match="repeated: purchases"):
        report_specs([{"name": "purchases", "dimensions": ["date"], "metrics": ["sessions"]}])


def test_dated_reports_merge_per_day_and_snapshots_per_range() -> None:
    traffic, _, users = report_specs(
        [{"name": "users_by_country", "dimensions": ["country"], "metrics": ["totalUsers"]}]
    )
    dated = report_table(traffic)
    assert dated.merge_key == ("property_id", "date") and "session_source" in dated.primary_key
    snapshot = report_table(users)
    assert not users.has_date  # no date dimension is forced onto a non-additive report
    assert snapshot.merge_key == ("property_id", "range_start", "range_end")
    assert snapshot.primary_key == ("property_id", "range_start", "range_end", "country")


@pytest.mark.parametrize(
    ("kind", "bucket", "refill"),
    [
        ("tokens_per_day", "tokens_per_day", "day"),
        ("tokens_per_hour", "tokens_per_hour", "hour"),
        ("tokens_per_project_per_hour", "tokens_per_project_per_hour", "hour"),
        ("concurrent", "concurrent_requests", "backoff"),
        ("thresholded", "potentially_thresholded_requests_per_hour", "hour"),
        ("server_errors", "server_errors_per_project_per_hour", "hour"),
    ],
)
def test_real_429_messages_name_their_quota(kind: str, bucket: str, refill: str) -> None:
    message = fixtures.load("quota_errors")[kind]["error"]["message"]  # the recorded texts, not our own wording
    assert quota_rule(message) == QuotaRule(bucket, refill)


def test_hourly_buckets_refill_at_the_next_hour() -> None:
    now = datetime(2026, 8, 1, 10, 45, 30, tzinfo=UTC)
    assert seconds_to_next_hour(now, margin_s=60) == 14 * 60 + 30 + 60


def test_ledger_records_buckets_and_slows_down_below_ten_percent() -> None:
    clock = FakeClock()
    ledger = QuotaLedger(clock=clock, slow_down_s=10)

    def quota(day_remaining: int) -> SimpleNamespace:
        buckets = {b: SimpleNamespace(consumed=1, remaining=limit) for b, limit in QUOTA_LIMITS.items()}
        buckets["tokens_per_day"] = SimpleNamespace(consumed=3, remaining=day_remaining)
        return SimpleNamespace(**buckets)

    ledger.record("1", "traffic_daily", quota(150_000))
    assert clock.slept == []
    ledger.record("1", "traffic_daily", quota(5_000))
    assert clock.slept == [10] and "tokens_per_day" in ledger.waits[0][1]
    assert ledger.entries[1]["tokens_per_day_remaining"] == 5_000


def test_retry_budget_fits_below_the_ingest_dag_timeout() -> None:
    config = tomllib.loads((Path(__file__).parents[1] / ".dlt" / "config.toml").read_text())
    budget = config["sources"]["ga4"]["retry_budget_minutes"]
    assert budget == DEFAULT_RETRY_BUDGET_MINUTES < config["mdw"]["airflow"]["dagrun_timeout_minutes"]


@pytest.mark.parametrize(
    ("setting", "value"),
    [("retry_budget_minutes", 0), ("retry_budget_minutes", "soon"), ("property_timezones", {"1": "Mars/Olympus"})],
)
def test_a_bad_setting_is_one_message_naming_it(setting: str, value: object) -> None:
    with pytest.raises(Exception, match=f"sources.ga4.{setting}"):
        ga4(property_ids=["1"], api_endpoint="http://127.0.0.1:9", transport="rest", **{setting: value})


def test_every_documented_metric_type_has_a_declared_column_type() -> None:
    documented = {t.name for t in MetricType if t.value}
    assert set(METRIC_COLUMN_TYPES) == documented
    assert metric_column_type("TYPE_CURRENCY") == pa.decimal128(38, 9)  # exact, BigQuery NUMERIC-like
    assert metric_column_type("TYPE_INTEGER") == pa.int64()
    assert {metric_column_type(t) for t in documented - {"TYPE_CURRENCY", "TYPE_INTEGER"}} == {pa.float64()}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=12),
            st.decimals(min_value=-(10**12), max_value=10**12, places=9, allow_nan=False, allow_infinity=False),
            st.integers(min_value=-(2**62), max_value=2**62),
            st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
        ),
        min_size=1,  # a slice without rows yields no table
        max_size=20,
    )
)
def test_every_value_sent_lands_unchanged_in_its_declared_type(values: list) -> None:
    response = RunReportResponse(
        dimension_headers=[DimensionHeader(name="sessionSource")],
        metric_headers=[
            MetricHeader(name="purchaseRevenue", type_=MetricType.TYPE_CURRENCY),
            MetricHeader(name="sessions", type_=MetricType.TYPE_INTEGER),
            MetricHeader(name="userEngagementDuration", type_=MetricType.TYPE_SECONDS),
        ],
        rows=[
            Row(
                dimension_values=[DimensionValue(value=source)],
                metric_values=[MetricValue(value=str(money)), MetricValue(value=str(n)), MetricValue(value=repr(x))],
            )
            for source, money, n, x in values
        ],
    )
    rows, types = response_rows(response, "1")
    table = rows_table(rows, types, dated=False)
    assert table.column("session_source").to_pylist() == [v[0] for v in values]
    assert table.column("purchase_revenue").to_pylist() == [v[1] for v in values]  # exact decimals
    assert table.column("sessions").to_pylist() == [v[2] for v in values]
    assert table.column("user_engagement_duration").to_pylist() == [v[3] for v in values]
    assert [has_other(r, ["session_source"]) for r in rows] == [v[0] == "(other)" for v in values]
