"""The facebook-business SDK session, with retries and the usage governor on every call.

``GovernedApi`` subclasses the SDK's ``FacebookAdsApi`` and wraps its one entry point, ``call()``: so every
request the SDK makes (node reads, cursor pages, async report runs, batches) reads the usage headers, waits
out pauses and rate limits, retries transient errors (non-JSON bodies included) with exponential backoff
within the run's retry budget, and turns permanent errors into one clear message. The retrying is tenacity's: its
``stop``/``wait`` are ``RetryPolicy``'s, its ``sleep`` is the retry budget's (on the run's injectable clock).
"""

from __future__ import annotations

from typing import Any

import requests
from facebook_business.api import FacebookAdsApi, FacebookSession
from facebook_business.exceptions import FacebookRequestError
from tenacity import RetryCallState, Retrying, retry_if_exception

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
        at = where(path)
        failed = _Failures()

        def attempt() -> Any:
            self.governor.before_call()
            try:
                response = super(GovernedApi, self).call(method, path, params, *args, **kwargs)
            except FacebookRequestError as err:
                self.governor.observe(err.http_headers(), at)
                if is_reduce_data(err, method, path):
                    raise ReduceDataError(err.api_error_message()) from err
                if is_rate_limit(err):  # waited out as long as the budget allows, however often it comes
                    self.retries += 1
                    self.governor.rate_limited(err.http_headers(), at, describe(err))
                    raise _Retry(describe(err), rate_limit=True) from err
                if not is_transient(err):
                    raise MetaApiError(permanent_message(err, at), err.api_error_code(),
                                       err.api_error_subcode()) from err  # fmt: skip
                raise _Retry(describe(err)) from err
            except NonJsonResponse as err:
                raise _Retry(str(err)) from err
            except (requests.ConnectionError, requests.Timeout) as err:
                raise _Retry(f"{type(err).__name__}: {err}") from err
            self.governor.observe(response.headers(), at)
            self.governor.succeeded(at)
            return response

        def gave_up(state: RetryCallState) -> Any:
            raise MetaApiError(
                f"Meta Ads {at}: still failing after {failed.transient} tries; last error: {failed.last}. A transient "
                "failure of the API or of the network: run again later"
            )

        def before_sleep(state: RetryCallState) -> None:
            if not failed.rate_limit:
                self.retries += 1

        def sleep(seconds: float) -> None:  # a transient error's backoff comes out of the run's retry budget
            if not failed.rate_limit:  # (a rate limit was waited out by the governor already)
                self.governor.budget.wait(seconds, at, failed.last)

        retrying = Retrying(
            retry=retry_if_exception(failed.count),
            stop=lambda state: not failed.rate_limit and failed.transient >= self.retry.attempts,
            wait=lambda state: 0.0 if failed.rate_limit else self.retry.delay(failed.transient - 1),
            sleep=sleep,
            before_sleep=before_sleep,
            retry_error_callback=gave_up,
        )
        return retrying(attempt)


class _Retry(Exception):
    """A try that failed in a way worth another: a rate limit (the governor waits it out; it is not counted as a
    try) or a transient error (counted; backoff within the run's retry budget)."""

    def __init__(self, last: str, rate_limit: bool = False) -> None:
        super().__init__(last)
        self.last, self.rate_limit = last, rate_limit


class _Failures:
    """What the failed tries of one call were: tenacity's hooks read it."""

    def __init__(self) -> None:
        self.transient, self.rate_limit, self.last = 0, False, ""

    def count(self, error: BaseException) -> bool:
        """Whether a try that raised ``error`` is worth another; counts it (tenacity asks this first, once per try,
        before its ``wait`` and ``stop``)."""
        if not isinstance(error, _Retry):
            return False
        self.rate_limit = error.rate_limit
        if not error.rate_limit:
            self.transient, self.last = self.transient + 1, error.last
        return True


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
