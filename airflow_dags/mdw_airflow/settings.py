"""Orchestration settings: the ``[mdw.airflow]`` section of ``.dlt/config.toml``, read with dlt's config.

Expected durations, alert thresholds, schedules, retries and deadlines are configuration, not code. Any key
can be overridden per environment like every dlt setting, e.g. ``MDW__AIRFLOW__RETRIES=3``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import pendulum
from dlt.common.configuration.container import Container
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

SECTION = "mdw.airflow"

# dlt's Airflow secrets provider reads the Variable `dlt_secrets_toml` on every config lookup; in Airflow 3.3's
# DAG processor that call blocks until the parse times out. Secrets come from the environment or
# .dlt/secrets.toml instead (set PROVIDERS__ENABLE_AIRFLOW_SECRETS=true to opt back in).
os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")


def project_dir() -> Path:
    """The folder holding ``.dlt/`` and ``transformations/``.

    ``MDW_PROJECT_ROOT`` when set; else the dags folder itself when ``.dlt/`` was deployed into it (Composer,
    Astronomer); else the parent of the dags folder (a checkout of the repository).
    """
    if os.environ.get("MDW_PROJECT_ROOT"):
        return Path(os.environ["MDW_PROJECT_ROOT"])
    dags = Path(__file__).resolve().parent.parent
    return dags if (dags / ".dlt").is_dir() else dags.parent


def use_project_config() -> None:
    """Make dlt read the project's ``.dlt/`` whatever the working directory.

    dlt's Airflow helper points dlt's project dir at the dags folder; this points it back at the project.
    A relative ``mdw.data_dir`` is anchored at the project too, so every Airflow process sees one data dir.
    """
    root = project_dir()
    os.environ["DLT_PROJECT_DIR"] = str(root)
    os.environ.setdefault("MDW_PROJECT_ROOT", str(root))
    if PluggableRunContext in Container():
        Container()[PluggableRunContext].reload_providers()
    data_dir = dlt.config.get("mdw.data_dir") or "data"
    if not os.environ.get("MDW__DATA_DIR") and not Path(data_dir).is_absolute():
        os.environ["MDW__DATA_DIR"] = str(root / data_dir)


def _get(key: str, default: Any) -> Any:
    value = dlt.config.get(f"{SECTION}.{key}")
    if value in (None, ""):
        return default
    if isinstance(default, dict | list) and isinstance(value, str):  # from an environment variable
        value = json.loads(value)
    return type(default)(value) if isinstance(default, int | float | str) and not isinstance(value, bool) else value


@dataclass(frozen=True)
class AirflowSettings:
    """The ``[mdw.airflow]`` settings, with defaults for every key."""

    schedule: str = "@daily"  # ingest DAGs
    monitoring_schedule: str = "0 7 * * *"
    start_date: str = "2026-01-01"
    retries: int = 2
    retry_delay_minutes: float = 2.0  # first retry; doubles each time (exponential backoff)
    max_retry_delay_minutes: float = 30.0
    dagrun_timeout_minutes: float = 120.0
    deadline_minutes: dict[str, float] = field(default_factory=dict)  # per DAG id; else 3 x expected
    expected_minutes: dict[str, float] = field(default_factory=dict)  # per DAG id
    default_expected_minutes: float = 15.0
    duration_alert_factor: float = 2.0
    failed_tasks_alert: int = 0  # alert when a run has more failed tasks than this
    alert_email_variable: str = "alert_email"
    from_email: str = "mdw-airflow@localhost"
    smtp_conn_id: str = "smtp_default"
    api_conn_id: str = "mdw_airflow_api"
    pool: str = "mdw_duckdb_writer"
    tags: tuple[str, ...] = ("mdw",)

    @classmethod
    def load(cls) -> AirflowSettings:
        """Read ``[mdw.airflow]`` (missing keys keep their defaults)."""
        use_project_config()
        base = cls()
        values = {name: _get(name, getattr(base, name)) for name in base.__dataclass_fields__}
        values["tags"] = tuple(values["tags"])
        values["expected_minutes"] = {k: float(v) for k, v in dict(values["expected_minutes"]).items()}
        values["deadline_minutes"] = {k: float(v) for k, v in dict(values["deadline_minutes"]).items()}
        return cls(**values)

    def expected(self, dag_id: str) -> timedelta:
        """How long a run of ``dag_id`` is expected to take."""
        return timedelta(minutes=self.expected_minutes.get(dag_id, self.default_expected_minutes))

    def deadline(self, dag_id: str) -> timedelta:
        """When a queued run of ``dag_id`` must be done: configured, else 3x its expected duration."""
        if dag_id in self.deadline_minutes:
            return timedelta(minutes=self.deadline_minutes[dag_id])
        return 3 * self.expected(dag_id)

    @property
    def start(self) -> datetime:
        """The DAGs' start date (UTC)."""
        return pendulum.parse(self.start_date, tz="UTC")  # type: ignore[return-value]
