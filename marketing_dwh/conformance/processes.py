"""Running a plugin for the conformance checks: ``mdw`` in this process with its output captured, ``mdw`` in a child
process that kills itself during its warehouse load, and a ``mdw run --demo``-like run on a sandbox."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from marketing_dwh.demo_world import DemoWorld
from marketing_dwh.registry import SourcePlugin
from pipelines.ops import record_run
from pipelines.report import RunReport, format_summary
from pipelines.runner import run_source
from pipelines.targets import Target


def _cli_env(data: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"MDW__DATA_DIR": str(data), "MDW__TARGET": "local", **(extra or {})}


@contextlib.contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def captured_output() -> Iterator[Callable[[], str]]:
    """Capture everything written to this process's stdout and stderr (file descriptors 1 and 2: Python, logging,
    subprocesses) during the block; yields a function returning it."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        text: list[str] = []
        try:
            yield lambda: "".join(text)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            text.append(sink.read().decode("utf-8", "replace"))


def run_cli(argv: list[str], data: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """``mdw <argv>`` in this process on the data dir ``data``; returns its exit code and everything it printed."""
    from pipelines.cli import main

    with environ(_cli_env(data, env)), captured_output() as output:
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception as exc:  # reported like mdw would, as the check's finding
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            code = 1
    return code, output()


def killed_run(argv: list[str], data: Path, kill_at: str, schema: str) -> tuple[int, str]:
    """``mdw <argv>`` in a child process that kills itself (SIGKILL) when its ``kill_at``-th load job of the
    warehouse schema ``schema`` starts (see :mod:`.killed_run`); returns its exit code and output."""
    env = {**os.environ, **_cli_env(data, {"MDW_KILL_SCHEMA": schema, "MDW_KILL_AT_JOB": kill_at})}
    child = [sys.executable, "-m", "marketing_dwh.conformance.killed_run", *argv]
    proc = subprocess.run(child, env=env, capture_output=True, text=True, timeout=900)
    return proc.returncode, proc.stdout + proc.stderr


@contextlib.contextmanager
def sandbox(plugin: SourcePlugin, data: Path, scale: float) -> Iterator[dict[str, Any]]:
    with plugin.sandbox(DemoWorld(scale=scale), data / "demo" / plugin.name) as kwargs:
        yield kwargs


def demo_run(plugin: SourcePlugin, target: Target, kwargs: dict[str, Any]) -> str | None:
    """What ``mdw run NAME --demo`` does and prints (progress, summary), on ``target``; returns the first error."""
    report = RunReport(target.name, "run", warehouse=str(target.warehouse_path))
    run_source(plugin, target, report, kwargs, progress=lambda message: print(message, flush=True))
    record_run(report, target)
    print(format_summary(report), flush=True)
    return next((s.error for s in report.steps if s.error), None)


def last_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"
