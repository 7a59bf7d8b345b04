"""The dashboard: KPI SQL from the catalogue, parameterised filters, read-only access, and a browser test.

The browser test builds the demo warehouse, starts ``mdw dashboard`` on a free port, drives Debian's headless
Chromium through playwright and checks the KPI cards against SQL written here by hand on the Gold star schema
(``fact_orders``, ``dim_contacts``, ``fct_ad_performance_daily``, ``dim_campaign``), never the dashboard's code.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager, redirect_stdout
from datetime import UTC, date, timedelta
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import duckdb
import pandas as pd
import pytest
from test_plugins import install_fixture_plugin

from conftest import KILLING_CHILD, REPO, order_row, warehouse_copy, write_orders
from dashboard.filters import (
    NO_AD_PLATFORM,
    Filters,
    Period,
    PlatformChoices,
    acquisition_where,
    orders_where,
    preset_period,
)
from dashboard.kpis import KpiCatalogueError, format_delta, format_number, load_catalogue, parse_catalogue
from dashboard.loads import unfinished_rows_sql
from dashboard.warehouse import (
    BigQueryWarehouse,
    DuckDBWarehouse,
    WarehouseUnavailable,
    bigquery_parameters,
    bigquery_sql,
)
from marketing_dwh.registry import SourcePlugin, discover, no_sandbox
from pipelines.cli import main
from pipelines.targets import Target

# duckdb's DataFrame conversion calls a pandas API that pandas 3 deprecates (not ours to fix)
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.drop:DeprecationWarning")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO / "docs" / "screenshots"
TABS = {
    "Executive Overview": "executive_overview",
    "Acquisition & Ads": "acquisition_ads",
    "Customer Revenue": "customer_revenue",
    "Pipeline Health": "pipeline_health",
}
NASTY = ("O'Brien", "'; drop table mart_orders; --", "x') or ('1'='1", 'back\\slash "double" ?')


# ---- KPI catalogue -> SQL -------------------------------------------------------------------------------------


def test_ratio_kpis_divide_aggregates_with_nullif() -> None:
    cat = load_catalogue()
    assert cat.expression("revenue") == "coalesce(sum(revenue), 0)"
    assert cat.expression("aov") == "(coalesce(sum(revenue), 0)) / nullif((count(*)), 0)"
    assert cat.expression("ctr") == "(coalesce(sum(clicks), 0)) / nullif((coalesce(sum(impressions), 0)), 0)"
    assert "ctr" not in cat.expression("ctr")  # rendered from its parts, never a stored ratio column
    assert (
        cat.select_list(["orders", "aov"])
        == "count(*) as orders,\n    (coalesce(sum(revenue), 0)) / nullif((count(*)), 0) as aov"
    )


def test_ratios_are_computed_after_aggregation_at_the_grain_shown() -> None:
    cat = load_catalogue()
    con = duckdb.connect()
    con.execute(
        "create table ads as select * from (values"
        " (date '2026-10-01', 'a', 1000, 10), (date '2026-10-01', 'b', 10, 5), (date '2026-10-02', 'a', 0, 0))"
        " as t(date_day, campaign_id, impressions, clicks)"
    )
    total = con.execute(f"select {cat.select_list(['ctr'])} from ads").fetchone()
    assert total == pytest.approx((15 / 1010,))  # not the mean of 1% and 50%
    by_day = con.execute(
        f"select date_day, {cat.select_list(['ctr'])} from ads group by date_day order by 1"
    ).fetchall()
    assert by_day == [(date(2026, 10, 1), pytest.approx(15 / 1010)), (date(2026, 10, 2), None)]  # 0 / 0 is null


def test_every_catalogue_kpi_renders_and_runs_on_its_mart() -> None:
    cat = load_catalogue()
    columns = {
        "mart_orders": "order_id varchar, contact_id varchar, customer_order_number int, revenue decimal(18, 2),"
        " gross_revenue decimal(18, 2), refunded_revenue decimal(18, 2)",
        "mart_acquisition_daily": "spend decimal(18, 2), impressions bigint, clicks bigint, conversions decimal(18, 4),"
        " conversion_value decimal(18, 2), attributed_revenue decimal(18, 2), has_spend_data boolean,"
        " new_customers bigint",
    }
    con = duckdb.connect()
    for mart, cols in columns.items():
        con.execute(f"create table {mart} ({cols})")
        names = [k.name for k in cat.kpis.values() if k.mart == mart]
        assert names, mart
        con.execute(f"select {cat.select_list(names)} from {mart}").fetchall()
    for kpi in cat.kpis.values():
        assert kpi.label and kpi.description and kpi.format in ("count", "money", "percent", "ratio")


def test_catalogue_rejects_ratios_across_marts_and_unknown_parts() -> None:
    base = {"a": {"label": "A", "mart": "m1", "format": "count", "sql": "count(*)"}}
    with pytest.raises(KpiCatalogueError, match="is a KPI of m1"):
        parse_catalogue(
            {"vars": {"kpis": {**base, "r": {"label": "R", "mart": "m2", "format": "ratio", "ratio": ["a", "a"]}}}}
        )
    with pytest.raises(KpiCatalogueError, match="unknown KPI 'b'"):
        parse_catalogue(
            {"vars": {"kpis": {**base, "r": {"label": "R", "mart": "m1", "format": "ratio", "ratio": ["a", "b"]}}}}
        )
    with pytest.raises(KpiCatalogueError, match="exactly one"):
        parse_catalogue({"vars": {"kpis": {"x": {"label": "X", "mart": "m1", "format": "count"}}}})


def test_formats() -> None:
    assert format_number("money", 68376.14) == "€68,376.14"  # cents everywhere, as the tables show money
    assert format_number("money", 84.516) == "€84.52"
    assert format_number("percent", 0.17937) == "17.94%"
    assert format_number("count", 1209145.0) == "1,209,145"
    assert format_number("ratio", None) == "–"
    assert format_delta("money", 110, 100) == "+10.0%"
    assert format_delta("percent", 0.20, 0.15) == "+5.00 pp"
    assert format_delta("count", 5, 0) is None  # no previous data: no change to show


# ---- filters: parameters only, previous period -------------------------------------------------------------------


def test_previous_period_has_the_same_length_immediately_before() -> None:
    period = Period(date(2026, 10, 2), date(2026, 10, 31))
    assert period.days == 30
    assert period.previous() == Period(date(2026, 9, 2), date(2026, 10, 1))
    first, last = date(2026, 8, 1), date(2026, 10, 31)
    assert preset_period("last_7", first, last) == Period(date(2026, 10, 25), last)
    assert preset_period("mtd", first, last) == Period(date(2026, 10, 1), last)
    assert preset_period("all", first, last) == Period(first, last)
    assert preset_period("custom", first, last, Period(last, first)) == Period(first, last)


@pytest.mark.parametrize("value", NASTY)
def test_filter_values_reach_sql_only_as_parameters(value: str) -> None:
    filters = Filters(Period(date(2026, 1, 1), date(2026, 1, 31)), channels=(value,), countries=(value, "DE"))
    where = orders_where(filters)
    assert value not in where.sql and "DE" not in where.sql and "2026" not in where.sql
    assert where.params["channels"] == [value] and where.params["countries"] == [value, "DE"]
    con = duckdb.connect()
    con.execute("create table mart_orders (order_date date, channel varchar, campaign_id varchar, country varchar)")
    con.execute("alter table mart_orders add column utm_source varchar")
    con.execute("insert into mart_orders values (date '2026-01-05', ?, null, ?, null)", [value, value])
    con.execute("insert into mart_orders values (date '2026-01-05', 'x', null, 'DE', null)")
    rows = con.execute(f"select channel, country from mart_orders {where}", where.params).fetchall()
    assert rows == [(value, value)]
    assert con.execute("select count(*) from mart_orders").fetchone() == (2,)  # nothing was executed from the value


def test_spend_side_filters_ignore_country_and_utm_source() -> None:
    filters = Filters(
        Period(date(2026, 1, 1), date(2026, 1, 31)), channels=("facebook",), countries=("DE",), utm_sources=("x",)
    )
    where = acquisition_where(filters)
    assert set(where.params) == {"start_date", "end_date", "channels"}
    assert "date_day between $start_date and $end_date" in where.sql
    assert filters.not_applicable_to_spend() == ["country", "utm_source"]
    assert Filters(filters.period, channels=("facebook",)).not_applicable_to_spend() == []
    assert filters.previous().period == Period(date(2025, 12, 1), date(2025, 12, 31))


def test_platform_choices_list_ad_platforms_then_the_rest_as_one_choice() -> None:
    choices = PlatformChoices(("google_ads", "meta"), ("direct", "email"))
    assert choices.options() == ["google_ads", "meta", NO_AD_PLATFORM]
    assert choices.platforms([]) == ()  # nothing chosen: every platform
    assert choices.platforms(["meta", NO_AD_PLATFORM]) == ("meta", "direct", "email")
    assert PlatformChoices(("meta",)).options() == ["meta"]  # no other platforms: no "(no ad platform)" choice
    where = acquisition_where(Filters(Period(date(2026, 1, 1), date(2026, 1, 31)), platforms=("meta", "direct")))
    assert "platform in (select * from unnest($platforms))" in where.sql
    assert where.params["platforms"] == ["meta", "direct"]
    con = duckdb.connect()
    rows = "('meta'), ('google_ads'), ('direct'), (null)"
    con.execute(f"create table mart as from (values {rows}) t(platform)")
    for group, labels in (
        (choices.group(), ["google_ads", "meta", NO_AD_PLATFORM, NO_AD_PLATFORM]),
        (PlatformChoices((), ("direct",)).group(), [NO_AD_PLATFORM] * 4),  # no ad platform installed
    ):
        got = con.execute(f"select {group} as label from mart order by platform", group.params).fetchall()
        assert sorted(label for (label,) in got) == sorted(labels)


# ---- warehouse readers -----------------------------------------------------------------------------------------


def _holding_writer(path: Path) -> subprocess.Popen[str]:
    """Another process that holds the DuckDB write lock until its stdin closes."""
    code = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1]); con.execute('insert into gold.t values (2)'); "
        "print('ready', flush=True); sys.stdin.read(); con.close()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_duckdb_reader_releases_the_file_between_queries(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with closing(duckdb.connect(str(path))) as con:
        con.execute("create schema gold; create table gold.t (x int); insert into gold.t values (1)")
    reader = DuckDBWarehouse(path, retries=1, retry_wait_s=0.05)
    assert reader.query(f"select count(*) as n from {reader.table('gold', 't')}")["n"].iloc[0] == 1
    # the dashboard is idle: a pipeline (another process) can open the warehouse for writing
    writer = _holding_writer(path)
    try:
        # ... and while it writes, the reader says so instead of failing obscurely
        with pytest.raises(WarehouseUnavailable, match="being written"):
            reader.query("select 1")
    finally:
        writer.communicate("", timeout=30)
    assert writer.returncode == 0
    frames = reader.query_many([("select count(*) as n from gold.t", None), ("select $x as x", {"x": "O'Brien"})])
    assert frames[0]["n"].iloc[0] == 2 and frames[1]["x"].iloc[0] == "O'Brien"
    with pytest.raises(WarehouseUnavailable, match="no warehouse"):
        DuckDBWarehouse(tmp_path / "missing.duckdb").query("select 1")


def test_identifiers_come_from_config_and_must_be_plain() -> None:
    reader = DuckDBWarehouse(Path("x.duckdb"), {"gold": "gold_prod"})
    assert reader.table("gold", "mart_orders") == "gold_prod.mart_orders"
    with pytest.raises(ValueError, match="identifier"):
        reader.table("gold", "mart_orders; drop table x")


class _FakeJob:
    def result(self) -> Any:
        return self

    def to_dataframe(self, create_bqstorage_client: bool) -> Any:
        import pandas as pd

        return pd.DataFrame({"n": [1]})


class _FakeClient:
    project = "default-project"

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def query(self, sql: str, job_config: Any, location: str | None = None) -> _FakeJob:
        self.calls.append((sql, job_config))
        return _FakeJob()


def test_bigquery_reader_sends_named_query_parameters() -> None:
    assert bigquery_sql("where d between $start_date and $end_date and c in (select * from unnest($channels))") == (
        "where d between @start_date and @end_date and c in (select * from unnest(@channels))"
    )
    params = {p.name: p for p in bigquery_parameters({"start_date": date(2026, 1, 1), "channels": ["O'Brien"], "n": 3})}
    assert params["start_date"].type_ == "DATE" and params["start_date"].value == date(2026, 1, 1)
    assert params["channels"].array_type == "STRING" and params["channels"].values == ["O'Brien"]
    assert params["n"].type_ == "INT64"

    client = _FakeClient()
    bq = BigQueryWarehouse("my-project", {"gold": "marketing_gold"}, "EU", client=client)
    assert bq.table("gold", "mart_orders") == "`my-project.marketing_gold.mart_orders`"
    assert BigQueryWarehouse(None, client=client).table("ops", "runs") == "`default-project.ops.runs`"
    where = orders_where(Filters(Period(date(2026, 1, 1), date(2026, 1, 31)), channels=("O'Brien",)))
    frame = bq.query(f"select count(*) as n from {bq.table('gold', 'mart_orders')} {where}", where.params)
    assert frame["n"].iloc[0] == 1
    sql, config = client.calls[0]
    assert "O'Brien" not in sql and "@channels" in sql and "$" not in sql
    assert {p.name for p in config.query_parameters} == {"start_date", "end_date", "channels"}


def test_bigquery_reader_lists_a_datasets_columns_from_information_schema() -> None:
    client = _FakeClient()
    BigQueryWarehouse("my-project", {"raw_crm": "crm_raw"}, client=client).columns("raw_crm")
    ((sql, config),) = client.calls
    assert "from `my-project.crm_raw.INFORMATION_SCHEMA.COLUMNS`" in sql and not config.query_parameters


# ---- the browser test -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_dir(demo: tuple[Target, str]) -> Path:
    """The session's demo warehouse (conftest); `mdw demo` ends by saying how to open the dashboard."""
    target, summary = demo
    assert "mdw dashboard" in summary and "make dashboard" in summary
    return target.data_dir


def test_an_empty_selection_renders_no_data(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.chdir(REPO)
    monkeypatch.setenv("MDW__DATA_DIR", str(demo_dir))
    app = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=120).run()
    assert not app.exception
    app.sidebar.selectbox(key="preset").select("custom").run()
    app.sidebar.date_input(key="custom_range").set_value((date(2020, 1, 1), date(2020, 1, 31))).run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Total orders"] == "0" and metrics["Revenue"] == "€0.00" and metrics["AOV"] == "–"
    assert any(info.value == "No data for the selected filters." for info in app.info)
    assert "Ad spend" not in metrics  # only the open tab is computed
    app.session_state["tab"] = "Acquisition & Ads"
    app.run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert "Total orders" not in metrics
    assert metrics["Ad spend"] == "€0.00" and metrics["CAC"] == metrics["Attributed ROAS"] == "–"


def test_runs_share_one_total_order_newest_first() -> None:
    """Runs with the same start are ordered by their end (a running one first), then by run id: every query of the
    dashboard names the same last run, whatever order the rows were written in."""
    from dashboard.runs import runs_sql

    rows = [
        ("a", "2026-10-01 10:00:00+00", "2026-10-01 10:05:00+00"),
        ("b", "2026-10-01 10:00:00+00", "2026-10-01 10:07:00+00"),
        ("c", "2026-10-01 10:00:00+00", "2026-10-01 10:07:00+00"),
        ("d", "2026-10-01 10:00:00+00", None),
        ("e", "2026-09-30 08:00:00+00", "2026-10-02 00:00:00+00"),  # finished last, started long before
    ]
    expected = ["d", "c", "b", "a", "e"]
    for order in (rows, rows[::-1], rows[2:] + rows[:2]):
        con = duckdb.connect()
        con.execute(
            "create table runs (run_id varchar, started_at timestamptz, finished_at timestamptz, command varchar,"
            " target varchar, status varchar, duration_s double, error varchar)"
        )
        con.executemany("insert into runs (run_id, started_at, finished_at) values (?, ?, ?)", order)
        con.execute("set threads = 4")
        assert [r[-1] for r in con.execute(runs_sql("runs", 10)).fetchall()] == expected


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dashboard_command(monkeypatch: pytest.MonkeyPatch, data_dir: Path, port: int) -> list[str]:
    """The command ``mdw dashboard --port PORT`` runs (it replaces itself with streamlit: captured, not run)."""
    calls: list[tuple[str, list[str], dict[str, str]]] = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: calls.append((path, argv, env)))
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("MDW__DATA_DIR", str(data_dir))
    monkeypatch.setenv("MDW__TARGET", "local")
    with redirect_stdout(StringIO()):
        assert main(["dashboard", "--port", str(port)]) == 0
    ((path, argv, env),) = calls
    assert path == sys.executable and env["MDW__DATA_DIR"] == str(data_dir.resolve()) and env["MDW__TARGET"] == "local"
    return argv


def test_mdw_dashboard_runs_streamlit_on_localhost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = dashboard_command(monkeypatch, tmp_path / "data", 8600)
    assert argv[1:4] == ["-m", "streamlit", "run"] and argv[4] == str(REPO / "dashboard" / "app.py")
    options = dict(zip(argv[5::2], argv[6::2], strict=True))
    assert options == {
        "--server.address": "127.0.0.1",
        "--server.port": "8600",
        "--server.headless": "true",
        "--browser.gatherUsageStats": "false",
    }


@contextmanager
def dashboard(data_dir: Path, log: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """The command of ``mdw dashboard`` on a free port, as a subprocess; yields its URL once /_stcore/health answers.

    ``env``: more environment variables for it (``PYTHONPATH`` of an installed plugin)."""
    port = _free_port()
    with pytest.MonkeyPatch.context() as mp:
        argv = dashboard_command(mp, data_dir, port)
    env = {**os.environ, **(env or {}), "MDW__DATA_DIR": str(data_dir), "MDW__TARGET": "local"}
    with log.open("w") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"dashboard did not start:\n{log.read_text()}"
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sql(data_dir: Path, query: str, params: list[Any] | None = None) -> tuple[Any, ...]:
    """One row, computed by hand on the demo warehouse (a fresh read-only connection, closed again)."""
    with closing(duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)) as con:
        row = con.execute(query, params or []).fetchone()
    assert row is not None
    return tuple(float(v) if v is not None and not isinstance(v, str | date) else v for v in row)


def column(data_dir: Path, query: str) -> list[Any]:
    """The first column of every row, computed by hand on the warehouse."""
    with closing(duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)) as con:
        return [row[0] for row in con.execute(query).fetchall()]


_VISIBLE_METRICS = """() => [...document.querySelectorAll('[data-testid="stMetric"]')]
  .filter(el => el.offsetParent !== null)
  .map(el => ({
    label: el.querySelector('[data-testid="stMetricLabel"]')?.innerText.trim(),
    value: el.querySelector('[data-testid="stMetricValue"]')?.innerText.trim(),
    delta: el.querySelector('[data-testid="stMetricDelta"]')?.innerText.trim() ?? null,
  }))"""
_IDLE = """() => !document.querySelector('[data-testid="stStatusWidget"]')
  && !document.querySelector('[data-stale="true"]') && !document.querySelector('[data-testid="stSpinner"]')"""


def _number(text: str) -> tuple[float, int]:
    """A displayed number and how many decimals it shows (``€68,376`` -> (68376.0, 0); ``17.94%`` -> (17.94, 2))."""
    match = re.search(r"[-+]?[\d,]+(?:\.(\d+))?", text)
    assert match, f"no number in {text!r}"
    return float(match.group(0).replace(",", "")), len(match.group(1) or "")


def _mismatches(shown: dict[str, dict[str, Any]], expected: dict[str, float], deltas: dict[str, float]) -> list[str]:
    problems = []
    for label, value in expected.items():
        if label not in shown:
            problems.append(f"{label}: no card")
            continue
        number, decimals = _number(shown[label]["value"])
        if abs(number - value) > 0.5 * 10**-decimals + 1e-9:
            problems.append(f"{label}: shows {shown[label]['value']!r}, SQL says {value:.4f}")
    for label, change in deltas.items():
        text = (shown.get(label) or {}).get("delta")
        if not text:
            problems.append(f"{label}: no delta, SQL says {change:+.2f}")
            continue
        number, decimals = _number(text)
        if abs(number - change) > 0.5 * 10**-decimals + 1e-9:
            problems.append(f"{label}: delta {text!r}, SQL says {change:+.3f}")
    return problems


def wait_for_cards(
    page: Any, expected: dict[str, float], deltas: dict[str, float] | None = None, timeout: float = 45
) -> dict[str, dict[str, Any]]:
    """Wait until the visible KPI cards show the expected values (and the app is idle); fail with the differences."""
    deadline = time.monotonic() + timeout
    while True:
        page.wait_for_function(_IDLE, timeout=timeout * 1000)
        shown = {m["label"]: m for m in page.evaluate(_VISIBLE_METRICS)}
        problems = _mismatches(shown, expected, deltas or {})
        if not problems:
            return shown
        if time.monotonic() > deadline:
            raise AssertionError("KPI cards differ from SQL:\n" + "\n".join(problems))
        page.wait_for_timeout(250)


_OPEN_PANEL_DRAWN = """() => [...document.querySelectorAll('[role="tabpanel"]')]
  .some(el => el.offsetParent !== null && el.querySelector('[data-testid="stElementContainer"]'))"""


def open_tab(page: Any, name: str) -> None:
    """Open a tab and wait until it is drawn: only the open tab is computed, so a switch reruns the app and the
    panel stays empty until that rerun has drawn it."""
    page.get_by_role("tab", name=name, exact=True).click()
    page.wait_for_function(_OPEN_PANEL_DRAWN)
    page.wait_for_function(_IDLE)


def pick(page: Any, widget: str, label: str, option: str, where: Any = None) -> None:
    """Choose ``option`` in the select / multiselect labelled ``label``: in the sidebar, or in ``where``."""
    box = (where or page.get_by_test_id("stSidebar")).get_by_test_id(widget).filter(has_text=label)
    box.click()
    page.keyboard.type(option)  # narrows long option lists (they are virtualised)
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def options_of(page: Any, where: Any, label: str) -> list[str]:
    """The options a multiselect in ``where`` offers (opened, read once listed, closed again)."""
    where.get_by_test_id("stMultiSelect").filter(has_text=label).click()
    listed = page.get_by_role("option")
    listed.first.wait_for(state="visible")
    names = [text.strip() for text in listed.all_inner_texts()]
    page.keyboard.press("Escape")
    return [name for name in names if name != "Select all"]  # Streamlit's own first entry


# the open tab's tables: st.dataframe draws on a canvas and keeps an accessible copy of the rendered cells (the
# columns in view) in a hidden <table role="grid">
_VISIBLE_GRIDS = """() => [...document.querySelectorAll('[data-testid="stDataFrame"]')]
  .filter(el => el.offsetParent !== null)
  .map(el => ({
    headers: [...el.querySelectorAll('table[role="grid"] thead th')].map(th => th.innerText.trim()),
    // the grid's scroller is wider than the table: a column is cut off, read only by scrolling sideways
    overflow: (s => s ? s.scrollWidth - s.clientWidth : 0)(el.querySelector('.dvn-scroller')),
    rows: [...el.querySelectorAll('table[role="grid"] tbody tr')]
      .map(tr => [...tr.querySelectorAll('td')].map(td => td.innerText.trim())),
  }))"""


_SCROLL_TO_GRID = """(first) => [...document.querySelectorAll('[data-testid="stDataFrame"]')]
  .filter(el => el.offsetParent !== null)
  .filter(el => (el.querySelector('table[role="grid"] thead th')?.innerText || '').trim() === first)
  .forEach(el => el.scrollIntoView({block: 'start'}))"""


def wait_for_rows(page: Any, first_header: str, check: Any, timeout: float = 45) -> dict[str, dict[str, str]]:
    """Wait until the open tab's table whose first column is ``first_header`` passes ``check`` (rows by their first
    cell -> {header: text}; returns problems, empty when they hold); fail with the last problems."""
    deadline = time.monotonic() + timeout
    while True:
        page.wait_for_function(_IDLE, timeout=timeout * 1000)
        page.evaluate(_SCROLL_TO_GRID, first_header)  # the grid renders the rows of its part in the window only
        grids = [g for g in page.evaluate(_VISIBLE_GRIDS) if g["headers"][:1] == [first_header]]
        rows = {r[0]: dict(zip(g["headers"], r, strict=False)) for g in grids for r in g["rows"] if r}
        problems = check(rows) if grids else [f"no table with the first column {first_header!r}"]
        if not problems:
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"table {first_header!r}:\n" + "\n".join(problems) + f"\nrows: {rows}")
        page.wait_for_timeout(250)


def screenshot(page: Any, folder: Path, name: str) -> Path:
    page.wait_for_function(_IDLE)
    page.wait_for_timeout(400)  # plotly finishes its transition
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def pct(numerator: float | None, denominator: float | None) -> float:
    return 100 * (numerator or 0) / denominator if denominator else float("nan")


def change(current: float, previous: float) -> float:
    return 100 * (current - previous) / abs(previous)


def executive_expected(data: Path, start: date, end: date, channel: str | None = None) -> dict[str, float]:
    """Orders, revenue, AOV, repeat rate from fact_orders (attributed channel), by hand."""
    where = "order_date_utc between ? and ?" + (" and attributed_channel = ?" if channel else "")
    params: list[Any] = [start, end] + ([channel] if channel else [])
    orders, revenue, customers, repeaters = sql(
        data,
        "select count(*), sum(net_amount_reporting), count(distinct contact_id),"
        f" count(distinct contact_id) filter (where customer_order_number >= 2) from gold.fact_orders where {where}",
        params,
    )
    return {
        "Total orders": orders,
        "Revenue": revenue or 0,
        "AOV": (revenue or 0) / orders,
        "Repeat purchase rate": pct(repeaters, customers),
    }


def acquisition_expected(data: Path, start: date, end: date, channel: str | None = None) -> dict[str, float]:
    """Spend-side KPIs from fct_ad_performance_daily (+ dim_campaign's channel), by hand."""
    where = "f.date_day between ? and ?" + (" and c.channel = ?" if channel else "")
    params: list[Any] = [start, end] + ([channel] if channel else [])
    spend, impressions, clicks, conversions = sql(
        data,
        "select coalesce(sum(f.spend_reporting), 0), coalesce(sum(f.impressions), 0), coalesce(sum(f.clicks), 0),"
        " coalesce(sum(f.conversions), 0) from gold.fct_ad_performance_daily as f"
        f" left join gold.dim_campaign as c on f.campaign_id = c.campaign_id where {where}",
        params,
    )
    return {
        "Ad spend": spend,
        "Impressions": impressions,
        "Clicks": clicks,
        "CTR": pct(clicks, impressions),
        "CPC": spend / clicks,
        "Cost per conversion": spend / conversions,
    }


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def platform_expected(data: Path, platforms: list[str] | None = None) -> dict[str, float]:
    """Acquisition KPIs of some platforms (None: all) over all time, by hand: spend from fct_ad_performance_daily by
    its platform; attributed orders from fact_orders by the platform of their attributed campaign in dim_campaign
    (their attributed channel when they have no campaign)."""
    spend_where = "true" if platforms is None else "list_contains(?, platform)"
    order_where = "true" if platforms is None else "list_contains(?, coalesce(c.platform, o.attributed_channel))"
    params = [] if platforms is None else [platforms]
    spend, impressions, clicks, conversions, value = sql(
        data,
        "select coalesce(sum(spend_reporting), 0), coalesce(sum(impressions), 0), coalesce(sum(clicks), 0),"
        " coalesce(sum(conversions), 0), coalesce(sum(conversion_value_reporting), 0)"
        f" from gold.fct_ad_performance_daily where {spend_where}",
        params,
    )
    _, paid_revenue, new_customers = sql(
        data,
        "select coalesce(sum(o.net_amount_reporting), 0),"
        " coalesce(sum(o.net_amount_reporting) filter (where c.has_spend_data), 0),"
        " count(*) filter (where o.customer_order_number = 1)"
        " from gold.fact_orders as o left join gold.dim_campaign as c on o.attributed_campaign_id = c.campaign_id"
        f" where {order_where}",
        params,
    )
    expected = {
        "Ad spend": spend,
        "Impressions": impressions,
        "Clicks": clicks,
        "Conversions": conversions,
        PAID_REVENUE: paid_revenue,  # the card: revenue of campaigns with spend data, attributed ROAS's numerator
        "New customers": new_customers,
        "CTR": _ratio(100 * clicks, impressions),
        "CPC": _ratio(spend, clicks),
        "Cost per conversion": _ratio(spend, conversions),
        "Platform ROAS": _ratio(value, spend),
        "Attributed ROAS": _ratio(paid_revenue, spend),
        "CAC": _ratio(spend, new_customers),
    }
    return {label: value for label, value in expected.items() if value is not None}


PAID_REVENUE = "Revenue of campaigns with spend"  # the card, short enough not to be cut off


def _rows_are(*names: str) -> Any:
    """A check for :func:`wait_for_rows`: exactly these rows (by their first cell), in any order."""
    return lambda rows: [] if sorted(rows) == sorted(names) else [f"rows {sorted(rows)}, expected {sorted(names)}"]


RERUN_LIMIT_S = 6.0  # the target is 1.5 s: the margin is for a 2-core machine shared with other test runs


def _local(url: str) -> bool:
    """A request that stays on this machine (loopback, or data the page already holds)."""
    parts = urlparse(url)
    return parts.scheme in ("data", "blob") or parts.hostname in ("127.0.0.1", "localhost", "::1")


def time_filter_change(page: Any, widget: str, label: str, option: str, expected: dict[str, float]) -> float:
    """Seconds from choosing ``option`` in a sidebar widget to the visible cards showing ``expected`` (polled every
    20 ms in the page)."""
    box = page.get_by_test_id("stSidebar").get_by_test_id(widget).filter(has_text=label)
    box.click()
    page.keyboard.type(option)
    choice = page.get_by_role("option", name=option, exact=True)
    choice.wait_for(state="visible")
    started = time.monotonic()
    choice.click()
    deadline = started + 45
    while True:
        shown = {m["label"]: m for m in page.evaluate(_VISIBLE_METRICS)}
        if not _mismatches(shown, expected, {}):
            seconds = time.monotonic() - started
            break
        assert time.monotonic() < deadline, "KPI cards differ from SQL:\n" + "\n".join(_mismatches(shown, expected, {}))
        page.wait_for_timeout(20)
    page.keyboard.press("Escape")
    return seconds


def _wait_for_texts(page: Any, expected: dict[str, str], timeout: float = 45) -> None:
    """Wait until the visible cards show exactly these texts (label -> value)."""
    deadline = time.monotonic() + timeout
    while True:
        page.wait_for_function(_IDLE, timeout=timeout * 1000)
        shown = {m["label"]: m["value"] for m in page.evaluate(_VISIBLE_METRICS)}
        problems = [f"{k}: shows {shown.get(k)!r}, expected {v!r}" for k, v in expected.items() if shown.get(k) != v]
        if not problems:
            return
        assert time.monotonic() < deadline, "cards:\n" + "\n".join(problems)
        page.wait_for_timeout(250)


def _last_build_nodes(data: Path) -> str:
    """ "ok / failed" dbt nodes of the newest run with dbt results (newest by start, then end, then id), by hand."""
    ok, failed = sql(
        data,
        "select count(*) filter (where status in ('success', 'pass')),"
        " count(*) filter (where status in ('error', 'fail', 'runtime error')) from ops.dbt_results"
        " where run_id = (select run_id from ops.runs where run_id in (select run_id from ops.dbt_results)"
        " order by started_at desc, finished_at desc nulls first, run_id desc limit 1)",
    )
    return f"{ok:.0f} / {failed:.0f}"


def _without_spend_data(rows: list[str], *more: str) -> Any:
    """A table check: these rows (no spend data) show "–" for CAC / ROAS (and ``more``), never a number or None."""

    def check(shown: dict[str, dict[str, str]]) -> list[str]:
        problems = [f"no row {r!r}" for r in rows if r not in shown]
        for row in rows if not problems else ():
            for header in ("CAC", "Attributed ROAS", *more):
                # the grid's accessible copy holds the raw value: none ('') is drawn as the placeholder "–"
                if header in shown[row] and shown[row][header] not in ("", "–"):
                    problems.append(f"{row} {header}: {shown[row][header]!r}")
        return problems

    return check


def _readable_grids(page: Any) -> None:
    """Every table of the open tab has readable headers (no column names), shows no "None" and fits its width at
    1400 px (no column cut off at the right edge)."""
    for grid in page.evaluate(_VISIBLE_GRIDS):
        assert grid["overflow"] <= 1, f"{grid['headers']} scrolls sideways by {grid['overflow']} px"
        unreadable = [h for h in grid["headers"] if "_" in h and h != "utm_source"]
        assert not unreadable, f"headers {unreadable} in {grid['headers']}"
        nones = [row for row in grid["rows"] if "None" in row]
        assert not nones, f"None shown in {grid['headers']}: {nones[:3]}"


def test_dashboard_in_a_browser(demo_dir: Path, tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    assert shutil.which("chromium") or Path(CHROMIUM).exists(), "Debian chromium is missing: apt-get install chromium"
    data = demo_dir
    first_day, last_day = sql(data, "select min(order_date_utc), max(order_date_utc) from gold.fact_orders")
    ad_last = sql(data, "select max(date_day) from gold.fct_ad_performance_daily")[0]
    last_day = max(last_day, ad_last)
    update_docs = os.environ.get("MDW_UPDATE_SCREENSHOTS") == "1"

    with dashboard(data, tmp_path / "streamlit.log") as url, playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.set_default_timeout(45_000)
        requested: list[str] = []  # every request the page makes, to show that none leaves the machine
        page.on("request", lambda request: requested.append(request.url))
        page.goto(url)
        page.wait_for_selector('[data-testid="stMetricValue"]')
        page.get_by_text("Data as of").wait_for(state="visible")
        # the header names the last run: the newest by start, then end, then run id (by hand), as Pipeline Health
        last_cmd, last_status, last_finished = sql(
            data,
            "select command, status, strftime(finished_at at time zone 'UTC', '%Y-%m-%d %H:%M') from ops.runs"
            " order by started_at desc, finished_at desc nulls first, run_id desc limit 1",
        )
        header = page.get_by_test_id("stCaptionContainer").filter(has_text="Data as of").first.inner_text()
        assert f"Data as of {last_finished} UTC (last pipeline run, {last_cmd})" in header, header

        # default: all time, every channel
        open_tab(page, "Executive Overview")
        wait_for_cards(page, executive_expected(data, first_day, last_day))
        _readable_grids(page)
        screenshot(page, tmp_path, "all_time_executive_overview")

        open_tab(page, "Acquisition & Ads")
        wait_for_cards(page, acquisition_expected(data, first_day, last_day))
        screenshot(page, tmp_path, "all_time_acquisition_ads")

        # the platform filter lists the ad platforms (campaigns with spend data: meta and google_ads, each from its
        # plugin) and one choice for every other row (orders of no ad campaign)
        shown = page.get_by_role("tabpanel")
        ad_platforms = column(data, "select distinct platform from gold.dim_campaign where has_spend_data order by 1")
        assert ad_platforms == ["google_ads", "meta"]
        assert options_of(page, shown, "Ad platform") == [*ad_platforms, NO_AD_PLATFORM]
        wait_for_rows(page, "Platform", _platform_rows(data, "google_ads", "meta", NO_AD_PLATFORM))
        pick(page, "stMultiSelect", "Ad platform", "meta", where=shown)
        wait_for_rows(page, "Platform", _platform_rows(data, "meta"))
        meta = platform_expected(data, ["meta"])
        assert 0 < meta["Ad spend"] < platform_expected(data)["Ad spend"]
        assert 0 < meta[PAID_REVENUE] < platform_expected(data)[PAID_REVENUE]
        wait_for_cards(page, meta)
        shown.get_by_test_id("stMultiSelect").filter(has_text="Ad platform").get_by_label("Clear all").click()
        wait_for_rows(page, "Platform", _platform_rows(data, "google_ads", "meta", NO_AD_PLATFORM))
        wait_for_cards(page, platform_expected(data))
        # a ratio without spend data shows "–" (never €0.00 or None); the revenue card is attributed ROAS's numerator
        no_spend = column(
            data,
            "select c.channel from gold.mart_acquisition_daily as c group by 1 having not bool_or(has_spend_data)"
            " order by 1",
        )
        assert no_spend and "direct" in no_spend
        wait_for_rows(page, "Channel", _without_spend_data(no_spend))
        wait_for_rows(page, "Platform", _without_spend_data([NO_AD_PLATFORM], "Platform ROAS", "CPC"))
        _readable_grids(page)

        open_tab(page, "Customer Revenue")
        customers, repeaters, customer_orders = sql(
            data,
            "select count(*) filter (where order_count > 0), count(*) filter (where order_count > 1),"
            " sum(order_count) from gold.dim_contacts",
        )
        wait_for_cards(
            page,
            {
                "Customers": customers,
                "Repeat purchase rate": pct(repeaters, customers),
                "Avg orders per customer": customer_orders / customers,
            },
        )
        _readable_grids(page)
        screenshot(page, tmp_path, "all_time_customer_revenue")

        open_tab(page, "Pipeline Health")
        assert last_status == "ok"
        nodes = _last_build_nodes(data)
        _wait_for_texts(page, {"Last run": last_status.upper(), "dbt nodes ok / failed": nodes})
        page.get_by_text("Freshness", exact=True).wait_for(state="visible")
        # the empty states say what is empty (the sidebar filters do not apply here)
        shown = page.get_by_role("tabpanel")
        assert sql(data, "select count(*) from ops.run_tables where quarantined > 0 and step <> 'extract'")[0] == 0
        shown.get_by_text("No quarantined rows.", exact=True).wait_for(state="visible")
        assert shown.get_by_text("No data for the selected filters.").count() == 0
        _readable_grids(page)
        # a row per installed plugin, from the registry
        wait_for_rows(page, "plugin", _rows_are(*discover()))
        screenshot(page, tmp_path, "pipeline_health")

        # a date preset: last 30 days, with the change vs the 30 days before; timed from the click on the preset to
        # the updated cards (the issue asks for under 1.5 s on the demo warehouse; asserted with room for a loaded
        # machine, the figure is printed)
        start = last_day - timedelta(days=29)
        before = (start - timedelta(days=30), start - timedelta(days=1))
        open_tab(page, "Executive Overview")
        now, prev = executive_expected(data, start, last_day), executive_expected(data, *before)
        assert now["Total orders"] < executive_expected(data, first_day, last_day)["Total orders"]
        seconds = time_filter_change(page, "stSelectbox", "Date range", "Last 30 days", now)
        print(f"\nfilter change -> updated cards: {seconds:.2f} s (Executive Overview, Last 30 days)")
        assert seconds < RERUN_LIMIT_S, f"a filter change took {seconds:.2f} s to update the cards"
        wait_for_cards(
            page,
            now,
            {
                "Total orders": change(now["Total orders"], prev["Total orders"]),
                "Revenue": change(now["Revenue"], prev["Revenue"]),
                "Repeat purchase rate": now["Repeat purchase rate"] - prev["Repeat purchase rate"],  # in pp
            },
        )
        for title, slug in TABS.items():
            if slug == "pipeline_health":
                continue
            open_tab(page, title)
            if slug == "acquisition_ads":
                ads_now, ads_prev = acquisition_expected(data, start, last_day), acquisition_expected(data, *before)
                wait_for_cards(page, ads_now, {"Ad spend": change(ads_now["Ad spend"], ads_prev["Ad spend"])})
            shot = screenshot(page, tmp_path, f"last_30_days_{slug}")
            if update_docs:
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shot, SCREENSHOTS / f"{slug}.png")

        # a channel: facebook (the attributed channel on orders, the campaign's channel on spend)
        pick(page, "stMultiSelect", "Channel", "facebook")
        open_tab(page, "Executive Overview")
        facebook = executive_expected(data, start, last_day, "facebook")
        assert facebook["Total orders"] < now["Total orders"]
        wait_for_cards(page, facebook)
        screenshot(page, tmp_path, "facebook_executive_overview")
        open_tab(page, "Acquisition & Ads")
        wait_for_cards(page, acquisition_expected(data, start, last_day, "facebook"))
        assert page.get_by_text("does not apply on this tab").count() == 0

        # a country cannot filter spend: the tab says so, and spend stays as it was
        (country,) = sql(
            data,
            "select country from gold.dim_contacts where country is not null group by 1 order by count(*) desc limit 1",
        )
        pick(page, "stMultiSelect", "Country", country)
        # the cards do not change, so they cannot tell that the rerun is done: the note appears when it is
        page.get_by_text("The country filter does not apply on this tab").wait_for(state="visible")
        wait_for_cards(page, acquisition_expected(data, start, last_day, "facebook"))
        screenshot(page, tmp_path, "country_acquisition_ads")
        assert page.locator('[data-testid="stException"]').count() == 0
        browser.close()
    outside = sorted({u for u in requested if not _local(u)})
    assert requested and not outside, f"requests that leave the machine: {outside}"

    for name in ("all_time_executive_overview", "last_30_days_acquisition_ads", "pipeline_health"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000


def test_runs_with_the_same_start_name_one_last_run_in_the_header_and_pipeline_health(
    demo: tuple[Target, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several runs that started at the same moment, and one that started earlier but ended last: the header and
    Pipeline Health's cards name the same run (newest start, then latest end, then run id), on every page load."""
    playwright = pytest.importorskip("playwright.sync_api")
    data = warehouse_copy(demo[0], tmp_path / "data", monkeypatch).data_dir
    runs = [  # run id, command, status, started, finished; "tie_c" is the last run: same start, latest end
        ("tie_a", "run crm", "ok", "2030-01-01 10:00:00+00", "2030-01-01 10:05:00+00"),
        ("tie_c", "run ga4", "failed", "2030-01-01 10:00:00+00", "2030-01-01 10:09:00+00"),
        ("tie_b", "run meta_ads", "ok", "2030-01-01 10:00:00+00", "2030-01-01 10:07:00+00"),
        ("backfill", "backfill 2029-01-01..2029-12-31", "ok", "2029-12-31 08:00:00+00", "2030-01-01 12:00:00+00"),
    ]
    nodes = {"tie_a": ["success"] * 3, "tie_c": ["success", "success", "error"], "tie_b": ["pass"] * 4}
    with closing(duckdb.connect(str(data / "warehouse.duckdb"))) as con:
        for run_id, command, status, started, finished in runs:
            con.execute(
                "insert into ops.runs (run_id, command, target, status, started_at, finished_at, duration_s,"
                " _dlt_load_id, _dlt_id) values (?, ?, 'local', ?, ?, ?, 1.0, 'test', ?)",
                [run_id, command, status, started, finished, run_id],
            )
            for i, node_status in enumerate(nodes.get(run_id, [])):
                con.execute(
                    "insert into ops.dbt_results (run_id, node, status, seconds, _dlt_load_id, _dlt_id)"
                    " values (?, ?, ?, 0.1, 'test', ?)",
                    [run_id, f"model.node_{i}", node_status, f"{run_id}_{i}"],
                )
    assert _last_build_nodes(data) == "2 / 1"

    with dashboard(data, tmp_path / "streamlit.log") as url, playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(2):  # two sessions: the same answer each time
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.set_default_timeout(45_000)
            page.goto(url)
            page.get_by_text("Data as of").wait_for(state="visible")
            header = page.get_by_test_id("stCaptionContainer").filter(has_text="Data as of").first.inner_text()
            assert "Data as of 2030-01-01 10:09 UTC (last pipeline run, run ga4)" in header, header
            assert "that run's status is failed" in header, header
            open_tab(page, "Pipeline Health")
            _wait_for_texts(page, {"Last run": "FAILED", "dbt nodes ok / failed": "2 / 1"})
            caption = page.get_by_text("Last run: ", exact=False).first.inner_text()
            assert "run ga4" in caption and "started 2030-01-01 10:00:00 UTC" in caption, caption
            page.close()
        browser.close()


# ---- ad platforms and plugins come from the data and the registry ------------------------------------------------


def _platform_rows(data: Path, *platforms: str) -> Any:
    """A check for the table by platform: its rows are these platforms, with their spend and clicks by hand."""

    def check(rows: dict[str, dict[str, str]]) -> list[str]:
        problems = _rows_are(*platforms)(rows)
        for platform in platforms if not problems else ():
            expected = platform_expected(data, [platform])
            shown = {label: {"value": rows[platform][label]} for label in ("Ad spend", "Clicks")}
            problems += [f"{platform}: {p}" for p in _mismatches(shown, {k: expected[k] for k in shown}, {})]
        return problems

    return check


def test_google_ads_spend_is_shown_and_split_by_platform_in_the_browser(demo_dir: Path, tmp_path: Path) -> None:
    # the google_ads plugin's rows reach Gold through the ad_platform interface alone; the dashboard shows them
    playwright = pytest.importorskip("playwright.sync_api")
    data = demo_dir
    google, both = platform_expected(data, ["google_ads"]), platform_expected(data, ["google_ads", "meta"])
    total = platform_expected(data)
    raw_spend = sql(data, "select sum(cost) from raw_google_ads.campaign_stats_daily")[0]
    assert 0 < google["Ad spend"] < both["Ad spend"] == total["Ad spend"]
    assert float(raw_spend) == pytest.approx(google["Ad spend"])  # the demo's Google spend is in EUR
    assert 0 < google[PAID_REVENUE] < both[PAID_REVENUE] == total[PAID_REVENUE]  # no other platform has spend

    with dashboard(data, tmp_path / "streamlit.log") as url, playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.set_default_timeout(45_000)
        page.goto(url)
        page.get_by_text("Data as of").wait_for(state="visible")
        open_tab(page, "Acquisition & Ads")
        shown = page.get_by_role("tabpanel")
        pick(page, "stMultiSelect", "Ad platform", "google_ads", where=shown)
        wait_for_cards(page, google)
        wait_for_rows(page, "Platform", _platform_rows(data, "google_ads"))
        screenshot(page, tmp_path, "google_ads_acquisition_ads")

        pick(page, "stMultiSelect", "Ad platform", "meta", where=shown)
        wait_for_cards(page, both)
        wait_for_rows(page, "Platform", _platform_rows(data, "google_ads", "meta"))
        assert page.locator('[data-testid="stException"]').count() == 0
        browser.close()


def test_a_plugins_freshness_names_a_model_and_a_column() -> None:
    plugin = SourcePlugin("w", "", lambda: None, "sources.w", no_sandbox, {}, freshness=("weather_daily", "day"))
    assert plugin.freshness == ("weather_daily", "day")
    assert SourcePlugin("w", "", lambda: None, "sources.w", no_sandbox, {}).freshness is None  # optional
    for bad in (("weather_daily",), ("weather_daily; drop table x", "day"), ("gold.weather_daily", "day")):
        with pytest.raises(ValueError, match=r"source plugin 'w': freshness = .* use \(gold_model, date_column\)"):
            SourcePlugin("w", "", lambda: None, "sources.w", no_sandbox, {}, freshness=bad)  # type: ignore[arg-type]


def test_a_plugin_installed_but_never_run_has_no_data_yet(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pipeline Health's rows for a plugin whose raw dataset and Gold model do not exist: "no data yet", no error."""
    import streamlit as st

    from dashboard.tabs import health
    from sources.crm.plugin import plugin as crm

    never_run = SourcePlugin(
        "weather", "never run", lambda: None, "sources.weather", no_sandbox, {}, freshness=("weather_daily", "day")
    )
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("MDW__DATA_DIR", str(demo_dir))
    monkeypatch.setenv("MDW__TARGET", "local")
    st.cache_resource.clear()  # the reader of another test's warehouse
    st.cache_data.clear()
    try:
        tables = health._tables()
        sources = health._sources(tables, (crm, never_run), pd.DataFrame(columns=["source"]))
        freshness = health._freshness(tables, (crm, never_run))
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()
    rows = sources.set_index("source")
    assert rows.loc["weather", "state"] == "no data yet" and rows.loc["weather", "last_run_status"] == "never run"
    assert rows.loc["crm", "state"] == "ok" and rows.loc["crm", "last_run_status"] == "ok"
    assert (
        rows.loc["crm", "rows_loaded"]
        == column(
            demo_dir,
            "select sum(rows) from ops.run_tables where source = 'crm' and step = 'load'"
            " and run_id = (select max_by(run_id, started_at) from ops.run_tables where source = 'crm')",
        )[0]
    )
    newest = dict(zip(freshness["what"], freshness["newest"], strict=True))
    assert newest["newest load into raw_weather"] == newest["newest day in gold.weather_daily"] == "no data yet"
    (order_day,) = column(demo_dir, "select max(order_date_utc) from gold.fact_orders")
    assert newest["newest order_date_utc in gold.fact_orders"] == f"{order_day:%Y-%m-%d}"
    (meta_day,) = column(
        demo_dir,
        "select max(date_day) from gold.fct_ad_performance_daily where platform = 'meta' and spend_reporting > 0",
    )
    assert newest["newest day with ad spend on meta (gold.fct_ad_performance_daily)"] == f"{meta_day:%Y-%m-%d}"


def test_a_plugin_installed_from_a_folder_reaches_gold_and_pipeline_health(
    demo: tuple[Target, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The acceptance test of the registry-driven dashboard: the fixture plugin, installed into a site folder (no
    other change anywhere), runs into Gold and has its row and its freshness in Pipeline Health."""
    playwright = pytest.importorskip("playwright.sync_api")
    data = warehouse_copy(demo[0], tmp_path / "data", monkeypatch).data_dir
    site = tmp_path / "site"
    install_fixture_plugin(site)
    env = {**os.environ, "PYTHONPATH": str(site), "MDW__DATA_DIR": str(data), "MDW__TARGET": "local"}
    run = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "weather", "--demo", "--dbt"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (reading_day,) = column(data, "select max(reading_date) from gold.weather_daily")  # its data reached Gold
    (loaded_at,) = column(data, "select max(inserted_at) from raw_weather._dlt_loads where status = 0")
    (rows_loaded,) = column(data, "select sum(rows) from ops.run_tables where source = 'weather' and step = 'load'")
    assert rows_loaded == 6

    def weather_row(rows: dict[str, dict[str, str]]) -> list[str]:
        problems = _rows_are("crm", "ga4", "google_ads", "meta_ads", "weather")(rows)
        weather = rows.get("weather", {})
        wanted = {"state": "ok", "last run": "ok", "rows loaded": "6"}
        return problems + [f"weather {k}: {weather.get(k)!r}" for k, v in wanted.items() if weather.get(k) != v]

    def weather_freshness(rows: dict[str, dict[str, str]]) -> list[str]:
        wanted = {
            "newest load into raw_weather": f"{loaded_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
            "newest reading_date in gold.weather_daily": f"{reading_day:%Y-%m-%d}",
        }
        return [
            f"{k}: {rows.get(k, {}).get('newest')!r}" for k, v in wanted.items() if rows.get(k, {}).get("newest") != v
        ]

    with (
        dashboard(data, tmp_path / "streamlit.log", env={"PYTHONPATH": str(site)}) as url,
        playwright.sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.set_default_timeout(45_000)
        page.goto(url)
        page.get_by_text("Data as of").wait_for(state="visible")
        open_tab(page, "Pipeline Health")
        wait_for_rows(page, "plugin", weather_row)
        wait_for_rows(page, "what", weather_freshness)
        screenshot(page, tmp_path, "weather_pipeline_health")
        assert page.locator('[data-testid="stException"]').count() == 0
        browser.close()


# ---- a half-loaded source: a run killed in its warehouse load, then its rerun ------------------------------------

HALF_LOADED = "crm: last run interrupted — rerun pending"


def _mdw_run_crm(data: Path, landing: Path, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MDW__DATA_DIR": str(data), "MDW__TARGET": "local", "SOURCES__CRM__LANDING_URL": str(landing)}
    argv = [sys.executable, "-m", "pipelines.cli", "run", "crm"]
    if kill_at:
        env["KILL_AT"] = kill_at
        argv = [sys.executable, "-c", KILLING_CHILD, "run", "crm"]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _unfinished_orders(data: Path) -> float:
    """raw_crm.orders rows whose load dlt has not recorded as complete, by hand."""
    return sql(
        data,
        "select count(*) from raw_crm.orders where _dlt_load_id not in "
        "(select load_id from raw_crm._dlt_loads where status = 0)",
    )[0]


def test_unfinished_rows_sql_covers_every_data_table_and_a_first_load() -> None:
    columns = pd.DataFrame(
        [("orders", "order_id"), ("orders", "_dlt_load_id"), ("files", "_dlt_load_id"), ("_dlt_loads", "load_id")]
        + [("_dlt_pipeline_state", "_dlt_load_id"), ("notes", "text")],
        columns=["table_name", "column_name"],
    )
    con = duckdb.connect()
    con.execute("create schema raw_crm")
    rows = "('a', '1'), ('b', '2'), ('c', '2')"
    con.execute(f"create table raw_crm.orders as from (values {rows}) t(order_id, _dlt_load_id)")
    con.execute("create table raw_crm.files as select '2' as _dlt_load_id")
    con.execute("create table raw_crm._dlt_loads as select '1' as load_id, 0 as status")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("dashboard.loads.table_name", lambda schema, name: f"{schema}.{name}")
        query = unfinished_rows_sql("raw_crm", columns)
        first_load = unfinished_rows_sql("raw_crm", columns[columns["table_name"] != "_dlt_loads"])
    assert sorted(con.execute(query).fetchall()) == [("files", "2", 1), ("orders", "2", 2)]
    assert sorted(con.execute(first_load).fetchall()) == [("files", "2", 1), ("orders", "1", 1), ("orders", "2", 2)]


def test_a_half_loaded_source_is_flagged_until_its_rerun(
    demo: tuple[Target, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    data = warehouse_copy(demo[0], tmp_path / "data", monkeypatch).data_dir
    landing = tmp_path / "landing"
    landing.mkdir()
    write_orders(landing / "orders_900.csv", [order_row(i) for i in range(900_000, 900_005)])
    # killed in its warehouse load: every raw_crm table merged, the load not yet recorded in _dlt_loads
    killed = _mdw_run_crm(data, landing, kill_at="complete:crm")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert _unfinished_orders(data) == 5

    with dashboard(data, tmp_path / "streamlit.log") as url, playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.set_default_timeout(45_000)
        page.goto(url)
        page.get_by_text("Data as of").wait_for(state="visible")
        shown = page.get_by_role("tabpanel")  # the open tab only: the hidden ones are left out
        open_tab(page, "Executive Overview")
        notice = shown.get_by_test_id("stAlert").filter(has_text=HALF_LOADED)
        notice.wait_for(state="visible")
        assert "The numbers on this tab use its data" in notice.inner_text()
        open_tab(page, "Pipeline Health")
        banner = shown.get_by_test_id("stAlert").filter(has_text=HALF_LOADED)
        banner.wait_for(state="visible")
        assert "raw_crm holds rows of load" in banner.inner_text() and "orders 5 rows" in banner.inner_text()
        screenshot(page, tmp_path, "half_loaded_pipeline_health")
        browser.close()

    rerun = _mdw_run_crm(data, landing)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "left by an interrupted run" in rerun.stdout
    assert _unfinished_orders(data) == 0

    with dashboard(data, tmp_path / "streamlit_after.log") as url, playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.set_default_timeout(45_000)
        page.goto(url)
        page.get_by_text("Data as of").wait_for(state="visible")
        shown = page.get_by_role("tabpanel")
        open_tab(page, "Pipeline Health")
        # the banners come first: once Freshness shows and the app is idle, a banner would be there
        shown.get_by_text("Freshness", exact=True).wait_for(state="visible")
        page.wait_for_function(_IDLE)
        assert page.get_by_text("rerun pending").count() == 0
        open_tab(page, "Executive Overview")
        shown.get_by_test_id("stMetricValue").first.wait_for(state="visible")
        page.wait_for_function(_IDLE)
        assert page.get_by_text("rerun pending").count() == 0
        browser.close()
