"""The plan: every valid row resolved against the current state of its customer (fetched 100 ids per call), so
each row either knows its outcome already or carries the exact payload it will send."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._api import default_workers
from .._core._text import CLEAR
from .._files._sheets import Sheet, SheetRow, open_sheet
from ._constants import Action
from ._guards import check_limits
from ._mapping import ColumnMapping
from ._reading import _collecting_young_only, _RowReader
from ._results import BulkResult, changes_frame, errors_frame, html_summary, outcome_frame, resubmit_frame
from ._rowplan import RowPlan
from ._rows import (
    check_action_column,
    check_columns,
    flag_duplicates,
    parse_action,
    sheet_from_frame,
)
from ._run import run_plan

if TYPE_CHECKING:
    from .._api._client import Client

_NO_COLUMNS: frozenset[str] = frozenset()

@dataclass
class Plan:
    """What a bulk run will do: one :class:`RowPlan` per input row. ``apply()`` carries it out."""

    client: Client
    sheet: Sheet
    rows: list[RowPlan]
    emptied_cells: int = 0
    """Empty cells of existing customers' rows whose field holds a value: left unchanged (``<clear>`` clears)."""
    deleted: MutableMapping[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    """Row -> the whole customer a ``delete`` row removes, as fetched by the plan (its before-image)."""
    reverts: str | None = None
    """The run this plan takes back (a revert plan), as its results file names it."""
    before_images: Path | None = None
    """Where the last :meth:`apply` wrote what each row changed from (see ``before_images``)."""
    saved: Path | None = None
    """The saved plan file this plan was loaded from (:func:`load_plan`): marked applied once every row finished."""
    applied_by: str | None = None
    """For a saved plan already applied: the run that applied it (nothing is sent again)."""
    run_name: str = ""
    """How a saved plan's ``applied`` line names this run (the CLI: its results file)."""

    @property
    def derived(self) -> bool:
        """A plan made from a run's results (a revert) or a saved plan, not from the sheet the user gave."""
        return self.reverts is not None or self.saved is not None

    @property
    def pending(self) -> list[RowPlan]:
        """The rows that will be sent (no outcome known yet)."""
        return [r for r in self.rows if r.pending]

    @property
    def upsert_updates(self) -> list[RowPlan]:
        """The ``upsert`` rows whose customer exists, so they will change it (``action="create"`` refuses them)."""
        return [r for r in self.rows if r.pending and r.upserted and r.action is Action.UPDATE]

    @property
    def upsert_note(self) -> str:
        """How many upsert rows will change existing customers, as the plan's header says it ("" for none)."""
        rows = self.upsert_updates
        if not rows:
            return ""
        ids = ", ".join(str(r.customer_id) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
        matches = "row matches an existing customer and will update it" if len(rows) == 1 else \
            "rows match existing customers and will update them"
        return f"upsert: {len(rows)} {matches} ({ids}); to import only new customers, use the action 'create'"

    @property
    def counts(self) -> dict[str, int]:
        """Rows per planned outcome: each action still to send, plus unchanged / invalid / failed / skipped."""
        return dict(Counter(str(r.action if r.pending else r.status) for r in self.rows))

    def frame(self) -> pd.DataFrame:
        """One row per input row: row, id, action, planned status, error, changes."""
        return outcome_frame(self.rows, planned=True, labels=self.sheet.labels)

    def errors_file(self, path: str | Path) -> Path:
        """Write only the rows already known to be invalid or failed, as :meth:`BulkResult.errors_file` does."""
        from .._files._export import write_table

        return write_table(path, resubmit_frame(self.rows), sheet="errors")

    @property
    def changes(self) -> pd.DataFrame:
        """The field-level diff: row, id, action, field, before, after (``index``, the label, for a DataFrame
        input instead of ``row``)."""
        return changes_frame((r for r in self.rows if r.pending), labels=self.sheet.labels)

    @property
    def errors(self) -> pd.DataFrame:
        """Every cell error: row, id, column, value, message (``index``, the label, for a DataFrame input instead of
        ``row``)."""
        return errors_frame(self.rows, labels=self.sheet.labels)

    @property
    def emptied_note(self) -> str:
        """What the plan did with emptied cells, once per file (empty when there are none)."""
        if not self.emptied_cells:
            return ""
        cells = "cell where the customer has a value" if self.emptied_cells == 1 else \
            "cells where the customers have values"
        return f"{self.emptied_cells} empty {cells}: left unchanged (an empty cell changes nothing; {CLEAR} clears)"

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()))
        notes = [note for note in (self.emptied_note if self.emptied_cells else "", self.upsert_note) if note]
        note = "".join(f"; {n}" for n in notes)
        return f"<Plan {self.sheet.path.name}: {len(self.rows)} rows ({counts}){note}>"

    def _repr_html_(self) -> str:
        return html_summary(repr(self), [("Changes", self.changes), ("Errors", self.errors)])

    def save(self, path: str | Path) -> Path:
        """Write the plan for approval: JSON lines with the exact payloads, the input file's hash, the target host
        and a fingerprint of each record it touches, as it is now (see :func:`load_plan`)."""
        from ._saved import save_plan

        return save_plan(self, path)

    def review(self, path: str | Path) -> Path:
        """Write the plan as an xlsx review sheet: rows (planned outcome), changes, errors."""
        from ._saved import review_sheet

        return review_sheet(self, path)

    def check_limits(self, *, max_changes: int | None = None, max_deletes: int | None = None) -> None:
        """Raise :class:`~drframe.LimitExceeded`, naming the count, when more than ``max_changes`` rows would be
        sent or more than ``max_deletes`` customers deleted."""
        check_limits(self.rows, max_changes=max_changes, max_deletes=max_deletes)

    def apply(
        self,
        *,
        workers: int | None = None,
        rate: float | None = None,
        journal: str | Path | None = None,
        progress: bool = True,
        keep_journal: bool = False,
        lock_timeout: float = 0.0,
        max_changes: int | None = None,
        max_deletes: int | None = None,
        max_failures: float | None = None,
        before_images: str | Path | None = None,
    ) -> BulkResult:
        """Send the pending rows: at most ``workers`` requests in flight (default: enough for the rate, as for every
        read; see :func:`drframe._api._pacing.default_workers`) (up to twice as many threads, as a worker
        waiting out a Retry-After lends its place), sharing the client's rate limit (``rate`` req/s for this run
        only; the client keeps its own); ``journal`` (a file path) makes the run resumable. Ctrl-C stops cleanly:
        rows not yet sent are ``skipped``. Once every row has finished (applied, unchanged, invalid or blank: nothing failed, skipped or
        in flight, not interrupted) the journal is deleted, unless ``keep_journal``. Raises JournalError (nothing
        sent) when the journal is damaged, and stops with it when the journal cannot be written. One run at a time
        holds a journal: JournalLocked (nothing sent) when another holds it ``lock_timeout`` seconds on.

        Guards for unattended runs: more than ``max_changes`` rows to send, or ``max_deletes`` deletes, raises
        :class:`~drframe.LimitExceeded` and sends nothing; once more than ``max_failures`` percent of the finished
        rows failed (from 20 finished rows on) nothing more is sent and the rest are ``skipped``.

        ``before_images`` (a path the user controls, e.g. ``updates.results.before.jsonl``) receives, before
        anything is sent, what each row to send changes from: customer data, so never in the journal.
        :meth:`BulkResult.revert_plan` reads it (and, without it, what this run kept in memory)."""
        self.check_limits(max_changes=max_changes, max_deletes=max_deletes)
        if before_images is not None:
            from ._before import write_before_images

            self.before_images = write_before_images(before_images, self)
        client = self.client.with_options(rate_limit=rate) if rate is not None else self.client
        result = run_plan(self, client, workers=workers or default_workers(client), journal=journal, progress=progress,
                          keep_journal=keep_journal, lock_timeout=lock_timeout, max_failures=max_failures)
        if self.saved is not None:
            from ._saved import mark_applied

            mark_applied(self, result, self.run_name)
        return result


def plan(source: str | Path | pd.DataFrame, client: Client | None = None, *, sheet: str | None = None,
         encoding: str | None = None, columns: Mapping[str, str | None] | ColumnMapping | None = None,
         workers: int | None = None, progress: bool = False, action: Action | str | None = None,
         allow_dropped_zeros: bool = False) -> Plan:
    """Read ``source`` (a .csv/.xlsx/.ods path or a customers-style DataFrame), validate every row and diff it
    against the current state, fetched 500 customers at a time in calls of 100 ids. ``encoding`` is a CSV file's encoding when it is neither
    UTF-8 nor UTF-16 with BOM; ``columns`` maps the file's headers to drframe columns (``{"E-mail": "email"}``,
    None ignores a header; or a :class:`ColumnMapping` with value maps). ``action`` is the action of every row
    whose ``action`` cell is empty (default ``upsert``: create or update, whichever the customer's existence asks;
    ``create`` imports only new customers, a row whose customer exists ends ``failed`` and leaves it as it is).
    A change that only drops leading zeros from a text of digits (``'02108'`` -> ``'2108'``, as Excel does to such
    text) makes its row invalid unless ``allow_dropped_zeros``. Raises SheetError (nothing sent) for an unreadable
    file, unknown columns, or an ``action`` column naming another action than ``action``.

    Memory does not grow with the file beyond a small object per row: a CSV is read row by row, each row's cells,
    typed ``edits``, ``payload`` and ``changes`` are spilled to a temporary file (held in memory up to 16 MiB)
    and read back when used (the results file, ``changes``, ``apply``), and the current state is fetched on
    ``workers`` threads (default: enough for the client's rate limit, 8 without one) under the client's rate
    limiter a bounded way ahead of the rows being resolved, ``FETCH_GROUP`` customers at a time, in file order.
    ``progress`` reports rows read and ids fetched."""
    chosen = None if action is None else parse_action(str(action))
    if action is not None and chosen is None:
        raise ValueError(f"unknown action {action!r}; use one of {', '.join(Action)}")
    if client is None:
        from .._connect import connect

        client = connect()
    if isinstance(source, pd.DataFrame):
        data = sheet_from_frame(source)
        stream: Iterator[SheetRow] = iter(data.rows)
    else:
        data, stream = open_sheet(source, sheet=sheet, encoding=encoding)
    if columns is not None:
        mapping = columns if isinstance(columns, ColumnMapping) else ColumnMapping.from_dict({"columns": columns})
        data.rows = list(stream)  # a mapping looks at whole columns
        data = mapping.apply(data)
        stream = iter(data.rows)
    check_columns(data.columns, str(data.path))
    data.rows = []  # the rows are the plan's: each sheet row is dropped once interpreted
    reader = _RowReader(data, chosen or Action.UPSERT, allow_dropped_zeros=allow_dropped_zeros, encoding=encoding)
    with _collecting_young_only():
        rows = reader.read(stream, progress)
        if chosen is not None:
            check_action_column(rows, chosen, str(data.path))
        flag_duplicates(rows, data)
        reader.resolve((r for r in rows if r.pending and r.customer_id), client, workers, progress)
    return Plan(client, data, rows, emptied_cells=reader.emptied_cells, deleted=reader.deleted)


