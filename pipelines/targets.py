"""Where data goes: the ``local`` target (Bronze folder + DuckDB) or ``prod`` (GCS + BigQuery).

One setting switches target: ``mdw.target`` in ``.dlt/config.toml``, the ``MDW__TARGET`` environment
variable, or ``--target`` on the CLI. Everything else about a target lives under ``[mdw.targets.<name>]``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt

TARGETS = ("local", "prod")


class TargetConfigError(ValueError):
    """A target setting is missing or wrong; the message names the setting."""


def _setting(key: str, default: Any = None) -> Any:
    value = dlt.config.get(key)
    return default if value in (None, "") else value


@dataclass(frozen=True)
class Target:
    name: str
    data_dir: Path  # local working files: dlt pipeline state, demo scratch, dbt target
    bronze_url: str
    warehouse_type: str  # dlt destination type and dbt profile name: duckdb | bigquery
    warehouse_path: Path | None  # DuckDB file for the local target
    duckdb_memory_limit: str | None = None
    load_max_files: int = 4  # Bronze files per table in one warehouse load (bounded merges)

    @property
    def pipelines_dir(self) -> str:
        return str(self.data_dir / "pipelines")

    def bronze_destination(self) -> Any:
        return dlt.destinations.filesystem(bucket_url=self.bronze_url, destination_name="bronze")

    def warehouse_destination(self) -> Any:
        if self.warehouse_type == "duckdb":
            assert self.warehouse_path is not None
            credentials = {"database": str(self.warehouse_path)}
            if self.duckdb_memory_limit:  # bounded memory: DuckDB spills merges of large loads to disk
                credentials["global_config"] = {"memory_limit": self.duckdb_memory_limit}
            return dlt.destinations.duckdb(credentials=credentials, destination_name="warehouse")
        if self.warehouse_type == "bigquery":
            return dlt.destinations.bigquery(destination_name="warehouse")
        raise TargetConfigError(
            f"mdw.targets.{self.name}.warehouse = '{self.warehouse_type}': use 'duckdb' or 'bigquery'"
        )

    @property
    def is_local_duckdb(self) -> bool:
        return self.warehouse_type == "duckdb"


def current_target(name: str | None = None) -> Target:
    """Resolve the target from the argument, ``MDW__TARGET`` / ``mdw.target``, default ``local``."""
    name = name or _setting("mdw.target", "local")
    if name not in TARGETS:
        raise TargetConfigError(f"mdw.target = '{name}': use one of {', '.join(TARGETS)}")
    data_dir = Path(_setting("mdw.data_dir", "data")).resolve()
    section = f"mdw.targets.{name}"
    warehouse_type = _setting(f"{section}.warehouse", "duckdb" if name == "local" else "bigquery")
    bronze_url = _setting(f"{section}.bronze_url", str(data_dir / "bronze") if name == "local" else None)
    if not bronze_url:
        raise TargetConfigError(
            f"{section}.bronze_url is not set: put gs://<bucket>/<prefix> in .dlt/config.toml "
            f"or the environment variable {section.upper().replace('.', '__')}__BRONZE_URL"
        )
    if "://" not in bronze_url:
        bronze_url = str(Path(bronze_url).resolve())
    warehouse_path = None
    if warehouse_type == "duckdb":
        warehouse_path = Path(_setting(f"{section}.warehouse_path", data_dir / "warehouse.duckdb")).resolve()
        warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    memory_limit = _setting(f"{section}.duckdb_memory_limit")
    max_files = int(_setting("mdw.load_max_files", 4))
    return Target(name, data_dir, bronze_url, warehouse_type, warehouse_path, memory_limit, max_files)


def project_root() -> Path:
    """The repository root (holds ``transformations/``)."""
    return Path(os.environ.get("MDW_PROJECT_ROOT", Path(__file__).resolve().parent.parent))
