"""Marketing DWH dashboard: ``streamlit run dashboard/app.py`` (or ``mdw dashboard``). Reads the Gold marts only."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

if __package__ in (None, ""):  # `streamlit run dashboard/app.py` runs this file as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# the dashboard never runs inside Airflow: keep dlt from importing it to look for Airflow-held secrets
os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")

from dashboard.loads import half_loaded, notice  # noqa: E402
from dashboard.runs import data_as_of  # noqa: E402
from dashboard.sidebar import sidebar_filters  # noqa: E402
from dashboard.tabs import acquisition, customers, executive, health  # noqa: E402
from dashboard.ui import page, warehouse  # noqa: E402
from dashboard.warehouse import WarehouseUnavailable  # noqa: E402

st.set_page_config(page_title="Marketing DWH", page_icon=":material/monitoring:", layout="wide")
st.title("Marketing DWH")
try:
    st.caption(data_as_of())
    filters = sidebar_filters()
    p = page(filters)
    tabs = st.tabs(["Executive Overview", "Acquisition & Ads", "Customer Revenue", "Pipeline Health"])
    unfinished = half_loaded()  # sources a killed run left half-loaded: said above every tab's numbers
    with tabs[0]:
        notice(unfinished)
        executive.render(p)
    with tabs[1]:
        notice(unfinished)
        acquisition.render(p)
    with tabs[2]:
        notice(unfinished)
        customers.render(p)
    with tabs[3]:
        health.render()
    st.caption(f"Source: {warehouse().describe()}. KPIs: `vars.kpis` in transformations/dbt_project.yml.")
except WarehouseUnavailable as exc:
    st.warning(str(exc), icon=":material/database:")
    st.button("Retry")
