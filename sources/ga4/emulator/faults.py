"""Scriptable faults. Every method returns the rule, whose ``hits`` counts its firings; ``times=None`` = always.

Rules match by optional ``property_id``, ``endpoint`` (runReport | batchRunReports | checkCompatibility |
metadata | getProperty) and ``when`` (a test on the decoded request body, e.g. ``lambda b: b.get("offset")``),
let ``after`` matching requests through, and fire in the order they were added (the first matching rule with
shots left fires). A ``batchRunReports`` call is one request to a rule for ``batchRunReports``; to every other
rule (``runReport`` or any endpoint) each of its reports is one ``runReport`` request, seen in order, and the
first error or quota rule that fires fails the whole call (the API answers a batch with one status).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sources.ga4.emulator import fixtures

_QUOTA_BUCKETS = {
    "tokens_per_day": "tokensPerDay",
    "tokens_per_hour": "tokensPerHour",
    "tokens_per_project_per_hour": "tokensPerProjectPerHour",
    "concurrent": "concurrentRequests",
    "thresholded": "potentiallyThresholdedRequestsPerHour",
    "server_errors": "serverErrorsPerProjectPerHour",
}
# quota kind -> (propertyQuota bucket, the Data API's RESOURCE_EXHAUSTED message, from fixtures/quota_errors)
QUOTA_KINDS = {
    kind: (bucket, fixtures.load("quota_errors")[kind]["error"]["message"]) for kind, bucket in _QUOTA_BUCKETS.items()
}
BUCKETS = {bucket: kind for kind, (bucket, _) in QUOTA_KINDS.items()}


def bucket_name(name: str) -> str:
    """``tokens_per_day`` or ``tokensPerDay`` -> ``tokensPerDay``."""
    if name in BUCKETS:
        return name
    if name in QUOTA_KINDS:
        return QUOTA_KINDS[name][0]
    raise ValueError(f"unknown quota bucket {name!r}; one of {sorted(QUOTA_KINDS)} or {sorted(BUCKETS)}")


@dataclass
class Fault:
    kind: str  # error | quota | low_quota | partial_quota | sampled | other_row | incompatible | replay
    times: int | None
    property_id: str | None = None
    endpoint: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    hits: int = 0
    after: int = 0  # matching requests let through before the rule first fires
    passed: int = 0
    when: Callable[[dict[str, Any]], bool] | None = None  # a test on the decoded request body

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(
        self,
        kinds: tuple[str, ...],
        property_id: str | None,
        endpoint: str | None,
        body: dict[str, Any] | None,
        named_only: bool = False,
    ) -> bool:
        if self.kind not in kinds or self.exhausted or (named_only and self.endpoint != endpoint):
            return False
        if self.endpoint is not None and self.endpoint != endpoint:
            return False
        if self.property_id is not None and str(self.property_id) != property_id:
            return False
        return self.when is None or bool(self.when(body or {}))  # asked only of the requests the rule is for


class Faults:
    def __init__(self) -> None:
        self._rules: list[Fault] = []
        self._lock = threading.Lock()

    # --- scripting (tests) --------------------------------------------------------------------------------
    def quota(
        self,
        kind: str,
        times: int | None = 1,
        property_id: str | None = None,
        endpoint: str | None = None,
        after: int = 0,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Fault:
        """429 RESOURCE_EXHAUSTED with the real message (``fixtures/quota_errors``); afterwards that bucket shows
        ``remaining: 0``. ``after``: let that many matching requests through first (e.g. page 2 of a day)."""
        if kind not in QUOTA_KINDS:
            raise ValueError(f"unknown quota kind {kind!r}; one of {sorted(QUOTA_KINDS)}")
        return self._add(Fault("quota", times, property_id, endpoint, {"kind": kind}, after=after, when=when))

    def partial_quota(self, times: int | None = None, property_id: str | None = None) -> Fault:
        """``propertyQuota`` carries only the buckets of ``fixtures/property_quota_partial`` (others absent)."""
        return self._add(Fault("partial_quota", times, property_id, "runReport"))

    def replay(
        self,
        fixture: str,
        times: int | None = None,
        property_id: str | None = None,
        when: Callable[[dict[str, Any]], bool] | None = None,
        key: str | None = None,
    ) -> Fault:
        """Answer runReport with the recorded-shape body ``fixtures/<fixture>.jsonc`` (its entry ``key`` when the
        fixture holds several responses); the quota is still charged."""
        if fixture not in fixtures.names():
            raise ValueError(f"unknown fixture {fixture!r}; one of {fixtures.names()}")
        options = {"fixture": fixture, "key": key}
        return self._add(Fault("replay", times, property_id, "runReport", options, when=when))

    def low_quota(
        self, bucket: str, remaining_pct: float = 5, times: int | None = None, property_id: str | None = None
    ) -> Fault:
        """``propertyQuota`` shows ``bucket`` with only ``remaining_pct`` % left (requests still succeed)."""
        return self._add(
            Fault("low_quota", times, property_id, None, {"bucket": bucket_name(bucket), "pct": remaining_pct})
        )

    def error(
        self,
        http_status: int,
        status: str,
        message: str | None = None,
        times: int | None = 1,
        property_id: str | None = None,
        endpoint: str | None = None,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Fault:
        """Answer with ``{"error": {"code": http_status, "status": status, "message": message}}``; without a
        message, the recorded body of ``fixtures/errors`` for that status (502: Google's HTML error page)."""
        recorded = fixtures.load("errors").get(str(http_status), {})
        html = recorded.get("html") if message is None else None
        message = (
            message
            or recorded.get("error", {}).get("message")
            or {
                500: "Internal error encountered.",
                504: "Deadline exceeded.",
            }.get(http_status, f"{status}")
        )
        options = {"http_status": http_status, "status": status, "message": message, "html": html}
        return self._add(Fault("error", times, property_id, endpoint, options, when=when))

    def sampled(
        self, times: int | None = None, property_id: str | None = None, samples_read: int = 500_000, space: int = 0
    ) -> Fault:
        """Reports carry ``metadata.samplingMetadatas`` (``space`` 0 = ten times ``samples_read``)."""
        options = {"samples_read": samples_read, "space": space or samples_read * 10}
        return self._add(Fault("sampled", times, property_id, None, options))

    def other_row(self, times: int | None = None, property_id: str | None = None, flag_only: bool = False) -> Fault:
        """The last tenth of a report's rows collapse into ``(other)`` rows (only the dimensions that vary turn into
        ``(other)``; the date stays); ``dataLossFromOtherRow`` true. ``flag_only``: the flag without such a row
        (the real API sets it on every page of a report that has one, pages without it included)."""
        return self._add(Fault("other_row", times, property_id, None, {"flag_only": flag_only}))

    def incompatible(self, field_name: str, property_id: str | None = None) -> Fault:
        """``field_name`` is incompatible: runReport with it answers 400, checkCompatibility says INCOMPATIBLE."""
        return self._add(Fault("incompatible", None, property_id, None, {"field": field_name}))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    # --- serving --------------------------------------------------------------------------------------------
    def _add(self, rule: Fault) -> Fault:
        with self._lock:
            self._rules.append(rule)
        return rule

    def take(
        self,
        kinds: tuple[str, ...],
        property_id: str | None,
        endpoint: str | None,
        body: dict[str, Any] | None = None,
        named_only: bool = False,
    ) -> Fault | None:
        """The first matching rule with shots left, with one hit counted (``named_only``: only rules that name
        ``endpoint``)."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(kinds, property_id, endpoint, body, named_only):
                    if rule.passed < rule.after:
                        rule.passed += 1
                        continue
                    rule.hits += 1
                    return rule
        return None

    def take_batch(
        self, kinds: tuple[str, ...], property_id: str | None, body: dict[str, Any], reports: list[dict[str, Any]]
    ) -> Fault | None:
        """The rule that fails a ``batchRunReports`` call: one for ``batchRunReports`` seeing the call, else the
        first that fires on one of its ``reports`` taken as a ``runReport`` request each, in order."""
        rule = self.take(kinds, property_id, "batchRunReports", body, named_only=True)
        for report in reports:
            if rule is not None:
                break
            rule = self.take(kinds, property_id, "runReport", report)
        return rule

    def incompatible_fields(self, property_id: str | None) -> set[str]:
        with self._lock:
            return {
                r.options["field"]
                for r in self._rules
                if r.kind == "incompatible" and (r.property_id is None or str(r.property_id) == property_id)
            }
