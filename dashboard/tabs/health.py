"""Pipeline Health: a row per installed source plugin, the last runs per source and dbt, rows, schema changes,
quarantined rows, freshness, failures.

The sources are the installed plugins (:mod:`dashboard.sources`), never a list kept here: installing a plugin adds
its row and its freshness. Reads ``ops.runs``, ``ops.run_tables``, ``ops.dbt_results``, dlt's ``_dlt_loads`` of
each plugin's raw dataset, the Gold model each plugin names for its freshness and the core ad fact; above them, a
banner per half-loaded source (:mod:`dashboard.loads`). Not affected by the sidebar filters. The
``{placeholders}`` in the SQL below are table and column names from the target's config and the plugins'
declarations (checked to be plain identifiers), never user input.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import pandas as pd
import streamlit as st

from dashboard.loads import STATE, half_loaded, health_banners
from dashboard.runs import NEWEST_FIRST, last_run, newest_first, recent_runs, utc_text
from dashboard.sources import installed
from dashboard.ui import data_table, query, schema_columns, table_name
from dashboard.warehouse import WarehouseUnavailable
from marketing_dwh.registry import SourcePlugin

log = logging.getLogger(__name__)
FAILED = ("error", "fail", "runtime error")

# every node of the newest run that has dbt results; failures first
DBT_SQL = f"""
select node, status, round(seconds, 2) as seconds, message
from {{dbt_results}}
where run_id = (
    select run_id from {{runs}}
    where run_id in (select run_id from {{dbt_results}})
    order by {NEWEST_FIRST}
    limit 1
)
order by case when status in ('error', 'fail', 'runtime error') then 0 else 1 end, node"""

# the newest run of each source and step; dbt's "nodes <status>" lines are node counts, not rows
LATEST_STEPS_SQL = """
with steps as (
    select
        run_id,
        source,
        step,
        started_at,
        max(duration_s) as duration_s,
        max(status) as status,
        sum(case when table_name is null or table_name not like 'nodes %' then rows end) as rows_moved,
        sum(quarantined) as quarantined,
        count(schema_changes) as tables_with_schema_changes,
        max(error) as error
    from {run_tables}
    group by run_id, source, step, started_at
),
ranked as (
    select steps.*, row_number() over (partition by steps.source, steps.step order by {order}) as recency
    from steps
    left join {runs} as runs on runs.run_id = steps.run_id
)
select source, step, started_at, round(duration_s, 1) as duration_s, status, rows_moved, quarantined,
    tables_with_schema_changes, error, run_id
from ranked
where recency = 1
order by source, step""".replace("{order}", newest_first("steps.started_at", "runs.finished_at", "steps.run_id"))

FAILURES_SQL = """
select started_at, 'run' as kind, command as what, error
from {runs}
where status <> 'ok'
union all
select started_at, 'step' as kind, source || ' ' || step || coalesce(' ' || table_name, '') as what, error
from {run_tables}
where error is not null
order by started_at desc
limit 50"""

SCHEMA_CHANGES_SQL = """
select started_at, source, step, table_name, schema_changes
from {run_tables}
where schema_changes is not null
order by started_at desc
limit 50"""

# the extract step counts the same rejected rows again: count them where they are loaded (as the CLI does)
QUARANTINE_SQL = """
select source, table_name, sum(quarantined) as quarantined_rows, max(started_at) as last_seen
from {run_tables}
where quarantined > 0 and step <> 'extract'
group by source, table_name
order by quarantined_rows desc"""

# the newest run of each source: when it started, whether a step failed, what its load step moved
SOURCE_RUNS_SQL = """
with steps as (
    select
        run_id,
        source,
        step,
        started_at,
        max(status) as status,
        sum(rows) as rows_moved,
        sum(quarantined) as quarantined
    from {run_tables}
    group by run_id, source, step, started_at
),
source_runs as (
    select
        source,
        run_id,
        min(started_at) as started_at,
        sum(case when status = 'failed' then 1 else 0 end) as failed_steps,
        max(case when step = 'load' then status end) as load_status,
        sum(case when step = 'load' then rows_moved end) as rows_loaded,
        sum(case when step = 'load' then quarantined end) as quarantined
    from steps
    group by source, run_id
),
ranked as (
    select source_runs.*, row_number() over (partition by source_runs.source order by {order}) as recency
    from source_runs
    left join {runs} as runs on runs.run_id = source_runs.run_id
)
select
    source,
    started_at as last_run_at,
    case when failed_steps > 0 then 'failed' else coalesce(load_status, 'not loaded') end as last_run_status,
    rows_loaded,
    quarantined,
    run_id
from ranked
where recency = 1""".replace(
    "{order}", newest_first("source_runs.started_at", "runs.finished_at", "source_runs.run_id")
)

NEWEST_LOAD_SQL = "select max(inserted_at) as newest from {loads} where status = 0"
NEWEST_DAY_SQL = "select max({column}) as newest from {model}"
# every ad platform in the core ad fact (whichever plugins provide it): its newest day with spend
NEWEST_SPEND_DAY_SQL = """
select platform, max(case when spend_reporting > 0 then date_day end) as newest
from {fct_ad_performance_daily}
group by platform
order by platform"""
NO_DATA = "no data yet"
SOURCE_COLUMNS = {
    "source": "plugin",
    "state": "state",
    "last_run_status": "last run",
    "last_run_at": "last run (UTC)",
    "rows_loaded": "rows loaded",
    "quarantined": "quarantined",
    "dataset": "raw dataset",
    "provides": "provides",
    "description": "description",
}

NO_RUNS = "No pipeline runs recorded yet"
# readable headers of every table on the tab (timestamps are shown as UTC text)
STEP_COLUMNS = {
    "source": "source",
    "step": "step",
    "started_at": "started",
    "duration_s": "duration (s)",
    "status": "status",
    "rows_moved": "rows",
    "quarantined": "quarantined",
    "tables_with_schema_changes": "tables with schema changes",
    "error": "error",
    "run_id": "run id",
}
RUN_COLUMNS = {
    "started_at": "started",
    "finished_at": "finished",
    "command": "command",
    "target": "target",
    "status": "status",
    "duration_s": "duration (s)",
    "error": "error",
    "run_id": "run id",
}
DBT_COLUMNS = {"node": "dbt node", "status": "status", "seconds": "seconds", "message": "message"}
FAILURE_COLUMNS = {"started_at": "started", "kind": "kind", "what": "what", "error": "error"}
SCHEMA_COLUMNS = {
    "started_at": "started",
    "source": "source",
    "step": "step",
    "table_name": "table",
    "schema_changes": "schema changes",
}
QUARANTINE_COLUMNS = {
    "source": "source",
    "table_name": "table",
    "quarantined_rows": "quarantined rows",
    "last_seen": "last seen",
}
FRESHNESS_COLUMNS = {"what": "what", "source": "plugin", "newest": "newest", "age_days": "age (days)"}


def _tables() -> dict[str, str]:
    names = {name: table_name("ops", name) for name in ("runs", "run_tables", "dbt_results")}
    return names | {"fct_ad_performance_daily": table_name("gold", "fct_ad_performance_daily")}


def _safe(sql: str) -> pd.DataFrame | None:
    """A query whose table may not exist yet (a warehouse before its first dbt build): ``None`` then."""
    try:
        return query(sql)
    except WarehouseUnavailable:
        raise
    except Exception as exc:  # missing table or dataset
        log.info("pipeline health query failed: %s", exc)
        return None


def _utc(df: pd.DataFrame | None, *columns: str) -> pd.DataFrame | None:
    """Timestamps as UTC text (the frames are shown and exported as they are)."""
    if df is None:
        return None
    df = df.copy()
    for column in columns:
        values = pd.to_datetime(df[column], utc=True)
        df[column] = values.dt.strftime("%Y-%m-%d %H:%M:%S UTC").where(values.notna(), None)
    return df


def _newest(df: pd.DataFrame | None) -> object:
    if df is None or df.empty or pd.isna(df["newest"].iloc[0]):
        return None
    return df["newest"].iloc[0]


def _has(schema: str, table: str, column: str | None = None) -> bool:
    """Whether ``schema.table`` (and its ``column``) exists: a plugin installed but never run has no dataset yet."""
    try:
        columns = schema_columns(schema)
    except WarehouseUnavailable:
        raise
    except Exception as exc:  # BigQuery: a dataset that does not exist
        log.info("columns of %s not read: %s", schema, exc)
        return False
    found = columns[columns["table_name"] == table]
    return not found.empty and (column is None or column in set(found["column_name"]))


def _row(what: str, source: str | None, newest: object, today: date) -> dict[str, object]:
    """One freshness row: a load time (a timestamp) or a data day (a date); ``no data yet`` when there is none."""
    if newest is None or pd.isna(newest):
        return {"what": what, "source": source, "newest": NO_DATA, "age_days": None}
    if isinstance(newest, date) and not isinstance(newest, datetime):
        return {"what": what, "source": source, "newest": f"{newest:%Y-%m-%d}", "age_days": (today - newest).days}
    stamp = pd.Timestamp(newest)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return {
        "what": what,
        "source": source,
        "newest": f"{stamp:%Y-%m-%d %H:%M} UTC",
        "age_days": (today - stamp.date()).days,
    }


def _day(value: object) -> object:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()  # type: ignore[arg-type]


def _freshness(tables: dict[str, str], plugins: tuple[SourcePlugin, ...]) -> pd.DataFrame:
    """Per installed plugin: the newest completed load into its raw dataset and the newest day of the Gold model it
    declares (``SourcePlugin.freshness``); per ad platform: the newest day with spend in the core ad fact."""
    today = datetime.now(UTC).date()
    rows: list[dict[str, object]] = []
    for plugin in plugins:
        dataset = plugin.dataset_name
        newest = None
        if _has(dataset, "_dlt_loads"):
            newest = _newest(_safe(NEWEST_LOAD_SQL.format(loads=table_name(dataset, "_dlt_loads"))))
        rows.append(_row(f"newest load into {dataset}", plugin.name, newest, today))
        if plugin.freshness is not None:
            model, column = plugin.freshness
            day = None
            if _has("gold", model, column):
                sql = NEWEST_DAY_SQL.format(column=column, model=table_name("gold", model))
                day = _day(_newest(_safe(sql)))
            rows.append(_row(f"newest {column} in gold.{model}", plugin.name, day, today))
    if _has("gold", "fct_ad_performance_daily"):
        spend_days = _safe(NEWEST_SPEND_DAY_SQL.format(**tables))
        for platform, newest in [] if spend_days is None else spend_days.itertuples(index=False):
            what = f"newest day with ad spend on {platform} (gold.fct_ad_performance_daily)"
            rows.append(_row(what, None, _day(newest), today))
    return pd.DataFrame(rows, columns=["what", "source", "newest", "age_days"])


def _sources(tables: dict[str, str], plugins: tuple[SourcePlugin, ...], unfinished: pd.DataFrame) -> pd.DataFrame:
    """One row per installed plugin: its raw dataset, its newest run in ``ops.run_tables`` and its state."""
    runs = _utc(_safe(SOURCE_RUNS_SQL.format(**tables)), "last_run_at")
    by_source = {} if runs is None else {row["source"]: row for row in runs.to_dict("records")}
    pending = set(unfinished["source"])
    rows = []
    for plugin in plugins:
        run = by_source.get(plugin.name, {})
        loaded = _has(plugin.dataset_name, "_dlt_loads")
        if plugin.name in pending:
            state = STATE
        elif run.get("last_run_status") == "failed":
            state = "last run failed: see Failures"
        elif not loaded:
            state = NO_DATA
        else:
            state = "ok"
        rows.append(
            {
                "source": plugin.name,
                "description": plugin.description,
                "dataset": plugin.dataset_name,
                "provides": ", ".join(plugin.provides) or None,
                "state": state,
                "last_run_at": run.get("last_run_at"),
                "last_run_status": run.get("last_run_status", "never run"),
                "rows_loaded": run.get("rows_loaded"),
                "quarantined": run.get("quarantined"),
            }
        )
    frame = pd.DataFrame(rows, columns=list(SOURCE_COLUMNS))
    return frame.astype({"rows_loaded": "Int64", "quarantined": "Int64"})


def _summary(last: pd.Series | None, dbt: pd.DataFrame | None, steps: pd.DataFrame | None) -> None:
    """The cards; ``last`` is the dashboard's one "last run" (:func:`dashboard.runs.last_run`), as in the header."""
    if last is None:
        st.info("No pipeline runs recorded yet (ops.runs is empty or missing).")
        return
    failed_nodes = 0 if dbt is None else int(dbt["status"].isin(FAILED).sum())
    passed_nodes = 0 if dbt is None else int(dbt["status"].isin(("success", "pass")).sum())
    loaded = None if steps is None else steps[steps["step"] != "extract"]
    quarantined = 0 if loaded is None else int(loaded["quarantined"].fillna(0).sum())
    changes = 0 if steps is None else int(steps["tables_with_schema_changes"].fillna(0).sum())
    cards = (
        ("Last run", str(last["status"]).upper(), f"`{last['command']}` on target {last['target']}"),
        ("dbt nodes ok / failed", f"{passed_nodes} / {failed_nodes}", "in the last dbt build"),
        ("Quarantined rows", f"{quarantined:,}", "in each source's last load"),
        ("Tables with schema changes", f"{changes:,}", "in each source's last run"),
    )
    for column, (label, value, help_text) in zip(st.columns(len(cards)), cards, strict=True):
        column.metric(label, value, help=help_text, border=True)
    finished = utc_text(last["finished_at"])
    finished = "not finished" if finished is None else f"finished {finished}"
    duration = "" if pd.isna(last["duration_s"]) else f" ({last['duration_s']:,.1f} s)"
    st.caption(
        f"Last run: `{last['command']}` on target {last['target']}, started {utc_text(last['started_at'])}, "
        f"{finished}{duration}."
    )


def render() -> None:
    """Draw the tab (ignores the sidebar filters)."""
    st.caption("Run history from the warehouse `ops` tables and dlt's load records; the sidebar filters do not apply.")
    unfinished = half_loaded()
    health_banners(unfinished)
    plugins = installed()
    for problem in plugins.problems:
        st.error(problem, icon=":material/extension_off:")
    tables = _tables()
    dbt = _safe(DBT_SQL.format(**tables))
    steps = _utc(_safe(LATEST_STEPS_SQL.format(**tables)), "started_at")
    _summary(last_run(), dbt, steps)

    st.subheader("Sources")
    st.caption("One row per installed source plugin (entry-point group `mdw.sources`), with its newest run.")
    sources = _sources(tables, plugins.plugins, unfinished)
    data_table(sources, "sources", labels=SOURCE_COLUMNS, empty="No source plugins installed.", csv_only=("dataset",))
    st.subheader("Last run per source and step")
    data_table(steps, "last_run_per_source", labels=STEP_COLUMNS, empty=f"{NO_RUNS} (ops.run_tables).")
    st.subheader("Freshness")
    freshness = _freshness(tables, plugins.plugins)
    data_table(freshness, "freshness", labels=FRESHNESS_COLUMNS, empty="No source plugins installed.")

    st.subheader("Failures")
    failures = _utc(_safe(FAILURES_SQL.format(**tables)), "started_at")
    failed_nodes = None if dbt is None else dbt[dbt["status"].isin(FAILED)]
    if (failures is None or failures.empty) and (failed_nodes is None or failed_nodes.empty):
        st.success("No failed runs, steps or dbt nodes.", icon=":material/check_circle:")
    else:
        data_table(failures, "failures", labels=FAILURE_COLUMNS, empty="No failed runs or steps.")
        if failed_nodes is not None and not failed_nodes.empty:
            st.markdown("**Failed dbt nodes in the last build**")
            data_table(failed_nodes, "failed_dbt_nodes", labels=DBT_COLUMNS)

    # full width, one below the other: side by side their text columns were cut off
    st.subheader("Schema changes")
    changes = _utc(_safe(SCHEMA_CHANGES_SQL.format(**tables)), "started_at")
    data_table(changes, "schema_changes", labels=SCHEMA_COLUMNS, empty="No schema changes recorded.")
    st.subheader("Quarantined rows")
    quarantined = _utc(_safe(QUARANTINE_SQL.format(**tables)), "last_seen")
    data_table(quarantined, "quarantined_rows", labels=QUARANTINE_COLUMNS, empty="No quarantined rows.")

    st.subheader("Recent runs")
    runs = _utc(recent_runs(), "started_at", "finished_at")
    data_table(runs, "runs", labels=RUN_COLUMNS, empty=f"{NO_RUNS} (ops.runs).")
    st.subheader("Last dbt build")
    data_table(dbt, "dbt_results", labels=DBT_COLUMNS, empty="No dbt build recorded yet (ops.dbt_results).")
