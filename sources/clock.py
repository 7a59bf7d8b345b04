"""An injectable clock for sources that wait (rate limits, polling): tests pass one that never sleeps."""

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Clock:
    """Monotonic time and sleep."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
