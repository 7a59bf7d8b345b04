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

FAVICON = Path(__file__).resolve().parent / "favicon.png"
HEALTH = "Pipeline Health"
DATA_TABS = {
    "Executive Overview": executive.render,
    "Acquisition & Ads": acquisition.render,
    "Customer Revenue": customers.render,
}
TABS = (*DATA_TABS, HEALTH)

# a local file: a Material icon or an emoji as page_icon makes the browser fetch the favicon from the internet
st.set_page_config(page_title="Marketing DWH", page_icon=str(FAVICON), layout="wide")
st.title("Marketing DWH")
try:
    with warehouse().shared_connection():  # one read-only connection per page run, closed at its end
        st.caption(data_as_of())
        filters = sidebar_filters()
        p = page(filters)
        # only the open tab runs (a tab switch reruns the app): a filter change recomputes one tab, not four
        tabs = dict(zip(TABS, st.tabs(TABS, key="tab", on_change="rerun"), strict=True))
        unfinished = half_loaded()  # sources a killed run left half-loaded: said above every tab's numbers
        for name, tab in tabs.items():
            if tab.open is False:
                continue
            with tab:
                if name == HEALTH:
                    health.render()
                else:
                    notice(unfinished)
                    DATA_TABS[name](p)
        st.caption(f"Source: {warehouse().describe()}. KPIs: `vars.kpis` in transformations/dbt_project.yml.")
except WarehouseUnavailable as exc:
    st.warning(str(exc), icon=":material/database:")
    st.button("Retry")
