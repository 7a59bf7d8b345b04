"""The ``mdw`` commands: list, run, replay and demo source plugins, run dbt, open the dashboard, export the run
history's metrics. :mod:`pipelines.cli` parses the arguments and calls ``cmd_<command>`` here."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dlt.common.configuration.providers.toml import TomlProviderReadException

from marketing_dwh.registry import PluginLoadError, SourcePlugin, UnknownSourceError, discover, resolve
from marketing_dwh.settings import SettingError
from pipelines.dbt_runner import ParsedAhead, freshness_rows, parse_ahead, run_dbt
from pipelines.locks import held_new, is_held
from pipelines.ops import record_run, start_run
from pipelines.report import RunReport, format_summary
from pipelines.runner import check_settings, replay_source, run_source
from pipelines.targets import Target, TargetConfigError, current_target, project_root


def _say(message: str) -> None:
    print(f"{datetime.now():%H:%M:%S} {message}", flush=True)


@contextmanager
def _sandboxes(plugins: list[SourcePlugin], target: Target, scale: float) -> Iterator[dict[str, dict[str, Any]]]:
    """Enter each plugin's offline sandbox on one demo world; yield the source arguments per plugin."""
    from marketing_dwh.demo_world import DemoWorld

    world = DemoWorld(scale=scale)
    scratch = target.data_dir / "demo"
    with ExitStack() as stack:
        kwargs = {}
        for plugin in plugins:
            _say(f"[{plugin.name}] preparing sandbox in {scratch / plugin.name}")
            kwargs[plugin.name] = stack.enter_context(plugin.sandbox(world, scratch / plugin.name))
        yield kwargs


def _gone_runs(target: Target, run_id: str) -> dict[str, datetime]:
    """Earlier runs on this data dir whose process has ended but whose lock file is still there (a run removes
    it once its end is recorded), with the time each started (when it created the file)."""
    found = {}
    for lock in target.run_lock(run_id).parent.glob("*.lock"):
        with contextlib.suppress(FileNotFoundError):  # removed meanwhile: recorded by its own run
            if not is_held(lock):
                found[lock.stem] = datetime.fromtimestamp(lock.stat().st_mtime, UTC)
    return found


@contextmanager
def _recorded(report: RunReport, target: Target) -> Iterator[None]:
    """Hold the run's lock while it lives and record it in ``ops.runs`` as running; earlier runs of this data dir
    whose process is gone (their lock file left behind, unheld) and that did not finish are marked interrupted."""
    with held_new(target.run_lock(report.run_id)):
        try:
            gone = _gone_runs(target, report.run_id)
            for run_id in start_run(report, target, gone, progress=_say):
                _say(f"run {run_id} ended before it finished: recorded as interrupted in ops.runs")
            for run_id in gone:  # each is recorded as finished or interrupted now
                target.run_lock(run_id).unlink(missing_ok=True)
        except Exception as exc:  # the run can still do its work; its end is recorded by _finish
            print(f"warning: could not record the start of the run in the ops tables: {exc}", file=sys.stderr)
        yield


def _finish(
    report: RunReport,
    target: Target,
    dbt_results: list[dict[str, Any]] | None = None,
    freshness: list[dict[str, Any]] | None = None,
) -> int:
    report.finished_at = datetime.now(UTC)
    try:
        record_run(report, target, dbt_results, freshness=freshness, progress=_say)
        target.run_lock(report.run_id).unlink(missing_ok=True)  # recorded: nothing left for the next run to mark
    except Exception as exc:  # the run itself is done; say that its history could not be written
        print(f"warning: could not record the run in the ops tables: {exc}", file=sys.stderr)
    print()
    print(format_summary(report))
    return 1 if report.failed else 0


def _checked_target(args: argparse.Namespace) -> Target:
    """The target, with its credentials resolved up front (a missing setting is one clear message)."""
    target = current_target(args.target)
    target.check_credentials()
    return target


def _check_settings(plugins: list[SourcePlugin], demo: bool, source_kwargs: dict[str, Any] | None = None) -> None:
    """Every selected source's settings, checked before anything runs (with --demo the sandbox supplies some)."""
    for plugin in plugins:
        check_settings(plugin, source_kwargs, partial=demo)


def config_file_problem(exc: TomlProviderReadException) -> str:
    """Which settings file dlt could not read and where (TOML's line and column), in one line."""
    import tomlkit

    for path in exc.full_paths:
        if os.path.isfile(path):
            try:
                tomlkit.parse(Path(path).read_text(encoding="utf-8"))
            except Exception as err:  # tomlkit's ParseError ends "at line L col C"
                return f"{os.path.abspath(path)} is not valid TOML: {' '.join(str(err).split())}"
    return " ".join(str(exc).split())


def cmd_sources(args: argparse.Namespace) -> int:
    plugins = discover()
    if not plugins:
        print("no source plugins installed")
        return 0
    for plugin in plugins.values():
        print(f"{plugin.name:<12} {plugin.description}")
        print(f"{'':<12} config: [{plugin.config_section}]  warehouse dataset: {plugin.dataset_name}")
        for name, spec in plugin.tables.items():
            keys = ", ".join(spec.primary_key) or "-"
            print(f"{'':<12}   {name:<26} {spec.write_disposition:<7} key: {keys}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    target = _checked_target(args)
    plugins = resolve(args.names)
    _check_settings(plugins, args.demo)
    report = RunReport(target.name, "run", warehouse=_where(target))
    with _recorded(report, target):
        with ExitStack() as dbt_stack:
            parsed = dbt_stack.enter_context(parse_ahead(target, plugins, _say)) if args.dbt else None
            with ExitStack() as stack:
                kwargs = stack.enter_context(_sandboxes(plugins, target, args.scale)) if args.demo else {}
                for plugin in plugins:
                    run_source(plugin, target, report, kwargs.get(plugin.name), progress=_say)
            dbt_results = _dbt_step(report, target, parsed=parsed) if args.dbt else None
        return _finish(report, target, dbt_results)


def cmd_backfill(args: argparse.Namespace) -> int:
    target = _checked_target(args)
    (plugin,) = resolve([args.name])
    if not plugin.backfill_args:
        print(f"mdw: error: source '{plugin.name}' does not support backfills", file=sys.stderr)
        return 2
    since_arg, until_arg = plugin.backfill_args
    _check_settings([plugin], args.demo, {since_arg: args.since, until_arg: args.until})
    report = RunReport(target.name, f"backfill {args.since}..{args.until}", warehouse=_where(target))
    with _recorded(report, target):
        with ExitStack() as stack:
            kwargs = stack.enter_context(_sandboxes([plugin], target, args.scale)) if args.demo else {}
            source_kwargs = {**kwargs.get(plugin.name, {}), since_arg: args.since, until_arg: args.until}
            run_source(plugin, target, report, source_kwargs, progress=_say)
        return _finish(report, target)


def cmd_replay(args: argparse.Namespace) -> int:
    target = _checked_target(args)
    plugins = resolve(args.names)
    report = RunReport(target.name, "replay", warehouse=_where(target))
    with _recorded(report, target):
        for plugin in plugins:
            replay_source(plugin, target, report, progress=_say)
        return _finish(report, target)


def cmd_dbt(args: argparse.Namespace) -> int:
    target = _checked_target(args)
    report = RunReport(target.name, f"dbt {args.command}", warehouse=_where(target))
    with _recorded(report, target):
        results = _dbt_step(report, target, args.command, args.dbt_args, as_typed=True)
        freshness = freshness_rows(target) if args.command == "source" else None  # as the Airflow dbt DAG does
        return _finish(report, target, results, freshness)


def cmd_demo(args: argparse.Namespace) -> int:
    target = _checked_target(args)
    plugins = list(discover().values())
    _check_settings(plugins, demo=True)
    report = RunReport(target.name, "demo", warehouse=_where(target))
    _say(f"demo world (scale {args.scale}) -> target '{target.name}', {len(plugins)} source(s)")
    with _recorded(report, target):
        with parse_ahead(target, plugins, _say) as parsed:  # dbt parses while the sources run
            with _sandboxes(plugins, target, args.scale) as kwargs:
                for plugin in plugins:
                    run_source(plugin, target, report, kwargs[plugin.name], progress=_say)
            results = _dbt_step(report, target, parsed=parsed)
        code = _finish(report, target, results)
    if target.is_local_duckdb:
        print(
            f'\nexplore it: .venv/bin/python -c "import duckdb; '
            f"duckdb.connect('{target.warehouse_path}', read_only=True).sql('from gold.fact_orders').show()\""
            f"\n            schemas: {', '.join(p.dataset_name for p in plugins)} (raw), silver, gold, audit, "
            "ops (run history)"
        )
    print("\nopen the dashboard: make dashboard  (or: mdw dashboard [--port 8501]), then http://127.0.0.1:8501")
    return code


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Replace this process with ``streamlit run dashboard/app.py`` on the current target (read-only)."""
    from dashboard.warehouse import dashboard_settings

    target = current_target(args.target)
    dashboard_settings(target)  # checked here: a wrong one is one line, not a page of traceback in the browser
    app = project_root() / "dashboard" / "app.py"
    env = {**os.environ, "MDW__TARGET": target.name, "MDW__DATA_DIR": str(target.data_dir)}
    argv = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", args.host]
    argv += ["--server.port", str(args.port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    print(f"dashboard on http://{args.host}:{args.port} (target '{target.name}', {_where(target)})", flush=True)
    os.execve(sys.executable, argv, env)
    return 0  # not reached


def cmd_new_source(args: argparse.Namespace) -> int:
    """Scaffold a source plugin package that passes ``mdw check-plugin`` as generated."""
    from marketing_dwh.scaffold import new_source

    try:
        root, files = new_source(args.name, args.dir)
    except (ValueError, FileExistsError) as exc:
        print(f"mdw: error: {exc}", file=sys.stderr)
        return 2
    print(f"created the source plugin package {root}/")
    for path in files:
        print(f"  {path}")
    print(f"\nnext: pip install -e {root}   (or: uv pip install -e {root}), then mdw check-plugin {args.name}")
    return 0


def cmd_check_plugin(args: argparse.Namespace) -> int:
    """Run the conformance suite on one installed plugin: one line per check, exit 1 if any fails."""
    from marketing_dwh.conformance import CHECKS, check_plugin

    unknown = sorted(set(args.only or []) - set(CHECKS))
    if unknown:
        print(f"mdw: error: unknown check(s) {', '.join(unknown)}; the checks: {', '.join(CHECKS)}", file=sys.stderr)
        return 2
    workdir = None
    if args.keep:
        from tempfile import mkdtemp

        workdir = Path(mkdtemp(prefix=f"mdw-check-{args.name}-"))
    resolve([args.name])  # an unknown name is the usual error, before any work
    _say(f"checking plugin '{args.name}' against its sandbox (demo scale {args.scale}) in a throw-away workspace")
    results = check_plugin(args.name, scale=args.scale, workdir=workdir, only=args.only, on_result=print)
    passed = sum(r.passed for r in results)
    print(f"\n{passed} of {len(results)} checks passed" + (f"; workspace kept in {workdir}" if workdir else ""))
    if passed < len(results) and not workdir:
        print("(mdw check-plugin --keep keeps the workspace: its Bronze, warehouse and dlt state)")
    return 0 if passed == len(results) else 1


def cmd_metrics(args: argparse.Namespace) -> int:
    """Print the ``ops`` tables' key figures in Prometheus' text format, write them to a ``.prom`` file for the node
    exporter's textfile collector (atomically), or serve them on 127.0.0.1."""
    from dashboard.warehouse import WarehouseUnavailable
    from pipelines.metrics import metrics_text, serve, write_atomically

    target = _checked_target(args)
    if args.serve is not None:
        serve(target, args.serve)
        return 0
    try:
        text = metrics_text(target)
    except WarehouseUnavailable as exc:  # no file written: the collector keeps the previous one (and its mtime)
        print(f"mdw: error: ops not read: {exc}", file=sys.stderr)
        return 1
    if args.output:
        write_atomically(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def _dbt_step(
    report: RunReport,
    target: Target,
    command: str = "build",
    dbt_args: list[str] | None = None,
    as_typed: bool = False,
    parsed: ParsedAhead | None = None,
) -> list[dict[str, Any]]:
    _say(f"[dbt] {command} (transformations/, profile {target.warehouse_type})")
    step, results = run_dbt(target, command, dbt_args, progress=_say, as_typed=as_typed, parsed=parsed)
    report.steps.append(step)
    _say(f"[dbt] {command} {step.status} in {step.duration_s:.1f} s")
    return results


def _where(target: Target) -> str:
    return str(target.warehouse_path) if target.warehouse_path else f"{target.warehouse_type} (target {target.name})"


# a wrong command, source name or setting: one line on stderr naming it, exit code 2
USER_ERRORS = (UnknownSourceError, TargetConfigError, PluginLoadError, SettingError)
