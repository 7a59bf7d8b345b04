"""GA4 Data API (v1beta, REST) emulator on 127.0.0.1 that the real ``google-analytics-data`` client talks to.

    from google.analytics.data_v1beta import BetaAnalyticsDataClient
    from google.auth.credentials import AnonymousCredentials
    from sources.ga4.emulator import DataApiEmulator, demo_data

    with DataApiEmulator(demo_data(DemoWorld())) as emu:
        client = BetaAnalyticsDataClient(
            transport="rest", client_options={"api_endpoint": emu.url}, credentials=AnonymousCredentials()
        )
        client.run_report(RunReportRequest(property="properties/412345678", ...))
        emu.requests    # [{method, path, query, property_id, endpoint, body (decoded JSON), status, time}]
        emu.report_requests()  # every report asked for: a runReport call, or each report of a batchRunReports call

Served: ``POST /v1beta/properties/{id}:runReport``, ``:batchRunReports`` (<= 5 reports of the property in the path,
answered in order, each charged its own tokens; more than 5, another property or one invalid report: 400 for the
whole call), ``:checkCompatibility``,
``GET /v1beta/properties/{id}/metadata`` (``properties/0/metadata`` = universal) and the Admin API's
``GET /v1beta/properties/{id}`` (GetProperty: time zone, currency; ``AnalyticsAdminServiceClient`` over REST).
With ``DataApiEmulator(data, grpc=True)`` the same app also serves gRPC on ``emu.grpc_endpoint``
(``grpc_server.py``; the clients get a plain channel to a loopback endpoint). Unknown property ids -> 403
PERMISSION_DENIED; unknown fields -> 400 "Field X is not a valid dimension/metric"; incompatible ones -> 400
"Please remove X to make the request compatible...". Responses use int enums when the request says
``enum-encoding=int`` (the REST client always does), names otherwise.

Schema (``schema.py``): dimensions date, sessionSource, sessionMedium, sessionCampaignName, sessionCampaignId,
eventName, transactionId and the emulator's custom dimensions ``customUser:user_pseudo_id`` (GA4 client id) and
``customEvent:event_timestamp`` (micros UTC); metrics sessions, totalUsers, engagedSessions, engagementRate
(float), keyEvents, eventCount, ecommercePurchases, purchaseRevenue (currency). With transactionId / custom
dimensions a report reads purchase events (one row per transaction) and session metrics are incompatible.
``totalUsers`` over several days is not the sum of daily values (``reports.py``). Date ranges take
YYYY-MM-DD, ``today``, ``yesterday``, ``NdaysAgo`` relative to ``emu.today`` (default: the day after the data).
Filters: and/or/not groups of string (all match types), inList, numeric, between, empty filters; ``orderBys``;
``offset`` / ``limit`` paging (``rowCount`` = all rows); ``propertyQuota`` (``quota.py``).

Faults (``emu.faults``; each returns the rule, whose ``hits`` counts firings; ``times=None`` = always):

    emu.faults.quota("tokens_per_day")                # 429 with the recorded message (fixtures/quota_errors; also
                                                      # tokens_per_hour, tokens_per_project_per_hour, concurrent,
                                                      # thresholded, server_errors); that bucket then shows 0
    emu.faults.quota("tokens_per_day", times=None, when=lambda body: body.get("offset") == "5")  # page 2 on
    emu.faults.low_quota("tokensPerHour", remaining_pct=5)       # propertyQuota low, requests still succeed
    emu.faults.partial_quota()  # propertyQuota with only some buckets (fixtures/property_quota_partial)
    emu.faults.error(503, "UNAVAILABLE", times=2, property_id="412345678", endpoint="runReport")
                                                      # (a batchRunReports call: each report is a runReport to a
                                                      # rule, the first that fires fails the whole call)
    emu.faults.error(502, "BAD_GATEWAY")              # recorded bodies (fixtures/errors): 502 is an HTML page
    emu.faults.error(401, "UNAUTHENTICATED", times=None)
    emu.faults.replay("run_report_other_row", times=1)  # answer runReport with a recorded-shape body
    emu.faults.sampled()        # metadata.samplingMetadatas
    emu.faults.other_row()      # "(other)" rows (the date stays) and metadata.dataLossFromOtherRow
    emu.faults.other_row(flag_only=True)              # the flag on a page without an "(other)" row
    emu.faults.incompatible("sessionCampaignId")      # 400 in runReport, INCOMPATIBLE in checkCompatibility
    emu.faults.clear()

Properties: ``Ga4Property.time_zone`` / ``currency`` (served by GetProperty) and ``custom_dimensions`` (the
registered ones; a report or checkCompatibility naming another answers 400 "Field ... is not a valid dimension").
Upstream changes: ``emu.restate(day, property_id=None, factor=1.2)`` (late data), ``emu.reset_quota()``,
``emu.today = "2026-11-01"``. Data: ``demo_data(world, properties=N)`` (N = total properties; the demo one
``412345678`` first) or any ``Ga4Data``.
"""

from sources.ga4.emulator.data import DEMO_PROPERTY_ID, Ga4Data, Ga4Property, demo_data
from sources.ga4.emulator.errors import ApiError
from sources.ga4.emulator.faults import Fault, Faults
from sources.ga4.emulator.server import DataApiEmulator

__all__ = [
    "DEMO_PROPERTY_ID",
    "ApiError",
    "DataApiEmulator",
    "Fault",
    "Faults",
    "Ga4Data",
    "Ga4Property",
    "demo_data",
]
