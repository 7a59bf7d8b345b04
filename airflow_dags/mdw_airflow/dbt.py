"""The dbt DAG: runs whenever a source's raw dataset was updated (any ``mdw://raw/<source>`` Asset).

Steps, each one dbt command through ``pipelines.dbt_runner.run_dbt`` (dlt's dbt runner) and each recorded in
``ops`` under the DAG run's ``run_id``:

``source_freshness`` (``dbt source freshness``; results also in ``ops.source_freshness``; stale sources are
reported, not fatal) -> ``staging`` (seeds and the staging models of the core and of every enabled plugin
package) -> ``marts`` (interface, intermediate, Gold and audit models, wherever they live) ->
``critical_tests`` (tests tagged ``critical``, on the Gold built into ``gold__staging``: a failure fails the DAG,
stops what follows and leaves ``gold`` as it was; on success the staged Gold is published to ``gold`` and the
Asset ``mdw://gold`` is emitted) -> ``other_tests`` (every other data and unit test).

A failed test or model error fails its task at once (``AirflowFailException``: a retry would fail the same way);
only a dbt command that could not reach the warehouse, or found it busy, is retried.
"""

from __future__ import annotations

import functools
import logging
import operator
import re
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Asset, task
from airflow.sdk.exceptions import AirflowFailException

from mdw_airflow.alerts import deadline_alert
from mdw_airflow.ingest import raw_asset
from mdw_airflow.runs import default_args, record, run_report, step_from_xcom, step_to_xcom, writer_kwargs
from mdw_airflow.settings import AirflowSettings
from pipelines.dbt_runner import freshness_rows, run_dbt
from pipelines.targets import Target, current_target

DBT_DAG_ID = "dbt_transform"
GOLD_ASSET = Asset("mdw://gold")
STEP_KEY = "dbt_step"
PUBLISHING_STEP = "critical_tests"
log = logging.getLogger(__name__)

_SEEDS_AND_MODELS = ["--resource-type", "seed", "--resource-type", "model"]
# task id -> (dbt command, arguments)
STEPS: dict[str, tuple[str, list[str]]] = {
    "source_freshness": ("source", ["freshness"]),
    "staging": (
        "build",
        [
            "--select",
            "resource_type:seed fqn:*.staging.*",
            "--resource-type",
            "seed",
            "--resource-type",
            "model",
        ],
    ),
    # by folder in every package (the core's and the plugins'; a bare name would select only core paths); a
    # plugin's interface models may read its own Gold models (dim_meta_ads), so they are built with the marts
    "marts": ("run", ["--select", "fqn:*.interfaces.* fqn:*.intermediate.* fqn:*.marts.* fqn:*.audit.*"]),
    "critical_tests": ("test", ["--select", "tag:critical"]),
    "other_tests": ("test", ["--exclude", "tag:critical"]),
}


# a node error whose message says the warehouse was busy or unreachable (DuckDB's file lock, BigQuery 5xx / quota)
TRANSIENT_DBT_MESSAGES = re.compile(
    r"could not set lock|conflicting lock|timed? ?out|timeout|connection (reset|refused|aborted)|"
    r"temporarily unavailable|service unavailable|backenderror|internalerror|ratelimitexceeded|"
    r"\b(429|500|502|503|504)\b",
    re.IGNORECASE,
)


def dbt_failure_is_transient(results: list[dict[str, Any]]) -> bool:
    """A failed dbt command is worth retrying only when no node failed for its own reasons: a failed test or a model
    error (bad SQL, a type error, a missing column) fails the same way on every try, so the task fails at once. A
    command that failed before any node ran (dbt or the warehouse unreachable) or whose failed nodes all report a
    busy / unavailable warehouse is retried."""
    failed = [r for r in results if r.get("status") in ("error", "fail", "runtime error")]
    if not failed:
        return True
    return all(r["status"] != "fail" and TRANSIENT_DBT_MESSAGES.search(str(r.get("message") or "")) for r in failed)


def _run_step(task_id: str, target: Target, context: Any) -> dict[str, Any]:
    """Run one dbt step, record it (with the earlier steps of this DAG run) in ops, raise when it failed."""
    command, args = STEPS[task_id]
    # the marts build into gold__staging; the critical tests audit them there and, once they pass, publish them
    step, results = run_dbt(target, command, args, publish=task_id == PUBLISHING_STEP)
    step.step = f"{command} ({task_id})"
    earlier = list(STEPS)[: list(STEPS).index(task_id)]
    pulled = context["ti"].xcom_pull(task_ids=earlier, key=STEP_KEY) if earlier else []
    report = run_report(context, target)
    report.steps = [step_from_xcom(s) for s in pulled or [] if s] + [step]
    freshness = freshness_rows(target) if command == "source" else None
    record(report, target, [step], dbt_results=results, freshness=freshness)
    context["ti"].xcom_push(key=STEP_KEY, value=step_to_xcom(step))
    if command == "source" and results:  # stale sources are reported (ops, monitoring e-mail), not fatal
        stale = [r for r in results if r["status"] in ("warn", "error")]
        if stale:
            log.warning("source freshness: %s", ", ".join(f"{r['node']} {r['status']}" for r in stale))
        return {"status": "ok", "freshness": {r["node"]: r["status"] for r in results}}
    if step.status == "failed":
        if dbt_failure_is_transient(results):
            raise RuntimeError(step.error)
        raise AirflowFailException(f"{step.error} (not retried: a retry would fail the same way)")
    return {"status": step.status, "nodes": len(results)}


def build_dbt_dag(source_names: list[str], cfg: AirflowSettings) -> DAG:
    """The dbt DAG, scheduled on the raw Assets of ``source_names``."""
    target = current_target()
    assets = [raw_asset(name) for name in source_names]
    schedule = functools.reduce(operator.or_, assets) if assets else None
    with DAG(
        dag_id=DBT_DAG_ID,
        description="dbt: source freshness, Silver, Gold, tests (critical tests gate the Gold Asset)",
        schedule=schedule,
        start_date=cfg.start,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(minutes=cfg.dagrun_timeout_minutes),
        default_args=default_args(cfg),
        tags=[*cfg.tags, "dbt"],
        deadline=deadline_alert(cfg, DBT_DAG_ID),
        doc_md=__doc__,
    ) as dag:
        previous = None
        for task_id in STEPS:
            outlets = [GOLD_ASSET] if task_id == PUBLISHING_STEP else []
            step_task = task(task_id=task_id, outlets=outlets, **writer_kwargs(cfg, target))(
                _step_callable(task_id, target)
            )()
            if previous is not None:
                previous >> step_task
            previous = step_task
    return dag


def _step_callable(task_id: str, target: Target) -> Any:
    def dbt_step(**context: Any) -> dict[str, Any]:
        return _run_step(task_id, target, context)

    dbt_step.__doc__ = f"dbt {' '.join([STEPS[task_id][0], *STEPS[task_id][1]])}"
    return dbt_step
