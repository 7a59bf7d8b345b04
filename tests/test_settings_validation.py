"""Settings are checked before anything runs: a wrong one is one line naming the setting, the value and what is
allowed, exit code 2, and no pipeline, run or warehouse file is created.

The CLI cases run the real ``mdw`` in a temporary working directory with its own ``.dlt/config.toml``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dlt.common.configuration.exceptions import ConfigValueCannotBeCoercedException

from conftest import REPO, query
from marketing_dwh.settings import SettingError
from pipelines.report import RunReport
from pipelines.runner import check_settings, describe_error, run_source
from pipelines.targets import Target
from sources.ga4.plugin import plugin as ga4_plugin
from sources.meta_ads.plugin import plugin as meta_plugin

MDW = Path(sys.executable).with_name("mdw")
CONFIG = """[runtime]
dlthub_telemetry = false
log_level = "WARNING"

[providers]
enable_airflow_secrets = false

"""
# settings that let a run reach the source without a network: an API that refuses at once, a short retry budget
META = {
    "SOURCES__META_ADS__ACCESS_TOKEN": "token",
    "SOURCES__META_ADS__ACCOUNT_IDS": '["act_1"]',
    "SOURCES__META_ADS__GRAPH_URL": "http://127.0.0.1:9",
    "SOURCES__META_ADS__RETRY_BUDGET_S": "1",
    "SOURCES__META_ADS__TODAY": "2026-08-03",
}
GA4 = {
    "SOURCES__GA4__PROPERTY_IDS": '["123456789"]',
    "SOURCES__GA4__API_ENDPOINT": "http://127.0.0.1:9",
    "SOURCES__GA4__TRANSPORT": "rest",
    "SOURCES__GA4__RETRY_BUDGET_MINUTES": "0.05",
    "SOURCES__GA4__TODAY": "2026-08-03",
}


def mdw(workdir: Path, argv: list[str], config: str = "", env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``mdw`` in ``workdir`` (its own .dlt/config.toml, data dir ``workdir/data``); return code, stdout, stderr."""
    (workdir / ".dlt").mkdir(parents=True, exist_ok=True)
    (workdir / ".dlt" / "config.toml").write_text(CONFIG + config)
    # a user's shell: none of the test process's settings, nor the DLT_PROJECT_DIR dlt's Airflow helper sets
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MDW__", "SOURCES__", "DESTINATION__", "DLT_"))}
    run_env = {**clean, "MDW__DATA_DIR": str(workdir / "data"), "RUNTIME__DLTHUB_TELEMETRY": "false", **(env or {})}
    proc = subprocess.run([str(MDW), *argv], cwd=workdir, env=run_env, capture_output=True, text=True, timeout=180)
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_line_error(code: int, out: str, err: str, *fragments: str) -> None:
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and not out.strip(), (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mdw: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def assert_nothing_ran(data: Path) -> None:
    made = sorted(p.name for p in data.iterdir()) if data.is_dir() else []
    assert not {"pipelines", "runs", "warehouse.duckdb", "bronze", "demo"} & set(made), made


CASES = {
    # name: (argv, config.toml lines, environment, what the one line names)
    "load_max_files=0": (["run", "crm"], "[mdw]\nload_max_files = 0\n", {}, ["mdw.load_max_files=0", ">= 1"]),
    "MDW__LOAD_MAX_FILES=four": (
        ["run", "crm"],
        "",
        {"MDW__LOAD_MAX_FILES": "four"},
        ["mdw.load_max_files='four'", "whole number"],
    ),
    "lock_timeout_s=-1": (["run", "crm"], "[mdw]\nlock_timeout_s = -1\n", {}, ["mdw.lock_timeout_s=-1", ">= 0"]),
    "duckdb_lock_wait_s=soon": (
        ["run", "crm"],
        "",
        {"MDW__TARGETS__LOCAL__DUCKDB_LOCK_WAIT_S": "soon"},
        ["mdw.targets.local.duckdb_lock_wait_s='soon'", "number"],
    ),
    "MDW__DBT_UNIT_TESTS=sometimes": (
        ["run", "crm"],
        "",
        {"MDW__DBT_UNIT_TESTS": "sometimes"},
        ["mdw.dbt_unit_tests='sometimes'", "true or false"],
    ),
    "crm encoding=utf8": (
        ["run", "crm"],
        '[sources.crm]\nencoding = "utf8"\n',
        {},
        ["sources.crm.encoding='utf8'", "'utf-8'"],
    ),
    "meta slice_days=0": (
        ["run", "meta_ads"],
        "[sources.meta_ads]\nslice_days = 0\n",
        META,
        ["sources.meta_ads.slice_days=0", ">= 1"],
    ),
    "meta backfill_slice_days=0": (
        ["run", "meta_ads"],
        "[sources.meta_ads]\nbackfill_slice_days = 0\n",
        META,
        ["sources.meta_ads.backfill_slice_days=0", ">= 1"],
    ),
    "meta attribution_days=abc": (
        ["run", "meta_ads"],
        "",
        {**META, "SOURCES__META_ADS__ATTRIBUTION_DAYS": "abc"},
        ["sources.meta_ads.attribution_days='abc'", "whole number >= 1"],
    ),
    "meta account_ids=act_12x": (
        ["run", "meta_ads"],
        '[sources.meta_ads]\naccount_ids = "act_12x"\n',
        {k: v for k, v in META.items() if k != "SOURCES__META_ADS__ACCOUNT_IDS"},
        ["sources.meta_ads.account_ids='act_12x'", "act_123"],
    ),
    "meta backfill page_size=0": (
        ["backfill", "meta_ads", "--since", "2026-08-01", "--until", "2026-08-02"],
        "",
        {**META, "SOURCES__META_ADS__PAGE_SIZE": "0"},
        ["sources.meta_ads.page_size=0", ">= 1"],
    ),
    "ga4 lookback_days=0": (
        ["run", "ga4"],
        "[sources.ga4]\nlookback_days = 0\n",
        GA4,
        ["sources.ga4.lookback_days=0", ">= 1"],
    ),
    "ga4 slice_days=0": (
        ["run", "ga4"],
        "",
        {**GA4, "SOURCES__GA4__SLICE_DAYS": "0"},
        ["sources.ga4.slice_days=0", ">= 1"],
    ),
    "ga4 page_size=0": (["run", "ga4"], "[sources.ga4]\npage_size = 0\n", GA4, ["sources.ga4.page_size=0", ">= 1"]),
    "ga4 property_ids unset": (
        ["run", "ga4"],
        "",
        {k: v for k, v in GA4.items() if k != "SOURCES__GA4__PROPERTY_IDS"},
        ["sources.ga4.property_ids is not set", "SOURCES__GA4__PROPERTY_IDS"],
    ),
    # --demo: the sandbox supplies the token and accounts; the configured slice_days is still checked first
    "demo meta slice_days=0": (
        ["run", "meta_ads", "--demo"],
        "[sources.meta_ads]\nslice_days = 0\n",
        {},
        ["sources.meta_ads.slice_days=0"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_wrong_setting_is_one_line_and_exit_2_before_anything_runs(tmp_path: Path, case: str) -> None:
    argv, config, env, fragments = CASES[case]
    code, out, err = mdw(tmp_path, argv, config, env)
    assert_one_line_error(code, out, err, *fragments)
    assert_nothing_ran(tmp_path / "data")


def test_a_malformed_config_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    code, out, err = mdw(tmp_path, ["run", "crm"], "[mdw]\nload_max_files = \n")
    assert_one_line_error(code, out, err, str(tmp_path / ".dlt" / "config.toml"), "line 9")
    assert_nothing_ran(tmp_path / "data")


def test_a_data_dir_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    file = tmp_path / "data"
    file.write_text("not a folder")
    code, out, err = mdw(tmp_path, ["run", "crm"], env={"MDW__DATA_DIR": str(file)})
    assert_one_line_error(code, out, err, f"mdw.data_dir='{file}'", "folder")
    assert file.read_text() == "not a folder"


def test_settings_are_checked_in_well_under_a_second(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__META_ADS__SLICE_DAYS", "0")
    started = time.perf_counter()
    with pytest.raises(SettingError, match=r"sources\.meta_ads\.slice_days=0 is not allowed: use a whole number >= 1"):
        check_settings(meta_plugin, partial=True)
    assert time.perf_counter() - started < 1


def test_a_single_account_id_is_a_list_of_one(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    from marketing_dwh.demo_world import DemoWorld
    from sources.meta_ads.emulator import GraphEmulator, demo_data
    from test_meta_units import FakeClock

    world = DemoWorld()
    first, second = (a.account_id for a in world.accounts("meta"))
    monkeypatch.setenv("SOURCES__META_ADS__ACCOUNT_IDS", f"act_{first}")
    monkeypatch.setenv("SOURCES__META_ADS__ACCESS_TOKEN", "token")
    assert check_settings(meta_plugin)["account_ids"] == [f"act_{first}"]
    with GraphEmulator(demo_data(world)) as emu:
        source_kwargs = {"access_token": emu.access_token, "graph_url": emu.url, "today": "2026-08-03",
                         "initial_days": 2, "poll_interval_s": 0.001, "clock": FakeClock()}  # fmt: skip
        report = RunReport(target.name, "test")
        run_source(meta_plugin, target, report, source_kwargs)
    assert not report.failed, [s.error for s in report.steps]
    assert query(target, "select distinct account_id from raw_meta_ads.insights") == [(first,)]
    assert second != first


def test_a_list_setting_also_takes_a_json_list_from_the_environment(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__GA4__PROPERTY_IDS", json.dumps(["1", "properties/2"]))
    assert check_settings(ga4_plugin)["property_ids"] == ["1", "properties/2"]
    monkeypatch.setenv("SOURCES__GA4__PROPERTY_IDS", "GA-1")
    with pytest.raises(SettingError, match=r"sources\.ga4\.property_ids='GA-1' is not allowed: use a GA4 property id"):
        check_settings(ga4_plugin)


def test_describe_error_keeps_dlts_own_message_for_a_setting() -> None:
    try:
        try:
            json.loads("act_123")
        except ValueError as parse_error:
            raise ConfigValueCannotBeCoercedException("account_ids", "act_123", list) from parse_error
    except ConfigValueCannotBeCoercedException as exc:
        text = describe_error(exc)
    assert text.startswith("ConfigValueCannotBeCoercedException: ") and "field `account_ids`" in text


def test_a_setting_dlt_cannot_coerce_is_named_in_the_run_summary(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__GA4__PROPERTY_TIMEZONES", "Europe/Berlin")  # not a {property id = zone} table
    report = RunReport(target.name, "test")
    run_source(ga4_plugin, target, report, {"property_ids": ["1"], "api_endpoint": "http://127.0.0.1:9"})
    extract = next(s for s in report.steps if s.step == "extract")
    assert extract.status == "failed" and "field `property_timezones` cannot be coerced" in extract.error


def test_crm_globs_from_config_are_read_one_or_many(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    from sources.crm.plugin import plugin as crm_plugin

    monkeypatch.setenv("SOURCES__CRM__ORDERS_GLOB", "exports/orders*.csv")
    assert check_settings(crm_plugin)["orders_glob"] == ["exports/orders*.csv"]
    monkeypatch.setenv("SOURCES__CRM__ORDERS_GLOB", '["a/orders*.csv", "b/orders*.csv"]')
    assert check_settings(crm_plugin)["orders_glob"] == ["a/orders*.csv", "b/orders*.csv"]
    monkeypatch.setenv("SOURCES__CRM__ORDERS_GLOB", "/abs/orders*.csv")
    with pytest.raises(SettingError, match=r"sources\.crm\.orders_glob=\['/abs/orders\*\.csv'\] is not allowed"):
        check_settings(crm_plugin)


@pytest.mark.parametrize(
    ("variable", "value", "setting"),
    [
        ("MDW__TARGETS__LOCAL__DUCKDB_MEMORY_LIMIT", "lots", "mdw.targets.local.duckdb_memory_limit='lots'"),
        ("MDW__TARGETS__LOCAL__WAREHOUSE", "sqlite", "mdw.targets.local.warehouse='sqlite'"),
        ("MDW__LOAD_MAX_FILES", "2.5", "mdw.load_max_files='2.5'"),
    ],
)
def test_target_settings_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, setting: str
) -> None:
    from pipelines.targets import current_target

    monkeypatch.chdir(REPO)
    monkeypatch.setenv("MDW__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingError, match=re.escape(setting) + " is not allowed: use "):
        current_target("local")
    assert not (tmp_path / "data").exists()


def test_a_wrong_dashboard_setting_is_one_line_before_the_dashboard_starts(tmp_path: Path) -> None:
    env = {"MDW__TARGETS__LOCAL__DATASETS": '{"gold": "gold; drop table x"}'}
    code, out, err = mdw(tmp_path, ["dashboard", "--port", "9"], env=env)
    assert_one_line_error(code, out, err, "mdw.targets.local.datasets={'gold': 'gold; drop table x'}", "plain SQL")


@pytest.mark.parametrize(
    ("setting", "value", "fragments"),
    [
        ("datasets", '{"gold": "gold prod"}', ["mdw.targets.local.datasets=", "plain SQL names"]),
        ("datasets", "gold_prod", ["mdw.targets.local.datasets='gold_prod'", "{<schema> ="]),
    ],
)
def test_dashboard_settings_are_checked(
    target: Target, monkeypatch: pytest.MonkeyPatch, setting: str, value: str, fragments: list[str]
) -> None:
    from dashboard.warehouse import dashboard_settings, open_warehouse

    monkeypatch.setenv(f"MDW__TARGETS__LOCAL__{setting.upper()}", value)
    with pytest.raises(SettingError) as raised:
        dashboard_settings(target)
    assert all(f in str(raised.value) for f in fragments) and "\n" not in str(raised.value), str(raised.value)
    monkeypatch.setenv("MDW__TARGETS__LOCAL__DATASETS", '{"gold": "gold_prod"}')
    assert open_warehouse(target).table("gold", "mart_orders") == "gold_prod.mart_orders"


AIRFLOW_CASES = {
    # environment variable: (value, what the one line names)
    "MDW__AIRFLOW__RETRIES": ("-1", ["mdw.airflow.retries=-1", "whole number >= 0"]),
    "MDW__AIRFLOW__RETRY_DELAY_MINUTES": ("soon", ["mdw.airflow.retry_delay_minutes='soon'", "number > 0"]),
    "MDW__AIRFLOW__DAGRUN_TIMEOUT_MINUTES": ("0", ["mdw.airflow.dagrun_timeout_minutes=0", "> 0"]),
    "MDW__AIRFLOW__EXPECTED_MINUTES": ('{"ingest_crm": -5}', ["mdw.airflow.expected_minutes=", "{<dag id> ="]),
    "MDW__AIRFLOW__DEADLINE_MINUTES": ("60", ["mdw.airflow.deadline_minutes=60", "{<dag id> ="]),
    "MDW__AIRFLOW__START_DATE": ("yesterday", ["mdw.airflow.start_date='yesterday'", "YYYY-MM-DD"]),
}


@pytest.fixture
def airflow_settings(monkeypatch: pytest.MonkeyPatch) -> type:
    """``AirflowSettings`` importable as Airflow imports it (the dags folder on ``sys.path``); the environment it
    changes (``DLT_PROJECT_DIR``, as dlt's Airflow helper does) is restored after the test."""
    monkeypatch.syspath_prepend(str(REPO / "airflow_dags"))
    monkeypatch.setenv("DLT_PROJECT_DIR", str(REPO))
    from mdw_airflow.settings import AirflowSettings

    return AirflowSettings


@pytest.mark.parametrize("variable", list(AIRFLOW_CASES))
def test_airflow_settings_are_checked(airflow_settings: type, monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    value, fragments = AIRFLOW_CASES[variable]
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingError) as raised:
        airflow_settings.load()
    message = str(raised.value)
    assert "\n" not in message and all(f in message for f in fragments), message


def test_airflow_settings_come_from_config_toml_and_the_environment(
    airflow_settings: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = airflow_settings.load()
    assert (cfg.retries, cfg.schedule, cfg.tags) == (2, "@daily", ["mdw"])  # .dlt/config.toml and the defaults
    assert cfg.expected("ingest_crm").total_seconds() == 300 and cfg.deadline("dbt_transform").total_seconds() == 3600
    monkeypatch.setenv("MDW__AIRFLOW__RETRIES", "3")
    monkeypatch.setenv("MDW__AIRFLOW__EXPECTED_MINUTES", '{"ingest_new": 7}')
    monkeypatch.setenv("MDW__AIRFLOW__TAGS", '["mdw", "team-a"]')
    cfg = airflow_settings.load()
    assert (cfg.retries, cfg.expected_minutes, cfg.tags) == (3, {"ingest_new": 7.0}, ["mdw", "team-a"])
    assert cfg.deadline("ingest_new").total_seconds() == 3 * 7 * 60
