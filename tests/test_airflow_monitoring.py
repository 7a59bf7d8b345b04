"""The monitoring DAG's summariser against Airflow's real REST API app, and alert e-mails to a real SMTP server.

A temporary SQLite metadata DB is seeded with runs of the project's DAGs (a failed one with a failed task);
the API app runs in-process (FastAPI TestClient); e-mails go to an aiosmtpd server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import email
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import airflow_env

airflow_env.configure()  # before Airflow is imported (also indirectly, by dlt resolving configuration)

import pytest  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402

from conftest import REPO  # noqa: E402
from pipelines.ops import record_run  # noqa: E402
from pipelines.report import RunReport, StepReport  # noqa: E402
from pipelines.targets import Target, current_target  # noqa: E402

NOW = datetime.now(UTC).replace(microsecond=0)
ALERT_TO = "data-team@example.com"


class Inbox:
    """aiosmtpd handler keeping every message received."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's API)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """A real SMTP server on 127.0.0.1, the ``smtp_default`` connection and the ``alert_email`` Variable."""
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    conn = {"conn_type": "smtp", "host": "127.0.0.1", "port": controller.port}
    conn["extra"] = {"disable_tls": True, "disable_ssl": True, "timeout": 10, "retry_limit": 1}
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_VAR_ALERT_EMAIL", ALERT_TO)
    try:
        yield handler
    finally:
        controller.stop()


def _body(message: Message) -> str:
    parts = [p.get_payload(decode=True) for p in message.walk() if not p.is_multipart()]
    return "".join(p.decode() for p in parts if isinstance(p, bytes))


def _seed_run(
    dag_id: str,
    state: str,
    start: datetime,
    end: datetime,
    failed: dict[str, int],
    name: str = "seeded",
    hours: int = 1,
) -> str:
    """A finished run of ``dag_id`` (logical date ``hours`` after now), its tasks successful except ``failed``
    {task: try}."""
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    run_id = f"scheduled__{name}_{dag_id}"
    with create_session() as session:
        dag = SerializedDagModel.get_dag(dag_id, session=session)
        run = dag.create_dagrun(
            run_id=run_id,
            logical_date=NOW + timedelta(hours=hours),
            data_interval=(NOW, NOW + timedelta(hours=hours)),
            run_after=NOW + timedelta(hours=hours),  # newer than any run of the other test module
            run_type=DagRunType.SCHEDULED,
            triggered_by=DagRunTriggeredByType.TEST,
            state=DagRunState.RUNNING,
            session=session,
        )
        for ti in run.get_task_instances(session=session):
            ti.state = "failed" if ti.task_id in failed else "success"
            ti.try_number = failed.get(ti.task_id, 1)
            ti.start_date, ti.end_date = start, end
        run.state, run.start_date, run.end_date, run.queued_at = state, start, end, start
    return run_id


@pytest.fixture(scope="module")
def seeded() -> dict[str, str]:
    """The project's DAGs in the metadata DB, with one latest run each for three of them."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models import DagRun, TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    airflow_env.ensure_db()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        with create_session() as session:
            # the summary covers every run of its period: runs other test modules made in this session's metadata
            # DB (dag.test() of ingest_crm and dbt_transform) would be part of it, so this module starts from none
            session.execute(delete(TaskInstance))
            session.execute(delete(DagRun))
            DagBundlesManager().sync_bundles_to_db(session=session)
        bag = BundleDagBag(dag_folder=str(airflow_env.DAGS), bundle_path=airflow_env.DAGS, bundle_name="dags-folder")
        assert not bag.import_errors, bag.import_errors
        sync_bag_to_db(bag, "dags-folder", None)
    m = timedelta(minutes=1)
    return {
        "ingest_crm": _seed_run("ingest_crm", "success", NOW - 10 * m, NOW - 7 * m, {}),
        # a failed run, then a good one: the summary reports the failure all the same
        "ingest_meta_ads": _seed_run("ingest_meta_ads", "failed", NOW - 60 * m, NOW - 50 * m, {"load_warehouse": 3}),
        "ingest_meta_ads_later": _seed_run("ingest_meta_ads", "success", NOW - 30 * m, NOW - 26 * m, {}, "later", 2),
        "dbt_transform": _seed_run("dbt_transform", "success", NOW - 190 * m, NOW - 10 * m, {}),
    }


@pytest.fixture(scope="module")
def api_client(seeded: dict[str, str]) -> Iterator[Any]:
    """Airflow's REST API app in-process, authenticated with a JWT from /auth/token."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient
    from mdw_airflow import api

    with TestClient(create_app(), base_url="http://airflow.test") as client:
        client.headers["Authorization"] = f"Bearer {api.token(client, 'admin', 'unused-all-admins')}"
        yield client


@pytest.fixture(scope="module")
def ops_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A warehouse with ops history: a good and a failed CLI run, and a stale source."""
    data = tmp_path_factory.mktemp("af_ops") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        mp.setenv("MDW__DATA_DIR", str(data))
        mp.setenv("MDW__TARGET", "local")
        target = current_target()
        ok = RunReport("local", "run")
        step = StepReport("crm", "load", NOW, 3.0, "ok")
        step.table("orders").rows = 42
        ok.steps.append(step)
        record_run(ok, target)
        bad = RunReport("local", "run")
        bad.steps.append(StepReport("meta_ads", "extract", NOW, 1.0, "failed", "source 'meta_ads': token expired"))
        stale = {"source_name": "ga4", "table_name": "_dlt_loads", "status": "error", "age_s": 200000.0}
        stale |= {"max_loaded_at": NOW - timedelta(days=3), "snapshotted_at": NOW}
        stale |= {"warn_after_s": 93600.0, "error_after_s": 180000.0, "message": None}
        record_run(bad, target, freshness=[stale])
        yield target


def _overdue(dag_id: str) -> None:
    """``dag_id`` unpaused, its next scheduled run due 3 hours ago (the scheduler did not create it)."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        dag = session.get(DagModel, dag_id)
        dag.is_paused = False
        dag.next_dagrun_create_after = NOW - timedelta(hours=3)


def test_summary_covers_every_alert_of_the_period(
    api_client: Any, seeded: dict[str, str], ops_target: Target, inbox: Inbox
) -> None:
    from mdw_airflow.alerts import send_email
    from mdw_airflow.monitoring import render, render_email, summarise
    from mdw_airflow.settings import AirflowSettings

    _overdue("ingest_ga4")
    cfg = AirflowSettings.load()
    summary = summarise(api_client, cfg, ops_target, "http://airflow.test", since=NOW - timedelta(days=1))
    dags = {d["dag_id"]: d for d in summary["dags"]}
    assert {"ingest_crm", "ingest_meta_ads", "ingest_ga4", "dbt_transform"} <= set(dags)
    assert "mdw_monitoring" not in dags
    alerts = summary["alerts"]

    (crm,) = dags["ingest_crm"]["runs"]
    assert (crm["run_id"], crm["state"], crm["alerts"]) == (seeded["ingest_crm"], "success", [])
    assert crm["duration_s"] == pytest.approx(180, abs=1)

    # every run of the period, not only the latest: the failure before the good run is reported
    failed, later = dags["ingest_meta_ads"]["runs"]
    assert (failed["state"], later["state"]) == ("failed", "success") and later["alerts"] == []
    (task,) = failed["failed_tasks"]
    assert (task["task_id"], task["try_number"]) == ("load_warehouse", 3)
    assert task["log_url"].startswith("http://airflow.test/dags/ingest_meta_ads/runs/")
    meta_run = seeded["ingest_meta_ads"]
    assert f"ingest_meta_ads: run {meta_run} failed: 1 failed task(s): load_warehouse (try 3)" in alerts

    (dbt,) = dags["dbt_transform"]["runs"]  # 3 h: over 2 x 20 min, and past its 60 min deadline
    run = seeded["dbt_transform"]
    assert f"dbt_transform: run {run} took 180.0 min, over 2x expected 20.0 min" in alerts
    assert f"dbt_transform: run {run} missed its deadline (60.0 min after queued)" in alerts

    # DAGs that never ran, or not when scheduled
    assert "ingest_google_ads: never ran (paused)" in alerts
    assert any(a.startswith("ingest_ga4: never ran") for a in alerts)
    assert any(a.startswith("ingest_ga4: did not run when scheduled (due ") for a in alerts)

    ops = summary["ops"]
    assert [r["status"] for r in ops["runs"]][:2] == ["failed", "ok"]
    assert ops["failed_runs"][0]["error"] == "meta_ads/extract: source 'meta_ads': token expired"
    assert any(a.startswith("ops run ") and a.endswith("failed: meta_ads/extract: source 'meta_ads': token expired")
               for a in alerts)  # fmt: skip
    assert "source ga4: freshness error (_dlt_loads, 3333.3 min old)" in alerts
    assert {(r["source"], r["step"], r["rows"]) for r in ops["rows_per_source"]} >= {("crm", "load", 42)}
    assert len(alerts) == 8, alerts
    json.dumps(summary)  # XCom-able

    alert = render(summary)
    assert alert.subject.endswith(": 8 alert(s)") and "all OK" not in alert.subject
    assert "180.0 (20.0)" in alert.html and "180.0 (20.0)" in alert.text
    subject, html = render_email(summary)
    assert send_email(cfg, subject, html) == ALERT_TO
    (message,) = inbox.messages
    assert message["To"] == ALERT_TO and "alert(s)" in message["Subject"]
    body = _body(message)
    assert "ingest_meta_ads" in body and "load_warehouse" in body and "try 3" in body and "token expired" in body

    # the subject says "all OK" only when there is no alert at all
    quiet = {**summary, "alerts": [], "dags": [], "ops": {}}
    assert render(quiet).subject.endswith(": all OK")
    assert not render({**quiet, "alerts": ["source ga4: freshness warn"]}).subject.endswith("all OK")


@pytest.fixture(scope="module")
def api_server(seeded: dict[str, str]) -> Iterator[int]:
    """Airflow's REST API app served by uvicorn on 127.0.0.1 (for the monitoring DAG's own httpx client)."""
    import uvicorn
    from airflow.api_fastapi.app import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server.started, "the API server did not start"
    yield port
    server.should_exit = True
    thread.join(10)


class Webhook:
    """A Slack incoming-webhook stand-in on 127.0.0.1: keeps every JSON body posted to it."""

    def __init__(self) -> None:
        import http.server

        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's API)
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/secret-part"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Webhook]:
    """A loopback webhook, configured as ``mdw.airflow.slack_webhook_url``."""
    hook = Webhook()
    monkeypatch.setenv("MDW__AIRFLOW__SLACK_WEBHOOK_URL", hook.url)
    yield hook
    hook.server.shutdown()


def test_monitoring_dag_sends_one_summary_by_mail_and_slack(
    api_server: int, api_client: Any, ops_target: Target, inbox: Inbox, slack: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mdw_airflow.monitoring import period_start

    conn = {"conn_type": "http", "host": "127.0.0.1", "port": api_server, "login": "admin", "password": "x"}
    monkeypatch.setenv("AIRFLOW_CONN_MDW_AIRFLOW_API", json.dumps(conn))
    monkeypatch.chdir(REPO)
    bag = airflow_env.dagbag()
    assert not bag.import_errors, bag.import_errors
    run = bag.dags["mdw_monitoring"].test()
    assert run.state == "success"
    (message,) = inbox.messages
    assert message["To"] == ALERT_TO and message["Subject"].startswith("[mdw] summary since ")
    body = _body(message)
    assert "ingest_meta_ads" in body and "load_warehouse" in body and "failed" in body
    (posted,) = slack.received  # the same content on Slack
    first_line, text = posted["text"].split("\n", 1)
    assert first_line == f"*{message['Subject']}*"
    assert "ingest_meta_ads" in text and "load_warehouse (try 3)" in text
    # the next summary starts where this one did
    assert period_start(api_client, datetime.now(UTC)) == run.start_date


def _fire_deadline(dag_id: str, run_id: str, deadline_time: datetime) -> dict[str, Any]:
    """Miss a Deadline of a seeded run the way Airflow does: ``Deadline.handle_miss`` queues the callback as a
    trigger; the trigger's kwargs (as stored, encrypted) run ``CallbackTrigger`` as the triggerer would. Returns the
    final event's payload."""
    from airflow.models.dagrun import DagRun
    from airflow.models.deadline import Deadline
    from airflow.triggers.callback import CallbackTrigger
    from airflow.utils.session import create_session
    from mdw_airflow.alerts import deadline_alert
    from mdw_airflow.settings import AirflowSettings
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        callback = deadline_alert(AirflowSettings.load(), dag_id).callback
        deadline = Deadline(deadline_time, callback, run.id, None, dag_id=dag_id)
        session.add(deadline)
        session.flush()
        deadline.handle_miss(session)
        kwargs = deadline.callback.trigger.kwargs

    async def events() -> list[Any]:
        return [event async for event in CallbackTrigger(**kwargs).run()]

    return dict(asyncio.run(events())[-1].payload)


def test_deadline_alert_names_the_run_and_skips_runs_that_ended_before_it(
    seeded: dict[str, str], inbox: Inbox, slack: Webhook
) -> None:
    run_id = seeded["dbt_transform"]  # 190 min, ended 10 min ago
    payload = _fire_deadline("dbt_transform", run_id, NOW - 130 * timedelta(minutes=1))
    assert payload["state"] == "success", payload
    (message,) = inbox.messages
    assert message["Subject"] == f"[mdw] deadline missed: dbt_transform run {run_id}" and message["To"] == ALERT_TO
    assert run_id in _body(message) and "60 min after it was queued" in _body(message)
    (posted,) = slack.received
    assert run_id in posted["text"]

    # a run that failed 20 min before its deadline keeps the deadline in Airflow: the callback sends nothing
    failed_run = seeded["ingest_meta_ads"]
    payload = _fire_deadline("ingest_meta_ads", failed_run, NOW - 30 * timedelta(minutes=1))
    assert payload["state"] == "success" and "ended (failed) before its deadline" in str(payload.get("body"))
    assert len(inbox.messages) == 1 and len(slack.received) == 1


ALERT_TEST_DAG = """
from datetime import datetime
from airflow.sdk import DAG, TaskGroup, task
from mdw_airflow.alerts import failure_notifier
from mdw_airflow.settings import AirflowSettings

with DAG("mdw_alert_test", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    with TaskGroup("crm_bronze"):  # dlt's helper names its task like its group

        @task(task_id="crm_bronze", on_failure_callback=failure_notifier(AirflowSettings.load()), retries=0)
        def fails():
            lines = ["orders.csv", "  line 3: amount 'x' is not a number", "  line 9: <bad> & worse"]
            raise ValueError("source 'crm': CsvFileError: " + chr(10).join(lines))

        fails()
"""


def test_failure_alert_names_the_task_once_and_keeps_the_error_lines(
    inbox: Inbox, slack: Webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task of a DAG file (serialized like the project's) fails through ``dag.test()``; its failure callback
    alerts by mail and Slack."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    airflow_env.ensure_db()
    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
    monkeypatch.chdir(REPO)
    (tmp_path / "alert_test_dag.py").write_text(ALERT_TEST_DAG)
    bag = DagBag(str(tmp_path))
    assert not bag.import_errors, bag.import_errors
    sync_bag_to_db(bag, "dags-folder", None)
    dag = bag.dags["mdw_alert_test"]
    run = dag.test()
    assert run.state == "failed"
    (message,) = inbox.messages
    assert message["Subject"] == "[mdw] mdw_alert_test: crm_bronze failed (try 1)"
    body = _body(message)
    assert (
        "<pre style='white-space: pre-wrap'>ValueError: source &#x27;crm&#x27;: CsvFileError: orders.csv\n  line 3:"
        in body
    )
    assert "&lt;bad&gt; &amp; worse" in body and "log" in body.lower()
    (posted,) = slack.received
    text = posted["text"]
    assert text.startswith("*[mdw] mdw_alert_test: crm_bronze failed (try 1)*\n")
    assert "```\nValueError: source 'crm': CsvFileError: orders.csv\n  line 3: amount 'x' is not a number\n" in text
    assert "&lt;bad&gt; &amp; worse\n```" in text
    assert slack.url not in str(posted)


def test_a_failing_channel_names_the_setting_not_the_secret(slack: Webhook, monkeypatch: pytest.MonkeyPatch) -> None:
    from mdw_airflow.alerts import Alert, send_alert
    from mdw_airflow.settings import AirflowSettings

    monkeypatch.delenv("AIRFLOW_VAR_ALERT_EMAIL", raising=False)
    cfg = AirflowSettings.load()
    cfg.slack_webhook_url = "http://127.0.0.1:9/services/T000/B000/secret-part"  # nothing listens on port 9
    with pytest.raises(RuntimeError) as info:
        send_alert(cfg, Alert("s", "t", "h"))
    assert "mdw.airflow.slack_webhook_url" in str(info.value) and "secret-part" not in str(info.value)
