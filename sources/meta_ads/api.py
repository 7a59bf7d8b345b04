"""The facebook-business SDK session, with retries and the usage governor on every call.

``GovernedApi`` subclasses the SDK's ``FacebookAdsApi`` and wraps its one entry point, ``call()``: so every
request the SDK makes (node reads, cursor pages, async report runs, batches) reads the usage headers, waits
out pauses, retries transient errors with exponential backoff, and turns permanent errors into one clear
message.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import requests
from facebook_business.api import FacebookAdsApi, FacebookSession
from facebook_business.exceptions import FacebookRequestError

from sources.meta_ads.settings import PERMANENT_HINTS, REDUCE_DATA_MESSAGE, TRANSIENT_CODES
from sources.meta_ads.usage import UsageGovernor


class MetaApiError(RuntimeError):
    """A Meta API failure that retrying will not fix; the message says what to do."""

    def __init__(self, message: str, code: int | None = None, subcode: int | None = None) -> None:
        super().__init__(message)
        self.code, self.subcode = code, subcode


class ReduceDataError(RuntimeError):
    """The API asked for less data per request ("Please reduce the amount of data ...")."""


def is_reduce_data(err: FacebookRequestError) -> bool:
    return REDUCE_DATA_MESSAGE in (err.api_error_message() or "").lower()


def is_transient(err: FacebookRequestError) -> bool:
    code = err.api_error_code()
    return (err.http_status() or 0) >= 500 or code in TRANSIENT_CODES or bool(err.api_transient_error())


def permanent_message(err: FacebookRequestError, where: str) -> str:
    code, subcode = err.api_error_code(), err.api_error_subcode()
    hint = PERMANENT_HINTS.get(code, "see the error message")
    if code == 190 and subcode == 463:
        hint = "the access token has expired: " + PERMANENT_HINTS[190].split(": ", 1)[1]
    label = f"{code}" + (f"/{subcode}" if subcode else "")
    return f"Meta Ads {where}: error {label} '{err.api_error_message()}': {hint}"


@dataclass
class RetryPolicy:
    attempts: int = 6
    base_s: float = 1.0
    max_s: float = 60.0

    def delay(self, attempt: int) -> float:
        return min(self.max_s, self.base_s * 2**attempt) * (0.5 + random.random() / 2)


class GovernedApi(FacebookAdsApi):
    """FacebookAdsApi with usage-aware pacing, retries and clear permanent errors."""

    governor: UsageGovernor
    retry: RetryPolicy
    retries: int = 0

    def call(self, method: str, path: Any, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        attempt = 0
        while True:
            self.governor.before_call()
            try:
                response = super().call(method, path, params, *args, **kwargs)
            except FacebookRequestError as err:
                self.governor.observe(err.http_headers())
                if is_reduce_data(err):
                    raise ReduceDataError(err.api_error_message()) from err
                if not is_transient(err):
                    raise MetaApiError(permanent_message(err, _where(path)), err.api_error_code(),
                                       err.api_error_subcode()) from err  # fmt: skip
                if attempt + 1 >= self.retry.attempts:
                    raise
            except (requests.ConnectionError, requests.Timeout):
                if attempt + 1 >= self.retry.attempts:
                    raise
            else:
                self.governor.observe(response.headers())
                return response
            self.retries += 1
            self.governor.clock.sleep(self.retry.delay(attempt))
            attempt += 1


def _where(path: Any) -> str:
    parts = path if isinstance(path, str) else "/".join(map(str, path))
    node = next((p for p in str(parts).split("/") if p.startswith("act_")), None)
    return f"account {node}" if node else f"request {str(parts).split('?')[0][-60:]}"


def make_api(
    access_token: str,
    api_version: str,
    graph_url: str,
    governor: UsageGovernor,
    retry: RetryPolicy | None = None,
    app_id: str | None = None,
    app_secret: str | None = None,
    timeout: float = 120.0,
) -> GovernedApi:
    """A session of our own (not the SDK's global default), pointed at ``graph_url``."""
    session = FacebookSession(app_id, app_secret, access_token, timeout=timeout)
    session.GRAPH = graph_url.rstrip("/")
    # the SDK sends the token as a query parameter, so it would end up in every URL that proxies, access logs
    # and urllib3's debug log record: send it in the Authorization header instead (the Graph API accepts both)
    session.requests.params.pop("access_token", None)
    session.requests.headers["Authorization"] = f"OAuth {access_token}"
    adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=32)
    session.requests.mount("http://", adapter)
    session.requests.mount("https://", adapter)
    api = GovernedApi(session, api_version)
    api.governor, api.retry = governor, retry or RetryPolicy()
    return api
