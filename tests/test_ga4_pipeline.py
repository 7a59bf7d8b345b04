"""The GA4 source through the real google-analytics-data client (REST) against the Data API emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import query
from pipelines.cli import main
from pipelines.report import RunReport, format_summary
from pipelines.runner import run_source
from pipelines.targets import Target
from sources.demo_world import DemoWorld
from sources.ga4.emulator import DataApiEmulator, demo_data
from sources.ga4.plugin import plugin as ga4_plugin
from test_meta_units import FakeClock

WORLD = DemoWorld()


@pytest.fixture
def emulator() -> Iterator[DataApiEmulator]:
    with DataApiEmulator(demo_data(WORLD, properties=2)) as emu:
        yield emu


def kwargs(emu: DataApiEmulator, today: str = "2026-08-07", **extra) -> dict:
    base = {
        "property_ids": list(emu._app.data.properties),
        "api_endpoint": emu.url,
        "transport": "rest",
        "today": today,
        "start_date": "2026-08-01",
        "clock": FakeClock(),
    }
    return {**base, **extra}


def run(target: Target, emu: DataApiEmulator, expect_ok: bool = True, **kw) -> RunReport:
    report = RunReport(target.name, "test")
    run_source(ga4_plugin, target, report, kwargs(emu, **kw))
    if expect_ok:
        assert not report.failed, [s.error for s in report.steps]
    return report


def report_days(emu: DataApiEmulator, report_dims: str = "sessionSource") -> list[str]:
    days = []
    for r in emu.requests:
        body = r.get("body") or {}
        if r.get("endpoint") == "runReport" and any(d.get("name") == report_dims for d in body.get("dimensions", [])):
            days += [dr["startDate"] for dr in body.get("dateRanges", [])]
    return days


def world_traffic(since: str, until: str) -> int:
    s, u = since.replace("-", ""), until.replace("-", "")
    return sum(1 for r in WORLD.ga4_traffic_daily if s <= r["date"] <= u)


def test_full_load_of_two_properties(target: Target, emulator: DataApiEmulator) -> None:
    run(target, emulator)
    n = world_traffic("2026-08-01", "2026-08-07")
    assert query(target, "select count(*), count(distinct property_id) from raw_ga4.report_traffic_daily") == [
        (2 * n, 2)
    ]
    assert query(target, "select min(date)::varchar, max(date)::varchar from raw_ga4.report_traffic_daily") == [
        ("2026-08-01", "2026-08-07")
    ]
    purchases = query(target, "select count(*) from raw_ga4.report_purchases")[0][0]
    assert purchases > 0
    assert (
        query(target, "select count(*) from raw_ga4.quota_ledger where tokens_per_day_remaining is not null")[0][0] > 0
    )
    meta = query(target, "select count(*), count(distinct time_zone) from raw_ga4.report_metadata")[0]
    assert meta[0] > 0 and meta[1] == 1


def test_rerun_refetches_exactly_the_lookback(target: Target, emulator: DataApiEmulator) -> None:
    run(target, emulator)
    emulator.requests.clear()
    run(target, emulator, today="2026-08-09")
    days = report_days(emulator)
    assert sorted(set(days)) == ["2026-08-07", "2026-08-08", "2026-08-09"]  # 3-day lookback up to today


def test_late_data_replaces_the_day(target: Target, emulator: DataApiEmulator) -> None:
    run(target, emulator)
    sql = "select count(*), sum(sessions) from raw_ga4.report_traffic_daily where date = '2026-08-06'"
    before = query(target, sql)[0]
    emulator.restate("2026-08-06", factor=1.5)
    run(target, emulator, today="2026-08-07")
    after = query(target, sql)[0]
    assert after[0] == before[0] and after[1] > before[1]


def test_pages_past_one_page(target: Target, emulator: DataApiEmulator) -> None:
    run(target, emulator, page_size=5)
    offsets = {
        int((r.get("body") or {}).get("offset") or 0) for r in emulator.requests if r.get("endpoint") == "runReport"
    }
    assert len(offsets) > 2
    n = world_traffic("2026-08-01", "2026-08-07")
    assert query(target, "select count(*) from raw_ga4.report_traffic_daily") == [(2 * n,)]


def test_custom_report_without_date_is_a_snapshot(target: Target, emulator: DataApiEmulator) -> None:
    custom = [{"name": "users_by_source", "dimensions": ["sessionSource"], "metrics": ["totalUsers"]}]
    run(target, emulator, reports=custom)
    cols = {c for (c,) in query(target, "select column_name from information_schema.columns "
                                        "where table_name = 'report_users_by_source'")}  # fmt: skip
    assert {"range_start", "range_end", "session_source", "total_users"} <= cols and "date" not in cols


def test_incompatible_report_fails_alone_with_a_clear_error(target: Target, emulator: DataApiEmulator) -> None:
    emulator.faults.incompatible("totalUsers")
    report = run(target, emulator)  # the source does not fail: the other reports still load
    warnings = next(s for s in report.steps if s.step == "load").warnings
    assert any(w.startswith("failed: GA4 report 'traffic_daily'") and "totalUsers" in w for w in warnings)
    assert query(target, "select count(*) from raw_ga4.report_purchases")[0][0] > 0
    tables = {t for (t,) in query(target, "select table_name from information_schema.tables "
                                          "where table_schema = 'raw_ga4'")}  # fmt: skip
    assert "report_traffic_daily" not in tables


def test_hourly_quota_waits_and_daily_quota_stops_then_resumes(target: Target, emulator: DataApiEmulator) -> None:
    clock = FakeClock()
    emulator.faults.quota("tokens_per_hour", times=1, endpoint="runReport")
    run(target, emulator, today="2026-08-02", clock=clock)
    assert clock.slept and max(clock.slept) > 0
    emulator.faults.quota("tokens_per_day", times=None, endpoint="runReport")
    stopped = run(target, emulator, today="2026-08-05")  # stops cleanly: no failure, and says when to resume
    assert any("daily token quota is exhausted" in w for s in stopped.steps for w in s.warnings)
    emulator.faults.clear()
    emulator.requests.clear()
    run(target, emulator, today="2026-08-05")
    assert "2026-08-03" in report_days(emulator)  # continues where it stopped
    n = world_traffic("2026-08-01", "2026-08-05")
    assert query(target, "select count(*) from raw_ga4.report_traffic_daily") == [(2 * n,)]


def test_sampling_and_other_row_are_recorded(target: Target, emulator: DataApiEmulator) -> None:
    emulator.faults.sampled()
    emulator.faults.other_row()
    report = run(target, emulator, today="2026-08-02")
    warnings = next(s for s in report.steps if s.step == "load").warnings
    assert any("was sampled" in w for w in warnings) and any("'(other)' row" in w for w in warnings)
    assert "warning: ga4: report traffic_daily on property 412345678 was sampled" in format_summary(report)
    assert query(target, "select bool_or(sampled), bool_or(data_loss_from_other_row) from raw_ga4.report_metadata") == [
        (True, True)
    ]
    assert query(target, "select count(*) from raw_ga4.other_rows")[0][0] > 0  # kept, not dropped


@pytest.mark.parametrize("kind", ["concurrent", "thresholded", "server_errors", "tokens_per_hour"])
def test_each_retryable_quota_fault_waits_then_succeeds(target: Target, emulator: DataApiEmulator, kind: str) -> None:
    clock = FakeClock()
    emulator.faults.quota(kind, times=1, endpoint="runReport")
    run(target, emulator, today="2026-08-01", clock=clock)
    assert clock.slept, f"no wait after a {kind} 429"
    emulator.reset_quota()
    assert query(target, "select count(*) from raw_ga4.report_traffic_daily") == [
        (2 * world_traffic("2026-08-01", "2026-08-01"),)
    ]


def test_low_quota_slows_down(target: Target, emulator: DataApiEmulator) -> None:
    clock = FakeClock()
    emulator.faults.low_quota("tokens_per_hour", remaining_pct=5)
    run(target, emulator, today="2026-08-01", clock=clock)
    assert clock.slept


def test_permission_denied_names_property_and_service_account(target: Target, emulator: DataApiEmulator) -> None:
    emulator.faults.error(403, "PERMISSION_DENIED", times=None)
    creds = {"client_email": "loader@demo-project.iam.gserviceaccount.com"}
    report = RunReport(target.name, "test")
    run_source(ga4_plugin, target, report, {**kwargs(emulator), "credentials": creds})
    extract = next(s for s in report.steps if s.step == "extract")
    assert extract.status == "failed"
    assert "412345678" in extract.error and "loader@demo-project.iam.gserviceaccount.com" in extract.error


def test_mdw_backfill_ga4(target: Target) -> None:
    assert main(["backfill", "ga4", "--since", "2026-08-03", "--until", "2026-08-04", "--demo"]) == 0
    assert query(target, "select min(date)::varchar, max(date)::varchar from raw_ga4.report_traffic_daily") == [
        ("2026-08-03", "2026-08-04")
    ]
