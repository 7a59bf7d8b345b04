"""Where GA4 report requests are batched: the slices (date ranges) of one report on one property, paged by
offset/limit until ``rowCount``, up to five pages per ``batchRunReports`` call.

A slice is one day (or the configured ``slice_days``); a first backfill asks for longer slices
(``backfill_slice_days``) whose rows are split by their ``date`` dimension, and fetches a slice again one day per
request when its response is not a faithful sum of days (sampled, rows lost to ``(other)``, a row outside the
range). Only complete slices become data: the caller commits them in date order.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import dlt

from sources.ga4.caller import Caller, ReportFailed, StopFetching
from sources.ga4.reports import ReportSpec, column_name, has_other, raw_rows, response_rows, rows_table
from sources.ga4.settings import MAX_BATCH_REPORTS

T = TypeVar("T")


def plan_batches(items: Sequence[T], key: Callable[[T], Hashable], size: int = MAX_BATCH_REPORTS) -> list[list[T]]:
    """``items`` in order, cut into batches of at most ``size`` consecutive items with the same ``key`` (the
    property: a batch is for one property): every item lands in exactly one batch, in its order."""
    batches: list[list[T]] = []
    for item in items:
        if batches and len(batches[-1]) < size and key(batches[-1][-1]) == key(item):
            batches[-1].append(item)
        else:
            batches.append([item])
    return batches


@dataclass
class Slice:
    """One date range of one report on one property, and what its pages brought so far."""

    start: date
    end: date
    multi_day: bool = False  # a backfill slice: fetched again day by day when it is not a faithful sum of days
    offset: int = 0
    rows_total: int | None = None
    ended: bool = False  # an empty page before rowCount was reached (nothing more to ask for)
    rows: list[dict[str, Any]] = field(default_factory=list)
    other: list[dict[str, Any]] = field(default_factory=list)
    types: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)  # a multi-day slice's metadata, until judged
    flaw: str | None = None  # why a multi-day slice must be fetched again one day per request

    @property
    def done(self) -> bool:
        if self.ended or self.flaw is not None:  # a flawed multi-day slice is asked no further: fetched by day
            return True
        return self.rows_total is not None and self.offset >= self.rows_total

    def days(self) -> list[Slice]:
        """This slice as one-day slices (the fallback of a flawed multi-day slice)."""
        n = (self.end - self.start).days + 1
        return [Slice(self.start + timedelta(days=i), self.start + timedelta(days=i)) for i in range(n)]

    def add_page(self, spec: ReportSpec, pid: str, response: Any) -> dict[str, Any]:
        """Take one page; returns its ``report_metadata`` record."""
        self.rows_total = response.row_count
        page, page_types = response_rows(response, pid)
        self.types.update(page_types)
        dims = [column_name(h.name) for h in response.dimension_headers]
        other_at = [i for i, r in enumerate(page) if has_other(r, dims)]
        if other_at:  # "(other)" rows keep their metric values as sent (text): an audit copy, not a typed row
            rows = raw_rows(response)
            sent = [[v.value for v in rows[i].metric_values] for i in other_at]
            self.other += [{"property_id": pid, "report": spec.name, "date_start": self.start.isoformat(),
                            "date_end": self.end.isoformat(), **page[i], **dict(zip(page_types, values, strict=True))}
                           for i, values in zip(other_at, sent, strict=True)]  # fmt: skip
            skip = set(other_at)
            page = [r for i, r in enumerate(page) if i not in skip]
        record = _metadata(spec, pid, self.start, self.end, self.offset, response, len(other_at))
        if self.multi_day and self.flaw is None:
            self.flaw = _flaw(record, page, self.start, self.end)
        self.rows += page
        received = len(raw_rows(response))
        if not received:
            self.ended = True
        self.offset += received
        return record


def slices_data(spec: ReportSpec, slices: Sequence[Slice]) -> list[Any]:
    """Complete slices as data items: their report rows as one Arrow table (one dlt item per batch, not per day:
    dlt's per-item schema work costs more than a day's rows), ``(other)`` rows apart."""
    snapshot = not spec.has_date
    rows: list[dict[str, Any]] = []
    other: list[dict[str, Any]] = []
    types: dict[str, Any] = {}
    for piece in slices:
        if snapshot:
            for r in piece.rows:
                r["range_start"], r["range_end"] = piece.start.isoformat(), piece.end.isoformat()
        rows += piece.rows
        other += piece.other
        types.update(piece.types)
    out: list[Any] = []
    if rows:
        out.append(dlt.mark.with_table_name(rows_table(rows, types, dated=not snapshot), spec.table))
    if other:  # kept for audit, never in a report table: no phantom purchase "(other)"
        out.append(dlt.mark.with_table_name(other, "other_rows"))
    return out


def _flaw(record: dict[str, Any], rows: list[dict[str, Any]], start: date, end: date) -> str | None:
    """Why a multi-day page is not the sum of its one-day reports, or None."""
    if record["sampled"]:
        return "the response was sampled"
    if record["data_loss_from_other_row"] or record["other_rows"]:
        return "rows were lost to '(other)'"
    first, last = start.isoformat(), end.isoformat()
    if any(not (first <= (r.get("date") or "") <= last) for r in rows):
        return "a row's date is outside the requested days"
    return None


def fetch(spec: ReportSpec, pid: str, slices: list[Slice], caller: Caller, page_size: int) -> Iterator[Any]:
    """Fetch every page of ``slices`` (at most five: one call per round of pages) and yield the audit records as
    they come (quota ledger, report metadata; a multi-day slice's metadata once it is complete). A stop
    (``StopFetching``, ``ReportFailed``) leaves the slices as far as they got."""
    pending = [s for s in slices if not s.done]
    while pending:
        for group in plan_batches(pending, key=lambda s: pid):
            requests = [spec.request(pid, s.start.isoformat(), s.end.isoformat(), s.offset, page_size) for s in group]
            try:
                responses = caller.run_reports(spec.name, pid, requests)
            except (StopFetching, ReportFailed):
                yield from _judged(slices, stopped=True)  # the pages that did come back stay on record
                raise
            entries = caller.ledger.entries[-len(group) :]
            for piece, response, entry in zip(group, responses, entries, strict=True):
                yield dlt.mark.with_table_name(entry, "quota_ledger")
                record = piece.add_page(spec, pid, response)
                if piece.multi_day:
                    piece.records.append(record)
                else:
                    yield dlt.mark.with_table_name(record, "report_metadata")
        pending = [s for s in pending if not s.done]
        yield from _judged(slices)


def _judged(slices: list[Slice], stopped: bool = False) -> Iterator[Any]:
    """The metadata of multi-day slices that are complete (or cut short by a stop), marked when the slice is
    fetched again one day per request."""
    for piece in slices:
        if piece.multi_day and (piece.done or stopped) and piece.records:
            for record in piece.records:
                if piece.flaw:
                    record["fallback"] = f"{piece.flaw}: fetched again one day per request"
                yield dlt.mark.with_table_name(record, "report_metadata")
            piece.records = []


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
