"""The Graph API emulator, exercised through the real facebook-business SDK (and raw HTTP where the wire matters)."""

from __future__ import annotations

import json
import threading
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from facebook_business.adobjects.ad import Ad
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adreportrun import AdReportRun
from facebook_business.adobjects.campaign import Campaign
from facebook_business.adobjects.user import User
from facebook_business.api import Cursor, FacebookAdsApi, FacebookResponse
from facebook_business.exceptions import FacebookRequestError

from marketing_dwh.demo_world import DemoWorld
from sources.meta_ads.demo import meta_demo
from sources.meta_ads.emulator import GraphEmulator, StaticData, demo_data, synthetic_data
from sources.meta_ads.emulator.recorded import FIXTURES
from sources.meta_ads.emulator.recorded import names as recorded_names

WORLD = DemoWorld()
EU = WORLD.accounts("meta")[0].account_id
US = WORLD.accounts("meta")[1].account_id
WINDOWS = ["1d_click", "7d_click", "28d_click", "1d_view"]
USAGE_HEADERS = ("x-business-use-case-usage", "x-ad-account-usage", "x-app-usage", "x-fb-ads-insights-throttle")
METRICS = [
    "account_id",
    "campaign_id",
    "adset_id",
    "ad_id",
    "impressions",
    "clicks",
    "reach",
    "spend",
    "ctr",
    "cpc",
    "frequency",
    "actions",
    "action_values",
    "cost_per_action_type",
    "attribution_setting",
]


@pytest.fixture(scope="module")
def data() -> StaticData:
    return demo_data(WORLD)


@pytest.fixture
def emu(data: StaticData) -> Iterator[GraphEmulator]:
    with GraphEmulator(data) as emulator:
        yield emulator
    assert not emulator.errors, emulator.errors[0]


@pytest.fixture
def api(emu: GraphEmulator) -> Iterator[FacebookAdsApi]:
    """The SDK pointed at the emulator exactly as documented in the package docstring."""
    api = emu.sdk_api()
    yield api
    FacebookAdsApi.set_default_api(None)


def account(account_id: str = EU) -> AdAccount:
    return AdAccount(f"act_{account_id}")


def raw_get(emu: GraphEmulator, path: str, **params: Any) -> tuple[int, dict[str, str], Any]:
    """One HTTP GET without the SDK: status, headers, decoded body."""
    query = urllib.parse.urlencode({"access_token": emu.access_token, **params})
    try:
        with urllib.request.urlopen(f"{emu.url}/v26.0/{path}?{query}") as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, json.loads(err.read())


def world_rows(since: str, until: str, account_id: str | None = None) -> list[dict[str, Any]]:
    return [
        r
        for r in meta_demo(WORLD).insights
        if since <= r["date_start"] <= until and (account_id is None or r["account_id"] == account_id)
    ]


def all_strings(value: Any) -> bool:
    if isinstance(value, dict):
        return all(all_strings(v) for v in value.values())
    if isinstance(value, list):
        return all(all_strings(v) for v in value)
    return isinstance(value, str)


def run_job(act: AdAccount, params: dict[str, Any], fields: list[str] = METRICS) -> tuple[AdReportRun, list[str]]:
    run = act.get_insights(fields=fields, params=params, is_async=True)
    statuses = []
    for _ in range(20):
        run = run.api_get()
        statuses.append(run["async_status"])
        if run["async_status"] in ("Job Completed", "Job Failed"):
            break
    return run, statuses


def day_params(since: str, until: str | None = None, **extra: Any) -> dict[str, Any]:
    params = {
        "level": "ad",
        "time_range": {"since": since, "until": until or since},
        "time_increment": 1,
        "action_attribution_windows": WINDOWS,
        "action_breakdowns": [],
    }
    return {**params, **extra}


# --- objects and paging -------------------------------------------------------------------------------


def test_campaigns_are_paged_with_both_cursor_forms(emu: GraphEmulator, api: FacebookAdsApi, data: StaticData) -> None:
    statuses = ["ACTIVE", "PAUSED", "ARCHIVED", "DELETED"]
    campaigns = list(
        account().get_campaigns(fields=["name", "effective_status"], params={"limit": 2, "effective_status": statuses})
    )
    expected = [c["id"] for c in data.campaigns if c["account_id"] == EU]
    assert [c["id"] for c in campaigns] == expected and len(expected) == 5
    pages = [r for r in emu.requests if r["path"].endswith("/campaigns")]
    assert len(pages) == 3  # 2 + 2 + 1
    assert "after" not in pages[0]["params"] and all("after" in p["params"] for p in pages[1:])
    assert all(p["params"]["limit"] == "2" and p["params"]["summary"] == "true" for p in pages)
    # on the wire: both cursors and `next` while more pages exist, no `next` on the last page
    _, _, first = raw_get(emu, f"act_{EU}/campaigns", limit=2, effective_status=json.dumps(statuses))
    assert set(first["paging"]["cursors"]) == {"before", "after"} and "next" in first["paging"]
    with urllib.request.urlopen(first["paging"]["next"]) as resp:  # `next` is a working URL too
        followed = json.loads(resp.read())
    assert [c["id"] for c in followed["data"]] == expected[2:4]
    _, _, last = raw_get(
        emu,
        f"act_{EU}/campaigns",
        limit=2,
        after=followed["paging"]["cursors"]["after"],
        effective_status=json.dumps(statuses),
    )
    assert [c["id"] for c in last["data"]] == expected[4:] and "next" not in last["paging"]


def test_fields_as_json_list_and_object_shapes(emu: GraphEmulator, api: FacebookAdsApi) -> None:
    fields = ["id", "name", "objective", "daily_budget", "start_time", "buying_type", "effective_status"]
    response = api.call("GET", (f"act_{EU}", "campaigns"), params={"fields": fields, "limit": 50})
    assert emu.requests[-1]["params"]["fields"] == fields  # the SDK sent a JSON list
    campaigns = response.json()["data"]
    assert campaigns and all(set(c) == set(fields) for c in campaigns)
    first = campaigns[0]
    assert first["daily_budget"] == "4500" and first["buying_type"] == "AUCTION"
    assert first["start_time"] == "2026-04-03T00:00:00+0200"
    ads = list(account().get_ads(fields=["name", "creative", "adset_id", "campaign_id", "account_id"]))
    assert all(set(a["creative"].export_all_data()) == {"id"} for a in ads)
    adsets = list(account().get_ad_sets(fields=["targeting", "campaign_id"]))
    assert adsets[0]["targeting"]["geo_locations"]["countries"]
    node = account().api_get(fields=["account_id", "name", "currency", "timezone_name", "account_status"])
    assert node["currency"] == "EUR" and node["timezone_name"] == "Europe/Berlin" and node["account_status"] == 1
    me = list(User("me").get_ad_accounts(fields=["account_id", "name"]))
    assert [a["account_id"] for a in me] == [EU, US]


def test_deleted_and_archived_objects_only_when_asked_for(emu: GraphEmulator, api: FacebookAdsApi) -> None:
    def ads(**params: Any) -> list[Ad]:
        return list(account().get_ads(fields=["effective_status", "campaign_id"], params={"limit": 100, **params}))

    default = {a["effective_status"] for a in ads()}
    assert "PAUSED" in default and not default & {"DELETED", "ARCHIVED"}
    everything = ads(effective_status=["ACTIVE", "PAUSED", "ARCHIVED", "DELETED"])
    assert {"DELETED", "ARCHIVED"} <= {a["effective_status"] for a in everything}
    assert len(everything) == len(ads()) + 3  # two archived, one deleted
    deleted = ads(filtering=[{"field": "effective_status", "operator": "IN", "value": ["DELETED"]}])
    assert len(deleted) == 1 and deleted[0]["effective_status"] == "DELETED"
    campaign_id = everything[0]["campaign_id"]
    scoped = ads(filtering=[{"field": "campaign.id", "operator": "IN", "value": [campaign_id]}])
    assert scoped and {a["campaign_id"] for a in scoped} == {campaign_id}
    later = ads(filtering=[{"field": "updated_time", "operator": "GREATER_THAN", "value": 1_785_000_000}])
    assert 0 < len(later) < len(ads())  # only the ads edited after 2026-07-25
    # edges of campaigns work too (the connector splits failed jobs by ad set)
    adsets = list(Campaign(campaign_id).get_ad_sets(fields=["campaign_id"]))
    assert adsets and {s["campaign_id"] for s in adsets} == {campaign_id}


# --- insights -----------------------------------------------------------------------------------------


def test_async_job_from_submit_to_paged_results(emu: GraphEmulator, api: FacebookAdsApi) -> None:
    emu.polls_to_complete = 4
    run, statuses = run_job(account(), day_params("2026-08-03", "2026-08-04"))
    assert statuses == ["Job Not Started", "Job Started", "Job Running", "Job Completed"]
    assert run["async_percent_completion"] == 100 and run["date_start"] == "2026-08-03"
    rows = [r.export_all_data() for r in run.get_result(params={"limit": 7})]
    expected = world_rows("2026-08-03", "2026-08-04", EU)
    assert len(rows) == len(expected) > 7
    pages = [r for r in emu.requests if r["path"] == f"/v26.0/{run['id']}/insights"]
    assert len(pages) == -(-len(expected) // 7)
    assert all(all_strings(r) for r in rows)
    with_actions = [r for r in rows if "actions" in r]
    assert with_actions and all(set(WINDOWS) | {"action_type", "value"} == set(e) for e in with_actions[0]["actions"])
    assert all(r["attribution_setting"] == "7d_click_1d_view" for r in rows)
    by_key = {(r["ad_id"], r["date_start"]): r for r in rows}
    for world in expected:
        row = by_key[(world["ad_id"], world["date_start"])]
        assert float(row["spend"]) == pytest.approx(world["spend"]) and row["impressions"] == str(world["impressions"])
        assert float(row["ctr"]) == pytest.approx(world["ctr"], abs=1e-6)


def test_campaign_level_is_the_sum_of_ad_rows(emu: GraphEmulator, api: FacebookAdsApi) -> None:
    params = day_params("2026-08-05", "2026-08-07")
    ads = [r.export_all_data() for r in account().get_insights(fields=METRICS, params={**params, "limit": 500})]
    fields = ["campaign_id", "spend", "impressions", "clicks", "ctr", "actions", "ad_id"]
    campaigns = [
        r.export_all_data()
        for r in account().get_insights(fields=fields, params={**params, "level": "campaign", "limit": 500})
    ]
    spend, clicks, impressions, purchases = (defaultdict(float), defaultdict(int), defaultdict(int), defaultdict(int))
    for r in ads:
        key = (r["campaign_id"], r["date_start"])
        spend[key] += float(r["spend"])
        clicks[key] += int(r["clicks"])
        impressions[key] += int(r["impressions"])
        purchases[key] += sum(int(a["7d_click"]) for a in r.get("actions", []) if a["action_type"] == "purchase")
    assert len(campaigns) == len(spend)
    for c in campaigns:
        key = (c["campaign_id"], c["date_start"])
        assert "ad_id" not in c  # fields below the level are not returned
        assert float(c["spend"]) == pytest.approx(spend[key], abs=0.001)
        assert int(c["clicks"]) == clicks[key] and int(c["impressions"]) == impressions[key]
        assert float(c["ctr"]) == pytest.approx(clicks[key] / impressions[key] * 100, abs=1e-6)  # recomputed
        got = sum(int(a["7d_click"]) for a in c.get("actions", []) if a["action_type"] == "purchase")
        assert got == purchases[key]
    whole = list(
        account().get_insights(fields=["spend"], params={**params, "level": "account", "time_increment": "all_days"})
    )
    assert len(whole) == 1 and float(whole[0]["spend"]) == pytest.approx(sum(spend.values()), abs=0.001)
    assert (whole[0]["date_start"], whole[0]["date_stop"]) == ("2026-08-05", "2026-08-07")


def test_breakdown_rows_split_the_totals_exactly(emu: GraphEmulator, api: FacebookAdsApi) -> None:
    params = day_params("2026-08-10", limit=1000)
    totals = {r["ad_id"]: r.export_all_data() for r in account().get_insights(fields=METRICS, params=params)}
    for breakdowns in (["age", "gender"], ["country"], ["publisher_platform", "device_platform"]):
        report = account().get_insights(fields=METRICS, params={**params, "breakdowns": breakdowns})
        rows = [r.export_all_data() for r in report]
        assert all(all(b in r for b in breakdowns) for r in rows)
        keys = [(r["ad_id"], *(r[b] for b in breakdowns)) for r in rows]
        assert len(keys) == len(set(keys)) > len(totals)
        sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for r in rows:
            for metric in ("impressions", "clicks", "reach", "spend"):
                sums[r["ad_id"]][metric] += float(r[metric])
            for a in r.get("actions", []):
                sums[r["ad_id"]][a["action_type"] + "/28d_click"] += int(a["28d_click"])
        for ad_id, total in totals.items():
            for metric in ("impressions", "clicks", "reach"):
                assert sums[ad_id][metric] == int(total[metric]), (breakdowns, metric)
            assert sums[ad_id]["spend"] == pytest.approx(float(total["spend"]), abs=0.001)
            for a in total.get("actions", []):
                assert sums[ad_id][a["action_type"] + "/28d_click"] == int(a["28d_click"])
    ages = {r["age"] for r in account().get_insights(fields=["impressions"], params={**params, "breakdowns": ["age"]})}
    assert "18-24" in ages  # the retargeting ad sets target 18-65; prospecting starts at 25


def test_filtering_and_sync_node_insights(emu: GraphEmulator, api: FacebookAdsApi, data: StaticData) -> None:
    campaign_id = data.campaigns[0]["id"]
    params = day_params("2026-08-01", "2026-08-02", limit=500)
    filtered = list(
        account().get_insights(
            fields=["campaign_id", "spend"],
            params={**params, "filtering": [{"field": "campaign.id", "operator": "IN", "value": [campaign_id]}]},
        )
    )
    via_node = list(Campaign(campaign_id).get_insights(fields=["campaign_id", "spend"], params=params))
    expected = [r for r in world_rows("2026-08-01", "2026-08-02") if r["campaign_id"] == campaign_id]
    assert len(filtered) == len(via_node) == len(expected)
    assert {r["campaign_id"] for r in filtered} == {campaign_id}


def test_batch_request(emu: GraphEmulator, api: FacebookAdsApi, data: StaticData) -> None:
    ok: list[FacebookResponse] = []
    failed: list[FacebookResponse] = []
    batch = api.new_batch()
    account().api_get(fields=["name", "currency"], batch=batch, success=ok.append, failure=failed.append)
    account(US).get_campaigns(fields=["name"], batch=batch, success=ok.append, failure=failed.append)
    Campaign("999").api_get(fields=["name"], batch=batch, success=ok.append, failure=failed.append)
    assert batch.execute() is None
    assert [r.json().get("name") for r in ok[:1]] == ["Nordlicht Home EU"]
    assert len(ok[1].json()["data"]) == sum(1 for c in data.campaigns if c["account_id"] == US)
    assert len(failed) == 1 and failed[0].error().api_error_code() == 100
    assert failed[0].error().api_error_subcode() == 33
    headers = {h["name"] for h in ok[0].headers()}
    assert set(USAGE_HEADERS) <= headers
    assert [r["batch"] for r in emu.requests] == [True, True, True, False]  # sub-calls logged, then the batch


# --- usage headers, tokens and faults ----------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:insights does not allow field")
def test_usage_headers_on_success_and_error(emu: GraphEmulator, api: FacebookAdsApi) -> None:
    cursor = account().get_campaigns(fields=["name"])
    assert isinstance(cursor, Cursor)
    ok = {k.lower(): v for k, v in cursor.headers().items()}
    with pytest.raises(FacebookRequestError) as err:
        account().get_insights(fields=["no_such_field"])
    failed = {k.lower(): v for k, v in err.value.http_headers().items()}
    for headers in (ok, failed):
        usage = {name: json.loads(headers[name]) for name in USAGE_HEADERS}
        buc = usage["x-business-use-case-usage"][EU][0]
        assert buc["type"] == "ads_insights" and buc["call_count"] < 50
        assert set(buc) >= {"call_count", "total_cputime", "total_time", "estimated_time_to_regain_access"}
        assert usage["x-ad-account-usage"]["acc_id_util_pct"] < 50
        assert set(usage["x-fb-ads-insights-throttle"]) == {"app_id_util_pct", "acc_id_util_pct", "ads_api_access_tier"}
        assert set(usage["x-app-usage"]) == {"call_count", "total_time", "total_cputime"}
    assert err.value.api_error_code() == 100 and "no_such_field" in err.value.api_error_message()


def test_wrong_or_missing_token(emu: GraphEmulator) -> None:
    wrong = FacebookAdsApi.init(access_token="not-the-token", api_version="v26.0", crash_log=False)
    wrong._session.GRAPH = emu.url
    try:
        with pytest.raises(FacebookRequestError) as err:
            account().api_get(fields=["name"])
    finally:
        FacebookAdsApi.set_default_api(None)
    assert err.value.api_error_code() == 190 and err.value.api_error_type() == "OAuthException"
    assert err.value.http_status() == 400 and not err.value.api_transient_error()
    status, headers, body = raw_get(emu, f"act_{EU}", access_token="")
    assert status == 400 and body["error"]["code"] == 104 and "x-app-usage" in headers


@pytest.mark.parametrize(
    ("code", "subcode", "http_status", "transient"),
    [
        (1, None, 500, True),
        (2, None, 400, True),
        (4, None, 400, True),
        (17, 2446079, 400, True),
        (32, None, 400, True),
        (613, 1487742, 400, True),
        (80000, 2446079, 400, True),
        (80014, None, 400, True),
        (2, None, 503, True),
        (190, 463, 400, False),
        (100, None, 400, False),
        (200, None, 400, False),
        (10, None, 400, False),
    ],
)
def test_error_faults_as_the_sdk_sees_them(
    emu: GraphEmulator, api: FacebookAdsApi, code: int, subcode: int | None, http_status: int, transient: bool
) -> None:
    rule = emu.faults.error(code, subcode=subcode, http_status=http_status, path_contains="/campaigns")
    account().api_get(fields=["name"])  # does not match the path
    with pytest.raises(FacebookRequestError) as err:
        list(account().get_campaigns(fields=["name"]))
    e = err.value
    assert (e.api_error_code(), e.api_error_subcode(), e.http_status()) == (code, subcode, http_status)
    assert e.api_transient_error() is transient and e.body()["error"]["fbtrace_id"]
    if (code, subcode) == (190, 463):
        assert e.api_error_message() == "Error validating access token: Session has expired"
    assert rule.hits == 1
    assert len(list(account().get_campaigns(fields=["name"]))) > 0  # times=1: the next call works


def test_fault_matching_by_account_and_method(emu: GraphEmulator, api: FacebookAdsApi) -> None:
    emu.faults.error(200, account_id=US, times=None)
    emu.faults.error(1, method="POST", times=1)
    assert account(EU).api_get(fields=["name"])["name"] == "Nordlicht Home EU"
    for _ in range(2):
        with pytest.raises(FacebookRequestError) as err:
            account(US).api_get(fields=["name"])
        assert err.value.api_error_code() == 200
    with pytest.raises(FacebookRequestError) as err:
        account(EU).get_insights(fields=["spend"], params=day_params("2026-08-01"), is_async=True)
    assert err.value.api_error_code() == 1
    emu.faults.clear()
    assert account(US).api_get(fields=["name"])["name"] == "Nordlicht Home US"


def test_throttle_headers_and_limit_errors(emu: GraphEmulator, api: FacebookAdsApi) -> None:
    emu.faults.throttle(util_pct=96, regain_minutes=2, times=1)
    cursor = account().get_campaigns(fields=["name"])
    buc = json.loads(cursor.headers()["x-business-use-case-usage"])[EU][0]
    acc = json.loads(cursor.headers()["x-ad-account-usage"])
    throttle = json.loads(cursor.headers()["x-fb-ads-insights-throttle"])
    assert buc["call_count"] == 96 and buc["estimated_time_to_regain_access"] == 2
    assert acc == {"acc_id_util_pct": 96, "reset_time_duration": 120, "ads_api_access_tier": "standard_access"}
    assert throttle["acc_id_util_pct"] == 96
    after = json.loads(account().get_campaigns(fields=["name"]).headers()["x-business-use-case-usage"])[EU][0]
    assert after["call_count"] < 50  # times=1
    emu.faults.throttle(util_pct=100, regain_minutes=5, account_id=EU, times=2)
    with pytest.raises(FacebookRequestError) as err:
        account().get_insights(fields=["spend"], params=day_params("2026-08-01"))
    assert (err.value.api_error_code(), err.value.api_error_subcode()) == (80000, 2446079)
    regain = json.loads(err.value.http_headers()["x-business-use-case-usage"])[EU][0]
    assert regain["estimated_time_to_regain_access"] == 5
    with pytest.raises(FacebookRequestError) as err:
        account().get_campaigns(fields=["name"])
    assert (err.value.api_error_code(), err.value.api_error_subcode()) == (17, 2446079)
    assert account(US).api_get(fields=["name"])  # another account is not throttled


def test_reduce_data_on_large_result_pages(emu: GraphEmulator, api: FacebookAdsApi) -> None:
    emu.faults.reduce_data(max_limit=20)
    run, _ = run_job(account(), day_params("2026-08-01"))
    with pytest.raises(FacebookRequestError) as err:
        list(run.get_result(params={"limit": 50}))
    assert err.value.api_error_code() == 1
    assert err.value.api_error_message().startswith("Please reduce the amount of data you're asking for")
    rows = list(run.get_result(params={"limit": 20}))
    assert len(rows) == len(world_rows("2026-08-01", "2026-08-01", EU))
    with pytest.raises(FacebookRequestError):  # synchronous insights too
        list(account().get_insights(fields=["spend"], params={**day_params("2026-08-01"), "limit": 21}))


def test_job_failure_and_never_completing_jobs(emu: GraphEmulator, api: FacebookAdsApi, data: StaticData) -> None:
    emu.faults.job_failure(unfiltered=True)
    run, statuses = run_job(account(), day_params("2026-08-01"))
    assert statuses[-1] == "Job Failed"
    with pytest.raises(FacebookRequestError):
        list(run.get_result())
    campaign_id = data.campaigns[0]["id"]
    scoped = day_params("2026-08-01", filtering=[{"field": "campaign.id", "operator": "IN", "value": [campaign_id]}])
    run, statuses = run_job(account(), scoped)
    assert statuses[-1] == "Job Completed" and len(list(run.get_result())) > 0
    emu.faults.clear()
    emu.faults.job_failure(max_fields=5, times=1)
    assert run_job(account(), day_params("2026-08-01"))[1][-1] == "Job Failed"
    assert run_job(account(), day_params("2026-08-01"))[1][-1] == "Job Completed"  # times=1
    assert run_job(account(), day_params("2026-08-01"), fields=["spend"])[1][-1] == "Job Completed"
    emu.faults.job_never_completes(when=lambda params: params.get("breakdowns") == ["age"])
    run, statuses = run_job(account(), day_params("2026-08-01", breakdowns=["age"]))
    assert statuses[-1] == "Job Running" and len(statuses) == 20
    with pytest.raises(FacebookRequestError) as err:
        list(run.get_result())
    assert "Job Running" in err.value.api_error_message()


def test_restate_drop_rows_and_new_fields(emu: GraphEmulator, api: FacebookAdsApi) -> None:
    def day(d: str) -> dict[str, dict[str, Any]]:
        rows = account().get_insights(fields=METRICS, params=day_params(d, limit=500))
        return {r["ad_id"]: r.export_all_data() for r in rows}

    def purchases(row: dict[str, Any]) -> int:
        return sum(int(a["7d_click"]) for a in row.get("actions", []) if a["action_type"] == "purchase")

    before, other = day("2026-08-12"), day("2026-08-13")
    emu.restate("2026-08-12", account_id=EU, factor=2.0)
    after = day("2026-08-12")
    assert sum(map(purchases, after.values())) == 2 * sum(map(purchases, before.values())) > 0
    for ad_id, row in after.items():
        assert row["spend"] == before[ad_id]["spend"] and row["clicks"] == before[ad_id]["clicks"]
    assert day("2026-08-13") == other
    victim = next(iter(after))
    emu.drop_rows("2026-08-12", [victim])
    assert set(day("2026-08-12")) == set(after) - {victim}
    emu.add_insight_field("quality_ranking", "ABOVE_AVERAGE")
    assert all(r["quality_ranking"] == "ABOVE_AVERAGE" for r in day("2026-08-13").values())
    drifted, *others = sorted(day("2026-08-13"))
    emu.send_value("2026-08-13", drifted, "spend", "1,5")
    rows = day("2026-08-13")
    assert rows[drifted]["spend"] == "1,5" and all(rows[a]["spend"] != "1,5" for a in others)


@pytest.mark.filterwarnings("ignore:value of")
def test_invalid_requests_are_answered_like_the_api(emu: GraphEmulator, api: FacebookAdsApi) -> None:
    cases = [
        {"level": "creative"},
        {"breakdowns": ["hour"]},
        {"action_attribution_windows": ["28d_view"]},
        {"time_range": {"since": "2026-08-02", "until": "2026-08-01"}},
        {"filtering": [{"field": "campaign.name", "operator": "IN", "value": ["x"]}]},
    ]
    for extra in cases:
        with pytest.raises(FacebookRequestError) as err:
            account().get_insights(fields=["spend"], params={**day_params("2026-08-01"), **extra}, is_async=True)
        assert err.value.api_error_code() == 100, extra
    with pytest.raises(FacebookRequestError) as err:
        account().get_insights(fields=["spend"], params={"time_range": {"since": "2020-01-01", "until": "2020-01-02"}})
    assert err.value.api_error_code() == 3018
    with pytest.raises(FacebookRequestError) as err:
        AdAccount("act_1").api_get(fields=["name"])
    assert (err.value.api_error_code(), err.value.api_error_subcode()) == (100, 33)


# --- determinism, concurrency, the benchmark data set --------------------------------------------------------


def test_concurrent_jobs_are_consistent_and_deterministic(data: StaticData) -> None:
    days = [f"2026-08-{d:02d}" for d in range(1, 9)]

    def fetch_all(emu: GraphEmulator) -> dict[str, list[dict[str, Any]]]:
        api = emu.sdk_api()
        out: dict[str, list[dict[str, Any]]] = {}

        def one(day: str) -> None:
            run, _ = run_job(AdAccount(f"act_{EU}", api=api), day_params(day))
            out[day] = [r.export_all_data() for r in run.get_result(params={"limit": 9})]

        threads = [threading.Thread(target=one, args=(d,)) for d in days]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        FacebookAdsApi.set_default_api(None)
        return out

    with GraphEmulator(data) as a, GraphEmulator(data) as b:
        first, second = fetch_all(a), fetch_all(b)
        assert not a.errors and not b.errors
    assert first == second
    for day in days:
        assert len(first[day]) == len(world_rows(day, day, EU))


def test_synthetic_data_for_the_benchmark() -> None:
    data = synthetic_data(accounts=20, ads_per_account=100, days=90, start=date(2026, 1, 1))
    assert len(data.accounts) == 20 and len(data.ads) == 2000
    account_id = data.accounts[3]["account_id"]
    rows = list(data.insights(account_id, date(2026, 3, 1), date(2026, 3, 31)))
    assert len(rows) == 100 * 31  # the window ends on 2026-03-31 (90 days)
    assert list(data.insights(account_id, date(2026, 4, 1), date(2026, 4, 2))) == []
    again = synthetic_data(accounts=20, ads_per_account=100, days=90, start=date(2026, 1, 1))
    assert list(again.insights(account_id, date(2026, 3, 1), date(2026, 3, 1))) == rows[:100]
    with GraphEmulator(data) as emu:
        api = emu.sdk_api()
        try:
            run, _ = run_job(AdAccount(f"act_{account_id}", api=api), day_params("2026-02-01"))
            got = [r.export_all_data() for r in run.get_result(params={"limit": 500})]
        finally:
            FacebookAdsApi.set_default_api(None)
        assert not emu.errors
    assert len(got) == 100 and all(all_strings(r) for r in got)
    assert all(float(r["cpc"]) > 0 for r in got if "cpc" in r)


# --- recorded responses (fixtures/*.toml) replayed as recorded ---------------------------------------------------


def raw_reply(emu: GraphEmulator, path: str) -> tuple[int, dict[str, str], bytes]:
    query = urllib.parse.urlencode({"access_token": emu.access_token})
    try:
        with urllib.request.urlopen(f"{emu.url}/v26.0/{path}?{query}") as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


@pytest.mark.parametrize("name", recorded_names())
def test_recorded_responses_are_replayed_as_recorded(emu: GraphEmulator, name: str) -> None:
    fixture_text = (FIXTURES / f"{name}.toml").read_text()
    assert fixture_text.startswith("#") and "Source:" in fixture_text  # every fixture names its public source
    recorded = tomllib.loads(fixture_text)
    rule = emu.faults.replay(name, path_contains="/campaigns")
    status, headers, body = raw_reply(emu, f"act_{EU}/campaigns")
    assert rule.hits == 1 and status == recorded["status"]
    assert headers["content-type"] == recorded.get("content_type", "application/json; charset=UTF-8")
    usage = {h for h in USAGE_HEADERS if h in headers}
    assert usage == set(recorded.get("headers", {}))  # only the recorded usage headers, or none
    if "json" in recorded:
        expected = json.loads(json.dumps(recorded["json"]).replace("{object_id}", f"act_{EU}"))
        assert json.loads(body) == expected
    else:
        assert body.decode() == recorded["text"]
    assert raw_reply(emu, f"act_{EU}/campaigns")[0] == 200  # times=1


def test_replay_on_the_status_poll_of_a_report_run(emu: GraphEmulator, api: FacebookAdsApi) -> None:
    emu.faults.replay("error_100_33_object_does_not_exist", role="report_run_status", times=1)
    run = account().get_insights(fields=["spend"], params=day_params("2026-08-01"), is_async=True)
    with pytest.raises(FacebookRequestError) as err:
        run.api_get()
    assert (err.value.api_error_code(), err.value.api_error_subcode()) == (100, 33)
    assert f"Object with ID '{run['id']}' does not exist" in err.value.api_error_message()
    assert run.api_get()["async_status"] == "Job Not Started"  # the race is over: the run is there


def test_insights_throttle_can_stay_low_until_error_17(emu: GraphEmulator, api: FacebookAdsApi) -> None:
    emu.faults.throttle(util_pct=100, regain_minutes=0, code=17, insights_pct=5, method="POST", times=1)
    with pytest.raises(FacebookRequestError) as err:
        account().get_insights(fields=["spend"], params=day_params("2026-08-01"), is_async=True)
    assert (err.value.api_error_code(), err.value.api_error_subcode()) == (17, 2446079)
    headers = {k.lower(): v for k, v in err.value.http_headers().items()}
    assert json.loads(headers["x-fb-ads-insights-throttle"])["acc_id_util_pct"] == 5
    assert json.loads(headers["x-ad-account-usage"])["acc_id_util_pct"] == 100
