"""`make airflow` writes the Airflow admin password: readable by its owner only."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

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
