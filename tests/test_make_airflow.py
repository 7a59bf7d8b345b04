"""`make airflow`: the Airflow admin password is readable by its owner only; `make airflow-stop` (or a SIGTERM)
stops every component."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import REPO

PASSWORDS = Path("airflow") / "simple_auth_manager_passwords.json.generated"


def _make_password(data: Path) -> Path:
    subprocess.run(["make", "-s", "airflow-password", f"MDW_DATA={data}"], cwd=REPO, check=True, timeout=60)
    return data / PASSWORDS


def test_admin_password_file_is_created_with_mode_0600(tmp_path: Path) -> None:
    path = _make_password(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = json.loads(path.read_text())["admin"]
    assert len(password) >= 12
    # a second call keeps the password
    assert json.loads(_make_password(tmp_path).read_text())["admin"] == password


def test_an_older_world_readable_password_file_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / PASSWORDS
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"admin": "kept-as-it-was"}))
    path.chmod(0o644)
    assert stat.S_IMODE(_make_password(tmp_path).stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"admin": "kept-as-it-was"}


# --- stopping the local Airflow: every component and its workers, by signal or `make airflow-stop` ---

COMPONENT = ["sh", "-c", "sleep 300 & sleep 300"]  # a component with a worker process of its own


def _launch(data: Path, stop_timeout_s: int = 5, stdout: Any = None) -> tuple[subprocess.Popen[bytes], list[int]]:
    """``python -m mdw_airflow.local start`` with stand-in components; returns it and their process groups."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(data / "airflow"),
        "PYTHONPATH": str(REPO / "airflow_dags"),
        "MDW_AIRFLOW_LOCAL_COMPONENTS": json.dumps({"api-server": COMPONENT, "scheduler": COMPONENT}),
        "MDW_AIRFLOW_STOP_TIMEOUT_S": str(stop_timeout_s),
    }
    launcher = subprocess.Popen([sys.executable, "-m", "mdw_airflow.local", "start"], env=env, cwd=REPO, stdout=stdout)
    pid_file = data / "airflow" / "mdw-airflow.pid"
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    groups = list(json.loads(pid_file.read_text())["groups"].values())
    time.sleep(0.5)  # the components start their workers
    assert all(_processes(g) >= 2 for g in groups)
    return launcher, groups


def _processes(pgid: int) -> int:
    """How many live processes are in process group ``pgid``."""
    out = subprocess.run(["ps", "-eo", "pgid=,stat="], capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if line.split()[0] == str(pgid) and not line.split()[1].startswith("Z"))


def _all_gone(groups: list[int], within_s: float = 20) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not any(_processes(g) for g in groups):
            return True
        time.sleep(0.2)
    return False


def test_components_that_end_on_sigterm_are_not_waited_for_nor_killed(tmp_path: Path) -> None:
    """The launcher reaps its ended components: a zombie must not look alive until the stop timeout (the live smoke
    test found every component "killed" after 30 s though all had ended at once)."""
    launcher, groups = _launch(tmp_path, stop_timeout_s=60, stdout=subprocess.PIPE)
    started = time.monotonic()
    launcher.send_signal(signal.SIGTERM)
    out, _ = launcher.communicate(timeout=90)
    assert launcher.returncode == 0
    assert time.monotonic() - started < 20, out
    assert b"Airflow stopped" in out and b"killed" not in out, out
    assert _all_gone(groups)


def test_sigterm_stops_every_component_and_its_workers(tmp_path: Path) -> None:
    launcher, groups = _launch(tmp_path)
    launcher.send_signal(signal.SIGTERM)
    assert launcher.wait(30) == 0
    assert _all_gone(groups)
    assert not (tmp_path / "airflow" / "mdw-airflow.pid").exists()


def test_make_airflow_stop_stops_it_even_after_the_launcher_was_killed(tmp_path: Path) -> None:
    launcher, groups = _launch(tmp_path)
    subprocess.run(["make", "-s", "airflow-stop", f"MDW_DATA={tmp_path}"], cwd=REPO, check=True, timeout=60)
    assert launcher.wait(30) == 0 and _all_gone(groups)

    launcher, groups = _launch(tmp_path)
    launcher.kill()  # SIGKILL: the launcher cannot clean up; its components live on
    launcher.wait(10)
    assert any(_processes(g) for g in groups)
    subprocess.run(["make", "-s", "airflow-stop", f"MDW_DATA={tmp_path}"], cwd=REPO, check=True, timeout=60)
    assert _all_gone(groups)
