"""What a process of the ``mdw`` CLI imports: ``--help`` loads no data library, and a run of the pipeline loads
none of pandas, Streamlit and SQLAlchemy (which DuckDB and dlt would import as a side effect). Checked with ``python -X
importtime``, by which modules were imported, never by how long it took."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, order_row, write_orders
from pipelines.targets import Target

UNUSED = ("pandas", "streamlit", "sqlalchemy")  # never imported on the pipeline path (pipelines/cli.py)


def _imports(*args: str, env: dict[str, str] | None = None) -> tuple[dict[str, int], str]:
    """Run ``python -X importtime -m pipelines.cli ARGS``; returns {module: cumulative µs} and its stdout."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pipelines.cli", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    modules: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit():
                modules[name.strip()] = max(modules.get(name.strip(), 0), int(cumulative))
    assert modules, proc.stderr[-2000:]
    return modules, proc.stdout


def _loaded(modules: dict[str, int], package: str) -> list[str]:
    """Submodules of ``package`` that were imported: a package really imported brings its submodules (pandas, Streamlit
    and the others here import dozens), while an import the CLI refuses is still listed by importtime, as the
    package's name alone. Which modules, never how long."""
    return sorted(m for m in modules if m.startswith(f"{package}."))


def test_help_loads_no_data_library() -> None:
    modules, out = _imports("--help")
    assert "usage: mdw" in out
    for heavy in ("dlt", "duckdb", "pyarrow", "pandas", "streamlit", "dbt", "google", "facebook_business"):
        assert not _loaded(modules, heavy), f"`mdw --help` imports {heavy}"


def test_a_pipeline_run_imports_none_of_pandas_streamlit_sqlalchemy(target: Target, landing: Path) -> None:
    write_orders(landing / "orders_2026-08-03.csv", [order_row(i) for i in range(20)])
    env = {
        "MDW__DATA_DIR": str(target.data_dir),
        "MDW__TARGET": "local",
        "SOURCES__CRM__LANDING_URL": str(landing),
    }
    for run in ("first run (loads)", "no-op rerun"):
        modules, out = _imports("run", "crm", env=env)
        assert ": ok," in out, out
        assert "dlt" in modules and "duckdb" in modules, "the run really ran the pipeline"
        for package in UNUSED:
            assert not _loaded(modules, package), f"{run}: {package} imported: {_loaded(modules, package)[:5]}"


@pytest.mark.parametrize("source", ["ga4", "meta_ads", "google_ads"])
def test_every_api_plugin_runs_without_pandas_streamlit_sqlalchemy(source: str, tmp_path: Path) -> None:
    """The process refuses these imports: every built-in plugin's run (its SDK, pyarrow, dlt, DuckDB) works
    without them, against its offline sandbox."""
    env = {"MDW__DATA_DIR": str(tmp_path / "data"), "MDW__TARGET": "local"}
    modules, out = _imports("run", source, "--demo", "--scale", "0.05", env=env)
    assert ": ok," in out, out
    for package in UNUSED:
        assert not _loaded(modules, package), f"{source}: {package} imported: {_loaded(modules, package)[:5]}"


def test_the_demo_runs_without_pandas_streamlit_sqlalchemy(tmp_path: Path) -> None:
    """`mdw demo` (every plugin against its sandbox, dbt in its own process, publishing Gold, the ops tables) is a
    lean command too: its process refuses these imports and the demo builds."""
    env = {"MDW__DATA_DIR": str(tmp_path / "data"), "MDW__TARGET": "local"}
    modules, out = _imports("demo", "--scale", "0.05", env=env)
    assert ": ok," in out and "published" in out, out
    for package in UNUSED:
        assert not _loaded(modules, package), f"demo: {package} imported: {_loaded(modules, package)[:5]}"
