"""Secrets stay secret: distinctive fake secrets seeded into configuration never show up in console output,
logs, Bronze files, dlt's pipeline state and traces, dbt's files or the warehouse (ops tables included)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import duckdb
import pytest
from google_fakes import service_account_info

from marketing_dwh.demo_world import DemoWorld
from marketing_dwh.registry import get
from pipelines.cli import main
from pipelines.ops import record_run
from pipelines.report import RunReport, format_summary
from pipelines.runner import run_source
from pipelines.targets import Target
from sources.google_ads.demo import demo_data as google_demo_data
from sources.google_ads.emulator import GoogleAdsEmulator
from sources.meta_ads.emulator import GraphEmulator, demo_data

META_TOKEN = "EAAGcanaryMetaToken5d1f0e3a"
WRONG_TOKEN = "EAAGcanaryExpiredToken0c4b21"
APP_SECRET = "canaryAppSecret77c2b9"
GA4_KEY_ID = "canaryGa4KeyId41aa90"
DESTINATION_KEY = "canaryDestinationKey9e8d31"
GADS_DEVELOPER_TOKEN = "canaryGadsDevToken3f9a1c"
GADS_CLIENT_SECRET = "canaryGadsClientSecret6b2e07"
GADS_REFRESH_TOKEN = "1//canaryGadsRefreshToken8d4c55"
GADS_WRONG_REFRESH = "1//canaryGadsRevokedToken2a7e90"


def _seed_secrets(monkeypatch: pytest.MonkeyPatch, token: str) -> dict[str, str]:
    ga4 = service_account_info("canary-ga4-project", "http://127.0.0.1:9/token", private_key_id=GA4_KEY_ID)
    secrets = {
        "SOURCES__META_ADS__ACCESS_TOKEN": token,
        "SOURCES__META_ADS__APP_SECRET": APP_SECRET,
        "SOURCES__GA4__CREDENTIALS": json.dumps(ga4),
        "SOURCES__GOOGLE_ADS__DEVELOPER_TOKEN": GADS_DEVELOPER_TOKEN,
        "SOURCES__GOOGLE_ADS__CLIENT_SECRET": GADS_CLIENT_SECRET,
        "SOURCES__GOOGLE_ADS__REFRESH_TOKEN": GADS_REFRESH_TOKEN,
        "DESTINATION__CREDENTIALS__PRIVATE_KEY": f"-----BEGIN PRIVATE KEY-----\n{DESTINATION_KEY}\n-----END",
    }
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    # the GA4 key's body is as distinctive as its id
    return {"ga4_private_key": ga4["private_key"].splitlines()[1]}


def _leaks(root: Path, needles: list[str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.relative_to(root)}: {n}" for n in needles if n.encode() in data]
    return found


def _warehouse_text(target: Target) -> str:
    """Every text value of every table in the warehouse (raw, silver, gold, ops ...)."""
    chunks = []
    with duckdb.connect(str(target.warehouse_path), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, table in tables:
            chunks.append(str(con.execute(f'select * from "{schema}"."{table}"').fetchall()))
    return "\n".join(chunks)


def test_seeded_secrets_never_leak(
    target: Target, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    extra = _seed_secrets(monkeypatch, META_TOKEN)
    world = DemoWorld()
    report = RunReport(target.name, "secrets test")
    with (
        GraphEmulator(demo_data(world), access_token=META_TOKEN) as meta,
        get("ga4").sandbox(world, target.data_dir) as ga4,
        GoogleAdsEmulator(
            google_demo_data(world),
            developer_token=GADS_DEVELOPER_TOKEN,
            client_secret=GADS_CLIENT_SECRET,
            refresh_token=GADS_REFRESH_TOKEN,
        ) as gads,
    ):
        # the Meta token and app secret come from configuration, not from the sandbox
        meta_kwargs = {"graph_url": meta.url, "account_ids": [a.account_id for a in world.accounts("meta")]}
        meta_kwargs |= {"start_date": world.start.isoformat(), "poll_interval_s": 0.02}
        run_source(get("meta_ads"), target, report, meta_kwargs)
        assert meta.requests and all(r["status"] == 200 for r in meta.requests)
        run_source(get("ga4"), target, report, ga4)
        # Google Ads: developer token, client secret and refresh token come from configuration
        manager = next(c for c, customer in gads.data.customers.items() if customer.manager)
        gads_kwargs = {"endpoint": gads.endpoint, "oauth_url": gads.oauth_url, "client_id": gads.client_id,
                       "login_customer_id": manager, "start_date": world.start.isoformat()}  # fmt: skip
        run_source(get("google_ads"), target, report, gads_kwargs)
        assert gads.token_refreshes >= 1
        # a rejected token: the error is reported (and recorded in ops) without the token in it
        monkeypatch.setenv("SOURCES__GOOGLE_ADS__REFRESH_TOKEN", GADS_WRONG_REFRESH)
        gads_failed = RunReport(target.name, "secrets test, revoked Google refresh token")
        run_source(get("google_ads"), target, gads_failed, gads_kwargs)
        monkeypatch.setenv("SOURCES__META_ADS__ACCESS_TOKEN", WRONG_TOKEN)
        failed = RunReport(target.name, "secrets test, expired token")
        run_source(get("meta_ads"), target, failed, meta_kwargs)
    assert failed.failed and "190" in format_summary(failed)
    assert gads_failed.failed and "invalid_grant" in format_summary(gads_failed)
    record_run(report, target)
    record_run(failed, target)
    record_run(gads_failed, target)
    print(format_summary(gads_failed))
    print(format_summary(report))
    print(format_summary(failed))
    # dbt gets the warehouse credentials from dlt's runner too
    assert main(["dbt", "run", "--select", "mdw_meta_ads.staging", "mdw_ga4.staging", "mdw_google_ads.staging"]) == 0

    needles = [
        META_TOKEN,
        WRONG_TOKEN,
        APP_SECRET,
        GA4_KEY_ID,
        DESTINATION_KEY,
        extra["ga4_private_key"],
        GADS_DEVELOPER_TOKEN,
        GADS_CLIENT_SECRET,
        GADS_REFRESH_TOKEN,
        GADS_WRONG_REFRESH,
    ]
    out = capsys.readouterr()
    console = out.out + out.err + caplog.text
    assert [line for line in console.splitlines() if any(n in line for n in needles)] == []
    leaks = _leaks(target.data_dir, needles)
    assert leaks == [], "\n".join(leaks)  # Bronze, pipeline state + traces, dbt target + logs, warehouse
    assert [n for n in needles if n in _warehouse_text(target)] == []
    with duckdb.connect(str(target.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from ops.runs").fetchone()[0] >= 3
        assert con.execute("select count(*) from raw_meta_ads.insights").fetchone()[0] > 0
        assert con.execute("select count(*) from raw_google_ads.ad_group_stats_daily").fetchone()[0] > 0
