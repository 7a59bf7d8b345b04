"""E-mail alerts through the SMTP provider: task failures, missed deadlines and the monitoring summary.

The recipient is the Airflow Variable named by ``mdw.airflow.alert_email_variable`` (default ``alert_email``);
mail goes through the SMTP connection ``mdw.airflow.smtp_conn_id`` (default ``smtp_default``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from airflow.providers.smtp.hooks.smtp import SmtpHook
from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference, Variable

from mdw_airflow.settings import AirflowSettings

FAILURE_SUBJECT = "[mdw] task failed: {{ ti.dag_id }}.{{ ti.task_id }} (try {{ ti.try_number }})"
FAILURE_HTML = (
    "<p>Task <b>{{ ti.task_id }}</b> of DAG <b>{{ ti.dag_id }}</b> failed on try {{ ti.try_number }}.</p>"
    "<p>Run: {{ run_id }}<br>Error: {{ exception }}<br>Log: <a href='{{ ti.log_url }}'>{{ ti.log_url }}</a></p>"
)


def failure_notifier(cfg: AirflowSettings) -> SmtpNotifier:
    """The ``on_failure_callback`` of every task: one e-mail naming the DAG, task, try and log URL."""
    return SmtpNotifier(
        to="{{ var.value.get('" + cfg.alert_email_variable + "', '') }}",
        from_email=cfg.from_email,
        subject=FAILURE_SUBJECT,
        html_content=FAILURE_HTML,
        smtp_conn_id=cfg.smtp_conn_id,
    )


def alert_recipient(variable: str) -> str:
    """The alert address from the Airflow Variable ``variable`` (empty when unset)."""
    return str(Variable.get(variable, default="") or "")


def send_email(cfg: AirflowSettings, subject: str, html: str, to: str | None = None) -> str:
    """Send one e-mail through the SMTP connection; returns the recipient."""
    recipient = to or alert_recipient(cfg.alert_email_variable)
    if not recipient:
        raise ValueError(f"no alert address: set the Airflow Variable '{cfg.alert_email_variable}'")
    with SmtpHook(smtp_conn_id=cfg.smtp_conn_id) as hook:
        hook.send_email_smtp(to=recipient, subject=subject, html_content=html, from_email=cfg.from_email)
    return recipient


async def deadline_missed(context: Any = None, *, dag_id: str = "", minutes: float = 0.0, **_: Any) -> None:
    """Deadline Alert callback: e-mail that a run of ``dag_id`` is not done ``minutes`` after it was queued."""
    cfg = AirflowSettings.load()
    run_id = getattr((context or {}).get("dag_run"), "run_id", "") if isinstance(context, dict) else ""
    html = f"<p>DAG <b>{dag_id}</b> run {run_id} missed its deadline: not done {minutes:.0f} min after queued.</p>"
    await asyncio.to_thread(send_email, cfg, f"[mdw] deadline missed: {dag_id}", html)


def deadline_alert(cfg: AirflowSettings, dag_id: str) -> DeadlineAlert:
    """A Deadline Alert (Airflow 3's SLA): mail when a run is not done ``cfg.deadline(dag_id)`` after queueing."""
    interval = cfg.deadline(dag_id)
    callback = AsyncCallback(deadline_missed, kwargs={"dag_id": dag_id, "minutes": interval.total_seconds() / 60})
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=interval, callback=callback)
