"""One Data / Admin API call with the GA4 source's retry policy, and the errors that stop a run or a report.

- 429 RESOURCE_EXHAUSTED: the quota the message names decides. Daily tokens: stop the property for today.
  Hourly buckets (property tokens, tokens for a project, thresholded requests, server errors): pause the
  property until the next hour has begun (``HourlyQuotaPause``): the run commits what it fetched first and waits
  in its next round, so a long wait is safe to interrupt. Concurrent requests (and 429s no rule knows): back
  off, growing.
- 5xx (500, 502 — also an HTML page from a proxy —, 503, 504) and deadline exceeded: back off, growing, capped.
- Every wait comes out of one retry time budget per run (``sources.ga4.retry_budget_minutes``); a wait that would
  overrun it stops the property with the last error and what to do (complete days are kept).
- 401: the credentials were rejected; 403: the service account lacks access; 400: the report is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from google.analytics.data_v1beta.types import BatchRunReportsRequest
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_errors
from tenacity import Retrying, retry_if_exception_type, stop_never

from sources.ga4.quota import QuotaLedger, RunClock, quota_rule, seconds_to_next_hour
from sources.ga4.settings import CONCURRENT_BACKOFF_S, MAX_BATCH_REPORTS, SERVER_ERROR_BACKOFF_S


class Ga4ConfigError(ValueError):
    """A source, property or credential setting is wrong; the message names it and what to do. Stops the run."""


class ReportFailed(RuntimeError):
    """One report cannot run on one property (its required fields are invalid or incompatible): it fails alone."""


class StopFetching(RuntimeError):
    """Stop fetching this property cleanly: complete days are kept, the message says when and what to resume."""


class DailyQuotaExhausted(StopFetching):
    """The property's tokens for today are gone: resume after the quota resets."""


class RetryBudgetExhausted(StopFetching):
    """The run's retry time budget would be overrun by the next wait."""


class HourlyQuotaPause(StopFetching):
    """An hourly bucket of the property is used up: stop fetching it until ``resume_at`` (UTC), when it has
    refilled. The source records where to resume; the runner commits what was fetched, then runs it again."""

    def __init__(self, message: str, resume_at: datetime) -> None:
        super().__init__(message)
        self.resume_at = resume_at


class _Transient(Exception):
    """A try failed in a way worth another after a backoff (``backoff``: first and largest wait in seconds)."""

    def __init__(self, last: str, todo: str, backoff: tuple[float, float]) -> None:
        super().__init__(last)
        self.last, self.todo, self.backoff = last, todo, backoff


def _backoff(limits: tuple[float, float], attempt: int) -> float:
    first, largest = limits
    return min(largest, first * 2.0**attempt)


@dataclass
class Caller:
    """Runs requests for one source run; ``budget_s`` bounds the run's total time spent retrying."""

    client: Any
    ledger: QuotaLedger
    run_clock: RunClock
    budget_s: float
    service_account: str = "the application default credentials"
    budget_setting: str = "sources.ga4.retry_budget_minutes"
    paused: dict[str, datetime] = field(default_factory=dict)  # property -> when its hourly quota refills

    def run_report(self, report: str, property_id: str, request: Any) -> Any:
        response = self.call(self.client.run_report, request, property_id, f"report {report}")
        self.ledger.record(property_id, report, response.property_quota)
        return response

    def run_reports(self, report: str, property_id: str, requests: list[Any]) -> list[Any]:
        """The responses to ``requests`` (RunReportRequests of one property), in request order: one ``runReport``
        for a single request, else one ``batchRunReports`` call for up to five. The call succeeds or fails as a
        whole (one status), so every error is handled as for ``runReport``; each report's own ``propertyQuota``
        goes to the ledger (every report of a batch consumes its own tokens)."""
        if len(requests) == 1:
            return [self.run_report(report, property_id, requests[0])]
        if not 1 < len(requests) <= MAX_BATCH_REPORTS:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH_REPORTS} requests, not {len(requests)}")
        batch = BatchRunReportsRequest(property=f"properties/{property_id}", requests=requests)
        response = self.call(self.client.batch_run_reports, batch, property_id, f"report {report}")
        reports = list(response.reports)
        if len(reports) != len(requests):  # the API answers one report per request, in order
            raise ReportFailed(
                f"GA4 property {property_id}, report {report}: batchRunReports answered {len(reports)} reports "
                f"for {len(requests)} requests"
            )
        for one in reports:
            self.ledger.record(property_id, report, one.property_quota)
        return reports

    def call(self, method: Any, request: Any, property_id: str, label: str) -> Any:
        """One API call with quota-aware waits and retries of transient errors; clear errors otherwise.

        tenacity retries the transient ones (429 concurrent requests, 5xx, deadline exceeded) with a growing backoff
        and no limit of tries: its ``sleep`` is the run's, which checks the retry time budget and waits on the
        run's injectable clock (recorded in the quota ledger)."""
        failed: list[_Transient] = []

        def attempt() -> Any:
            try:
                return self._attempt(method, request, property_id, label)
            except _Transient as err:
                failed.append(err)
                raise

        def sleep(seconds: float) -> None:
            last = failed[-1]
            self._wait(seconds, property_id, label, last.last, last.todo)

        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            wait=lambda state: _backoff(failed[-1].backoff, state.attempt_number - 1),
            stop=stop_never,  # the retry time budget stops it (in ``sleep``)
            sleep=sleep,
            reraise=True,
        )
        return retrying(attempt)

    def _attempt(self, method: Any, request: Any, property_id: str, label: str) -> Any:
        """One try: the response, an error that ends the call, or :class:`_Transient` (worth another try)."""
        if property_id in self.paused:  # no request while the property's hourly quota is used up
            raise HourlyQuotaPause(
                f"GA4 property {property_id}, {label}: waiting for the hourly quota until "
                f"{self.paused[property_id]:%H:%M:%S} UTC",
                self.paused[property_id],
            )
        try:
            return method(request=request, retry=None)  # retries are ours: quota-aware, injectable clock
        except gexc.TooManyRequests as err:  # REST 429 and gRPC RESOURCE_EXHAUSTED alike
            rule = quota_rule(err.message)
            if rule and rule.refill == "day":
                raise DailyQuotaExhausted(
                    f"GA4 property {property_id}: the daily token quota is exhausted ({err.message!r}); complete "
                    "days are kept; run again after the quota resets (midnight Pacific time)"
                ) from err
            if rule and rule.refill == "hour":
                now = self.run_clock.utc_now()
                seconds = seconds_to_next_hour(now)
                todo = (
                    f"the hourly quota {rule.bucket} is used up (other clients of this property or project "
                    "share it): run again next hour, or spread the GA4 runs of this project over the day"
                )
                self._check_budget(seconds, property_id, label, f"429 {err.message}", todo)
                self.paused[property_id] = now + timedelta(seconds=seconds)
                raise HourlyQuotaPause(
                    f"GA4 property {property_id}, {label}: 429 {err.message} Waiting until "
                    f"{self.paused[property_id]:%H:%M:%S} UTC, when the hourly quota {rule.bucket} has refilled",
                    self.paused[property_id],
                ) from err
            todo = "too many requests at once on this property: run again, with fewer parallel clients"
            raise _Transient(f"429 {err.message}", todo, CONCURRENT_BACKOFF_S) from err
        except (gexc.ServerError, gexc.DeadlineExceeded) as err:
            todo = "the Data API keeps failing: run again later (see https://status.cloud.google.com)"
            raise _Transient(f"{err.code} {_first_line(err.message)}", todo, SERVER_ERROR_BACKOFF_S) from err
        except (gexc.Unauthorized, auth_errors.GoogleAuthError) as err:  # 401 / UNAUTHENTICATED / no token
            # (after a 401 the REST session refreshes the token once; a refresh that fails lands here too)
            raise Ga4ConfigError(
                f"GA4 property {property_id}: the credentials were rejected ({self.service_account}): check "
                "sources.ga4.credentials (or GOOGLE_APPLICATION_CREDENTIALS) holds a valid, enabled service "
                f"account key. Said: {getattr(err, 'message', None) or err}"
            ) from err
        except gexc.Forbidden as err:  # REST 403 / gRPC PERMISSION_DENIED
            raise Ga4ConfigError(
                f"GA4 property {property_id}: permission denied for {self.service_account}: add it as a "
                f"Viewer on the property (Admin > Property access management). API said: {err.message}"
            ) from err
        except gexc.BadRequest as err:  # REST 400 / gRPC INVALID_ARGUMENT
            raise ReportFailed(f"GA4 property {property_id}, {label}: {err.message}") from err

    def _wait(self, seconds: float, property_id: str, label: str, last: str, todo: str) -> None:
        self._check_budget(seconds, property_id, label, last, todo)
        self.ledger.wait(seconds, f"property {property_id}, {label}: {last}")

    def _check_budget(self, seconds: float, property_id: str, label: str, last: str, todo: str) -> None:
        spent = self.run_clock.budget_spent()
        if spent + seconds > self.budget_s:
            raise RetryBudgetExhausted(
                f"GA4 property {property_id}, {label}: gave up after {spent / 60:.0f} min of waits and retries: "
                f"waiting another {seconds / 60:.1f} min would overrun {self.budget_setting} = "
                f"{self.budget_s / 60:g}. Last error: {last}. Complete days are kept; {todo}"
            )


def _first_line(text: str | None) -> str:
    """An error message in one line (a proxy's HTML page: its title, not the markup)."""
    text = (text or "").strip()
    if "<title>" in text:
        return text.split("<title>", 1)[1].split("</title>", 1)[0]
    return text.splitlines()[0] if text else ""
