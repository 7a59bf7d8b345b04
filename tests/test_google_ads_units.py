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
