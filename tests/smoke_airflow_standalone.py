"""Live smoke test of the local Airflow, not collected by pytest: `.venv/bin/python tests/smoke_airflow_standalone.py`.

Starts Airflow exactly as ``make airflow`` does (the Makefile target, hence ``mdw_airflow.local``) in a temporary
``MDW_DATA`` (AIRFLOW_HOME, warehouse, Bronze) on free loopback ports, with mail going to a loopback aiosmtpd
server. Then, through the REST API v2: unpauses ``ingest_crm`` and triggers its demo run, waits for that run, waits
for the ``dbt_transform`` run its Asset starts, triggers ``mdw_monitoring`` and waits for its summary mail. Prints
each step's time, stops Airflow with ``make airflow-stop`` and checks that no component is left. Exit 0 when every
step passed, 1 otherwise (the launcher's log is printed then). ``--keep`` keeps the temporary folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller

REPO = Path(__file__).resolve().parent.parent
SOURCE = "crm"
TIMEOUT_S = {"start": 240, "ingest": 600, "dbt": 900, "summary": 300, "stop": 90}


class Mailbox:
    """aiosmtpd handler keeping every message with the time it arrived."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's API)
        self.messages.append((time.monotonic(), message_from_bytes(envelope.content)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def say(message: str) -> None:
    print(f"{datetime.now():%H:%M:%S} {message}", flush=True)


def wait_for(what: str, check: Callable[[], Any], timeout_s: float, every_s: float = 3.0) -> Any:
    """``check()``'s first truthy result; a ``RuntimeError`` naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(httpx.TransportError):
            result = check()
            if result:
                return result
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)


class Api:
    """The REST API v2 of the Airflow under test, as admin."""

    def __init__(self, base: str, password: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=30.0)
        response = self.http.post("/auth/token", json={"username": "admin", "password": password})
        response.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"))

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"])

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        body = {"logical_date": None, "conf": conf or {}}
        return str(self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def failed_tasks(self, dag_id: str, run_id: str) -> list[str]:
        tis = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return [f"{t['task_id']} ({t['state']})" for t in tis if t["state"] in ("failed", "upstream_failed")]


def finished(api: Api, dag_id: str, run_id: str) -> str | None:
    """The run's final state, or None while it is not done."""
    state = api.run(dag_id, run_id)["state"]
    return state if state in ("success", "failed") else None


def expect_success(api: Api, dag_id: str, run_id: str, timeout_s: float) -> None:
    state = wait_for(f"{dag_id} run {run_id}", lambda: finished(api, dag_id, run_id), timeout_s)
    if state != "success":
        raise RuntimeError(f"{dag_id} run {run_id} {state}: failed tasks {api.failed_tasks(dag_id, run_id)}")
    run = api.run(dag_id, run_id)
    if run.get("start_date") and run.get("end_date"):
        start, end = (datetime.fromisoformat(run[k].replace("Z", "+00:00")) for k in ("start_date", "end_date"))
        say(f"{dag_id} run {run_id}: {state}, ran {(end - start).total_seconds():.1f} s")


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield mailbox, controller.port
    finally:
        controller.stop()


def make(target: str, data: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            ["make", "--no-print-directory", target, f"MDW_DATA={data}", f"AIRFLOW_PORT={env['MDW_SMOKE_PORT']}"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed as a whole if the stop fails
        )


def alive_groups(groups: list[int]) -> list[int]:
    alive = []
    for pgid in groups:
        try:
            os.killpg(pgid, 0)
            alive.append(pgid)
        except ProcessLookupError:
            pass
    return alive


def smoke(data: Path, timings: dict[str, float]) -> str:
    """Every step; returns the summary mail's subject. Raises on the first failure."""
    port = free_port()
    log = data / "make-airflow.log"
    with smtp_server() as (mailbox, smtp_port):
        env = {
            **os.environ,
            "MDW_SMOKE_PORT": str(port),
            "AIRFLOW_CONN_SMTP_DEFAULT": f"smtp://127.0.0.1:{smtp_port}?disable_tls=true&disable_ssl=true"
            "&from_email=mdw-smoke%40localhost",
            # other Airflows on this machine: a free port for the loopback log server too
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        }
        for name in ("AIRFLOW_HOME", "MDW__DATA_DIR", "AIRFLOW__CORE__DAGS_FOLDER"):
            env.pop(name, None)
        t0 = time.monotonic()
        say(f"make airflow (MDW_DATA={data}, http://127.0.0.1:{port}, SMTP 127.0.0.1:{smtp_port}); log: {log}")
        launcher = make("airflow", data, env, log)
        pid_file = data / "airflow" / "mdw-airflow.pid"
        groups: list[int] = []
        try:
            wait_for("the launcher's pid file", pid_file.exists, TIMEOUT_S["start"], 1)
            groups = [int(g) for g in json.loads(pid_file.read_text())["groups"].values()]
            password_file = data / "airflow" / "simple_auth_manager_passwords.json.generated"
            password = json.loads(password_file.read_text())["admin"]
            base = f"http://127.0.0.1:{port}"
            wait_for("the API server", lambda: httpx.get(f"{base}/api/v2/monitor/health", timeout=5).is_success, 120)
            api = Api(base, password)
            ingest = f"ingest_{SOURCE}"
            wait_for(f"DAG {ingest} in the API", lambda: api.call("GET", f"/api/v2/dags/{ingest}"), 120)
            timings["start"] = time.monotonic() - t0
            say(f"Airflow up in {timings['start']:.1f} s")

            t = time.monotonic()
            dbt_before = {r["dag_run_id"] for r in api.runs("dbt_transform")}
            run_id = api.trigger(ingest, {"demo": True})
            api.call("PATCH", f"/api/v2/dags/{ingest}", json={"is_paused": False})  # a paused DAG's runs wait
            say(f"triggered {ingest} run {run_id} (demo) and unpaused {ingest}")
            expect_success(api, ingest, run_id, TIMEOUT_S["ingest"])
            timings["ingest"] = time.monotonic() - t
            say(f"{ingest} run succeeded in {timings['ingest']:.1f} s")

            t = time.monotonic()

            def dbt_run() -> dict[str, Any] | None:
                new = [r for r in api.runs("dbt_transform") if r["dag_run_id"] not in dbt_before]
                return next((r for r in new if r.get("run_type") == "asset_triggered"), None)

            dbt = wait_for("a dbt_transform run started by the Asset", dbt_run, 300)
            say(f"dbt_transform run {dbt['dag_run_id']} ({dbt['run_type']}) started by the Asset")
            expect_success(api, "dbt_transform", dbt["dag_run_id"], TIMEOUT_S["dbt"])
            timings["dbt"] = time.monotonic() - t
            say(f"dbt_transform run succeeded ({timings['dbt']:.1f} s after the ingest run; it may start earlier)")

            t = time.monotonic()
            monitoring = api.trigger("mdw_monitoring")
            say(f"triggered mdw_monitoring run {monitoring}")
            expect_success(api, "mdw_monitoring", monitoring, TIMEOUT_S["summary"])

            def summary() -> Any:
                mails = [m for at, m in mailbox.messages if at >= t and str(m["Subject"]).startswith("[mdw] summary")]
                return mails[-1] if mails else None

            mail = wait_for("the summary mail on the loopback SMTP server", summary, 60, 1)
            timings["summary"] = time.monotonic() - t
            say(f"summary mail in {timings['summary']:.1f} s: {mail['Subject']!r} to {mail['To']}")
            for part in mail.walk():
                if part.get_content_type() == "text/plain":
                    alerts = [ln for ln in part.get_payload(decode=True).decode().splitlines() if ln.startswith("- ")]
                    print("\n".join(f"    {ln}" for ln in alerts[:10]))
            return str(mail["Subject"])
        finally:
            t = time.monotonic()
            stopper = make("airflow-stop", data, env, log)
            try:
                stopper.wait(TIMEOUT_S["stop"])
                launcher.wait(TIMEOUT_S["stop"])
            except subprocess.TimeoutExpired:
                say("the stop did not finish in time: killing the make process groups")
                for proc in (stopper, launcher):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                raise
            left = alive_groups(groups)
            timings["stop"] = time.monotonic() - t
            if left:
                for pgid in left:
                    os.killpg(pgid, signal.SIGKILL)
                raise RuntimeError(f"make airflow-stop left component process groups {left} running (killed now)")
            say(f"Airflow stopped in {timings['stop']:.1f} s (launcher exit {launcher.returncode}, nothing left)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="mdw-airflow-smoke-")) / "data"
    data.mkdir()
    timings: dict[str, float] = {}
    started = time.monotonic()
    ok = False
    try:
        subject = smoke(data, timings)
        ok = True
    except Exception as exc:
        say(f"FAILED: {exc}")
        log = data / "make-airflow.log"
        if log.exists():
            print("--- last lines of the launcher's log ---\n" + "\n".join(log.read_text().splitlines()[-60:]))
    total = time.monotonic() - started
    print(f"\nsmoke test {'passed' if ok else 'FAILED'} in {total:.0f} s ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    for step, seconds in timings.items():
        print(f"  {step:<8} {seconds:7.1f} s")
    if ok:
        print(f"  summary subject: {subject}")
    if args.keep or not ok:
        print(f"data kept in {data}")
    else:
        shutil.rmtree(data.parent, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
