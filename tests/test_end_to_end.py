"""The whole pipeline offline on the demo world: CRM -> Bronze -> DuckDB -> dbt build, then rerun and replay."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, unit_test_names, warehouse_copy
from marketing_dwh.demo_world import DemoWorld
from pipelines.cli import main
from pipelines.targets import Target
from sources.crm.demo import crm_export
from sources.ga4.demo import ga4_demo
from sources.meta_ads.demo import meta_demo

RAW_TABLES = ("orders", "contacts", "files")


def q(target: Target, sql: str) -> list[tuple]:
    with duckdb.connect(str(target.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_demo_builds_raw_silver_and_gold(demo: tuple[Target, str]) -> None:
    target, summary = demo
    world = DemoWorld()
    n_orders, n_contacts = len(crm_export(world).orders), len(crm_export(world).contacts)
    assert q(target, "select count(*) from raw_crm.orders") == [(n_orders,)]
    assert q(target, "select count(*) from raw_crm.contacts") == [(n_contacts,)]
    assert q(target, "select count(*), count(distinct order_id) from gold.fact_orders") == [(n_orders, n_orders)]
    assert q(target, "select count(*) from gold.dim_contacts") == [(n_contacts,)]
    assert q(target, "select sum(order_count) from gold.dim_contacts") == [(n_orders,)]
    # every order converted to the reporting currency; EUR orders unchanged
    assert q(target, "select count(*) from gold.fact_orders where amount_reporting is null") == [(0,)]
    assert q(target, "select count(*) from gold.fact_orders where currency = 'EUR' and amount <> amount_reporting") == [
        (0,)
    ]
    assert q(target, "select count(distinct currency) from gold.fact_orders")[0][0] >= 3
    # revenue reconciles raw -> gold in original currency: raw holds every delivered version of every order line,
    # the latest (newest file version, then path, then line) counts; a refund is netted on its order or listed as
    # an orphan
    latest = (
        "select * from raw_crm.orders qualify row_number() over "
        "(partition by order_id, line_kind order by _source_modified_at desc, _source_file desc, _source_line desc, "
        "_dlt_load_id desc) = 1"
    )
    raw_total = q(target, f"select sum(amount) from ({latest}) where line_kind = 'order'")[0][0]
    assert q(target, "select sum(amount) from gold.fact_orders")[0][0] == raw_total
    raw_refunds = q(target, f"select coalesce(-sum(amount), 0) from ({latest}) where line_kind = 'refund'")[0][0]
    gold_refunds = q(
        target,
        "select (select coalesce(sum(refund_amount), 0) from gold.fact_orders)"
        " + (select coalesce(sum(refund_amount), 0) from audit.audit_crm_orphan_refunds)",
    )[0][0]
    assert gold_refunds == raw_refunds
    assert q(target, "select count(*) from gold.fact_orders where net_amount <> amount - refund_amount") == [(0,)]
    # repeat purchases as the CRM flags them
    repeat = q(target, "select avg(case when is_repeat then 1.0 else 0 end) from gold.fact_orders")[0][0]
    assert 0.10 <= repeat <= 0.20
    # files reconcile and nothing was quarantined in the clean demo world
    assert q(target, "select count(*) from raw_crm.files where rows_read <> rows_loaded + rows_quarantined") == [(0,)]
    assert q(target, "select sum(rows_loaded) from raw_crm.files where table_name = 'orders'") == [(n_orders,)]
    # the summary the user sees
    for text in ("orders", "contacts", "quarantined", "schema changes", "seconds", "dbt", str(target.warehouse_path)):
        assert text in summary


def test_the_ci_demo_build_ran_every_dbt_unit_test(demo: tuple[Target, str]) -> None:
    """The session's demo build runs with ``mdw.dbt_unit_tests = true`` (as CI should): every unit test of the
    core project and the plugin packages ran in it and passed."""
    target, summary = demo
    names = unit_test_names(target)
    assert len(names) >= 30
    demo_run = "(select run_id from ops.runs where command = 'demo')"
    results = dict(q(target, f"select node, status from ops.dbt_results where run_id in {demo_run}"))
    assert {results.get(name) for name in names} == {"pass"}


def _dbt_invocations(target: Target) -> list[str]:
    """dbt's log of ``target``, one text per dbt invocation (dbt starts each with a ``====`` header line), oldest
    first: dbt rotates ``dbt.log`` at 10 MB into ``dbt.log.1`` (the newest of the older) ... ``dbt.log.5``."""
    logs = target.data_dir / "dbt" / "logs"
    rotated = sorted(logs.glob("dbt.log.*"), key=lambda path: -int(path.suffix[1:]))
    log = "".join(path.read_text(errors="replace") for path in [*rotated, logs / "dbt.log"])
    return [part for part in re.split(r"^=+ .* =+$", log, flags=re.M) if "running dbt with arguments" in part]


def test_the_demo_build_runs_in_the_dbt_process_that_parsed_while_the_sources_ran(demo: tuple[Target, str]) -> None:
    """`mdw demo` has dbt parse the project while the sources load (pipelines/dbt_worker.py); the build then runs in
    that process with the parsed manifest: dbt logs no parsing of its own for it, full or partial."""
    target, _ = demo
    invocations = _dbt_invocations(target)
    first_build = next(i for i, text in enumerate(invocations) if "Command `cli build`" in text)
    parse, build = invocations[first_build - 1], invocations[first_build]
    assert "Command `cli parse` succeeded" in parse
    assert "Unable to do partial parsing" in parse  # the fresh data dir: a full parse, ahead of the build
    assert "Command `cli build` succeeded" in build
    for text in ("partial parsing", "full parse", "Partial parse"):
        assert text not in build


def test_a_parse_ahead_serves_only_a_build_with_its_vars_and_ends_when_unused(
    demo: tuple[Target, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process that parsed ahead runs one command, only with the vars it parsed with; left unused it is ended,
    never left behind waiting."""
    from dlt.common.runners import Venv

    from pipelines.dbt_runner import parse_ahead

    target = warehouse_copy(demo[0], tmp_path / "data", monkeypatch)
    venv = Venv.restore(sys.prefix, current=True)
    with parse_ahead(target, []) as parsed:
        assert parsed.venv(venv, {**parsed.dbt_vars, "mdw_sources": []}) is venv  # other vars: a process of its own
        taken = parsed.venv(venv, dict(parsed.dbt_vars))
        assert taken is not venv and parsed.venv(venv, dict(parsed.dbt_vars)) is venv  # once
        assert parsed.worker.poll() is None  # taken, but no command came: still waiting for one
    assert parsed.worker.poll() is not None  # ended with the block


def test_loaded_packages_keep_no_copy_of_their_files(demo: tuple[Target, str]) -> None:
    """`[load] delete_completed_jobs`: once a package is loaded its job files go (a Bronze package's files are copies
    of what is in Bronze now); its state and dlt's trace stay."""
    target, _ = demo
    pipelines = Path(target.pipelines_dir)
    assert any(pipelines.glob("*_bronze/load/loaded/*")), "no Bronze package was loaded"
    assert list(pipelines.glob("*/load/loaded/*/completed_jobs/*")) == []
    assert any(Path(target.bronze_url).rglob("*.parquet"))  # the data itself is in Bronze


def test_every_run_is_recorded_in_ops(demo: tuple[Target, str]) -> None:
    target, _ = demo
    assert q(target, "select command, status from ops.runs") == [("demo", "ok")]
    steps = dict(
        q(target, "select step || ':' || coalesce(table_name, '-'), rows from ops.run_tables where source = 'crm'")
    )
    assert steps["load:orders"] == len(DemoWorld().order_facts)
    assert q(target, "select count(*) from ops.dbt_results where status not in ('success', 'pass')") == [(0,)]
    assert q(target, "select count(*) from ops.dbt_results where node like 'fact_orders%'")[0][0] >= 1


def test_rerun_extracts_nothing_new(demo: tuple[Target, str]) -> None:
    target, _ = demo
    env = {**os.environ, "MDW__DATA_DIR": str(target.data_dir), "MDW__TARGET": "local"}
    run = subprocess.run(
        [sys.executable, "pipelines/crm.py", "--demo"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    last = q(target, "select run_id from ops.runs order by started_at desc limit 1")[0][0]
    statuses = q(target, f"select step, status, rows from ops.run_tables where run_id = '{last}' order by step")
    assert statuses == [("extract", "nothing_new", 0), ("load", "nothing_new", 0)]
    assert q(target, "select count(*) from raw_crm.orders") == [(len(DemoWorld().order_facts),)]


def _snapshot(target: Target) -> dict[str, list[tuple]]:
    out = {}
    with duckdb.connect(str(target.warehouse_path), read_only=True) as con:
        for table in RAW_TABLES:
            cols = [
                c
                for (c,) in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = 'raw_crm' and table_name = ? order by ordinal_position",
                    [table],
                ).fetchall()
                if c not in ("_dlt_load_id", "_dlt_id")
            ]
            out[table] = sorted(con.execute(f"select {', '.join(cols)} from raw_crm.{table}").fetchall(), key=repr)
    return out


def test_replay_rebuilds_identical_raw_tables_from_bronze(demo: tuple[Target, str], capsys) -> None:
    target, _ = demo
    before = _snapshot(target)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        mp.setenv("MDW__DATA_DIR", str(target.data_dir))
        assert main(["replay", "crm"]) == 0
    assert "replay" in capsys.readouterr().out
    after = _snapshot(target)
    for table in RAW_TABLES:
        assert len(after[table]) == len(before[table]) > 0, table
        assert after[table] == before[table], table


def test_failing_critical_test_fails_the_build(
    demo: tuple[Target, str], tmp_path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    target = warehouse_copy(demo[0], tmp_path / "data", monkeypatch)
    with duckdb.connect(str(target.warehouse_path)) as con:  # an order in a currency without an FX rate
        con.execute(
            "insert into raw_crm.orders select * replace ('ORD-BROKEN' as order_id, 'XXX' as currency) "
            "from raw_crm.orders where line_kind = 'order' limit 1"
        )
    assert main(["dbt", "build"]) == 1
    out = capsys.readouterr().out
    assert "failed" in out and "amount_reporting" in out


def test_a_variant_column_staging_does_not_read_fails_the_critical_tests(
    demo: tuple[Target, str], tmp_path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    target = warehouse_copy(demo[0], tmp_path / "data", monkeypatch)
    check = "assert_raw_has_no_unread_variant_columns"
    with duckdb.connect(str(target.warehouse_path)) as con:  # dlt's variant for a spend of "1,5", made by hand
        con.execute("alter table raw_meta_ads.insights add column spend__v_text varchar")
        con.execute("update raw_meta_ads.insights set spend__v_text = '1,5' where rowid = 0")
    assert main(["dbt", "test", "--select", "tag:critical"]) == 1
    assert "FAIL 1" in capsys.readouterr().out
    last = "(select run_id from ops.runs order by started_at desc limit 1)"
    results = dict(q(target, f"select node, status from ops.dbt_results where run_id = {last}"))
    assert results[check] == "fail"
    assert {n for n, status in results.items() if status != "pass"} == {check}  # the variant alone fails
    # a warehouse without one of the sources (no raw_ga4) is checked all the same; with the column gone it passes
    with duckdb.connect(str(target.warehouse_path)) as con:
        con.execute("drop schema raw_ga4 cascade")
    assert main(["dbt", "test", "--select", check]) == 1
    with duckdb.connect(str(target.warehouse_path)) as con:
        con.execute("alter table raw_meta_ads.insights drop column spend__v_text")
    assert main(["dbt", "test", "--select", check]) == 0


def test_demo_includes_meta_ads_end_to_end(demo: tuple[Target, str]) -> None:
    target, summary = demo
    world = DemoWorld()
    assert "meta_ads" in summary
    assert q(target, "select count(*) from raw_meta_ads.insights") == [(len(meta_demo(world).insights),)]
    raw_spend = q(target, "select sum(spend) from raw_meta_ads.insights")[0][0]
    assert float(raw_spend) == pytest.approx(sum(r["spend"] for r in meta_demo(world).insights), abs=0.5)
    # Gold: spend reconciles, every Meta campaign is in dim_campaign, ratios come from sums
    meta_rows = "gold.fct_ad_performance_daily where platform = 'meta'"  # the shared fact holds every ad platform
    assert q(target, f"select sum(spend) from {meta_rows}")[0][0] == raw_spend
    meta_campaigns = {c.campaign_id for c in world.campaigns_on("meta")}
    in_dim = {r[0] for r in q(target, "select campaign_id from gold.dim_campaign where platform = 'meta'")}
    assert meta_campaigns <= in_dim
    off = q(
        target,
        "select count(*) from gold.fct_ad_performance_daily "
        "where clicks > 0 and abs(cpc - round(spend / clicks, 2)) > 0.005",
    )
    assert off == [(0,)]
    # conversions count one purchase type, not the three overlapping ones the API reports
    conversions = q(target, f"select sum(conversions) from {meta_rows}")[0][0]
    every_purchase_type = q(
        target,
        "select sum(value) from raw_meta_ads.insights_actions where attribution_window = 'default' and "
        "action_kind = 'actions' and action_type in ('purchase', 'omni_purchase', "
        "'offsite_conversion.fb_pixel_purchase')",
    )[0][0]
    assert conversions > 0 and conversions * 3 == every_purchase_type


def test_demo_includes_ga4_end_to_end(demo: tuple[Target, str]) -> None:
    target, summary = demo
    world = DemoWorld()
    assert "ga4" in summary
    assert q(target, "select count(*) from raw_ga4.report_traffic_daily") == [(len(ga4_demo(world).traffic),)]
    purchases = {p["transaction_id"] for p in ga4_demo(world).purchases}
    assert q(target, "select count(*), count(distinct transaction_id) from gold.dim_ga4_events") == [
        (len(purchases), len(purchases))
    ]
    # most, not all, CRM orders link to a GA4 purchase by transaction_id
    linked = q(target, "select avg(case when e.transaction_id is null then 0 else 1 end) from gold.fact_orders o "
                       "left join gold.dim_ga4_events e on o.transaction_id = e.transaction_id")[0][0]  # fmt: skip
    assert 0.8 < linked < 0.97
    assert q(target, "select count(*) from raw_ga4.quota_ledger")[0][0] > 0
    assert q(target, "select count(distinct time_zone) from raw_ga4.report_metadata where time_zone is not null") == [
        (1,)
    ]


def test_cli_source_freshness_is_recorded_in_ops(demo: tuple[Target, str], tmp_path, monkeypatch) -> None:
    target = warehouse_copy(demo[0], tmp_path / "data", monkeypatch)
    assert main(["dbt", "source", "freshness"]) == 0
    rows = q(target, "select source_name, status from ops.source_freshness order by 1")
    assert rows == [("crm", "pass"), ("ga4", "pass"), ("google_ads", "pass"), ("meta_ads", "pass")]
