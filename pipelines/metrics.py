"""The ``ops`` tables' key figures in the Prometheus text exposition format (version 0.0.4), for ``mdw metrics``.

Read through the dashboard's read-only warehouse access (:func:`dashboard.warehouse.open_warehouse`): on DuckDB a
short-lived read-only connection (a pipeline run can write as soon as it is closed), on BigQuery the same SQL as
queries on the target's ``ops`` dataset. What is exposed (``source``: a source plugin; dbt steps are left out of the
per-source figures, their node counts are not rows; ``command``: the kind of run, ``run``, ``demo``, ``replay``,
``backfill``, ``dbt build`` ... or ``airflow <dag_id>``, never a per-run value):

- the latest run of each source: rows and quarantined rows per step and table, duration and rows per step, when it
  started, whether a step failed; when the latest run without a failed step started; failed runs so far;
- ``ops.runs``: finished runs by command and status (failed runs counted), runs still running, the latest finished
  run's duration and start per command;
- ``ops.source_freshness``: the latest ``dbt source freshness`` check per source table: age, newest load, status.

Counters (``_total``) count rows of ``ops``, which only grows; everything else is a gauge. Timestamps are Unix
seconds (``time() - mdw_source_last_success_timestamp_seconds`` is a source's age in PromQL).
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.targets import Target

OPS_TABLES = ("runs", "run_tables", "source_freshness")

# the kind of a run, bounded: backfills without their dates, Airflow runs by DAG without the run id
COMMAND_KIND = """case
        when command is null then 'unknown'
        when command like 'backfill %' then 'backfill'
        when command like 'airflow %' then substr(command, 1, strpos(concat(command, '/'), '/') - 1)
        else command
    end"""

# each source's runs (dbt's steps are not a source's), newest first
RANKED_SOURCE_RUNS = """
with source_runs as (
    select
        source,
        run_id,
        min(started_at) as started_at,
        max(case when status = 'failed' then 1 else 0 end) as failed
    from {run_tables}
    where source <> 'dbt'
    group by source, run_id
),
ranked as (
    select *, row_number() over (partition by source order by started_at desc, run_id desc) as recency
    from source_runs
)"""

SOURCE_RUNS_SQL = (
    RANKED_SOURCE_RUNS
    + """
select
    source,
    max(case when recency = 1 then started_at end) as last_started_at,
    max(case when recency = 1 then failed end) as last_failed,
    max(case when failed = 0 then started_at end) as last_success_at,
    sum(failed) as failed_runs
from ranked
group by source
order by source"""
)

LAST_RUN_TABLES_SQL = (
    RANKED_SOURCE_RUNS
    + """
select t.source, t.step, t.table_name, sum(t.rows) as row_count, sum(t.quarantined) as quarantined
from {run_tables} as t
inner join ranked as r on t.source = r.source and t.run_id = r.run_id and r.recency = 1
where t.table_name is not null
group by t.source, t.step, t.table_name
order by t.source, t.step, t.table_name"""
)

LAST_RUN_STEPS_SQL = (
    RANKED_SOURCE_RUNS
    + """
select t.source, t.step, sum(t.rows) as row_count, max(t.duration_s) as duration_s
from {run_tables} as t
inner join ranked as r on t.source = r.source and t.run_id = r.run_id and r.recency = 1
group by t.source, t.step
order by t.source, t.step"""
)

RUN_COUNTS_SQL = f"""
select {COMMAND_KIND} as command, status, count(*) as runs
from {{runs}}
group by 1, 2
order by 1, 2"""

LAST_FINISHED_RUNS_SQL = f"""
with finished as (
    select {COMMAND_KIND} as command, status, started_at, duration_s, run_id
    from {{runs}}
    where status in ('ok', 'failed') and duration_s is not null
),
ranked as (
    select *, row_number() over (partition by command order by started_at desc, run_id desc) as recency
    from finished
)
select command, status, started_at, duration_s
from ranked
where recency = 1
order by command"""

FRESHNESS_SQL = """
with ranked as (
    select
        source_name,
        table_name,
        status,
        max_loaded_at,
        snapshotted_at,
        age_s,
        row_number() over (partition by source_name, table_name order by snapshotted_at desc) as recency
    from {source_freshness}
)
select source_name, table_name, status, max_loaded_at, snapshotted_at, age_s
from ranked
where recency = 1
order by source_name, table_name"""

FRESHNESS_CODES = {"pass": 0, "warn": 1, "error": 2, "runtime error": 2}


@dataclass
class Metric:
    """One metric family: its samples are ``(labels, value)``, one per label set."""

    name: str
    kind: str  # gauge | counter
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: Any, **labels: Any) -> None:
        """Add a sample; a missing value (NULL) adds none."""
        number = _number(value)
        if number is not None:
            self.samples.append(({k: "" if v is None else str(v) for k, v in labels.items()}, number))


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return None if value != value else _number(value.to_pydatetime())  # NaT != NaT
    number = float(value)
    return None if math.isnan(number) else number


def escape_label(value: str) -> str:
    r"""A label value as the text format wants it: ``\``, ``"`` and line feeds escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    r"""A HELP text: ``\`` and line feeds escaped."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def exposition(metrics: Iterable[Metric]) -> str:
    """The metrics as Prometheus text: HELP and TYPE once per family, then one line per sample."""
    lines = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {escape_help(metric.help)}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for labels, value in metric.samples:
            pairs = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
            lines.append(
                f"{metric.name}{{{pairs}}} {format_value(value)}" if pairs else f"{metric.name} {format_value(value)}"
            )
    return "\n".join(lines) + "\n"


def _records(frame: Any) -> list[dict[str, Any]]:
    """DataFrame rows as dicts with None for missing values."""
    return [{k: (None if _is_missing(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def _is_missing(value: Any) -> bool:
    try:
        return bool(value != value)  # NaN, NaT
    except (TypeError, ValueError):
        return False


def read_ops(target: Target) -> dict[str, list[dict[str, Any]]]:
    """The figures' rows from the target's ``ops`` tables (an absent table gives no rows)."""
    from dashboard.warehouse import open_warehouse

    warehouse = open_warehouse(target)
    present = set(warehouse.columns("ops")["table_name"]) & set(OPS_TABLES)
    names = {t: warehouse.table("ops", t) for t in present}
    out: dict[str, list[dict[str, Any]]] = {}
    statements: list[tuple[str, Mapping[str, Any] | None]] = []
    keys: list[str] = []
    if "runs" in present:
        statements += [(RUN_COUNTS_SQL.format(**names), None), (LAST_FINISHED_RUNS_SQL.format(**names), None)]
        keys += ["run_counts", "last_finished_runs"]
    if "source_freshness" in present:
        statements.append((FRESHNESS_SQL.format(**names), None))
        keys.append("freshness")
    if "run_tables" in present:
        statements += [
            (sql.format(**names), None) for sql in (SOURCE_RUNS_SQL, LAST_RUN_TABLES_SQL, LAST_RUN_STEPS_SQL)
        ]
        keys += ["source_runs", "last_run_tables", "last_run_steps"]
    for key, frame in zip(keys, warehouse.query_many(statements) if statements else [], strict=True):
        out[key] = _records(frame)
    return out


def build_metrics(ops: Mapping[str, list[dict[str, Any]]], now: datetime | None = None) -> list[Metric]:
    """The metric families from :func:`read_ops`'s rows."""
    m = {
        "rows": Metric(
            "mdw_source_last_run_rows",
            "gauge",
            "Rows received per table in each source's latest run (ops.run_tables), by step (extract, load ...)",
        ),
        "quarantined": Metric(
            "mdw_source_last_run_quarantined_rows",
            "gauge",
            "Rows quarantined per table in each source's latest run (ops.run_tables), by step",
        ),
        "step_rows": Metric(
            "mdw_source_last_run_step_rows", "gauge", "Rows moved by each step of each source's latest run"
        ),
        "step_duration": Metric(
            "mdw_source_last_run_step_duration_seconds", "gauge", "Duration of each step of each source's latest run"
        ),
        "started": Metric(
            "mdw_source_last_run_start_timestamp_seconds", "gauge", "When each source's latest run started (Unix time)"
        ),
        "failed": Metric(
            "mdw_source_last_run_failed", "gauge", "1 when a step of the source's latest run failed, else 0"
        ),
        "success": Metric(
            "mdw_source_last_success_timestamp_seconds",
            "gauge",
            "When the source's latest run without a failed step started (Unix time); time() minus it is its age",
        ),
        "source_failed": Metric(
            "mdw_source_failed_runs_total", "counter", "Runs of the source with a failed step (ops.run_tables)"
        ),
        "runs": Metric(
            "mdw_runs_finished_total",
            "counter",
            "Finished runs in ops.runs by command and status (ok, failed, interrupted)",
        ),
        "running": Metric("mdw_runs_running", "gauge", "Runs recorded as running in ops.runs, by command"),
        "run_duration": Metric(
            "mdw_last_run_duration_seconds",
            "gauge",
            "Duration of the latest finished (ok or failed) run per command (ops.runs)",
        ),
        "run_started": Metric(
            "mdw_last_run_start_timestamp_seconds",
            "gauge",
            "When the latest finished run per command started (Unix time)",
        ),
        "run_failed": Metric("mdw_last_run_failed", "gauge", "1 when the latest finished run per command failed"),
        "fresh_age": Metric(
            "mdw_source_freshness_age_seconds",
            "gauge",
            "Age of the newest row of each source table at its latest dbt source freshness check",
        ),
        "fresh_loaded": Metric(
            "mdw_source_freshness_max_loaded_timestamp_seconds",
            "gauge",
            "Newest load of each source table at its latest dbt source freshness check (Unix time)",
        ),
        "fresh_checked": Metric(
            "mdw_source_freshness_checked_timestamp_seconds",
            "gauge",
            "When each source table's freshness was last checked (Unix time)",
        ),
        "fresh_status": Metric(
            "mdw_source_freshness_status",
            "gauge",
            "Latest dbt source freshness status per source table: 0 pass, 1 warn, 2 error (or runtime error)",
        ),
        "generated": Metric(
            "mdw_metrics_generated_timestamp_seconds", "gauge", "When these figures were read from ops (Unix time)"
        ),
    }
    for r in ops.get("last_run_tables") or []:
        labels = {"source": r["source"], "step": r["step"], "table": r["table_name"]}
        m["rows"].add(r["row_count"], **labels)
        m["quarantined"].add(r["quarantined"], **labels)
    for r in ops.get("last_run_steps") or []:
        m["step_rows"].add(r["row_count"], source=r["source"], step=r["step"])
        m["step_duration"].add(r["duration_s"], source=r["source"], step=r["step"])
    for r in ops.get("source_runs") or []:
        m["started"].add(r["last_started_at"], source=r["source"])
        m["failed"].add(r["last_failed"], source=r["source"])
        m["success"].add(r["last_success_at"], source=r["source"])
        m["source_failed"].add(r["failed_runs"], source=r["source"])
    for r in ops.get("run_counts") or []:
        if r["status"] == "running":
            m["running"].add(r["runs"], command=r["command"])
        else:
            m["runs"].add(r["runs"], command=r["command"], status=r["status"])
    for r in ops.get("last_finished_runs") or []:
        m["run_duration"].add(r["duration_s"], command=r["command"])
        m["run_started"].add(r["started_at"], command=r["command"])
        m["run_failed"].add(1 if r["status"] == "failed" else 0, command=r["command"])
    for r in ops.get("freshness") or []:
        labels = {"source": r["source_name"], "table": r["table_name"]}
        m["fresh_age"].add(r["age_s"], **labels)
        m["fresh_loaded"].add(r["max_loaded_at"], **labels)
        m["fresh_checked"].add(r["snapshotted_at"], **labels)
        m["fresh_status"].add(FRESHNESS_CODES.get(str(r["status"]), 2), **labels)
    m["generated"].add(now or datetime.now(UTC))
    return list(m.values())


def metrics_text(target: Target, now: datetime | None = None) -> str:
    """The exposition text of the target's ``ops`` tables."""
    return exposition(build_metrics(read_ops(target), now))


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename, so that a reader (the
    node exporter's textfile collector) sees the old file or the new one, never half of one. The temporary name
    does not end in ``.prom``: the collector ignores it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # the exporter usually runs as another user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def make_server(target: Target, port: int, host: str = "127.0.0.1") -> Any:
    """An HTTP server (not yet serving) that answers ``GET /metrics`` with ``ops`` read afresh on every scrape; a
    failed read answers 503 with the reason. Port 0 picks a free one (``server.server_address[1]``)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404, "only /metrics is served")
                return
            try:
                body, code, kind = metrics_text(target).encode(), 200, CONTENT_TYPE
            except Exception as exc:  # the warehouse is missing or busy: the scrape fails, with the reason
                body, code, kind = f"ops not read: {exc}\n".encode(), 503, "text/plain; charset=utf-8"
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
            pass

    return ThreadingHTTPServer((host, port), Handler)


def serve(target: Target, port: int, host: str = "127.0.0.1") -> None:
    """Serve ``GET /metrics`` on ``host:port`` (loopback by default) until interrupted."""
    with make_server(target, port, host) as server:
        print(f"serving the ops metrics on http://{host}:{server.server_address[1]}/metrics (Ctrl-C stops)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
