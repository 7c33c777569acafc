"""Reading CSV, Excel and LibreOffice input as text: every cell as the analyst sees it in the spreadsheet.

This package owns :func:`read_sheet` (pick the reader by file type, drop trailing blank rows) and is what the
rest of drframe imports; :mod:`._model` holds the table shape, :mod:`._numbers` the display rules, and
:mod:`._csv`, :mod:`._xlsx` (with :mod:`._strings`, its texts and shared strings), :mod:`._ods` one reader each.
The rules, for every format:

* Numbers are rendered through the cell's number format: zero padding stays (``1234`` formatted ``00000`` is
  ``01234``), decimals and percentages show as formatted (``3.30``, ``15%``), thousands separators are dropped
  (they are locale-dependent presentation: ``1,234`` would be another number in a German locale). In the
  ``General`` and text (``@``) formats a number shows with at most 15 significant digits, as Excel shows it
  (``3.3000000000000003`` is ``3.3``); an integer of up to 15 digits is its exact integer text.
* Dates and times show as ISO 8601, as much as their format shows: ``2024-03-05``, ``03:04:05`` or
  ``2024-03-05T06:07:08Z`` (a naive time is taken as UTC). Booleans are ``TRUE``/``FALSE``.
* Each row keeps which of its cells held a number, and that number as held (:attr:`SheetRow.numeric`), so the bulk
  layer can refuse a number used as an id, postal code or phone that the spreadsheet could not hold exactly.
* Error cells (``#N/A``, ``#DIV/0!``, ..., also as the cached result of a formula) are kept in
  :attr:`SheetRow.errors`. Formulas are reported in :attr:`SheetRow.formulas`, never evaluated; the one exception
  is LibreOffice's ``TRUE()``/``FALSE()``, which is how it stores a boolean.
* ``.xlsx`` and ``.ods`` are parsed from their XML (streamed, in memory that does not grow with the sheet), with
  the same rules. Legacy ``.xls`` and ``.xlsb`` are refused ("save as .xlsx"): the readers available for them
  (calamine) report an error cell as an empty one, a formula as its last result and no number formats, so three
  of these rules could not be kept.
* CSV delimiters (``, ; tab |``) are detected from the header line; CSV text is UTF-8 (with or without BOM),
  UTF-16 with BOM, or the ``encoding`` given; anything else is refused, never guessed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from ..._errors import SheetError
from ._csv import open_csv
from ._model import CUSTOMERS_SHEET, Sheet, SheetRow
from ._numbers import excel_text, format_number, number_problem
from ._ods import read_ods
from ._xlsx import read_xlsx

#: Excel's binary workbooks, refused with a pointer to .xlsx (see :func:`open_sheet`).
_LEGACY_EXCEL = frozenset({".xls", ".xlsb"})

__all__ = ["CUSTOMERS_SHEET", "Sheet", "SheetError", "SheetRow", "excel_text", "file_sha256", "format_number",
           "number_problem", "open_sheet", "read_sheet"]


def read_sheet(path: str | Path, *, sheet: str | None = None, encoding: str | None = None) -> Sheet:
    """Read a ``.csv``/``.txt``/``.tsv``, ``.xlsx`` or ``.ods`` file as text cells; SheetError for an unusable file.

    ``sheet`` picks a workbook sheet (default: ``customers`` if present, else the first); ``encoding`` is the
    text encoding of a CSV file that is neither UTF-8 nor UTF-16 with BOM (e.g. ``cp1252``).
    """
    read, rows = open_sheet(path, sheet=sheet, encoding=encoding)
    read.rows = list(rows)
    return read


def open_sheet(path: str | Path, *, sheet: str | None = None,
               encoding: str | None = None) -> tuple[Sheet, Iterator[SheetRow]]:
    """As :func:`read_sheet`, but the rows come as an iterator (the returned Sheet's ``rows`` is empty): a CSV
    file is read from disk, and a workbook's sheet parsed, as they are iterated, so its rows need never be all in
    memory at once.  Problems found in a row (a row wider than the header) raise SheetError when the row is
    reached."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise SheetError(f"cannot read {path}: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    delimiter = None
    if suffix in {".xlsx", ".xlsm", ".ods"}:
        if encoding is not None:
            raise SheetError(f"{path}: an encoding applies to CSV files only, not to {suffix} workbooks")
        sha256 = file_sha256(path)
        reader = read_xlsx if suffix != ".ods" else read_ods
        columns, rows, title = reader(path, sheet)
        note = f"{suffix.lstrip('.')}, sheet {title!r}"
    elif suffix in {".csv", ".txt", ".tsv"}:
        columns, rows, delimiter, note, sha256 = open_csv(path, head, encoding)
    elif suffix in _LEGACY_EXCEL:
        raise SheetError(f"{path}: {suffix} workbooks are not read, because their error cells, formulas and number "
                         f"formats cannot be seen (#N/A would read as an empty cell, 01234 as 1234); open the file "
                         f"in Excel or LibreOffice and save as .xlsx")
    else:
        raise SheetError(f"{path}: unsupported file type {suffix or '(none)'!r}; use .csv, .xlsx or .ods")
    return Sheet(path, columns, [], sha256, note, delimiter), _without_trailing_blanks(rows)


def file_sha256(path: Path) -> str:
    """The file's SHA-256, read a block at a time (a workbook is opened again to be read, never held whole)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        raise SheetError(f"cannot read {path}: {exc.strerror or exc}") from None
    return digest.hexdigest()


def _without_trailing_blanks(rows: Iterator[SheetRow]) -> Iterator[SheetRow]:
    """``rows`` less the blank ones at the end (trailing empty lines, Excel's formatted-but-empty rows)."""
    blanks: list[SheetRow] = []
    for row in rows:
        if row.blank:
            blanks.append(row)
            continue
        yield from blanks
        blanks.clear()
        yield row
