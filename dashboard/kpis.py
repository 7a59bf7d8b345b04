"""The KPI catalogue (``vars.kpis`` in ``transformations/dbt_project.yml``) rendered as SQL.

A KPI is either ``sql`` (one aggregate over its mart) or ``ratio`` (``[numerator, denominator]`` KPIs of the
same mart). A ratio is rendered as ``(num) / nullif((den), 0)`` over the rows of the grain being shown, so it
is always computed after aggregation: never an average or a sum of finer-grained ratios. The dbt macro
``kpi`` renders the same catalogue the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from pipelines.targets import project_root

FORMATS = ("count", "money", "percent", "ratio")
CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}


class KpiCatalogueError(ValueError):
    """The catalogue in dbt_project.yml is malformed; the message names the KPI and the field."""


@dataclass(frozen=True)
class Kpi:
    """One catalogue entry."""

    name: str
    label: str
    mart: str
    format: str
    description: str
    sql: str | None = None
    ratio: tuple[str, str] | None = None
    short: str | None = None  # a table's column header where the label is long (e.g. "Cost / conv.")

    @property
    def header(self) -> str:
        """The column header in tables: ``short``, else the label (the cards always show the label)."""
        return self.short or self.label


@dataclass(frozen=True)
class Catalogue:
    """All KPIs plus the reporting currency their amounts are in."""

    kpis: dict[str, Kpi]
    reporting_currency: str

    def __getitem__(self, name: str) -> Kpi:
        try:
            return self.kpis[name]
        except KeyError:
            raise KpiCatalogueError(f"unknown KPI '{name}': known are {', '.join(self.kpis)}") from None

    def expression(self, name: str) -> str:
        """The aggregate SQL of one KPI; a ratio divides its parts' aggregates (null when the denominator is 0)."""
        kpi = self[name]
        if kpi.ratio is None:
            assert kpi.sql is not None
            return kpi.sql
        numerator, denominator = kpi.ratio
        return f"({self.expression(numerator)}) / nullif(({self.expression(denominator)}), 0)"

    def select_list(self, names: Iterable[str]) -> str:
        """``expr as name, ...`` for a ``select`` that groups by the grain shown (or not at all)."""
        return ",\n    ".join(f"{self.expression(name)} as {name}" for name in names)

    def format_value(self, name: str, value: Any) -> str:
        """Display text of a KPI value in its catalogue format; ``–`` when undefined (null)."""
        return format_number(self[name].format, value, self.reporting_currency)


def format_number(fmt: str, value: Any, currency: str = "EUR") -> str:
    """Format ``value`` as count | money | percent | ratio (percent values are fractions: 0.25 -> 25.00%)."""
    if value is None or value != value:  # None or NaN
        return "–"
    number = float(value)
    if fmt == "count":
        return f"{number:,.0f}"
    if fmt == "money":
        symbol = CURRENCY_SYMBOLS.get(currency, f"{currency} ")
        sign = "-" if number < 0 else ""
        return f"{sign}{symbol}{abs(number):,.2f}"  # as the tables show money: cents, thousands separated
    if fmt == "percent":
        return f"{number * 100:.2f}%"
    return f"{number:,.2f}"


def format_delta(fmt: str, current: Any, previous: Any) -> str | None:
    """Change vs the previous period: percentage points for percent KPIs, relative change otherwise."""
    if current is None or previous is None or current != current or previous != previous:
        return None
    current, previous = float(current), float(previous)
    if fmt == "percent":
        return f"{(current - previous) * 100:+.2f} pp"
    if previous == 0:
        return None
    return f"{(current - previous) / abs(previous) * 100:+.1f}%"


def _kpi(name: str, entry: dict[str, Any]) -> Kpi:
    where = f"vars.kpis.{name}"
    missing = [key for key in ("label", "mart", "format") if not entry.get(key)]
    if missing:
        raise KpiCatalogueError(f"{where}: missing {', '.join(missing)}")
    if entry["format"] not in FORMATS:
        raise KpiCatalogueError(f"{where}.format = '{entry['format']}': use one of {', '.join(FORMATS)}")
    if ("sql" in entry) == ("ratio" in entry):
        raise KpiCatalogueError(f"{where}: set exactly one of `sql` or `ratio`")
    ratio = entry.get("ratio")
    if ratio is not None and (not isinstance(ratio, list) or len(ratio) != 2):
        raise KpiCatalogueError(f"{where}.ratio: expected [numerator, denominator]")
    return Kpi(
        name=name,
        label=str(entry["label"]),
        mart=str(entry["mart"]),
        format=str(entry["format"]),
        description=str(entry.get("description", "")),
        sql=entry.get("sql"),
        ratio=(str(ratio[0]), str(ratio[1])) if ratio else None,
        short=str(entry["short"]) if entry.get("short") else None,
    )


def parse_catalogue(project: dict[str, Any]) -> Catalogue:
    """Build the catalogue from a parsed dbt_project.yml; ratio parts must be KPIs of the same mart."""
    variables = project.get("vars") or {}
    kpis = {name: _kpi(name, entry or {}) for name, entry in (variables.get("kpis") or {}).items()}
    for kpi in kpis.values():
        for part in kpi.ratio or ():
            if part not in kpis:
                raise KpiCatalogueError(f"vars.kpis.{kpi.name}.ratio: unknown KPI '{part}'")
            if kpis[part].mart != kpi.mart:
                raise KpiCatalogueError(f"vars.kpis.{kpi.name}.ratio: '{part}' is a KPI of {kpis[part].mart}")
    return Catalogue(kpis, str(variables.get("reporting_currency", "EUR")).upper())


@lru_cache(maxsize=4)
def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load the catalogue from ``transformations/dbt_project.yml`` (or ``path``)."""
    path = path or project_root() / "transformations" / "dbt_project.yml"
    return parse_catalogue(yaml.safe_load(path.read_text(encoding="utf-8")))
