"""Meta Ads benchmark (``make bench``): insight rows/s through the Graph API emulator and the real SDK.

The emulator serves a synthetic account set from its own process (as the API would), with async report runs
that take ``--job-latency`` seconds to finish. The same extraction (source -> Bronze, including the actions
unnesting) runs twice in fresh processes: with the default concurrency and one job at a time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import shutil
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "data" / "bench" / "meta"
START = date(2026, 8, 1)


def _serve(port: int, accounts: int, ads: int, days: int, polls: int) -> None:
    from sources.meta_ads.emulator import GraphEmulator, synthetic_data

    with GraphEmulator(synthetic_data(accounts, ads, days, START), port=port, polls_to_complete=polls):
        while True:
            time.sleep(3600)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child(url: str, accounts: int, days: int, concurrency: int, slice_days: int, poll_s: float, data: str) -> dict:
    import os

    os.environ["MDW__DATA_DIR"] = data
    from pipelines.runner import extract_to_bronze
    from pipelines.targets import current_target
    from sources.meta_ads.plugin import plugin

    kwargs = {
        "access_token": "demo-token",
        "graph_url": url,
        "account_ids": None,  # every account the token can read (/me/adaccounts)
        "today": (START + timedelta(days=days - 1)).isoformat(),
        "start_date": START.isoformat(),
        "max_concurrent_jobs": concurrency,
        "slice_days": slice_days,
        "poll_interval_s": poll_s,
    }
    started = time.perf_counter()
    step = extract_to_bronze(plugin, current_target("local"), kwargs)
    seconds = time.perf_counter() - started
    if step.error:
        raise SystemExit(step.error)
    return {
        "seconds": seconds,
        "rows": step.tables["insights"].rows,
        "actions": step.tables["insights_actions"].rows,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--ads", type=int, default=100)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--slice-days", type=int, default=7)
    parser.add_argument("--job-latency", type=float, default=0.5, help="seconds an async job takes (emulator)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, accounts, days, conc, slice_days, poll_s, data = args.child
        print(json.dumps(child(url, int(accounts), int(days), int(conc), int(slice_days), float(poll_s), data)))
        return

    # the source polls every poll_s; the emulator completes a job after `polls` status reads
    polls, poll_s = 2, args.job_latency / 2
    port = _free_port()
    server = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(port, args.accounts, args.ads, args.days, polls), daemon=True
    )
    server.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    total = args.accounts * args.ads * args.days
    jobs = args.accounts * -(-args.days // args.slice_days)
    print(f"{args.accounts} accounts x {args.ads} ads x {args.days} days = {total:,} insight rows, {jobs} jobs "
          f"of {args.slice_days} days, ~{args.job_latency} s job latency", flush=True)  # fmt: skip
    results = {}
    try:
        for conc in (4, 1):
            data = WORK / f"run_c{conc}"
            shutil.rmtree(data, ignore_errors=True)
            print(f"  extract with {conc} job(s) in flight ...", flush=True)
            out = subprocess.run(
                [sys.executable, "-m", "tests.bench.meta_ingest", "--child", url, str(args.accounts),
                 str(args.days), str(conc), str(args.slice_days), str(poll_s), str(data)],
                cwd=ROOT, capture_output=True, text=True,
            )  # fmt: skip
            if out.returncode:
                raise SystemExit(f"benchmark child failed:\n{out.stdout}\n{out.stderr}")
            results[conc] = json.loads(out.stdout.strip().splitlines()[-1])
            assert results[conc]["rows"] == total, results[conc]
    finally:
        server.terminate()
    print()
    print("| Meta insights extraction (source -> Bronze) | seconds | insight rows/s | action rows | peak memory |")
    print("|---|---|---|---|---|")
    for conc, r in results.items():
        label = "4 jobs in flight (default)" if conc == 4 else "one job at a time"
        print(f"| {label} | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | {r['actions']:,} | "
              f"{r['peak_mb']:,.0f} MB |")  # fmt: skip
    print(f"| speed-up from concurrency | {results[1]['seconds'] / results[4]['seconds']:.1f}x | | | |")


if __name__ == "__main__":
    main()
