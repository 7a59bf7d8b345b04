"""Run history in the warehouse ``ops`` dataset, written with dlt like any other data.

``ops.runs``        one row per CLI/Airflow run: command, target, status, duration, error
``ops.run_tables``  one row per run, step and table: rows received, of them new and updated keys, quarantined,
                    schema changes, warnings, duration, status, error
``ops.dbt_results`` one row per dbt node executed: status, message, seconds
``ops.source_freshness`` one row per source table checked by ``dbt source freshness``: newest load, age, status

A run recorded in several parts (an Airflow DAG run records after each task) keeps one ``run_id``: ``ops.runs``
is merged on it (the latest part carries the whole run so far), the other tables get only the new part's rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dlt

from pipelines.report import RunReport, StepReport
from pipelines.targets import Target

OPS_DATASET = "ops"


def _rows(
    report: RunReport, steps: list[StepReport] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    finished = report.finished_at or datetime.now(UTC)
    errors = [f"{s.source}/{s.step}: {s.error}" for s in report.steps if s.error]
    run = {
        "run_id": report.run_id,
        "command": report.command,
        "target": report.target,
        "started_at": report.started_at,
        "finished_at": finished,
        "duration_s": (finished - report.started_at).total_seconds(),
        "status": report.status,
        "error": "; ".join(errors) or None,
    }
    tables = []
    for step in report.steps if steps is None else steps:
        for t in step.tables.values() or []:
            tables.append(
                {
                    "run_id": report.run_id,
                    "source": step.source,
                    "step": step.step,
                    "table_name": t.table,
                    "rows": t.rows,
                    "rows_new": t.new,
                    "rows_updated": t.updated,
                    "quarantined": t.quarantined,
                    "warnings": "; ".join(t.warnings) or None,
                    "schema_changes": "; ".join(t.schema_changes) or None,
                    "started_at": step.started_at,
                    "duration_s": step.duration_s,
                    "status": step.status,
                    "error": step.error,
                    "load_id": step.load_id,
                }
            )
        if not step.tables or step.warnings:  # a step that moved nothing still counts; step-wide warnings too
            tables.append(
                {
                    "run_id": report.run_id,
                    "source": step.source,
                    "step": step.step,
                    "table_name": None,
                    "rows": 0,
                    "rows_new": None,
                    "rows_updated": None,
                    "quarantined": 0,
                    "warnings": "; ".join(step.warnings) or None,
                    "schema_changes": None,
                    "started_at": step.started_at,
                    "duration_s": step.duration_s,
                    "status": step.status,
                    "error": step.error,
                    "load_id": step.load_id,
                }
            )
    return [run], tables


_COLUMNS = {
    "runs": {"error": {"data_type": "text", "nullable": True}},
    "run_tables": {
        "table_name": {"data_type": "text", "nullable": True},
        "schema_changes": {"data_type": "text", "nullable": True},
        "error": {"data_type": "text", "nullable": True},
        "load_id": {"data_type": "text", "nullable": True},
        "rows_new": {"data_type": "bigint", "nullable": True},
        "rows_updated": {"data_type": "bigint", "nullable": True},
        "warnings": {"data_type": "text", "nullable": True},
    },
    "dbt_results": {"message": {"data_type": "text", "nullable": True}},
    "source_freshness": {
        "max_loaded_at": {"data_type": "timestamp", "nullable": True},
        "snapshotted_at": {"data_type": "timestamp", "nullable": True},
        "age_s": {"data_type": "double", "nullable": True},
        "warn_after_s": {"data_type": "double", "nullable": True},
        "error_after_s": {"data_type": "double", "nullable": True},
        "message": {"data_type": "text", "nullable": True},
    },
}


def record_run(
    report: RunReport,
    target: Target,
    dbt_results: list[dict[str, Any]] | None = None,
    *,
    steps: list[StepReport] | None = None,
    freshness: list[dict[str, Any]] | None = None,
    pipelines_dir: str | None = None,
) -> None:
    """Append the report to the warehouse ``ops`` tables.

    ``steps``: the steps whose table rows are appended (default: all of the report's), for runs recorded in
    parts; ``freshness``: rows of ``dbt source freshness`` (see ``pipelines.dbt_runner.freshness_rows``);
    ``pipelines_dir``: where dlt keeps the ops pipeline's local state (default: the target's).
    """
    runs, tables = _rows(report, steps)
    pipeline = dlt.pipeline(
        pipeline_name="mdw_ops",
        destination=target.warehouse_destination(),
        dataset_name=OPS_DATASET,
        pipelines_dir=pipelines_dir or target.pipelines_dir,
    )
    data = [
        dlt.resource(runs, name="runs", write_disposition="merge", primary_key="run_id", columns=_COLUMNS["runs"]),
        dlt.resource(tables, name="run_tables", write_disposition="append", columns=_COLUMNS["run_tables"]),
    ]
    if dbt_results:
        rows = [{"run_id": report.run_id, **r} for r in dbt_results]
        data.append(dlt.resource(rows, name="dbt_results", write_disposition="append", columns=_COLUMNS["dbt_results"]))
    if freshness:
        rows = [{"run_id": report.run_id, **r} for r in freshness]
        columns = _COLUMNS["source_freshness"]
        data.append(dlt.resource(rows, name="source_freshness", write_disposition="append", columns=columns))
    pipeline.run(data)
