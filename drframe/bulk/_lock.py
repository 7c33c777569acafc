"""One run per journal: an exclusive OS file lock (:mod:`filelock`), held for the whole run.

The lock is ``JOURNAL.lock`` beside the journal; the operating system releases it when its process ends, however
it ends.  Beside it, ``JOURNAL.holder.json`` names the holder (host, pid, start time) for the message a second
run prints, and is deleted on release.  A holder file found by a run that got the lock was therefore left by a
run that died holding it: that run is named (:class:`Holder`) and the lock taken over.

Within one process the lock is re-entrant per thread, so the CLI can hold it from before planning (a plan made
while another run writes would be stale) through :meth:`Plan.apply`, which takes it too.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from .._errors import JournalLocked

_HELD: dict[tuple[str, int], int] = {}  # (lock path, thread) -> depth: the locks this process holds
_HELD_LOCK = threading.Lock()


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a journal's lock."""

    host: str
    pid: int
    started: str

    def __str__(self) -> str:
        return f"pid {self.pid} on host {self.host}, started {self.started}"


def lock_paths(journal: Path) -> tuple[Path, Path]:
    """The lock file and the holder file of ``journal``."""
    return journal.with_name(journal.name + ".lock"), journal.with_name(journal.name + ".holder.json")


def read_holder(path: Path) -> Holder | None:
    """The holder recorded in ``path``; None when there is none (or it is being written)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(str(data["host"]), int(data["pid"]), str(data["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextmanager
def journal_lock(journal: str | Path, *, timeout: float = 0.0) -> Iterator[Holder | None]:
    """Hold ``journal``'s lock for the block, waiting up to ``timeout`` seconds for it (0: not at all); yields the
    holder of a run that died holding it (taken over), else None. Raises :class:`JournalLocked` (nothing sent)
    when another run holds it."""
    lock_path, holder_path = lock_paths(Path(journal))
    key = (str(lock_path.resolve()), threading.get_ident())
    with _HELD_LOCK:
        nested = key in _HELD
        if nested:
            _HELD[key] += 1
    if nested:
        try:
            yield None
        finally:
            with _HELD_LOCK:
                _HELD[key] -= 1
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path, thread_local=False)
    try:
        lock.acquire(timeout=max(0.0, timeout))
    except Timeout:
        raise JournalLocked(Path(journal), read_holder(holder_path), timeout) from None
    try:
        dead = read_holder(holder_path)
        _write_holder(holder_path)
        with _HELD_LOCK:
            _HELD[key] = 1
        try:
            yield dead
        finally:
            with _HELD_LOCK:
                del _HELD[key]
            holder_path.unlink(missing_ok=True)
    finally:
        lock.release()


def _write_holder(path: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    started = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    partial.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": started}) + "\n",
                       encoding="utf-8")
    os.replace(partial, path)
