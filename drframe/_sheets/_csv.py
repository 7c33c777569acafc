"""CSV input: decoding (UTF-8 with or without BOM, UTF-16 with BOM, or the ``encoding`` given; anything else is
refused, never guessed), delimiter detection from the header line (``, ; tab |``), and CSV cells (an
apostrophe-quoted cell is literal text, error texts are errors, rounded-looking numbers are kept as numbers).
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

from .._cells import is_error_value, looks_rounded, normalise_cell, unquote
from .._errors import SheetError
from ._model import Cell, SheetRow, build_table

_DELIMITERS = ",;\t|"
_DELIMITER_NAMES = {"\t": "tab"}


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


def _csv_cell(text: str) -> Cell:
    literal = unquote(text)
    if literal is not None:  # an apostrophe-quoted cell is that text exactly, as in a spreadsheet
        return Cell(normalise_cell(literal), literal=True)
    text = normalise_cell(text)
    if is_error_value(text):
        return Cell(text, error=text)
    return Cell(text, number=text if looks_rounded(text) else None)


def read_csv(content: bytes, path: Path,
             encoding: str | None) -> tuple[list[str], list[SheetRow], str, str]:
    """The header, rows, delimiter and a note on how the file was read (``CSV, delimiter ';', UTF-8``)."""
    text, label = _decode(content, path, encoding)
    if not text.strip():
        raise SheetError(f"{path}: the file is empty")
    delimiter = _sniff_delimiter(text.partition("\n")[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records = ((number, [_csv_cell(v) for v in record]) for number, record in enumerate(reader, start=1))
    columns, rows = build_table(records, path, "the file is empty")
    note = f"CSV, delimiter {_DELIMITER_NAMES.get(delimiter, repr(delimiter))}, {label}"
    return columns, rows, delimiter, note

