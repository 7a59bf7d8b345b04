"""The google_ads source with the real ``google-ads`` client against the gRPC emulator, into a real DuckDB.

Recorded response shapes (facts copied from public references, named where they come from):
- GoogleAdsFailure for a quota error carries ``details.quota_error_details.retry_delay`` and the status
  RESOURCE_EXHAUSTED; the message reads "Too many requests. Retry in N seconds." (Google Ads API docs,
  "Quotas and rate limits" / ``QuotaErrorDetails`` in google/ads/googleads/v26/errors/types/errors.py).
- USER_PERMISSION_DENIED's message names the login-customer-id header (Google Ads API docs, "API call structure",
  #cid; the same text appears in google-ads-python's examples' error output and Airbyte source-google-ads issues).
- Search Stream answers up to 10,000 rows per message (google-ads-python examples/reporting/*_stream*).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import dlt
import duckdb
import pytest

from sources.clock import Clock
from sources.google_ads import google_ads
from sources.google_ads.api import AuthStop, RetryBudgetExhausted
from sources.google_ads.emulator import (
    AdGroupDay,
    AdGroupNode,
    AdNode,
    AdsData,
    CampaignNode,
    Customer,
    Fault,
    GoogleAdsEmulator,
)

MCC, SHOP, SHOP2, CLOSED = "1111111111", "2222222222", "3333333333", "4444444444"
TODAY = date(2026, 9, 30)


def _data() -> AdsData:
    d = AdsData()
    d.customers[MCC] = Customer(MCC, "MCC", "EUR", "Europe/Berlin", manager=True)
    d.customers[SHOP] = Customer(SHOP, "Shop EU", "EUR", "Europe/Berlin")
    d.customers[SHOP2] = Customer(SHOP2, "Shop US", "USD", "America/New_York")
    d.customers[CLOSED] = Customer(CLOSED, "Closed", "EUR", "Europe/Berlin", status="CANCELED")
    d.links[MCC] = [SHOP, SHOP2, CLOSED]
    for cust, camp in ((SHOP, "100"), (SHOP2, "300")):
        d.campaigns.append(CampaignNode(cust, camp, f"Search {camp}", "ENABLED", "SEARCH", date(2026, 8, 1), None,
                                        15_000_000))  # fmt: skip
        d.campaigns.append(CampaignNode(cust, camp + "9", "Old", "REMOVED", "SEARCH", date(2026, 1, 1),
                                        date(2026, 2, 1), 1_000_000))  # fmt: skip
        for g in ("1", "2"):
            d.ad_groups.append(AdGroupNode(cust, camp, camp + g, f"Group {g}", "ENABLED"))
            d.ads.append(AdNode(cust, camp, camp + g, camp + g + "1", "RSA 1", "ENABLED"))
            d.ads.append(AdNode(cust, camp, camp + g, camp + g + "2", "RSA 2", "REMOVED"))
        for n in range(60):
            day = TODAY - timedelta(days=n)
            d.days[(cust, day)] = [
                AdGroupDay(camp, camp + "1", 1_230_000 + n, 100, 5, 1.5, 30.25, 2.0),
                AdGroupDay(camp, camp + "2", 770_001, 50, 2, 0.0, 0.0, 0.5),
            ]
    return d


def _run(tmp_path, emu: GoogleAdsEmulator, name: str = "gads", **kwargs):
    pipeline = dlt.pipeline(name, destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
                            dataset_name="raw_google_ads", pipelines_dir=str(tmp_path / "p"))  # fmt: skip
    args = emu.source_kwargs(login_customer_id=MCC, today=TODAY.isoformat(), clock=kwargs.pop("clock", _NoSleep()))
    args.update(kwargs)
    source = google_ads(**args)
    from sources.google_ads.tables import TABLES

    for name_, resource in source.resources.items():
        resource.apply_hints(**TABLES[name_].hints())
    pipeline.run(source)
    return pipeline


class _NoSleep(Clock):
    def __init__(self) -> None:
        self.slept: list[float] = []
        super().__init__(sleep=self.slept.append)


def _sql(tmp_path, sql: str):
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_manager_clients_entities_and_daily_metrics(tmp_path):
    with GoogleAdsEmulator(_data()) as emu:
        _run(tmp_path, emu)
        listed = [r for r in emu.requests if r["resource"] == "customer_client"]
        assert listed and all(r["login_customer_id"] == MCC for r in emu.requests)
    # the cancelled account is not listed (enabled, non-manager clients only)
    assert _sql(tmp_path, "select customer_id, currency_code, time_zone from raw_google_ads.customers order by 1") == [
        (SHOP, "EUR", "Europe/Berlin"), (SHOP2, "USD", "America/New_York")]  # fmt: skip
    # every status, names included
    assert _sql(tmp_path, "select count(*), count(distinct status) from raw_google_ads.campaigns") == [(4, 2)]
    assert _sql(tmp_path, "select count(*) from raw_google_ads.ads where status = 'REMOVED'") == [(4,)]
    # lookback 30 days up to today; cost from micros, exact
    rows = _sql(tmp_path, "select min(date), max(date), count(*) from raw_google_ads.ad_group_stats_daily")
    assert rows == [(TODAY - timedelta(days=29), TODAY, 2 * 2 * 30)]
    cost = _sql(tmp_path, f"select cost, cost_micros, currency_code from raw_google_ads.ad_group_stats_daily "
                f"where ad_group_id = '1001' and date = '{TODAY}'")  # fmt: skip
    assert cost == [(Decimal("1.230000000"), 1_230_000, "EUR")]
    camp = _sql(tmp_path, f"select sum(cost) from raw_google_ads.campaign_stats_daily where customer_id = '{SHOP}'")
    grp = _sql(tmp_path, f"select sum(cost) from raw_google_ads.ad_group_stats_daily where customer_id = '{SHOP}'")
    assert camp == grp


def test_rerun_refetches_lookback_and_restated_conversions_replace_days(tmp_path):
    data = _data()
    with GoogleAdsEmulator(data) as emu:
        pipeline = _run(tmp_path, emu)
        before = _sql(tmp_path, "select count(*), sum(conversions) from raw_google_ads.ad_group_stats_daily")
        data.restate(SHOP, TODAY - timedelta(days=3), 2.0)
        data.days[(SHOP, TODAY - timedelta(days=2))].pop()  # a row vanished upstream
        _run(tmp_path, emu)
        windows = [r["query"] for r in emu.requests if r["resource"] == "ad_group" and "segments.date" in r["query"]]
    after = _sql(tmp_path, "select count(*), sum(conversions) from raw_google_ads.ad_group_stats_daily")
    assert after[0][0] == before[0][0] - 1  # merge on account-day: the vanished row is gone, nothing duplicated
    assert after[0][1] == before[0][1] + 1.5
    assert f"'{(TODAY - timedelta(days=29)).isoformat()}' AND '{TODAY.isoformat()}'" in windows[-1]
    state = pipeline.state["sources"]["google_ads"]["resources"]["ad_group_stats_daily"]["customers"]
    assert state[SHOP]["last_date"] == TODAY.isoformat() and set(state) == {SHOP, SHOP2}


def test_quota_error_waits_the_announced_retry_delay(tmp_path):
    clock = _NoSleep()
    with GoogleAdsEmulator(_data()) as emu:
        emu.faults.append(Fault("quota", customer_id=SHOP, resource="campaign", retry_delay_s=17.5, times=2))
        _run(tmp_path, emu, clock=clock)
    assert clock.slept == [17.5, 17.5]
    assert _sql(tmp_path, f"select count(*) from raw_google_ads.campaigns where customer_id = '{SHOP}'") == [(2,)]


def test_transient_error_mid_stream_is_retried_without_duplicates(tmp_path):
    clock = _NoSleep()
    with GoogleAdsEmulator(_data()) as emu:
        for status in ("UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED"):
            emu.faults.append(Fault("transient", customer_id=SHOP, resource="ad_group", status=status, after_rows=7))
        _run(tmp_path, emu, clock=clock)
    assert len(clock.slept) == 3
    rows = _sql(tmp_path, "select count(*), count(distinct (customer_id, ad_group_id, date)) "
                "from raw_google_ads.ad_group_stats_daily")  # fmt: skip
    assert rows[0][0] == rows[0][1] == 120


def test_retry_budget_stops_the_run(tmp_path):
    with GoogleAdsEmulator(_data()) as emu:
        emu.faults.append(Fault("quota", customer_id=SHOP, retry_delay_s=60, times=99))
        with pytest.raises(Exception) as info:
            _run(tmp_path, emu, retry_budget_s=100)
    assert isinstance(_cause(info.value, RetryBudgetExhausted), RetryBudgetExhausted)
    assert "retry budget of 100 s used up" in str(info.value)


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        (lambda emu: {"login_customer_id": None, "customer_ids": [SHOP]}, "login_customer_id"),
        (lambda emu: {"developer_token": "wrong"}, "DEVELOPER_TOKEN_INVALID"),
        (lambda emu: {"refresh_token": "1//revoked"}, "refresh token"),
        (
            lambda emu: (
                emu.faults.append(
                    Fault(
                        "error",
                        customer_id=SHOP2,
                        status="PERMISSION_DENIED",
                        error=("authorization_error", "DEVELOPER_TOKEN_NOT_APPROVED"),
                        message="The developer token is only approved for use with test accounts.",
                    )
                )
                or {}
            ),
            "Basic access",
        ),  # fmt: skip
    ],
)
def test_auth_errors_stop_with_one_message_naming_customer_and_fix(tmp_path, setup, needle):
    with GoogleAdsEmulator(_data()) as emu, pytest.raises(Exception) as info:
        _run(tmp_path, emu, **setup(emu))
    stop = _cause(info.value, AuthStop)
    assert isinstance(stop, AuthStop), info.value
    assert needle in str(stop) and "customer " in str(stop)


def test_cancelled_account_is_reported_as_partial_failure(tmp_path):
    with GoogleAdsEmulator(_data()) as emu:
        _run(tmp_path, emu, customer_ids=[SHOP, CLOSED])
    rows = _sql(tmp_path, "select customer_id, error_code, message from raw_google_ads.partial_failures")
    assert [(r[0], r[1]) for r in rows] == [(CLOSED, "authorization_error.CUSTOMER_NOT_ENABLED")]
    assert "not yet enabled or has been deactivated" in rows[0][2]
    assert _sql(tmp_path, "select distinct customer_id from raw_google_ads.ad_group_stats_daily") == [(SHOP,)]


def _cause(exc: BaseException, kind: type) -> BaseException | None:
    seen = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
