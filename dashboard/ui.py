"""Streamlit building blocks shared by the tabs: cached queries, KPI cards with deltas, tables with CSV export."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.filters import Filters, Where
from dashboard.kpis import CURRENCY_SYMBOLS, Catalogue, format_delta, load_catalogue
from dashboard.warehouse import Warehouse, open_warehouse

CACHE_TTL_S = 60
LONG_TEXT = frozenset({"error", "message", "description", "schema_changes"})
WRAP_CHARS = 60  # a free-text column with longer values wraps (three lines per row) in a column this wide:
WRAP_PX = 280  # the tables fit the main area at a 1400 px wide window, no column cut off at the right edge
WRAPPED_ROW_PX = 70  # Streamlit's grid wraps text when rows are taller than 4rem
CARDS_PER_ROW = 4
NO_DATA = "No data for the selected filters."
MISSING = "–"  # a value that does not exist (a ratio without data): as the KPI cards show it
# how a change is coloured: a rise in a cost is bad news; spending more is neither good nor bad
LOWER_IS_BETTER = frozenset({"cpc", "cost_per_conversion", "cac"})
NEUTRAL = frozenset({"ad_spend", "impressions"})


@st.cache_resource(show_spinner=False)
def warehouse() -> Warehouse:
    """The current target's warehouse reader. It holds settings only, never an open connection."""
    return open_warehouse()


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def query(sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
    """One parameterised query, cached for a minute per (sql, params)."""
    return warehouse().query(sql, params)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def query_batch(statements: tuple[tuple[str, dict[str, Any] | None], ...]) -> list[pd.DataFrame]:
    """Several queries on one short-lived connection, cached together."""
    return warehouse().query_many(statements)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def schema_columns(schema: str) -> pd.DataFrame:
    """``table_name``, ``column_name`` of every table in a schema or dataset; no rows when it does not exist."""
    return warehouse().columns(schema)


def table_name(schema: str, name: str) -> str:
    """Qualified table name from the target's config (never from user input)."""
    return warehouse().table(schema, name)


@dataclass(frozen=True)
class Page:
    """What every tab renders from: the KPI catalogue and the sidebar's filters."""

    catalogue: Catalogue
    filters: Filters

    @property
    def currency(self) -> str:
        return self.catalogue.reporting_currency

    def kpi_frame(self, names: Sequence[str], mart: str, where: Where, group_by: Sequence[str] = ()) -> pd.DataFrame:
        """KPIs of one mart at a grain: ``select <grain>, <kpis> ... group by <grain>`` (ratios after aggregation)."""
        keys = ", ".join(group_by)
        select = f"{keys},\n    " if keys else ""
        sql = f"select\n    {select}{self.catalogue.select_list(names)}\nfrom {table_name('gold', mart)}\n{where}"
        if keys:
            sql += f"\ngroup by {keys}\norder by {keys}"
        return query(sql, dict(where.params))


def page(filters: Filters) -> Page:
    """A page context over the catalogue in dbt_project.yml."""
    return Page(load_catalogue(), filters)


def kpi_cards(p: Page, names: Sequence[str], mart: str, where: Where, previous: Where) -> None:
    """One row of ``st.metric`` cards: value in the period, change vs the previous period of the same length."""
    cat = p.catalogue
    sql = f"select\n    {cat.select_list(names)}\nfrom {table_name('gold', mart)}\n"
    now, before = query_batch(((sql + where.sql, dict(where.params)), (sql + previous.sql, dict(previous.params))))
    period = p.filters.period
    rows = -(-len(names) // CARDS_PER_ROW)
    per_row = -(-len(names) // rows)  # e.g. 6 cards: two rows of 3
    columns = [column for _ in range(rows) for column in st.columns(per_row)]
    for column, name in zip(columns, names, strict=False):
        kpi = cat[name]
        value, prior = now[name].iloc[0], before[name].iloc[0]
        column.metric(
            kpi.label,
            cat.format_value(name, value),
            delta=format_delta(kpi.format, value, prior),
            delta_color="inverse" if name in LOWER_IS_BETTER else "off" if name in NEUTRAL else "normal",
            delta_description="vs prior period",
            help=f"{kpi.description}  \nPrevious period: {period.previous().label()}, {cat.format_value(name, prior)}.",
            border=True,
        )


def column_config(p: Page, names: Iterable[str]) -> dict[str, Any]:
    """Number formats and help texts of KPI columns in ``st.dataframe``."""
    money = {"EUR": "euro", "USD": "dollar", "JPY": "yen"}.get(p.currency)
    money = money or f"{CURRENCY_SYMBOLS.get(p.currency, p.currency + ' ')}%.2f"
    formats = {"count": "localized", "money": money, "percent": "percent", "ratio": "%.2f"}
    config = {}
    for name in names:
        kpi = p.catalogue[name]
        config[name] = st.column_config.NumberColumn(
            kpi.header, help=f"**{kpi.label}**: {kpi.description}", format=formats[kpi.format]
        )
    return config


def _wraps(df: pd.DataFrame, name: str) -> bool:
    """A free-text column with values too long for one line of a column that leaves room for the others."""
    return name in LONG_TEXT and name in df and bool((df[name].astype("string").str.len().fillna(0) > WRAP_CHARS).any())


def _column(name: str, label: str, wrap: bool) -> Any:
    if wrap:  # free text: wrapped in a fixed width, read whole without widening the table
        return st.column_config.TextColumn(label, width=WRAP_PX)
    if name.endswith("month"):
        return st.column_config.DateColumn(label, format="YYYY-MM")
    if name.endswith(("date", "day")):
        return st.column_config.DateColumn(label, format="YYYY-MM-DD")
    return st.column_config.Column(label)


def data_table(
    df: pd.DataFrame | None,
    key: str,
    config: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    empty: str = NO_DATA,
    csv_only: Sequence[str] = (),
) -> None:
    """``st.dataframe`` plus a CSV download of exactly the rows shown; ``empty`` instead when there are none.

    ``labels``: column -> header (every column shown should have a readable one); missing values show as –.
    ``csv_only``: columns in the CSV but not on screen (ids and the like, so the table fits without scrolling)."""
    if df is None or df.empty:
        st.info(empty)
        return
    wrapped = {c for c in (labels or {}) if _wraps(df, c)}
    config = {**{c: _column(c, label, c in wrapped) for c, label in (labels or {}).items()}, **(config or {})}
    row_height = WRAPPED_ROW_PX if wrapped else None
    # wrapped rows are tall: as many on screen as unwrapped ones (up to 10), the rest by scrolling
    height = (min(len(df), 10) + 1) * WRAPPED_ROW_PX + 2 if wrapped else "auto"
    shown = [c for c in df.columns if c not in csv_only]
    st.dataframe(
        df,
        hide_index=True,
        column_order=shown,
        column_config=config,
        placeholder=MISSING,
        row_height=row_height,
        height=height,
    )
    st.download_button(
        "Download CSV",
        df.to_csv(index=False).encode("utf-8"),
        file_name=f"{key}.csv",
        mime="text/csv",
        key=f"csv_{key}",
        on_click="ignore",
        icon=":material/download:",
    )


def chart(fig: go.Figure | None, key: str) -> None:
    """A Plotly figure, or the no-data note."""
    if fig is None:
        st.info(NO_DATA)
    else:
        st.plotly_chart(fig, key=key, config={"displaylogo": False})
