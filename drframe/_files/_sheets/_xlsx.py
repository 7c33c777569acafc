"""Excel (``.xlsx``/``.xlsm``) input, read from the workbook's XML with compiled patterns and streamed: the
worksheet and its shared strings are decompressed a megabyte at a time and cut at element ends, and the shared
strings past the first hundred thousand or so are kept on disk (:mod:`._strings`), so memory holds one chunk of
rows and a bounded part of the strings, whatever the sheet's length; the file itself is opened, never read whole. A cell carries its formula and the value last calculated for it side
by side (an error result is the error, a ``TRUE()`` / ``FALSE()`` result the boolean, anything else stays a
formula and is refused later). Numbers and dates are shown through the number format of the cell's style, read
from ``styles.xml`` (dates and durations recognised and converted as openpyxl does); Excel's quote prefix marks a
cell as literal text. A row of plain texts is handed on as a :class:`PlainRow`, without a Cell per cell.

Just over 400 lines on purpose: the workbook's parts (relationships, shared strings, styles, the sheet's rows) are
read by one streaming pass whose pieces share the compiled patterns; apart, they would only pass those around.
"""

from __future__ import annotations

import codecs
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from ..._core._text import is_error_value, normalise_cell
from ..._errors import SheetError
from ._model import BOOLEAN_FORMULA, EMPTY, Cell, PlainRow, SheetRow, held_as_shown, pick_sheet, stream_table
from ._numbers import date_parts, format_number, general, temporal_text
from ._strings import SharedStrings, plain_text, rich_text, xml_text

_CHUNK = 1 << 20
#: A row's start (group 1), a cell with its reference first (column letters, the other attributes, and its
#: inline text, bare value or other content) or any other cell (its start tag, its content).
_TOKEN = re.compile(r'<row\b([^>]*>)'
                    r'|<c r="([A-Z]+)\d+"([^>]*?)(?:/>|>(?:<is><t>([^<]*)</t></is>|<v>([^<]*)</v>|(.*?))</c>)'
                    r"|(<c\b[^>]*?)(?:/>|>(.*?)</c>)", re.S)
_ROW_NUMBER = re.compile(r'\br="(\d+)"')
_SHARED, _INLINE_PLAIN = 1, 2
_ATTRIBUTE = re.compile(r'([\w:]+)="([^"]*)"')
_VALUE = re.compile(r"<v>(.*?)</v>", re.S)
_FORMULA = re.compile(r"<f\b([^>]*?)(?:/>|>(.*?)</f>)", re.S)
_INLINE = re.compile(r"<is>(.*?)</is>", re.S)
#: A shared string: one run's text (group 1, as Excel and LibreOffice write most), any other content (group 2).
_STRING_ITEM = re.compile(r"<si><t(?:\s[^>]*)?>([^<]*)</t></si>|<si>(.*?)</si>|<si/>", re.S)
_ROOT = re.compile(r"<(?:(\w+):)?(worksheet|sst)\b")
_PREFIX_TAGS = re.compile(r"(</?)\w+:")
_CELL_TYPE_AND_STYLE = re.compile(r'\b([st])="([^"]*)"')


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _unprefixed(text: str, prefix: str | None) -> str:
    """``text`` with the namespace prefix of the SpreadsheetML elements (``<x:c>``) taken off the tags."""
    return _PREFIX_TAGS.sub(r"\1", text) if prefix else text


@dataclass(frozen=True, slots=True)
class _Style:
    code: str = "General"
    date: bool = False
    timedelta: bool = False
    quote_prefix: bool = False


_GENERAL = _Style()


@dataclass
class _Workbook:
    """What every cell of the workbook needs: shared strings, cell styles and the date epoch."""

    strings: SharedStrings = field(default_factory=SharedStrings)
    styles: list[_Style] = field(default_factory=list)
    epoch: datetime = datetime(1899, 12, 30)

    def style(self, index: str | None) -> _Style:
        if not index:
            return self.styles[0] if self.styles else _GENERAL
        number = int(index)
        return self.styles[number] if number < len(self.styles) else _GENERAL


def _read_styles(xml: bytes) -> list[_Style]:
    from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format

    root = ElementTree.fromstring(xml)
    custom = {el.get("numFmtId", ""): el.get("formatCode", "General") for el in root.iter() if _local(el.tag) ==
              "numFmt"}
    styles: list[_Style] = []
    for group in root:
        if _local(group.tag) != "cellXfs":
            continue
        for xf in group:
            number_format = xf.get("numFmtId", "0")
            code = custom.get(number_format) or BUILTIN_FORMATS.get(int(number_format or 0), "General")
            styles.append(_Style(code, is_date_format(code), is_timedelta_format(code),
                                 xf.get("quotePrefix", "").lower() in {"1", "true"}))
    return styles


def _chunks(archive: zipfile.ZipFile, member: str, element: str) -> Iterator[str]:
    """The XML of ``member`` decompressed a megabyte at a time, each chunk cut after the end of an ``element``
    (so none is split between chunks), with the SpreadsheetML namespace prefix taken off the tags."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    pending, prefix, end, started = "", None, f"</{element}>", False
    with archive.open(member) as handle:
        while True:
            chunk = handle.read(_CHUNK)
            text = pending + decoder.decode(chunk, final=not chunk)
            if not started:
                root = _ROOT.search(text)
                if root:
                    started, prefix = True, root.group(1)
                    end = f"</{prefix}:{element}>" if prefix else end
            cut = text.rfind(end)
            if chunk and cut < 0:
                pending = text
                continue
            cut = cut + len(end) if chunk else len(text)
            pending = text[cut:]
            yield _unprefixed(text[:cut], prefix)
            if not chunk:
                return


def _read_strings(archive: zipfile.ZipFile, member: str) -> SharedStrings:
    strings = SharedStrings()
    for chunk in _chunks(archive, member, "si"):
        strings.extend([plain_text(xml_text(run)) if run else normalise_cell(rich_text(body)) if body else ""
                        for run, body in _STRING_ITEM.findall(chunk)])
    strings.finish()
    return strings


def _relationships(archive: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """Relationship id -> (type's last word, archive member) of one part."""
    folder, name = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", name + ".rels")
    if rels not in archive.namelist():
        return {}
    found: dict[str, tuple[str, str]] = {}
    for element in ElementTree.fromstring(archive.read(rels)):
        target = element.get("Target", "")
        member = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        found[element.get("Id", "")] = (element.get("Type", "").rpartition("/")[2], member)
    return found


def _open_workbook(path: Path) -> tuple[zipfile.ZipFile, _Workbook, list[tuple[str, str, str]]]:
    """The archive, its workbook-wide data, and its sheets as (name, kind, member)."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise SheetError(f"{path}: not a readable .xlsx file (not a zip archive)") from None
    book = _Workbook()
    try:
        office = next((member for kind, member in _relationships(archive, "").values()
                       if kind == "officeDocument"), "xl/workbook.xml")
        relationships = _relationships(archive, office)
        root = ElementTree.fromstring(archive.read(office))
        sheets: list[tuple[str, str, str]] = []
        for element in root.iter():
            tag = _local(element.tag)
            if tag == "workbookPr" and element.get("date1904", "").lower() in {"1", "true"}:
                book.epoch = datetime(1904, 1, 1)
            elif tag == "sheet":
                rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), "")
                kind, member = relationships.get(rid, ("", ""))
                sheets.append((element.get("name", ""), kind, member))
        for kind, member in relationships.values():
            if kind == "styles":
                book.styles = _read_styles(archive.read(member))
            elif kind == "sharedStrings":
                book.strings = _read_strings(archive, member)
    except (KeyError, ValueError, ElementTree.ParseError, zipfile.BadZipFile, EOFError) as exc:
        archive.close()
        book.strings.close()
        raise SheetError(f"{path}: not a readable .xlsx file ({type(exc).__name__})") from None
    return archive, book, sheets


def read_xlsx(path: Path, sheet: str | None) -> tuple[list[str], Iterator[SheetRow], str]:
    """The sheet's header, and its rows streamed as they are iterated."""
    archive, book, sheets = _open_workbook(path)
    try:
        title = pick_sheet([name for name, _, _ in sheets], sheet, path)
        kind, member = next((kind, member) for name, kind, member in sheets if name == title)
        if kind != "worksheet" or member not in archive.namelist():
            raise SheetError(f"{path}: sheet {title!r} is not a worksheet of cells (a chart or macro sheet?)")
    except BaseException:
        archive.close()
        book.strings.close()
        raise
    width: list[int] = []  # the header's width, known once the header is read

    def records() -> Iterator[tuple[int, list[Cell] | PlainRow]]:
        try:
            yield from _SheetReader(book, width).records(archive, member)
        except (ValueError, KeyError, IndexError, zipfile.BadZipFile, EOFError) as exc:
            raise SheetError(f"{path}: not a readable .xlsx file ({type(exc).__name__} in sheet {title!r})") from None
        finally:
            archive.close()
            book.strings.close()

    columns, rows = stream_table(records(), path, f"sheet {title!r} is empty")
    width.append(len(columns))
    return columns, rows, title


class _SheetReader:
    """One worksheet's rows, parsed from its XML as it is decompressed: one pattern finds row starts and cells
    alike, and the common cells (a shared or inline string, a bare value) are taken straight from its groups."""

    def __init__(self, book: _Workbook, width: list[int]) -> None:
        self._book, self._width = book, width
        self._columns: dict[str, int] = {}
        self._attributes: dict[str, tuple[str | None, str, int]] = {}
        self._shared_formulas: dict[str, Any] = {}

    def records(self, archive: zipfile.ZipFile, member: str) -> Iterator[tuple[int, list[Cell] | PlainRow]]:
        expected, number = 1, 0
        texts: list[str] = []
        special: dict[int, Cell] = {}
        strings, columns, attributes_of = self._book.strings, self._columns, self._attributes
        held = strings.held
        in_memory = len(held)
        for tokens in self._tokens(archive, member):
            for row, letters, rest, inline, value, other, tag, content in tokens:
                if row:
                    if texts:
                        record = self._record(texts, special)
                        if record:
                            yield from ((blank, []) for blank in range(expected, number))
                            expected = number + 1
                            yield number, record
                        texts, special = [], {}
                    found = _ROW_NUMBER.search(row)
                    number = int(found.group(1)) if found else number + 1
                    if number < expected:
                        raise ValueError(f"row {number} after row {expected - 1}")
                    continue
                if letters:
                    column = columns.get(letters)
                    if column is None:
                        column = self._column(letters)
                    if column < len(texts):
                        special.pop(column, None)
                    parsed = attributes_of.get(rest)
                    if parsed is None:
                        parsed = self._parse_attributes(rest)
                    style, kind, plain = parsed
                    if plain == _SHARED and value:
                        index = int(value)
                        text = held[index] if 0 <= index < in_memory else strings[index]
                    elif plain == _INLINE_PLAIN and inline:
                        if "&" in inline or "\r" in inline or "_x" in inline:
                            inline = xml_text(inline)
                        text = plain_text(inline)
                    elif inline or value or other:
                        text = self._cell(number, column, f"{letters}{number}", kind, style, inline or value,
                                          other, special)
                    else:
                        continue
                else:
                    if not content:
                        continue
                    found_attributes = dict(_ATTRIBUTE.findall(tag))
                    reference = found_attributes.get("r", "")
                    column = self._column(reference.rstrip("0123456789")) if reference else len(texts)
                    if column < len(texts):
                        special.pop(column, None)
                    text = self._cell(number, column, reference, found_attributes.get("t", "n"),
                                      found_attributes.get("s"), "", content, special)
                if column == len(texts):
                    texts.append(text)
                elif column > len(texts):
                    texts.extend([""] * (column - len(texts)))
                    texts.append(text)
                else:  # a column given twice: the later cell wins
                    texts[column] = text
        if texts:
            record = self._record(texts, special)
            if record:
                yield from ((blank, []) for blank in range(expected, number))
                yield number, record

    @staticmethod
    def _tokens(archive: zipfile.ZipFile, member: str) -> Iterator[list[tuple[str, ...]]]:
        """The row and cell tokens of the worksheet, a chunk at a time (each chunk cut after a row's end)."""
        return (_TOKEN.findall(chunk) for chunk in _chunks(archive, member, "row"))

    def _column(self, letters: str) -> int:
        index = 0
        for letter in letters:
            index = index * 26 + ord(letter) - 64
        self._columns[letters] = index - 1
        return index - 1

    def _parse_attributes(self, rest: str) -> tuple[str | None, str, int]:
        """A cell's attributes after its reference -> (style index, type, which plain fast path applies)."""
        found = dict(_CELL_TYPE_AND_STYLE.findall(rest))
        style, kind = found.get("s"), found.get("t", "n")
        literal = self._book.style(style).quote_prefix
        plain = 0 if literal else _SHARED if kind == "s" else _INLINE_PLAIN if kind == "inlineStr" else 0
        self._attributes[rest] = (style, kind, plain)
        return style, kind, plain

    def _record(self, texts: list[str], special: dict[int, Cell]) -> list[Cell] | PlainRow:
        if not special:
            if not any(texts):
                return []
            if self._width and len(texts) < self._width[0]:
                texts.extend([""] * (self._width[0] - len(texts)))
            return PlainRow(texts)
        cells = [Cell(text) if text else EMPTY for text in texts]
        for column, cell in special.items():
            cells[column] = cell
        return cells

    def _cell(self, number: int, column: int, reference: str, kind: str, style: str | None, simple: str,
              content: str, special: dict[int, Cell]) -> str:
        """The text of any cell but a plain string; a cell that is more than its text goes into ``special``.
        ``simple`` is the value or inline text the pattern took out, else ``content`` is the cell's XML."""
        cell: Cell | str
        if content and "<f" in content:
            cell = self._formula(number, column, reference, kind, content)
        else:
            if content:
                found = (_INLINE if kind == "inlineStr" else _VALUE).search(content)
                simple = found.group(1) if found else ""
            if not simple:
                return ""
            if kind == "s":
                cell = self._book.strings[int(simple)]
            elif kind == "inlineStr":
                cell = normalise_cell(rich_text(simple) if content else xml_text(simple))
            else:
                cell = self._value(kind, xml_text(simple), style)
            if isinstance(cell, str) and kind in {"s", "inlineStr"} and cell and self._book.style(style).quote_prefix:
                cell = Cell(cell, literal=True)
        if isinstance(cell, str):
            return cell
        special[column] = cell
        return cell.text or " "

    def _value(self, kind: str, raw: str, style_index: str | None) -> Cell | str:
        """A cell's value (not a formula's) as shown; a plain text as a str."""
        if kind == "b":
            return "TRUE" if raw.strip() not in {"0", "false"} else "FALSE"
        if kind == "e":
            return Cell(raw, error=raw)
        if kind in {"str", "s", "inlineStr"}:
            return normalise_cell(raw)
        style = self._book.style(style_index)
        if kind == "d":
            from openpyxl.utils.datetime import from_ISO8601

            return self._temporal(from_ISO8601(raw), style)
        number: int | float = float(raw) if "." in raw or "e" in raw or "E" in raw else int(raw)
        if style.date:
            from openpyxl.utils.datetime import from_excel

            try:
                return self._temporal(from_excel(number, self._book.epoch, timedelta=style.timedelta), style)
            except (OverflowError, ValueError):  # a serial outside the calendar shows as an error
                return Cell("#VALUE!", error="#VALUE!")
        return Cell(format_number(number, style.code), number=general(number))

    @staticmethod
    def _temporal(value: Any, style: _Style) -> Cell:
        fraction = bool(re.search(r"s\.0", style.code.lower()))
        return held_as_shown(temporal_text(value, *date_parts(style.code), fraction=fraction))

    def _formula(self, number: int, column: int, reference: str, kind: str, content: str) -> Cell:
        """A formula cell given the value cached beside it: its error, a ``TRUE()``/``FALSE()`` boolean, or the
        formula itself (refused later). The header's formulas and cells past its width stay formulas."""
        found = _FORMULA.search(content)
        attributes = dict(_ATTRIBUTE.findall(found.group(1))) if found else {}
        formula = "=" + xml_text(found.group(2) or "") if found else "="
        if attributes.get("t") == "shared":
            from openpyxl.formula.translate import Translator

            index = attributes.get("si", "")
            if index in self._shared_formulas and reference:
                formula = self._shared_formulas[index].translate_formula(reference)
            elif formula != "=" and reference:
                self._shared_formulas[index] = Translator(formula, reference)
        if number == 1 or (self._width and column >= self._width[0]):
            return Cell(formula, formula=formula)
        value = _VALUE.search(content)
        raw = xml_text(value.group(1)) if value and value.group(1) else None
        if raw is not None and (kind == "e" or (kind == "str" and is_error_value(raw))):
            return Cell(raw, error=raw)
        boolean = BOOLEAN_FORMULA.match(formula)
        if boolean:
            truth = boolean.group(1).upper() == "TRUE"
            if raw is None or (kind in {"b", "n"} and _is_number(raw) and float(raw) == truth):
                return Cell(boolean.group(1).upper())
        return Cell(formula, formula=formula)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
