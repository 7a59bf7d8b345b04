"""The sidebar: date range (with presets anchored at the newest data day), channel, campaign, country, utm_source."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from dashboard.filters import PRESETS, Filters, Period, preset_period
from dashboard.ui import query, table_name


def _options() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    orders, ads = table_name("gold", "mart_orders"), table_name("gold", "mart_acquisition_daily")
    bounds = query(
        f"select min(day) as first_day, max(day) as last_day from ("
        f"select order_date as day from {orders} union all select date_day as day from {ads}) as days"
    )
    campaigns = query(
        f"select campaign_id, coalesce(max(campaign_name), campaign_id) as campaign_name from ("
        f"select campaign_id, campaign_name from {orders} union all select campaign_id, campaign_name from {ads}"
        ") as campaigns where campaign_id is not null group by campaign_id order by campaign_name, campaign_id"
    )
    values = query(
        f"select 'channel' as dimension, channel as value from {orders} where channel is not null "
        f"union distinct select 'channel', channel from {ads} where channel is not null "
        f"union distinct select 'country', country from {orders} where country is not null "
        f"union distinct select 'utm_source', utm_source from {orders} where utm_source is not null "
        "order by dimension, value"
    )
    return bounds, campaigns, values


def _day(value: object, default: date) -> date:
    return default if value is None or pd.isna(value) else pd.Timestamp(value).date()


def sidebar_filters() -> Filters:
    """Draw the filters and return the selection; every filter defaults to everything."""
    bounds, campaigns, values = _options()
    today = date.today()
    first = _day(bounds["first_day"].iloc[0] if not bounds.empty else None, today)
    last = _day(bounds["last_day"].iloc[0] if not bounds.empty else None, today)
    with st.sidebar:
        st.header("Filters")
        preset = st.selectbox("Date range", list(PRESETS), format_func=PRESETS.__getitem__, key="preset")
        custom = None
        if preset == "custom":
            picked = st.date_input("From – to", value=(first, last), key="custom_range")
            if isinstance(picked, tuple | list) and len(picked) == 2:
                custom = Period(picked[0], picked[1])
        period = preset_period(preset, first, last, custom)
        st.caption(f"{period.label()}  \nCompared with {period.previous().label()}")
        if preset not in ("all", "custom"):
            st.caption(f"Presets end at the newest data day, {last:%Y-%m-%d}.")

        def options(dimension: str) -> list[str]:
            return values.loc[values["dimension"] == dimension, "value"].astype(str).tolist()

        channels = st.multiselect("Channel", options("channel"), placeholder="All channels", key="channels")
        names = dict(zip(campaigns["campaign_id"].astype(str), campaigns["campaign_name"].astype(str), strict=True))
        chosen_campaigns = st.multiselect(
            "Campaign", list(names), format_func=lambda c: names.get(c, c), placeholder="All campaigns", key="campaigns"
        )
        countries = st.multiselect("Country", options("country"), placeholder="All countries", key="countries")
        utm_sources = st.multiselect("utm_source", options("utm_source"), placeholder="All sources", key="utm_sources")
    return Filters(period, tuple(channels), tuple(chosen_campaigns), tuple(countries), tuple(utm_sources))
