"""Per-file processing of CRM exports: parse, validate, and route rows to their tables.

A file is read to its end before any of its rows are yielded (validated blocks wait in a bounded spill, in
memory or in a temporary file), so a file-wide decision — the decimal separator — or a failure half way
(a damaged gzip stream, an I/O error) applies to the whole file: its rows are loaded or quarantined as one,
never half of them.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc

from sources.crm.amounts import DecimalEvidence, DecimalStyleError, readable, to_decimal
from sources.crm.csv_reader import CsvBlock, CsvStream, Reject, read_csv_stream
from sources.crm.landing import LandingFile
from sources.crm.settings import FILES_TABLE, QUARANTINE_TABLE, CrmSettings
from sources.crm.validation import TableRules, validate

log = logging.getLogger("mdw.crm")
# files read and validated at once, ahead of the Bronze writer (2 cores, 1M orders in 8 files: extract 10.9 s -> 8.2 s),
# when the files are large enough for it: on files of one order the threads only contend for the GIL (2,000 files:
# 38-44 s read in turn, 48 s read ahead). Since the readers got cheaper (one count of line breaks per block, the blank
# line test only where the first column is empty, two date fields compared) the writer keeps up with two: 2M orders,
# extract 8.8 s -> 7.3 s, extract peak 417 -> 552 MB (one file more held)
READ_WORKERS = 2
READ_AHEAD_MIN_MEAN_BYTES = 1 << 20

_QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("table_name", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("source_modified_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("line_number", pa.int64(), nullable=False),
        ("line_count", pa.int64()),
        ("raw_text", pa.string()),
        ("reason", pa.string()),
    ]
)
_FILES_SCHEMA = pa.schema(
    [
        pa.field("file_url", pa.string(), nullable=False),
        pa.field("file_identity", pa.string(), nullable=False),
        ("table_name", pa.string()),
        pa.field("modified_at", pa.timestamp("us", tz="UTC"), nullable=False),
        ("size_bytes", pa.int64()),
        ("generation", pa.string()),
        ("compression", pa.string()),
        ("encoding", pa.string()),
        ("line_endings", pa.string()),
        ("delimiter", pa.string()),
        ("decimal_separator", pa.string()),
        ("columns_absent", pa.string()),
        ("physical_lines", pa.int64()),
        ("blank_lines", pa.int64()),
        ("rows_read", pa.int64()),
        ("rows_loaded", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("error", pa.string()),
    ]
)
SPILL_IN_MEMORY_BYTES = 64 << 20
# columns of the raw tables' primary keys that the source adds: declared non-null, as dlt makes key columns
_KEY_LINEAGE = ("line_kind", "_source_file", "_source_modified_at", "_source_identity")


def _not_null(schema: pa.Schema, names: tuple[str, ...]) -> pa.Schema:
    for name in names:
        i = schema.get_field_index(name)
        if i >= 0:
            schema = schema.set(i, schema.field(i).with_nullable(False))
    return schema


def routed(item: Any, table: str) -> Any:
    """Send an item to ``table``. Keys and write dispositions are not set here: Bronze is append-only, and
    the framework applies the plugin's table specs (``sources.crm.tables``) when it loads the warehouse."""
    return dlt.mark.with_table_name(item, table)


@dataclass
class _FileResult:
    rejects: list[Reject] = field(default_factory=list)
    loaded: int = 0
    decimal: str | None = None
    error: str | None = None


class _Spill:
    """Validated tables of one file, kept in memory up to a size, then in an Arrow IPC temporary file."""

    def __init__(self) -> None:
        self.tables: list[pa.Table] = []
        self.size = 0
        self.file: Any = None
        self.writer: pa.ipc.RecordBatchStreamWriter | None = None
        self.schema: pa.Schema | None = None

    def add(self, table: pa.Table) -> None:
        if self.schema is None:
            self.schema = table.schema
        table = table.cast(self.schema)
        if self.writer is None and self.size + table.nbytes <= SPILL_IN_MEMORY_BYTES:
            self.tables.append(table)
            self.size += table.nbytes
            return
        if self.writer is None:
            self.file = tempfile.TemporaryFile(prefix="mdw-crm-spill-")  # noqa: SIM115 (closed by close())
            self.writer = pa.ipc.new_stream(self.file, self.schema)
            for t in self.tables:
                self.writer.write_table(t)
            self.tables = []
        self.writer.write_table(table)

    def __iter__(self) -> Iterator[pa.Table]:
        yield from self.tables
        if self.writer is not None:
            self.writer.close()
            self.file.seek(0)
            for batch in pa.ipc.open_stream(self.file):
                yield pa.Table.from_batches([batch])

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


@dataclass
class FileRead:
    """One export file version read to its end and validated; :func:`emit_file` yields its rows."""

    f: LandingFile
    table: str
    result: _FileResult
    spill: _Spill
    stream: CsvStream | None = None
    absent: list[str] | None = None
    failed: bool = False  # rejected for a failure (logged as a warning), not for its content


def read_file(f: LandingFile, fs: Any, table: str, rules: TableRules, settings: CrmSettings) -> FileRead:
    """Read and validate one export file version (the good rows wait in a bounded spill). A file that cannot be
    read is a :class:`FileRead` with its error and the reason for quarantine, never an exception. Safe to call
    from a worker thread: pyarrow's reading and compute functions release the GIL."""
    read = FileRead(f, table, _FileResult(), _Spill())
    try:
        with fs.open(_fs_path(f), "rb") as raw:
            read.stream = read_csv_stream(raw, settings.encoding, settings.delimiter, settings.max_record_lines)
            read.absent = _absent(read.stream, rules)
            evidence = _read(read.stream, rules, settings, read.spill, read.result)
        if read.stream.columns:
            read.result.decimal = settings.decimal if settings.decimal != "auto" else evidence.decide()
    except DecimalStyleError as exc:
        _drop_rows(read, _reject_records(f, fs, settings, str(exc)))
    except Exception as exc:  # any per-file failure (format, decoding, I/O): this file only, named, quarantined
        _drop_rows(read, _rejected_file(f, fs, exc), failed=True)
    return read


def _drop_rows(read: FileRead, result: _FileResult, failed: bool = False) -> None:
    read.spill.close()
    read.spill, read.result, read.absent, read.failed = _Spill(), result, None, failed


def _rejected_file(f: LandingFile, fs: Any, exc: Exception) -> _FileResult:
    result = _FileResult(error=f"file rejected: {exc}")
    result.rejects = [Reject(0, _head_text(f, fs), result.error, 0)]
    return result


def emit_file(read: FileRead, fs: Any, rules: TableRules) -> Iterator[Any]:
    """Yield the good rows of a file read by :func:`read_file`, its quarantined rows, and its ``files`` record."""
    f, table = read.f, read.table
    try:
        yield from _good_rows(f, table, rules, read.spill, read.result, read.absent or [])
    except Exception as exc:  # e.g. a value the typed columns cannot hold: the file is quarantined as one
        _drop_rows(read, _rejected_file(f, fs, exc), failed=True)
    finally:
        read.spill.close()
    if read.failed:
        log.warning("%s: %s", f.relative_path, read.result.error, extra={"mdw_table": table})
    if read.absent:
        log.warning(
            "file %s lacks column(s) %s: not delivered by it, earlier values are kept",
            f.relative_path,
            ", ".join(read.absent),
            extra={"mdw_table": table},
        )
    yield from _quarantine(f, table, read.result.rejects)
    yield routed(_file_record(f, table, read.stream, read.result, read.absent), FILES_TABLE)


def read_ahead(
    files: list[LandingFile], read: Callable[[LandingFile], FileRead], workers: int = READ_WORKERS
) -> Iterator[FileRead]:
    """``read`` each file in worker threads, at most ``workers`` ahead of the consumer, in the files' order.

    The consumer (dlt writing the previous file's rows to Bronze) and the readers run at once, and memory stays
    bounded: at most ``workers`` + 1 files are held (each in a bounded spill). ``workers`` 0: read in turn."""
    if not workers:
        yield from map(read, files)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="mdw-crm-read")
    ahead: deque[Future[FileRead]] = deque()
    todo = iter(files)
    try:
        ahead.extend(pool.submit(read, f) for f in itertools.islice(todo, workers))
        while ahead:
            done = ahead.popleft().result()
            ahead.extend(pool.submit(read, f) for f in itertools.islice(todo, 1))
            yield done
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for future in ahead:  # a consumer that stopped early: close what was read for it
            if future.done() and not future.cancelled() and future.exception() is None:
                future.result().spill.close()


def read_workers(files: list[LandingFile]) -> int:
    """How many files to read ahead: none for small files (see ``READ_AHEAD_MIN_MEAN_BYTES``)."""
    large = files and sum(f.size for f in files) / len(files) >= READ_AHEAD_MIN_MEAN_BYTES
    return READ_WORKERS if large else 0


def process_file(f: LandingFile, fs: Any, table: str, rules: TableRules, settings: CrmSettings) -> Iterator[Any]:
    """Yield the good rows of one export file version, its quarantined rows, and its ``files`` record."""
    yield from emit_file(read_file(f, fs, table, rules, settings), fs, rules)


def _fs_path(f: LandingFile) -> str:
    return f.url.removeprefix("file://") if f.url.startswith("file://") else f.url


def _absent(stream: CsvStream, rules: TableRules) -> list[str]:
    if not stream.columns:
        return []
    return sorted(c for c in rules.optional if c not in stream.columns)


def _read(
    stream: CsvStream, rules: TableRules, settings: CrmSettings, spill: _Spill, result: _FileResult
) -> DecimalEvidence:
    """Validate every block into ``spill``; collect rejects and the file's decimal evidence."""
    evidence = DecimalEvidence(", ".join(c for c, k in rules.columns.items() if k == "decimal"))
    for block in stream.blocks:
        result.rejects += block.rejects
        checked = validate(block.table, rules, settings.decimal)
        if checked.bad_lines:
            texts = block.quote_lines(checked.bad_lines)
            result.rejects += [
                Reject(ln, t, r, block.span(ln))
                for ln, t, r in zip(checked.bad_lines, texts, checked.bad_reasons, strict=True)
            ]
        good = checked.table
        if settings.decimal == "auto":
            good = _keep_ambiguous_text(good, rules, evidence, block)
        if good.num_rows:
            spill.add(good)
    return evidence


def _keep_ambiguous_text(good: pa.Table, rules: TableRules, evidence: DecimalEvidence, block: CsvBlock) -> pa.Table:
    """Add the file's evidence; keep the raw line of ambiguous amounts (they may be rejected at the end)."""
    ambiguous = None
    for name, kind in rules.columns.items():
        if kind != "decimal" or name not in good.column_names:
            continue
        text = good.column(name)
        hit = pc.fill_null(evidence.add(text, good.column("_source_line")), False)
        ambiguous = hit if ambiguous is None else pc.or_(ambiguous, hit)
    raw = pa.nulls(good.num_rows, pa.string())
    if ambiguous is not None and pc.any(ambiguous).as_py():
        lines = good.column("_source_line").filter(ambiguous).to_pylist()
        texts = iter(block.quote_lines(lines))
        raw = pa.array([next(texts) if a else None for a in ambiguous.to_pylist()], pa.string())
    return good.append_column("_raw_if_ambiguous", raw)


def _good_rows(
    f: LandingFile, table: str, rules: TableRules, spill: _Spill, result: _FileResult, absent: list[str]
) -> Iterator[Any]:
    decimals = [c for c, k in rules.columns.items() if k == "decimal"]
    for good in spill:
        if "_raw_if_ambiguous" in good.column_names:
            good = _typed_amounts(good, decimals, result)
        if not good.num_rows:
            continue
        n = good.num_rows
        if rules.refund_column:
            amount = good.column(rules.refund_column)
            negative = pc.fill_null(pc.less(amount, pa.scalar(0, amount.type)), False)
            good = good.append_column("line_kind", pc.if_else(negative, "refund", "order"))
        good = good.append_column("_source_file", pa.repeat(pa.scalar(f.url, pa.string()), n))
        good = good.append_column(
            "_source_modified_at", pa.repeat(pa.scalar(f.modified_at, pa.timestamp("us", tz="UTC")), n)
        )
        good = good.append_column("_source_identity", pa.repeat(pa.scalar(f.identity, pa.string()), n))
        good = good.append_column("_columns_absent", pa.repeat(pa.scalar(",".join(absent) or None, pa.string()), n))
        result.loaded += n
        yield routed(good.cast(_not_null(good.schema, _KEY_LINEAGE)), table)


def _typed_amounts(good: pa.Table, decimals: list[str], result: _FileResult) -> pa.Table:
    """Decimal columns read with the file's separator; values it cannot read are rejected with their line."""
    style = result.decimal or "."
    bad = None
    for name in decimals:
        text = good.column(name)
        ok = pc.fill_null(readable(text, style), False)
        miss = pc.and_(pc.is_valid(text), pc.invert(ok))
        bad = miss if bad is None else pc.or_(bad, miss)
        typed = pc.if_else(pc.is_valid(text), to_decimal(pc.fill_null(text, "0"), style, ok), None)
        good = good.set_column(good.schema.get_field_index(name), name, typed)
    if bad is not None and pc.any(bad).as_py():
        rejected = good.filter(bad)
        for ln, text in zip(
            rejected.column("_source_line").to_pylist(), rejected.column("_raw_if_ambiguous").to_pylist(), strict=True
        ):
            result.rejects.append(
                Reject(
                    ln,
                    text or "",
                    f"ambiguous amount: not a number with the file's '{style}' decimals",
                    (text or "").count("\n") + 1,
                )
            )
        good = good.filter(pc.invert(bad))
    return good.drop_columns(["_raw_if_ambiguous"])


def _reject_records(f: LandingFile, fs: Any, settings: CrmSettings, reason: str) -> _FileResult:
    """Quarantine every record of the file with ``reason`` (records already rejected keep their own)."""
    result = _FileResult(error=f"file rejected: {reason}")
    with fs.open(_fs_path(f), "rb") as raw:
        stream = read_csv_stream(raw, settings.encoding, settings.delimiter, settings.max_record_lines)
        for block in stream.blocks:
            result.rejects += block.rejects
            lines = block.table.column("_source_line").to_pylist()
            texts = block.quote_lines(lines)
            result.rejects += [Reject(ln, t, reason, block.span(ln)) for ln, t in zip(lines, texts, strict=True)]
    return result


def _head_text(f: LandingFile, fs: Any, limit: int = 200) -> str:
    try:
        with fs.open(_fs_path(f), "rb") as raw:
            head = raw.read(limit)
    except Exception:  # the reason already says why the file could not be read
        return ""
    return head.decode("utf-8", "backslashreplace")


def _quarantine(f: LandingFile, table: str, rejects: list[Reject]) -> Iterator[Any]:
    if not rejects:
        return
    rejects.sort(key=lambda r: r.line)
    yield routed(
        pa.table(
            {
                "table_name": [table] * len(rejects),
                "source_file": [f.url] * len(rejects),
                "source_modified_at": [f.modified_at] * len(rejects),
                "line_number": [r.line for r in rejects],
                "line_count": [r.lines for r in rejects],
                "raw_text": [r.raw_text for r in rejects],
                "reason": [r.reason for r in rejects],
            },
            schema=_QUARANTINE_SCHEMA,
        ),
        QUARANTINE_TABLE,
    )


def _file_record(
    f: LandingFile, table: str, stream: CsvStream | None, result: _FileResult, absent: list[str] | None
) -> pa.Table:
    ok = result.error is None and stream is not None
    row = {
        "file_url": f.url,
        "file_identity": f.identity,
        "table_name": table,
        "modified_at": f.modified_at,
        "size_bytes": f.size,
        "generation": f.generation or None,
        "compression": stream.compression if stream else None,
        "encoding": stream.encoding if stream else None,
        "line_endings": stream.line_endings if stream else None,
        "delimiter": stream.delimiter if stream else None,
        "decimal_separator": result.decimal if ok else None,
        "columns_absent": ",".join(absent) if absent else None,
        "physical_lines": stream.physical_lines if stream else None,
        "blank_lines": stream.blank_lines if stream else 0,
        "rows_read": result.loaded + len(result.rejects),
        "rows_loaded": result.loaded,
        "rows_quarantined": len(result.rejects),
        "error": result.error,
    }
    return pa.Table.from_pylist([row], schema=_FILES_SCHEMA)
