"""The pure-Python flattener: :class:`_Chunk` (up to ``_CHUNK`` rows of one table, flattened column by column
with a census of value types, falling back to a row-by-row step for nulls, empties and mixed types) and
:func:`_add_records`, which flattens one chunk of customers into the four tables for any input.  The arrow
path (:mod:`._arrow`) reuses :class:`_Chunk` for what arrow cannot tell apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import compress, repeat
from operator import is_
from typing import TYPE_CHECKING, Any

from ..._core._schema import FREE_FORM_PREFIXES
from ._dtypes import _NONE
from ._specs import _NESTED, _NESTED_FIELDS, _PARENT, CUSTOMERS

if TYPE_CHECKING:
    from ._build import _Table

_NO_SKIP: frozenset[str] = frozenset()
_ABSENT: Any = object()  # dict.get's default where "absent" and "null" must be told apart
_NO_OBJECT: dict[str, Any] = {}  # stands in for an absent or null nested object, so a level stays row-aligned
_DICT_OR_NONE = frozenset({dict, _NONE})
_JUST_DICT = frozenset({dict})
_ONLY_NONE = frozenset({_NONE})
_LIST_OR_NONE = frozenset({list, _NONE})
_has_key = dict.__contains__


def _sparse(objects: list[dict[str, Any]], keys: set[str]) -> bool:
    """Many keys, each in few rows (free-form metadata): a walk over the items beats one pass per key."""
    # A row-by-row step costs about ten C-level passes over one value.
    return len(keys) > 8 and len(keys) * len(objects) > 12 * sum(map(len, objects))


class _Chunk:
    """Up to ``_CHUNK`` rows of one table, flattened column by column.

    ``columns`` maps a path to its values (``None`` where the row has none), ``kinds`` to the set of value types
    seen, ``empties`` a row to the ``path -> value`` pairs a typed cell cannot hold, and ``many_empties`` holds
    ``(path, rows, value)`` for one such value at many rows (the vendor's empty payment objects).
    """

    __slots__ = ("columns", "declared", "empties", "kinds", "many_empties", "n")

    def __init__(self, n: int, declared: Mapping[str, str]) -> None:
        self.n = n
        self.declared = declared
        #: path -> a list of values (None where the row has none), or an arrow array on the arrow path
        self.columns: dict[str, Any] = {}
        self.kinds: dict[str, set[type]] = {}
        self.empties: dict[int, dict[str, Any]] = {}
        self.many_empties: list[tuple[str, Any, Any]] = []

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

    def empty_rows(self, rows: Any, path: str, value: Any) -> None:
        """:meth:`empty` of one value at many rows (a list or numpy array of them), at once."""
        self.many_empties.append((path, rows, value))

    def as_list(self, path: str) -> list[Any]:
        """An arrow-built column as a list, for the rare path that is reached both ways (a key with a dot in it)."""
        column: list[Any] = self.columns[path].to_pylist()
        self.columns[path] = column
        self.kinds[path] = set(map(type, column))
        return column



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
