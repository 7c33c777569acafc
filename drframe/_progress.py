"""Progress for every long step, decided in one place: a tqdm bar on a terminal or in a notebook; otherwise (stderr
to a log file, a scheduled job) a plain line every few seconds and one at the end, so a log holds a few short lines
instead of a bar redrawn with carriage returns.  :func:`progress_style` forces either (``drframe --progress``)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, Protocol

#: Seconds between two plain progress lines.
LINE_INTERVAL = 5.0

Style = Literal["bars", "lines"]
_forced: Style | None = None


class Progress(Protocol):
    """What a step reports progress through (a tqdm bar or :class:`ProgressLines`)."""

    def update(self, n: int = 1) -> object: ...

    def close(self) -> None: ...


@contextmanager
def progress_style(style: Style | None) -> Iterator[None]:
    """Within the block, progress shows as ``style`` wherever stderr goes (None: decided by where it goes)."""
    global _forced
    before, _forced = _forced, style
    try:
        yield
    finally:
        _forced = before


def _bars_fit() -> bool:
    """A bar renders where a person watches: a terminal, or a notebook (whose stderr is no terminal)."""
    if _forced is not None:
        return _forced == "bars"
    if "ipykernel" in sys.modules:
        return True
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


@contextmanager
def progress(desc: str, unit: str, *, total: int | None = None, enabled: bool = True) -> Iterator[Progress]:
    """A progress reporter for one step of ``total`` (if known) ``unit``s, closed at the end of the block;
    ``enabled=False`` reports nothing."""
    reporter: Progress
    if enabled and _bars_fit():
        from tqdm.auto import tqdm

        reporter = tqdm(total=total, unit=f" {unit}", desc=desc)
    else:
        reporter = ProgressLines(desc, unit, total=total, enabled=enabled)
    try:
        yield reporter
    finally:
        reporter.close()


class ProgressLines:
    """Plain progress lines on stderr: ``applying: 120/400 rows (30%), 24/s`` at most every ``interval`` seconds,
    and a last one on :meth:`close` (thread-safe: workers update it)."""

    def __init__(self, desc: str, unit: str, *, total: int | None = None, enabled: bool = True,
                 interval: float = LINE_INTERVAL) -> None:
        self.desc, self.unit, self.total, self.enabled, self.interval = desc, unit, total, enabled, interval
        self.n = 0
        self._started = self._last = time.monotonic()
        self._lock = threading.Lock()
        self._closed = False

    def update(self, n: int = 1) -> None:
        """Count ``n`` more; print a line when ``interval`` has passed since the last one."""
        with self._lock:
            self.n += n
            now = time.monotonic()
            if self.enabled and now - self._last >= self.interval:
                self._last = now
                self._write(now, final=False)

    def close(self) -> None:
        """Print the last line (once)."""
        with self._lock:
            if self.enabled and not self._closed:
                self._write(time.monotonic(), final=True)
            self._closed = True

    def _write(self, now: float, *, final: bool) -> None:
        elapsed = now - self._started
        done = f"{self.n}/{self.total} {self.unit}" if self.total else f"{self.n} {self.unit}"
        if self.total:
            done += f" ({100 * self.n // self.total}%)"
        tail = f" in {elapsed:.1f} s" if final else f", {self.n / elapsed:.0f}/s" if elapsed else ""
        print(f"{self.desc}: {done}{tail}", file=sys.stderr, flush=True)


__all__ = ["LINE_INTERVAL", "Progress", "ProgressLines", "progress", "progress_style"]
