"""Loopback stand-ins for Google's endpoints, so the prod code paths run offline with the real clients.

- ``GoogleApiFake``: the OAuth token endpoint (a service account's ``token_uri``) and the BigQuery REST metadata
  calls dbt makes while compiling (``tables.get``: 404, or a table when ``existing_tables`` says so).
- ``gcs_emulator``: gcp-storage-emulator (the GCS JSON API) on 127.0.0.1; gcsfs finds it through
  ``STORAGE_EMULATOR_HOST``.
- ``service_account_info``: a syntactically real service-account key (fresh RSA key) pointing at the fake.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gcp_storage_emulator.server import create_server

from sources.loopback_server import EmulatorHandler, LoopbackEmulator

_TABLE = re.compile(r"^/bigquery/v2/projects/([^/]+)/datasets/([^/]+)/tables/([^/?]+)")


class _Handler(EmulatorHandler):
    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path.startswith("/token"):
            self.server.app.token_requests += 1
            self._send(200, {"access_token": "fake-access-token", "expires_in": 3600, "token_type": "Bearer"})
        else:
            self._send(404, {"error": {"code": 404, "message": f"no fake for POST {self.path}", "status": "NOT_FOUND"}})

    def do_GET(self) -> None:  # noqa: N802
        match = _TABLE.match(self.path)
        if match and (match.group(2), match.group(3)) in self.server.app.existing_tables:
            project, dataset, table = match.groups()
            self._send(
                200,
                {
                    "kind": "bigquery#table",
                    "id": f"{project}:{dataset}.{table}",
                    "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
                    "type": "TABLE",
                    "schema": {"fields": []},
                },
            )
            return
        self._send(404, {"error": {"code": 404, "message": f"Not found: {self.path}", "status": "NOT_FOUND"}})


class GoogleApiFake(LoopbackEmulator):
    """Token endpoint + BigQuery table metadata on 127.0.0.1."""

    handler = _Handler
    thread_name = "google-api-fake"

    def __init__(self, existing_tables: set[tuple[str, str]] | None = None) -> None:
        self.existing_tables = existing_tables or set()
        self.token_requests = 0
        super().__init__(self, "127.0.0.1", 0)


def service_account_info(project_id: str, token_uri: str, private_key_id: str = "k1") -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": private_key_id,
        "private_key": pem.decode(),
        "client_email": f"mdw-loader@{project_id}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gcs_emulator(bucket: str) -> Iterator[str]:
    """gcp-storage-emulator in memory with ``bucket``; yields its URL (for ``STORAGE_EMULATOR_HOST``)."""
    port = _free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=bucket)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
