"""xlsx exports written straight as SpreadsheetML: each sheet's XML is built a block of rows at a time by Arrow's
string kernels (a column's cells in one pass, not a Python object per cell) and streamed into the zip.

The rules are :func:`drframe._files._export.write_excel`'s, and the file reads back as the openpyxl-written one
did: inline strings, the same cell styles (Text ``@`` for ids, postal codes, phones and digit-only metadata, the
datetime and amount formats, Excel's quote prefix for formula-like text, a bold header), the same column widths,
frozen header, autofilter and hidden ``_empty_values`` sheet. openpyxl stays for the reports' workbooks.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from html import escape
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .._core._text import QUOTE_CANDIDATES, UTC_SUFFIX, needs_quote
from .._tables._frames import EMPTY_VALUES_COLUMN
from ._atomic import written_whole
from ._export import (
    _AMOUNT_FORMAT,
    _DATETIME_FORMAT,
    _NOT_XML,
    _XLSX_REMEDY,
    EMPTY_VALUES_SHEET,
    TEXT_FORMAT,
    _column_format,
    _export_frame,
    _header,
    _missing,
    _refusal,
    _Unstorable,
    _widths,
    column_letter,
)

#: Cell style indices of ``styles.xml`` below.
_HEADER, _DATETIME, _AMOUNT, _TEXT, _QUOTED, _QUOTED_TEXT = 1, 2, 3, 4, 5, 6
_FORMAT_STYLE = {_DATETIME_FORMAT: _DATETIME, _AMOUNT_FORMAT: _AMOUNT, TEXT_FORMAT: _TEXT}
_ROWS_PER_BLOCK = 8192
#: Joins cells into rows: a missing cell (null) is nothing.
SKIP_NULLS = pc.JoinOptions(null_handling="replace", null_replacement="")
#: Excel's longest cell text; openpyxl cut longer text to it, and so does this writer.
_MAX_TEXT = 32767
#: ``_NOT_XML`` in RE2's syntax (Arrow strings hold no lone surrogates).
_NOT_XML_RE2 = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x{FFFE}\\x{FFFF}]"
#: Text whose ends are whitespace (``str.strip`` would change it) keeps them with ``xml:space="preserve"``.
_EDGE_SPACE = "^[\\s\\pZ\\x{85}]|[\\s\\pZ\\x{85}]$"
#: Days from Excel's epoch (1899-12-30) to 1970-01-01; a day's microseconds.
_UNIX_EPOCH_SERIAL, _DAY_US = 25569, 86_400 * 10**6

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_STYLES_XML = (
    f'<styleSheet xmlns="{_MAIN}"><numFmts count="1"><numFmt numFmtId="164" formatCode="{_DATETIME_FORMAT}"/>'
    '</numFmts><fonts count="2"><font><sz val="11"/><color theme="1"/><name val="Calibri"/><family val="2"/>'
    '<scheme val="minor"/></font><font><b val="1"/><sz val="11"/><color theme="1"/><name val="Calibri"/>'
    '<family val="2"/><scheme val="minor"/></font></fonts><fills count="2"><fill><patternFill/></fill><fill>'
    '<patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/><bottom/>'
    '<diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    '</cellStyleXfs><cellXfs count="7"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/>'
    '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1" quotePrefix="1"/>'
    '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '</styleSheet>')


def write_workbook(path: str | Path, tables: Mapping[str, pd.DataFrame], *, mask_pii: bool = False) -> Path:
    """:func:`drframe._files._export.write_excel`'s workbook, written into a temporary file renamed at the end (an
    :class:`ExportError` leaves ``path`` as it was: see :mod:`._atomic`)."""
    with workbook(path) as (archive, sheets):
        empties: list[tuple[str, int, str]] = []
        for name, frame in tables.items():
            if EMPTY_VALUES_COLUMN in frame.columns:
                empties += [(name, number, text) for number, text in
                            enumerate(frame[EMPTY_VALUES_COLUMN].tolist(), start=2) if isinstance(text, str)]
                frame = frame.drop(columns=EMPTY_VALUES_COLUMN)
            area = sheet_area(len(frame.columns), len(frame))
            datetimes = [isinstance(t, pd.DatetimeTZDtype) for t in frame.dtypes]
            data = _export_frame(frame, name, mask_pii=mask_pii)
            _add_sheet(archive, len(sheets) + 1, data, name, datetimes, frozen=True, area=area)
            sheets.append((name[:31], False, area))
        add_empty_values(archive, sheets, empties)
    return Path(path)


@contextmanager
def workbook(path: str | Path) -> Iterator[tuple[zipfile.ZipFile, list[tuple[str, bool, str | None]]]]:
    """The workbook's zip, written whole or not at all (see :mod:`._atomic`), and its list of sheets ``(title,
    hidden, autofilter range)``, which the caller fills as it adds them; the other parts are added at the end."""
    sheets: list[tuple[str, bool, str | None]] = []
    with written_whole([Path(path)]) as (partial,), \
            zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        yield archive, sheets
        _add_package(archive, sheets)


def sheet_area(columns: int, rows: int) -> str | None:
    """A table's autofilter range."""
    return f"A1:{column_letter(columns)}{max(1, rows + 1)}" if columns else None


def add_empty_values(archive: zipfile.ZipFile, sheets: list[tuple[str, bool, str | None]],
                     empties: list[tuple[str, int, str]]) -> None:
    """The hidden sheet of the tables' ``_empty_values`` ``(table, row, text)``, if any."""
    if empties:
        data = pd.DataFrame(empties, columns=["table", "row", EMPTY_VALUES_COLUMN])
        _add_sheet(archive, len(sheets) + 1, data, EMPTY_VALUES_SHEET, [False] * 3, frozen=False, area=None)
        sheets.append((EMPTY_VALUES_SHEET, True, None))


def _add_sheet(archive: zipfile.ZipFile, number: int, data: pd.DataFrame, table: str, datetimes: list[bool], *,
               frozen: bool, area: str | None) -> None:
    columns = _header(data, table)
    titles = [c + UTC_SUFFIX if is_time else c for c, is_time in zip(columns, datetimes, strict=True)]
    formats = [_column_format(c, data[c], is_time) for c, is_time in zip(columns, datetimes, strict=True)]
    letters = [column_letter(index) for index in range(1, len(columns) + 1)]
    head = sheet_head(len(data), titles, _widths(data, titles) if columns else [], formats, frozen=frozen)
    blocks = (_rows(data.iloc[start:start + _ROWS_PER_BLOCK], start + 2, letters, formats)
              for start in range(0, len(data) if columns else 0, _ROWS_PER_BLOCK))
    try:
        add_sheet_xml(archive, number, head, blocks, area, large=len(data) * max(1, len(columns)) > 8_000_000)
    except _Unstorable:
        raise _refusal(table, data, _NOT_XML, "an .xlsx file", _XLSX_REMEDY) from None


def sheet_head(rows: int, titles: list[str], widths: list[float], formats: list[str | None], *,
               frozen: bool) -> str:
    """A sheet's XML up to its first data row: dimension, views, columns (width, Text style), the header row."""
    letters = [column_letter(index) for index in range(1, len(titles) + 1)]
    extent = f"A1:{letters[-1]}{rows + 1}" if titles else "A1"
    head = [f'<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">',
            f'<dimension ref="{extent}"/><sheetViews><sheetView workbookViewId="0">']
    if frozen:
        head.append('<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                    '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>')
    head.append('</sheetView></sheetViews><sheetFormatPr baseColWidth="8" defaultRowHeight="15"/>')
    if titles:
        head.append("<cols>")
        for index, (width, number_format) in enumerate(zip(widths, formats, strict=True), start=1):
            style = f' style="{_TEXT}"' if number_format == TEXT_FORMAT else ""  # text typed in later stays text
            head.append(f'<col min="{index}" max="{index}" width="{width:g}" customWidth="1"{style}/>')
        head.append("</cols>")
    head.append('<sheetData><row r="1">')
    head += [f'<c r="{letter}1" s="{_HEADER}" t="inlineStr"><is>{_text_element(title)}</is></c>'
             for letter, title in zip(letters, titles, strict=True)]
    head.append("</row>")
    return "".join(head)


def add_sheet_xml(archive: zipfile.ZipFile, number: int, head: str, blocks: Iterable[pa.Array], area: str | None, *,
                  large: bool) -> None:
    """Sheet ``number``: its head, its rows (blocks of rows' XML, one row per item, built as they are written)
    and its end (the autofilter)."""
    # A sheet whose XML may pass 2 GiB needs the zip64 extension, announced before its size is known.
    with archive.open(f"xl/worksheets/sheet{number}.xml", "w", force_zip64=large) as handle, \
            ThreadPoolExecutor(1, thread_name_prefix="drframe-xlsx") as writer:
        # One thread compresses and writes a block (zlib lets go of the GIL) while the next is built.
        written: list[Future[Any]] = [writer.submit(handle.write, head.encode())]
        try:
            for block in blocks:
                written.append(writer.submit(_write_block, handle, block))
                if len(written) > 2:
                    written.pop(0).result()  # at most two blocks held
        finally:
            for future in written:
                future.result()
        tail = f'<autoFilter ref="{area}"/>' if area else ""
        handle.write(f"</sheetData>{tail}</worksheet>".encode())


def _rows(block: pd.DataFrame, first: int, letters: list[str], formats: list[str | None]) -> pa.Array:
    """One block of rows as XML, one row per item: every column's cells as one Arrow array, joined row by row."""
    rows = pc.cast(pa.array(np.arange(first, first + len(block), dtype=np.int64)), pa.string())
    cells = [_cells(block.iloc[:, index], f'<c r="{letter}', rows, number_format)
             for index, (letter, number_format) in enumerate(zip(letters, formats, strict=True))]
    return _contiguous(pc.binary_join_element_wise('<row r="', rows, '">', *cells, "</row>", "", options=SKIP_NULLS))


def _write_block(handle: IO[bytes], rows: pa.Array) -> None:
    """The rows' XML, straight from the array's character buffer."""
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32)[rows.offset:rows.offset + len(rows) + 1]
    handle.write(memoryview(rows.buffers()[2])[offsets[0]:offsets[-1]])


def _cells(series: pd.Series, opening: str, rows: pa.Array | str, number_format: str | None) -> pa.Array:
    """A column's cells as XML, null where the value is missing."""
    dtype = series.dtype
    if pd.api.types.is_object_dtype(dtype):
        return _mixed_cells(series.tolist(), opening, rows, number_format)
    if pd.api.types.is_string_dtype(dtype):
        return _text_cells(_contiguous(pa.array(series, type=pa.string(), from_pandas=True)), opening, rows,
                           number_format)
    missing = pa.array(series.isna().to_numpy(dtype=bool))
    if pd.api.types.is_bool_dtype(dtype):
        flags = series.fillna(False).to_numpy(dtype=bool)
        values = pc.if_else(pa.array(flags), "1", "0")
        return _value_cells(values, missing, opening, rows, ' t="b"')
    if pd.api.types.is_datetime64_dtype(dtype):
        values = pa.array(_serials(series.to_numpy()))
    elif pd.api.types.is_float_dtype(dtype):
        values = pa.array(series.to_numpy(dtype=np.float64, na_value=np.nan))
    elif pd.api.types.is_integer_dtype(dtype):
        values = pa.array(series.to_numpy(dtype=np.int64, na_value=0))
    else:
        return _mixed_cells(series.astype(object).tolist(), opening, rows, number_format)
    style = _FORMAT_STYLE.get(number_format or "") if number_format != TEXT_FORMAT else None
    return _value_cells(pc.cast(values, pa.string()), missing, opening, rows, f' s="{style}"' if style else "")


def _contiguous(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One array: a column assembled from the listing's segments is chunked."""
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _serials(moments: np.ndarray) -> np.ndarray:
    """Excel's 1900-system serials of naive UTC datetimes (any unit), computed as openpyxl's ``to_excel`` does
    (whole days, then the day's seconds plus its microseconds), with its one-day shift before 1900-03-01."""
    micros = moments.astype("datetime64[us]").view(np.int64)
    days, within = np.divmod(micros, _DAY_US)
    days = days + _UNIX_EPOCH_SERIAL
    days = np.where((days > 0) & (days <= 60), days - 1, days)
    return days + (within // 10**6 + (within % 10**6) * 1e-6) / 86_400


def _value_cells(values: pa.Array, missing: pa.Array, opening: str, rows: pa.Array | str, attributes: str) -> pa.Array:
    xml = pc.binary_join_element_wise(opening, rows, f'"{attributes}><v>', values, "</v></c>", "")
    return pc.if_else(missing, pa.scalar(None, pa.string()), xml)


def _text_cells(texts: pa.Array, opening: str, rows: pa.Array | str, number_format: str | None) -> pa.Array:
    """Inline-string cells of a text column: escaped for XML, formula-like text with Excel's quote prefix."""
    if pc.any(pc.match_substring_regex(texts, _NOT_XML_RE2)).as_py():
        raise _Unstorable
    if (pc.max(pc.utf8_length(texts)).as_py() or 0) > _MAX_TEXT:
        texts = pc.utf8_slice_codeunits(texts, 0, _MAX_TEXT)
    text_column = number_format == TEXT_FORMAT
    style: pa.Array | str = f' s="{_TEXT}"' if text_column else ""
    candidates = pc.match_substring_regex(texts, QUOTE_CANDIDATES).to_numpy(zero_copy_only=False)
    if candidates.any():
        found = np.flatnonzero(candidates == True)  # noqa: E712 (nulls are None in the object array)
        quoted = np.zeros(len(texts), dtype=bool)
        quoted[found] = [needs_quote(texts[int(i)].as_py()) for i in found]
        if quoted.any():
            style = pc.if_else(pa.array(quoted), f' s="{_QUOTED_TEXT if text_column else _QUOTED}"', style)
    for character, reference in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\r", "&#13;")):
        if pc.any(pc.match_substring(texts, character)).as_py():
            texts = pc.replace_substring(texts, character, reference)
    opening_text = pc.if_else(pc.match_substring_regex(texts, _EDGE_SPACE), '<t xml:space="preserve">', "<t>")
    return pc.binary_join_element_wise(opening, rows, '"', style, ' t="inlineStr"><is>', opening_text, texts,
                                       "</t></is></c>", "")


def _mixed_cells(values: list[Any], opening: str, rows: pa.Array | str, number_format: str | None) -> pa.Array:
    """A column of any values (metadata): its texts through :func:`_text_cells`, the rest one by one."""
    texts: list[str | None] = []
    others: list[str | None] = []
    for value in values:
        text, other = None, None
        if isinstance(value, str):
            text = value
        elif not _missing(value):
            other = _value_xml(value.item() if hasattr(value, "item") else value)
        texts.append(text)
        others.append(other)
    if any(isinstance(t, str) and _NOT_XML.search(t) for t in texts):
        raise _Unstorable  # lone surrogates included, which Arrow cannot hold
    text_xml = _text_cells(pa.array(texts, type=pa.string()), opening, rows, number_format)
    if not any(others):
        return text_xml
    other_xml = pc.binary_join_element_wise(opening, rows, pa.array(others, type=pa.string()), "")
    return pc.if_else(pc.is_null(pa.array(others, type=pa.string())), text_xml, other_xml)


def _value_xml(value: Any) -> str:
    """A cell's XML after its reference, for a value that is not text (a number in a Text column stays a number)."""
    if isinstance(value, bool):
        return f'" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        return f'"><v>{value!r}</v></c>'
    return f'" t="inlineStr"><is>{_text_element(str(value))}</is></c>'


def _text_element(text: str) -> str:
    text = escape(text[:_MAX_TEXT], quote=False).replace("\r", "&#13;")
    return f'<t xml:space="preserve">{text}</t>' if text != text.strip() else f"<t>{text}</t>"


def _add_package(archive: zipfile.ZipFile, sheets: list[tuple[str, bool, str | None]]) -> None:
    """The workbook's other parts: content types, relationships, the sheet list, styles."""
    sheet_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    overrides = "".join(f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{sheet_type}"/>'
                        for n in range(1, len(sheets) + 1))
    archive.writestr("[Content_Types].xml", (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        f"{overrides}</Types>"))
    archive.writestr("_rels/.rels", (
        f'<Relationships xmlns="{_PACKAGE_REL}"><Relationship Id="rId1" '
        f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'))
    relations = "".join(f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" Target="worksheets/sheet{n}.xml"/>'
                        for n in range(1, len(sheets) + 1))
    archive.writestr("xl/_rels/workbook.xml.rels", (
        f'<Relationships xmlns="{_PACKAGE_REL}">{relations}<Relationship Id="rId{len(sheets) + 1}" '
        f'Type="{_REL}/styles" Target="styles.xml"/></Relationships>'))
    listed, names = [], []
    for n, (title, hidden, area) in enumerate(sheets, start=1):
        state = ' state="hidden"' if hidden else ""
        listed.append(f'<sheet name="{escape(title)}" sheetId="{n}"{state} r:id="rId{n}"/>')
        if area:
            first, last = area.split(":")
            absolute = f"{_absolute(first)}:{_absolute(last)}"
            quoted = escape("'" + title.replace("'", "''") + "'", quote=False)
            names.append(f'<definedName name="_xlnm._FilterDatabase" localSheetId="{n - 1}" hidden="1">'
                         f"{quoted}!{absolute}</definedName>")
    defined = f"<definedNames>{''.join(names)}</definedNames>" if names else ""
    archive.writestr("xl/workbook.xml", (
        f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><workbookPr/><bookViews><workbookView activeTab="0"/>'
        f"</bookViews><sheets>{''.join(listed)}</sheets>{defined}<calcPr calcId=\"124519\"/></workbook>"))
    archive.writestr("xl/styles.xml", _STYLES_XML)


def _absolute(reference: str) -> str:
    """``AB12`` -> ``$AB$12``."""
    digits = len(reference) - len(reference.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    return f"${reference[:digits]}${reference[digits:]}"
