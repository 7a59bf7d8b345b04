"""``GraphEmulator``: the Graph API emulator on 127.0.0.1 (stdlib ``ThreadingHTTPServer`` in a daemon thread)."""

from __future__ import annotations

import json
import traceback
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sources.clock import Clock
from sources.loopback_server import EmulatorHandler, LoopbackEmulator
from sources.meta_ads.emulator.data import MetaData
from sources.meta_ads.emulator.errors import GraphError
from sources.meta_ads.emulator.faults import Faults
from sources.meta_ads.emulator.graph import JSON_TYPE, GraphApp, Reply
from sources.meta_ads.emulator.latency import Latency


class _Handler(EmulatorHandler):
    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() in ("oauth", "bearer") and token:  # the Graph API takes the token from the header too
            params.setdefault("access_token", token)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.app.request_delay()  # the network and the API's own time (off unless request_latency is set)
        try:
            if body and "multipart/form-data" in (self.headers.get("Content-Type") or ""):
                raise GraphError(100, "(#100) File uploads are not supported by the emulator")
            if body:
                params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            reply = self.server.app.handle(method, url.path, params)
        except GraphError as err:
            reply = Reply(err.http_status, {"Content-Type": JSON_TYPE}, _json(err.body()))
        except Exception:  # an emulator bug: answer 500 and keep the traceback for the test to show
            self.server.errors.append(traceback.format_exc())
            err = GraphError(1, "Emulator internal error (see GraphEmulator.errors)", http_status=500)
            reply = Reply(500, {"Content-Type": JSON_TYPE}, _json(err.body()))
        payload = reply.body.encode("utf-8")
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read ``requests``
        pass


def _json(value: Any) -> str:
    return json.dumps(value)


class GraphEmulator(LoopbackEmulator):
    """A Graph API (Marketing API) emulator serving ``data``; a context manager (start on enter, stop on exit).

    ``job_latency`` (a ``Latency``): report runs take a drawn time on ``clock`` to complete instead of
    ``polls_to_complete`` polls; ``request_latency``: every HTTP request waits a drawn time before it is answered.
    Both are off by default; ``clock`` (monotonic time and sleep unless given) lets tests move time by hand."""

    handler = _Handler
    thread_name = "graph-emulator"

    def __init__(
        self,
        data: MetaData,
        access_token: str = "demo-token",
        host: str = "127.0.0.1",
        port: int = 0,
        polls_to_complete: int = 2,
        job_latency: Latency | None = None,
        request_latency: Latency | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.data, self.access_token = data, access_token
        app = GraphApp(data, access_token, polls_to_complete, lambda: self.url, job_latency, request_latency, clock)
        super().__init__(app, host, port)
        self.faults: Faults = self._app.faults
        self.requests: list[dict[str, Any]] = self._app.log  # method, path, params, status, time, account_id, batch

    def sdk_api(self, api_version: str = "v26.0") -> Any:
        """The real ``facebook-business`` SDK pointed at this emulator (and made the SDK's default API)."""
        from facebook_business.api import FacebookAdsApi

        api = FacebookAdsApi.init(access_token=self.access_token, api_version=api_version, crash_log=False)
        api._session.GRAPH = self.url  # URLs become {emu.url}/v26.0/...
        return api

    @property
    def polls_to_complete(self) -> int:
        return self._app.polls_to_complete

    @polls_to_complete.setter
    def polls_to_complete(self, value: int) -> None:
        self._app.polls_to_complete = value

    @property
    def job_latency(self) -> Latency | None:
        return self._app.job_latency

    @job_latency.setter
    def job_latency(self, value: Latency | None) -> None:
        self._app.job_latency = value

    @property
    def request_latency(self) -> Latency | None:
        return self._app.request_latency

    @request_latency.setter
    def request_latency(self, value: Latency | None) -> None:
        self._app.request_latency = value

    # --- report runs in flight -------------------------------------------------------------------------
    def report_runs(self) -> list[tuple[float, float | None]]:
        """(start, end) of every report run on the emulator's clock, in submission order; end None: running (or
        never ending). With a job latency, end is start + the run's drawn duration."""
        return self._app.report_runs()

    def running_report_runs(self) -> int:
        """Report runs running now (submitted, not yet completed or failed, on the emulator's clock)."""
        return self._app.running_report_runs()

    def peak_running_report_runs(self) -> int:
        """The most report runs running at the same moment since the emulator started."""
        return self._app.peak_running_report_runs()

    # --- upstream changes ----------------------------------------------------------------------------
    def restate(self, date: str, account_id: str | None = None, factor: float = 1.5) -> None:
        """From now on, that day's conversions and conversion values (not clicks) are scaled by ``factor``."""
        self._app.store.restate(date, account_id, factor)

    def drop_rows(self, date: str, ad_ids: list[str]) -> None:
        """From now on, those ads' rows for that day are gone upstream."""
        self._app.store.drop_rows(date, ad_ids)

    def add_insight_field(self, name: str, value: str) -> None:
        """From now on, every insight row carries ``name`` (whatever fields were asked for)."""
        self._app.store.add_insight_field(name, value)

    def send_value(self, date: str, ad_id: str, name: str, value: str) -> None:
        """From now on, that ad's insight row of that day (ad level, every breakdown) sends ``name`` exactly as
        ``value``: a drifted value such as ``"spend": "1,5"`` (a decimal comma where the API sends ``"1.5"``)."""
        self._app.store.send_value(date, ad_id, name, value)
