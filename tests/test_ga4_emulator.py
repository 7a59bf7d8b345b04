"""The GA4 Data API emulator, driven through the real ``google-analytics-data`` REST client."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.analytics.admin_v1beta import AnalyticsAdminServiceClient
from google.analytics.admin_v1beta.services.analytics_admin_service.transports import AnalyticsAdminServiceGrpcTransport
from google.analytics.data_v1beta import BetaAnalyticsDataClient
from google.analytics.data_v1beta.services.beta_analytics_data.transports import BetaAnalyticsDataGrpcTransport
from google.analytics.data_v1beta.types import (
    BatchRunReportsRequest,
    CheckCompatibilityRequest,
    Compatibility,
    DateRange,
    Dimension,
    Filter,
    FilterExpression,
    Metric,
    MetricType,
    RunReportRequest,
)
from google.api_core import exceptions
from google.api_core.retry import Retry
from google.auth.credentials import AnonymousCredentials

from marketing_dwh.demo_world import DemoWorld
from sources.ga4.demo import ga4_demo
from sources.ga4.emulator import DEMO_PROPERTY_ID, DataApiEmulator, demo_data, fixtures

PROPERTY = f"properties/{DEMO_PROPERTY_ID}"
START, END = "2026-08-01", "2026-08-14"
TRAFFIC_DIMS = ["date", "sessionSource", "sessionMedium", "sessionCampaignName", "sessionCampaignId"]
PURCHASE_DIMS = ["date", "transactionId", "sessionSource", "sessionMedium", "sessionCampaignName", "sessionCampaignId"]
NO_RETRY = Retry(predicate=lambda exc: False)


@pytest.fixture(scope="module")
def world() -> DemoWorld:
    return DemoWorld(days=14)


@pytest.fixture
def emu(world: DemoWorld) -> Iterator[DataApiEmulator]:
    with DataApiEmulator(demo_data(world, properties=2)) as emulator:
        yield emulator
        assert emulator.errors == []


@pytest.fixture
def client(emu: DataApiEmulator) -> BetaAnalyticsDataClient:
    return BetaAnalyticsDataClient(
        transport="rest", client_options={"api_endpoint": emu.url}, credentials=AnonymousCredentials()
    )


def report(dims: list[str], metrics: list[str], **kw: object) -> RunReportRequest:
    kw.setdefault("property", PROPERTY)
    kw.setdefault("date_ranges", [DateRange(start_date=START, end_date=END)])
    return RunReportRequest(
        dimensions=[Dimension(name=d) for d in dims], metrics=[Metric(name=m) for m in metrics], **kw
    )


def run(client: BetaAnalyticsDataClient, request: RunReportRequest):  # noqa: ANN201
    return client.run_report(request, retry=NO_RETRY)


def test_paging_row_count_strings_and_quota(
    client: BetaAnalyticsDataClient, emu: DataApiEmulator, world: DemoWorld
) -> None:
    metrics = ["sessions", "totalUsers", "purchaseRevenue"]
    rows, offset, row_count = [], 0, None
    while row_count is None or offset < row_count:
        resp = run(client, report(TRAFFIC_DIMS, metrics, limit=100, offset=offset, return_property_quota=True))
        assert len(resp.rows) <= 100
        row_count = resp.row_count
        rows += resp.rows
        offset += 100
        assert resp.property_quota.tokens_per_day.remaining < 200_000
        assert resp.property_quota.concurrent_requests.remaining == 10
    assert row_count == len(ga4_demo(world).traffic) > 100
    assert len(rows) == row_count
    assert {m.type_ for m in resp.metric_headers} == {MetricType.TYPE_INTEGER, MetricType.TYPE_CURRENCY}
    assert resp.metadata.currency_code == "EUR" and resp.metadata.time_zone == "Europe/Berlin"
    first = rows[0]
    assert isinstance(first.metric_values[0].value, str) and first.metric_values[0].value.isdigit()
    assert sum(int(r.metric_values[0].value) for r in rows) == sum(t["sessions"] for t in ga4_demo(world).traffic)
    # what went over the wire: int64 as strings, the REST client's query string
    sent = [r for r in emu.requests if r["endpoint"] == "runReport"]
    assert sent[1]["body"]["offset"] == "100" and sent[1]["body"]["limit"] == "100"
    assert "enum-encoding=int" in sent[0]["query"] and sent[0]["property_id"] == DEMO_PROPERTY_ID
    assert emu.quota_used(DEMO_PROPERTY_ID) == len(sent)


def test_purchase_report_one_row_per_transaction(client: BetaAnalyticsDataClient, world: DemoWorld) -> None:
    resp = run(client, report(PURCHASE_DIMS, ["purchaseRevenue", "ecommercePurchases"]))
    ids = [r.dimension_values[1].value for r in resp.rows]
    assert len(ids) == len(set(ids)) == resp.row_count == len(ga4_demo(world).purchases)
    assert {r.metric_values[1].value for r in resp.rows} == {"1"}
    users = run(client, report(["transactionId", "customUser:user_pseudo_id"], ["ecommercePurchases"]))
    by_tx = {p["transaction_id"]: p["user_pseudo_id"] for p in ga4_demo(world).purchases}
    assert all(by_tx[r.dimension_values[0].value] == r.dimension_values[1].value for r in users.rows)


def test_range_report_without_date_is_not_the_sum(client: BetaAnalyticsDataClient) -> None:
    daily = run(client, report(["date"], ["totalUsers", "sessions"]))
    total = run(client, report([], ["totalUsers", "sessions"]))
    daily_users = sum(int(r.metric_values[0].value) for r in daily.rows)
    assert int(total.rows[0].metric_values[1].value) == sum(int(r.metric_values[1].value) for r in daily.rows)
    assert 0.7 * daily_users < int(total.rows[0].metric_values[0].value) < daily_users


def test_filters_relative_dates_and_order(client: BetaAnalyticsDataClient, emu: DataApiEmulator) -> None:
    emu.today = "2026-08-15"
    flt = FilterExpression(
        filter=Filter(field_name="sessionMedium", string_filter=Filter.StringFilter(value="paid_social"))
    )
    req = report(
        ["date", "sessionMedium"],
        ["sessions"],
        date_ranges=[DateRange(start_date="7daysAgo", end_date="yesterday")],
        dimension_filter=flt,
    )
    resp = run(client, req)
    assert resp.row_count == 7
    assert [r.dimension_values[0].value for r in resp.rows] == [f"202608{d:02d}" for d in range(8, 15)]
    assert {r.dimension_values[1].value for r in resp.rows} == {"paid_social"}


def test_check_compatibility_and_incompatible_fields(client: BetaAnalyticsDataClient, emu: DataApiEmulator) -> None:
    resp = client.check_compatibility(
        CheckCompatibilityRequest(
            property=PROPERTY, dimensions=[Dimension(name="transactionId")], metrics=[Metric(name="totalUsers")]
        )
    )
    dims = {c.dimension_metadata.api_name: c.compatibility for c in resp.dimension_compatibilities}
    mets = {c.metric_metadata.api_name: c.compatibility for c in resp.metric_compatibilities}
    assert dims["transactionId"] == Compatibility.INCOMPATIBLE and dims["date"] == Compatibility.COMPATIBLE
    assert mets["totalUsers"] == Compatibility.INCOMPATIBLE and mets["purchaseRevenue"] == Compatibility.COMPATIBLE
    with pytest.raises(exceptions.BadRequest, match="Please remove transactionId"):
        run(client, report(["transactionId"], ["totalUsers"]))
    with pytest.raises(exceptions.BadRequest, match="not a valid metric"):
        run(client, report(["date"], ["bogusMetric"]))
    rule = emu.faults.incompatible("sessionCampaignId")
    with pytest.raises(exceptions.BadRequest, match="Please remove sessionCampaignId"):
        run(client, report(TRAFFIC_DIMS, ["sessions"]))
    again = client.check_compatibility(CheckCompatibilityRequest(property=PROPERTY, metrics=[Metric(name="sessions")]))
    assert {c.dimension_metadata.api_name: c.compatibility for c in again.dimension_compatibilities}[
        "sessionCampaignId"
    ] == Compatibility.INCOMPATIBLE
    assert rule.times is None


def test_metadata(client: BetaAnalyticsDataClient) -> None:
    meta = client.get_metadata(name=f"{PROPERTY}/metadata")
    dims = {d.api_name: d for d in meta.dimensions}
    mets = {m.api_name: m for m in meta.metrics}
    assert {"date", "transactionId", "customUser:user_pseudo_id"} <= set(dims)
    assert dims["customUser:user_pseudo_id"].custom_definition
    assert mets["purchaseRevenue"].type_ == MetricType.TYPE_CURRENCY and mets["sessions"].category == "Session"


@pytest.mark.parametrize(
    ("kind", "bucket"),
    [
        ("tokens_per_day", "tokens_per_day"),
        ("tokens_per_hour", "tokens_per_hour"),
        ("tokens_per_project_per_hour", "tokens_per_project_per_hour"),
        ("concurrent", "concurrent_requests"),
        ("thresholded", "potentially_thresholded_requests_per_hour"),
        ("server_errors", "server_errors_per_project_per_hour"),
    ],
)
def test_quota_faults(client: BetaAnalyticsDataClient, emu: DataApiEmulator, kind: str, bucket: str) -> None:
    rule = emu.faults.quota(kind)
    with pytest.raises(exceptions.TooManyRequests) as raised:
        run(client, report(["date"], ["sessions"]))
    assert raised.value.message.endswith(fixtures.load("quota_errors")[kind]["error"]["message"])  # recorded text
    assert rule.hits == 1
    resp = run(client, report(["date"], ["sessions"], return_property_quota=True))
    assert getattr(resp.property_quota, bucket).remaining == 0
    emu.reset_quota()
    resp = run(client, report(["date"], ["sessions"], return_property_quota=True))
    assert getattr(resp.property_quota, bucket).remaining > 0


def test_low_quota_sampling_and_other_row(client: BetaAnalyticsDataClient, emu: DataApiEmulator) -> None:
    emu.faults.low_quota("tokens_per_hour", remaining_pct=5)
    emu.faults.sampled(times=1)
    emu.faults.other_row(times=1)
    resp = run(client, report(TRAFFIC_DIMS, ["sessions"], return_property_quota=True))
    assert resp.property_quota.tokens_per_hour.remaining == 2000
    assert resp.metadata.sampling_metadatas and resp.metadata.data_loss_from_other_row
    last = [v.value for v in resp.rows[-1].dimension_values]
    assert last[0].isdigit() and "(other)" in last[1:]  # the date stays; only the varying dimensions fold
    plain = run(client, report(TRAFFIC_DIMS, ["sessions"]))
    assert not plain.metadata.sampling_metadatas and not plain.metadata.data_loss_from_other_row
    assert plain.row_count > resp.row_count


def test_errors_permission_denied_and_unavailable(client: BetaAnalyticsDataClient, emu: DataApiEmulator) -> None:
    # the REST transport maps errors by HTTP status: 403 is ``Forbidden`` (gRPC would raise ``PermissionDenied``)
    with pytest.raises(exceptions.Forbidden, match="sufficient permissions"):
        run(client, report(["date"], ["sessions"], property="properties/999"))
    emu.faults.error(503, "UNAVAILABLE", "The service is currently unavailable.", times=1)
    with pytest.raises(exceptions.ServiceUnavailable):
        run(client, report(["date"], ["sessions"]))
    assert run(client, report(["date"], ["sessions"])).row_count == 14
    assert [r["status"] for r in emu.requests] == [403, 503, 200]


def test_restate_changes_a_day(client: BetaAnalyticsDataClient, emu: DataApiEmulator) -> None:
    def by_day() -> dict[str, tuple[str, str]]:
        resp = run(client, report(["date"], ["sessions", "purchaseRevenue"]))
        return {r.dimension_values[0].value: (r.metric_values[0].value, r.metric_values[1].value) for r in resp.rows}

    before = by_day()
    emu.restate("2026-08-03", factor=1.5)
    after = by_day()
    assert after["20260803"] != before["20260803"]
    assert int(after["20260803"][0]) == pytest.approx(int(before["20260803"][0]) * 1.5, rel=0.02)  # rounded per row
    assert {d: v for d, v in after.items() if d != "20260803"} == {d: v for d, v in before.items() if d != "20260803"}


def test_batch_and_many_properties(client: BetaAnalyticsDataClient) -> None:
    sub = [report(["date"], ["sessions"], property=""), report([], ["totalUsers"], property="")]
    resp = client.batch_run_reports(BatchRunReportsRequest(property=PROPERTY, requests=sub))
    assert [r.row_count for r in resp.reports] == [14, 1]
    copy = run(client, report(["date"], ["sessions"], property=f"properties/{int(DEMO_PROPERTY_ID) + 1}"))
    assert sum(int(r.metric_values[0].value) for r in copy.rows) > sum(
        int(r.metric_values[0].value) for r in resp.reports[0].rows
    )
    with pytest.raises(exceptions.BadRequest, match="limited to 5"):
        client.batch_run_reports(BatchRunReportsRequest(property=PROPERTY, requests=sub * 3))


def test_admin_get_property_and_unregistered_custom_dimensions(emu: DataApiEmulator) -> None:
    admin = AnalyticsAdminServiceClient(
        transport="rest", client_options={"api_endpoint": emu.url}, credentials=AnonymousCredentials()
    )
    prop = admin.get_property(name=PROPERTY)
    assert (prop.time_zone, prop.currency_code, prop.display_name) == ("Europe/Berlin", "EUR", "Demo Shop - GA4")
    data = BetaAnalyticsDataClient(
        transport="rest", client_options={"api_endpoint": emu.url}, credentials=AnonymousCredentials()
    )
    emu.data.properties[DEMO_PROPERTY_ID].custom_dimensions = ("customEvent:event_timestamp",)
    with pytest.raises(exceptions.BadRequest, match="customUser:user_pseudo_id is not a valid dimension"):
        run(data, report(["date", "customUser:user_pseudo_id"], ["ecommercePurchases"]))
    names = {d.api_name for d in data.get_metadata(name=f"{PROPERTY}/metadata").dimensions}
    assert "customUser:user_pseudo_id" not in names and "customEvent:event_timestamp" in names


def test_grpc_frontend_serves_the_same_app(world: DemoWorld) -> None:
    with DataApiEmulator(demo_data(world), grpc=True) as emu:
        channel = grpc.insecure_channel(emu.grpc_endpoint)
        client = BetaAnalyticsDataClient(transport=BetaAnalyticsDataGrpcTransport(channel=channel))
        resp = run(client, report(["date"], ["sessions", "purchaseRevenue"], return_property_quota=True))
        assert resp.row_count == 14 and resp.metric_headers[1].type_ == MetricType.TYPE_CURRENCY
        assert resp.property_quota.tokens_per_day.remaining < 200_000
        emu.faults.quota("tokens_per_project_per_hour")
        with pytest.raises(exceptions.ResourceExhausted, match="Exhausted property tokens for a project per hour"):
            run(client, report(["date"], ["sessions"]))
        emu.faults.error(401, "UNAUTHENTICATED")
        with pytest.raises(exceptions.Unauthenticated, match="invalid authentication credentials"):
            run(client, report(["date"], ["sessions"]))
        emu.faults.error(502, "BAD_GATEWAY")  # an HTML page behind the front end: UNAVAILABLE for gRPC clients
        with pytest.raises(exceptions.ServiceUnavailable):
            run(client, report(["date"], ["sessions"]))
        admin_channel = grpc.insecure_channel(emu.grpc_endpoint)
        admin = AnalyticsAdminServiceClient(transport=AnalyticsAdminServiceGrpcTransport(channel=admin_channel))
        assert admin.get_property(name=PROPERTY).time_zone == "Europe/Berlin"
        sent = [r for r in emu.requests if r["endpoint"] == "runReport"]
        assert sent[0]["body"]["dateRanges"] == [{"startDate": START, "endDate": END}]  # the REST wire shape
        assert [r["status"] for r in sent] == [200, 429, 401, 502]


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_batch_run_reports_as_documented(world: DemoWorld, transport: str) -> None:
    """Up to 5 reports of the path's property, answered in request order, each charged its own tokens; more than
    5, another property or one invalid report: 400 for the whole call (nothing charged)."""
    with DataApiEmulator(demo_data(world, properties=2), grpc=True) as emu:
        if transport == "grpc":
            client = BetaAnalyticsDataClient(
                transport=BetaAnalyticsDataGrpcTransport(channel=grpc.insecure_channel(emu.grpc_endpoint))
            )
        else:
            client = BetaAnalyticsDataClient(
                transport="rest", client_options={"api_endpoint": emu.url}, credentials=AnonymousCredentials()
            )
        days = ["2026-08-03", "2026-08-01", "2026-08-05", "2026-08-02", "2026-08-04"]
        sub = [report(["date"], ["sessions"], date_ranges=[DateRange(start_date=d, end_date=d)], property="")
               for d in days]  # fmt: skip
        sub[1].property = PROPERTY  # a report may name the batch's property, or none
        resp = client.batch_run_reports(BatchRunReportsRequest(property=PROPERTY, requests=sub), retry=NO_RETRY)
        assert [r.rows[0].dimension_values[0].value for r in resp.reports] == [d.replace("-", "") for d in days]
        singles = [run(client, report(["date"], ["sessions"], date_ranges=[DateRange(start_date=d, end_date=d)]))
                   for d in days]  # fmt: skip
        assert [r.rows for r in resp.reports] == [s.rows for s in singles]  # each report as runReport answers it
        assert emu.quota_used(DEMO_PROPERTY_ID) == 10  # 5 batched reports + 5 single ones, one token each
        assert [len(r["body"]["requests"]) for r in emu.requests if r["endpoint"] == "batchRunReports"] == [5]
        other = f"properties/{int(DEMO_PROPERTY_ID) + 1}"
        bad = [
            (sub * 2, "limited to 5"),
            ([sub[0], report(["date"], ["sessions"], property=other)], "must be empty or match"),
            ([sub[0], report(["date"], ["bogusMetric"], property="")], "not a valid metric"),
        ]
        for requests, message in bad:
            with pytest.raises(exceptions.InvalidArgument if transport == "grpc" else exceptions.BadRequest,
                               match=message):  # fmt: skip
                client.batch_run_reports(BatchRunReportsRequest(property=PROPERTY, requests=requests), retry=NO_RETRY)
        assert emu.quota_used(DEMO_PROPERTY_ID) == 10  # a refused call charges nothing
        # a fault for runReport sees each report of a batch: the one it matches fails the whole call
        rule = emu.faults.quota("tokens_per_day", endpoint="runReport",
                                when=lambda b: b["dateRanges"][0]["startDate"] == "2026-08-05")  # fmt: skip
        with pytest.raises(exceptions.ResourceExhausted if transport == "grpc" else exceptions.TooManyRequests):
            client.batch_run_reports(BatchRunReportsRequest(property=PROPERTY, requests=sub), retry=NO_RETRY)
        assert rule.hits == 1
        reports = emu.report_requests()
        assert [r["batch"] is not None for r in reports].count(
            True
        ) == 5 + 10 + 2 + 2 + 5  # refused calls are logged too
        assert emu.errors == []
