"""GA4 benchmark (``make bench``): report rows/s through the Data API emulator and the real REST client.

The emulator serves ``--properties`` copies of the demo property from its own process; the GA4 source extracts
the built-in reports (daily traffic and purchases, one request per property, report and day) into Bronze in a
fresh process, whose peak memory is reported. Run at 1x and 2x the property count for the memory check.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "data" / "bench" / "ga4"


def _serve(port: int, properties: int) -> None:
    from marketing_dwh.demo_world import DemoWorld
    from sources.ga4.emulator import DataApiEmulator, demo_data

    with DataApiEmulator(demo_data(DemoWorld(), properties=properties), port=port):
        while True:
            time.sleep(3600)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child(url: str, properties: int, data: str) -> dict:
    import os

    os.environ["MDW__DATA_DIR"] = data
    from marketing_dwh.demo_world import DemoWorld
    from pipelines.runner import extract_to_bronze
    from pipelines.targets import current_target
    from sources.ga4.plugin import plugin

    world = DemoWorld()
    kwargs = {
        "property_ids": [str(412345678 + i) for i in range(properties)],
        "api_endpoint": url,
        "transport": "rest",
        "start_date": world.start.isoformat(),
        "today": "2026-10-31",
    }
    started = time.perf_counter()
    step = extract_to_bronze(plugin, current_target("local"), kwargs)
    seconds = time.perf_counter() - started
    if step.error:
        raise SystemExit(step.error)
    rows = sum(t.rows for t in step.tables.values() if t.table.startswith("report_") and t.table != "report_metadata")
    return {"seconds": seconds, "rows": rows, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run(properties: int) -> dict:
    port = _free_port()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(port, properties), daemon=True)
    server.start()
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        data = WORK / f"run_{properties}"
        shutil.rmtree(data, ignore_errors=True)
        out = subprocess.run(
            [sys.executable, "-m", "tests.bench.ga4_ingest", "--child", f"http://127.0.0.1:{port}", str(properties),
             str(data)],
            cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
        if out.returncode:
            raise SystemExit(f"benchmark child failed:\n{out.stdout}\n{out.stderr}")
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--properties", type=int, default=5)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, properties, data = args.child
        print(json.dumps(child(url, int(properties), data)))
        return
    results = {}
    for n in (args.properties, 2 * args.properties):
        print(f"  GA4: {n} properties x 92 days ...", flush=True)
        results[n] = _run(n)
    print()
    print("| GA4 extraction (source -> Bronze) | seconds | report rows | rows/s | peak memory |")
    print("|---|---|---|---|---|")
    for n, r in results.items():
        print(f"| {n} properties x 92 days x 2 reports | {r['seconds']:.1f} | {r['rows']:,} | "
              f"{r['rows'] / r['seconds']:,.0f} | {r['peak_mb']:,.0f} MB |")  # fmt: skip


if __name__ == "__main__":
    main()
