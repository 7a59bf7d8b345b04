"""Graph API (Marketing API) emulator on 127.0.0.1 that the real ``facebook-business`` SDK talks to.

    from sources.meta_ads.emulator import GraphEmulator, demo_data

    with GraphEmulator(demo_data(DemoWorld())) as emu:
        api = emu.sdk_api()                     # FacebookAdsApi.init(...), session.GRAPH = emu.url
        ...
        emu.requests                            # [{method, path, params, status, time, account_id, batch}]

Served (any ``vNN.N`` prefix; ``access_token`` on every request: missing -> 104, wrong -> 190):
``GET /me``, ``/me/adaccounts``, ``/act_<id>``, any campaign/ad set/ad/creative node, the edges
``campaigns|adsets|ads|adcreatives`` of accounts (and of campaigns / ad sets), with ``fields`` (comma list or
JSON list), ``limit``/``after`` cursor paging, ``effective_status`` and ``filtering`` (DELETED and ARCHIVED
objects only when a status filter asks for them); insights synchronously (``GET .../insights``) and as async
report runs (``POST .../insights`` -> ``GET /<run>`` status over ``polls_to_complete`` polls -> ``GET
/<run>/insights``), at every level, with ``time_increment``, ``breakdowns``, ``action_attribution_windows`` and
``filtering``; batch requests (``POST /`` with ``batch``). Every response carries the usage headers. Requested
parameters are recorded in ``params`` with secrets dropped and JSON lists/objects decoded.

Wall-clock latency (off by default): ``GraphEmulator(data, job_latency=Latency(2, 20, "lognormal", seed=1),
request_latency=Latency(0.05, 0.3))``: each report run completes a drawn time after it was submitted (its
``async_status`` / ``async_percent_completion`` move with the clock, not with the polls), and every HTTP request
waits a drawn time. ``clock=`` (``sources.clock.Clock``) puts both on a test's own time;
``emu.running_report_runs()`` / ``emu.peak_running_report_runs()`` count the report runs running at once.

Faults (``emu.faults``; each call returns the rule, whose ``hits`` counts firings; ``times=None`` = always):

    emu.faults.error(2, message="Service temporarily unavailable", times=2)   # code, subcode, http_status,
    emu.faults.error(190, subcode=463, times=None)                            # is_transient, path_contains,
    emu.faults.error(1, http_status=503, path_contains="/insights")           # account_id, method, times
    emu.faults.throttle(util_pct=96, regain_minutes=2, times=1)   # usage headers near the limit
    emu.faults.throttle(util_pct=100, account_id="123")           # ... and error 80000 (insights) / 17, 2446079
    emu.faults.throttle(util_pct=100, code=17, insights_pct=5)    # ... while the insights throttle stays low
    emu.faults.replay("html_502_bad_gateway", role="report_run_results")   # a recorded response, as recorded:
    emu.faults.replay("error_100_33_object_does_not_exist", role="report_run_status", times=2)  # fixtures/*.toml
    emu.faults.reduce_data(max_limit=100)                # insight pages with limit > 100: code 1 "Please reduce ..."
    emu.faults.job_failure(unfiltered=True)              # async runs without filtering end in "Job Failed"
    emu.faults.job_failure(max_fields=10, times=1)       # ... or with more than 10 fields, once
    emu.faults.job_never_completes(when=lambda params: params.get("breakdowns"))   # stays "Job Running"
    emu.faults.clear()

Upstream changes: ``emu.restate(day, account_id=None, factor=1.5)`` (conversions and values of that day scaled),
``emu.drop_rows(day, ad_ids)`` (rows vanish), ``emu.add_insight_field(name, value)`` (a new field on every
insight row), ``emu.send_value(day, ad_id, "spend", "1,5")`` (one ad-level row sends a field in a form its type
does not take). Data: ``demo_data(world)`` or ``synthetic_data(accounts, ads_per_account, days, start)``; any
object following ``MetaData`` works.
"""

from sources.meta_ads.emulator.data import MetaData, StaticData
from sources.meta_ads.emulator.demo import demo_data
from sources.meta_ads.emulator.errors import GraphError
from sources.meta_ads.emulator.faults import Fault, Faults
from sources.meta_ads.emulator.latency import Latency
from sources.meta_ads.emulator.server import GraphEmulator
from sources.meta_ads.emulator.synthetic import SyntheticData, synthetic_data

__all__ = [
    "Fault",
    "Faults",
    "GraphEmulator",
    "GraphError",
    "Latency",
    "MetaData",
    "StaticData",
    "SyntheticData",
    "demo_data",
    "synthetic_data",
]
