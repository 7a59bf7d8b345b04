"""Turning the bytes of one CSV export into string columns, with every rejected line accounted for.

Parsing is columnar (pyarrow's CSV reader); nothing here loops over rows in Python except on the rare
path where lines have to be quoted back in a quarantine record.

What is handled per file:
- UTF-8 with or without BOM; legacy 8-bit files (Windows-1252/Latin-1) are detected and transcoded when the
  encoding is ``auto``; in a UTF-8 file, lines with undecodable bytes are rejected one by one;
- the delimiter (``,`` ``;`` tab ``|``) is sniffed from the header line;
- quoted values may contain delimiters, quotes and newlines;
- blank lines are skipped (they are not data rows); lines with the wrong number of fields are rejected.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

DELIMITERS = (",", ";", "\t", "|")
ENCODINGS = ("auto", "utf-8", "windows-1252", "latin-1")
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_REPLACEMENT = "\ufffd"


class CsvFileError(ValueError):
    """The file as a whole cannot be read (its rows are quarantined with this reason)."""


@dataclass
class Reject:
    line: int
    raw_text: str
    reason: str


@dataclass
class ParsedCsv:
    """String columns of the accepted records plus the rejected lines of one file."""

    table: pa.Table  # all columns string, plus int64 `_source_line` (physical line where the record starts)
    rejects: list[Reject]
    encoding: str
    delimiter: str
    blank_lines: int = 0
    data: bytes = field(repr=False, default=b"")  # the UTF-8 bytes parsed (to quote lines back)

    @property
    def rows_read(self) -> int:
        """Data rows in the file: accepted records plus rejected lines (blank lines are not rows)."""
        return self.table.num_rows + len(self.rejects)

    def quote_lines(self, lines: list[int], counts: list[int] | None = None) -> list[str]:
        """The raw text of the records starting at ``lines`` (1-based), ``counts`` physical lines each."""
        return quote_lines(self.data, lines, counts)


def quote_lines(data: bytes, lines: list[int], counts: list[int] | None = None) -> list[str]:
    """Return the text of physical lines ``lines[i]`` .. ``lines[i] + counts[i] - 1`` of ``data`` (1-based)."""
    if not lines:
        return []
    counts = counts or [1] * len(lines)
    last = max(ln + c for ln, c in zip(lines, counts, strict=True))
    # offsets[k] = byte offset where physical line k + 1 starts; only walked up to the last wanted line
    offsets, pos = [0], 0
    while len(offsets) < last:
        nxt = data.find(b"\n", pos)
        if nxt == -1:
            break
        pos = nxt + 1
        offsets.append(pos)
    offsets.append(len(data) + 1)
    out = []
    for ln, c in zip(lines, counts, strict=True):
        if ln - 1 >= len(offsets) - 1:
            out.append("")
            continue
        start, end = offsets[ln - 1], offsets[min(ln - 1 + c, len(offsets) - 1)] - 1
        out.append(data[start : max(start, end)].decode("utf-8", "replace").rstrip("\r\n"))
    return out


def _decode(raw: bytes, encoding: str) -> tuple[bytes, str]:
    """Return UTF-8 bytes (undecodable bytes replaced by U+FFFD) and the encoding that was used."""
    bom = raw.startswith(b"\xef\xbb\xbf")
    if bom:
        raw = raw[3:]
    if encoding not in ENCODINGS:
        raise CsvFileError(f"unsupported encoding '{encoding}' (use one of {', '.join(ENCODINGS)})")
    if encoding in ("windows-1252", "latin-1"):
        return raw.decode(encoding, "replace").encode("utf-8"), encoding
    try:
        raw.decode("utf-8")
        return raw, "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError:
        pass
    if encoding == "auto" and not bom and not _UTF8_MULTIBYTE.search(raw):
        # no valid multi-byte UTF-8 sequence anywhere: an 8-bit legacy export, not damaged UTF-8
        try:
            return raw.decode("windows-1252").encode("utf-8"), "windows-1252"
        except UnicodeDecodeError:
            return raw.decode("latin-1").encode("utf-8"), "latin-1"
    return raw.decode("utf-8", "replace").encode("utf-8"), "utf-8-sig" if bom else "utf-8"


def _sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse_csv(raw: bytes, encoding: str = "auto") -> ParsedCsv:
    """Parse one CSV export into string columns named by its (normalised) header."""
    data, used_encoding = _decode(raw, encoding)
    if data and not data.endswith(b"\n"):
        data += b"\n"  # a last line without a newline is still a line
    first_nl = data.find(b"\n")
    header_line = (data if first_nl == -1 else data[:first_nl]).decode("utf-8").strip("\r")
    if not header_line.strip():
        if data.strip():
            raise CsvFileError("the first line (header) is empty")
        return ParsedCsv(pa.table({"_source_line": pa.array([], pa.int64())}), [], used_encoding, ",", data=data)
    delimiter = _sniff_delimiter(header_line)
    names = [n.strip().lower() for n in next(csv.reader([header_line], delimiter=delimiter))]
    if any(not n for n in names):
        raise CsvFileError(f"the header has an empty column name: {header_line!r}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CsvFileError(f"the header repeats column(s) {', '.join(dupes)}")

    invalid: list[tuple[int, str, int]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append((row.number, row.text, row.actual_columns))
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(use_threads=False, column_names=names, skip_rows=1, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter,
            newlines_in_values=True,
            ignore_empty_lines=False,
            invalid_row_handler=on_invalid,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=False, check_utf8=True
        ),
    )
    table, blank_lines, rejects = _number_records(table, invalid, data, len(names))
    # lines whose bytes were not valid UTF-8 (decoded to U+FFFD)
    if used_encoding.startswith("utf-8") and _REPLACEMENT.encode() in data:
        bad = _any_column(table, lambda col: pc.match_substring(col, _REPLACEMENT))
        table, rejected = _split(table, bad)
        lines = rejected.column("_source_line").to_pylist()
        for ln, text in zip(lines, quote_lines(data, lines), strict=True):
            rejects.append(Reject(ln, text, "undecodable bytes: the line is not valid UTF-8"))
        rejects.sort(key=lambda r: r.line)
    return ParsedCsv(table, rejects, used_encoding, delimiter, blank_lines, data)


def _any_column(table: pa.Table, predicate) -> pa.ChunkedArray:
    mask = None
    for name in table.column_names:
        if name.startswith("_source"):
            continue
        hit = predicate(table.column(name))
        mask = hit if mask is None else pc.or_(mask, hit)
    return mask if mask is not None else pa.chunked_array([pa.array([False] * table.num_rows)])


def _split(table: pa.Table, mask) -> tuple[pa.Table, pa.Table]:
    return table.filter(pc.invert(mask)), table.filter(mask)


def _number_records(
    table: pa.Table, invalid: list[tuple[int, str, int]], data: bytes, n_columns: int
) -> tuple[pa.Table, int, list[Reject]]:
    """Attach the physical start line to every record and turn invalid records into rejects.

    pyarrow reports invalid rows by record number (header = 1) when read single-threaded; accepted
    records fill the remaining numbers in order. Records spanning several physical lines (quoted
    newlines) shift the physical line numbers of the records after them.
    """
    n_records = table.num_rows + len(invalid)
    invalid_numbers = {num for num, _, _ in invalid}
    record_numbers = (
        pa.array([n for n in range(2, n_records + 2) if n not in invalid_numbers], pa.int64())
        if invalid
        else pa.array(range(2, n_records + 2), pa.int64())
    )
    physical_lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    extra_newlines = physical_lines - 1 - n_records  # > 0 only if values contain newlines
    if extra_newlines > 0:
        per_row = None
        for name in table.column_names:
            c = pc.count_substring(table.column(name), "\n")
            per_row = c if per_row is None else pc.add(per_row, c)
        per_record = dict.fromkeys(range(2, n_records + 2), 0)
        for rec, cnt in zip(record_numbers.to_pylist(), per_row.to_pylist(), strict=True):
            per_record[rec] = cnt
        for num, text, _ in invalid:
            per_record[num] = text.count("\n")
        shift, lines = 0, {}
        for rec in range(2, n_records + 2):
            lines[rec] = rec + shift
            shift += per_record[rec]
        line_of = lines.__getitem__
        source_line = pa.array([line_of(r) for r in record_numbers.to_pylist()], pa.int64())
    else:

        def line_of(rec: int) -> int:
            return rec

        source_line = record_numbers
    table = table.append_column("_source_line", source_line)
    # a blank line parses as one empty field: not a data row
    blank = None
    for name in table.column_names[:-1]:
        empty = pc.equal(pc.utf8_length(table.column(name)), 0)
        blank = empty if blank is None else pc.and_(blank, empty)
    blank_lines = 0
    if blank is not None and n_columns > 1:
        blank_lines = pc.sum(blank).as_py() or 0
    rejects = []
    for num, text, actual in invalid:
        if actual == 1 and not text.strip():
            blank_lines += 1
            continue
        rejects.append(Reject(line_of(num), text, f"wrong column count: {actual} fields, the header has {n_columns}"))
    if blank_lines and blank is not None and n_columns > 1:
        table = table.filter(pc.invert(blank))
    return table, blank_lines, rejects
