"""CRM deliveries as real file transfers and real CRMs produce them (issue 11): one test per behaviour."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

from conftest import latest_orders, order_row, query, run_crm, write_orders
from pipelines.report import RunReport
from pipelines.runner import replay_source, run_source
from pipelines.targets import Target
from sources.crm.plugin import plugin as crm_plugin
from sources.crm.settings import ORDER_COLUMNS

HEADER = ",".join(ORDER_COLUMNS)


def _line(i: int, sep: str = ",", **kw: str) -> str:
    return sep.join(order_row(i, **kw)[c] for c in ORDER_COLUMNS)


def _step(report: RunReport, name: str):
    return next(s for s in report.steps if s.step == name)


def _set_mtime(path: Path, seconds: float) -> None:
    os.utime(path, ns=(int(seconds * 1e9), int(seconds * 1e9)))


def _files(target: Target) -> dict[str, tuple]:
    rows = query(target, "select file_url, rows_read, rows_loaded, rows_quarantined, error from raw_crm.files")
    return {Path(url).name: tuple(rest) for url, *rest in rows}


def test_file_moved_in_with_an_older_modification_time_is_read(target: Target, landing: Path, tmp_path: Path) -> None:
    _set_mtime(write_orders(landing / "orders_new.csv", [order_row(1)]), 2_000_000_000)
    run_crm(target, landing)
    # a file prepared earlier elsewhere arrives later with its old time kept (mv, cp -p, rsync -a)
    staged = write_orders(tmp_path / "orders_old.csv", [order_row(2), order_row(3)])
    _set_mtime(staged, 1_000_000_000)
    shutil.move(staged, landing / "orders_old.csv")
    report = run_crm(target, landing)
    assert _step(report, "extract").tables["orders"].rows == 2
    assert query(target, f"select count(*) from {latest_orders()}") == [(3,)]
    # and a file rewritten in place (same path, new content) is read again; an unchanged one is not
    write_orders(landing / "orders_old.csv", [order_row(2, amount="5.00")])
    _set_mtime(landing / "orders_old.csv", 1_000_000_000)
    report = run_crm(target, landing)
    assert _step(report, "extract").tables["orders"].rows == 1
    assert query(target, f"select amount::varchar from {latest_orders()} where order_id = 'ORD-000002'") == [("5.00",)]
    assert query(target, "select count(*) from raw_crm.files") == [(3,)]
    # raw keeps both versions of the rewritten file: same path and time, another identity (size)
    versions = "select amount::varchar, _source_identity from raw_crm.orders where order_id = 'ORD-000002' order by 2"
    assert [a for a, _ in query(target, versions)] in (["19.90", "5.00"], ["5.00", "19.90"])
    assert len({i for _, i in query(target, versions)}) == 2


def test_semicolon_file_keeps_dot_decimals_and_reads_comma_decimals(target: Target, landing: Path) -> None:
    header = HEADER.replace(",", ";")
    (landing / "orders_dot.csv").write_text(f"{header}\n{_line(1, ';', amount='100.50')}\n")
    (landing / "orders_comma.csv").write_text(
        f"{header}\n{_line(2, ';', amount='1.234,50')}\n{_line(3, ';', amount='7')}\n{_line(4, ';', amount='2.000')}\n"
    )
    run_crm(target, landing)
    amounts = dict(query(target, "select order_id, amount::varchar from raw_crm.orders"))
    assert amounts == {"ORD-000001": "100.50", "ORD-000002": "1234.50", "ORD-000003": "7.00", "ORD-000004": "2000.00"}
    separators = query(target, "select file_url, decimal_separator from raw_crm.files")
    assert {Path(u).name: d for u, d in separators} == {"orders_dot.csv": ".", "orders_comma.csv": ","}


def test_mixed_or_ambiguous_decimals_quarantine_the_file_never_multiply(target: Target, landing: Path) -> None:
    header = HEADER.replace(",", ";")
    mixed = f"{header}\n{_line(1, ';', amount='100.50')}\n{_line(2, ';', amount='12,50')}\n"
    (landing / "orders_mixed.csv").write_text(mixed)
    ambiguous = f"{header}\n{_line(3, ';', amount='1.234')}\n{_line(4, ';', amount='5')}\n"
    (landing / "orders_ambiguous.csv").write_text(ambiguous)
    run_crm(target, landing)
    tables = "select table_name from information_schema.tables where table_schema = 'raw_crm'"
    assert ("orders",) not in query(target, tables)  # nothing loaded, nothing multiplied
    files = _files(target)
    assert files["orders_mixed.csv"][:3] == (2, 0, 2) and "mixed decimal separators" in files["orders_mixed.csv"][3]
    assert "ambiguous decimal separator" in files["orders_ambiguous.csv"][3]
    reasons = {r for (r,) in query(target, "select reason from raw_crm.quarantine")}
    assert len(reasons) == 2 and all("set sources.crm.decimal" in r for r in reasons)


def test_decimal_setting_reads_ambiguous_amounts(target: Target, landing: Path, monkeypatch) -> None:
    quoted = '"1,234"'
    (landing / "orders_ambiguous.csv").write_text(f"{HEADER}\n{_line(3, amount=quoted)}\n")
    monkeypatch.setenv("SOURCES__CRM__DECIMAL", ".")
    run_crm(target, landing)
    assert query(target, "select amount::varchar from raw_crm.orders") == [("1234.00",)]


def test_unterminated_quote_quarantines_its_line_and_reads_the_rest(target: Target, landing: Path) -> None:
    lines = [_line(i) for i in range(1000)]
    lines[1] = lines[1].replace(",card", ',"card')  # a stray quote in row 2 that never closes
    (landing / "orders_stray_quote.csv").write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    run_crm(target, landing)
    assert _files(target)["orders_stray_quote.csv"][:3] == (1000, 999, 1)
    assert query(target, "select line_number, line_count, reason from raw_crm.quarantine") == [
        (
            3,
            1,
            "unbalanced quote: a quoted value opened on this line never closes (it spans over 100 lines); "
            "the lines after it are read again as records",
        )
    ]
    loaded = {ln for (ln,) in query(target, "select _source_line from raw_crm.orders")}
    assert loaded == set(range(2, 1002)) - {3}  # every physical data line: loaded or quarantined, once


def test_one_bad_file_of_each_kind_never_blocks_the_good_file(target: Target, landing: Path) -> None:
    write_orders(landing / "orders_good.csv", [order_row(1)])
    (landing / "orders_cr_only.csv").write_bytes(f"{HEADER}\r{_line(2)}\r{_line(3)}\r".encode())
    (landing / "orders_excel.csv").write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + os.urandom(200))
    (landing / "orders_truncated.csv.gz").write_bytes(gzip.compress((HEADER + "\n" + _line(4) + "\n").encode())[:40])
    (landing / "orders_unreadable.csv").symlink_to(landing / "gone")  # listed, then an I/O error when read
    report = run_crm(target, landing)
    assert {r[0] for r in query(target, "select order_id from raw_crm.orders")} == {
        "ORD-000001",
        "ORD-000002",
        "ORD-000003",
    }
    files = _files(target)
    assert files["orders_cr_only.csv"] == (2, 2, 0, None)
    assert "not a CSV file (zip archive" in files["orders_excel.csv"][3]
    assert "gzip" in files["orders_truncated.csv.gz"][3] or "compressed" in files["orders_truncated.csv.gz"][3]
    assert "No such file or directory" in files["orders_unreadable.csv"][3]
    warnings = _step(report, "extract").tables["orders"].warnings
    assert sum("file rejected" in w for w in warnings) == 3


def test_wrong_setting_stops_before_any_file_is_marked_read(target: Target, landing: Path, monkeypatch) -> None:
    write_orders(landing / "orders_001.csv", [order_row(1)])
    monkeypatch.setenv("SOURCES__CRM__ENCODING", "utf8")
    report = RunReport(target.name, "test")
    run_source(crm_plugin, target, report, {"landing_url": str(landing)})
    extract = _step(report, "extract")
    assert extract.status == "failed" and report.failed
    assert "sources.crm.encoding='utf8' is not allowed" in extract.error and "'utf-8'" in extract.error
    monkeypatch.delenv("SOURCES__CRM__ENCODING")
    run_crm(target, landing)
    assert query(target, "select count(*) from raw_crm.orders") == [(1,)]


@pytest.mark.parametrize("setting", ["SOURCES__CRM__DELIMITER=:", "SOURCES__CRM__DECIMAL=comma"])
def test_every_crm_setting_is_checked_first(target: Target, landing: Path, monkeypatch, setting: str) -> None:
    name, value = setting.split("=")
    monkeypatch.setenv(name, value)
    report = RunReport(target.name, "test")
    run_source(crm_plugin, target, report, {"landing_url": str(landing)})
    assert f"sources.crm.{name.split('__')[-1].lower()}='{value}' is not allowed" in _step(report, "extract").error


def test_files_within_the_same_second_resolve_the_same_live_and_on_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import REPO
    from pipelines.targets import current_target

    def deliver(data: Path, batches: list[list[tuple[str, float, str]]]) -> Target:
        monkeypatch.chdir(REPO)
        monkeypatch.setenv("MDW__DATA_DIR", str(data))
        target = current_target()
        landing = data / "landing"
        landing.mkdir(parents=True)
        for batch in batches:
            for name, mtime, amount in batch:
                _set_mtime(write_orders(landing / name, [order_row(1, amount=amount)]), mtime)
            run_crm(target, landing)
        return target

    older, newer = ("orders_b.csv", 1_800_000_000.2, "1.00"), ("orders_a.csv", 1_800_000_000.7, "2.00")
    sql = f"select amount::varchar from {latest_orders()}"
    together = deliver(tmp_path / "one", [[older, newer]])
    in_order = deliver(tmp_path / "two", [[older], [newer]])
    newest_first = deliver(tmp_path / "three", [[newer], [older]])  # the older file arrives later
    for target in (together, in_order, newest_first):
        assert query(target, sql) == [("2.00",)]
        report = RunReport(target.name, "test")
        replay_source(crm_plugin, target, report)
        assert query(target, sql) == [("2.00",)]


def test_file_lacking_an_optional_column_is_flagged_not_nulled(target: Target, landing: Path) -> None:
    write_orders(landing / "orders_001.csv", [order_row(1, campaign_id="CMP-1")])
    _set_mtime(landing / "orders_001.csv", 1_800_000_000)
    columns = [c for c in ORDER_COLUMNS if c not in ("campaign_id", "contact_id")]
    write_orders(landing / "orders_002.csv", [{c: order_row(1, amount="3.00")[c] for c in columns}], columns)
    _set_mtime(landing / "orders_002.csv", 1_800_000_100)
    report = run_crm(target, landing)
    warnings = _step(report, "extract").tables["orders"].warnings
    assert warnings == [
        "file orders_002.csv lacks column(s) campaign_id, contact_id: not delivered by it, earlier values are kept"
    ]
    assert query(
        target, "select _columns_absent from raw_crm.orders order by _source_modified_at, _source_file, _source_line"
    ) == [
        (None,),
        ("campaign_id,contact_id",),
    ]
    assert query(target, "select columns_absent from raw_crm.files where columns_absent is not null") == [
        ("campaign_id,contact_id",)
    ]
    from pipelines.ops import record_run

    record_run(report, target)
    assert query(target, "select step, table_name, warnings from ops.run_tables where warnings is not null") == [
        ("extract", "orders", warnings[0])
    ]


def test_gzip_and_utf16_exports_are_read(target: Target, landing: Path) -> None:
    (landing / "orders_1.csv.gz").write_bytes(gzip.compress(f"{HEADER}\n{_line(1)}\n".encode()))
    (landing / "orders_2.csv").write_bytes(f"{HEADER}\r\n{_line(2, payment_method='chèque')}\r\n".encode("utf-16"))
    run_crm(target, landing)
    rows = dict(query(target, "select order_id, payment_method from raw_crm.orders"))
    assert rows == {"ORD-000001": "card", "ORD-000002": "chèque"}
    formats = {
        Path(u).name: (c, e) for u, c, e in query(target, "select file_url, compression, encoding from raw_crm.files")
    }
    assert formats == {"orders_1.csv.gz": ("gzip", "utf-8"), "orders_2.csv": (None, "utf-16-le")}


def test_refund_line_never_overwrites_its_order(target: Target, landing: Path) -> None:
    write_orders(landing / "orders_001.csv", [order_row(1, amount="30.00")])
    _set_mtime(landing / "orders_001.csv", 1_800_000_000)
    write_orders(landing / "orders_002.csv", [order_row(1, amount="-10.00"), order_row(2, amount="abc")])
    _set_mtime(landing / "orders_002.csv", 1_800_000_100)
    run_crm(target, landing)
    assert query(target, f"select line_kind, amount::varchar from {latest_orders('true')} order by 1") == [
        ("order", "30.00"),
        ("refund", "-10.00"),
    ]
    assert query(target, "select reason from raw_crm.quarantine") == [("non-numeric amount (value 'abc')",)]


def test_default_globs_find_exports_in_sub_folders(target: Target, landing: Path) -> None:
    (landing / "2026" / "12").mkdir(parents=True)
    write_orders(landing / "2026" / "12" / "orders_001.csv", [order_row(1)])
    write_orders(landing / "orders_top.csv", [order_row(2)])
    run_crm(target, landing)
    assert query(target, "select count(*) from raw_crm.orders") == [(2,)]


def test_globs_matching_nothing_warn_with_the_names_seen(target: Target, landing: Path) -> None:
    write_orders(landing / "Orders-Export.CSV", [order_row(1)])
    report = run_crm(target, landing)
    (warning,) = _step(report, "extract").warnings
    assert "**/orders*.csv" in warning and "Orders-Export.CSV" in warning and "orders_glob" in warning


def test_redelivery_counts_received_new_and_updated(target: Target, landing: Path) -> None:
    write_orders(landing / "orders_001.csv", [order_row(i) for i in range(10)])
    _set_mtime(landing / "orders_001.csv", 1_800_000_000)
    first = _step(run_crm(target, landing), "load").tables["orders"]
    assert (first.rows, first.new, first.updated) == (10, 10, 0)
    write_orders(landing / "orders_002.csv", [order_row(i, amount="1.00") for i in range(10)])
    _set_mtime(landing / "orders_002.csv", 1_800_000_100)
    report = run_crm(target, landing)
    again = _step(report, "load").tables["orders"]
    assert (again.rows, again.new, again.updated) == (10, 0, 10)
    from pipelines.ops import record_run

    record_run(report, target)
    assert query(
        target, "select rows, rows_new, rows_updated from ops.run_tables where step = 'load' and table_name = 'orders'"
    ) == [(10, 0, 10)]
