"""The GA4 source through the real google-analytics-data / -admin clients against the emulator, over REST and
over gRPC (the same emulator app behind an in-process grpcio server), so both transports map errors alike."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal

import pytest
from google.analytics.data_v1beta.types import MetricType

from conftest import REPO, query
from marketing_dwh.demo_world import DemoWorld
from pipelines.cli import main
from pipelines.report import RunReport, format_summary
from pipelines.runner import run_source
from pipelines.targets import Target
from sources.ga4.demo import ga4_demo
from sources.ga4.emulator import DataApiEmulator, demo_data, fixtures
from sources.ga4.plugin import plugin as ga4_plugin
from sources.ga4.reports import column_name
from test_meta_units import FakeClock

WORLD = DemoWorld()


@pytest.fixture(params=["rest", "grpc"])
def emulator(request: pytest.FixtureRequest) -> Iterator[DataApiEmulator]:
    """The emulator, talked to over REST (as the sandbox does) and over gRPC (as production clients do)."""
    with DataApiEmulator(demo_data(WORLD, properties=2), grpc=True) as emu:
        emu.transport = request.param  # type: ignore[attr-defined]
        yield emu


def kwargs(emu: DataApiEmulator, today: str = "2026-08-07", **extra) -> dict:
    grpc = emu.transport == "grpc"  # type: ignore[attr-defined]
    base = {
        "property_ids": list(emu._app.data.properties),
        "api_endpoint": emu.grpc_endpoint if grpc else emu.url,
        "transport": "grpc" if grpc else "rest",
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
    """The first day of every report asked for (a runReport call, or a report of a batchRunReports call)."""
    days = []
    for r in emu.report_requests():
        body = r.get("body") or {}
        if any(d.get("name") == report_dims for d in body.get("dimensions", [])):
            days += [dr["startDate"] for dr in body.get("dateRanges", [])]
    return days


def world_traffic(since: str, until: str) -> int:
    s, u = since.replace("-", ""), until.replace("-", "")
    return sum(1 for r in ga4_demo(WORLD).traffic if s <= r["date"] <= u)


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


# --- issue 12: what the real service sends ----------------------------------------------------------------------
DEMO, COPY = "412345678", "412345679"


def day_totals(target: Target, day: str, property_id: str = DEMO) -> tuple:
    return query(
        target,
        "select count(*), sum(sessions) from raw_ga4.report_traffic_daily "
        f"where date = '{day}' and property_id = '{property_id}'",
    )[0]


def load_warnings(report: RunReport) -> list[str]:
    """Warnings of every load step (a run paused by an hourly quota has one per round)."""
    return [w for s in report.steps if s.step == "load" for w in s.warnings]


def test_daily_quota_mid_day_never_replaces_the_day_and_the_day_is_fetched_again(
    target: Target, emulator: DataApiEmulator
) -> None:
    run(target, emulator, today="2026-08-07", page_size=5)
    complete = day_totals(target, "2026-08-05")
    assert complete[0] > 5  # the day needs more than one page
    # the next run re-fetches the lookback (08-05 .. 08-07): the daily tokens run out on page 2 of 08-05
    emulator.faults.quota("tokens_per_day", times=None, property_id=DEMO, when=lambda body: body.get("offset") == "5")
    stopped = run(target, emulator, today="2026-08-07", page_size=5)
    assert any("daily token quota is exhausted" in w for w in load_warnings(stopped))
    assert day_totals(target, "2026-08-05") == complete  # page 1 alone did not replace the complete day
    emulator.faults.clear()
    emulator.requests.clear()
    run(target, emulator, today="2026-08-10", page_size=5)  # 08-05 is outside the lookback (08-08 .. 08-10)
    demo_days = {d for r in emulator.report_requests() if r["property_id"] == DEMO
                 for d in [r["body"]["dateRanges"][0]["startDate"]]}  # fmt: skip
    assert min(demo_days) == "2026-08-05"  # the window starts at the oldest incomplete day
    assert day_totals(target, "2026-08-05") == complete
    n = world_traffic("2026-08-01", "2026-08-10")
    assert query(target, f"select count(*) from raw_ga4.report_traffic_daily where property_id = '{DEMO}'") == [(n,)]


def test_other_rows_are_diverted_never_a_purchase(target: Target, emulator: DataApiEmulator) -> None:
    purchases_page = lambda body: any(d["name"] == "transactionId" for d in body.get("dimensions", []))  # noqa: E731
    emulator.faults.replay("run_report_other_row", times=1, property_id=DEMO, when=purchases_page)
    report = run(target, emulator, today="2026-08-01")
    assert query(target, "select count(*) from raw_ga4.report_purchases where transaction_id = '(other)'") == [(0,)]
    assert query(target, "select transaction_id, date, session_source from raw_ga4.other_rows") == [
        ("(other)", "2026-08-01", "google")  # the date and the low-cardinality dimensions kept their values
    ]
    assert query(target, "select purchase_revenue from raw_ga4.report_purchases where transaction_id = 'T-90001'")[0][
        0
    ] == Decimal("63.416842")  # exact, more than 4 decimals
    assert "report purchases on property 412345678 had 1 '(other)' row(s), kept in other_rows" in load_warnings(report)


def test_data_loss_flag_without_an_other_row_is_no_warning(target: Target, emulator: DataApiEmulator) -> None:
    emulator.faults.other_row(flag_only=True)
    report = run(target, emulator, today="2026-08-01")
    assert not [w for w in load_warnings(report) if "(other)" in w]
    assert query(target, "select bool_and(data_loss_from_other_row) from raw_ga4.report_metadata "
                         "where row_count is not null") == [(True,)]  # fmt: skip
    assert query(target, "select count(*) from information_schema.tables where table_name = 'other_rows'") == [(0,)]


@pytest.mark.parametrize("kind", ["tokens_per_hour", "tokens_per_project_per_hour", "thresholded", "server_errors"])
def test_hourly_quotas_wait_until_the_next_hour(target: Target, emulator: DataApiEmulator, kind: str) -> None:
    clock = FakeClock()
    emulator.faults.quota(kind, times=1, endpoint="runReport")
    run(target, emulator, today="2026-08-01", clock=clock, started_at="2026-08-01T10:45:30+00:00")
    assert clock.slept[0] == 14 * 60 + 30 + 60  # to 11:00 UTC, plus a minute
    assert query(target, "select count(*) from raw_ga4.report_traffic_daily") == [
        (2 * world_traffic("2026-08-01", "2026-08-01"),)
    ]


# a GA4 run in its own process; its clock really sleeps long waits (>= 60 s), so the test can kill it there
_PAUSING_RUN = """
import json, sys, time
from pipelines.report import RunReport
from pipelines.runner import run_source
from pipelines.targets import current_target
from sources.clock import Clock
from sources.ga4.plugin import plugin

def sleep(seconds):
    if seconds >= 60:
        print(f"waiting {seconds:.0f} s", flush=True)
    time.sleep(seconds if seconds >= 60 else 0)

kwargs = dict(json.loads(sys.argv[1]), clock=Clock(sleep=sleep))
run_source(plugin, current_target(), RunReport("local", "test"), kwargs, progress=lambda m: print(m, flush=True))
"""


def test_an_hourly_quota_wait_is_checkpointed_so_killing_it_loses_nothing(target: Target) -> None:
    with DataApiEmulator(demo_data(WORLD, properties=2)) as emulator:
        # the demo property's hourly tokens run out after its first report (the first run asks for the three days
        # in one request per report), for the rest of the hour
        emulator.faults.quota("tokens_per_hour", times=None, property_id=DEMO, endpoint="runReport", after=1)
        args = {"property_ids": [DEMO, COPY], "api_endpoint": emulator.url, "transport": "rest",
                "today": "2026-08-03", "start_date": "2026-08-01"}  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "-c", _PAUSING_RUN, json.dumps(args)], cwd=REPO, env=dict(os.environ),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        seen = []
        for line in proc.stdout:  # type: ignore[union-attr]
            seen.append(line)
            if line.startswith("waiting "):  # the run waits for the refill: kill it there
                os.killpg(proc.pid, signal.SIGKILL)
                break
        assert proc.wait(timeout=60) == -signal.SIGKILL, "".join(seen)
        assert any("[ga4] paused until" in line for line in seen), "".join(seen)

        # what was fetched before the wait is in the warehouse: every day of the other property, the demo
        # property's complete days (never a partial one)
        traffic = "select date::varchar, count(*) from raw_ga4.report_traffic_daily where property_id = '{}' group by 1"
        assert dict(query(target, traffic.format(COPY))) == {
            d: world_traffic(d, d) for d in ("2026-08-01", "2026-08-02", "2026-08-03")
        }
        demo_days = dict(query(target, traffic.format(DEMO)))
        assert all(n == world_traffic(d, d) for d, n in demo_days.items())
        assert query(target, f"select count(*) from raw_ga4.report_metadata where paused like '%{DEMO}%'")[0][0] > 0

        # run again within the hour: it waits for the refill, then fetches only what the pause left
        emulator.faults.clear()
        emulator.requests.clear()
        clock = FakeClock()
        run_source(ga4_plugin, target, RunReport(target.name, "test"), {**args, "clock": clock})
        assert clock.slept and clock.slept[0] >= 60
        asked = {r["path"].split("/")[-1].split(":")[0] for r in emulator.report_requests()}
        assert asked == {DEMO}
    assert dict(query(target, traffic.format(DEMO))) == {
        d: world_traffic(d, d) for d in ("2026-08-01", "2026-08-02", "2026-08-03")
    }
    purchases = dict(query(target, "select property_id, count(*) from raw_ga4.report_purchases group by 1"))
    assert purchases[DEMO] == purchases[COPY] > 0  # the copy property serves the same data: nothing lost or doubled


def test_retry_budget_stops_with_property_cause_and_advice_keeping_complete_days(
    target: Target, emulator: DataApiEmulator
) -> None:
    clock = FakeClock()
    # every report for the demo property after its first (the five days of traffic in one request) hits the
    # project's hourly quota, hour after hour
    emulator.faults.quota("tokens_per_project_per_hour", times=None, property_id=DEMO, endpoint="runReport", after=1)
    report = run(target, emulator, today="2026-08-05", clock=clock, retry_budget_minutes=150,
                 started_at="2026-08-01T10:45:30+00:00")  # fmt: skip
    assert sum(clock.slept) <= 150 * 60  # never beyond the budget (the DAG timeout is above it)
    stop = [w for w in load_warnings(report) if "gave up" in w]
    assert stop and all("412345678" in w for w in stop)
    assert "Exhausted property tokens for a project per hour" in stop[0]
    assert "sources.ga4.retry_budget_minutes = 150" in stop[0] and "run again next hour" in stop[0]
    loaded = query(target, f"select date::varchar, count(*) from raw_ga4.report_traffic_daily "
                           f"where property_id = '{DEMO}' group by 1 order by 1")  # fmt: skip
    assert loaded and all(n == world_traffic(d, d) for d, n in loaded)  # complete days only
    assert query(target, f"select count(*) from raw_ga4.report_traffic_daily where property_id = '{COPY}'") == [
        (world_traffic("2026-08-01", "2026-08-05"),)  # the other property is not held back
    ]


def test_502_html_page_and_503_are_retried(target: Target, emulator: DataApiEmulator) -> None:
    clock = FakeClock()
    emulator.faults.error(502, "BAD_GATEWAY", times=1, endpoint="runReport")
    emulator.faults.error(503, "UNAVAILABLE", times=1, endpoint="runReport")
    run(target, emulator, today="2026-08-01", clock=clock)
    assert clock.slept[:2] == [2.0, 4.0]
    assert [r["status"] for r in emulator.requests if r["endpoint"] == "runReport"][:2] == [502, 503]


def test_401_says_the_credentials_were_rejected(target: Target, emulator: DataApiEmulator) -> None:
    emulator.faults.error(401, "UNAUTHENTICATED", times=None)
    report = run(target, emulator, expect_ok=False)
    extract = next(s for s in report.steps if s.step == "extract")
    assert extract.status == "failed" and "credentials were rejected" in extract.error
    assert "412345678" in extract.error


def test_a_quota_bucket_missing_from_the_response_is_unknown_not_zero(
    target: Target, emulator: DataApiEmulator
) -> None:
    clock = FakeClock()
    emulator.faults.partial_quota()
    run(target, emulator, today="2026-08-01", clock=clock)
    assert clock.slept == []  # no slow-down on buckets the response did not report
    assert query(target, "select min(tokens_per_project_per_hour_remaining), min(concurrent_requests_remaining) "
                         "from raw_ga4.quota_ledger") == [(1735, 10)]  # fmt: skip
    columns = {c for (c,) in query(target, "select column_name from information_schema.columns "
                                           "where table_name = 'quota_ledger'")}  # fmt: skip
    assert "tokens_per_day_remaining" not in columns  # unknown stays unknown (null), never a 0


def test_property_without_the_custom_dimensions_degrades(target: Target, emulator: DataApiEmulator) -> None:
    emulator.data.properties[COPY].custom_dimensions = ()
    report = run(target, emulator, today="2026-08-02")
    warnings = load_warnings(report)
    missing = [w for w in warnings if "runs without" in w]
    assert len(missing) == 2 and all(COPY in w and "Custom definitions" in w for w in missing)
    assert any("customUser:user_pseudo_id" in w and "scope User" in w for w in missing)
    by_property = dict(query(target, "select property_id, count(user_pseudo_id) from raw_ga4.report_purchases "
                                     "group by 1"))  # fmt: skip
    assert by_property[DEMO] > 0 and by_property[COPY] == 0  # the copy's purchases load, without the user id
    assert query(target, f"select count(distinct transaction_id) > 0 from raw_ga4.report_purchases "
                         f"where property_id = '{COPY}'") == [(True,)]  # fmt: skip
    assert query(target, "select count(distinct property_id) from raw_ga4.report_traffic_daily") == [(2,)]


def test_today_is_the_property_today_from_the_admin_api(target: Target, emulator: DataApiEmulator) -> None:
    emulator.data.properties[DEMO].time_zone = "Pacific/Auckland"  # UTC+12: already 2026-08-07
    emulator.data.properties[COPY].time_zone = "America/Los_Angeles"  # UTC-7: still 2026-08-06
    kw = kwargs(emulator, started_at="2026-08-06T20:00:00+00:00")
    del kw["today"]
    report = RunReport(target.name, "test")
    run_source(ga4_plugin, target, report, kw)
    assert not report.failed, [s.error for s in report.steps]
    assert query(target, "select property_id, max(date)::varchar from raw_ga4.report_traffic_daily group by 1 "
                         "order by 1") == [(DEMO, "2026-08-07"), (COPY, "2026-08-06")]  # fmt: skip
    reads = [r["property_id"] for r in emulator.requests if r["endpoint"] == "getProperty"]
    assert sorted(reads) == [DEMO, COPY]  # once per property and run, for both reports
    assert query(target, "select distinct property_id, time_zone, currency_code from raw_ga4.report_metadata "
                         "where settings_from = 'admin_api' order by 1") == [
        (DEMO, "Pacific/Auckland", "EUR"), (COPY, "America/Los_Angeles", "EUR")
    ]  # fmt: skip


def test_time_zone_falls_back_to_the_setting(target: Target, emulator: DataApiEmulator) -> None:
    emulator.faults.error(403, "PERMISSION_DENIED", times=None, endpoint="getProperty")
    base = {k: v for k, v in kwargs(emulator, started_at="2026-08-06T20:00:00+00:00").items() if k != "today"}
    report = RunReport(target.name, "test")
    run_source(ga4_plugin, target, report, base)
    extract = next(s for s in report.steps if s.step == "extract")
    assert extract.status == "failed" and "sources.ga4.property_timezones" in extract.error
    zones = {DEMO: "Pacific/Auckland", COPY: "UTC"}
    report = RunReport(target.name, "test")
    run_source(ga4_plugin, target, report, {**base, "property_timezones": zones})
    assert not report.failed, [s.error for s in report.steps]
    assert query(target, "select property_id, max(date)::varchar from raw_ga4.report_traffic_daily group by 1 "
                         "order by 1") == [(DEMO, "2026-08-07"), (COPY, "2026-08-06")]  # fmt: skip


def test_every_metric_type_lands_in_its_declared_column_type(target: Target, emulator: DataApiEmulator) -> None:
    pages = fixtures.load("run_report_metric_types")  # 12 types over two reports (the API allows 10 metrics)
    custom, types = [], {}
    for key, page in pages.items():
        metrics = [h["name"] for h in page["metricHeaders"]]
        custom.append({"name": key, "dimensions": ["date"], "metrics": metrics})
        emulator.faults.replay("run_report_metric_types", key=key, times=1,
                               when=lambda b, m=metrics: [x["name"] for x in b.get("metrics", [])] == m)  # fmt: skip
    run(target, emulator, today="2026-08-01", reports=custom)
    for key in pages:
        types |= dict(query(target, "select column_name, data_type from information_schema.columns "
                                    f"where table_name = 'report_{key}'"))  # fmt: skip
    assert types["purchase_revenue"] == "DECIMAL(38,9)" and types["event_count"] == "BIGINT"
    headers = [h for page in pages.values() for h in page["metricHeaders"]]
    assert {h["type"] for h in headers} == {t.name for t in MetricType if t.value}  # every documented type
    for h in headers:
        if h["type"] not in ("TYPE_CURRENCY", "TYPE_INTEGER"):
            assert types[column_name(h["name"])] == "DOUBLE", h
    row = query(target, "select purchase_revenue, run_km from raw_ga4.report_currency_to_kilometers "
                        "where property_id = '412345678'")  # fmt: skip
    assert row == [(Decimal("63.416842"), 10.55)]
    purchases = dict(query(target, "select column_name, data_type from information_schema.columns "
                                   "where table_name = 'report_purchases'"))  # fmt: skip
    assert purchases["purchase_revenue"] == "DECIMAL(38,9)"
