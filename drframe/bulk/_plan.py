"""The plan: every valid row resolved against the current state of its customer (fetched 100 ids per call), so
each row either knows its outcome already or carries the exact payload it will send."""

from __future__ import annotations

import gc
import os
import pickle
import tempfile
import weakref
from collections import Counter
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pandas as pd

from .._api import default_workers
from .._core._models import CustomerUpdate, validate_payload
from .._core._schema import CUSTOMER_PATHS
from .._core._text import CLEAR, drops_leading_zeros, garbled_utf8, lost_in_encoding, neutralise
from .._errors import InvalidRequest
from .._files._sheets import Sheet, SheetRow, open_sheet
from .._memory import release_memory
from .._progress import progress as progress_of
from .._tables._editing import edit_customer
from .._tables._frames import column_path, to_frames
from ._constants import CUSTOMER_KEY, FIELD_ACTIONS, SOURCE_COLUMN, TAX_COLUMN, TAX_VALUE_COLUMN, Action, Status
from ._guards import check_limits
from ._mapping import ColumnMapping
from ._results import BulkResult, changes_frame, errors_frame, html_summary, outcome_frame, resubmit_frame
from ._rows import (
    _NO_EDITS,
    GENERATED_ID_PREFIX,
    CellError,
    RowPlan,
    check_action_column,
    check_columns,
    emptied_cells,
    flag_duplicates,
    interpret,
    parse_action,
    read_edits,
    sheet_from_frame,
)
from ._run import run_plan

if TYPE_CHECKING:
    from .._api._client import Client

_NO_COLUMNS: frozenset[str] = frozenset()
#: The field a tax number change is listed under in a plan's changes.
TAX_FIELD = "tax_identifier"


def _payload_errors(plan: RowPlan, exc: InvalidRequest) -> None:
    """Each payload error on the column that holds the bad value (a metadata rule on its ``metadata.<key>``)."""
    for parameter, _, message in exc.errors:
        if parameter == "metadata":  # the rule names the whole object: find the keys of this row that break it
            culprits = []
            for column, value in plan.edits.items():
                if column.startswith("metadata."):
                    try:
                        validate_payload(CustomerUpdate, {"metadata": {column.removeprefix("metadata."): value}})
                    except InvalidRequest as single:
                        culprits += [(column, text) for _, _, text in single.errors]
            for column, text in culprits:
                plan.fail(column, text)
            if culprits:
                continue
        column = parameter if parameter in plan.cells or parameter in CUSTOMER_PATHS else next(
            (c for c in plan.cells if c.startswith(parameter + ".") and plan.cells[c]), parameter)
        if column == "id":
            column = CUSTOMER_KEY
        plan.fail(column, message)


def _refuse_dropped_zeros(plan: RowPlan) -> None:
    """A change whose only effect is to drop leading zeros from a text of digits (``'02108'`` -> ``'2108'``) makes
    the row invalid: a spreadsheet read the text as a number, and the analyst most likely never meant it."""
    for column, before, after in plan.changes:
        if column == TAX_FIELD:  # "<type> <value>": compare the values
            before, after = (value.partition(" ")[2] if isinstance(value, str) else value for value in (before, after))
        if drops_leading_zeros(before, after):
            zeros = "zeros" if str(before).startswith("00") else "zero"
            plan.fail(TAX_VALUE_COLUMN if column == TAX_FIELD else column,
                      f"Excel dropped the leading {zeros} of {before!r}; format the column as Text and type it again, "
                      "or pass --allow-dropped-zeros (allow_dropped_zeros=True) if you mean it")


def _refuse_garbled_text(plan: RowPlan, encoding: str | None) -> None:
    """A change whose only effect is what a file's encoding did to the stored text makes the row invalid: nobody
    typed it.  ``'東京'`` -> ``'??'``: the file was saved as ``encoding``, which cannot hold those characters;
    ``'Léa'`` -> ``'LÃ©a'``: a UTF-8 file was opened as Windows-1252 and saved; ``'+1-952'`` -> ``"'+1-952"``: a
    CSV export's quoting apostrophe kept as text by the spreadsheet that opened it."""
    for column, before, after in plan.changes:
        if column == TAX_FIELD:
            continue
        if encoding and lost_in_encoding(before, after, encoding):
            plan.fail(column, f"{before!r} became {after!r} when the file was saved as {encoding}, which cannot hold "
                              "its characters; save the file as CSV UTF-8 and apply that")
        elif garbled_utf8(before, after):
            plan.fail(column, f"{before!r} became {after!r}: a UTF-8 file was opened as Windows-1252 (ANSI) and "
                              "saved; open or import it as UTF-8 (Data > From Text/CSV, 65001: UTF-8) and save again")
        elif isinstance(before, str) and before != after and neutralise(before) == after:
            plan.fail(column, f"{after!r} is {before!r} with the apostrophe a CSV export puts before such a cell, "
                              "kept as text by the spreadsheet that opened the CSV; remove it, or edit an .xlsx "
                              "export instead")


def refused_values(sheet: Sheet) -> list[CellError]:
    """The cell errors of ``sheet``'s rows that no current state can cure, each row checked as bulk checks it and
    its field edits validated as a create by the same models. No network (``drframe map`` flags them)."""
    errors: list[CellError] = []
    for sheet_row in sheet.rows:
        row = interpret(sheet_row, sheet.sha256)
        if row.action in FIELD_ACTIONS:  # also when another cell of the row is refused already
            try:
                edit_customer(None, row.edits, customer_id=row.customer_id)
            except InvalidRequest as exc:
                _payload_errors(row, exc)
        errors += row.errors
    return errors


def _resolve(plan: RowPlan, current: Mapping[str, Any] | None, raw: Mapping[str, Any] | None,
             created_in_file: set[str]) -> None:
    """Decide what ``plan`` sends, given the customer's current row (None when it does not exist)."""
    if plan.action is Action.UPSERT:
        plan.action = Action.UPDATE if current is not None else Action.CREATE
        plan.upserted = True
    action = plan.action
    if action in {Action.CREATE, Action.UPDATE}:
        _resolve_fields(plan, current, raw)
    elif action is Action.DELETE:
        if current is None:
            plan.status, plan.note = Status.UNCHANGED, "already absent"
        else:
            plan.changes = [(CUSTOMER_KEY, plan.customer_id, None)]
    elif current is None and plan.customer_id not in created_in_file:
        plan.fail(CUSTOMER_KEY, "no such customer", Status.FAILED)
    else:
        _resolve_attachment(plan, raw)


def _resolve_fields(plan: RowPlan, current: Mapping[str, Any] | None, raw: Mapping[str, Any] | None) -> None:
    if plan.action is Action.UPDATE and current is None:
        plan.fail(CUSTOMER_KEY, "no such customer (use action 'upsert' or 'create' to create it)", Status.FAILED)
        return
    try:
        plan.payload, plan.changes = edit_customer(current, plan.edits, customer_id=plan.customer_id)
    except InvalidRequest as exc:
        _payload_errors(plan, exc)
        return
    fields_change = bool(plan.changes)
    if current is not None and not fields_change:
        plan.payload = None  # nothing to update: only the tax identifier, if anything, is sent
    _resolve_tax_identifier(plan, raw)
    if plan.action is Action.CREATE and current is not None and plan.changes:
        if fields_change or not (plan.customer_id or "").startswith(GENERATED_ID_PREFIX):
            _refuse_create_of_existing(plan)
            return
        # An id derived from this file exists only because an earlier run of it created the customer (and stopped
        # before its tax identifier): finish the row.
        plan.action, plan.note = Action.UPDATE, "created by an earlier run of this file; its tax identifier is left"
    if not plan.changes:
        plan.status = Status.UNCHANGED
        if plan.action is Action.CREATE and current is not None:
            plan.note = "already exists with these values"


def _refuse_create_of_existing(plan: RowPlan) -> None:
    """A create whose customer exists and would change: failed before sending (the API refuses it with 409
    already_exists), with the changes it would have made, so that customer is left as it is."""
    changed = ", ".join(f"{name} {before!r} -> {after!r}" for name, before, after in plan.changes)
    plan.changes, plan.payload, plan.tax_identifier, plan.replaces_tax_id = [], None, None, None
    plan.fail(CUSTOMER_KEY, f"already exists, and this create would change it ({changed}); a create of an "
                            "existing id is refused (HTTP 409 already_exists), so nothing is sent for this row "
                            "(action 'update' or 'upsert' changes existing customers)", Status.FAILED)


def _resolve_tax_identifier(plan: RowPlan, raw: Mapping[str, Any] | None) -> None:
    """The change a ``tax_identifier.*`` pair makes: none when the customer holds that value of that type; else
    the new one (created and attached), replacing the one of that type it holds (deleted first), as
    tax-identifiers.md prescribes: an identifier's value cannot be changed."""
    if plan.tax_identifier is None:
        return
    kind, value = plan.tax_identifier
    held = [t for t in (raw or {}).get("taxIdentifiers") or [] if str(t.get("type", "")).casefold() == kind]
    if any(t.get("value") == value for t in held):
        plan.tax_identifier = None
        return
    plan.replaces_tax_id = str(held[0]["id"]) if held else None
    before = f"{kind} {held[0].get('value')}" if held else None
    plan.changes.append((TAX_FIELD, before, f"{kind} {value}"))


def _resolve_attachment(plan: RowPlan, raw: Mapping[str, Any] | None) -> None:
    """Attach/detach: unchanged when the customer already is in the asked state."""
    kind = "taxIdentifiers" if plan.action is Action.ATTACH_TAX_IDENTIFIER else "sources"
    attached = {item.get("id") for item in (raw or {}).get(kind) or []}
    attaching = plan.action is not Action.DETACH_SOURCE
    is_attached = plan.target in attached
    if is_attached == attaching:
        plan.status = Status.UNCHANGED
        plan.note = "already attached" if is_attached else "not attached"
        return
    column = TAX_COLUMN if kind == "taxIdentifiers" else SOURCE_COLUMN
    plan.changes = [(column, None, plan.target) if attaching else (column, plan.target, None)]


def check_row(number: int, cells: Mapping[str, str], current: Mapping[str, Any] | None) -> RowPlan:
    """One row checked as :func:`plan` checks it, against a ``current`` customers row the caller already holds
    (None: the customer does not exist), with no call: the same cell errors and field changes (a tax number's
    change is left to the plan, which fetches the identifiers)."""
    row = interpret(SheetRow(number, dict(cells)), "")
    if row.pending and row.action in FIELD_ACTIONS:
        _resolve(row, current, None, set())
    return row


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

    Memory stays small for big files: a CSV is read row by row, each row keeps only its cells (in a compact,
    read-only mapping) and outcome, and the current state is fetched on ``workers`` threads (default: enough for
    the client's rate limit, 8 without one) under the client's rate limiter a bounded way ahead of the rows
    being resolved, ``FETCH_GROUP`` customers at a time, in file order.  Typed ``edits`` and ``payload`` are
    kept for the rows that will be sent.  ``progress`` reports rows read and ids fetched."""
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
        reader.resolve([r for r in rows if r.pending and r.customer_id], client, workers, progress)
    return Plan(client, data, rows, emptied_cells=reader.emptied_cells, deleted=reader.deleted)


@contextmanager
def _collecting_young_only() -> Iterator[None]:
    """Automatic garbage collection paused while rows are read and resolved (restored after, as it was).

    Every row kept adds a few objects the collector tracks, so its full collections, triggered by that growth,
    walk all the rows read so far again and again: about a seventh of a big plan's CPU.  Reading rows makes no
    reference cycles; what resolving makes (frames, a fetch's futures) is collected young, once per fetched group
    (:meth:`_RowReader.resolve`)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _RowReader:
    """Rows interpreted as they are read, kept small, and resolved a fetched group at a time."""

    def __init__(self, sheet: Sheet, action: Action = Action.UPSERT, *, allow_dropped_zeros: bool = False,
                 encoding: str | None = None) -> None:
        self.sheet = sheet
        self.encoding = encoding
        self.action = action
        self.allow_dropped_zeros = allow_dropped_zeros
        self.emptied_cells = 0
        self.compact = _RowCompactor(sheet.columns)
        # The current state an edit can read: the sheet's columns and all of shipping, from these top-level fields.
        self.columns = {CUSTOMER_KEY, *sheet.columns}
        self.fields = {"id", "shipping", *(column_path(column)[0] for column in sheet.columns)}
        self.literal: dict[int, set[str]] = {}  # row -> columns marked as text: edits are made again from them
        self.deleted = PackedImages()  # row -> the customer a delete row removes (before-image)

    def read(self, stream: Iterator[SheetRow], progress: bool) -> list[RowPlan]:
        rows = []
        with progress_of("reading rows", "rows", enabled=progress) as bar:
            for sheet_row in stream:
                row = interpret(sheet_row, self.sheet.sha256, self.action)
                row.cells, row.edits = self.compact(sheet_row.cells), _NO_EDITS  # made again when resolving
                if sheet_row.literal:
                    self.literal[row.row] = sheet_row.literal
                rows.append(row)
                bar.update(1)
        return rows

    def current_rows(self, raw: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """The fetched customers' rows of the customers frame (by id), with only the columns an edit can read: the
        sheet's, and all of shipping (a change sends the whole object).  Only the top-level fields of those
        columns are flattened.  A missing cell is None (``DataFrame.to_dict`` gives None or NaN: an edit treats
        both as missing)."""
        if not raw:
            return {}
        fields = self.fields
        flat = to_frames([{k: v for k, v in customer.items() if k in fields} for customer in raw.values()]).customers
        names = [str(c) for c in flat.columns if c in self.columns or str(c).startswith("shipping.")]
        values = [flat[c].to_numpy(dtype=object, na_value=None).tolist()  # type: ignore[call-overload]
                  for c in names]
        rows = (dict(zip(names, cells, strict=True)) for cells in zip(*values, strict=True))
        return {str(row[CUSTOMER_KEY]): row for row in rows}

    def resolve(self, rows: list[RowPlan], client: Client, workers: int | None, progress: bool) -> None:
        """Fetch the customers of ``rows`` (concurrently, a bounded way ahead) and resolve the rows in file order:
        a create earlier in the file is what an attach later in it may rely on."""
        groups = _fetch_groups(rows)
        found = client.customers.iter_many_raw(([r.customer_id or "" for r in group] for group in groups),
                                               workers=workers, progress=progress)
        created_in_file: set[str] = set()
        for number, (group, current_raw) in enumerate(zip(groups, found, strict=True)):
            gc.collect(1)  # the cycles the previous group left (automatic collection is paused)
            if number % 4 == 3:
                release_memory()
            current_rows = self.current_rows(current_raw)
            for row in group:
                customer_id = row.customer_id or ""
                current = current_rows.get(customer_id)
                if row.action in FIELD_ACTIONS:
                    cells = self.compact.expand(row.cells)
                    row.edits = {}
                    read_edits(row, cells, self.literal.get(row.row, _NO_COLUMNS), _NO_COLUMNS)
                    if row.pending and current is not None:
                        self.emptied_cells += emptied_cells(cells, current)
                if row.pending:
                    _resolve(row, current, current_raw.get(customer_id), created_in_file)
                    if row.pending and not self.allow_dropped_zeros:
                        _refuse_dropped_zeros(row)
                    if row.pending:
                        _refuse_garbled_text(row, self.encoding)
                if row.pending and row.action is Action.CREATE:
                    created_in_file.add(customer_id)
                elif row.pending and row.action is Action.DELETE:
                    self.deleted[row.row] = current_raw[customer_id]
                elif not row.pending:
                    row.edits, row.payload = {}, None  # never sent: a result needs its status and changes only
                row.pack()


class _RowCompactor:
    """Rows' cells as read-only mappings over one column index shared by every row of the sheet, each row's
    texts joined into one string: about a quarter of the memory of a dict of strings per row."""

    def __init__(self, columns: list[str]) -> None:
        self.index = {column: position for position, column in enumerate(columns)}

    def __call__(self, cells: Mapping[str, str]) -> CompactRow:
        values = tuple(map(cells.get, self.index, repeat("")))
        joined = _SEPARATOR.join(values)
        if joined.count(_SEPARATOR) != len(values) - 1:  # a text holds the separator
            return CompactRow(self.index, values)
        return CompactRow(self.index, joined)

    @staticmethod
    def expand(cells: Mapping[str, str]) -> dict[str, str]:
        return cells.to_dict() if isinstance(cells, CompactRow) else dict(cells)


#: Joins a row's texts (ASCII's unit separator; a row whose cells hold it keeps them as a tuple).
_SEPARATOR = "\x1f"


class CompactRow(Mapping[str, str]):
    """One row's cells: column -> text, read-only, over a column index shared by every row of the sheet."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: Mapping[str, int], values: str | tuple[str, ...]) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, column: str) -> str:
        values = self._values
        if isinstance(values, str):
            return values.split(_SEPARATOR)[self._index[column]]
        return values[self._index[column]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"CompactRow({self.to_dict()!r})"

    def to_dict(self) -> dict[str, str]:
        """The cells as a plain dict (one split, not one per column)."""
        values = self._values
        return dict(zip(self._index, values.split(_SEPARATOR) if isinstance(values, str) else values, strict=True))


class PackedImages(MutableMapping[int, dict[str, Any]]):
    """Row -> a whole customer (a delete row's before-image), each pickled into a temporary file: the customers a
    big delete file removes stay out of memory. Reading gives a fresh copy."""

    def __init__(self) -> None:
        self._where: dict[int, tuple[int, int]] = {}  # row -> (offset, length) in the file
        self._file: IO[bytes] | None = None

    def __getitem__(self, row: int) -> dict[str, Any]:
        offset, length = self._where[row]
        assert self._file is not None
        self._file.seek(offset)
        # Written by __setitem__ from a customer as fetched, into a file only this object holds.
        image: dict[str, Any] = pickle.loads(self._file.read(length))
        return image

    def __setitem__(self, row: int, image: dict[str, Any]) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the plan, deleted with it)
            weakref.finalize(self, self._file.close)
        packed = pickle.dumps(image, pickle.HIGHEST_PROTOCOL)
        offset = self._file.seek(0, os.SEEK_END)
        self._file.write(packed)
        self._where[row] = (offset, len(packed))

    def __delitem__(self, row: int) -> None:
        del self._where[row]

    def __iter__(self) -> Iterator[int]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


#: Customers whose current state is fetched, flattened and compared at a time (5 calls of 100 ids).
FETCH_GROUP = 500


def _fetch_groups(rows: list[RowPlan]) -> list[list[RowPlan]]:
    """Consecutive runs of ``rows`` naming at most ``FETCH_GROUP`` distinct customers each (file order is kept:
    a create earlier in the file is what an attach later in it may rely on)."""
    groups: list[list[RowPlan]] = []
    ids: set[str] = set()
    for row in rows:
        if not groups or (row.customer_id not in ids and len(ids) >= FETCH_GROUP):
            groups.append([])
            ids = set()
        groups[-1].append(row)
        ids.add(row.customer_id or "")
    return groups
