"""The insert-only load of tables with immutable rows (``pipelines.bronze._insert_only``), run by real DuckDB over
real Parquet files, keeps exactly the rows dlt's merge would leave: of the keys not yet in the table, one row per
key, the first by the ``dedup_sort`` column (a value before none), on a tie or without the hint the later Bronze
file and row. The reference below is written from that rule, not from the SQL."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from marketing_dwh.registry import TableSpec
from pipelines.bronze import _insert_only

Row = tuple[int, str, int | None]  # key (k1, k2), the sort value v

rows_st = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from(["a", "b", "it's"]), st.none() | st.integers(0, 3)),
    min_size=1,
    max_size=30,
)


def _expected(files: list[list[Row]], present: set[tuple[int, str]], order: str | None) -> set[int]:
    """Row numbers (position over all files in delivery order) that the load keeps."""
    best: dict[tuple[int, str], tuple[int, int | None]] = {}
    position = 0
    for rows in files:
        for k1, k2, v in rows:
            key = (k1, k2)
            if key not in present:
                held = best.get(key)
                if held is None or _beats(v, held[1], order):
                    best[key] = (position, v)
            position += 1
    return {p for p, _ in best.values()}


def _beats(later: int | None, held: int | None, order: str | None) -> bool:
    """Whether a later-delivered row takes the key from the row held so far."""
    if order is None or later == held:
        return True  # no hint, or a tie: the later file and row
    if later is None or held is None:
        return held is None  # a value beats no value
    return later > held if order == "desc" else later < held


def _kept(tmp: Path, files: list[list[Row]], present: set[tuple[int, str]], order: str | None) -> set[int]:
    tmp.mkdir(parents=True, exist_ok=True)
    paths, position = [], 0
    for i, rows in enumerate(files):
        path = tmp / f"{1700000000 + i}.{i:06d}.abc.parquet"  # Bronze-like names: they sort in delivery order
        table = pa.table(
            {
                "k1": [r[0] for r in rows],
                "k2": [r[1] for r in rows],
                "v": pa.array([r[2] for r in rows], pa.int64()),
                "p": list(range(position, position + len(rows))),
            }
        )
        pq.write_table(table, path, row_group_size=4)  # several row groups: DuckDB reads them in parallel
        paths.append(str(path))
        position += len(rows)
    scan = "read_parquet([" + ", ".join(f"'{p}'" for p in paths) + "], filename = true, file_row_number = true)"
    spec = TableSpec(
        write_disposition="merge",
        primary_key=("k1", "k2"),
        columns={"v": {"dedup_sort": order}} if order else {},
        immutable_rows=True,
    )
    with duckdb.connect() as con:
        con.execute('create table "t" (k1 bigint, k2 varchar, v bigint, p bigint)')
        for k1, k2 in present:
            con.execute('insert into "t" values (?, ?, null, -1)', [k1, k2])
        kept = con.sql(f"select s.p from {scan} as s {_insert_only(spec, chr(34) + 't' + chr(34), scan)}")
        return {p for (p,) in kept.fetchall()}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.lists(rows_st, min_size=1, max_size=3),
    present=st.sets(st.tuples(st.integers(0, 3), st.sampled_from(["a", "b"])), max_size=4),
    order=st.sampled_from(["desc", "asc", None]),
)
@example(files=[[(1, "a", 2), (1, "a", 2)]], present=set(), order="desc")  # a tie: the later row
@example(files=[[(1, "a", None)], [(1, "a", 0)]], present=set(), order="desc")  # a value beats none
@example(files=[[(1, "a", 3)], [(1, "a", 1)]], present=set(), order="asc")
@example(files=[[(1, "a", 3)]], present={(1, "a")}, order="desc")  # already loaded: kept as it is
def test_insert_only_keeps_what_a_merge_keeps(
    tmp_path_factory: pytest.TempPathFactory, files: list[list[Row]], present: set, order: str | None
) -> None:
    tmp = tmp_path_factory.mktemp("bronze")
    assert _kept(tmp, files, present, order) == _expected(files, present, order)


def test_immutable_rows_need_a_merge_key() -> None:
    with pytest.raises(ValueError, match="immutable_rows=True.*merge.*primary_key"):
        TableSpec(write_disposition="append", primary_key=("id",), immutable_rows=True)
    with pytest.raises(ValueError, match="primary_key"):
        TableSpec(write_disposition="merge", immutable_rows=True)
