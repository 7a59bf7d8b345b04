"""The conformance checks, in the order they run: each a function of the shared :class:`Workspace` that returns
its pass detail or raises :class:`CheckFailed` with its finding."""

from __future__ import annotations

import dataclasses
import gzip
import inspect
import re
import secrets as random_secrets
import signal
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from dlt.common.configuration.specs.base_configuration import is_secret_hint

from marketing_dwh.conformance.processes import (
    captured_output,
    demo_run,
    environ,
    killed_run,
    last_line,
    run_cli,
    sandbox,
)
from marketing_dwh.conformance.workspace import (
    CheckFailed,
    Workspace,
    differences,
    duplicate_keys,
    local_target,
    raw_tables,
    snapshot,
    table_columns,
    top_level,
    warehouse_text,
)
from pipelines.dbt_runner import run_dbt
from pipelines.report import RunReport, format_summary
from pipelines.runner import bronze_pipeline, pipeline_lock, replay_source

# the column the schema-drift check adds to every item a resource yields
PROBE_COLUMN = "mdw_conformance_probe"
# config fields whose names say they hold a credential
CREDENTIAL_NAME = re.compile(
    r"token|secret|passw|pwd|credential|api_?key|private_?key|access_?key|(^|_)auth(_|$)", re.IGNORECASE
)

Check = Callable[[Workspace], str]
CHECKS: dict[str, Check] = {}


def check(name: str) -> Callable[[Check], Check]:
    """Register a check: a function of the workspace returning its pass detail or raising :class:`CheckFailed`."""

    def register(fun: Check) -> Check:
        CHECKS[name] = fun
        return fun

    return register


@check("tables_and_keys")
def tables_and_keys(ws: Workspace) -> str:
    """Every table the run loads is declared, and each loaded declared table has its declared key columns."""
    ws.first()
    with duckdb.connect(str(ws.target.warehouse_path), read_only=True) as con:
        loaded = raw_tables(con, ws.plugin)
        columns = {t: set(table_columns(con, ws.plugin, t)) for t in loaded}
    top = [t for t in loaded if top_level(t)]
    undeclared = [t for t in top if t not in ws.plugin.tables]
    missing_keys = []
    for table, spec in ws.plugin.tables.items():
        keys = {*spec.primary_key, *spec.merge_key, *spec.entity_key, *spec.cluster, *filter(None, [spec.partition])}
        lacking = sorted(keys - columns.get(table, keys))
        if lacking:
            missing_keys.append(f"{table} lacks {', '.join(lacking)}")
    absent = [t for t in ws.plugin.tables if t not in loaded]
    problems = []
    if not set(top) & set(ws.plugin.tables):
        problems.append(f"no declared table was loaded (declared: {', '.join(ws.plugin.tables) or 'none'})")
    if undeclared:
        problems.append(f"loaded but not declared in SourcePlugin.tables (no keys, append): {', '.join(undeclared)}")
    if missing_keys:
        problems.append("declared key columns missing: " + "; ".join(missing_keys))
    if problems:
        raise CheckFailed("; ".join(problems))
    detail = f"{len(top) - len(undeclared)} declared table(s) loaded with their key columns"
    return detail + (f"; not produced by the sandbox: {', '.join(absent)}" if absent else "")


@check("unique_keys")
def unique_keys(ws: Workspace) -> str:
    """Declared primary keys are unique in the raw tables, after the first run and after the rerun."""
    keyed = [t for t, spec in ws.plugin.tables.items() if spec.primary_key]
    for label, run in (("first run", ws.first), ("second run", ws.second)):
        run()
        duplicates = duplicate_keys(ws.target, ws.plugin)
        if duplicates:
            listed = ", ".join(f"{t} ({n} key value(s) more than once)" for t, n in duplicates.items())
            raise CheckFailed(f"after the {label}: {listed}")
    return f"unique after two runs in {len(keyed)} keyed table(s)" if keyed else "no table declares a primary key"


@check("rerun_adds_nothing")
def rerun_adds_nothing(ws: Workspace) -> str:
    """A second run with no new data in the sandbox adds no rows to any raw table."""
    _, before = ws.first()
    report, after = ws.second()
    grown = differences(before, after, "rows")
    if grown:
        raise CheckFailed("the rerun with no new data changed row counts: " + "; ".join(grown))
    extracted = sum(t.rows for s in report.steps if s.step == "extract" for t in s.tables.values())
    return f"rerun extracted {extracted} row(s); raw row counts unchanged ({sum(s.rows for s in after.values())})"


@check("idempotent")
def idempotent(ws: Workspace) -> str:
    """The raw tables hold the same values after the rerun as before it."""
    _, before = ws.first()
    _, after = ws.second()
    changed = differences(before, after, "contents")
    if changed:
        raise CheckFailed("the rerun changed the raw tables: " + "; ".join(changed))
    return f"raw tables identical after the rerun ({len(after)} table(s))"


@check("replay_equals_live")
def replay_equals_live(ws: Workspace) -> str:
    """``mdw replay`` rebuilds the same raw tables from Bronze alone."""
    _, live = ws.second()
    report = RunReport(ws.target.name, "check-plugin: replay")
    replay_source(ws.plugin, ws.target, report)
    failed = [s.error for s in report.steps if s.error]
    if failed:
        raise CheckFailed(f"the replay failed: {failed[0]}")
    replayed = snapshot(ws.target, ws.plugin)
    different = differences(live, replayed, "contents")
    if different:
        raise CheckFailed("the tables replayed from Bronze differ from the live ones: " + "; ".join(different))
    return f"{len(replayed)} table(s) rebuilt from Bronze equal the live ones"


@check("dbt_package_builds")
def dbt_package_builds(ws: Workspace) -> str:
    """The plugin's dbt package builds (models and tests) with the core project on the loaded raw data."""
    if ws.plugin.dbt_package is None:
        return "no dbt package"
    project = Path(ws.plugin.dbt_package) / "dbt_project.yml"
    if not project.is_file():
        raise CheckFailed(f"dbt_package {ws.plugin.dbt_package} has no dbt_project.yml")
    name = dbt_package_name(project)
    ws.second()
    # with everything it builds on (the core models and seeds it refs); tests of the core models only when all
    # their parents are built too (cautious), as in a build of the whole project
    # a build of the package and what it needs, into gold__staging: publishing Gold is not this check's business
    args = ["--select", f"+package:{name}", "--indirect-selection", "cautious"]
    step, results = run_dbt(ws.target, "build", args, publish=False)
    if step.status != "ok":
        raise CheckFailed(f"package {name}: {step.error}")
    if not results:
        raise CheckFailed(f"package {name}: dbt selected no model, seed or test of it")
    counts: dict[str, int] = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    listed = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return f"package {name}: {listed} in {step.duration_s:.1f} s"


def dbt_package_name(project_file: Path) -> str:
    return str(yaml.safe_load(project_file.read_text(encoding="utf-8"))["name"])


@check("new_column_reported")
def new_column_reported(ws: Workspace) -> str:
    """A column that appears upstream is reported by the run (summary and ``ops.run_tables``)."""
    ws.second()
    # upstream re-delivers its data with a new field: forget what was extracted, add the field to every item
    with pipeline_lock(ws.target, ws.plugin, f"{ws.plugin.name}_bronze"):
        pipeline = bronze_pipeline(ws.plugin, ws.target)
        with pipeline.managed_state() as state:
            state.get("sources", {}).clear()
    drifting = dataclasses.replace(ws.plugin, source_factory=_with_probe(ws.plugin.source_factory))
    report = ws.run("run with a new upstream column", drifting)
    load_tables = [t for s in report.steps if s.step == "load" for t in s.tables.values()]
    loaded = {t.table: t for t in load_tables if top_level(t.table) and t.rows}
    if not loaded:
        raise CheckFailed(
            "after its dlt state was reset the source delivered no rows, so no new column could arrive: keep the "
            "incremental state in dlt state (dlt.sources.incremental, dlt.current.resource_state())"
        )
    silent = [name for name, t in loaded.items() if not any(PROBE_COLUMN in c for c in t.schema_changes)]
    if silent:
        raise CheckFailed(f"new column {PROBE_COLUMN} not reported for: {', '.join(sorted(silent))}")
    if PROBE_COLUMN not in format_summary(report):
        raise CheckFailed("the run summary does not show the new column")
    with duckdb.connect(str(ws.target.warehouse_path), read_only=True) as con:
        sql = "select count(*) from ops.run_tables where run_id = ? and schema_changes like ?"
        recorded = con.execute(sql, [report.run_id, f"%{PROBE_COLUMN}%"]).fetchone()[0]
    if recorded < len(loaded):
        raise CheckFailed(f"ops.run_tables records the new column for {recorded} of {len(loaded)} table(s)")
    return f"'new column(s) {PROBE_COLUMN}' reported for {', '.join(sorted(loaded))}"


def _with_probe(factory: Any) -> Callable[..., Any]:
    """``factory`` whose source's resources all yield one more column."""

    def drifting(*args: Any, **kwargs: Any) -> Any:
        source = factory(*args, **kwargs)
        for resource in source.resources.values():
            resource.add_map(_add_probe)
        return source

    return drifting


def _add_probe(item: Any) -> Any:
    if isinstance(item, dict):
        return {**item, PROBE_COLUMN: "probe"}
    if hasattr(item, "append_column") and hasattr(item, "num_rows"):  # an Arrow table or record batch
        return item.append_column(PROBE_COLUMN, pa.array(["probe"] * item.num_rows, pa.string()))
    if hasattr(item, "assign") and hasattr(item, "columns"):  # a pandas data frame
        return item.assign(**{PROBE_COLUMN: "probe"})
    return item


@check("secrets")
def secrets(ws: Workspace) -> str:
    """Config fields that look like credentials are typed as secrets, and the values of secret and credential-like
    fields never reach an output: console, logs, Bronze, dlt state and traces, the warehouse (ops tables included).
    Values the sandbox passes are traced as they are; the others are set to canaries in the environment."""
    fields = config_fields(ws.plugin.source_factory)
    untyped = [f for f in fields if CREDENTIAL_NAME.search(f) and not _is_secret(fields[f])]
    traced = [f for f in fields if _is_secret(fields[f])] + untyped
    if not traced:
        return "no credential-like or secret config fields"
    data = ws.root / "secrets"
    target = local_target(data)
    with sandbox(ws.plugin, data, ws.scale) as kwargs:
        needles = {f: kwargs[f] for f in traced if isinstance(kwargs.get(f), str) and len(kwargs[f]) >= 6}
        canaries = {
            f: f"mdwcanary{f.replace('_', '')}{random_secrets.token_hex(6)}"
            for f in traced
            if f not in kwargs and _base_type(fields[f]) in (str, Any)
        }
        needles |= canaries
        section, name = _config_path(ws.plugin.source_factory)
        env = {f"SOURCES__{section}__{name}__{f}".upper(): v for f, v in canaries.items()}
        with environ(env), captured_output() as output:
            failed = demo_run(ws.plugin, target, kwargs)
    leaks = [f"console: {f}" for f, v in needles.items() if v in output()]
    for path in _files(data, exclude=data / "demo"):  # the sandbox's own files are upstream
        content = _readable(path)
        leaks += [f"{path.relative_to(data)}: {f}" for f, v in needles.items() if v.encode() in content]
    text = warehouse_text(target)
    leaks += [f"warehouse: {f}" for f, v in needles.items() if v in text]
    problems = []
    if untyped:
        problems.append(
            f"credential-like config field(s) not typed as secrets: {', '.join(untyped)} (annotate them "
            "TSecretStrValue / a credentials spec, or default them to dlt.secrets.value)"
        )
    if leaks:
        problems.append("secret values found in outputs: " + "; ".join(sorted(set(leaks))[:8]))
    if problems:
        raise CheckFailed("; ".join(problems))
    detail = f"secret field(s) {', '.join(traced)}: "
    if needles:
        detail += f"the values of {', '.join(needles)} never in console, files or warehouse"
    untraced = [f for f in traced if f not in needles]
    if untraced:
        detail += ("; " if needles else "") + f"not traced (no string value in the run): {', '.join(untraced)}"
    return detail + (f"; the run failed with them: {failed}" if failed else "")


def config_fields(factory: Any) -> dict[str, Any]:
    """The source factory's config fields and their type hints (dlt's config spec, else its signature)."""
    spec = getattr(getattr(factory, "ref", None), "SPEC", None)
    if spec is not None:
        return dict(spec.get_resolvable_fields())
    hints = typing.get_type_hints(factory, include_extras=True)
    return {p: hints.get(p, Any) for p in inspect.signature(factory).parameters}


def _config_path(factory: Any) -> tuple[str, str]:
    ref = getattr(factory, "ref", None)
    return (ref.section, ref.name) if ref is not None else ("", "")


def _is_secret(hint: Any) -> bool:
    return bool(is_secret_hint(hint))


def _base_type(hint: Any) -> Any:
    """The type under Optional[...] and Annotated[...]."""
    while True:
        origin = typing.get_origin(hint)
        if origin is typing.Annotated:
            hint = typing.get_args(hint)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            if len(args) != 1:
                return hint
            hint = args[0]
        else:
            return hint


def _readable(path: Path) -> bytes:
    """A file's bytes as a secret would appear in them: gzip-ed files unpacked, Parquet files as their values."""
    if path.name.endswith(".gz"):
        return gzip.decompress(path.read_bytes())
    if path.name.endswith(".parquet"):
        return str(pq.read_table(path).to_pylist()).encode()
    return path.read_bytes()


def _files(root: Path, exclude: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        if path.is_file() and exclude not in path.parents and not path.name.endswith(".duckdb"):
            yield path


@check("crash_safe")
def crash_safe(ws: Workspace) -> str:
    """A run killed (SIGKILL) during its warehouse load, then rerun, loses and duplicates nothing."""
    _, reference = ws.first()
    argv = ["run", ws.plugin.name, "--demo", "--scale", str(ws.scale)]
    # kill at the start of the second load job of the source's data (the first may be done: a partial load);
    # a load with a single job is killed at that job's start, in a fresh workspace
    for attempt, kill_at in enumerate(("2", "1")):
        data = ws.root / f"crash{attempt}"
        code, output = killed_run(argv, data, kill_at, ws.plugin.name)
        if code == -signal.SIGKILL:
            break
        if code != 0:
            raise CheckFailed(f"the run to be killed failed first (exit {code}): {last_line(output)}")
    else:
        raise CheckFailed("the run never started a warehouse load job of its data, so it could not be killed there")
    code, output = run_cli(argv, data)
    if code != 0:
        raise CheckFailed(f"the rerun after the kill failed (exit {code}): {last_line(output)}")
    target = local_target(data)
    after = snapshot(target, ws.plugin)
    different = differences(reference, after, "rows")
    duplicates = duplicate_keys(target, ws.plugin)
    if different or duplicates:
        found = different + [f"{t}: {n} duplicated key value(s)" for t, n in duplicates.items()]
        raise CheckFailed("after the kill and the rerun, compared with an uninterrupted run: " + "; ".join(found))
    where = "in the middle of its load" if kill_at == "2" else "at its first load job"
    return f"killed {where}; the rerun left the same {sum(s.rows for s in after.values())} rows, keys unique"
