"""A thread-safe client-side rate limiter shared by every worker of a client.

It is GCRA (a leaky bucket by arrival times): each caller reserves the next free slot under a lock and sleeps
outside it, so requests leave evenly spaced at ``rate`` per second with no burst to trip a server-side bucket.
pyrate-limiter's rates are fixed once built; this one also slows down when the server answers 429 (a
multiplicative cut plus a pause of ``Retry-After``) and recovers additively on success, which bulk runs need.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Evenly spaced permits at up to ``rate`` per second, adapting to 429s."""

    def __init__(
        self,
        rate: float,
        *,
        min_rate_fraction: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        self.max_rate = float(rate)
        self.rate = float(rate)
        self._min_rate = rate * min_rate_fraction
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.throttled = 0

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate:.2f}/s, max_rate={self.max_rate:.2f}/s)"

    def reserve(self) -> float:
        """Reserve the next slot; returns how long the caller must wait before using it."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + 1.0 / self.rate
            return slot - now

    def acquire(self) -> None:
        """Block until this caller may send one request."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)

    def on_throttled(self, retry_after: float | None) -> None:
        """The server said 429: cut the rate by a fifth and hold everyone back for ``retry_after``."""
        with self._lock:
            self.throttled += 1
            self.rate = max(self._min_rate, self.rate * 0.8)
            if retry_after:
                self._next = max(self._next, self._clock() + retry_after)

    def on_success(self) -> None:
        """Recover towards the configured rate (additive increase)."""
        if self.rate < self.max_rate:
            with self._lock:
                self.rate = min(self.max_rate, self.rate + self.max_rate * 0.02)
