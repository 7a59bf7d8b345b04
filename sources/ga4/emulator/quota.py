"""Property quotas as ``propertyQuota`` reports them; tokens are charged per report (deterministic).

A report costs ``1 + rowCount // 1000`` tokens (every page of it the same). ``tokensPerProjectPerHour`` and
``serverErrorsPerProjectPerHour`` are shared by all properties (one project); the rest are per property.
Nothing refills with time: ``reset()`` (``emu.reset_quota()``) starts a fresh day / hour.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LIMITS = {
    "tokensPerDay": 200_000,
    "tokensPerHour": 40_000,
    "concurrentRequests": 10,
    "serverErrorsPerProjectPerHour": 10,
    "potentiallyThresholdedRequestsPerHour": 120,
    "tokensPerProjectPerHour": 14_000,
}


def report_cost(row_count: int) -> int:
    return 1 + row_count // 1000


@dataclass
class PropertyUsage:
    tokens: int = 0
    thresholded: int = 0
    in_flight: int = 0
    exhausted: set[str] = field(default_factory=set)  # buckets a quota fault emptied


class Quota:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.properties: dict[str, PropertyUsage] = {}
        self.project_tokens = 0
        self.server_errors = 0

    def usage(self, property_id: str) -> PropertyUsage:
        return self.properties.setdefault(property_id, PropertyUsage())

    def exhausted_kind(self, property_id: str) -> str | None:
        """The quota kind a request would hit now (natural exhaustion), or None."""
        use = self.usage(property_id)
        if use.tokens >= LIMITS["tokensPerDay"]:
            return "tokens_per_day"
        if use.tokens >= LIMITS["tokensPerHour"]:
            return "tokens_per_hour"
        if self.project_tokens >= LIMITS["tokensPerProjectPerHour"]:
            return "tokens_per_project_per_hour"
        if self.server_errors >= LIMITS["serverErrorsPerProjectPerHour"]:
            return "server_errors"
        if use.in_flight > LIMITS["concurrentRequests"]:
            return "concurrent"
        return None

    def charge(self, property_id: str, tokens: int) -> None:
        self.usage(property_id).tokens += tokens
        self.project_tokens += tokens

    def report(self, property_id: str, consumed: int, low: dict[str, float]) -> dict[str, dict[str, int]]:
        use = self.usage(property_id)
        used = {
            "tokensPerDay": use.tokens,
            "tokensPerHour": use.tokens,
            "concurrentRequests": 0,
            "serverErrorsPerProjectPerHour": self.server_errors,
            "potentiallyThresholdedRequestsPerHour": use.thresholded,
            "tokensPerProjectPerHour": self.project_tokens,
        }
        out = {}
        for bucket, limit in LIMITS.items():
            remaining = max(0, limit - used[bucket])
            if bucket in low:
                remaining = min(remaining, int(limit * low[bucket] / 100))
            if bucket in use.exhausted:
                remaining = 0
            is_token = bucket.startswith("tokens")
            out[bucket] = {"consumed": consumed if is_token else 0, "remaining": remaining}
        return out
