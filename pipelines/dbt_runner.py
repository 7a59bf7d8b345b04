"""dbt (``transformations/``) through dlt's dbt runner, on the project's own venv and profiles.

dlt passes the warehouse credentials to dbt as ``DLT__CREDENTIALS__*`` environment variables and picks the
profile named after the destination type (``duckdb`` | ``bigquery``) from ``transformations/profiles.yml``.
One ``dbt build`` runs seeds, models and tests in dependency order: a failing test stops its dependants,
and the build fails if any node errors or fails.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.common.runners import Venv
from dlt.helpers.dbt.exceptions import DBTNodeResult, DBTProcessingError

from pipelines.report import StepReport
from pipelines.runner import describe_error
from pipelines.targets import Target, project_root


def transformations_dir() -> str:
    return str(project_root() / "transformations")


def _runner(target: Target) -> Any:
    os.environ["DBT_PACKAGE_RUNNER__PACKAGE_PROFILES_DIR"] = transformations_dir()
    # dbt's subprocess is `python` from this venv, and dbt writes target/ and logs/ under the data dir
    os.environ["DBT_TARGET_PATH"] = str(target.data_dir / "dbt" / "target")
    os.environ["DBT_LOG_PATH"] = str(target.data_dir / "dbt" / "logs")
    pipeline = dlt.pipeline(
        pipeline_name="mdw_dbt",
        destination=target.warehouse_destination(),
        dataset_name="analytics",
        pipelines_dir=target.pipelines_dir,
    )
    return dlt.dbt.package(pipeline, transformations_dir(), venv=Venv.restore(sys.prefix, current=True))


def _result_rows(results: list[DBTNodeResult] | None) -> list[dict[str, Any]]:
    return [
        {"node": r.model_name, "status": str(r.status), "message": r.message, "seconds": float(r.time or 0)}
        for r in results or []
    ]


def run_dbt(
    target: Target, command: str = "build", args: list[str] | None = None
) -> tuple[StepReport, list[dict[str, Any]]]:
    """Run one dbt command (``build`` by default) and report each node's result."""
    step = StepReport("dbt", command, datetime.now(UTC))
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    try:
        runner = _runner(target)
        # one subprocess for seeds + models + tests; the runner's public run()/test() would cost two
        raw = runner._run_dbt_command(command, list(args or []), {})
        results = _result_rows(raw)
        step.status = "ok"
    except DBTProcessingError as exc:
        results = _result_rows(exc.run_results)
        failed = [r for r in results if r["status"] in ("error", "fail", "runtime error")]
        names = ", ".join(r["node"] for r in failed[:5]) or "see dbt output above"
        step.status, step.error = "failed", f"dbt {command} failed: {names}"
    except Exception as exc:
        step.status, step.error = "failed", f"dbt {command}: {describe_error(exc)}"
    step.duration_s = time.perf_counter() - started
    for r in results:  # one summary line per dbt status: success (models, seeds), pass / warn / fail (tests)
        step.table(f"nodes {r['status']}").rows += 1
    return step, results
