"""LibreOffice (``.ods``) input, parsed from its XML with the standard library and streamed: data styles (number,
percentage, currency, date, time, boolean) resolved through cell, row and column styles and their parents,
repeated rows and cells expanded up to the spreadsheet limits, paragraphs with their spaces, tabs and line breaks.
The display rules are the same as for Excel (:mod:`._numbers`).
"""

from __future__ import annotations

import codecs
import html
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import IO
from xml.etree import ElementTree

from ..._core._text import is_error_value, normalise_cell
from ..._errors import SheetError
from ._model import BOOLEAN_FORMULA, EMPTY, Cell, SheetRow, held_as_shown, pick_sheet, stream_table
from ._numbers import format_number, general, temporal_text

#: The largest sheet a spreadsheet holds; repeated rows/cells (a styled empty tail) are cut there.
_MAX_ROWS = 1_048_576
_MAX_COLUMNS = 16_384

_ODF = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "number": "urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0",
    "calcext": "urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0",
    "loext": "urn:org:documentfoundation:names:experimental:office:xmlns:loext:1.0",
}


@cache
def _q(name: str) -> str:
    """``table:table-cell`` -> ``{urn:...table:1.0}table-cell`` (ElementTree's qualified names)."""
    prefix, _, local = name.partition(":")
    return f"{{{_ODF[prefix]}}}{local}"


_BODY = _q("office:body")
#: The prefix the document binds to the table namespace (LibreOffice's ``table``).
_TABLE_PREFIX = re.compile(rf'xmlns:([\w.-]+)\s*=\s*["\']{re.escape(_ODF["table"])}["\']')
_CHUNK = 1 << 20
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


def _ods_temporal(kind: str, raw: str, style: _DataStyle | None) -> Cell:
    if kind == "time":
        match = _DURATION.match(raw)
        if not match:
            return held_as_shown(raw)
        sign, days, hours, minutes, seconds = match.groups()
        total = timedelta(days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0),
                          seconds=float(seconds or 0))
        text = temporal_text(total, False, True, fraction=bool(style and style.fraction))
        return held_as_shown(("-" if sign else "") + text)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return held_as_shown(raw)
    if style is not None and style.kind in {"date", "time"}:
        has_date, has_time, fraction = style.has_date, style.has_time, style.fraction
    else:
        has_date, has_time, fraction = True, "T" in raw, False
    return held_as_shown(temporal_text(value, has_date, has_time, fraction))


def _ods_cell(element: ElementTree.Element, style: _DataStyle | None) -> Cell:
    kind = element.get(_q("office:value-type"))
    formula = element.get(_q("table:formula"))
    shown = "\n".join(_paragraph_text(p) for p in element.findall(_P))
    if formula is not None:
        formula = formula.removeprefix("of:")
        if element.get(_q("calcext:value-type")) == "error" or is_error_value(shown.strip()):
            return Cell(shown.strip(), error=shown.strip())
        boolean = BOOLEAN_FORMULA.match(formula)
        if boolean:
            truth = boolean.group(1).upper() == "TRUE"
            result = element.get(_q("office:boolean-value")) or element.get(_q("office:value"))
            if result is None or result.lower() in ({"true", "1"} if truth else {"false", "0"}):
                return Cell(boolean.group(1).upper())
        return Cell(formula, formula=formula)
    if kind == "boolean":
        return Cell("TRUE" if element.get(_q("office:boolean-value"), "").lower() == "true" else "FALSE")
    if kind in {"float", "percentage", "currency"}:
        raw = element.get(_q("office:value"), "")
        try:
            number = float(raw)
        except ValueError:
            return held_as_shown(normalise_cell(shown))
        if style is not None and style.kind == "boolean":
            return Cell("TRUE" if number else "FALSE")
        code = style.code if style is not None else ("0%" if kind == "percentage" else "General")
        return Cell(format_number(number, code), number=general(number))
    if kind in {"date", "time"}:
        raw = element.get(_q(f"office:{kind}-value"), "")
        return _ods_temporal(kind, raw, style)
    text = element.get(_q("office:string-value"))
    return Cell(normalise_cell(text if text is not None else shown))


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

    def cells(self, row: ElementTree.Element) -> list[Cell]:
        cells: list[Cell] = []
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
            cells.extend([EMPTY] * pending_empty)
            pending_empty = 0
            cells.append(first)
            for offset in range(1, min(repeat, _MAX_COLUMNS - index)):
                style = own or self.column_style(index + offset)
                cells.append(_ods_cell(element, self.styles.resolve(style)))
        return cells

    def records(self, row: ElementTree.Element) -> Iterator[tuple[int, list[Cell]]]:
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


def _table_names(archive: zipfile.ZipFile) -> list[str]:
    """The names of the tables in ``content.xml``, in order, found by a pattern in the decompressed text: a parse
    of every cell is left to the one pass that reads the chosen table."""
    names: list[str] = []
    decoder = codecs.getincrementaldecoder("utf-8")()
    pending, start = "", None
    with archive.open("content.xml") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            text = pending + decoder.decode(chunk, final=not chunk)
            if start is None:
                found = _TABLE_PREFIX.search(text)
                if found is None and chunk and len(text) < _CHUNK * 4:
                    pending = text
                    continue
                prefix = found.group(1) if found else "table"
                start = re.compile(rf"<{prefix}:table(?=[\s/>])([^>]*)>")
                name = re.compile(rf"""\b{prefix}:name\s*=\s*(?:"([^"]*)"|'([^']*)')""")
            cut = text.rfind(">") + 1 if chunk else len(text)
            pending = text[cut:]
            for attributes in start.findall(text, 0, cut):
                found_name = name.search(attributes)
                names.append(html.unescape(found_name.group(1) or found_name.group(2) or "") if found_name else "")
            if not chunk:
                return names


def read_ods(path: Path, sheet: str | None) -> tuple[list[str], Iterator[SheetRow], str]:
    """The sheet's header, and its rows streamed as they are iterated (after one pass for the styles and the
    sheet names)."""
    try:
        archive = zipfile.ZipFile(path)
        archive.getinfo("content.xml")
    except (zipfile.BadZipFile, KeyError):
        raise SheetError(f"{path}: not a readable .ods file") from None
    styles = _OdsStyles()
    names: list[str] = []
    try:
        if "styles.xml" in archive.namelist():
            for event, element in _ods_elements(archive, "styles.xml"):
                if event == "end":
                    styles.add(element)
        for event, element in _ods_elements(archive, "content.xml"):
            if event == "start" and element.tag == _BODY:
                break
            if event == "end":  # the automatic styles, which precede the body
                styles.add(element)
        names = _table_names(archive)
        title = pick_sheet(names, sheet, path)
    except ElementTree.ParseError as exc:
        archive.close()
        raise SheetError(f"{path}: not a readable .ods file ({exc})") from None
    except BaseException:
        archive.close()
        raise

    def records() -> Iterator[tuple[int, list[Cell]]]:
        try:
            yield from _ods_records(archive, title, styles)
        except ElementTree.ParseError as exc:
            raise SheetError(f"{path}: not a readable .ods file ({exc})") from None
        finally:
            archive.close()

    columns, rows = stream_table(records(), path, f"sheet {title!r} is empty")
    return columns, rows, title


def _ods_records(archive: zipfile.ZipFile, title: str, styles: _OdsStyles) -> Iterator[tuple[int, list[Cell]]]:
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
