"""Orchestration settings: the ``[mdw.airflow]`` section of ``.dlt/config.toml``, a dlt configspec.

Expected durations, alert thresholds, schedules, retries and deadlines are configuration, not code. Any key
can be overridden per environment like every dlt setting, e.g. ``MDW__AIRFLOW__RETRIES=3``. They are resolved by
the project's one settings helper (``marketing_dwh.settings.resolve_settings``): a wrong value stops the DAG file's
import with one line naming the setting, the value and what is allowed.
"""

from __future__ import annotations

import math
import os
from dataclasses import field
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

import dlt
import pendulum
from airflow.timetables.trigger import CronTriggerTimetable
from dlt.common.configuration import configspec
from dlt.common.configuration.container import Container
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext
from dlt.common.typing import TSecretStrValue

from marketing_dwh.settings import CheckedConfiguration, resolve_settings

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


@configspec
class AirflowSettings(CheckedConfiguration):
    """The ``[mdw.airflow]`` settings, with defaults for every key."""

    SECTION: ClassVar[str] = "mdw.airflow"
    MINIMUM: ClassVar[dict[str, float]] = {"retries": 0, "failed_tasks_alert": 0}
    POSITIVE: ClassVar[tuple[str, ...]] = (
        "retry_delay_minutes",
        "max_retry_delay_minutes",
        "dagrun_timeout_minutes",
        "default_expected_minutes",
        "duration_alert_factor",
        "slack_timeout_s",
        "schedule_grace_minutes",
    )
    ALLOWED: ClassVar[dict[str, str]] = {
        "start_date": "use a date YYYY-MM-DD (or an ISO date and time)",
        "expected_minutes": "use {<dag id> = <minutes > 0>}, e.g. {ingest_crm = 5} (in an environment variable as "
        'JSON, e.g. {"ingest_crm": 5})',
        "deadline_minutes": "use {<dag id> = <minutes > 0>}, e.g. {dbt_transform = 60} (in an environment variable as "
        'JSON, e.g. {"dbt_transform": 60})',
    }

    schedule: str = "@daily"  # ingest DAGs
    demo_default: bool = False  # the ingest DAGs' `demo` param by default (make airflow: true, the offline sandbox)
    monitoring_schedule: str = "0 7 * * *"
    start_date: str | None = None  # no scheduled run before this; unset: the first is the next one after unpausing
    retries: int = 2
    retry_delay_minutes: float = 2.0  # first retry; doubles each time (exponential backoff)
    max_retry_delay_minutes: float = 30.0
    dagrun_timeout_minutes: float = 120.0
    deadline_minutes: dict[str, float] = field(default_factory=dict)  # per DAG id; else 3 x expected
    expected_minutes: dict[str, float] = field(default_factory=dict)  # per DAG id
    default_expected_minutes: float = 15.0
    duration_alert_factor: float = 2.0
    failed_tasks_alert: int = 0  # alert when a run has more failed tasks than this
    schedule_grace_minutes: float = 60.0  # alert when an unpaused DAG's scheduled run is overdue by this
    alert_email_variable: str = "alert_email"
    from_email: str = "mdw-airflow@localhost"
    smtp_conn_id: str = "smtp_default"
    slack_webhook_url: TSecretStrValue | None = None  # a Slack incoming webhook (a secret): alerts go there too
    slack_timeout_s: float = 10.0
    api_conn_id: str = "mdw_airflow_api"
    pool: str = "mdw_duckdb_writer"
    tags: list[str] = field(default_factory=lambda: ["mdw"])

    @classmethod
    def load(cls) -> AirflowSettings:
        """Resolve ``[mdw.airflow]`` from the project's ``.dlt/`` and the environment (missing keys keep their
        defaults); raises :class:`marketing_dwh.settings.SettingError` for a wrong value."""
        use_project_config()
        return resolve_settings(cls)

    def check(self) -> None:
        url = str(self.slack_webhook_url or "")
        if url and not url.startswith(("https://", "http://")):  # the value is a secret: not shown
            raise self.invalid("slack_webhook_url", "<secret, not shown>", "use the webhook's https:// URL")
        try:
            _ = self.start
        except (TypeError, ValueError):
            raise self.invalid("start_date") from None
        for name in ("expected_minutes", "deadline_minutes"):  # per DAG id: minutes above 0
            minutes = {}
            for dag_id, value in getattr(self, name).items():
                try:
                    number = None if isinstance(value, bool) else float(value)
                except (TypeError, ValueError):
                    number = None
                if number is None or not math.isfinite(number) or number <= 0:
                    raise self.invalid(name)
                minutes[str(dag_id)] = number
            setattr(self, name, minutes)

    def expected(self, dag_id: str) -> timedelta:
        """How long a run of ``dag_id`` is expected to take."""
        return timedelta(minutes=self.expected_minutes.get(dag_id, self.default_expected_minutes))

    def deadline(self, dag_id: str) -> timedelta:
        """When a queued run of ``dag_id`` must be done: configured, else 3x its expected duration."""
        if dag_id in self.deadline_minutes:
            return timedelta(minutes=self.deadline_minutes[dag_id])
        return 3 * self.expected(dag_id)

    @property
    def start(self) -> datetime | None:
        """The DAGs' start date (UTC), if one is set."""
        return pendulum.parse(self.start_date, tz="UTC") if self.start_date else None  # type: ignore[return-value]

    def timetable(self, cron: str) -> CronTriggerTimetable:
        """A cron schedule (UTC) that never starts a run for a time that passed while the DAG was paused or not yet
        deployed: unpaused (with no ``start_date``), a DAG waits for its next cron time. ``catchup=False`` alone stops
        the backlog but still starts the latest past interval at once; ``run_immediately=timedelta(0)`` stops that too
        (``False`` would still run it within 10% of the period)."""
        return CronTriggerTimetable(cron, timezone="UTC", run_immediately=timedelta(0))
