"""The local Airflow of ``make airflow``: its components started together, and stopped together.

``airflow standalone`` stops its components on Ctrl-C only: a SIGTERM ends it and leaves the API server, scheduler,
DAG processor and triggerer running. This launcher starts the same components (each in its own process group, so
a stop reaches their worker processes too) and stops them all on Ctrl-C, SIGTERM or ``make airflow-stop``
(``python -m mdw_airflow.local stop``): SIGTERM to every group, SIGKILL to what is left after
``MDW_AIRFLOW_STOP_TIMEOUT_S`` (30 s). The worker log server binds 127.0.0.1 (Airflow's own ``serve-logs`` binds every
interface): the scheduler and triggerer run with ``--skip-serve-logs`` and the launcher serves the logs on loopback.

``$AIRFLOW_HOME/mdw-airflow.pid`` holds the launcher's pid and the components' process groups (JSON).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOG_SERVER = (
    "import uvicorn; from airflow.configuration import conf; "
    "uvicorn.run('airflow.utils.serve_logs.log_server:get_app', host='127.0.0.1', "
    "port=conf.getint('logging', 'worker_log_server_port'), log_level='warning', log_config=None, access_log=False)"
)


def components() -> dict[str, list[str]]:
    """The commands started, by name (``MDW_AIRFLOW_LOCAL_COMPONENTS``, a JSON object, replaces them in tests)."""
    if os.environ.get("MDW_AIRFLOW_LOCAL_COMPONENTS"):
        return dict(json.loads(os.environ["MDW_AIRFLOW_LOCAL_COMPONENTS"]))
    airflow = str(Path(sys.executable).with_name("airflow"))
    return {
        "api-server": [airflow, "api-server"],
        "scheduler": [airflow, "scheduler", "--skip-serve-logs"],
        "dag-processor": [airflow, "dag-processor"],
        "triggerer": [airflow, "triggerer", "--skip-serve-logs"],
        "serve-logs (127.0.0.1)": [sys.executable, "-c", LOG_SERVER],
    }


def pid_file() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow") / "mdw-airflow.pid"


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_groups(pgids: list[int], timeout_s: float, reap: Callable[[], object] | None = None) -> list[int]:
    """SIGTERM every process group, SIGKILL the ones still alive after ``timeout_s``; returns those killed.

    ``reap``: called while waiting, to collect the exit status of the ones that are this process's children (the
    launcher's ``Popen.poll``): an ended child not yet reaped is a zombie, and its group would look alive until the
    timeout, then be "killed"."""
    for pgid in pgids:
        if _alive(pgid):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if reap:
            reap()
        if not any(_alive(p) for p in pgids):
            break
        time.sleep(0.2)
    killed = [p for p in pgids if _alive(p)]
    for pgid in killed:
        os.killpg(pgid, signal.SIGKILL)
    return killed


def _timeout() -> float:
    return float(os.environ.get("MDW_AIRFLOW_STOP_TIMEOUT_S") or 30)


def start() -> int:
    """Start the components; run until one ends or a signal arrives, then stop them all."""
    stopping: dict[str, Any] = {"signal": None}

    def on_signal(signum: int, _frame: Any) -> None:
        stopping["signal"] = signum

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    procs = {name: subprocess.Popen(cmd, start_new_session=True) for name, cmd in components().items()}
    path = pid_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"launcher": os.getpid(), "groups": {n: p.pid for n, p in procs.items()}}))
    print(f"[mdw] Airflow components started: {', '.join(procs)} (stop: make airflow-stop or Ctrl-C)", flush=True)
    code = 0
    while stopping["signal"] is None:
        ended = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
        if ended:
            print(f"[mdw] component(s) ended: {ended}; stopping the others", flush=True)
            code = 1
            break
        time.sleep(0.5)
    killed = stop_groups([p.pid for p in procs.values()], _timeout(), reap=lambda: [p.poll() for p in procs.values()])
    for p in procs.values():
        p.wait()
    path.unlink(missing_ok=True)
    print(f"[mdw] Airflow stopped{' (killed: ' + str(killed) + ')' if killed else ''}", flush=True)
    return code


def stop() -> int:
    """Stop a running launcher and its components (also when the launcher itself is gone)."""
    path = pid_file()
    if not path.exists():
        print(f"[mdw] no local Airflow running ({path} not found)")
        return 0
    state = json.loads(path.read_text())
    launcher, groups = int(state["launcher"]), [int(g) for g in state["groups"].values()]
    with contextlib.suppress(ProcessLookupError):
        os.kill(launcher, signal.SIGTERM)
    deadline = time.monotonic() + _timeout() + 10
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    killed = stop_groups(groups, _timeout())  # whatever the launcher left (or all, if it was killed)
    path.unlink(missing_ok=True)
    print("[mdw] local Airflow stopped" + (f" (killed process groups {killed})" if killed else ""))
    return 0


if __name__ == "__main__":
    sys.exit({"start": start, "stop": stop}[sys.argv[1]]())
