"""A thread-safe client-side rate limiter shared by every worker of a client.

It is GCRA (a leaky bucket by arrival times): each caller reserves the next free slot under a lock and sleeps
outside it, so requests leave evenly spaced at ``rate`` per second.  A slot nobody took because every thread was
held up (a garbage collection, a long computation holding the GIL, responses all late at once) is not lost for
good: a request may still use a slot up to ``catch_up`` seconds old, so a stall of a tenth of a second costs no
throughput.  Bursts stay small: at most ``catch_up x rate + 1`` requests at once (after idling), what a server's
token bucket a tenth of a second deep admits.  (A server counting a strict sliding second could refuse a catch-up;
its 429 is then handled like any other, below.  ``catch_up=0`` is plain GCRA.)
pyrate-limiter's rates are fixed once built; this one also adapts to the server's 429s (AIMD):

* Each permit is a *ticket*, numbered in sending order, which the caller hands back with the answer.
* A 429 cuts the rate by ``decrease`` (once per round trip: only a request sent after the last cut cuts again)
  and, with ``Retry-After``, pauses every caller until then: the server's bucket is empty, it refills meanwhile,
  so sending resumes near the earlier rate.
* Any other answer to a request sent *after* the throttled one proves the server's bucket still had room (it
  admitted a later request): the pause is lifted at once, and a 429 older than such an answer is stale and
  changes nothing. A lone 429 (a blip, a fault) thus costs one round trip's worth of answers, not a Retry-After
  of silence; a real exhaustion, where the later requests are refused too, keeps everyone paused.
* Every admitted request adds ``increase`` of the configured rate back (additive increase), so the rate
  recovers within a few dozen answers.

The throttled request itself still waits its own ``Retry-After`` before it is retried (see :class:`RetryPolicy`);
it then queues for a slot like any other request, ahead of none.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Evenly spaced permits at up to ``rate`` per second, adapting to 429s (see the module docstring).

    ``clock`` and ``sleep`` are injectable for tests; a pause is waited out on a condition variable (real time)
    so that it can end early.
    """

    def __init__(
        self,
        rate: float,
        *,
        min_rate_fraction: float = 0.1,
        decrease: float = 0.9,
        increase: float = 0.02,
        catch_up: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 0 < rate < math.inf:  # nan too
            raise ValueError(f"rate must be a finite number above 0, got {rate!r}")
        self.max_rate = float(rate)
        self.rate = float(rate)
        self._min_rate = rate * min_rate_fraction
        self._decrease = decrease
        self._step = rate * increase
        self._catch_up = catch_up
        self._next = 0.0
        self._cond = threading.Condition(threading.Lock())
        self._clock = clock
        self._sleep = sleep
        self.throttled = 0
        #: The last ticket handed out (tickets number the permits in sending order).
        self._ticket = 0
        #: The last ticket issued when the rate was last cut: older 429s do not cut it again.
        self._cut_after = 0
        #: The newest ticket the server admitted (answered with anything but 429).
        self._admitted = 0
        #: Everyone waits until this clock time, unless a request sent after ``_paused_by`` is admitted first.
        self._paused_until = 0.0
        self._paused_by = 0
        self._pauses = 0

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate:.2f}/s, max_rate={self.max_rate:.2f}/s)"

    @property
    def paused_for(self) -> float:
        """Seconds left of the current pause (0 when none)."""
        with self._cond:
            return max(0.0, self._paused_until - self._clock())

    def _take(self, now: float) -> tuple[float, int]:
        """Reserve the next slot (the lock is held): the wait until it, and its ticket."""
        slot = max(now - self._catch_up, self._next)
        self._next = slot + 1.0 / self.rate
        self._ticket += 1
        return max(0.0, slot - now), self._ticket

    def reserve(self) -> float:
        """Reserve the next slot; returns how long the caller must wait before using it (a pause included)."""
        with self._cond:
            now = self._clock()
            if now < self._paused_until:
                self._next = max(self._next, self._paused_until)
            return self._take(now)[0]

    def acquire(self) -> int:
        """Block until this caller may send one request; returns its ticket, to hand to :meth:`on_success` or
        :meth:`on_throttled` with the answer."""
        while True:
            with self._cond:
                while True:
                    now = self._clock()
                    if now >= self._paused_until:
                        break
                    self._cond.wait(self._paused_until - now)
                self._next = max(self._next, self._paused_until)  # no catching up on slots a pause took
                wait, ticket = self._take(now)
                pauses = self._pauses
            if wait <= 0:
                return ticket
            self._sleep(wait)
            with self._cond:
                if self._pauses == pauses or self._clock() >= self._paused_until:
                    return ticket
            # A pause began while this caller waited for its slot: the slot is void, queue again after it.

    def on_throttled(self, retry_after: float | None, ticket: int | None = None) -> None:
        """The server answered 429 to the request with ``ticket``: cut the rate and pause for ``retry_after``."""
        with self._cond:
            self.throttled += 1
            if ticket is not None and ticket < self._admitted:
                return  # a later request got through meanwhile: the server's bucket was not empty
            if ticket is None or ticket > self._cut_after:
                self.rate = max(self._min_rate, self.rate * self._decrease)
                self._cut_after = self._ticket
            if retry_after:
                self._pauses += 1
                self._paused_until = max(self._paused_until, self._clock() + retry_after)
                self._paused_by = max(self._paused_by, ticket if ticket is not None else self._ticket)

    def on_success(self, ticket: int | None = None) -> None:
        """The server admitted the request with ``ticket`` (any answer but 429): lift a pause that an earlier
        request caused, and recover towards the configured rate (additive increase)."""
        with self._cond:
            if ticket is not None and ticket > self._admitted:
                self._admitted = ticket
                if ticket > self._paused_by and self._paused_until:
                    self._paused_until = 0.0
                    self._cond.notify_all()
            if self.rate < self.max_rate:
                self.rate = min(self.max_rate, self.rate + self._step)
