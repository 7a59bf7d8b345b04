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
from sources.meta_ads.emulator import GraphEmulator, demo_data

META_TOKEN = "EAAGcanaryMetaToken5d1f0e3a"
WRONG_TOKEN = "EAAGcanaryExpiredToken0c4b21"
APP_SECRET = "canaryAppSecret77c2b9"
GA4_KEY_ID = "canaryGa4KeyId41aa90"
DESTINATION_KEY = "canaryDestinationKey9e8d31"


def _seed_secrets(monkeypatch: pytest.MonkeyPatch, token: str) -> dict[str, str]:
    ga4 = service_account_info("canary-ga4-project", "http://127.0.0.1:9/token", private_key_id=GA4_KEY_ID)
    secrets = {
        "SOURCES__META_ADS__ACCESS_TOKEN": token,
        "SOURCES__META_ADS__APP_SECRET": APP_SECRET,
        "SOURCES__GA4__CREDENTIALS": json.dumps(ga4),
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
    ):
        # the Meta token and app secret come from configuration, not from the sandbox
        meta_kwargs = {"graph_url": meta.url, "account_ids": [a.account_id for a in world.accounts("meta")]}
        meta_kwargs |= {"start_date": world.start.isoformat(), "poll_interval_s": 0.02}
        run_source(get("meta_ads"), target, report, meta_kwargs)
        assert meta.requests and all(r["status"] == 200 for r in meta.requests)
        run_source(get("ga4"), target, report, ga4)
        # a rejected token: the error is reported (and recorded in ops) without the token in it
        monkeypatch.setenv("SOURCES__META_ADS__ACCESS_TOKEN", WRONG_TOKEN)
        failed = RunReport(target.name, "secrets test, expired token")
        run_source(get("meta_ads"), target, failed, meta_kwargs)
    assert failed.failed and "190" in format_summary(failed)
    record_run(report, target)
    record_run(failed, target)
    print(format_summary(report))
    print(format_summary(failed))
    # dbt gets the warehouse credentials from dlt's runner too
    assert main(["dbt", "run", "--select", "mdw_meta_ads.staging", "mdw_ga4.staging"]) == 0

    needles = [META_TOKEN, WRONG_TOKEN, APP_SECRET, GA4_KEY_ID, DESTINATION_KEY, extra["ga4_private_key"]]
    out = capsys.readouterr()
    console = out.out + out.err + caplog.text
    assert [line for line in console.splitlines() if any(n in line for n in needles)] == []
    leaks = _leaks(target.data_dir, needles)
    assert leaks == [], "\n".join(leaks)  # Bronze, pipeline state + traces, dbt target + logs, warehouse
    assert [n for n in needles if n in _warehouse_text(target)] == []
    with duckdb.connect(str(target.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from ops.runs").fetchone()[0] >= 3
        assert con.execute("select count(*) from raw_meta_ads.insights").fetchone()[0] > 0
