"""Helpers behind the DAG files of ``airflow_dags/``: settings, ingest, dbt and monitoring DAG builders, alerts.

Airflow puts the dags folder on ``sys.path``, so the DAG files import this package as ``mdw_airflow``.
"""
