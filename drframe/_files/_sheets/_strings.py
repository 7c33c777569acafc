"""An xlsx workbook's texts: character data as an XML parser gives it, the text of a string item, and the
workbook's shared strings in memory that does not grow with the workbook (the first ones held as a list, the rest
written in blocks to a temporary file and read back through a small cache of blocks).

Excel and LibreOffice number the shared strings in the order they are first written, row by row, so a sheet read
top to bottom asks for them nearly in order: the recurring texts (a country, a locale) come early and stay in the
held list, the rest are read a block at a time as the rows reach them.
"""

from __future__ import annotations

import html
import marshal
import re
import tempfile
from array import array
from typing import IO

from ..._core._text import normalise_cell

#: Strings kept in memory (about 10 MB of short texts), strings per spilled block, blocks kept read back.
_HELD = 1 << 17
_BLOCK = 512
_CACHED = 256

_RUN_TEXT = re.compile(r"<t(?:\s[^>]*)?>(.*?)</t>|<t(?:\s[^>]*)?/>", re.S)
_PHONETIC = re.compile(r"<rPh\b.*?</rPh>", re.S)
_ESCAPED_CHARACTER = re.compile(r"_x([0-9A-Fa-f]{4})_")


def xml_text(raw: str) -> str:
    """Character data as an XML parser gives it (line ends as LF, references resolved), with Excel's ``_xHHHH_``
    escapes of control characters decoded."""
    if "\r" in raw:
        raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    if "&" in raw:
        raw = html.unescape(raw)
    if "_x" in raw:
        raw = _ESCAPED_CHARACTER.sub(lambda m: chr(int(m.group(1), 16)), raw)
    return raw


def plain_text(text: str) -> str:
    """:func:`normalise_cell`, with a shortcut for ASCII without a CR (an ``_x000D_`` escape gives one)."""
    return text.strip() if text.isascii() and "\r" not in text else normalise_cell(text)


def rich_text(body: str) -> str:
    """The text of a shared or inline string: its runs joined, phonetic guides left out."""
    if body.startswith("<t>") and body.endswith("</t>") and "<" not in body[3:-4]:
        return xml_text(body[3:-4])
    if "<rPh" in body:
        body = _PHONETIC.sub("", body)
    return "".join(xml_text(text) for text in _RUN_TEXT.findall(body))


class SharedStrings:
    """The strings, indexed as the workbook's ``<si>`` items; an index past the end raises IndexError."""

    def __init__(self) -> None:
        self.held: list[str] = []
        """The first strings, for a caller's own fast path (``held[i] if i < len(held) else strings[i]``)."""
        self._pending: list[str] = []
        self._offsets = array("q", [0])
        self._file: IO[bytes] | None = None
        self._cache: dict[int, list[str]] = {}
        self._last, self._last_block = -1, [""]

    def extend(self, texts: list[str]) -> None:
        room = _HELD - len(self.held)
        if room > 0:
            self.held.extend(texts[:room])
            texts = texts[room:]
        for start in range(0, len(texts), _BLOCK):
            self._pending.extend(texts[start:start + _BLOCK])
            if len(self._pending) >= _BLOCK:
                self._spill(self._pending[:_BLOCK])
                del self._pending[:_BLOCK]

    def finish(self) -> None:
        """Spill the last, partial block (call once, after the last :meth:`extend`)."""
        if self._pending:
            self._spill(self._pending)
            self._pending = []

    def _spill(self, block: list[str]) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="drframe-strings-")  # noqa: SIM115 (closed by close())
        self._file.seek(self._offsets[-1])
        self._file.write(marshal.dumps(block))
        self._offsets.append(self._file.tell())

    def __getitem__(self, index: int) -> str:
        if 0 <= index < len(self.held):
            return self.held[index]
        if index < 0:
            raise IndexError(index)
        number, offset = divmod(index - _HELD, _BLOCK)
        if number != self._last:
            self._last, self._last_block = number, self._block_at(number)
        return self._last_block[offset]

    def _block_at(self, number: int) -> list[str]:
        block = self._cache.pop(number, None)
        if block is None:
            if self._file is None or number >= len(self._offsets) - 1:
                raise IndexError(number * _BLOCK + _HELD)
            self._file.seek(self._offsets[number])
            block = marshal.loads(self._file.read(self._offsets[number + 1] - self._offsets[number]))
            if len(self._cache) >= _CACHED:
                del self._cache[next(iter(self._cache))]
        self._cache[number] = block
        return block

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._cache.clear()
        self._last, self._last_block = -1, [""]
