"""Bronze -> warehouse: DuckDB reading the Bronze Parquet files itself gives what the Arrow path gives, and the CRM
reader's read-ahead keeps the files' order and a bounded number of files in memory."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import dlt
import duckdb
import pytest

from conftest import order_row, write_orders
from pipelines.bronze import Backlog, bronze_source
from pipelines.runner import extract_to_bronze
from pipelines.targets import Target
from sources.crm.helpers import read_ahead
from sources.crm.plugin import plugin as crm_plugin


def _load(target: Target, db: Path, in_place: bool) -> tuple[list[dict], list[tuple], list[tuple]]:
    """Load the CRM Bronze files into a fresh DuckDB file; its orders (without the warehouse load id), their
    column types, and the load ids they came from."""
    pipeline = dlt.pipeline(
        f"compare_{in_place}",
        destination=dlt.destinations.duckdb(str(db)),
        dataset_name="raw_crm",
        pipelines_dir=str(db.parent / "pipelines"),
    )
    dataset = pipeline.dataset() if in_place else None
    pipeline.run(bronze_source(target.bronze_url, crm_plugin, 10, Backlog(), dataset))
    with duckdb.connect(str(db), read_only=True) as con:
        result = con.sql("select * exclude (_dlt_load_id) from raw_crm.orders")
        rows = sorted(
            (dict(zip(result.columns, r, strict=True)) for r in result.fetchall()),
            key=lambda r: (r["order_id"], r["_source_modified_at"], r["_source_file"], r["_source_line"]),
        )
        types = con.sql(
            "select column_name, data_type, is_nullable from information_schema.columns "
            "where table_schema = 'raw_crm' and table_name = 'orders' order by column_name"
        ).fetchall()
        loads = con.sql("select distinct _dlt_load_id from raw_crm.orders").fetchall()
    return rows, types, loads


def test_duckdb_reading_bronze_parquet_in_place_loads_what_the_arrow_path_loads(
    target: Target, landing: Path, tmp_path: Path
) -> None:
    write_orders(landing / "orders_001.csv", [order_row(i) for i in range(40)])
    write_orders(landing / "orders_002.csv", [order_row(i, amount="12.50") for i in range(30, 60)])
    for _ in range(2):  # two Bronze loads: the Bronze load id differs per file
        assert extract_to_bronze(crm_plugin, target, {"landing_url": str(landing)}).error is None
        write_orders(landing / "orders_003.csv", [order_row(i) for i in range(100, 110)])
    in_place = _load(target, tmp_path / "in_place" / "w.duckdb", in_place=True)
    through_arrow = _load(target, tmp_path / "arrow" / "w.duckdb", in_place=False)
    assert in_place[0] == through_arrow[0]
    assert in_place[1] == through_arrow[1]
    assert len(in_place[0]) == 80  # every row of each file version (orders 30-39 come in two files: kept twice)
    bronze_ids = {r["_bronze_load_id"] for r in in_place[0]}
    assert len(bronze_ids) == 2 and all(i and i.count(".") == 1 for i in bronze_ids)
    assert len(in_place[2]) == 1 and in_place[2][0][0] not in bronze_ids  # one warehouse load id of its own


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_read_ahead_keeps_the_order_and_a_bounded_number_of_files_at_once(workers: int) -> None:
    lock = threading.Lock()
    held = {"now": 0, "max": 0}

    def read(name: str) -> str:
        with lock:
            held["now"] += 1
            held["max"] = max(held["max"], held["now"])
        time.sleep(random.uniform(0, 0.01))
        return name

    names = [f"f{i:02d}" for i in range(30)]
    seen = []
    for done in read_ahead(names, read, workers=workers):  # type: ignore[arg-type]
        seen.append(done)
        time.sleep(random.uniform(0, 0.01))
        with lock:
            held["now"] -= 1  # the consumer is done with this file
    assert seen == names
    assert held["max"] <= workers + 1  # read ahead, and the one being consumed
