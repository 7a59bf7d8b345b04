"""Rate-limit governor: reads Meta's usage headers on every response and pauses *before* the limit.

Headers read (JSON strings): ``x-business-use-case-usage``, ``x-ad-account-usage``, ``x-app-usage`` and
``x-fb-ads-insights-throttle``. When any utilisation reaches ``pause_at`` percent, every worker waits for the
announced regain time (``estimated_time_to_regain_access`` minutes, ``reset_time_duration`` seconds) or at
least ``min_pause_s``. New async insight jobs start only while the insights throttle is below
``insights_start_below``. A rate-limit error pauses every worker too: for the regain time the headers announce,
else for a growing backoff (``retry.rate_limit_wait``). Every pause counts against the run's ``RetryBudget``.
The clock and sleep are injectable so tests observe pauses without sleeping.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sources.clock import Clock
from sources.meta_ads.retry import RetryBudget, rate_limit_wait
from sources.meta_ads.settings import INSIGHTS_START_BELOW_PCT, PAUSE_AT_PCT


@dataclass
class Pause:
    seconds: float
    reason: str


@dataclass
class Usage:
    """The highest utilisation seen in the latest response, and the wait it announces."""

    max_pct: float = 0.0
    insights_pct: float = 0.0
    regain_s: float = 0.0
    source: str = ""


def _json(value: str | None) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def parse_usage(headers: Mapping[str, str]) -> Usage:
    """Utilisation (percent) and regain time (seconds) from one response's headers."""
    h = {k.lower(): v for k, v in (headers or {}).items()}
    usage = Usage()

    def see(pct: Any, source: str, regain_s: float = 0.0) -> None:
        try:
            pct = float(pct or 0)
        except (TypeError, ValueError):
            return
        if pct >= usage.max_pct:
            usage.max_pct, usage.source = pct, source
        usage.regain_s = max(usage.regain_s, regain_s)

    buc = _json(h.get("x-business-use-case-usage")) or {}
    for owner, entries in buc.items() if isinstance(buc, dict) else []:
        for e in entries or []:
            regain = float(e.get("estimated_time_to_regain_access") or 0) * 60
            for key in ("call_count", "total_cputime", "total_time"):
                see(e.get(key), f"business use case {e.get('type', '?')} ({owner}) {key}", regain)
    account = _json(h.get("x-ad-account-usage")) or {}
    see(account.get("acc_id_util_pct"), "ad account", float(account.get("reset_time_duration") or 0))
    app = _json(h.get("x-app-usage")) or {}
    for key in ("call_count", "total_time", "total_cputime"):
        see(app.get(key), f"app {key}")
    throttle = _json(h.get("x-fb-ads-insights-throttle")) or {}
    for key in ("app_id_util_pct", "acc_id_util_pct"):
        see(throttle.get(key), f"insights throttle {key}")
        with contextlib.suppress(TypeError, ValueError):
            usage.insights_pct = max(usage.insights_pct, float(throttle.get(key) or 0))
    return usage


@dataclass
class UsageGovernor:
    clock: Clock = field(default_factory=Clock)
    pause_at: float = PAUSE_AT_PCT
    insights_start_below: float = INSIGHTS_START_BELOW_PCT
    min_pause_s: float = 60.0
    job_wait_s: float = 30.0
    budget: RetryBudget | None = None
    pauses: list[Pause] = field(default_factory=list)
    last: Usage = field(default_factory=Usage)
    _paused_until: float = 0.0
    _rate_limit_hits: dict[str, int] = field(default_factory=dict)  # consecutive rate-limit errors per account
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.budget is None:
            self.budget = RetryBudget(clock=self.clock)

    def observe(self, headers: Mapping[str, str] | None, where: str = "the Meta API") -> None:
        """Record the usage a response announced; schedule a pause if it is near the limit."""
        usage = parse_usage(headers or {})
        with self._lock:
            self.last = usage
        if usage.max_pct >= self.pause_at:
            reason = f"{usage.source} at {usage.max_pct:.0f}%"
            self._pause(max(usage.regain_s, self.min_pause_s), reason, where)

    def rate_limited(self, headers: Mapping[str, str] | None, where: str, error: str) -> None:
        """A rate-limit error: pause every worker for the announced regain time or a growing backoff."""
        with self._lock:
            hits = self._rate_limit_hits[where] = self._rate_limit_hits.get(where, 0) + 1
        self._pause(rate_limit_wait(hits, parse_usage(headers or {}).regain_s), error, where)

    def succeeded(self, where: str) -> None:
        """A call about ``where`` went through: its next rate-limit error starts the backoff from the beginning."""
        with self._lock:
            self._rate_limit_hits.pop(where, None)

    def _pause(self, wait: float, reason: str, where: str) -> None:
        with self._lock:
            now = self.clock.now()
            until = now + wait
            if until <= self._paused_until:
                return
            self.budget.reserve(until - max(now, self._paused_until), where, reason)
            self._paused_until = until
            self.pauses.append(Pause(wait, reason))

    def before_call(self) -> None:
        """Block while a pause is in force (all workers share it)."""
        while True:
            with self._lock:
                remaining = self._paused_until - self.clock.now()
            if remaining <= 0:
                return
            self.clock.sleep(remaining)

    def before_job(self, where: str = "the Meta API") -> None:
        """Wait until the insights throttle leaves room for another async job."""
        self.before_call()
        while self.last.insights_pct >= self.insights_start_below:
            reason = f"insights throttle at {self.last.insights_pct:.0f}%"
            with self._lock:
                self.pauses.append(Pause(self.job_wait_s, reason))
                self.last = Usage()  # re-read on the next response
            self.budget.wait(self.job_wait_s, where, reason)
