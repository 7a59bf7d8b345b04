"""``DataApiEmulator``: GA4 Data API v1beta over REST on 127.0.0.1 (stdlib ``ThreadingHTTPServer``, daemon thread)."""

from __future__ import annotations

import json
import re
import threading
import time
import traceback
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from sources.ga4.emulator import errors, fixtures, reports
from sources.ga4.emulator.data import Ga4Data
from sources.ga4.emulator.errors import ApiError
from sources.ga4.emulator.faults import QUOTA_KINDS, Faults
from sources.ga4.emulator.grpc_server import GrpcFrontend
from sources.ga4.emulator.quota import Quota, report_cost
from sources.ga4.emulator.schema import COMPATIBILITY, DIMENSIONS, METRIC_TYPES, METRICS, is_compatible
from sources.loopback_server import EmulatorHandler, LoopbackEmulator

# Data API routes, and the Admin API's GetProperty (GET /v1beta/properties/{id}) on the same port
_ROUTE = re.compile(r"^/v1beta/properties/(?P<pid>[^/:]+)(?::(?P<verb>\w+)|/(?P<sub>metadata))?$")
MAX_BATCH = 5


class DataApp:
    """Routing, faults, quota and the request log; thread-safe (one lock around shared state)."""

    def __init__(self, data: Ga4Data, today: date) -> None:
        self.data, self.today = data, today
        self.faults = Faults()
        self.quota = Quota()
        self.log: list[dict[str, Any]] = []
        self.factors: dict[tuple[str, str], float] = {}  # (property, YYYYMMDD) -> restatement factor
        self._facts: dict[str, reports.Facts] = {}
        self._cache: dict[str, tuple[list[str], list[reports.Row]]] = {}
        self._lock = threading.RLock()

    # --- entry point ---------------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        url = urlsplit(raw_path)
        path = unquote(url.path)
        ints = "enum-encoding=int" in unquote(url.query)
        entry: dict[str, Any] = {"method": method, "path": path, "query": unquote(url.query), "time": time.time()}
        entry.update(property_id=None, endpoint=None, body=None, status=0)
        status, payload = 500, {}
        try:
            decoded = json.loads(body.decode("utf-8")) if body else {}
            entry["body"] = decoded
            m = _ROUTE.match(path)
            if not m:
                raise ApiError(404, "NOT_FOUND", f"The requested URL {path} was not found on this server.")
            pid, endpoint = m["pid"], m["verb"] or m["sub"] or "getProperty"
            entry.update(property_id=pid, endpoint=endpoint)
            status, payload = 200, self._dispatch(method, pid, endpoint, decoded, ints)
        except ApiError as err:
            status, payload = err.http_status, {"html": err.html} if err.html else err.body()
        except json.JSONDecodeError as err:
            status, payload = 400, errors.invalid(f"Invalid JSON payload received. {err}").body()
        if status >= 500:
            with self._lock:
                self.quota.server_errors += 1
        entry["status"] = status
        with self._lock:
            self.log.append(entry)
        return status, payload

    def _dispatch(self, method: str, pid: str, endpoint: str, body: dict[str, Any], ints: bool) -> dict[str, Any]:
        expected = "GET" if endpoint in ("metadata", "getProperty") else "POST"
        if endpoint not in ("runReport", "batchRunReports", "checkCompatibility", "metadata", "getProperty"):
            raise ApiError(501, "UNIMPLEMENTED", f"{endpoint} is not implemented by the emulator.")
        if method != expected:
            raise ApiError(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed on {endpoint}.")
        if endpoint == "metadata" and pid == "0":
            return self._metadata(pid, ints)
        if pid not in self.data.properties:
            raise errors.permission_denied()
        self._check_faults(pid, endpoint, body)
        if endpoint == "getProperty":
            return self._property(pid)
        if endpoint == "metadata":
            return self._metadata(pid, ints)
        if endpoint == "checkCompatibility":
            return self._check_compatibility(pid, body, ints)
        with self._lock:
            self.quota.usage(pid).in_flight += 1
        try:
            if endpoint == "runReport":
                return self._run_report(pid, body, ints)
            return self._batch_run_reports(pid, body, ints)
        finally:
            with self._lock:
                self.quota.usage(pid).in_flight -= 1

    def _check_faults(self, pid: str, endpoint: str, body: dict[str, Any]) -> None:
        if endpoint == "batchRunReports":
            reports = [r for r in body.get("requests") or [] if isinstance(r, dict)]
            rule = self.faults.take_batch(("error", "quota"), pid, body, reports)
        else:
            rule = self.faults.take(("error", "quota"), pid, endpoint, body)
        kind = None
        if rule is not None and rule.kind == "error":
            o = rule.options
            raise ApiError(o["http_status"], o["status"], o["message"], o.get("html"))
        if rule is not None:
            kind = rule.options["kind"]
            with self._lock:
                self.quota.usage(pid).exhausted.add(QUOTA_KINDS[kind][0])
        elif endpoint not in ("metadata", "getProperty"):
            with self._lock:
                kind = self.quota.exhausted_kind(pid)
        if kind is not None:
            raise ApiError(429, "RESOURCE_EXHAUSTED", QUOTA_KINDS[kind][1])

    # --- batchRunReports -----------------------------------------------------------------------------------
    def _batch_run_reports(self, pid: str, body: dict[str, Any], ints: bool) -> dict[str, Any]:
        """Up to 5 RunReportRequests for the property in the path, answered in request order, each charged its
        own tokens (https://developers.google.com/analytics/devguides/reporting/data/v1/rest/v1beta/properties/
        batchRunReports: "Each batch request is allowed up to 5 requests"; a request's property "may either be
        unspecified or consistent with" the batch's). The call fails as a whole: one invalid report answers 400
        for the batch. The documentation gives no error texts for these checks: the messages are the emulator's."""
        requests = body.get("requests") or []
        if not requests:
            raise errors.invalid("requests must contain at least one RunReportRequest.")
        if len(requests) > MAX_BATCH:
            raise errors.invalid(f"Requests are limited to {MAX_BATCH} reports per batch; got {len(requests)}.")
        for sub in requests:
            if sub.get("property") not in (None, "", f"properties/{pid}"):
                raise errors.invalid(
                    f"The property of each request ({sub.get('property')}) must be empty or match the batch's "
                    f"property (properties/{pid})."
                )
        for sub in requests:  # every report is valid before any runs (and is charged)
            reports.parse_request(sub, self.today, self.faults.incompatible_fields(pid), self._unregistered(pid))
        return {
            "reports": [self._run_report(pid, sub, ints) for sub in requests],
            "kind": "analyticsData#batchRunReports",
        }

    # --- runReport -----------------------------------------------------------------------------------------
    def _facts_of(self, pid: str) -> reports.Facts:
        with self._lock:
            if pid not in self._facts:
                self._facts[pid] = reports.build_facts(self.data.properties[pid])
            return self._facts[pid]

    def _unregistered(self, pid: str) -> set[str]:
        prop = self.data.properties.get(pid)
        registered = set(prop.custom_dimensions) if prop else set()
        return {d.api_name for d in DIMENSIONS.values() if d.custom and d.api_name not in registered}

    def _run_report(self, pid: str, body: dict[str, Any], ints: bool) -> dict[str, Any]:
        prop = self.data.properties[pid]
        req = reports.parse_request(body, self.today, self.faults.incompatible_fields(pid), self._unregistered(pid))
        replay = self.faults.take(("replay",), pid, "runReport", body)
        if replay is not None:
            response = fixtures.load(replay.options["fixture"])
            if replay.options.get("key"):
                response = response[replay.options["key"]]
            with self._lock:
                self.quota.charge(pid, report_cost(int(response.get("rowCount") or 0)))
            return response
        factors = {day: f for (p, day), f in self.factors.items() if p == pid}
        key_body = {k: v for k, v in body.items() if k not in ("offset", "limit", "returnPropertyQuota", "property")}
        key = json.dumps([pid, key_body, self.today.isoformat(), sorted(factors.items())], sort_keys=True)
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            cached = reports.run(req, self._facts_of(pid), factors)
            with self._lock:
                if len(self._cache) > 256:
                    self._cache.clear()
                self._cache[key] = cached
        headers, rows = cached
        metadata: dict[str, Any] = {"currencyCode": prop.currency, "timeZone": prop.time_zone}
        metadata.update(dataLossFromOtherRow=False, subjectToThresholding=False)
        other = self.faults.take(("other_row",), pid, "runReport")
        if other is not None:
            if not other.options.get("flag_only"):
                rows = reports.fold_other(rows, req.metrics, headers)
            metadata["dataLossFromOtherRow"] = True
        sampled = self.faults.take(("sampled",), pid, "runReport")
        if sampled:
            o = sampled.options
            metadata["samplingMetadatas"] = [
                {"samplesReadCount": str(o["samples_read"]), "samplingSpaceSize": str(o["space"])} for _ in req.ranges
            ]
        page = rows[req.offset : req.offset + req.limit]
        types = [METRICS[m].type for m in req.metrics]
        response: dict[str, Any] = {
            "dimensionHeaders": [{"name": h} for h in headers],
            "metricHeaders": [
                {"name": m, "type": METRIC_TYPES[t] if ints else t} for m, t in zip(req.metrics, types, strict=True)
            ],
        }
        if page:
            response["rows"] = [
                {
                    "dimensionValues": [{"value": v} for v in dims],
                    "metricValues": [
                        {"value": reports.format_value(vals[m], t)} for m, t in zip(req.metrics, types, strict=True)
                    ],
                }
                for dims, vals in page
            ]
        response["rowCount"] = len(rows)
        response["metadata"] = metadata
        cost = report_cost(len(rows))
        with self._lock:
            self.quota.charge(pid, cost)
            if req.return_quota:
                low = {}
                while rule := self.faults.take(("low_quota",), pid, "runReport"):
                    low[rule.options["bucket"]] = rule.options["pct"]
                    if rule.times is None:
                        break
                response["propertyQuota"] = self.quota.report(pid, cost, low)
                if self.faults.take(("partial_quota",), pid, "runReport"):
                    response["propertyQuota"] = fixtures.load("property_quota_partial")["propertyQuota"]
        response["kind"] = "analyticsData#runReport"
        return response

    # --- checkCompatibility / metadata ---------------------------------------------------------------------
    def _check_compatibility(self, pid: str, body: dict[str, Any], ints: bool) -> dict[str, Any]:
        dims = [d.get("name", "") for d in body.get("dimensions") or []]
        mets = [m.get("name", "") for m in body.get("metrics") or []]
        reports.check_registered(dims, self._unregistered(pid))
        forced = self.faults.incompatible_fields(pid)
        wanted = reports._enum(body.get("compatibilityFilter"), {1: "COMPATIBLE", 2: "INCOMPATIBLE"}, "")

        def verdict(name: str, is_dim: bool) -> int | str:
            others_d = [d for d in dims if d != name]
            others_m = [m for m in mets if m != name]
            ok = is_compatible(name, is_dim, others_d, others_m, forced)
            label = "COMPATIBLE" if ok else "INCOMPATIBLE"
            return COMPATIBILITY[label] if ints else label

        def keep(value: int | str) -> bool:
            return not wanted or value in (wanted, COMPATIBILITY[wanted])

        dim_names = [n for n in dict.fromkeys([*DIMENSIONS, *dims]) if n not in self._unregistered(pid)]
        met_names = list(dict.fromkeys([*METRICS, *mets]))
        out_d = [(n, verdict(n, True)) for n in dim_names]
        out_m = [(n, verdict(n, False)) for n in met_names]
        return {
            "dimensionCompatibilities": [
                {"dimensionMetadata": _dim_meta(n), "compatibility": c} for n, c in out_d if keep(c)
            ],
            "metricCompatibilities": [
                {"metricMetadata": _metric_meta(n, ints), "compatibility": c} for n, c in out_m if keep(c)
            ],
        }

    def _property(self, pid: str) -> dict[str, Any]:
        """Admin API GetProperty: the recorded Property shape (``fixtures/admin_property``) with this property's
        id, name, time zone and currency."""
        prop = self.data.properties[pid]
        fills = {"{id}": pid, "{display_name}": prop.display_name, "{time_zone}": prop.time_zone,
                 "{currency}": prop.currency}  # fmt: skip
        out = {}
        for key, value in fixtures.load("admin_property").items():
            for placeholder, filled in fills.items():
                value = value.replace(placeholder, filled)
            out[key] = value
        return out

    def _metadata(self, pid: str, ints: bool) -> dict[str, Any]:
        unregistered = self._unregistered(pid)
        return {
            "name": f"properties/{pid}/metadata",
            "dimensions": [_dim_meta(n) for n in DIMENSIONS if n not in unregistered],
            "metrics": [_metric_meta(n, ints) for n in METRICS],
        }


def _dim_meta(name: str) -> dict[str, Any]:
    d = DIMENSIONS.get(name)
    if d is None:
        return {"apiName": name}
    meta: dict[str, Any] = {"apiName": d.api_name, "uiName": d.ui_name, "description": d.description}
    if d.custom:
        meta["customDefinition"] = True
    meta["category"] = d.category
    return meta


def _metric_meta(name: str, ints: bool) -> dict[str, Any]:
    m = METRICS.get(name)
    if m is None:
        return {"apiName": name}
    return {
        "apiName": m.api_name,
        "uiName": m.ui_name,
        "description": m.description,
        "type": METRIC_TYPES[m.type] if ints else m.type,
        "category": m.category,
    }


# --- HTTP ------------------------------------------------------------------------------------------------


class _Handler(EmulatorHandler):
    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            status, payload = self.server.app.handle(method, self.path, body)
        except Exception:  # an emulator bug: answer 500 and keep the traceback for the test to show
            self.server.errors.append(traceback.format_exc())
            status, payload = 500, ApiError(500, "INTERNAL", "Emulator internal error (see .errors)").body()
        html = payload.get("html") if set(payload) == {"html"} else None
        data = html.encode("utf-8") if html else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=UTF-8" if html else "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read ``requests``
        pass


def _default_today(data: Ga4Data) -> date:
    """The day after the newest data day, so ``yesterday`` is the last day with data."""
    days = [row["date"] for prop in data.properties.values() for row in prop.traffic]
    if not days:
        return date.today()
    return datetime.strptime(max(days), "%Y%m%d").date() + timedelta(days=1)


class DataApiEmulator(LoopbackEmulator):
    handler = _Handler
    thread_name = "ga4-emulator"

    """A GA4 Data API (v1beta, REST) emulator serving ``data``; a context manager (start on enter, stop on exit)."""

    def __init__(
        self,
        data: Ga4Data,
        host: str = "127.0.0.1",
        port: int = 0,
        today: date | str | None = None,
        grpc: bool = False,
    ) -> None:
        self.data = data
        super().__init__(DataApp(data, _default_today(data)), host, port)
        # the same app over gRPC too (``grpc_endpoint``, ``127.0.0.1:<port>``), as production clients talk
        self._grpc = GrpcFrontend(self._app, host) if grpc else None
        if today is not None:
            self.today = today  # type: ignore[assignment]
        self.faults: Faults = self._app.faults
        self.requests: list[dict[str, Any]] = self._app.log  # method, path, query, property_id, endpoint, body, ...

    @property
    def grpc_endpoint(self) -> str:
        """``127.0.0.1:<port>`` of the gRPC frontend (emulators made with ``grpc=True``), once started."""
        if self._grpc is None:
            raise RuntimeError("this emulator serves REST only: create it with DataApiEmulator(..., grpc=True)")
        return self._grpc.endpoint

    def start(self) -> DataApiEmulator:
        super().start()
        if self._grpc is not None:
            self._grpc.start()
        return self

    def stop(self) -> None:
        if self._grpc is not None:
            self._grpc.stop()
        super().stop()

    @property
    def today(self) -> date:
        """The property's "today" for ``today`` / ``yesterday`` / ``NdaysAgo`` (default: the day after the data)."""
        return self._app.today

    @today.setter
    def today(self, value: date | str) -> None:
        self._app.today = date.fromisoformat(value) if isinstance(value, str) else value

    # --- upstream changes / quota ------------------------------------------------------------------------
    def restate(self, date: str, property_id: str | None = None, factor: float = 1.2) -> None:
        """Late data: from now on that day's metrics (all but ``ecommercePurchases``) are scaled by ``factor``.

        ``date`` is ``YYYY-MM-DD`` or ``YYYYMMDD``; ``property_id`` None = every property. Purchase rows keep
        their transactions; their revenue scales too. Restating the same day again replaces the factor.
        """
        day = date.replace("-", "")
        pids = [property_id] if property_id is not None else list(self.data.properties)
        with self._app._lock:
            for pid in pids:
                self._app.factors[(str(pid), day)] = factor

    def report_requests(self) -> list[dict[str, Any]]:
        """Every report asked for, in order: a ``runReport`` call as one entry, a ``batchRunReports`` call as one
        entry per report in it (``body`` is that report's RunReportRequest, ``batch`` the call's position in
        ``requests``; the other keys are the call's)."""
        out = []
        for i, call in enumerate(list(self.requests)):
            if call.get("endpoint") == "runReport":
                out.append({**call, "batch": None})
            elif call.get("endpoint") == "batchRunReports":
                subs = (call.get("body") or {}).get("requests") or []
                out += [{**call, "body": sub, "batch": i} for sub in subs if isinstance(sub, dict)]
        return out

    def reset_quota(self) -> None:
        """Fresh quota buckets (tokens, server errors, buckets emptied by quota faults)."""
        with self._app._lock:
            self._app.quota.reset()

    def quota_used(self, property_id: str) -> int:
        """Tokens charged to ``property_id`` since the last ``reset_quota()``."""
        return self._app.quota.usage(str(property_id)).tokens
