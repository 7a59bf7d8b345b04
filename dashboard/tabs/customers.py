"""Customer Revenue: customers, repeat behaviour, payment methods, new vs repeat revenue, country and channel mix."""

from __future__ import annotations

import streamlit as st

from dashboard import charts
from dashboard.filters import orders_where
from dashboard.ui import Page, chart, column_config, data_table, kpi_cards

MART = "mart_orders"
KPIS = ("customers", "repeat_purchase_rate", "orders_per_customer", "aov")
REVENUE_KPIS = ("revenue", "new_customer_revenue", "repeat_customer_revenue")
MIX_KPIS = ("revenue", "orders", "customers", "aov")
CUSTOMER_TYPES = {"new": "New customers", "repeat": "Repeat customers", "guest": "Guest checkouts"}


def render(p: Page) -> None:
    """Draw the tab for the page's filters."""
    where, previous = orders_where(p.filters), orders_where(p.filters.previous())
    kpi_cards(p, KPIS, MART, where, previous)
    kpi_cards(p, REVENUE_KPIS, MART, where, previous)

    left, right = st.columns(2)
    with left:
        payments = p.kpi_frame(("orders", "revenue", "aov"), MART, where, group_by=("payment_method",))
        payments = payments.sort_values("orders", ascending=False)
        fig = charts.bars(
            payments, "payment_method", {"orders": "Orders"}, "Orders by payment method", "count", p.currency, True
        )
        chart(fig, "cust_payment")
        data_table(
            payments,
            "orders_by_payment_method",
            column_config(p, ("orders", "revenue", "aov")),
            {"payment_method": "Payment method"},
        )
    with right:
        monthly = p.kpi_frame(("revenue", "orders"), MART, where, group_by=("order_month", "customer_type"))
        monthly["customer_type"] = monthly["customer_type"].map(CUSTOMER_TYPES).fillna(monthly["customer_type"])
        fig = charts.stacked_by(
            monthly, "order_month", "customer_type", "revenue", "New vs repeat revenue by month", "money", p.currency
        )
        chart(fig, "cust_new_repeat")
        data_table(
            monthly,
            "revenue_by_month_and_customer_type",
            column_config(p, ("revenue", "orders")),
            {"order_month": "Month", "customer_type": "Customer type"},
        )

    left, right = st.columns(2)
    with left:
        countries = p.kpi_frame(MIX_KPIS, MART, where, group_by=("country",))
        countries["country"] = countries["country"].fillna("(unknown)")
        countries = countries.sort_values("revenue", ascending=False)
        chart(charts.share(countries, "country", "revenue", "Revenue share by country"), "cust_country")
        data_table(countries, "revenue_by_country", column_config(p, MIX_KPIS), {"country": "Country"})
    with right:
        channels = p.kpi_frame(MIX_KPIS, MART, where, group_by=("channel",))
        channels["channel"] = channels["channel"].fillna("(unknown)")
        channels = channels.sort_values("revenue", ascending=False)
        chart(charts.share(channels, "channel", "revenue", "Revenue share by channel"), "cust_channel")
        data_table(channels, "revenue_share_by_channel", column_config(p, MIX_KPIS), {"channel": "Channel"})
    st.caption(
        "A customer is a contact with an order in the period; guest checkouts count as orders but not customers. "
        "Repeat: an order that is not the contact's first ever (lifetime order number 2+)."
    )
