"""One input row of a plan (:class:`RowPlan`) and why it is invalid (:class:`CellError`): its bulky parts (cells,
payload, changes, typed edits) kept in the plan's spill, so memory does not grow with the file."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

from ._constants import Action, Status

if TYPE_CHECKING:
    from ._spill import RowStore, Spilled

#: The edits and cells of every spilled row (never written to: a row's edits are read into a dict of its own).
_NO_EDITS: dict[str, Any] = {}
_NO_CELLS: Mapping[str, str] = MappingProxyType({})
T = TypeVar("T")


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


class _Kept(Generic[T]):
    """A :class:`RowPlan` field that goes to the plan's spill with the row (at ``index`` of what
    :meth:`RowStore.get` gives back): read from there once spilled, and an assignment spills the row again.
    ``empty`` makes the value read where None is held (a list or dict to fill in place while in memory)."""

    def __init__(self, index: int, empty: Callable[[], T] | None = None) -> None:
        self.index, self.empty = index, empty

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    @overload
    def __get__(self, row: None, owner: type) -> _Kept[T]: ...
    @overload
    def __get__(self, row: RowPlan, owner: type) -> T: ...
    def __get__(self, row: RowPlan | None, owner: type) -> _Kept[T] | T:
        if row is None:
            return self
        spilled = row._ref is not None
        value = row._spilled()[self.index] if spilled else getattr(row, self.slot)
        if value is None and self.empty is not None:
            value = self.empty()
            if not spilled:
                setattr(row, self.slot, value)
        return cast(T, value)

    def __set__(self, row: RowPlan, value: T) -> None:
        store = row._store
        row.unspill()
        setattr(row, self.slot, value)
        if store is not None:  # a spilled row stays spilled when changed
            row.spill(store)


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

    cells = _Kept[Mapping[str, str]](0)
    """The row's input cells: column -> text (read-only)."""
    payload = _Kept[dict[str, Any] | None](1)
    """The request body this row sends (None: nothing, or only its tax identifier)."""
    changes = _Kept[list[tuple[str, Any, Any]]](2, empty=list)
    """The field changes: (column, before, after)."""
    edits = _Kept[dict[str, Any]](3, empty=dict)
    """The row's typed field edits (column -> value; None clears)."""
    target = _Kept[str | None](4)
    """The id of the action's second object (``source_id`` / ``tax_id`` of the attach/detach actions)."""
    tax_identifier = _Kept[tuple[str, str] | None](5)
    """The (type, value) of the tax number the customer must hold after this row."""

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
