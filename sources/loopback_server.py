"""The HTTP plumbing every API emulator shares: a threaded server bound to 127.0.0.1 only, keep-alive
connections that are closed on stop, and a start/stop lifecycle usable as a context manager.

An emulator subclasses :class:`LoopbackEmulator` and :class:`EmulatorHandler` (adding its ``do_GET`` /
``do_POST``); the handler reaches the emulator's application as ``self.server.app``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

LOOPBACK = ("127.0.0.1", "localhost")


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    app: Any
    connections: set[socket.socket]
    errors: list[str]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-response; emulator bugs are caught (and kept) by the handlers


class EmulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: API clients reuse connections
    timeout = 60  # idle keep-alive connections close after a minute
    wbufsize = 1 << 16  # headers and body leave in one write (no Nagle / delayed-ACK stalls)
    server: EmulatorServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        super().finish()


class LoopbackEmulator:
    """Start/stop of an emulator's server in a daemon thread; ``url`` is set once started."""

    handler: type[EmulatorHandler]
    thread_name = "emulator"

    def __init__(self, app: Any, host: str, port: int) -> None:
        if host not in LOOPBACK:
            raise ValueError(f"{type(self).__name__} binds the loopback interface only, not {host!r}")
        self._app, self.host, self.port, self.url = app, host, port, ""
        self.errors: list[str] = []  # tracebacks of emulator bugs (answered with HTTP 500)
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is not None:
            return self
        server = EmulatorServer((self.host, self.port), self.handler)
        server.app, server.connections, server.errors = self._app, set(), self.errors
        self._server = server
        self.port = server.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        for conn in list(server.connections):  # close keep-alive connections too
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
