"""GA4 benchmark (``make bench``): the source's extraction beside a plain REST loop issuing the same requests.

The emulator serves ``--properties`` copies of the demo property (92 days) from this process, over REST and gRPC.
Runs of the GA4 source, each in a fresh process (the real client, dlt extract into Bronze), fetch both built-in
reports, over REST and over gRPC (the source's default, production's transport):

- one-day requests (``backfill_slice_days = 1``, as every incremental run asks): five to a ``batchRunReports``
  call, where the source issued one ``runReport`` per property, report and day before;
- a first backfill (the defaults): several days per request, split by the ``date`` dimension.

The emulator logs every call the source made; a plain loop in another fresh process (``http.client`` and
``json`` only: no SDK, no row handling, no dlt) then sends exactly those calls again (same paths, same bodies:
batch calls, metadata, compatibility checks, the Admin API's property reads). Each side runs twice, the emulator's
report cache emptied before each run; the faster run of each counts. The official client's own loop of the same
calls, over the source's transport, shows what the SDK costs. Saved as table ``ga4.extract``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.bench.results import ROOT, Table, megabytes, ratio, seconds

WORK = ROOT / "data" / "bench" / "ga4"
TODAY = "2026-10-31"  # the demo world's last day: 92 days from its first


def project(url: str, properties: int, data: str, backfill_slice_days: int, transport: str) -> dict[str, Any]:
    """The GA4 source into Bronze in this (fresh) process: seconds, report rows, peak memory. A one-day run into
    another data dir comes first, so the timed run pays no module imports (start-up is measured elsewhere)."""
    import os

    from marketing_dwh.demo_world import DemoWorld
    from pipelines.cli import refuse_unused_imports

    refuse_unused_imports()  # as in `mdw run`'s process
    from pipelines.runner import extract_to_bronze
    from pipelines.targets import current_target
    from sources.ga4.plugin import plugin

    first = DemoWorld().start.isoformat()
    spare = str(412345678 + properties)  # the emulator serves one property more, for the warm-up
    kwargs = {"property_ids": [spare], "api_endpoint": url, "transport": transport, "start_date": first,
              "today": first}  # fmt: skip
    os.environ["MDW__DATA_DIR"] = f"{data}_warm_up"
    extract_to_bronze(plugin, current_target("local"), kwargs)
    os.environ["MDW__DATA_DIR"] = data
    kwargs |= {"property_ids": [str(412345678 + i) for i in range(properties)], "today": TODAY}
    if backfill_slice_days:  # 0: the source's default
        kwargs["backfill_slice_days"] = backfill_slice_days
    target = current_target("local")
    started = time.perf_counter()
    step = extract_to_bronze(plugin, target, kwargs)
    elapsed = time.perf_counter() - started
    if step.error:
        raise SystemExit(step.error)
    rows = sum(t.rows for t in step.tables.values() if t.table in ("report_traffic_daily", "report_purchases"))
    return {"seconds": elapsed, "rows": rows, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def plain_loop(url: str, calls_file: str) -> dict[str, Any]:
    """The same calls with ``http.client`` on one keep-alive connection, each answer decoded with ``json``."""
    calls = json.loads(Path(calls_file).read_text())
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))
    rows = 0
    started = time.perf_counter()
    for call in calls:
        body = json.dumps(call["body"]).encode() if call["method"] == "POST" else None
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(call["method"], f"{call['path']}?{call['query']}", body=body, headers=headers)
        answer = json.loads(conn.getresponse().read())
        for report in answer.get("reports") or [answer]:
            rows += len(report.get("rows") or [])
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "rows": rows, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def sdk_loop(url: str, calls_file: str, endpoint: str, transport: str) -> dict[str, Any]:
    """The same calls through the official client (``BetaAnalyticsDataClient`` on ``endpoint`` with ``transport``, as
    the source), each answer's rows read from the response message: the SDK's own cost (over REST: JSON to protobuf
    in Python; over gRPC: binary protobuf) without the source's. The Admin API's calls go to the REST ``url``."""
    from google.analytics.data_v1beta import types

    from sources.ga4.clients import make_client

    calls = json.loads(Path(calls_file).read_text())
    client = make_client(endpoint, transport, None)
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))  # the Admin API's calls: as the plain loop sends them
    requests = {
        "runReport": (types.RunReportRequest, client.run_report),
        "batchRunReports": (types.BatchRunReportsRequest, client.batch_run_reports),
        "checkCompatibility": (types.CheckCompatibilityRequest, client.check_compatibility),
    }
    rows = 0
    started = time.perf_counter()
    for call in calls:
        name, _, method = call["path"].removeprefix("/v1beta/").partition(":")
        if call["path"].startswith("/v1beta/properties/") and method in requests:
            kind, send = requests[method]
            request = kind.from_json(json.dumps(call["body"]), ignore_unknown_fields=True)
            request.property = name  # the path names the property
            answer = send(request=request)
            reports = getattr(answer, "reports", None)
            rows += sum(len(r.rows) for r in reports) if reports is not None else len(getattr(answer, "rows", []))
        elif call["path"].endswith("/metadata") and call["path"].startswith("/v1beta/properties/"):
            client.get_metadata(name=call["path"].removeprefix("/v1beta/"))
        else:
            body = json.dumps(call["body"]).encode() if call["method"] == "POST" else None
            headers = {"Content-Type": "application/json"} if body else {}
            conn.request(call["method"], f"{call['path']}?{call['query']}", body=body, headers=headers)
            conn.getresponse().read()
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "rows": rows, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def _child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "tests.bench.ga4_ingest", "--child", *args], cwd=ROOT,
                         capture_output=True, text=True)  # fmt: skip
    if out.returncode:
        raise SystemExit(f"benchmark child failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _scenario(emu: Any, properties: int, backfill_slice_days: int, tries: int, transport: str) -> dict[str, Any]:
    """The source over ``transport`` (``tries`` runs), the plain REST loop of its calls and the client's loop of them
    over the same transport (``tries`` runs each); the faster of each."""
    endpoint = emu.grpc_endpoint if transport == "grpc" else emu.url
    best: dict[str, Any] = {}
    for attempt in range(tries):
        data = WORK / f"run_{properties}_{backfill_slice_days}_{transport}_{attempt}"
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(f"{data}_warm_up", ignore_errors=True)
        emu._app._cache.clear()  # every run computes its reports afresh
        emu.requests.clear()
        mine = _child("project", endpoint, str(properties), str(data), str(backfill_slice_days), transport)
        spare = str(412345678 + properties)  # the warm-up's property
        calls = [c for c in emu.requests if c["status"] == 200 and c["property_id"] != spare]
        reports = [r for r in emu.report_requests() if r["property_id"] != spare]
        file = WORK / f"calls_{properties}_{backfill_slice_days}_{transport}.json"
        file.write_text(json.dumps([{k: c[k] for k in ("method", "path", "query", "body")} for c in calls]))
        emu._app._cache.clear()
        plain = _child("plain", emu.url, str(file))
        emu._app._cache.clear()
        sdk = _child("sdk", emu.url, str(file), endpoint, transport)
        for name, run in (("project", mine), ("plain", plain), ("sdk", sdk)):
            if name not in best or run["seconds"] < best[name]["seconds"]:
                best[name] = run
        best["report_calls"] = sum(1 for c in calls if c["endpoint"] in ("runReport", "batchRunReports"))
        best["one_day_reports"] = sum(
            1 for r in reports for d in r["body"]["dateRanges"][:1] if d["startDate"] == d["endDate"]
        )
        best["reports"] = len(reports)
        best["calls"] = len(calls)
    return best


SCENARIOS = (  # label, backfill_slice_days (0: the source's default), transport
    ("one-day requests, 5 per `batchRunReports`", 1, "rest"),
    ("first backfill (multi-day)", 0, "rest"),
    ("one-day requests, over gRPC (production's transport)", 1, "grpc"),
    ("first backfill, over gRPC", 0, "grpc"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--properties", type=int, default=5)
    parser.add_argument("--tries", type=int, default=2)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "project":
            url, properties, data, days, transport = rest
            print(json.dumps(project(url, int(properties), data, int(days), transport)))
        else:
            print(json.dumps({"plain": plain_loop, "sdk": sdk_loop}[kind](*rest)))
        return

    from marketing_dwh.demo_world import DemoWorld
    from sources.ga4.emulator import DataApiEmulator, demo_data

    WORK.mkdir(parents=True, exist_ok=True)
    n = args.properties
    results = []
    with DataApiEmulator(demo_data(DemoWorld(), properties=n + 1), grpc=True) as emu:
        for pid in emu.data.properties:  # the emulator's per-property facts, built once before any timing
            emu._app._facts_of(pid)
        for label, days, transport in SCENARIOS:
            print(f"  GA4: {n} properties x 92 days x 2 reports, {label} ...", flush=True)
            results.append((label, _scenario(emu, n, days, args.tries, transport)))
    before = results[0][1]["one_day_reports"]  # what the source sent before batching: one runReport per report and day
    table = Table(
        "ga4.extract",
        [
            "GA4 extraction, 2 reports × 92 days",
            "report calls (before → after)",
            "project",
            "plain REST loop",
            "ratio",
            "the client's loop (ratio)",
            "report rows",
            "peak memory (project / loop)",
        ],  # fmt: skip
        note=f"{n} properties. Before: one `runReport` per property, report and day ({before:,} calls). The plain "
        "loop sends the source's own calls again (`http.client` + `json`, no SDK, no dlt); the client's loop sends "
        "them through the official client the source uses, over the source's transport (REST: JSON to protobuf in "
        "Python; gRPC: binary protobuf, parsed in C), rows read from the messages. Target: ratio ≤ 1.2x.",
    )
    for label, r in results:
        table.add(
            label,
            f"{before:,} → {r['report_calls']:,}",
            seconds(r["project"]["seconds"]),
            seconds(r["plain"]["seconds"]),
            ratio(r["project"]["seconds"], r["plain"]["seconds"]),
            f"{seconds(r['sdk']['seconds'])} ({ratio(r['project']['seconds'], r['sdk']['seconds'])})",
            f"{r['project']['rows']:,}",
            f"{megabytes(r['project']['peak'])} / {megabytes(r['plain']['peak'])}",
        )
    table.save()


if __name__ == "__main__":
    main()
