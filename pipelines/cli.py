"""The ``mdw`` command line: list, run, replay and demo source plugins, run dbt, open the dashboard, export the run
history's metrics.

This module is the parser only and imports nothing heavy: ``mdw --help`` (or a wrong argument) answers without loading
dlt, DuckDB or any SDK. A command's code is in :mod:`pipelines.commands`, imported once the arguments are parsed.
"""

from __future__ import annotations

import argparse
import importlib.abc
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

from pipelines import TARGETS

# Nothing on the pipeline path uses pandas, Streamlit or SQLAlchemy, yet libraries import them as a side effect:
# DuckDB imports pandas the first time a query binds a parameter (to recognise pandas values among them; 0.5-1.4 s),
# pyarrow to recognise pandas objects, dlt imports Streamlit to look for Streamlit's secrets when there is no
# `.dlt/secrets.toml`, and SQLAlchemy (installed for Airflow) to print a DuckDB destination's credentials in a load's
# step info (0.3 s; without it dlt uses its own URL class). A process started for one of these commands finds none of
# them (an import raises ModuleNotFoundError, as when they are not installed, which those libraries handle; the
# demo's process saves 1-1.5 s so); commands that need them (dashboard, metrics, dbt) import them as usual.
LEAN_COMMANDS = frozenset({"run", "backfill", "replay", "demo"})
UNUSED_ON_THE_PIPELINE_PATH = frozenset({"pandas", "streamlit", "sqlalchemy"})


class _Unused(importlib.abc.MetaPathFinder):
    """Finds no module of UNUSED_ON_THE_PIPELINE_PATH: importing one raises ModuleNotFoundError."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] in UNUSED_ON_THE_PIPELINE_PATH:
            raise ModuleNotFoundError(f"No module named {name!r} (not used by this command)", name=name)
        return None


def refuse_unused_imports() -> None:
    """From now on this process finds no module of UNUSED_ON_THE_PIPELINE_PATH (see there); for a process that runs
    pipeline commands only, before any of them is imported."""
    if not UNUSED_ON_THE_PIPELINE_PATH & set(sys.modules) and not any(isinstance(f, _Unused) for f in sys.meta_path):
        sys.meta_path.insert(0, _Unused())


def _iso_date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mdw", description="marketing-dwh: sources -> Bronze -> warehouse -> dbt")
    parser.add_argument("--target", choices=TARGETS, help="where data goes (default: mdw.target / MDW__TARGET)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show dlt's progress of every stage")
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("sources", help="list the installed source plugins")
    p.set_defaults(command_name="cmd_sources")

    p = sub.add_parser("run", help="run source plugins: extract to Bronze, load the warehouse")
    p.add_argument("names", nargs="*", help="source names (default: all)")
    p.add_argument("--demo", action="store_true", help="run against each plugin's offline sandbox")
    p.add_argument("--scale", type=float, default=1.0, help="demo world scale (with --demo)")
    p.add_argument("--dbt", action="store_true", help="run dbt build afterwards")
    p.set_defaults(command_name="cmd_run")

    p = sub.add_parser("backfill", help="run one source for an explicit date range (its cursor does not move)")
    p.add_argument("name", help="source name")
    p.add_argument("--since", required=True, type=_iso_date, help="first day, YYYY-MM-DD")
    p.add_argument("--until", required=True, type=_iso_date, help="last day, YYYY-MM-DD")
    p.add_argument("--demo", action="store_true", help="run against the plugin's offline sandbox")
    p.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)
    p.set_defaults(command_name="cmd_backfill")

    p = sub.add_parser("replay", help="rebuild raw warehouse tables from Bronze alone")
    p.add_argument("names", nargs="+", help="source names")
    p.set_defaults(command_name="cmd_replay")

    p = sub.add_parser("dbt", help="run a dbt command on the warehouse (default: build)")
    p.add_argument("command", nargs="?", default="build", choices=("build", "run", "test", "seed", "source"))
    p.add_argument("dbt_args", nargs=argparse.REMAINDER, help="passed to dbt, e.g. --select staging")
    p.set_defaults(command_name="cmd_dbt")

    p = sub.add_parser("demo", help="build the whole warehouse offline from the demo world")
    p.add_argument("--scale", type=float, default=1.0, help="multiplies the demo world's volume")
    p.set_defaults(command_name="cmd_demo")

    p = sub.add_parser("new-source", help="scaffold a source plugin package (passes check-plugin as generated)")
    p.add_argument("name", help="source name: lower-case letters, digits and underscores")
    p.add_argument("--dir", type=Path, help="folder to create (default: ./mdw-<name>)")
    p.set_defaults(command_name="cmd_new_source")

    p = sub.add_parser("check-plugin", help="run the conformance checks on an installed source plugin")
    p.add_argument("name", help="source name")
    p.add_argument("--keep", action="store_true", help="keep the workspace (Bronze, warehouse, dlt state)")
    p.add_argument("--scale", type=float, default=0.05, help="demo world scale (default 0.05)")
    p.add_argument("--only", action="append", metavar="CHECK", help="run only this check (repeatable)")
    p.set_defaults(command_name="cmd_check_plugin")

    p = sub.add_parser("metrics", help="the ops tables' key figures for Prometheus (text exposition format)")
    out = p.add_mutually_exclusive_group()
    out.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="write them to FILE (atomically), e.g. for the node "
        "exporter's textfile collector: <collector dir>/mdw.prom",
    )
    out.add_argument("--serve", type=int, metavar="PORT", help="serve them on http://127.0.0.1:PORT/metrics")
    p.set_defaults(command_name="cmd_metrics")

    p = sub.add_parser("dashboard", help="open the reporting dashboard (Streamlit) on the warehouse")
    p.add_argument("--port", type=int, default=8501, help="port to listen on (default 8501)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.set_defaults(command_name="cmd_dashboard")
    return parser


def main(argv: list[str] | None = None, own_process: bool = False) -> int:
    """Exit code 0: done; 1: a step failed; 2: a wrong command, source name or setting (one line on stderr, naming
    it), found before anything ran. ``own_process``: the process runs this command only (see LEAN_COMMANDS)."""
    args = build_parser().parse_args(argv)
    if own_process and args.cmd in LEAN_COMMANDS:
        refuse_unused_imports()
    if args.verbose:
        os.environ["MDW_VERBOSE"] = "1"
    from pipelines import commands  # the commands and what they need (dlt, DuckDB, the plugins)

    try:
        return getattr(commands, args.command_name)(args)
    except commands.USER_ERRORS as exc:
        print(f"mdw: error: {exc}", file=sys.stderr)
        return 2
    except commands.TomlProviderReadException as exc:
        print(f"mdw: error: {commands.config_file_problem(exc)}", file=sys.stderr)
        return 2


def entry() -> int:
    """The ``mdw`` console script and ``python -m pipelines.cli``: :func:`main` in a process of its own."""
    return main(sys.argv[1:], own_process=True)


def script(name: str) -> None:
    """Entry for ``python pipelines/<name>.py [--demo] [--target T]``: run one source (and dbt with --dbt)."""
    parser = argparse.ArgumentParser(prog=f"pipelines/{name}.py", description=f"run the {name} pipeline")
    parser.add_argument("--demo", action="store_true", help="run against the offline sandbox")
    parser.add_argument("--target", choices=TARGETS)
    parser.add_argument("--dbt", action="store_true", help="run dbt build afterwards")
    args = parser.parse_args()
    argv = ([f"--target={args.target}"] if args.target else []) + ["run", name]
    argv += ["--demo"] * args.demo + ["--dbt"] * args.dbt
    raise SystemExit(main(argv, own_process=True))


if __name__ == "__main__":
    raise SystemExit(entry())
