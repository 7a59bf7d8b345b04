"""Read-only access to the warehouse: DuckDB (local target) or BigQuery (prod), behind one interface.

DuckDB allows one writer, and an open reader blocks it: :class:`DuckDBWarehouse` opens a read-only
connection per batch of queries and closes it straight away, so the pipeline can write whenever the
dashboard is idle. SQL is written once with ``$name`` parameters and ``schema.table`` names from
:meth:`Warehouse.table`; the BigQuery reader sends ``$name`` as ``@name`` query parameters.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Protocol

import duckdb
import pandas as pd
from dlt.common.configuration import configspec
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from marketing_dwh.settings import CheckedConfiguration, resolve_settings
from pipelines.targets import Target, TargetConfigError, current_target

# duckdb's DataFrame conversion still calls a pandas API that pandas 3 deprecates; nothing to act on here
warnings.filterwarnings("ignore", message="The inplace keyword in DataFrame.drop is deprecated")

Params = Mapping[str, Any]
Statement = tuple[str, Params | None]
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PROJECT = re.compile(r"^[a-z][a-z0-9\-.:]*[a-z0-9]$")


class WarehouseUnavailable(RuntimeError):
    """The warehouse cannot be read right now (missing file, or a writer holds the lock); the message says why."""


class Warehouse(Protocol):
    """What the dashboard needs from a warehouse."""

    def table(self, schema: str, name: str) -> str:
        """Qualified name of ``schema.name`` (schema is a logical name: gold, ops, a raw dataset ...)."""
        ...

    def query(self, sql: str, params: Params | None = None) -> pd.DataFrame:
        """Run one parameterised query."""
        ...

    def query_many(self, statements: Sequence[Statement]) -> list[pd.DataFrame]:
        """Run several parameterised queries on one short-lived connection."""
        ...

    def columns(self, schema: str) -> pd.DataFrame:
        """``table_name``, ``column_name`` of every table in ``schema`` (no rows when it does not exist)."""
        ...

    def describe(self) -> str:
        """Where the data comes from, for the page footer."""
        ...

    def shared_connection(self) -> Any:
        """A context manager: the queries run inside it (in this thread) share one connection, opened by the first
        and closed when it ends (one page run); outside it each batch of queries has its own."""
        ...


def _check_identifier(kind: str, value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise TargetConfigError(f"{kind} '{value}' is not a plain SQL identifier")
    return value


@dataclass
class DuckDBWarehouse:
    """A DuckDB file, read through a fresh read-only connection per batch of queries."""

    path: Path
    schemas: Mapping[str, str] = field(default_factory=dict)  # logical -> actual schema name
    retries: int = 10  # the pipeline may hold the write lock for a moment: wait for it
    retry_wait_s: float = 0.3
    _shared: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    def table(self, schema: str, name: str) -> str:
        return f"{_check_identifier('schema', self.schemas.get(schema, schema))}.{_check_identifier('table', name)}"

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if not Path(self.path).exists():
            raise WarehouseUnavailable(f"no warehouse at {self.path}: build it first (make demo / mdw demo)")
        retrying = Retrying(  # "Could not set lock on file": a writer is busy for a moment
            retry=retry_if_exception_type(duckdb.IOException),
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_fixed(self.retry_wait_s),
            reraise=True,
        )
        try:
            return retrying(duckdb.connect, str(self.path), read_only=True)
        except duckdb.IOException as exc:
            raise WarehouseUnavailable(
                f"the warehouse {self.path} is being written by a pipeline run; try again in a moment ({exc})"
            ) from exc

    def query(self, sql: str, params: Params | None = None) -> pd.DataFrame:
        return self.query_many([(sql, params)])[0]

    @contextmanager
    def shared_connection(self) -> Iterator[None]:
        """Opening the file costs more than most of the dashboard's queries (it reads the whole catalogue): the
        queries of one page run share one read-only connection, opened at the first query and closed at the end of
        the run, so a pipeline can write between runs. Per thread (each browser session runs in its own)."""
        if getattr(self._shared, "active", False):  # nested: the outer block owns the connection
            yield
            return
        self._shared.active, self._shared.con = True, None
        try:
            yield
        finally:
            con, self._shared.active, self._shared.con = self._shared.con, False, None
            if con is not None:
                con.close()

    def query_many(self, statements: Sequence[Statement]) -> list[pd.DataFrame]:
        if getattr(self._shared, "active", False):
            if self._shared.con is None:
                self._shared.con = self._connect()
            return [self._shared.con.execute(sql, _duckdb_params(params)).df() for sql, params in statements]
        with closing(self._connect()) as con:
            return [con.execute(sql, _duckdb_params(params)).df() for sql, params in statements]

    def columns(self, schema: str) -> pd.DataFrame:
        actual = _check_identifier("schema", self.schemas.get(schema, schema))
        sql = (
            "select table_name, column_name from information_schema.columns where table_schema = $schema "
            "order by table_name, ordinal_position"
        )
        return self.query(sql, {"schema": actual})

    def describe(self) -> str:
        return f"DuckDB {self.path} (read-only)"


def _duckdb_params(params: Params | None) -> dict[str, Any] | None:
    if not params:
        return None
    return {key: list(value) if isinstance(value, tuple) else value for key, value in params.items()}


_BQ_SCALAR_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "BOOL"),  # before int: bool is an int
    (int, "INT64"),
    (float, "FLOAT64"),
    (Decimal, "NUMERIC"),
    (datetime, "TIMESTAMP"),  # before date: datetime is a date
    (date, "DATE"),
    (str, "STRING"),
)


def _bq_type(value: Any) -> str:
    for python_type, bq_type in _BQ_SCALAR_TYPES:
        if isinstance(value, python_type):
            return bq_type
    raise TypeError(f"no BigQuery parameter type for {type(value).__name__}")


def bigquery_parameters(params: Params | None) -> list[Any]:
    """``{name: value}`` -> BigQuery ``ScalarQueryParameter`` / ``ArrayQueryParameter`` (lists of one type)."""
    from google.cloud import bigquery

    result: list[Any] = []
    for name, value in (params or {}).items():
        if isinstance(value, list | tuple):
            element_type = _bq_type(value[0]) if value else "STRING"
            result.append(bigquery.ArrayQueryParameter(name, element_type, list(value)))
        else:
            result.append(
                bigquery.ScalarQueryParameter(name, _bq_type(value) if value is not None else "STRING", value)
            )
    return result


def bigquery_sql(sql: str) -> str:
    """``$name`` parameters -> BigQuery's ``@name``."""
    return re.sub(r"\$([A-Za-z_][A-Za-z0-9_]*)", r"@\1", sql)


@dataclass
class BigQueryWarehouse:
    """BigQuery datasets of one project, queried with named query parameters."""

    project: str | None
    datasets: Mapping[str, str] = field(default_factory=dict)  # logical schema -> dataset
    location: str | None = None
    client: Any = None  # google.cloud.bigquery.Client; created on first use

    def _dataset(self, schema: str) -> str:
        dataset = _check_identifier("dataset", self.datasets.get(schema, schema))
        project = self._client().project if self.project is None else self.project
        if not _PROJECT.match(project):
            raise TargetConfigError(f"BigQuery project '{project}' is not a valid project id")
        return f"{project}.{dataset}"

    def table(self, schema: str, name: str) -> str:
        return f"`{self._dataset(schema)}.{_check_identifier('table', name)}`"

    def _client(self) -> Any:
        if self.client is None:
            from google.cloud import bigquery

            self.client = bigquery.Client(project=self.project, location=self.location)
        return self.client

    def query(self, sql: str, params: Params | None = None) -> pd.DataFrame:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(query_parameters=bigquery_parameters(params))
        job = self._client().query(bigquery_sql(sql), job_config=config, location=self.location)
        return job.result().to_dataframe(create_bqstorage_client=False)

    def query_many(self, statements: Sequence[Statement]) -> list[pd.DataFrame]:
        return [self.query(sql, params) for sql, params in statements]

    def columns(self, schema: str) -> pd.DataFrame:
        sql = (
            f"select table_name, column_name from `{self._dataset(schema)}.INFORMATION_SCHEMA.COLUMNS` "
            "order by table_name, ordinal_position"
        )
        return self.query(sql)

    def describe(self) -> str:
        return f"BigQuery project {self.project or '(default)'}"

    @contextmanager
    def shared_connection(self) -> Iterator[None]:
        """Nothing to share: every BigQuery query is a job of the one client."""
        yield


@configspec
class DashboardSettings(CheckedConfiguration):
    """The dashboard's own setting of a target, ``mdw.targets.<name>.datasets``: logical schema -> actual dataset
    (``{gold = "gold_prod", ops = "ops"}``) when the datasets are named differently. Resolved under the target's
    section by the project's one settings helper; the target's ``project_id`` and ``location`` come with it."""

    ALLOWED: ClassVar[dict[str, str]] = {
        "datasets": 'use {<schema> = "<dataset>"} with plain SQL names, e.g. {gold = "gold_prod", ops = "ops"} '
        '(in an environment variable as JSON, e.g. {"gold": "gold_prod"})',
    }

    datasets: dict[str, str] | None = None

    def check(self) -> None:
        names = [n for pair in (self.datasets or {}).items() for n in pair]
        if not all(isinstance(n, str) and _IDENTIFIER.match(n) for n in names):
            raise self.invalid("datasets")


def dashboard_settings(target: Target) -> DashboardSettings:
    """The dashboard's settings of ``target``; a wrong one is a :class:`marketing_dwh.settings.SettingError`."""
    return resolve_settings(DashboardSettings, f"mdw.targets.{target.name}")


def _dlt_setting(key: str) -> Any:
    """One of dlt's own destination settings (read as dlt's BigQuery destination would find it)."""
    import dlt

    value = dlt.config.get(key)
    return None if value in (None, "") else value


def open_warehouse(target: Target | None = None) -> Warehouse:
    """The warehouse of the current target. Holds no connection: each query batch opens and closes its own.

    Prod (BigQuery) settings: ``mdw.targets.prod.project_id`` (default: the dlt BigQuery credentials' project,
    then the client's default project), ``mdw.targets.prod.location`` and ``mdw.targets.prod.datasets``
    (``{gold = "gold", ops = "ops", ...}`` when the datasets are named differently).
    """
    target = target or current_target()
    datasets = dict(dashboard_settings(target).datasets or {})
    if target.warehouse_type == "duckdb":
        assert target.warehouse_path is not None
        return DuckDBWarehouse(target.warehouse_path, datasets)
    project = target.project_id or _dlt_setting("destination.bigquery.credentials.project_id")
    location = target.location or _dlt_setting("destination.bigquery.location")
    return BigQueryWarehouse(project, datasets, location)
