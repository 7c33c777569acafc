"""CSV input: decoding (UTF-8 with or without BOM, UTF-16 with BOM, or the ``encoding`` given; anything else is
refused, never guessed), delimiter detection from the header line (``, ; tab |``), and CSV cells (an
apostrophe-quoted cell is literal text, error texts are errors, rounded-looking numbers are kept as numbers).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import itertools
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from ..._core._text import is_error_value, looks_rounded, normalise_cell, unquote
from ..._errors import SheetError
from ._model import Cell, PlainRow, SheetRow, stream_table

_DELIMITERS = ",;\t|"
_DELIMITER_NAMES = {"\t": "tab"}
_BLOCK = 1 << 20


def _codec(head: bytes, path: Path, encoding: str | None) -> tuple[str, str, str]:
    """The codec of a CSV file from its first bytes (or ``encoding``), its label and the hint given when the file
    does not decode; never a silent guess."""
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise SheetError(f"{path}: unknown encoding {encoding!r}") from None
        return codec, encoding, "pass the file's real encoding"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "UTF-8 with BOM", "save as 'CSV UTF-8'"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "UTF-16 with BOM", "save it again as 'Unicode Text'"
    if b"\x00" in head[:4096]:
        raise SheetError(f"{path}: looks like UTF-16 without a byte-order mark; save as 'CSV UTF-8' or pass "
                         "--encoding utf-16-le")
    return "utf-8", "UTF-8", "save as 'CSV UTF-8' or pass --encoding cp1252"


def _decode(content: bytes, path: Path, encoding: str | None) -> tuple[str, str]:
    """The text of a CSV file and a note on its encoding; never a silent guess."""
    codec, label, hint = _codec(content, path, encoding)
    try:
        text = content.decode(codec)
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise SheetError(f"{path}: not {label} at line {line} (byte 0x{content[exc.start]:02x}); {hint}") from None
    return text.removeprefix("\ufeff"), label


def _checked(path: Path, codec: str, encoding: str | None) -> tuple[str, bool]:
    """The SHA-256 of the file and whether it holds any text, read block by block; the first byte that does not
    decode raises SheetError naming its line (found by :func:`_decode`, only then reading the whole file)."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder(codec)()
    text = False
    try:
        with path.open("rb") as handle:
            while block := handle.read(_BLOCK):
                digest.update(block)
                text = _holds_text(decoder.decode(block)) or text
            text = _holds_text(decoder.decode(b"", final=True)) or text
    except UnicodeDecodeError:
        _decode(path.read_bytes(), path, encoding)
        raise
    return digest.hexdigest(), text


def _holds_text(decoded: str) -> bool:
    return bool(decoded.strip().strip("\ufeff").strip())


def _lines(path: Path, codec: str) -> Iterator[str]:
    with path.open(encoding=codec, newline="") as handle:
        for number, line in enumerate(handle):
            yield line.removeprefix("\ufeff") if number == 0 else line


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


#: A cell, in a row joined by NULs with a NUL in front, that may not be plain text as it stands: a leading
#: apostrophe, an error text, or something :func:`looks_rounded` may take for a number.
_MAYBE_SPECIAL = re.compile(r"\x00(?:['#]|Err:|[+-]?\d+(?:[.,]\d+)?[eE]|\d{16})")


def _csv_record(record: list[str]) -> list[Cell] | PlainRow:
    """A CSV record's cells; a PlainRow when checks of the whole row show every cell is plain text that
    :func:`normalise_cell` leaves as it is (no CR, NFC, no surrounding whitespace, nothing
    :data:`_MAYBE_SPECIAL`). NUL is a starter that composes with nothing, so the joined row is NFC exactly when
    each cell is."""
    joined = "\x00".join(record)
    if ("\r" not in joined and joined.count("\x00") == len(record) - 1
            and (joined.isascii() or unicodedata.is_normalized("NFC", joined))
            and list(map(str.strip, record)) == record and not _MAYBE_SPECIAL.search("\x00" + joined)):
        return PlainRow(record)
    return [_csv_cell(v) for v in record]


def open_csv(path: Path, head: bytes, encoding: str | None) -> tuple[list[str], Iterator[SheetRow], str, str, str]:
    """The header, the rows (read from disk as they are iterated), the delimiter, a note on how the file is read
    (``CSV, delimiter ';', UTF-8``) and the file's SHA-256. ``head`` is the file's first bytes."""
    codec, label, _ = _codec(head, path, encoding)
    sha256, holds_text = _checked(path, codec, encoding)
    if not holds_text:
        raise SheetError(f"{path}: the file is empty")
    lines = _lines(path, codec)
    first = next(lines)
    delimiter = _sniff_delimiter(first.partition("\n")[0])
    reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter)
    records = ((number, _csv_record(record)) for number, record in enumerate(reader, start=1))
    columns, rows = stream_table(records, path, "the file is empty")
    note = f"CSV, delimiter {_DELIMITER_NAMES.get(delimiter, repr(delimiter))}, {label}"
    return columns, rows, delimiter, note, sha256
