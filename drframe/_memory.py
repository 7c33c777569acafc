"""Heap memory that worker threads freed, given back to the operating system.  Foundation: imports nothing
from drframe."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import cache


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
