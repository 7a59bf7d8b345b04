"""Units of the Meta source that need no server: usage headers, pauses, fetch windows, action unnesting."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, date, datetime
from decimal import Context, Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sources.clock import Clock
from sources.meta_ads import _exact, _shape, fetch_window, history_floor, meta_ads
from sources.meta_ads.errors import RetryBudgetExhausted
from sources.meta_ads.insights import InsightsSettings, day_slices
from sources.meta_ads.retry import RetryBudget, rate_limit_wait
from sources.meta_ads.usage import UsageGovernor, parse_usage

REPO = Path(__file__).resolve().parent.parent


class FakeClock(Clock):
    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []
        super().__init__(now=lambda: self.t, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def _headers(buc_pct: float = 10, regain_min: int = 0, throttle: float = 5) -> dict[str, str]:
    return {
        "x-business-use-case-usage": json.dumps(
            {
                "123": [
                    {
                        "type": "ads_insights",
                        "call_count": buc_pct,
                        "total_cputime": 1,
                        "total_time": 2,
                        "estimated_time_to_regain_access": regain_min,
                    }
                ]
            }  # fmt: skip
        ),
        "x-ad-account-usage": json.dumps({"acc_id_util_pct": 3, "reset_time_duration": 0}),
        "x-app-usage": json.dumps({"call_count": 4, "total_time": 1, "total_cputime": 1}),
        "X-FB-Ads-Insights-Throttle": json.dumps({"app_id_util_pct": throttle, "acc_id_util_pct": throttle}),
    }


def test_parse_usage_takes_the_highest_utilisation() -> None:
    usage = parse_usage(_headers(buc_pct=72, regain_min=3, throttle=40))
    assert usage.max_pct == 72 and usage.regain_s == 180 and usage.insights_pct == 40
    assert "ads_insights" in usage.source
    assert parse_usage({}).max_pct == 0


def test_governor_pauses_before_the_limit_for_the_announced_time() -> None:
    clock = FakeClock()
    governor = UsageGovernor(clock=clock, min_pause_s=60)
    governor.observe(_headers(buc_pct=50))
    governor.before_call()
    assert clock.slept == []
    governor.observe(_headers(buc_pct=96, regain_min=5))
    governor.before_call()
    assert clock.slept == [300.0]
    assert governor.pauses[0].seconds == 300 and "96%" in governor.pauses[0].reason
    governor.before_call()  # the pause is over
    assert clock.slept == [300.0]


def test_governor_holds_new_jobs_while_insights_throttle_is_high() -> None:
    clock = FakeClock()
    governor = UsageGovernor(clock=clock, job_wait_s=30)
    governor.observe(_headers(throttle=93))
    governor.before_job()
    assert clock.slept == [30] and "insights throttle" in governor.pauses[-1].reason


def test_fetch_window_refetches_the_attribution_window() -> None:
    today = date(2026, 11, 25)
    assert fetch_window(None, today, 28, 90) == (date(2026, 8, 28), today)
    assert fetch_window("2026-11-24", today, 28, 90) == (date(2026, 10, 28), today)
    # never earlier than the 37-month history limit
    since, _ = fetch_window("2020-01-01", today, 28, 90)
    assert since == history_floor(today) and since > date(2023, 10, 1)


def test_day_slices_cover_the_range_once() -> None:
    slices = list(day_slices(date(2026, 8, 1), date(2026, 8, 10), 3))
    assert slices[0] == (date(2026, 8, 1), date(2026, 8, 3)) and slices[-1] == (date(2026, 8, 10), date(2026, 8, 10))
    assert sum((b - a).days + 1 for a, b in slices) == 10


def test_actions_unnest_one_row_per_kind_type_and_window() -> None:
    raw = {
        "account_id": "1", "ad_id": "9", "date_start": "2026-08-01", "spend": "3.10",
        "actions": [{"action_type": "purchase", "value": "3", "1d_click": "2", "7d_click": "3"}],
        "action_values": [{"action_type": "purchase", "value": "90.5", "7d_click": "90.5"}],
    }  # fmt: skip
    settings = InsightsSettings(windows=("1d_click", "7d_click"))
    rows, actions, _ = _shape([raw], settings, datetime.now(UTC))
    assert rows[0]["object_id"] == "9" and rows[0]["level"] == "ad"
    got = {(a["action_kind"], a["attribution_window"]): a["value"] for a in actions.to_pylist()}
    assert got == {
        ("actions", "1d_click"): Decimal("2"),
        ("actions", "7d_click"): Decimal("3"),
        ("actions", "default"): Decimal("3"),
        ("action_values", "7d_click"): Decimal("90.5"),
        ("action_values", "default"): Decimal("90.5"),
    }
    assert str(actions.schema.field("date_start").type) == "date32[day]"


def test_first_run_can_start_at_a_fixed_date() -> None:
    assert fetch_window(None, date(2026, 11, 26), 28, 90, "2026-08-01") == (date(2026, 8, 1), date(2026, 11, 26))


def test_rate_limit_waits_start_at_a_minute_grow_and_are_capped() -> None:
    for hits, low in ((1, 60), (2, 120), (3, 240), (4, 480), (5, 600), (9, 600)):
        waits = [rate_limit_wait(hits) for _ in range(50)]
        assert all(low <= w <= low * 1.25 for w in waits) and len(set(waits)) > 1  # jitter
    assert rate_limit_wait(1, announced_s=300) == 300  # an announced regain time wins when longer


def test_retry_budget_refuses_a_wait_that_does_not_fit() -> None:
    clock = FakeClock()
    budget = RetryBudget(100, clock)
    budget.wait(60, "account act_1", "error 2 'Service temporarily unavailable'")
    with pytest.raises(RetryBudgetExhausted) as err:
        budget.wait(60, "account act_1", "error 17/2446079 '(#17) User request limit reached'")
    assert clock.slept == [60]  # no pointless sleeping once it cannot fit
    message = str(err.value)
    assert "act_1" in message and "(#17) User request limit reached" in message and "retry_budget_s" in message
    with pytest.raises(RetryBudgetExhausted):  # every later wait too
        budget.wait(1, "account act_2", "error 2")


def test_a_bad_retry_budget_is_one_clear_message() -> None:
    with pytest.raises(Exception, match=r"sources\.meta_ads\.retry_budget_s=-5 is not allowed: use a positive number"):
        meta_ads(access_token="t", account_ids=["1"], graph_url="http://127.0.0.1:9", retry_budget_s=-5)


def test_the_retry_budget_fits_the_airflow_dag_timeout() -> None:
    config = tomllib.loads((REPO / ".dlt" / "config.toml").read_text())
    budget_s = config["sources"]["meta_ads"]["retry_budget_s"]
    airflow = config["mdw"]["airflow"]
    attempts = airflow["retries"] + 1
    worst_s = attempts * (budget_s + 60 * airflow["expected_minutes"]["ingest_meta_ads"])
    delays = [
        min(airflow["retry_delay_minutes"] * 2**i, airflow["max_retry_delay_minutes"]) for i in range(attempts - 1)
    ]
    worst_s += 60 * sum(delays)  # Airflow's exponential task retry delays
    assert worst_s < 60 * airflow["dagrun_timeout_minutes"]


def test_action_values_keep_what_the_api_sends() -> None:
    values = [{"action_type": "purchase", "value": "63.416842", "7d_click": "0.1234567891234"}]
    raw = {"account_id": "1", "ad_id": "9", "date_start": "2026-08-01", "action_values": values}
    rows, actions, rejected = _shape([raw], InsightsSettings(windows=("1d_click", "7d_click")), datetime.now(UTC))
    got = {a["attribution_window"]: a["value"] for a in actions.to_pylist()}
    assert got == {"default": Decimal("63.416842"), "7d_click": Decimal("0.123456789")}  # rounded at the 9th
    assert str(actions.schema.field("value").type) == "decimal128(38, 9)"
    assert len(rows) == 1 and rejected == []


@pytest.mark.parametrize("bad", ["not a number", "1,5", "", None, "1e40", "NaN"])
def test_an_action_value_that_is_no_number_quarantines_its_insight_row(bad: str | None) -> None:
    """Never a NULL in its place: the insight row and its actions go to quarantine with the reason; the other
    rows of the page load."""
    good = {"account_id": "1", "ad_id": "8", "date_start": "2026-08-01",
            "actions": [{"action_type": "purchase", "value": "2", "1d_click": "1"}]}  # fmt: skip
    raw = {"account_id": "1", "ad_id": "9", "date_start": "2026-08-01",
           "action_values": [{"action_type": "purchase", "value": "63.4", "1d_click": bad}]}  # fmt: skip
    rows, actions, rejected = _shape([good, raw], InsightsSettings(windows=("1d_click",)), datetime.now(UTC))
    assert [r["ad_id"] for r in rows] == ["8"]
    assert {a["ad_id"] for a in actions.to_pylist()} == {"8"} and actions.num_rows == 2
    assert actions.column("value").null_count == 0
    (quarantined,) = rejected
    assert quarantined["table_name"] == "insights" and "object_id=9" in quarantined["row_key"]
    assert f"action_values purchase (1d_click): {bad!r} is not a number" in quarantined["reason"]
    assert json.loads(quarantined["raw_text"])["action_values"][0]["1d_click"] == bad


_TEXTS = st.one_of(
    st.integers(0, 12)
    .flatmap(lambda places: st.decimals(min_value=-(10**28), max_value=10**28, allow_nan=False, places=places))
    .map(str),
    st.text(alphabet="0123456789.,-+eE nNaI", max_size=12),
    st.none(),
)


@given(st.lists(_TEXTS, max_size=30))
@example(["10000000000000000000", "n/a"])  # 29 digits once quantized: past decimal's default precision of 28
def test_exact_action_values_are_the_sent_numbers_or_named_misfits(texts: list[str | None]) -> None:
    """Every value is either the sent number (rounded half-even at the 9th decimal) or a misfit by position:
    none is NULL without being named, none is changed otherwise."""
    values, misfits = _exact(pa.chunked_array([pa.array(texts, pa.string())]))
    for i, (text, value) in enumerate(zip(texts, values.to_pylist(), strict=True)):
        if i in misfits:
            assert value is None
            continue
        assert value is not None and text is not None
        assert value == Decimal(text.strip()).quantize(Decimal("1e-9"), context=Context(prec=38))
