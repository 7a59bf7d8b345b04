"""Wall-clock latency in the Graph API emulator, and the connector's report runs in flight against it.

Time is the emulator's own clock, moved by hand: nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError

from pipelines.runner import extract_to_bronze
from pipelines.targets import Target
from sources.clock import Clock
from sources.meta_ads.api import make_api
from sources.meta_ads.emulator import GraphEmulator, Latency, synthetic_data
from sources.meta_ads.insights import InsightsFetcher, InsightsSettings
from sources.meta_ads.plugin import plugin as meta_plugin
from sources.meta_ads.usage import UsageGovernor

START = date(2026, 8, 1)
JOB = Latency(2.0, 20.0, "lognormal", seed=5)


class HandClock(Clock):
    """The emulator's clock: moves only when a test moves it; ``sleep`` records and moves it."""

    def __init__(self) -> None:
        self.t, self.slept = 1000.0, []
        self._lock = threading.Lock()
        super().__init__(now=lambda: self.t, sleep=self._sleep)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.t += seconds

    def _sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture
def emu(clock: HandClock) -> Iterator[GraphEmulator]:
    with GraphEmulator(synthetic_data(2, 3, 10, START), job_latency=JOB, clock=clock) as emulator:
        yield emulator
    assert not emulator.errors, emulator.errors[0]


@pytest.fixture
def api(emu: GraphEmulator) -> Iterator[FacebookAdsApi]:
    api = emu.sdk_api()
    yield api
    FacebookAdsApi.set_default_api(None)


def account(emu: GraphEmulator, index: int = 0) -> AdAccount:
    return AdAccount(f"act_{emu.data.accounts[index]['account_id']}")


def day_params(day: str) -> dict[str, Any]:
    return {"level": "ad", "time_range": {"since": day, "until": day}, "time_increment": 1}


def submit(emu: GraphEmulator, day: str, index: int = 0) -> Any:
    return account(emu, index).get_insights(fields=["ad_id", "spend"], params=day_params(day), is_async=True)


# --- the distributions ---------------------------------------------------------------------------------------


def test_latency_draws_stay_within_bounds_and_repeat_with_their_seed() -> None:
    for latency in (Latency(2, 20, "lognormal", seed=1), Latency(0.05, 0.3, seed=1)):
        first = [latency.draw(random.Random(9)) for _ in range(500)]
        assert all(latency.low <= x <= latency.high for x in first)
        assert first == [latency.draw(random.Random(9)) for _ in range(500)]
    rng = random.Random(3)
    lognormal = [Latency(2, 20, "lognormal").draw(rng) for _ in range(4000)]
    assert statistics.median(lognormal) == pytest.approx(20**0.5 * 2**0.5, rel=0.05)  # median at sqrt(2 * 20)
    assert statistics.mean(lognormal) > statistics.median(lognormal)  # the long right tail
    assert Latency.parse("lognormal:2-20@7") == Latency(2, 20, "lognormal", seed=7)
    assert Latency.parse("0.4-4") == Latency(0.4, 4) and Latency(2, 20).scaled(0.2) == Latency(0.4, 4)
    with pytest.raises(ValueError, match="shape"):
        Latency(1, 2, "normal")


# --- report runs take their drawn time ------------------------------------------------------------------------


def test_report_run_completes_at_its_drawn_time_and_reports_progress_meanwhile(
    emu: GraphEmulator, api: FacebookAdsApi, clock: HandClock
) -> None:
    run = submit(emu, "2026-08-03")
    [(start, end)] = emu.report_runs()
    duration = end - start
    assert JOB.low <= duration <= JOB.high
    seen = []
    for step in range(1, 101):  # poll at 1%, 2%, ... of the drawn duration, and once more just before its end
        clock.t = start + duration * step / 100 - (1e-6 if step == 100 else 0)
        node = run.api_get()
        seen.append((node["async_status"], node["async_percent_completion"]))
        if step < 100:
            with pytest.raises(FacebookRequestError, match="not ready"):
                list(run.get_insights())
    assert all(status != "Job Completed" for status, _ in seen)  # not complete before its drawn time
    statuses = [status for status, _ in seen]
    assert statuses[0] == "Job Not Started" and "Job Started" in statuses and statuses[-1] == "Job Running"
    assert statuses.index("Job Started") < statuses.index("Job Running")
    percents = [pct for _, pct in seen]
    assert percents == sorted(percents) and 0 == percents[0] < percents[50] < percents[-1] < 100
    running = [pct for status, pct in seen if status == "Job Running"]
    assert len(set(running)) > 50  # the percentage moves with the clock while the run is running
    clock.t = end
    node = run.api_get()
    assert (node["async_status"], node["async_percent_completion"]) == ("Job Completed", 100)
    assert len(list(run.get_insights())) == 3  # the account's 3 ads on that day
    assert node["time_completed"] >= node["time_ref"]


def test_polling_does_not_hurry_a_report_run(emu: GraphEmulator, api: FacebookAdsApi, clock: HandClock) -> None:
    run = submit(emu, "2026-08-04")
    for _ in range(50):
        assert run.api_get()["async_status"] == "Job Not Started"  # the clock stood still
    emu.polls_to_complete = 1  # the poll count does not matter once a job latency is set
    assert run.api_get()["async_status"] == "Job Not Started"


def test_durations_are_seeded_by_the_query_not_by_the_submission_order(clock: HandClock) -> None:
    days = ["2026-08-02", "2026-08-03", "2026-08-04", "2026-08-05"]

    def durations(order: list[str], latency: Latency) -> dict[str, float]:
        with GraphEmulator(synthetic_data(1, 2, 10, START), job_latency=latency, clock=clock) as emu:
            emu.sdk_api()  # the SDK's default API: submit() below goes through it
            try:
                for day in order:
                    submit(emu, day)
            finally:
                FacebookAdsApi.set_default_api(None)
            return {day: end - start for day, (start, end) in zip(order, emu.report_runs(), strict=True)}

    forward = durations(days, JOB)
    assert forward == durations(list(reversed(days)), JOB)
    assert len(set(forward.values())) == len(days)
    assert forward != durations(days, Latency(2.0, 20.0, "lognormal", seed=6))


def test_failing_and_stuck_report_runs_with_a_latency(
    emu: GraphEmulator, api: FacebookAdsApi, clock: HandClock
) -> None:
    emu.faults.job_failure(times=1)
    failing = submit(emu, "2026-08-02")
    emu.faults.job_never_completes(times=1)
    stuck = submit(emu, "2026-08-03")
    clock.advance(JOB.high)
    assert failing.api_get()["async_status"] == "Job Failed"
    assert stuck.api_get()["async_status"] == "Job Running"
    clock.advance(3600)
    assert stuck.api_get()["async_status"] == "Job Running"
    assert emu.running_report_runs() == 1  # the stuck one


def test_request_latency_is_drawn_for_every_request(emu: GraphEmulator, clock: HandClock) -> None:
    emu.request_latency = Latency(0.05, 0.3, seed=11)
    query = urllib.parse.urlencode({"access_token": emu.access_token})
    for path in ("me/adaccounts", f"act_{emu.data.accounts[0]['account_id']}", "me"):
        with urllib.request.urlopen(f"{emu.url}/v26.0/{path}?{query}") as resp:
            assert resp.status == 200
    rng = random.Random(11)
    assert clock.slept == [emu.request_latency.draw(rng) for _ in range(3)]
    assert all(0.05 <= s <= 0.3 for s in clock.slept)
    emu.request_latency = None
    with urllib.request.urlopen(f"{emu.url}/v26.0/me?{query}"):
        pass
    assert len(clock.slept) == 3


def test_running_report_runs_are_counted_on_the_emulator_clock(
    emu: GraphEmulator, api: FacebookAdsApi, clock: HandClock
) -> None:
    for day in ("2026-08-02", "2026-08-03", "2026-08-04"):
        submit(emu, day)
    assert emu.running_report_runs() == emu.peak_running_report_runs() == 3
    ends = sorted(end for _, end in emu.report_runs())
    clock.t = ends[0]
    assert emu.running_report_runs() == 2
    clock.t = ends[-1]
    submit(emu, "2026-08-05")
    assert emu.running_report_runs() == 1 and emu.peak_running_report_runs() == 3


# --- the connector against it --------------------------------------------------------------------------------


def test_result_rows_are_the_rows_the_sdk_objects_export(
    emu: GraphEmulator, api: FacebookAdsApi, clock: HandClock
) -> None:
    """The connector reads result pages as JSON rows (the SDK's Cursor, without building AdsInsights objects):
    the same rows, page by page, as the SDK's objects give back through export_all_data."""
    fields = ["account_id", "ad_id", "date_start", "spend", "impressions", "ctr", "actions", "action_values"]
    params = {**day_params("2026-08-02"), "time_range": {"since": "2026-08-02", "until": "2026-08-06"}}
    run = account(emu).get_insights(fields=fields, params=params, is_async=True)
    clock.advance(JOB.high)
    assert run.api_get()["async_status"] == "Job Completed"
    governed = make_api(emu.access_token, "v26.0", emu.url, UsageGovernor())
    fetcher = InsightsFetcher(governed, InsightsSettings())
    rows = fetcher._result_rows(run, limit=4)
    assert len(rows) == 15 and any("actions" in r for r in rows)
    assert rows == [r.export_all_data() for r in run.get_insights(params={"limit": 4})]


def test_next_poll_comes_when_the_progress_says_the_job_ends() -> None:
    fetcher = InsightsFetcher(None, InsightsSettings(poll_interval_s=2.0))  # type: ignore[arg-type]
    assert fetcher._next_poll(6.75, 0, 0, 5.0) == (6.75, 0)  # no progress yet: the growing interval
    assert fetcher._next_poll(6.75, 0, 50, 4.0) == (4.0, 50)  # half done after 4 s: about 4 s left
    assert fetcher._next_poll(6.75, 50, 90, 9.0) == (2.0, 90)  # 1 s left: never sooner than poll_interval_s
    assert fetcher._next_poll(6.75, 10, 20, 2.0) == (6.75, 20)  # 8 s left: no later than the interval
    assert fetcher._next_poll(10.0, 99, 99, 60.0) == (10.0, 99)  # stalled at 99%: the growing interval
    assert fetcher._next_poll(10.0, 0, "n/a", 60.0) == (10.0, 0)


@pytest.mark.parametrize("in_flight", [1, 3, 8])
def test_n_jobs_in_flight_are_n_report_runs_running_at_once(target: Target, clock: HandClock, in_flight: int) -> None:
    """The emulator's clock moves only when ``in_flight`` report runs are running (or no job is left to start):
    the run can only finish if the connector keeps that many report runs running at once."""
    accounts, ads, days = 2, 3, 12
    jobs = accounts * days
    emu = GraphEmulator(synthetic_data(accounts, ads, days, START), job_latency=JOB, clock=clock)
    stalled, done = [], threading.Event()

    def mover() -> None:
        waited_since = time.monotonic()
        while not done.wait(0.005):
            submitted = sum(1 for r in emu.requests if r["method"] == "POST" and r["path"].endswith("/insights"))
            if emu.running_report_runs() >= in_flight or submitted >= jobs:
                clock.advance(JOB.high)  # every running report run completes
                waited_since = time.monotonic()
            elif time.monotonic() - waited_since > 60:  # the connector keeps fewer in flight: let it finish
                stalled.append(emu.running_report_runs())
                clock.advance(JOB.high)
                waited_since = time.monotonic()

    thread = threading.Thread(target=mover, daemon=True)
    with emu:
        thread.start()
        try:
            kwargs = {
                "access_token": emu.access_token,
                "graph_url": emu.url,
                "account_ids": None,
                "today": f"2026-08-{days:02d}",
                "start_date": START.isoformat(),
                "max_concurrent_jobs": in_flight,
                "poll_interval_s": 0.01,
                "backfill_slice_days": 1,  # a first run of one report run per day: enough jobs for 8 in flight
            }
            step = extract_to_bronze(meta_plugin, target, kwargs)
        finally:
            done.set()
            thread.join()
        assert not emu.errors, emu.errors[0]
    assert step.status == "ok", step.error
    assert step.tables["insights"].rows == accounts * ads * days
    assert len(emu.report_runs()) == jobs
    assert not stalled, f"the clock had to move with only {stalled} report run(s) running"
    assert emu.peak_running_report_runs() == in_flight
