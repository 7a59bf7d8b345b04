"""The Airflow DAGs: integrity of the generated DAG folder, and real runs of the ingest and dbt DAGs.

Real Airflow (no mocks): a temporary AIRFLOW_HOME with a SQLite metadata DB, ``dag.test()`` on DuckDB.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import airflow_env

airflow_env.configure()  # before Airflow is imported (also indirectly, by dlt resolving configuration)

import duckdb  # noqa: E402
import pytest  # noqa: E402
from airflow.sdk import Asset  # noqa: E402
from test_plugins import install_fixture_plugin  # noqa: E402

from conftest import REPO, query, unit_test_names  # noqa: E402
from marketing_dwh.registry import discover  # noqa: E402
from pipelines.cli import main  # noqa: E402
from pipelines.targets import Target, current_target  # noqa: E402

POOL = "mdw_duckdb_writer"


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The dags folder parsed for the local target."""
    airflow_env.ensure_db()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        mp.setenv("MDW__DATA_DIR", str(tmp_path_factory.mktemp("af_parse") / "data"))
        mp.setenv("MDW__TARGET", "local")
        bag = airflow_env.dagbag()
    assert not bag.import_errors, bag.import_errors
    return bag


def test_every_plugin_has_a_daily_ingest_dag(bag: Any) -> None:
    plugins = discover()
    assert {f"ingest_{name}" for name in plugins} | {"dbt_transform", "mdw_monitoring"} == set(bag.dags)
    for name in plugins:
        dag = bag.dags[f"ingest_{name}"]
        assert {"mdw", "ingest", name} <= set(dag.tags)
        assert dag.timetable.summary == "0 0 * * *" and dag.catchup is False and dag.max_active_runs == 1
        assert dag.dagrun_timeout and dag.dagrun_timeout > timedelta(0)
        assert dag.deadline, "critical DAGs carry a Deadline Alert"
        extract, load = bag.dags[f"ingest_{name}"].tasks
        assert extract.task_id == f"{name}_bronze.{name}_bronze"  # dlt's PipelineTasksGroup
        assert load.upstream_task_ids == {extract.task_id}
        assert load.outlets == [Asset(f"mdw://raw/{name}")]
        assert load.pool == POOL and extract.pool != POOL  # only warehouse writers take the DuckDB slot


def test_unpausing_a_scheduled_dag_starts_no_run_for_a_past_time(bag: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """catchup=False alone would start the latest past interval at once when a DAG is unpaused: the scheduler's own
    next-run computation (the timetable with the DAG's restriction) must give the next cron time in the future."""
    import airflow.timetables.trigger as trigger
    from airflow.timetables.base import TimeRestriction

    for dag_id, dag in bag.dags.items():
        if dag_id == "dbt_transform":
            continue  # runs on Assets
        just_after_a_run = (datetime(2026, 12, 1, 0, 1, tzinfo=UTC), datetime(2026, 12, 1, 7, 2, tzinfo=UTC))
        for now in (datetime.now(UTC), *just_after_a_run):
            monkeypatch.setattr(trigger, "utcnow", lambda now=now: now)  # the scheduler's clock in the timetable
            info = dag.timetable.next_dagrun_info(
                last_automated_data_interval=None,
                restriction=TimeRestriction(dag.start_date, dag.end_date, dag.catchup),
            )
            assert info is not None and info.run_after > now, (dag_id, now, info)


def test_tasks_retry_with_backoff_and_alert(bag: Any) -> None:
    for dag in bag.dags.values():
        assert "mdw" in dag.tags
        for t in dag.tasks:
            assert t.retries >= 2, t.task_id
            assert t.retry_exponential_backoff and t.max_retry_delay, t.task_id
            assert t.on_failure_callback, t.task_id


def test_dbt_dag_runs_on_any_source_asset(bag: Any) -> None:
    dag = bag.dags["dbt_transform"]
    condition = repr(dag.timetable.asset_condition)
    for name in discover():
        assert f"mdw://raw/{name}" in condition
    assert type(dag.timetable.asset_condition).__name__ == "AssetAny"
    ids = [t.task_id for t in dag.tasks]
    assert ids == ["source_freshness", "staging", "marts", "critical_tests", "other_tests"]
    assert all(t.pool == POOL for t in dag.tasks)
    assert dag.get_task("critical_tests").outlets == [Asset("mdw://gold")]
    assert dag.deadline and "dbt" in dag.tags


def test_a_new_plugin_gets_its_dag_without_edits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    install_fixture_plugin(site)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("MDW__DATA_DIR", str(tmp_path / "data"))
    bag = airflow_env.dagbag()
    assert not bag.import_errors, bag.import_errors
    assert "ingest_weather" in bag.dags
    assert "mdw://raw/weather" in repr(bag.dags["dbt_transform"].timetable.asset_condition)


def test_prod_target_uses_no_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("MDW__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MDW__TARGET", "prod")
    monkeypatch.setenv("MDW__TARGETS__PROD__BRONZE_URL", "gs://example-bucket/bronze")
    bag = airflow_env.dagbag()
    assert not bag.import_errors, bag.import_errors
    pools = {t.pool for dag in bag.dags.values() for t in dag.tasks}
    assert POOL not in pools


def _run(bag: Any, dag_id: str, **conf: Any) -> Any:
    dag = bag.dags[dag_id]
    dag.deadline = None  # dag.test() on Airflow 3.3.2 crashes on DAGs with a Deadline Alert
    return dag.test(run_conf=conf or None)


def _asset_events(uri: str) -> int:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        stmt = select(func.count()).select_from(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        return int(session.scalar(stmt.where(AssetModel.uri == uri)) or 0)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A data dir whose DAGs are parsed for it (dag.test runs them in this process)."""
    airflow_env.ensure_db()
    data = tmp_path_factory.mktemp("af_run") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        mp.setenv("MDW__DATA_DIR", str(data))
        mp.setenv("MDW__TARGET", "local")
        bag = airflow_env.dagbag()
        assert not bag.import_errors, bag.import_errors
        yield bag, current_target()


def test_ingest_then_dbt_dag_build_the_warehouse(warehouse: tuple[Any, Target]) -> None:
    bag, target = warehouse
    run = _run(bag, "ingest_crm", demo=True)  # the crm source against its sandbox (the demo world's exports)
    assert run.state == "success"
    assert query(target, "select count(*) from raw_crm.orders")[0][0] > 500
    ((run_id, status),) = query(target, "select run_id, status from ops.runs where command like 'airflow ingest_crm/%'")
    assert status == "ok"
    steps = query(target, f"select step, sum(rows) from ops.run_tables where run_id = '{run_id}' group by 1")
    assert {s for s, _ in steps} == {"extract", "load"} and all(rows > 0 for _, rows in steps)
    assert _asset_events("mdw://raw/crm") == 1

    # a second run that finds nothing new records it, but skips the Asset: no dbt build for nothing (parsed again, as
    # a worker does for every task: dlt's helper wiped the first parse's pipeline folder)
    run = _run(airflow_env.dagbag(), "ingest_crm", demo=True)
    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"crm_bronze.crm_bronze": "success", "load_warehouse": "skipped"}
    sql = f"select status from ops.runs where command = 'airflow ingest_crm/{run.run_id}'"
    assert query(target, sql) == [("ok",)]
    assert _asset_events("mdw://raw/crm") == 1

    # the other sources' raw datasets, loaded by the CLI: the dbt DAG builds Gold from all of them
    assert main(["run", "meta_ads", "ga4", "--demo"]) == 0

    run = _run(bag, "dbt_transform")
    assert run.state == "success"
    assert (
        query(target, "select count(*) from gold.fact_orders")[0][0]
        == query(target, "select count(*) from raw_crm.orders")[0][0]
    )
    ((dbt_run, status),) = query(target, "select run_id, status from ops.runs where command like 'airflow dbt_%'")
    assert status == "ok"
    fresh = query(target, f"select source_name, status from ops.source_freshness where run_id = '{dbt_run}'")
    assert sorted(fresh) == [("crm", "pass"), ("ga4", "pass"), ("meta_ads", "pass")]
    steps = [s for (s,) in query(target, f"select distinct step from ops.run_tables where run_id = '{dbt_run}'")]
    assert len(steps) == 5
    assert query(target, f"select count(*) from ops.dbt_results where run_id = '{dbt_run}'")[0][0] > 100
    # a scheduled build leaves dbt's unit tests to development and CI (mdw.dbt_unit_tests defaults to false)
    nodes = {n for (n,) in query(target, f"select node from ops.dbt_results where run_id = '{dbt_run}'")}
    assert unit_test_names(target) and not nodes & unit_test_names(target)
    assert _asset_events(Asset("mdw://gold").uri) == 1

    # a failing critical test (on the Gold built into gold__staging) fails the DAG, stops what follows, leaves the
    # published gold as it was and emits no Gold Asset
    published = query(target, "select count(*) from gold.fact_orders")
    with duckdb.connect(str(target.warehouse_path)) as con:
        con.execute("insert into gold__staging.fact_orders select * from gold__staging.fact_orders limit 1")
    dag = bag.dags["dbt_transform"].partial_subset(["critical_tests", "other_tests"], include_upstream=False)
    dag.deadline = None
    run = dag.test()
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"critical_tests": "failed", "other_tests": "upstream_failed"}
    assert _asset_events(Asset("mdw://gold").uri) == 1
    assert query(target, "select count(*) from gold.fact_orders") == published
    assert query(target, "select count(*) from ops.runs where status = 'failed'")[0][0] == 1
    ((tries,),) = {(ti.try_number,) for ti in run.get_task_instances() if ti.task_id == "critical_tests"}
    assert tries == 1  # a failed test is not retried

    # a model error (a relation the marts read is gone) fails at once too: no retry for ~10 minutes
    with duckdb.connect(str(target.warehouse_path)) as con:
        con.execute("alter table raw_crm.orders rename to orders_gone")
    try:
        dag = bag.dags["dbt_transform"].partial_subset(["staging"], include_upstream=False, include_downstream=False)
        dag.deadline = None
        run = dag.test()
    finally:
        with duckdb.connect(str(target.warehouse_path)) as con:
            con.execute("alter table raw_crm.orders_gone rename to orders")
    (ti,) = run.get_task_instances()
    assert (run.state, ti.state, ti.try_number) == ("failed", "failed", 1)


def test_a_failed_extract_is_recorded_and_fails_the_run(
    warehouse: tuple[Any, Target], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, target = warehouse
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("MDW__DATA_DIR", str(target.data_dir))
    monkeypatch.setenv("MDW__AIRFLOW__RETRY_DELAY_MINUTES", "0.01")  # were it retried, dag.test() would show it
    bag = airflow_env.dagbag()
    assert bag.dags["ingest_crm"].get_task("load_warehouse").retries == 2
    events = _asset_events("mdw://raw/crm")
    run = _run(bag, "ingest_crm", source_kwargs={"landing_url": str(tmp_path / "missing")})
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"crm_bronze.crm_bronze": "failed", "load_warehouse": "failed"}
    # a missing landing folder is a configuration error: failed on the first try, no retries
    assert {ti.try_number for ti in run.get_task_instances()} == {1}
    sql = f"select run_id, status, error from ops.runs where command = 'airflow ingest_crm/{run.run_id}'"
    ((run_id, status, error),) = query(target, sql)
    assert status == "failed" and "crm/extract" in error and "landing location" in error
    steps = query(target, f"select step, status from ops.run_tables where run_id = '{run_id}' order by 1")
    assert [s for s, _ in steps] == ["extract", "load"] and steps[0][1] == "failed"
    assert _asset_events("mdw://raw/crm") == events


def _dlt_wrapped(error: Exception, tmp_path: Path) -> Exception:
    """``error`` raised inside a dlt resource, as dlt hands it on (PipelineStepFailed > ResourceExtractionError)."""
    import dlt

    @dlt.resource(name="items")
    def items() -> Any:
        yield {"a": 1}
        raise error

    pipeline = dlt.pipeline("mdw_errors_test", destination="duckdb", pipelines_dir=str(tmp_path))
    with pytest.raises(Exception) as info:
        pipeline.extract(items())
    return info.value


def _missing_setting() -> Exception:
    """dlt's own ConfigFieldMissingException: a source whose required secret is set nowhere."""
    import dlt

    @dlt.source(name="mdw_nowhere")
    def needs(mdw_test_token_set_nowhere: str = dlt.secrets.value) -> Any:
        return []

    with pytest.raises(Exception) as info:
        needs()
    assert type(info.value).__name__ == "ConfigFieldMissingException"
    return info.value


def test_only_transient_errors_are_retried(tmp_path: Path) -> None:
    import requests
    from dlt.destinations.exceptions import DatabaseTransientException

    from marketing_dwh.settings import SettingError, SettingMissingError
    from pipelines.errors import is_transient
    from pipelines.locks import LockTimeout
    from pipelines.warehouse_writer import WarehouseBusy
    from sources.crm import LandingLocationError
    from sources.ga4.caller import Ga4ConfigError
    from sources.meta_ads.errors import MetaApiError, RetryBudgetExhausted

    permanent = [
        SettingError("sources.crm.landing_url", "x", "use a folder"),
        SettingMissingError("sources.meta_ads.access_token", "set it in .dlt/secrets.toml"),
        _missing_setting(),
        LandingLocationError("landing location /x does not exist"),
        Ga4ConfigError("GA4 property 1: incompatible dimensions"),
        MetaApiError("Meta Ads: the access token has expired", code=190),
        KeyError("order_id"),
    ]
    transient = [
        ConnectionError("reset by peer"),
        TimeoutError(),
        requests.ConnectionError("DNS"),
        RetryBudgetExhausted("insights", "code 17", 600),
        WarehouseBusy("locked"),
        LockTimeout("held by pid 1"),
        DatabaseTransientException(RuntimeError("busy")),
        RuntimeError("something unknown"),
    ]
    for error in permanent:
        assert not is_transient(error), error
        assert not is_transient(_dlt_wrapped(error, tmp_path)), error
    for error in transient:
        assert is_transient(error), error
        assert is_transient(_dlt_wrapped(error, tmp_path)), error


def test_dbt_failures_retry_only_when_the_warehouse_was_unavailable() -> None:
    from mdw_airflow.dbt import dbt_failure_is_transient

    ok = {"node": "model.mdw.a", "status": "success", "message": None}
    model_error = {"node": "model.mdw.b", "status": "error", "message": 'Binder Error: column "x" not found'}
    test_fail = {"node": "test.mdw.c", "status": "fail", "message": "Got 1 result"}
    lock = {"node": "model.mdw.d", "status": "error", "message": "IO Error: Could not set lock on file"}
    bq_503 = {"node": "model.mdw.e", "status": "error", "message": "503 Service Unavailable: backendError"}
    assert not dbt_failure_is_transient([ok, model_error])
    assert not dbt_failure_is_transient([test_fail])
    assert not dbt_failure_is_transient([lock, model_error])
    assert dbt_failure_is_transient([ok, lock, bq_503])
    assert dbt_failure_is_transient([])  # dbt failed before any node ran (warehouse unreachable)
