"""GA4 requests in ``batchRunReports`` calls (up to five reports of one property per call) and multi-day requests
for a first backfill, through the real ``google-analytics-data`` client against the emulator (REST and gRPC)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_ga4_pipeline import COPY, DEMO, WORLD, load_warnings, run

from conftest import query
from pipelines.targets import Target
from sources.ga4.emulator import DataApiEmulator, demo_data
from sources.ga4.slices import plan_batches
from test_meta_units import FakeClock


@pytest.fixture(params=["rest", "grpc"])
def emulator(request: pytest.FixtureRequest) -> Iterator[DataApiEmulator]:
    """Two copies of the demo property, talked to over REST and over gRPC (the same app behind both)."""
    with DataApiEmulator(demo_data(WORLD, properties=2), grpc=True) as emu:
        emu.transport = request.param  # type: ignore[attr-defined]
        yield emu
        assert emu.errors == []


TRAFFIC = "sessionSource"  # a dimension only the traffic report asks for
PURCHASES = "transactionId"  # one only the purchases report asks for


def _iso(day: str) -> str:
    return f"{day[:4]}-{day[4:6]}-{day[6:]}"


def served_days(emu: DataApiEmulator, pid: str, since: str, until: str) -> dict[str, tuple[int, int]]:
    """The traffic rows and sessions per day the emulator serves for the property."""
    out: dict[str, tuple[int, int]] = {}
    for r in emu.data.properties[pid].traffic:
        if since <= _iso(r["date"]) <= until:
            n, s = out.get(_iso(r["date"]), (0, 0))
            out[_iso(r["date"])] = (n + 1, s + r["sessions"])
    return out


def served_purchase_days(emu: DataApiEmulator, pid: str, since: str, until: str) -> dict[str, int]:
    days = Counter(_iso(p["date"]) for p in emu.data.properties[pid].purchases)
    return {d: n for d, n in days.items() if since <= d <= until}


def traffic_by_day(target: Target, property_id: str) -> dict[str, tuple[int, int]]:
    rows = query(target, "select date::varchar, count(*), sum(sessions) from raw_ga4.report_traffic_daily "
                         f"where property_id = '{property_id}' group by 1")  # fmt: skip
    return {d: (n, int(s)) for d, n, s in rows}


def purchases_by_day(target: Target, property_id: str) -> dict[str, int]:
    return dict(query(target, "select date::varchar, count(*) from raw_ga4.report_purchases "
                              f"where property_id = '{property_id}' group by 1"))  # fmt: skip


def report_of(body: dict) -> str:
    names = {d.get("name") for d in body.get("dimensions", [])}
    return "traffic" if TRAFFIC in names and PURCHASES not in names else "purchases"


def calls(emu: DataApiEmulator) -> list[dict]:
    return [r for r in emu.requests if r["endpoint"] in ("runReport", "batchRunReports")]


# --- grouping (no server) ------------------------------------------------------------------------------------
@given(st.lists(st.tuples(st.sampled_from(["412345678", "412345679", "7"]), st.integers(0, 400)), max_size=60))
def test_grouping_keeps_every_request_once_in_order_five_per_property_at_most(items: list[tuple[str, int]]) -> None:
    batches = plan_batches(items, key=lambda item: item[0])
    assert [item for batch in batches for item in batch] == items  # each exactly once, in order
    assert all(1 <= len(b) <= 5 for b in batches)
    assert all(len({pid for pid, _ in b}) == 1 for b in batches)  # one property per call
    for this, after in zip(batches, batches[1:], strict=False):  # no call is smaller than it has to be
        assert len(this) == 5 or this[-1][0] != after[0][0]


# --- one-day requests, five to a call --------------------------------------------------------------------------
def test_one_day_requests_go_five_to_a_call_and_land_on_their_day_and_report(
    target: Target, emulator: DataApiEmulator
) -> None:
    run(target, emulator, today="2026-08-12", backfill_slice_days=1)  # 12 days, one per request
    made = calls(emulator)
    assert all(c["endpoint"] == "batchRunReports" for c in made)
    asked: dict[tuple[str, str], list[str]] = {}
    for c in made:
        subs = c["body"]["requests"]
        assert 1 < len(subs) <= 5 and c["status"] == 200
        assert {s.get("property", f"properties/{c['property_id']}") for s in subs} == {f"properties/{c['property_id']}"}
        assert len({report_of(s) for s in subs}) == 1  # one report per call: a 400 fails that report alone
        for s in subs:
            (rng,) = s["dateRanges"]
            assert rng["startDate"] == rng["endDate"]
            asked.setdefault((c["property_id"], report_of(s)), []).append(rng["startDate"])
    days = [(date(2026, 8, 1) + timedelta(days=i)).isoformat() for i in range(12)]
    assert asked == {(p, r): days for p in (DEMO, COPY) for r in ("traffic", "purchases")}  # once each, in order
    assert len(made) == 2 * 2 * 3  # 12 days: calls of 5, 5 and 2 per property and report (48 one-day requests)
    for pid in (DEMO, COPY):  # every report landed on its own day and report
        assert traffic_by_day(target, pid) == served_days(emulator, pid, "2026-08-01", "2026-08-12")
        assert purchases_by_day(target, pid) == served_purchase_days(emulator, pid, "2026-08-01", "2026-08-12")
    # each report of a call consumed its own tokens, and the ledger has one row per report
    assert query(target, "select count(*) from raw_ga4.quota_ledger") == [(48,)]
    assert query(target, "select count(*) from raw_ga4.report_metadata where row_count is not null") == [(48,)]
    # the incremental rerun: the lookback's three days in one call per property and report
    emulator.requests.clear()
    run(target, emulator, today="2026-08-13")
    assert [len(c["body"]["requests"]) for c in calls(emulator)] == [3, 3, 3, 3]


def test_pages_past_the_first_go_in_batches_too(target: Target, emulator: DataApiEmulator) -> None:
    run(target, emulator, today="2026-08-05", backfill_slice_days=1, page_size=5)
    offsets = Counter(int(r["body"].get("offset") or 0) for r in emulator.report_requests())
    assert offsets[0] == 2 * 2 * 5 and offsets[5] > 0  # every day's first page, then the days with more rows
    assert all(c["endpoint"] == "batchRunReports" or c["body"].get("offset") for c in calls(emulator))
    for pid in (DEMO, COPY):
        assert traffic_by_day(target, pid) == served_days(emulator, pid, "2026-08-01", "2026-08-05")


def test_a_failed_call_is_retried_whole_and_a_stop_keeps_the_days_before_it(
    target: Target, emulator: DataApiEmulator
) -> None:
    clock = FakeClock()
    first = emulator.faults.error(503, "UNAVAILABLE", times=1, endpoint="batchRunReports")
    run(target, emulator, today="2026-08-07", backfill_slice_days=1, clock=clock)
    assert first.hits == 1 and clock.slept[:1] == [2.0]  # the whole call again after a backoff
    assert traffic_by_day(target, DEMO) == served_days(emulator, DEMO, "2026-08-01", "2026-08-07")
    # the next run: the daily tokens run out at the lookback's second call (08-11 and 08-12)
    emulator.requests.clear()
    second_call = lambda body: any(r["dateRanges"][0]["startDate"] == "2026-08-11" for r in body["requests"])  # noqa: E731
    emulator.faults.quota("tokens_per_day", times=None, property_id=DEMO, endpoint="batchRunReports", when=second_call)
    stopped = run(target, emulator, today="2026-08-12", lookback_days=7)  # 08-06 .. 08-12: calls of 5 and 2
    assert any("daily token quota is exhausted" in w for w in load_warnings(stopped))
    assert max(traffic_by_day(target, DEMO)) == "2026-08-10"  # the first call's days are kept, nothing after
    assert traffic_by_day(target, COPY) == served_days(
        emulator, COPY, "2026-08-01", "2026-08-12"
    )  # the other property goes on
    emulator.faults.clear()
    emulator.requests.clear()
    run(target, emulator, today="2026-08-12", lookback_days=1)
    demo_days = sorted({r["body"]["dateRanges"][0]["startDate"] for r in emulator.report_requests()
                        if r["property_id"] == DEMO})  # fmt: skip
    assert demo_days[0] == "2026-08-11"  # starts again at the oldest incomplete day
    assert traffic_by_day(target, DEMO) == served_days(emulator, DEMO, "2026-08-01", "2026-08-12")


def test_an_invalid_report_fails_its_whole_call_and_that_report_alone(
    target: Target, emulator: DataApiEmulator
) -> None:
    # one bad report in a call: the API answers 400 for the call, so every day of that report on that property
    emulator.faults.error(400, "INVALID_ARGUMENT", "Please remove sessionCampaignId to make the request compatible.",
                          times=None, property_id=COPY, when=lambda body: report_of(body) == "traffic")  # fmt: skip
    report = run(target, emulator, today="2026-08-03", backfill_slice_days=1)
    failed = [w for w in load_warnings(report) if w.startswith("failed:")]
    assert failed and all(COPY in w and "report traffic_daily" in w for w in failed)
    assert traffic_by_day(target, COPY) == {} and traffic_by_day(target, DEMO) == served_days(
        emulator, DEMO, "2026-08-01", "2026-08-03"
    )
    assert purchases_by_day(target, COPY) == served_purchase_days(emulator, COPY, "2026-08-01", "2026-08-03")


# --- a first backfill: several days per request ----------------------------------------------------------------
def test_first_backfill_asks_several_days_per_request_and_loads_what_one_day_requests_load(
    target: Target, emulator: DataApiEmulator
) -> None:
    run(target, emulator, today="2026-08-20", backfill_slice_days=7)  # 20 days: 7 + 7 + 6, one call per report
    made = calls(emulator)
    assert len(made) == 2 * 2 and all(len(c["body"]["requests"]) == 3 for c in made)
    ranges = [(s["dateRanges"][0]["startDate"], s["dateRanges"][0]["endDate"]) for c in made[:1]
              for s in c["body"]["requests"]]  # fmt: skip
    assert ranges == [("2026-08-01", "2026-08-07"), ("2026-08-08", "2026-08-14"), ("2026-08-15", "2026-08-20")]
    sql = ("select property_id, date::varchar, session_source, session_medium, session_campaign_id, sessions, "
           "total_users, purchase_revenue from raw_ga4.report_traffic_daily order by all")  # fmt: skip
    multi_day = query(target, sql)
    bought = ("select property_id, date::varchar, transaction_id, user_pseudo_id, event_timestamp, session_source, "
              "purchase_revenue, ecommerce_purchases from raw_ga4.report_purchases order by all")  # fmt: skip
    purchases = query(target, bought)
    assert traffic_by_day(target, DEMO) == served_days(emulator, DEMO, "2026-08-01", "2026-08-20")
    emulator.requests.clear()  # the same days again, one per request (a backfill replaces them)
    run(target, emulator, today="2026-08-20", since="2026-08-01", until="2026-08-20", backfill_slice_days=1)
    assert len(emulator.report_requests()) == 2 * 2 * 20
    assert query(target, sql) == multi_day  # the same rows, users per day included (not summed over days)
    assert query(target, bought) == purchases


@pytest.mark.parametrize("flaw", ["other_row", "sampled"])
def test_a_multi_day_response_that_is_not_the_sum_of_its_days_is_fetched_again_by_day(
    target: Target, emulator: DataApiEmulator, flaw: str
) -> None:
    getattr(emulator.faults, flaw)(times=1, property_id=DEMO)  # the first response for the demo property
    report = run(target, emulator, today="2026-08-10", backfill_slice_days=5)  # 08-01..05 and 08-06..10
    demo = [r for r in emulator.report_requests() if r["property_id"] == DEMO and report_of(r["body"]) == "traffic"]
    spans = [(r["body"]["dateRanges"][0]["startDate"], r["body"]["dateRanges"][0]["endDate"]) for r in demo]
    first_five = [(f"2026-08-0{d}", f"2026-08-0{d}") for d in range(1, 6)]
    assert spans[:2] == [("2026-08-01", "2026-08-05"), ("2026-08-06", "2026-08-10")]
    assert spans[2:7] == first_five  # the flawed range again, one day per request
    assert traffic_by_day(target, DEMO) == served_days(emulator, DEMO, "2026-08-01", "2026-08-10")
    assert query(target, "select count(*) from raw_ga4.report_metadata where fallback like '%one day per request'") == [
        (1,)
    ]
    assert query(target, "select count(*) from information_schema.tables where table_name = 'other_rows'") == [(0,)]
    assert not [w for w in load_warnings(report) if "sampled" in w or "(other)" in w]  # what loaded is neither
