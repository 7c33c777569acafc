"""Table assembly: :class:`_Table` joins one table's chunks (lists from the Python walk, arrow arrays from the
arrow path) column by column, types each column as declared, warns about undeclared fields and builds the
``_empty_values`` bookkeeping column (explicit nulls, ``{}``, ``[]`` and non-canonical timestamp texts).
"""

from __future__ import annotations

import warnings
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..._core._schema import FREE_FORM_PREFIXES
from ..._errors import UnknownFieldWarning
from ._dtypes import (
    _ARROW_STRINGS,
    _POOL,
    _STRING_KINDS,
    ArrowError,
    _all_missing,
    _arrow_datetimes,
    _from_arrow,
    _integers,
    _json_text,
    _json_texts,
    _json_value,
    _strings,
    _typed,
    _typed_datetimes,
    _undeclared,
)
from ._specs import _PARENT, EMPTY_VALUES_COLUMN, PARENT_ROW_COLUMN, TableSpec, column_order, column_path

if TYPE_CHECKING:
    from ._walk import _Chunk

class _Table:
    """One table's chunks, joined column by column, then built into the typed DataFrame.

    A chunk's column is a list (the Python walk) or an arrow array (the arrow path); ``pieces`` keeps each with
    the row it starts at, and :meth:`take` joins them without copying when they are all arrow.
    """

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self.rows = 0
        self.pieces: dict[str, list[tuple[int, Any]]] = {}
        self.kinds: dict[str, set[type]] = {}
        self.empties: dict[int, dict[str, Any]] = {}
        #: ``(path, rows, value)``: one bookkeeping value at many rows (:meth:`_Chunk.empty_rows`).
        self.many_empties: list[tuple[str, Any, Any]] = []
        #: Per datetime path, the rows (numpy) and original texts (a list or an arrow array) of the
        #: non-canonical timestamps.
        self.texts: dict[str, tuple[Any, Any]] = {}
        self.positions: list[Any] = []
        self.parent_rows: list[Any] = []

    def add(self, chunk: _Chunk, positions: Any = (), parent_rows: Any = ()) -> None:
        rows = self.rows
        for path, column in chunk.columns.items():
            self.pieces.setdefault(path, []).append((rows, column))
            if column.__class__ is list:
                self.kinds.setdefault(path, set()).update(chunk.kinds[path])
        for row, empties in chunk.empties.items():
            self.empties[rows + row] = empties
        self.many_empties.extend((path, np.asarray(at, dtype="int64") + rows, value)
                                 for path, at, value in chunk.many_empties)
        self.positions.append(positions)
        self.parent_rows.append(parent_rows)
        self.rows += chunk.n

    def extend(self, other: _Table, parent_offset: int = 0) -> None:
        """Append ``other``'s rows (flattened on their own, before any :meth:`frame`) after this table's;
        ``parent_offset``: the customers before ``other``'s in the joined customers table."""
        rows = self.rows
        for path, pieces in other.pieces.items():
            self.pieces.setdefault(path, []).extend((rows + start, column) for start, column in pieces)
        for path, kinds in other.kinds.items():
            self.kinds.setdefault(path, set()).update(kinds)
        self.empties.update((rows + row, empties) for row, empties in other.empties.items())
        self.many_empties.extend((path, at + rows, value) for path, at, value in other.many_empties)
        self.positions.extend(other.positions)
        self.parent_rows.extend(np.asarray(parents, dtype="int64") + parent_offset for parents in other.parent_rows)
        self.rows += other.rows

    def frame(self) -> pd.DataFrame:
        spec = self.spec
        n = self.rows
        data: dict[str, Any] = {}
        if spec.key:
            where = f"{spec.name}.{spec.key}"
            data[spec.key] = self.typed("id", "string", where) if "id" in self.pieces else _all_missing("string", n)
        if spec.parent_key:
            where = f"{spec.name}.{spec.parent_key}"
            data[spec.parent_key] = self.typed(_PARENT, "string", where) if _PARENT in self.pieces else \
                _all_missing("string", n)
            data["position"] = _integers(self.positions)
            data[PARENT_ROW_COLUMN] = _integers(self.parent_rows)
        seen = set(self.pieces)
        free = {p for p in seen if p not in spec.paths and column_path(p)[0] in FREE_FORM_PREFIXES}
        unknown = sorted(p for p in seen if p not in spec.paths and p not in free)
        # Declared columns exist whatever the data holds, so every table has a stable shape.
        for path, kind in spec.paths.items():
            if path in seen:
                data[path] = self.typed(path, kind)
            elif spec.always(path):
                data[path] = _all_missing(kind, n)
        for path in free:
            data[path] = _undeclared(*self.take(path))
        if unknown:
            warnings.warn(
                f"{spec.name}: undeclared fields kept as object columns: {', '.join(unknown[:10])}"
                + (" ..." if len(unknown) > 10 else ""),
                UnknownFieldWarning,
                stacklevel=3,
            )
            for path in unknown:
                data[path] = _undeclared(*self.take(path))
        data[EMPTY_VALUES_COLUMN] = self.bookkeeping()
        ordered = {column: data[column] for column in column_order(spec.name, data)}
        return pd.DataFrame(ordered, index=pd.RangeIndex(n), copy=False)

    def bookkeeping(self) -> Any:
        """The ``_empty_values`` column: per row, ``json.dumps({path: value}, ensure_ascii=False, sort_keys=True)``
        of what the cells cannot say, NA where there is nothing."""
        by_path: dict[str, list[tuple[int, str]]] = {}
        for row, values in self.empties.items():
            for path, value in values.items():
                by_path.setdefault(path, []).append((row, _json_value(value)))
        for path, at, value in self.many_empties:
            by_path.setdefault(path, []).extend(zip(at.tolist(), repeat(_json_value(value))))
        if not by_path and not self.texts:
            return _all_missing("string", self.rows)
        if not _ARROW_STRINGS:
            per_row: dict[int, dict[str, str]] = {}
            for path, pairs in by_path.items():
                for row, json_text in pairs:
                    per_row.setdefault(row, {})[path] = json_text
            for path, (at, originals) in self.texts.items():
                for row, original in zip(at.tolist(), originals, strict=True):
                    per_row.setdefault(row, {})[path] = _json_text(original)
            cells: list[str | None] = [None] * self.rows
            for row, parts in per_row.items():
                cells[row] = "{" + ", ".join(f"{_json_text(p)}: {parts[p]}" for p in sorted(parts)) + "}"
            return _strings(cells)
        import pyarrow as pa
        import pyarrow.compute as pc

        text_type = pa.large_string()
        entries: dict[str, tuple[Any, Any]] = {}  # path -> (rows, their JSON values as arrow text)
        for path in sorted(by_path.keys() | self.texts.keys()):
            at_parts, json_parts = [], []
            found = by_path.get(path)
            if found:
                at_rows, json_texts = zip(*found, strict=True)
                at_parts.append(np.array(at_rows, dtype="int64"))
                json_parts.append(pa.array(json_texts, type=text_type))
            if path in self.texts:
                at, originals = self.texts[path]
                at_parts.append(np.asarray(at, dtype="int64"))
                json_parts.append(_json_texts(originals))
            chunks = [c for part in json_parts for c in (part.chunks if hasattr(part, "chunks") else [part])]
            entries[path] = (np.concatenate(at_parts), pa.chunked_array(chunks, type=text_type))
        # Built over the rows that have something (a few percent, usually), then spread over all rows.
        present = np.zeros(self.rows, dtype=bool)
        for at, _ in entries.values():
            present[at] = True
        rows = np.flatnonzero(present)
        slot = np.full(self.rows, -1, dtype="int64")
        slot[rows] = np.arange(len(rows))
        # Each path's entries become its '"path": value' texts, and are let go at once: the memory of a table
        # whose rows nearly all have something (odd timestamps in every state transition) would otherwise hold
        # every intermediate at the same time.
        text = pa.scalar("", text_type)
        pairs = []
        while entries:
            path, (at, json_values) = entries.popitem()
            index = np.full(len(rows), -1, dtype="int64")
            index[slot[at]] = np.arange(len(at))
            cells = pc.take(json_values.combine_chunks(memory_pool=_POOL),
                            pa.array(index, mask=index < 0 if len(at) < len(rows) else None), memory_pool=_POOL)
            del json_values  # null where the row has nothing at this path:
            pairs.append(pc.binary_join_element_wise(pa.scalar(_json_text(path) + ": ", text_type), cells, text,
                                                     memory_pool=_POOL))
            del cells
        pairs.reverse()  # popitem took the paths last first
        joined = pc.binary_join_element_wise(*pairs, pa.scalar(", ", text_type), null_handling="skip",
                                             memory_pool=_POOL)
        del pairs
        objects = pc.binary_join_element_wise(pa.scalar("{", text_type), joined, pa.scalar("}", text_type), text,
                                              memory_pool=_POOL)
        del joined
        if len(rows) == self.rows:
            return pd.arrays.ArrowStringArray(objects)
        return pd.arrays.ArrowStringArray(pc.take(objects, pa.array(slot, mask=slot < 0), memory_pool=_POOL))

    def take(self, path: str) -> tuple[Any, set[type] | None]:
        """A column's values: one arrow ChunkedArray (kinds None) when every piece is arrow, else a list."""
        pieces = self.pieces.pop(path)
        kinds = self.kinds.pop(path, set())
        if all(piece.__class__ is not list for _, piece in pieces) and len({piece.type for _, piece in pieces}) == 1:
            import pyarrow as pa

            chunks, at = [], 0
            for start, piece in pieces:
                if start > at:
                    chunks.append(pa.nulls(start - at, piece.type, memory_pool=_POOL))
                chunks.append(piece)
                at = start + len(piece)
            if at < self.rows:
                chunks.append(pa.nulls(self.rows - at, chunks[-1].type, memory_pool=_POOL))
            return pa.chunked_array(chunks), None
        if len(pieces) == 1 and pieces[0][0] == 0 and len(pieces[0][1]) == self.rows:
            return pieces[0][1], kinds
        values: list[Any] = [None] * self.rows
        for start, piece in pieces:
            if piece.__class__ is not list:
                piece = piece.to_pylist()
                kinds.update(map(type, piece))
            values[start:start + len(piece)] = piece
        return values, kinds

    def values(self, path: str) -> list[Any]:
        values, _ = self.take(path)
        return values if values.__class__ is list else values.to_pylist()

    def typed(self, path: str, kind: str, where: str | None = None) -> Any:
        values, kinds = self.take(path)
        where = where or f"{self.spec.name}.{path}"
        if kinds is None:
            if kind != "datetime":
                return _from_arrow(values, kind)
            try:
                array, texts = _arrow_datetimes(values)
            except ArrowError:  # a form arrow does not read (a date alone, no offset): pandas decides below
                values, kinds = values.to_pylist(), set(_STRING_KINDS)
        if kinds is not None:
            if kind != "datetime":
                return _typed(values, kinds, kind, where)
            array, texts = _typed_datetimes(values, kinds, where)
        if len(texts[0]):  # the cell holds the instant; the exact text goes back from _empty_values
            self.texts[path] = texts
        return array
