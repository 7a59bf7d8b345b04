"""Pipeline Health: the last runs per source and dbt, rows, schema changes, quarantined rows, freshness, failures.

Reads ``ops.runs``, ``ops.run_tables``, ``ops.dbt_results``, dlt's ``_dlt_loads`` of each raw dataset and the
newest day of each Gold fact; above them, a banner per half-loaded source (:mod:`dashboard.loads`). Not affected
by the sidebar filters. The ``{placeholders}`` in the SQL below are table names from the target's config, never
user input.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from dashboard.loads import RAW_DATASETS, half_loaded, health_banners
from dashboard.ui import data_table, query, table_name
from dashboard.warehouse import WarehouseUnavailable

log = logging.getLogger(__name__)
FAILED = ("error", "fail", "runtime error")

RUNS_SQL = """
select started_at, finished_at, command, target, status, round(duration_s, 1) as duration_s, error, run_id
from {runs}
order by started_at desc
limit 20"""

# every node of the newest run that has dbt results; failures first
DBT_SQL = """
select node, status, round(seconds, 2) as seconds, message
from {dbt_results}
where run_id = (
    select run_id from {runs}
    where run_id in (select run_id from {dbt_results})
    order by started_at desc
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
    select *, row_number() over (partition by source, step order by started_at desc) as recency
    from steps
)
select source, step, started_at, round(duration_s, 1) as duration_s, status, rows_moved, quarantined,
    tables_with_schema_changes, error, run_id
from ranked
where recency = 1
order by source, step"""

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

NEWEST_LOAD_SQL = "select max(inserted_at) as newest from {loads} where status = 0"
NEWEST_DAY_SQL = {
    "newest order day (mart_orders)": ("crm", "select max(order_date) as newest from {mart_orders}"),
    "newest day with ad spend (mart_acquisition_daily)": (
        "meta_ads",
        "select max(case when spend > 0 then date_day end) as newest from {mart_acquisition_daily}",
    ),
    "newest GA4 day (fct_ga4_traffic_daily)": ("ga4", "select max(date_day) as newest from {fct_ga4_traffic_daily}"),
}


def _tables() -> dict[str, str]:
    names = {name: table_name("ops", name) for name in ("runs", "run_tables", "dbt_results")}
    names |= {
        name: table_name("gold", name) for name in ("mart_orders", "mart_acquisition_daily", "fct_ga4_traffic_daily")
    }
    return names


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


def _freshness(tables: dict[str, str]) -> pd.DataFrame:
    today = datetime.now(UTC).date()
    rows: list[dict[str, object]] = []
    for source, dataset in RAW_DATASETS.items():
        newest = _newest(_safe(NEWEST_LOAD_SQL.format(loads=table_name(dataset, "_dlt_loads"))))
        stamp = None if newest is None else pd.Timestamp(newest).tz_convert("UTC")
        rows.append(
            {
                "what": f"newest load into {dataset}",
                "source": source,
                "newest": "missing" if stamp is None else f"{stamp:%Y-%m-%d %H:%M} UTC",
                "age_days": None if stamp is None else (today - stamp.date()).days,
            }
        )
    for what, (source, sql) in NEWEST_DAY_SQL.items():
        newest = _newest(_safe(sql.format(**tables)))
        day = None if newest is None else pd.Timestamp(newest).date()
        rows.append(
            {
                "what": what,
                "source": source,
                "newest": "missing" if day is None else f"{day:%Y-%m-%d}",
                "age_days": None if day is None else (today - day).days,
            }
        )
    return pd.DataFrame(rows, columns=["what", "source", "newest", "age_days"])


def _summary(runs: pd.DataFrame | None, dbt: pd.DataFrame | None, steps: pd.DataFrame | None) -> None:
    if runs is None or runs.empty:
        st.info("No pipeline runs recorded yet (ops.runs is empty or missing).")
        return
    last = runs.iloc[0]
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
    finished = "not finished" if pd.isna(last["finished_at"]) else f"finished {last['finished_at']}"
    duration = "" if pd.isna(last["duration_s"]) else f" ({last['duration_s']} s)"
    st.caption(
        f"Last run: `{last['command']}` on target {last['target']}, started {last['started_at']}, {finished}{duration}."
    )


def render() -> None:
    """Draw the tab (ignores the sidebar filters)."""
    st.caption("Run history from the warehouse `ops` tables and dlt's load records; the sidebar filters do not apply.")
    health_banners(half_loaded())
    tables = _tables()
    runs = _utc(_safe(RUNS_SQL.format(**tables)), "started_at", "finished_at")
    dbt = _safe(DBT_SQL.format(**tables))
    steps = _utc(_safe(LATEST_STEPS_SQL.format(**tables)), "started_at")
    _summary(runs, dbt, steps)

    st.subheader("Last run per source and step")
    data_table(steps, "last_run_per_source")
    st.subheader("Freshness")
    data_table(_freshness(tables), "freshness", labels={"age_days": "age (days)"})

    st.subheader("Failures")
    failures = _utc(_safe(FAILURES_SQL.format(**tables)), "started_at")
    failed_nodes = None if dbt is None else dbt[dbt["status"].isin(FAILED)]
    if (failures is None or failures.empty) and (failed_nodes is None or failed_nodes.empty):
        st.success("No failed runs, steps or dbt nodes.", icon=":material/check_circle:")
    else:
        data_table(failures, "failures")
        if failed_nodes is not None and not failed_nodes.empty:
            st.markdown("**Failed dbt nodes in the last build**")
            data_table(failed_nodes, "failed_dbt_nodes")

    left, right = st.columns(2)
    with left:
        st.subheader("Schema changes")
        data_table(_utc(_safe(SCHEMA_CHANGES_SQL.format(**tables)), "started_at"), "schema_changes")
    with right:
        st.subheader("Quarantined rows")
        data_table(_utc(_safe(QUARANTINE_SQL.format(**tables)), "last_seen"), "quarantined_rows")

    st.subheader("Recent runs")
    data_table(runs, "runs")
    st.subheader("Last dbt build")
    data_table(dbt, "dbt_results")
