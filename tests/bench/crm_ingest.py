"""CRM ingestion benchmark (``make bench``): not a test, a measurement printed side by side with a reference.

* generates 1M, 2M and 4M orders across CSV files of 125,000 orders (the scale curve: a table, a text chart and
  docs/bench/crm_scale.png),
* ingests them through the real pipeline (CSV -> Bronze -> DuckDB raw_crm, merge on order_id),
* times DuckDB's own ``read_csv`` of the same files into a table as the reference,
* times a no-op rerun as ``mdw run crm`` in a process of its own, and ``mdw --help``, and reports each run's peak
  memory (RSS of its own process),
* reads one ~1 GB file (streaming: peak memory bounded by the block size, not the file size),
* lists a landing folder of 10,000 files already read (discovery by file identity) beside a plain
  ``os.walk`` + ``stat`` of the same folder, and times the no-op rerun over it.

Each measured run is a fresh child process so peak memory belongs to that run alone. The tables are saved with
``tests/bench/results.py`` and written into the README by ``tests/bench/readme.py``.
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

from tests.bench.results import Table, percent, seconds

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "data" / "bench"
ROWS_PER_FILE = 125_000
SCALES = (1, 2, 4)
PLOT = ROOT / "docs" / "bench" / "crm_scale.png"
# mdw.targets.local.duckdb_memory_limit for the bounded-memory rows: the CRM load runs in it at every scale in the
# same time (DuckDB spills; the insert-only load holds 8-byte key hashes), so the peak is the extract's
BOUNDED_DUCKDB = "128MB"
TRIES = int(os.environ.get("MDW_BENCH_TRIES", "3"))  # runs of each measure at each scale (min time, max peak)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_pipeline(landing: str, data_dir: str) -> dict:
    os.environ["MDW__DATA_DIR"] = data_dir
    from pipelines.report import RunReport
    from pipelines.runner import run_source
    from pipelines.targets import current_target
    from sources.crm.plugin import plugin

    target = current_target("local")
    report = RunReport(target.name, "bench")
    marks: dict[str, float] = {}

    def progress(line: str) -> None:  # the peak so far when the load step starts: the extract's
        if "-> warehouse" in line:
            marks["extract_peak_mb"] = _peak_mb()

    started = time.perf_counter()
    run_source(plugin, target, report, {"landing_url": landing}, progress=progress)
    elapsed = time.perf_counter() - started
    errors = [s.error for s in report.steps if s.error]
    if errors:
        raise SystemExit(f"pipeline failed: {errors}")
    rows = sum(t.rows for s in report.steps if s.step == "load" for t in s.tables.values() if t.table == "orders")
    steps = {s.step: round(s.duration_s, 2) for s in report.steps}
    return {"seconds": elapsed, "rows": rows, "peak_mb": _peak_mb(), "steps": steps, **marks}


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


def _child(*args: str, env: dict[str, str] | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.crm_ingest", "--child", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
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
    parser.add_argument(
        "--parts", default="scale,one_file,landing_folder", help="which measures to run (comma-separated; default all)"
    )
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
        from pipelines.cli import refuse_unused_imports

        refuse_unused_imports()  # each side as a process of its own runs it: `mdw run` (and DuckDB) need no pandas
        result = children[kind]()
        print(json.dumps(result))
        return

    WORK.mkdir(parents=True, exist_ok=True)
    parts = set(args.parts.split(","))
    if "scale" in parts:
        scales(args.orders)
    if "one_file" in parts:
        big_file(args.big_file_orders)
    if "landing_folder" in parts:
        many_files(args.landing_files)


def scales(orders: int) -> None:
    """The pipeline beside DuckDB's read_csv at each scale, the bounded-memory runs, the no-op rerun, ``--help``."""
    results = {}
    for scale in SCALES:
        n = orders * scale
        print(f"generating {n:,} orders ...", flush=True)
        started = time.perf_counter()
        landing, files = _landing(f"landing_{scale}x", n)
        size_mb = sum(Path(f).stat().st_size for f in files) / 1e6
        print(f"  {len(files)} files, {size_mb:,.0f} MB in {time.perf_counter() - started:.1f} s", flush=True)
        data_dir = WORK / f"run_{scale}x"
        shutil.rmtree(data_dir, ignore_errors=True)
        db = WORK / f"reference_{scale}x.duckdb"
        db.unlink(missing_ok=True)
        refs, fulls, bounded = [], [], []
        for attempt in range(TRIES):  # the reference and the pipeline in turn, so both see the machine's moods
            print(f"  DuckDB read_csv reference ({attempt + 1}/{TRIES}) ...", flush=True)
            db.unlink(missing_ok=True)
            refs.append(_child("duckdb", str(db), *files))
            print(f"  pipeline full run ({attempt + 1}/{TRIES}) ...", flush=True)
            shutil.rmtree(data_dir, ignore_errors=True)
            fulls.append(_child("pipeline", str(landing), str(data_dir)))
            # with DuckDB's memory bounded by the setting, at every scale: the peak stays flat as the input grows
            print(f"  pipeline full run, duckdb_memory_limit = {BOUNDED_DUCKDB} ({attempt + 1}/{TRIES}) ...")
            shutil.rmtree(data_dir, ignore_errors=True)
            env = {"MDW__TARGETS__LOCAL__DUCKDB_MEMORY_LIMIT": BOUNDED_DUCKDB}
            bounded.append(_child("pipeline", str(landing), str(data_dir), env=env))
        ref, full = _best(refs), _best(fulls)
        results[scale] = {"n": n, "files": len(files), "mb": size_mb, "ref": ref, "full": full}
        assert all(r["rows"] == n for r in [*refs, *fulls, *bounded]), (full, ref)
        results[scale]["bounded"], results[scale]["bounded_runs"] = _best(bounded), bounded
        if scale == 1:
            print("  no-op rerun: `mdw run crm` ...", flush=True)
            results[scale]["noop"] = _mdw_seconds(data_dir, "run", "crm", landing=landing)
            results[scale]["help"] = _mdw_seconds(data_dir, "--help")
            results[scale]["python"] = _seconds([sys.executable, "-c", "pass"])
        shutil.rmtree(data_dir, ignore_errors=True)
        db.unlink(missing_ok=True)
        shutil.rmtree(landing, ignore_errors=True)
    _ingest_table(results)
    _scale_table(results)


def _best(runs: list[dict]) -> dict:
    """The fastest of ``runs``, with the highest peak memory any of them reached (memory is not a race)."""
    return {**min(runs, key=lambda r: r["seconds"]), "peak_mb": max(r["peak_mb"] for r in runs)}


def _seconds(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Wall-clock seconds of a fresh process (min of 3)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        out = subprocess.run(argv, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True)
        best = min(best, time.perf_counter() - started)
        if out.returncode:
            raise SystemExit(f"{argv} failed:\n{out.stdout}\n{out.stderr}")
    return best


def _mdw_seconds(data_dir: Path, *args: str, landing: Path | None = None) -> float:
    """``mdw ARGS`` as the user starts it: the console script in a process of its own."""
    env = {"MDW__DATA_DIR": str(data_dir), "MDW__TARGET": "local"}
    if landing:
        env["SOURCES__CRM__LANDING_URL"] = str(landing)
    return _seconds([str(Path(sys.executable).parent / "mdw"), *args], env)


def _ingest_table(results: dict[int, dict]) -> None:
    r1 = results[1]
    table = Table("crm.ingest", ["measure", "pipeline", "DuckDB read_csv (reference)", "ratio"])
    for scale, r in results.items():
        rate, ref_rate = r["n"] / r["full"]["seconds"], r["n"] / r["ref"]["seconds"]
        table.add(
            f"{scale}x: {r['n']:,} orders, {r['files']} files, {r['mb']:,.0f} MB",
            f"{seconds(r['full']['seconds'])}, {rate:,.0f} rows/s, peak {r['full']['peak_mb']:,.0f} MB",
            f"{seconds(r['ref']['seconds'])}, {ref_rate:,.0f} rows/s, peak {r['ref']['peak_mb']:,.0f} MB",
            f"{percent(rate / ref_rate)} of DuckDB's rate",
        )
    for scale, r in results.items():
        if "bounded" in r:
            b = r["bounded"]
            table.add(
                f'{scale}x, `duckdb_memory_limit = "{BOUNDED_DUCKDB}"`',
                f"{seconds(b['seconds'])}, {r['n'] / b['seconds']:,.0f} rows/s, peak {b['peak_mb']:,.0f} MB "
                f"(extract step {max(x['extract_peak_mb'] for x in r['bounded_runs']):,.0f} MB)",
                "",
                f"{percent(r['n'] / b['seconds'] / (r['n'] / r['ref']['seconds']))} of DuckDB's rate",
            )
    table.add(
        "no-op rerun (1x): `mdw run crm`, a fresh process",
        seconds(r1["noop"]),
        "",
        f"{percent(r1['noop'] / r1['full']['seconds'])} of the full run",
    )
    table.add("`mdw --help`", seconds(r1["help"]), f"`python -c pass`: {seconds(r1['python'])}", "")
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in r1["full"]["steps"].items())
    table.note = (
        f"Each run is a fresh process (peak memory: its max RSS); times are the min of {TRIES} (the pipeline and "
        f"DuckDB alternating), peaks the max; the no-op rerun and `--help` are the min of 3."
        f" Steps of the 1x run: {steps}."
    )
    table.save()


def _scale_table(results: dict[int, dict]) -> None:
    """Time and peak memory against the input size: a table, a text chart and a PNG (docs/bench/crm_scale.png)."""
    table = Table(
        "crm.scale",
        ["scale", "orders", "pipeline", "per 1M orders", "peak memory", f"peak, DuckDB at {BOUNDED_DUCKDB}",
         "DuckDB read_csv"],
    )  # fmt: skip
    longest = max(r["full"]["seconds"] for r in results.values())
    chart = []
    for scale, r in results.items():
        per_million = r["full"]["seconds"] / (r["n"] / 1e6)
        table.add(
            f"{scale}x",
            f"{r['n']:,}",
            seconds(r["full"]["seconds"]),
            seconds(per_million),
            f"{r['full']['peak_mb']:,.0f} MB",
            f"{r['bounded']['peak_mb']:,.0f} MB",
            seconds(r["ref"]["seconds"]),
        )
        chart.append(f"{scale}x {'#' * round(40 * r['full']['seconds'] / longest):<40} {r['full']['seconds']:.1f} s")
    print("\n".join(chart))
    plot = _plot(results)
    table.note = "Time stays linear when the time per 1M orders stays flat." + (
        f" Plot: [{plot.relative_to(ROOT)}]({plot.relative_to(ROOT)})." if plot else ""
    )
    table.save()


def _plot(results: dict[int, dict]) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the `bench` dependency group: the text chart above stands in
        return None
    orders = [r["n"] / 1e6 for r in results.values()]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(orders, [r["full"]["seconds"] for r in results.values()], "o-", label="mdw run crm")
    left.plot(orders, [r["ref"]["seconds"] for r in results.values()], "s--", label="DuckDB read_csv")
    left.set(xlabel="orders (millions)", ylabel="seconds", title="Time")
    right.plot(orders, [r["full"]["peak_mb"] for r in results.values()], "o-", label="mdw run crm")
    bounded = [r["bounded"]["peak_mb"] for r in results.values()]
    right.plot(orders, bounded, "^-", label=f"mdw run crm, duckdb_memory_limit {BOUNDED_DUCKDB}")
    right.plot(orders, [r["ref"]["peak_mb"] for r in results.values()], "s--", label="DuckDB read_csv")
    right.set(xlabel="orders (millions)", ylabel="MB", title="Peak memory (max RSS)")
    for axis in (left, right):
        axis.set_xlim(left=0)
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        axis.legend()
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=100)
    return PLOT


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
    table = Table("crm.one_file", ["one file", "pipeline", "DuckDB read_csv (reference)", "ratio"])
    table.add(
        f"{size_mb:,.0f} MB, {n:,} orders: full run",
        f"{seconds(full['seconds'])}, {n / full['seconds']:,.0f} rows/s, peak {full['peak_mb']:,.0f} MB",
        f"{seconds(ref['seconds'])}, {n / ref['seconds']:,.0f} rows/s, peak {ref['peak_mb']:,.0f} MB",
        f"{percent(ref['seconds'] / full['seconds'])} of DuckDB's rate",
    )
    table.add(
        f"{size_mb:,.0f} MB: CSV -> Bronze (the streaming reader)",
        f"{seconds(extract['seconds'])}, peak {extract['peak_mb']:,.0f} MB",
        "",
        f"peak {extract['peak_mb'] / size_mb:.2f} x the file size",
    )
    table.save()
    shutil.rmtree(data_dir, ignore_errors=True)
    shutil.rmtree(landing, ignore_errors=True)
    db.unlink(missing_ok=True)


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
    table = Table("crm.landing_folder", ["landing folder", "pipeline", "reference", "ratio"])
    table.add(f"{n_files:,} files: first run (reads all)", seconds(first["seconds"]), "", "")
    table.add(
        f"{n_files:,} files: listing with identities",
        seconds(listing["seconds"]),
        f"os.walk + stat: {seconds(listing['ref_seconds'])}",
        f"{listing['seconds'] / listing['ref_seconds']:.1f}x",
    )
    table.add(f"{n_files:,} files: no-op rerun, fresh process", seconds(noop["seconds"]), "", "")
    table.save()


if __name__ == "__main__":
    main()
