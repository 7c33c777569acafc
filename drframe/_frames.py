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
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from itertools import chain, compress, islice, repeat
from operator import is_, itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from ._cells import REDACTED
from ._errors import UnknownFieldWarning
from ._models import PAYMENT_TYPES, format_datetime
from ._schema import (
    CUSTOMER_PATHS,
    FREE_FORM_PREFIXES,
    SOURCE_PATHS,
    TAX_CERTIFICATE_PATHS,
    TAX_IDENTIFIER_PATHS,
)

EMPTY_VALUES_COLUMN = "_empty_values"
#: In the child tables: the index label of the parent row in ``customers`` (two records may share an id).
PARENT_ROW_COLUMN = "customer_row"
_DTYPES = {"string": "string", "boolean": "boolean", "Int64": "Int64", "Float64": "Float64"}
_DATETIME_DTYPE = pd.DatetimeTZDtype("ns", "UTC")
#: pandas' own text dtype (NaN for missing), which pandas >= 3 infers for an object column of strings.
try:
    _TEXT_DTYPE: Any = pd.StringDtype(na_value=np.nan)
except TypeError:  # pandas 2: no such dtype, and object columns stay object
    _TEXT_DTYPE = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    key: str | None
    parent_key: str | None
    paths: Mapping[str, str]
    #: Declared paths that only get a column when some row has them (the many payment-method sub-objects).
    optional_prefixes: tuple[str, ...] = ()

    def always(self, path: str) -> bool:
        return not path.startswith(self.optional_prefixes)


CUSTOMER_KEY = "customer_id"
CUSTOMERS = TableSpec("customers", CUSTOMER_KEY, None, CUSTOMER_PATHS)
SOURCES = TableSpec(
    "sources", "source_id", "customer_id", SOURCE_PATHS,
    optional_prefixes=tuple(f"{t}." for t in PAYMENT_TYPES if t != "creditCard"),
)
TAX_IDENTIFIERS = TableSpec("tax_identifiers", "tax_id", "customer_id", TAX_IDENTIFIER_PATHS)
TAX_CERTIFICATES = TableSpec("tax_certificates", None, "customer_id", TAX_CERTIFICATE_PATHS)
SPECS = {spec.name: spec for spec in (CUSTOMERS, SOURCES, TAX_IDENTIFIERS, TAX_CERTIFICATES)}
_NESTED = (("sources", SOURCES), ("taxIdentifiers", TAX_IDENTIFIERS), ("taxCertificates", TAX_CERTIFICATES))
_NESTED_FIELDS = frozenset(name for name, _ in _NESTED)
_NO_SKIP: frozenset[str] = frozenset()
#: Records flattened together: big enough that per-key work is noise, small enough that a streamed input
#: (``client.customers.to_frames()``) never holds more than one chunk of response objects.
_CHUNK = 2048


def column_path(column: str) -> tuple[str, ...]:
    """The JSON path of a column: ``metadata.a.b`` is key ``a.b`` of metadata; other dots nest."""
    for prefix in FREE_FORM_PREFIXES:
        if column.startswith(prefix + "."):
            return (prefix, column[len(prefix) + 1:])
    return tuple(column.split("."))


_NONE: type = type(None)
_ABSENT: Any = object()  # dict.get's default where "absent" and "null" must be told apart
_NO_OBJECT: dict[str, Any] = {}  # stands in for an absent or null nested object, so a level stays row-aligned
_DICT_OR_NONE = frozenset({dict, _NONE})
_JUST_DICT = frozenset({dict})
_ONLY_NONE = frozenset({_NONE})
_LIST_OR_NONE = frozenset({list, _NONE})
#: Pseudo-path of a child table's parent id while its chunks are collected.
_PARENT = "\0parent"
_has_key = dict.__contains__


def _sparse(objects: list[dict[str, Any]], keys: set[str]) -> bool:
    """Many keys, each in few rows (free-form metadata): a walk over the items beats one pass per key."""
    # A row-by-row step costs about ten C-level passes over one value.
    return len(keys) > 8 and len(keys) * len(objects) > 12 * sum(map(len, objects))


class _Chunk:
    """Up to ``_CHUNK`` rows of one table, flattened column by column.

    ``columns`` maps a path to its values (``None`` where the row has none), ``kinds`` to the set of value types
    seen, ``empties`` a row to the ``path -> value`` pairs a typed cell cannot hold.
    """

    __slots__ = ("columns", "declared", "empties", "kinds", "n")

    def __init__(self, n: int, declared: Mapping[str, str]) -> None:
        self.n = n
        self.declared = declared
        #: path -> a list of values (None where the row has none), or an arrow array on the arrow path
        self.columns: dict[str, Any] = {}
        self.kinds: dict[str, set[type]] = {}
        self.empties: dict[int, dict[str, Any]] = {}

    def level(self, objects: list[dict[str, Any]], prefix: str = "", skip: frozenset[str] = _NO_SKIP) -> None:
        """Flatten one object level: ``objects[row]`` is the row's object at ``prefix`` (``_NO_OBJECT`` if none)."""
        keys = set().union(*objects) - skip
        if not keys:
            return
        if _sparse(objects, keys):
            for row, obj in enumerate(objects):
                for key, value in obj.items():
                    if key not in skip:
                        self.put(row, prefix + key, value, top=not prefix)
            return
        for key in keys:
            self.one(objects, key, prefix)

    def one(self, objects: list[dict[str, Any]], key: str, prefix: str = "") -> None:
        """One key of a level, as a whole column when its value types allow (nearly always)."""
        get = dict.get
        path = prefix + key
        column = list(map(get, objects, repeat(key)))
        kinds = set(map(type, column))
        if dict in kinds and kinds <= _DICT_OR_NONE:
            nulls = self.nulls(objects, key, column, path) if _NONE in kinds else []
            children = list(map(get, objects, repeat(key), repeat(_NO_OBJECT)))
            for row in nulls:
                children[row] = _NO_OBJECT
            self.empty_objects(children, path)
            if not prefix and path in FREE_FORM_PREFIXES:
                self.free(children, path + ".")
            else:
                self.level(children, path + ".")
        elif dict in kinds or (list in kinds and self.declared.get(path) != "json" and [] in column):
            for row, value in enumerate(map(get, objects, repeat(key), repeat(_ABSENT))):
                if value is not _ABSENT:
                    self.put(row, path, value, top=not prefix)
        else:
            if _NONE in kinds:
                self.nulls(objects, key, column, path)
            self.set_column(path, column, kinds)

    def empty_objects(self, objects: list[dict[str, Any]], path: str) -> None:
        """Record the rows whose object at ``path`` is a real ``{}`` (not the ``_NO_OBJECT`` stand-in)."""
        if sum(map(bool, objects)) + sum(map(is_, objects, repeat(_NO_OBJECT))) < len(objects):
            for row, obj in enumerate(objects):
                if not obj and obj is not _NO_OBJECT:
                    self.empty(row, path, {})

    def free(self, objects: list[dict[str, Any]], prefix: str) -> None:
        """A free-form object (metadata): each key a column, each value but ``null`` a cell exactly as given."""
        keys = set().union(*objects)
        if _sparse(objects, keys):
            for row, obj in enumerate(objects):
                for key, value in obj.items():
                    self.put_free(row, prefix + key, value)
            return
        columns = {key: list(map(dict.get, objects, repeat(key))) for key in keys}
        # Values that are not None, against the keys present: equal means no key is set to null.
        explicit_nulls = sum(map(len, objects)) != sum(len(c) - c.count(None) for c in columns.values())
        for key, column in columns.items():
            kinds = set(map(type, column))
            if explicit_nulls and _NONE in kinds:
                self.nulls(objects, key, column, prefix + key)
            self.set_column(prefix + key, column, kinds)

    def nulls(self, objects: list[dict[str, Any]], key: str, column: list[Any], path: str) -> list[int]:
        """Record the rows whose object has ``key`` set to ``null`` (``column`` holds None for absent keys too)."""
        rows = list(compress(range(self.n), map(is_, column, repeat(None))))
        rows = list(compress(rows, map(_has_key, map(objects.__getitem__, rows), repeat(key))))
        for row in rows:
            self.empty(row, path, None)
        return rows

    def put(self, row: int, path: str, value: Any, *, top: bool = False) -> None:
        """One value, row by row: the slow path for what the column census cannot settle at once."""
        cls = value.__class__
        if cls is dict:
            if not value:
                self.empty(row, path, {})
            elif top and path in FREE_FORM_PREFIXES:
                for key, item in value.items():
                    self.put_free(row, f"{path}.{key}", item)
            else:
                for key, item in value.items():
                    self.put(row, f"{path}.{key}", item)
        elif value is None:
            self.empty(row, path, None)
        elif cls is list and not value and self.declared.get(path) != "json":
            self.empty(row, path, [])
        else:
            self.cell(row, path, value)

    def put_free(self, row: int, path: str, value: Any) -> None:
        if value is None:
            self.empty(row, path, None)
        else:
            self.cell(row, path, value)

    def cell(self, row: int, path: str, value: Any) -> None:
        column = self.columns.get(path)
        if column is None:
            column = self.columns[path] = [None] * self.n
            self.kinds[path] = set()
        elif column.__class__ is not list:
            column = self.as_list(path)
        column[row] = value
        self.kinds[path].add(value.__class__)

    def set_column(self, path: str, column: list[Any], kinds: set[type]) -> None:
        if kinds <= _ONLY_NONE:  # nulls only: they are in the bookkeeping, a column would be all NA
            return
        existing = self.columns.get(path)
        if existing is None:
            self.columns[path] = column
            self.kinds[path] = kinds
            return
        if existing.__class__ is not list:
            existing = self.as_list(path)
        for row, value in enumerate(column):  # the same path reached twice (a key with a dot in it)
            if value is not None:
                existing[row] = value
        self.kinds[path] |= kinds

    def set_arrow(self, path: str, array: Any) -> None:
        if path in self.columns:
            values = array.to_pylist()
            self.set_column(path, values, set(map(type, values)))
        else:
            self.columns[path] = array

    def empty(self, row: int, path: str, value: Any) -> None:
        empties = self.empties.get(row)
        if empties is None:
            empties = self.empties[row] = {}
        empties[path] = value

    def as_list(self, path: str) -> list[Any]:
        """An arrow-built column as a list, for the rare path that is reached both ways (a key with a dot in it)."""
        column: list[Any] = self.columns[path].to_pylist()
        self.columns[path] = column
        self.kinds[path] = set(map(type, column))
        return column


class _Table:
    """One table's chunks, joined column by column, then built into the typed DataFrame.

    A chunk's column is a list (the Python walk) or an arrow array (the arrow path); ``pieces`` keeps each with
    the row it starts at, and :meth:`take` joins them without copying when they are all arrow.
    """

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self.rows = 0
        self.pieces: dict[str, list[tuple[int, Any]]] = {}
        self.kinds: dict[str, set[type]] = {}
        self.empties: dict[int, dict[str, Any]] = {}
        #: Per datetime path, the rows (numpy) and original texts (a list or an arrow array) of the
        #: non-canonical timestamps.
        self.texts: dict[str, tuple[Any, Any]] = {}
        self.positions: list[Any] = []
        self.parent_rows: list[Any] = []

    def add(self, chunk: _Chunk, positions: Any = (), parent_rows: Any = ()) -> None:
        rows = self.rows
        for path, column in chunk.columns.items():
            self.pieces.setdefault(path, []).append((rows, column))
            if column.__class__ is list:
                self.kinds.setdefault(path, set()).update(chunk.kinds[path])
        for row, empties in chunk.empties.items():
            self.empties[rows + row] = empties
        self.positions.append(positions)
        self.parent_rows.append(parent_rows)
        self.rows += chunk.n

    def frame(self) -> pd.DataFrame:
        spec = self.spec
        n = self.rows
        data: dict[str, Any] = {}
        if spec.key:
            where = f"{spec.name}.{spec.key}"
            data[spec.key] = self.typed("id", "string", where) if "id" in self.pieces else _all_missing("string", n)
        if spec.parent_key:
            where = f"{spec.name}.{spec.parent_key}"
            data[spec.parent_key] = self.typed(_PARENT, "string", where) if _PARENT in self.pieces else \
                _all_missing("string", n)
            data["position"] = _integers(self.positions)
            data[PARENT_ROW_COLUMN] = _integers(self.parent_rows)
        seen = set(self.pieces)
        free = sorted(p for p in seen if p not in spec.paths and column_path(p)[0] in FREE_FORM_PREFIXES)
        unknown = sorted(p for p in seen if p not in spec.paths and p not in free)
        # Declared columns exist whatever the data holds, so every table has a stable shape.
        for path, kind in spec.paths.items():
            if path in seen:
                data[path] = self.typed(path, kind)
            elif spec.always(path):
                data[path] = _all_missing(kind, n)
        for path in free:
            data[path] = _undeclared(*self.take(path))
        if unknown:
            warnings.warn(
                f"{spec.name}: undeclared fields kept as object columns: {', '.join(unknown[:10])}"
                + (" ..." if len(unknown) > 10 else ""),
                UnknownFieldWarning,
                stacklevel=3,
            )
            for path in unknown:
                data[path] = _undeclared(*self.take(path))
        data[EMPTY_VALUES_COLUMN] = self.bookkeeping()
        return pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)

    def bookkeeping(self) -> Any:
        """The ``_empty_values`` column: per row, ``json.dumps({path: value}, ensure_ascii=False, sort_keys=True)``
        of what the cells cannot say, NA where there is nothing."""
        by_path: dict[str, list[tuple[int, str]]] = {}
        for row, values in self.empties.items():
            for path, value in values.items():
                by_path.setdefault(path, []).append((row, _json_value(value)))
        if not by_path and not self.texts:
            return _all_missing("string", self.rows)
        if not _ARROW_STRINGS:
            per_row: dict[int, dict[str, str]] = {}
            for path, pairs in by_path.items():
                for row, json_text in pairs:
                    per_row.setdefault(row, {})[path] = json_text
            for path, (at, originals) in self.texts.items():
                for row, original in zip(at.tolist(), originals, strict=True):
                    per_row.setdefault(row, {})[path] = _json_text(original)
            cells: list[str | None] = [None] * self.rows
            for row, parts in per_row.items():
                cells[row] = "{" + ", ".join(f"{_json_text(p)}: {parts[p]}" for p in sorted(parts)) + "}"
            return _strings(cells)
        import pyarrow as pa
        import pyarrow.compute as pc

        text_type = pa.large_string()
        entries: dict[str, tuple[Any, Any]] = {}  # path -> (rows, their JSON values as arrow text)
        for path in sorted(by_path.keys() | self.texts.keys()):
            at_parts, json_parts = [], []
            found = by_path.get(path)
            if found:
                at_rows, json_texts = zip(*found, strict=True)
                at_parts.append(np.array(at_rows, dtype="int64"))
                json_parts.append(pa.array(json_texts, type=text_type))
            if path in self.texts:
                at, originals = self.texts[path]
                at_parts.append(np.asarray(at, dtype="int64"))
                json_parts.append(_json_texts(originals))
            chunks = [c for part in json_parts for c in (part.chunks if hasattr(part, "chunks") else [part])]
            entries[path] = (np.concatenate(at_parts), pa.chunked_array(chunks, type=text_type))
        # Built over the rows that have something (a few percent, usually), then spread over all rows.
        rows = np.unique(np.concatenate([at for at, _ in entries.values()]))
        slot = np.full(self.rows, -1, dtype="int64")
        slot[rows] = np.arange(len(rows))
        pieces = []
        for path, (at, json_values) in entries.items():
            index = np.full(len(rows), -1, dtype="int64")
            index[slot[at]] = np.arange(len(at))
            cells = json_values.take(pa.array(index, mask=index < 0))
            # Each piece carries its separator (", " then the key); the first ", " is cut off below.
            piece = pc.binary_join_element_wise(pa.scalar(f", {_json_text(path)}: ", text_type), cells,
                                                pa.scalar("", text_type))
            pieces.append(piece.fill_null(""))
        joined = pc.binary_join_element_wise(*pieces, pa.scalar("", text_type))
        objects = pc.binary_join_element_wise(pa.scalar("{", text_type), pc.utf8_slice_codeunits(joined, 2),
                                              pa.scalar("}", text_type), pa.scalar("", text_type))
        if len(rows) == self.rows:
            return pd.arrays.ArrowStringArray(objects)
        return pd.arrays.ArrowStringArray(pc.take(objects, pa.array(slot, mask=slot < 0), memory_pool=_POOL))

    def take(self, path: str) -> tuple[Any, set[type] | None]:
        """A column's values: one arrow ChunkedArray (kinds None) when every piece is arrow, else a list."""
        pieces = self.pieces.pop(path)
        kinds = self.kinds.pop(path, set())
        if all(piece.__class__ is not list for _, piece in pieces) and len({piece.type for _, piece in pieces}) == 1:
            import pyarrow as pa

            chunks, at = [], 0
            for start, piece in pieces:
                if start > at:
                    chunks.append(pa.nulls(start - at, piece.type, memory_pool=_POOL))
                chunks.append(piece)
                at = start + len(piece)
            if at < self.rows:
                chunks.append(pa.nulls(self.rows - at, chunks[-1].type, memory_pool=_POOL))
            return pa.chunked_array(chunks), None
        if len(pieces) == 1 and pieces[0][0] == 0 and len(pieces[0][1]) == self.rows:
            return pieces[0][1], kinds
        values: list[Any] = [None] * self.rows
        for start, piece in pieces:
            if piece.__class__ is not list:
                piece = piece.to_pylist()
                kinds.update(map(type, piece))
            values[start:start + len(piece)] = piece
        return values, kinds

    def values(self, path: str) -> list[Any]:
        values, _ = self.take(path)
        return values if values.__class__ is list else values.to_pylist()

    def typed(self, path: str, kind: str, where: str | None = None) -> Any:
        values, kinds = self.take(path)
        where = where or f"{self.spec.name}.{path}"
        if kinds is None:
            if kind != "datetime":
                return _from_arrow(values, kind)
            try:
                array, texts = _arrow_datetimes(values)
            except ArrowError:  # a form arrow does not read (a date alone, no offset): pandas decides below
                values, kinds = values.to_pylist(), set(_STRING_KINDS)
        if kinds is not None:
            if kind != "datetime":
                return _typed(values, kinds, kind, where)
            array, texts = _typed_datetimes(values, kinds, where)
        if len(texts[0]):  # the cell holds the instant; the exact text goes back from _empty_values
            self.texts[path] = texts
        return array


_STRING_KINDS = frozenset({str, _NONE})
#: Kinds whose values need a look on the arrow path: arrow takes a bool as 1.0 and 2.5 as the integer 2.
_CHECKED_KINDS: dict[str, frozenset[type]] = {"Int64": frozenset({int, _NONE}), "Float64": frozenset({int, float, _NONE})}
_FREE_CHECKED: dict[str, frozenset[type]] = {"int64": frozenset({int, _NONE}), "double": frozenset({float, _NONE})}
_ALLOWED_TYPES: dict[str, frozenset[type]] = {
    "string": _STRING_KINDS, "datetime": _STRING_KINDS, "boolean": frozenset({bool, _NONE}), **_CHECKED_KINDS,
}


def _typed(values: list[Any], kinds: set[type], kind: str, where: str) -> Any:
    """Build the declared array; a value of the wrong JSON type keeps the column lossless as object."""
    try:
        allowed = _ALLOWED_TYPES.get(kind)
        if allowed is not None and not kinds <= allowed:
            raise TypeError("a value of another JSON type")
        if kind == "json":
            return _objects(values)
        if kind == "string":
            return _strings(values)
        return pd.array(values, dtype=_DTYPES[kind])  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError, ArrowError) as exc:
        return _not_declared(values, kind, where, exc)


def _not_declared(values: list[Any], kind: str, where: str, exc: Exception) -> Any:
    warnings.warn(f"{where}: values do not fit the declared {kind} ({type(exc).__name__}); kept as object",
                  UnknownFieldWarning, stacklevel=5)
    return _objects(values)


#: The text :func:`format_datetime` writes: ``Z``, and a fraction only when there is one (3 digits when whole
#: milliseconds, else 6).  A text of this shape is given back from the cell; any other is kept in _empty_values.
_CANONICAL = (r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
              r"(?:\.(?:[0-9]{3})?(?:[0-9]{2}[1-9]|[0-9][1-9]0|[1-9]00))?Z")
_is_canonical = re.compile(_CANONICAL).fullmatch


def _typed_datetimes(values: list[Any], kinds: set[type], where: str) -> tuple[Any, tuple[Any, Any]]:
    """ISO-8601 text to ``datetime64[ns, UTC]``, and the rows and texts of the non-canonical ones."""
    try:
        if not kinds <= _STRING_KINDS:
            raise TypeError("a value of another JSON type")
        array = _datetimes(values)
        if int(array.isna().sum()) != values.count(None):  # pandas reads "" and "NaT" as NaT
            raise ValueError("a text that is not a timestamp")
    except (TypeError, ValueError, OverflowError, ArrowError) as exc:
        return _not_declared(values, "datetime", where, exc), (np.zeros(0, dtype="int64"), [])
    if _ARROW_STRINGS:
        import pyarrow as pa

        return array, _odd_texts(pa.array(values, type=pa.string()))
    rows = [row for row, value in enumerate(values) if value is not None and not _is_canonical(value)]
    return array, (np.array(rows, dtype="int64"), [values[row] for row in rows])


def _arrow_datetimes(values: Any) -> tuple[Any, tuple[Any, Any]]:
    """Arrow text to ``datetime64[ns, UTC]`` and the non-canonical texts; ArrowInvalid if arrow cannot read one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    stamps = pc.cast(values, pa.timestamp("ns", tz="UTC"))
    return stamps.to_pandas().array, _odd_texts(values)


def _odd_texts(text: Any) -> tuple[Any, Any]:
    """The rows (numpy) and texts (arrow) of an arrow string array's texts that are not in the canonical form."""
    import pyarrow.compute as pc

    odd = pc.indices_nonzero(pc.invert(pc.match_substring_regex(text, f"^{_CANONICAL}$").fill_null(True)))
    return odd.to_numpy(), text.take(odd)


def _datetimes(values: list[Any]) -> Any:
    """ISO-8601 text to ``datetime64[ns, UTC]``; arrow's cast is the fast path, pandas' parser the fallback."""
    if _ARROW_STRINGS:
        import pyarrow as pa

        try:
            cast = pa.array(values, type=pa.string()).cast(pa.timestamp("ns", tz="UTC"))
            return pd.array(cast.to_pandas(), dtype=_DATETIME_DTYPE)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # offsets other than Z, out-of-range years...: let pandas decide
    parsed = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
    return parsed.astype(_DATETIME_DTYPE).array


def _from_arrow(values: Any, kind: str) -> Any:
    """A declared column from the arrow path (a ChunkedArray of the declared arrow type)."""
    if kind == "string":
        return pd.arrays.ArrowStringArray(values)
    dtype = pd.api.types.pandas_dtype(_DTYPES[kind])
    return values.to_pandas(types_mapper=lambda _: dtype).array


@cache
def _arrow_fields(name: str) -> dict[str, Any]:
    """The arrow fields of a table's top level, from its declared paths (json and free-form left to Python)."""
    import pyarrow as pa

    spec = SPECS[name]
    kinds = {"string": pa.large_string(), "datetime": pa.large_string(), "boolean": pa.bool_(),
             "Int64": pa.int64(), "Float64": pa.float64()}
    tree: dict[str, Any] = {"id": kinds["string"]} if spec.key else {}
    for path, kind in spec.paths.items():
        if kind in kinds:
            *parents, leaf = path.split(".")
            node = tree
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = kinds[kind]

    def field(name: str, node: Any) -> Any:
        return pa.field(name, pa.struct([field(k, v) for k, v in node.items()]) if isinstance(node, dict) else node)

    return {name: field(name, node) for name, node in tree.items()}


def _strings(values: list[Any]) -> Any:
    """A ``string`` array; straight through pyarrow when pandas stores strings there (several times faster)."""
    if _ARROW_STRINGS:
        import pyarrow as pa

        return pd.arrays.ArrowStringArray(pa.array(values, type=pa.large_string(), memory_pool=_POOL))
    return pd.array(values, dtype="string")


def _undeclared(values: Any, kinds: set[type] | None) -> Any:
    """A free-form or undeclared column: ``str`` when it holds only text (what pandas infers), else object."""
    if values.__class__ is not list:
        if str(values.type) == "large_string" and _TEXT_DTYPE is not None:
            return pd.arrays.ArrowStringArray(values, dtype=_TEXT_DTYPE)  # type: ignore[call-arg]
        values = values.to_pylist()
        kinds = set(map(type, values))
    if _ARROW_STRINGS and _TEXT_DTYPE is not None and str in (kinds or ()) and (kinds or set()) <= _STRING_KINDS:
        import pyarrow as pa

        return pd.arrays.ArrowStringArray(pa.array(values, type=pa.large_string(),  # type: ignore[call-arg]
                                                   memory_pool=_POOL),
                                          dtype=_TEXT_DTYPE)
    return _objects(values)


def _objects(values: list[Any]) -> Any:
    """An object array holding each value as it is (a list value stays one cell, never a second dimension)."""
    return pd.arrays.NumpyExtensionArray(np.fromiter(values, dtype=object, count=len(values)))


def _integers(pieces: list[Any]) -> Any:
    """An ``Int64`` array from pieces of whole numbers (lists or numpy arrays)."""
    values = np.concatenate([np.asarray(piece, dtype="int64") for piece in pieces]) if pieces else \
        np.zeros(0, dtype="int64")
    return pd.arrays.IntegerArray(values, np.zeros(len(values), dtype=bool))


def _json_texts(texts: Any) -> Any:
    """Texts (a list, or an arrow array) as JSON string literals in an arrow array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if texts.__class__ is not list:
        if not pc.any(pc.match_substring_regex(texts, r'["\\\x00-\x1f]')).as_py():  # nothing to escape
            quote = pa.scalar('"', pa.large_string())
            return pc.binary_join_element_wise(quote, texts.cast(pa.large_string()), quote, pa.scalar("", pa.large_string()))
        texts = texts.to_pylist()
    return pa.array(list(map(_json_text, texts)), type=pa.large_string())


def _json_value(value: Any) -> str:
    """A bookkeeping value as ``json.dumps(value, ensure_ascii=False)`` writes it."""
    if value is None:
        return "null"
    if value.__class__ is str:
        return _json_text(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


_json_text = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) writes for a str


def _all_missing(kind: str, n: int) -> Any:
    """A declared column no row has: all NA, built without a Python list."""
    mask = np.ones(n, dtype=bool)
    if kind == "boolean":
        return pd.arrays.BooleanArray(np.zeros(n, dtype=bool), mask)
    if kind == "Int64":
        return pd.arrays.IntegerArray(np.zeros(n, dtype="int64"), mask)
    if kind == "Float64":
        return pd.arrays.FloatingArray(np.zeros(n, dtype="float64"), mask)
    if kind == "datetime":
        return pd.array(np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")).tz_localize("UTC")
    if kind == "json":
        return pd.array([None] * n, dtype=object)
    if _ARROW_STRINGS:
        import pyarrow as pa

        return pd.arrays.ArrowStringArray(pa.nulls(n, type=pa.large_string(), memory_pool=_POOL))
    return pd.array([None] * n, dtype="string")


def _arrow_strings() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return pd.StringDtype().storage == "pyarrow" and hasattr(pd.arrays, "ArrowStringArray")


_ARROW_STRINGS = _arrow_strings()
_FREE_TYPES: dict[type, Any] = {}
_POOL: Any = None
if _ARROW_STRINGS:
    import pyarrow as _pa
    from pyarrow import ArrowException as ArrowError
    from pyarrow.types import is_list as pa_is_list
    from pyarrow.types import is_struct as pa_is_struct

    _FREE_TYPES = {str: _pa.large_string, bool: _pa.bool_, int: _pa.int64, float: _pa.float64}
    # Buffers that end up in the frames come from the C allocator: pyarrow's default pool (mimalloc) keeps
    # about 40% more resident for the many chunk-sized buffers a flatten leaves behind.  Short-lived results
    # (casts, bookkeeping steps) stay in the default pool, which reuses its pages without new page faults.
    _POOL = _pa.system_memory_pool()
else:
    ArrowError = TypeError


@dataclass
class Frames:
    """The tidy tables of a set of customers: ``customers``, ``sources``, ``tax_identifiers``, ``tax_certificates``."""

    customers: pd.DataFrame
    sources: pd.DataFrame
    tax_identifiers: pd.DataFrame
    tax_certificates: pd.DataFrame

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}={len(frame)}" for name, frame in self.tables().items())
        return f"Frames({counts})"

    def tables(self) -> dict[str, pd.DataFrame]:
        """The four tables by name, in export order."""
        return {"customers": self.customers, "sources": self.sources, "tax_identifiers": self.tax_identifiers,
                "tax_certificates": self.tax_certificates}

    def to_payloads(self) -> list[dict[str, Any]]:
        """The customers as API objects again (with sources, tax identifiers and certificates), in order.

        A child row goes back to the customers row whose index label is its ``customer_row`` (so a filtered
        ``customers`` frame drops the children of the rows it left out); without that column, or when the
        row there has another id (a re-indexed frame), to the first customers row with its ``customer_id``.
        """
        customers = self.customers
        records = _records(customers, CUSTOMERS)
        ids = [None if is_missing(value) else value for value in customers[CUSTOMER_KEY].tolist()]
        slot_of_label = {label: slot for slot, label in enumerate(customers.index.tolist())}
        first_with_id: dict[Any, int] = {}
        for index, customer_id in enumerate(ids):
            first_with_id.setdefault(customer_id, index)
        children: dict[tuple[int, str], list[tuple[Any, dict[str, Any]]]] = {}
        for field_name, spec in _NESTED:
            frame = getattr(self, spec.name)
            parents = [None if is_missing(value) else value for value in frame[spec.parent_key].tolist()]
            rows = frame[PARENT_ROW_COLUMN].tolist() if PARENT_ROW_COLUMN in frame else [None] * len(frame)
            positions = frame["position"].tolist()
            for parent, row, position, record in zip(parents, rows, positions, _records(frame, spec), strict=True):
                slot: int | None = None if is_missing(row) else slot_of_label.get(row, -1)
                if slot == -1:
                    continue  # its customers row was filtered out
                if slot is None or ids[slot] != parent:  # no customer_row, or a re-indexed frame: go by the id
                    slot = first_with_id.get(parent)
                if slot is not None:
                    children.setdefault((slot, field_name), []).append((position, record))
        for (at, field_name), items in children.items():
            records[at][field_name] = [item for _, item in sorted(items, key=itemgetter(0))]
        return records

    def to_excel(self, path: str | Path, *, mask_pii: bool = False) -> Path:
        """One sheet per table, header frozen, filters on; formula-like cells neutralised."""
        from ._export import write_excel

        return write_excel(path, self.tables(), mask_pii=mask_pii)

    def to_csv(self, directory: str | Path, *, mask_pii: bool = False) -> list[Path]:
        """One CSV per table in ``directory`` (formula-like cells neutralised)."""
        from ._export import write_csv

        return write_csv(directory, self.tables(), mask_pii=mask_pii)

    def to_parquet(self, directory: str | Path) -> list[Path]:
        """One Parquet file per table in ``directory`` (dtypes preserved)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, frame in self.tables().items():
            target = directory / f"{name}.parquet"
            frame.to_parquet(target, index=False)
            written.append(target)
        return written


def to_frames(customers: Iterable[Mapping[str, Any] | BaseModel], *, redact: bool = True) -> Frames:
    """Flatten customers (API dicts or models) into typed tables; ``clientSecret`` is redacted by default.

    Exact: ``to_frames(x, redact=False).to_payloads() == x``, down to each timestamp's text (a form other than
    :func:`format_datetime`'s, such as ``.000Z``, seven fraction digits or ``+02:00``, is kept in
    ``_empty_values``; the cell holds the instant).  Records that share an id (two exports concatenated) stay
    separate rows, each with its own children: every child row names its parent's ``customer_id`` and, in
    ``customer_row``, the parent's index label in ``customers``.
    """
    tables = {spec.name: _Table(spec) for spec in SPECS.values()}
    items = iter(customers)
    while batch := list(islice(items, _CHUNK)):
        records = [item if item.__class__ is dict else _as_dict(item) for item in batch]
        if not (_ARROW_STRINGS and _add_arrow(records, tables)):
            _add_records(records, tables)
    frames = Frames(**{name: table.frame() for name, table in tables.items()})
    if redact and "clientSecret" in frames.sources:
        secrets = frames.sources["clientSecret"]
        frames.sources["clientSecret"] = secrets.where(secrets.isna(), REDACTED)
    return frames


def _as_dict(item: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    return item.model_dump(mode="json", exclude_unset=True) if isinstance(item, BaseModel) else dict(item)


def _add_records(records: list[dict[str, Any]], tables: dict[str, _Table]) -> None:
    """Flatten one chunk of customers into the four tables, in Python (any input)."""
    customers = tables[CUSTOMERS.name]
    chunk = _Chunk(len(records), CUSTOMERS.paths)
    chunk.level(records, skip=_NESTED_FIELDS)
    ids = chunk.columns.get("id")
    ids = ids if ids.__class__ is list else [None] * chunk.n
    for field_name, spec in _NESTED:
        items: list[dict[str, Any]] = []
        parents: list[int] = []
        positions: list[int] = []
        for row, value in enumerate(map(dict.get, records, repeat(field_name), repeat(_ABSENT))):
            if value is _ABSENT:
                continue
            if value.__class__ is list and value and all(item.__class__ is dict for item in value):
                items.extend(value)
                parents.extend(repeat(row, len(value)))
                positions.extend(range(len(value)))
            elif value.__class__ is list and value:
                chunk.cell(row, field_name, value)  # a list of non-objects stays one cell, as given
            else:
                chunk.put(row, field_name, value)
        if items:
            child = _Chunk(len(items), spec.paths)
            child.level(items)
            child.columns[_PARENT] = list(map(ids.__getitem__, parents))
            child.kinds[_PARENT] = set(map(type, child.columns[_PARENT]))
            tables[spec.name].add(child, positions, list(map(customers.rows.__add__, parents)))
    customers.add(chunk)


def _add_arrow(records: list[dict[str, Any]], tables: dict[str, _Table]) -> bool:
    """Flatten one chunk of customers with arrow doing the struct work; False (and nothing added) when the
    chunk holds something only the Python walk keeps exactly (a value of the wrong JSON type, ``[]`` for a
    text...).

    ``pa.array`` with the declared type (pruned to the top-level fields present; metadata typed by each key's
    first value) converts every leaf.  What it cannot tell apart -- a key set to ``null`` from an absent one, an
    unknown key, ``{}`` from ``[]`` -- shows in :func:`_census`; only the rows where it does are walked in Python,
    and undeclared top-level keys are flattened column by column.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(records)
    keys = set().union(*records)
    chunk = _Chunk(n, CUSTOMERS.paths)
    declared = _arrow_fields(CUSTOMERS.name)
    fields = [declared[key] for key in keys if key in declared and key not in _NESTED_FIELDS]
    children: list[tuple[str, TableSpec, list[dict[str, Any]], set[str]]] = []
    for field_name, spec in _NESTED:
        if field_name not in keys:
            continue
        lists = list(map(dict.get, records, repeat(field_name)))
        kinds = set(map(type, lists))
        if not kinds <= _LIST_OR_NONE:
            return False
        if lists.count([]):
            for row, value in enumerate(lists):
                if value == [] and value.__class__ is list:
                    chunk.empty(row, field_name, [])
        items = list(chain.from_iterable(filter(None, lists)))
        if items and set(map(type, items)) != {dict}:
            return False
        child_keys = set().union(*items)
        child_declared = _arrow_fields(spec.name)
        item_type = pa.struct([child_declared[key] for key in child_keys if key in child_declared])
        fields.append(pa.field(field_name, pa.list_(item_type)))
        children.append((field_name, spec, items, child_keys))
    free = [field for field in map(_free_field, repeat(records), FREE_FORM_PREFIXES & keys) if field is not None]
    try:
        array = pa.array(records, type=pa.struct(fields + free), memory_pool=_POOL)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        try:  # a free-form value that does not fit the type of the key's first value: free-form in Python
            array = pa.array(records, type=pa.struct(fields), memory_pool=_POOL)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            return False
    extra = keys - set(array.type.names)
    if not _census(chunk, records, array, "", extra):
        return False
    for key in extra:
        chunk.one(records, key)
    ids = chunk.columns.get("id")
    done = []
    for field_name, spec, items, child_keys in children:
        lists = array.field(field_name)
        values = lists.flatten()
        child = _Chunk(len(items), spec.paths)
        extra = child_keys - set(values.type.names)
        if not _census(child, items, values, "", extra):
            return False
        for key in extra:
            child.one(items, key)
        parents = pc.list_parent_indices(lists)
        child.columns[_PARENT] = pc.take(ids, parents, memory_pool=_POOL) if ids is not None else \
            pa.nulls(len(items), pa.large_string(), memory_pool=_POOL)
        parents_np = parents.to_numpy()
        positions = np.arange(len(items), dtype="int64") - lists.offsets.to_numpy()[parents_np]
        done.append((spec.name, child, positions, parents_np + tables[CUSTOMERS.name].rows))
    for name, child, positions, parent_rows in done:
        tables[name].add(child, positions, parent_rows)
    tables[CUSTOMERS.name].add(chunk)
    return True


def _free_field(objects: list[dict[str, Any]], name: str) -> Any:
    """An arrow struct field for a free-form object (metadata), each key typed as its first non-null value;
    None when some value is not text, a bool, an integer or a float (then it is flattened in Python)."""
    import pyarrow as pa

    found = list(filter(None, map(dict.get, objects, repeat(name))))
    if not found or set(map(type, found)) != _JUST_DICT:
        return None
    keys = set().union(*found)
    types: dict[str, type] = {}
    for obj in found:
        for key, value in obj.items():
            if value is not None and key not in types:
                types[key] = value.__class__
        if len(types) == len(keys):
            break
    if not set(types.values()) <= _FREE_TYPES.keys():
        return None
    return pa.field(name, pa.struct([(key, _FREE_TYPES[types.get(key, str)]()) for key in sorted(keys)]))


def _census(chunk: _Chunk, objects: list[dict[str, Any]], array: Any, prefix: str, extra: set[str],
            lengths: Any = None, *, free: bool = False) -> bool:
    """Check one object level against arrow's struct array for it; take its leaves as columns and record its
    nulls, unknown keys, ``{}`` and ``[]``.

    ``extra`` names keys flattened separately (free-form, undeclared at the top); False means "not exactly
    representable this way" (a bool or 2.5 where an integer is declared...).
    """
    n = len(objects)
    if lengths is None:
        lengths = np.fromiter(map(len, objects), dtype="int64", count=n)
    counts = np.zeros(n, dtype="int64")
    subfields = array.flatten(_POOL)  # each child with its parent's nulls merged in
    for child in subfields:
        nulls = child.null_count
        if nulls == 0:
            counts += 1
        elif nulls < n:
            counts += child.is_valid().to_numpy(zero_copy_only=False)
    for key in extra:
        counts += np.fromiter(map(_has_key, objects, repeat(key)), dtype=bool, count=n)
    if not np.array_equal(lengths, counts):
        names = set(array.type.names)
        for row in np.flatnonzero(lengths != counts).tolist():
            for key, value in objects[row].items():
                if key in names:
                    if value is None:
                        chunk.empty(row, prefix + key, None)
                elif key not in extra:
                    chunk.put(row, prefix + key, value, top=not prefix)
    for field, child in zip(array.type, subfields, strict=True):
        nulls = child.null_count
        if nulls == n or pa_is_list(field.type):  # nothing there, or a child table (flattened on its own)
            continue
        path = prefix + field.name
        if pa_is_struct(field.type):
            inner = list(map(dict.get, objects, repeat(field.name), repeat(_NO_OBJECT)))
            try:
                inner_lengths = np.fromiter(map(len, inner), dtype="int64", count=n)
            except TypeError:  # a null object (recorded above)
                inner = [_NO_OBJECT if obj is None else obj for obj in inner]
                inner_lengths = np.fromiter(map(len, inner), dtype="int64", count=n)
            hollow = inner_lengths == 0
            if nulls:
                hollow &= child.is_valid().to_numpy(zero_copy_only=False)
            # arrow reads {} and [] alike as an object with no fields: tell them apart here.
            for row in np.flatnonzero(hollow).tolist():
                value = inner[row]
                if value.__class__ is not dict and value.__class__ is not list:
                    return False
                chunk.empty(row, path, {} if value.__class__ is dict else [])
            if not _census(chunk, inner, child, path + ".", set(), inner_lengths,
                           free=not prefix and path in FREE_FORM_PREFIXES):
                return False
        else:
            chunk.set_arrow(path, child)
            # A free-form value comes back as given: an integer stays an integer, a float a float.
            allowed = _FREE_CHECKED.get(str(field.type)) if free else _CHECKED_KINDS.get(chunk.declared.get(path, ""))
            if allowed is not None and not set(map(type, map(dict.get, objects, repeat(field.name)))) <= allowed:
                return False
    return True


def is_missing(value: Any) -> bool:
    """True for a cell pandas would call NA: None, pd.NA, NaT or a float NaN."""
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def plain_value(value: Any, kind: str | None) -> Any:
    """A cell value as JSON: timestamps to the API's text, JSON columns parsed, numpy scalars unwrapped."""
    if isinstance(value, datetime):
        return format_datetime(value.to_pydatetime(warn=False) if isinstance(value, pd.Timestamp) else value)
    if kind == "json" and isinstance(value, str):
        return json.loads(value)
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return value.item()
    return value


def set_path(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = target
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def _same_instant(cell: Any, text: str) -> bool:
    """Whether a timestamp cell still holds the instant of its original text (it was not edited)."""
    if not isinstance(cell, datetime):
        return False
    try:
        stamp = pd.Timestamp(text)
    except (TypeError, ValueError):
        return False
    return bool((stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp) == cell)


def _records(frame: pd.DataFrame, spec: TableSpec) -> list[dict[str, Any]]:
    bookkeeping = {spec.parent_key, "position", PARENT_ROW_COLUMN, EMPTY_VALUES_COLUMN}
    columns = [c for c in frame.columns if c not in bookkeeping]
    lists = {c: frame[c].tolist() for c in columns}
    empties = frame[EMPTY_VALUES_COLUMN].tolist() if EMPTY_VALUES_COLUMN in frame else [None] * len(frame)
    plans = [(c, ("id",) if c == spec.key else column_path(c), spec.paths.get(c)) for c in columns]
    out = []
    for index in range(len(frame)):
        record: dict[str, Any] = {}
        for column, path, kind in plans:
            value = lists[column][index]
            if not is_missing(value):
                set_path(record, path, plain_value(value, kind))
        raw = empties[index]
        if isinstance(raw, str):
            for column, value in json.loads(raw).items():
                # A text is a timestamp's original form: it wins only while the cell holds that instant.
                if isinstance(value, str) and not _same_instant(lists[column][index] if column in lists else None,
                                                                value):
                    continue
                set_path(record, column_path(column), value)
        out.append(record)
    return out
