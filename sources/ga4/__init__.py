"""GA4 source: reports from the Data API (``BetaAnalyticsDataClient``) for many properties.

Each report (built-in ``traffic_daily`` and ``purchases``, plus any from ``sources.ga4.reports`` in config)
lands in ``report_<name>``. Reports with a ``date`` dimension are incremental per property: every run re-fetches
the last ``lookback_days`` days (GA4 restates up to 48 hours late) up to the property's today (its time zone from
the Admin API), in one-day slices (``slice_days``), paged by offset/limit until ``rowCount``. Only complete
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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
from sources.ga4.reports import ReportSpec, column_name, has_other, report_specs, response_rows, rows_table
from sources.ga4.settings import (
    DEFAULT_INITIAL_DAYS,
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_PAGE_SIZE,
    DEFAULT_RETRY_BUDGET_MINUTES,
    RESUME_WITHIN_S,
    Ga4Configuration,
)

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
    window = Window(lookback_days, initial_days, start_date, slice_days, page_size, since, until)
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
    """Every slice of the run's window for one property (from ``resume_day`` in a resumed round); only complete
    slices are yielded as data. A pause records the day to resume at in ``state["resume_from"]``."""
    if not spec.has_date:  # a snapshot of its range: non-additive metrics are never summed over days
        start = date.fromisoformat(window.since) if window.since else today - timedelta(days=window.lookback_days - 1)
        end = date.fromisoformat(window.until) if window.until else today
        try:
            data = yield from _slice(spec, pid, start, end, caller, window.page_size)
        except HourlyQuotaPause:
            state.setdefault("resume_from", {})[pid] = start.isoformat()
            raise
        yield from data
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
    day = start
    while day <= end:
        slice_end = min(end, day + timedelta(days=window.slice_days - 1))
        try:
            data = yield from _slice(spec, pid, day, slice_end, caller, window.page_size)
        except StopFetching as stop:
            if not backfill:
                incomplete[pid] = day.isoformat()
            if isinstance(stop, HourlyQuotaPause):
                state.setdefault("resume_from", {})[pid] = day.isoformat()
            raise
        yield from data
        if not backfill:  # progress is kept slice by slice: a stopped run resumes at the first incomplete slice
            cursors[pid] = max(cursors.get(pid, ""), slice_end.isoformat())
        day = slice_end + timedelta(days=1)
    if not backfill:
        incomplete.pop(pid, None)


def _slice(spec: ReportSpec, pid: str, start: date, end: date, caller: Caller, page_size: int) -> Iterator[Any]:
    """Fetch every page of one slice. Audit records (quota, metadata) are yielded as they come; the slice's data
    is *returned* (report rows as one Arrow table, ``(other)`` rows apart) once its last page has arrived."""
    snapshot = not spec.has_date
    rows: list[dict[str, Any]] = []
    other: list[dict[str, Any]] = []
    types: dict[str, Any] = {}
    offset, rows_total = 0, None
    while rows_total is None or offset < rows_total:
        request = spec.request(pid, start.isoformat(), end.isoformat(), offset, page_size)
        response = caller.run_report(spec.name, pid, request)
        rows_total = response.row_count
        page, page_types = response_rows(response, pid)
        types.update(page_types)
        dims = [column_name(h.name) for h in response.dimension_headers]
        # "(other)" rows keep their metric values as sent (text): an audit copy, not a typed report row
        sent = [dict(zip(page_types, (v.value for v in r.metric_values), strict=True)) for r in response.rows]
        page_other = [r | sent[i] for i, r in enumerate(page) if has_other(r, dims)]
        yield dlt.mark.with_table_name(caller.ledger.entries[-1], "quota_ledger")
        yield dlt.mark.with_table_name(_metadata(spec, pid, start, end, offset, response, len(page_other)),
                                       "report_metadata")  # fmt: skip
        rows += [r for r in page if not has_other(r, dims)]
        other += [{"property_id": pid, "report": spec.name, "date_start": start.isoformat(),
                   "date_end": end.isoformat(), **r} for r in page_other]  # fmt: skip
        if not response.rows:
            break
        offset += len(response.rows)
    if snapshot:
        for r in rows:
            r["range_start"], r["range_end"] = start.isoformat(), end.isoformat()
    data: list[Any] = []
    if rows:
        data.append(dlt.mark.with_table_name(rows_table(rows, types, dated=not snapshot), spec.table))
    if other:  # kept for audit, never in a report table: no phantom purchase "(other)"
        data.append(dlt.mark.with_table_name(other, "other_rows"))
    return data


def _metadata(spec: ReportSpec, pid: str, start: date, end: date, offset: int, response: Any, other: int) -> dict:
    meta = response.metadata
    return {
        "property_id": pid,
        "report": spec.name,
        "date_start": start.isoformat(),
        "date_end": end.isoformat(),
        "offset": offset,
        "row_count": response.row_count,
        "sampled": bool(meta.sampling_metadatas),
        "data_loss_from_other_row": bool(meta.data_loss_from_other_row),
        "other_rows": other,
        "subject_to_thresholding": bool(meta.subject_to_thresholding),
        "time_zone": meta.time_zone or None,
        "currency_code": meta.currency_code or None,
        "requested_at": datetime.now(UTC),
    }
