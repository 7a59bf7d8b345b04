"""The dbt DAG (Silver, Gold, tests), triggered by any source's raw Asset. See ``mdw_airflow/dbt.py``.

Not named ``dbt_*.py``: dbt imports every top-level ``dbt_*`` module on ``sys.path`` as a plugin, and Airflow
deployments put the DAGs folder on ``sys.path``.
"""

from __future__ import annotations

from mdw_airflow.dbt import DBT_DAG_ID, build_dbt_dag
from mdw_airflow.settings import AirflowSettings

from marketing_dwh.registry import discover

globals()[DBT_DAG_ID] = build_dbt_dag(sorted(discover()), AirflowSettings.load())
