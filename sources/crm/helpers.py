"""Per-file processing of CRM exports: parse, validate, and route rows to their tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import dlt
import pyarrow as pa

from sources.crm.csv_reader import CsvFileError, ParsedCsv, Reject, parse_csv, quote_lines
from sources.crm.settings import FILES_TABLE, QUARANTINE_TABLE
from sources.crm.validation import TableRules, validate

_QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("table_name", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("source_modified_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("line_number", pa.int64(), nullable=False),
        ("raw_text", pa.string()),
        ("reason", pa.string()),
    ]
)
_FILES_SCHEMA = pa.schema(
    [
        pa.field("file_url", pa.string(), nullable=False),
        ("table_name", pa.string()),
        pa.field("modified_at", pa.timestamp("us", tz="UTC"), nullable=False),
        ("size_bytes", pa.int64()),
        ("encoding", pa.string()),
        ("delimiter", pa.string()),
        ("blank_lines", pa.int64()),
        ("rows_read", pa.int64()),
        ("rows_loaded", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("error", pa.string()),
    ]
)


def _routed(item: Any, table: str) -> Any:
    """Send an item to ``table``. Keys and write dispositions are not set here: Bronze is append-only, and
    the framework applies the plugin's table specs (``sources.crm.tables``) when it loads the warehouse."""
    return dlt.mark.with_table_name(item, table)


def row_version(modified_at: datetime, line: pa.Array | int) -> Any:
    """Ordering of row versions: file modification second, then line (see tables._LATEST_ROW)."""
    base = int(modified_at.timestamp()) * 1_000_000_000
    if isinstance(line, int):
        return base + line
    return pa.compute.add(line, pa.scalar(base, pa.int64()))


def process_file(item: dict[str, Any], table: str, rules: TableRules, encoding: str) -> Iterator[Any]:
    """Yield the good rows of one export file, its quarantined rows, and its ``files`` record."""
    file_url: str = item["file_url"]
    modified_at: datetime = item["modification_date"]
    raw = item.read_bytes()
    rejects: list[Reject]
    error = None
    try:
        parsed: ParsedCsv | None = parse_csv(raw, encoding)
    except CsvFileError as exc:
        parsed, error = None, f"file rejected: {exc}"
        rejects = _reject_whole_file(raw, error)
    loaded = 0
    if parsed is not None:
        rejects = list(parsed.rejects)
        result = validate(parsed.table, rules, decimal_comma=parsed.delimiter == ";")
        if result.bad_lines:
            texts = parsed.quote_lines(result.bad_lines)
            rejects += [Reject(ln, t, r) for ln, t, r in zip(result.bad_lines, texts, result.bad_reasons, strict=True)]
        good = result.table
        loaded = good.num_rows
        if loaded:
            n = good.num_rows
            good = good.append_column("_source_file", pa.repeat(pa.scalar(file_url, pa.string()), n))
            modified = pa.scalar(modified_at, pa.timestamp("us", tz="UTC"))
            good = good.append_column("_source_modified_at", pa.repeat(modified, n))
            good = good.append_column("_row_version", row_version(modified_at, good.column("_source_line")))
            yield _routed(good, table)
    rejects.sort(key=lambda r: r.line)
    if rejects:
        yield _routed(
            pa.table(
                {
                    "table_name": [table] * len(rejects),
                    "source_file": [file_url] * len(rejects),
                    "source_modified_at": [modified_at] * len(rejects),
                    "line_number": [r.line for r in rejects],
                    "raw_text": [r.raw_text for r in rejects],
                    "reason": [r.reason for r in rejects],
                },
                schema=_QUARANTINE_SCHEMA,
            ),
            QUARANTINE_TABLE,
        )
    file_row = {
        "file_url": file_url,
        "table_name": table,
        "modified_at": modified_at,
        "size_bytes": len(raw),
        "encoding": parsed.encoding if parsed else None,
        "delimiter": parsed.delimiter if parsed else None,
        "blank_lines": parsed.blank_lines if parsed else 0,
        "rows_read": loaded + len(rejects),
        "rows_loaded": loaded,
        "rows_quarantined": len(rejects),
        "error": error,
    }
    yield _routed(pa.Table.from_pylist([file_row], schema=_FILES_SCHEMA), FILES_TABLE)


def _reject_whole_file(raw: bytes, reason: str) -> list[Reject]:
    """Quarantine every non-blank line after the header of a file that cannot be parsed at all."""
    lines = raw.split(b"\n")
    numbers = [i + 1 for i, line in enumerate(lines) if i > 0 and line.strip()]
    texts = quote_lines(raw.decode("utf-8", "backslashreplace").encode("utf-8"), numbers)
    return [Reject(n, t, reason) for n, t in zip(numbers, texts, strict=True)]
