"""The reporting dashboard (Streamlit + Plotly) on the Gold marts: replaces the Power BI report.

Run it with ``mdw dashboard`` (or ``make dashboard``). It only reads: short-lived read-only DuckDB
connections locally, parameterised BigQuery queries in the prod target.
"""
