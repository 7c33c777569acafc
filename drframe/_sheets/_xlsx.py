"""Excel (``.xlsx``/``.xlsm``) input through openpyxl in read-only mode: one streamed pass with formulas, and only
when the sheet has formulas a second pass for their cached values (an error result is the error, a ``TRUE()`` /
``FALSE()`` result the boolean, anything else stays a formula and is refused later). Numbers and dates are shown
through their number format; Excel's quote prefix marks a cell as literal text.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from .._cells import is_error_value, normalise_cell
from .._errors import SheetError
from ._model import BOOLEAN_FORMULA, EMPTY, Cell, SheetRow, build_table, held_as_shown, pick_sheet, place_cell
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


def read_xlsx(content: bytes, path: Path, sheet: str | None) -> tuple[list[str], list[SheetRow], str]:
    """Stream the sheet with its formulas; only when it has formulas, stream it again for their cached values."""
    workbook = _open_workbook(content, path, data_only=False)
    formulas: dict[tuple[int, int], str] = {}  # (row number, column index) -> formula text, data rows only

    def records(worksheet: Any) -> Iterator[tuple[int, list[Cell]]]:
        for number, row in enumerate(worksheet.iter_rows(), start=1):
            cells = [_excel_cell(cell) for cell in row]
            formulas.update(((number, index), cell.formula) for index, cell in enumerate(cells)
                            if cell.formula is not None and number > 1)
            yield number, cells

    try:
        title = pick_sheet(workbook.sheetnames, sheet, path)
        columns, rows = build_table(records(workbook[title]), path, f"sheet {title!r} is empty")
    finally:
        workbook.close()
    if formulas:
        _read_cached_values(content, path, title, columns, rows, formulas)
    return columns, rows, title


def _read_cached_values(content: bytes, path: Path, title: str, columns: list[str], rows: list[SheetRow],
                        formulas: dict[tuple[int, int], str]) -> None:
    """Replace each formula cell by what its cached value makes of it (see :func:`_formula_cell`)."""
    by_number = {row.number: row for row in rows}
    first, last = min(n for n, _ in formulas), max(n for n, _ in formulas)
    workbook = _open_workbook(content, path, data_only=True)
    try:
        for number, cached_row in enumerate(workbook[title].iter_rows(min_row=first, max_row=last), start=first):
            for index, cached in enumerate(cached_row[:len(columns)]):
                formula = formulas.get((number, index))
                if formula is not None and number in by_number:
                    place_cell(by_number[number], columns[index], _formula_cell(formula, cached))
    finally:
        workbook.close()

