"""Google Ads benchmark (``make bench``): extraction for 10 customers x 30 days through the gRPC emulator.

The emulator serves the demo world's Google slice copied to ``--customers`` accounts under one manager. Measured in
the same run: the source (real client, GAQL SearchStream, row shaping, dlt extract into Bronze-like jsonl files),
and as reference a plain loop of the same SearchStream calls with the raw client (no shaping, no dlt).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import dlt

from marketing_dwh.demo_world import DemoWorld
from sources.google_ads import google_ads
from sources.google_ads.api import make_client
from sources.google_ads.demo import demo_data
from sources.google_ads.emulator import GoogleAdsEmulator
from sources.google_ads.gaql import between, query
from sources.google_ads.settings import (
    AD_FIELDS,
    AD_GROUP_FIELDS,
    AD_GROUP_STATS_FIELDS,
    CAMPAIGN_FIELDS,
    CAMPAIGN_STATS_FIELDS,
    CUSTOMER_CLIENT_FIELDS,
    CUSTOMER_FIELDS,
)
from tests.bench.results import Table, ratio, seconds


def _reference(emu: GoogleAdsEmulator, manager: str, customers: list[str], since, until) -> int:
    kw = emu.source_kwargs()
    client = make_client(kw["developer_token"], kw["client_id"], kw["client_secret"], kw["refresh_token"], manager,
                         kw["endpoint"], kw["oauth_url"])  # fmt: skip
    service = client.get_service("GoogleAdsService")
    rows = sum(len(b.results) for b in service.search_stream(customer_id=manager, query=query(
        CUSTOMER_CLIENT_FIELDS, "customer_client")))  # fmt: skip
    for c in customers:
        for gaql in (
            query(CUSTOMER_FIELDS, "customer"),
            query(CAMPAIGN_FIELDS, "campaign"),
            query(AD_GROUP_FIELDS, "ad_group"),
            query(AD_FIELDS, "ad_group_ad"),
            query(CAMPAIGN_STATS_FIELDS, "campaign", between(since, until)),
            query(AD_GROUP_STATS_FIELDS, "ad_group", between(since, until)),
        ):
            rows += sum(len(b.results) for b in service.search_stream(customer_id=c, query=gaql))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    world = DemoWorld(days=args.days)
    data = demo_data(world, customers=args.customers)
    manager = next(c for c, cust in data.customers.items() if cust.manager)
    clients = [c for c in data.links[manager] if data.customers[c].status == "ENABLED"]
    since, until = world.start, world.start + timedelta(days=args.days - 1)
    work = Path(tempfile.mkdtemp(prefix="bench-google-ads-"))
    try:
        with GoogleAdsEmulator(data) as emu:
            t0 = time.perf_counter()
            ref_rows = _reference(emu, manager, clients, since, until)
            ref_s = time.perf_counter() - t0

            pipeline = dlt.pipeline("bench_google_ads", destination=dlt.destinations.filesystem(str(work / "bronze")),
                                    dataset_name="raw_google_ads", pipelines_dir=str(work / "p"))  # fmt: skip
            source = google_ads(**emu.source_kwargs(login_customer_id=manager, start_date=since.isoformat(),
                                                    lookback_days=args.days, today=until.isoformat()))  # fmt: skip
            counted = [0]

            def count(row: dict) -> dict:
                counted[0] += 1
                return row

            for resource in source.resources.values():
                resource.add_map(count)
            t0 = time.perf_counter()
            pipeline.extract(source, loader_file_format="jsonl")
            src_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    src_rows = counted[0]
    table = Table(
        "google_ads.extract",
        [f"Google Ads extraction, {len(clients)} customers × {args.days} days", "seconds", "rows", "rows/s"],
    )
    table.add(
        "reference: the raw client's `SearchStream` loop", seconds(ref_s), f"{ref_rows:,}", f"{ref_rows / ref_s:,.0f}"
    )
    table.add(
        "the `google_ads` source with dlt's extract",
        seconds(src_s),
        f"{src_rows:,}",
        f"{src_rows / src_s:,.0f} ({ratio(src_s, ref_s)} the reference's time)",
    )
    table.note = "Through the gRPC emulator on 127.0.0.1, the same GAQL queries."
    table.save()


if __name__ == "__main__":
    main()
