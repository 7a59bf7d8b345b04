"""Daily insights through asynchronous report runs: one job per account and day slice, several in flight.

A job that fails or does not finish in time is split by campaign, then by ad set; an ad-set job that still
fails has its metric fields halved (two jobs whose rows are joined on their keys). The API error "Please
reduce the amount of data" (or an HTTP 500 "An unknown error occurred" on a result page) halves the page size
of that result request. Error 100/33 on the status poll of a just-created report run is the API's own race:
polled again with backoff a few times. Polls of re-run jobs count against the run's retry budget; when it is
used up, ``fetch`` stops, keeps every completed job and records why in ``stopped``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adset import AdSet
from facebook_business.adobjects.campaign import Campaign

from sources.meta_ads.api import GovernedApi
from sources.meta_ads.errors import MetaApiError, ReduceDataError, RetryBudgetExhausted
from sources.meta_ads.settings import INSIGHT_ID_FIELDS, INSIGHT_NAME_FIELDS, REPORT_RUN_NOT_FOUND_TRIES


def all_statuses(node: type) -> list[str]:
    """Every effective status the SDK knows for a node type: deleted and archived objects are listed too."""
    return sorted(v for k, v in vars(node.EffectiveStatus).items() if not k.startswith("_"))


KEY_FIELDS = frozenset(INSIGHT_ID_FIELDS) | frozenset(INSIGHT_NAME_FIELDS)


class JobFailed(RuntimeError):
    """An async report run ended in 'Job Failed' / 'Job Skipped' or did not finish in time."""


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
        deadline = clock.now() + self.settings.job_timeout_s
        interval = self.settings.poll_interval_s
        while True:
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
            if spec.attempt:  # a re-run of a failed or stuck job: its waiting is retrying
                budget.wait(interval, spec.describe(), f"report run {run.get('id')} '{status}' (a re-run)")
            else:
                clock.sleep(interval)
            interval = min(interval * 1.5, self.settings.poll_max_interval_s)
        limit = self.settings.page_size
        while True:
            try:
                return [row.export_all_data() for row in run.get_insights(params={"limit": limit})]
            except ReduceDataError:
                if limit <= 1:
                    raise
                limit = max(1, limit // 2)
                self.stats.page_halvings += 1
                self.stats.events.append(f"{spec.describe()}: page size halved to {limit}")

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
                    f"({', '.join(metrics)}); try a shorter slice (sources.meta_ads.slice_days) later"
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
        pending: dict[Future, JobSpec] = {}
        todo = iter(specs)
        with ThreadPoolExecutor(max_workers=self.settings.max_concurrent_jobs, thread_name_prefix="meta-job") as pool:
            for spec in itertools.islice(todo, self.settings.max_concurrent_jobs):
                pending[pool.submit(self.run_job, spec)] = spec
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        spec = pending.pop(future)
                        try:
                            rows = future.result()
                        except RetryBudgetExhausted as exhausted:
                            self.stopped = self.stopped or (spec, exhausted)
                            continue
                        except MetaApiError as err:  # permanent: stop the run, naming the job
                            if f"act_{spec.account_id}" in str(err):
                                raise
                            raise MetaApiError(f"{spec.describe()}: {err}", err.code, err.subcode) from err
                        if self.stopped is None:
                            nxt = next(todo, None)
                            if nxt is not None:
                                pending[pool.submit(self.run_job, nxt)] = nxt
                        yield spec, rows
                    if self.stopped is not None:  # jobs not started yet never start
                        pending = {f: s for f, s in pending.items() if not f.cancel()}
            finally:
                for future in pending:
                    future.cancel()


def _join_on_keys(parts: list[list[dict[str, Any]]], keys: list[str]) -> list[dict[str, Any]]:
    merged: dict[tuple, dict[str, Any]] = {}
    for rows in parts:
        for row in rows:
            merged.setdefault(tuple(row.get(k) for k in keys), {}).update(row)
    return list(merged.values())
