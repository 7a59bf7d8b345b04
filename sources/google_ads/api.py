"""The official ``google-ads`` client, one GAQL ``SearchStream`` at a time, with the run's retry rules.

- ``QUOTA_ERROR`` / gRPC ``RESOURCE_EXHAUSTED``: wait the ``retry_delay`` the error details announce (the
  client's exception interceptor leaves RESOURCE_EXHAUSTED as a gRPC error, which the service client's wrapper
  turns into google.api_core's ``ResourceExhausted``: the GoogleAdsFailure is read from its trailing metadata
  here), or 30 s doubling when none is given.
- ``INTERNAL`` / ``UNAVAILABLE`` / ``DEADLINE_EXCEEDED`` (also mid-stream): exponential backoff with jitter.
  A stream is read whole before its rows are used, so a retried query never yields rows twice.
- Every wait counts against one budget per run (``retry_budget_s``); when the next wait does not fit, the run
  stops with the last error.
- ``AUTHENTICATION_ERROR`` / ``AUTHORIZATION_ERROR`` and OAuth refresh failures stop the run at once with one
  message naming the customer id and the fix (``AuthStop``); account states (a cancelled customer) are
  ``AccountFailure``s the source reports as partial failures while the other accounts load.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import grpc
from google.ads.googleads.client import GoogleAdsClient
from google.ads.googleads.errors import GoogleAdsException
from google.api_core.exceptions import GoogleAPICallError
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from sources.clock import Clock
from sources.google_ads.settings import (
    ACCOUNT_STATE_ERRORS,
    API_VERSION,
    FIXES,
    QUOTA_MAX_WAIT_S,
    QUOTA_MIN_WAIT_S,
    TRANSIENT_STATUS,
)

_PLUGIN_FAILED = "Getting metadata from plugin failed"
FAILURE_KEY = f"google.ads.googleads.{API_VERSION}.errors.googleadsfailure-bin"


class AuthStop(RuntimeError):
    """Credentials or access are wrong: retrying cannot help. The message names the customer and the fix."""

    transient = False  # pipelines.errors: an orchestrator does not retry it


class AccountFailure(RuntimeError):
    """One account cannot be read (its state, or a permanent error of its query); the others still load."""

    def __init__(self, customer_id: str, code: str, message: str, request_id: str | None) -> None:
        self.customer_id, self.code, self.request_id = customer_id, code, request_id
        super().__init__(message)


class RetryBudgetExhausted(RuntimeError):
    """The run's waiting budget is used up."""

    transient = True  # a later run may get through


class _Retryable(Exception):
    def __init__(self, reason: str, wait_s: float | None, cause: BaseException) -> None:
        super().__init__(reason)
        self.reason, self.wait_s, self.cause = reason, wait_s, cause


@dataclass
class Failure:
    """What a failed call said: the gRPC status, the GoogleAdsFailure's first error (code name, enum name,
    message), the announced retry delay and the request id."""

    status: str
    kind: str | None = None  # error_code oneof: quota_error, authorization_error ...
    code: str | None = None  # its enum name: RESOURCE_EXHAUSTED, USER_PERMISSION_DENIED ...
    message: str = ""
    retry_delay_s: float | None = None
    request_id: str | None = None

    def describe(self) -> str:
        what = f"{self.kind.upper()}.{self.code}" if self.kind else self.status
        rid = f" (request id {self.request_id})" if self.request_id else ""
        return f"{what}: {self.message}{rid}".strip()


def failure_of(error: BaseException) -> Failure:
    """Read a client error: a GoogleAdsException (the interceptor parsed the failure) or a raw gRPC error whose
    trailing metadata may still carry a GoogleAdsFailure (RESOURCE_EXHAUSTED, INTERNAL)."""
    from google.ads.googleads.v26.errors.types.errors import GoogleAdsFailure

    if isinstance(error, GoogleAdsException):
        call, pb = error.error, error.failure
        pb = GoogleAdsFailure.pb(pb) if not hasattr(pb, "DESCRIPTOR") else pb
        status = call.code().name if call is not None and call.code() else "UNKNOWN"
        return _from_pb(status, pb, error.request_id)
    if isinstance(error, GoogleAPICallError):  # the service client's wrapper converts raw gRPC errors
        call = error.response if isinstance(error.response, grpc.RpcError) else None
        if call is None:
            status = error.grpc_status_code.name if error.grpc_status_code else "UNKNOWN"
            return Failure(status, message=error.message or "")
        error = call
    if isinstance(error, grpc.RpcError) and hasattr(error, "code"):
        status = error.code().name
        metadata = dict(error.trailing_metadata() or ())
        request_id = metadata.get("request-id")
        raw = metadata.get(FAILURE_KEY)
        if raw:
            pb = GoogleAdsFailure.pb()()
            pb.ParseFromString(raw)
            return _from_pb(status, pb, request_id)
        return Failure(status, message=error.details() or "", request_id=request_id)
    return Failure("UNKNOWN", message=str(error))


def _from_pb(status: str, pb: Any, request_id: str | None) -> Failure:
    if not pb.errors:
        return Failure(status, request_id=request_id)
    first = pb.errors[0]
    kind = first.error_code.WhichOneof("error_code")
    code = None
    if kind:
        value = getattr(first.error_code, kind)
        enum = first.error_code.DESCRIPTOR.fields_by_name[kind].enum_type
        code = enum.values_by_number[value].name if value in enum.values_by_number else str(value)
    delay = None
    if first.HasField("details") and first.details.HasField("quota_error_details"):
        rd = first.details.quota_error_details.retry_delay
        delay = rd.seconds + rd.nanos / 1e9
    return Failure(status, kind, code, first.message, delay, request_id or pb.request_id or None)


def make_client(
    developer_token: str,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    login_customer_id: str | None,
    endpoint: str | None,
    oauth_url: str,
) -> GoogleAdsClient:
    """The official client with installed-app OAuth credentials (protobuf messages, not proto-plus: faster)."""
    credentials = Credentials(
        token=None,
        refresh_token=refresh_token,
        client_id=client_id,
        client_secret=client_secret,
        token_uri=oauth_url,
    )
    return GoogleAdsClient(
        credentials=credentials,
        developer_token=developer_token,
        endpoint=endpoint,
        login_customer_id=login_customer_id,
        use_proto_plus=False,
        version=API_VERSION,
    )


class RetryBudget:
    """One waiting budget per run, shared by every query."""

    def __init__(self, total_s: float, clock: Clock) -> None:
        self.total_s, self.clock, self.spent_s = float(total_s), clock, 0.0


class Streamer:
    """Runs GAQL queries through ``GoogleAdsService.SearchStream`` with the retry rules above."""

    def __init__(self, client: GoogleAdsClient, budget: RetryBudget, base_backoff_s: float = 1.0) -> None:
        self.client, self.budget, self.base_backoff_s = client, budget, base_backoff_s
        self.service = client.get_service("GoogleAdsService")
        self.retries: list[str] = []  # what was retried, for the run summary and tests

    def rows(self, customer_id: str, gaql: str) -> list[Any]:
        """Every GoogleAdsRow of one query (the whole stream, retried as one)."""
        retrying = Retrying(
            retry=retry_if_exception_type(_Retryable),
            wait=self._wait,
            stop=self._stop,
            sleep=self.budget.clock.sleep,
            reraise=True,
        )
        try:
            return retrying(self._once, customer_id, gaql)
        except _Retryable as exc:
            raise RetryBudgetExhausted(
                f"customer {customer_id}: retry budget of {self.budget.total_s:g} s used up; last error "
                f"{exc.reason}. Run again later or raise sources.google_ads.retry_budget_s"
            ) from exc.cause

    def _once(self, customer_id: str, gaql: str) -> list[Any]:
        try:
            rows = []
            for batch in self.service.search_stream(customer_id=customer_id, query=gaql):
                rows.extend(batch.results)
            return rows
        except RefreshError as exc:
            reason = _oauth_reason(exc)
            raise AuthStop(
                f"google_ads customer {customer_id}: the OAuth refresh token was refused ({reason}): "
                f"{FIXES.get(reason, FIXES['invalid_grant'])}"
            ) from exc
        except (GoogleAdsException, GoogleAPICallError, grpc.RpcError) as exc:
            failure = failure_of(exc)
            if _PLUGIN_FAILED in failure.message:  # gRPC reports a failed OAuth refresh as UNAVAILABLE
                reason = next((r for r in ("invalid_grant", "invalid_client") if r in failure.message), "invalid_grant")
                raise AuthStop(
                    f"google_ads customer {customer_id}: the OAuth refresh was refused ({reason}): {FIXES[reason]}"
                ) from exc
            self._classify(customer_id, failure, exc)
            raise

    def _classify(self, customer_id: str, failure: Failure, exc: BaseException) -> None:
        if failure.kind == "quota_error" or failure.status == "RESOURCE_EXHAUSTED":
            raise _Retryable(failure.describe(), failure.retry_delay_s or -1.0, exc) from exc
        if failure.kind in ("authentication_error", "authorization_error") or failure.status in (
            "UNAUTHENTICATED",
            "PERMISSION_DENIED",
        ):
            if failure.code in ACCOUNT_STATE_ERRORS:
                raise AccountFailure(customer_id, f"{failure.kind}.{failure.code}", failure.describe(),
                                     failure.request_id) from exc  # fmt: skip
            fix = FIXES.get(failure.code or "", "check the developer token, OAuth credentials and login_customer_id")
            raise AuthStop(f"google_ads customer {customer_id}: {failure.describe()} — fix: {fix}") from exc
        if failure.status in TRANSIENT_STATUS or failure.kind == "internal_error":
            raise _Retryable(failure.describe(), None, exc) from exc
        code = f"{failure.kind}.{failure.code}" if failure.kind else failure.status
        raise AccountFailure(customer_id, code, failure.describe(), failure.request_id) from exc

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        hits = state.attempt_number
        if isinstance(error, _Retryable) and error.wait_s is not None:
            if error.wait_s > 0:
                return error.wait_s  # the announced retry delay
            return min(QUOTA_MAX_WAIT_S, QUOTA_MIN_WAIT_S * 2 ** (hits - 1)) * random.uniform(1.0, 1.25)
        return min(60.0, self.base_backoff_s * 2 ** (hits - 1)) * random.uniform(0.5, 1.0)

    def _stop(self, state: RetryCallState) -> bool:
        wait = state.upcoming_sleep
        if self.budget.spent_s + wait > self.budget.total_s:
            return True
        self.budget.spent_s += wait
        error = state.outcome.exception() if state.outcome else None
        self.retries.append(f"{getattr(error, 'reason', error)} -> retry in {wait:.1f} s")
        return False


def _oauth_reason(exc: RefreshError) -> str:
    for arg in exc.args:
        if isinstance(arg, dict) and arg.get("error"):
            return str(arg["error"])
        if isinstance(arg, str) and arg.split(":")[0] in FIXES:
            return arg.split(":")[0]
    return "invalid_grant"
