"""GA4 source: reports from the Data API (``BetaAnalyticsDataClient``) for many properties.

Each report (built-in ``traffic_daily`` and ``purchases``, plus any from ``sources.ga4.reports`` in config)
lands in ``report_<name>``. Reports with a ``date`` dimension are incremental per property: every run re-fetches
the last ``lookback_days`` days (GA4 restates up to 48 hours late) up to the property's today (its time zone from
the Admin API), in one-day slices (``slice_days``), paged by offset/limit until ``rowCount``, up to five requests
per ``batchRunReports`` call (``sources.ga4.slices``). A first run (no cursor yet) or an explicit backfill asks
for ``backfill_slice_days`` days per request, split by the ``date`` dimension; a response that is not the sum of
its days (sampled, rows lost to ``(other)``) is fetched again one day per request. Only complete
slices reach the warehouse merge, which replaces whole property-days: a slice cut short (daily quota, retry
budget) is dropped and the next run starts again at the oldest incomplete day. An hourly quota pauses the
property instead of waiting in the middle of the extract: the source records in its state where each report
stopped and when the quota refills (``resume``, the runner's signal to run it again), the runner commits what
was fetched to Bronze and the warehouse, and the next round waits until then and fetches only what is left.
Interrupting the wait loses nothing: a new run within the hour resumes, a later one starts at the incomplete day.
Reports without ``date`` are snapshots of their date range (never a forced date dimension). Rows with an ``(other)``
value go to ``other_rows``, never into a report table. Every request asks for the property quota: ``quota_ledger``
keeps each response's buckets and ``report_metadata`` its sampling / ``(other)`` rows / thresholding / time zone /
currency, and every stop, failed report and degraded report (a missing custom dimension) with its message.
Retries: ``sources.ga4.caller``.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import takewhile
from typing import Any

import dlt
from dlt.common.typing import TSecretValue
from dlt.sources import DltResource

from sources.clock import Clock
from sources.ga4.caller import Caller, Ga4ConfigError, HourlyQuotaPause, ReportFailed, StopFetching
from sources.ga4.clients import make_admin_client, make_client
from sources.ga4.property_settings import PropertySettings, PropertySettingsCache, zone_setting
from sources.ga4.quota import QuotaLedger, RunClock
from sources.ga4.report_fields import PropertyFields
from sources.ga4.reports import ReportSpec, report_specs
from sources.ga4.settings import (
    DEFAULT_BACKFILL_SLICE_DAYS,
    DEFAULT_INITIAL_DAYS,
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_PAGE_SIZE,
    DEFAULT_RETRY_BUDGET_MINUTES,
    MAX_BATCH_REPORTS,
    RESUME_WITHIN_S,
    Ga4Configuration,
)
from sources.ga4.slices import Slice, fetch, slices_data

__all__ = ["Ga4ConfigError", "ga4"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    """What a run fetches: the incremental defaults, or an explicit backfill (``since`` / ``until``)."""

    lookback_days: int
    initial_days: int
    start_date: str | None
    slice_days: int
    page_size: int
    since: str | None
    until: str | None
    backfill_slice_days: int = DEFAULT_BACKFILL_SLICE_DAYS


@dataclass
class Rounds:
    """A run in rounds: an hourly quota ends a round early (what was fetched is committed); the next round, started
    by the runner because the source state holds ``resume``, waits until the quota has refilled and fetches only
    what the pause left. The retry budget is the run's, carried from round to round."""

    run_clock: RunClock
    ledger: QuotaLedger
    started: bool = False
    resumed: bool = False

    def begin(self, source_state: dict[str, Any]) -> bool:
        """Called by every report at its start; the first call decides: a resumed round (True) or a whole run."""
        if self.started:
            return self.resumed
        self.started = True
        record = source_state.pop("resume", None)
        if not record:
            return False
        at, now = datetime.fromisoformat(record["at"]), self.run_clock.utc_now()
        if (now - at).total_seconds() > RESUME_WITHIN_S:  # long after the pause: a new run (incomplete days stay)
            return False
        self.resumed = True
        self.run_clock.carried_s = float(record.get("budget_spent_s", 0.0))
        if record.get("paused_at"):  # a round never starts before the previous one ended (an injected clock)
            self.run_clock.started_utc = max(self.run_clock.started_utc, datetime.fromisoformat(record["paused_at"]))
            now = self.run_clock.utc_now()
        wait = (at - now).total_seconds()
        if wait > 0:
            logger.info("GA4: waiting %.0f s for the hourly quota to refill (what was fetched is committed)", wait)
            self.ledger.wait(wait, f"resuming at {at:%H:%M:%S} UTC, when the hourly quota has refilled")
        return True

    def pause(self, source_state: dict[str, Any], resume_at: datetime) -> None:
        """Ask for another round at ``resume_at`` (the latest refill of every paused property)."""
        record = source_state.setdefault("resume", {"at": resume_at.isoformat()})
        record["at"] = max(record["at"], resume_at.isoformat())
        record["budget_spent_s"] = self.run_clock.budget_spent()
        record["paused_at"] = self.run_clock.utc_now().isoformat()


@dlt.source(name="ga4", max_table_nesting=0, spec=Ga4Configuration)
def ga4(
    property_ids: str | list[str] = dlt.config.value,
    credentials: TSecretValue | None = None,
    api_endpoint: str | None = None,
    transport: str = "grpc",
    reports: list[dict[str, Any]] | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    initial_days: int = DEFAULT_INITIAL_DAYS,
    start_date: str | None = None,
    slice_days: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
    backfill_slice_days: int = DEFAULT_BACKFILL_SLICE_DAYS,
    retry_budget_minutes: float = DEFAULT_RETRY_BUDGET_MINUTES,
    property_timezones: dict[str, str] | None = None,
    since: str | None = None,
    until: str | None = None,
    today: str | None = None,
    started_at: str | None = None,
    clock: Any = None,
) -> list[DltResource]:
    """GA4 reports for ``property_ids`` (see the module docstring).

    Args:
        property_ids: one GA4 property id (a number) or a list.
        credentials: service-account info, a mapping or its JSON text (a secret: never in traces or logs);
            application default credentials when empty.
        api_endpoint / transport: ``grpc`` (default) or ``rest``; an emulator endpoint (``http://`` for REST,
            ``127.0.0.1:<port>`` for gRPC) is anonymous and serves the Admin API too.
        reports: user-defined reports: [{name, dimensions, metrics, dimension_filter, optional}] (``optional``:
            custom dimensions the report runs without on a property that lacks them).
        lookback_days: days re-fetched on every run; initial_days / start_date: a first run's history.
        slice_days / page_size: days per request and rows per page.
        backfill_slice_days: days per request of a first run (no cursor yet) or an explicit backfill, when
            ``slice_days`` is 1; a response that is sampled or lost rows to ``(other)`` is fetched again one day per
            request (1: always one day per request).
        retry_budget_minutes: the run's total time for retries and quota waits (below the DAG timeout).
        property_timezones: {property id: IANA zone}, used when the Admin API cannot be read.
        since / until: explicit backfill (the cursor does not move).
        today / started_at / clock: for tests (the property's today; the run's UTC start; an injectable clock).

    dlt resolves the settings as ``Ga4Configuration``, which checks them first (``marketing_dwh.settings``).
    """
    specs = report_specs(reports)
    budget_s = retry_budget_minutes * 60
    zones = zone_setting(property_timezones)
    info = json.loads(credentials) if isinstance(credentials, str) else credentials
    started = datetime.fromisoformat(started_at) if started_at else datetime.now(UTC)
    run_clock = RunClock(clock or Clock(), started if started.tzinfo else started.replace(tzinfo=UTC))
    ledger = QuotaLedger(clock=run_clock.clock)
    service_account = (info or {}).get("client_email", "the application default credentials")
    caller = Caller(make_client(api_endpoint, transport, info), ledger, run_clock, budget_s, service_account)
    admin = Caller(make_admin_client(api_endpoint, transport, info), ledger, run_clock, budget_s, service_account)
    properties = PropertySettingsCache(admin, run_clock, zones)
    fields = PropertyFields(caller)
    window = Window(lookback_days, initial_days, start_date, slice_days, page_size, since, until, backfill_slice_days)
    pids = [str(p).removeprefix("properties/") for p in property_ids]
    rounds = Rounds(run_clock, ledger)

    def report_resource(spec: ReportSpec) -> DltResource:
        def rows() -> Iterator[Any]:
            state = dlt.current.resource_state()
            resumed = rounds.begin(dlt.current.source_state())
            todo = state.pop("resume_from", {})  # property -> the day this report paused at (a resumed round)
            for pid in pids:
                if resumed and pid not in todo:  # done in an earlier round of this run
                    continue
                try:
                    run_spec, warnings = fields.resolve(pid, spec)
                    for warning in warnings:
                        yield _notice(pid, spec, "degraded", warning)
                    if today:
                        day = date.fromisoformat(today)
                    else:
                        day = properties.today(pid)
                        yield _settings_record(pid, spec, properties.get(pid))
                    yield from _fetch_property(run_spec, pid, day, state, caller, window, todo.get(pid))
                except HourlyQuotaPause as pause:  # committed now, resumed in the next round
                    logger.info(str(pause))
                    rounds.pause(dlt.current.source_state(), pause.resume_at)
                    yield _notice(pid, spec, "paused", str(pause))
                except StopFetching as stop:  # complete days are kept; the message says what to do
                    logger.warning(str(stop))
                    yield _notice(pid, spec, "stopped", str(stop))
                except ReportFailed as failed:  # this report on this property only: every other one still runs
                    logger.error(str(failed))
                    yield _notice(pid, spec, "failed", str(failed))

        return dlt.resource(rows, name=spec.table, write_disposition="append")

    return [report_resource(s) for s in specs]


def _settings_record(pid: str, spec: ReportSpec, settings: PropertySettings) -> Any:
    """The property's time zone and currency as this run used them (Admin API or setting), for the sidecar."""
    record = {"property_id": pid, "report": spec.name, "time_zone": settings.time_zone,
              "currency_code": settings.currency, "settings_from": settings.read_from,
              "requested_at": datetime.now(UTC)}  # fmt: skip
    return dlt.mark.with_table_name(record, "report_metadata")


def _notice(pid: str, spec: ReportSpec, kind: str, message: str) -> Any:
    record = {"property_id": pid, "report": spec.name, kind: message, "requested_at": datetime.now(UTC)}
    return dlt.mark.with_table_name(record, "report_metadata")


def _fetch_property(
    spec: ReportSpec,
    pid: str,
    today: date,
    state: dict[str, Any],
    caller: Caller,
    window: Window,
    resume_day: str | None = None,
) -> Iterator[Any]:
    """Every slice of the run's window for one property (from ``resume_day`` in a resumed round), fetched five
    at a time in ``batchRunReports`` calls; only complete slices are yielded as data, in date order. A pause
    records the day to resume at in ``state["resume_from"]``."""
    if not spec.has_date:  # a snapshot of its range: non-additive metrics are never summed over days
        start = date.fromisoformat(window.since) if window.since else today - timedelta(days=window.lookback_days - 1)
        end = date.fromisoformat(window.until) if window.until else today
        whole = Slice(start, end)
        try:
            yield from fetch(spec, pid, [whole], caller, window.page_size)
        except HourlyQuotaPause:
            state.setdefault("resume_from", {})[pid] = start.isoformat()
            raise
        yield from slices_data(spec, [whole])
        return
    cursors = state.setdefault("last_date", {})
    incomplete = state.setdefault("incomplete_from", {})  # property -> oldest day a stop cut short
    backfill = bool(window.since)
    if backfill:
        start = date.fromisoformat(window.since)
        end = date.fromisoformat(window.until) if window.until else today
    else:
        last = cursors.get(pid)
        if last:
            start = min(date.fromisoformat(last) + timedelta(days=1), today - timedelta(days=window.lookback_days - 1))
        elif window.start_date:
            start = date.fromisoformat(window.start_date)
        else:
            start = today - timedelta(days=window.initial_days - 1)
        if pid in incomplete:
            start = min(start, date.fromisoformat(incomplete[pid]))
        end = today
    if resume_day:  # a resumed round of the same run: only what the pause left
        start = date.fromisoformat(resume_day)
    # a first run (no cursor yet) or an explicit backfill asks for several days per request
    days, multi_day = window.slice_days, False
    if window.slice_days == 1 and window.backfill_slice_days > 1 and (backfill or not cursors.get(pid)):
        days, multi_day = window.backfill_slice_days, True
    queue = deque(_slices(start, end, days, multi_day))
    while queue:
        batch = [queue.popleft() for _ in range(min(MAX_BATCH_REPORTS, len(queue)))]
        try:
            yield from fetch(spec, pid, batch, caller, window.page_size)
        except (StopFetching, ReportFailed) as stop:
            done = list(takewhile(lambda s: s.done and not s.flaw, batch))
            yield from _commit(spec, pid, done, cursors, backfill)
            if isinstance(stop, StopFetching):
                cut = batch[len(done)].start.isoformat()  # the oldest day the stop cut short
                if not backfill:
                    incomplete[pid] = cut
                if isinstance(stop, HourlyQuotaPause):
                    state.setdefault("resume_from", {})[pid] = cut
            raise
        for i, piece in enumerate(batch):
            if piece.flaw:  # again one day per request; the later slices (complete) wait behind those days
                logger.info("GA4 property %s, report %s, %s..%s: %s; fetching it again one day per request",
                            pid, spec.name, piece.start, piece.end, piece.flaw)  # fmt: skip
                queue.extendleft(reversed([*piece.days(), *batch[i + 1 :]]))
                batch = batch[:i]
                break
        yield from _commit(spec, pid, batch, cursors, backfill)
    if not backfill:
        incomplete.pop(pid, None)


def _slices(start: date, end: date, days: int, multi_day: bool) -> Iterator[Slice]:
    day = start
    while day <= end:
        slice_end = min(end, day + timedelta(days=days - 1))
        yield Slice(day, slice_end, multi_day=multi_day and slice_end > day)
        day = slice_end + timedelta(days=1)


def _commit(spec: ReportSpec, pid: str, done: list[Slice], cursors: dict[str, str], backfill: bool) -> Iterator[Any]:
    """The data of complete slices (one batch, in date order) and then the cursor past them (not in a backfill):
    a stopped run resumes at the first incomplete slice."""
    yield from slices_data(spec, done)
    if not backfill and done:
        cursors[pid] = max(cursors.get(pid, ""), *(piece.end.isoformat() for piece in done))
