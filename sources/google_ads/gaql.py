"""GAQL queries the source sends, the date window of a run, and reading GoogleAdsRow messages into plain rows."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sources.google_ads.settings import MICROS

# metrics.cost_micros / campaign_budget.amount_micros -> account currency, exact (decimal(38, 9) holds it)
_MICROS = Decimal(MICROS)


def from_micros(micros: int | None) -> Decimal | None:
    """An amount in micros of the account currency as an exact amount in that currency (``1_230_000`` -> 1.23)."""
    if micros is None:
        return None
    return Decimal(int(micros)) / _MICROS


def digits(customer_id: str | int) -> str:
    """A customer id as the API takes it: ``123-456-7890`` -> ``1234567890``."""
    return str(customer_id).replace("-", "").strip()


def fetch_window(
    last_date: str | None, today: date, lookback_days: int, start_date: str | None = None
) -> tuple[date, date]:
    """Days a run fetches for one account, in its time zone: from the last fetched day minus the lookback (so the
    last ``lookback_days`` days up to today are always re-fetched, and days missed since the last run too); on a
    first run from ``start_date`` or the last ``lookback_days`` days."""
    if last_date:
        since = min(date.fromisoformat(last_date), today) - timedelta(days=lookback_days - 1)
    elif start_date:
        since = min(date.fromisoformat(start_date), today)
    else:
        since = today - timedelta(days=lookback_days - 1)
    return min(since, today - timedelta(days=lookback_days - 1)), today


def query(fields: tuple[tuple[str, str], ...], resource: str, where: str = "") -> str:
    """``SELECT <fields> FROM <resource> [WHERE ...]``."""
    text = f"SELECT {', '.join(f for _, f in fields)} FROM {resource}"
    return f"{text} WHERE {where}" if where else text


def between(since: date, until: date) -> str:
    """The GAQL date condition of a window (both days included)."""
    return f"segments.date BETWEEN '{since.isoformat()}' AND '{until.isoformat()}'"


def read(row: Any, path: str) -> Any:
    """One field of a GoogleAdsRow (protobuf) by its GAQL name; enums as their names, unset optionals as None."""
    parts = path.split(".")
    message = row
    for part in parts[:-1]:
        message = getattr(message, part)
    fields = message.DESCRIPTOR.fields_by_name
    field = fields.get(parts[-1]) or fields[parts[-1] + "_"]  # the library names GAQL's `type` etc. `type_`
    name = field.name
    if field.has_presence and not message.HasField(name):
        return None
    value = getattr(message, name)
    if field.enum_type is not None:
        return field.enum_type.values_by_number[value].name if value in field.enum_type.values_by_number else value
    return value


def to_row(row: Any, fields: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """A GoogleAdsRow as a plain dict: column -> value, ids as text."""
    out = {column: read(row, path) for column, path in fields}
    for column in out:
        if column.endswith("_id") and out[column] is not None:
            out[column] = str(out[column])
    return out
