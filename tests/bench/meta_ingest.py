"""Meta Ads benchmark (``make bench``): extraction time against an emulator with the real API's latency.

The emulator runs in its own process (as the API would) and gives every async report run a wall-clock duration
drawn from a seeded distribution (the real API's runs take about 2-20 s; here scaled down by ``--scale`` so the
bench stays short) and every request a latency (50-300 ms, scaled the same way). The project extracts 10 accounts
x 28 days (source -> Bronze, through the real facebook-business SDK, each run a fresh process) with 1, 4 and 8
report runs in flight (``sources.meta_ads.max_concurrent_jobs``); the one-at-a-time run is the reference. The
connector's poll interval is scaled with the latencies (its default 2 s x ``--scale``). Each run meets the same
job durations: a run's duration depends on its query, not on when it was submitted.

``--throughput`` runs the older, CPU-bound measure instead (20 accounts x 100 ads x 90 days with short jobs,
insight rows/s at 4 jobs and at 1); it takes several minutes and is not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

from sources.meta_ads.emulator.latency import Latency
from tests.bench.results import Table, megabytes, seconds

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "data" / "bench" / "meta"
START = date(2026, 8, 1)
REAL_JOB_LATENCY = Latency(2.0, 20.0, "lognormal", seed=17)  # an async report run on the real API
REAL_REQUEST_LATENCY = Latency(0.05, 0.3, "uniform", seed=17)  # one request's round trip
DEFAULT_POLL_S = 2.0  # sources.meta_ads.poll_interval_s


def _serve(conn: Connection, accounts: int, ads: int, days: int, job: Latency | None, request: Latency | None,
           polls: int) -> None:  # fmt: skip
    """The emulator's process: ``new`` starts a fresh emulator (stopping the last) and answers its URL,
    ``stats`` answers what the current one saw; ``stop`` ends the process."""
    from sources.meta_ads.emulator import GraphEmulator, synthetic_data

    data = synthetic_data(accounts, ads, days, START)
    emu = None
    while True:
        command = conn.recv()
        if command == "new":
            if emu is not None:
                emu.stop()
            emu = GraphEmulator(data, polls_to_complete=polls, job_latency=job, request_latency=request).start()
            conn.send(emu.url)
        elif command == "stats":
            runs = emu.report_runs()
            conn.send(
                {
                    "peak": emu.peak_running_report_runs(),
                    "runs": len(runs),
                    "run_seconds": sum(end - start for start, end in runs if end is not None),
                    "requests": len(emu.requests),
                    "errors": emu.errors,
                }
            )
        else:
            if emu is not None:
                emu.stop()
            conn.send("stopped")
            return


def child(url: str, accounts: int, days: int, concurrency: int, slice_days: int, poll_s: float, data: str) -> dict:
    from pipelines.runner import extract_to_bronze
    from pipelines.targets import current_target
    from sources.meta_ads.emulator import GraphEmulator, synthetic_data
    from sources.meta_ads.plugin import plugin

    def settings(graph_url: str, last_day: int) -> dict:
        return {
            "access_token": "demo-token",
            "graph_url": graph_url,
            "account_ids": None,  # every account the token can read (/me/adaccounts)
            "today": (START + timedelta(days=last_day - 1)).isoformat(),
            "start_date": START.isoformat(),
            "max_concurrent_jobs": concurrency,
            "slice_days": slice_days,
            "backfill_slice_days": slice_days,  # a first run: report runs of backfill_slice_days
            "poll_interval_s": poll_s,
        }

    # warm-up: a one-account, two-day extraction into a throw-away folder, so that the figure is the extraction and
    # not this process importing the modules dlt loads on its first run (the same for every concurrency)
    os.environ["MDW__DATA_DIR"] = f"{data}_warmup"
    with GraphEmulator(synthetic_data(1, 2, 2, START)) as warm:
        step = extract_to_bronze(plugin, current_target("local"), {**settings(warm.url, 2), "poll_interval_s": 0.01})
    if step.error:
        raise SystemExit(f"warm-up: {step.error}")
    shutil.rmtree(f"{data}_warmup", ignore_errors=True)
    os.environ["MDW__DATA_DIR"] = data
    kwargs = settings(url, days)
    started, cpu = time.perf_counter(), time.process_time()
    step = extract_to_bronze(plugin, current_target("local"), kwargs)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if step.error:
        raise SystemExit(step.error)
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "rows": step.tables["insights"].rows,
        "actions": step.tables["insights_actions"].rows,
        "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def _extract(url: str, args: argparse.Namespace, conc: int, poll_s: float) -> dict:
    data = WORK / f"run_c{conc}"
    shutil.rmtree(data, ignore_errors=True)
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.meta_ingest", "--child", url, str(args.accounts), str(args.days),
         str(conc), str(args.slice_days), str(poll_s), str(data)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode:
        raise SystemExit(f"benchmark child failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _server(args: argparse.Namespace, job: Latency | None, request: Latency | None, polls: int = 2) -> tuple:
    parent, conn = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(conn, args.accounts, args.ads, args.days, job, request, polls), daemon=True
    )
    process.start()
    return process, parent


def concurrency(args: argparse.Namespace) -> None:
    job, request = REAL_JOB_LATENCY.scaled(args.scale), REAL_REQUEST_LATENCY.scaled(args.scale)
    poll_s = DEFAULT_POLL_S * args.scale
    jobs = args.accounts * -(-args.days // args.slice_days)
    total = args.accounts * args.ads * args.days
    print(f"Meta: {args.accounts} accounts x {args.days} days ({args.ads} ads each: {total:,} insight rows) in "
          f"{jobs} report runs of {args.slice_days} days; the real API's latencies scaled by {args.scale:g}: "
          f"report run {job}, request {request}; poll interval from {poll_s:g} s", flush=True)  # fmt: skip
    process, conn = _server(args, job, request)
    results: dict[int, dict] = {}
    try:
        for conc in args.jobs:
            conn.send("new")
            url = conn.recv()
            print(f"  extract with {conc} job(s) in flight ...", flush=True)
            results[conc] = _extract(url, args, conc, poll_s)
            conn.send("stats")
            stats = conn.recv()
            if stats["errors"]:
                raise SystemExit(f"emulator error:\n{stats['errors'][0]}")
            results[conc].update(stats)
            assert results[conc]["rows"] == total, results[conc]
            print(f"    {results[conc]['seconds']:.1f} s", flush=True)
    finally:
        conn.send("stop")
        conn.recv()
        process.join(timeout=10)
    base = results[min(results)]["seconds"]
    table = Table(
        "meta.concurrency",
        [
            "Meta extraction, 10 accounts × 28 days",
            "seconds",
            "speed-up vs 1 job",
            "report runs at once (peak / mean)",
            "client CPU",
            "requests",
            "peak memory",
        ],  # fmt: skip
        note=f"Source -> Bronze through the real SDK against the emulator in its own process, each run in a fresh "
        f"process after a two-day warm-up extraction (dlt's first-run imports); {jobs} report runs "
        f"of {args.slice_days} days, {args.ads} ads per account ({total:,} insight rows). Latencies are the real "
        f"API's scaled by {args.scale:g}: report run {job}, request {request}; the connector polls from "
        f"{poll_s:g} s (its 2 s default scaled alike). Target: ≥ 4x at 8 jobs in flight.",
    )
    for conc, r in results.items():
        label = "one job at a time (reference)" if conc == 1 else f"{conc} jobs in flight"
        mean = r["run_seconds"] / r["seconds"]
        table.add(label, seconds(r["seconds"]), f"{base / r['seconds']:.2f}x", f"{r['peak']} / {mean:.1f}",
                  seconds(r["cpu_seconds"]), f"{r['requests']:,}", megabytes(r["peak_bytes"]))  # fmt: skip
    table.save()


def throughput(args: argparse.Namespace) -> None:
    """The older measure: many rows, short jobs (CPU-bound), at the default 4 jobs and at 1."""
    polls, poll_s = 2, args.job_latency / 2  # the source polls every poll_s; a job completes after `polls` reads
    process, conn = _server(args, None, None, polls)
    total = args.accounts * args.ads * args.days
    jobs = args.accounts * -(-args.days // args.slice_days)
    print(f"{args.accounts} accounts x {args.ads} ads x {args.days} days = {total:,} insight rows, {jobs} jobs "
          f"of {args.slice_days} days, ~{args.job_latency} s job latency", flush=True)  # fmt: skip
    results = {}
    try:
        for conc in (4, 1):
            conn.send("new")
            url = conn.recv()
            print(f"  extract with {conc} job(s) in flight ...", flush=True)
            results[conc] = _extract(url, args, conc, poll_s)
            assert results[conc]["rows"] == total, results[conc]
    finally:
        conn.send("stop")
        conn.recv()
        process.join(timeout=10)
    print()
    print("| Meta insights extraction (source -> Bronze) | seconds | insight rows/s | action rows | peak memory |")
    print("|---|---|---|---|---|")
    for conc, r in results.items():
        label = "4 jobs in flight (default)" if conc == 4 else "one job at a time"
        print(f"| {label} | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | {r['actions']:,} | "
              f"{megabytes(r['peak_bytes'])} |")  # fmt: skip
    print(f"| speed-up from concurrency | {results[1]['seconds'] / results[4]['seconds']:.1f}x | | | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--throughput", action="store_true", help="the older CPU-bound measure (several minutes)")
    parser.add_argument("--accounts", type=int, default=None, help="default 10 (throughput: 20)")
    parser.add_argument("--ads", type=int, default=None, help="ads per account; default 50 (throughput: 100)")
    parser.add_argument("--days", type=int, default=None, help="default 28 (throughput: 90)")
    parser.add_argument("--slice-days", type=int, default=7, help="days per report run")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 4, 8], help="jobs in flight to measure")
    parser.add_argument("--scale", type=float, default=0.2, help="factor on the real API's latencies")
    parser.add_argument("--job-latency", type=float, default=0.5, help="throughput: seconds an async job takes")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, accounts, days, conc, slice_days, poll_s, data = args.child
        print(json.dumps(child(url, int(accounts), int(days), int(conc), int(slice_days), float(poll_s), data)))
        return
    big = args.throughput
    args.accounts = args.accounts or (20 if big else 10)
    args.ads = args.ads or (100 if big else 50)
    args.days = args.days or (90 if big else 28)
    args.jobs = sorted(set(args.jobs) | {1})
    throughput(args) if big else concurrency(args)


if __name__ == "__main__":
    main()
