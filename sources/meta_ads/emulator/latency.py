"""Wall-clock latency of the emulated API: how long a report run takes, and how long any request takes.

Both are off unless set (tests stay fast). A ``Latency`` is a seeded distribution of seconds between ``low`` and
``high``: ``uniform``, or ``lognormal`` with its median at the geometric mean of the bounds and the bounds two
standard deviations out (then clipped to them), which is the long right tail report runs show. The real API's
async report runs take seconds to minutes ("For asynchronous requests, it can take up to an hour to complete a
request including retry attempts": https://developers.facebook.com/docs/marketing-api/insights/best-practices);
2-20 s is typical for one account and day at ad level.

A report run's duration is drawn from its own generator, seeded with ``seed``, the query and how often that same
query was submitted before, so a run takes the same time however many jobs are in flight around it: two
extractions with different concurrency meet the same durations. Request latencies come from one generator seeded
with ``seed`` (the same sequence on every run; which request gets which value depends on their order).
"""

from __future__ import annotations

import math
import random
import re
import threading
from dataclasses import dataclass, replace

SHAPES = ("uniform", "lognormal")
_SPEC = re.compile(r"^(?:(?P<shape>[a-z]+):)?(?P<low>[0-9.]+)-(?P<high>[0-9.]+)(?:@(?P<seed>[0-9]+))?$")


@dataclass(frozen=True)
class Latency:
    """Seconds between ``low`` and ``high``: ``uniform`` or ``lognormal`` (clipped to the bounds), seeded."""

    low: float
    high: float
    shape: str = "uniform"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"latency shape {self.shape!r}: use one of {', '.join(SHAPES)}")
        if not 0 <= self.low <= self.high:
            raise ValueError(f"latency bounds {self.low}..{self.high}: need 0 <= low <= high")
        if self.shape == "lognormal" and self.low <= 0:
            raise ValueError("a log-normal latency needs a positive lower bound")

    @classmethod
    def parse(cls, text: str) -> Latency:
        """``"lognormal:2-20"``, ``"uniform:0.05-0.3@7"`` (``@seed``), or ``"2-20"`` (uniform)."""
        match = _SPEC.match(text.strip())
        if not match:
            raise ValueError(f"latency {text!r}: write shape:low-high[@seed], e.g. lognormal:2-20")
        return cls(float(match["low"]), float(match["high"]), match["shape"] or "uniform", int(match["seed"] or 0))

    def draw(self, rng: random.Random) -> float:
        if self.shape == "uniform":
            return rng.uniform(self.low, self.high)
        mu = (math.log(self.low) + math.log(self.high)) / 2
        sigma = (math.log(self.high) - math.log(self.low)) / 4
        return min(self.high, max(self.low, rng.lognormvariate(mu, sigma)))

    def scaled(self, factor: float) -> Latency:
        """The same distribution with every duration multiplied by ``factor``."""
        return replace(self, low=self.low * factor, high=self.high * factor)

    def median(self) -> float:
        return math.sqrt(self.low * self.high) if self.shape == "lognormal" else (self.low + self.high) / 2

    def __str__(self) -> str:
        name = "log-normal" if self.shape == "lognormal" else "uniform"
        return f"{name} {self.low:g}-{self.high:g} s (median {self.median():.2g} s, seed {self.seed})"


class JobDurations:
    """The duration of each submitted report run, from ``latency`` (see the module docstring)."""

    def __init__(self, latency: Latency) -> None:
        self.latency = latency
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def draw(self, key: str) -> float:
        with self._lock:
            n = self._seen[key] = self._seen.get(key, -1) + 1
        return self.latency.draw(random.Random(f"{self.latency.seed}|{key}|{n}"))


class RequestDelays:
    """One seeded sequence of request latencies, shared by the server's threads."""

    def __init__(self, latency: Latency) -> None:
        self.latency = latency
        self._rng = random.Random(latency.seed)
        self._lock = threading.Lock()

    def draw(self) -> float:
        with self._lock:
            return self.latency.draw(self._rng)
