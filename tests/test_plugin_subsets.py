"""Gold builds with any subset of the source plugins: each plugin's dbt package is built only when its raw dataset
has data, the shared Gold interfaces union what is there, and Gold degrades (no ad platform: no spend, not an
error; no web analytics: attribution from the orders' own utm fields; no orders source: empty order facts)."""

from __future__ import annotations

from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import duckdb
import pytest

from conftest import query, warehouse_copy
from pipelines.cli import main
from pipelines.targets import Target

RAW = {"crm": "raw_crm", "ga4": "raw_ga4", "meta_ads": "raw_meta_ads", "google_ads": "raw_google_ads"}
# dropped too: every subset builds from its raw data alone (gold__staging: where Gold is built before publishing)
BUILT = ("silver", "gold__staging", "gold", "audit", "seeds")


def build_with(demo: tuple[Target, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sources: set[str]) -> tuple:
    """A copy of the demo warehouse holding only the raw data of ``sources``, built with `mdw dbt build`."""
    target = warehouse_copy(demo[0], tmp_path / "data", monkeypatch)
    with duckdb.connect(str(target.warehouse_path)) as con:
        for schema in [s for name, s in RAW.items() if name not in sources] + list(BUILT):
            con.execute(f"drop schema if exists {schema} cascade")
    out = StringIO()
    with redirect_stdout(out):
        code = main(["dbt", "build"])
    assert code == 0, out.getvalue()
    return target, out.getvalue()


def tables(target: Target, schema: str) -> set[str]:
    return {
        t for (t,) in query(target, f"select table_name from information_schema.tables where table_schema = '{schema}'")
    }


def test_crm_only_builds_gold_without_ad_or_web_data(
    demo: tuple[Target, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, out = build_with(demo, tmp_path, monkeypatch, {"crm"})
    assert "[dbt] skipping the models and tests of ga4: raw_ga4 has no data yet" in out
    assert "[dbt] skipping the models and tests of meta_ads: raw_meta_ads has no data yet" in out
    gold = tables(target, "gold")
    assert {"fact_orders", "dim_contacts", "dim_campaign", "fct_ad_performance_daily", "mart_kpis_monthly"} <= gold
    assert not {"dim_meta_ads", "fct_ga4_traffic_daily", "dim_ga4_events"} & gold
    assert query(target, "select count(*) from gold.fct_ad_performance_daily") == [(0,)]
    assert query(target, "select coalesce(sum(spend), 0) from gold.mart_acquisition_daily") == [(0,)]
    # attribution falls back to the orders' own utm fields
    methods = {m for (m,) in query(target, "select distinct attribution_method from gold.fact_orders")}
    assert methods <= {"crm_utm", "unattributed"} and "crm_utm" in methods
    assert query(target, "select count(*) from gold.fact_orders") == query(
        demo[0], "select count(*) from gold.fact_orders"
    )
    assert query(target, "select sum(net_amount_reporting) from gold.fact_orders") == query(
        demo[0], "select sum(net_amount_reporting) from gold.fact_orders"
    )


def test_crm_and_ga4_attribute_through_web_sessions_without_spend(
    demo: tuple[Target, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, out = build_with(demo, tmp_path, monkeypatch, {"crm", "ga4"})
    assert "skipping the models and tests of meta_ads" in out and "of ga4" not in out
    assert {"fct_ga4_traffic_daily", "dim_ga4_events"} <= tables(target, "gold")
    assert query(target, "select attribution_method, count(*) from gold.fact_orders group by 1 order by 1") == query(
        demo[0], "select attribution_method, count(*) from gold.fact_orders group by 1 order by 1"
    )
    assert query(target, "select count(*), count(distinct platform) from gold.dim_campaign where has_spend_data") == [
        (0, 0)
    ]


def test_crm_and_meta_report_spend_per_platform(
    demo: tuple[Target, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, out = build_with(demo, tmp_path, monkeypatch, {"crm", "meta_ads"})
    assert "skipping the models and tests of ga4" in out
    # Meta's rows alone, equal to Meta's rows of the warehouse with every source (google_ads among them)
    spend = "select platform, sum(spend_reporting) from gold.fct_ad_performance_daily {} group by 1"
    assert query(target, spend.format("")) == query(demo[0], spend.format("where platform = 'meta'"))
    assert [p for p, _ in query(target, spend.format(""))] == ["meta"]
    assert query(target, "select sum(spend) from gold.mart_acquisition_daily") == query(
        demo[0], "select sum(spend) from gold.mart_acquisition_daily where platform = 'meta'"
    )


def test_ad_and_web_sources_without_an_orders_source(
    demo: tuple[Target, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mdw dbt` on a data dir without CRM data: the CRM package is skipped with one line; order facts are empty."""
    target, out = build_with(demo, tmp_path, monkeypatch, {"meta_ads", "ga4"})
    assert "[dbt] skipping the models and tests of crm: raw_crm has no data yet" in out
    assert query(target, "select count(*) from gold.fact_orders") == [(0,)]
    assert query(target, "select count(*) > 0 from gold.fct_ad_performance_daily") == [(True,)]
    assert query(target, "select count(*) > 0 from gold.fct_ga4_traffic_daily") == [(True,)]
