"""xlsx exports rendered while the listing runs: segments of customers are rendered a batch at a time as they
arrive (:func:`drframe._fetch.xlsx_in_order`), and once the last one is in, the pieces are assembled in listing
order and written, every part of the workbook byte for byte what ``Frames.to_excel`` writes for the joined
frames (:func:`drframe._files._xlsx_out.write_workbook`).

A batch's frames (``to_frames`` of its customers alone) go through the same steps as a whole table
(``_export_frame``, then each column's cells by :func:`drframe._files._xlsx_out._cells`): every step is cell by
cell, so a batch's cells are the whole table's cells for its rows, provided each column has the same dtype in
every batch that holds a value in it (:class:`drframe._files._streamed.Streamed`).  What a cell cannot know
yet is added at assembly:

* its reference (``<c r="B12"``): a batch keeps each column's cells from the quote that ends the reference on
  (null where the cell is missing), and its rows already joined with its own column letters and a slot
  (``\x01``, which XML cannot hold) for each row number, cut at the slots; at assembly a piece that has the
  sheet's columns (from :func:`column_order` of the union of the batches' columns) and formats gets its row
  numbers in the slots, any other is joined again from its cells, with the sheet's letters;
* ``customer_row``, an offset into the whole customers table, rendered at assembly;
* the Text style of a ``metadata.`` column, which holds digit-only text in some batch: a batch without any
  renders its text cells unstyled, restyled at assembly (``s="4"``, quoted ``s="5"`` -> ``s="6"``; a batch
  holding a value of another type than text, number or boolean gives up, so only text cells are restyled);
* the column widths (the first 2,000 rows in listing order: a batch keeps its rows' values until segments
  listed before them hold 2,000 rows), the dimension and autofilter (the row count), and the hidden
  ``_empty_values`` sheet (each batch's texts, numbered at assembly).

When identity cannot be guaranteed, :class:`StreamedXlsx` gives up and :meth:`StreamedXlsx.write` writes the
joined frames by ``Frames.to_excel``, so every byte and every error message is as before: a column whose dtype
(or whose format, but Text) differs between batches, a character XML cannot store (in a cell, a column name or
an ``_empty_values`` text: the error names the rows), an :class:`ExportError` or a text UTF-8 cannot hold,
a text holding the slot character, more rendered bytes than ``cap``, an Arrow error at assembly, or (decided by
the caller) a batch whose frames warn or fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .._core._text import UTC_SUFFIX
from .._tables._frames import CUSTOMERS, EMPTY_VALUES_COLUMN, PARENT_ROW_COLUMN, Frames, column_order
from . import _streamed
from ._export import (
    _NOT_XML,
    TEXT_FORMAT,
    WIDTH_SAMPLE,
    _column_format,
    _export_frame,
    _header,
    _missing,
    column_letter,
    longest,
    width,
    write_excel,
)
from ._streamed import Streamed, Unsure
from ._xlsx_out import (
    _QUOTED,
    _QUOTED_TEXT,
    _ROWS_PER_BLOCK,
    _TEXT,
    SKIP_NULLS,
    _cells,
    add_empty_values,
    add_sheet_xml,
    sheet_area,
    sheet_head,
    workbook,
)

#: Most bytes of rendered cells held for the assembly; past it, the frames are written at the end instead.
CAP = _streamed.CAP
#: A text cell's XML after its reference, unstyled and quoted, and the same in a Text column.
_PLAIN, _PLAIN_TEXT = '^" t="inlineStr"', f'" s="{_TEXT}" t="inlineStr"'
#: Where a row number goes in a batch's joined rows (XML cannot hold it: such text is refused); where the
#: ``customer_row`` cell (an offset into the whole customers table) goes.
_SLOT, _PARENT = "\x01", None
_QUOTED_PLAIN, _QUOTED_IN_TEXT = f'^" s="{_QUOTED}" t="inlineStr"', f'" s="{_QUOTED_TEXT}" t="inlineStr"'


@dataclass
class _Sheet:
    """One table of some customers: its rows, its columns (as in its frame, but ``_empty_values``), whether each
    is a datetime, its format in these rows, its cells after their reference (null where missing), its
    ``_empty_values`` texts ``(row, text)``, and its rows' export values while they may be among the first
    :data:`WIDTH_SAMPLE` rows of the table (for the column widths; None after)."""

    rows: int
    columns: list[str]
    datetimes: list[bool]
    formats: list[str | None]
    tails: dict[str, pa.Array]
    runs: list[pa.Array | None]
    parent_rows: Any
    empties: list[tuple[int, str]]
    sample: pd.DataFrame | None

    def part(self, start: int, rows: int, customers_start: int) -> _Sheet:
        """Rows ``start`` to ``start + rows``, whose customers start at row ``customers_start``."""
        sample = None if self.sample is None else self.sample.iloc[start:start + min(rows, WIDTH_SAMPLE)]
        parents = None if self.parent_rows is None else self.parent_rows[start:start + rows] - customers_start
        return _Sheet(rows, self.columns, self.datetimes, self.formats,
                      {c: t.slice(start, rows) for c, t in self.tails.items()},
                      [_PARENT if run is _PARENT else run.slice(start, rows) for run in self.runs], parents,
                      [(row - start, text) for row, text in self.empties if start <= row < start + rows], sample)


class StreamedXlsx(Streamed[_Sheet, Path]):
    """The xlsx workbook of an export, rendered a few segments at a time (:meth:`add`, segments in any order,
    each with a sort key) and assembled in key order by :meth:`write`, or, when it gave up, the joined frames
    written by ``Frames.to_excel``.  ``reason`` says why it gave up, if it did."""

    def __init__(self, path: str | Path, *, mask_pii: bool = False, cap: int | None = None) -> None:
        super().__init__(mask_pii=mask_pii, cap=CAP if cap is None else cap)
        self.path = Path(path)

    def _render(self, table: str, frame: pd.DataFrame) -> _Sheet:
        empties: list[tuple[int, str]] = []
        if EMPTY_VALUES_COLUMN in frame.columns:
            empties = [(row, text) for row, text in enumerate(frame[EMPTY_VALUES_COLUMN].tolist())
                       if isinstance(text, str)]
            frame = frame.drop(columns=EMPTY_VALUES_COLUMN)
        datetimes = [isinstance(t, pd.DatetimeTZDtype) for t in frame.dtypes]
        data = _export_frame(frame, table, mask_pii=self.mask_pii)
        columns = _header(data, table)
        formats = [_column_format(c, data[c], is_time) for c, is_time in zip(columns, datetimes, strict=True)]
        tails = {}
        for column, number_format in zip(columns, formats, strict=True):
            series = data[column]
            if column == PARENT_ROW_COLUMN:  # an offset into the whole customers table: rendered at assembly
                continue
            if number_format is None and column.startswith("metadata.") and series.dtype == object:
                _restylable(table, column, series)
            tail = _cells(series, "", "", number_format)
            self._bytes += tail.nbytes
            tails[column] = tail
        runs = _runs(columns, tails, len(frame)) if len(frame) else []
        # a slot for each row's number, each cell's and customer_row's: no text holds one
        slots = sum(len(run.values) - len(run) for run in runs if run is not _PARENT)
        cells = sum(len(tail) - tail.null_count for tail in tails.values())
        if slots != len(frame) * (1 + (PARENT_ROW_COLUMN in columns)) + cells:
            raise Unsure(f"{table}: a text holds the row number's slot")
        self._bytes += sum(run.nbytes for run in runs if run is not _PARENT)
        parents = frame[PARENT_ROW_COLUMN].to_numpy(dtype="int64") if PARENT_ROW_COLUMN in frame else None
        return _Sheet(len(frame), columns, datetimes, formats, tails, runs, parents, empties, data)

    def _added(self) -> None:
        """Let go of the values of rows that segments listed before them push past the width sample."""
        ordered = [pieces for _, pieces in sorted(self._segments, key=lambda item: item[0])]
        for table in ordered[0]:
            before = 0
            for pieces in ordered:
                if before >= WIDTH_SAMPLE:
                    pieces[table].sample = None
                before += pieces[table].rows

    def _write_frames(self, frames: Frames) -> Path:
        return write_excel(self.path, frames.tables(), mask_pii=self.mask_pii)

    def _assemble(self, pieces: dict[str, list[_Sheet]]) -> Path:
        """The workbook: a sheet per table (its pieces' cells in order), then ``_empty_values`` and the package
        parts, as :func:`write_workbook` writes them.  Whatever may be unsure is settled before a byte is
        written."""
        customers = _Assembly(CUSTOMERS.name, pieces[CUSTOMERS.name], [])
        sheets = {name: customers if name == CUSTOMERS.name else _Assembly(name, parts, customers.before)
                  for name, parts in pieces.items()}
        empties = [(name, sheet.before[index] + row + 2, text) for name, sheet in sheets.items()
                   for index, piece in enumerate(sheet.pieces) for row, text in piece.empties]
        if any(_NOT_XML.search(text) for _, _, text in empties):
            raise Unsure("an _empty_values text XML cannot store")
        with workbook(self.path) as (archive, listed):
            for name, sheet in sheets.items():
                area = sheet_area(len(sheet.columns), sheet.rows)
                add_sheet_xml(archive, len(listed) + 1, sheet.head(), sheet.blocks(), area,
                              large=sheet.rows * max(1, len(sheet.columns)) > 8_000_000)
                listed.append((name[:31], False, area))
            add_empty_values(archive, listed, empties)
        return self.path


class _Assembly:
    """One table's sheet from its pieces in listing order: columns, titles, formats, widths, rows."""

    def __init__(self, table: str, pieces: list[_Sheet], customers_before: list[int]) -> None:
        self.pieces = pieces
        self.customers_before = customers_before  # each piece's customers' first row (child tables)
        self._parent_xml: pa.Array | None = None
        self.before = np.cumsum([0] + [piece.rows for piece in pieces]).tolist()
        self.rows = self.before[-1]
        self.columns = column_order(table, {column for piece in pieces for column in piece.columns})
        self.columns = [column for column in self.columns if column != EMPTY_VALUES_COLUMN]
        datetimes: dict[str, bool] = {}
        formats: dict[str, str | None] = {}
        for piece in pieces:
            for column, is_time, number_format in zip(piece.columns, piece.datetimes, piece.formats, strict=True):
                if datetimes.setdefault(column, is_time) != is_time:
                    raise Unsure(f"{table}.{column}: a datetime in one segment, not in another")
                known = formats.setdefault(column, number_format)
                if known != number_format:
                    if {known, number_format} != {None, TEXT_FORMAT}:
                        raise Unsure(f"{table}.{column}: formatted {known} in one segment, {number_format} in another")
                    formats[column] = TEXT_FORMAT  # digit-only text in some segment: a Text column
        self.formats = [formats[column] for column in self.columns]
        self.titles = [c + UTC_SUFFIX if datetimes[c] else c for c in self.columns]
        self.letters = [column_letter(index) for index in range(1, len(self.columns) + 1)]

    def head(self) -> str:
        return sheet_head(self.rows, self.titles, self._widths() if self.columns else [], self.formats, frozen=True)

    def _widths(self) -> list[float]:
        """:func:`drframe._files._export._widths` of the first :data:`WIDTH_SAMPLE` rows."""
        longest_text = dict.fromkeys(self.columns, 0)
        left = WIDTH_SAMPLE
        for index, piece in enumerate(self.pieces):
            if left <= 0:
                break
            if piece.sample is None:
                raise AssertionError("a piece among the first rows keeps its values")
            sample = piece.sample.head(left)
            for column in piece.columns:
                values = self._parents([piece], index)[:len(sample)] if column == PARENT_ROW_COLUMN else sample[column]
                longest_text[column] = max(longest_text[column], longest(values))
            left -= len(sample)
        return [width(title, longest_text[column]) for column, title in zip(self.columns, self.titles, strict=True)]

    def blocks(self) -> Iterator[pa.Array]:
        """The rows' XML, a block of rows at a time, built as they are written: a piece with the sheet's columns
        and formats has its rows already joined (row numbers and ``customer_row`` go in their slots), the
        others are joined here from their cells, pieces up to :data:`_ROWS_PER_BLOCK` rows at a time."""
        group: list[int] = []
        for index, piece in enumerate(self.pieces):
            if not piece.rows or not self.columns:
                continue
            if piece.columns == self.columns and piece.formats == self.formats:
                if group:
                    yield self._joined(group)
                    group = []
                numbers = self._numbers(index, piece.rows)
                parts = [self._parent_cells([index]) if run is _PARENT else pc.binary_join(run, numbers)
                         for run in piece.runs]
                yield parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "")
                continue
            if group and sum(self.pieces[i].rows for i in group) + piece.rows > _ROWS_PER_BLOCK:
                yield self._joined(group)
                group = []
            group.append(index)
        if group:
            yield self._joined(group)

    def _numbers(self, first: int, rows: int) -> pa.Array:
        """The sheet's row numbers of ``rows`` rows from piece ``first`` on, as text."""
        start = self.before[first] + 2
        return pc.cast(pa.array(np.arange(start, start + rows, dtype=np.int64)), pa.string())

    def _parent_cells(self, indices: list[int]) -> pa.Array:
        """The ``customer_row`` cells of these consecutive pieces after their reference (the whole column's
        rendered once, at the first call)."""
        if self._parent_xml is None:
            number_format = self.formats[self.columns.index(PARENT_ROW_COLUMN)]
            self._parent_xml = _cells(self._parents(self.pieces, 0), "", "", number_format)
        start = self.before[indices[0]]
        return self._parent_xml.slice(start, self.before[indices[-1] + 1] - start)

    def _joined(self, indices: list[int]) -> pa.Array:
        """Consecutive pieces' rows joined from their cells: each column's letter, the row number and the cell's
        XML after them (a missing cell, or a column a piece lacks, is nothing)."""
        group = [self.pieces[i] for i in indices]
        numbers = self._numbers(indices[0], sum(piece.rows for piece in group))
        cells = []
        for column, letter, number_format in zip(self.columns, self.letters, self.formats, strict=True):
            if column == PARENT_ROW_COLUMN:
                cells.append(pc.binary_join_element_wise(f'<c r="{letter}', numbers, self._parent_cells(indices), ""))
                continue
            tails = [_tail(piece, column, number_format) for piece in group]
            if any(tail is not None for tail in tails):
                tail = pa.concat_arrays([pa.nulls(piece.rows, pa.string()) if tail is None else tail
                                         for piece, tail in zip(group, tails, strict=True)])
                cells.append(pc.binary_join_element_wise(f'<c r="{letter}', numbers, tail, ""))
        return pc.binary_join_element_wise('<row r="', numbers, '">', *cells, "</row>", "", options=SKIP_NULLS)

    def _parents(self, group: list[_Sheet], first: int) -> pd.Series:
        """The parent row column of pieces ``first`` on (offsets into the whole customers table) as the
        joined frames hold it."""
        values = np.concatenate([piece.parent_rows + before for piece, before
                                 in zip(group, self.customers_before[first:], strict=False)])
        return pd.Series(pd.arrays.IntegerArray(values, np.zeros(len(values), dtype=bool)))


def _runs(columns: list[str], tails: dict[str, pa.Array], rows: int) -> list[pa.Array | None]:
    """A batch's rows joined (its column letters, :data:`_SLOT` for the row number), cut at the row numbers:
    one list of texts per row, or two, before and after the ``customer_row`` cell (:data:`_PARENT`)."""
    runs: list[pa.Array | None] = []
    parts: list[Any] = [_blank(rows), '<row r="', _SLOT, '">']
    for index, column in enumerate(columns, start=1):
        letter = column_letter(index)
        if column == PARENT_ROW_COLUMN:
            runs += [_cut([*parts, f'<c r="{letter}', _SLOT]), _PARENT]
            parts = [_blank(rows)]
        else:
            parts.append(pc.binary_join_element_wise(f'<c r="{letter}', _SLOT, tails[column], ""))
    runs.append(_cut([*parts, "</row>"]))
    return runs


def _cut(parts: list[Any]) -> pa.Array:
    return pc.split_pattern(pc.binary_join_element_wise(*parts, "", options=SKIP_NULLS), _SLOT)


def _blank(rows: int) -> pa.Array:
    return pc.fill_null(pa.nulls(rows, pa.string()), "")


def _tail(piece: _Sheet, column: str, number_format: str | None) -> pa.Array | None:
    """A piece's cells of a column after their reference, restyled for a Text column if they were not."""
    tail = piece.tails.get(column)
    if tail is None or number_format != TEXT_FORMAT or piece.formats[piece.columns.index(column)] == TEXT_FORMAT:
        return tail
    tail = pc.replace_substring_regex(tail, _PLAIN, _PLAIN_TEXT, max_replacements=1)
    return pc.replace_substring_regex(tail, _QUOTED_PLAIN, _QUOTED_IN_TEXT, max_replacements=1)


def _restylable(table: str, column: str, series: pd.Series) -> None:
    """A metadata column's cells are restyled as a Text column's at assembly only if each is text, a number, a
    boolean or missing (another value would be unstyled inline text: not told apart from text)."""
    if not all(value.__class__ in (str, int, float, bool) or _missing(value) for value in series.tolist()):
        raise Unsure(f"{table}.{column}: a value of another type than text, number or boolean")
