"""Write-audit-publish of Gold (pipelines/publish.py): what is published, what holds it, and the swap itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dlt
import duckdb
import sqlglot

from pipelines.publish import STAGING_SCHEMA, GoldModels, held_by, publish


def _manifest(tmp_path: Path) -> Path:
    nodes = {
        "model.p.fact_orders": {"resource_type": "model", "name": "fact_orders", "schema": STAGING_SCHEMA,
                                "config": {"materialized": "incremental"}, "tags": []},
        "model.p.mart_orders": {"resource_type": "model", "name": "mart_orders", "alias": "mart_orders",
                                "schema": STAGING_SCHEMA, "config": {"materialized": "view"}, "tags": []},
        "model.p.helper": {"resource_type": "model", "name": "helper", "schema": STAGING_SCHEMA,
                           "config": {"materialized": "ephemeral"}, "tags": []},
        "model.p.stg_orders": {"resource_type": "model", "name": "stg_orders", "schema": "silver",
                               "config": {"materialized": "view"}, "tags": []},
        "test.p.reconcile": {"resource_type": "test", "name": "assert_reconcile", "tags": ["critical"]},
        "test.p.unique": {"resource_type": "test", "name": "unique_fact_orders_order_id", "tags": []},
    }  # fmt: skip
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"nodes": nodes}))
    return path


def test_the_manifest_names_the_gold_tables_and_the_critical_tests(tmp_path: Path) -> None:
    gold = GoldModels.from_manifest(_manifest(tmp_path))
    assert gold.tables == ("fact_orders", "mart_orders")  # not ephemeral models, not other schemas
    assert gold.critical_tests == ("assert_reconcile",)


def test_gold_is_held_by_a_failed_or_missing_critical_test_or_a_failed_gold_model(tmp_path: Path) -> None:
    gold = GoldModels.from_manifest(_manifest(tmp_path))

    def results(**status: str) -> list[dict[str, Any]]:
        return [{"node": node, "status": s} for node, s in status.items()]

    ok = results(fact_orders="success", mart_orders="success", assert_reconcile="pass")
    assert held_by(gold, ok) == []
    assert held_by(gold, [*ok[:2], *results(assert_reconcile="fail")]) == ["critical test assert_reconcile fail"]
    assert held_by(gold, ok[:2]) == ["critical test assert_reconcile did not run"]
    skipped = results(fact_orders="success", mart_orders="skipped", assert_reconcile="pass")
    assert held_by(gold, skipped) == ["Gold model mart_orders skipped"]
    # a failing test that is not critical does not hold the publish by itself
    assert held_by(gold, [*ok, *results(unique_fact_orders_order_id="fail")]) == []


def test_duckdb_publish_replaces_every_gold_table_in_one_transaction(tmp_path: Path) -> None:
    path = tmp_path / "wh.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(f"create schema {STAGING_SCHEMA}")
        con.execute(f"create table {STAGING_SCHEMA}.fact_orders as select range as order_id from range(5)")
        con.execute(f"create view {STAGING_SCHEMA}.mart_orders as select * from {STAGING_SCHEMA}.fact_orders")
        con.execute("create schema gold")
        con.execute("create table gold.fact_orders as select 1 as order_id")
        con.execute("create view gold.mart_orders as select 42 as order_id")  # a view in an older Gold
        con.execute("create table gold.kept as select 7 as x")  # not a model of this build: left alone
    pipeline = dlt.pipeline("publish_test", destination=dlt.destinations.duckdb(str(path)), dataset_name="analytics",
                            pipelines_dir=str(tmp_path / "pipelines"))  # fmt: skip
    with pipeline.sql_client() as client:
        assert publish(client, ["fact_orders", "mart_orders"], "duckdb") == ["fact_orders", "mart_orders"]
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select count(*) from gold.fact_orders").fetchone() == (5,)
        assert con.execute("select count(*) from gold.mart_orders").fetchone() == (5,)
        sql = "select table_name, table_type from information_schema.tables where table_schema = 'gold'"
        kinds = dict(con.execute(sql).fetchall())
        assert kinds == {"fact_orders": "BASE TABLE", "mart_orders": "BASE TABLE", "kept": "BASE TABLE"}
    # published tables are copies: they do not read gold__staging, which the next build rewrites
    with duckdb.connect(str(path)) as con:
        con.execute(f"drop schema {STAGING_SCHEMA} cascade")
        assert con.execute("select count(*) from gold.mart_orders").fetchone() == (5,)


class _RecordingBigQueryClient:
    """The part of dlt's BigQuery sql client that publish uses, recording the statements it would send."""

    def __init__(self) -> None:
        self.dataset_name, self.statements = "analytics", []

    def with_alternative_dataset_name(self, name: str) -> Any:
        client = self

        class _Switch:
            def __enter__(self) -> Any:
                client.previous, client.dataset_name = client.dataset_name, name
                return client

            def __exit__(self, *exc: object) -> None:
                client.dataset_name = client.previous

        return _Switch()

    def make_qualified_table_name(self, table: str) -> str:
        return f"`my-project`.`{self.dataset_name}`.`{table}`"

    def has_dataset(self) -> bool:
        return True

    def execute_sql(self, sql: str, *args: Any) -> None:
        self.statements.append(sql)


def test_bigquery_publish_copies_each_table_inside_bigquery() -> None:
    client = _RecordingBigQueryClient()
    assert publish(client, ["fact_orders", "mart_orders"], "bigquery") == ["fact_orders", "mart_orders"]
    assert client.statements == [
        "create or replace table `my-project`.`gold`.`fact_orders` copy `my-project`.`gold__staging`.`fact_orders`",
        "create or replace table `my-project`.`gold`.`mart_orders` copy `my-project`.`gold__staging`.`mart_orders`",
    ]
    for statement in client.statements:  # valid BigQuery DDL (a table copy: no data leaves BigQuery)
        parsed = sqlglot.parse_one(statement, read="bigquery")
        assert parsed.key == "create"
