"""dbt (``transformations/``) through dlt's dbt runner, on the project's own venv and profiles.

dlt passes the warehouse credentials to dbt as ``DLT__CREDENTIALS__*`` environment variables and picks the
profile named after the destination type (``duckdb`` | ``bigquery``) from ``transformations/profiles.yml``.
The build is the core project plus the dbt packages of the installed source plugins whose raw dataset has data
(:func:`assemble_packages`): each enabled package is linked into ``<data_dir>/dbt/packages`` (dbt's
``packages-install-path``; local folders, nothing downloaded) and the plugin lists reach dbt as vars
(``mdw_sources``, ``mdw_<interface>_sources``, ``<plugin>_enabled``), from which the core unions the shared Gold
interfaces. One ``dbt build`` runs seeds, models and tests in dependency order: a failing test stops its dependants,
and the build fails if any node errors or fails. ``dbt source freshness`` (a sub-command of the ``source``
group) runs through the same runner's venv, credentials and profiles; its results are read from
``<DBT_TARGET_PATH>/sources.json`` (see :func:`freshness_rows`).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import yaml
from dlt.common.configuration.utils import add_config_to_env
from dlt.common.runners import Venv
from dlt.common.runners.stdout import iter_stdout
from dlt.helpers.dbt.exceptions import DBTNodeResult, DBTProcessingError

from marketing_dwh import registry
from marketing_dwh.registry import SourcePlugin
from pipelines.publish import CRITICAL_TAG, GOLD_SCHEMA, STAGING_SCHEMA, GoldModels, held_by, unrun_critical_tests
from pipelines.publish import publish as publish_gold
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


def packages_dir(target: Target) -> Path:
    """Where the enabled plugins' dbt packages are linked for dbt (its ``packages-install-path``)."""
    return target.data_dir / "dbt" / "packages"


def _datasets_with_data(pipeline: dlt.Pipeline, plugins: list[SourcePlugin]) -> set[str]:
    """Names of the plugins whose raw dataset exists in the warehouse."""
    present = set()
    with pipeline.sql_client() as client:
        for plugin in plugins:
            with client.with_alternative_dataset_name(plugin.dataset_name):
                if client.has_dataset():
                    present.add(plugin.name)
    return present


def assemble_packages(
    target: Target,
    pipeline: dlt.Pipeline,
    progress: Callable[[str], None] | None = None,
    loading: list[SourcePlugin] | None = None,
) -> dict[str, Any]:
    """Link the dbt package of every installed plugin whose raw dataset exists (or that is ``loading`` it now) into
    :func:`packages_dir` and return the dbt vars that tell the core which sources (and which providers of each Gold
    interface) are on. A plugin without raw data yet is skipped with one line saying so."""
    plugins = [p for p in registry.discover().values() if p.dbt_package]
    present = _datasets_with_data(pipeline, plugins) | {p.name for p in loading or []}
    for plugin in plugins:
        if plugin.name not in present and loading is None:
            (progress or print)(
                f"[dbt] skipping the models and tests of {plugin.name}: {plugin.dataset_name} has no data yet"
            )
    return link_packages(packages_dir(target), plugins, [p for p in plugins if p.name in present])


def link_packages(folder: Path, installed: list[SourcePlugin], enabled: list[SourcePlugin]) -> dict[str, Any]:
    """Make ``folder`` (dbt's packages-install-path) hold exactly the dbt packages of ``enabled``, and return the
    vars naming the enabled plugins, the providers of each shared Gold interface and ``<plugin>_enabled``."""
    folder.mkdir(parents=True, exist_ok=True)
    for link in folder.iterdir():  # what the previous build linked
        if link.is_symlink():
            link.unlink()
    for plugin in enabled:
        (folder / plugin.name).symlink_to(Path(plugin.dbt_package).resolve(), target_is_directory=True)
    interfaces = {i for p in installed for i in p.provides} | set(registry.GOLD_INTERFACES)
    dbt_vars: dict[str, Any] = {"mdw_sources": [p.name for p in enabled]}
    for interface in sorted(interfaces):
        dbt_vars[f"mdw_{interface}_sources"] = [p.name for p in enabled if interface in p.provides]
    for plugin in installed:
        dbt_vars[f"{plugin.name}_enabled"] = plugin in enabled
    return dbt_vars


def _merge_vars(args: list[str], dbt_vars: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Fold a ``--vars '<yaml>'`` the user passed into the framework's vars (the user's win): dbt takes one."""
    rest, merged, items = [], dict(dbt_vars), iter(args)
    for arg in items:
        if arg == "--vars" or arg.startswith("--vars="):
            text = arg.split("=", 1)[1] if "=" in arg else next(items, "{}")
            merged.update(yaml.safe_load(text) or {})
        else:
            rest.append(arg)
    return rest, merged


def _runner(
    target: Target, progress: Callable[[str], None] | None = None, loading: list[SourcePlugin] | None = None
) -> tuple[Any, dict[str, Any], dlt.Pipeline]:
    """dlt's dbt package runner for the core project, and the vars for it: the plugin packages assembled for it
    (those with raw data, and the ``loading`` ones) and the schema the Gold models are built in (``gold__staging``:
    published to ``gold`` once audited)."""
    if target.warehouse_type == "bigquery":
        _bigquery_environment(target)
    os.environ["DBT_PACKAGE_RUNNER__PACKAGE_PROFILES_DIR"] = transformations_dir()
    # dbt's subprocess is `python` from this venv, and dbt writes target/ and logs/ under the data dir
    os.environ["DBT_TARGET_PATH"] = str(target_path(target))
    os.environ["DBT_LOG_PATH"] = str(target.data_dir / "dbt" / "logs")
    os.environ["MDW_DBT_PACKAGES_DIR"] = str(packages_dir(target))
    pipeline = dlt.pipeline(
        pipeline_name="mdw_dbt",
        destination=target.warehouse_destination(),
        dataset_name="analytics",
        pipelines_dir=target.pipelines_dir,
    )
    dbt_vars = {**assemble_packages(target, pipeline, progress, loading), "mdw_gold_schema": STAGING_SCHEMA}
    runner = dlt.dbt.package(pipeline, transformations_dir(), venv=Venv.restore(sys.prefix, current=True))
    return runner, dbt_vars, pipeline


# dbt command groups: dlt's runner puts --profiles-dir before the sub-command, which click rejects for a group
GROUP_COMMANDS = ("source",)


def _dbt_argv(runner: Any, command: list[str], args: list[str], dbt_vars: dict[str, Any]) -> list[str]:
    """dbt's argv for ``dbt <command...> <args>`` with the runner's profile and vars; the runner's credentials are
    exported to the environment for it, as dlt's runner does before each command."""
    if runner.credentials:
        add_config_to_env(runner.credentials, ("dlt",))
    argv = [*command, "--profiles-dir", runner.config.package_profiles_dir]
    return argv + ["--profile", runner.config.package_profile_name, "--vars", json.dumps(dbt_vars), *args]


def _run_group_command(runner: Any, command: str, args: list[str], dbt_vars: dict[str, Any]) -> None:
    """Run ``dbt <command> <sub-command> ...`` in the runner's venv with its credentials, profile and vars."""
    sub, rest = (args[0], args[1:]) if args else ("", [])
    script = (
        "import os, sys\nfrom dbt.cli.main import dbtRunner\n"
        f"os.chdir({runner.package_path!r})\n"
        f"sys.exit(0 if dbtRunner().invoke({_dbt_argv(runner, [command, sub], rest, dbt_vars)!r}).success else 1)\n"
    )
    for line in iter_stdout(runner.venv, "python", "-c", script):
        sys.stdout.write(line.strip() + "\n")


class _ParsedVenv(Venv):
    """dlt's runner venv whose next ``python -c <script>`` runs in ``worker`` (:mod:`pipelines.dbt_worker`, which
    parsed the project ahead) instead of a new process; any later command starts a process as usual."""

    def __init__(self, venv: Venv, worker: subprocess.Popen[str]) -> None:
        super().__init__(venv.context, venv.current)
        self._worker: subprocess.Popen[str] | None = worker

    def start_command(self, entry_point: str, *script_args: Any, **popen_kwargs: Any) -> subprocess.Popen[str]:
        worker, self._worker = self._worker, None
        if worker is None or entry_point != "python" or script_args[:1] != ("-c",) or worker.poll() is not None:
            return super().start_command(entry_point, *script_args, **popen_kwargs)
        assert worker.stdin is not None
        worker.stdin.write(script_args[1])
        worker.stdin.close()
        return worker


class ParsedAhead:
    """The dbt process of :func:`parse_ahead`: hands itself to the build whose vars are the ones it parsed with."""

    def __init__(self, worker: subprocess.Popen[str], dbt_vars: dict[str, Any]) -> None:
        self.worker, self.dbt_vars, self.taken = worker, dbt_vars, False

    def venv(self, venv: Venv, dbt_vars: dict[str, Any]) -> Venv:
        """``venv`` for a build with ``dbt_vars``: running its command in the worker when the vars are the parse's."""
        if self.taken or dbt_vars != self.dbt_vars:
            return venv
        self.taken = True
        return _ParsedVenv(venv, self.worker)

    def close(self) -> None:
        """End the worker unless a command ran in it (dlt's runner waited for it then): it would only wait for one."""
        if self.worker.poll() is None:
            self.worker.kill()
            self.worker.wait()
        for stream in (self.worker.stdin, self.worker.stdout, self.worker.stderr):
            if stream and not stream.closed:
                stream.close()


@contextlib.contextmanager
def parse_ahead(
    target: Target, loading: list[SourcePlugin], progress: Callable[[str], None] | None = None
) -> Iterator[ParsedAhead]:
    """Parse the dbt project in a process of its own while the block runs ``loading``'s sources, for the block's
    build (``run_dbt(..., parsed=...)``) to run in: that build neither starts a process and imports dbt (3-4 s)
    nor parses (a full parse on a fresh data dir, 5-8 s; the saved manifest otherwise). See
    :mod:`pipelines.dbt_worker`. The parse uses the packages and vars the build will: every plugin with raw data and
    every one in ``loading``. When one of them then loads nothing, the build's vars differ and it runs as without
    this. ``dbt parse`` reads no data and opens no warehouse connection, so the sources' loads run beside it."""
    with writer_lock(target, progress):  # which raw datasets have data: read as the build does
        if target.is_local_duckdb:
            connect_writer(target, progress).close()
        runner, dbt_vars, _ = _runner(target, progress, loading)
    argv = _dbt_argv(runner, ["parse"], ["--quiet"], dbt_vars)  # also gives the worker the build's environment
    worker = runner.venv.start_command(
        "python",
        "-m",
        "pipelines.dbt_worker",
        runner.package_path,
        json.dumps(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,  # as dlt's runner starts its dbt process (it reads the command's output and result)
        stderr=subprocess.PIPE,
        bufsize=1,
        text=True,
        errors="backslashreplace",
    )
    parsed = ParsedAhead(worker, dbt_vars)
    try:
        yield parsed
    finally:
        parsed.close()


# dbt's environment variables that narrow which resource types a command runs
RESOURCE_TYPE_SELECTORS = ("DBT_EXCLUDE_RESOURCE_TYPES", "DBT_RESOURCE_TYPES")


@contextlib.contextmanager
def _environment_without(*names: str) -> Iterator[None]:
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _audit_and_publish(
    target: Target,
    runner: Any,
    pipeline: dlt.Pipeline,
    dbt_vars: dict[str, Any],
    results: list[dict[str, Any]],
    step: StepReport,
    progress: Callable[[str], None] | None,
    mode: str,
) -> list[dict[str, Any]]:
    """Publish the staged Gold once audited; returns the results of the critical tests it had to run."""
    gold = GoldModels.from_manifest(target_path(target) / "manifest.json")
    audit: list[dict[str, Any]] = []
    if mode == "if_rebuilt" and not any(r["node"] in gold.tables for r in results):
        return audit  # the command rebuilt no Gold model (e.g. `mdw dbt run --select <staging>`): nothing to publish
    if unrun_critical_tests(gold, results):
        if progress:
            progress("[dbt] critical tests on the staged Gold before publishing it")
        # the audit gates the publish: it runs whatever resource types the build left out (DBT_EXCLUDE_RESOURCE_TYPES)
        with _environment_without(*RESOURCE_TYPE_SELECTORS):
            try:
                audit = _result_rows(runner._run_dbt_command("test", ["--select", f"tag:{CRITICAL_TAG}"], dbt_vars))
            except DBTProcessingError as exc:
                audit = _result_rows(exc.run_results)
    everything = [*results, *audit]
    held = held_by(gold, everything) + [
        f"critical test {t} did not run" for t in unrun_critical_tests(gold, everything)
    ]
    if held:
        step.status = "failed"
        step.error = f"Gold not published (gold keeps the last audited build): {'; '.join(held[:5])}"
        return audit
    try:
        with pipeline.sql_client() as client:
            published = publish_gold(client, gold.tables, target.warehouse_type)
    except Exception as exc:  # nothing half-published on DuckDB (one transaction); BigQuery: per table
        step.status = "failed"
        step.error = f"publishing the audited Gold from {STAGING_SCHEMA} to {GOLD_SCHEMA} failed: {describe_error(exc)}"
        return audit
    step.table("gold tables published").rows = len(published)
    if progress:
        progress(f"[dbt] published {len(published)} audited Gold table(s) from {STAGING_SCHEMA} to {GOLD_SCHEMA}")
    return audit


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


# commands that may change the staged Gold: published after them (once audited) unless asked otherwise
WRITING_COMMANDS = ("build", "run", "seed", "snapshot")


# flags that narrow the resource types a build or test runs: the caller chose them
RESOURCE_TYPE_FLAGS = ("--resource-type", "--resource-types", "--exclude-resource-type", "--exclude-resource-types")


def without_unit_tests(command: str, args: list[str]) -> list[str]:
    """``args`` of a pipeline ``build`` / ``test`` that leave out dbt's unit tests, as dbt advises for scheduled
    runs (their inputs are fixed rows: they test the SQL, not the data; development and CI run them). Left as they
    are when the arguments or dbt's environment variables already choose resource types."""
    if command not in ("build", "test") or any(a.split("=", 1)[0] in RESOURCE_TYPE_FLAGS for a in args):
        return args
    if any(os.environ.get(name) for name in RESOURCE_TYPE_SELECTORS):
        return args
    return [*args, "--exclude-resource-type", "unit_test"]


def run_dbt(
    target: Target,
    command: str = "build",
    args: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
    publish: bool | None = None,
    as_typed: bool = False,
    parsed: ParsedAhead | None = None,
) -> tuple[StepReport, list[dict[str, Any]]]:
    """Run one dbt command (``build`` by default) and report each node's result.

    A pipeline's ``build`` / ``test`` leaves out dbt's unit tests unless ``mdw.dbt_unit_tests`` is true (see
    :func:`without_unit_tests`); ``as_typed``: the command runs exactly as given (``mdw dbt ...``).

    Gold is written, audited and published (``pipelines/publish.py``): the models build into ``gold__staging``;
    with ``publish`` (default: for the commands that write, :data:`WRITING_COMMANDS`) a command that rebuilt Gold
    models has the staged Gold copied into ``gold`` when every critical test passed (those the command did not run
    are run first) and every Gold model built; otherwise ``gold`` keeps the last published state and the step fails
    naming why. A ``test`` command with ``publish`` (the Airflow DAG's critical tests) publishes once they pass.

    On a local DuckDB warehouse dbt runs under the writer lock, once the file is free of readers. ``parsed``: the
    process of :func:`parse_ahead`, which runs the command when it parsed with the same vars.
    """
    if not (as_typed or target.dbt_unit_tests):
        args = without_unit_tests(command, list(args or []))
    with writer_lock(target, progress):
        if target.is_local_duckdb:  # dbt opens the file itself: wait here until no reader holds it
            connect_writer(target, progress).close()
        if publish is None:  # by default: after a command that rebuilt Gold models
            publish_mode = "if_rebuilt" if command in WRITING_COMMANDS else ""
        else:
            publish_mode = "always" if publish else ""
        return _run_dbt(target, command, args, progress, publish_mode, parsed)


def _run_dbt(
    target: Target,
    command: str,
    args: list[str] | None,
    progress: Callable[[str], None] | None,
    publish: str,
    parsed: ParsedAhead | None = None,
) -> tuple[StepReport, list[dict[str, Any]]]:
    """``publish``: "always", "if_rebuilt" (when the command rebuilt a Gold model) or "" (never)."""
    step = StepReport("dbt", command, datetime.now(UTC))
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    try:
        runner, dbt_vars, pipeline = _runner(target, progress)
        args, dbt_vars = _merge_vars(list(args or []), dbt_vars)
        if parsed is not None:
            runner.venv = parsed.venv(runner.venv, dbt_vars)
        if command in GROUP_COMMANDS:
            _freshness_file(target).unlink(missing_ok=True)  # never report a previous run's results
            try:
                _run_group_command(runner, command, args, dbt_vars)
            finally:
                results = [_freshness_node(r) for r in freshness_rows(target)]
        else:
            # one subprocess for seeds + models + tests; the runner's public run()/test() would cost two
            results = _result_rows(runner._run_dbt_command(command, args, dbt_vars))
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
    if publish and step.status == "ok":
        results += _audit_and_publish(target, runner, pipeline, dbt_vars, results, step, progress, publish)
    elif publish:
        step.error = f"{step.error}; Gold not published (gold keeps the last audited build)"
    step.duration_s = time.perf_counter() - started
    for r in results:  # one summary line per dbt status: success (models, seeds), pass / warn / fail (tests)
        step.table(f"nodes {r['status']}").rows += 1
    return step, results
