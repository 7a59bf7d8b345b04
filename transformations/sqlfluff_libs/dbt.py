"""Stand-ins for dbt's cross-database macros (`{{ dbt.datediff(...) }}` and friends) for sqlfluff.

sqlfluff renders the models with its plain jinja templater (no dbt connection), so the `dbt` namespace
does not exist there. These functions return DuckDB SQL of the same shape, which is all the linter needs.
Any macro not listed renders as a function call of the same name.
"""

from collections.abc import Callable

_TYPES = {
    "type_string": "varchar",
    "type_int": "integer",
    "type_bigint": "bigint",
    "type_boolean": "boolean",
    "type_numeric": "numeric(28, 6)",
    "type_float": "double",
    "type_timestamp": "timestamp",
}


def dateadd(datepart: str, interval: object, from_date_or_timestamp: str) -> str:
    return f"({from_date_or_timestamp} + interval ({interval}) {datepart})"


def datediff(first_date: str, second_date: str, datepart: str) -> str:
    return f"date_diff('{datepart}', {first_date}, {second_date})"


def date_trunc(datepart: str, date: str) -> str:
    return f"date_trunc('{datepart}', {date})"


def safe_cast(field: str, type_: str) -> str:
    return f"try_cast({field} as {type_})"


def hash(field: str) -> str:  # noqa: A001 - mirrors dbt.hash
    return f"md5(cast({field} as varchar))"


def concat(fields: list[str]) -> str:
    return f"concat({', '.join(fields)})"


def current_timestamp() -> str:
    return "current_timestamp"


def __getattr__(name: str) -> Callable[..., str]:
    if name in _TYPES:
        return lambda *args, **kwargs: _TYPES[name]
    if name.startswith("__"):
        raise AttributeError(name)
    return lambda *args, **kwargs: f"{name}({', '.join(str(a) for a in args)})"
