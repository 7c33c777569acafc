"""What a big plan holds per row, out of memory: an append-only temporary file of pickles, each read
back by the reference it was written under.  A plan's rows keep their cells, payload, changes and typed edits
there (:class:`RowStore`), and the customers its delete rows remove (:class:`PackedImages`): memory does not grow
with the number of rows, and the file goes with the plan."""

from __future__ import annotations

import errno
import os
import pickle
import tempfile
import threading
import weakref
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Mapping, MutableMapping
from itertools import repeat
from typing import Any

from .._errors import DRError

#: What a row keeps spilled: cells, payload, changes, typed edits, target, tax identifier.
Spilled = tuple[Mapping[str, str], dict[str, Any] | None, list[tuple[str, Any, Any]] | None, dict[str, Any] | None,
                str | None, tuple[str, str] | None]
#: A reference is ``offset << _LENGTH_BITS | length``: one int per value kept.
_LENGTH_BITS = 24


#: Bytes a spill keeps in memory before it moves to a file: a small plan never touches the disk.
IN_MEMORY = 16 << 20


class SpillFile:
    """Values pickled (not compressed: zlib's set-up per value costs more than the rest of the row), kept in memory up to ``IN_MEMORY`` bytes, then in a temporary file only this
    object holds, deleted with it.  Thread-safe: an apply's workers read rows while others are written."""

    def __init__(self) -> None:
        self._buffer: bytearray | None = bytearray()
        self._file: Any = None
        self._end = 0
        self._lock = threading.Lock()

    def put(self, value: object) -> int:
        """Write ``value``; the reference :meth:`get` reads it back by."""
        data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        if len(data) >> _LENGTH_BITS:
            raise ValueError(f"a value of {len(data)} bytes is too big to spill")  # 16 MiB: never a row or a customer
        with self._lock:
            offset = self._end
            try:
                if self._buffer is not None and offset + len(data) > IN_MEMORY:
                    self._file = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as this object)
                    weakref.finalize(self, self._file.close)
                    self._file.write(self._buffer)
                    self._file.flush()
                    self._buffer = None
                if self._buffer is not None:
                    self._buffer += data
                elif os.pwrite(self._file.fileno(), data, offset) != len(data):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            except OSError as error:
                raise DRError(f"could not keep the plan's rows in a temporary file in {tempfile.gettempdir()} "
                              f"({error.strerror}): free space there, or set TMPDIR to a folder with room") from error
            self._end = offset + len(data)
        return offset << _LENGTH_BITS | len(data)

    def get(self, ref: int) -> Any:
        """The value written under ``ref`` (a fresh copy at each read)."""
        length, offset = ref & ((1 << _LENGTH_BITS) - 1), ref >> _LENGTH_BITS
        with self._lock:
            if self._buffer is not None:
                data = bytes(self._buffer[offset:offset + length])
            else:
                data = os.pread(self._file.fileno(), length, offset)
        # Written by put() from the plan's own values, kept where only this object reads.
        return pickle.loads(data)


class CompactRow(Mapping[str, str]):
    """One row's cells: column -> text, read-only, over a column index shared by every row of the sheet."""

    __slots__ = ("index", "texts")

    def __init__(self, index: Mapping[str, int], texts: tuple[str, ...]) -> None:
        self.index = index
        self.texts = texts

    def __getitem__(self, column: str) -> str:
        return self.texts[self.index[column]]

    def __iter__(self) -> Iterator[str]:
        return iter(self.index)

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        return f"CompactRow({dict(self)!r})"


class RowStore:
    """A plan's rows' cells, payloads, changes and typed edits, spilled (see :meth:`RowPlan.spill`).  Cells are
    kept as their texts in the sheet's column order, read back as a :class:`CompactRow` over one shared index."""

    def __init__(self, columns: list[str]) -> None:
        self.index = {column: position for position, column in enumerate(columns)}
        self._file = SpillFile()

    def put(self, cells: Mapping[str, str], payload: dict[str, Any] | None, changes: list[tuple[str, Any, Any]] | None,
            edits: dict[str, Any], target: str | None, tax_identifier: tuple[str, str] | None) -> int:
        index = self.index
        kept: tuple[str, ...] | dict[str, str]
        if isinstance(cells, CompactRow) and cells.index is index:
            kept = cells.texts
        elif all(column in index for column in cells):
            kept = tuple(map(cells.get, index, repeat("")))
        else:
            kept = dict(cells)
        return self._file.put((kept, payload, changes or None, edits or None, target, tax_identifier))

    def get(self, ref: int) -> Spilled:
        """(cells, payload, changes, edits, target, tax_identifier) as :meth:`put` wrote them."""
        kept, payload, changes, edits, target, tax_identifier = self._file.get(ref)
        cells = CompactRow(self.index, kept) if isinstance(kept, tuple) else kept
        return cells, payload, changes, edits, target, tax_identifier


class PackedImages(MutableMapping[int, dict[str, Any]]):
    """Row -> a whole customer (a delete row's before-image), spilled: the customers a big delete file removes stay
    out of memory, and each row costs two numbers (rows set in file order are appended). Reading gives a fresh
    copy."""

    def __init__(self) -> None:
        self._rows = array("q")
        self._refs = array("q")  # -1: deleted
        self._count = 0
        self._file = SpillFile()

    def _position(self, row: int) -> int:
        position = bisect_left(self._rows, row)
        if position < len(self._rows) and self._rows[position] == row and self._refs[position] >= 0:
            return position
        raise KeyError(row)

    def __getitem__(self, row: int) -> dict[str, Any]:
        image: dict[str, Any] = self._file.get(self._refs[self._position(row)])
        return image

    def __setitem__(self, row: int, image: dict[str, Any]) -> None:
        ref = self._file.put(image)
        position = bisect_left(self._rows, row)
        if position < len(self._rows) and self._rows[position] == row:
            self._count += self._refs[position] < 0
            self._refs[position] = ref
            return
        self._rows.insert(position, row)
        self._refs.insert(position, ref)
        self._count += 1

    def __delitem__(self, row: int) -> None:
        self._refs[self._position(row)] = -1
        self._count -= 1

    def __iter__(self) -> Iterator[int]:
        return (row for row, ref in zip(self._rows, self._refs, strict=True) if ref >= 0)

    def __len__(self) -> int:
        return self._count
