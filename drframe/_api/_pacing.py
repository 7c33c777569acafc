"""How fast calls run, decided here for every command and the Python API: the API's rate limits by key, worker
counts that keep a limit busy (and the ``--rate``/``--workers`` help that describes both), and calls mapped over a
bounded pool of threads in input order."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from ._client import Client

T = TypeVar("T")
R = TypeVar("R")

#: Workers when the client has no rate limiter.
DEFAULT_WORKERS = 8
#: Fewest and most workers by default: the client's connection pool keeps 32 connections alive.
MIN_DEFAULT_WORKERS = 4
MAX_DEFAULT_WORKERS = 32
#: ``drframe demo``'s pace: the embedded sandbox has no limit, and the demo shows a paced run.
DEMO_RATE = 50.0


#: The API's rate limits by key mode (requests per second): what every read runs at unless told otherwise.
API_RATE_LIMITS = {"test": 25.0, "live": 250.0}


def api_rate_limit(client: Client) -> float | None:
    """The API's rate limit for ``client``'s key (25/s test, 250/s live); None for an embedded sandbox, which
    has none."""
    if client.embedded_sandbox:
        return None
    return API_RATE_LIMITS.get(client.key_kind.split(" ")[0])


def paced(client: Client, rate: float | None = None) -> Client:
    """``client`` for reads: with ``rate`` requests per second if given, else its own rate limiter, else one at
    the API's limit for its key (a copy sharing its connections: ``client`` itself is left as it is)."""
    if rate is None and client.limiter is not None:
        return client
    rate = rate or api_rate_limit(client)
    return client.with_options(rate_limit=rate) if rate else client


def default_workers(client: Client) -> int:
    """Enough threads to keep the client's rate limit busy at round trips up to a third of a second (a third of
    the rate and two more, at least 4, at most 32); 8 without a rate limiter."""
    limiter = client.limiter
    if limiter is None:
        return DEFAULT_WORKERS
    return max(MIN_DEFAULT_WORKERS,
               min(MAX_DEFAULT_WORKERS, math.ceil(limiter.max_rate / 3) + 2))


def _rps(rate: float) -> str:
    return f"{rate:g}"


#: ``--rate`` help of the commands that call the API, from the limits above.
RATE_HELP = (f"requests per second (default: the API's limit for the key, {_rps(API_RATE_LIMITS['test'])} test / "
             f"{_rps(API_RATE_LIMITS['live'])} live; unlimited on the embedded sandbox)")
#: ``--workers`` help, from :func:`default_workers`'s constants.
WORKERS_HELP = (f"concurrent requests (default: a third of the rate + 2, at least {MIN_DEFAULT_WORKERS}, at most "
                f"{MAX_DEFAULT_WORKERS}; {DEFAULT_WORKERS} unlimited)")


def ordered_map(function: Callable[[T], R], items: Iterable[T], *, workers: int,
                window: int | None = None) -> Iterator[R]:
    """``function`` over ``items`` on ``workers`` threads, results in input order, with at most ``window`` items
    (default: the workers and two more) in flight or waiting to be taken, so a long input is never all in
    memory."""
    window = window or workers + 2
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drframe-map") as pool:
        pending: deque[Future[R]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


__all__ = ["API_RATE_LIMITS", "DEFAULT_WORKERS", "DEMO_RATE", "MAX_DEFAULT_WORKERS", "MIN_DEFAULT_WORKERS", "RATE_HELP",
           "WORKERS_HELP", "api_rate_limit", "default_workers", "ordered_map", "paced"]
