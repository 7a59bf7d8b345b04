"""A local load whose memory does not grow with its rows runs in a bounded DuckDB (``memory_limit``), unless the
user set ``mdw.targets.local.duckdb_memory_limit``; a load that merges many rows keeps DuckDB's default. Real
Bronze Parquet and JSONL files, real dlt pipelines on a real DuckDB file."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import order_row, query, run_crm, write_orders
from marketing_dwh.registry import SourcePlugin, TableSpec, no_sandbox
from pipelines import warehouse_writer as writer
from pipelines.bronze import SMALL_MERGE_ROWS, load_streams
from pipelines.report import RunReport
from pipelines.runner import run_source
from pipelines.targets import Target, current_target
from sources.crm.plugin import plugin as crm_plugin

TABLES = {
    "orders": TableSpec("merge", ("k",), immutable_rows=True),  # insert-only when read in place
    "ledger": TableSpec("merge", ("k",)),  # dlt's merge: staging and a window
    "events": TableSpec("append"),
}
PLUGIN = SourcePlugin("shop", "test plugin", lambda: None, "sources.shop", no_sandbox, TABLES)


def _bronze(root: Path, table: str, rows: int, name: str = "1700000000.1.a1") -> None:
    folder = root / "shop" / table
    folder.mkdir(parents=True, exist_ok=True)
    if name.endswith(".jsonl.gz"):
        with gzip.open(folder / name, "wt") as f:
            f.writelines(json.dumps({"k": i}) + "\n" for i in range(rows))
        return
    pq.write_table(pa.table({"k": list(range(rows))}), folder / f"{name}.parquet")


def test_a_load_streams_unless_it_merges_many_rows(tmp_path: Path) -> None:
    bronze = tmp_path / "bronze"
    _bronze(bronze, "orders", 3 * SMALL_MERGE_ROWS)
    _bronze(bronze, "events", 3 * SMALL_MERGE_ROWS)
    _bronze(bronze, "ledger", SMALL_MERGE_ROWS)
    assert load_streams(str(bronze), PLUGIN, {}, max_files=4, replay=False)  # inserts, and a small merge
    _bronze(bronze, "ledger", 1, name="1700000001.1.b2")
    assert not load_streams(str(bronze), PLUGIN, {}, max_files=4, replay=False)  # one row more to merge
    # the cursor: files already loaded are not in the next load, unless it replays from the first file
    state = {"sources": {"shop": {"resources": {"ledger": {"last_file": "ledger/1700000000.1.a1.parquet"}}}}}
    assert load_streams(str(bronze), PLUGIN, state, max_files=4, replay=False)
    assert not load_streams(str(bronze), PLUGIN, state, max_files=4, replay=True)
    # a load takes max_files files per table: the second file waits for the next load
    assert load_streams(str(bronze), PLUGIN, {}, max_files=1, replay=False)


def test_a_merge_of_rows_not_counted_does_not_stream(tmp_path: Path) -> None:
    bronze = tmp_path / "bronze"
    _bronze(bronze, "ledger", 10, name="1700000000.1.a1.jsonl.gz")  # JSONL: no footer tells its rows
    assert not load_streams(str(bronze), PLUGIN, {}, max_files=4, replay=False)
    # immutable rows are insert-only only when DuckDB reads Parquet in place
    immutable_jsonl = tmp_path / "other"
    _bronze(immutable_jsonl, "orders", 10, name="1700000000.1.a1.jsonl.gz")
    assert not load_streams(str(immutable_jsonl), PLUGIN, {}, max_files=4, replay=False)


def _memory_limit(pipeline: dlt.Pipeline) -> str:
    with pipeline.sql_client() as client:
        return client.execute_sql("select current_setting('memory_limit')")[0][0]


@pytest.mark.parametrize("setting", [None, "2GB"])
def test_streaming_memory_bounds_duckdb_during_the_load_only(
    target: Target, monkeypatch: pytest.MonkeyPatch, setting: str | None
) -> None:
    if setting:
        monkeypatch.setenv("MDW__TARGETS__LOCAL__DUCKDB_MEMORY_LIMIT", setting)
    configured = current_target()
    with writer.warehouse_writer(configured) as destination:
        pipeline = dlt.pipeline(
            "mem_test", destination=destination, dataset_name="t", pipelines_dir=str(target.data_dir)
        )
        default = _memory_limit(pipeline)
        with writer.streaming_memory(pipeline, configured, streams=False):
            assert _memory_limit(pipeline) == default
        with writer.streaming_memory(pipeline, configured, streams=True):
            # DuckDB shows 256MB as 244.1 MiB; a limit the user set always stands
            assert _memory_limit(pipeline) == ("1.8 GiB" if setting else "244.1 MiB")
        assert _memory_limit(pipeline) == default  # reset for whatever the writer loads next


def test_a_streaming_load_that_runs_out_of_memory_names_the_setting_and_loses_nothing(
    target: Target, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_orders(landing / "orders_001.csv", [order_row(i) for i in range(20_000)])
    monkeypatch.setattr(writer, "STREAMING_LOAD_MEMORY", "2MB")
    report = RunReport(target.name, "test")
    run_source(crm_plugin, target, report, {"landing_url": str(landing)})
    load = next(s for s in report.steps if s.step == "load")
    assert load.error and "DuckDB ran out of memory" in load.error, load.error
    assert "duckdb_memory_limit (unset: this load streams and ran in 2MB" in load.error
    assert load.transient is False
    # a limit set by the user replaces the bound: the next run loads everything the first one landed in Bronze
    monkeypatch.setenv("MDW__TARGETS__LOCAL__DUCKDB_MEMORY_LIMIT", "1GB")
    run_crm(current_target(), landing)
    assert query(target, "select count(*) from raw_crm.orders") == [(20_000,)]


def test_a_load_that_merges_many_rows_keeps_duckdbs_default(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same tiny bound that starves the streaming load above is not applied to a large dlt merge."""
    monkeypatch.setattr(writer, "STREAMING_LOAD_MEMORY", "2MB")

    @dlt.source(name="shop")
    def shop(n: int) -> Any:
        return dlt.resource(
            pa.table({"k": list(range(n)), "v": [f"value {i}" for i in range(n)]}),
            name="ledger",
            write_disposition="append",
        )

    plugin = SourcePlugin("shop", "test plugin", shop, "sources.shop", no_sandbox, {"ledger": TABLES["ledger"]})
    report = RunReport(target.name, "test")
    run_source(plugin, target, report, {"n": SMALL_MERGE_ROWS + 1})
    assert not report.failed, [s.error for s in report.steps]
    assert query(target, "select count(*) from raw_shop.ledger") == [(SMALL_MERGE_ROWS + 1,)]
