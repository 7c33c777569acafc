"""Writing tables to xlsx and csv: formula-like cells neutralised, datetimes as UTC, optional PII masking.

Every stored string survives an export and a read back by :func:`drframe.bulk.plan` (up to the cell normalisation
of :func:`drframe._core._text.normalise_cell`), so an unedited export applies as all ``unchanged``.  A value a format
cannot hold is refused with :class:`ExportError` naming the table, the customer and the column, before anything is
written: never dropped or altered silently.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from .._core._text import QUOTE_CANDIDATES, UTC_SUFFIX, is_digits, is_exact_column, masker_for, needs_quote, neutralise
from .._errors import ExportError
from ._atomic import written_whole

# XML 1.0 cannot hold C0 controls other than TAB, LF and CR, nor U+FFFE/U+FFFF (openpyxl raises for the first and
# writes a workbook no reader opens for the second); lone surrogates are not encodable as UTF-8 at all.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_NOT_UTF8 = re.compile("[\ud800-\udfff]")
_XLSX_REMEDY = "Correct those values, or export as CSV or Parquet, which can hold them."
_UTF8_REMEDY = "Correct those values: lone surrogates are not Unicode text."
#: Columns that name a row's customer (or object) in an error message, most specific first.
_ROW_KEYS = ("customer_id", "id", "source_id", "tax_id")


class _Unstorable(Exception):
    """Raised inside the cell loop; turned into an :class:`ExportError` that names the offending rows."""


def _refusal(table: str, data: pd.DataFrame, pattern: re.Pattern[str], fmt: str, remedy: str) -> ExportError:
    """The error naming each row (by customer id) and column of ``data`` where ``pattern`` finds a character."""
    columns = [str(c) for c in data.columns]
    problems = [f"column name {c!r}" for c in columns if pattern.search(c)]
    keys = [c for c in _ROW_KEYS if c in columns]
    for number, values in enumerate(data.itertuples(index=False, name=None), start=2):
        row = dict(zip(columns, values, strict=True))
        bad = {c: found for c, v in row.items() if isinstance(v, str) and (found := pattern.search(v))}
        if bad:
            who = ", ".join(f"{k} {row[k]!r}" for k in keys if isinstance(row[k], str)) or f"row {number}"
            column, found = next(iter(bad.items()))
            where = f"column{'s' * (len(bad) > 1)} {', '.join(map(repr, bad))}"
            problems.append(f"{who}: {where} (U+{ord(found.group()):04X} in {row[column][:40]!r})")
    more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
    return ExportError(f"{table}: a character {fmt} cannot store, so nothing was written: "
                       + "; ".join(problems[:10]) + more + f". {remedy}")


def _export_frame(frame: pd.DataFrame, table: str, *, mask_pii: bool) -> pd.DataFrame:
    """A copy ready for a spreadsheet: tz-naive UTC datetimes, JSON text for lists, masked PII if asked."""
    out = {}
    try:
        for column in frame.columns:
            series = frame[column]
            if isinstance(series.dtype, pd.DatetimeTZDtype):
                series = series.dt.tz_convert("UTC").dt.tz_localize(None)
            elif series.dtype == object:
                series = _map_cells(series, lambda v: json.dumps(v, ensure_ascii=False)
                                    if isinstance(v, list | dict) else v)
            masker = masker_for(str(column)) if mask_pii else None
            if masker is not None:
                series = _map_cells(series, _on_text(masker))
            out[column] = series
    except UnicodeEncodeError:  # pandas stores the text as UTF-8 (arrow) and meets a lone surrogate
        raise _refusal(table, frame, _NOT_UTF8, "UTF-8", _UTF8_REMEDY) from None
    return pd.DataFrame(out, index=frame.index)


def _map_cells(series: pd.Series, function: Callable[[Any], Any]) -> pd.Series:
    """``function`` applied to every cell. An object column stays object: ``Series.map`` would infer a dtype and
    turn metadata integers ``[7, None]`` into floats ``[7.0, NaN]``, which a CSV then shows as ``7.0``."""
    if series.dtype == object:
        return pd.Series([function(v) for v in series.tolist()], index=series.index, dtype=object)
    return series.map(function)


def _on_text(function: Callable[[str], str]) -> Callable[[Any], Any]:
    """``function`` for text cells; any other cell as it is."""
    return lambda value: function(value) if isinstance(value, str) else value


#: Excel formats: datetimes keep milliseconds; amounts show two decimals with thousands separators.
_DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss.000"
_AMOUNT_FORMAT = "#,##0.00"
#: Excel's Text format: what is typed into such a cell stays text (``02108`` keeps its zero).
TEXT_FORMAT = "@"
#: The hidden sheet that keeps each table's ``_empty_values`` bookkeeping out of the analyst's way.
EMPTY_VALUES_SHEET = "_empty_values"
_MAX_WIDTH, _MIN_WIDTH = 60, 8
#: The rows (the first ones) whose text fits the column widths.
WIDTH_SAMPLE = 2000


def write_excel(path: str | Path, tables: Mapping[str, pd.DataFrame], *, mask_pii: bool = False) -> Path:
    """One sheet per table, Excel-native: header frozen, autofilter on, column widths fitted to the content
    (capped), booleans as TRUE/FALSE, datetimes with milliseconds and ``(UTC)`` in the header, amounts with a
    number format. Each table's ``_empty_values`` bookkeeping goes to one hidden sheet. Formula-like text is
    stored as text, never evaluated.

    Raises :class:`ExportError` (and writes nothing) when a value holds a character XML cannot store (a control
    character other than TAB/LF/CR, U+FFFE, U+FFFF); CSV and Parquet keep such values."""
    from ._xlsx_out import write_workbook  # Arrow's string kernels: imported by an xlsx export only

    return write_workbook(path, tables, mask_pii=mask_pii)


def fill_sheet(sheet: Any, frame: pd.DataFrame, *, header: bool = True, mask_pii: bool = False) -> None:
    """Append ``frame`` to an ordinary (not write-only) worksheet with the same Excel-native rules as
    :func:`write_excel`. Raises :class:`ExportError` like it."""
    from openpyxl.cell import Cell

    data = _export_frame(frame, sheet.title, mask_pii=mask_pii)
    _write_sheet(sheet, data, sheet.title, Cell, datetimes=[isinstance(t, pd.DatetimeTZDtype) for t in frame.dtypes],
                 header=header)


def _write_sheet(sheet: Any, data: pd.DataFrame, table: str, cell_type: Any, *, datetimes: list[bool],
                 header: bool = True) -> None:
    """Header (bold, ``(UTC)`` on datetime columns) and fitted widths, then the rows."""
    from openpyxl.styles import Font

    columns = _header(data, table)
    titles = [c + UTC_SUFFIX if is_time else c for c, is_time in zip(columns, datetimes, strict=True)]
    formats = [_column_format(c, data[c], is_time) for c, is_time in zip(columns, datetimes, strict=True)]
    if header:
        for index, (width, number_format) in enumerate(zip(_widths(data, titles), formats, strict=True), start=1):
            dimension = sheet.column_dimensions[column_letter(index)]
            dimension.width = width
            if number_format == TEXT_FORMAT:  # a value typed into the column later stays text too
                dimension.number_format = TEXT_FORMAT
        cells = []
        for title in titles:
            cell = cell_type(sheet, value=title)
            cell.font = Font(bold=True)
            cells.append(cell)
        sheet.append(cells)
    try:
        for values in data.itertuples(index=False, name=None):
            sheet.append([_excel_value(sheet, v, cell_type, f) for v, f in zip(values, formats, strict=True)])
    except _Unstorable:
        raise _refusal(table, data, _NOT_XML, "an .xlsx file", _XLSX_REMEDY) from None


def _column_format(column: str, series: pd.Series, is_time: bool) -> str | None:
    """The number format of a column's cells: datetimes, amounts, and Text for ids, postal codes and phones, and
    for metadata holding a text of digits (a spreadsheet would drop a typed ``02108``'s zero in General)."""
    if is_time:
        return _DATETIME_FORMAT
    if _is_amount(column, series):
        return _AMOUNT_FORMAT
    if is_exact_column(column) or (column.startswith("metadata.") and any(map(is_digits, series.tolist()))):
        return TEXT_FORMAT
    return None


def _is_amount(column: str, series: pd.Series) -> bool:
    return str(series.dtype) == "Float64" and (column == "amount" or column.endswith(("Amount", ".amount")))


def _widths(data: pd.DataFrame, titles: list[str]) -> list[float]:
    """Column widths in characters: the longest of the header and the first rows' text, capped."""
    sample = data.head(WIDTH_SAMPLE)
    return [width(title, longest(sample[column])) for column, title in zip(sample.columns, titles, strict=True)]


def longest(series: pd.Series) -> int:
    """The longest text of a column's values (0 when every one is missing)."""
    # Text, whole numbers and booleans by Arrow's kernels: a number's text is the digits str() gives, and
    # "true"/"false" are as long as "True"/"False".
    kinds = pd.api.types
    dtype = series.dtype
    if not kinds.is_object_dtype(dtype) and (kinds.is_string_dtype(dtype) or kinds.is_integer_dtype(dtype)
                                             or kinds.is_bool_dtype(dtype)):
        import pyarrow as pa
        import pyarrow.compute as pc

        texts = pc.cast(pa.array(series, from_pandas=True), pa.string())
        return int(pc.max(pc.utf8_length(texts)).as_py() or 0)
    return max((len(str(v)) for v in series.tolist() if not _missing(v)), default=0)


def width(title: str, longest: int) -> float:
    """A column's width in characters, given its title and its longest text."""
    return float(min(_MAX_WIDTH, max(_MIN_WIDTH, len(title) + 2, longest + 2)))


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


def _header(data: pd.DataFrame, table: str) -> list[str]:
    columns = [str(c) for c in data.columns]
    if any(_NOT_XML.search(c) for c in columns):
        raise _refusal(table, data, _NOT_XML, "an .xlsx file", _XLSX_REMEDY)
    return columns


def _excel_value(sheet: Any, value: Any, cell_type: Any, number_format: str | None = None) -> Any:
    if _missing(value):
        return None
    if isinstance(value, str):
        if _NOT_XML.search(value):
            raise _Unstorable
        if needs_quote(value):
            # Keep the text exact but force the cell type to string (with Excel's quote prefix): never a formula,
            # never read back as the clear token or an error.
            cell = cell_type(sheet, value=value)
            cell.data_type = "s"
            cell.style = "Normal"
            cell.quotePrefix = True
            if number_format == TEXT_FORMAT:
                cell.number_format = TEXT_FORMAT
            return cell
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if number_format == TEXT_FORMAT and not isinstance(value, str):
        number_format = None  # a metadata number in a Text column stays a number
    if number_format is not None:
        cell = cell_type(sheet, value=value)
        cell.number_format = number_format
        return cell
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars: bool_ must stay a boolean
        return value.item()
    return value


def column_letter(index: int) -> str:
    """Excel's letters for a 1-based column index: 1 -> A, 28 -> AB."""
    letters = ""
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


_CSV_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _neutralised(data: pd.DataFrame) -> pd.DataFrame:
    for column in data.columns:
        series = data[column]
        if series.dtype == object:
            data[column] = _map_cells(series, _on_text(neutralise))
        elif pd.api.types.is_string_dtype(series.dtype):
            # One pattern over the column finds the few cells that may need a quote; only those are looked at.
            found = _matches(series, QUOTE_CANDIDATES)
            if found.any():
                series = series.copy()
                series[found] = [neutralise(text) for text in series[found].tolist()]
                data[column] = series
    return data


def _matches(series: pd.Series, pattern: str) -> Any:
    """Which cells of a text column ``pattern`` (RE2) finds something in, by Arrow's kernel: pandas' ``str.contains``
    takes a Python call per cell for a column of the ``str`` dtype (missing values as NaN)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = pa.array(series, type=pa.string(), from_pandas=True)
    return pc.fill_null(pc.match_substring_regex(texts, pattern), False).to_numpy(zero_copy_only=False)


def _holds(data: pd.DataFrame, char: str) -> bool:
    """Whether any text cell (or column name) of ``data`` contains ``char``."""
    if any(char in str(c) for c in data.columns):
        return True
    for column in data.columns:
        series = data[column]
        if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
            if _matches(series, re.escape(char)).any():
                return True
        elif series.dtype == object and any(isinstance(v, str) and char in v for v in series):
            return True
    return False


def write_csv_parts(path: str | Path, parts: Iterable[pd.DataFrame], table: str, *, mask_pii: bool = False) -> Path:
    """One table given as consecutive parts (the same columns; at least one, maybe empty) written as one CSV, a
    part in memory at a time, exactly as one frame of all the rows would be written; whole or not at all (see
    :mod:`._atomic`).  The one way a CSV is written: UTF-8, RFC 4180 (CRLF row ends; a field holding CR, LF, a
    quote or a comma is quoted), formula-like and apostrophe-led text prefixed with ``'`` (undone exactly by the
    sheet reader)."""
    path = Path(path)
    with written_whole([path]) as (partial,):
        _write_csv_parts(partial, parts, table, mask_pii=mask_pii)
    return path


def _write_csv_parts(path: Path, parts: Iterable[pd.DataFrame], table: str, *, mask_pii: bool) -> None:
    from ._csv_out import csv_bytes  # Arrow's string kernels, imported by a CSV export only

    with_bom = False
    with path.open("w+b") as handle:
        for number, part in enumerate(parts):
            data = csv_ready(part, table, mask_pii=mask_pii)
            # With a NUL byte, say UTF-8 with a BOM, in front of what is written already.
            if not with_bom and holds_nul(data):
                _prepend_bom(handle)
                with_bom = True
            encoded = csv_bytes(data, header=number == 0, date_format=_CSV_DATE_FORMAT)
            if encoded is None:
                text = data.to_csv(index=False, header=number == 0, date_format=_CSV_DATE_FORMAT,
                                   lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
                try:
                    encoded = text.encode("utf-8")
                except UnicodeEncodeError:
                    raise _refusal(table, data, _NOT_UTF8, "UTF-8", _UTF8_REMEDY) from None
            handle.write(encoded)


def csv_ready(frame: pd.DataFrame, table: str, *, mask_pii: bool) -> pd.DataFrame:
    """``frame`` as a CSV writes it: :func:`_export_frame`'s copy, formula-like text neutralised."""
    return _neutralised(_export_frame(frame, table, mask_pii=mask_pii))


def holds_nul(data: pd.DataFrame) -> bool:
    """Whether a CSV of ``data`` (:func:`csv_ready`) needs a BOM: a NUL byte in BOM-less text reads as UTF-16 to
    spreadsheets (and to drframe's reader)."""
    return _holds(data, "\x00")


def _prepend_bom(handle: BinaryIO) -> None:
    """Put a UTF-8 BOM in front of what ``handle`` (a file open for reading and writing) holds."""
    handle.seek(0)
    with tempfile.TemporaryFile() as copy:
        shutil.copyfileobj(handle, copy)
        copy.seek(0)
        handle.seek(0)
        handle.truncate()
        handle.write(codecs.BOM_UTF8)
        shutil.copyfileobj(copy, handle)


def write_csv(directory: str | Path, tables: Mapping[str, pd.DataFrame], *, mask_pii: bool = False) -> list[Path]:
    """One UTF-8 CSV per table (RFC 4180); formula-like cells get a leading apostrophe (OWASP).  The files replace
    earlier ones together, once every table is written (see :mod:`._atomic`)."""
    paths = [Path(directory) / f"{name}.csv" for name in tables]
    with written_whole(paths) as partials:
        for partial, (name, frame) in zip(partials, tables.items(), strict=True):
            _write_csv_parts(partial, [frame], name, mask_pii=mask_pii)
    return paths


def write_table(path: str | Path, frame: pd.DataFrame, *, sheet: str = "data", mask_pii: bool = False) -> Path:
    """One table to ``.xlsx`` (a sheet named ``sheet``) or ``.csv``, chosen by the path's suffix."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        return write_excel(path, {sheet: frame}, mask_pii=mask_pii)
    return write_csv_parts(path, [frame], sheet, mask_pii=mask_pii)
