"""Parsing a CSV export block by block into string columns, with every physical line accounted for.

Parsing is columnar (pyarrow's CSV reader) on blocks of whole lines (``file_format``), so memory is bounded by
the block size. Python only walks rows on rare paths (quoting rejected lines back, a block whose last record is
cut by the block end).

Accounting: every physical line after the header is a blank line, or part of exactly one record; a record is
either returned (in ``table``, with the physical line it starts on) or rejected (with its first line, the
number of lines it spans, its text and a reason). Quoted values may hold delimiters, quotes and line breaks.

A quote that never closes would swallow the rest of the file into one value. So a record that ends inside a
quoted value at the end of the file, or that spans more than ``max_record_lines`` physical lines, is treated as
broken: its first line is rejected ("unbalanced quote ...") and parsing resumes on the next line, so the lines
after a stray quote are read as what they are.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from sources.crm.file_format import BLOCK_SIZE, REPLACEMENT, CsvFileError, open_text
from sources.crm.settings import DELIMITERS as _SETTING_DELIMITERS

MAX_RECORD_LINES = 100
_REPLACEMENT_CHAR = REPLACEMENT.decode()

DELIMITERS = tuple(d for d in _SETTING_DELIMITERS if d != "auto")  # sniffed from the header

__all__ = ["CsvFileError", "CsvBlock", "CsvStream", "Reject", "read_csv_stream", "DELIMITERS"]


@dataclass
class Reject:
    line: int  # first physical line of the record
    raw_text: str
    reason: str
    lines: int = 1  # physical lines the record spans


@dataclass
class CsvBlock:
    """String columns of the accepted records of one block, plus its rejected records."""

    table: pa.Table  # the header's columns (all string) + int64 `_source_line` (line the record starts on)
    rejects: list[Reject]
    data: bytes = field(repr=False, default=b"")  # the UTF-8 lines parsed (to quote lines back)
    first_line: int = 2
    multi_line: dict[int, int] = field(default_factory=dict)  # start line -> lines, of records spanning several

    def span(self, line: int) -> int:
        """Physical lines of the record starting on ``line``."""
        return self.multi_line.get(line, 1)

    def quote_lines(self, lines: list[int]) -> list[str]:
        """Raw text of the records starting on physical ``lines`` of this block (all their lines)."""
        rel = [ln - self.first_line + 1 for ln in lines]
        return quote_lines(self.data, rel, [self.span(ln) for ln in lines])


@dataclass
class CsvStream:
    """One file: its header and delimiter, its blocks (a one-shot iterator), and running line counts."""

    columns: list[str]
    delimiter: str
    encoding: str
    compression: str | None
    line_endings: str
    blocks: Iterator[CsvBlock] = field(repr=False, default_factory=lambda: iter(()))
    physical_lines: int = 0  # every line of the file, header included (filled as blocks are read)
    blank_lines: int = 0


def quote_lines(data: bytes, lines: list[int], counts: list[int] | None = None) -> list[str]:
    """Text of physical lines ``lines[i]`` .. ``lines[i] + counts[i] - 1`` of ``data`` (1-based)."""
    if not lines:
        return []
    counts = counts or [1] * len(lines)
    offsets = np.concatenate(([0], np.flatnonzero(np.frombuffer(data, np.uint8) == 10) + 1))
    out = []
    for ln, c in zip(lines, counts, strict=True):
        if ln < 1 or ln > len(offsets) - 1:
            out.append("")
            continue
        end = offsets[min(ln - 1 + c, len(offsets) - 1)]
        out.append(data[offsets[ln - 1] : end].decode("utf-8", "replace").rstrip("\n"))
    return out


def _sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _header(line: bytes, delimiter: str) -> tuple[list[str], str]:
    text = line.decode("utf-8").rstrip("\n")
    if not text.strip():
        raise CsvFileError("the first line (header) is empty")
    if _REPLACEMENT_CHAR in text:
        raise CsvFileError("the header line is not valid text in the file's encoding")
    delimiter = _sniff_delimiter(text) if delimiter == "auto" else delimiter
    names = [n.strip().lower() for n in next(csv.reader([text], delimiter=delimiter))]
    if any(not n for n in names):
        raise CsvFileError(f"the header has an empty column name: {text!r}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CsvFileError(f"the header repeats column(s) {', '.join(dupes)}")
    return names, delimiter


def read_csv_stream(
    raw: IO[bytes],
    encoding: str = "auto",
    delimiter: str = "auto",
    max_record_lines: int = MAX_RECORD_LINES,
    block_size: int = BLOCK_SIZE,
) -> CsvStream:
    """Open one CSV export: read its header now, and its records block by block as ``blocks`` is iterated."""
    text = open_text(raw, encoding, block_size)
    first = next(text.blocks, b"")
    cut = first.find(b"\n") + 1
    if not first.strip():
        # empty, or only blank lines: no header, no rows
        stream = CsvStream([], delimiter if delimiter != "auto" else ",", text.encoding, text.compression, "none")
        stream.physical_lines = stream.blank_lines = first.count(b"\n")
        return stream
    names, delimiter = _header(first[:cut], delimiter)
    stream = CsvStream(names, delimiter, text.encoding, text.compression, text.line_endings)
    stream.blocks = _blocks(stream, first[cut:], text.blocks, max_record_lines)
    return stream


def _blocks(stream: CsvStream, first: bytes, rest: Iterator[bytes], max_lines: int) -> Iterator[CsvBlock]:
    stream.physical_lines = 1
    pending, line = b"", 2
    sources = _chain(iter([first]), rest)
    block = next(sources, None)
    while block is not None or pending:
        nxt = next(sources, None) if block is not None else None
        final = nxt is None
        data = pending + (block or b"")
        pending = b""
        while data:
            n_lines = data.count(b"\n")  # once per pass over the data (a full scan of it)
            parsed, rest_data, rest_line, reparse = _parse_block(stream, data, line, final, max_lines, n_lines)
            stream.physical_lines += (rest_line - line) if rest_data else n_lines
            if parsed.table.num_rows or parsed.rejects:
                yield parsed
            if not rest_data:
                line += n_lines
                data = b""
                break
            line = rest_line
            if reparse:
                data = rest_data
                continue
            pending, data = rest_data, b""
        block = nxt


def _chain(*iterators: Iterator[bytes]) -> Iterator[bytes]:
    for it in iterators:
        for item in it:
            if item:
                yield item


def _parse_block(
    stream: CsvStream, data: bytes, first_line: int, final: bool, max_lines: int, n_lines: int
) -> tuple[CsvBlock, bytes, int, bool]:
    """Parse whole lines ``data`` (``n_lines`` line breaks) starting on physical line ``first_line``.

    Returns the block, and the bytes still to parse (with their first line number and whether to parse them
    at once — after a broken record — or together with the next block — a record cut by the block end).
    """
    names = stream.columns
    invalid: list[tuple[int, str, int]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append((row.number, row.text, row.actual_columns))
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(use_threads=False, column_names=names, block_size=len(data) + 1),
        parse_options=pacsv.ParseOptions(
            delimiter=stream.delimiter,
            newlines_in_values=True,
            ignore_empty_lines=False,
            invalid_row_handler=on_invalid,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=False, check_utf8=False
        ),
    )
    n_records = table.num_rows + len(invalid)
    valid_numbers = _valid_numbers(n_records, invalid)
    spans = np.ones(n_records, np.int64) if n_records == n_lines else _spans(table, invalid, valid_numbers, n_records)
    starts = np.concatenate(([0], np.cumsum(spans)[:-1])).astype(np.int64)[:n_records]
    records = (table, invalid, valid_numbers, spans, starts)
    broken: Reject | None = None
    rest: tuple[bytes, int, bool] = (b"", 0, False)
    # the last record may be cut by the block end (or the file end) inside a quoted value
    last_line = data[data.rfind(b"\n", 0, len(data) - 1) + 1 :]
    offsets = _line_offsets(data) if n_records and (n_records != n_lines or b'"' in last_line) else None
    if offsets is not None:
        last = int(starts[-1])
        last_span = n_lines - last  # the lines the last record really covers
        tail = data[offsets[last] :]
        if last_span > max_lines or (
            b'"' in tail and _ends_inside_quotes(tail.decode("utf-8", "replace"), stream.delimiter)
        ):
            records = _keep_first(*records, n_records - 1)
            if not final and last_span <= max_lines:
                rest = (tail, first_line + last, False)  # cut by the block end: parse again with the next block
            elif last_span <= max_lines:
                broken = Reject(
                    first_line + last,
                    tail.decode("utf-8", "replace").rstrip("\n"),
                    "unbalanced quote: the file ends inside a quoted value of this record (a truncated file?)",
                    last_span,
                )
            else:
                broken = _unbalanced(data, offsets, first_line, last, f"it spans over {max_lines} lines")
                rest = (data[offsets[last + 1] :], first_line + last + 1, True)
        # a record inside the data that spans too many lines (two stray quotes far apart): the same treatment
        over = np.flatnonzero(records[3] > max_lines)
        if len(over):
            k = int(over[0])
            at = int(records[4][k])
            broken = _unbalanced(data, offsets, first_line, at, f"it spans {int(records[3][k])} lines")
            rest = (data[offsets[at + 1] :], first_line + at + 1, True)
            records = _keep_first(*records, k)
    block = _finish(stream, data, first_line, *records)
    if broken is not None:
        block.rejects.append(broken)
        block.rejects.sort(key=lambda r: r.line)
    return block, *rest


def _unbalanced(data: bytes, offsets: np.ndarray, first_line: int, at: int, why: str) -> Reject:
    text = data[offsets[at] : offsets[at + 1]].decode("utf-8", "replace").rstrip("\n")
    return Reject(
        first_line + at,
        text,
        f"unbalanced quote: a quoted value opened on this line never closes ({why}); "
        "the lines after it are read again as records",
    )


def _valid_numbers(n_records: int, invalid: list[tuple[int, str, int]]) -> np.ndarray:
    """Record numbers (1-based, as pyarrow counts them) of the accepted records, in order."""
    numbers = np.arange(1, n_records + 1)
    if invalid:
        numbers = numbers[~np.isin(numbers, [num for num, _, _ in invalid])]
    return numbers


def _spans(table: pa.Table, invalid: list, valid_numbers: np.ndarray, n_records: int) -> np.ndarray:
    """Physical lines per record: one more than the line breaks inside its values."""
    breaks = np.zeros(n_records, np.int64)
    per_row = None
    for name in table.column_names:
        c = pc.count_substring(table.column(name), "\n")
        per_row = c if per_row is None else pc.add(per_row, c)
    if per_row is not None and table.num_rows:
        breaks[valid_numbers - 1] = np.asarray(per_row.to_numpy(), np.int64)
    for num, text, _ in invalid:
        breaks[num - 1] = text.count("\n")
    return breaks + 1


def _line_offsets(data: bytes) -> np.ndarray:
    """Byte offset of the start of every line of ``data``, plus ``len(data)`` at the end."""
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10) + 1
    offsets = np.concatenate(([0], ends))
    return offsets if offsets[-1] == len(data) else np.concatenate((offsets, [len(data)]))


_QUOTED = re.compile(r'"[^"]*(?:""[^"]*)*"')


def _ends_inside_quotes(text: str, delimiter: str) -> bool:
    """Whether a CSV record's text ends inside a quoted value (quotes count only at the start of a value)."""
    unquoted = re.compile(f"[^{re.escape(delimiter)}\\n]*")
    pos, n = 0, len(text)
    while pos < n:
        if text[pos] == '"':
            m = _QUOTED.match(text, pos)
            if m is None:
                return True
            pos = m.end()
        pos = unquoted.match(text, pos).end() + 1
    return False


def _keep_first(table, invalid, valid_numbers, spans, starts, k: int):
    """Only the first ``k`` records (0-based record positions < k)."""
    table = table.slice(0, int(np.searchsorted(valid_numbers, k, side="right")))
    invalid = [row for row in invalid if row[0] <= k]
    valid_numbers = valid_numbers[valid_numbers <= k]
    return table, invalid, valid_numbers, spans[:k], starts[:k]


def _finish(
    stream: CsvStream,
    data: bytes,
    first_line: int,
    table: pa.Table,
    invalid: list[tuple[int, str, int]],
    valid_numbers: np.ndarray,
    spans: np.ndarray,
    starts: np.ndarray,
) -> CsvBlock:
    """Attach start lines, drop blank lines, reject invalid and undecodable records."""
    n_columns = len(stream.columns)
    line_of = first_line + starts
    table = table.append_column("_source_line", pa.array(line_of[valid_numbers - 1], pa.int64()))
    rejects: list[Reject] = []
    # a blank line parses as a record whose values are all empty; `,,` (empty values) is a data line
    empty = None
    for name in stream.columns:  # stops once no row is empty in every column so far (usually after the first)
        e = pc.equal(pc.binary_length(table.column(name)), 0)
        empty = e if empty is None else pc.and_(empty, e)
        if not pc.any(empty).as_py():
            break
    if empty is not None and pc.any(empty).as_py():
        offsets = _line_offsets(data)
        lengths = np.diff(offsets)
        rel = table.column("_source_line").to_numpy() - first_line
        blank = np.asarray(empty.to_numpy(zero_copy_only=False), bool) & (lengths[rel] <= 1)
        if blank.any():
            stream.blank_lines += int(blank.sum())
            table = table.filter(pa.array(~blank))
    for num, text, actual in invalid:
        if actual == 1 and not text.strip() and "\n" not in text:
            stream.blank_lines += 1
            continue
        rejects.append(
            Reject(
                int(line_of[num - 1]),
                text,
                f"wrong column count: {actual} fields, the header has {n_columns}",
                int(spans[num - 1]),
            )
        )
    if REPLACEMENT in data:
        bad = None
        for name in stream.columns:
            hit = pc.match_substring(table.column(name), _REPLACEMENT_CHAR)
            bad = hit if bad is None else pc.or_(bad, hit)
        if bad is not None and pc.any(bad).as_py():
            rejected = table.filter(bad)
            table = table.filter(pc.invert(bad))
            lines = rejected.column("_source_line").to_pylist()
            rel = [ln - first_line + 1 for ln in lines]
            spans_of = [int(spans[np.searchsorted(starts, r - 1)]) for r in rel]
            for ln, text, c in zip(lines, quote_lines(data, rel, spans_of), spans_of, strict=True):
                rejects.append(Reject(ln, text, "undecodable bytes: the line is not valid in the file's encoding", c))
    multi = {int(first_line + a): int(b) for a, b in zip(starts[spans > 1], spans[spans > 1], strict=True)}
    return CsvBlock(table, rejects, data, first_line, multi)
