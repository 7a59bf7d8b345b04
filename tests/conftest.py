"""Shared fixtures: every test gets its own data dir (Bronze, DuckDB, dlt pipeline state)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import textwrap
from collections.abc import Iterator
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import duckdb
import pytest

from pipelines.report import RunReport
from pipelines.runner import run_source
from pipelines.targets import Target, current_target
from sources.crm.plugin import plugin as crm_plugin
from sources.crm.settings import ORDER_COLUMNS

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Every test ends with the environment it started with. dlt's Airflow helper points ``DLT_PROJECT_DIR`` and
    ``DLT_DATA_DIR`` at the DAG folder of the worker it runs in (right in Airflow): a DAG test must not leave that
    to later tests, whose `mdw` subprocesses would read another folder's ``.dlt`` config."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Target:
    monkeypatch.chdir(REPO)  # dlt reads .dlt/config.toml from the working directory
    monkeypatch.setenv("MDW__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MDW__TARGET", "local")
    return current_target()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    path = tmp_path / "landing"
    path.mkdir()
    return path


# a child that runs `mdw ...` and kills itself (SIGKILL) where KILL_AT says: `start_run` when the run is about to
# record its start in ops.runs, `schema:<name>` when dlt migrates the warehouse schema <name> (before any table of
# the load exists), `complete:<name>` when dlt is about to record a finished load of schema <name> in `_dlt_loads`
# (every table loaded, the load not recorded), else when dlt starts a DuckDB load job whose file name contains
# KILL_AT. No cleanup, no finally blocks: exactly like the OOM killer or a lost machine.
KILLING_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from dlt.destinations.impl.duckdb.duck import DuckDbClient, DuckDbCopyJob
    from dlt.destinations.insert_job_client import InsertValuesLoadJob
    from dlt.destinations.job_client_impl import ModelLoadJob

    KILL_AT = os.environ["KILL_AT"]

    def killing(method, hit):
        def wrapper(self, *args, **kwargs):
            if hit(self):
                os.kill(os.getpid(), signal.SIGKILL)
            return method(self, *args, **kwargs)
        return wrapper

    if KILL_AT == "start_run":
        import pipelines.ops
        pipelines.ops.start_run = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
    elif KILL_AT.startswith(("schema:", "complete:")):
        in_schema = lambda client: client.schema.name == KILL_AT.split(":", 1)[1]
        method = "update_stored_schema" if KILL_AT.startswith("schema:") else "complete_load"
        setattr(DuckDbClient, method, killing(getattr(DuckDbClient, method), in_schema))
    else:
        in_file = lambda job: KILL_AT in job._file_path
        DuckDbCopyJob.run = killing(DuckDbCopyJob.run, in_file)
        InsertValuesLoadJob.run = killing(InsertValuesLoadJob.run, in_file)
        ModelLoadJob.run = killing(ModelLoadJob.run, in_file)  # Bronze Parquet read by DuckDB itself
    from pipelines.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def order_row(i: int, **overrides: str) -> dict[str, str]:
    row = {
        "order_id": f"ORD-{i:06d}",
        "contact_id": f"C-{i % 50:06d}",
        "user_pseudo_id": f"{1000000 + i}.1722500000",
        "order_ts": "2026-08-03T14:05:09+02:00",
        "order_date": "2026-08-03",
        "amount": "19.90",
        "currency": "EUR",
        "items": "2",
        "campaign_id": "",
        "channel": "direct",
        "utm_source": "",
        "utm_medium": "",
        "transaction_id": f"T-{i:06d}",
        "is_repeat": "false",
        "payment_method": "card",
    }
    row.update(overrides)
    return row


def write_orders(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    columns = columns or list(ORDER_COLUMNS)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def run_crm(target: Target, landing: Path) -> RunReport:
    """Extract + load the CRM source (no dbt) and return the run report."""
    report = RunReport(target.name, "test")
    run_source(crm_plugin, target, report, {"landing_url": str(landing)})
    failed = [s.error for s in report.steps if s.error]
    assert not failed, failed
    return report


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Target, str]]:
    """The demo warehouse, built once per session with `mdw demo`; yields the target and the printed summary.

    Tests that change it put it back (or work on a copy, see `warehouse_copy`).
    """
    from pipelines.cli import main

    data = tmp_path_factory.mktemp("demo") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        mp.setenv("MDW__DATA_DIR", str(data))
        mp.setenv("MDW__TARGET", "local")
        mp.setenv("MDW__DBT_UNIT_TESTS", "true")  # CI runs dbt's unit tests, once, in this build
        out = StringIO()
        with redirect_stdout(out):
            code = main(["demo"])
        assert code == 0, out.getvalue()
        mp.delenv("MDW__DBT_UNIT_TESTS")  # the tests' own pipeline builds leave them out, as scheduled runs do
        yield current_target(), out.getvalue()


def unit_test_names(target: Target) -> set[str]:
    """The names of the dbt unit tests in the project's manifest (the last parse for ``target``)."""
    from pipelines.dbt_runner import target_path

    manifest = json.loads((target_path(target) / "manifest.json").read_text())
    return {node["name"] for node in manifest["unit_tests"].values()}


def warehouse_copy(source: Target, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Target:
    """A target whose warehouse is a copy of ``source``'s, for tests that change Gold."""
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source.warehouse_path, data_dir / source.warehouse_path.name)
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("MDW__DATA_DIR", str(data_dir))
    monkeypatch.setenv("MDW__TARGET", "local")
    return current_target()


LATEST_ORDERS = """(select * from raw_crm.orders
    qualify row_number() over (
        partition by order_id, line_kind
        order by _source_modified_at desc, _source_file desc, _source_line desc, _bronze_load_id desc, _dlt_load_id desc
    ) = 1)"""


def latest_orders(where: str = "line_kind = 'order'") -> str:
    """SQL for the latest delivered version of each order line in raw_crm.orders (raw keeps every version)."""
    return f"(select * from {LATEST_ORDERS} where {where})"


def query(target: Target, sql: str) -> list[tuple]:
    with duckdb.connect(str(target.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()
