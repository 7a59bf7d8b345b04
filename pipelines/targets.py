"""Where data goes: the ``local`` target (Bronze folder + DuckDB) or ``prod`` (GCS + BigQuery).

One setting switches target: ``mdw.target`` in ``.dlt/config.toml``, the ``MDW__TARGET`` environment
variable, or ``--target`` on the CLI. Everything else about a target lives under ``[mdw.targets.<name>]``.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.exceptions import ConfigValueCannotBeCoercedException
from dlt.common.configuration.utils import deserialize_value

from marketing_dwh.settings import SettingError, kind_of
from pipelines import TARGETS

# Google Cloud project ids: 6-30 characters, lower-case letters, digits and hyphens, starting with a letter
_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_CREDENTIAL_HELP = (
    "in .dlt/secrets.toml as [destination.credentials] (or [destination.{name}.credentials]) with project_id, "
    "private_key and client_email, as environment variables DESTINATION__CREDENTIALS__PROJECT_ID / __PRIVATE_KEY / "
    "__CLIENT_EMAIL, or as Google application default credentials (GOOGLE_APPLICATION_CREDENTIALS, "
    "`gcloud auth application-default login`, or the service account of Cloud Composer / GKE)"
)


class TargetConfigError(ValueError):
    """A target setting is missing or wrong; the message names the setting."""


def _setting(key: str, default: Any = None) -> Any:
    value = dlt.config.get(key)
    return default if value in (None, "") else value


def _number(key: str, default: float, kind: type, minimum: float) -> Any:
    """A numeric setting, read with dlt's type coercion; a value that is not a ``kind`` >= ``minimum`` is a
    :class:`SettingError` naming it."""
    value = _setting(key, default)
    allowed = f"use {kind_of(kind)} >= {minimum:g}"
    try:
        number = None if isinstance(value, bool) else deserialize_value(key, value, kind)
    except ConfigValueCannotBeCoercedException:
        number = None
    if number is None or not math.isfinite(number) or number < minimum:
        raise SettingError(key, value, allowed)
    return number


def _flag(key: str, default: bool) -> bool:
    """A true/false setting, read with dlt's type coercion; anything else is a :class:`SettingError` naming it."""
    value = _setting(key, default)
    try:
        flag = deserialize_value(key, value, bool)
    except ConfigValueCannotBeCoercedException:
        flag = None
    if not isinstance(flag, bool):
        raise SettingError(key, value, "use true or false")
    return flag


def _folder(key: str, value: Any) -> Path:
    """A local folder setting: it may not exist yet, but it may not be a file."""
    path = Path(value).resolve()
    if path.exists() and not path.is_dir():
        raise SettingError(key, str(value), "it is a file: use a folder (it is created when missing)")
    return path


def _create(folder: Path, key: str, value: Any) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingError(key, str(value), f"use a folder this user can create ({exc.strerror})") from None


def _memory_limit(key: str, value: Any) -> str | None:
    """DuckDB's ``memory_limit``, checked by DuckDB itself."""
    if value is None:
        return None
    import duckdb

    try:
        duckdb.connect(":memory:", config={"memory_limit": str(value)}).close()
    except duckdb.Error:
        raise SettingError(key, value, "use an amount of memory such as 2GB, 512MB or 1GiB") from None
    return str(value)


# the DuckDB destination: its name in dlt config sections, and Parquet as the file format of normalized rows
DUCKDB_OPTIONS: dict[str, Any] = {"destination_name": "warehouse", "preferred_loader_file_format": "parquet"}


@dataclass(frozen=True)
class Target:
    name: str
    data_dir: Path  # local working files: dlt pipeline state, demo scratch, dbt target
    bronze_url: str
    warehouse_type: str  # dlt destination type and dbt profile name: duckdb | bigquery
    warehouse_path: Path | None  # DuckDB file for the local target
    duckdb_memory_limit: str | None = None
    load_max_files: int = 4  # Bronze files per table in one warehouse load (bounded merges)
    project_id: str | None = None  # BigQuery project of the warehouse datasets (default: the credentials' project)
    location: str | None = None  # BigQuery location of the datasets (dlt's default: US)
    lock_timeout_s: float = 600.0  # how long a run waits for another run holding a pipeline or the warehouse
    duckdb_lock_wait_s: float = 120.0  # how long a DuckDB writer retries while a reader holds the file
    dbt_unit_tests: bool = False  # the pipeline's dbt builds run dbt's unit tests too (development and CI)

    @property
    def pipelines_dir(self) -> str:
        return str(self.data_dir / "pipelines")

    def bronze_destination(self) -> Any:
        return dlt.destinations.filesystem(bucket_url=self.bronze_url, destination_name="bronze")

    def pipeline_lock(self, pipeline_name: str, pipelines_dir: str | None = None) -> Path:
        """The lock file of one dlt pipeline's working folder (see ``pipelines.locks``)."""
        return Path(pipelines_dir or self.pipelines_dir) / f"{pipeline_name}.lock"

    def run_lock(self, run_id: str) -> Path:
        """The lock file a CLI run holds while its process lives (an unheld one left behind: the run died).

        One folder per target: the runs found there are recorded in this target's ``ops`` tables."""
        return self.data_dir / "runs" / self.name / f"{run_id}.lock"

    def warehouse_destination(self, connection: Any = None) -> Any:
        """The warehouse as a dlt destination; ``connection``: an open DuckDB connection dlt borrows (local).

        DuckDB gets the rows dlt normalizes as Parquet files, which it reads natively, instead of dlt's default
        ``insert_values`` (one SQL statement per file for DuckDB to parse: 2,372 wide Meta insights rows loaded in
        1.55 s, as Parquet in 0.1 s). Rows that are SQL over Bronze (model items) stay so."""
        if self.warehouse_type == "duckdb" and connection is not None:
            return dlt.destinations.duckdb(credentials=connection, **DUCKDB_OPTIONS)
        if self.warehouse_type == "duckdb":
            assert self.warehouse_path is not None
            credentials = {"database": str(self.warehouse_path)}
            if self.duckdb_memory_limit:  # bounded memory: DuckDB spills merges of large loads to disk
                credentials["global_config"] = {"memory_limit": self.duckdb_memory_limit}
            return dlt.destinations.duckdb(credentials=credentials, **DUCKDB_OPTIONS)
        if self.warehouse_type == "bigquery":
            options = {k: v for k, v in (("project_id", self.project_id), ("location", self.location)) if v}
            return dlt.destinations.bigquery(destination_name="warehouse", **options)
        raise TargetConfigError(
            f"mdw.targets.{self.name}.warehouse = '{self.warehouse_type}': use 'duckdb' or 'bigquery'"
        )

    @property
    def is_local_duckdb(self) -> bool:
        return self.warehouse_type == "duckdb"

    def warehouse_credentials(self) -> Any:
        """The warehouse destination's resolved credentials (raises dlt's ConfigurationException if missing)."""
        destination = self.warehouse_destination()
        config = destination.spec()
        config.dataset_name = "ops"  # any dataset: only the connection settings are wanted here
        return destination.configuration(config, accept_partial=False).credentials

    def check_credentials(self) -> None:
        """Resolve the Bronze and warehouse credentials now, so a missing one is one message naming the setting
        (instead of a failure halfway through a run)."""
        from dlt.common.configuration import resolve_configuration
        from dlt.common.configuration.exceptions import ConfigurationException
        from dlt.common.storages import FilesystemConfiguration

        if self.bronze_url.startswith(("gs://", "gcs://")):
            try:
                resolve_configuration(
                    FilesystemConfiguration(bucket_url=self.bronze_url), sections=("destination", "bronze")
                )
            except ConfigurationException as exc:
                raise TargetConfigError(
                    f"Bronze at {self.bronze_url} needs Google Cloud credentials: none were found "
                    + _CREDENTIAL_HELP.format(name="bronze")
                ) from exc
        if self.warehouse_type == "bigquery":
            try:
                self.warehouse_credentials()
            except ConfigurationException as exc:
                raise TargetConfigError(
                    f"the BigQuery warehouse of target '{self.name}' needs Google Cloud credentials: none were found "
                    + _CREDENTIAL_HELP.format(name="warehouse")
                ) from exc


def current_target(name: str | None = None) -> Target:
    """Resolve the target from the argument, ``MDW__TARGET`` / ``mdw.target``, default ``local``.

    Every setting is checked before any folder is created: a wrong one is a :class:`SettingError` (or
    :class:`TargetConfigError`) naming it."""
    name = name or _setting("mdw.target", "local")
    if name not in TARGETS:
        raise TargetConfigError(f"mdw.target = '{name}': use one of {', '.join(TARGETS)}")
    data_dir_setting = _setting("mdw.data_dir", "data")
    data_dir = _folder("mdw.data_dir", data_dir_setting)
    section = f"mdw.targets.{name}"
    warehouse_type = _setting(f"{section}.warehouse", "duckdb" if name == "local" else "bigquery")
    if warehouse_type not in ("duckdb", "bigquery"):
        raise SettingError(f"{section}.warehouse", warehouse_type, "use 'duckdb' or 'bigquery'")
    bronze_url = _setting(f"{section}.bronze_url", str(data_dir / "bronze") if name == "local" else None)
    if not bronze_url:
        raise TargetConfigError(
            f"{section}.bronze_url is not set: put the Bronze bucket, gs://<bucket>/<prefix>, in .dlt/config.toml "
            f"or the environment variable {section.upper().replace('.', '__')}__BRONZE_URL"
        )
    if bronze_url.startswith("gs://") and not bronze_url[5:].split("/", 1)[0]:
        raise TargetConfigError(f"{section}.bronze_url = '{bronze_url}' names no bucket: use gs://<bucket>/<prefix>")
    if "://" not in bronze_url:
        bronze_url = str(_folder(f"{section}.bronze_url", bronze_url))
    warehouse_path = None
    if warehouse_type == "duckdb":
        warehouse_setting = _setting(f"{section}.warehouse_path", data_dir / "warehouse.duckdb")
        warehouse_path = Path(warehouse_setting).resolve()
        if warehouse_path.is_dir():
            raise SettingError(f"{section}.warehouse_path", str(warehouse_setting), "it is a folder: use a file path")
    memory_limit = _memory_limit(f"{section}.duckdb_memory_limit", _setting(f"{section}.duckdb_memory_limit"))
    max_files = _number("mdw.load_max_files", 4, int, 1)
    lock_timeout_s = _number("mdw.lock_timeout_s", 600.0, float, 0)
    duckdb_lock_wait_s = _number(f"{section}.duckdb_lock_wait_s", 120.0, float, 0)
    dbt_unit_tests = _flag("mdw.dbt_unit_tests", False)
    project_id = _setting(f"{section}.project_id")
    if project_id is not None and not _PROJECT_ID.match(str(project_id)):
        raise TargetConfigError(
            f"{section}.project_id = '{project_id}' is not a Google Cloud project id (6-30 lower-case letters, digits "
            "or hyphens, starting with a letter): use the project id, not its name or number"
        )
    location = _setting(f"{section}.location")
    # every setting is checked: now the folders may be created
    if warehouse_path is not None:
        _create(warehouse_path.parent, f"{section}.warehouse_path", warehouse_setting)
    _create(data_dir, "mdw.data_dir", data_dir_setting)
    return Target(
        name,
        data_dir,
        bronze_url,
        warehouse_type,
        warehouse_path,
        memory_limit,
        max_files,
        project_id,
        location,
        lock_timeout_s=lock_timeout_s,
        duckdb_lock_wait_s=duckdb_lock_wait_s,
        dbt_unit_tests=dbt_unit_tests,
    )


def project_root() -> Path:
    """The repository root (holds ``transformations/``)."""
    return Path(os.environ.get("MDW_PROJECT_ROOT", Path(__file__).resolve().parent.parent))
