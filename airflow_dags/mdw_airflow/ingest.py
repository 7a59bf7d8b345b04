"""One ingest DAG per source plugin: source -> Bronze with dlt's Airflow helper, then Bronze -> warehouse.

The extract runs the same pipeline as ``mdw run`` (``pipelines.runner.bronze_pipeline`` / ``bronze_input``:
pipeline ``<source>_bronze``, the target's Bronze destination, every table forced to append) inside dlt's
``PipelineTasksGroup``. The next task loads the warehouse from Bronze (``load_from_bronze``), records the run
in ``ops`` like the CLI does and, when it loaded rows, emits the Asset ``mdw://raw/<source>``; a run that loaded
nothing new ends ``skipped`` without an Asset event, so the dbt DAG does not rebuild for nothing.

Errors that a retry cannot fix (``pipelines.errors.is_transient``: settings, a missing landing folder or token,
bad input) fail the task at once with ``AirflowFailException``; only transient ones (network, a busy warehouse)
use the task's retries.

DAG params: ``demo`` runs the source against its offline sandbox (the demo world, as ``mdw run --demo``),
``source_kwargs`` are passed to the plugin's source factory (e.g. ``{"landing_url": "gs://b/crm"}``).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Asset, Param, TriggerRule, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from dlt.helpers.airflow_helper import PipelineTasksGroup

from marketing_dwh.registry import SourcePlugin
from mdw_airflow.alerts import deadline_alert
from mdw_airflow.runs import default_args, record, run_report, step_from_xcom, step_to_xcom, writer_kwargs
from mdw_airflow.settings import AirflowSettings, use_project_config
from pipelines.report import StepReport
from pipelines.runner import (
    bronze_input,
    bronze_pipeline,
    extract_step,
    fail_step,
    finish_extract,
    load_from_bronze,
)
from pipelines.targets import Target, current_target

EXTRACT_KEY = "extract_step"
_SOURCE_KWARGS: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "mdw_source_kwargs", default=None
)


def raw_asset(name: str) -> Asset:
    """The Asset a source's ingest DAG emits after a successful load of ``raw_<name>``."""
    return Asset(f"mdw://raw/{name}")


def ingest_dag_id(name: str) -> str:
    """DAG id of a source's ingest DAG."""
    return f"ingest_{name}"


@contextlib.contextmanager
def source_kwargs(plugin: SourcePlugin, target: Target, params: Any) -> Iterator[dict[str, Any]]:
    """Arguments for the plugin's source factory: its sandbox's (``demo``) updated with ``source_kwargs``."""
    extra = dict(params.get("source_kwargs") or {})
    if not params.get("demo"):
        yield extra
        return
    from marketing_dwh.demo_world import DemoWorld

    world = DemoWorld(scale=float(params.get("demo_scale") or 1.0))
    with plugin.sandbox(world, target.data_dir / "demo" / plugin.name) as kwargs:
        yield {**kwargs, **extra}


def _extract(plugin: SourcePlugin, target: Target, pipeline: Any, helper_run: Callable[[], None]) -> Callable:
    """Wrap the helper's task callable: sandbox/arguments in, the extract's step report out (XCom)."""

    def extract(**context: Any) -> dict[str, Any]:
        step, started = extract_step(plugin), time.perf_counter()
        try:
            with source_kwargs(plugin, target, context["params"]) as kwargs:
                token = _SOURCE_KWARGS.set(kwargs)
                try:
                    helper_run()
                finally:
                    _SOURCE_KWARGS.reset(token)
            trace = pipeline.last_trace
            finish_extract(step, pipeline, trace.last_load_info if trace else None)
            if step.resume_at:  # what was fetched is committed; the next run resumes (see pipelines.runner)
                step.warnings.append(f"paused by a quota until {step.resume_at}: the next run resumes")
        except Exception as exc:
            fail_step(step, plugin, exc)
            if not step.transient:  # a setting, a missing folder or token: a retry fails the same way
                raise AirflowFailException(f"{step.error} (not retried: fix it, then clear the task)") from exc
            raise
        finally:
            step.duration_s = time.perf_counter() - started
            context["ti"].xcom_push(key=EXTRACT_KEY, value=step_to_xcom(step))
        return {"status": step.status, "rows": {t.table: t.rows for t in step.tables.values()}}

    return extract


def _missing_extract(plugin: SourcePlugin, state: str) -> StepReport:
    step = extract_step(plugin)
    step.status, step.error = "failed", f"source '{plugin.name}': extract task ended ({state}) without a report"
    return step


def build_ingest_dag(plugin: SourcePlugin, cfg: AirflowSettings) -> DAG:
    """The daily ingest DAG of ``plugin``: extract (dlt helper) -> load_warehouse (+ ops, Asset)."""
    target = current_target()
    dag_id = ingest_dag_id(plugin.name)
    with DAG(
        dag_id=dag_id,
        description=f"{plugin.description}: source -> Bronze -> {plugin.dataset_name}",
        schedule=cfg.timetable(cfg.schedule),
        start_date=cfg.start,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(minutes=cfg.dagrun_timeout_minutes),
        default_args=default_args(cfg),
        tags=[*cfg.tags, "ingest", plugin.name],
        deadline=deadline_alert(cfg, dag_id),
        params={
            "demo": Param(cfg.demo_default, type="boolean", description="run against the plugin's offline sandbox"),
            "demo_scale": Param(1.0, type="number", description="demo world scale (with demo)"),
            "source_kwargs": Param({}, type="object", description="arguments for the plugin's source factory"),
        },
        doc_md=__doc__,
    ) as dag:
        group = PipelineTasksGroup(
            f"{plugin.name}_bronze",
            local_data_folder=str(target.data_dir / "airflow" / "dlt"),
            wipe_local_data=True,
        )
        use_project_config()  # the helper pointed dlt at the dags folder for .dlt/
        pipeline = bronze_pipeline(plugin, target, pipelines_dir=os.path.join(os.environ["DLT_DATA_DIR"], "pipelines"))
        (extract_task,) = group.add_run(pipeline, lambda: bronze_input(plugin, _SOURCE_KWARGS.get() or {}))
        extract_task.python_callable = _extract(plugin, target, pipeline, extract_task.python_callable)

        @task(
            task_id="load_warehouse",
            trigger_rule=TriggerRule.ALL_DONE,  # earlier Bronze files load even after a failed extract (as the CLI)
            outlets=[raw_asset(plugin.name)],
            **writer_kwargs(cfg, target),
        )
        def load_warehouse(**context: Any) -> dict[str, Any]:
            """Load the pending Bronze files into ``raw_<source>``, record extract + load in ops."""
            ti = context["ti"]
            pulled = ti.xcom_pull(task_ids=extract_task.task_id, key=EXTRACT_KEY)
            extract = step_from_xcom(pulled) if pulled else _missing_extract(plugin, "no XCom")
            report = run_report(context, target)
            load = load_from_bronze(plugin, target)
            report.steps += [extract, load]
            record(report, target, report.steps if ti.try_number <= 1 else [load])
            if extract.status == "failed":
                raise AirflowFailException(extract.error)  # the extract task already used its retries
            if load.status == "failed":
                raise RuntimeError(load.error) if load.transient else AirflowFailException(load.error)
            if load.status == "nothing_new":  # no Asset event: the dbt DAG does not rebuild for nothing
                uri = raw_asset(plugin.name).uri
                raise AirflowSkipException(f"nothing new for {plugin.dataset_name}: no {uri} event")
            return {"run_id": report.run_id, "rows": {t.table: t.rows for t in load.tables.values()}}

        extract_task >> load_warehouse()
    return dag
