"""Unit tests of CSV parsing and validation: every kind of bad input is accounted for."""

from __future__ import annotations

import io
from datetime import date, datetime
from types import SimpleNamespace

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sources.crm.csv_reader import CsvFileError, read_csv_stream
from sources.crm.settings import ORDER_RULES
from sources.crm.validation import TableRules, validate

HEADER = (
    "order_id,contact_id,user_pseudo_id,order_ts,order_date,amount,currency,items,campaign_id,channel,"
    "utm_source,utm_medium,transaction_id,is_repeat,payment_method"
)


def parse_csv(raw: bytes, encoding: str = "auto", **kwargs) -> SimpleNamespace:
    """Every block of one file in one table, with its rejects and counts."""
    stream = read_csv_stream(io.BytesIO(raw), encoding, **kwargs)
    blocks = list(stream.blocks)
    tables = [b.table for b in blocks]
    table = pa.concat_tables(tables) if tables else pa.table({"_source_line": pa.array([], pa.int64())})
    rejects = sorted((r for b in blocks for r in b.rejects), key=lambda r: r.line)
    return SimpleNamespace(
        table=table,
        rejects=rejects,
        encoding=stream.encoding,
        delimiter=stream.delimiter,
        blank_lines=stream.blank_lines,
        physical_lines=stream.physical_lines,
        rows_read=table.num_rows + len(rejects),
    )


def good(i: int, sep: str = ",", amount: str = "10.00") -> str:
    values = [
        f"O{i}", "C1", "u1", "2026-08-01T10:00:00+02:00", "2026-08-01", amount, "EUR", "1", "", "direct",
        "", "", f"T{i}", "false", "card",
    ]  # fmt: skip
    return sep.join(values)


def test_plain_file_keeps_physical_line_numbers() -> None:
    parsed = parse_csv(f"{HEADER}\n{good(1)}\n{good(2)}\n".encode())
    assert parsed.table.column("order_id").to_pylist() == ["O1", "O2"]
    assert parsed.table.column("_source_line").to_pylist() == [2, 3]
    assert (parsed.encoding, parsed.delimiter, parsed.rejects) == ("utf-8", ",", [])


def test_bom_semicolons_and_decimal_comma() -> None:
    text = "\ufeff" + HEADER.replace(",", ";") + "\r\n" + good(1, ";", "1.234,50") + "\r\n"
    parsed = parse_csv(text.encode("utf-8"))
    assert parsed.encoding == "utf-8-sig" and parsed.delimiter == ";"
    assert parsed.table.column_names[0] == "order_id"  # the BOM is not part of the first name
    result = validate(parsed.table, TableRules(**ORDER_RULES), decimal=",")
    assert [str(v) for v in result.table.column("amount").to_pylist()] == ["1234.50"]


def test_quoted_newlines_shift_line_numbers() -> None:
    row = good(1).replace(",direct,", ',"direct\nwith a note, and a comma",')
    parsed = parse_csv(f"{HEADER}\n{row}\n{good(2)}\nbroken,line\n".encode())
    assert parsed.table.column("channel").to_pylist()[0] == "direct\nwith a note, and a comma"
    assert parsed.table.column("_source_line").to_pylist() == [2, 4]
    assert [(r.line, r.raw_text) for r in parsed.rejects] == [(5, "broken,line")]
    assert "wrong column count: 2 fields" in parsed.rejects[0].reason


def test_latin1_export_is_transcoded() -> None:
    row = good(1).replace("direct", "Caf\xe9 Cr\xe8me")
    parsed = parse_csv(f"{HEADER}\n{row}\n".encode("latin-1"))
    assert parsed.encoding == "windows-1252"
    assert parsed.table.column("channel").to_pylist() == ["Café Crème"]
    assert parsed.rejects == []


def test_undecodable_bytes_in_utf8_file_quarantine_only_that_line() -> None:
    ok = good(1).replace("direct", "M\u00fcnchen").encode()  # valid multi-byte UTF-8 elsewhere in the file
    bad = good(2).replace("direct", "dir\xffect").encode("latin-1")
    parsed = parse_csv(HEADER.encode() + b"\n" + ok + b"\n" + bad + b"\n" + good(3).encode() + b"\n")
    assert parsed.table.column("order_id").to_pylist() == ["O1", "O3"]
    assert [(r.line, r.reason) for r in parsed.rejects] == [
        (3, "undecodable bytes: the line is not valid in the file's encoding")
    ]
    assert "O2" in parsed.rejects[0].raw_text
    assert parsed.rows_read == 3


def test_wrong_column_counts_and_blank_lines() -> None:
    parsed = parse_csv(f"{HEADER}\n{good(1)}\n\n{good(2)},extra\nshort,row\n{good(3)}\n".encode())
    assert parsed.table.column("_source_line").to_pylist() == [2, 6]
    assert [r.line for r in parsed.rejects] == [4, 5]
    assert parsed.blank_lines == 1
    assert parsed.rows_read == 4


@pytest.mark.parametrize("content", [b"", HEADER.encode(), (HEADER + "\n").encode(), b"\n\n"])
def test_empty_and_header_only_files_are_fine(content: bytes) -> None:
    parsed = parse_csv(content)
    assert parsed.rows_read == 0 and parsed.rejects == []


def test_unusable_header_is_a_file_error() -> None:
    with pytest.raises(CsvFileError, match="repeats column"):
        parse_csv(b"order_id,order_id\n1,2\n")


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("order_ts", "2026-13-01T10:00:00+02:00", "unparseable timestamp order_ts"),
        ("order_ts", "yesterday", "unparseable timestamp order_ts"),
        ("order_date", "2026-02-30", "unparseable date order_date"),
        ("order_date", "03/08/2026", "unparseable date order_date"),
        ("amount", "12.5x", "non-numeric amount"),
        ("amount", "", "missing amount"),
        ("order_id", "", "missing key order_id"),
        ("order_id", "   ", "missing key order_id"),
        ("items", "two", "not an integer items"),
        ("is_repeat", "maybe", "not a boolean is_repeat"),
        ("currency", "EURO", "not a 3-letter currency code currency"),
    ],
)
def test_validation_reasons(field: str, value: str, reason: str) -> None:
    columns = HEADER.split(",")
    values = good(2).split(",")
    values[columns.index(field)] = value
    parsed = parse_csv(f"{HEADER}\n{good(1)}\n{','.join(values)}\n".encode())
    result = validate(parsed.table, TableRules(**ORDER_RULES))
    assert result.table.column("order_id").to_pylist() == ["O1"]
    assert result.bad_lines == [3]
    assert result.bad_reasons[0].startswith(reason)


# each field two digits, mostly in range, sometimes one past it: days past a month's end, month 13, hour 24, second 60
_DAY = st.tuples(st.integers(1, 9999), st.integers(0, 13), st.integers(0, 32))
_CLOCK = st.tuples(st.integers(0, 24), st.integers(0, 60), st.integers(0, 61))


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.tuples(_DAY, _DAY, _CLOCK), min_size=1, max_size=40))
def test_dates_and_timestamps_are_kept_exactly_when_they_are_on_the_calendar(rows) -> None:
    # the reference is Python's own calendar: a date exists (Feb 29 only in leap years, no April 31, no second 60),
    # whatever two digits each field holds; the checker compares only the fields strptime may roll over
    table = pa.table(
        {
            "order_id": [f"O{i}" for i in range(len(rows))],
            "order_date": [f"{y:04d}-{m:02d}-{d:02d}" for (y, m, d), _, _ in rows],
            "order_ts": [f"{y:04d}-{m:02d}-{d:02d}T{h:02d}:{mi:02d}:{sec:02d}" for _, (y, m, d), (h, mi, sec) in rows],
            "_source_line": list(range(2, len(rows) + 2)),
        }
    )
    rules = TableRules(columns={"order_id": "string", "order_date": "date", "order_ts": "timestamp"}, key="order_id")
    result = validate(table, rules)

    def exists(make, *fields) -> bool:
        try:
            make(*fields)
            return True
        except ValueError:
            return False

    expected = [exists(date, *day) and exists(datetime, *ts_day, *clock) for day, ts_day, clock in rows]
    kept = set(result.table.column("order_id").to_pylist())
    assert [f"O{i}" in kept for i in range(len(rows))] == expected
    assert len(kept) + len(result.bad_lines) == len(rows)


def test_timestamps_are_canonicalised_and_types_set() -> None:
    rows = [
        good(1).replace("2026-08-01T10:00:00+02:00", "2026-08-01 10:00:00Z"),
        good(2).replace("2026-08-01T10:00:00+02:00", "2026-08-01T10:00:00.123+0530"),
        good(3).replace("2026-08-01T10:00:00+02:00", "2026-08-01T10:00:00"),
    ]
    parsed = parse_csv(("\n".join([HEADER, *rows]) + "\n").encode())
    result = validate(parsed.table, TableRules(**ORDER_RULES))
    assert result.table.column("order_ts").to_pylist() == [
        "2026-08-01T10:00:00+00:00",
        "2026-08-01T10:00:00.123+05:30",
        "2026-08-01T10:00:00",
    ]
    assert str(result.table.schema.field("amount").type) == "decimal128(18, 2)"
    assert result.table.column("is_repeat").to_pylist() == [False] * 3
    assert result.table.column("campaign_id").to_pylist() == [None] * 3  # empty optional value -> NULL


def test_unknown_columns_are_kept_as_strings() -> None:
    parsed = parse_csv(f"{HEADER},coupon_code\n{good(1)},SUMMER\n".encode())
    result = validate(parsed.table, TableRules(**ORDER_RULES))
    assert result.table.column("coupon_code").to_pylist() == ["SUMMER"]
