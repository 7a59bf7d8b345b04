"""Airflow for the Airflow tests: its own AIRFLOW_HOME (SQLite metadata DB) and the project's dags folder.

Airflow reads its configuration when first imported (and dlt imports it as soon as it resolves a setting), so
:func:`configure` runs at import of the Airflow test modules, before anything resolves configuration. Test
modules then import Airflow and the DAG helpers the way Airflow does: the dags folder on ``sys.path``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DAGS = REPO / "airflow_dags"
if os.environ.get("MDW_TEST_AIRFLOW_HOME"):
    _HOME = Path(os.environ["MDW_TEST_AIRFLOW_HOME"])
else:
    _HOME = Path(tempfile.mkdtemp(prefix="mdw_airflow_home_"))
    atexit.register(shutil.rmtree, _HOME, True)
_db_ready = False


def configure() -> Path:
    """Point Airflow at a temporary home and the project's DAGs; returns the home."""
    if "airflow.configuration" in sys.modules and os.environ.get("AIRFLOW_HOME") != str(_HOME):
        raise RuntimeError(
            "Airflow was imported before the Airflow tests configured it (AIRFLOW_HOME "
            f"{os.environ.get('AIRFLOW_HOME')!r}); run the tests with MDW_TEST_AIRFLOW_HOME set, or import "
            "airflow_env before anything resolves dlt configuration"
        )
    os.environ["MDW_TEST_AIRFLOW_HOME"] = str(_HOME)
    os.environ["AIRFLOW_HOME"] = str(_HOME)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"
    os.environ["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] = str(_HOME / "logs")
    os.environ["AIRFLOW__API_AUTH__JWT_SECRET"] = "mdw-airflow-tests-only-" + "0" * 48  # signs the REST API tokens
    os.environ["PROVIDERS__ENABLE_AIRFLOW_SECRETS"] = "false"  # as in mdw_airflow.settings: no Variable probes
    if str(DAGS) not in sys.path:  # as Airflow does for the dags folder (bundle) when it parses DAG files
        sys.path.insert(0, str(DAGS))
    return _HOME


def ensure_db() -> None:
    """Create the metadata DB once per session (``airflow db reset`` in-process)."""
    global _db_ready
    if not _db_ready:
        from airflow.utils import db

        db.resetdb()
        _db_ready = True


def dagbag() -> Any:
    """Parse the dags folder as Airflow does (a DagBag)."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(DAGS))
