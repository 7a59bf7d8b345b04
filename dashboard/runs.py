"""Pipeline runs in ``ops.runs``: one order and one definition of "the last run" for the whole dashboard.

The header's "Data as of" line and Pipeline Health's "Last run" card, its caption, the recent-runs table and the
"last dbt build" all take the newest run from :data:`NEWEST_FIRST`. Several runs can share a ``started_at`` (runs
recorded for interrupted processes, runs recorded by Airflow in parts, clocks of coarse resolution): the order is
total, so every query and every rerun names the same run.
"""

from __future__ import annotations

import logging

import pandas as pd

from dashboard.ui import query, table_name
from dashboard.warehouse import WarehouseUnavailable

log = logging.getLogger(__name__)


def newest_first(started: str = "started_at", finished: str = "finished_at", run_id: str = "run_id") -> str:
    """``order by`` terms, newest run first: by start, then by end (a run still running, with no end yet, before one
    that ended), then by run id; the column names as the query calls them."""
    return f"{started} desc nulls last, {finished} desc nulls first, {run_id} desc"


NEWEST_FIRST = newest_first()
COLUMNS = ("started_at", "finished_at", "command", "target", "status", "duration_s", "error", "run_id")
UNKNOWN = "Data as of: unknown (no pipeline run recorded in ops.runs)"


def runs_sql(runs: str, limit: int) -> str:
    """The newest ``limit`` rows of the ``runs`` table (a qualified name), newest first."""
    return (
        f"select started_at, finished_at, command, target, status, round(duration_s, 1) as duration_s, error, run_id\n"
        f"from {runs}\norder by {NEWEST_FIRST}\nlimit {int(limit)}"
    )


def recent_runs(limit: int = 20) -> pd.DataFrame | None:
    """The newest runs in ``ops.runs``, newest first; ``None`` when there is no ``ops.runs`` yet."""
    try:
        return query(runs_sql(table_name("ops", "runs"), limit))
    except WarehouseUnavailable:
        raise
    except Exception as exc:  # no ops dataset yet (a warehouse no run has recorded into)
        log.info("ops.runs not read: %s", exc)
        return None


def last_run() -> pd.Series | None:
    """The last pipeline run (the first of :func:`recent_runs`); ``None`` when none is recorded."""
    runs = recent_runs(1)
    return None if runs is None or runs.empty else runs.iloc[0]


def utc_text(value: object, fmt: str = "%Y-%m-%d %H:%M:%S") -> str | None:
    """A timestamp as UTC text (``None`` when missing)."""
    if value is None or pd.isna(value):
        return None
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return f"{stamp.strftime(fmt)} UTC"


def data_as_of() -> str:
    """The header line: when the last pipeline run (:func:`last_run`) finished, its status, the newest order day."""
    last = last_run()
    if last is None:
        return UNKNOWN
    try:
        newest = query(f"select max(order_date) as newest from {table_name('gold', 'mart_orders')}")["newest"].iloc[0]
    except WarehouseUnavailable:
        raise
    except Exception:  # no Gold marts yet
        newest = None
    finished = utc_text(last["finished_at"], "%Y-%m-%d %H:%M")
    if finished is None:  # still running, or interrupted before it ended
        when = f"**{utc_text(last['started_at'], '%Y-%m-%d %H:%M')}** (start of the last pipeline run"
    else:
        when = f"**{finished}** (last pipeline run"
    note = "" if last["status"] == "ok" else f" — that run's status is {last['status']}: see Pipeline Health"
    day = "" if newest is None or pd.isna(newest) else f" · newest order day {pd.Timestamp(newest):%Y-%m-%d}"
    return f"Data as of {when}, `{last['command']}`){note}{day}"
