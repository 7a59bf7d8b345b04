"""The workspace the conformance checks share: a throw-away data dir (local Bronze folder, DuckDB warehouse, dlt
state) for one plugin, its runs (each made once) and snapshots of its raw tables."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from dlt.common.data_writers.escape import escape_postgres_identifier as quote  # DuckDB's, as dlt quotes

from marketing_dwh.demo_world import DemoWorld
from marketing_dwh.registry import SourcePlugin
from pipelines.ops import record_run
from pipelines.report import RunReport
from pipelines.runner import run_source
from pipelines.targets import Target

# lineage that differs between loads of the same data (left out when comparing contents)
LINEAGE_COLUMNS = ("_bronze_load_id",)


class CheckFailed(Exception):
    """A finding that fails the check; its message is the result's detail."""


@dataclass(frozen=True)
class TableState:
    rows: int
    fingerprint: int  # order-independent sum of row hashes, lineage columns left out


Snapshot = dict[str, TableState]


def local_target(data_dir: Path) -> Target:
    """A local target (Bronze folder + DuckDB) in ``data_dir``, whatever the project's settings say."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return Target("local", data_dir, str(data_dir / "bronze"), "duckdb", data_dir / "warehouse.duckdb")


class Workspace:
    """A throw-away data dir for one plugin, with the runs and snapshots the checks share (each made once)."""

    def __init__(self, plugin: SourcePlugin, root: Path, scale: float) -> None:
        self.plugin = plugin
        self.root = root
        self.scale = scale
        self.target = local_target(root / "main")
        self._stack = contextlib.ExitStack()
        self._kwargs: dict[str, Any] | None = None
        self._done: dict[str, Any] = {}

    def close(self) -> None:
        self._stack.close()

    @property
    def source_kwargs(self) -> dict[str, Any]:
        """The sandbox's arguments for the source factory (the sandbox stays open for every run)."""
        if self._kwargs is None:
            workdir = self.target.data_dir / "demo" / self.plugin.name
            self._kwargs = self._stack.enter_context(self.plugin.sandbox(DemoWorld(scale=self.scale), workdir))
        return self._kwargs

    def run(self, label: str, plugin: SourcePlugin | None = None) -> Any:
        """One ``mdw run``-like run (extract, load, recorded in ``ops``); a failed step fails the check."""
        report = RunReport(self.target.name, f"check-plugin: {label}")
        run_source(plugin or self.plugin, self.target, report, self.source_kwargs)
        record_run(report, self.target)
        failed = [f"{s.step}: {s.error}" for s in report.steps if s.error]
        if failed:
            raise CheckFailed(f"the {label} failed: {failed[0]}")
        return report

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()`` the first time ``key`` is asked for; a failure is remembered and raised again."""
        if key not in self._done:
            try:
                self._done[key] = make()
            except Exception as exc:
                self._done[key] = exc
        if isinstance(self._done[key], Exception):
            raise self._done[key]
        return self._done[key]

    def first(self) -> tuple[Any, Snapshot]:
        return self.once("first", lambda: (self.run("first run"), snapshot(self.target, self.plugin)))

    def second(self) -> tuple[Any, Snapshot]:
        self.first()
        return self.once("second", lambda: (self.run("second run"), snapshot(self.target, self.plugin)))


def snapshot(target: Target, plugin: SourcePlugin) -> Snapshot:
    """Rows and a content fingerprint of every data table in the plugin's raw dataset (run logs left out)."""
    states = {}
    with duckdb.connect(str(target.warehouse_path), read_only=True) as con:
        for table in raw_tables(con, plugin):
            spec = plugin.tables.get(table.split("__", 1)[0])
            if spec is not None and spec.run_log:
                continue
            columns = [c for c in table_columns(con, plugin, table) if not is_lineage(c)]
            row_hash = f"hash({', '.join(quote(c) for c in sorted(columns))})" if columns else "0"
            sql = f"select count(*), coalesce(sum({row_hash}::hugeint), 0) from {qualified(plugin, table)}"
            rows, fingerprint = con.execute(sql).fetchone()
            states[table] = TableState(int(rows), int(fingerprint))
    return states


def raw_tables(con: Any, plugin: SourcePlugin) -> list[str]:
    sql = "select table_name from information_schema.tables where table_schema = ? and table_type = 'BASE TABLE'"
    return sorted(t for (t,) in con.execute(sql, [plugin.dataset_name]).fetchall() if not t.startswith("_dlt"))


def table_columns(con: Any, plugin: SourcePlugin, table: str) -> list[str]:
    sql = "select column_name from information_schema.columns where table_schema = ? and table_name = ?"
    return [c for (c,) in con.execute(sql, [plugin.dataset_name, table]).fetchall()]


def duplicate_keys(target: Target, plugin: SourcePlugin) -> dict[str, int]:
    """Per declared table with a primary key: how many key values occur more than once in the raw table."""
    found = {}
    with duckdb.connect(str(target.warehouse_path), read_only=True) as con:
        present = set(raw_tables(con, plugin))
        for table, spec in plugin.tables.items():
            if table in present and spec.primary_key:
                keys = ", ".join(quote(k) for k in spec.primary_key)
                grouped = f"select {keys} from {qualified(plugin, table)} group by all having count(*) > 1"
                sql = f"select count(*) from ({grouped})"
                found[table] = con.execute(sql).fetchone()[0]
    return {t: n for t, n in found.items() if n}


def is_lineage(column: str) -> bool:
    return column.startswith("_dlt_") or column in LINEAGE_COLUMNS


def qualified(plugin: SourcePlugin, table: str) -> str:
    return f"{quote(plugin.dataset_name)}.{quote(table)}"


def top_level(table: str) -> bool:
    """Not a nested table dlt made from a list inside the rows of another (``parent__child``)."""
    return "__" not in table


def differences(before: Snapshot, after: Snapshot, what: str) -> list[str]:
    out = []
    for table in sorted(set(before) | set(after)):
        b, a = before.get(table), after.get(table)
        if b is None or a is None:
            out.append(f"{table} {'appeared' if b is None else 'disappeared'}")
        elif b.rows != a.rows:
            out.append(f"{table} {b.rows} -> {a.rows} rows")
        elif what == "contents" and b.fingerprint != a.fingerprint:
            out.append(f"{table} (same {a.rows} rows, other values)")
    return out


def warehouse_text(target: Target) -> str:
    """Every value of every table in the warehouse (raw, ops, dbt's schemas ...), as text."""
    if not Path(target.warehouse_path).exists():
        return ""
    chunks = []
    with duckdb.connect(str(target.warehouse_path), read_only=True) as con:
        sql = "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'"
        for schema, table in con.execute(sql).fetchall():
            chunks.append(str(con.execute(f"select * from {quote(schema)}.{quote(table)}").fetchall()))
    return "\n".join(chunks)
