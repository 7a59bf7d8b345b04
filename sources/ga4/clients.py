"""The Google API clients of the GA4 source: Data API (reports) and Admin API (property time zone, currency).

gRPC by default (production), REST for the emulator; an ``http://`` endpoint is served anonymously; credentials
come from secrets (service-account info) or application default credentials.
"""

from __future__ import annotations

from typing import Any

from google.analytics.admin_v1beta import AnalyticsAdminServiceClient
from google.analytics.data_v1beta import BetaAnalyticsDataClient
from google.api_core.client_options import ClientOptions


def _client_kwargs(api_endpoint: str | None, transport: str, credentials_info: dict[str, Any] | None) -> dict:
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
    return BetaAnalyticsDataClient(**_client_kwargs(api_endpoint, transport, credentials_info))


def make_admin_client(api_endpoint: str | None, transport: str, credentials_info: dict[str, Any] | None) -> Any:
    """The Admin API client; with an emulator endpoint it talks to the same emulator."""
    return AnalyticsAdminServiceClient(**_client_kwargs(api_endpoint, transport, credentials_info))
