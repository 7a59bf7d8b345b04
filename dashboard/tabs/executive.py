"""Executive Overview: orders, revenue, AOV and repeat purchase rate; revenue by day, month and channel."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.filters import orders_where
from dashboard.ui import Page, chart, column_config, data_table, kpi_cards

KPIS = ("orders", "revenue", "aov", "repeat_purchase_rate")
MART = "mart_orders"


def render(p: Page) -> None:
    """Draw the tab for the page's filters."""
    where, previous = orders_where(p.filters), orders_where(p.filters.previous())
    kpi_cards(p, KPIS, MART, where, previous)

    daily = p.kpi_frame(("revenue", "orders"), MART, where, group_by=("order_date",))
    if not daily.empty:  # a day without orders is a day with 0 revenue, not a gap (both measures are additive)
        days = pd.date_range(p.filters.period.start, p.filters.period.end, name="order_date")
        daily = daily.set_index(pd.to_datetime(daily["order_date"])).drop(columns="order_date")
        daily = daily.reindex(days, fill_value=0).reset_index()
    chart(charts.line(daily, "order_date", "revenue", "Revenue by day", "money", p.currency, "Revenue"), "exec_daily")

    left, right = st.columns(2)
    monthly = p.kpi_frame(("revenue", "orders", "aov"), MART, where, group_by=("order_month",))
    with left:
        fig = charts.bar_with_line(
            monthly,
            "order_month",
            ("revenue", "Revenue", "money"),
            ("orders", "Orders", "count"),
            "Monthly revenue and orders",
            p.currency,
        )
        chart(fig, "exec_monthly")
        data_table(monthly, "monthly_revenue", column_config(p, ("revenue", "orders", "aov")), {"order_month": "Month"})

    by_channel = p.kpi_frame(("revenue", "orders", "aov"), MART, where, group_by=("channel",))
    by_channel = by_channel.sort_values("revenue", ascending=False)
    with right:
        fig = charts.bars(
            by_channel, "channel", {"revenue": "Revenue"}, "Revenue by channel", "money", p.currency, True
        )
        chart(fig, "exec_channel")
        data_table(
            by_channel, "revenue_by_channel", column_config(p, ("revenue", "orders", "aov")), {"channel": "Channel"}
        )
    st.caption("Channel is the attributed marketing channel of the order (see the attribution model in dbt).")
