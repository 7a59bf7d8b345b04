"""A small GAQL reader: ``SELECT f, ... FROM resource [WHERE a AND b ...] [ORDER BY ...] [LIMIT n]``, with the
conditions ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``IN (...)`` and ``BETWEEN x AND y`` (GAQL grammar:
developers.google.com/google-ads/api/docs/query/grammar). An unknown resource or field is a QUERY_ERROR /
``UNRECOGNIZED_FIELD`` as the API answers it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<resource>[a-z_]+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?"
    r"(?:\s+PARAMETERS\s+.+)?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(
    r"^\s*(?P<field>[a-z_.]+)\s+(?:(?P<between>BETWEEN)\s+(?P<lo>\S+)\s+AND\s+(?P<hi>\S+)|"
    r"(?P<in>NOT IN|IN)\s*\((?P<items>[^)]*)\)|(?P<op><=|>=|!=|=|<|>)\s*(?P<value>.+?))\s*$",
    re.IGNORECASE,
)


class GaqlError(ValueError):
    """A query the emulator (and the API) refuses: ``code`` is the QueryError enum name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # = != < <= > >= IN NOT IN BETWEEN
    values: tuple[Any, ...]

    def holds(self, value: Any) -> bool:
        v = self.values
        if self.op == "BETWEEN":
            return v[0] <= value <= v[1]
        if self.op in ("IN", "NOT IN"):
            return (value in v) == (self.op == "IN")
        ops: dict[str, Callable[[Any, Any], bool]] = {
            "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
        }  # fmt: skip
        return ops[self.op](value, v[0])


@dataclass(frozen=True)
class Gaql:
    fields: tuple[str, ...]
    resource: str
    conditions: tuple[Condition, ...]
    limit: int | None


def _literal(text: str) -> Any:
    text = text.strip()
    if text[:1] in "'\"" and text[-1:] == text[:1]:
        return text[1:-1]
    if text.upper() in ("TRUE", "FALSE"):
        return text.upper() == "TRUE"
    try:
        return int(text)
    except ValueError:
        return text  # an enum name without quotes


def _split_and(where: str) -> list[str]:
    """Split on AND, except the AND of BETWEEN x AND y."""
    parts, current, tokens = [], [], re.split(r"(\s+AND\s+)", where, flags=re.IGNORECASE)
    for token in tokens:
        if token.strip().upper() == "AND" and not re.search(r"BETWEEN\s+\S+\s*$", "".join(current), re.IGNORECASE):
            parts.append("".join(current))
            current = []
        else:
            current.append(token)
    parts.append("".join(current))
    return parts


def parse(text: str, known_fields: dict[str, frozenset[str]]) -> Gaql:
    """Parse a query; ``known_fields`` holds the fields each resource may select or filter on."""
    match = _QUERY.match(text)
    if not match:
        raise GaqlError("UNEXPECTED_END_OF_QUERY", f"Error in query: unexpected input {text[:60]!r}.")
    resource = match["resource"].lower()
    if resource not in known_fields:
        raise GaqlError("INVALID_RESOURCE_NAME", f"Error in FROM clause: invalid resource name '{resource}'.")
    fields = tuple(f.strip() for f in match["fields"].split(","))
    conditions = []
    for part in _split_and(match["where"]) if match["where"] else []:
        cond = _CONDITION.match(part)
        if not cond:
            raise GaqlError("BAD_VALUE_IN_WHERE_CLAUSE", f"Error in WHERE clause: invalid condition {part!r}.")
        if cond["between"]:
            op, values = "BETWEEN", (_literal(cond["lo"]), _literal(cond["hi"]))
        elif cond["in"]:
            op, values = cond["in"].upper(), tuple(_literal(v) for v in cond["items"].split(",") if v.strip())
        else:
            op, values = cond["op"], (_literal(cond["value"]),)
        conditions.append(Condition(cond["field"], op, values))
    for name in (*fields, *(c.field for c in conditions)):
        if name not in known_fields[resource]:
            raise GaqlError("UNRECOGNIZED_FIELD", f"Unrecognized field in the query: '{name}'.")
    return Gaql(fields, resource, tuple(conditions), int(match["limit"]) if match["limit"] else None)
