"""The runner with real processes: killed runs, two runs at once, a reader holding the DuckDB file, ops history."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from conftest import KILLING_CHILD, REPO, order_row, write_orders
from pipelines.locks import exclusive
from pipelines.targets import Target


def _env(target: Target, landing: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "MDW__DATA_DIR": str(target.data_dir),
        "MDW__TARGET": "local",
        "SOURCES__CRM__LANDING_URL": str(landing),
        **extra,
    }


def _mdw(target: Target, landing: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "pipelines.cli", *args]
    return subprocess.Popen(
        argv, cwd=REPO, env=_env(target, landing, **env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _run(target: Target, landing: Path, *args: str, **env: str) -> tuple[int, str]:
    proc = _mdw(target, landing, *args, **env)
    out, _ = proc.communicate(timeout=300)
    return proc.returncode, out


def _killed_run(target: Target, landing: Path, kill_at: str) -> None:
    argv = [sys.executable, "-c", KILLING_CHILD, "run", "crm"]
    proc = subprocess.run(
        argv, cwd=REPO, env=_env(target, landing, KILL_AT=kill_at), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr


def _counts(target: Target, tables: tuple[str, ...]) -> dict[str, int]:
    counts = {}
    with duckdb.connect(str(target.warehouse_path), read_only=True) as con:
        sql = "select table_name from duckdb_tables() where schema_name = 'raw_crm'"
        existing = {t for (t,) in con.execute(sql).fetchall()}
        for table in tables:
            found = con.execute(f"select count(*) from raw_crm.{table}").fetchone() if table in existing else (0,)
            counts[table] = found[0]
    return counts


def _q(target: Target, sql: str) -> list[tuple]:
    with duckdb.connect(str(target.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def _later(path: Path) -> None:
    stamp = time.time() + 5
    os.utime(path, (stamp, stamp))


@pytest.mark.parametrize(
    "kill_at",
    [
        "schema:crm",  # the warehouse load starts: raw_crm does not exist yet
        "orders.",  # the warehouse load of the orders table
    ],
)
def test_rerun_after_a_kill_during_the_load_finishes_it_and_loads_new_data(
    target: Target, landing: Path, kill_at: str
) -> None:
    write_orders(landing / "orders_001.csv", [order_row(i) for i in range(20)])
    _killed_run(target, landing, kill_at)
    assert _counts(target, ("orders",)) == {"orders": 0}
    _later(write_orders(landing / "orders_002.csv", [order_row(i) for i in range(20, 25)]))
    before = _counts(target, ("orders", "files"))

    code, out = _run(target, landing, "run", "crm")
    assert code == 0, out
    after = _counts(target, ("orders", "files"))
    assert after == {"orders": 25, "files": 2}, out
    # the summary (and ops) count the pending package and the new one: exactly the table changes
    last = _q(target, "select run_id from ops.runs where status = 'ok' order by started_at desc limit 1")[0][0]
    loaded = dict(_q(target, f"select table_name, rows from ops.run_tables where run_id = '{last}' and step = 'load'"))
    assert {t: loaded[t] for t in after} == {t: after[t] - before[t] for t in after}
    if kill_at == "schema:crm":  # the tables were created by this run, from the package left pending
        changes = _q(target, f"select schema_changes from ops.run_tables where run_id = '{last}' and step = 'load'")
        assert {c for (c,) in changes} == {"new table"}
    assert "load nothing_new" not in out and "load ok" in out


def test_killed_runs_are_recorded_as_interrupted_exactly_once(target: Target, landing: Path) -> None:
    write_orders(landing / "orders_001.csv", [order_row(i) for i in range(3)])
    _killed_run(target, landing, kill_at="orders.")  # killed in the warehouse load
    assert _q(target, "select status from ops.runs") == [("running",)]
    # killed while recording its end: its ops package stays pending
    _later(write_orders(landing / "orders_002.csv", [order_row(i) for i in range(3, 6)]))
    _killed_run(target, landing, kill_at="run_tables.")
    # the second run marked the first one interrupted when it started
    assert _q(target, "select status from ops.runs order by started_at") == [("interrupted",), ("running",)]

    code, out = _run(target, landing, "run", "crm")
    assert code == 0, out
    runs = _q(target, "select status, count(*) from ops.runs group by 1 order by 1")
    # the first run was killed; the second finished its work (its late record lands, not lost); the third is ok
    assert runs == [("interrupted", 1), ("ok", 2)], runs
    assert _q(target, "select count(*), count(distinct run_id) from ops.runs") == [(3, 3)]
    assert _counts(target, ("orders",)) == {"orders": 6}
    # and the next run finds nothing more to mark
    code, out = _run(target, landing, "run", "crm")
    assert code == 0 and "interrupted" not in out, out
    assert _q(target, "select status, count(*) from ops.runs group by 1 order by 1") == [("interrupted", 1), ("ok", 3)]


def test_a_run_killed_before_recording_its_start_is_recorded_as_interrupted(target: Target, landing: Path) -> None:
    write_orders(landing / "orders_001.csv", [order_row(i) for i in range(3)])
    _killed_run(target, landing, kill_at="start_run")  # nothing of it in the warehouse, only its lock file
    assert not target.warehouse_path.exists()

    code, out = _run(target, landing, "run", "crm")
    assert code == 0, out
    runs = _q(target, "select command, status, error from ops.runs order by started_at")
    assert [r[:2] for r in runs] == [(None, "interrupted"), ("run", "ok")], runs
    assert "ended before its start was recorded" in runs[0][2]
    assert not list(target.run_lock("-").parent.glob("*.lock"))  # each run's lock file is gone once it is recorded
    assert _counts(target, ("orders",)) == {"orders": 3}


def test_two_runs_at_once_never_wedge_the_pipeline(target: Target, landing: Path) -> None:
    for n in range(3):
        write_orders(landing / f"orders_{n:03d}.csv", [order_row(i) for i in range(n * 10, n * 10 + 10)])
    first, second = _mdw(target, landing, "run", "crm"), _mdw(target, landing, "run", "crm")
    outputs = [p.communicate(timeout=300)[0] for p in (first, second)]
    for proc, out in zip((first, second), outputs, strict=True):
        assert proc.returncode == 0 or "another run of crm" in out, out
    assert any(p.returncode == 0 for p in (first, second)), outputs
    # nothing corrupt left behind: a later run with a new file works and loads it
    _later(write_orders(landing / "orders_009.csv", [order_row(99)]))
    code, out = _run(target, landing, "run", "crm")
    assert code == 0, out
    assert _q(target, "select count(*), count(distinct order_id) from raw_crm.orders") == [(31, 31)]


def test_a_second_run_waits_for_the_first_then_gives_up_clearly(target: Target, landing: Path) -> None:
    write_orders(landing / "orders_001.csv", [order_row(i) for i in range(5)])
    lock = target.pipeline_lock("crm_bronze")
    waiting = f"waiting for another run of crm (pipeline crm_bronze) to finish (pid {os.getpid()}"
    with exclusive(lock, "test", 1):  # this test process plays the other run
        proc = _mdw(target, landing, "run", "crm")
        seen = [proc.stdout.readline()]
        while seen[-1] and waiting not in seen[-1]:
            seen.append(proc.stdout.readline())
        time.sleep(1)
    out, _ = proc.communicate(timeout=300)
    out = "".join(seen) + out
    assert proc.returncode == 0, out
    assert waiting in out
    assert _counts(target, ("orders",)) == {"orders": 5}

    with exclusive(lock, "test", 1):
        code, out = _run(target, landing, "run", "crm", MDW__LOCK_TIMEOUT_S="1")
    assert code == 1
    assert f"another run of crm (pipeline crm_bronze) is in progress (pid {os.getpid()})" in out
    assert "mdw.lock_timeout_s" in out


# a dashboard-like reader: holds a read-only connection until told to close it (a line on stdin)
_READER = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print("reading", flush=True)
    sys.stdin.readline()
    con.close()
    """
)


def _reader(target: Target) -> subprocess.Popen[str]:
    argv = [sys.executable, "-c", _READER, str(target.warehouse_path)]
    reader = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "reading"
    return reader


def _close(reader: subprocess.Popen[str]) -> None:
    reader.stdin.write("close\n")
    reader.stdin.flush()
    reader.wait(timeout=30)


def test_the_writer_waits_for_a_reader_to_close_the_warehouse(target: Target, landing: Path) -> None:
    write_orders(landing / "orders_001.csv", [order_row(i) for i in range(5)])
    assert _run(target, landing, "run", "crm")[0] == 0
    _later(write_orders(landing / "orders_002.csv", [order_row(i) for i in range(5, 8)]))
    reader = _reader(target)  # the dashboard holds a read-only connection
    proc = _mdw(target, landing, "run", "crm")
    seen = [proc.stdout.readline()]
    while seen[-1] and "is open in another process" not in seen[-1]:
        seen.append(proc.stdout.readline())
    time.sleep(3)  # the writer keeps retrying meanwhile
    _close(reader)
    out, _ = proc.communicate(timeout=300)
    out = "".join(seen) + out
    assert proc.returncode == 0, out
    waited = re.search(r"is free after waiting ([0-9.]+) s", out)
    assert waited and float(waited.group(1)) >= 3, out
    assert _counts(target, ("orders",)) == {"orders": 8}


def test_the_writer_gives_up_on_a_reader_after_its_wait(target: Target, landing: Path) -> None:
    write_orders(landing / "orders_001.csv", [order_row(i) for i in range(5)])
    assert _run(target, landing, "run", "crm")[0] == 0
    reader = _reader(target)
    code, out = _run(target, landing, "run", "crm", MDW__TARGETS__LOCAL__DUCKDB_LOCK_WAIT_S="1")
    _close(reader)
    assert code == 1, out
    assert "stayed locked by another process" in out and "mdw.targets.local.duckdb_lock_wait_s" in out
