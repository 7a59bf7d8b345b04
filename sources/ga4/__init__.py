"""GA4 source: reports from the Data API (``BetaAnalyticsDataClient``) for many properties.

Each report (built-in ``traffic_daily`` and ``purchases``, plus any from ``sources.ga4.reports`` in config)
lands in ``report_<name>``. Reports with a ``date`` dimension are incremental per property: every run re-fetches
the last ``lookback_days`` days (GA4 restates up to 48 hours late) in one-day slices (``slice_days``), paged by
offset/limit until ``rowCount``; the warehouse merge replaces whole property-days. Reports without ``date`` are
snapshots of their date range (never a forced date dimension). Every request asks for the property quota:
``quota_ledger`` keeps each response's buckets and ``report_metadata`` its sampling / ``(other)`` row /
thresholding / time zone / currency. When the daily tokens are gone, the run keeps what it fetched and stops;
the next run continues from the last completed day.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dlt
from dlt.common.typing import TSecretValue
from dlt.sources import DltResource
from google.analytics.data_v1beta import BetaAnalyticsDataClient
from google.analytics.data_v1beta.types import (
    CheckCompatibilityRequest,
    Dimension,
    GetMetadataRequest,
    Metric,
)
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions

from sources.clock import Clock
from sources.ga4.quota import DailyQuotaExhausted, QuotaLedger, quota_kind
from sources.ga4.reports import ReportSpec, report_specs, response_rows
from sources.ga4.settings import DEFAULT_INITIAL_DAYS, DEFAULT_LOOKBACK_DAYS, DEFAULT_PAGE_SIZE

logger = logging.getLogger(__name__)


class Ga4ConfigError(ValueError):
    """A report or property setting is wrong; the message names it."""


def make_client(api_endpoint: str | None, transport: str, credentials_info: dict[str, Any] | None) -> Any:
    """The Data API client: gRPC by default, REST for an emulator; credentials from secrets or ADC."""
    kwargs: dict[str, Any] = {"transport": transport}
    if api_endpoint:
        kwargs["client_options"] = ClientOptions(api_endpoint=api_endpoint)
        if api_endpoint.startswith("http://"):
            from google.auth.credentials import AnonymousCredentials

            kwargs["credentials"] = AnonymousCredentials()
    if credentials_info and "credentials" not in kwargs:
        from google.oauth2 import service_account

        kwargs["credentials"] = service_account.Credentials.from_service_account_info(dict(credentials_info))
    return BetaAnalyticsDataClient(**kwargs)


class _Caller:
    """Runs one request with quota-aware waits and clear errors."""

    def __init__(self, client: Any, ledger: QuotaLedger, service_account: str, attempts: int = 5) -> None:
        self.client, self.ledger, self.service_account, self.attempts = client, ledger, service_account, attempts

    def run_report(self, spec: ReportSpec, property_id: str, request: Any) -> Any:
        response = self.call(self.client.run_report, request, property_id, spec.name)
        self.ledger.record(property_id, spec.name, response.property_quota)
        return response

    def call(self, method: Any, request: Any, property_id: str, label: str) -> Any:
        """One Data API call with quota-aware waits, retries of transient errors, and clear permanent errors."""
        for attempt in range(self.attempts):
            try:
                return method(request=request, retry=None)  # retries are ours: quota-aware, injectable clock
            except gexc.TooManyRequests as err:
                kind = quota_kind(err.message or str(err))
                if kind and kind[1] is None:
                    raise DailyQuotaExhausted(
                        f"GA4 property {property_id}: the daily token quota is exhausted; progress is saved, run "
                        "again after the quota resets (midnight Pacific time)"
                    ) from err
                self.ledger.wait((kind[1] if kind else 60.0) * (attempt + 1) / self.attempts,
                                 f"property {property_id}: {err.message}")  # fmt: skip
                continue
            except (gexc.ServiceUnavailable, gexc.InternalServerError, gexc.DeadlineExceeded) as err:
                self.ledger.wait(2.0**attempt, f"property {property_id}: {err.message}")
                continue
            except (gexc.PermissionDenied, gexc.Forbidden) as err:  # gRPC / REST
                raise Ga4ConfigError(
                    f"GA4 property {property_id}: permission denied for {self.service_account}: add it as a "
                    f"Viewer on the property (Admin > Property access management). API said: {err.message}"
                ) from err
            except (gexc.InvalidArgument, gexc.BadRequest) as err:
                raise Ga4ConfigError(f"GA4 property {property_id}, {label}: {err.message}") from err
        raise RuntimeError(f"GA4 property {property_id}, {label}: still failing after {self.attempts} tries")


def check_compatibility(caller: _Caller, property_id: str, spec: ReportSpec) -> None:
    """Fail with the incompatible field names before a report first runs."""
    request = CheckCompatibilityRequest(
        property=f"properties/{property_id}",
        dimensions=[Dimension(name=d) for d in spec.dimensions],
        metrics=[Metric(name=m) for m in spec.metrics],
    )
    response = caller.call(caller.client.check_compatibility, request, property_id, f"report {spec.name}")
    # the answer covers every field of the property, judged against the request: keep the report's own
    asked = set(spec.dimensions) | set(spec.metrics)
    bad = [c.dimension_metadata.api_name for c in response.dimension_compatibilities if c.compatibility == 2]
    bad += [c.metric_metadata.api_name for c in response.metric_compatibilities if c.compatibility == 2]
    bad = [name for name in bad if name in asked]
    if bad:
        raise Ga4ConfigError(
            f"GA4 report '{spec.name}' on property {property_id}: incompatible field(s) {', '.join(bad)}; "
            "remove them from the report in sources.ga4.reports"
        )


def property_today(caller: _Caller, property_id: str, override: str | None) -> date:
    if override:
        return date.fromisoformat(override)
    request = GetMetadataRequest(name=f"properties/{property_id}/metadata")
    metadata = caller.call(caller.client.get_metadata, request, property_id, "metadata")
    zone = getattr(metadata, "time_zone", None) or "UTC"
    try:
        return datetime.now(ZoneInfo(zone)).date()
    except Exception:  # unknown zone name: fall back to UTC rather than fail the run
        return datetime.now(UTC).date()


@dlt.source(name="ga4", max_table_nesting=0)
def ga4(
    property_ids: list[str] = dlt.config.value,
    credentials: TSecretValue | None = None,
    api_endpoint: str | None = None,
    transport: str = "grpc",
    reports: list[dict[str, Any]] | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    initial_days: int = DEFAULT_INITIAL_DAYS,
    start_date: str | None = None,
    slice_days: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
    since: str | None = None,
    until: str | None = None,
    today: str | None = None,
    clock: Any = None,
) -> list[DltResource]:
    """GA4 reports for ``property_ids`` (see the module docstring).

    Args:
        property_ids: GA4 property ids (numbers).
        credentials: service-account info, a mapping or its JSON text (a secret: never in traces or logs);
            application default credentials when empty.
        api_endpoint / transport: ``grpc`` (default) or ``rest``; an ``http://`` endpoint (emulator) is anonymous.
        reports: user-defined reports: [{name, dimensions, metrics, dimension_filter}].
        lookback_days: days re-fetched on every run; initial_days / start_date: a first run's history.
        slice_days / page_size: days per request and rows per page.
        since / until: explicit backfill (the cursor does not move); today / clock: for tests.
    """
    if not property_ids:
        raise Ga4ConfigError("sources.ga4.property_ids is empty: list the GA4 property ids to load")
    specs = report_specs(reports)
    info = json.loads(credentials) if isinstance(credentials, str) else credentials
    client = make_client(api_endpoint, transport, info)
    ledger = QuotaLedger(clock=clock or Clock())
    service_account = (info or {}).get("client_email", "the application default credentials")
    caller = _Caller(client, ledger, service_account)
    pids = [str(p).removeprefix("properties/") for p in property_ids]

    def report_resource(spec: ReportSpec) -> DltResource:
        def rows() -> Iterator[Any]:
            state = dlt.current.resource_state()
            checked = state.setdefault("compatible", [])
            for pid in pids:
                if pid not in checked:
                    check_compatibility(caller, pid, spec)
                    checked.append(pid)
                day = property_today(caller, pid, today)
                try:
                    yield from _fetch_property(spec, pid, day, state, caller, page_size, slice_days,
                                               lookback_days, initial_days, start_date, since, until)  # fmt: skip
                except DailyQuotaExhausted as stop:
                    logger.warning(str(stop))
                    record = {"property_id": pid, "report": spec.name, "stopped": str(stop),
                              "requested_at": datetime.now(UTC)}  # fmt: skip
                    yield dlt.mark.with_table_name(record, "report_metadata")
                    return

        return dlt.resource(rows, name=spec.table, write_disposition="append")

    return [report_resource(s) for s in specs]


def _fetch_property(
    spec: ReportSpec,
    pid: str,
    today: date,
    state: dict[str, Any],
    caller: _Caller,
    page_size: int,
    slice_days: int,
    lookback_days: int,
    initial_days: int,
    start_date: str | None,
    since: str | None,
    until: str | None,
) -> Iterator[list[dict[str, Any]]]:
    cursors = state.setdefault("last_date", {})
    backfill = bool(since)
    if not spec.has_date:  # a snapshot of its range: non-additive metrics are never summed over days
        start = date.fromisoformat(since) if since else today - timedelta(days=lookback_days - 1)
        end = date.fromisoformat(until) if until else today
        yield from _pages(spec, pid, start, end, caller, page_size, snapshot=True)
        return
    if backfill:
        start, end = date.fromisoformat(since), date.fromisoformat(until) if until else today
    else:
        last = cursors.get(pid)
        if last:
            start = min(date.fromisoformat(last) + timedelta(days=1), today - timedelta(days=lookback_days - 1))
        else:
            start = date.fromisoformat(start_date) if start_date else today - timedelta(days=initial_days - 1)
        end = today
    day = start
    while day <= end:
        slice_end = min(end, day + timedelta(days=slice_days - 1))
        yield from _pages(spec, pid, day, slice_end, caller, page_size)
        if not backfill:  # progress is kept slice by slice: a stopped run resumes after the last full slice
            cursors[pid] = max(cursors.get(pid, ""), slice_end.isoformat())
        day = slice_end + timedelta(days=1)


def _pages(
    spec: ReportSpec,
    pid: str,
    start: date,
    end: date,
    caller: _Caller,
    page_size: int,
    snapshot: bool = False,
) -> Iterator[list[dict[str, Any]]]:
    offset, rows_total = 0, None
    while rows_total is None or offset < rows_total:
        request = spec.request(pid, start.isoformat(), end.isoformat(), offset, page_size)
        response = caller.run_report(spec, pid, request)
        rows_total = response.row_count
        rows = response_rows(spec, response, pid)
        meta = response.metadata
        yield dlt.mark.with_table_name(caller.ledger.entries[-1], "quota_ledger")
        yield dlt.mark.with_table_name(
            {
                "property_id": pid,
                "report": spec.name,
                "date_start": start.isoformat(),
                "date_end": end.isoformat(),
                "offset": offset,
                "row_count": rows_total,
                "sampled": bool(meta.sampling_metadatas),
                "data_loss_from_other_row": bool(meta.data_loss_from_other_row),
                "subject_to_thresholding": bool(meta.subject_to_thresholding),
                "time_zone": meta.time_zone or None,
                "currency_code": meta.currency_code or None,
                "requested_at": datetime.now(UTC),
            },
            "report_metadata",
        )
        if snapshot:
            for r in rows:
                r["range_start"], r["range_end"] = start.isoformat(), end.isoformat()
        other = [r for r in rows if "(other)" in (r.get("date"),)]
        if other:  # a dated report's "(other)" row has no day: kept aside, never dropped
            rows = [r for r in rows if r not in other]
            yield dlt.mark.with_table_name(
                [{"report": spec.name, "date_start": start.isoformat(), "date_end": end.isoformat(), **r}
                 for r in other],
                "other_rows",
            )  # fmt: skip
        if rows:
            yield rows
        page = len(response.rows)
        if not page:
            break
        offset += page
