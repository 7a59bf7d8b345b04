"""Daily insights through asynchronous report runs: one job per account and day slice, several in flight.

``max_concurrent_jobs`` workers each run one job at a time, from its submission through its polls to its last
result page, and take the next job as soon as theirs is downloaded: a slot never waits for the consumer (dlt
writing the previous job's rows to Bronze). Completed jobs wait for the consumer in a queue of at most
``max_concurrent_jobs`` (rows in memory stay bounded by two jobs per slot). A job's status is polled with a
growing interval (from ``poll_interval_s``, x1.5, up to ``poll_max_interval_s``); once ``async_percent_completion``
moves, the next poll comes no later than the time the progress so far says is left (never sooner than
``poll_interval_s``), so a finished job is seen soon without polling more often than before.

A job that fails or does not finish in time is split by campaign, then by ad set; an ad-set job that still
fails has its metric fields halved (two jobs whose rows are joined on their keys). The API error "Please
reduce the amount of data" (or an HTTP 500 "An unknown error occurred" on a result page) halves the page size
of that result request. Error 100/33 on the status poll of a just-created report run is the API's own race:
polled again with backoff a few times. Polls of re-run jobs count against the run's retry budget; when it is
used up, ``fetch`` stops, keeps every completed job and records why in ``stopped``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adset import AdSet
from facebook_business.adobjects.adsinsights import AdsInsights
from facebook_business.adobjects.campaign import Campaign
from facebook_business.adobjects.objectparser import ObjectParser
from facebook_business.api import Cursor

from sources.meta_ads.api import GovernedApi
from sources.meta_ads.errors import MetaApiError, ReduceDataError, RetryBudgetExhausted
from sources.meta_ads.settings import (
    DEFAULT_BACKFILL_SLICE_DAYS,
    INSIGHT_ID_FIELDS,
    INSIGHT_NAME_FIELDS,
    REPORT_RUN_NOT_FOUND_TRIES,
)


def all_statuses(node: type) -> list[str]:
    """Every effective status the SDK knows for a node type: deleted and archived objects are listed too."""
    return sorted(v for k, v in vars(node.EffectiveStatus).items() if not k.startswith("_"))


KEY_FIELDS = frozenset(INSIGHT_ID_FIELDS) | frozenset(INSIGHT_NAME_FIELDS)


class JobFailed(RuntimeError):
    """An async report run ended in 'Job Failed' / 'Job Skipped' or did not finish in time."""


class _Halted(Exception):
    """The run stopped (a permanent error, or the consumer went away): the worker drops its job."""


@dataclass(frozen=True)
class JobSpec:
    account_id: str  # numeric id, without act_
    since: date
    until: date
    fields: tuple[str, ...]
    breakdowns: tuple[str, ...] = ()
    filter_field: str | None = None  # campaign.id | adset.id
    filter_ids: tuple[str, ...] = ()
    attempt: int = 0  # 0: the first run of this slice; more: a re-run after a failed or stuck job

    def describe(self) -> str:
        scope = f" {self.filter_field} {','.join(self.filter_ids)}" if self.filter_field else ""
        return f"act_{self.account_id} {self.since}..{self.until}{scope}"


@dataclass
class InsightsSettings:
    level: str = "ad"
    windows: tuple[str, ...] = ("1d_click", "7d_click", "28d_click", "1d_view")
    page_size: int = 500
    poll_interval_s: float = 2.0
    poll_max_interval_s: float = 30.0
    job_timeout_s: float = 900.0
    max_concurrent_jobs: int = 4
    slice_days: int = 1
    backfill_slice_days: int = DEFAULT_BACKFILL_SLICE_DAYS


@dataclass
class InsightsStats:
    jobs: int = 0
    splits: int = 0
    field_halvings: int = 0
    page_halvings: int = 0
    events: list[str] = field(default_factory=list)


def day_slices(since: date, until: date, days: int) -> Iterator[tuple[date, date]]:
    start = since
    while start <= until:
        end = min(until, start + timedelta(days=days - 1))
        yield start, end
        start = end + timedelta(days=1)


class InsightsFetcher:
    def __init__(self, api: GovernedApi, settings: InsightsSettings) -> None:
        self.api, self.settings, self.stats = api, settings, InsightsStats()
        self.stopped: tuple[JobSpec, RetryBudgetExhausted] | None = None  # set when the retry budget ran out
        self._halt = threading.Event()  # set when ``fetch`` ends early: workers drop their jobs at the next poll

    # --- one job --------------------------------------------------------------------------------
    def _params(self, spec: JobSpec) -> dict[str, Any]:
        params: dict[str, Any] = {
            "level": self.settings.level,
            "time_range": {"since": spec.since.isoformat(), "until": spec.until.isoformat()},
            "time_increment": 1,
            "action_attribution_windows": list(self.settings.windows),
            "action_breakdowns": [],
        }
        if spec.breakdowns:
            params["breakdowns"] = list(spec.breakdowns)
        if spec.filter_field:
            params["filtering"] = [{"field": spec.filter_field, "operator": "IN", "value": list(spec.filter_ids)}]
        return params

    def _run_once(self, spec: JobSpec) -> list[dict[str, Any]]:
        clock, budget = self.api.governor.clock, self.api.governor.budget
        if budget.exhausted is not None:
            raise budget.exhausted
        self.api.governor.before_job(spec.describe())
        self.stats.jobs += 1
        run = AdAccount(f"act_{spec.account_id}", api=self.api).get_insights(
            fields=list(spec.fields), params=self._params(spec), is_async=True
        )
        started = clock.now()
        deadline = started + self.settings.job_timeout_s
        interval, progress = self.settings.poll_interval_s, 0
        while True:
            if self._halt.is_set():
                raise _Halted(spec.describe())
            run = self._poll(spec, run)
            status = run.get("async_status")
            if status == "Job Completed":
                break
            if status in ("Job Failed", "Job Skipped"):
                raise JobFailed(f"{spec.describe()}: report run {run.get('id')} ended '{status}'")
            if clock.now() >= deadline:
                raise JobFailed(f"{spec.describe()}: report run {run.get('id')} unfinished after "
                                f"{self.settings.job_timeout_s:.0f} s")  # fmt: skip
            if budget.exhausted is not None:  # another worker used the budget up: stop polling
                raise budget.exhausted
            wait_s, progress = self._next_poll(interval, progress, run.get("async_percent_completion"),
                                               clock.now() - started)  # fmt: skip
            if spec.attempt:  # a re-run of a failed or stuck job: its waiting is retrying
                budget.wait(wait_s, spec.describe(), f"report run {run.get('id')} '{status}' (a re-run)")
            else:
                clock.sleep(wait_s)
            interval = min(interval * 1.5, self.settings.poll_max_interval_s)
        limit = self.settings.page_size
        while True:
            try:
                return self._result_rows(run, limit)
            except ReduceDataError:
                if limit <= 1:
                    raise
                limit = max(1, limit // 2)
                self.stats.page_halvings += 1
                self.stats.events.append(f"{spec.describe()}: page size halved to {limit}")

    def _result_rows(self, run: Any, limit: int) -> list[dict[str, Any]]:
        """The report run's rows as the API sent them (``GET <run>/insights``, paged by the SDK's own ``Cursor``
        as ``AdReportRun.get_insights`` pages it, through the governed ``call``). The parser keeps each row as its
        JSON object: the SDK's ``AdsInsights`` objects type-check every field on the way in and are turned back
        into the same dicts by ``export_all_data`` (every insight field the SDK types is a string or a list of
        ``AdsActionStats`` of strings), which cost more CPU than the rest of the extraction."""
        parser = ObjectParser(api=self.api, custom_parse_method=lambda row, api: row)
        cursor = Cursor(source_object=run, target_objects_class=AdsInsights, params={"limit": limit},
                        include_summary=False, api=self.api, object_parser=parser)  # fmt: skip
        return list(cursor)

    def _next_poll(self, interval: float, progress: int, percent: Any, elapsed: float) -> tuple[float, int]:
        """(seconds to the next poll, progress seen): ``interval``, or sooner when the reported progress moved and
        says the job ends sooner (elapsed / percent x what is left), never sooner than ``poll_interval_s``. A job
        whose progress stalls (often at 99%) is polled on the growing interval."""
        try:
            pct = int(percent or 0)
        except (TypeError, ValueError):
            return interval, progress
        if not progress < pct < 100:
            return interval, max(progress, pct)
        left = elapsed * (100 - pct) / pct
        return max(self.settings.poll_interval_s, min(interval, left)), pct

    def _poll(self, spec: JobSpec, run: Any) -> Any:
        """The run's status; error 100/33 ("does not exist") right after creation is polled again."""
        interval = self.settings.poll_interval_s
        for attempt in range(REPORT_RUN_NOT_FOUND_TRIES):
            try:
                return run.api_get()
            except MetaApiError as err:
                if (err.code, err.subcode) != (100, 33) or attempt + 1 >= REPORT_RUN_NOT_FOUND_TRIES:
                    if (err.code, err.subcode) != (100, 33):
                        raise
                    raise MetaApiError(
                        f"Meta Ads {spec.describe()}: report run {run.get('id')} was created, but its status "
                        f"poll kept answering error 100/33 (the object does not exist) {attempt + 1} times: {err}",
                        err.code,
                        err.subcode,
                    ) from err
                self.stats.events.append(f"{spec.describe()}: report run {run.get('id')} not found yet (100/33)")
                self.api.governor.budget.wait(interval * 2**attempt, spec.describe(), str(err))
        raise AssertionError("unreachable")

    # --- splitting ------------------------------------------------------------------------------
    def _children(self, spec: JobSpec) -> tuple[str, list[str]]:
        if spec.filter_field is None:
            params = {"effective_status": all_statuses(Campaign), "limit": 500}
            objs = AdAccount(f"act_{spec.account_id}", api=self.api).get_campaigns(fields=["id"], params=params)
            return "campaign.id", [o["id"] for o in objs]
        params = {"effective_status": all_statuses(AdSet), "limit": 500}
        objs = Campaign(spec.filter_ids[0], api=self.api).get_ad_sets(fields=["id"], params=params)
        return "adset.id", [o["id"] for o in objs]

    def run_job(self, spec: JobSpec) -> list[dict[str, Any]]:
        """Run one job; on failure split it (campaign, then ad set, then halve the fields)."""
        try:
            return self._run_once(spec)
        except JobFailed as failure:
            self.stats.events.append(str(failure))
            if spec.filter_field in (None, "campaign.id"):
                child_field, ids = self._children(spec)
                self.stats.splits += 1
                self.stats.events.append(f"{spec.describe()}: split by {child_field} into {len(ids)} jobs")
                children = [
                    replace(spec, filter_field=child_field, filter_ids=(i,), attempt=spec.attempt + 1) for i in ids
                ]
                return [r for child in children for r in self.run_job(child)]
            keys = [f for f in spec.fields if f in KEY_FIELDS]
            metrics = [f for f in spec.fields if f not in KEY_FIELDS]
            if len(metrics) <= 1:
                raise MetaApiError(
                    f"Meta Ads {spec.describe()}: the insights job keeps failing even for one field "
                    f"({', '.join(metrics)}); try a shorter slice (sources.meta_ads.slice_days, on a first run or a "
                    "backfill sources.meta_ads.backfill_slice_days) later"
                ) from failure
            half = len(metrics) // 2
            self.stats.field_halvings += 1
            self.stats.events.append(f"{spec.describe()}: fields halved ({len(metrics)} -> {half} + rest)")
            halves = [
                replace(spec, fields=tuple(keys + m), attempt=spec.attempt + 1)
                for m in (metrics[:half], metrics[half:])
            ]
            parts = [self.run_job(half_spec) for half_spec in halves]
            return _join_on_keys(parts, [*keys, *spec.breakdowns])

    # --- many jobs ------------------------------------------------------------------------------
    def fetch(self, specs: list[JobSpec]) -> Iterator[tuple[JobSpec, list[dict[str, Any]]]]:
        """Run jobs with at most ``max_concurrent_jobs`` in flight; yield results as they complete.

        A permanent error stops the run. When the retry budget runs out, no further job is started or
        waited for: the jobs completed so far have been yielded, and ``stopped`` says where and why."""
        slots = max(1, self.settings.max_concurrent_jobs)
        todo, todo_lock = iter(specs), threading.Lock()
        done: queue.Queue[tuple[JobSpec, list[dict[str, Any]] | None, BaseException | None] | None]
        done = queue.Queue(maxsize=slots)  # completed jobs the consumer has not taken yet
        self._halt.clear()

        def take() -> JobSpec | None:
            with todo_lock:
                if self._halt.is_set() or self.stopped is not None:
                    return None  # jobs not started yet never start
                return next(todo, None)

        def hand_over(item: tuple[JobSpec, Any, BaseException | None] | None) -> bool:
            while True:  # wait while the queue is full (bounded memory), unless the run stopped
                try:
                    done.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    if self._halt.is_set():
                        return False

        def worker() -> None:
            try:
                while (spec := take()) is not None:
                    try:
                        item: tuple[JobSpec, Any, BaseException | None] = (spec, self.run_job(spec), None)
                    except _Halted:
                        return
                    except RetryBudgetExhausted as exhausted:
                        with todo_lock:
                            self.stopped = self.stopped or (spec, exhausted)
                        item = (spec, None, exhausted)
                    except BaseException as err:  # handed to the consumer, which raises it
                        item = (spec, None, err)
                    if not hand_over(item):
                        return
            finally:
                hand_over(None)

        workers = [
            threading.Thread(target=worker, name=f"meta-job-{i}", daemon=True) for i in range(min(slots, len(specs)))
        ]
        for thread in workers:
            thread.start()
        try:
            running = len(workers)
            while running:
                item = done.get()
                if item is None:
                    running -= 1
                    continue
                spec, rows, error = item
                if isinstance(error, RetryBudgetExhausted):
                    continue
                if isinstance(error, MetaApiError):  # permanent: stop the run, naming the job
                    if f"act_{spec.account_id}" in str(error):
                        raise error
                    raise MetaApiError(f"{spec.describe()}: {error}", error.code, error.subcode) from error
                if error is not None:
                    raise error
                yield spec, rows
        finally:
            self._halt.set()  # a no-op after a normal end; else running jobs are dropped at their next poll
            for thread in workers:
                thread.join()


def _join_on_keys(parts: list[list[dict[str, Any]]], keys: list[str]) -> list[dict[str, Any]]:
    merged: dict[tuple, dict[str, Any]] = {}
    for rows in parts:
        for row in rows:
            merged.setdefault(tuple(row.get(k) for k in keys), {}).update(row)
    return list(merged.values())
