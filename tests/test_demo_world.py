"""The demo world generator: determinism, volumes, formats and cross-source coherence."""

from __future__ import annotations

import csv
import re
import time
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketing_dwh.demo_world import PAID_PLATFORMS, DemoWorld, split_exact
from marketing_dwh.demo_world.clock import local_to_utc, summer_time_bounds, utc_offset_minutes
from sources.crm.demo import crm_export, write_crm_landing
from sources.crm.demo import main as cli_main
from sources.crm.demo_bench import write_bench_orders
from sources.crm.settings import CONTACT_COLUMNS, ORDER_COLUMNS
from sources.ga4.demo import ga4_demo
from sources.meta_ads.demo import meta_demo

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
AMOUNT = re.compile(r"^\d+\.\d{2}$")
UTM = {  # channel -> allowed (utm_source, utm_medium)
    "direct": {("", "")},
    "organic": {("google", "organic")},
    "google": {("google", "cpc")},
    "facebook": {("facebook", "cpc"), ("facebook", "paid_social")},
    "email": {("newsletter", "email")},
    "display": {("criteo", "display")},
}
CURRENCY = {"DE": "EUR", "FR": "EUR", "NL": "EUR", "ES": "EUR", "AT": "EUR", "IE": "EUR", "GB": "GBP", "US": "USD"}


@pytest.fixture(scope="module")
def world() -> DemoWorld:
    return DemoWorld()


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


# --- determinism ----------------------------------------------------------------------------------
def test_same_seed_gives_identical_world_and_files(world: DemoWorld, tmp_path: Path) -> None:
    again = DemoWorld(seed=42)
    assert again == world
    assert again.customers == world.customers and again.order_facts == world.order_facts
    assert again.delivery == world.delivery
    # each plugin's slice is cached per world: build them again from scratch
    assert crm_export.__wrapped__(again) == crm_export(world)
    assert meta_demo.__wrapped__(again).insights == meta_demo(world).insights
    assert ga4_demo.__wrapped__(again).traffic == ga4_demo(world).traffic

    first = write_crm_landing(world, tmp_path / "a")
    second = write_crm_landing(again, tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in second]
    assert [p.name for p in first] == [f"contacts_00{k}.csv" for k in (1, 2, 3)] + [
        f"orders_00{k}.csv" for k in (1, 2, 3)
    ]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()


def test_rewriting_landing_is_idempotent(world: DemoWorld, tmp_path: Path) -> None:
    paths = write_crm_landing(world, tmp_path)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}
    time.sleep(0.01)
    assert write_crm_landing(world, tmp_path) == paths
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in paths} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temp files left


def test_other_seed_gives_other_data(world: DemoWorld) -> None:
    other = DemoWorld(seed=43, scale=0.2)
    assert crm_export(other).orders[0] != crm_export(world).orders[0]
    assert other.campaigns[0].campaign_id != world.campaigns[0].campaign_id


# --- volumes --------------------------------------------------------------------------------------
def test_default_volumes(world: DemoWorld) -> None:
    orders, contacts = crm_export(world).orders, crm_export(world).contacts
    assert 6_500 <= len(contacts) <= 7_500
    assert 700 <= len(orders) <= 900
    assert 8 <= len(world.campaigns) <= 12
    assert 5 <= len(world.campaigns_on("meta")) <= 7
    assert len({r["currency"] for r in orders}) >= 3
    assert {"DE", "FR", "NL", "GB", "US", "ES"} <= {r["country"] for r in contacts}
    repeat_rate = sum(r["is_repeat"] == "true" for r in orders) / len(orders)
    assert 0.10 <= repeat_rate <= 0.20
    assert set(Counter(r["channel"] for r in orders)) == set(UTM)


def test_scale_two_roughly_doubles(world: DemoWorld) -> None:
    double = DemoWorld(scale=2.0)
    assert 1.7 <= len(double.order_facts) / len(world.order_facts) <= 2.3
    assert len(double.customers) == 2 * len(world.customers)
    assert [c.campaign_id for c in double.campaigns] == [c.campaign_id for c in world.campaigns]


# --- CRM formats ----------------------------------------------------------------------------------
def test_keys_unique_and_ids_shaped(world: DemoWorld) -> None:
    orders, contacts = crm_export(world).orders, crm_export(world).contacts
    for key in ("order_id", "transaction_id"):
        assert len({r[key] for r in orders}) == len(orders), key
    for key in ("contact_id", "email"):
        assert len({r[key] for r in contacts}) == len(contacts), key
    assert all(re.fullmatch(r"ORD-\d{6}", r["order_id"]) for r in orders)
    assert all(re.fullmatch(r"C-\d{6}", r["contact_id"]) for r in contacts)
    assert all(re.fullmatch(r"T-\d+", r["transaction_id"]) for r in orders)
    assert all(re.fullmatch(r"\d{9,10}\.\d{10}", r["user_pseudo_id"]) for r in orders)
    pseudo = defaultdict(set)
    for r in orders:
        pseudo[r["contact_id"]].add(r["user_pseudo_id"])
    assert all(len(ids) == 1 for ids in pseudo.values())  # one GA4 client id per contact
    assert len({next(iter(ids)) for ids in pseudo.values()}) == len(pseudo)  # and not shared


def test_order_values(world: DemoWorld) -> None:
    country = {c["contact_id"]: c["country"] for c in crm_export(world).contacts}
    meta_ids = {c.campaign_id for c in world.campaigns_on("meta")}
    by_id = {c.campaign_id: c for c in world.campaigns}
    for r in crm_export(world).orders:
        assert list(r) == list(ORDER_COLUMNS)
        assert TS.match(r["order_ts"]), r
        assert datetime.fromisoformat(r["order_ts"]).date() == date.fromisoformat(r["order_date"])
        assert AMOUNT.match(r["amount"]) and float(r["amount"]) > 0, r
        assert r["currency"] == CURRENCY[country[r["contact_id"]]]
        assert 1 <= int(r["items"]) <= 6
        assert r["is_repeat"] in ("true", "false")
        assert r["payment_method"] in {"card", "paypal", "klarna", "bank_transfer", "apple_pay", "ideal"}
        assert (r["utm_source"], r["utm_medium"]) in UTM[r["channel"]], r
        if r["channel"] in ("direct", "organic"):
            assert r["campaign_id"] == ""
        else:
            assert by_id[r["campaign_id"]].channel == r["channel"]
        if r["channel"] == "facebook":
            assert r["campaign_id"] in meta_ids and re.fullmatch(r"\d{15,18}", r["campaign_id"])


def test_contact_values(world: DemoWorld) -> None:
    for c in crm_export(world).contacts:
        assert list(c) == list(CONTACT_COLUMNS)
        assert TS.match(c["created_at"]), c
        assert re.fullmatch(r"[a-z0-9._]+@[a-z.]+", c["email"])
        assert c["phone"] == "" or re.fullmatch(r"\+\d{8,15}", c["phone"])
        assert c["email_opt_in"] in ("true", "false")
    assert any(c["created_at"].endswith("Z") for c in crm_export(world).contacts)


def test_local_offsets_follow_daylight_saving(world: DemoWorld) -> None:
    country = {c["contact_id"]: c["country"] for c in crm_export(world).contacts}
    eu_switch = datetime.fromisoformat("2026-10-25T01:00:00+00:00")  # last Sunday of October, 01:00 UTC
    seen = set()
    for r in crm_export(world).orders:
        cc, ts = country[r["contact_id"]], datetime.fromisoformat(r["order_ts"])
        offset = ts.utcoffset().total_seconds() / 3600
        after = ts >= eu_switch
        expected = {"GB": 0 if after else 1, "IE": 0 if after else 1, "US": -4}.get(cc, 1 if after else 2)
        assert offset == expected, r
        seen.add((cc, offset))
    assert ("DE", 2) in seen and ("DE", 1) in seen and ("US", -4) in seen


def test_clock_rules() -> None:
    assert summer_time_bounds("CET", 2026)[1] == datetime.fromisoformat("2026-10-25T01:00:00+00:00")
    assert summer_time_bounds("US_EASTERN", 2026)[1] == datetime.fromisoformat("2026-11-01T06:00:00+00:00")
    assert utc_offset_minutes("CET", datetime.fromisoformat("2026-01-10T12:00:00+00:00")) == 60
    assert local_to_utc(datetime(2026, 8, 1, 0, 0), "CET") == datetime.fromisoformat("2026-07-31T22:00:00+00:00")


def test_landing_files_hold_the_world(world: DemoWorld, tmp_path: Path) -> None:
    paths = write_crm_landing(world, tmp_path, files=3)
    contacts, orders = [], []
    for path in paths:
        header, rows = _read_csv(path)
        target = contacts if path.name.startswith("contacts_") else orders
        assert header == list(CONTACT_COLUMNS if target is contacts else ORDER_COLUMNS)
        target.append(rows)
    assert [r for part in contacts for r in part] == crm_export(world).contacts
    assert [r for part in orders for r in part] == crm_export(world).orders
    last_dates = [max(r["order_date"] for r in part) for part in orders]
    first_dates = [min(r["order_date"] for r in part) for part in orders]
    assert first_dates[1] >= last_dates[0] and first_dates[2] >= last_dates[1]  # split by time
    assert b"\r\n" not in paths[0].read_bytes()


# --- coherence ------------------------------------------------------------------------------------
def test_orders_reference_contacts_created_before(world: DemoWorld) -> None:
    created = {c["contact_id"]: datetime.fromisoformat(c["created_at"]) for c in crm_export(world).contacts}
    earlier: set[str] = set()
    for r in crm_export(world).orders:
        assert created[r["contact_id"]] < datetime.fromisoformat(r["order_ts"])
        assert (r["is_repeat"] == "true") == (r["contact_id"] in earlier)
        earlier.add(r["contact_id"])


def test_ga4_purchases_match_orders(world: DemoWorld) -> None:
    orders = {r["transaction_id"]: r for r in crm_export(world).orders}
    purchases = ga4_demo(world).purchases
    assert {p["transaction_id"] for p in purchases} <= set(orders)
    assert len({p["transaction_id"] for p in purchases}) == len(purchases)
    assert 0.80 <= len(purchases) / len(orders) <= 0.97
    for p in purchases:
        order = orders[p["transaction_id"]]
        assert p["user_pseudo_id"] == order["user_pseudo_id"]
        assert p["value"] == float(order["amount"]) and p["currency"] == order["currency"]
        if order["channel"] == "direct":
            assert (p["source"], p["medium"], p["campaign_id"]) == ("(direct)", "(none)", "(not set)")
        else:
            assert (p["source"], p["medium"]) == (order["utm_source"], order["utm_medium"])
            assert p["campaign_id"] == (order["campaign_id"] or "(not set)")
        order_utc = datetime.fromisoformat(order["order_ts"]).timestamp()
        assert 0 <= p["event_timestamp"] / 1e6 - order_utc < 120
        assert isinstance(p["event_timestamp"], int) and re.fullmatch(r"\d{8}", p["date"])


def test_ga4_traffic_covers_purchases(world: DemoWorld) -> None:
    bought = Counter((p["date"], p["source"], p["medium"], p["campaign_id"]) for p in ga4_demo(world).purchases)
    rows = {(r["date"], r["source"], r["medium"], r["campaign_id"]): r for r in ga4_demo(world).traffic}
    assert len(rows) == len(ga4_demo(world).traffic)
    for key, n in bought.items():
        assert rows[key]["sessions"] >= n and rows[key]["ecommerce_purchases"] == n
    for r in ga4_demo(world).traffic:
        assert r["sessions"] >= r["engaged_sessions"] >= 0 and 1 <= r["total_users"] <= r["sessions"]
        assert r["key_events"] >= r["ecommerce_purchases"]
    daily = Counter()
    for r in ga4_demo(world).traffic:
        daily[r["date"]] += r["sessions"]
    assert len(daily) == world.days and min(daily.values()) > 150


def test_meta_objects_are_linked(world: DemoWorld) -> None:
    campaigns = {c.campaign_id for c in world.campaigns_on("meta")}
    accounts = {a.account_id for a in world.accounts("meta")}
    adsets = {a.adset_id: a for a in meta_demo(world).adsets}
    creatives = {c.creative_id for c in meta_demo(world).creatives}
    ads = {a.ad_id: a for a in meta_demo(world).ads}
    ids = [*campaigns, *adsets, *ads, *creatives]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"\d{15,18}", i) for i in ids)
    assert all(a.campaign_id in campaigns and a.account_id in accounts for a in adsets.values())
    assert all(a.adset_id in adsets and a.creative_id in creatives for a in ads.values())
    for row in meta_demo(world).insights:
        ad = ads[row["ad_id"]]
        assert (row["adset_id"], row["campaign_id"], row["account_id"]) == (ad.adset_id, ad.campaign_id, ad.account_id)
    keys = [(r["ad_id"], r["date_start"]) for r in meta_demo(world).insights]
    assert len(set(keys)) == len(keys)


def test_meta_insight_numbers(world: DemoWorld) -> None:
    rows = meta_demo(world).insights
    assert rows and all(r["date_start"] == r["date_stop"] for r in rows)
    for r in rows:
        assert isinstance(r["impressions"], int) and isinstance(r["spend"], float)
        assert r["impressions"] >= r["reach"] >= 1 and r["impressions"] >= r["clicks"] >= r["inline_link_clicks"]
        actions = {a["action_type"]: a for a in r.get("actions", [])}
        for a in actions.values():
            assert a["1d_click"] <= a["7d_click"] <= a["28d_click"]
            assert a["value"] == a["7d_click"] + a["1d_view"]
        if "purchase" in actions:
            for w in ("1d_click", "7d_click", "28d_click", "1d_view"):
                assert actions["add_to_cart"][w] >= actions["purchase"][w]
            assert actions["omni_purchase"] == actions["purchase"] | {"action_type": "omni_purchase"}
            values = {v["action_type"]: v for v in r["action_values"]}["purchase"]
            for w in ("1d_click", "7d_click", "28d_click", "1d_view"):
                assert (values[w] > 0) == (actions["purchase"][w] > 0)
            assert values["value"] == pytest.approx(values["7d_click"] + values["1d_view"])
    windows = {w for r in rows for a in r.get("actions", []) for w in a if w not in ("action_type", "value")}
    assert windows == {"1d_click", "7d_click", "28d_click", "1d_view"}
    days_per_campaign = Counter(r["campaign_id"] for r in rows)
    assert set(days_per_campaign) == {c.campaign_id for c in world.campaigns_on("meta")}


def test_meta_purchases_track_crm_orders(world: DemoWorld) -> None:
    crm = Counter(r["campaign_id"] for r in crm_export(world).orders if r["channel"] == "facebook")
    meta, spend = Counter(), Counter()
    for r in meta_demo(world).insights:
        spend[r["campaign_id"]] += r["spend"]
        for a in r.get("actions", []):
            if a["action_type"] == "purchase":
                meta[r["campaign_id"]] += a["7d_click"]
    for campaign in world.campaigns_on("meta"):
        cid = campaign.campaign_id
        if crm[cid] >= 10:
            assert 0.6 <= meta[cid] / crm[cid] <= 1.8, campaign.name
        active_days = sum(campaign.is_active(world.start + timedelta(days=i)) for i in range(world.days))
        assert 0.8 <= spend[cid] / (campaign.daily_budget * active_days) <= 1.05, campaign.name
    assert sum(meta.values()) >= sum(crm.values()) * 0.9


# --- one world, rendered by each plugin: the slices agree -------------------------------------------
def test_delivery_covers_every_paid_campaign_day(world: DemoWorld) -> None:
    for campaign in world.campaigns:
        days = {day for (cid, day) in world.delivery if cid == campaign.campaign_id}
        active = {world.start + timedelta(days=i) for i in range(world.days)}
        active = {d for d in active if campaign.is_active(d)}
        assert days == (active if campaign.platform in PAID_PLATFORMS else set()), campaign.name
    for d in world.delivery.values():
        assert d.spend_cents >= 1 and d.impressions >= d.clicks >= d.visits >= 0


def test_meta_splits_the_world_delivery_exactly(world: DemoWorld) -> None:
    spend, impressions = Counter(), Counter()
    for r in meta_demo(world).insights:
        spend[(r["campaign_id"], r["date_start"])] += round(r["spend"] * 100)
        impressions[(r["campaign_id"], r["date_start"])] += r["impressions"]
    meta = {(c, d.isoformat()): v for (c, d), v in world.delivery.items() if world.campaign(c).platform == "meta"}
    assert spend == {key: v.spend_cents for key, v in meta.items()}
    assert all(impressions[key] >= v.impressions for key, v in meta.items())  # the funnel may only add


def test_ga4_sessions_of_paid_campaigns_are_the_world_visits(world: DemoWorld) -> None:
    sessions = Counter()
    for r in ga4_demo(world).traffic:
        sessions[(r["campaign_id"], r["date"])] += r["sessions"]
    for (campaign_id, day), delivered in world.delivery.items():
        # a session count never falls below the purchases it holds
        assert sessions[(campaign_id, day.strftime("%Y%m%d"))] >= delivered.visits


@given(total=st.integers(0, 10**9), weights=st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=40))
def test_split_exact_keeps_the_total(total: int, weights: list[float]) -> None:
    parts = split_exact(total, weights)
    assert sum(parts) == total and len(parts) == len(weights) and min(parts) >= 0
    if sum(weights) > 0:
        for part, weight in zip(parts, weights, strict=True):
            assert abs(part - total * weight / sum(weights)) < 1 + 1e-6 * total


# --- benchmark files and CLI ----------------------------------------------------------------------
def test_bench_orders(tmp_path: Path) -> None:
    started = time.perf_counter()
    paths = write_bench_orders(tmp_path, n_orders=20_000, n_files=4)
    assert time.perf_counter() - started < 5
    assert [p.name for p in paths] == [f"orders_bench_000{k}.csv" for k in (1, 2, 3, 4)]
    rows = []
    for path in paths:
        header, part = _read_csv(path)
        assert header == list(ORDER_COLUMNS)
        rows.extend(part)
    assert len(rows) == 20_000
    assert len({r["order_id"] for r in rows}) == 20_000
    assert len({r["transaction_id"] for r in rows}) == 20_000
    campaigns = {c.campaign_id: c for c in DemoWorld(seed=7).campaigns}
    for r in rows:
        assert TS.match(r["order_ts"]) and AMOUNT.match(r["amount"]) and float(r["amount"]) > 0, r
        assert datetime.fromisoformat(r["order_ts"]).date() == date.fromisoformat(r["order_date"])
        assert 1 <= int(r["items"]) <= 6 and r["is_repeat"] in ("true", "false")
        assert (r["utm_source"], r["utm_medium"]) in UTM[r["channel"]], r
        assert r["campaign_id"] == "" if r["channel"] in ("direct", "organic") else r["campaign_id"] in campaigns
    assert 0.10 <= sum(r["is_repeat"] == "true" for r in rows) / len(rows) <= 0.20
    assert {r["currency"] for r in rows} == {"EUR", "USD", "GBP"}
    assert set(Counter(r["channel"] for r in rows)) == set(UTM)
    instants = [datetime.fromisoformat(r["order_ts"]) for r in rows]
    assert instants == sorted(instants)  # files split by time
    assert paths[0].read_bytes() == write_bench_orders(tmp_path / "again", 20_000, 4)[0].read_bytes()


def test_cli_writes_landing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--out", str(tmp_path), "--scale", "0.1", "--files", "2"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "contacts_001.csv",
        "contacts_002.csv",
        "orders_001.csv",
        "orders_002.csv",
    ]
    assert "700 contacts" in capsys.readouterr().out
