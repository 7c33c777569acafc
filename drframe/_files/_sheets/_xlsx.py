"""Excel (``.xlsx``/``.xlsm``) input through openpyxl in read-only mode, streamed: one pass with formulas, and only
when the sheet has formulas a second one read in step for their cached values (an error result is the error, a
``TRUE()`` / ``FALSE()`` result the boolean, anything else stays a formula and is refused later). Numbers and
dates are shown through their number format; Excel's quote prefix marks a cell as literal text.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from ..._core._text import is_error_value, normalise_cell
from ..._errors import SheetError
from ._model import BOOLEAN_FORMULA, EMPTY, Cell, SheetRow, held_as_shown, pick_sheet, stream_table
from ._numbers import date_parts, format_number, general, temporal_text


def _formula_cell(formula: str, cached: Any) -> Cell:
    """A formula cell given the value the spreadsheet cached for it: its error, a ``TRUE()``/``FALSE()`` boolean,
    or the formula itself (refused later)."""
    result = getattr(cached, "value", None)
    if getattr(cached, "data_type", None) == "e" or (isinstance(result, str) and is_error_value(result)):
        return Cell(str(result), error=str(result))
    boolean = BOOLEAN_FORMULA.match(formula)
    if boolean and (result is None or result == (boolean.group(1).upper() == "TRUE")):
        return Cell(boolean.group(1).upper())
    return Cell(formula, formula=formula)


def _excel_cell(cell: Any) -> Cell:
    """One cell of a workbook opened with formulas; a formula cell is its formula until its cached value is read."""
    value = cell.value
    if value is None:
        return EMPTY
    if cell.data_type == "f":
        formula = str(getattr(value, "text", value))  # an ArrayFormula keeps its text in .text
        return Cell(formula, formula=formula)
    if cell.data_type == "e":
        return Cell(str(value), error=str(value))
    if isinstance(value, bool):
        return Cell("TRUE" if value else "FALSE")
    if isinstance(value, int | float):
        return Cell(format_number(value, cell.number_format), number=general(value))
    if isinstance(value, datetime | date | time | timedelta):
        code = cell.number_format or ""
        return held_as_shown(temporal_text(value, *date_parts(code), fraction=bool(re.search(r"s\.0", code.lower()))))
    return Cell(normalise_cell(str(value)), literal=_quote_prefixed(cell))


def _quote_prefixed(cell: Any) -> bool:
    """Excel's quote prefix (a value typed as ``'text``); read-only cells keep it in their style array."""
    styles = getattr(cell, "style_array", None)
    return bool(styles.quotePrefix if styles is not None else getattr(cell, "quotePrefix", False))


def _open_workbook(content: bytes, path: Path, *, data_only: bool) -> Any:
    from openpyxl import load_workbook

    try:
        return load_workbook(io.BytesIO(content), read_only=True, data_only=data_only)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise SheetError(f"{path}: not a readable .xlsx file ({type(exc).__name__})") from None


def read_xlsx(content: bytes, path: Path, sheet: str | None) -> tuple[list[str], Iterator[SheetRow], str]:
    """The sheet's header, and its rows streamed as they are iterated: one pass with formulas, and, from the first
    formula cell on, a second workbook read in step for the cached values of formula cells."""
    workbook = _open_workbook(content, path, data_only=False)
    try:
        title = pick_sheet(workbook.sheetnames, sheet, path)
    except BaseException:
        workbook.close()
        raise
    cached = _CachedValues(content, path, title)
    width: list[int] = []  # the header's width, known once the header is read

    def records() -> Iterator[tuple[int, list[Cell]]]:
        try:
            for number, row in enumerate(workbook[title].iter_rows(), start=1):
                cells = [_excel_cell(cell) for cell in row]
                if number > 1:
                    for index, cell in enumerate(cells[:width[0]]):
                        if cell.formula is not None:
                            cells[index] = _formula_cell(cell.formula, cached.at(number, index))
                yield number, cells
        finally:
            workbook.close()
            cached.close()

    columns, rows = stream_table(records(), path, f"sheet {title!r} is empty")
    width.append(len(columns))
    return columns, rows, title


class _CachedValues:
    """The cells of the sheet as last calculated (``data_only``), read forward in step with the formula pass;
    opened at the first formula cell, so a sheet without formulas is read once."""

    def __init__(self, content: bytes, path: Path, title: str) -> None:
        self._content, self._path, self._title = content, path, title
        self._workbook: Any = None
        self._rows: Iterator[tuple[Any, ...]] = iter(())
        self._number = 0
        self._row: tuple[Any, ...] = ()

    def at(self, number: int, index: int) -> Any:
        """The cached cell at row ``number`` (1-based), column ``index`` (0-based); None past the row's end."""
        if self._workbook is None:
            self._workbook = _open_workbook(self._content, self._path, data_only=True)
            self._rows = self._workbook[self._title].iter_rows(min_row=number)
            self._number = number - 1
        while self._number < number:
            self._row = next(self._rows, ())
            self._number += 1
        return self._row[index] if index < len(self._row) else None

    def close(self) -> None:
        if self._workbook is not None:
            self._workbook.close()
