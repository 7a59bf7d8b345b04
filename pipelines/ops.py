"""Run history in the warehouse ``ops`` dataset, written with dlt like any other data.

``ops.runs``        one row per CLI/Airflow run: command, target, status, duration, error
``ops.run_tables``  one row per run, step and table: rows received, of them new and updated keys, quarantined,
                    schema changes, variant columns (values that did not fit their type), warnings, duration,
                    status, error
``ops.dbt_results`` one row per dbt node executed: status, message, seconds
``ops.source_freshness`` one row per source table checked by ``dbt source freshness``: newest load, age, status

A CLI run records itself as ``running`` when it starts and again when it ends. A run whose process died meanwhile
is marked ``interrupted`` by the next run on the same data dir (each run holds a lock file while it lives, see
:func:`start_run`), also one that died before its start was recorded. An ops load that failed is finished by the
next recording, before its own rows.

A run recorded in several parts (an Airflow DAG run records after each task) keeps one ``run_id``: ``ops.runs``
is merged on it (the latest part carries the whole run so far), the other tables get only the new part's rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import dlt

from pipelines.locks import exclusive
from pipelines.report import RunReport, StepReport
from pipelines.runner import finish_pending
from pipelines.targets import Target
from pipelines.warehouse_writer import warehouse_writer

Progress = Callable[[str], None]

OPS_DATASET = "ops"


def _rows(
    report: RunReport, steps: list[StepReport] | None = None, running: bool = False
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    finished = None if running else report.finished_at or datetime.now(UTC)
    errors = [f"{s.source}/{s.step}: {s.error}" for s in report.steps if s.error]
    run = {
        "run_id": report.run_id,
        "command": report.command,
        "target": report.target,
        "started_at": report.started_at,
        "finished_at": finished,
        "duration_s": (finished - report.started_at).total_seconds() if finished else None,
        "status": "running" if running else report.status,
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
                    "variant_columns": ", ".join(t.variant_columns) or None,
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
                    "variant_columns": None,
                    "started_at": step.started_at,
                    "duration_s": step.duration_s,
                    "status": step.status,
                    "error": step.error,
                    "load_id": step.load_id,
                }
            )
    return [run], tables


_COLUMNS = {
    "runs": {
        "error": {"data_type": "text", "nullable": True},
        "finished_at": {"data_type": "timestamp", "nullable": True},
        "duration_s": {"data_type": "double", "nullable": True},
    },
    "run_tables": {
        "table_name": {"data_type": "text", "nullable": True},
        "schema_changes": {"data_type": "text", "nullable": True},
        "error": {"data_type": "text", "nullable": True},
        "load_id": {"data_type": "text", "nullable": True},
        "rows_new": {"data_type": "bigint", "nullable": True},
        "rows_updated": {"data_type": "bigint", "nullable": True},
        "warnings": {"data_type": "text", "nullable": True},
        "variant_columns": {"data_type": "text", "nullable": True},
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


_RUN_COLUMNS = ("run_id", "command", "target", "started_at", "finished_at", "duration_s", "status", "error")


@contextlib.contextmanager
def _ops_pipeline(target: Target, pipelines_dir: str | None, progress: Progress | None) -> Iterator[dlt.Pipeline]:
    """The ``mdw_ops`` pipeline, under its lock and the warehouse writer, with earlier unfinished loads done."""
    pipelines_dir = pipelines_dir or target.pipelines_dir
    lock = target.pipeline_lock("mdw_ops", pipelines_dir)
    what = "run recording its history (pipeline mdw_ops)"
    with exclusive(lock, what, target.lock_timeout_s, progress), warehouse_writer(target, progress) as destination:
        pipeline = dlt.pipeline(
            pipeline_name="mdw_ops", destination=destination, dataset_name=OPS_DATASET, pipelines_dir=pipelines_dir
        )
        # the run history has no pipeline state worth restoring (no cursors): dlt neither reads it back from the
        # warehouse before each record nor writes it with each record (two queries and an insert per record)
        pipeline.config.restore_from_destination = False
        finish_pending(pipeline)  # an earlier run's record whose load failed lands first, then ours
        yield pipeline


def _runs_resource(rows: list[dict[str, Any]]) -> Any:
    return dlt.resource(rows, name="runs", write_disposition="merge", primary_key="run_id", columns=_COLUMNS["runs"])


def _recorded_runs(pipeline: dlt.Pipeline, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The ``ops.runs`` rows of ``run_ids`` that are recorded, by run id."""
    if not run_ids or "runs" not in (pipeline.default_schema.tables if pipeline.default_schema_name else {}):
        return {}
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name("runs")
        marks = ", ".join(["%s"] * len(run_ids))
        rows = client.execute_sql(f"select {', '.join(_RUN_COLUMNS)} from {table} where run_id in ({marks})", *run_ids)
    return {r[0]: dict(zip(_RUN_COLUMNS, r, strict=True)) for r in rows or []}


def start_run(
    report: RunReport,
    target: Target,
    gone: Mapping[str, datetime],
    progress: Progress | None = None,
) -> list[str]:
    """Record ``report`` as ``running``, and earlier runs whose process is ``gone`` before they finished as
    ``interrupted``.

    ``gone``: the ids of earlier runs whose process has ended, with the time each started. Of these, the ones still
    ``running`` in ``ops.runs`` are marked interrupted, and so are the ones not recorded at all (killed before their
    start was recorded: ``command`` and ``target`` unknown); the ones that finished are left as they are.
    Returns the ids of the runs marked interrupted.
    """
    if progress:
        progress(f"[ops] recording run {report.run_id} as running in {OPS_DATASET}.runs")
    with _ops_pipeline(target, None, progress) as pipeline:
        earlier = {run_id: started for run_id, started in gone.items() if run_id != report.run_id}
        recorded = _recorded_runs(pipeline, sorted(earlier))
        interrupted = [row for row in recorded.values() if row["status"] == "running"]
        for row in interrupted:
            row["status"] = "interrupted"
            row["error"] = f"ended before it finished (process killed or crashed; noticed by run {report.run_id})"
        for run_id in sorted(set(earlier) - set(recorded)):
            interrupted.append(
                {
                    **dict.fromkeys(_RUN_COLUMNS),
                    "run_id": run_id,
                    "started_at": earlier[run_id],
                    "status": "interrupted",
                    "error": f"ended before its start was recorded (process killed or crashed; noticed by run "
                    f"{report.run_id})",
                }
            )
        runs, _ = _rows(report, [], running=True)
        pipeline.run([_runs_resource(runs + interrupted)])
    return [r["run_id"] for r in interrupted]


def record_run(
    report: RunReport,
    target: Target,
    dbt_results: list[dict[str, Any]] | None = None,
    *,
    steps: list[StepReport] | None = None,
    freshness: list[dict[str, Any]] | None = None,
    pipelines_dir: str | None = None,
    progress: Progress | None = None,
) -> None:
    """Append the report to the warehouse ``ops`` tables (its ``ops.runs`` row is merged on ``run_id``).

    ``steps``: the steps whose table rows are appended (default: all of the report's), for runs recorded in
    parts; ``freshness``: rows of ``dbt source freshness`` (see ``pipelines.dbt_runner.freshness_rows``);
    ``pipelines_dir``: where dlt keeps the ops pipeline's local state (default: the target's).
    """
    runs, tables = _rows(report, steps)
    if progress:
        progress(f"[ops] recording run {report.run_id} ({runs[0]['status']}) in the {OPS_DATASET} tables")
    data = [
        _runs_resource(runs),
        dlt.resource(tables, name="run_tables", write_disposition="append", columns=_COLUMNS["run_tables"]),
    ]
    if dbt_results:
        rows = [{"run_id": report.run_id, **r} for r in dbt_results]
        data.append(dlt.resource(rows, name="dbt_results", write_disposition="append", columns=_COLUMNS["dbt_results"]))
    if freshness:
        rows = [{"run_id": report.run_id, **r} for r in freshness]
        columns = _COLUMNS["source_freshness"]
        data.append(dlt.resource(rows, name="source_freshness", write_disposition="append", columns=columns))
    with _ops_pipeline(target, pipelines_dir, progress) as pipeline:
        pipeline.run(data)
