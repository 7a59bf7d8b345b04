"""Property tests of the google_ads parsers: micros -> account currency, the run's date window, GAQL text, the
emulator's GAQL reader on what the connector sends."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from sources.google_ads.emulator.query import parse
from sources.google_ads.emulator.server import _FIELDS
from sources.google_ads.gaql import between, digits, fetch_window, from_micros, query
from sources.google_ads.settings import AD_GROUP_STATS_FIELDS, CAMPAIGN_FIELDS, CUSTOMER_CLIENT_FIELDS

days = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


@given(st.integers(min_value=0, max_value=10**15))
def test_micros_convert_exactly(micros):
    amount = from_micros(micros)
    assert amount * 1_000_000 == micros  # exact: no float rounding
    assert amount == Decimal(micros).scaleb(-6)
    assert amount.as_tuple().exponent >= -9  # fits decimal(38, 9)


def test_micros_examples():
    # cost_micros 1230000 is 1.23 in the account currency (Google Ads API docs, "Money" / cost_micros)
    assert from_micros(1_230_000) == Decimal("1.23")
    assert from_micros(None) is None


@given(days, st.integers(min_value=1, max_value=120), st.one_of(st.none(), days), st.one_of(st.none(), days))
def test_window_always_covers_the_lookback_up_to_today(today, lookback, last, start):
    since, until = fetch_window(last.isoformat() if last else None, today, lookback,
                                start.isoformat() if start else None)  # fmt: skip
    assert until == today
    assert since <= today - timedelta(days=lookback - 1)  # the last lookback days are always re-fetched
    if last and last <= today:
        assert since <= last - timedelta(days=lookback - 1)  # days since the last fetched day are never skipped
    if start and not last:
        assert since <= start or since == today - timedelta(days=lookback - 1)


@given(days, st.integers(min_value=0, max_value=400))
def test_gaql_date_window_round_trips_through_the_emulator_reader(since, length):
    until = since + timedelta(days=length)
    text = query(AD_GROUP_STATS_FIELDS, "ad_group", between(since, until))
    parsed = parse(text, _FIELDS)
    (cond,) = parsed.conditions
    assert (cond.field, cond.op, cond.values) == ("segments.date", "BETWEEN", (since.isoformat(), until.isoformat()))
    assert parsed.fields == tuple(f for _, f in AD_GROUP_STATS_FIELDS)


def test_connector_queries_parse():
    for fields, resource, where in (
        (CAMPAIGN_FIELDS, "campaign", ""),
        (CUSTOMER_CLIENT_FIELDS, "customer_client", "customer_client.manager = FALSE AND customer_client.level <= 3"),
    ):  # fmt: skip
        parsed = parse(query(fields, resource, where), _FIELDS)
        assert parsed.resource == resource


@given(st.from_regex(r"[0-9]{3}-?[0-9]{3}-?[0-9]{4}", fullmatch=True))
def test_customer_ids_lose_their_dashes(text):
    assert digits(text) == text.replace("-", "") and len(digits(text)) == 10


# Rows as the API's REST transport serialises them (camelCase, int64 as strings, enums as names), in the shapes
# Airbyte's source-google-ads records for its mock server (airbyte-integrations/connectors/source-google-ads/
# unit_tests/mock_server/test_incremental_streams.py: ad_group rows with segments.date and metrics.costMicros) and
# the Google Ads API reference for GoogleAdsRow. Parsed into the client library's own GoogleAdsRow message, they
# must read the way the connector reads the gRPC rows of the emulator.
RECORDED_AD_GROUP_ROW = {
    "campaign": {"id": "700001", "resourceName": "customers/1234567890/campaigns/700001"},
    "adGroup": {
        "id": "400001",
        "name": "Test Ad Group",
        "status": "ENABLED",
        "campaign": "customers/1234567890/campaigns/700001",
    },
    "segments": {"date": "2024-01-01"},
    "metrics": {"costMicros": "1000000", "impressions": "1200", "clicks": "37", "conversions": 2.5,
                "conversionsValue": 119.9, "allConversions": 3.0},
}  # fmt: skip
RECORDED_CAMPAIGN_ROW = {
    "campaign": {"id": "700001", "name": "Search | Brand", "status": "PAUSED", "advertisingChannelType": "SEARCH",
                 "startDateTime": "2024-01-01 00:00:00", "endDateTime": "2037-12-30 23:59:59"},
    "campaignBudget": {"amountMicros": "50000000"},
}  # fmt: skip


def _google_ads_row(recorded: dict) -> object:
    import json

    from google.ads.googleads.v26.services.types.google_ads_service import GoogleAdsRow

    # the connector reads plain protobuf messages (the client's use_proto_plus = False)
    return GoogleAdsRow.pb(GoogleAdsRow.from_json(json.dumps(recorded)))


def test_recorded_rest_rows_read_like_the_grpc_rows():
    from sources.google_ads.gaql import to_row

    stats = to_row(_google_ads_row(RECORDED_AD_GROUP_ROW), AD_GROUP_STATS_FIELDS)
    assert stats == {
        "ad_group_id": "400001",
        "campaign_id": "700001",
        "date": "2024-01-01",
        "cost_micros": 1_000_000,
        "impressions": 1200,
        "clicks": 37,
        "conversions": 2.5,
        "conversions_value": 119.9,
        "all_conversions": 3.0,
    }
    assert from_micros(stats["cost_micros"]) == Decimal("1")
    campaign = to_row(_google_ads_row(RECORDED_CAMPAIGN_ROW), CAMPAIGN_FIELDS)
    assert campaign["status"] == "PAUSED" and campaign["advertising_channel_type"] == "SEARCH"  # enums by name
    assert campaign["start_date_time"] == "2024-01-01 00:00:00" and campaign["budget_amount_micros"] == 50_000_000
