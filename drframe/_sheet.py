"""Reading CSV, Excel and LibreOffice input as text: every cell as the analyst sees it in the spreadsheet.

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
* ``.ods`` is parsed from its XML with the standard library (streamed), with the same rules. CSV delimiters
  (``, ; tab |``) are detected from the header line; CSV text is UTF-8 (with or without BOM), UTF-16 with BOM, or
  the ``encoding`` given; anything else is refused, never guessed.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree

from ._cells import unneutralise
from ._errors import DRError
from ._models import format_datetime

#: The sheet of an exported workbook that holds the customers table.
CUSTOMERS_SHEET = "customers"

#: The texts spreadsheets show for error cells (Excel's and LibreOffice's ``Err:nnn``).
ERROR_VALUES = frozenset({
    "#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!", "#GETTING_DATA",
    "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!", "#EXTERNAL!", "#PYTHON!",
})
_LIBREOFFICE_ERROR = re.compile(r"^Err:\d{3}$")
_BOOLEAN_FORMULA = re.compile(r"^(?:of:)?=\s*(TRUE|FALSE)\s*\(\s*\)\s*$", re.IGNORECASE)
_DELIMITERS = ",;\t|"
_DELIMITER_NAMES = {"\t": "tab"}
#: Spreadsheets hold numbers as IEEE doubles and show at most this many significant digits.
SIGNIFICANT_DIGITS = 15
_MAX_ROWS = 1_048_576
_MAX_COLUMNS = 16_384


class SheetError(DRError):
    """The file as a whole cannot be used (missing, unreadable, unknown columns); nothing was sent."""


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


@dataclass(frozen=True, slots=True)
class _Cell:
    text: str = ""
    number: str | None = None
    """The number a numeric cell holds, in the General format."""
    formula: str | None = None
    error: str | None = None

    @property
    def empty(self) -> bool:
        return not self.text and self.formula is None and self.error is None


_EMPTY = _Cell()


def _numeric(text: str) -> _Cell:
    """A date, time or unparsable number: held as displayed."""
    return _Cell(text, number=text)


def read_sheet(path: str | Path, *, sheet: str | None = None, encoding: str | None = None) -> Sheet:
    """Read a ``.csv``/``.txt``/``.tsv``, ``.xlsx`` or ``.ods`` file as text cells; SheetError for an unusable file.

    ``sheet`` picks a workbook sheet (default: ``customers`` if present, else the first); ``encoding`` is the
    text encoding of a CSV file that is neither UTF-8 nor UTF-16 with BOM (e.g. ``cp1252``).
    """
    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise SheetError(f"cannot read {path}: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    delimiter = None
    if suffix in {".xlsx", ".xlsm", ".ods"}:
        if encoding is not None:
            raise SheetError(f"{path}: an encoding applies to CSV files only, not to {suffix} workbooks")
        reader = _read_excel if suffix != ".ods" else _read_ods
        columns, rows, title = reader(content, path, sheet)
        note = f"{suffix.lstrip('.')}, sheet {title!r}"
    elif suffix in {".csv", ".txt", ".tsv"}:
        columns, rows, delimiter, codec = _read_csv(content, path, encoding)
        note = f"CSV, delimiter {_DELIMITER_NAMES.get(delimiter, repr(delimiter))}, {codec}"
    else:
        raise SheetError(f"{path}: unsupported file type {suffix or '(none)'!r}; use .csv, .xlsx or .ods")
    while rows and rows[-1].blank:  # trailing empty lines, Excel's formatted-but-empty rows
        rows.pop()
    return Sheet(path, columns, rows, hashlib.sha256(content).hexdigest(), note, delimiter)


def _clean(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def is_error_value(text: str) -> bool:
    """Whether ``text`` is what a spreadsheet shows for an error cell (``#N/A``, ``#DIV/0!``, ``Err:502``...)."""
    return text in ERROR_VALUES or bool(_LIBREOFFICE_ERROR.match(text))


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


def _table(records: Iterable[tuple[int, list[_Cell]]], path: Path, empty: str) -> tuple[list[str], list[SheetRow]]:
    """The header and rows of numbered cell records (the first record is the header)."""
    iterator = iter(records)
    first = next(iterator, None)
    if first is None:
        raise SheetError(f"{path}: {empty}")
    columns = _header([c.error or c.formula or c.text for c in first[1]], path)
    rows = []
    for number, cells in iterator:
        extra = next((c for c in cells[len(columns):] if not c.empty), None)
        if extra is not None:
            width = len(columns) + sum(not c.empty for c in cells[len(columns):])
            raise SheetError(f"{path}: row {number} has {width} cells but the header has {len(columns)} columns "
                             f"(extra value {extra.error or extra.formula or extra.text!r})")
        row = SheetRow(number, dict.fromkeys(columns, ""))
        for column, cell in zip(columns, cells, strict=False):
            if not cell.empty:
                _place(row, column, cell)
        rows.append(row)
    return columns, rows


def _place(row: SheetRow, column: str, cell: _Cell) -> None:
    """Put ``cell`` in ``row`` (replacing what the column held)."""
    for held in (row.formulas, row.errors, row.numeric):
        held.pop(column, None)
    if cell.error is not None:
        row.errors[column] = row.cells[column] = cell.error
    elif cell.formula is not None:
        row.formulas[column] = row.cells[column] = cell.formula
    else:
        row.cells[column] = cell.text
    if cell.number is not None:
        row.numeric[column] = cell.number


# -- numbers, dates and times as displayed --------------------------------------------------------------------

@dataclass(frozen=True)
class _NumberFormat:
    """The parts of a number format that decide the digits shown (literals, colours, separators dropped)."""

    min_integer: int = 1
    decimals: int = 0
    min_decimals: int = 0
    percent: bool = False
    exponent_digits: int | None = None
    """Digits of the exponent in scientific formats (``0.00E+00`` -> 2); None when not scientific."""
    scale: int = 1
    """``0,`` shows thousands, ``0,,`` millions."""


_FORMAT_DECORATION = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]|_.|\*.')


def _sections(code: str) -> list[str]:
    """A format code's ``;``-separated sections, ignoring ``;`` inside quotes and escapes."""
    sections: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in code:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            sections.append("".join(current))
            current = []
            continue
        current.append(char)
    return [*sections, "".join(current)]


@lru_cache(maxsize=512)
def _number_format(code: str) -> _NumberFormat | None:
    """The number format of an Excel format code, or None for General/text/fraction formats."""
    section = _FORMAT_DECORATION.sub("", _sections(code or "General")[0])
    if not re.search(r"[0#?]", section) or "/" in section:
        return None
    scientific = re.search(r"[eE][+-]", section)
    mantissa = section[:scientific.start()] if scientific else section
    integer, _, fraction = mantissa.partition(".")
    scaling = re.search(r"[0#?](,+)[^0#?]*$", mantissa)
    placeholders = re.findall(r"[0#?]", fraction)
    return _NumberFormat(
        min_integer=max(1, integer.count("0")),
        decimals=len(placeholders),
        min_decimals=len(fraction) - len(fraction.lstrip("0")),
        percent="%" in section,
        exponent_digits=max(1, section[scientific.end():].count("0")) if scientific else None,
        scale=1000 ** len(scaling.group(1)) if scaling and not scientific else 1,
    )


def _general(value: float) -> str:
    """A number as Excel's General format shows it: at most 15 significant digits, exact integers in full."""
    if float(value).is_integer() and abs(value) < 10 ** SIGNIFICANT_DIGITS:
        return str(int(value))
    return format(value, f".{SIGNIFICANT_DIGITS}g").upper()


def format_number(value: float, code: str = "General") -> str:
    """``value`` as a spreadsheet shows it in number format ``code`` (thousands separators left out)."""
    number_format = _number_format(code)
    if number_format is None:
        return _general(value)
    if number_format.exponent_digits is not None:
        text = format(float(value) * (100 if number_format.percent else 1), f".{number_format.decimals}E")
        mantissa, _, exponent = text.partition("E")
        digits = exponent[1:].lstrip("0").zfill(number_format.exponent_digits)
        return f"{mantissa}E{exponent[0]}{digits}" + ("%" if number_format.percent else "")
    exact = Decimal(format(value, f".{SIGNIFICANT_DIGITS}g"))  # what the spreadsheet holds: 15 digits
    exact = exact * (100 if number_format.percent else 1) / number_format.scale
    rounded = exact.quantize(Decimal(1).scaleb(-number_format.decimals), rounding=ROUND_HALF_UP)
    integer, _, fraction = format(abs(rounded), "f").partition(".")
    fraction = fraction.rstrip("0").ljust(number_format.min_decimals, "0")
    text = integer.zfill(number_format.min_integer) + (f".{fraction}" if fraction else "")
    return ("-" if rounded < 0 else "") + text + ("%" if number_format.percent else "")


def _date_parts(code: str) -> tuple[bool, bool]:
    """Whether a date/time format code shows a date and whether it shows a time."""
    section = _FORMAT_DECORATION.sub("", _sections(code or "")[0]).lower()
    has_time = bool(re.search(r"[hs]|am/pm|a/p", section))
    has_date = bool(re.search(r"[yd]", section)) or ("m" in section and not has_time)
    return has_date, has_time


def _clock(seconds: float, fraction: bool) -> str:
    """``HH:MM:SS`` (hours beyond 24 for durations), rounded to the second unless fractions are shown."""
    if not fraction:
        seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{int(hours):02d}:{int(minutes):02d}:{int(secs):02d}"
    micro = round((secs - int(secs)) * 1_000_000)
    return text + (f".{micro:06d}".rstrip("0") if fraction and micro else "")


def _temporal_text(value: datetime | date | time | timedelta, has_date: bool, has_time: bool,
                   fraction: bool = False) -> str:
    """A date/time value as ISO 8601, showing the parts its format shows (both when it shows neither)."""
    if isinstance(value, timedelta):
        return _clock(value.total_seconds(), fraction)
    if isinstance(value, time):
        return _clock(value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6, fraction)
    if not isinstance(value, datetime):
        return value.isoformat()
    if has_date and not has_time:
        return value.date().isoformat()
    if has_time and not has_date:
        return _temporal_text(value.time(), False, True, fraction)
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    if not fraction:
        aware = aware.replace(microsecond=0) + timedelta(seconds=round(aware.microsecond / 1e6))
    return format_datetime(aware)


def excel_text(value: Any) -> str:
    """A cell value (from Excel or a DataFrame) as the text the analyst sees, without float artefacts."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _general(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return format_datetime(aware)
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def number_problem(text: str) -> str | None:
    """Why the displayed text of a numeric cell cannot be an identifier exactly, or None when it can.

    A whole number of at most 15 significant digits (leading zeros from a format such as ``00000`` allowed) is
    exact; anything else was rounded (more digits, E-notation) or is not a whole number (decimals, %, dates).
    """
    if re.fullmatch(r"-?\d+", text):
        if len(text.lstrip("-").lstrip("0")) > SIGNIFICANT_DIGITS:
            return f"with more than {SIGNIFICANT_DIGITS} digits, which the spreadsheet has rounded"
        return None
    if re.search(r"\d[eE][+-]?\d", text):
        return f"in E-notation, which the spreadsheet has rounded to {SIGNIFICANT_DIGITS} significant digits"
    return "that is not a whole number (a decimal, percentage or date)"


# -- CSV ------------------------------------------------------------------------------------------------------

_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$")


def _rounded_in_csv(text: str) -> bool:
    """A CSV text that can only be a number a spreadsheet rounded: E-notation, or 16+ digits ending in zeros."""
    if _SCIENTIFIC.match(text):
        return True
    digits = text.lstrip("0")
    return text.isdigit() and text.isascii() and len(digits) > SIGNIFICANT_DIGITS \
        and not digits[SIGNIFICANT_DIGITS:].strip("0")


def _decode(content: bytes, path: Path, encoding: str | None) -> tuple[str, str]:
    """The text of a CSV file and a note on its encoding; never a silent guess."""
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise SheetError(f"{path}: unknown encoding {encoding!r}") from None
        label, hint = encoding, "pass the file's real encoding"
    elif content.startswith(codecs.BOM_UTF8):
        codec, label, hint = "utf-8-sig", "UTF-8 with BOM", "save as 'CSV UTF-8'"
    elif content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec, label, hint = "utf-16", "UTF-16 with BOM", "save it again as 'Unicode Text'"
    elif b"\x00" in content[:4096]:
        raise SheetError(f"{path}: looks like UTF-16 without a byte-order mark; save as 'CSV UTF-8' or pass "
                         "--encoding utf-16-le")
    else:
        codec, label, hint = "utf-8", "UTF-8", "save as 'CSV UTF-8' or pass --encoding cp1252"
    try:
        text = content.decode(codec)
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise SheetError(f"{path}: not {label} at line {line} (byte 0x{content[exc.start]:02x}); {hint}") from None
    return text.removeprefix("\ufeff"), label


def _sniff_delimiter(header: str) -> str:
    """The delimiter of a header line: csv.Sniffer limited to ``, ; tab |``, else the most frequent of them."""
    try:
        found = csv.Sniffer().sniff(header, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        found = ""
    if found and found in header:
        return found
    best = max(_DELIMITERS, key=header.count)
    return best if header.count(best) else ","


def _csv_cell(text: str) -> _Cell:
    text = _clean(unneutralise(text))
    if is_error_value(text):
        return _Cell(text, error=text)
    return _Cell(text, number=text if _rounded_in_csv(text) else None)


def _read_csv(content: bytes, path: Path,
              encoding: str | None) -> tuple[list[str], list[SheetRow], str, str]:
    text, label = _decode(content, path, encoding)
    if not text.strip():
        raise SheetError(f"{path}: the file is empty")
    delimiter = _sniff_delimiter(text.partition("\n")[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records = ((number, [_csv_cell(v) for v in record]) for number, record in enumerate(reader, start=1))
    columns, rows = _table(records, path, "the file is empty")
    return columns, rows, delimiter, label


# -- xlsx -----------------------------------------------------------------------------------------------------

def _formula_cell(formula: str, cached: Any) -> _Cell:
    """A formula cell given the value the spreadsheet cached for it: its error, a ``TRUE()``/``FALSE()`` boolean,
    or the formula itself (refused later)."""
    result = getattr(cached, "value", None)
    if getattr(cached, "data_type", None) == "e" or (isinstance(result, str) and is_error_value(result)):
        return _Cell(str(result), error=str(result))
    boolean = _BOOLEAN_FORMULA.match(formula)
    if boolean and (result is None or result == (boolean.group(1).upper() == "TRUE")):
        return _Cell(boolean.group(1).upper())
    return _Cell(formula, formula=formula)


def _excel_cell(cell: Any) -> _Cell:
    """One cell of a workbook opened with formulas; a formula cell is its formula until its cached value is read."""
    value = cell.value
    if value is None:
        return _EMPTY
    if cell.data_type == "f":
        formula = str(getattr(value, "text", value))  # an ArrayFormula keeps its text in .text
        return _Cell(formula, formula=formula)
    if cell.data_type == "e":
        return _Cell(str(value), error=str(value))
    if isinstance(value, bool):
        return _Cell("TRUE" if value else "FALSE")
    if isinstance(value, int | float):
        return _Cell(format_number(value, cell.number_format), number=_general(value))
    if isinstance(value, datetime | date | time | timedelta):
        code = cell.number_format or ""
        return _numeric(_temporal_text(value, *_date_parts(code), fraction=bool(re.search(r"s\.0", code.lower()))))
    return _Cell(_clean(str(value)))


def _open_workbook(content: bytes, path: Path, *, data_only: bool) -> Any:
    from openpyxl import load_workbook

    try:
        return load_workbook(io.BytesIO(content), read_only=True, data_only=data_only)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise SheetError(f"{path}: not a readable .xlsx file ({type(exc).__name__})") from None


def _read_excel(content: bytes, path: Path, sheet: str | None) -> tuple[list[str], list[SheetRow], str]:
    """Stream the sheet with its formulas; only when it has formulas, stream it again for their cached values."""
    workbook = _open_workbook(content, path, data_only=False)
    formulas: dict[tuple[int, int], str] = {}  # (row number, column index) -> formula text, data rows only

    def records(worksheet: Any) -> Iterator[tuple[int, list[_Cell]]]:
        for number, row in enumerate(worksheet.iter_rows(), start=1):
            cells = [_excel_cell(cell) for cell in row]
            formulas.update(((number, index), cell.formula) for index, cell in enumerate(cells)
                            if cell.formula is not None and number > 1)
            yield number, cells

    try:
        title = _pick_sheet(workbook.sheetnames, sheet, path)
        columns, rows = _table(records(workbook[title]), path, f"sheet {title!r} is empty")
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
                    _place(by_number[number], columns[index], _formula_cell(formula, cached))
    finally:
        workbook.close()


def _pick_sheet(names: list[str], sheet: str | None, path: Path) -> str:
    if not names:
        raise SheetError(f"{path}: the workbook has no sheets")
    if sheet is not None:
        if sheet not in names:
            raise SheetError(f"{path}: no sheet {sheet!r}; sheets are {', '.join(names)}")
        return sheet
    return CUSTOMERS_SHEET if CUSTOMERS_SHEET in names else names[0]


# -- ods ------------------------------------------------------------------------------------------------------

_ODF = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "number": "urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0",
    "calcext": "urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0",
    "loext": "urn:org:documentfoundation:names:experimental:office:xmlns:loext:1.0",
}


def _q(name: str) -> str:
    """``table:table-cell`` -> ``{urn:...table:1.0}table-cell`` (ElementTree's qualified names)."""
    prefix, _, local = name.partition(":")
    return f"{{{_ODF[prefix]}}}{local}"


_TABLE, _ROW, _COLUMN = _q("table:table"), _q("table:table-row"), _q("table:table-column")
_CELLS = frozenset({_q("table:table-cell"), _q("table:covered-table-cell")})
_CELL_STYLE, _P = _q("style:style"), _q("text:p")
_NUMBER_STYLES = {_q(f"number:{kind}-style"): kind
                  for kind in ("number", "percentage", "currency", "date", "time", "boolean", "text")}
_DATE_PARTS = frozenset(_q(f"number:{p}") for p in ("year", "month", "day", "day-of-week", "era", "quarter",
                                                    "week-of-year"))
_TIME_PARTS = frozenset(_q(f"number:{p}") for p in ("hours", "minutes", "seconds", "am-pm"))
_DURATION = re.compile(r"^(-)?P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")


@dataclass(frozen=True)
class _DataStyle:
    kind: str
    code: str = "General"
    """An Excel-style code with the same digits (``00000``, ``0.00%``, ``0.00E+00``) for number kinds."""
    has_date: bool = False
    has_time: bool = False
    fraction: bool = False


def _data_style(element: ElementTree.Element, kind: str) -> _DataStyle:
    """An ODF number/percentage/currency/date/time/boolean/text style as the rules above need it."""
    if kind in {"date", "time"}:
        tags = {child.tag for child in element}
        seconds = element.find(_q("number:seconds"))
        fraction = seconds is not None and int(seconds.get(_q("number:decimal-places"), "0") or 0) > 0
        return _DataStyle(kind, has_date=bool(tags & _DATE_PARTS), has_time=bool(tags & _TIME_PARTS),
                          fraction=fraction)
    number = element.find(_q("number:number"))
    scientific = element.find(_q("number:scientific-number"))
    part = number if number is not None else scientific
    if kind not in {"number", "percentage", "currency"} or part is None:
        return _DataStyle(kind)

    def attr(name: str) -> int | None:
        raw = part.get(_q(f"number:{name}")) or part.get(_q(f"loext:{name}"))
        return int(raw) if raw and raw.isdigit() else None

    decimals = attr("decimal-places")
    min_integer = attr("min-integer-digits")
    if decimals is None and min_integer is None and scientific is None:
        return _DataStyle(kind, "General")
    decimals = decimals or 0
    min_decimals = attr("min-decimal-places")
    min_decimals = decimals if min_decimals is None else min(min_decimals, decimals)
    code = "0" * max(1, min_integer or 1)
    if decimals:
        code += "." + "0" * min_decimals + "#" * (decimals - min_decimals)
    if scientific is not None:
        code += "E+" + "0" * (attr("min-exponent-digits") or 2)
    return _DataStyle(kind, code + ("%" if kind == "percentage" else ""))


@dataclass
class _OdsStyles:
    data: dict[str, _DataStyle] = field(default_factory=dict)
    cells: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    """Cell style -> (its data style, its parent style)."""
    _resolved: dict[str | None, _DataStyle | None] = field(default_factory=dict)

    def add(self, element: ElementTree.Element) -> None:
        name = element.get(_q("style:name"))
        if not name:
            return
        if element.tag in _NUMBER_STYLES:
            self.data[name] = _data_style(element, _NUMBER_STYLES[element.tag])
        elif element.tag == _CELL_STYLE and element.get(_q("style:family")) == "table-cell":
            self.cells[name] = (element.get(_q("style:data-style-name")), element.get(_q("style:parent-style-name")))

    def resolve(self, cell_style: str | None) -> _DataStyle | None:
        """The data style a cell style uses, directly or through its parent styles."""
        if cell_style not in self._resolved:
            found, name, seen = None, cell_style, set()
            while name and name not in seen:
                seen.add(name)
                data_style, name = self.cells.get(name, (None, None))
                if data_style:
                    found = self.data.get(data_style)
                    break
            self._resolved[cell_style] = found
        return self._resolved[cell_style]


def _paragraph_text(element: ElementTree.Element) -> str:
    """The text of a ``text:p`` with its spaces (``text:s``), tabs and line breaks."""
    parts = [element.text or ""]
    for child in element:
        if child.tag == _q("text:s"):
            parts.append(" " * int(child.get(_q("text:c"), "1") or 1))
        elif child.tag == _q("text:tab"):
            parts.append("\t")
        elif child.tag == _q("text:line-break"):
            parts.append("\n")
        elif child.tag != _q("office:annotation"):
            parts.append(_paragraph_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _ods_temporal(kind: str, raw: str, style: _DataStyle | None) -> _Cell:
    if kind == "time":
        match = _DURATION.match(raw)
        if not match:
            return _numeric(raw)
        sign, days, hours, minutes, seconds = match.groups()
        total = timedelta(days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0),
                          seconds=float(seconds or 0))
        text = _temporal_text(total, False, True, fraction=bool(style and style.fraction))
        return _numeric(("-" if sign else "") + text)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return _numeric(raw)
    if style is not None and style.kind in {"date", "time"}:
        has_date, has_time, fraction = style.has_date, style.has_time, style.fraction
    else:
        has_date, has_time, fraction = True, "T" in raw, False
    return _numeric(_temporal_text(value, has_date, has_time, fraction))


def _ods_cell(element: ElementTree.Element, style: _DataStyle | None) -> _Cell:
    kind = element.get(_q("office:value-type"))
    formula = element.get(_q("table:formula"))
    shown = "\n".join(_paragraph_text(p) for p in element.findall(_P))
    if formula is not None:
        formula = formula.removeprefix("of:")
        if element.get(_q("calcext:value-type")) == "error" or is_error_value(shown.strip()):
            return _Cell(shown.strip(), error=shown.strip())
        boolean = _BOOLEAN_FORMULA.match(formula)
        if boolean:
            truth = boolean.group(1).upper() == "TRUE"
            result = element.get(_q("office:boolean-value")) or element.get(_q("office:value"))
            if result is None or result.lower() in ({"true", "1"} if truth else {"false", "0"}):
                return _Cell(boolean.group(1).upper())
        return _Cell(formula, formula=formula)
    if kind == "boolean":
        return _Cell("TRUE" if element.get(_q("office:boolean-value"), "").lower() == "true" else "FALSE")
    if kind in {"float", "percentage", "currency"}:
        raw = element.get(_q("office:value"), "")
        try:
            number = float(raw)
        except ValueError:
            return _numeric(_clean(shown))
        if style is not None and style.kind == "boolean":
            return _Cell("TRUE" if number else "FALSE")
        code = style.code if style is not None else ("0%" if kind == "percentage" else "General")
        return _Cell(format_number(number, code), number=_general(number))
    if kind in {"date", "time"}:
        raw = element.get(_q(f"office:{kind}-value"), "")
        return _ods_temporal(kind, raw, style)
    text = element.get(_q("office:string-value"))
    return _Cell(_clean(text if text is not None else shown))


@dataclass
class _OdsTable:
    """The running state of one table while its rows stream past."""

    styles: _OdsStyles
    column_styles: list[tuple[int, str | None]] = field(default_factory=list)
    """(first column index of a run, its default cell style), in order."""
    columns_seen: int = 0
    rows_seen: int = 0
    blank_rows: int = 0

    def add_column(self, element: ElementTree.Element) -> None:
        self.column_styles.append((self.columns_seen, element.get(_q("table:default-cell-style-name"))))
        self.columns_seen += int(element.get(_q("table:number-columns-repeated"), "1") or 1)

    def column_style(self, index: int) -> str | None:
        style = None
        for start, name in self.column_styles:
            if start > index:
                break
            style = name
        return style

    def cells(self, row: ElementTree.Element) -> list[_Cell]:
        cells: list[_Cell] = []
        pending_empty = 0  # empty cells are only materialised when a value follows them
        row_style = row.get(_q("table:default-cell-style-name"))
        for element in row:
            if element.tag not in _CELLS:
                continue
            repeat = int(element.get(_q("table:number-columns-repeated"), "1") or 1)
            index = len(cells) + pending_empty
            own = element.get(_q("table:style-name")) or row_style
            first = _ods_cell(element, self.styles.resolve(own or self.column_style(index)))
            if first.empty:
                pending_empty += repeat
                continue
            cells.extend([_EMPTY] * pending_empty)
            pending_empty = 0
            cells.append(first)
            for offset in range(1, min(repeat, _MAX_COLUMNS - index)):
                style = own or self.column_style(index + offset)
                cells.append(_ods_cell(element, self.styles.resolve(style)))
        return cells

    def records(self, row: ElementTree.Element) -> Iterator[tuple[int, list[_Cell]]]:
        """The numbered records of one ``table:table-row`` (repeated rows expanded, blank runs deferred)."""
        repeat = int(row.get(_q("table:number-rows-repeated"), "1") or 1)
        cells = self.cells(row)
        if not cells:
            self.blank_rows += repeat
            return
        for _ in range(min(self.blank_rows, _MAX_ROWS - self.rows_seen)):
            self.rows_seen += 1
            yield self.rows_seen, []
        self.blank_rows = 0
        for _ in range(min(repeat, _MAX_ROWS - self.rows_seen)):
            self.rows_seen += 1
            yield self.rows_seen, cells


def _ods_elements(archive: zipfile.ZipFile, member: str) -> Iterator[tuple[str, ElementTree.Element]]:
    """Streamed (event, element) pairs of an XML member; each finished row is detached to bound memory."""
    stack: list[ElementTree.Element] = []
    with archive.open(member) as handle:
        source: IO[bytes] = handle
        for event, element in ElementTree.iterparse(source, events=("start", "end")):
            if event == "start":
                stack.append(element)
                yield event, element
                continue
            stack.pop()
            yield event, element
            if element.tag == _ROW and stack:
                stack[-1].remove(element)


def _read_ods(content: bytes, path: Path, sheet: str | None) -> tuple[list[str], list[SheetRow], str]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        archive.getinfo("content.xml")
    except (zipfile.BadZipFile, KeyError):
        raise SheetError(f"{path}: not a readable .ods file") from None
    with archive:
        styles = _OdsStyles()
        names: list[str] = []
        try:
            if "styles.xml" in archive.namelist():
                for event, element in _ods_elements(archive, "styles.xml"):
                    if event == "end":
                        styles.add(element)
            for event, element in _ods_elements(archive, "content.xml"):
                if event == "start" and element.tag == _TABLE:
                    names.append(element.get(_q("table:name"), ""))
                elif event == "end" and not names:  # automatic styles precede the tables
                    styles.add(element)
            title = _pick_sheet(names, sheet, path)
            columns, rows = _table(_ods_records(archive, title, styles), path, f"sheet {title!r} is empty")
        except ElementTree.ParseError as exc:
            raise SheetError(f"{path}: not a readable .ods file ({exc})") from None
    return columns, rows, title


def _ods_records(archive: zipfile.ZipFile, title: str, styles: _OdsStyles) -> Iterator[tuple[int, list[_Cell]]]:
    table: _OdsTable | None = None
    depth = 0  # nesting of table:table elements inside the chosen one (sub-tables are not rows of it)
    for event, element in _ods_elements(archive, "content.xml"):
        if element.tag == _TABLE:
            if table is None and event == "start" and element.get(_q("table:name")) == title:
                table = _OdsTable(styles)
            elif table is not None:
                depth += 1 if event == "start" else -1
                if depth < 0:
                    return
        elif table is not None and depth == 0 and event == "end":
            if element.tag == _ROW:
                yield from table.records(element)
            elif element.tag == _COLUMN:
                table.add_column(element)
