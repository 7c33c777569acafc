"""Memory housekeeping: heap memory that worker threads freed, given back to the operating system, and the
garbage collector kept to its young generations while a long read builds up.  Foundation: imports nothing from
drframe."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import threading
from collections.abc import Callable, Iterator
from functools import cache

_gc_lock = threading.Lock()
_gc_depth = 0
_gc_thresholds = gc.get_threshold()


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None


def release_memory() -> None:
    """Give freed heap memory back to the operating system (glibc only; elsewhere nothing).

    Worker threads parse responses in their own malloc arenas, which glibc keeps once freed: a long read
    would otherwise hold several megabytes per worker that Python no longer uses.  Called between chunks of
    a long read, so its memory stays what it is using."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@contextlib.contextmanager
def young_collections_only() -> Iterator[None]:
    """The garbage collector's young generations only, inside the block (nested and concurrent blocks share it).

    A full collection walks every live object.  A listing keeps thousands of customers alive as it goes (pages
    waiting for their range, flattened tables), so each walk grows with them (up to 0.18 s at 20,000 customers,
    0.6 s in all), stalls every worker meanwhile, and frees nothing: decoded JSON and tables hold no cycles.
    Short-lived cycles are still collected by the young generations."""
    global _gc_depth, _gc_thresholds
    with _gc_lock:
        if _gc_depth == 0:
            _gc_thresholds = gc.get_threshold()
            young, middle, _ = _gc_thresholds
            gc.set_threshold(young, middle, 1 << 30)
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0:
                gc.set_threshold(*_gc_thresholds)
