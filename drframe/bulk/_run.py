"""Applying a plan: rows grouped by customer, sent by worker threads under the client's rate limit, each write
journalled before it leaves and when its outcome is known (see :mod:`._journal`), each action sent through one
entry of an action table.

``workers`` bounds the rows in progress, not the threads: a worker waiting before a retry (a ``Retry-After`` of a
second, a backoff) gives its place to a stand-in thread that takes a fresh customer meanwhile, and takes a place
back, ahead of fresh rows, when its wait is over. So requests in flight never exceed ``workers`` (nor the
connection pool), and retries do not starve fresh rows of workers.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._api._retry import retry_waits
from .._errors import APIError, ConnectionFailed, DRError
from .._progress import progress as progress_of
from ._constants import (
    CLEAR,
    CUSTOMER_KEY,
    SOURCE_COLUMN,
    TAX_COLUMN,
    TAX_TYPE_COLUMN,
    TAX_VALUE_COLUMN,
    Action,
    Status,
)
from ._guards import FailureGuard
from ._journal import Journal
from ._lock import journal_lock
from ._results import BulkResult
from ._rowplan import CellError, RowPlan
from ._tax import put_tax_identifier

if TYPE_CHECKING:
    from .._api._client import Client
    from .._api._resources import Customers
    from ._plan import Plan

#: How each action is sent (upsert is resolved to create or update by the plan).
_SEND: dict[Action, Callable[[Customers, RowPlan], object]] = {
    Action.CREATE: lambda customers, row: customers.create(row.payload, validate=False),
    Action.UPDATE: lambda customers, row: customers.update(row.customer_id or "", row.payload, validate=False),
    Action.DELETE: lambda customers, row: customers.delete(row.customer_id or ""),
    Action.ATTACH_SOURCE: lambda customers, row: customers.attach_source(row.customer_id or "", row.target or ""),
    Action.DETACH_SOURCE: lambda customers, row: customers.detach_source(row.customer_id or "", row.target or ""),
    Action.ATTACH_TAX_IDENTIFIER: lambda customers, row: customers.attach_tax_identifier(row.customer_id or "",
                                                                                         row.target or ""),
}


def run_plan(plan: Plan, client: Client, *, workers: int, journal: str | Path | None, progress: bool,
             keep_journal: bool, lock_timeout: float = 0.0, max_failures: float | None = None) -> BulkResult:
    """Carry out ``plan`` through ``client``; see :meth:`Plan.apply`."""
    guard = FailureGuard(max_failures)
    if not journal:
        runner = _Runner(plan, client, _NoJournal(), workers, progress)
        runner.guard = guard
        return runner.run()
    with journal_lock(journal, timeout=lock_timeout) as dead:
        if dead is not None:
            warnings.warn(f"took over the lock of journal {journal} from a run that ended without releasing it "
                          f"({dead})", stacklevel=3)
        with Journal(journal, sha256=plan.sheet.sha256) as book:
            runner = _Runner(plan, client, book, workers, progress)
            runner.guard = guard
            result = runner.run()
        # A crash before this line is harmless: the journal then finishes every row and the next run sends nothing.
        if runner.complete and not keep_journal:
            book.remove()
    return result


class _NoJournal:
    def __init__(self) -> None:
        self.finished: dict[int, dict[str, Any]] = {}
        self.in_flight: set[int] = set()
        self.fields: dict[int, list[str]] = {}
        self.tax_ids: dict[int, str] = {}

    def started(self, *args: Any) -> None:
        pass

    def tax_created(self, row: int, tax_id: str) -> None:
        pass

    def finished_row(self, *args: Any) -> None:
        pass



class _Places:
    """``size`` places for rows in progress. A worker waiting before a retry lends its place out; taking it back
    goes before any fresh row. :meth:`open` lifts the bound (the run is stopping: let everyone finish)."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._lock = threading.Lock()
        self._fresh = threading.Condition(self._lock)
        self._returning = threading.Condition(self._lock)
        self._waiting_to_return = 0
        self._open = False

    def take(self) -> None:
        """A place for a fresh row (blocks while none is free or a returning worker waits)."""
        with self._lock:
            while not self._open and (self._free <= 0 or self._waiting_to_return):
                self._fresh.wait()
            self._free -= 1

    def give(self) -> None:
        with self._lock:
            self._free += 1
            (self._returning if self._waiting_to_return else self._fresh).notify()

    def lend_while(self, seconds: float) -> None:
        """Sleep ``seconds`` with the place lent out, then take one back first (a :func:`retry_waits` hook)."""
        self.give()
        time.sleep(seconds)
        with self._lock:
            self._waiting_to_return += 1
            while not self._open and self._free <= 0:
                self._returning.wait()
            self._waiting_to_return -= 1
            self._free -= 1
            if self._free > 0:  # a place given while we queued ahead of fresh rows: pass it on
                (self._returning if self._waiting_to_return else self._fresh).notify()

    def rejoin(self) -> None:
        """Between groups: when a worker waits to return from a retry wait, hand it this place and queue again
        (as a fresh row) for the next one."""
        with self._lock:
            if not self._waiting_to_return:
                return
        self.give()
        self.take()

    def open(self) -> None:
        with self._lock:
            self._open = True
            self._fresh.notify_all()
            self._returning.notify_all()


#: The "before" of a change an earlier run applied: the journal keeps field names, never values.
EARLIER = "(earlier run)"


def _earlier_changes(row: RowPlan, fields: list[str]) -> list[tuple[str, Any, Any]]:
    """What an earlier run changed for ``row``: its fields, with the values the row's cells asked for."""
    asked: dict[str, Any] = {c: None if text.casefold() == CLEAR else text for c, text in row.cells.items()}
    asked[CUSTOMER_KEY] = None if row.action is Action.DELETE else row.customer_id
    kind, value = row.cells.get(TAX_TYPE_COLUMN, ""), row.cells.get(TAX_VALUE_COLUMN, "")
    if kind and value:
        asked["tax_identifier"] = f"{kind.casefold()} {value}"
    if row.target is not None:
        asked[SOURCE_COLUMN] = asked[TAX_COLUMN] = None if row.action is Action.DETACH_SOURCE else row.target
    return [(field, EARLIER, asked.get(field)) for field in fields]


def _api_error_cell(plan: RowPlan, exc: APIError) -> CellError:
    column = exc.parameter or ""
    if column == "id":
        column = CUSTOMER_KEY
    elif column in {"type", "value"} and plan.tax_identifier is not None:  # refused by POST /tax-identifiers
        column = f"tax_identifier.{column}"
    message = f"{exc.message} (HTTP {exc.status} {exc.code}"
    message += f", request {exc.request_id})" if exc.request_id else ")"
    return CellError(plan.row, column, plan.cells.get(column, ""), message)


class _Runner:
    def __init__(self, plan: Plan, client: Client, journal: Journal | _NoJournal, workers: int,
                 progress: bool) -> None:
        self.plan = plan
        self.client = client
        self.journal = journal
        self.workers = max(1, workers)
        self.progress = progress
        self.stop = threading.Event()
        self.guard = FailureGuard(None)
        #: Set by run(): every row ended applied, unchanged, invalid or blank, so the journal has nothing to resume.
        self.complete = False

    def _settle_from_journal(self) -> list[RowPlan]:
        """Rows the journal already finished keep their outcome; in-flight rows now unchanged were applied."""
        todo = []
        for row in self.plan.rows:
            record = self.journal.finished.get(row.row)
            if record is not None and row.status is not Status.INVALID:
                row.status, row.resumed = Status(record["status"]), True
                row.note = "finished by an earlier run (the values before it are not kept)"
                row.changes = _earlier_changes(row, self.journal.fields.get(row.row, []))
                continue
            if row.row in self.journal.in_flight and row.status is Status.UNCHANGED:
                row.status, row.resumed = Status.APPLIED, True
                row.note = "sent by an interrupted run; confirmed applied"
                self.journal.finished_row(row.row, row.customer_id, row.action, Status.APPLIED)
                continue
            if row.pending:
                todo.append(row)
        return todo

    def run(self) -> BulkResult:
        started = time.monotonic()
        stats_before = dict(self.client.stats)
        todo = self._settle_from_journal()
        groups: dict[str, list[RowPlan]] = {}
        for row in todo:
            groups.setdefault(row.customer_id or f"row-{row.row}", []).append(row)
        # Threads take the next group from one shared queue, so the main thread waits on a few futures, not on
        # one per group (waiting on thousands of futures costs O(groups) per completion).
        queue = iter(list(groups.values()))
        queue_lock = threading.Lock()
        places = _Places(self.workers)

        def work() -> None:
            places.take()
            try:
                with retry_waits(places.lend_while):
                    while not self.stop.is_set():
                        with queue_lock:
                            rows = next(queue, None)
                        if rows is None:
                            return
                        self._run_group(rows, bar.update)
                        places.rejoin()
            finally:
                places.give()

        interrupted = False
        # As many stand-ins as workers: each can cover a worker waiting to retry.
        threads = min(2 * self.workers, len(groups))
        with progress_of("applying", "rows", total=len(todo), enabled=self.progress and bool(todo)) as bar, \
                ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="drframe-apply") as pool:
            futures = {pool.submit(work) for _ in range(threads)}
            try:
                while futures:
                    done, futures = wait(futures, timeout=0.25, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()
            except KeyboardInterrupt:
                interrupted = True
                self.stop.set()
                places.open()
            except BaseException:  # a worker failed (the journal could not be written...): send nothing more
                self.stop.set()
                places.open()
                raise
        for row in todo:
            if row.pending:
                row.status = Status.SKIPPED
                row.note = self.guard.reason or "not sent: the run was interrupted (re-run to continue)"
        self.complete = not interrupted and all(
            r.status in {Status.APPLIED, Status.UNCHANGED, Status.INVALID, Status.KEPT} or (r.status is Status.SKIPPED and not r.action)
            for r in self.plan.rows)
        stats = {k: self.client.stats.get(k, 0) - stats_before.get(k, 0) for k in self.client.stats}
        return BulkResult(self.plan, time.monotonic() - started, stats, interrupted)

    def _run_group(self, rows: list[RowPlan], tick: Callable[[int], object]) -> None:
        failed_row: int | None = None
        for row in rows:
            if self.stop.is_set():
                return
            if failed_row is not None:
                row.status = Status.SKIPPED
                row.note = f"not sent: row {failed_row} for the same customer failed"
                self.journal.finished_row(row.row, row.customer_id, row.action, Status.SKIPPED)
            else:
                self._run_one(row)
                if self.guard.record(row.status):
                    self.stop.set()
                if row.status is Status.FAILED:
                    failed_row = row.row
            tick(1)

    def _run_one(self, row: RowPlan) -> None:
        customer_id = row.customer_id or ""
        assert row.action is not None, "only pending rows, which have an action, are sent"
        self.journal.started(row.row, customer_id, row.action, row.payload, [c for c, _, _ in row.changes])
        try:
            if not (row.action is Action.UPDATE and row.payload is None):  # None: only the tax number changes
                _SEND[row.action](self.client.customers, row)
            if row.tax_identifier is not None:
                held = put_tax_identifier(self.client, row, self.journal)
                row.note = f"tax identifier {held.type} {held.value}: {held.state}"
            finish = getattr(row, "finish", None)  # a revert row's further steps (tax identifiers...)
            if finish is not None:
                finish(self.client, self.journal)
        except APIError as exc:
            row.status = Status.FAILED
            row.add_error(_api_error_cell(row, exc))
        except ConnectionFailed as exc:
            row.status = Status.FAILED
            row.note = f"{exc}; the outcome is unknown: re-run with the same journal to re-check it"
            if exc.outcome_unknown:
                return  # left in flight in the journal: the next run re-checks before resending
        except DRError as exc:
            row.status = Status.FAILED
            row.note = str(exc)
        else:
            row.status = Status.APPLIED
        self.journal.finished_row(row.row, customer_id, row.action, row.status or Status.SKIPPED)
