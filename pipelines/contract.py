"""Schema drift is never silent.

Every source runs under its plugin's dlt schema contract (``SourcePlugin.schema_contract``: new tables and
columns may appear, data types are frozen) in both steps, extract and Bronze -> warehouse. Without it, a value
that does not fit its column's type (Meta sends ``"spend": "1,5"`` where ``spend`` is a decimal) lands in a
*variant* column (``spend__v_text``), the typed column is NULL in that row, and staging, which reads the typed
column, loses the number.

* A plugin with a quarantine table checks its rows against its declared column types
  (``TableSpec.misfits``) and quarantines those that do not fit, with the reason.
* Anything else meets the frozen contract: dlt refuses the variant and the run stops with a message naming table,
  column, value and load (:func:`contract_violation`); the refused package is aborted (the pipeline's state
  and schema are restored), so the next run takes the same data again instead of a package that cannot load.
* A variant column that exists anyway (made before the contract, or by hand) is listed after every load in the
  run summary and ``ops.run_tables`` (:func:`variant_columns`); a critical dbt test fails on one that staging does
  not read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dlt.common.exceptions import DltException
from dlt.common.schema.exceptions import DataValidationError

from marketing_dwh.registry import type_name
from pipelines.bronze import BRONZE_LOAD_ID

VARIANT_MARK = "__v_"  # dlt names a variant column <column>__v_<type of the values that did not fit>
_SHOWN_CHARS = 80


def is_variant(column: str) -> bool:
    """Whether ``column`` is a dlt variant column (``spend__v_text``)."""
    return VARIANT_MARK in column


def contract_violation(exc: BaseException, load_id: str | None = None) -> str | None:
    """A one-line message for a schema change the contract refused (dlt's ``DataValidationError``), else None.

    It names the table, the column, the value that did not fit and the column's type, the load, and what to do."""
    seen: BaseException | None = exc
    visited: set[int] = set()
    while seen is not None and not isinstance(seen, DataValidationError) and id(seen) not in visited:
        visited.add(id(seen))
        if isinstance(seen, DltException):  # a pipeline step failure names its load
            load_id = getattr(seen, "load_id", None) or load_id
        inner = getattr(seen, "exception", None)  # dlt's wrappers keep the cause here
        seen = inner if isinstance(inner, BaseException) else seen.__cause__ or seen.__context__
    if not isinstance(seen, DataValidationError):
        return None
    column = seen.column_name or ""
    base, _, variant = column.partition(VARIANT_MARK)
    existing = ((seen.table_schema or {}).get("columns") or {}).get(base) or {}
    item = seen.data_item if isinstance(seen.data_item, Mapping) else {}
    load = f"load {load_id or '?'}"
    if item.get(BRONZE_LOAD_ID):
        load += f" (rows of Bronze load {item[BRONZE_LOAD_ID]})"
    if variant:
        value = repr(item[column])[:_SHOWN_CHARS] + " " if column in item else ""
        what = (
            f"value {value}({variant}) does not fit its type {type_name(existing)} (dlt would put it in a variant "
            f"column {column} and leave {base} NULL)"
        )
    elif seen.schema_entity == "data_type":
        what = f"its type {type_name(existing)} would change"
    else:
        what = f"the contract refuses a new {seen.schema_entity.removesuffix('s')}"
    where = f"table {seen.table_name}" + (f", column {base}" if base else "")
    return (
        f"schema contract: {where}: {what}; {load} was not loaded (data types are frozen). Quarantine or convert "
        "such values in the source plugin (TableSpec.misfits says which and why), then run again"
    )


def variant_columns(tables: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """The variant columns per table of ``tables`` (table -> column names); tables without any are left out."""
    found = {table: sorted(c for c in columns if is_variant(c)) for table, columns in tables.items()}
    return {table: columns for table, columns in found.items() if columns}
