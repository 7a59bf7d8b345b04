"""Run history in the warehouse ``ops`` dataset, written with dlt like any other data.

``ops.runs``        one row per CLI/Airflow run: command, target, status, duration, error
``ops.run_tables``  one row per run, step and table: rows, quarantined, schema changes, duration, status, error
``ops.dbt_results`` one row per dbt node executed: status, message, seconds
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dlt

from pipelines.report import RunReport
from pipelines.targets import Target

OPS_DATASET = "ops"


def _rows(report: RunReport) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
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
    for step in report.steps:
        for t in step.tables.values() or []:
            tables.append(
                {
                    "run_id": report.run_id,
                    "source": step.source,
                    "step": step.step,
                    "table_name": t.table,
                    "rows": t.rows,
                    "quarantined": t.quarantined,
                    "schema_changes": "; ".join(t.schema_changes) or None,
                    "started_at": step.started_at,
                    "duration_s": step.duration_s,
                    "status": step.status,
                    "error": step.error,
                    "load_id": step.load_id,
                }
            )
        if not step.tables:  # a step that moved nothing (or failed before moving anything) still counts
            tables.append(
                {
                    "run_id": report.run_id,
                    "source": step.source,
                    "step": step.step,
                    "table_name": None,
                    "rows": 0,
                    "quarantined": 0,
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
    },
    "dbt_results": {"message": {"data_type": "text", "nullable": True}},
}


def record_run(report: RunReport, target: Target, dbt_results: list[dict[str, Any]] | None = None) -> None:
    """Append the report to the warehouse ``ops`` tables."""
    runs, tables = _rows(report)
    pipeline = dlt.pipeline(
        pipeline_name="mdw_ops",
        destination=target.warehouse_destination(),
        dataset_name=OPS_DATASET,
        pipelines_dir=target.pipelines_dir,
    )
    data = [
        dlt.resource(runs, name="runs", write_disposition="merge", primary_key="run_id", columns=_COLUMNS["runs"]),
        dlt.resource(tables, name="run_tables", write_disposition="append", columns=_COLUMNS["run_tables"]),
    ]
    if dbt_results:
        rows = [{"run_id": report.run_id, **r} for r in dbt_results]
        data.append(dlt.resource(rows, name="dbt_results", write_disposition="append", columns=_COLUMNS["dbt_results"]))
    pipeline.run(data)
