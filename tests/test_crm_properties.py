"""Property-based test of the CRM file path (reader, validation, decimal decision) over generated CSV files.

Files vary in delimiter, encoding (UTF-8, UTF-8 with BOM, UTF-16, Windows-1252), line endings (LF, CRLF,
CR-only), quoting (values holding delimiters, quotes and line breaks), blank lines, a truncated last record, and
bad values. The invariant, for every file: each physical data line is loaded or quarantined exactly once, and
every loaded value equals the value written.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sources.crm.helpers import process_file
from sources.crm.landing import landing_fs, list_files
from sources.crm.settings import ORDER_COLUMNS, ORDER_RULES, CrmSettings
from sources.crm.validation import TableRules

TEXT_COLUMNS = ("contact_id", "user_pseudo_id", "campaign_id", "channel", "utm_source", "transaction_id")
# letters that are safe in every generated encoding (é, è, à, ü, ö never form a valid UTF-8 sequence in
# Windows-1252 bytes, so the legacy encoding is detectable), plus every character that forces quoting
ALPHABET = 'abcXYZ019 éèàüö,;|\t"\n'


@dataclass
class Written:
    values: dict[str, str]
    good: bool
    first_line: int = 0
    lines: int = 1


@st.composite
def text_value(draw, alphabet: str) -> str:
    return draw(st.text(alphabet, max_size=12)).strip()  # string values are trimmed by design


@st.composite
def record(draw, i: int, decimal: str, ending: str) -> Written:
    values = {c: "" for c in ORDER_COLUMNS}
    # Python's csv writer quotes a line break only if it is in its line terminator: no bare \n in CR-only files
    alphabet = ALPHABET.replace("\n", "") if ending == "\r" else ALPHABET
    values.update({c: draw(text_value(alphabet)) for c in TEXT_COLUMNS})
    # the first record always has a decisive amount (cents), so the file's separator is never ambiguous
    cents = draw(st.integers(-99_999, 99_999)) if i else 1234
    amount = f"{Decimal(cents) / 100:.2f}"
    values.update(
        order_id=f"O{i}",
        order_ts="2026-08-01T10:00:00+02:00",
        order_date="2026-08-01",
        amount=amount if decimal == "." else amount.replace(".", ","),
        currency="EUR",
        items=str(draw(st.integers(0, 9))),
        is_repeat=draw(st.sampled_from(["true", "false"])),
    )
    bad = draw(st.sampled_from([None] * 6 + ["amount", "order_date", "order_ts", "order_id"])) if i else None
    if bad:
        values[bad] = {"amount": "12x", "order_date": "2026-02-30", "order_ts": "soon", "order_id": ""}[bad]
    return Written(values, bad is None)


@st.composite
def csv_file(draw) -> tuple[bytes, list[Written], int, str]:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    decimal = "," if delimiter != "," and draw(st.booleans()) else "."
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "windows-1252"]))
    records = [draw(record(i, decimal, ending)) for i in range(draw(st.integers(1, 25)))]
    blanks = draw(st.lists(st.integers(0, len(records)), max_size=3))
    truncate = draw(st.booleans())

    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=ending)
    writer.writerow(ORDER_COLUMNS)
    line = 2
    for k, rec in enumerate(records):
        for _ in range(blanks.count(k)):
            out.write(ending)
            line += 1
        text = _row_text(rec.values, delimiter, ending)
        if truncate and k == len(records) - 1:
            # the transfer stopped inside the last record, before its last value: never a complete row
            cut = text.rfind(delimiter)
            text, rec.good = text[: draw(st.integers(0, cut))], False
            if not text:
                records.pop()
                break
        rec.first_line, rec.lines = line, _physical_lines(text)
        out.write(text)
        line += rec.lines
    return out.getvalue().encode(encoding), records, line - 1, decimal


def _row_text(values: dict[str, str], delimiter: str, ending: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=ending).writerow([values[c] for c in ORDER_COLUMNS])
    return buffer.getvalue()


def _physical_lines(text: str) -> int:
    ends = text.count("\n") + text.count("\r") - text.count("\r\n")
    return max(1, ends + (0 if text.endswith(("\n", "\r")) else 1))


def _read(path: Path) -> tuple[pa.Table | None, pa.Table | None, dict]:
    fs = landing_fs(str(path.parent))
    (f,) = list_files(fs, str(path.parent), [path.name])
    good, quarantine, files = [], [], {}
    for item in process_file(f, fs, "orders", TableRules(**ORDER_RULES), CrmSettings()):
        name, data = item.meta.table_name, item.data
        {"orders": good, "quarantine": quarantine}.get(name, []).append(data)
        if name == "files":
            files = data.to_pylist()[0]
    return (pa.concat_tables(good) if good else None, pa.concat_tables(quarantine) if quarantine else None, files)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(generated=csv_file())
def test_every_physical_data_line_is_loaded_or_quarantined_once(tmp_path_factory, generated) -> None:
    content, records, last_line, _ = generated
    path = tmp_path_factory.mktemp("prop") / "orders_generated.csv"
    path.write_bytes(content)
    good, quarantine, files = _read(path)

    covered: list[int] = []
    loaded = {r["_source_line"]: r for r in (good.to_pylist() if good is not None else [])}
    by_start = {rec.first_line: rec for rec in records}
    for start, row in loaded.items():
        rec = by_start[start]  # a loaded row starts where a written record starts ...
        assert rec.good, (start, row)
        for column in ORDER_COLUMNS:  # ... and holds exactly what was written
            assert _as_written(row[column], column) == _canonical(rec.values[column], column), (start, column)
        covered += range(start, start + rec.lines)
    for row in quarantine.to_pylist() if quarantine is not None else []:
        covered += range(row["line_number"], row["line_number"] + row["line_count"])
    data_lines = sorted(ln for rec in records for ln in range(rec.first_line, rec.first_line + rec.lines))
    assert sorted(covered) == data_lines  # every data line exactly once: no loss, no double count
    assert {rec.first_line for rec in records if rec.good} <= set(loaded)  # every good record loads
    assert files["rows_read"] == files["rows_loaded"] + files["rows_quarantined"]
    assert files["physical_lines"] == last_line


def _as_written(value: object, column: str) -> str:
    if value is None:
        return ""
    if column == "is_repeat":
        return "true" if value else "false"
    return str(value)


def _canonical(written: str, column: str) -> str:
    """The written value as the warehouse types it (amounts with either decimal separator)."""
    return str(Decimal(written.replace(",", "."))) if column == "amount" else written
