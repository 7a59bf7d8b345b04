"""Units of the GA4 source that need no server: report definitions, table keys, quota handling."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sources.ga4.quota import QuotaLedger, quota_kind
from sources.ga4.reports import column_name, report_specs
from sources.ga4.settings import QUOTA_LIMITS
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
    ("message", "kind", "stops"),
    [
        ("Exhausted property tokens per day quota.", "tokens_per_day", True),
        ("Exhausted property tokens per hour quota.", "tokens_per_hour", False),
        ("Exhausted concurrent requests quota.", "concurrent_requests", False),
        ("Exhausted potentially thresholded requests quota.", "potentially_thresholded_requests_per_hour", False),
        ("Exhausted server errors quota.", "server_errors_per_project_per_hour", False),
    ],
)
def test_429_messages_name_their_quota(message: str, kind: str, stops: bool) -> None:
    got = quota_kind(message)
    assert got is not None and got[0] == kind and (got[1] is None) == stops


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
