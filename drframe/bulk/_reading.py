"""Reading a plan's rows: interpreted as they stream in, kept compact, and resolved a fetched group of
customers at a time."""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .._files._sheets import Sheet, SheetRow
from .._memory import release_memory
from .._progress import progress as progress_of
from .._tables._frames import column_path, to_frames
from ._constants import CUSTOMER_KEY, FIELD_ACTIONS, Action
from ._resolve import _refuse_dropped_zeros, _refuse_garbled_text, _resolve
from ._rowplan import RowPlan
from ._rows import emptied_cells, interpret
from ._spill import PackedImages, RowStore

if TYPE_CHECKING:
    from .._api._client import Client

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
        self.store = RowStore(sheet.columns)
        # The current state an edit can read: the sheet's columns and all of shipping, from these top-level fields.
        self.columns = {CUSTOMER_KEY, *sheet.columns}
        self.fields = {"id", "shipping", *(column_path(column)[0] for column in sheet.columns)}
        self.deleted = PackedImages()  # row -> the customer a delete row removes (before-image)
        self.attaches = False  # some row attaches to a customer, maybe one the file creates

    def read(self, stream: Iterator[SheetRow], progress: bool) -> list[RowPlan]:
        rows = []
        with progress_of("reading rows", "rows", enabled=progress) as bar:
            for sheet_row in stream:
                row = interpret(sheet_row, self.sheet.sha256, self.action)
                self.attaches = self.attaches or row.target is not None
                row.spill(self.store)
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

    def resolve(self, rows: Iterable[RowPlan], client: Client, workers: int | None, progress: bool) -> None:
        """Fetch the customers of ``rows`` (concurrently, a bounded way ahead) and resolve the rows in file order:
        a create earlier in the file is what an attach later in it may rely on."""
        fetching: deque[list[RowPlan]] = deque()  # the groups asked for and not yet resolved (a bounded few)

        def asked() -> Iterator[list[str]]:
            for group in _fetch_groups(rows):
                fetching.append(group)
                yield [r.customer_id or "" for r in group]

        found = client.customers.iter_many_raw(asked(), workers=workers, progress=progress)
        created_in_file: set[str] = set()
        for number, current_raw in enumerate(found):
            group = fetching.popleft()
            gc.collect(1)  # the cycles the previous group left (automatic collection is paused)
            if number % 4 == 3:
                release_memory()
            current_rows = self.current_rows(current_raw)
            for row in group:
                customer_id = row.customer_id or ""
                current = current_rows.get(customer_id)
                row.unspill()  # its typed edits, read with its cells
                if row.action in FIELD_ACTIONS and current is not None:
                    self.emptied_cells += emptied_cells(row.cells, current)
                if row.pending:
                    _resolve(row, current, current_raw.get(customer_id), created_in_file)
                    if row.pending and not self.allow_dropped_zeros:
                        _refuse_dropped_zeros(row)
                    if row.pending:
                        _refuse_garbled_text(row, self.encoding)
                if row.pending and row.action is Action.CREATE and self.attaches:
                    created_in_file.add(customer_id)
                elif row.pending and row.action is Action.DELETE:
                    self.deleted[row.row] = current_raw[customer_id]
                elif not row.pending:
                    row.edits, row.payload = {}, None  # never sent: a result needs its status and changes only
                row.spill(self.store)


#: Customers whose current state is fetched, flattened and compared at a time (5 calls of 100 ids).
FETCH_GROUP = 500


def _fetch_groups(rows: Iterable[RowPlan]) -> Iterator[list[RowPlan]]:
    """Consecutive runs of ``rows`` naming at most ``FETCH_GROUP`` distinct customers each (file order is kept:
    a create earlier in the file is what an attach later in it may rely on), made as they are asked for."""
    group: list[RowPlan] = []
    ids: set[str] = set()
    for row in rows:
        if group and row.customer_id not in ids and len(ids) >= FETCH_GROUP:
            yield group
            group, ids = [], set()
        group.append(row)
        ids.add(row.customer_id or "")
    if group:
        yield group
