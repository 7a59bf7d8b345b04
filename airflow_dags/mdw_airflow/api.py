"""Airflow's REST API v2 through httpx: tasks read other DAGs' runs here (never the metadata DB, Airflow 3).

The base URL and credentials come from the Airflow Connection ``mdw.airflow.api_conn_id`` (default
``mdw_airflow_api``), e.g. ``AIRFLOW_CONN_MDW_AIRFLOW_API='http://admin:<password>@127.0.0.1:8080'``; the JWT
comes from ``POST /auth/token``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx


def base_url(conn: Any) -> str:
    """``scheme://host[:port]`` of an Airflow Connection (``host`` may already be a URL)."""
    host = str(conn.host or "127.0.0.1").rstrip("/")
    if "://" not in host:
        scheme = "https" if (conn.conn_type or "").lower() == "https" else "http"
        host = f"{scheme}://{host}"
    return f"{host}:{conn.port}" if conn.port else host


def token(client: httpx.Client, username: str | None, password: str | None) -> str:
    """A JWT for the API from ``POST /auth/token``."""
    response = client.post("/auth/token", json={"username": username or "", "password": password or ""})
    response.raise_for_status()
    return str(response.json()["access_token"])


def api_client(conn_id: str) -> httpx.Client:
    """An authenticated client for the API of the Airflow behind Connection ``conn_id``."""
    from airflow.sdk import Connection

    conn = Connection.get(conn_id)
    with httpx.Client(base_url=base_url(conn), timeout=30.0) as login:
        jwt = token(login, conn.login, conn.password)
    return httpx.Client(base_url=base_url(conn), timeout=30.0, headers={"Authorization": f"Bearer {jwt}"})


def get_json(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    """GET ``path`` and return the JSON body; errors name the path."""
    response = client.get(path, params=params)
    if response.status_code >= 400:
        raise RuntimeError(f"Airflow API GET {path}: HTTP {response.status_code} {response.text[:200]}")
    return dict(response.json())


def dags(client: httpx.Client, tag: str) -> list[dict[str, Any]]:
    """DAGs carrying ``tag``."""
    return list(get_json(client, "/api/v2/dags", tags=tag, limit=100)["dags"])


def latest_run(client: httpx.Client, dag_id: str) -> dict[str, Any] | None:
    """The most recent run of ``dag_id`` (by run_after), or None."""
    runs = get_json(client, f"/api/v2/dags/{quote(dag_id)}/dagRuns", order_by="-run_after", limit=1)["dag_runs"]
    return runs[0] if runs else None


def task_instances(client: httpx.Client, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """The task instances of one DAG run."""
    path = f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}/taskInstances"
    return list(get_json(client, path, limit=1000)["task_instances"])


def runs_since(client: httpx.Client, dag_id: str, since: str) -> list[dict[str, Any]]:
    """Every run of ``dag_id`` updated at or after ``since`` (ISO time; started, ended or changed), oldest first."""
    runs: list[dict[str, Any]] = []
    path = f"/api/v2/dags/{quote(dag_id)}/dagRuns"
    while True:
        page = get_json(client, path, updated_at_gte=since, order_by="run_after", limit=100, offset=len(runs))
        runs += page["dag_runs"]
        if not page["dag_runs"] or len(runs) >= int(page.get("total_entries") or 0):
            return runs


def dag_runs(client: httpx.Client, dag_id: str, state: str, limit: int = 5) -> list[dict[str, Any]]:
    """The latest runs of ``dag_id`` in ``state`` (newest first)."""
    path = f"/api/v2/dags/{quote(dag_id)}/dagRuns"
    return list(get_json(client, path, state=state, order_by="-start_date", limit=limit)["dag_runs"])
