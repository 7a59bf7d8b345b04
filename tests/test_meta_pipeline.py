"""The Meta Ads source through the real facebook-business SDK against the Graph API emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import dlt
import duckdb
import pytest

from conftest import query, warehouse_copy
from marketing_dwh.demo_world import DemoWorld
from pipelines.cli import main
from pipelines.report import RunReport, format_summary
from pipelines.runner import run_source
from pipelines.targets import Target
from sources.meta_ads.demo import meta_demo
from sources.meta_ads.emulator import GraphEmulator, demo_data
from sources.meta_ads.plugin import plugin as meta_plugin
from test_meta_units import FakeClock

WORLD = DemoWorld()
ACCOUNTS = [a.account_id for a in WORLD.accounts("meta")]


@pytest.fixture
def emulator() -> Iterator[GraphEmulator]:
    with GraphEmulator(demo_data(WORLD)) as emu:
        yield emu


def kwargs(emu: GraphEmulator, today: str = "2026-08-14", **extra) -> dict:
    base = {
        "access_token": emu.access_token,
        "graph_url": emu.url,
        "account_ids": ACCOUNTS,
        "today": today,
        "initial_days": 14,
        "attribution_days": 7,
        "poll_interval_s": 0.001,
        "clock": FakeClock(),
    }
    return {**base, **extra}


def run(target: Target, emu: GraphEmulator, expect_ok: bool = True, **kw) -> RunReport:
    report = RunReport(target.name, "test")
    run_source(meta_plugin, target, report, kwargs(emu, **kw))
    if expect_ok:
        assert not report.failed, [s.error for s in report.steps]
    return report


def report_runs(emu: GraphEmulator) -> list[tuple[str, str, str]]:
    """(account, since, until) of every async insights job submitted, in order."""
    runs = []
    for r in emu.requests:
        if r["method"] == "POST" and r["path"].endswith("/insights"):
            account = r["path"].split("act_")[1].split("/")[0]
            time_range = r["params"]["time_range"]
            time_range = json.loads(time_range) if isinstance(time_range, str) else time_range
            runs.append((account, time_range["since"], time_range["until"]))
    return runs


def requested_days(emu: GraphEmulator) -> set[tuple[str, str]]:
    """(account, day) of every day an async insights job submitted covers."""
    days = set()
    for account, since, until in report_runs(emu):
        day = date.fromisoformat(since)
        while day <= date.fromisoformat(until):
            days.add((account, day.isoformat()))
            day += timedelta(days=1)
    return days


def expected_rows(since: str, until: str) -> int:
    return sum(1 for r in meta_demo(WORLD).insights if since <= r["date_start"] <= until)


def test_full_load(target: Target, emulator: GraphEmulator) -> None:
    report = run(target, emulator)
    load = next(s for s in report.steps if s.step == "load")
    n = expected_rows("2026-08-01", "2026-08-14")
    assert n > 0 and load.tables["insights"].rows == n
    assert query(
        target, "select count(*), count(distinct (account_id, ad_id, date_start)) from raw_meta_ads.insights"
    ) == [(n, n)]
    # numbers arrive as strings and land typed; spend matches the world
    spend = query(target, "select sum(spend) from raw_meta_ads.insights")[0][0]
    world_spend = sum(r["spend"] for r in meta_demo(WORLD).insights if r["date_start"] <= "2026-08-14")
    assert float(spend) == pytest.approx(world_spend, abs=0.05)
    # deleted and archived objects are listed with their status
    statuses = {s for (s,) in query(target, "select distinct effective_status from raw_meta_ads.campaigns")}
    assert {"ACTIVE"} < statuses
    assert query(target, "select count(*) from raw_meta_ads.ad_accounts") == [(len(ACCOUNTS),)]
    # actions unnested per window, raw actions kept on the insight row and in Bronze
    windows = {w for (w,) in query(target, "select distinct attribution_window from raw_meta_ads.insights_actions")}
    assert windows == {"1d_click", "7d_click", "28d_click", "1d_view", "default"}
    assert query(target, "select count(*) from raw_meta_ads.insights where actions is not null")[0][0] > 0
    bronze = list(Path(target.bronze_url, "meta_ads", "insights").iterdir())
    assert bronze and all(f.name.endswith(".jsonl.gz") or f.name.endswith(".jsonl") for f in bronze)
    # rows the load reads from JSONL Bronze reach DuckDB as Parquet (not dlt's default there, `insert_values`, which
    # DuckDB parses as SQL); Bronze Parquet is read in place (model jobs). The formats come from dlt's trace of the load
    trace = dlt.attach("meta_ads_warehouse", pipelines_dir=target.pipelines_dir).last_trace
    jobs = [
        (job.job_file_info.table_name, job.job_file_info.file_format)
        for package in trace.last_load_info.load_packages
        for job in package.jobs["completed_jobs"]
        if not job.job_file_info.table_name.startswith("_dlt")
    ]
    formats = {f for _, f in jobs}
    assert {"parquet", "model"} <= formats and "insert_values" not in formats
    insights = [f for table, f in jobs if table == "insights"]
    assert insights and all(f in ("parquet", "sql") for f in insights)


def test_rerun_refetches_exactly_the_attribution_window(target: Target, emulator: GraphEmulator) -> None:
    run(target, emulator)
    emulator.requests.clear()
    run(target, emulator, today="2026-08-20")
    got = requested_days(emulator)
    want = {(a, f"2026-08-{d:02d}") for a in ACCOUNTS for d in range(8, 21)}  # 14 - 6 .. 20
    assert got == want


def test_restated_day_replaces_and_vanished_rows_disappear(target: Target, emulator: GraphEmulator) -> None:
    run(target, emulator)
    day = "2026-08-12"
    before = query(target, f"select count(*), sum(spend) from raw_meta_ads.insights where date_start = '{day}'")[0]
    victim = query(target, f"select ad_id from raw_meta_ads.insights where date_start = '{day}' limit 1")[0][0]
    emulator.restate(day, factor=2.0)
    emulator.drop_rows(day, [victim])
    run(target, emulator, today="2026-08-15")
    after = query(target, f"select count(*), sum(spend) from raw_meta_ads.insights where date_start = '{day}'")[0]
    assert after[0] == before[0] - 1
    assert query(
        target, f"select count(*) from raw_meta_ads.insights where date_start = '{day}' and ad_id = '{victim}'"
    ) == [(0,)]
    dupes = query(
        target,
        "select count(*) from (select account_id, ad_id, date_start from raw_meta_ads.insights "
        "group by all having count(*) > 1)",
    )
    assert dupes == [(0,)]
    purchases_before_after = query(
        target,
        f"select count(*) from raw_meta_ads.insights_actions where date_start = '{day}' and ad_id = '{victim}'",
    )
    assert purchases_before_after == [(0,)]


def test_failed_job_is_split_and_nothing_is_lost(target: Target, emulator: GraphEmulator) -> None:
    emulator.faults.job_failure(unfiltered=True)
    run(target, emulator, today="2026-08-03", initial_days=3)
    assert query(target, "select count(*) from raw_meta_ads.insights") == [(expected_rows("2026-08-01", "2026-08-03"),)]
    filtered = [r for r in emulator.requests if r["method"] == "POST" and "filtering" in r["params"]]
    assert filtered, "the failed jobs were re-run split by campaign"


def test_throttle_pauses_before_the_limit(target: Target, emulator: GraphEmulator) -> None:
    clock = FakeClock()
    emulator.faults.throttle(util_pct=96, regain_minutes=2, times=1)
    run(target, emulator, today="2026-08-02", initial_days=2, clock=clock)
    assert 120.0 in clock.slept


def test_transient_errors_are_retried(target: Target, emulator: GraphEmulator) -> None:
    emulator.faults.error(code=2, message="Service temporarily unavailable", is_transient=True, times=2)
    emulator.faults.error(code=500, http_status=503, message="backend down", times=1)
    run(target, emulator, today="2026-08-02", initial_days=2)
    assert query(target, "select count(*) from raw_meta_ads.insights") == [(expected_rows("2026-08-01", "2026-08-02"),)]
    assert sum(1 for r in emulator.requests if r["status"] >= 400) >= 3


def test_expired_token_fails_fast_with_one_clear_message(target: Target, emulator: GraphEmulator) -> None:
    emulator.faults.error(
        code=190, subcode=463, message="Error validating access token: Session has expired", times=None
    )
    report = run(target, emulator, expect_ok=False)
    extract = next(s for s in report.steps if s.step == "extract")
    assert extract.status == "failed"
    assert "190" in extract.error and "expired" in extract.error and "access_token" in extract.error
    assert len(emulator.requests) <= 3  # no retry storm on a permanent error


def test_breakdown_table_keeps_breakdown_columns_in_its_key(target: Target, emulator: GraphEmulator) -> None:
    run(target, emulator, today="2026-08-03", initial_days=3, breakdowns=["age_gender"])
    rows, distinct = query(
        target,
        "select count(*), count(distinct (account_id, ad_id, date_start, age, gender)) "
        "from raw_meta_ads.insights_age_gender",
    )[0]
    assert rows == distinct > query(target, "select count(*) from raw_meta_ads.insights")[0][0]
    totals = query(
        target,
        "select (select sum(impressions) from raw_meta_ads.insights_age_gender), "
        "(select sum(impressions) from raw_meta_ads.insights)",
    )[0]
    assert totals[0] == totals[1]


def test_new_api_field_evolves_the_schema(target: Target, emulator: GraphEmulator) -> None:
    run(target, emulator, today="2026-08-02", initial_days=2)
    emulator.add_insight_field("quality_ranking", "ABOVE_AVERAGE")
    report = run(target, emulator, today="2026-08-03")
    load = next(s for s in report.steps if s.step == "load")
    assert "new column(s) quality_ranking" in load.tables["insights"].schema_changes
    assert query(target, "select count(*) from raw_meta_ads.insights where quality_ranking = 'ABOVE_AVERAGE'")[0][0] > 0


def test_a_value_that_does_not_fit_its_type_is_quarantined_never_null(target: Target, emulator: GraphEmulator) -> None:
    run(target, emulator, today="2026-08-02", initial_days=2)
    day = "2026-08-02"
    ad = query(target, f"select min(ad_id) from raw_meta_ads.insights where date_start = '{day}'")[0][0]
    emulator.send_value(day, ad, "spend", "1,5")  # a decimal comma where the API sends "1.5"
    report = run(target, emulator, today="2026-08-03")
    load = next(s for s in report.steps if s.step == "load")
    assert load.tables["insights"].quarantined == 1
    assert "1 row(s) quarantined" in format_summary(report)
    quarantined = "select table_name, row_key, reason, raw_text from raw_meta_ads.quarantine"
    [(table, key, reason, raw)] = query(target, quarantined)
    assert table == "insights" and f"object_id={ad}" in key and f"date_start={day}" in key
    assert reason == "column spend: value '1,5' (text) does not fit its type decimal(38, 9)"
    assert json.loads(raw)["spend"] == "1,5" and json.loads(raw)["ad_id"] == ad
    # no variant column and no NULL spend: the row is in the quarantine, not silently emptied
    variants = "select count(*) from information_schema.columns where strpos(column_name, '__v_') > 0"
    assert query(target, variants) == [(0,)]
    assert query(target, "select count(*) from raw_meta_ads.insights where spend is null") == [(0,)]
    assert not any(t.variant_columns for s in report.steps for t in s.tables.values())
    # the API sends the value in its usual form again: the re-fetched day loads it
    emulator.send_value(day, ad, "spend", "1.5")
    run(target, emulator, today="2026-08-04")
    assert query(target, f"select spend from raw_meta_ads.insights where date_start = '{day}' and ad_id = '{ad}'") == [
        (Decimal("1.5"),)
    ]


def test_an_action_value_that_is_no_number_is_quarantined_never_null(target: Target, emulator: GraphEmulator) -> None:
    run(target, emulator, today="2026-08-02", initial_days=2)
    day = "2026-08-02"
    ad = query(target, f"select min(ad_id) from raw_meta_ads.insights where date_start = '{day}'")[0][0]
    drifted = [{"action_type": "purchase", "value": "n/a", "7d_click": "12.5"}]
    emulator.send_value(day, ad, "action_values", drifted)
    report = run(target, emulator, today="2026-08-03")
    load = next(s for s in report.steps if s.step == "load")
    assert load.tables["insights"].quarantined == 1
    [(table, key, reason, raw)] = query(
        target, "select table_name, row_key, reason, raw_text from raw_meta_ads.quarantine"
    )
    assert table == "insights" and f"object_id={ad}" in key and f"date_start={day}" in key
    assert reason == "action_values purchase (default): 'n/a' is not a number that fits decimal(38, 9)"
    assert json.loads(raw)["action_values"] == drifted
    # the ad-day and its actions are out (the re-fetched day replaced it), no NULL took the value's place
    ad_day = f"where date_start = '{day}' and ad_id = '{ad}'"
    assert query(target, f"select count(*) from raw_meta_ads.insights {ad_day}") == [(0,)]
    assert query(target, f"select count(*) from raw_meta_ads.insights_actions {ad_day}") == [(0,)]
    assert query(target, "select count(*) from raw_meta_ads.insights_actions where value is null") == [(0,)]


def test_reduce_data_halves_the_page_size(target: Target, emulator: GraphEmulator) -> None:
    emulator.faults.reduce_data(max_limit=20)
    run(target, emulator, today="2026-08-02", initial_days=2, page_size=80)
    result_pages = [
        r
        for r in emulator.requests
        if r["method"] == "GET" and r["path"].endswith("/insights") and "act_" not in r["path"]
    ]
    limits = {int(r["params"]["limit"]) for r in result_pages}
    assert 20 in limits and 80 in limits
    assert query(target, "select count(*) from raw_meta_ads.insights") == [(expected_rows("2026-08-01", "2026-08-02"),)]


def test_each_account_keeps_its_own_cursor(target: Target, emulator: GraphEmulator) -> None:
    first, second = ACCOUNTS
    run(target, emulator, account_ids=[first])
    emulator.requests.clear()
    run(target, emulator, today="2026-08-20")  # both accounts now
    got = requested_days(emulator)
    assert {d for a, d in got if a == first} == {f"2026-08-{d:02d}" for d in range(8, 21)}  # attribution window
    assert {d for a, d in got if a == second} == {f"2026-08-{d:02d}" for d in range(7, 21)}  # first run: 14 days
    assert query(target, "select count(distinct account_id) from raw_meta_ads.insights") == [(2,)]


def test_first_runs_and_backfills_use_longer_report_runs(target: Target, emulator: GraphEmulator) -> None:
    """An account's first run and a backfill ask for ``backfill_slice_days`` per report run (7 by default), regular
    runs for ``slice_days`` (1): the 14-day first run is two report runs per account, not 28, with the same rows."""
    run(target, emulator)  # no cursor yet: 2026-08-01 .. 08-14
    weeks = (("2026-08-01", "2026-08-07"), ("2026-08-08", "2026-08-14"))
    assert sorted(report_runs(emulator)) == sorted((a, since, until) for a in ACCOUNTS for since, until in weeks)
    n = expected_rows("2026-08-01", "2026-08-14")
    daily = "select count(*), count(distinct (account_id, ad_id, date_start)) from raw_meta_ads.insights"
    assert query(target, daily) == [(n, n)]  # daily rows (time_increment=1) whatever the report run's length
    emulator.requests.clear()
    run(target, emulator, today="2026-08-16")  # the cursor: one report run per day of the attribution window
    assert sorted(report_runs(emulator)) == sorted((a, d, d) for a in ACCOUNTS for d in
                                                   (f"2026-08-{day:02d}" for day in range(8, 17)))  # fmt: skip
    emulator.requests.clear()
    run(target, emulator, since="2026-08-01", until="2026-08-10", backfill_slice_days=4)
    assert sorted({(s, u) for _, s, u in report_runs(emulator)}) == [
        ("2026-08-01", "2026-08-04"), ("2026-08-05", "2026-08-08"), ("2026-08-09", "2026-08-10")
    ]  # fmt: skip


def test_backfill_runs_a_range_without_moving_the_cursor(target: Target, emulator: GraphEmulator) -> None:
    run(target, emulator)  # cursor at 2026-08-14
    emulator.requests.clear()
    run(target, emulator, since="2026-08-01", until="2026-08-02")
    assert {d for _, d in requested_days(emulator)} == {"2026-08-01", "2026-08-02"}
    emulator.requests.clear()
    run(target, emulator, today="2026-08-15")
    assert min(d for _, d in requested_days(emulator)) == "2026-08-08"  # 14 - 6: the cursor did not move


def test_job_failing_at_every_split_has_its_fields_halved(target: Target, emulator: GraphEmulator) -> None:
    emulator.faults.job_failure(max_fields=20)  # every job asking for all 23 fields fails
    run(target, emulator, today="2026-08-01", initial_days=1, account_ids=[ACCOUNTS[1]])
    n = sum(1 for r in meta_demo(WORLD).insights if r["date_start"] == "2026-08-01" and r["account_id"] == ACCOUNTS[1])
    rows = query(target, "select count(*), count(spend), count(impressions), count(ad_name) from raw_meta_ads.insights")
    assert rows == [(n, n, n, n)]  # halves joined back into whole rows
    field_counts = {len(r["params"]["fields"]) for r in emulator.requests if r["method"] == "POST"}
    assert max(field_counts) > 20 >= min(field_counts)


def test_job_that_never_finishes_is_split(target: Target, emulator: GraphEmulator) -> None:
    emulator.faults.job_never_completes(unfiltered=True)
    run(target, emulator, today="2026-08-02", initial_days=2, job_timeout_s=5)
    assert query(target, "select count(*) from raw_meta_ads.insights") == [(expected_rows("2026-08-01", "2026-08-02"),)]


def test_mdw_backfill_command(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backfill", "meta_ads", "--since", "2026-08-01", "--until", "2026-08-01", "--demo"]) == 0
    assert query(target, "select min(date_start)::varchar, max(date_start)::varchar from raw_meta_ads.insights") == [
        ("2026-08-01", "2026-08-01")
    ]
    assert main(["backfill", "crm", "--since", "2026-08-01", "--until", "2026-08-02"]) == 2
    assert "does not support backfills" in capsys.readouterr().err


# --- behaviour against the real API (issue 12): recorded responses from emulator/fixtures -----------------------


def insights_rows(target: Target, account_id: str | None = None) -> int:
    where = f" where account_id = '{account_id}'" if account_id else ""
    return query(target, f"select count(*) from raw_meta_ads.insights{where}")[0][0]


def rows_of(account_id: str, since: str, until: str) -> int:
    return sum(
        1 for r in meta_demo(WORLD).insights if since <= r["date_start"] <= until and r["account_id"] == account_id
    )


def extract_error(report: RunReport) -> str:
    step = next(s for s in report.steps if s.step == "extract")
    assert step.status == "failed", "the extract was expected to stop"
    return step.error or ""


def test_report_run_not_found_on_its_first_polls_is_polled_again(target: Target, emulator: GraphEmulator) -> None:
    rule = emulator.faults.replay("error_100_33_object_does_not_exist", role="report_run_status", times=3)
    run(target, emulator, today="2026-08-02", initial_days=2)
    assert rule.hits == 3
    assert insights_rows(target) == expected_rows("2026-08-01", "2026-08-02")


def test_report_run_that_never_appears_stops_with_a_clear_message(target: Target, emulator: GraphEmulator) -> None:
    emulator.faults.replay("error_100_33_object_does_not_exist", role="report_run_status", times=None)
    report = run(target, emulator, expect_ok=False, today="2026-08-01", initial_days=1, max_concurrent_jobs=1)
    error = extract_error(report)
    assert "100/33" in error and "was created" in error and "5 times" in error and "act_" in error


def test_non_json_bodies_are_transient(target: Target, emulator: GraphEmulator) -> None:
    emulator.faults.replay("non_json_200_body", role="insights", method="POST", times=1)
    emulator.faults.replay("html_facebook_error_page", path_contains="/campaigns", times=1)
    emulator.faults.replay("html_502_bad_gateway", role="report_run_results", times=1)
    run(target, emulator, today="2026-08-02", initial_days=2)
    assert insights_rows(target) == expected_rows("2026-08-01", "2026-08-02")
    assert sum(1 for r in emulator.requests if r["status"] == 502) == 2


def test_a_proxy_page_that_never_goes_away_is_named(target: Target, emulator: GraphEmulator) -> None:
    emulator.faults.replay("html_502_bad_gateway", path_contains="/adsets", times=None)
    error = extract_error(run(target, emulator, expect_ok=False, today="2026-08-01", initial_days=1))
    assert "non-JSON" in error and "502 Bad Gateway" in error and "act_" in error and "run again later" in error


@pytest.mark.parametrize(
    ("names", "code"),
    [
        (["error_80000_app_usage_only", "error_80000_app_usage_only", "error_17_no_usage_header"], 80000),
        (["error_613_rate_limit"], 613),
        (["error_4_app_request_limit"], 4),
    ],
)
def test_rate_limits_without_a_regain_time_wait_at_least_a_minute(
    target: Target, emulator: GraphEmulator, names: list[str], code: int
) -> None:
    clock = FakeClock()
    for name in names:
        emulator.faults.replay(name, role="insights", method="POST", times=1)
    run(target, emulator, today="2026-08-02", initial_days=2, clock=clock, max_concurrent_jobs=1)
    assert insights_rows(target) == expected_rows("2026-08-01", "2026-08-02")
    waits = [s for s in clock.slept if s >= 1]
    assert len(waits) == len(names) and all(w >= 60 for w in waits)
    assert all(later > earlier for earlier, later in zip(waits, waits[1:], strict=False))  # growing
    assert all(w <= 60 * 2**i * 1.25 for i, w in enumerate(waits))  # ... with at most 25% jitter


def test_a_rate_limit_that_outlasts_the_budget_keeps_other_accounts(target: Target, emulator: GraphEmulator) -> None:
    other, limited = ACCOUNTS  # jobs run in account order: the other account's days complete first
    clock = FakeClock()
    emulator.faults.replay("error_80000_app_usage_only", account_id=limited, role="insights", times=None)
    report = run(target, emulator, today="2026-08-03", initial_days=3, clock=clock, retry_budget_s=900,
                 max_concurrent_jobs=1)  # fmt: skip
    assert sum(clock.slept) <= 900
    assert insights_rows(target, other) == rows_of(other, "2026-08-01", "2026-08-03")
    assert insights_rows(target, limited) == 0
    warnings = [w for s in report.steps for w in s.warnings]
    assert len(warnings) == 1
    assert f"act_{limited}" in warnings[0] and "80000" in warnings[0] and "ads_insights" in warnings[0]
    assert "retry_budget_s" in warnings[0] and "run again later" in warnings[0].lower()
    # the next run fetches the limited account's missing days; the other account only its attribution window
    emulator.faults.clear()
    emulator.requests.clear()
    run(target, emulator, today="2026-08-03", initial_days=3)  # still a first run for the limited account
    got = requested_days(emulator)
    assert {d for a, d in got if a == limited} == {"2026-08-01", "2026-08-02", "2026-08-03"}
    assert insights_rows(target, limited) == rows_of(limited, "2026-08-01", "2026-08-03")


def test_a_stuck_job_ends_within_the_budget_and_complete_days_are_kept(target: Target, emulator: GraphEmulator) -> None:
    other, stuck = ACCOUNTS  # jobs run in account order: the other account's days complete first
    clock = FakeClock()
    emulator.faults.job_never_completes(
        account_id=stuck, when=lambda params: params["time_range"]["since"] >= "2026-08-02"
    )
    report = run(target, emulator, today="2026-08-03", initial_days=3, clock=clock, job_timeout_s=120,
                 retry_budget_s=600, max_concurrent_jobs=1, backfill_slice_days=1)  # fmt: skip  # a job per day
    assert clock.t <= 600 + 2 * 120 + 60  # budget, plus the first run of each stuck day and one last poll
    assert insights_rows(target, other) == rows_of(other, "2026-08-01", "2026-08-03")
    assert insights_rows(target, stuck) == rows_of(stuck, "2026-08-01", "2026-08-01")  # the complete day is kept
    warnings = [w for s in report.steps for w in s.warnings]
    assert len(warnings) == 1 and f"act_{stuck}" in warnings[0] and "2026-08-02" in warnings[0]
    assert "Job Running" in warnings[0]
    emulator.faults.clear()  # the next run starts at the stuck account's first missing day
    emulator.requests.clear()
    run(target, emulator, today="2026-08-03")
    assert {d for a, d in requested_days(emulator) if a == stuck} == {"2026-08-02", "2026-08-03"}
    assert insights_rows(target, stuck) == rows_of(stuck, "2026-08-01", "2026-08-03")


def test_code_1_marked_not_transient_stops_at_once(target: Target, emulator: GraphEmulator) -> None:
    emulator.faults.replay("error_1_2853001_not_transient", path_contains="/campaigns", times=None)
    error = extract_error(run(target, emulator, expect_ok=False, today="2026-08-01", initial_days=1))
    assert "1/2853001" in error and "profile is not linked to delegate page" in error and "not transient" in error
    assert sum(1 for r in emulator.requests if r["path"].endswith("/campaigns")) == 1  # no retries


def test_unknown_error_500_on_a_result_page_halves_the_page_size(target: Target, emulator: GraphEmulator) -> None:
    rule = emulator.faults.replay("error_500_unknown_error", role="report_run_results", times=1)
    run(target, emulator, today="2026-08-01", initial_days=1, page_size=80, max_concurrent_jobs=1)
    pages = [r for r in emulator.requests if r["method"] == "GET" and r["path"].endswith("/insights")]
    assert rule.hits == 1 and [int(p["params"]["limit"]) for p in pages][:2] == [80, 40]
    assert insights_rows(target) == expected_rows("2026-08-01", "2026-08-01")


def test_job_gate_copes_when_the_insights_throttle_stays_low_until_error_17(
    target: Target, emulator: GraphEmulator
) -> None:
    clock = FakeClock()
    rule = emulator.faults.throttle(
        util_pct=100, regain_minutes=0, code=17, insights_pct=5, method="POST", path_contains="/insights", times=3
    )
    run(target, emulator, today="2026-08-04", initial_days=4, clock=clock, max_concurrent_jobs=4)
    assert rule.hits == 3
    assert insights_rows(target) == expected_rows("2026-08-01", "2026-08-04")
    waits = [s for s in clock.slept if s >= 1]
    assert waits and min(waits) >= 60  # every worker waited the shared pause out, no job hammered on
    limited = [r for r in emulator.requests if r["status"] == 400]
    assert len(limited) == 3


def test_retired_attribution_windows_reach_the_api_and_its_error_comes_back(
    target: Target, emulator: GraphEmulator
) -> None:
    report = run(target, emulator, expect_ok=False, today="2026-08-01", initial_days=1,
                 attribution_windows=["1d_click", "7d_view"])  # fmt: skip
    sent = [r["params"]["action_attribution_windows"] for r in emulator.requests if r["method"] == "POST"]
    assert sent and sent[0] == ["1d_click", "7d_view"]  # our code does not reject what the SDK still lists
    error = extract_error(report)
    assert "error 100" in error and "action_attribution_windows[1]" in error
    assert "attribution_windows" in error.split("'")[-1]  # the hint names the setting


def test_action_values_with_many_decimals_are_kept_exactly(target: Target, emulator: GraphEmulator) -> None:
    day = "2026-08-01"
    key = (ACCOUNTS[0], day)
    rows = emulator.data.rows_by_day[key]
    row = next(r for r in rows if r.get("action_values"))
    emulator.data.rows_by_day[key] = [r for r in rows if r is not row] + [
        {
            **row,
            "action_values": [
                {
                    "action_type": "purchase",
                    "value": "63.416842",
                    "7d_click": "63.416842",
                    "1d_click": "0.1234567891234",
                }
            ],
        }  # fmt: skip
    ]
    try:
        run(target, emulator, today=day, initial_days=1)
    finally:
        emulator.data.rows_by_day[key] = rows
    got = dict(query(target, f"select attribution_window, value from raw_meta_ads.insights_actions "
                             f"where ad_id = '{row['ad_id']}' and action_kind = 'action_values'"))  # fmt: skip
    assert got["default"] == Decimal("63.416842") and got["7d_click"] == Decimal("63.416842")
    assert got["1d_click"] == Decimal("0.123456789")  # more than 9 decimals: rounded at the 9th, never an error


def test_gold_keeps_and_reconciles_values_with_many_decimals(
    demo: tuple[Target, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = warehouse_copy(demo[0], tmp_path / "data", monkeypatch)
    with duckdb.connect(str(target.warehouse_path)) as con:
        newest = con.execute("select max(cast(_dlt_load_id as double)) from raw_meta_ads.insights").fetchone()[0]
        new_load = f"{newest + 3600:.6f}"
        ad_id, day = con.execute(
            "select ad_id, date_start from raw_meta_ads.insights_actions where action_type = 'purchase' "
            "and attribution_window = 'default' and action_kind = 'actions' order by date_start, ad_id limit 1"
        ).fetchone()
        # a fractional (modelled) purchase count and a value with six decimals, as the API sends them
        for kind, value in (("actions", "1.333333"), ("action_values", "63.416842")):
            con.execute(
                "update raw_meta_ads.insights_actions set value = ?::decimal(38, 9) where ad_id = ? "
                "and date_start = ? and action_type = 'purchase' and action_kind = ?",
                [value, ad_id, day, kind],
            )
        for table in ("insights", "insights_actions"):
            con.execute(f"update raw_meta_ads.{table} set _dlt_load_id = ? where date_start = ?", [new_load, day])
    reconcile = "assert_meta_spend_and_conversions_reconcile"
    assert main(["dbt", "build", "--select", f"+{reconcile}", "--vars", "{gold_lookback_days: 0}"]) == 0
    got = query(target, f"select conversions, conversion_value from gold.dim_meta_ads where ad_id = '{ad_id}' "
                        f"and date_day = '{day}'")  # fmt: skip
    assert got == [(Decimal("1.333333"), Decimal("63.42"))]  # exact count; the value in cents from here on
