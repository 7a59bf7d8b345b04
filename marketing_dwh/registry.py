"""The source plugin registry.

A source plugin is any installed distribution that registers a :class:`SourcePlugin` object under the
entry-point group ``mdw.sources``. The built-in sources (``crm``, ``meta_ads``, ``ga4``) register in this
project's ``pyproject.toml`` exactly the way a third-party package would::

    [project.entry-points."mdw.sources"]
    crm = "sources.crm.plugin:plugin"

The framework (runner, CLI, Airflow DAGs) only ever talks to plugins through this module. Plugin authors import
its declarations from :mod:`marketing_dwh` (``sources.registry`` re-exports them for the built-in plugins: a
project's own ``sources/`` folder would shadow that name).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from dlt.common.data_types import coerce_value, py_type_to_sc_type
from dlt.extract.source import DltSource

ENTRY_POINT_GROUP = "mdw.sources"

WriteDisposition = Literal["append", "replace", "merge"]

# The dlt schema contract of a source (``SourcePlugin.schema_contract``): new tables and new columns may appear,
# a column's data type never changes. A value that does not fit its column's type would otherwise land in a
# variant column (``spend__v_text``) and leave the typed column NULL; with data types frozen it is quarantined
# by the plugin (sources with a quarantine table) or stops the run, naming table, column, value and load.
# Dropping rows or values (``discard_row`` / ``discard_value``) would lose data silently.
FROZEN_DATA_TYPES: Mapping[str, str] = MappingProxyType(
    {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTRACT_MODES = {"tables": ("evolve", "freeze"), "columns": ("evolve", "freeze"), "data_type": ("freeze",)}

# Shared Gold interfaces a plugin's dbt package can provide, and the models it must then ship (``<plugin>`` is the
# plugin name). The core project unions the models of every enabled provider; dbt model contracts fix their
# columns and types (transformations/macros/interfaces.sql defines them).
GOLD_INTERFACES = {
    "orders": ("{plugin}__order_lines", "{plugin}__contacts"),
    "web_analytics": ("{plugin}__web_purchases", "{plugin}__web_sessions_daily"),
    "ad_platform": ("{plugin}__ad_performance_daily", "{plugin}__ad_campaigns"),
}


@dataclass(frozen=True)
class TableSpec:
    """How one table of a source lands in the warehouse raw dataset.

    Bronze is always append-only; these hints apply when Bronze is loaded into the warehouse.
    """

    write_disposition: WriteDisposition = "append"
    primary_key: tuple[str, ...] = ()
    merge_key: tuple[str, ...] = ()
    # extra dlt column hints, e.g. {"_source_line": {"dedup_sort": "desc"}}
    columns: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    description: str = ""
    # BigQuery layout of the raw table (dlt's bigquery_adapter; other warehouses ignore it): a DATE or
    # TIMESTAMP column to partition by day, and up to four columns to cluster by (the keys merges look up)
    partition: str | None = None
    cluster: tuple[str, ...] = ()
    # the business key a row belongs to, when the primary key also holds a version (e.g. the file it came in):
    # run summaries count rows whose entity key is new vs already present. Default: the primary key.
    entity_key: tuple[str, ...] = ()
    # a log of the runs themselves (every request's quota, every response's metadata, every stop): it grows with
    # each run by design, so idempotency and replay comparisons (mdw check-plugin) leave it out
    run_log: bool = False
    # a row never changes under its primary key once delivered (the key holds the row's version, e.g. the file it
    # came in), so a load may keep a key already present instead of replacing it: a local DuckDB reading Bronze
    # Parquet in place then inserts the new keys in one statement, without dlt's staging copy (a merge table only)
    immutable_rows: bool = False

    def __post_init__(self) -> None:
        if self.immutable_rows and not (self.write_disposition == "merge" and self.primary_key):
            raise ValueError(
                "TableSpec(immutable_rows=True) needs write_disposition='merge' and a primary_key: the key is what "
                "a load finds already present"
            )

    def misfits(self, row: Mapping[str, Any]) -> list[str]:
        """Why values of ``row`` do not fit the column types this spec declares, by dlt's own coercion rules
        (``column spend: value '1,5' (text) does not fit its type decimal(38, 9)``); empty when all fit.

        With data types frozen (the schema contract), such a row would stop the run: a plugin with a quarantine
        table routes it there with these reasons instead."""
        reasons = []
        for name, value in row.items():
            hint = self.columns.get(name)
            if hint and hint.get("data_type") and not _fits(str(hint["data_type"]), value):
                reasons.append(
                    f"column {name}: value {_shown(value)} ({py_type_to_sc_type(type(value))}) does not fit its type "
                    f"{type_name(hint)}"
                )
        return reasons

    def hints(self) -> dict[str, Any]:
        """Keyword arguments for ``DltResource.apply_hints`` / ``@dlt.resource``."""
        hints: dict[str, Any] = {"write_disposition": self.write_disposition}
        if self.primary_key:
            hints["primary_key"] = list(self.primary_key)
        if self.merge_key:
            hints["merge_key"] = list(self.merge_key)
        if self.columns:
            hints["columns"] = {name: dict(hint) for name, hint in self.columns.items()}
        return hints


def _fits(data_type: str, value: Any) -> bool:
    """Whether dlt stores ``value`` in a column of ``data_type`` without making a variant column."""
    if value is None:
        return True
    from_type = py_type_to_sc_type(type(value))
    if from_type == "json" and data_type != "json":
        return True  # a nested object or list becomes child columns or a child table, never a variant
    try:
        coerced = coerce_value(data_type, from_type, value)  # type: ignore[arg-type]
    except (ValueError, TypeError, ArithmeticError, SyntaxError):
        return False
    return not callable(coerced)  # dlt's own "variant" values (a number too large for its column)


def _shown(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def type_name(column: Mapping[str, Any]) -> str:
    """A column hint's type as text: ``decimal(38, 9)``, ``bigint`` ..."""
    data_type = str(column.get("data_type"))
    if data_type == "decimal" and column.get("precision") is not None:
        return f"decimal({column['precision']}, {column.get('scale') or 0})"
    return data_type


# A sandbox prepares everything a source needs to run offline (sample files, an API emulator ...)
# and yields the keyword arguments to call the source factory with. It receives the demo world and
# a scratch directory it owns.
Sandbox = Callable[[Any, Path], contextlib.AbstractContextManager[dict[str, Any]]]


@dataclass(frozen=True)
class SourcePlugin:
    """What a source plugin declares to the framework."""

    name: str
    description: str
    source_factory: Callable[..., DltSource]
    config_section: str
    sandbox: Sandbox
    tables: Mapping[str, TableSpec]
    # the table that receives rejected input rows, if the source quarantines bad input
    quarantine_table: str | None = None
    # names of the source factory's arguments for an explicit date range (``mdw backfill``), if supported
    backfill_args: tuple[str, str] | None = None
    # after each warehouse load: (sql client, load id) -> warnings for the run summary (e.g. sampled data)
    load_warnings: Callable[[Any, str], list[str]] | None = None
    # the plugin's dbt package (a folder with a dbt_project.yml): its staging models, tests, seeds, and its models
    # for the shared Gold interfaces it provides. Built with the core project when its raw dataset has data.
    dbt_package: Path | None = None
    # shared Gold interfaces its dbt package provides (see ``GOLD_INTERFACES``)
    provides: tuple[str, ...] = ()
    # the dlt schema contract of both steps (extract and Bronze -> warehouse); data types are always frozen
    schema_contract: Mapping[str, str] = field(default_factory=lambda: dict(FROZEN_DATA_TYPES))
    # (Gold model, its date column): the newest day there tells how current this source's data is (the dashboard's
    # Pipeline Health shows it beside the newest load into the raw dataset). None: only the newest load is shown.
    freshness: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if self.freshness is not None and (
            len(self.freshness) != 2 or not all(_IDENTIFIER.match(str(part)) for part in self.freshness)
        ):
            raise ValueError(
                f"source plugin '{self.name}': freshness = {self.freshness!r}; use (gold_model, date_column), "
                "two plain names such as ('weather_daily', 'reading_date')"
            )
        for entity, allowed in _CONTRACT_MODES.items():
            mode = self.schema_contract.get(entity)
            if mode not in allowed:
                raise ValueError(
                    f"source plugin '{self.name}': schema_contract['{entity}'] = {mode!r}; use "
                    f"{' or '.join(repr(m) for m in allowed)} (schema drift must never drop or hide data)"
                )
        unknown = sorted(set(self.schema_contract) - set(_CONTRACT_MODES))
        if unknown:
            raise ValueError(
                f"source plugin '{self.name}': schema_contract has unknown key(s) {', '.join(unknown)}; "
                f"use {', '.join(_CONTRACT_MODES)}"
            )

    @property
    def dataset_name(self) -> str:
        """Warehouse raw dataset and Bronze folder of this source."""
        return f"raw_{self.name}"


class UnknownSourceError(LookupError):
    """Raised when a source name is not registered."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        listed = ", ".join(known) if known else "none are installed"
        super().__init__(
            f"unknown source '{name}'. Known sources: {listed}. "
            f"A source is a plugin registered under the entry-point group '{ENTRY_POINT_GROUP}'."
        )


class PluginLoadError(RuntimeError):
    """Raised when an entry point does not resolve to a valid SourcePlugin."""


def _load(entry_point: Any) -> SourcePlugin:
    try:
        obj = entry_point.load()
    except Exception as exc:  # the plugin's own import error: name the plugin, keep the cause
        raise PluginLoadError(
            f"source plugin '{entry_point.name}' ({entry_point.value}) failed to import: {exc}"
        ) from exc
    plugin = obj() if callable(obj) and not isinstance(obj, SourcePlugin) else obj
    if not isinstance(plugin, SourcePlugin):
        raise PluginLoadError(
            f"entry point '{entry_point.name}' ({entry_point.value}) in group '{ENTRY_POINT_GROUP}' "
            f"must be a SourcePlugin (or a function returning one), got {type(plugin).__name__}"
        )
    if plugin.name != entry_point.name:
        raise PluginLoadError(
            f"entry point '{entry_point.name}' declares a plugin named '{plugin.name}': the names must match"
        )
    return plugin


def discover() -> dict[str, SourcePlugin]:
    """All installed source plugins, by name, sorted by name."""
    eps = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    return {ep.name: _load(ep) for ep in eps}


def get(name: str) -> SourcePlugin:
    """One plugin by name; :class:`UnknownSourceError` lists the known ones."""
    eps = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if name not in eps:
        raise UnknownSourceError(name, sorted(eps))
    return _load(eps[name])


def resolve(names: list[str] | None) -> list[SourcePlugin]:
    """Plugins for the given names (all when empty), in the order given; unknown names fail first."""
    if not names:
        return list(discover().values())
    known = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    for name in names:
        if name not in known:
            raise UnknownSourceError(name, known)
    return [get(name) for name in names]


def messages_of_load(table: str, order_by: str) -> Callable[[Any, str], list[str]]:
    """A plugin's ``load_warnings`` that reports the ``message`` column of the rows its source wrote to ``table``
    in that load (e.g. accounts it could not read), in ``order_by`` order; nothing when the table was never
    loaded."""

    def warnings(client: Any, load_id: str) -> list[str]:
        if not client.has_dataset():
            return []
        listed = "select table_name from information_schema.tables where table_schema = %s"
        tables = {t for (t,) in client.execute_sql(listed, client.dataset_name)}
        if table not in tables:
            return []
        qualified = client.make_qualified_table_name(table)
        sql = f"select message from {qualified} where _dlt_load_id = %s order by {order_by}"
        return [r[0] for r in client.execute_sql(sql, load_id) or []]

    return warnings


@contextlib.contextmanager
def no_sandbox(world: Any, workdir: Path) -> Iterator[dict[str, Any]]:
    """Sandbox for sources that need nothing prepared: call the factory with its configured arguments."""
    yield {}
