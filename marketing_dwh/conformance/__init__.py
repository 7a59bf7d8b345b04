"""The conformance suite every source plugin can run: ``mdw check-plugin NAME`` (or :func:`check_plugin`).

Each check is one function returning a :class:`CheckResult`. They run the plugin against its offline sandbox
(on the demo world, at a small scale) in a throw-away workspace: a local Bronze folder and a DuckDB warehouse
in a temporary folder, never the project's ``data/``. The main workspace's runs are shared, in this order:

1. a first run, then a second run with no new data (same sandbox): tables and keys, unique keys, the rerun
   loads nothing new, the rerun is idempotent;
2. a replay from Bronze, compared with the live tables; the plugin's dbt package built on the loaded data;
3. last, because it changes the workspace: the source's dlt state is reset and every resource gets an extra
   column (a dlt ``add_map``), as if upstream re-delivered its data with a new field; the run must report it.

The secrets check and the crash check use workspaces of their own: the first runs the plugin as ``mdw run NAME
--demo`` does, with canary values for its secret settings, and searches everything printed, written and loaded for
them; the second kills (SIGKILL) a ``mdw run NAME --demo`` child process during its warehouse load, reruns it, and
compares with the main workspace's first run.

Content comparisons leave out lineage that differs by construction between loads: dlt's ``_dlt_*`` columns and
the Bronze load id.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from marketing_dwh.conformance.checks import CHECKS, Check
from marketing_dwh.conformance.processes import captured_output
from marketing_dwh.conformance.workspace import CheckFailed, Workspace
from marketing_dwh.registry import SourcePlugin, get
from pipelines.runner import describe_error

__all__ = ["CHECKS", "CheckFailed", "CheckResult", "check_plugin"]
DEFAULT_SCALE = 0.05


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome; ``detail`` says what was found (and, on failure, what to fix)."""

    name: str
    passed: bool
    detail: str
    seconds: float = 0.0

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.name:<20} {self.detail} ({self.seconds:.1f} s)"


def check_plugin(
    plugin: SourcePlugin | str,
    *,
    scale: float = DEFAULT_SCALE,
    workdir: Path | None = None,
    only: list[str] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Run the conformance checks (all, or those named in ``only``) on an installed plugin, in order.

    ``workdir``: where the throw-away workspaces go (default: a temporary folder, removed afterwards; a given one
    is kept). ``on_result`` is called with each result as soon as it is known. The plugin must be installed (its
    entry point registered): the crash and secrets checks run it through ``mdw run``.
    """
    name = plugin if isinstance(plugin, str) else plugin.name
    plugin = get(name)
    unknown = sorted(set(only or []) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown check(s) {', '.join(unknown)}; the checks are: {', '.join(CHECKS)}")
    with contextlib.ExitStack() as stack:
        root = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"mdw-check-{name}-")))
        ws = Workspace(plugin, Path(root), scale)
        stack.callback(ws.close)
        results = []
        for check_name, fun in CHECKS.items():
            if only and check_name not in only:
                continue
            result = run_check(check_name, fun, ws)
            results.append(result)
            if on_result:
                on_result(result)
        return results


def run_check(name: str, fun: Check, ws: Workspace) -> CheckResult:
    """One check as a result: its pass detail, its finding, or the error that stopped it."""
    started = time.perf_counter()
    try:
        with captured_output():  # the runs' own progress and dlt's logs stay out of the check lines
            detail = fun(ws)
        passed = True
    except CheckFailed as exc:
        passed, detail = False, str(exc)
    except Exception as exc:
        passed, detail = False, f"the check could not run: {describe_error(exc)}"
    return CheckResult(name, passed, detail, time.perf_counter() - started)
