"""The shape every reader produces: :class:`Sheet` and its :class:`SheetRow`s, the per-format :class:`Cell` they
are built from, and the one table assembly shared by the CSV, xlsx and ods readers (header checks, rows wider than
the header, a cell placed with its formula/error/number/literal marks, which workbook sheet to read).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..._errors import SheetError

#: The sheet of an exported workbook that holds the customers table.
CUSTOMERS_SHEET = "customers"
#: How LibreOffice stores a boolean (``=TRUE()``); the one formula taken as its value rather than refused.
BOOLEAN_FORMULA = re.compile(r"^(?:of:)?=\s*(TRUE|FALSE)\s*\(\s*\)\s*$", re.IGNORECASE)


@dataclass
class SheetRow:
    number: int
    """The spreadsheet row number (the header is row 1)."""
    cells: dict[str, str]
    """Column -> text as the spreadsheet shows it, whitespace-trimmed; empty cells are ``""``."""
    formulas: dict[str, str] = field(default_factory=dict)
    """Columns whose cell held a formula, with the formula text."""
    errors: dict[str, str] = field(default_factory=dict)
    """Columns whose cell shows an error value (``#N/A``, ``#DIV/0!``...), with that text."""
    numeric: dict[str, str] = field(default_factory=dict)
    """Columns whose cell held a number (or date/time) -> that number as held, in the General format (15
    significant digits; a date or time as displayed). ``cells`` has it as displayed through its format."""
    literal: set[str] = field(default_factory=set)
    """Columns whose cell was marked as text (``'<clear>`` is the text ``<clear>``, not the clear token)."""

    @property
    def blank(self) -> bool:
        return not self.formulas and not self.errors and not any(self.cells.values())


@dataclass
class Sheet:
    path: Path
    columns: list[str]
    rows: list[SheetRow]
    sha256: str
    format_note: str = ""
    """How the file was read, e.g. ``CSV, delimiter ';', UTF-8 with BOM`` or ``xlsx, sheet 'customers'``."""
    delimiter: str | None = None
    """The CSV delimiter used (None for workbooks)."""
    labels: list[Any] | None = None
    """A DataFrame input's index labels, one per row in order (None for a file): rows are named by them."""

    def label(self, row: int) -> Any:
        """How a user names row ``row``: a DataFrame's index label, else the spreadsheet row number."""
        return row if self.labels is None else self.labels[row - 2]


@dataclass(frozen=True, slots=True)
class Cell:
    text: str = ""
    number: str | None = None
    """The number a numeric cell holds, in the General format."""
    formula: str | None = None
    error: str | None = None
    literal: bool = False
    """Marked as text by the spreadsheet (a leading apostrophe, Excel's quote prefix): never the clear token."""

    @property
    def empty(self) -> bool:
        return not self.text and self.formula is None and self.error is None


EMPTY = Cell()


class PlainRow(tuple[str, ...]):
    """A record's cells when every one is plain text (as ``Cell(text)``: no number, formula, error or text mark),
    so the row is built without a :class:`Cell` per cell (the CSV reader's common case)."""

    __slots__ = ()


def held_as_shown(text: str) -> Cell:
    """A date, time or unparsable number: held as displayed."""
    return Cell(text, number=text)


def _header(raw: list[str], path: Path) -> list[str]:
    columns = list(raw)
    while columns and not columns[-1]:
        columns.pop()
    if not columns:
        raise SheetError(f"{path}: the first row must be a header (customer_id, email, ...); it is empty")
    seen: set[str] = set()
    for index, name in enumerate(columns, start=1):
        if not name:
            raise SheetError(f"{path}: header cell {index} is empty; every column needs a name")
        if name in seen:
            raise SheetError(f"{path}: column {name!r} appears twice in the header")
        seen.add(name)
    return columns


#: Numbered cell records, the first one the header: each a list of cells, or a PlainRow of texts.
Records = Iterable[tuple[int, list[Cell] | PlainRow]]


def stream_table(records: Records, path: Path, empty: str) -> tuple[list[str], Iterator[SheetRow]]:
    """The header of numbered cell records (the first record is the header), and their rows, built one at a time
    as they are iterated (a row wider than the header raises SheetError when it is reached)."""
    iterator = iter(records)
    first = next(iterator, None)
    if first is None:
        raise SheetError(f"{path}: {empty}")
    columns = _header([c.error or c.formula or c.text for c in _as_cells(first[1])], path)
    return columns, _table_rows(iterator, columns, path)


def _as_cells(cells: list[Cell] | PlainRow) -> list[Cell]:
    return [Cell(text) for text in cells] if isinstance(cells, PlainRow) else cells


def _table_rows(records: Iterator[tuple[int, list[Cell] | PlainRow]], columns: list[str],
                path: Path) -> Iterator[SheetRow]:
    width = len(columns)
    for number, record in records:
        if isinstance(record, PlainRow) and len(record) == width:
            yield SheetRow(number, dict(zip(columns, record, strict=True)))
            continue
        cells = _as_cells(record)
        extra = next((c for c in cells[len(columns):] if not c.empty), None)
        if extra is not None:
            shown = len(columns) + sum(not c.empty for c in cells[len(columns):])
            raise SheetError(f"{path}: row {number} has {shown} cells but the header has {len(columns)} columns "
                             f"(extra value {extra.error or extra.formula or extra.text!r})")
        row = SheetRow(number, dict.fromkeys(columns, ""))
        for column, cell in zip(columns, cells, strict=False):
            if not cell.empty:
                place_cell(row, column, cell)
        yield row


def place_cell(row: SheetRow, column: str, cell: Cell) -> None:
    """Put ``cell`` in ``row`` (replacing what the column held)."""
    for held in (row.formulas, row.errors, row.numeric):
        held.pop(column, None)
    row.literal.discard(column)
    if cell.literal:
        row.literal.add(column)
    if cell.error is not None:
        row.errors[column] = row.cells[column] = cell.error
    elif cell.formula is not None:
        row.formulas[column] = row.cells[column] = cell.formula
    else:
        row.cells[column] = cell.text
    if cell.number is not None:
        row.numeric[column] = cell.number


def pick_sheet(names: list[str], sheet: str | None, path: Path) -> str:
    """The workbook sheet to read: ``sheet`` if given (SheetError if absent), else ``customers``, else the first."""
    if not names:
        raise SheetError(f"{path}: the workbook has no sheets")
    if sheet is not None:
        if sheet not in names:
            raise SheetError(f"{path}: no sheet {sheet!r}; sheets are {', '.join(names)}")
        return sheet
    return CUSTOMERS_SHEET if CUSTOMERS_SHEET in names else names[0]

