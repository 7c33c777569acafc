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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .._errors import ExportError
from .._tables._frames import CUSTOMERS, PARENT_ROW_COLUMN, Frames, column_order
from ._atomic import written_whole
from ._csv_out import _fields, csv_header, csv_rows, joined_fields, text_bytes
from ._export import _CSV_DATE_FORMAT, csv_ready, holds_nul, write_csv

#: Most bytes of rendered fields held for the assembly; past it, the frames are written at the end instead.
CAP = 256 * 2**20


class _Unsure(Exception):
    """A segment's fields may not be the whole table's (the reason is the message)."""


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


class StreamedCsv:
    """The CSV files of an export, rendered a few segments at a time (:meth:`add`, segments in any order, each
    with a sort key) and assembled in key order by :meth:`write`.  ``reason`` says why it gave up, if it did."""

    def __init__(self, directory: str | Path, *, mask_pii: bool = False, cap: int | None = None) -> None:
        self.directory = Path(directory)
        self.mask_pii = mask_pii
        self.cap = CAP if cap is None else cap
        self.reason: str | None = None
        self._segments: list[tuple[Any, dict[str, _Rendered]]] = []
        self._dtypes: dict[str, dict[Any, Any]] = {}  # per table, each column's dtype where it holds a value
        self._bytes = 0

    @property
    def live(self) -> bool:
        """Whether segments are still rendered (it has not given up)."""
        return self.reason is None

    def give_up(self, reason: str) -> None:
        """Render nothing more; :meth:`write` writes the joined frames."""
        if self.reason is None:
            self.reason = reason
        self._segments.clear()
        self._dtypes.clear()

    def add(self, segments: Sequence[tuple[Any, Mapping[str, int]]], frames: Frames) -> None:
        """Render ``frames``: the frames of ``segments`` (``(key, each table's rows)``, in the order of their rows
        in ``frames``) as ``to_frames`` gives them for their customers alone."""
        if self.reason is not None:
            return
        try:
            rendered = {name: self._render(name, frame) for name, frame in frames.tables().items()}
        except _Unsure as exc:
            self.give_up(str(exc))
            return
        except (ExportError, UnicodeEncodeError, pa.ArrowException) as exc:  # written as before, with its message
            self.give_up(f"{type(exc).__name__}: {exc}")
            return
        starts = dict.fromkeys(rendered, 0)
        for key, rows in segments:
            customers_start = starts[CUSTOMERS.name]
            self._segments.append((key, {name: whole.part(starts[name], rows[name], customers_start)
                                         for name, whole in rendered.items()}))
            for name in starts:
                starts[name] += rows[name]

    def _render(self, table: str, frame: pd.DataFrame) -> _Rendered:
        dtypes = self._dtypes.setdefault(table, {})
        for column, dtype in frame.dtypes.items():
            # (a blank column is "" whatever its dtype)
            if dtypes.get(column) != dtype and not _blank(frame[column]) and dtypes.setdefault(column, dtype) != dtype:
                raise _Unsure(f"{table}.{column}: {dtypes[column]} in one segment, {dtype} in another")
        data = csv_ready(frame, table, mask_pii=self.mask_pii)
        fields = {}
        for column in data.columns:
            if column == PARENT_ROW_COLUMN:
                continue
            field = _fields(data[column], _CSV_DATE_FORMAT)
            if field is None:
                raise _Unsure(f"{table}.{column}: not rendered by Arrow (values of several types)")
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
        if self._bytes > self.cap:
            raise _Unsure(f"more than {self.cap} bytes rendered")
        parents = frame[PARENT_ROW_COLUMN].to_numpy(dtype="int64") if PARENT_ROW_COLUMN in frame else None
        return _Rendered(len(frame), columns, fields, parents, holds_nul(data), runs)

    def write(self, frames: Callable[[], Frames]) -> list[Path]:
        """One CSV per table in ``directory``: the rendered segments assembled in key order, or, when it gave up
        (or got no segment), ``frames()`` (the joined frames) written by ``Frames.to_csv``."""
        if self.reason is None and not self._segments:
            self.give_up("no segment")
        if self.reason is not None:
            return write_csv(self.directory, frames().tables(), mask_pii=self.mask_pii)
        ordered = [rendered for _, rendered in sorted(self._segments, key=lambda item: item[0])]
        parts = {name: [segment[name] for segment in ordered] for name in ordered[0]}
        customers_before = np.cumsum([0] + [segment[CUSTOMERS.name].rows for segment in ordered])[:-1]
        try:
            contents = {name: self._assembled(name, pieces, customers_before) for name, pieces in parts.items()}
        except pa.ArrowException as exc:  # more text than one array holds...
            self.give_up(f"{type(exc).__name__}: {exc}")
            return write_csv(self.directory, frames().tables(), mask_pii=self.mask_pii)
        self._segments.clear()
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


def _blank(series: pd.Series) -> bool:
    """Every cell missing: None in an object column (a value such as NaN makes the joined column object), NA in a
    typed one.  A blank column's fields are empty whatever its dtype."""
    if series.dtype == object:
        return all(value is None for value in series.tolist())
    return bool(series.isna().all())


def _empty(rows: int) -> pa.Array:
    return pc.fill_null(pa.nulls(rows, pa.string()), "")

