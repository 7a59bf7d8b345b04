"""Alerts: task failures, missed deadlines and the monitoring summary, by e-mail and Slack with the same content.

E-mail goes through the SMTP provider's connection ``mdw.airflow.smtp_conn_id`` (default ``smtp_default``) to the
address in the Airflow Variable ``mdw.airflow.alert_email_variable`` (default ``alert_email``). Slack gets the same
alert through an incoming webhook when ``mdw.airflow.slack_webhook_url`` is set (a secret: ``.dlt/secrets.toml``
``[mdw.airflow]`` or ``MDW__AIRFLOW__SLACK_WEBHOOK_URL``; never logged, not even in an error). An alert goes to every
configured channel; one failing channel does not stop the other.
"""

from __future__ import annotations

import asyncio
import html
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from airflow.providers.smtp.hooks.smtp import SmtpHook
from airflow.sdk import AsyncCallback, BaseNotifier, DeadlineAlert, DeadlineReference, Variable

from mdw_airflow.settings import AirflowSettings

log = logging.getLogger(__name__)
MAX_ERROR_CHARS = 3000


@dataclass(frozen=True)
class Alert:
    """One alert: a subject, a plain-text body (Slack; line breaks kept) and an HTML body (e-mail)."""

    subject: str
    text: str
    html: str


def alert_recipient(variable: str) -> str:
    """The alert address from the Airflow Variable ``variable`` (empty when unset)."""
    return str(Variable.get(variable, default="") or "")


def send_email(cfg: AirflowSettings, subject: str, html_body: str, to: str | None = None) -> str:
    """Send one e-mail through the SMTP connection; returns the recipient."""
    recipient = to or alert_recipient(cfg.alert_email_variable)
    if not recipient:
        raise ValueError(f"no alert address: set the Airflow Variable '{cfg.alert_email_variable}'")
    with SmtpHook(smtp_conn_id=cfg.smtp_conn_id) as hook:
        hook.send_email_smtp(to=recipient, subject=subject, html_content=html_body, from_email=cfg.from_email)
    return recipient


def slack_escape(text: str) -> str:
    """Slack's three control characters as entities (its message formatting rules)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def send_slack(cfg: AirflowSettings, alert: Alert) -> None:
    """Post ``alert`` to the Slack incoming webhook. Errors never show the webhook URL (it is a secret)."""
    url = str(cfg.slack_webhook_url or "")
    payload = {"text": f"*{slack_escape(alert.subject)}*\n{slack_escape(alert.text)}"}
    try:
        response = httpx.post(url, json=payload, timeout=cfg.slack_timeout_s)
    except httpx.HTTPError as exc:
        raise RuntimeError(f"Slack webhook ({cfg.setting('slack_webhook_url')}): {type(exc).__name__}") from None
    if response.status_code >= 400:
        raise RuntimeError(
            f"Slack webhook ({cfg.setting('slack_webhook_url')}): HTTP {response.status_code} {response.text[:100]}"
        )


def send_alert(cfg: AirflowSettings, alert: Alert, to: str | None = None) -> list[str]:
    """Send ``alert`` to every configured channel (e-mail, Slack); returns where it went.

    Raises when no channel is configured, or (after trying the others) when a channel failed."""
    sent: list[str] = []
    errors: list[str] = []
    recipient = to or alert_recipient(cfg.alert_email_variable)
    if recipient:
        try:
            sent.append(send_email(cfg, alert.subject, alert.html, recipient))
        except Exception as exc:
            errors.append(f"e-mail to {recipient}: {type(exc).__name__}: {exc}")
    if cfg.slack_webhook_url:
        try:
            send_slack(cfg, alert)
            sent.append("slack")
        except Exception as exc:
            errors.append(str(exc))
    if errors:
        raise RuntimeError(f"alert '{alert.subject}' not delivered to every channel: {'; '.join(errors)}")
    if not sent:
        raise ValueError(
            f"no alert channel: set the Airflow Variable '{cfg.alert_email_variable}' or "
            f"{cfg.setting('slack_webhook_url')}"
        )
    return sent


def task_label(task_id: str) -> str:
    """A task id without repeated parts: dlt's ``crm_bronze.crm_bronze`` (group and task alike) is ``crm_bronze``."""
    parts: list[str] = []
    for part in task_id.split("."):
        if not parts or parts[-1] != part:
            parts.append(part)
    return ".".join(parts)


def failure_alert(
    dag_id: str, task_id: str, try_number: int, run_id: str, error: BaseException | str | None, log_url: str
) -> Alert:
    """The alert for a failed task: DAG, task (once), try, run, the whole error (its lines kept) and the log."""
    label = task_label(task_id)
    message = (f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error or "")).strip()
    if len(message) > MAX_ERROR_CHARS:
        message = message[:MAX_ERROR_CHARS] + "\n… (cut; the whole error is in the log)"
    subject = f"[mdw] {dag_id}: {label} failed (try {try_number})"
    text = f"DAG {dag_id}, task {label}, try {try_number}\nRun: {run_id}\nLog: {log_url}\nError:\n```\n{message}\n```"
    esc = html.escape
    body = (
        f"<p>Task <b>{esc(label)}</b> of DAG <b>{esc(dag_id)}</b> failed on try {try_number}.</p>"
        f"<p>Run: {esc(run_id)}<br>Log: <a href='{esc(log_url)}'>{esc(log_url)}</a></p>"
        f"<p>Error:</p><pre style='white-space: pre-wrap'>{esc(message)}</pre>"
    )
    return Alert(subject, text, body)


class FailureNotifier(BaseNotifier):
    """The ``on_failure_callback`` of every task: one alert naming the DAG, task, try, error and log URL."""

    def __init__(self, cfg: AirflowSettings) -> None:
        super().__init__()
        self.cfg = cfg

    def notify(self, context: Any) -> None:
        ti = context["ti"]
        alert = failure_alert(
            ti.dag_id,
            ti.task_id,
            int(getattr(ti, "try_number", 0) or 0),
            str(context.get("run_id") or getattr(ti, "run_id", "")),
            context.get("exception"),
            str(getattr(ti, "log_url", "") or ""),
        )
        send_alert(self.cfg, alert)


def failure_notifier(cfg: AirflowSettings) -> FailureNotifier:
    """The ``on_failure_callback`` of every task (see :class:`FailureNotifier`)."""
    return FailureNotifier(cfg)


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


async def deadline_missed(
    context: dict[str, Any] | None = None, *, dag_id: str = "", minutes: float = 0.0, **_: Any
) -> str:
    """Deadline Alert callback (run by the triggerer): alert that a run of ``dag_id`` is not done ``minutes`` after
    it was queued.

    ``context`` is what Airflow 3.3 passes (``airflow.models.deadline.Deadline.handle_miss``): ``dag_run``, the run as
    the REST API's ``DAGRunResponse`` dict (``dag_run_id``, ``state``, ``end_date`` ...), and ``deadline``
    (``deadline_time``). A run that ended before its deadline (Airflow keeps the deadline of a failed run) gets no
    alert: its failure was alerted already."""
    context = context or {}
    run, deadline = context.get("dag_run") or {}, context.get("deadline") or {}
    run_id = str(_field(run, "dag_run_id") or _field(run, "run_id") or "")
    state = str(_field(run, "state") or "")
    end, due = _when(_field(run, "end_date")), _when(_field(deadline, "deadline_time"))
    dag_id = str(_field(run, "dag_id") or dag_id)
    if end is not None and (due is None or end <= due):
        log.info("deadline of %s run %s: the run ended (%s) before its deadline; no alert", dag_id, run_id, state)
        return f"no alert: run {run_id} ended ({state}) before its deadline"
    cfg = AirflowSettings.load()
    queued = _field(run, "queued_at") or "?"
    subject = f"[mdw] deadline missed: {dag_id} run {run_id}"
    text = f"DAG {dag_id} run {run_id} ({state or 'unknown state'}) is not done {minutes:.0f} min after it was queued"
    text += f" ({queued})."
    body = f"<p>{html.escape(text)}</p>"
    sent = await asyncio.to_thread(send_alert, cfg, Alert(subject, text, body))
    return f"alert sent to {', '.join(sent)}"


def deadline_alert(cfg: AirflowSettings, dag_id: str) -> DeadlineAlert:
    """A Deadline Alert (Airflow 3's SLA): alert when a run is not done ``cfg.deadline(dag_id)`` after queueing."""
    interval = cfg.deadline(dag_id)
    callback = AsyncCallback(deadline_missed, kwargs={"dag_id": dag_id, "minutes": interval.total_seconds() / 60})
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=interval, callback=callback)
