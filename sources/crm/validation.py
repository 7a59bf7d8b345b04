"""Column rules for CRM exports: typed columns for good rows, a reason for every bad one.

Everything is vectorised with pyarrow compute; Python only composes the reason text of failing rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from sources.crm.amounts import DECIMAL_TYPE, readable, to_decimal

Kind = Literal["string", "timestamp", "date", "decimal", "int", "bool", "currency"]

_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})?$"
_DATE = r"^\d{4}-\d{2}-\d{2}$"
_INT = r"^\d+$"
_CURRENCY = r"^[A-Za-z]{3}$"
_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]


@dataclass(frozen=True)
class TableRules:
    """Expected columns of one export, their kinds, and which must be present."""

    columns: dict[str, Kind]
    key: str
    required: tuple[str, ...] = ()
    # a decimal column whose negative values make a row a refund line (column ``line_kind``: order | refund)
    refund_column: str | None = None

    @property
    def optional(self) -> tuple[str, ...]:
        """Columns a file may leave out of its header (the key and required columns may not)."""
        return tuple(c for c in self.columns if c != self.key and c not in self.required)


@dataclass
class Validated:
    table: pa.Table  # typed good rows (expected columns first, then unknown extra columns as strings)
    bad_lines: list[int]
    bad_reasons: list[str]


def _normalise_timestamp(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Canonical ISO-8601: 'T' separator, '+HH:MM' offsets, 'Z' as '+00:00'; naive values stay naive.

    Each rewrite runs only if some value needs it (the cheap test first: regex replacement is slow).
    """
    if pc.any(pc.equal(pc.utf8_slice_codeunits(col, 10, 11), " ")).as_py():
        col = pc.replace_substring_regex(col, r"^(\d{4}-\d{2}-\d{2}) ", r"\1T")
    if pc.any(pc.ends_with(col, "Z")).as_py():
        col = pc.replace_substring_regex(col, r"Z$", "+00:00")
    if pc.any(pc.match_substring_regex(col, r"[+-]\d{4}$")).as_py():
        col = pc.replace_substring_regex(col, r"([+-]\d{2})(\d{2})$", r"\1:\2")
    return col


def _check(
    kind: Kind, col: pa.ChunkedArray, text: pa.ChunkedArray, decimal: str
) -> tuple[pa.ChunkedArray, pa.ChunkedArray | None, str]:
    """Return (typed column with nulls where empty or bad, bad mask, reason) for non-empty values.

    ``col``: the values as read; ``text``: the same trimmed of whitespace (strings, amounts, integers, flags and
    currencies are read trimmed; timestamps and dates must match their shape exactly).

    ``decimal``: the separator of decimal columns (``.`` or ``,``), or ``auto`` to keep them as trimmed text
    readable with either (the file's separator is decided when the whole file has been read, ``amounts``).
    """
    if kind == "string":
        return text, None, ""
    if kind == "timestamp":
        shape = pc.match_substring_regex(col, _TIMESTAMP)
        # calendar validity of the date and time part (month 13, hour 25 ...)
        head = pc.replace_substring(pc.utf8_slice_codeunits(col, 0, 19), "T", " ")
        parsed = pc.strptime(head, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
        ok = pc.and_(shape, _round_trips(parsed, head, "%Y-%m-%d %H:%M:%S"))
        return _normalise_timestamp(col), pc.invert(ok), "unparseable timestamp"
    if kind == "date":
        parsed = pc.strptime(col, format="%Y-%m-%d", unit="s", error_is_null=True)
        ok = pc.and_(pc.match_substring_regex(col, _DATE), _round_trips(parsed, col, "%Y-%m-%d"))
        return pc.cast(parsed, pa.date32()), pc.invert(ok), "unparseable date"
    if kind == "decimal":
        ok = readable(text, decimal)
        if decimal == "auto":
            return text, pc.invert(ok), "non-numeric"
        return to_decimal(text, decimal, ok), pc.invert(ok), "non-numeric"
    if kind == "int":
        ok = pc.match_substring_regex(text, _INT)
        return pc.cast(pc.if_else(ok, text, "0"), pa.int64()), pc.invert(ok), "not an integer"
    if kind == "bool":
        lower = pc.utf8_lower(text)
        is_true = pc.is_in(lower, pa.array(_TRUE))
        ok = pc.or_(is_true, pc.is_in(lower, pa.array(_FALSE)))
        return is_true, pc.invert(ok), "not a boolean"
    if kind == "currency":
        upper = pc.utf8_upper(text)
        return upper, pc.invert(pc.match_substring_regex(upper, _CURRENCY)), "not a 3-letter currency code"
    raise ValueError(f"unknown column kind {kind!r}")


def _round_trips(parsed: pa.ChunkedArray, text: pa.ChunkedArray, fmt: str) -> pa.ChunkedArray:
    """True where the parsed value has the same fields as the text (strptime normalises e.g. Feb 30).

    Arrow's strptime range-checks every field (month 1-12, day 1-31, hour 0-23, minute 0-59, second 0-61) and then
    normalises what is left out of range: a day past its month's end (Feb 30 -> Mar 1) and a leap second (23:59:60
    -> 00:00:00 the next day). Either changes the day of month or the second, so those two fields are compared
    (formatting back with strftime is ~10x slower).
    """
    fields = [(pc.day, 8, 10)]
    if "%S" in fmt:
        fields.append((pc.second, 17, 19))
    ok = pc.is_valid(parsed)
    safe = pc.if_else(ok, text, "0000-00-00 00:00:00")
    for part, start, stop in fields:
        written = pc.cast(pc.utf8_slice_codeunits(safe, start, stop), pa.int64(), safe=False)
        ok = pc.and_(ok, pc.equal(part(parsed), written))
    return pc.fill_null(ok, False)


def validate(table: pa.Table, rules: TableRules, decimal: str = ".") -> Validated:
    """Split string columns into typed good rows and (line, reason) of bad rows."""
    n = table.num_rows
    problems: list[tuple[pa.ChunkedArray, str]] = []
    typed: dict[str, pa.ChunkedArray] = {}
    for name, kind in rules.columns.items():
        if name not in table.column_names:
            if name == rules.key or name in rules.required:
                problems.append((pa.chunked_array([pa.array([True] * n, pa.bool_())]), f"no column {name}"))
            typed[name] = pa.chunked_array([pa.nulls(n, _arrow_type(kind))])
            continue
        raw = table.column(name)
        text = pc.utf8_trim_whitespace(raw)  # once per column: each pass copies every value
        empty = pc.equal(pc.binary_length(text), 0)  # bytes: no decoding (utf8_length counts characters)
        if name == rules.key:
            problems.append((empty, f"missing key {name}"))
        elif name in rules.required:
            problems.append((empty, f"missing {name}"))
        values, bad, reason = _check(kind, raw, text, decimal)
        if bad is not None:
            bad = pc.and_(bad, pc.invert(empty))
            problems.append((bad, f"{reason} {name}"))
        typed[name] = pc.if_else(empty, pa.scalar(None, values.type), values) if pc.any(empty).as_py() else values
    any_bad = None
    for mask, _ in problems:
        any_bad = mask if any_bad is None else pc.or_(any_bad, mask)
    extras = [c for c in table.column_names if c not in rules.columns and c != "_source_line"]
    out = pa.table({**typed, **{c: table.column(c) for c in extras}, "_source_line": table.column("_source_line")})
    key_field = out.schema.get_field_index(rules.key)  # good rows always have their key
    schema = out.schema.set(key_field, out.schema.field(key_field).with_nullable(False))
    if any_bad is None or not pc.any(any_bad).as_py():
        return Validated(out.cast(schema), [], [])
    lines = table.column("_source_line").filter(any_bad).to_pylist()
    reasons: list[list[str]] = [[] for _ in lines]
    for mask, reason in problems:
        hit = mask.filter(any_bad).to_pylist()
        for i, flag in enumerate(hit):
            if flag:
                reasons[i].append(f"{reason} ({_quote(table, i, any_bad, reason)})")
    return Validated(out.filter(pc.invert(any_bad)).cast(schema), lines, ["; ".join(r) for r in reasons])


def _quote(table: pa.Table, i: int, any_bad, reason: str) -> str:
    """The offending value, for the reason text."""
    name = reason.rsplit(" ", 1)[-1]
    if name not in table.column_names:
        return "column absent"
    value = table.column(name).filter(any_bad)[i].as_py()
    return f"value {value!r}"


def _arrow_type(kind: Kind) -> pa.DataType:
    return {
        "string": pa.string(),
        "timestamp": pa.string(),
        "currency": pa.string(),
        "date": pa.date32(),
        "decimal": DECIMAL_TYPE,
        "int": pa.int64(),
        "bool": pa.bool_(),
    }[kind]
