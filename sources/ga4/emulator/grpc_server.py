"""The emulator over gRPC: an in-process ``grpcio`` server on 127.0.0.1 in front of the same ``DataApp``.

Production talks gRPC, the REST tests talk JSON: this server lets the same tests run over the SDK's gRPC
transport. Each call is turned into the JSON request the REST transport would send (camelCase, int64 as strings,
int enums), answered by ``DataApp.handle`` (faults, quota, request log included) and turned back into the proto
response (report rows by the protobuf constructors, ``proto_response``: the emulator's side must not outweigh the
client's binary parse it is there to measure); an error answers with the gRPC status named in the error body
(``RESOURCE_EXHAUSTED``, ``UNAUTHENTICATED`` ...), as Google's front end maps them. Method paths and message types
are the SDK's (``BetaAnalyticsDataGrpcTransport`` / ``AnalyticsAdminServiceGrpcTransport`` stubs).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from google.analytics.admin_v1beta import types as admin_types
from google.analytics.data_v1beta import types as data_types

DATA_SERVICE = "google.analytics.data.v1beta.BetaAnalyticsData"
ADMIN_SERVICE = "google.analytics.admin.v1beta.AnalyticsAdminService"
_QUERY = "?$alt=json;enum-encoding=int"
# HTTP status of an answer without a gRPC status name (a proxy's HTML page) -> the code gRPC clients see
_HTTP_TO_GRPC = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE",
                 504: "DEADLINE_EXCEEDED"}  # fmt: skip


def _pid(resource: str) -> str:
    """``properties/123`` or ``properties/123/metadata`` -> ``123``."""
    return resource.split("/")[1] if resource.startswith("properties/") else resource


# method -> (request type, response type, HTTP verb, path of the REST route for a request)
_METHODS: dict[tuple[str, str], tuple[Any, Any, str, Callable[[Any], str]]] = {
    (DATA_SERVICE, "RunReport"): (
        data_types.RunReportRequest, data_types.RunReportResponse, "POST",
        lambda r: f"/v1beta/properties/{_pid(r.property)}:runReport",
    ),
    (DATA_SERVICE, "BatchRunReports"): (
        data_types.BatchRunReportsRequest, data_types.BatchRunReportsResponse, "POST",
        lambda r: f"/v1beta/properties/{_pid(r.property)}:batchRunReports",
    ),
    (DATA_SERVICE, "CheckCompatibility"): (
        data_types.CheckCompatibilityRequest, data_types.CheckCompatibilityResponse, "POST",
        lambda r: f"/v1beta/properties/{_pid(r.property)}:checkCompatibility",
    ),
    (DATA_SERVICE, "GetMetadata"): (
        data_types.GetMetadataRequest, data_types.Metadata, "GET",
        lambda r: f"/v1beta/properties/{_pid(r.name)}/metadata",
    ),
    (ADMIN_SERVICE, "GetProperty"): (
        admin_types.GetPropertyRequest, admin_types.Property, "GET",
        lambda r: f"/v1beta/properties/{_pid(r.name)}",
    ),
}  # fmt: skip


def _handler(app: Any, request_type: Any, response_type: Any, verb: str, path: Callable[[Any], str]) -> Any:
    def serve(request: Any, context: grpc.ServicerContext) -> Any:
        body = (
            b""
            if verb == "GET"
            else request_type.to_json(
                request, use_integers_for_enums=True, always_print_fields_with_no_presence=False
            ).encode()
        )
        status, payload = app.handle(verb, path(request) + _QUERY, body)
        if status == 200:
            return proto_response(response_type, payload)
        error = payload.get("error") or {}
        code = error.get("status") or _HTTP_TO_GRPC.get(status, "UNKNOWN")
        message = error.get("message") or f"Received http2 header with status: {status}"
        context.abort(getattr(grpc.StatusCode, code, grpc.StatusCode.UNKNOWN), message)

    return grpc.unary_unary_rpc_method_handler(
        serve, request_deserializer=request_type.deserialize, response_serializer=lambda m: m.SerializeToString()
    )


def _from_json(response_type: Any, payload: dict[str, Any]) -> Any:
    return response_type.pb(response_type.from_json(json.dumps(payload), ignore_unknown_fields=True))


def proto_response(response_type: Any, payload: dict[str, Any]) -> Any:
    """The (raw) protobuf message of ``response_type`` that the JSON ``payload`` (the REST answer) stands for, as the
    SDK's ``response_type.from_json(..., ignore_unknown_fields=True)`` reads it.

    A report's rows are most of a response, and ``json_format`` walks every value of them in Python (2,000 rows:
    ~0.1 s, the emulator's own cost dwarfing the client's binary parse). So the rows of ``RunReportResponse`` and
    of each ``BatchRunReportsResponse`` report are built by the protobuf constructors from their JSON shape
    (``{"dimensionValues": [{"value": ...}], "metricValues": [...]}``: ~20x faster), the rest by ``from_json``; rows of
    any other shape (a field the fast path does not know, a non-string value) take ``from_json`` whole."""
    batch = response_type is data_types.BatchRunReportsResponse
    if not batch and response_type is not data_types.RunReportResponse:
        return _from_json(response_type, payload)
    try:
        reports = (payload.get("reports") or []) if batch else [payload]
        heads = [{k: v for k, v in r.items() if k != "rows"} for r in reports]
        message = _from_json(response_type, {**payload, "reports": heads} if batch else heads[0])
        for out, report in zip(message.reports if batch else [message], reports, strict=True):
            out.rows.extend(_ROW(**_row_fields(row)) for row in report.get("rows") or [])
    except (AttributeError, KeyError, TypeError, ValueError):
        return _from_json(response_type, payload)
    return message


_ROW = data_types.Row.pb()
_ROW_FIELDS = {"dimensionValues": "dimension_values", "metricValues": "metric_values"}


def _row_fields(row: dict[str, Any]) -> dict[str, Any]:
    """A JSON row's fields by their protobuf names (KeyError for any other field)."""
    return {_ROW_FIELDS[k]: v for k, v in row.items()}


class GrpcFrontend:
    """Serves ``app`` over gRPC on 127.0.0.1 (a free port); ``endpoint`` is ``127.0.0.1:<port>`` once started."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        self.app, self.host, self.endpoint = app, host, ""
        self._server: grpc.Server | None = None

    def start(self) -> GrpcFrontend:
        if self._server is not None:
            return self
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        services: dict[str, dict[str, Any]] = {}
        for (service, method), spec in _METHODS.items():
            services.setdefault(service, {})[method] = _handler(self.app, *spec)
        for service, handlers in services.items():
            server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
        port = server.add_insecure_port(f"{self.host}:0")
        server.start()
        self._server, self.endpoint = server, f"{self.host}:{port}"
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace=None).wait(5)
