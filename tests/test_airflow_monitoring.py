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


def _seed_run(dag_id: str, state: str, start: datetime, end: datetime, failed: dict[str, int]) -> str:
    """A finished run of ``dag_id`` (the latest one), its tasks successful except ``failed`` {task: try}."""
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    run_id = f"scheduled__seeded_{dag_id}"
    with create_session() as session:
        dag = SerializedDagModel.get_dag(dag_id, session=session)
        run = dag.create_dagrun(
            run_id=run_id,
            logical_date=NOW + timedelta(hours=1),
            data_interval=(NOW, NOW + timedelta(hours=1)),
            run_after=NOW + timedelta(hours=1),  # newer than any run of the other test module
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
    from airflow.utils.session import create_session

    airflow_env.ensure_db()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        with create_session() as session:
            DagBundlesManager().sync_bundles_to_db(session=session)
        bag = BundleDagBag(dag_folder=str(airflow_env.DAGS), bundle_path=airflow_env.DAGS, bundle_name="dags-folder")
        assert not bag.import_errors, bag.import_errors
        sync_bag_to_db(bag, "dags-folder", None)
    m = timedelta(minutes=1)
    return {
        "ingest_crm": _seed_run("ingest_crm", "success", NOW - 10 * m, NOW - 7 * m, {}),
        "ingest_meta_ads": _seed_run("ingest_meta_ads", "failed", NOW - 30 * m, NOW - 20 * m, {"load_warehouse": 3}),
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


def test_summary_flags_failed_slow_and_late_runs(
    api_client: Any, seeded: dict[str, str], ops_target: Target, inbox: Inbox
) -> None:
    from mdw_airflow.alerts import send_email
    from mdw_airflow.monitoring import render_email, summarise
    from mdw_airflow.settings import AirflowSettings

    cfg = AirflowSettings.load()
    summary = summarise(api_client, cfg, ops_target, "http://airflow.test")
    runs = {r["dag_id"]: r for r in summary["dags"]}
    assert {"ingest_crm", "ingest_meta_ads", "ingest_ga4", "dbt_transform"} <= set(runs)
    assert "mdw_monitoring" not in runs

    crm = runs["ingest_crm"]
    assert (crm["run_id"], crm["state"], crm["alerts"]) == (seeded["ingest_crm"], "success", [])
    assert crm["duration_s"] == pytest.approx(180, abs=1)

    meta = runs["ingest_meta_ads"]
    assert meta["state"] == "failed"
    (task,) = meta["failed_tasks"]
    assert (task["task_id"], task["try_number"]) == ("load_warehouse", 3)
    assert task["log_url"].startswith("http://airflow.test/dags/ingest_meta_ads/runs/")
    assert "run failed" in meta["alerts"] and any("1 failed task(s): load_warehouse" in a for a in meta["alerts"])

    dbt = runs["dbt_transform"]
    assert dbt["state"] == "success" and len(dbt["alerts"]) == 2  # 3 h: over 2 x 20 min, and past its deadline
    assert any("over 2x expected 20" in a for a in dbt["alerts"]) and any("deadline" in a for a in dbt["alerts"])

    ops = summary["ops"]
    assert [r["status"] for r in ops["latest_runs"]][:2] == ["failed", "ok"]
    assert ops["failed_runs"][0]["error"] == "meta_ads/extract: source 'meta_ads': token expired"
    assert ops["freshness"][0]["status"] == "error"
    assert "source ga4: freshness error" in summary["alerts"]
    json.dumps(summary)  # XCom-able

    subject, html = render_email(summary)
    assert send_email(cfg, subject, html) == ALERT_TO
    (message,) = inbox.messages
    assert message["To"] == ALERT_TO and "alert(s)" in message["Subject"]
    body = _body(message)
    assert "ingest_meta_ads" in body and "load_warehouse" in body and "try 3" in body and "token expired" in body


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


def test_monitoring_dag_emails_one_summary(
    api_server: int, ops_target: Target, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = {"conn_type": "http", "host": "127.0.0.1", "port": api_server, "login": "admin", "password": "x"}
    monkeypatch.setenv("AIRFLOW_CONN_MDW_AIRFLOW_API", json.dumps(conn))
    monkeypatch.chdir(REPO)
    bag = airflow_env.dagbag()
    assert not bag.import_errors, bag.import_errors
    run = bag.dags["mdw_monitoring"].test()
    assert run.state == "success"
    (message,) = inbox.messages
    assert message["To"] == ALERT_TO and message["Subject"].startswith("[mdw] daily summary: ")
    body = _body(message)
    assert "ingest_meta_ads" in body and "load_warehouse" in body and "run failed" in body


def test_deadline_callback_mails_the_alert_address(inbox: Inbox) -> None:
    from mdw_airflow.alerts import deadline_missed

    asyncio.run(deadline_missed({}, dag_id="dbt_transform", minutes=60))
    (message,) = inbox.messages
    assert message["Subject"] == "[mdw] deadline missed: dbt_transform" and message["To"] == ALERT_TO


def test_failure_callback_is_an_smtp_notifier(tmp_path: Path) -> None:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    from mdw_airflow.alerts import failure_notifier
    from mdw_airflow.settings import AirflowSettings

    notifier = failure_notifier(AirflowSettings.load())
    assert isinstance(notifier, SmtpNotifier) and notifier.smtp_conn_id == "smtp_default"
    assert "alert_email" in notifier.to and "ti.task_id" in notifier.subject and "try_number" in notifier.subject
