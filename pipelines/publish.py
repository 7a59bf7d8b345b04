"""Write-audit-publish of Gold.

dbt never writes the ``gold`` schema (dataset) the dashboard reads. Every build through the framework writes the
Gold models into ``gold__staging`` (``macros/generate_schema_name.sql``, var ``mdw_gold_schema``), where the tests
run against them; only when every critical test (tag ``critical``: the reconciliations) passed and every Gold model
was built does :func:`publish` copy the staged tables into ``gold``:

- DuckDB: one transaction replaces every Gold table (``create or replace table gold.x as from gold__staging.x``):
  a reader sees the old Gold or the new one, never a mix;
- BigQuery: ``create or replace table gold.x copy gold__staging.x`` per table (a copy job inside BigQuery, no data
  leaves it; each table is replaced atomically).

``gold__staging`` stays as it is between builds: the incremental facts keep updating it, and after a held build it
shows what failed while ``gold`` keeps the last published, audited state.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GOLD_SCHEMA = "gold"
STAGING_SCHEMA = "gold__staging"
CRITICAL_TAG = "critical"
_FAILED = {"error", "fail", "runtime error", "skipped"}


@dataclass(frozen=True)
class GoldModels:
    """What the build's manifest says about Gold: its models' relation names and the critical tests' names."""

    tables: tuple[str, ...]  # relation names of the Gold models (in ``gold__staging`` after the build)
    critical_tests: tuple[str, ...]

    @classmethod
    def from_manifest(cls, path: Path) -> GoldModels:
        nodes = json.loads(path.read_text()).get("nodes", {}).values()
        tables = sorted(
            n.get("alias") or n["name"]
            for n in nodes
            if n.get("resource_type") == "model"
            and n.get("schema") == STAGING_SCHEMA
            and (n.get("config") or {}).get("materialized") != "ephemeral"
            and (n.get("config") or {}).get("enabled", True)
        )
        tests = sorted(
            n["name"] for n in nodes if n.get("resource_type") == "test" and CRITICAL_TAG in n.get("tags", ())
        )
        return cls(tuple(tables), tuple(tests))


def held_by(gold: GoldModels, results: Iterable[dict[str, Any]]) -> list[str]:
    """Why the staged Gold must not be published, from the dbt node results (empty: publish it): a critical test
    that failed or did not run, a Gold model that failed or was skipped."""
    status = {r["node"]: str(r["status"]) for r in results}
    reasons = [
        f"critical test {t} {status.get(t, 'did not run')}"
        for t in gold.critical_tests
        if status.get(t, "") not in ("pass", "success")
    ]
    reasons += [f"Gold model {m} {status[m]}" for m in gold.tables if status.get(m) in _FAILED]
    return reasons


def unrun_critical_tests(gold: GoldModels, results: Iterable[dict[str, Any]]) -> list[str]:
    ran = {r["node"] for r in results}
    return [t for t in gold.critical_tests if t not in ran]


def publish(client: Any, tables: Iterable[str], warehouse_type: str) -> list[str]:
    """Copy the staged Gold ``tables`` into ``gold`` through a dlt sql client; returns the tables published."""
    with client.with_alternative_dataset_name(STAGING_SCHEMA):
        staged = {t: client.make_qualified_table_name(t) for t in tables}
    with client.with_alternative_dataset_name(GOLD_SCHEMA):
        published = {t: client.make_qualified_table_name(t) for t in tables}
        if not client.has_dataset():
            client.create_dataset()
    if warehouse_type == "bigquery":
        for table in staged:
            client.execute_sql(f"create or replace table {published[table]} copy {staged[table]}")
        return list(staged)
    existing = _relation_types(client, GOLD_SCHEMA)
    with client.begin_transaction():
        for table in staged:
            if existing.get(table) == "VIEW":  # a Gold model that was a view before: a table now
                client.execute_sql(f"drop view {published[table]}")
            client.execute_sql(f"create or replace table {published[table]} as select * from {staged[table]}")
    return list(staged)


def _relation_types(client: Any, schema: str) -> dict[str, str]:
    sql = "select table_name, table_type from information_schema.tables where table_schema = %s"
    return {name: kind for name, kind in client.execute_sql(sql, schema) or []}
