"""Plotly figures for the dashboard. Each takes an aggregated frame (ratios already computed by SQL at the
grain shown) and returns a figure, or ``None`` when there is nothing to draw."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from dashboard.kpis import CURRENCY_SYMBOLS

_LAYOUT: dict[str, Any] = {
    "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
    "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0, "title": None},
    "hovermode": "x unified",
}


def axis_format(fmt: str, currency: str = "EUR") -> dict[str, Any]:
    """Tick format of a value axis for a catalogue format (count | money | percent | ratio)."""
    if fmt == "money":
        return {"tickprefix": CURRENCY_SYMBOLS.get(currency, f"{currency} "), "tickformat": ",.0f"}
    if fmt == "percent":
        return {"tickformat": ".1%"}
    if fmt == "ratio":
        return {"tickformat": ",.2f"}
    return {"tickformat": ",d"}


# hover texts show values as the cards and tables do (axis ticks stay round)
_HOVER_FORMATS = {"money": ",.2f", "percent": ".2%", "ratio": ",.2f", "count": ",d"}


def _hover(fmt: str, currency: str) -> str:
    prefix = axis_format(fmt, currency).get("tickprefix", "")
    return f"{prefix}%{{y:{_HOVER_FORMATS.get(fmt, ',.2f')}}}"


def _empty(df: pd.DataFrame | None, *columns: str) -> bool:
    return df is None or df.empty or any(df[c].isna().all() for c in columns)


def _finish(fig: go.Figure, title: str, height: int = 360, x: str = "") -> go.Figure:
    fig.update_layout(title={"text": title, "x": 0}, height=height, **_LAYOUT)
    if x.endswith("month"):  # one tick per month, labelled by month
        fig.update_xaxes(dtick="M1", tickformat="%b %Y")
    return fig


def line(
    df: pd.DataFrame, x: str, y: str, title: str, fmt: str, currency: str = "EUR", y_label: str = ""
) -> go.Figure | None:
    """A time series of one measure."""
    if _empty(df, y):
        return None
    fig = px.line(df, x=x, y=y, markers=len(df) < 40, labels={x: "", y: y_label or y})
    fig.update_traces(hovertemplate=_hover(fmt, currency))
    fig.update_yaxes(rangemode="tozero", **axis_format(fmt, currency))
    return _finish(fig, title)


def bar_with_line(
    df: pd.DataFrame,
    x: str,
    bar: tuple[str, str, str],
    line_: tuple[str, str, str],
    title: str,
    currency: str = "EUR",
) -> go.Figure | None:
    """Bars of one measure with a second measure as a line on its own right-hand axis.

    ``bar`` and ``line_`` are ``(column, label, format)``.
    """
    (bar_col, bar_label, bar_fmt), (line_col, line_label, line_fmt) = bar, line_
    if _empty(df, bar_col):
        return None
    fig = px.bar(df, x=x, y=bar_col, labels={x: "", bar_col: bar_label})
    fig.update_traces(name=bar_label, showlegend=True, hovertemplate=_hover(bar_fmt, currency))
    fig.add_scatter(
        x=df[x],
        y=df[line_col],
        name=line_label,
        mode="lines+markers",
        yaxis="y2",
        hovertemplate=_hover(line_fmt, currency),
    )
    fig.update_yaxes(title=bar_label, rangemode="tozero", **axis_format(bar_fmt, currency))
    fig.update_layout(
        yaxis2={
            "title": line_label,
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "showgrid": False,
            "tickmode": "auto",  # its own round ticks, not ticks synced to the left axis
            **axis_format(line_fmt, currency),
        }
    )
    return _finish(fig, title, x=x)


def ranked_with_overlay(
    df: pd.DataFrame,
    category: str,
    bar: tuple[str, str],
    overlay: tuple[str, str],
    title: str,
    fmt: str,
    currency: str = "EUR",
) -> go.Figure | None:
    """Horizontal bars of one measure (largest on top) with a second measure of the same unit as markers on them.

    ``bar`` and ``overlay`` are ``(column, label)``.
    """
    (bar_col, bar_label), (over_col, over_label) = bar, overlay
    if _empty(df, bar_col):
        return None
    ordered = df.sort_values(bar_col)
    fig = go.Figure()
    fig.add_bar(y=ordered[category], x=ordered[bar_col], orientation="h", name=bar_label)
    fig.add_scatter(
        y=ordered[category],
        x=ordered[over_col],
        mode="markers",
        name=over_label,
        marker={"symbol": "diamond", "size": 12, "line": {"width": 1, "color": "white"}},
    )
    fig.update_xaxes(rangemode="tozero", **axis_format(fmt, currency))
    fig = _finish(fig, title, height=max(300, 45 * len(ordered) + 90))
    fig.update_layout(hovermode="y unified")
    return fig


def bars(
    df: pd.DataFrame,
    category: str,
    values: dict[str, str],
    title: str,
    fmt: str,
    currency: str = "EUR",
    horizontal: bool = False,
    stacked: bool = False,
) -> go.Figure | None:
    """Bars per category for one or several measures of the same format (``values``: column -> label)."""
    if _empty(df, *values):
        return None
    long = df.melt(id_vars=[category], value_vars=list(values), var_name="measure", value_name="value")
    long["measure"] = long["measure"].map(values)
    axes = {"x": "value", "y": category} if horizontal else {"x": category, "y": "value"}
    fig = px.bar(
        long,
        **axes,
        color="measure" if len(values) > 1 else None,
        barmode="stack" if stacked else "group",
        orientation="h" if horizontal else "v",
        labels={category: "", "value": "", "measure": ""},
    )
    spec = axis_format(fmt, currency)
    if horizontal:
        fig.update_xaxes(**spec)
        fig.update_yaxes(categoryorder="total ascending")
        fig.update_layout(hovermode="y unified")
    else:
        fig.update_yaxes(**spec)
    return _finish(fig, title)


def stacked_by(
    df: pd.DataFrame, x: str, color: str, y: str, title: str, fmt: str, currency: str = "EUR"
) -> go.Figure | None:
    """Stacked bars of ``y`` over ``x``, split by ``color`` (a frame already grouped by x and color)."""
    if _empty(df, y):
        return None
    fig = px.bar(df, x=x, y=y, color=color, barmode="stack", labels={x: "", y: "", color: ""})
    fig.update_traces(hovertemplate=_hover(fmt, currency))
    fig.update_yaxes(**axis_format(fmt, currency))
    return _finish(fig, title, x=x)


def share(df: pd.DataFrame, names: str, values: str, title: str, top: int = 8) -> go.Figure | None:
    """A donut of each category's share of an additive measure; categories beyond ``top`` become "other"."""
    if _empty(df, values) or float(df[values].fillna(0).sum()) <= 0:
        return None
    ranked = df[[names, values]].sort_values(values, ascending=False)
    if len(ranked) > top:
        rest = pd.DataFrame({names: ["(other)"], values: [ranked[values].iloc[top:].sum()]})
        ranked = pd.concat([ranked.iloc[:top], rest], ignore_index=True)
    fig = px.pie(ranked, names=names, values=values, hole=0.55)
    fig.update_traces(textinfo="percent+label", textposition="inside", sort=False)
    fig = _finish(fig, title)
    fig.update_layout(hovermode="closest", showlegend=False)
    return fig
