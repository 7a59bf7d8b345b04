"""Ingest DAGs, one per installed source plugin (``mdw.sources`` entry points): a new plugin gets its DAG
without any edit here. See ``mdw_airflow/ingest.py``."""

from __future__ import annotations

from mdw_airflow.ingest import build_ingest_dag, ingest_dag_id
from mdw_airflow.settings import AirflowSettings

from marketing_dwh.registry import discover

_cfg = AirflowSettings.load()
for _plugin in discover().values():
    globals()[ingest_dag_id(_plugin.name)] = build_ingest_dag(_plugin, _cfg)
