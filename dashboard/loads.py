"""Half-loaded sources: raw rows of a load that never completed, left by a run killed (or crashed) mid-load.

dlt records a load in the dataset's ``_dlt_loads`` table (status 0) only once every table of its package is
loaded, and every row it writes carries its package's ``_dlt_load_id``. A raw dataset holding rows whose load id
has no such record is half-loaded: some tables of that load are merged and others may not be (one kill left
``raw_meta_ads.insights`` at 0 rows while ``insights_actions`` had its 47,855). The package stays pending in the
source's ``<source>_warehouse`` pipeline, and the next run of the source loads it before anything new
(``pipelines.runner.finish_pending``); dlt then records the load, which ends the state.

This reads the raw datasets of the installed plugins (:mod:`dashboard.sources`) in the warehouse only (DuckDB or
BigQuery, through :mod:`dashboard.warehouse`), not the pipelines' local folders, so it works wherever the dashboard
runs. What it cannot see: a kill before any row reached a raw table (nothing half-loaded is visible then; the
numbers are the previous run's). A load in progress looks the same for the seconds it takes.

Every Gold mart the tabs read joins all sources (orders are attributed with GA4 sessions and ad campaigns), so a
half-loaded source concerns every tab.
"""

from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

from dashboard.sources import raw_datasets
from dashboard.ui import query, schema_columns, table_name
from dashboard.warehouse import WarehouseUnavailable

log = logging.getLogger(__name__)

STATE = "last run interrupted — rerun pending"
COLUMNS = ["source", "dataset", "table_name", "load_id", "row_count"]


def unfinished_rows_sql(dataset: str, columns: pd.DataFrame) -> str | None:
    """SQL counting, per table and load id, the rows of ``dataset`` whose load has no completed ``_dlt_loads``
    record (every row, when the dataset has no ``_dlt_loads`` yet: its first load never completed)."""
    tables = set(columns["table_name"])
    loaded = columns[columns["column_name"] == "_dlt_load_id"]["table_name"]
    data_tables = sorted({t for t in loaded if not t.startswith("_dlt_")})
    if not data_tables:
        return None
    done = ""
    if "_dlt_loads" in tables:
        done = f" where _dlt_load_id not in (select load_id from {table_name(dataset, '_dlt_loads')} where status = 0)"
    return "\nunion all\n".join(
        f"select '{t}' as table_name, _dlt_load_id as load_id, count(*) as row_count "
        f"from {table_name(dataset, t)}{done} group by _dlt_load_id"
        for t in data_tables  # plain identifiers: table_name() refuses anything else
    )


def half_loaded() -> pd.DataFrame:
    """Rows of unfinished loads per source, table and load id (no rows: nothing is half-loaded)."""
    frames = []
    for source, dataset in raw_datasets().items():  # every installed plugin's raw dataset
        try:
            sql = unfinished_rows_sql(dataset, schema_columns(dataset))
            frame = query(sql) if sql else None
        except WarehouseUnavailable:
            raise
        except Exception as exc:  # a dataset not created yet (a plugin installed but never run)
            log.info("unfinished loads of %s not checked: %s", dataset, exc)
            continue
        if frame is not None and not frame.empty:
            frames.append(frame.assign(source=source, dataset=dataset))
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True)[COLUMNS].sort_values(["source", "table_name"], ignore_index=True)


def _tables(rows: pd.DataFrame) -> str:
    counts = ((r.table_name, int(r.row_count)) for r in rows.itertuples())
    return ", ".join(f"`{table}` {n:,} {'row' if n == 1 else 'rows'}" for table, n in counts)


def health_banners(frame: pd.DataFrame) -> None:
    """One banner per half-loaded source (Pipeline Health)."""
    for source, rows in frame.groupby("source", sort=True):
        dataset = rows["dataset"].iloc[0]
        loads = ", ".join(sorted(rows["load_id"].unique()))
        st.error(
            f"**{source}: {STATE}.** `{dataset}` holds rows of load {loads} that never completed "
            f"({_tables(rows)}); its other tables may still show the data from before. The next run of {source} "
            f"completes the load (`mdw run {source}`); until then numbers that use {source} data may be incomplete.",
            icon=":material/sync_problem:",
        )


def notice(frame: pd.DataFrame) -> None:
    """A notice above a tab's numbers naming the half-loaded sources (every tab reads every source)."""
    sources = sorted(frame["source"].unique())
    if not sources:
        return
    names = " and ".join(f"**{s}**" for s in sources)
    st.warning(
        f"{names}: {STATE}. The numbers on this tab use {'its' if len(sources) == 1 else 'their'} data and may be "
        "incomplete until the rerun completes the load: see Pipeline Health.",
        icon=":material/sync_problem:",
    )
