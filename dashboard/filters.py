"""Filter state -> parameterised WHERE fragments, date presets and the previous period.

Filter values only ever reach SQL as named parameters (``$name``; the BigQuery reader turns them into
``@name``). Column names are fixed here, never taken from user input. List filters use
``col in (select * from unnest($param))``, which DuckDB and BigQuery both accept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

PRESETS: dict[str, str] = {
    "all": "All time",
    "last_7": "Last 7 days",
    "last_30": "Last 30 days",
    "last_90": "Last 90 days",
    "mtd": "Month to date",
    "custom": "Custom range",
}
_PRESET_DAYS = {"last_7": 7, "last_30": 30, "last_90": 90}

# filter -> column, per mart; a filter missing from a mart's mapping does not apply to it
ORDER_COLUMNS = {"channels": "channel", "campaigns": "campaign_id", "countries": "country", "utm_sources": "utm_source"}
ACQUISITION_COLUMNS = {"channels": "channel", "campaigns": "campaign_id", "platforms": "platform"}
FILTER_LABELS = {"channels": "channel", "campaigns": "campaign", "countries": "country", "utm_sources": "utm_source"}
# the platform filter's choice for every row whose platform is not an ad platform with spend data
NO_AD_PLATFORM = "(no ad platform)"


@dataclass(frozen=True)
class Period:
    """An inclusive range of days."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length immediately before this one."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def label(self) -> str:
        return f"{self.start:%Y-%m-%d} – {self.end:%Y-%m-%d} ({self.days} days)"


def preset_period(preset: str, data_start: date, data_end: date, custom: Period | None = None) -> Period:
    """The period of a preset, anchored at the newest data day (``data_end``) so a stale warehouse still shows data.

    ``custom`` is used for the ``custom`` preset (clamped to nothing: any range may be asked for).
    """
    if preset == "all":
        return Period(data_start, data_end)
    if preset in _PRESET_DAYS:
        return Period(data_end - timedelta(days=_PRESET_DAYS[preset] - 1), data_end)
    if preset == "mtd":
        return Period(data_end.replace(day=1), data_end)
    if preset == "custom":
        if custom is None:
            return Period(data_start, data_end)
        return custom if custom.start <= custom.end else Period(custom.end, custom.start)
    raise ValueError(f"unknown date preset '{preset}': use one of {', '.join(PRESETS)}")


@dataclass(frozen=True)
class Filters:
    """Everything the sidebar selects. Empty tuples mean "all"."""

    period: Period
    channels: tuple[str, ...] = ()
    campaigns: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    utm_sources: tuple[str, ...] = ()
    # ad platforms (``platform`` of mart_acquisition_daily): set on the Acquisition & Ads tab, spend side only
    platforms: tuple[str, ...] = ()

    def previous(self) -> Filters:
        """The same filters over the previous period (same length, immediately before)."""
        return replace(self, period=self.period.previous())

    def not_applicable_to_spend(self) -> list[str]:
        """Labels of the filters that are set but cannot apply to ad spend (spend has no country or utm_source)."""
        return [
            FILTER_LABELS[name] for name in ORDER_COLUMNS if name not in ACQUISITION_COLUMNS and getattr(self, name)
        ]


@dataclass(frozen=True)
class Where:
    """A ``where`` clause and its named parameters."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.sql


def _where(filters: Filters, date_column: str, columns: dict[str, str]) -> Where:
    clauses = [f"{date_column} between $start_date and $end_date"]
    params: dict[str, Any] = {"start_date": filters.period.start, "end_date": filters.period.end}
    for name, column in columns.items():
        values = getattr(filters, name)
        if values:
            clauses.append(f"{column} in (select * from unnest(${name}))")
            params[name] = list(values)
    return Where("where " + "\n  and ".join(clauses), params)


def orders_where(filters: Filters) -> Where:
    """WHERE for ``mart_orders``: every filter applies."""
    return _where(filters, "order_date", ORDER_COLUMNS)


def acquisition_where(filters: Filters) -> Where:
    """WHERE for ``mart_acquisition_daily``: date, channel, campaign and platform (spend has no country/utm_source)."""
    return _where(filters, "date_day", ACQUISITION_COLUMNS)


@dataclass(frozen=True)
class PlatformChoices:
    """The platform filter's options. ``ad_platforms``: the platforms of campaigns with spend data (the installed
    ad-platform plugins'); ``others``: the other ``platform`` values of ``mart_acquisition_daily`` (orders without a
    campaign carry their channel, e.g. ``direct``; campaigns only orders or web analytics name carry the platform
    their channel implies), offered together as :data:`NO_AD_PLATFORM`."""

    ad_platforms: tuple[str, ...]
    others: tuple[str, ...] = ()

    def options(self) -> list[str]:
        return [*self.ad_platforms, *([NO_AD_PLATFORM] if self.others else [])]

    def platforms(self, chosen: Sequence[str]) -> tuple[str, ...]:
        """The ``platform`` values a selection stands for (empty: all)."""
        values = [c for c in chosen if c in self.ad_platforms]
        if NO_AD_PLATFORM in chosen:
            values += self.others
        return tuple(values)

    def group(self, column: str = "platform") -> Where:
        """A select expression labelling each row with its ad platform or :data:`NO_AD_PLATFORM`, and its params."""
        if not self.ad_platforms:  # an empty list parameter has no element type
            return Where("$no_ad_platform", {"no_ad_platform": NO_AD_PLATFORM})
        return Where(
            f"case when {column} in (select * from unnest($ad_platforms)) then {column} else $no_ad_platform end",
            {"ad_platforms": list(self.ad_platforms), "no_ad_platform": NO_AD_PLATFORM},
        )
