"""CSV exports rendered while the listing runs: segments of customers are rendered a batch at a time as they
arrive (:func:`drframe._fetch.csv_in_order`), and once the last one is in, the pieces are assembled in listing
order and written, byte for byte what ``Frames.to_csv`` writes for the joined frames
(:func:`drframe._files._export.write_csv`).

A batch's frames (``to_frames`` of its customers alone) go through the same steps as a whole table
(:func:`csv_ready`, then each column's fields by :func:`drframe._files._csv_out._fields`): every step is cell by
cell, so a batch's fields are the whole table's fields for its rows, provided each column has the same dtype
in every batch that holds a value in it (and so in the joined frames: a declared column has its declared
dtype unless values do not fit, which warns; a free-form or undeclared one is text when every value is, else
object).  Columns differ between segments (``metadata.<key>``, payment methods, undeclared fields): the files'
columns are :func:`column_order` of their union, and a column a segment lacks is empty there.  The child
tables' ``customer_row`` is an offset into the whole ``customers`` table: it is rendered at assembly.  A batch's
rows are joined as it is rendered (the columns before ``customer_row`` and those after it), so the assembly
mostly writes them; a segment that lacks some of the file's columns is joined again from its fields.

When identity cannot be guaranteed, :class:`StreamedCsv` gives up, keeps nothing, and :meth:`StreamedCsv.write`
writes the joined frames the ordinary way, so every byte and every error message is as before: a column whose
dtype differs between batches, a column :func:`_fields` cannot render (an object column mixing types), an
:class:`ExportError`, a text arrow or UTF-8 cannot hold (a lone surrogate), more rendered bytes than ``cap``, or
(decided by the caller) a batch whose frames warn (undeclared fields, values that do not fit) or fail.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .._tables._frames import CUSTOMERS, PARENT_ROW_COLUMN, Frames, column_order
from . import _streamed
from ._atomic import written_whole
from ._csv_out import _fields, csv_header, csv_rows, joined_fields, text_bytes
from ._export import _CSV_DATE_FORMAT, csv_ready, holds_nul, write_csv
from ._streamed import Streamed, Unsure

#: Most bytes of rendered fields held for the assembly; past it, the frames are written at the end instead.
CAP = _streamed.CAP


#: In :attr:`_Rendered.runs`: where the parent row column goes.
_PARENT = None


@dataclass
class _Rendered:
    """One table of some customers: its rows, its columns (as in its frame), each column's CSV fields (but the
    parent row column's), the parent row column's values (child tables), whether a text holds a NUL, and
    ``runs``: the fields of the columns before and after the parent row column already joined (``_PARENT`` where
    it goes; the row end after the last), which make the file's rows when the file has these columns."""

    rows: int
    columns: list[str]
    fields: dict[str, pa.Array]
    parent_rows: Any
    nul: bool
    runs: list[pa.Array | None]

    def part(self, start: int, rows: int, customers_start: int) -> _Rendered:
        """Rows ``start`` to ``start + rows``, whose customers start at row ``customers_start``."""
        parents = None if self.parent_rows is None else self.parent_rows[start:start + rows] - customers_start
        return _Rendered(rows, self.columns, {c: f.slice(start, rows) for c, f in self.fields.items()}, parents,
                         self.nul, [_PARENT if run is None else run.slice(start, rows) for run in self.runs])


class StreamedCsv(Streamed[_Rendered, list[Path]]):
    """The CSV files of an export, rendered a few segments at a time (:meth:`add`, segments in any order, each
    with a sort key) and assembled in key order by :meth:`write`: one CSV per table in ``directory``, or, when it
    gave up, the joined frames written by ``Frames.to_csv``.  ``reason`` says why it gave up, if it did."""

    def __init__(self, directory: str | Path, *, mask_pii: bool = False, cap: int | None = None) -> None:
        super().__init__(mask_pii=mask_pii, cap=CAP if cap is None else cap)
        self.directory = Path(directory)

    def _render(self, table: str, frame: pd.DataFrame) -> _Rendered:
        data = csv_ready(frame, table, mask_pii=self.mask_pii)
        fields = {}
        for column in data.columns:
            if column == PARENT_ROW_COLUMN:
                continue
            field = _fields(data[column], _CSV_DATE_FORMAT)
            if field is None:
                raise Unsure(f"{table}.{column}: not rendered by Arrow (values of several types)")
            fields[column] = field
            self._bytes += field.nbytes
        columns = [str(c) for c in frame.columns]
        runs: list[pa.Array | None] = []
        if len(frame):  # the columns before the parent row column, and after it, each joined
            cut = columns.index(PARENT_ROW_COLUMN) if PARENT_ROW_COLUMN in columns else len(columns)
            groups = (columns[:cut], [PARENT_ROW_COLUMN] if cut < len(columns) else [], columns[cut + 1:])
            last = max(index for index, group in enumerate(groups) if group)
            for index, group in enumerate(groups):
                if group == [PARENT_ROW_COLUMN]:
                    runs.append(_PARENT)
                elif group:
                    run = joined_fields([fields[c] for c in group], row_end=index == last)
                    self._bytes += run.nbytes
                    runs.append(run)
        parents = frame[PARENT_ROW_COLUMN].to_numpy(dtype="int64") if PARENT_ROW_COLUMN in frame else None
        return _Rendered(len(frame), columns, fields, parents, holds_nul(data), runs)

    def _write_frames(self, frames: Frames) -> list[Path]:
        return write_csv(self.directory, frames.tables(), mask_pii=self.mask_pii)

    def _assemble(self, pieces: dict[str, list[_Rendered]]) -> list[Path]:
        """One CSV per table in ``directory``: the pieces assembled (all of them before a file is written)."""
        customers_before = np.cumsum([0] + [piece.rows for piece in pieces[CUSTOMERS.name]])[:-1]
        contents = {name: self._assembled(name, parts, customers_before) for name, parts in pieces.items()}
        paths = [self.directory / f"{name}.csv" for name in contents]
        with written_whole(paths) as partials:
            for partial, content in zip(partials, contents.values(), strict=True):
                with partial.open("wb") as handle:
                    for chunk in content:
                        handle.write(chunk)
        return paths

    def _assembled(self, table: str, pieces: list[_Rendered], customers_before: Any) -> list[bytes | memoryview]:
        """A table's file: BOM if a text holds a NUL, header, then each segment's rows in order (its joined runs
        when it has the file's columns, else its fields, ``""`` for a column it lacks)."""
        columns = column_order(table, {column for piece in pieces for column in piece.columns})
        if len(columns) < 2:
            raise AssertionError(f"{table}: a table has two columns or more")  # csv_bytes would give None
        content: list[bytes | memoryview] = [codecs.BOM_UTF8] if any(piece.nul for piece in pieces) else []
        content.append(csv_header(columns))
        kept = [(piece, before) for piece, before in zip(pieces, customers_before, strict=True) if piece.rows]
        parent_rows = self._parent_rows(table, kept) if kept and PARENT_ROW_COLUMN in columns else None
        at = 0
        for piece, _ in kept:
            parents = None if parent_rows is None else parent_rows.slice(at, piece.rows)
            at += piece.rows
            if piece.columns == columns:  # its rows, with the parent rows in their place (if any)
                runs = [parents if run is _PARENT else run for run in piece.runs]
                if piece.runs[-1] is _PARENT:
                    content += csv_rows(runs)
                else:
                    content.append(text_bytes(runs[0] if len(runs) == 1 else joined_fields(runs, row_end=False)))
                continue
            fields = []
            for column in columns:
                field = parents if column == PARENT_ROW_COLUMN else piece.fields.get(column)
                fields.append(_empty(piece.rows) if field is None else field)
            content += csv_rows(fields)
        return content

    def _parent_rows(self, table: str, kept: list[tuple[_Rendered, Any]]) -> pa.Array:
        """The parent row column of a child table over every segment (offsets into the whole customers table),
        rendered as a frame of that one column would be."""
        values = np.concatenate([piece.parent_rows + before for piece, before in kept])
        column = pd.DataFrame({PARENT_ROW_COLUMN: pd.arrays.IntegerArray(values, np.zeros(len(values), dtype=bool))})
        field = _fields(csv_ready(column, table, mask_pii=self.mask_pii)[PARENT_ROW_COLUMN], _CSV_DATE_FORMAT)
        if field is None:
            raise AssertionError("whole numbers are always rendered")
        return field


def _empty(rows: int) -> pa.Array:
    return pc.fill_null(pa.nulls(rows, pa.string()), "")

