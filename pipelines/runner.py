"""Running a source plugin: source -> Bronze (extract), then Bronze -> warehouse raw dataset (load).

Both steps are ordinary dlt pipelines, kept in ``<data_dir>/pipelines``:

* ``<source>_bronze`` writes the source's rows as immutable files to the Bronze filesystem destination.
  Bronze is append-only whatever the table's write disposition.
* ``<source>_warehouse`` reads the Bronze files it has not loaded yet (an incremental cursor on the file
  path, which starts with dlt's load id) into the raw dataset ``raw_<source>``, applying the table keys
  and write dispositions the plugin declares (merge, dedup). ``replay`` runs the same pipeline from an
  empty state, dropping the source's tables first, so the raw tables are rebuilt from Bronze alone.

DuckDB cannot stage through a filesystem in dlt, so local and production both use these two steps.

A source that must wait long (GA4's hourly quotas) does not wait inside its extract: it stops, keeps what it
fetched and writes ``{"resume": {"at": <ISO UTC time>}}`` into its dlt source state. ``run_source`` then loads
that into the warehouse and runs the source again; the source waits until ``at`` and fetches what is left. So
the wait holds no uncommitted data: interrupting it loses nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.configuration.exceptions import ConfigurationException
from dlt.common.exceptions import DltException
from dlt.common.pipeline import LoadInfo
from dlt.common.schema.typing import C_DLT_LOAD_ID
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from marketing_dwh.registry import SourcePlugin
from marketing_dwh.settings import resolve_source_settings
from pipelines.bronze import Backlog, bronze_source, clear_stale_dedup_sort, has_unloaded_files, load_streams
from pipelines.contract import contract_violation, variant_columns
from pipelines.errors import is_transient
from pipelines.locks import exclusive
from pipelines.report import RunReport, StepReport
from pipelines.targets import Target
from pipelines.warehouse_writer import streaming_memory, warehouse_writer

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def describe_error(exc: BaseException) -> str:
    """The first error below dlt's wrappers (pipeline step, resource extraction ...), in one line.

    Errors raised by a source itself are written to be read as they are, so their own causes (e.g. the
    SDK exception a clear message was made from) are not followed. dlt's configuration errors are kept too:
    they name the setting ("Configured value for field `account_ids` cannot be coerced ..."), the parse error
    below them does not.
    """
    refused = contract_violation(exc)
    if refused:
        return refused[:1000]
    seen = exc
    while isinstance(seen, DltException) and not isinstance(seen, ConfigurationException):
        inner = getattr(seen, "exception", None) or seen.__cause__ or seen.__context__
        if inner is None or inner is seen:
            break
        seen = inner
    text = str(seen).strip().splitlines()[0] if str(seen).strip() else ""
    return f"{type(seen).__name__}: {text}"[:500]


def _pipeline(
    name: str, destination: Any, dataset: str, target: Target, pipelines_dir: str | None = None
) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=name,
        destination=destination,
        dataset_name=dataset,
        pipelines_dir=pipelines_dir or target.pipelines_dir,
        progress=dlt.progress.log(log_period=15, dump_system_stats=False) if os.environ.get("MDW_VERBOSE") else None,
    )


def force_append(source: Any) -> Any:
    """Bronze keeps every delivered row: no merge, no replace."""
    for resource in source.resources.values():
        resource.apply_hints(write_disposition="append")
    return source


def bronze_pipeline(plugin: SourcePlugin, target: Target, pipelines_dir: str | None = None) -> dlt.Pipeline:
    """The source -> Bronze pipeline ``<source>_bronze`` (dataset ``<source>`` on the Bronze destination).

    ``pipelines_dir`` defaults to the target's; Airflow's dlt helper passes its own working folder.
    """
    return _pipeline(f"{plugin.name}_bronze", target.bronze_destination(), plugin.name, target, pipelines_dir)


def bronze_input(plugin: SourcePlugin, source_kwargs: dict[str, Any] | None = None) -> Any:
    """The plugin's dlt source, called with ``source_kwargs``, with every table forced to append for Bronze and
    the plugin's schema contract (data types frozen: a value that does not fit its column stops the extract)."""
    source = force_append(plugin.source_factory(**(source_kwargs or {})))
    source.schema_contract = dict(plugin.schema_contract)
    return source


@contextlib.contextmanager
def abort_refused(pipeline: dlt.Pipeline) -> Iterator[None]:
    """When the schema contract refuses a change, abort the refused package(s) (dlt restores the pipeline's state
    and schema), so the next run takes the same data again instead of a package that can never load."""
    try:
        yield
    except Exception as exc:
        if contract_violation(exc):
            with contextlib.suppress(Exception):  # the refusal is the error to report, not a failed clean-up
                pipeline.abort_packages()
        raise


def check_settings(
    plugin: SourcePlugin, source_kwargs: dict[str, Any] | None = None, partial: bool = False
) -> dict[str, Any] | None:
    """Resolve and check ``plugin``'s source settings as its extract would, without calling the source, so a wrong or
    missing one is a :class:`marketing_dwh.settings.SettingError` before anything runs. ``partial``: settings may be
    missing (a sandbox supplies them). Returns the settings (None for a source without dlt settings)."""
    return resolve_source_settings(
        plugin.source_factory,
        plugin.config_section,
        source_kwargs,
        partial=partial,
        pipeline_name=f"{plugin.name}_bronze",
    )


def extract_step(plugin: SourcePlugin) -> StepReport:
    """A new, running report of one extract (source -> Bronze) step."""
    return StepReport(plugin.name, "extract", datetime.now(UTC))


def finish_extract(step: StepReport, pipeline: dlt.Pipeline, info: LoadInfo | None) -> StepReport:
    """Fill ``step`` from a finished extract run: rows per table (dlt's normalize counts), load id, status."""
    _count_rows(step, pipeline)
    step.load_id = _load_id(info)
    step.resume_at = resume_requested(pipeline)
    step.status = "ok" if any(t.rows for t in step.tables.values()) else "nothing_new"
    return step


def resume_requested(pipeline: dlt.Pipeline) -> str | None:
    """When the pipeline's source asked to be run again (its source state's ``resume.at``), else None."""
    sources = pipeline.state.get("sources", {})
    times = [s["resume"]["at"] for s in sources.values() if isinstance(s.get("resume"), dict) and "at" in s["resume"]]
    return max(times) if times else None


def fail_step(step: StepReport, plugin: SourcePlugin, exc: BaseException) -> StepReport:
    """Mark ``step`` failed with a one-line error naming the source."""
    step.status, step.error = "failed", f"source '{plugin.name}': {describe_error(exc)}"
    step.transient = is_transient(exc)
    return step


class _StepWarnings(logging.Handler):
    """Warnings a plugin logs (logger ``mdw.<source>``) while a step runs; ``extra={"mdw_table": t}`` names
    the table a warning is about."""

    def __init__(self, step: StepReport) -> None:
        super().__init__(logging.WARNING)
        self.step = step

    def emit(self, record: logging.LogRecord) -> None:
        table = getattr(record, "mdw_table", None)
        warnings = self.step.table(table).warnings if table else self.step.warnings
        warnings.append(record.getMessage())


@contextlib.contextmanager
def collect_warnings(step: StepReport) -> Iterator[None]:
    """Attach the warnings plugins log under the ``mdw`` logger during the block to ``step``."""
    logger = logging.getLogger("mdw")
    handler = _StepWarnings(step)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def finish_pending(pipeline: dlt.Pipeline) -> LoadInfo | None:
    """Normalize and load the packages an interrupted run left in ``pipeline`` (None when there are none).

    dlt's ``run()`` would load only these and skip the data it was given; calling this first lets the same run
    go on with what is new.
    """
    if not pipeline.has_pending_data:
        return None
    if pipeline.list_extracted_load_packages():
        pipeline.normalize()
    return pipeline.load()


def pipeline_lock(target: Target, plugin: SourcePlugin, pipeline_name: str, progress: Progress = _quiet) -> Any:
    """Hold the inter-process lock of one of ``plugin``'s pipelines (waits up to ``mdw.lock_timeout_s``)."""
    what = f"run of {plugin.name} (pipeline {pipeline_name})"
    return exclusive(target.pipeline_lock(pipeline_name), what, target.lock_timeout_s, progress)


def use_jemalloc_for_arrow() -> None:
    """Arrow buffers from jemalloc, unless ``ARROW_DEFAULT_MEMORY_POOL`` chooses a pool or the build has none.

    pyarrow's default (mimalloc) kept the CRM extract of 1M orders at ~640 MB peak with 1.8-2.8 s of system time
    (pages mapped and returned again and again); jemalloc 550-620 MB and 0.6-1.1 s, the same user time."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    with contextlib.suppress(NotImplementedError):  # a pyarrow built without jemalloc (e.g. some non-Linux wheels)
        pa.set_memory_pool(pa.jemalloc_memory_pool())


def extract_to_bronze(
    plugin: SourcePlugin, target: Target, source_kwargs: dict[str, Any] | None = None, progress: Progress = _quiet
) -> StepReport:
    """Run the plugin's dlt source into Bronze (after finishing what an interrupted run left pending)."""
    use_jemalloc_for_arrow()
    step = extract_step(plugin)
    started = time.perf_counter()
    try:
        with collect_warnings(step), pipeline_lock(target, plugin, f"{plugin.name}_bronze", progress):
            pipeline = bronze_pipeline(plugin, target)
            with abort_refused(pipeline):
                pending = finish_pending(pipeline)
                if pending:
                    step.warnings.append(f"loaded pending Bronze package(s) {', '.join(pending.loads_ids)} first")
                info = pipeline.run(bronze_input(plugin, source_kwargs))
        finish_extract(step, pipeline, info)
    except Exception as exc:  # recorded in ops and reported; the caller decides the exit code
        fail_step(step, plugin, exc)
    pa.default_memory_pool().release_unused()  # the extract's freed Arrow buffers back to the OS before the load
    step.duration_s = time.perf_counter() - started
    return step


def load_from_bronze(
    plugin: SourcePlugin, target: Target, replay: bool = False, progress: Progress = _quiet
) -> StepReport:
    """Load the Bronze files not yet in the warehouse (all of them when replaying), in bounded loads.

    Packages an interrupted run left pending are loaded first; rows are counted from every package loaded.
    """
    step = StepReport(plugin.name, "replay" if replay else "load", datetime.now(UTC))
    started = time.perf_counter()
    name = f"{plugin.name}_warehouse"
    try:
        with pipeline_lock(target, plugin, name, progress), warehouse_writer(target, progress) as destination:
            pipeline = _pipeline(name, destination, plugin.dataset_name, target)
            if not (
                replay or pipeline.has_pending_data or has_unloaded_files(target.bronze_url, plugin, pipeline.state)
            ):
                step.status, step.duration_s = "nothing_new", time.perf_counter() - started  # a cheap no-op rerun
                return step
            # a pending package's columns are in the local schema already: ask the warehouse what it has
            before = _warehouse_columns(pipeline) if pipeline.has_pending_data else _columns(pipeline)
            keys_before = _entity_counts(pipeline, plugin)
            with abort_refused(pipeline):
                pending = finish_pending(pipeline)
            if pending:
                progress(f"[{plugin.name}] loaded package(s) {', '.join(pending.loads_ids)} left by an interrupted run")
                keys_before = _account_load(step, pipeline, plugin, pending, before, keys_before)
            if replay:
                before = {}
            elif pipeline.default_schema_name:
                clear_stale_dedup_sort(pipeline.default_schema, plugin)
            refresh = "drop_sources" if replay else None
            while True:
                backlog = Backlog()
                # a local DuckDB reads local Bronze Parquet files itself (pipelines.bronze)
                dataset = pipeline.dataset() if target.is_local_duckdb else None
                source = bronze_source(target.bronze_url, plugin, target.load_max_files, backlog, dataset)
                keys_before = _entity_counts(pipeline, plugin) if not refresh else {}
                streams = target.is_local_duckdb and load_streams(
                    target.bronze_url, plugin, pipeline.state, target.load_max_files, replay=bool(refresh)
                )
                with abort_refused(pipeline), streaming_memory(pipeline, target, streams):
                    info = pipeline.run(source, refresh=refresh)
                refresh = None
                _account_load(step, pipeline, plugin, info, before, keys_before)
                if backlog.empty:
                    break
        step.status = "ok" if any(t.rows for t in step.tables.values()) else "nothing_new"
    except Exception as exc:
        fail_step(step, plugin, exc)
    step.duration_s = time.perf_counter() - started
    return step


def _account_load(
    step: StepReport,
    pipeline: dlt.Pipeline,
    plugin: SourcePlugin,
    info: LoadInfo | None,
    columns_before: dict[str, set[str]],
    keys_before: dict[str, int],
) -> dict[str, int]:
    """Add what the packages of ``info`` loaded to ``step``: rows per table (counted in the warehouse by load id),
    new and updated keys, quarantined rows, schema changes, plugin warnings. Returns the key counts after."""
    if not info or not info.loads_ids:
        return keys_before
    _schema_changes(step, info, columns_before)
    for load_id in info.loads_ids:
        loaded = _loaded_rows(pipeline, load_id)
        for table, rows in loaded.items():
            step.table(table).rows += rows
        step.load_id = load_id
        keys_before = _count_new_and_updated(step, pipeline, plugin, keys_before, load_id, loaded)
        if plugin.quarantine_table and loaded.get(plugin.quarantine_table):
            _count_quarantined(step, pipeline, plugin.quarantine_table, load_id)
        if plugin.load_warnings:
            with pipeline.sql_client() as client:
                step.warnings += plugin.load_warnings(client, load_id)
    _report_variants(step, pipeline)
    return keys_before


VARIANT_WARNING = "variant column(s)"


def _report_variants(step: StepReport, pipeline: dlt.Pipeline) -> None:
    """List the variant columns the raw tables hold after this load (values that did not fit their column's type
    and that staging does not read), on the table's report: ``variant_columns`` and a warning. The columns are
    the warehouse's own (information schema), so one made before the contract or by hand is listed too."""
    for table, columns in variant_columns(_stored_columns(pipeline)).items():
        report = step.table(table)
        if columns == report.variant_columns:
            continue
        report.warnings = [w for w in report.warnings if not w.startswith(VARIANT_WARNING)]
        report.variant_columns = columns
        report.warnings.append(
            f"{VARIANT_WARNING} {', '.join(columns)}: values that did not fit their column's type (the typed column "
            "is NULL in those rows, and staging does not read them); quarantine or convert them in the source, then "
            f"rebuild raw_{step.source} (mdw replay {step.source})"
        )


def run_source(
    plugin: SourcePlugin,
    target: Target,
    report: RunReport,
    source_kwargs: dict[str, Any] | None = None,
    progress: Progress = _quiet,
) -> None:
    """Extract into Bronze, then load the warehouse (also after a failed extract: earlier Bronze files); again
    while the source asks to resume after a wait (see the module docstring)."""
    while True:
        progress(f"[{plugin.name}] extract -> Bronze ({target.bronze_url})")
        extract = extract_to_bronze(plugin, target, source_kwargs, progress)
        report.steps.append(extract)
        progress(f"[{plugin.name}] extract {extract.status} in {extract.duration_s:.1f} s")
        progress(f"[{plugin.name}] Bronze -> warehouse dataset {plugin.dataset_name}")
        load = load_from_bronze(plugin, target, progress=progress)
        report.steps.append(load)
        progress(f"[{plugin.name}] load {load.status} in {load.duration_s:.1f} s")
        if not extract.resume_at or "failed" in (extract.status, load.status):
            return
        progress(
            f"[{plugin.name}] paused until {extract.resume_at} (a quota refills): what was fetched is loaded; "
            "resuming then (stopping now loses nothing: the next run resumes)"
        )


def replay_source(plugin: SourcePlugin, target: Target, report: RunReport, progress: Progress = _quiet) -> None:
    """Rebuild the raw warehouse tables of ``plugin`` from Bronze alone."""
    progress(f"[{plugin.name}] replay: rebuilding {plugin.dataset_name} from Bronze")
    step = load_from_bronze(plugin, target, replay=True, progress=progress)
    report.steps.append(step)
    progress(f"[{plugin.name}] replay {step.status} in {step.duration_s:.1f} s")


def _load_id(info: LoadInfo | None) -> str | None:
    return info.loads_ids[-1] if info and info.loads_ids else None


def _normalized(pipeline: dlt.Pipeline) -> dict[str, int]:
    trace = pipeline.last_trace
    normalize = trace.last_normalize_info if trace else None
    counts = normalize.row_counts if normalize else {}
    return {t: n for t, n in counts.items() if not t.startswith("_dlt")}


def _count_rows(step: StepReport, pipeline: dlt.Pipeline) -> None:
    for table, rows in _normalized(pipeline).items():
        step.table(table).rows = rows


def _loaded_rows(pipeline: dlt.Pipeline, load_id: str) -> dict[str, int]:
    """Rows per data table that the package ``load_id`` left in the warehouse (tables without rows omitted)."""
    schema = pipeline.default_schema
    with_load_id = [
        t for t in schema.data_table_names(seen_data_only=True) if C_DLT_LOAD_ID in schema.get_table_columns(t)
    ]
    if not with_load_id:
        return {}
    counts = pipeline.dataset().row_counts(table_names=with_load_id, load_id=load_id).fetchall()
    return {table: int(rows) for table, rows in counts if rows}


def _columns(pipeline: dlt.Pipeline) -> dict[str, set[str]]:
    if not pipeline.default_schema_name:
        return {}
    schema = pipeline.default_schema
    return {name: set(t.get("columns", {})) for name, t in schema.tables.items() if not name.startswith("_dlt")}


def _stored_columns(pipeline: dlt.Pipeline) -> dict[str, set[str]]:
    """Columns per data table of the pipeline's schema as the warehouse holds them (its information schema)."""
    if not pipeline.default_schema_name:
        return {}
    names = pipeline.default_schema.data_table_names()
    with pipeline.destination_client() as client:
        return {table: set(columns) for table, columns in client.get_storage_tables(names) if columns}


def _warehouse_columns(pipeline: dlt.Pipeline) -> dict[str, set[str]]:
    """Columns per data table in the newest schema the warehouse has stored (empty before the first load)."""
    if not pipeline.default_schema_name:
        return {}
    with pipeline.destination_client() as client:
        stored = client.get_stored_schema(pipeline.default_schema_name)
    tables = json.loads(stored.schema).get("tables", {}) if stored else {}
    return {name: set(t.get("columns", {})) for name, t in tables.items() if not name.startswith("_dlt")}


def _schema_changes(step: StepReport, info: LoadInfo, before: dict[str, set[str]]) -> None:
    for package in info.load_packages:
        for table, partial in (package.schema_update or {}).items():
            if table.startswith("_dlt"):
                continue
            if table not in before:
                step.table(table).schema_changes.append("new table")
                continue
            added = sorted(set(partial.get("columns", {})) - before[table])
            if added:
                step.table(table).schema_changes.append("new column(s) " + ", ".join(added))


def _entity_keys(plugin: SourcePlugin, immutable: bool = False) -> dict[str, tuple[str, ...]]:
    """Tables whose merge tells new from updated keys: merged on a key, without replacing whole partitions; those
    whose rows are immutable (``immutable``) or the others."""
    return {
        name: spec.entity_key or spec.primary_key
        for name, spec in plugin.tables.items()
        if spec.write_disposition == "merge" and spec.primary_key and not spec.merge_key
        and spec.immutable_rows == immutable
    }  # fmt: skip


def _distinct_keys(client: Any, table: str, key: tuple[str, ...], load_id: str | None = None) -> int:
    qualified = client.make_qualified_table_name(table)
    columns = ", ".join(client.escape_column_name(c) for c in key)
    where = " where _dlt_load_id = %s" if load_id else ""
    rows = client.execute_sql(
        f"select count(*) from (select distinct {columns} from {qualified}{where}) k", *([load_id] if load_id else [])
    )
    return int(rows[0][0])


def _new_and_written_keys(client: Any, table: str, key: tuple[str, ...], load_id: str) -> tuple[int, int]:
    """(new, written) entity keys of the load ``load_id`` into a table of immutable rows: the load only added rows,
    so the keys it wrote that no other load's row holds are new. One query, comparing with the table's other rows
    only where their key hash is among the load's (not two counts of every key the table holds)."""
    qualified = client.make_qualified_table_name(table)
    columns = [client.escape_column_name(c) for c in key]

    def hashed(alias: str) -> str:
        return f"hash({', '.join(f'{alias}.{c}' for c in columns)})"

    same = " and ".join(f"o.{c} is not distinct from w.{c}" for c in columns)
    rows = client.execute_sql(
        f"with w as (select distinct {', '.join(columns)} from {qualified} where _dlt_load_id = %s), "
        f"o as (select {', '.join(f'o.{c}' for c in columns)} from {qualified} as o where o._dlt_load_id <> %s "
        f"and {hashed('o')} in (select {hashed('w')} from w)) "
        f"select (select count(*) from w anti join o on {same}), (select count(*) from w)",
        load_id,
        load_id,
    )
    return int(rows[0][0]), int(rows[0][1])


def _entity_counts(pipeline: dlt.Pipeline, plugin: SourcePlugin) -> dict[str, int]:
    """Distinct entity keys per table now (0 for tables not created yet); tables of immutable rows need none."""
    counts: dict[str, int] = {}
    if not pipeline.default_schema_name:
        return counts
    existing = pipeline.default_schema.data_table_names(seen_data_only=True)
    keys = {t: k for t, k in _entity_keys(plugin).items() if t in existing}
    if not keys:
        return counts
    with pipeline.sql_client() as client:
        for table, key in keys.items():
            try:
                counts[table] = _distinct_keys(client, table, key)
            except DatabaseUndefinedRelation:  # in the local schema, not yet in the warehouse (a package pending)
                counts[table] = 0
    return counts


def _count_new_and_updated(
    step: StepReport,
    pipeline: dlt.Pipeline,
    plugin: SourcePlugin,
    before: dict[str, int],
    load_id: str,
    loaded: dict[str, int],
) -> dict[str, int]:
    """Of the keys this load wrote per table: how many were new (the table grew by them) and how many existed.
    Returns ``before`` with the counts after this load."""
    keys = {t: k for t, k in _entity_keys(plugin).items() if loaded.get(t)}
    immutable = {t: k for t, k in _entity_keys(plugin, immutable=True).items() if loaded.get(t)}
    after = dict(before)
    if not keys and not immutable:
        return after
    with pipeline.sql_client() as client:
        counts = {table: _new_and_written_keys(client, table, key, load_id) for table, key in immutable.items()}
        for table, key in keys.items():
            written = _distinct_keys(client, table, key, load_id)
            after[table] = _distinct_keys(client, table, key)
            counts[table] = after[table] - before.get(table, 0), written
    for table, (new, written) in counts.items():
        report = step.table(table)
        report.new = (report.new or 0) + new
        report.updated = (report.updated or 0) + written - new
    return after


def _count_quarantined(step: StepReport, pipeline: dlt.Pipeline, quarantine_table: str, load_id: str) -> None:
    """Attribute this load's quarantined rows to the tables they were meant for (column ``table_name``)."""
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name(quarantine_table)
        rows = client.execute_sql(
            f"select table_name, count(*) from {table} where _dlt_load_id = %s group by 1", load_id
        )
    for name, count in rows or []:
        step.table(name).quarantined += int(count)
