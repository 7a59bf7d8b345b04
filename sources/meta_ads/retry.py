"""How long a run may wait, and how long each wait is.

``RetryBudget`` is the run's one budget for waiting caused by errors and limits: backoffs after transient
errors, rate-limit pauses, polls of report runs that are re-runs of a failed or stuck job. Once a wait would
go beyond it, ``RetryBudgetExhausted`` ends the wait at once (no pointless sleeping) and every later wait too.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from sources.clock import Clock
from sources.meta_ads.errors import RetryBudgetExhausted
from sources.meta_ads.settings import DEFAULT_RETRY_BUDGET_S, RATE_LIMIT_MAX_WAIT_S, RATE_LIMIT_MIN_WAIT_S


class RetryBudget:
    def __init__(self, total_s: float = DEFAULT_RETRY_BUDGET_S, clock: Clock | None = None) -> None:
        self.total_s, self.clock = float(total_s), clock or Clock()
        self.spent_s = 0.0
        self.exhausted: RetryBudgetExhausted | None = None
        self._lock = threading.Lock()

    def reserve(self, seconds: float, where: str, last_error: str) -> None:
        """Count ``seconds`` of waiting against the budget, or raise if they do not fit."""
        with self._lock:
            if self.exhausted is None and self.spent_s + seconds > self.total_s:
                self.exhausted = RetryBudgetExhausted(where, last_error, self.total_s)
            if self.exhausted is not None:
                raise RetryBudgetExhausted(where, last_error, self.total_s)
            self.spent_s += seconds

    def wait(self, seconds: float, where: str, last_error: str) -> None:
        self.reserve(seconds, where, last_error)
        self.clock.sleep(seconds)


@dataclass
class RetryPolicy:
    """Transient errors (not rate limits): up to ``attempts`` tries, exponential backoff with jitter."""

    attempts: int = 6
    base_s: float = 1.0
    max_s: float = 60.0

    def delay(self, attempt: int) -> float:
        return min(self.max_s, self.base_s * 2**attempt) * (0.5 + random.random() / 2)


def rate_limit_wait(hits: int, announced_s: float = 0.0) -> float:
    """The wait after the ``hits``-th rate-limit error in a row: the announced regain time if there is one,
    otherwise at least 60 s, doubling, capped at 10 minutes, with up to 25% jitter."""
    backoff = min(RATE_LIMIT_MAX_WAIT_S, RATE_LIMIT_MIN_WAIT_S * 2 ** max(0, hits - 1))
    return max(announced_s, backoff * random.uniform(1.0, 1.25))
