"""The daily monitoring DAG (latest DAG runs + ops tables, one e-mail). See ``mdw_airflow/monitoring.py``."""

from __future__ import annotations

from mdw_airflow.monitoring import MONITORING_DAG_ID, build_monitoring_dag
from mdw_airflow.settings import AirflowSettings

globals()[MONITORING_DAG_ID] = build_monitoring_dag(AirflowSettings.load())
