"""Flatten customer responses into typed pandas tables, and back.

Column names are JSON paths (``shipping.address.postalCode``), so habits from ``pd.json_normalize`` carry over;
:func:`column_path` maps a column back to its path, which drives the reverse.  Dtypes are declared in
``_schema`` and never inferred.  What a typed cell cannot say -- an explicit ``null``, an empty ``{}`` or ``[]``,
the original text of a timestamp that is not in the canonical form -- is kept per row in the ``_empty_values``
column as JSON, so the round trip is exact.

Records are flattened a chunk at a time, two ways that give the same frames:

* the arrow path (:func:`_add_arrow`, with pyarrow): ``pa.array`` with the declared type does the struct work in
  C, and a census per object level (keys per object against the non-null fields arrow found) finds what arrow
  cannot tell apart -- a ``null`` from an absent key, ``{}`` from ``[]``, unknown keys -- so only those rows are
  walked in Python;
* the Python walk (:func:`_add_records`), for a chunk arrow cannot hold exactly (a value of another JSON type
  than declared, ``[]`` for a text...) or without pyarrow: column by column, one C-level ``map(dict.get, ...)``
  per key and level, and a census of value types decides between a finished column, a nested level, or (nulls,
  empties, mixed types) a row-by-row step.

The package's modules: :mod:`._tables` (table specs, column paths), :mod:`._dtypes` (typed columns),
:mod:`._walk` (the Python walk), :mod:`._arrow` (the arrow path), :mod:`._build` (a table's DataFrame and its
``_empty_values``) and :mod:`._payloads` (:class:`Frames` and the way back).  :func:`to_frames` lives here so
that ``drframe._tables._frames._add_arrow`` is the name it calls (the tests patch it to force the Python walk).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

from pydantic import BaseModel

from ..._core._text import REDACTED
from ._arrow import _add_arrow
from ._build import _Table
from ._dtypes import _ARROW_STRINGS, release_buffers
from ._payloads import Frames, frames_repr, is_missing, plain_value, set_path
from ._specs import (
    _CHUNK,
    CUSTOMER_KEY,
    CUSTOMERS,
    EMPTY_VALUES_COLUMN,
    PARENT_ROW_COLUMN,
    SOURCES,
    SPECS,
    TAX_CERTIFICATES,
    TAX_IDENTIFIERS,
    TableSpec,
    column_order,
    column_path,
)
from ._walk import _add_records

#: Customers flattened together: the best size for a segment of :func:`frames_in_order`.
CHUNK = _CHUNK
#: Rows of a table from which the memory its building let go is given back before the next table is built.
_RELEASE_ROWS = 10_000

__all__ = [
    "CHUNK", "CUSTOMERS", "CUSTOMER_KEY", "EMPTY_VALUES_COLUMN", "PARENT_ROW_COLUMN", "SOURCES", "SPECS",
    "TAX_CERTIFICATES", "TAX_IDENTIFIERS", "Frames", "Segments", "TableSpec", "column_order", "column_path",
    "frames_in_order", "frames_repr", "is_missing", "plain_value", "set_path", "to_frames",
]


def to_frames(customers: Iterable[Mapping[str, Any] | BaseModel], *, redact: bool = True) -> Frames:
    """Flatten customers (API dicts or models) into typed tables; ``clientSecret`` is redacted by default.

    Exact: ``to_frames(x, redact=False).to_payloads() == x``, down to each timestamp's text (a form other than
    :func:`format_datetime`'s, such as ``.000Z``, seven fraction digits or ``+02:00``, is kept in
    ``_empty_values``; the cell holds the instant).  Records that share an id (two exports concatenated) stay
    separate rows, each with its own children: every child row names its parent's ``customer_id`` and, in
    ``customer_row``, the parent's index label in ``customers``.
    """
    return _frames(_flattened(customers), redact)


def frames_in_order(segments: Iterable[tuple[Any, Iterable[Mapping[str, Any] | BaseModel]]], *,
                    redact: bool = True) -> Frames:
    """:func:`to_frames` of customers that arrive in segments, in any order, each with a sort key: the frames of
    every segment's customers, segments in key order.  Each segment is flattened as it arrives, and they are
    joined once at the end without copying rows (a concurrent listing's pages need not wait for their turn)."""
    collected = Segments(redact=redact)
    for key, customers in segments:
        collected.add(key, customers)
    return collected.joined()


class Segments:
    """The segments of :func:`frames_in_order`, flattened as they are added: the frames of some of them on demand
    (a writer can render them while later ones are listed), and every segment's frames joined at the end."""

    def __init__(self, *, redact: bool = True) -> None:
        self.redact = redact
        self._flattened: list[tuple[Any, dict[str, _Table]]] = []

    def add(self, key: Any, customers: Iterable[Mapping[str, Any] | BaseModel]) -> int:
        """Flatten a segment; its number for :meth:`frames_of`."""
        self._flattened.append((key, _flattened(customers)))
        return len(self._flattened) - 1

    def key(self, number: int) -> Any:
        return self._flattened[number][0]

    def rows(self, numbers: Iterable[int] | None = None) -> dict[str, int]:
        """Each table's rows in these segments (all of them by default: ``len`` of the joined frames' tables)."""
        chosen = [self._flattened[n] for n in numbers] if numbers is not None else self._flattened
        return {name: sum(tables[name].rows for _, tables in chosen) for name in SPECS}

    def frames_of(self, numbers: Iterable[int]) -> Frames:
        """The frames of these segments' customers, in this order, as :func:`to_frames` gives them for those
        customers alone; the segments are still joined by :meth:`joined`."""
        return _frames(_joined(self._flattened[n][1] for n in numbers), self.redact)

    def joined(self) -> Frames:
        """The frames of every segment's customers, segments in key order (once: it takes the segments)."""
        flattened = sorted(self._flattened, key=lambda item: item[0])
        self._flattened = []
        return _frames(_joined(segment for _, segment in flattened), self.redact)


def _joined(segments: Iterable[dict[str, _Table]]) -> dict[str, _Table]:
    """Segments' tables one after another, leaving each as it is (the chunks are shared, not copied)."""
    tables = _tables()
    for segment in segments:
        customers_before = tables[CUSTOMERS.name].rows
        for name, table in segment.items():
            tables[name].extend(table, 0 if name == CUSTOMERS.name else customers_before)
    return tables


def _tables() -> dict[str, _Table]:
    return {spec.name: _Table(spec) for spec in SPECS.values()}


def _flattened(customers: Iterable[Mapping[str, Any] | BaseModel]) -> dict[str, _Table]:
    tables = _tables()
    items = iter(customers)
    while batch := list(islice(items, _CHUNK)):
        records = [item if item.__class__ is dict else _as_dict(item) for item in batch]
        if not (_ARROW_STRINGS and _add_arrow(records, tables)):
            _add_records(records, tables)
    return tables


def _frames(tables: dict[str, _Table], redact: bool) -> Frames:
    built = {}
    for name, table in tables.items():
        built[name] = table.frame()
        if table.rows >= _RELEASE_ROWS:
            release_buffers()
    frames = Frames(**built)
    if redact and "clientSecret" in frames.sources:
        secrets = frames.sources["clientSecret"]
        frames.sources["clientSecret"] = secrets.where(secrets.isna(), REDACTED)
    return frames


def _as_dict(item: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    return item.model_dump(mode="json", exclude_unset=True) if isinstance(item, BaseModel) else dict(item)

