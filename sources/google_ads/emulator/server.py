"""An in-process Google Ads API on 127.0.0.1 that the real ``google-ads`` client talks to.

- gRPC ``google.ads.googleads.v26.services.GoogleAdsService/SearchStream`` (and ``Search``), answered with the
  library's own message types (``GoogleAdsRow``, ``SearchGoogleAdsStreamResponse``, ``GoogleAdsFailure`` in the
  ``googleadsfailure-bin`` trailing metadata, as the client's exception interceptor reads it).
- The OAuth token endpoint (``POST /token``, plain HTTP on loopback) the client's credentials refresh against.
- The channel: the client builds a TLS channel to its ``endpoint`` through its transport class. For a loopback
  host only, ``LoopbackTransport`` (registered as the service's ``grpc`` transport) builds the same channel with
  gRPC's local credentials instead of TLS roots; the OAuth call credentials, the client's interceptors
  (developer-token / login-customer-id metadata, logging, exceptions) and the service client stay the real ones.
  Any other host goes through the library's transport unchanged.

Faults (``Fault``) are consumed by matching requests: quota errors with a retry delay, transient errors (also
mid-stream, after some rows), authentication / authorization errors, account states; ``AdsData.restate``
changes conversions after the fact.
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.parse
from collections import defaultdict
from concurrent import futures
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.ads.googleads.v26.errors.types.errors import GoogleAdsFailure
from google.ads.googleads.v26.services.services.google_ads_service.client import GoogleAdsServiceClient
from google.ads.googleads.v26.services.services.google_ads_service.transports.grpc import (
    GoogleAdsServiceGrpcTransport,
)
from google.ads.googleads.v26.services.types import google_ads_service as svc

from sources.google_ads.emulator.data import AdsData
from sources.google_ads.emulator.query import Gaql, GaqlError, parse

SERVICE = "google.ads.googleads.v26.services.GoogleAdsService"
FAILURE_KEY = "google.ads.googleads.v26.errors.googleadsfailure-bin"
STREAM_BATCH = 10_000  # SearchStream sends up to 10,000 rows per message
_ROW = svc.GoogleAdsRow.pb()
_STREAM_RESPONSE = svc.SearchGoogleAdsStreamResponse.pb()
_SEARCH_RESPONSE = svc.SearchGoogleAdsResponse.pb()
_FAILURE = GoogleAdsFailure.pb()

_EXHAUSTED = "Resource has been exhausted (e.g. check quota)."
_CID_DOC = "https://developers.google.com/google-ads/api/docs/concepts/call-structure#cid"
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


class LoopbackTransport(GoogleAdsServiceGrpcTransport):
    """The library's gRPC transport; for a loopback endpoint its channel uses gRPC local credentials (no TLS roots
    needed), composed with the client's OAuth call credentials as always."""

    @classmethod
    def create_channel(cls, host: str = "googleads.googleapis.com", credentials: Any = None, **kwargs: Any) -> Any:
        if host.rsplit(":", 1)[0] in _LOOPBACK:
            kwargs["ssl_credentials"] = grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)
        return super().create_channel(host, credentials=credentials, **kwargs)


GoogleAdsServiceClient._transport_registry["grpc"] = LoopbackTransport


@dataclass
class Fault:
    """One scripted failure for requests matching ``customer_id`` / ``resource`` (None: any), ``times`` times.

    kind: ``quota`` (RESOURCE_EXHAUSTED + QuotaError with ``retry_delay_s``), ``transient`` (gRPC ``status``
    without a failure, after ``after_rows`` rows of the stream), ``error`` (``status`` + GoogleAdsFailure
    ``error`` = (error_code field, enum name) and ``message``).
    """

    kind: str
    customer_id: str | None = None
    resource: str | None = None
    times: int = 1
    retry_delay_s: float | None = 5.0
    status: str = "UNAVAILABLE"
    after_rows: int = 0
    error: tuple[str, str] = ("internal_error", "INTERNAL_ERROR")
    message: str = "An internal error has occurred."

    def matches(self, customer_id: str, resource: str) -> bool:
        return self.times > 0 and self.customer_id in (None, customer_id) and self.resource in (None, resource)


class _Abort(Exception):
    def __init__(self, status: grpc.StatusCode, message: str, failure: Any | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.failure = status, message, failure


def failure(kind: str, code: str, message: str, retry_delay_s: float | None = None) -> Any:
    """A GoogleAdsFailure with one error (the library's own message type)."""
    pb = _FAILURE()
    error = pb.errors.add()
    enum = error.error_code.DESCRIPTOR.fields_by_name[kind].enum_type
    setattr(error.error_code, kind, enum.values_by_name[code].number)
    error.message = message
    if retry_delay_s is not None:
        details = error.details.quota_error_details
        details.rate_scope = details.QuotaRateScope.Value("ACCOUNT")
        details.rate_name = "Number of operations for basic access"
        details.retry_delay.seconds = int(retry_delay_s)
        details.retry_delay.nanos = int(round((retry_delay_s % 1) * 1e9))
    return pb


def set_field(row: Any, path: str, value: Any) -> None:
    parts = path.split(".")
    message = row
    for part in parts[:-1]:
        message = getattr(message, part)
    fields = message.DESCRIPTOR.fields_by_name
    fd = fields.get(parts[-1]) or fields[parts[-1] + "_"]  # the library names `type` etc. `type_`
    if fd.enum_type is not None and isinstance(value, str):
        value = fd.enum_type.values_by_name[value].number
    setattr(message, fd.name, value)


_METRICS = ("cost_micros", "impressions", "clicks", "conversions", "conversions_value", "all_conversions")
_FIELDS = {
    "customer": frozenset(
        f"customer.{f}"
        for f in ("id", "descriptive_name", "currency_code", "time_zone", "manager", "test_account", "status")
    ),
    "customer_client": frozenset(
        f"customer_client.{f}"
        for f in (
            "id",
            "client_customer",
            "descriptive_name",
            "manager",
            "level",
            "status",
            "currency_code",
            "time_zone",
            "hidden",
            "test_account",
        )  # fmt: skip
    ),
    "campaign": frozenset(
        [
            f"campaign.{f}"
            for f in ("id", "name", "status", "advertising_channel_type", "start_date_time", "end_date_time")
        ]  # fmt: skip
        + ["campaign_budget.amount_micros", "segments.date"]
        + [f"metrics.{m}" for m in _METRICS]
    ),
    "ad_group": frozenset(
        [f"ad_group.{f}" for f in ("id", "name", "status", "type")]
        + ["campaign.id", "campaign.name", "segments.date"]
        + [f"metrics.{m}" for m in _METRICS]
    ),
    "ad_group_ad": frozenset(
        [
            "ad_group_ad.ad.id",
            "ad_group_ad.ad.name",
            "ad_group_ad.ad.type",
            "ad_group_ad.status",
            "ad_group.id",
            "campaign.id",
        ]  # fmt: skip
    ),
}
_RESOURCE_NAMES = {
    "customer": ("customer.resource_name", "customers/{c}"),
    "customer_client": ("customer_client.resource_name", "customers/{c}/customerClients/{id}"),
    "campaign": ("campaign.resource_name", "customers/{c}/campaigns/{id}"),
    "ad_group": ("ad_group.resource_name", "customers/{c}/adGroups/{id}"),
    "ad_group_ad": ("ad_group_ad.resource_name", "customers/{c}/adGroupAds/{ag}~{id}"),
}


class GoogleAdsEmulator:
    """``with GoogleAdsEmulator(data) as emu: google_ads(**emu.source_kwargs(customer_ids=[...]))``."""

    def __init__(
        self,
        data: AdsData,
        *,
        developer_token: str | None = None,
        client_id: str = "emulator-client.apps.googleusercontent.com",
        client_secret: str | None = None,
        refresh_token: str | None = None,
        user_customers: set[str] | None = None,
    ) -> None:
        self.data = data
        self.developer_token = developer_token or "dev-" + secrets.token_hex(8)
        self.client_id = client_id
        self.client_secret = client_secret or "secret-" + secrets.token_hex(8)
        self.refresh_token = refresh_token or "1//refresh-" + secrets.token_hex(12)
        # what the OAuth user can open directly: the managers (their clients through login-customer-id)
        managers = {c for c, cust in data.customers.items() if cust.manager}
        self.user_customers = user_customers if user_customers is not None else (managers or set(data.customers))
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self.token_refreshes = 0
        self._tokens: set[str] = set()
        self._lock = threading.Lock()
        self._grpc: grpc.Server | None = None
        self._http: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> GoogleAdsEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _token_handler(self))
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handlers = {
            "SearchStream": grpc.unary_stream_rpc_method_handler(
                self._search_stream, request_deserializer=svc.SearchGoogleAdsStreamRequest.pb().FromString,
                response_serializer=_STREAM_RESPONSE.SerializeToString,
            ),
            "Search": grpc.unary_unary_rpc_method_handler(
                self._search, request_deserializer=svc.SearchGoogleAdsRequest.pb().FromString,
                response_serializer=_SEARCH_RESPONSE.SerializeToString,
            ),
        }  # fmt: skip
        self._grpc.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        port = self._grpc.add_secure_port(
            "127.0.0.1:0", grpc.local_server_credentials(grpc.LocalConnectionType.LOCAL_TCP)
        )
        self.port = port
        self._grpc.start()

    def stop(self) -> None:
        if self._grpc:
            self._grpc.stop(grace=None)
        if self._http:
            self._http.shutdown()
            self._http.server_close()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def oauth_url(self) -> str:
        assert self._http is not None
        return f"http://127.0.0.1:{self._http.server_address[1]}/token"

    def source_kwargs(self, **extra: Any) -> dict[str, Any]:
        """Arguments for ``google_ads(...)`` that point the real client at this emulator."""
        return {
            "developer_token": self.developer_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
            "endpoint": self.endpoint,
            "oauth_url": self.oauth_url,
            **extra,
        }

    # ------------------------------------------------------------------ OAuth
    def issue_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        # answers as documented for Google's OAuth 2.0 token endpoint (developers.google.com/identity/protocols/oauth2)
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token:
            return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
        token = "ya29.emulator-" + secrets.token_hex(16)
        with self._lock:
            self._tokens.add(token)
            self.token_refreshes += 1
        return 200, {"access_token": token, "expires_in": 3599, "scope": "https://www.googleapis.com/auth/adwords",
                     "token_type": "Bearer"}  # fmt: skip

    # ------------------------------------------------------------------ gRPC
    def _search_stream(self, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            rows, fault = self._answer(request.customer_id, request.query, context)
            if fault is not None:  # a transient error after ``after_rows`` rows (or after all, if fewer)
                head = rows[: fault.after_rows]
                for start in range(0, len(head), STREAM_BATCH):
                    yield _STREAM_RESPONSE(results=head[start : start + STREAM_BATCH], request_id=_request_id())
                self._abort_transient(fault)
            for start in range(0, max(len(rows), 1), STREAM_BATCH):
                yield _STREAM_RESPONSE(results=rows[start : start + STREAM_BATCH], request_id=_request_id())
        except _Abort as abort:
            _abort(context, abort)

    def _search(self, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            rows, fault = self._answer(request.customer_id, request.query, context)
            if fault is not None:
                self._abort_transient(fault)
            return _SEARCH_RESPONSE(results=rows, total_results_count=len(rows))
        except _Abort as abort:
            _abort(context, abort)

    def _abort_transient(self, fault: Fault) -> None:
        raise _Abort(grpc.StatusCode[fault.status], f"{fault.status.title()}: the service is unavailable, retry.")

    def _answer(self, customer_id: str, text: str, context: grpc.ServicerContext) -> tuple[list[Any], Fault | None]:
        metadata = dict(context.invocation_metadata())
        try:
            gaql = parse(text, _FIELDS)
        except GaqlError as exc:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Request contains an invalid argument.",
                         failure("query_error", exc.code, str(exc))) from exc  # fmt: skip
        with self._lock:
            self.requests.append({"customer_id": customer_id, "query": text, "resource": gaql.resource,
                                  "login_customer_id": metadata.get("login-customer-id")})  # fmt: skip
        self._check_access(customer_id, metadata)
        transient = None
        with self._lock:
            for fault in self.faults:
                if fault.matches(customer_id, gaql.resource):
                    fault.times -= 1
                    if fault.kind == "quota":
                        raise _Abort(grpc.StatusCode.RESOURCE_EXHAUSTED, _EXHAUSTED,
                                     failure("quota_error", "RESOURCE_TEMPORARILY_EXHAUSTED",
                                             f"Too many requests. Retry in {fault.retry_delay_s:g} seconds.",
                                             fault.retry_delay_s))  # fmt: skip
                    if fault.kind == "error":
                        raise _Abort(grpc.StatusCode[fault.status], fault.message,
                                     failure(fault.error[0], fault.error[1], fault.message))  # fmt: skip
                    transient = fault
                    break
        return self._rows(customer_id, gaql), transient

    def _check_access(self, customer_id: str, metadata: dict[str, str]) -> None:
        auth = metadata.get("authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self._tokens:
            raise _Abort(grpc.StatusCode.UNAUTHENTICATED, "Request is missing required authentication credential.",
                         failure("authentication_error", "OAUTH_TOKEN_INVALID",
                                 "Oauth token in the header is not valid."))  # fmt: skip
        if metadata.get("developer-token") != self.developer_token:
            raise _Abort(grpc.StatusCode.UNAUTHENTICATED, "Request is missing required authentication credential.",
                         failure("authentication_error", "DEVELOPER_TOKEN_INVALID",
                                 "The developer token is not valid."))  # fmt: skip
        login = metadata.get("login-customer-id")
        customer = self.data.customers.get(customer_id)
        reachable = customer_id in self.user_customers or (
            login in self.user_customers and (customer_id == login or customer_id in self.data.links.get(login, ()))
        )
        if customer is None or not reachable:
            raise _Abort(grpc.StatusCode.PERMISSION_DENIED, "The caller does not have permission",
                         failure("authorization_error", "USER_PERMISSION_DENIED",
                                 "User doesn't have permission to access customer. Note: If you're accessing a "
                                 "client customer, the manager's customer id must be set in the "
                                 "'login-customer-id' header. See "
                                 + _CID_DOC))  # fmt: skip
        if customer.status != "ENABLED":
            raise _Abort(grpc.StatusCode.PERMISSION_DENIED, "The caller does not have permission",
                         failure("authorization_error", "CUSTOMER_NOT_ENABLED",
                                 "The customer account can't be accessed because it is not yet enabled or has "
                                 "been deactivated."))  # fmt: skip

    # ------------------------------------------------------------------ rows
    def _rows(self, customer_id: str, gaql: Gaql) -> list[Any]:
        out = []
        for values, ids in self._contexts(customer_id, gaql):
            if not all(c.holds(values.get(c.field)) for c in gaql.conditions):
                continue
            row = _ROW()
            path, pattern = _RESOURCE_NAMES[gaql.resource]
            set_field(row, path, pattern.format(c=customer_id, **ids))
            for name in gaql.fields:
                value = values.get(name)
                if value is not None:
                    set_field(row, name, value)
            out.append(row)
            if gaql.limit and len(out) >= gaql.limit:
                break
        return out

    def _contexts(self, customer_id: str, gaql: Gaql) -> Any:
        d = self.data
        if gaql.resource == "customer":
            c = d.customers[customer_id]
            yield {"customer.id": int(c.customer_id), "customer.descriptive_name": c.name,
                   "customer.currency_code": c.currency_code, "customer.time_zone": c.time_zone,
                   "customer.manager": c.manager, "customer.test_account": c.test_account,
                   "customer.status": c.status}, {}  # fmt: skip
        elif gaql.resource == "customer_client":
            for level, cid in [(0, customer_id)] + [(1, c) for c in d.links.get(customer_id, ())]:
                c = d.customers[cid]
                yield {"customer_client.id": int(cid), "customer_client.client_customer": f"customers/{cid}",
                       "customer_client.descriptive_name": c.name, "customer_client.manager": c.manager,
                       "customer_client.level": level, "customer_client.status": c.status,
                       "customer_client.currency_code": c.currency_code, "customer_client.time_zone": c.time_zone,
                       "customer_client.hidden": False, "customer_client.test_account": c.test_account,
                       }, {"id": cid}  # fmt: skip
        elif gaql.resource == "ad_group_ad":
            for a in d.ads:
                if a.customer_id == customer_id:
                    yield {"ad_group_ad.ad.id": int(a.ad_id), "ad_group_ad.ad.name": a.name,
                           "ad_group_ad.ad.type": a.type, "ad_group_ad.status": a.status,
                           "ad_group.id": int(a.ad_group_id), "campaign.id": int(a.campaign_id),
                           }, {"id": a.ad_id, "ag": a.ad_group_id}  # fmt: skip
        elif "segments.date" in gaql.fields or any(c.field == "segments.date" for c in gaql.conditions):
            yield from self._metric_contexts(customer_id, gaql)
        elif gaql.resource == "campaign":
            for c in d.campaigns:
                if c.customer_id == customer_id:
                    yield _campaign_values(c), {"id": c.campaign_id}
        else:
            for g in d.ad_groups:
                if g.customer_id == customer_id:
                    yield _ad_group_values(g, {c.campaign_id: c for c in d.campaigns}), {"id": g.ad_group_id}

    def _metric_contexts(self, customer_id: str, gaql: Gaql) -> Any:
        window = next((c for c in gaql.conditions if c.field == "segments.date" and c.op == "BETWEEN"), None)
        if window is None:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Request contains an invalid argument.",
                         failure("query_error", "EXPECTED_FILTERS_ON_DATE_RANGE",
                                 "A finite date range is required with segments.date."))  # fmt: skip
        since, until = (date.fromisoformat(v) for v in window.values)
        campaigns = {c.campaign_id: c for c in self.data.campaigns if c.customer_id == customer_id}
        groups = {g.ad_group_id: g for g in self.data.ad_groups if g.customer_id == customer_id}
        day = since
        while day <= until:
            rows = self.data.days.get((customer_id, day), [])
            if gaql.resource == "campaign":
                sums: dict[str, list[float]] = defaultdict(lambda: [0] * len(_METRICS))
                for r in rows:
                    for i, m in enumerate(_METRICS):
                        sums[r.campaign_id][i] += getattr(r, m)
                for campaign_id in sorted(sums):
                    values = _campaign_values(campaigns[campaign_id])
                    values.update({f"metrics.{m}": v for m, v in zip(_METRICS, sums[campaign_id], strict=True)})
                    values["segments.date"] = day.isoformat()
                    yield values, {"id": campaign_id}
            else:
                for r in rows:
                    values = _ad_group_values(groups[r.ad_group_id], campaigns)
                    values.update({f"metrics.{m}": getattr(r, m) for m in _METRICS})
                    values["segments.date"] = day.isoformat()
                    yield values, {"id": r.ad_group_id}
            day += timedelta(days=1)


def _campaign_values(c: Any) -> dict[str, Any]:
    return {
        "campaign.id": int(c.campaign_id), "campaign.name": c.name, "campaign.status": c.status,
        "campaign.advertising_channel_type": c.channel_type,
        "campaign.start_date_time": f"{c.start.isoformat()} 00:00:00",
        "campaign.end_date_time": f"{c.end.isoformat()} 23:59:59" if c.end else None,
        "campaign_budget.amount_micros": c.budget_micros,
    }  # fmt: skip


def _ad_group_values(g: Any, campaigns: dict[str, Any]) -> dict[str, Any]:
    return {
        "ad_group.id": int(g.ad_group_id), "ad_group.name": g.name, "ad_group.status": g.status,
        "ad_group.type": g.type, "campaign.id": int(g.campaign_id),
        "campaign.name": campaigns[g.campaign_id].name if g.campaign_id in campaigns else None,
    }  # fmt: skip


def _request_id() -> str:
    return secrets.token_urlsafe(16)[:22]


def _abort(context: grpc.ServicerContext, abort: _Abort) -> None:
    metadata = [("request-id", _request_id())]
    if abort.failure is not None:
        abort.failure.request_id = metadata[0][1]
        metadata.append((FAILURE_KEY, abort.failure.SerializeToString()))
    context.set_trailing_metadata(metadata)
    context.abort(abort.status, abort.message)


def _token_handler(emulator: GoogleAdsEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            status, body = emulator.issue_token(form) if self.path == "/token" else (404, {"error": "not_found"})
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
