"""What every DAG shares: default task arguments, the DuckDB writer pool, and run history in ``ops``.

A DAG run is one run in the warehouse ``ops`` tables: its ``run_id`` derives from the Airflow DAG run, so the
parts recorded by different tasks (extract + load, each dbt step) add up to one ``ops.runs`` row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import tempfile
from datetime import UTC, datetime, timedelta
from typing import Any

from mdw_airflow.alerts import failure_notifier
from mdw_airflow.settings import AirflowSettings
from pipelines.ops import record_run
from pipelines.report import RunReport, StepReport, TableReport, format_summary
from pipelines.targets import Target

log = logging.getLogger(__name__)


def default_args(cfg: AirflowSettings) -> dict[str, Any]:
    """Task defaults: retries with exponential backoff and an e-mail on every task failure."""
    return {
        "owner": "mdw",
        "retries": cfg.retries,
        "retry_delay": timedelta(minutes=cfg.retry_delay_minutes),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=cfg.max_retry_delay_minutes),
        "on_failure_callback": failure_notifier(cfg),
    }


def writer_kwargs(cfg: AirflowSettings, target: Target) -> dict[str, Any]:
    """Task arguments of a task that writes the warehouse: the one-slot pool on a local DuckDB target."""
    return {"pool": cfg.pool} if target.is_local_duckdb else {}


def run_report(context: Any, target: Target) -> RunReport:
    """The ``ops`` run of this DAG run (same ``run_id`` for every task of the run)."""
    dag_run = context["dag_run"]
    key = f"{dag_run.dag_id}/{dag_run.run_id}"
    started = getattr(dag_run, "start_date", None) or datetime.now(UTC)
    report = RunReport(target.name, f"airflow {key}", warehouse=str(target.warehouse_path or target.warehouse_type))
    report.run_id = hashlib.sha1(key.encode()).hexdigest()[:12]
    report.started_at = started
    return report


def step_to_xcom(step: StepReport) -> dict[str, Any]:
    """A step report as JSON-able data (for XCom)."""
    data = dataclasses.asdict(step)
    data["started_at"] = step.started_at.isoformat()
    return data


def step_from_xcom(data: dict[str, Any]) -> StepReport:
    """The inverse of :func:`step_to_xcom`."""
    values = dict(data)
    values["started_at"] = datetime.fromisoformat(values["started_at"])
    values["tables"] = {name: TableReport(**t) for name, t in values.get("tables", {}).items()}
    return StepReport(**values)


def record(
    report: RunReport,
    target: Target,
    new_steps: list[StepReport],
    dbt_results: list[dict[str, Any]] | None = None,
    freshness: list[dict[str, Any]] | None = None,
) -> None:
    """Record the run so far in ``ops`` (its ``new_steps`` rows appended) and log the CLI's summary."""
    report.finished_at = datetime.now(UTC)
    if target.is_local_duckdb:  # serialised by the pool: the target's own pipeline state is safe
        record_run(report, target, dbt_results, steps=new_steps, freshness=freshness)
    else:  # concurrent tasks on one worker must not share the ops pipeline's local state
        with tempfile.TemporaryDirectory(prefix="mdw_ops_") as tmp:
            record_run(report, target, dbt_results, steps=new_steps, freshness=freshness, pipelines_dir=tmp)
    log.info("run %s recorded in ops\n%s", report.run_id, format_summary(report))
