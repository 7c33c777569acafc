"""The plan: every valid row resolved against the current state of its customer (fetched 100 ids per call), so
each row either knows its outcome already or carries the exact payload it will send."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._concurrency import release_memory
from .._editing import edit_customer
from .._errors import InvalidRequest
from .._frames import column_path, to_frames
from .._models import CustomerUpdate, validate_payload
from .._schema import CUSTOMER_PATHS
from .._sheets import Sheet, SheetRow, open_sheet
from ._constants import CUSTOMER_KEY, FIELD_ACTIONS, SOURCE_COLUMN, TAX_COLUMN, Action, Status
from ._guards import check_limits
from ._mapping import ColumnMapping
from ._results import BulkResult, changes_frame, errors_frame, html_summary, outcome_frame, resubmit_frame
from ._rows import RowPlan, check_columns, flag_duplicates, interpret, read_edits, sheet_from_frame
from ._run import run_plan

if TYPE_CHECKING:
    from .._client import Client

_NO_COLUMNS: frozenset[str] = frozenset()


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


def _resolve(plan: RowPlan, current: Mapping[str, Any] | None, raw: Mapping[str, Any] | None,
             created_in_file: set[str]) -> None:
    """Decide what ``plan`` sends, given the customer's current row (None when it does not exist)."""
    if plan.action is Action.UPSERT:
        plan.action = Action.UPDATE if current is not None else Action.CREATE
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
    if plan.action is Action.CREATE and current is not None and fields_change:
        plan.fail(CUSTOMER_KEY, "already exists with other values (use 'update' or 'upsert' to change it)",
                  Status.FAILED)
        return
    _resolve_tax_identifier(plan, raw)
    if not plan.changes:
        plan.status = Status.UNCHANGED
        if plan.action is Action.CREATE and current is not None:
            plan.note = "already exists with these values"


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
    plan.changes.append(("tax_identifier", before, f"{kind} {value}"))


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


@dataclass
class Plan:
    """What a bulk run will do: one :class:`RowPlan` per input row. ``apply()`` carries it out."""

    client: Client
    sheet: Sheet
    rows: list[RowPlan]
    deleted: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
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
    def pending(self) -> list[RowPlan]:
        """The rows that will be sent (no outcome known yet)."""
        return [r for r in self.rows if r.pending]

    @property
    def counts(self) -> dict[str, int]:
        """Rows per planned outcome: each action still to send, plus unchanged / invalid / failed / skipped."""
        return dict(Counter(str(r.action if r.pending else r.status) for r in self.rows))

    def frame(self) -> pd.DataFrame:
        """One row per input row: row, id, action, planned status, error, changes."""
        return outcome_frame(self.rows, planned=True)

    def errors_file(self, path: str | Path) -> Path:
        """Write only the rows already known to be invalid or failed, as :meth:`BulkResult.errors_file` does."""
        from .._export import write_table

        return write_table(path, resubmit_frame(self.rows), sheet="errors")

    @property
    def changes(self) -> pd.DataFrame:
        """The field-level diff: row, id, action, field, before, after."""
        return changes_frame(r for r in self.rows if r.pending)

    @property
    def errors(self) -> pd.DataFrame:
        """Every cell error: row, column, value, message."""
        return errors_frame(self.rows)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()))
        return f"<Plan {self.sheet.path.name}: {len(self.rows)} rows ({counts})>"

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
        workers: int = 8,
        rate: float | None = None,
        journal: str | Path | None = None,
        progress: bool = True,
        keep_journal: bool = False,
        max_changes: int | None = None,
        max_deletes: int | None = None,
        max_failures: float | None = None,
        before_images: str | Path | None = None,
    ) -> BulkResult:
        """Send the pending rows: at most ``workers`` requests in flight (up to twice as many threads, as a worker
        waiting out a Retry-After lends its place), sharing the client's rate limit (``rate`` req/s for this run
        only; the client keeps its own); ``journal`` (a file path) makes the run resumable. Ctrl-C stops cleanly:
        rows not yet sent are ``skipped``. Once every row has finished (applied, unchanged, invalid or blank: nothing failed, skipped or
        in flight, not interrupted) the journal is deleted, unless ``keep_journal``. Raises JournalError (nothing
        sent) when the journal is damaged, and stops with it when the journal cannot be written.

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
        result = run_plan(self, client, workers=workers, journal=journal, progress=progress,
                          keep_journal=keep_journal, max_failures=max_failures)
        if self.saved is not None:
            from ._saved import mark_applied

            mark_applied(self, result, self.run_name)
        return result


def plan(source: str | Path | pd.DataFrame, client: Client | None = None, *, sheet: str | None = None,
         encoding: str | None = None, columns: Mapping[str, str | None] | ColumnMapping | None = None,
         workers: int | None = None, progress: bool = False) -> Plan:
    """Read ``source`` (a .csv/.xlsx/.ods path or a customers-style DataFrame), validate every row and diff it
    against the current state fetched 100 ids per call. ``encoding`` is a CSV file's encoding when it is neither
    UTF-8 nor UTF-16 with BOM; ``columns`` maps the file's headers to drframe columns (``{"E-mail": "email"}``,
    None ignores a header; or a :class:`ColumnMapping` with value maps). Raises SheetError (nothing sent) for an
    unreadable file or unknown columns.

    Memory stays small for big files: a CSV is read row by row, each row keeps only its cells (in a compact,
    read-only mapping) and outcome, and the current state is fetched on ``workers`` threads (default: enough for
    the client's rate limit, 8 without one) under the client's rate limiter a bounded way ahead of the rows
    being resolved, ``FETCH_GROUP`` customers at a time, in file order.  Typed ``edits`` and ``payload`` are
    kept for the rows that will be sent.  ``progress`` shows tqdm bars of rows read and ids fetched."""
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
    reader = _RowReader(data)
    with _collecting_young_only():
        rows = reader.read(stream, progress)
        flag_duplicates(rows)
        reader.resolve([r for r in rows if r.pending and r.customer_id], client, workers, progress)
    return Plan(client, data, rows, deleted=reader.deleted)


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

    def __init__(self, sheet: Sheet) -> None:
        self.sheet = sheet
        self.compact = _CompactCells(sheet.columns)
        # The current state an edit can read: the sheet's columns and all of shipping, from these top-level fields.
        self.columns = {CUSTOMER_KEY, *sheet.columns}
        self.fields = {"id", "shipping", *(column_path(column)[0] for column in sheet.columns)}
        self.literal: dict[int, set[str]] = {}  # row -> columns marked as text: edits are made again from them
        self.deleted: dict[int, dict[str, Any]] = {}  # row -> the customer a delete row removes (before-image)

    def read(self, stream: Iterator[SheetRow], progress: bool) -> list[RowPlan]:
        from tqdm.auto import tqdm

        rows = []
        for sheet_row in tqdm(stream, unit=" rows", desc="reading rows", disable=not progress):
            row = interpret(sheet_row, self.sheet.sha256)
            row.cells, row.edits = self.compact(sheet_row.cells), {}  # edits are made again when resolving
            if sheet_row.literal:
                self.literal[row.row] = sheet_row.literal
            rows.append(row)
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
                if row.action in FIELD_ACTIONS:
                    read_edits(row, self.compact.expand(row.cells), self.literal.get(row.row, _NO_COLUMNS),
                               _NO_COLUMNS)
                customer_id = row.customer_id or ""
                if row.pending:
                    _resolve(row, current_rows.get(customer_id), current_raw.get(customer_id), created_in_file)
                if row.pending and row.action is Action.CREATE:
                    created_in_file.add(customer_id)
                elif row.pending and row.action is Action.DELETE:
                    self.deleted[row.row] = current_raw[customer_id]
                elif not row.pending:
                    row.edits, row.payload = {}, None  # never sent: a result needs its status and changes only


class _CompactCells:
    """Rows' cells as read-only mappings over one column index shared by every row of the sheet, each row's
    texts joined into one string: about a quarter of the memory of a dict of strings per row."""

    def __init__(self, columns: list[str]) -> None:
        self.index = {column: position for position, column in enumerate(columns)}

    def __call__(self, cells: Mapping[str, str]) -> Cells:
        values = tuple(map(cells.get, self.index, repeat("")))
        joined = _SEPARATOR.join(values)
        if joined.count(_SEPARATOR) != len(values) - 1:  # a text holds the separator
            return Cells(self.index, values)
        return Cells(self.index, joined)

    @staticmethod
    def expand(cells: Mapping[str, str]) -> dict[str, str]:
        return cells.to_dict() if isinstance(cells, Cells) else dict(cells)


#: Joins a row's texts (ASCII's unit separator; a row whose cells hold it keeps them as a tuple).
_SEPARATOR = "\x1f"


class Cells(Mapping[str, str]):
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
        return f"Cells({self.to_dict()!r})"

    def to_dict(self) -> dict[str, str]:
        """The cells as a plain dict (one split, not one per column)."""
        values = self._values
        return dict(zip(self._index, values.split(_SEPARATOR) if isinstance(values, str) else values, strict=True))


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
