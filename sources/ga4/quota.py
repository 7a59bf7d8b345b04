"""GA4 quota awareness: a ledger of every request's quota, slowing down near the limit, 429 handling."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sources.clock import Clock
from sources.ga4.settings import EXHAUSTED, QUOTA_BUCKETS, QUOTA_LIMITS, SLOW_DOWN_BELOW


class DailyQuotaExhausted(RuntimeError):
    """The property's tokens for today are gone: stop cleanly, resume after the quota resets."""


def quota_kind(message: str) -> tuple[str, float | None] | None:
    """Which quota a 429 message names, and how long to wait (None: stop for today)."""
    text = message.lower()
    for fragment, kind in EXHAUSTED.items():
        if fragment in text:
            return kind
    return None


@dataclass
class QuotaLedger:
    clock: Clock = field(default_factory=Clock)
    slow_down_s: float = 10.0
    entries: list[dict[str, Any]] = field(default_factory=list)
    waits: list[tuple[float, str]] = field(default_factory=list)

    def record(self, property_id: str, report: str, quota: Any) -> None:
        """Store the quota a response reported and pause when a bucket runs low."""
        entry: dict[str, Any] = {"property_id": property_id, "report": report, "requested_at": datetime.now(UTC)}
        low = []
        for bucket in QUOTA_BUCKETS:
            status = getattr(quota, bucket, None) if quota is not None else None
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
