"""The CRM source through Bronze into DuckDB: incremental files, merges, schema evolution, bad input."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa

from conftest import latest_orders, order_row, query, run_crm, write_orders
from pipelines.report import RunReport
from pipelines.runner import extract_to_bronze, load_from_bronze, run_source, use_jemalloc_for_arrow
from pipelines.targets import Target, current_target
from pipelines.warehouse_writer import connect_writer
from sources.crm.plugin import plugin as crm_plugin
from sources.crm.settings import ORDER_COLUMNS


def _touch_later(path: Path, seconds: int) -> None:
    stamp = time.time() + seconds
    os.utime(path, (stamp, stamp))


def _step(report: RunReport, name: str):
    return next(s for s in report.steps if s.step == name)


def test_rerun_with_no_new_files_extracts_nothing(target: Target, landing: Path) -> None:
    write_orders(landing / "orders_001.csv", [order_row(i) for i in range(10)])
    first = run_crm(target, landing)
    assert _step(first, "extract").tables["orders"].rows == 10
    assert _step(first, "load").tables["orders"].rows == 10

    second = run_crm(target, landing)
    assert _step(second, "extract").status == "nothing_new"
    assert _step(second, "extract").tables == {}
    assert _step(second, "load").status == "nothing_new"
    assert query(target, "select count(*) from raw_crm.orders") == [(10,)]
    bronze_files = list(Path(target.bronze_url, "crm", "orders").glob("*.parquet"))
    assert len(bronze_files) == 1  # nothing new landed in Bronze either


def test_redelivered_rows_update_never_duplicate(target: Target, landing: Path) -> None:
    write_orders(landing / "orders_001.csv", [order_row(i) for i in range(5)])
    run_crm(target, landing)
    # a later export re-delivers order 3 (amount corrected) and 4, and adds order 5
    later = write_orders(
        landing / "orders_002.csv",
        [order_row(3, amount="25.00"), order_row(4, payment_method="paypal"), order_row(5)],
    )
    _touch_later(later, 5)
    report = run_crm(target, landing)
    assert _step(report, "extract").tables["orders"].rows == 3
    rows = dict(query(target, f"select order_id, amount::varchar from {latest_orders()}"))
    assert len(rows) == 6
    assert rows["ORD-000003"] == "25.00"
    assert query(target, f"select payment_method from {latest_orders()} where order_id = 'ORD-000004'") == [("paypal",)]
    # raw keeps each delivered version once: the two deliveries of orders 3 and 4, and nothing twice
    assert query(target, "select count(*) from raw_crm.orders") == [(8,)]
    load = _step(report, "load").tables["orders"]
    assert (load.rows, load.new, load.updated) == (3, 1, 2)
    # Bronze kept both deliveries of order 3: it is the immutable record of what arrived
    assert query(target, "select count(*) from raw_crm.files") == [(2,)]


def test_same_key_twice_in_one_load_keeps_the_latest(target: Target, landing: Path) -> None:
    write_orders(landing / "orders_001.csv", [order_row(1, amount="1.00")])
    newer = write_orders(landing / "orders_002.csv", [order_row(1, amount="2.00"), order_row(2)])
    _touch_later(newer, 5)
    run_crm(target, landing)
    assert query(target, f"select amount::varchar from {latest_orders()} where order_id = 'ORD-000001'") == [("2.00",)]


def test_new_column_evolves_bronze_and_warehouse(target: Target, landing: Path) -> None:
    write_orders(landing / "orders_001.csv", [order_row(i) for i in range(3)])
    run_crm(target, landing)
    columns = [*ORDER_COLUMNS, "coupon_code"]
    later = write_orders(landing / "orders_002.csv", [{**order_row(9), "coupon_code": "SUMMER"}], columns)
    _touch_later(later, 5)
    report = run_crm(target, landing)
    load = _step(report, "load")
    assert load.tables["orders"].schema_changes == ["new column(s) coupon_code"]
    assert query(target, "select order_id, coupon_code from raw_crm.orders where coupon_code is not null") == [
        ("ORD-000009", "SUMMER")
    ]
    bronze = Path(target.bronze_url, "crm", "orders")
    assert any("coupon_code" in f.read_bytes().decode("latin-1") for f in bronze.glob("*.parquet"))


def test_bad_input_corpus_is_quarantined_and_reconciles(target: Target, landing: Path) -> None:
    header = ",".join(ORDER_COLUMNS)

    def line(i: int, **kw: str) -> str:
        return ",".join(order_row(i, **kw)[c] for c in ORDER_COLUMNS)

    corpus = {
        # file -> (bytes, data rows, expected quarantined)
        "orders_bad_values.csv": (
            "\n".join(
                [
                    header,
                    line(1),
                    line(2, order_ts="not a time"),
                    line(3, order_date="2026-02-30"),
                    line(4, amount="abc"),
                    line(5, amount="-1.00"),
                    line(6, order_id=""),
                    line(7) + ",surplus",
                    ",".join(line(8).split(",")[:5]),
                    line(9),
                ]
            ).encode()
            + b"\n",
            9,
            6,
        ),
        "orders_bom_semicolon.csv": (
            ("\ufeff" + header.replace(",", ";") + "\r\n" + line(10).replace(",", ";") + "\r\n").encode(),
            1,
            0,
        ),
        "orders_quoted_newline.csv": (
            (header + "\n" + line(11).replace(",direct,", ',"direct\nsecond line",') + "\n" + line(12) + "\n").encode(),
            2,
            0,
        ),
        "orders_latin1.csv": (
            (header + "\n" + line(13, payment_method="carte bancaire é") + "\n").encode("latin-1"),
            1,
            0,
        ),
        "orders_undecodable.csv": (
            (header + "\n" + line(14, channel="Köln") + "\n").encode()
            + line(15).encode().replace(b"card", b"c\xffrd")
            + b"\n",
            2,
            1,
        ),
        "orders_empty.csv": (b"", 0, 0),
        "orders_header_only.csv": ((header + "\n").encode(), 0, 0),
    }
    for name, (content, _, _) in corpus.items():
        (landing / name).write_bytes(content)
    report = run_crm(target, landing)

    files = {
        Path(url).name: (read, loaded, quarantined)
        for url, read, loaded, quarantined in query(
            target, "select file_url, rows_read, rows_loaded, rows_quarantined from raw_crm.files"
        )
    }
    for name, (_, data_rows, bad) in corpus.items():
        read, loaded, quarantined = files[name]
        assert (read, quarantined) == (data_rows, bad), name
        assert loaded + quarantined == read, name
    quarantine = query(
        target,
        "select source_file, line_number, reason, raw_text from raw_crm.quarantine order by source_file, line_number",
    )
    reasons = {(Path(f).name, ln): r for f, ln, r, _ in quarantine}
    assert reasons[("orders_bad_values.csv", 3)].startswith("unparseable timestamp order_ts")
    assert reasons[("orders_bad_values.csv", 4)].startswith("unparseable date order_date")
    assert reasons[("orders_bad_values.csv", 5)].startswith("non-numeric amount")
    assert reasons[("orders_bad_values.csv", 7)].startswith("missing key order_id")
    assert reasons[("orders_bad_values.csv", 8)].startswith("wrong column count: 16 fields")
    assert reasons[("orders_bad_values.csv", 9)].startswith("wrong column count: 5 fields")
    assert reasons[("orders_undecodable.csv", 3)].startswith("undecodable bytes")
    assert all(raw for *_, raw in quarantine)  # raw text kept for every quarantined line
    # the summary counts what was quarantined
    assert _step(report, "load").tables["orders"].quarantined == 7
    good = {r[0] for r in query(target, "select order_id from raw_crm.orders")}
    assert good == {f"ORD-{i:06d}" for i in (1, 5, 9, 10, 11, 12, 13, 14)}
    # a negative amount is a refund line, not an error
    assert query(target, "select line_kind, amount::varchar from raw_crm.orders where order_id = 'ORD-000005'") == [
        ("refund", "-1.00")
    ]
    # the ';' file writes its amount with a '.' decimal: read as written, not multiplied
    assert query(target, "select amount::varchar from raw_crm.orders where order_id = 'ORD-000010'") == [("19.90",)]
    assert query(target, "select payment_method from raw_crm.orders where order_id = 'ORD-000013'") == [
        ("carte bancaire é",)
    ]
    assert query(target, "select channel from raw_crm.orders where order_id = 'ORD-000011'") == [
        ("direct\nsecond line",)
    ]


def test_amount_column_turned_to_text_is_quarantined_never_null(target: Target, landing: Path) -> None:
    write_orders(landing / "orders_001.csv", [order_row(i) for i in range(3)])
    run_crm(target, landing)
    # a later export writes its amounts as text: with a currency, words, a decimal comma beside a thousands dot
    amounts = ["19.90 EUR", "EUR 5", "n/a", "twelve", "1.234,5.0"]
    later = write_orders(landing / "orders_002.csv", [order_row(10 + i, amount=a) for i, a in enumerate(amounts)])
    _touch_later(later, 5)
    report = run_crm(target, landing)
    load = _step(report, "load")
    assert load.tables["orders"].quarantined == len(amounts)
    assert not any(t.variant_columns for t in load.tables.values())
    quarantined = query(
        target, "select line_number, reason, raw_text from raw_crm.quarantine where source_file like '%orders_002%'"
    )
    assert sorted(line for line, *_ in quarantined) == [2, 3, 4, 5, 6]
    for line, reason, raw in quarantined:
        assert reason.startswith("non-numeric amount") and amounts[line - 2] in raw, (reason, raw)
    # nothing of that file loaded, no variant column, no NULL amount: the values are in the quarantine
    assert query(target, "select count(*) from raw_crm.orders where _source_file like '%orders_002%'") == [(0,)]
    assert query(target, "select count(*) from raw_crm.orders where amount is null") == [(0,)]
    variants = "select count(*) from information_schema.columns where strpos(column_name, '__v_') > 0"
    assert query(target, variants) == [(0,)]
    assert query(target, "select data_type from information_schema.columns where table_schema = 'raw_crm' "
                 "and table_name = 'orders' and column_name = 'amount'")[0][0].startswith("DECIMAL")  # fmt: skip


def test_crash_between_bronze_and_warehouse_loses_and_duplicates_nothing(target: Target, landing: Path) -> None:
    write_orders(landing / "orders_001.csv", [order_row(i) for i in range(4)])
    # the process dies after Bronze was written, before the warehouse load
    assert extract_to_bronze(crm_plugin, target, {"landing_url": str(landing)}).status == "ok"
    later = write_orders(landing / "orders_002.csv", [order_row(3, amount="99.00"), order_row(7)])
    _touch_later(later, 5)
    report = RunReport(target.name, "test")
    run_source(crm_plugin, target, report, {"landing_url": str(landing)})
    assert _step(report, "load").tables["orders"].rows == 6  # both Bronze loads
    assert query(target, f"select count(*), count(distinct order_id) from {latest_orders()}") == [(5, 5)]
    assert query(target, "select count(*) from raw_crm.orders") == [(6,)]  # both versions of order 3, once each
    assert query(target, f"select amount::varchar from {latest_orders()} where order_id = 'ORD-000003'") == [("99.00",)]
    # and loading again is a no-op
    assert load_from_bronze(crm_plugin, target).status == "nothing_new"


def test_missing_landing_location_is_a_clear_error(target: Target, tmp_path: Path) -> None:
    report = RunReport(target.name, "test")
    run_source(crm_plugin, target, report, {"landing_url": str(tmp_path / "nowhere")})
    extract = _step(report, "extract")
    assert extract.status == "failed" and report.failed
    assert "landing location" in extract.error and "nowhere" in extract.error
    assert "sources.crm.landing_url" in extract.error


def test_the_duckdb_memory_limit_setting_bounds_the_writer(target: Target, monkeypatch) -> None:
    # unset, the connection keeps DuckDB's own default (80% of RAM) and only loads that stream are bounded
    # (tests/test_streaming_load_memory.py): 256MB made dlt's de-duplicating merge of 1M rows of 23 columns run out
    # of memory in DuckDB's window operator
    monkeypatch.setenv("MDW__TARGETS__LOCAL__DUCKDB_MEMORY_LIMIT", "2GB")
    with connect_writer(current_target()) as connection:
        assert connection.sql("select current_setting('memory_limit')").fetchone() == ("1.8 GiB",)


def test_duckdb_out_of_memory_names_the_settings_is_not_retried_and_loses_nothing(
    target: Target, landing: Path, monkeypatch
) -> None:
    write_orders(landing / "orders_001.csv", [order_row(i) for i in range(20_000)])
    monkeypatch.setenv("MDW__TARGETS__LOCAL__DUCKDB_MEMORY_LIMIT", "2MB")
    starved = current_target()
    report = RunReport(starved.name, "test")
    run_source(crm_plugin, starved, report, {"landing_url": str(landing)})
    load = next(s for s in report.steps if s.step == "load")
    assert load.error and "DuckDB ran out of memory" in load.error
    assert "mdw.targets.local.duckdb_memory_limit (now 2MB)" in load.error and "mdw.load_max_files" in load.error
    assert load.transient is False  # the same load needs the same memory: Airflow must not retry it as it is
    # the extract landed in Bronze; with the limit raised the next run loads it all
    monkeypatch.delenv("MDW__TARGETS__LOCAL__DUCKDB_MEMORY_LIMIT")
    run_crm(current_target(), landing)
    assert query(target, "select count(*) from raw_crm.orders") == [(20_000,)]


def test_arrow_buffers_come_from_jemalloc_unless_the_user_chose_a_pool(monkeypatch) -> None:
    before = pa.default_memory_pool()
    try:
        pa.set_memory_pool(pa.system_memory_pool())
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")
        use_jemalloc_for_arrow()
        assert pa.default_memory_pool().backend_name == "system"  # the user's choice stands
        monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL")
        use_jemalloc_for_arrow()
        assert pa.default_memory_pool().backend_name == "jemalloc"  # Linux wheels ship it
    finally:
        pa.set_memory_pool(before)
