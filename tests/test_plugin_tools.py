"""Tools for plugin authors: the public `marketing_dwh` API, `mdw new-source` and `mdw check-plugin`."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import REPO, query
from marketing_dwh.conformance import CHECKS
from marketing_dwh.scaffold import new_source
from pipelines.cli import main
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


def check_plugin(site: Path, tmp_path: Path, name: str, *args: str) -> tuple[int, str]:
    """`mdw check-plugin NAME` in a child process that sees the plugins installed in `site`."""
    argv = [sys.executable, "-m", "pipelines.cli", "check-plugin", name, *args]
    env = _env(site, tmp_path / "unused-data-dir")  # the checks make their own workspaces
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    return proc.returncode, proc.stdout + proc.stderr


def check_lines(output: str) -> dict[str, str]:
    """The PASS / FAIL verdict per check name in `mdw check-plugin` output."""
    verdicts = {}
    for line in output.splitlines():
        verdict, _, rest = line.partition(" ")
        if verdict in ("PASS", "FAIL"):
            verdicts[rest.split()[0]] = verdict
    return verdicts


def test_a_scaffolded_plugin_passes_the_conformance_checks_as_generated(tmp_path: Path) -> None:
    project, site = tmp_path / "mdw-acme", tmp_path / "site"
    assert main(["new-source", "acme", "--dir", str(project)]) == 0
    code = (project / "mdw_acme" / "__init__.py").read_text()
    tree = ast.parse(code)
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "marketing_dwh" in imported  # the plugin API, and nothing else of this repository
    assert not {m for m in imported if m.split(".")[0] in ("sources", "pipelines", "dashboard")}
    assert "dlt.sources.incremental(" in code
    assert (project / "mdw_acme" / "dbt" / "models" / "staging" / "stg_acme__records.sql").exists()
    # the generated Python is clean by the project's own rules (dlt's idiom: an incremental as an argument default)
    ruff = [str(REPO / ".venv" / "bin" / "ruff")]
    rules = ["--isolated", "--line-length", "120", "--target-version", "py311"]
    lint = subprocess.run(
        [*ruff, "check", *rules, "--select", "E,F,W,I,B,UP,SIM", "--ignore", "B008", "."],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
    fmt = subprocess.run([*ruff, "format", *rules, "--check", "."], cwd=project, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout

    install_plugin(project, site)
    code, out = check_plugin(site, tmp_path, "acme")
    assert code == 0, out
    assert check_lines(out) == dict.fromkeys(CHECKS, "PASS"), out
    assert "package mdw_acme:" in out  # its dbt package was built


def test_the_fixture_plugin_passes_the_conformance_checks(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_plugin(FIXTURE, site)
    code, out = check_plugin(site, tmp_path, "weather")
    assert code == 0, out
    assert check_lines(out) == dict.fromkeys(CHECKS, "PASS"), out
    assert "package mdw_weather:" in out
    assert "killed in the middle of its load" in out


@pytest.mark.parametrize("name", ["crm", "meta_ads", "ga4", "google_ads"])
def test_the_built_in_plugins_pass_the_conformance_checks(tmp_path: Path, name: str) -> None:
    # the built-in sources are plugins like any other: the same suite, against their sandboxes (files, emulators)
    code, out = check_plugin(tmp_path / "no-extra-site", tmp_path, name)
    assert code == 0, out
    assert check_lines(out) == dict.fromkeys(CHECKS, "PASS"), out
    assert f"package mdw_{name}:" in out  # its dbt package was built with the core project
    assert "killed in the middle of its load" in out or "killed at its first load job" in out


def test_the_checks_fail_a_plugin_that_breaks_the_rules(tmp_path: Path) -> None:
    """A variant of the fixture that appends what it re-reads and takes a token as plain config (and loads it)."""
    broken, site = tmp_path / "broken", tmp_path / "site"
    shutil.copytree(FIXTURE, broken)
    module = broken / "mdw_example" / "__init__.py"
    code = module.read_text()
    for old, new in [
        ('name="readings", write_disposition="merge"', 'name="readings", write_disposition="append"'),
        ('TableSpec(write_disposition="merge"', 'TableSpec(write_disposition="append"'),
        ("readings_file: str = dlt.config.value)", 'readings_file: str = dlt.config.value, api_token: str = "")'),
        ("yield from (json.loads(line)", "yield from ({**json.loads(line), 'token': api_token}"),
    ]:
        assert old in code
        code = code.replace(old, new)
    module.write_text(code)
    install_plugin(broken, site)

    only = ["unique_keys", "rerun_adds_nothing", "idempotent", "secrets"]
    code, out = check_plugin(site, tmp_path, "weather", *(a for c in only for a in ("--only", c)))
    assert code == 1, out
    assert check_lines(out) == dict.fromkeys(only, "FAIL"), out
    assert "readings (6 key value(s) more than once)" in out
    assert "not typed as secrets: api_token" in out
    assert "secret values found in outputs: " in out and "warehouse: api_token" in out  # the canary went into rows
    assert "0 of 4 checks passed" in out


def test_new_source_refuses_unusable_names_and_folders(tmp_path: Path) -> None:
    for name in ("Acme", "1acme", "ac-me", "class", "a__b"):
        with pytest.raises(ValueError, match="not a usable source name"):
            new_source(name, tmp_path / name)
    with pytest.raises(ValueError, match="installed already"):
        new_source("crm", tmp_path / "crm")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("")
    with pytest.raises(FileExistsError, match="not empty"):
        new_source("acme", tmp_path / "taken")


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
