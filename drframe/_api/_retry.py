"""The retry policy: exponential backoff with full jitter, honouring Retry-After, aware of which POSTs are safe.

urllib3 never retries POST, and the API has no idempotency key, so the decision is made per call by its
*safety*: ``IDEMPOTENT`` calls (GET, DELETE, updates, attaches, creates with a client-supplied id) are retried on
any transient failure; ``UNSAFE`` calls (creates the server names) only when the request certainly did not run.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Statuses that prove the server did not act on the request.
NOT_PROCESSED_STATUSES = frozenset({429})


class Safety(Enum):
    IDEMPOTENT = "idempotent"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to wait; ``max_retries=0`` disables retries. Immutable: derive variants
    with :func:`dataclasses.replace`."""

    max_retries: int = 5
    backoff_base: float = 0.2
    backoff_max: float = 20.0
    max_retry_after: float = 60.0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def should_retry(self, attempt: int, safety: Safety, *, status: int | None = None,
                     sent: bool = True) -> bool:
        """Whether attempt number ``attempt`` (0-based) may be followed by another.

        ``status`` is the HTTP status, or None for a transport failure; ``sent`` is False when the connection
        failed before the request left (so the server cannot have acted on it).
        """
        if attempt >= self.max_retries:
            return False
        if status is None:
            return safety is Safety.IDEMPOTENT or not sent
        if status not in RETRYABLE_STATUSES:
            return False
        return safety is Safety.IDEMPOTENT or status in NOT_PROCESSED_STATUSES

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``attempt + 1``: full jitter, never less than Retry-After."""
        backoff = self.rng.uniform(0, min(self.backoff_max, self.backoff_base * (2**attempt)))
        if retry_after is not None:
            return max(min(retry_after, self.max_retry_after), backoff)
        return backoff


_hooks = threading.local()


def wait_before_retry(seconds: float) -> None:
    """Sleep ``seconds`` before a retry, through this thread's :func:`retry_waits` hook if it has one."""
    hook: Callable[[float], None] | None = getattr(_hooks, "wait", None)
    (hook or time.sleep)(seconds)


@contextmanager
def retry_waits(hook: Callable[[float], None]) -> Iterator[None]:
    """Route this thread's waits before retries through ``hook(seconds)`` within the block (a bulk worker hands
    its place to a fresh row while it waits)."""
    previous = getattr(_hooks, "wait", None)
    _hooks.wait = hook
    try:
        yield
    finally:
        _hooks.wait = previous


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
