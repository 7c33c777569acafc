"""Guards for unattended runs: a plan too big to send (``max_changes``, ``max_deletes``), and a run that stops
sending once too many of its finished rows failed (``max_failures``)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .._errors import LimitExceeded
from ._constants import Action, Status

if TYPE_CHECKING:
    from ._rowplan import RowPlan

#: ``max_failures`` judges a run only once this many of its rows have finished.
MIN_FINISHED = 20


def check_limits(rows: Iterable[RowPlan], *, max_changes: int | None = None, max_deletes: int | None = None) -> None:
    """Raise :class:`LimitExceeded`, naming the count, when the rows still to send exceed either limit."""
    pending = [r for r in rows if r.pending]
    deletes = sum(1 for r in pending if r.action is Action.DELETE)
    problems = []
    if max_changes is not None and len(pending) > max_changes:
        problems.append(f"{len(pending)} rows to send, over --max-changes {max_changes}")
    if max_deletes is not None and deletes > max_deletes:
        problems.append(f"{deletes} deletes, over --max-deletes {max_deletes}")
    if problems:
        raise LimitExceeded("the plan has " + " and ".join(problems) + "; nothing was sent")


class FailureGuard:
    """Counts the rows a run finished; :meth:`tripped` once more than ``percent`` of them failed (judged from
    :data:`MIN_FINISHED` finished rows on). Thread-safe: workers report as they finish."""

    def __init__(self, percent: float | None) -> None:
        self.percent = percent
        self.finished = 0
        self.failed = 0
        self.reason = ""
        self._lock = threading.Lock()

    def record(self, status: Status | None) -> bool:
        """Count one finished row; True when the run must stop sending."""
        if self.percent is None:
            return False
        with self._lock:
            self.finished += 1
            self.failed += status is Status.FAILED
            if not self.reason and self.finished >= MIN_FINISHED and self.failed * 100 > self.percent * self.finished:
                self.reason = (f"not sent: {self.failed} of the first {self.finished} finished rows failed, over "
                               f"--max-failures {self.percent:g}%")
            return bool(self.reason)
