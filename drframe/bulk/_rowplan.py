"""One input row of a plan (:class:`RowPlan`) and why it is invalid (:class:`CellError`): its bulky parts (cells,
payload, changes, typed edits) kept in the plan's spill, so memory does not grow with the file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ._constants import Action, Status

if TYPE_CHECKING:
    from ._spill import RowStore, Spilled

#: The edits and cells of every spilled row (never written to: a row's edits are read into a dict of its own).
_NO_EDITS: dict[str, Any] = {}
_NO_CELLS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class CellError:
    """Why a row is invalid: the spreadsheet row, the column, the cell's text and a message."""

    row: int
    column: str
    value: str
    message: str

    def __str__(self) -> str:
        if not self.column:
            return self.message
        if repr(self.value) in self.message:  # the message quotes the value already
            return f"{self.column}: {self.message}"
        return f"{self.column}={self.value!r}: {self.message}"


@dataclass(slots=True, init=False, repr=False)  # one per input row: slots keep a big plan smaller
class RowPlan:
    """One input row: what will be sent for it, or the status it already has.

    ``action`` is the row's action (``upsert`` resolved to create or update by the plan); None for a blank row or
    an unknown action. ``status`` is the final status known without a call (invalid, unchanged, failed, skipped);
    None = pending. ``tax_identifier`` is the (type, value) of a tax number the customer must hold after this row
    (``tax_identifier.*`` columns); ``replaces_tax_id`` the id of the customer's tax identifier of that type with
    another value, deleted before the new one. ``upserted``: the row asked for ``upsert`` and the plan resolved it
    (to update when the customer exists).

    A plan keeps each row's ``cells``, ``payload``, ``changes``, typed ``edits``, ``target`` and ``tax_identifier``
    spilled to a file (:meth:`spill`):
    reading them gives a fresh copy, so change them by assigning (which spills the row again), not in place."""

    row: int
    _cells: Mapping[str, str]
    action: Action | None
    customer_id: str | None
    _target: str | None
    _edits: dict[str, Any]
    status: Status | None
    _errors: list[CellError] | None
    note: str
    resumed: bool
    _tax_identifier: tuple[str, str] | None
    replaces_tax_id: str | None
    upserted: bool
    _payload: dict[str, Any] | None
    _changes: list[tuple[str, Any, Any]] | None
    _store: RowStore | None
    _ref: int | None

    def __init__(self, row: int, cells: Mapping[str, str], action: Action | None, *, customer_id: str | None = None,
                 target: str | None = None, edits: dict[str, Any] | None = None,
                 payload: dict[str, Any] | None = None, changes: list[tuple[str, Any, Any]] | None = None,
                 status: Status | None = None, errors: list[CellError] | None = None, note: str = "",
                 resumed: bool = False, tax_identifier: tuple[str, str] | None = None,
                 replaces_tax_id: str | None = None, upserted: bool = False) -> None:
        self.row, self._cells, self.action, self.customer_id, self._target = row, cells, action, customer_id, target
        self._edits = {} if edits is None else edits
        self.status, self._errors, self.note, self.resumed = status, errors or None, note, resumed
        self._tax_identifier, self.replaces_tax_id, self.upserted = tax_identifier, replaces_tax_id, upserted
        self._payload, self._changes, self._store, self._ref = payload, changes, None, None

    def __repr__(self) -> str:
        action = None if self.action is None else str(self.action)
        status = None if self.status is None else str(self.status)
        return (f"RowPlan(row={self.row}, action={action!r}, customer_id={self.customer_id!r}, status={status!r}, "
                f"changes={self.changes!r}, errors={self.errors!r})")

    @property
    def cells(self) -> Mapping[str, str]:
        """The row's input cells: column -> text (read-only)."""
        if self._ref is not None:
            return self._spilled()[0]
        return self._cells

    @cells.setter
    def cells(self, value: Mapping[str, str]) -> None:
        store = self._store
        self.unspill()
        self._cells = value
        self._respill(store)

    @property
    def target(self) -> str | None:
        """The id of the action's second object (``source_id`` / ``tax_id`` of the attach/detach actions)."""
        if self._ref is not None:
            return self._spilled()[4]
        return self._target

    @target.setter
    def target(self, value: str | None) -> None:
        store = self._store
        self.unspill()
        self._target = value
        self._respill(store)

    @property
    def tax_identifier(self) -> tuple[str, str] | None:
        """The (type, value) of the tax number the customer must hold after this row."""
        if self._ref is not None:
            return self._spilled()[5]
        return self._tax_identifier

    @tax_identifier.setter
    def tax_identifier(self, value: tuple[str, str] | None) -> None:
        store = self._store
        self.unspill()
        self._tax_identifier = value
        self._respill(store)

    @property
    def errors(self) -> list[CellError]:
        """Why the row is invalid or failed (add one with :meth:`fail` or :meth:`add_error`)."""
        return self._errors if self._errors is not None else []

    @errors.setter
    def errors(self, value: list[CellError]) -> None:
        self._errors = value or None

    def add_error(self, error: CellError) -> None:
        """Record ``error`` (the status is the caller's to set)."""
        if self._errors is None:
            self._errors = []
        self._errors.append(error)

    @property
    def edits(self) -> dict[str, Any]:
        """The row's typed field edits (column -> value; None clears)."""
        if self._ref is not None:
            return self._spilled()[3] or {}
        return self._edits

    @edits.setter
    def edits(self, value: dict[str, Any]) -> None:
        store = self._store
        self.unspill()
        self._edits = value
        self._respill(store)

    @property
    def payload(self) -> dict[str, Any] | None:
        """The request body this row sends (None: nothing, or only its tax identifier)."""
        if self._ref is not None:
            return self._spilled()[1]
        return self._payload

    @payload.setter
    def payload(self, value: dict[str, Any] | None) -> None:
        store = self._store
        self.unspill()
        self._payload = value
        self._respill(store)

    @property
    def changes(self) -> list[tuple[str, Any, Any]]:
        """The field changes: (column, before, after)."""
        if self._ref is not None:
            return self._spilled()[2] or []
        if self._changes is None:
            self._changes = []
        return self._changes

    @changes.setter
    def changes(self, value: list[tuple[str, Any, Any]]) -> None:
        store = self._store
        self.unspill()
        self._changes = value
        self._respill(store)

    def outcome(self) -> tuple[Mapping[str, str], list[tuple[str, Any, Any]]]:
        """(``cells``, ``changes``) read in one go: what a results file shows of the row."""
        if self._ref is not None:
            cells, _, changes, *_ = self._spilled()
            return cells, changes or []
        return self._cells, self.changes

    def spill(self, store: RowStore) -> None:
        """Keep ``cells``, ``payload``, ``changes`` and the typed ``edits`` in ``store`` (out of memory): what a plan
        holds of each row."""
        if self._ref is None:
            self._ref = store.put(self._cells, self._payload, self._changes, self._edits, self._target,
                                  self._tax_identifier)
            self._store = store
            self._cells, self._payload, self._changes, self._edits = _NO_CELLS, None, None, _NO_EDITS
            self._target = self._tax_identifier = None

    def _spilled(self) -> Spilled:
        assert self._store is not None and self._ref is not None
        return self._store.get(self._ref)

    def _respill(self, store: RowStore | None) -> None:
        if store is not None:  # a spilled row stays spilled when changed
            self.spill(store)

    def unspill(self) -> None:
        """Hold ``cells``, ``payload``, ``changes`` and ``edits`` in memory again (to change them)."""
        if self._ref is not None:
            cells, payload, changes, edits, self._target, self._tax_identifier = self._spilled()
            self._cells, self._payload, self._changes, self._edits = cells, payload, changes, edits or {}
            self._store = self._ref = None

    @property
    def pending(self) -> bool:
        """True while the row's outcome is unknown (it will be sent)."""
        return self.status is None

    def fail(self, column: str, message: str, status: Status = Status.INVALID) -> None:
        """Record why the row cannot be sent (naming the column, with the cell's text) and end it as ``status``."""
        self.add_error(CellError(self.row, column, self.cells.get(column, ""), message))
        self.status = status

    @property
    def error_text(self) -> str:
        """The errors as one line, for the results file; empty unless the row is invalid or failed."""
        if self.status not in {Status.INVALID, Status.FAILED}:
            return ""
        return "; ".join(str(e) for e in self.errors) or self.note
