"""Exports rendered while the listing runs, whatever the format: segments of customers are rendered a batch at a
time as they arrive (:func:`drframe._fetch.csv_in_order`, :func:`drframe._fetch.xlsx_in_order`), and once the
last one is in, the pieces are assembled in listing order and written, byte for byte what the joined frames'
writer gives.  :class:`Streamed` holds what the formats share: the rendered segments and their keys, the check
that a column has one dtype wherever it holds a value, the cap on rendered bytes, giving up, and writing the
joined frames the ordinary way when it gave up (so every byte, warning and error message is as before).

A format renders one table of a batch (:meth:`Streamed._render`) into a piece that can be cut into its segments
(:class:`Piece`), and assembles the segments' pieces in key order (:meth:`Streamed._assemble`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, Self, TypeVar

import pandas as pd
import pyarrow as pa

from .._errors import ExportError
from .._tables._frames import CUSTOMERS, Frames
from ._export import _Unstorable

#: Most bytes of rendered text held for the assembly; past it, the frames are written at the end instead.
CAP = 256 * 2**20

Written = TypeVar("Written")


class Unsure(Exception):
    """A segment's rendering may not be the whole table's (the reason is the message)."""


class Piece(Protocol):
    """One table of some customers, rendered."""

    rows: int

    def part(self, start: int, rows: int, customers_start: int) -> Self:
        """Rows ``start`` to ``start + rows``, whose customers start at row ``customers_start``."""


P = TypeVar("P", bound=Piece)


class Streamed(Generic[P, Written]):
    """An export rendered a few segments at a time (:meth:`add`, segments in any order, each with a sort key) and
    assembled in key order by :meth:`write`.  ``reason`` says why it gave up, if it did."""

    def __init__(self, *, mask_pii: bool, cap: int) -> None:
        self.mask_pii = mask_pii
        self.cap = cap
        self.reason: str | None = None
        self._segments: list[tuple[Any, dict[str, P]]] = []
        self._dtypes: dict[str, dict[Any, Any]] = {}  # per table, each column's dtype where it holds a value
        self._bytes = 0

    @property
    def live(self) -> bool:
        """Whether segments are still rendered (it has not given up)."""
        return self.reason is None

    def give_up(self, reason: str) -> None:
        """Render nothing more; :meth:`write` writes the joined frames."""
        if self.reason is None:
            self.reason = reason
        self._segments.clear()
        self._dtypes.clear()

    def add(self, segments: Sequence[tuple[Any, Mapping[str, int]]], frames: Frames) -> None:
        """Render ``frames``: the frames of ``segments`` (``(key, each table's rows)``, in the order of their rows
        in ``frames``) as ``to_frames`` gives them for their customers alone."""
        if self.reason is not None:
            return
        try:
            rendered = {}
            for name, frame in frames.tables().items():
                self._check_dtypes(name, frame)
                rendered[name] = self._render(name, frame)
                if self._bytes > self.cap:
                    raise Unsure(f"more than {self.cap} bytes rendered")
        except Unsure as exc:
            self.give_up(str(exc))
            return
        except _Unstorable:  # written as before: the joined frames' writer names the rows
            self.give_up("a character the format cannot store")
            return
        except (ExportError, UnicodeEncodeError, pa.ArrowException) as exc:  # written as before, with its message
            self.give_up(f"{type(exc).__name__}: {exc}")
            return
        starts = dict.fromkeys(rendered, 0)
        for key, rows in segments:
            customers_start = starts[CUSTOMERS.name]
            self._segments.append((key, {name: whole.part(starts[name], rows[name], customers_start)
                                         for name, whole in rendered.items()}))
            for name in starts:
                starts[name] += rows[name]
        self._added()

    def _check_dtypes(self, table: str, frame: pd.DataFrame) -> None:
        """Each column has one dtype in every batch that holds a value in it (and so in the joined frames)."""
        dtypes = self._dtypes.setdefault(table, {})
        for column, dtype in frame.dtypes.items():
            # (a blank column is empty whatever its dtype)
            if dtypes.get(column) != dtype and not _blank(frame[column]) and dtypes.setdefault(column, dtype) != dtype:
                raise Unsure(f"{table}.{column}: {dtypes[column]} in one segment, {dtype} in another")

    def write(self, frames: Callable[[], Frames]) -> Written:
        """The rendered segments assembled in key order, or, when it gave up (or got no segment, or the assembly
        is unsure), ``frames()`` (the joined frames) written the ordinary way."""
        if self.reason is None and not self._segments:
            self.give_up("no segment")
        if self.reason is None:
            ordered = [rendered for _, rendered in sorted(self._segments, key=lambda item: item[0])]
            self._segments.clear()
            try:
                return self._assemble({name: [segment[name] for segment in ordered] for name in ordered[0]})
            except Unsure as exc:
                self.give_up(str(exc))
            except pa.ArrowException as exc:  # more text than one array holds...
                self.give_up(f"{type(exc).__name__}: {exc}")
        return self._write_frames(frames())

    def _render(self, table: str, frame: pd.DataFrame) -> P:
        """One table of a batch (raises :class:`Unsure` when it cannot promise the whole table's rendering)."""
        raise NotImplementedError

    def _added(self) -> None:
        """After a batch's segments are added."""

    def _assemble(self, pieces: dict[str, list[P]]) -> Written:
        """Each table's pieces in listing order, written; raises :class:`Unsure` (having written nothing) to
        leave the writing to the joined frames."""
        raise NotImplementedError

    def _write_frames(self, frames: Frames) -> Written:
        """The joined frames, written the ordinary way."""
        raise NotImplementedError


def _blank(series: pd.Series) -> bool:
    """Every cell missing: None in an object column (a value such as NaN makes the joined column object), NA in a
    typed one.  A blank column's cells are empty whatever its dtype."""
    if series.dtype == object:
        return all(value is None for value in series.tolist())
    return bool(series.isna().all())
