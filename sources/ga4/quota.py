"""GA4 quota awareness: what a 429 names and how long it demands, the run's clock, and a ledger of every
response's ``propertyQuota`` that slows down near a limit (a bucket the response leaves out is unknown, not 0)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sources.clock import Clock
from sources.ga4.settings import HOURLY_REFILL_MARGIN_S, QUOTA_BUCKETS, QUOTA_LIMITS, QUOTA_MESSAGES, SLOW_DOWN_BELOW

Refill = Literal["day", "hour", "backoff"]


@dataclass(frozen=True)
class QuotaRule:
    """The bucket a 429 message names and when it refills: tomorrow, at the next hour, or soon (back off)."""

    bucket: str
    refill: Refill


def quota_rule(message: str) -> QuotaRule | None:
    """The quota a 429 RESOURCE_EXHAUSTED message names (None: a message no rule knows)."""
    text = (message or "").lower()
    for fragments, bucket, refill in QUOTA_MESSAGES:
        if all(f in text for f in fragments):
            return QuotaRule(bucket, refill)
    return None


def seconds_to_next_hour(now: datetime, margin_s: float = HOURLY_REFILL_MARGIN_S) -> float:
    """Seconds until the next full hour (UTC) has begun, plus a margin: when hourly buckets have refilled."""
    next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return (next_hour - now).total_seconds() + margin_s


@dataclass
class RunClock:
    """The run's time: waits through the injectable ``Clock``; wall time (UTC) is the start plus what the
    clock has counted since, so a test clock that never sleeps still moves "now" past the next hour."""

    clock: Clock = field(default_factory=Clock)
    started_utc: datetime = field(default_factory=lambda: datetime.now(UTC))
    carried_s: float = 0.0  # retry budget an earlier round of the same run spent (a resumed run)

    def __post_init__(self) -> None:
        self._started = self.clock.now()

    def elapsed(self) -> float:
        return self.clock.now() - self._started

    def budget_spent(self) -> float:
        """Seconds of the run's retry budget used: this round's time plus what earlier rounds carried over."""
        return self.carried_s + self.elapsed()

    def utc_now(self) -> datetime:
        return self.started_utc + timedelta(seconds=self.elapsed())

    def sleep(self, seconds: float) -> None:
        self.clock.sleep(seconds)


def _bucket_status(quota: Any, bucket: str) -> Any:
    """The bucket's QuotaStatus, or None when the response left it out (proto messages: field presence)."""
    if quota is None:
        return None
    try:
        present = bucket in quota  # proto-plus messages answer whether a field was set
    except TypeError:
        present = hasattr(quota, bucket)
    return getattr(quota, bucket, None) if present else None


@dataclass
class QuotaLedger:
    clock: Clock = field(default_factory=Clock)
    slow_down_s: float = 10.0
    entries: list[dict[str, Any]] = field(default_factory=list)
    waits: list[tuple[float, str]] = field(default_factory=list)

    def record(self, property_id: str, report: str, quota: Any) -> None:
        """Store the quota a response reported and pause when a reported bucket runs low."""
        entry: dict[str, Any] = {"property_id": property_id, "report": report, "requested_at": datetime.now(UTC)}
        low = []
        for bucket in QUOTA_BUCKETS:
            status = _bucket_status(quota, bucket)
            consumed = getattr(status, "consumed", None)
            remaining = getattr(status, "remaining", None)
            entry[f"{bucket}_consumed"], entry[f"{bucket}_remaining"] = consumed, remaining
            if remaining is not None and remaining / QUOTA_LIMITS[bucket] < SLOW_DOWN_BELOW:
                low.append(bucket)
        self.entries.append(entry)
        if low:
            self.wait(self.slow_down_s, f"property {property_id}: {', '.join(low)} below 10%")

    def wait(self, seconds: float, reason: str) -> None:
        self.waits.append((seconds, reason))
        self.clock.sleep(seconds)
