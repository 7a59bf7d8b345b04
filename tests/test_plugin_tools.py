"""Tools for plugin authors: the public `marketing_dwh` API, `mdw new-source` and `mdw check-plugin`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from conftest import REPO, query
from pipelines.targets import Target

FIXTURE = REPO / "tests" / "fixtures" / "example_plugin"


def install_plugin(project: Path, site: Path) -> None:
    """Install the plugin project at `project` into `site` as an installer lays it out: its packages + dist-info."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    for init in project.glob("*/__init__.py"):
        shutil.copytree(init.parent, site / init.parent.name)
    dist_info = site / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n")
    eps = meta["entry-points"]["mdw.sources"]
    (dist_info / "entry_points.txt").write_text("[mdw.sources]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))


def _env(site: Path, data: Path, *first: Path) -> dict[str, str]:
    path = os.pathsep.join(str(p) for p in (*first, site))
    return {**os.environ, "PYTHONPATH": path, "MDW__DATA_DIR": str(data), "MDW__TARGET": "local"}


def test_the_fixture_plugin_runs_beside_a_projects_own_sources_folder(tmp_path: Path) -> None:
    site, data, project = tmp_path / "site", tmp_path / "data", tmp_path / "project"
    install_plugin(FIXTURE, site)
    (project / "sources").mkdir(parents=True)
    (project / "sources" / "__init__.py").write_text("")
    (project / "sources" / "registry.py").write_text('raise ImportError("the project\'s own sources/registry.py")\n')
    env = _env(site, data, project) | {"RUNTIME__DLTHUB_TELEMETRY": "false"}
    # from the project's folder, its `sources` is the one Python finds
    probe = subprocess.run([sys.executable, "-c", "import sources.registry"], cwd=project, env=env, capture_output=True)
    assert b"the project's own sources/registry.py" in probe.stderr

    argv = [sys.executable, "-m", "pipelines.cli", "run", "weather", "--demo"]
    run = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    wh = Target("local", data, str(data / "bronze"), "duckdb", data / "warehouse.duckdb")
    assert query(wh, "select count(*), count(distinct (store_id, day)) from raw_weather.readings") == [(6, 6)]
