"""CRM ingestion benchmark (``make bench``): not a test, a measurement printed side by side with a reference.

* generates >= 1M orders across several CSV files (and 2x that for the memory check),
* ingests them through the real pipeline (CSV -> Bronze -> DuckDB raw_crm, merge on order_id),
* times DuckDB's own ``read_csv`` of the same files into a table as the reference,
* times an immediate no-op rerun, and reports each run's peak memory (RSS of its own process),
* reads one ~1 GB file (streaming: peak memory bounded by the block size, not the file size),
* lists a landing folder of 10,000 files already read (discovery by file identity) beside a plain
  ``os.walk`` + ``stat`` of the same folder, and times the no-op rerun over it.

Each measured run is a fresh child process so peak memory belongs to that run alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "data" / "bench"
ROWS_PER_FILE = 125_000


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_pipeline(landing: str, data_dir: str, runs: str = "1") -> dict:
    os.environ["MDW__DATA_DIR"] = data_dir
    from pipelines.report import RunReport
    from pipelines.runner import run_source
    from pipelines.targets import current_target
    from sources.crm.plugin import plugin

    target = current_target("local")
    report = RunReport(target.name, "bench")
    started = time.perf_counter()
    run_source(plugin, target, report, {"landing_url": landing})
    seconds = time.perf_counter() - started
    repeat_seconds = None
    for _ in range(int(runs) - 1):  # the same run again in this process: without first-use imports
        again = time.perf_counter()
        run_source(plugin, target, RunReport(target.name, "bench"), {"landing_url": landing})
        repeat_seconds = time.perf_counter() - again
    errors = [s.error for s in report.steps if s.error]
    if errors:
        raise SystemExit(f"pipeline failed: {errors}")
    rows = sum(t.rows for s in report.steps if s.step == "load" for t in s.tables.values() if t.table == "orders")
    steps = {s.step: round(s.duration_s, 2) for s in report.steps}
    return {"seconds": seconds, "rows": rows, "peak_mb": _peak_mb(), "steps": steps, "repeat_seconds": repeat_seconds}


def child_extract(landing: str, data_dir: str) -> dict:
    """The extract step alone (CSV -> Bronze): the reader's share of memory and time."""
    os.environ["MDW__DATA_DIR"] = data_dir
    from pipelines.runner import extract_to_bronze
    from pipelines.targets import current_target
    from sources.crm.plugin import plugin

    started = time.perf_counter()
    step = extract_to_bronze(plugin, current_target("local"), {"landing_url": landing})
    if step.error:
        raise SystemExit(step.error)
    return {"seconds": time.perf_counter() - started, "rows": step.tables["orders"].rows, "peak_mb": _peak_mb()}


def child_discovery(landing: str) -> dict:
    """Listing the landing folder with file identities vs a plain os.walk + stat of the same files."""
    from sources.crm.landing import landing_fs, list_files
    from sources.crm.settings import ORDERS_GLOBS

    started = time.perf_counter()
    n_ref = sum(1 for root, _, names in os.walk(landing) for n in names if os.stat(os.path.join(root, n)))
    ref = time.perf_counter() - started
    started = time.perf_counter()
    n = len(list_files(landing_fs(landing), landing, list(ORDERS_GLOBS)))
    return {"seconds": time.perf_counter() - started, "files": n, "ref_seconds": ref, "ref_files": n_ref}


def child_duckdb(files: list[str], db: str) -> dict:
    import duckdb

    started = time.perf_counter()
    with duckdb.connect(db) as con:
        con.execute("create table orders as select * from read_csv($files, header = true)", {"files": files})
        rows = con.execute("select count(*) from orders").fetchone()[0]
    return {"seconds": time.perf_counter() - started, "rows": rows, "peak_mb": _peak_mb()}


def _child(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.crm_ingest", "--child", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"benchmark child failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _landing(name: str, n_orders: int) -> tuple[Path, list[str]]:
    return _landing_files(name, n_orders, max(1, n_orders // ROWS_PER_FILE))


def _landing_files(name: str, n_orders: int, n_files: int) -> tuple[Path, list[str]]:
    from sources.crm.demo_bench import write_bench_orders

    folder = WORK / name
    if folder.exists():
        shutil.rmtree(folder)
    files = write_bench_orders(folder, n_orders, n_files)
    return folder, [str(f) for f in files]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--big-file-orders", type=int, default=6_700_000, help="orders in the ~1 GB single file")
    parser.add_argument("--landing-files", type=int, default=10_000, help="files in the discovery benchmark")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        children = {
            "pipeline": lambda: child_pipeline(*rest),
            "extract": lambda: child_extract(*rest),
            "discovery": lambda: child_discovery(*rest),
            "duckdb": lambda: child_duckdb(rest[1:], rest[0]),
        }
        result = children[kind]()
        print(json.dumps(result))
        return

    WORK.mkdir(parents=True, exist_ok=True)
    results = {}
    for scale in (1, 2):
        n = args.orders * scale
        print(f"generating {n:,} orders ...", flush=True)
        started = time.perf_counter()
        landing, files = _landing(f"landing_{scale}x", n)
        size_mb = sum(Path(f).stat().st_size for f in files) / 1e6
        print(f"  {len(files)} files, {size_mb:,.0f} MB in {time.perf_counter() - started:.1f} s", flush=True)
        data_dir = WORK / f"run_{scale}x"
        shutil.rmtree(data_dir, ignore_errors=True)
        db = WORK / f"reference_{scale}x.duckdb"
        db.unlink(missing_ok=True)
        print("  DuckDB read_csv reference ...", flush=True)
        ref = _child("duckdb", str(db), *files)
        print("  pipeline full run ...", flush=True)
        full = _child("pipeline", str(landing), str(data_dir))
        print("  pipeline no-op rerun ...", flush=True)
        noop = _child("pipeline", str(landing), str(data_dir), "2")
        results[scale] = {"n": n, "files": len(files), "mb": size_mb, "ref": ref, "full": full, "noop": noop}
        assert full["rows"] == n and ref["rows"] == n, (full, ref)
        assert noop["rows"] == 0, noop

    r1 = results[1]
    print()
    print("| measure | pipeline | DuckDB read_csv (reference) | ratio |")
    print("|---|---|---|---|")
    for scale, r in results.items():
        rate, ref_rate = r["n"] / r["full"]["seconds"], r["n"] / r["ref"]["seconds"]
        print(
            f"| {scale}x: {r['n']:,} orders, {r['files']} files, {r['mb']:,.0f} MB | "
            f"{r['full']['seconds']:.1f} s, {rate:,.0f} rows/s | {r['ref']['seconds']:.1f} s, {ref_rate:,.0f} rows/s | "
            f"{rate / ref_rate:.0%} of DuckDB |"
        )
    print(
        f"| no-op rerun (1x), fresh process | {r1['noop']['seconds']:.1f} s | | "
        f"{r1['noop']['seconds'] / r1['full']['seconds']:.0%} of the full run |"
    )
    print(
        f"| no-op rerun (1x), second run in the same process | {r1['noop']['repeat_seconds']:.2f} s | | "
        f"{r1['noop']['repeat_seconds'] / r1['full']['seconds']:.0%} of the full run |"
    )
    for scale, r in results.items():
        print(f"| peak memory {scale}x | {r['full']['peak_mb']:,.0f} MB | {r['ref']['peak_mb']:,.0f} MB | |")
    print(
        f"| peak memory 2x / 1x | {results[2]['full']['peak_mb'] / r1['full']['peak_mb']:.2f} | "
        f"{results[2]['ref']['peak_mb'] / r1['ref']['peak_mb']:.2f} | |"
    )
    print(f"\nsteps (1x full run): {r1['full']['steps']}")
    big_file(args.big_file_orders)
    many_files(args.landing_files)


def big_file(n: int) -> None:
    """One large export: streaming keeps peak memory at the block size, whatever the file size."""
    print(f"\ngenerating one file of {n:,} orders ...", flush=True)
    landing, files = _landing_files("landing_big", n, 1)
    size_mb = Path(files[0]).stat().st_size / 1e6
    db = WORK / "reference_big.duckdb"
    db.unlink(missing_ok=True)
    ref = _child("duckdb", str(db), *files)
    data_dir = WORK / "run_big"
    shutil.rmtree(data_dir, ignore_errors=True)
    extract = _child("extract", str(landing), str(data_dir))
    shutil.rmtree(data_dir, ignore_errors=True)
    full = _child("pipeline", str(landing), str(data_dir))
    assert extract["rows"] == full["rows"] == ref["rows"] == n, (extract, full, ref)
    print("| one file | pipeline | DuckDB read_csv (reference) | ratio |")
    print("|---|---|---|---|")
    print(
        f"| {size_mb:,.0f} MB, {n:,} orders: full run | {full['seconds']:.1f} s, {n / full['seconds']:,.0f} rows/s, "
        f"peak {full['peak_mb']:,.0f} MB | {ref['seconds']:.1f} s, {n / ref['seconds']:,.0f} rows/s, "
        f"peak {ref['peak_mb']:,.0f} MB | {ref['seconds'] / full['seconds']:.0%} of DuckDB's rate |"
    )
    print(
        f"| {size_mb:,.0f} MB: CSV -> Bronze (the reader) | {extract['seconds']:.1f} s, "
        f"peak {extract['peak_mb']:,.0f} MB | | {extract['peak_mb'] / size_mb:.2f} x the file size |"
    )


def many_files(n_files: int) -> None:
    """A landing folder of many files: a rerun lists identities, it never re-reads a file already loaded."""
    print(f"\ngenerating {n_files:,} files of one order each ...", flush=True)
    source, (one,) = _landing_files("landing_many_source", n_files, 1)
    landing = WORK / "landing_many"
    shutil.rmtree(landing, ignore_errors=True)
    header, *lines = Path(one).read_text().splitlines(keepends=True)
    for k, line in enumerate(lines):  # one export per sub-folder of 100, as dated deliveries often are
        folder = landing / f"{k // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"orders_{k:05d}.csv").write_text(header + line)
    shutil.rmtree(source)
    data_dir = WORK / "run_many"
    shutil.rmtree(data_dir, ignore_errors=True)
    first = _child("pipeline", str(landing), str(data_dir))
    noop = _child("pipeline", str(landing), str(data_dir))
    listing = _child("discovery", str(landing))
    assert first["rows"] == n_files and noop["rows"] == 0 and listing["files"] == n_files, (first, noop, listing)
    print("| landing folder | pipeline | reference | ratio |")
    print("|---|---|---|---|")
    print(f"| {n_files:,} files: first run (reads all) | {first['seconds']:.1f} s | | |")
    print(
        f"| {n_files:,} files: listing with identities | {listing['seconds']:.2f} s | os.walk + stat: "
        f"{listing['ref_seconds']:.2f} s | {listing['seconds'] / listing['ref_seconds']:.1f}x |"
    )
    print(f"| {n_files:,} files: no-op rerun, fresh process | {noop['seconds']:.1f} s | | |")


if __name__ == "__main__":
    main()
