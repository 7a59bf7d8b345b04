"""Crash consistency of the whole demo: `mdw demo` SIGKILLed at progress lines of every phase, then rerun.

One data dir is built without interruption (the reference). A second one is built by a chain of runs: the first
run is killed at the first kill point, its rerun at the second, and so on; the last rerun completes. Then every
raw and Gold table of the two warehouses must hold the same rows (an order-independent hash of each table, row
counts too), no dlt package may be left pending, and `ops.runs` must hold each killed run once, `interrupted`.

A kill point is a progress line (plus, for the Meta extract, a fixed second to land among its report runs), never
a bare timer: the runs print dlt's stage lines (`-v`) and, for the warehouse-load and dbt kills, dlt's job lines
and dbt's node lines (`RUNTIME__LOG_LEVEL=INFO`). Each kill checks that it landed inside its phase: the line that
ends the phase was never printed, where the phase leaves a dlt package behind that package is pending after the
kill, and the warehouse-load kill leaves raw rows of a load dlt did not record (the half-loaded state).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import dlt
import duckdb
import pytest

from conftest import REPO
from marketing_dwh.demo_world import DemoWorld
from sources.crm.demo import write_crm_landing

SCALE = 0.05  # 34 orders, 2,372 Meta insight rows: one uninterrupted demo takes about 50 s here (30 s without
# dbt's tests)
RUN_TIMEOUT_S = 240

# Columns whose values legitimately differ between two runs of the same demo world, per table (None: every table).
# Everything else must be equal, row for row.
VOLATILE_COLUMNS: dict[str | None, dict[str, str]] = {
    None: {
        "_dlt_load_id": "dlt's load id is the time the load package was created",
        "_bronze_load_id": "the load id of the Bronze package the row came from (a time, as above)",
        "_dlt_id": "dlt's random row id (tables without a key of their own)",
        "_load_epoch": "Gold: the load time a row came from (derived from _dlt_load_id)",
    },
    "raw_meta_ads.insights": {"_fetched_at": "when the insights report was fetched from the emulator"},
    "raw_google_ads.campaign_stats_daily": {"_fetched_at": "when the metrics were fetched from the emulator"},
    "raw_google_ads.ad_group_stats_daily": {"_fetched_at": "when the metrics were fetched from the emulator"},
    "raw_ga4.quota_ledger": {"requested_at": "when the Data API request was made"},
    "raw_ga4.report_metadata": {"requested_at": "when the Data API request was made"},
}
# Append-only logs of API responses: every run that extracts GA4 requests its lookback window again, so each rerun
# adds rows. Compared per extraction (`_bronze_load_id`): the chain's first equals the reference's only one, and
# every later one is a rerun's lookback, once per GA4 extract the reruns completed (none lost, none doubled).
REQUEST_LOGS = {"raw_ga4.quota_ledger", "raw_ga4.report_metadata"}


@dataclass(frozen=True)
class KillPoint:
    phase: str
    after: tuple[str, ...]  # regexes of progress lines, in order: the kill follows the last one
    phase_over: str  # regex of the line that ends the phase: it must never be printed
    pending: str | None = None  # the dlt pipeline whose package the kill must leave pending
    half_loaded: str | None = None  # the dataset the kill must leave with rows of a load dlt did not record
    delay_s: float = 0.0
    env: dict[str, str] = field(default_factory=dict)


KILL_POINTS = (
    KillPoint(
        "extract",  # Meta's async report runs in flight (the extract takes ~5 s)
        (r"\[meta_ads\] extract -> Bronze", r"-+ Extract meta_ads -+"),
        r"\[meta_ads\] extract \w+ in",
        delay_s=1.0,
    ),
    KillPoint(
        "ops",  # the rerun records its start (and the first run as interrupted) in ops.runs
        (r"\[ops\] recording run \w+ as running",),
        r"preparing sandbox",
    ),
    KillPoint(
        "Bronze",  # the extracted package is being normalized and written to Bronze
        (r"\[meta_ads\] extract -> Bronze", r"-+ Normalize meta_ads in"),
        r"\[meta_ads\] extract \w+ in",
        pending="meta_ads_bronze",
    ),
    KillPoint(
        "warehouse load",  # raw_meta_ads's first load, once dlt has merged its first table: the others not yet
        (r"\[meta_ads\] Bronze -> warehouse", r"Job for \w+\.\w+\.sql completed in load"),
        r"\[meta_ads\] load \w+ in",
        pending="meta_ads_warehouse",
        half_loaded="raw_meta_ads",
        env={"RUNTIME__LOG_LEVEL": "INFO"},
    ),
    KillPoint(
        "dbt",  # dbt build: Silver and the first Gold tables done, an incremental Gold fact being built (in
        # gold__staging: Gold is published once audited)
        (r"\[dbt\] build", r"START sql \w+ model gold__staging\.fct_ad_performance_daily"),
        r"\[dbt\] build \w+ in",
        env={"RUNTIME__LOG_LEVEL": "INFO"},
    ),
)


@dataclass
class Killed:
    point: KillPoint
    run_id: str
    output: str
    seconds: float
    pending: list[str]
    half_loaded: dict[str, int]  # rows per raw table of the load the kill left unrecorded


def _env(data_dir: Path, pycache: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "MDW__DATA_DIR": str(data_dir), "MDW__TARGET": "local", **extra}
    # bytecode cached across the test's runs (this machine sets PYTHONDONTWRITEBYTECODE): ~3 s less per process
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def _demo(
    data_dir: Path, pycache: Path, verbose: bool = True, dbt_tests: bool = False, **env: str
) -> subprocess.Popen[str]:
    """`mdw demo` at the small scale. dbt's data and unit tests run only where ``dbt_tests``: they write no table,
    and leaving them out halves each dbt build (the last rerun runs them all, on the warehouse the kills left)."""
    argv = [sys.executable, "-m", "pipelines.cli", *(["-v"] if verbose else []), "demo", "--scale", str(SCALE)]
    if not dbt_tests:
        env = {"DBT_EXCLUDE_RESOURCE_TYPES": "test unit_test", **env}
    return subprocess.Popen(
        argv,
        cwd=REPO,
        env=_env(data_dir, pycache, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the kill takes dbt's subprocess with it
    )


def _kill(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):  # the process group is gone already
        os.killpg(proc.pid, signal.SIGKILL)


def _finish(proc: subprocess.Popen[str]) -> str:
    """The rest of the process's output once it has ended (killed after RUN_TIMEOUT_S)."""
    watchdog = threading.Timer(RUN_TIMEOUT_S, _kill, [proc])
    watchdog.start()
    try:
        rest = proc.stdout.read()
        proc.wait()
    finally:
        watchdog.cancel()
    return rest


def _run_id(output: str) -> str:
    found = re.search(r"\[ops\] recording run (\w+) as running", output)
    assert found, output
    return found.group(1)


def _killed_run(data_dir: Path, pycache: Path, point: KillPoint) -> Killed:
    started = time.monotonic()
    proc = _demo(data_dir, pycache, **point.env)
    watchdog = threading.Timer(RUN_TIMEOUT_S, _kill, [proc])
    watchdog.start()
    seen: list[str] = []
    try:
        for pattern in point.after:
            for line in proc.stdout:
                seen.append(line)
                if re.search(pattern, line):
                    break
            else:
                pytest.fail(f"kill point {point.phase}: no line matching {pattern!r}\n{''.join(seen[-40:])}")
        time.sleep(point.delay_s)
        _kill(proc)
        seconds = time.monotonic() - started
    finally:
        watchdog.cancel()
    after = _finish(proc)
    output = "".join(seen) + after
    assert proc.returncode == -signal.SIGKILL, f"{point.phase}: exit {proc.returncode}\n{output[-3000:]}"
    over = [line for line in after.splitlines() if re.search(point.phase_over, line)]
    assert not over, f"kill point {point.phase}: the phase was over before the kill landed: {over}"
    pending = _pending(data_dir)
    if point.pending:
        assert point.pending in pending, f"kill point {point.phase}: no package of {point.pending} left pending"
    half_loaded = _unfinished_rows(data_dir, point.half_loaded) if point.half_loaded else {}
    if point.half_loaded:
        assert any(half_loaded.values()), f"kill point {point.phase}: nothing half-loaded in {point.half_loaded}"
    return Killed(point, _run_id(output), output, seconds, pending, half_loaded)


def _pending(data_dir: Path) -> list[str]:
    """The dlt pipelines under the data dir with a load package not loaded yet."""
    pipelines_dir = data_dir / "pipelines"
    names = sorted(p.name for p in pipelines_dir.iterdir() if (p / "state.json").exists())
    return [n for n in names if dlt.attach(pipeline_name=n, pipelines_dir=str(pipelines_dir)).has_pending_data]


def _unfinished_rows(data_dir: Path, dataset: str) -> dict[str, int]:
    """Rows of ``dataset`` from loads dlt has not recorded as complete in its ``_dlt_loads`` (the half-loaded
    state the dashboard flags, see ``dashboard.loads``)."""
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        columns = con.execute(
            "select table_name, column_name from information_schema.columns where table_schema = ?", [dataset]
        ).fetchall()
        tables = {t for t, c in columns if c == "_dlt_load_id" and not t.startswith("_dlt_")}
        recorded = any(t == "_dlt_loads" for t, _ in columns)  # none yet: the first load never completed
        done = f"select load_id from {dataset}._dlt_loads where status = 0" if recorded else "select null where false"
        sql = "select count(*) from {}.{} where _dlt_load_id not in ({})"
        return {t: con.execute(sql.format(dataset, t, done)).fetchone()[0] for t in sorted(tables)}


def _landing(data_dir: Path) -> None:
    """The CRM landing files the demo's sandbox writes, written beforehand with one fixed time in both data dirs,
    so the file identities (and the row versions made from them) are equal; the sandbox keeps unchanged files."""
    folder = data_dir / "demo" / "crm" / "landing" / "crm"
    stamp = 1_790_000_000  # 2026-09-21
    for path in write_crm_landing(DemoWorld(scale=SCALE), folder):
        os.utime(path, (stamp, stamp))


def _volatile(table: str) -> set[str]:
    return set(VOLATILE_COLUMNS[None]) | set(VOLATILE_COLUMNS.get(table, {}))


Digest = tuple[int, int, dict[str, int]]


def _contents(data_dir: Path) -> dict[str, list[Digest]]:
    """Per raw and Gold table: rows, an order-independent hash of its rows and one hash per column (for the request
    logs, one such digest per extraction, oldest first).

    Paths inside the data dir are compared relative to it; the volatile columns above are left out."""
    out = {}
    folder = "'" + str(data_dir).replace("'", "''") + "'"
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        tables = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where (table_schema like 'raw\\_%' escape '\\' and table_schema not like '%\\_staging' escape '\\' "
            "or table_schema = 'gold') and table_name not like '\\_dlt\\_%' escape '\\' order by 1"
        ).fetchall()
        for (table,) in tables:
            schema, name = table.split(".")
            columns = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by column_name",
                [schema, name],
            ).fetchall()
            exprs = {
                c: f"replace(\"{c}\", {folder}, '<data_dir>')" if kind == "VARCHAR" else f'"{c}"'
                for c, kind in columns
                if c not in _volatile(table)
            }
            digests = ", ".join(f"sum(hash({e}))" for e in exprs.values())
            sql = f"select count(*), sum(hash({', '.join(exprs.values())})), {digests} from {table}"
            if table in REQUEST_LOGS:
                sql += " group by _bronze_load_id order by _bronze_load_id"
            rows = con.execute(sql).fetchall()
            out[table] = [(r[0], r[1], dict(zip(exprs, r[2:], strict=True))) for r in rows]
    return out


def _differences(reference: dict[str, list[Digest]], chained: dict[str, list[Digest]], reruns: int) -> list[str]:
    """What differs between the two warehouses; ``reruns``: GA4 extracts completed after the chain's first."""
    problems = []
    for table in sorted(set(reference) | set(chained)):
        if table not in reference or table not in chained:
            problems.append(f"{table}: only in the {'reference' if table in reference else 'chained'} warehouse")
            continue
        expected, got = reference[table], chained[table]
        if table in REQUEST_LOGS:
            if len(got) != 1 + reruns or any(g[:2] != got[1][:2] for g in got[1:]):
                shape = [g[0] for g in got]
                problems.append(f"{table}: expected the first extraction and {reruns} equal reruns, got rows {shape}")
            expected, got = expected[:1], got[:1]
        (rows_a, hash_a, cols_a), (rows_b, hash_b, cols_b) = expected[0], got[0]
        if (rows_a, hash_a) != (rows_b, hash_b):
            columns = sorted(c for c in set(cols_a) | set(cols_b) if cols_a.get(c) != cols_b.get(c))
            problems.append(f"{table}: {rows_a} rows vs {rows_b} after the kills; columns differing: {columns}")
    return problems


def test_demo_killed_in_every_phase_ends_as_an_uninterrupted_run(tmp_path: Path) -> None:
    started = time.monotonic()
    pycache, reference_dir, chained_dir = tmp_path / "pycache", tmp_path / "reference", tmp_path / "chained"
    _landing(reference_dir)
    _landing(chained_dir)
    reference = _demo(reference_dir, pycache, verbose=False)  # meanwhile: the two mostly use one core each

    killed = [_killed_run(chained_dir, pycache, point) for point in KILL_POINTS]
    final = _demo(chained_dir, pycache, dbt_tests=True)
    final_output = _finish(final)
    assert final.returncode == 0, final_output[-5000:]  # dbt's tests too pass on what the kills left
    assert re.search(r"nodes pass\s+\d+", final_output), final_output[-3000:]
    reference_output = _finish(reference)
    assert reference.returncode == 0, reference_output[-5000:]

    # the same rows in every raw and Gold table
    expected, got = _contents(reference_dir), _contents(chained_dir)
    outputs = (*(k.output for k in killed), final_output)
    reruns = sum(bool(re.search(r"\[ga4\] extract (ok|nothing_new) in", o)) for o in outputs) - 1
    differences = _differences(expected, got, reruns)
    assert not differences, "\n".join(differences)
    assert {t.split(".")[0] for t in expected} >= {"raw_crm", "raw_meta_ads", "raw_ga4", "gold"}
    # nothing left pending in any pipeline
    assert _pending(chained_dir) == []
    # ops.runs: every killed run once, interrupted, and the last run ok
    with duckdb.connect(str(chained_dir / "warehouse.duckdb"), read_only=True) as con:
        runs = con.execute("select run_id, status from ops.runs order by started_at").fetchall()
    assert runs == [(k.run_id, "interrupted") for k in killed] + [(_run_id(final_output), "ok")], runs

    rows = sum(d[0] for digests in expected.values() for d in digests)
    print(
        f"\ncrash consistency: {len(KILL_POINTS)} kills "
        + ", ".join(f"{k.point.phase} at {k.seconds:.1f} s" for k in killed)
        + f"; {len(expected)} tables, {rows:,} rows in the reference; {time.monotonic() - started:.0f} s in all"
    )
    for k in killed:
        if k.half_loaded:
            print(f"the {k.point.phase} kill left rows of an unrecorded load: {k.half_loaded}")
