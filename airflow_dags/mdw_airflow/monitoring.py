"""The monitoring DAG: a summary of everything since the previous summary, from Airflow's REST API and ``ops``.

The period starts when the previous successful ``mdw_monitoring`` run started (else one day back). In it, for every
ingest and dbt DAG: every run with its state and duration, and an alert for each failed run (with its failed tasks,
try numbers and log URLs), each run over ``duration_alert_factor`` x its ``expected_minutes``, each run with more
failed tasks than ``failed_tasks_alert``, each missed deadline (not done ``deadline_minutes`` after it was queued); a
DAG that never ran, and an unpaused DAG whose scheduled run is overdue by ``schedule_grace_minutes``. From ``ops``
(short-lived read-only connection): the runs of the period, rows per source and step, failed CLI runs (alerts) and
stale sources (alerts). The subject says "all OK" only without any alert. Durations are minutes with one decimal.
The summary goes to XCom and to every alert channel (e-mail, Slack).
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
from mdw_airflow.alerts import Alert, send_alert
from mdw_airflow.runs import default_args, writer_kwargs
from mdw_airflow.settings import AirflowSettings
from pipelines.targets import Target, current_target

MONITORING_DAG_ID = "mdw_monitoring"
MONITORED_TAGS = ("ingest", "dbt")


def ops_queries(since: datetime) -> dict[str, str]:
    """The ``ops`` reads of the summary, for the period from ``since``."""
    at = f"timestamp '{since.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')}'"
    return {
        "runs": "select run_id, command, status, started_at, round(duration_s / 60, 1) as minutes, error "
        f"from ops.runs where started_at >= {at} order by started_at desc limit 50",
        "failed_runs": "select run_id, command, status, started_at, error from ops.runs "
        f"where status in ('failed', 'interrupted') and started_at >= {at} order by started_at desc",
        "rows_per_source": "select t.source, t.step, count(distinct t.run_id) as runs, sum(t.rows) as rows, "
        "sum(t.quarantined) as quarantined from ops.run_tables t "
        f"where t.started_at >= {at} and t.source != 'dbt' group by 1, 2 order by 1, 2",
        "freshness": "select source_name, table_name, status, max_loaded_at, round(age_s / 60, 1) as age_minutes "
        "from ops.source_freshness where true "
        "qualify row_number() over (partition by source_name, table_name order by snapshotted_at desc) = 1 "
        "order by 1, 2",
    }


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def minutes(seconds: float | None) -> str:
    """Seconds as minutes with one decimal ("-" for none)."""
    return "-" if seconds is None else f"{seconds / 60:.1f}"


def log_url(ui_base: str, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
    """The Airflow UI page of one task try (its log)."""
    return (
        f"{ui_base}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id)}?try_number={try_number}"
    )


def period_start(client: httpx.Client, now: datetime, current_run_id: str | None = None) -> datetime:
    """When the previous summary was made: the start of the latest successful monitoring run other than this one
    (else one day before ``now``)."""
    for run in api.dag_runs(client, MONITORING_DAG_ID, "success"):
        started = _when(run.get("start_date"))
        if run["dag_run_id"] != current_run_id and started and started < now:
            return started
    return now - timedelta(days=1)


def summarise_run(
    client: httpx.Client, cfg: AirflowSettings, run: dict[str, Any], ui_base: str, now: datetime
) -> dict[str, Any]:
    """One run of a DAG with its alerts (state, duration against expected, failed tasks, deadline)."""
    dag_id, run_id = run["dag_id"], run["dag_run_id"]
    expected = cfg.expected(dag_id).total_seconds()
    start, end, queued = _when(run.get("start_date")), _when(run.get("end_date")), _when(run.get("queued_at"))
    duration = run.get("duration")
    if duration is None and start is not None:  # still running
        duration = ((end or now) - start).total_seconds()
    row: dict[str, Any] = {"dag_id": dag_id, "run_id": run_id, "state": run["state"], "expected_s": expected}
    row.update(start_date=run.get("start_date"), duration_s=duration, failed_tasks=[], alerts=[])
    failed = []
    if run["state"] in ("failed", "running"):
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
    tasks = ", ".join(f"{t['task_id']} (try {t['try_number']})" for t in row["failed_tasks"])
    if run["state"] == "failed":
        alerts.append(f"run {run_id} failed" + (f": {len(failed)} failed task(s): {tasks}" if failed else ""))
    elif len(failed) > cfg.failed_tasks_alert:
        alerts.append(f"run {run_id}: {len(failed)} failed task(s): {tasks}")
    if duration is not None and duration > cfg.duration_alert_factor * expected:
        alerts.append(
            f"run {run_id} took {minutes(duration)} min, over {cfg.duration_alert_factor:g}x expected "
            f"{minutes(expected)} min"
        )
    reference, deadline = queued or start, cfg.deadline(dag_id)
    if reference and (end or now) - reference > deadline:
        alerts.append(f"run {run_id} missed its deadline ({minutes(deadline.total_seconds())} min after queued)")
    return row


def summarise_dag(
    client: httpx.Client, cfg: AirflowSettings, dag: dict[str, Any], ui_base: str, since: datetime, now: datetime
) -> dict[str, Any]:
    """Every run of one DAG in the period, its alerts, and whether it ran at all / when scheduled."""
    dag_id = dag["dag_id"]
    in_period = [
        r
        for r in api.runs_since(client, dag_id, since.isoformat())
        if (_when(r.get("end_date")) or now) >= since  # updated in the period: ended in it, or still going
    ]
    runs = [summarise_run(client, cfg, r, ui_base, now) for r in in_period]
    row: dict[str, Any] = {"dag_id": dag_id, "paused": bool(dag.get("is_paused")), "runs": runs}
    alerts = [f"{dag_id}: {a}" for r in runs for a in r["alerts"]]
    if not runs and api.latest_run(client, dag_id) is None:
        alerts.append(f"{dag_id}: never ran" + (" (paused)" if row["paused"] else ""))
    due = _when(dag.get("next_dagrun_run_after"))
    grace = timedelta(minutes=cfg.schedule_grace_minutes)
    if not row["paused"] and due is not None and due + grace < now:
        alerts.append(f"{dag_id}: did not run when scheduled (due {due.isoformat(timespec='minutes')})")
    row["alerts"] = alerts
    return row


def summarise_dags(
    client: httpx.Client, cfg: AirflowSettings, ui_base: str, since: datetime, now: datetime
) -> list[dict[str, Any]]:
    """Every ingest and dbt DAG (found by tag) over the period."""
    found: dict[str, dict[str, Any]] = {}
    for tag in MONITORED_TAGS:
        for dag in api.dags(client, tag):
            found.setdefault(dag["dag_id"], dag)
    return [summarise_dag(client, cfg, found[dag_id], ui_base, since, now) for dag_id in sorted(found)]


def read_ops(target: Target, since: datetime, attempts: int = 5) -> dict[str, Any]:
    """Runs, failures, rows and freshness from ``ops`` since ``since`` (each query alone; a missing table is
    noted)."""
    queries = ops_queries(since)
    out: dict[str, Any] = {}
    if target.is_local_duckdb:
        import duckdb

        def read() -> dict[str, Any]:
            with duckdb.connect(str(target.warehouse_path), read_only=True) as con:
                return {name: _query(lambda q, c=con: _duck_rows(c, q), sql) for name, sql in queries.items()}

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
    for name, sql in queries.items():
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


def summarise(
    client: httpx.Client,
    cfg: AirflowSettings,
    target: Target,
    ui_base: str,
    since: datetime | None = None,
    now: datetime | None = None,
    current_run_id: str | None = None,
) -> dict[str, Any]:
    """The whole summary of the period from ``since`` (default: the previous summary) to ``now``: DAG runs (REST
    API) + ops tables, and the list of alerts."""
    now = now or datetime.now(UTC)
    since = since or period_start(client, now, current_run_id)
    dags = summarise_dags(client, cfg, ui_base, since, now)
    ops = read_ops(target, since)
    alerts = [a for d in dags for a in d["alerts"]]
    if isinstance(ops.get("error"), str):  # the warehouse could not be read: nothing can be called OK
        alerts.append(f"ops tables not read: {ops['error']}")
    for row in ops.get("failed_runs") or []:  # Airflow's own runs are alerted above, from the REST API
        if isinstance(row, dict) and not str(row.get("command") or "").startswith("airflow "):
            alerts.append(f"ops run {row['run_id']} ({row['command']}) {row['status']}: {row.get('error') or ''}")
    for row in ops.get("freshness") or []:
        if isinstance(row, dict) and row.get("status") in ("warn", "error"):
            what = f"{row['table_name']}, {row.get('age_minutes')} min old"
            alerts.append(f"source {row['source_name']}: freshness {row['status']} ({what})")
    return {"generated_at": now.isoformat(), "since": since.isoformat(), "dags": dags, "ops": ops, "alerts": alerts}


def render(summary: dict[str, Any]) -> Alert:
    """The summary as one alert: subject, plain text (Slack) and HTML (e-mail), with the same content."""
    alerts = summary["alerts"]
    since = summary["since"][:16].replace("T", " ")
    subject = f"[mdw] summary since {since} UTC: " + (f"{len(alerts)} alert(s)" if alerts else "all OK")
    esc = html.escape
    text = [f"Alerts ({len(alerts)}):", *[f"- {a}" for a in alerts]] if alerts else ["No alerts."]
    parts = ["<h2>Alerts</h2><ul>" + "".join(f"<li>{esc(a)}</li>" for a in alerts) + "</ul>" if alerts else ""]
    parts.append("<h2>DAG runs in the period</h2><table border='1'><tr><th>DAG</th><th>run</th><th>state</th>")
    parts.append("<th>minutes (expected)</th><th>failed tasks</th></tr>")
    text.append("DAG runs in the period (minutes, expected):")
    for d in summary["dags"]:
        if not d["runs"]:
            state = "paused, no runs" if d["paused"] else "no runs"
            parts.append(f"<tr><td>{esc(d['dag_id'])}</td><td>-</td><td>{state}</td><td>-</td><td></td></tr>")
            text.append(f"- {d['dag_id']}: {state}")
        for r in d["runs"]:
            took = f"{minutes(r['duration_s'])} ({minutes(r['expected_s'])})"
            tasks = "<br>".join(
                f"<a href='{esc(t['log_url'])}'>{esc(t['task_id'])}</a> (try {t['try_number']})"
                for t in r["failed_tasks"]
            )
            parts.append(
                f"<tr><td>{esc(r['dag_id'])}</td><td>{esc(str(r['run_id']))}</td><td>{esc(r['state'])}</td>"
                f"<td>{took}</td><td>{tasks}</td></tr>"
            )
            failed = "; ".join(f"{t['task_id']} (try {t['try_number']}) {t['log_url']}" for t in r["failed_tasks"])
            line = f"- {r['dag_id']} {r['run_id']}: {r['state']}, {took}"
            text.append(line + (f", failed: {failed}" if failed else ""))
    parts.append("</table>")
    for name, rows in summary["ops"].items():
        parts.append(f"<h3>ops: {esc(name)}</h3>")
        text.append(f"ops {name}:")
        if isinstance(rows, list) and rows:
            head = "".join(f"<th>{esc(k)}</th>" for k in rows[0])
            body = "".join("<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in r.values()) + "</tr>" for r in rows)
            parts.append(f"<table border='1'><tr>{head}</tr>{body}</table>")
            text += ["- " + ", ".join(f"{k}={v}" for k, v in r.items()) for r in rows[:20]]
        else:
            shown = str(rows.get("error") if isinstance(rows, dict) else "none")
            parts.append(f"<p>{esc(shown)}</p>")
            text.append(f"- {shown}")
    return Alert(subject, "\n".join(text), "".join(parts))


def render_email(summary: dict[str, Any]) -> tuple[str, str]:
    """Subject and HTML body of the summary e-mail."""
    alert = render(summary)
    return alert.subject, alert.html


def build_monitoring_dag(cfg: AirflowSettings) -> DAG:
    """The daily monitoring DAG: ``summarise`` (REST API + ops, XCom) -> ``send_summary`` (one e-mail)."""
    target = current_target()
    with DAG(
        dag_id=MONITORING_DAG_ID,
        description="summary of the ingest and dbt DAGs and the ops tables since the previous one, by e-mail / Slack",
        schedule=cfg.timetable(cfg.monitoring_schedule),
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
        def summarise_task(**context: Any) -> dict[str, Any]:
            """Summarise the period since the previous summary: DAG runs and the ops tables (pushed to XCom)."""
            with api.api_client(cfg.api_conn_id) as client:
                ui_base = str(client.base_url).rstrip("/")
                return summarise(client, cfg, target, ui_base, current_run_id=context["dag_run"].run_id)

        @task(task_id="send_summary")
        def send_summary(summary: dict[str, Any]) -> list[str]:
            """Send the summary to every alert channel (e-mail, Slack)."""
            return send_alert(cfg, render(summary))

        send_summary(summarise_task())
    return dag
