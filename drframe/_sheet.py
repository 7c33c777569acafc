"""Reading CSV and Excel input as text: every cell a string, exactly as the analyst typed it.

Numbers Excel stored as floats come back without a spurious ``.0`` (``5823594808``), booleans as
``TRUE``/``FALSE``, dates as ISO 8601 UTC.  Formula cells are reported, never evaluated or guessed at.
"""

from __future__ import annotations

import csv
import hashlib
import io
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from ._cells import unneutralise
from ._errors import DRError
from ._models import format_datetime

#: The sheet of an exported workbook that holds the customers table.
CUSTOMERS_SHEET = "customers"


class SheetError(DRError):
    """The file as a whole cannot be used (missing, unreadable, unknown columns); nothing was sent."""


@dataclass
class SheetRow:
    number: int
    """The spreadsheet row number (the header is row 1)."""
    cells: dict[str, str]
    """Column -> text, whitespace-trimmed; empty cells are ``""``."""
    formulas: dict[str, str] = field(default_factory=dict)
    """Columns whose cell held a formula, with the formula text."""

    @property
    def blank(self) -> bool:
        return not self.formulas and not any(self.cells.values())


@dataclass
class Sheet:
    path: Path
    columns: list[str]
    rows: list[SheetRow]
    sha256: str


def read_sheet(path: str | Path, *, sheet: str | None = None) -> Sheet:
    """Read a ``.csv`` or ``.xlsx`` file as text cells; raises SheetError for an unusable file."""
    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise SheetError(f"cannot read {path}: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm"}:
        columns, rows = _read_excel(content, path, sheet)
    elif suffix in {".csv", ".txt"}:
        columns, rows = _read_csv(content, path)
    else:
        raise SheetError(f"{path}: unsupported file type {suffix or '(none)'!r}; use .csv or .xlsx")
    while rows and rows[-1].blank:  # trailing empty lines, Excel's formatted-but-empty rows
        rows.pop()
    return Sheet(path, columns, rows, hashlib.sha256(content).hexdigest())


def _clean(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def _header(raw: list[Any], path: Path) -> list[str]:
    columns = [_clean(str(c)) if c is not None else "" for c in raw]
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


def _read_csv(content: bytes, path: Path) -> tuple[list[str], list[SheetRow]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SheetError(f"{path}: not UTF-8 (byte {exc.start}); save the file as 'CSV UTF-8'") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    records = list(reader)
    if not records:
        raise SheetError(f"{path}: the file is empty")
    columns = _header(list(records[0]), path)
    rows = []
    for number, record in enumerate(records[1:], start=2):
        _check_width(record, columns, number, path)
        cells = {c: _clean(unneutralise(v)) for c, v in zip(columns, record, strict=False)}
        rows.append(SheetRow(number, {c: cells.get(c, "") for c in columns}))
    return columns, rows


def _check_width(values: list[Any], columns: list[str], number: int, path: Path) -> None:
    extra = [v for v in values[len(columns):] if v not in (None, "")]
    if extra:
        raise SheetError(f"{path}: row {number} has {len(columns) + len(extra)} cells but the header has "
                         f"{len(columns)} columns (extra value {str(extra[0])!r})")


def _read_excel(content: bytes, path: Path, sheet: str | None) -> tuple[list[str], list[SheetRow]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise SheetError(f"{path}: not a readable .xlsx file ({type(exc).__name__})") from None
    try:
        if sheet is not None:
            if sheet not in workbook.sheetnames:
                raise SheetError(f"{path}: no sheet {sheet!r}; sheets are {', '.join(workbook.sheetnames)}")
            worksheet = workbook[sheet]
        elif CUSTOMERS_SHEET in workbook.sheetnames:
            worksheet = workbook[CUSTOMERS_SHEET]
        else:
            worksheet = workbook.worksheets[0]
        rows_iter = worksheet.iter_rows()
        first = next(rows_iter, None)
        if first is None:
            raise SheetError(f"{path}: sheet {worksheet.title!r} is empty")
        columns = _header([c.value for c in first], path)
        rows = []
        for number, cells in enumerate(rows_iter, start=2):
            values = list(cells)
            _check_width([c.value for c in values], columns, number, path)
            row = SheetRow(number, dict.fromkeys(columns, ""))
            for column, cell in zip(columns, values, strict=False):
                if cell.value is None:
                    continue
                if cell.data_type == "f":
                    row.formulas[column] = str(cell.value)
                    row.cells[column] = str(cell.value)
                else:
                    row.cells[column] = _clean(excel_text(cell.value))
            rows.append(row)
        return columns, rows
    finally:
        workbook.close()


def excel_text(value: Any) -> str:
    """An Excel cell value as the text the analyst sees, without float artefacts."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return format_datetime(aware)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    return str(value)
