"""Plugin discovery through the `mdw.sources` entry point, and a third-party plugin run end to end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import REPO, query
from marketing_dwh.registry import ENTRY_POINT_GROUP, UnknownSourceError, discover, get, resolve
from pipelines.cli import main
from pipelines.targets import Target

FIXTURE = REPO / "tests" / "fixtures" / "example_plugin"


def install_fixture_plugin(site: Path) -> None:
    """Install the fixture package into `site` the way an installer lays it out: package + dist-info."""
    meta = tomllib.loads((FIXTURE / "pyproject.toml").read_text())["project"]
    shutil.copytree(FIXTURE / "mdw_example", site / "mdw_example")
    dist_info = site / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n")
    eps = meta["entry-points"][ENTRY_POINT_GROUP]
    (dist_info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items())
    )


def test_builtin_crm_registers_through_the_entry_point() -> None:
    plugins = discover()
    assert "crm" in plugins
    crm = get("crm")
    assert crm.dataset_name == "raw_crm"
    assert crm.tables["orders"].primary_key == (
        "order_id",
        "line_kind",
        "_source_file",
        "_source_modified_at",
        "_source_identity",
    )
    assert crm.tables["orders"].entity_key == ("order_id", "line_kind")
    assert crm.tables["orders"].write_disposition == "merge"
    assert crm.config_section == "sources.crm"


def test_unknown_source_is_a_clear_error(capsys: pytest.CaptureFixture[str], target: Target) -> None:
    with pytest.raises(UnknownSourceError, match=r"unknown source 'nope'\. Known sources: .*crm"):
        resolve(["crm", "nope"])
    assert main(["run", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown source 'nope'" in err and "crm" in err


def test_mdw_sources_lists_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sources"]) == 0
    out = capsys.readouterr().out
    assert "crm" in out and "orders" in out and "merge" in out and "order_id" in out


def test_third_party_plugin_runs_through_mdw_run(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fixture_plugin(site)
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(site), "MDW__DATA_DIR": str(data), "MDW__TARGET": "local"}
    mdw = [sys.executable, "-m", "pipelines.cli"]

    listed = subprocess.run([*mdw, "sources"], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert "weather" in listed.stdout and "example third-party plugin" in listed.stdout

    for _ in range(2):  # a rerun merges on the declared keys
        run = subprocess.run([*mdw, "run", "weather", "--demo"], cwd=REPO, env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
    assert "readings" in run.stdout

    bronze = list((data / "bronze" / "weather" / "readings").iterdir())
    assert len(bronze) == 2  # one immutable Bronze file per run
    wh = Target("local", data, str(data / "bronze"), "duckdb", data / "warehouse.duckdb")
    assert query(wh, "select count(*), count(distinct (store_id, day)) from raw_weather.readings") == [(6, 6)]
    assert query(wh, "select count(*) from ops.run_tables where source = 'weather' and step = 'load'") == [(2,)]
