"""dbt (``transformations/``) through dlt's dbt runner, on the project's own venv and profiles.

dlt passes the warehouse credentials to dbt as ``DLT__CREDENTIALS__*`` environment variables and picks the
profile named after the destination type (``duckdb`` | ``bigquery``) from ``transformations/profiles.yml``.
One ``dbt build`` runs seeds, models and tests in dependency order: a failing test stops its dependants,
and the build fails if any node errors or fails. ``dbt source freshness`` (a sub-command of the ``source``
group) runs through the same runner's venv, credentials and profiles; its results are read from
``<DBT_TARGET_PATH>/sources.json`` (see :func:`freshness_rows`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.utils import add_config_to_env
from dlt.common.runners import Venv
from dlt.common.runners.stdout import iter_stdout
from dlt.helpers.dbt.exceptions import DBTNodeResult, DBTProcessingError

from pipelines.report import StepReport
from pipelines.runner import describe_error
from pipelines.targets import Target, project_root
from pipelines.warehouse_writer import connect_writer, writer_lock


def transformations_dir() -> str:
    """The dbt project folder."""
    return str(project_root() / "transformations")


def target_path(target: Target) -> Path:
    """dbt's ``target/`` folder (artifacts: run_results.json, sources.json) for ``target``."""
    return target.data_dir / "dbt" / "target"


def _bigquery_environment(target: Target) -> None:
    """What the `bigquery` profile reads besides the credentials dlt exports: the warehouse project and
    location, and `oauth` when the credentials are Google application default credentials (no key to export)."""
    if target.project_id:
        os.environ["MDW_BIGQUERY_PROJECT"] = target.project_id
    if target.location:
        os.environ["DLT__LOCATION"] = target.location
    credentials = target.warehouse_credentials()
    if getattr(credentials, "has_default_credentials", lambda: False)():
        os.environ.setdefault("DBT_BIGQUERY_METHOD", "oauth")


def _runner(target: Target) -> Any:
    if target.warehouse_type == "bigquery":
        _bigquery_environment(target)
    os.environ["DBT_PACKAGE_RUNNER__PACKAGE_PROFILES_DIR"] = transformations_dir()
    # dbt's subprocess is `python` from this venv, and dbt writes target/ and logs/ under the data dir
    os.environ["DBT_TARGET_PATH"] = str(target_path(target))
    os.environ["DBT_LOG_PATH"] = str(target.data_dir / "dbt" / "logs")
    pipeline = dlt.pipeline(
        pipeline_name="mdw_dbt",
        destination=target.warehouse_destination(),
        dataset_name="analytics",
        pipelines_dir=target.pipelines_dir,
    )
    return dlt.dbt.package(pipeline, transformations_dir(), venv=Venv.restore(sys.prefix, current=True))


# dbt command groups: dlt's runner puts --profiles-dir before the sub-command, which click rejects for a group
GROUP_COMMANDS = ("source",)


def _run_group_command(runner: Any, command: str, args: list[str]) -> None:
    """Run ``dbt <command> <sub-command> ...`` in the runner's venv with its credentials and profile."""
    if runner.credentials:
        add_config_to_env(runner.credentials, ("dlt",))
    sub, rest = (args[0], args[1:]) if args else ("", [])
    argv = [command, sub, "--profiles-dir", runner.config.package_profiles_dir]
    argv += ["--profile", runner.config.package_profile_name, *rest]
    script = (
        "import os, sys\nfrom dbt.cli.main import dbtRunner\n"
        f"os.chdir({runner.package_path!r})\n"
        f"sys.exit(0 if dbtRunner().invoke({argv!r}).success else 1)\n"
    )
    for line in iter_stdout(runner.venv, "python", "-c", script):
        sys.stdout.write(line.strip() + "\n")


def _freshness_file(target: Target) -> Path:
    return target_path(target) / "sources.json"


def _freshness_node(row: dict[str, Any]) -> dict[str, Any]:
    node = f"source.{row['source_name']}.{row['table_name']}"
    return {"node": node, "status": row["status"], "message": row["message"], "seconds": 0.0}


def freshness_rows(target: Target) -> list[dict[str, Any]]:
    """The results of the last ``dbt source freshness``: one row per source table with a freshness check."""
    path = _freshness_file(target)
    if not path.exists():
        return []
    rows = []
    for r in json.loads(path.read_text()).get("results", []):
        criteria = r.get("criteria") or {}
        _, _, source, table = (r.get("unique_id") or "...").split(".", 3)
        rows.append(
            {
                "source_name": source,
                "table_name": table,
                "status": r.get("status"),
                "max_loaded_at": r.get("max_loaded_at"),
                "snapshotted_at": r.get("snapshotted_at"),
                "age_s": r.get("max_loaded_at_time_ago_in_s"),
                "warn_after_s": _seconds(criteria.get("warn_after")),
                "error_after_s": _seconds(criteria.get("error_after")),
                "message": r.get("error") or r.get("message"),
            }
        )
    return rows


_PERIOD_S = {"minute": 60, "hour": 3600, "day": 86400}


def _seconds(threshold: dict[str, Any] | None) -> float | None:
    if not threshold or not threshold.get("count") or threshold.get("period") not in _PERIOD_S:
        return None
    return float(threshold["count"]) * _PERIOD_S[threshold["period"]]


def _result_rows(results: list[DBTNodeResult] | None) -> list[dict[str, Any]]:
    return [
        {"node": r.model_name, "status": str(r.status), "message": r.message, "seconds": float(r.time or 0)}
        for r in results or []
    ]


def run_dbt(
    target: Target, command: str = "build", args: list[str] | None = None, progress: Callable[[str], None] | None = None
) -> tuple[StepReport, list[dict[str, Any]]]:
    """Run one dbt command (``build`` by default) and report each node's result.

    On a local DuckDB warehouse dbt runs under the writer lock, once the file is free of readers.
    """
    with writer_lock(target, progress):
        if target.is_local_duckdb:  # dbt opens the file itself: wait here until no reader holds it
            connect_writer(target, progress).close()
        return _run_dbt(target, command, args)


def _run_dbt(target: Target, command: str, args: list[str] | None) -> tuple[StepReport, list[dict[str, Any]]]:
    step = StepReport("dbt", command, datetime.now(UTC))
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    try:
        runner = _runner(target)
        if command in GROUP_COMMANDS:
            _freshness_file(target).unlink(missing_ok=True)  # never report a previous run's results
            try:
                _run_group_command(runner, command, list(args or []))
            finally:
                results = [_freshness_node(r) for r in freshness_rows(target)]
        else:
            # one subprocess for seeds + models + tests; the runner's public run()/test() would cost two
            results = _result_rows(runner._run_dbt_command(command, list(args or []), {}))
        step.status = "ok"
    except DBTProcessingError as exc:
        results = _result_rows(exc.run_results)
        failed = [r for r in results if r["status"] in ("error", "fail", "runtime error")]
        names = ", ".join(r["node"] for r in failed[:5]) or "see dbt output above"
        step.status, step.error = "failed", f"dbt {command} failed: {names}"
    except Exception as exc:
        failed = [r["node"] for r in results if r["status"] in ("error", "runtime error")]
        detail = ", ".join(failed[:5]) if failed else describe_error(exc)
        step.status, step.error = "failed", f"dbt {command}: {detail}"
    step.duration_s = time.perf_counter() - started
    for r in results:  # one summary line per dbt status: success (models, seeds), pass / warn / fail (tests)
        step.table(f"nodes {r['status']}").rows += 1
    return step, results
