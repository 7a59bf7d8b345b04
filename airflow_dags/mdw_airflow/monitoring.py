"""The monitoring DAG: a daily summary of every ingest and dbt DAG's latest run plus the warehouse ops tables.

Alert thresholds (``[mdw.airflow]``): a run in state ``failed``; a duration above ``duration_alert_factor`` x its
``expected_minutes``; more failed tasks than ``failed_tasks_alert``; a missed deadline (not done
``deadline_minutes`` after it was queued). Runs come from Airflow's REST API v2, history from ``ops`` through a
short-lived read-only connection. The summary goes to XCom and, as one e-mail, to the ``alert_email`` Variable.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from airflow.sdk import DAG, task
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_incrementing

from mdw_airflow import api
from mdw_airflow.alerts import send_email
from mdw_airflow.runs import default_args, writer_kwargs
from mdw_airflow.settings import AirflowSettings
from pipelines.targets import Target, current_target

MONITORING_DAG_ID = "mdw_monitoring"
MONITORED_TAGS = ("ingest", "dbt")

OPS_QUERIES = {
    "latest_runs": "select run_id, command, status, started_at, duration_s, error from ops.runs "
    "order by started_at desc limit 10",
    "failed_runs": "select run_id, command, started_at, error from ops.runs where status = 'failed' "
    "order by started_at desc limit 10",
    "latest_rows": "select source, step, sum(rows) as rows, sum(quarantined) as quarantined from ops.run_tables "
    "where run_id = (select run_id from ops.runs where command not like '%dbt%' order by started_at desc limit 1) "
    "group by 1, 2 order by 1, 2",
    "freshness": "select source_name, table_name, status, max_loaded_at, age_s from ops.source_freshness where true "
    "qualify row_number() over (partition by source_name, table_name order by snapshotted_at desc) = 1 "
    "order by 1, 2",
}


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def log_url(ui_base: str, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
    """The Airflow UI page of one task try (its log)."""
    return (
        f"{ui_base}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id)}?try_number={try_number}"
    )


def summarise_run(
    client: httpx.Client, cfg: AirflowSettings, dag_id: str, ui_base: str, now: datetime
) -> dict[str, Any]:
    """The latest run of ``dag_id`` with its alerts (state, duration vs expected, failed tasks, deadline)."""
    run = api.latest_run(client, dag_id)
    expected = cfg.expected(dag_id).total_seconds()
    row: dict[str, Any] = {"dag_id": dag_id, "run_id": None, "state": "no runs", "expected_s": expected}
    row.update(duration_s=None, failed_tasks=[], alerts=[])
    if run is None:
        return row
    run_id = run["dag_run_id"]
    start, end, queued = _when(run.get("start_date")), _when(run.get("end_date")), _when(run.get("queued_at"))
    duration = run.get("duration")
    if duration is None and start is not None:  # still running
        duration = ((end or now) - start).total_seconds()
    row.update(run_id=run_id, state=run["state"], start_date=run.get("start_date"), duration_s=duration)
    failed = [ti for ti in api.task_instances(client, dag_id, run_id) if ti.get("state") == "failed"]
    row["failed_tasks"] = [
        {
            "task_id": ti["task_id"],
            "try_number": ti.get("try_number"),
            "log_url": log_url(ui_base, dag_id, run_id, ti["task_id"], ti.get("try_number") or 1),
        }
        for ti in failed
    ]
    alerts = row["alerts"]
    if run["state"] == "failed":
        alerts.append("run failed")
    if duration is not None and duration > cfg.duration_alert_factor * expected:
        alerts.append(f"took {duration / 60:.1f} min, over {cfg.duration_alert_factor:g}x expected {expected / 60:.0f}")
    if len(failed) > cfg.failed_tasks_alert:
        alerts.append(f"{len(failed)} failed task(s): " + ", ".join(t["task_id"] for t in row["failed_tasks"]))
    reference = queued or start
    if reference and (end or now) - reference > cfg.deadline(dag_id):
        alerts.append(f"deadline missed ({cfg.deadline(dag_id).total_seconds() / 60:.0f} min after queued)")
    return row


def summarise_dags(client: httpx.Client, cfg: AirflowSettings, ui_base: str) -> list[dict[str, Any]]:
    """The latest run of every ingest and dbt DAG (found by tag), with alerts."""
    now = datetime.now(UTC)
    found: dict[str, dict[str, Any]] = {}
    for tag in MONITORED_TAGS:
        for dag in api.dags(client, tag):
            found.setdefault(dag["dag_id"], dag)
    return [summarise_run(client, cfg, dag_id, ui_base, now) for dag_id in sorted(found)]


def read_ops(target: Target, attempts: int = 5) -> dict[str, Any]:
    """Latest runs, failures, rows and freshness from ``ops`` (each query alone; a missing table is noted)."""
    out: dict[str, Any] = {}
    if target.is_local_duckdb:
        import duckdb

        def read() -> dict[str, Any]:
            with duckdb.connect(str(target.warehouse_path), read_only=True) as con:
                return {name: _query(lambda q, c=con: _duck_rows(c, q), sql) for name, sql in OPS_QUERIES.items()}

        retrying = Retrying(  # a writer may hold the file for a moment: wait 2 s, 4 s, 6 s ...
            retry=retry_if_exception_type(duckdb.IOException),
            stop=stop_after_attempt(attempts),
            wait=wait_incrementing(start=2, increment=2),
            reraise=True,
        )
        try:
            return retrying(read)
        except duckdb.IOException as exc:
            return {"error": f"warehouse busy: {exc}"}
    from google.cloud import bigquery

    client = bigquery.Client()
    for name, sql in OPS_QUERIES.items():
        out[name] = _query(lambda q: [dict(r.items()) for r in client.query(q).result()], sql)
    return out


def _duck_rows(con: Any, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _query(run: Any, sql: str) -> Any:
    try:
        rows = run(sql)
    except Exception as exc:  # e.g. ops.source_freshness before the first dbt DAG run
        return {"error": str(exc).splitlines()[0][:200]}
    return [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()} for r in rows]


def summarise(client: httpx.Client, cfg: AirflowSettings, target: Target, ui_base: str) -> dict[str, Any]:
    """The whole summary: DAG runs (REST API) + ops tables, and the list of alerts."""
    runs = summarise_dags(client, cfg, ui_base)
    ops = read_ops(target)
    alerts = [f"{r['dag_id']}: {a}" for r in runs for a in r["alerts"]]
    for row in ops.get("freshness") or []:
        if isinstance(row, dict) and row.get("status") in ("warn", "error"):
            alerts.append(f"source {row['source_name']}: freshness {row['status']}")
    return {"generated_at": datetime.now(UTC).isoformat(), "dags": runs, "ops": ops, "alerts": alerts}


def render_email(summary: dict[str, Any]) -> tuple[str, str]:
    """Subject and HTML body of the summary e-mail."""
    alerts = summary["alerts"]
    subject = f"[mdw] daily summary: {len(alerts)} alert(s)" if alerts else "[mdw] daily summary: all OK"
    esc = html.escape
    parts = ["<h2>Alerts</h2><ul>" + "".join(f"<li>{esc(a)}</li>" for a in alerts) + "</ul>" if alerts else ""]
    parts.append("<h2>Latest runs</h2><table border='1'><tr><th>DAG</th><th>run</th><th>state</th>")
    parts.append("<th>minutes (expected)</th><th>failed tasks</th></tr>")
    for r in summary["dags"]:
        minutes = f"{r['duration_s'] / 60:.1f}" if r["duration_s"] is not None else "-"
        tasks = "<br>".join(
            f"<a href='{esc(t['log_url'])}'>{esc(t['task_id'])}</a> (try {t['try_number']})" for t in r["failed_tasks"]
        )
        parts.append(
            f"<tr><td>{esc(r['dag_id'])}</td><td>{esc(str(r['run_id']))}</td><td>{esc(r['state'])}</td>"
            f"<td>{minutes} ({r['expected_s'] / 60:.0f})</td><td>{tasks}</td></tr>"
        )
    parts.append("</table>")
    for name, rows in summary["ops"].items():
        parts.append(f"<h3>ops: {esc(name)}</h3>")
        if isinstance(rows, list) and rows:
            head = "".join(f"<th>{esc(k)}</th>" for k in rows[0])
            body = "".join("<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in r.values()) + "</tr>" for r in rows)
            parts.append(f"<table border='1'><tr>{head}</tr>{body}</table>")
        else:
            parts.append(f"<p>{esc(str(rows.get('error') if isinstance(rows, dict) else 'none'))}</p>")
    return subject, "".join(parts)


def build_monitoring_dag(cfg: AirflowSettings) -> DAG:
    """The daily monitoring DAG: ``summarise`` (REST API + ops, XCom) -> ``send_summary`` (one e-mail)."""
    target = current_target()
    with DAG(
        dag_id=MONITORING_DAG_ID,
        description="daily summary of the ingest and dbt DAGs and the ops tables, by e-mail",
        schedule=cfg.monitoring_schedule,
        start_date=cfg.start,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(minutes=30),
        default_args=default_args(cfg),
        tags=[*cfg.tags, "monitoring"],
        doc_md=__doc__,
    ) as dag:
        # the read-only DuckDB connection would block a writer: take the writer slot for that moment
        @task(task_id="summarise", **writer_kwargs(cfg, target))
        def summarise_task() -> dict[str, Any]:
            """Summarise the latest runs and the ops tables (pushed to XCom)."""
            with api.api_client(cfg.api_conn_id) as client:
                return summarise(client, cfg, target, str(client.base_url).rstrip("/"))

        @task(task_id="send_summary")
        def send_summary(summary: dict[str, Any]) -> str:
            """E-mail the summary to the alert address."""
            subject, body = render_email(summary)
            return send_email(cfg, subject, body)

        send_summary(summarise_task())
    return dag
