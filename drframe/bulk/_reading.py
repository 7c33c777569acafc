"""Reading a plan's rows: interpreted as they stream in, kept compact, and resolved a fetched group of
customers at a time."""

from __future__ import annotations

import gc
import os
import pickle
import tempfile
import weakref
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from itertools import repeat
from typing import IO, TYPE_CHECKING, Any

from .._files._sheets import Sheet, SheetRow
from .._memory import release_memory
from .._progress import progress as progress_of
from .._tables._frames import column_path, to_frames
from ._constants import CUSTOMER_KEY, FIELD_ACTIONS, Action
from ._resolve import _refuse_dropped_zeros, _refuse_garbled_text, _resolve
from ._rows import (
    _NO_EDITS,
    RowPlan,
    emptied_cells,
    interpret,
    read_edits,
)

if TYPE_CHECKING:
    from .._api._client import Client

_NO_COLUMNS: frozenset[str] = frozenset()

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
