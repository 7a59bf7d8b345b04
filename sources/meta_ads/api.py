"""The facebook-business SDK session, with retries and the usage governor on every call.

``GovernedApi`` subclasses the SDK's ``FacebookAdsApi`` and wraps its one entry point, ``call()``: so every
request the SDK makes (node reads, cursor pages, async report runs, batches) reads the usage headers, waits
out pauses and rate limits, retries transient errors (non-JSON bodies included) with exponential backoff
within the run's retry budget, and turns permanent errors into one clear message.
"""

from __future__ import annotations

from typing import Any

import requests
from facebook_business.api import FacebookAdsApi, FacebookSession
from facebook_business.exceptions import FacebookRequestError

from sources.meta_ads.errors import (
    MetaApiError,
    NonJsonResponse,
    ReduceDataError,
    RetryBudgetExhausted,
    describe,
    is_rate_limit,
    is_reduce_data,
    is_transient,
    permanent_message,
    require_json,
    where,
)
from sources.meta_ads.retry import RetryPolicy
from sources.meta_ads.usage import UsageGovernor

__all__ = ["GovernedApi", "MetaApiError", "ReduceDataError", "RetryBudgetExhausted", "RetryPolicy", "make_api"]


class GovernedApi(FacebookAdsApi):
    """FacebookAdsApi with usage-aware pacing, retries within the run's budget and clear permanent errors."""

    governor: UsageGovernor
    retry: RetryPolicy
    retries: int = 0

    def call(self, method: str, path: Any, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        at, attempt = where(path), 0
        while True:
            self.governor.before_call()
            try:
                response = super().call(method, path, params, *args, **kwargs)
            except FacebookRequestError as err:
                self.governor.observe(err.http_headers(), at)
                if is_reduce_data(err, method, path):
                    raise ReduceDataError(err.api_error_message()) from err
                if is_rate_limit(err):  # waited out as long as the budget allows, however often it comes
                    self.retries += 1
                    self.governor.rate_limited(err.http_headers(), at, describe(err))
                    continue
                if not is_transient(err):
                    raise MetaApiError(permanent_message(err, at), err.api_error_code(),
                                       err.api_error_subcode()) from err  # fmt: skip
                last = describe(err)
            except NonJsonResponse as err:
                last = str(err)
            except (requests.ConnectionError, requests.Timeout) as err:
                last = f"{type(err).__name__}: {err}"
            else:
                self.governor.observe(response.headers(), at)
                self.governor.succeeded(at)
                return response
            attempt += 1
            if attempt >= self.retry.attempts:
                raise MetaApiError(
                    f"Meta Ads {at}: still failing after {attempt} tries; last error: {last}. A transient "
                    "failure of the API or of the network: run again later"
                )
            self.retries += 1
            self.governor.budget.wait(self.retry.delay(attempt - 1), at, last)


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
    session.requests.hooks["response"].append(require_json)  # an HTML error page is transient, not a TypeError
    api = GovernedApi(session, api_version)
    api.governor, api.retry = governor, retry or RetryPolicy()
    return api
