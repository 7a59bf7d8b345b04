"""The Google API clients of the GA4 source: Data API (reports) and Admin API (property time zone, currency).

gRPC by default (production), REST or gRPC for the emulator: an ``http://`` endpoint (REST) or a loopback
``127.0.0.1:<port>`` endpoint (gRPC, plain channel) is served anonymously; otherwise credentials come from secrets
(service-account info) or application default credentials.
"""

from __future__ import annotations

from typing import Any

from google.analytics.admin_v1beta import AnalyticsAdminServiceClient
from google.analytics.admin_v1beta.services.analytics_admin_service.transports import AnalyticsAdminServiceGrpcTransport
from google.analytics.data_v1beta import BetaAnalyticsDataClient
from google.analytics.data_v1beta.services.beta_analytics_data.transports import BetaAnalyticsDataGrpcTransport
from google.api_core.client_options import ClientOptions

LOOPBACK = ("127.0.0.1", "localhost")


def _loopback_grpc(api_endpoint: str | None, transport: str) -> bool:
    """A gRPC emulator on this machine: plain (insecure) channel, anonymous."""
    return transport == "grpc" and bool(api_endpoint) and api_endpoint.rsplit(":", 1)[0] in LOOPBACK


def _client_kwargs(
    api_endpoint: str | None, transport: str, credentials_info: dict[str, Any] | None, grpc_transport: Any
) -> dict:
    if _loopback_grpc(api_endpoint, transport):
        import grpc

        return {"transport": grpc_transport(channel=grpc.insecure_channel(api_endpoint))}
    kwargs: dict[str, Any] = {"transport": transport}
    if api_endpoint:
        kwargs["client_options"] = ClientOptions(api_endpoint=api_endpoint)
        if api_endpoint.startswith("http://"):
            from google.auth.credentials import AnonymousCredentials

            kwargs["credentials"] = AnonymousCredentials()
    if credentials_info and "credentials" not in kwargs:
        from google.oauth2 import service_account

        kwargs["credentials"] = service_account.Credentials.from_service_account_info(dict(credentials_info))
    return kwargs


def make_client(api_endpoint: str | None, transport: str, credentials_info: dict[str, Any] | None) -> Any:
    """The Data API client."""
    kwargs = _client_kwargs(api_endpoint, transport, credentials_info, BetaAnalyticsDataGrpcTransport)
    return BetaAnalyticsDataClient(**kwargs)


def make_admin_client(api_endpoint: str | None, transport: str, credentials_info: dict[str, Any] | None) -> Any:
    """The Admin API client; with an emulator endpoint it talks to the same emulator."""
    kwargs = _client_kwargs(api_endpoint, transport, credentials_info, AnalyticsAdminServiceGrpcTransport)
    return AnalyticsAdminServiceClient(**kwargs)
