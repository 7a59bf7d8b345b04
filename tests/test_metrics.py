"""`mdw metrics`: the ops tables' key figures in Prometheus' text format, checked with a strict parser written here
(prometheus_client is not locked) against the ops rows of real runs, computed independently in Python."""

from __future__ import annotations

import math
import re
import threading
import urllib.request
from collections import defaultdict
from contextlib import redirect_stdout
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.cli import main
from pipelines.metrics import Metric, exposition, make_server
from pipelines.targets import Target

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}

Series = tuple[str, frozenset[tuple[str, str]]]


def _label_value(text: str, i: int) -> tuple[str, int]:
    """The quoted label value starting at text[i] (a '"'), unescaped, and the index after its closing quote."""
    assert text[i] == '"', f"label value not quoted at {i}: {text!r}"
    out, i = [], i + 1
    while True:
        assert i < len(text), f"unterminated label value: {text!r}"
        c = text[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\n":
            raise AssertionError(f"raw line feed in a label value: {text!r}")
        if c == "\\":
            nxt = text[i + 1 : i + 2]
            assert nxt in ("\\", '"', "n"), f"bad escape \\{nxt} in {text!r}"
            out.append("\n" if nxt == "n" else nxt)
            i += 2
        else:
            out.append(c)
            i += 1


def _unescape_help(text: str) -> str:
    """A HELP text unescaped: only ``\\\\`` and ``\\n`` are escapes there."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            nxt = text[i + 1 : i + 2]
            assert nxt in ("\\", "n"), f"bad escape \\{nxt} in HELP {text!r}"
            out.append("\n" if nxt == "n" else nxt)
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _value(text: str) -> float:
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf"))
    assert re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text), f"not a sample value: {text!r}"
    return float(text)


def parse(text: str) -> tuple[dict[str, dict[str, str]], dict[Series, float]]:
    """Parse Prometheus text format 0.0.4 strictly: ``({family: {"type", "help"}}, {(name, labels): value})``.

    Fails on: no final line feed, blank lines, a TYPE or HELP given twice or a TYPE after the family's samples, a
    family whose samples are not together, a sample without TYPE, a bad name, label or escape, a label given twice,
    a series given twice, a counter not ending in ``_total``."""
    assert text.endswith("\n"), "the text must end with a line feed"
    families: dict[str, dict[str, str]] = {}
    samples: dict[Series, float] = {}
    done: set[str] = set()  # families whose samples are over
    current = None
    for line in text[:-1].split("\n"):
        assert line, "blank line"
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                assert NAME.fullmatch(name), f"bad metric name {name!r}"
                assert name not in done and name != current, f"{parts[1]} of {name} after its samples"
                fam = families.setdefault(name, {})
                key = parts[1].lower()
                assert key not in fam, f"{parts[1]} of {name} given twice"
                fam[key] = parts[3] if len(parts) > 3 else ""
                if key == "type":
                    assert fam["type"] in TYPES, f"bad type {fam['type']!r}"
                    assert fam["type"] != "counter" or name.endswith("_total"), f"counter {name} without _total"
                if key == "help":
                    fam["help"] = _unescape_help(fam["help"])
            continue
        m = NAME.match(line)
        assert m, f"bad sample line {line!r}"
        name, rest = m.group(), line[m.end() :]
        labels: dict[str, str] = {}
        if rest.startswith("{"):
            i = 1
            while rest[i] != "}":
                lm = LABEL.match(rest, i)
                assert lm and rest[lm.end()] == "=", f"bad label in {line!r}"
                assert lm.group() not in labels, f"label {lm.group()} twice in {line!r}"
                labels[lm.group()], i = _label_value(rest, lm.end() + 1)
                if rest[i] == ",":
                    i += 1
            rest = rest[i + 1 :]
        assert rest.startswith(" "), f"no value in {line!r}"
        fields = rest[1:].split(" ")
        assert len(fields) in (1, 2), f"bad value/timestamp in {line!r}"
        if len(fields) == 2:
            assert re.fullmatch(r"-?\d+", fields[1]), f"bad timestamp in {line!r}"
        assert name in families and "type" in families[name], f"sample of {name} before its TYPE"
        if name != current:
            assert name not in done, f"samples of {name} are not together"
            if current:
                done.add(current)
            current = name
        series = (name, frozenset(labels.items()))
        assert series not in samples, f"series given twice: {line!r}"
        samples[series] = _value(fields[0])
    return families, samples


def family(samples: dict[Series, float], name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def key(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


def test_exposition_escapes_labels_and_help() -> None:
    odd = 'a "quoted" \\ back\\slash\nand a new line'
    metric = Metric("mdw_test_total", "counter", "help with \\ and\nnew line")
    metric.add(3, source=odd, table="t")
    metric.add(None, source="missing")  # NULL: no sample
    gauge = Metric("mdw_test_gauge", "gauge", "no labels")
    gauge.add(0.25)
    families, samples = parse(exposition([metric, gauge]))
    assert families["mdw_test_total"] == {"help": metric.help, "type": "counter"}
    assert samples == {("mdw_test_total", key(source=odd, table="t")): 3.0, ("mdw_test_gauge", key()): 0.25}


def _ops(target: Target, table: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(target.warehouse_path), read_only=True) as con:
        cursor = con.execute(f"select * from ops.{table}")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _kind(command: str | None) -> str:
    if command is None:
        return "unknown"
    if command.startswith("backfill "):
        return "backfill"
    if command.startswith("airflow "):
        return command.split("/")[0]
    return command


def _ts(value: datetime) -> float:
    return value.astimezone(UTC).timestamp()


def _run(argv: list[str]) -> tuple[int, str]:
    out = StringIO()
    with redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


def test_metrics_equal_the_ops_figures(target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a failed run (its landing folder is missing), then a demo run, then dbt's source freshness check
    with monkeypatch.context() as mp:
        mp.setenv("SOURCES__CRM__LANDING_URL", str(tmp_path / "no-such-landing"))
        assert _run(["run", "crm"])[0] == 1
    code, out = _run(["run", "crm", "--demo"])
    assert code == 0, out
    code, out = _run(["dbt", "source", "freshness"])
    assert code == 0, out

    prom = tmp_path / "textfile" / "mdw.prom"
    prom.parent.mkdir()
    assert _run(["metrics", "--output", str(prom)]) == (0, "")
    assert [p.name for p in prom.parent.iterdir()] == ["mdw.prom"]  # no temporary file left beside it
    families, samples = parse(prom.read_text())
    code, printed = _run(["metrics"])
    assert code == 0
    assert {s for s in parse(printed)[1]} == set(samples)  # stdout: the same series

    # the expected figures, from the ops rows themselves
    runs, tables, freshness = _ops(target, "runs"), _ops(target, "run_tables"), _ops(target, "source_freshness")
    source_runs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in tables:
        if row["source"] != "dbt":
            source_runs[(row["source"], row["run_id"])].append(row)
    assert {s for s, _ in source_runs} == {"crm"}
    by_start = sorted(source_runs.items(), key=lambda kv: min(r["started_at"] for r in kv[1]))
    (_, failed_rows), (_, latest_rows) = by_start  # two crm runs: the failed one, then the demo run
    assert any(r["status"] == "failed" for r in failed_rows)
    assert not any(r["status"] == "failed" for r in latest_rows)

    rows = family(samples, "mdw_source_last_run_rows")
    assert rows == {
        key(source="crm", step=r["step"], table=r["table_name"]): float(r["rows"])
        for r in latest_rows
        if r["table_name"] is not None
    }
    assert rows[key(source="crm", step="load", table="orders")] > 0
    assert family(samples, "mdw_source_last_run_quarantined_rows") == {
        key(source="crm", step=r["step"], table=r["table_name"]): float(r["quarantined"])
        for r in latest_rows
        if r["table_name"] is not None
    }
    steps = {r["step"] for r in latest_rows}
    assert family(samples, "mdw_source_last_run_step_rows") == {
        key(source="crm", step=s): float(sum(r["rows"] for r in latest_rows if r["step"] == s)) for s in steps
    }
    durations = family(samples, "mdw_source_last_run_step_duration_seconds")
    assert durations == {
        key(source="crm", step=s): pytest.approx(max(r["duration_s"] for r in latest_rows if r["step"] == s))
        for s in steps
    }
    latest_start = _ts(min(r["started_at"] for r in latest_rows))
    assert family(samples, "mdw_source_last_run_start_timestamp_seconds") == {key(source="crm"): latest_start}
    assert family(samples, "mdw_source_last_success_timestamp_seconds") == {key(source="crm"): latest_start}
    assert family(samples, "mdw_source_last_run_failed") == {key(source="crm"): 0.0}
    assert family(samples, "mdw_source_failed_runs_total") == {key(source="crm"): 1.0}

    finished: dict[frozenset[tuple[str, str]], float] = defaultdict(float)
    for r in runs:
        finished[key(command=_kind(r["command"]), status=r["status"])] += 1
    assert family(samples, "mdw_runs_finished_total") == finished
    assert finished == {
        key(command="run", status="failed"): 1,
        key(command="run", status="ok"): 1,
        key(command="dbt source", status="ok"): 1,
    }
    assert family(samples, "mdw_runs_running") == {}
    latest_run = {}
    for r in sorted(runs, key=lambda r: r["started_at"]):
        latest_run[_kind(r["command"])] = r
    assert family(samples, "mdw_last_run_duration_seconds") == {
        key(command=c): pytest.approx(r["duration_s"]) for c, r in latest_run.items()
    }
    assert family(samples, "mdw_last_run_start_timestamp_seconds") == {
        key(command=c): pytest.approx(_ts(r["started_at"])) for c, r in latest_run.items()
    }
    assert family(samples, "mdw_last_run_failed") == {key(command="run"): 0.0, key(command="dbt source"): 0.0}

    assert freshness, "dbt source freshness recorded nothing"
    assert family(samples, "mdw_source_freshness_age_seconds") == {
        key(source=r["source_name"], table=r["table_name"]): pytest.approx(r["age_s"]) for r in freshness
    }
    assert family(samples, "mdw_source_freshness_max_loaded_timestamp_seconds") == {
        key(source=r["source_name"], table=r["table_name"]): pytest.approx(_ts(r["max_loaded_at"])) for r in freshness
    }
    assert family(samples, "mdw_source_freshness_status") == {
        key(source=r["source_name"], table=r["table_name"]): {"pass": 0.0, "warn": 1.0}.get(r["status"], 2.0)
        for r in freshness
    }
    generated = family(samples, "mdw_metrics_generated_timestamp_seconds")[key()]
    assert math.isclose(generated, datetime.now(UTC).timestamp(), abs_tol=120)
    assert families["mdw_source_failed_runs_total"]["type"] == "counter"
    assert families["mdw_source_last_run_rows"]["type"] == "gauge"

    # served on loopback: the same series, read afresh per scrape
    server = make_server(target, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert set(parse(response.read().decode())[1]) == set(samples)
    finally:
        server.shutdown()
        server.server_close()


def test_no_warehouse_fails_and_leaves_the_file(target: Target, tmp_path: Path) -> None:
    prom = tmp_path / "mdw.prom"
    prom.write_text("# previous\n")
    assert main(["metrics", "--output", str(prom)]) == 1
    assert prom.read_text() == "# previous\n"
