"""The pyarrow fast path: :func:`_add_arrow` lets ``pa.array`` with the declared struct type convert a chunk's
leaves in C, and :func:`_census` checks each object level against it (keys per object against the non-null
fields arrow found) so only the rows arrow cannot represent exactly -- a ``null`` versus an absent key, ``{}``
versus ``[]``, unknown keys -- are walked in Python.  A chunk it cannot hold exactly is left to :mod:`._walk`.
"""

from __future__ import annotations

from functools import cache
from itertools import chain, compress, repeat
from operator import not_
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._core._models import PAYMENT_TYPES
from ..._core._schema import FREE_FORM_PREFIXES
from ._dtypes import _ARROW_STRINGS, _CHECKED_KINDS, _FREE_CHECKED, _FREE_TYPES, _POOL
from ._specs import _NESTED, _NESTED_FIELDS, _PARENT, CUSTOMERS, SOURCES, SPECS, TableSpec
from ._walk import _JUST_DICT, _LIST_OR_NONE, _NO_OBJECT, _ONLY_NONE, _Chunk, _has_key

if TYPE_CHECKING:
    from ._build import _Table
if _ARROW_STRINGS:
    from pyarrow.types import is_list as pa_is_list
    from pyarrow.types import is_struct as pa_is_struct

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
    if spec is SOURCES:  # a payment object with no declared field (customerCredit's {}) is still an object
        for payment_type in PAYMENT_TYPES:
            tree.setdefault(payment_type, {})

    def field(name: str, node: Any) -> Any:
        return pa.field(name, pa.struct([field(k, v) for k, v in node.items()]) if isinstance(node, dict) else node)

    return {name: field(name, node) for name, node in tree.items()}



def _add_arrow(records: list[dict[str, Any]], tables: dict[str, _Table]) -> bool:
    """Flatten one chunk of customers with arrow doing the struct work; False (and nothing added) when the
    chunk holds something only the Python walk keeps exactly (a value of the wrong JSON type, ``[]`` for a
    text...).

    ``pa.array`` with the declared type (a child table's pruned to the fields its items have; metadata, the
    customer's and each source's, typed by each key's first value) converts every leaf.  What it cannot tell
    apart -- a key set to ``null`` from an absent one, an unknown key, ``{}`` from ``[]`` -- shows in
    :func:`_census`; only the rows where it does are walked in Python, and undeclared top-level keys are
    flattened column by column.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(records)
    chunk = _Chunk(n, CUSTOMERS.paths)
    # Every declared top-level field (a dozen): one the chunk lacks costs arrow less than finding the chunk's
    # keys would.  Undeclared keys are looked for only when the key counts say there may be some.
    fields = [field for key, field in _arrow_fields(CUSTOMERS.name).items() if key not in _NESTED_FIELDS]
    typed = list(fields)  # the same without free-form objects, for when one does not fit its first values' types
    children: list[tuple[str, TableSpec, list[dict[str, Any]], set[str]]] = []
    for field_name, spec in _NESTED:
        lists = list(map(dict.get, records, repeat(field_name)))
        kinds = set(map(type, lists))
        if kinds == _ONLY_NONE:  # absent (or null: an undeclared key below)
            continue
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
        item_fields = [child_declared[key] for key in child_keys if key in child_declared]
        item_free = [field for field in map(_free_field, repeat(items), FREE_FORM_PREFIXES & child_keys) if field]
        fields.append(pa.field(field_name, pa.list_(pa.struct(item_fields + item_free))))
        typed.append(pa.field(field_name, pa.list_(pa.struct(item_fields))))
        children.append((field_name, spec, items, child_keys))
    fields += [field for field in map(_free_field, repeat(records), FREE_FORM_PREFIXES) if field is not None]
    try:
        array = pa.array(records, type=pa.struct(fields), memory_pool=_POOL)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        try:  # a free-form value that does not fit the type of the key's first value: free-form in Python
            array = pa.array(records, type=pa.struct(typed), memory_pool=_POOL)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            return False
    extra: set[str] = set()
    if sum(map(dict.__len__, records)) != sum(n - child.null_count for child in array.flatten(_POOL)):
        extra = set().union(*records) - set(array.type.names)  # undeclared keys (or only nulls: none)
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
            rows: Any = None, *, free: bool = False) -> bool:
    """Check one object level against arrow's struct array for it; take its leaves as columns and record its
    nulls, unknown keys, ``{}`` and ``[]``.

    ``array`` spans every row of the chunk; ``objects`` are the level's objects at ``rows`` only (every row when
    None): the rows where arrow found one, so an absent object costs nothing here.  ``extra`` names keys
    flattened separately (free-form, undeclared at the top); False means "not exactly representable this way"
    (a bool or 2.5 where an integer is declared, a list of pairs where an object is...).
    """
    m, n = len(objects), len(array)
    subfields = array.flatten(_POOL)  # each child with its parent's nulls merged in
    try:
        lengths = list(map(dict.__len__, objects))
    except TypeError:  # arrow reads [] (and a list of pairs) as an object too
        if not _lists_as_absent(chunk, objects, prefix[:-1], rows):
            return False
        lengths = list(map(len, objects))
    if prefix and 0 in lengths:  # {} where an object is: arrow cannot tell it from []
        hollow = [at for at in compress(range(m), map(not_, lengths)) if objects[at] is not _NO_OBJECT]
        if hollow:
            chunk.empty_rows(hollow if rows is None else rows[hollow], prefix[:-1], {})
    # A field is non-null only where its key is, so equal totals mean equal counts on every row: the usual
    # case, settled without a pass per row.
    found = sum(n - child.null_count for child in subfields)
    if sum(lengths) != found + sum(sum(map(_has_key, objects, repeat(key))) for key in extra):
        _mismatches(chunk, objects, array, subfields, prefix, extra, rows, lengths)
    for field, child in zip(array.type, subfields, strict=True):
        nulls = child.null_count
        if nulls == n or pa_is_list(field.type):  # nothing there, or a child table (flattened on its own)
            continue
        path = prefix + field.name
        if pa_is_struct(field.type):
            inner: list[Any]
            if nulls == n - m:  # wherever this level has an object, it has this one
                inner_rows, inner = rows, list(map(dict.get, objects, repeat(field.name)))
            else:
                inner_rows = np.flatnonzero(child.is_valid().to_numpy(zero_copy_only=False))
                within = inner_rows if rows is None else np.searchsorted(rows, inner_rows)
                inner = list(map(dict.get, map(objects.__getitem__, within.tolist()), repeat(field.name)))
            if not _census(chunk, inner, child, path + ".", set(), inner_rows,
                           free=not prefix and path in FREE_FORM_PREFIXES):
                return False
        else:
            chunk.set_arrow(path, child)
            # A free-form value comes back as given: an integer stays an integer, a float a float.
            allowed = _FREE_CHECKED.get(str(field.type)) if free else _CHECKED_KINDS.get(chunk.declared.get(path, ""))
            if allowed is not None and not set(map(type, map(dict.get, objects, repeat(field.name)))) <= allowed:
                return False
    return True


def _lists_as_absent(chunk: _Chunk, objects: list[Any], path: str, rows: Any) -> bool:
    """Record each ``[]`` of a level as such and leave it out of the level (``_NO_OBJECT``); False for a list
    that is not empty (a list of pairs, which arrow reads as an object: the Python walk keeps it)."""
    for at, value in enumerate(objects):
        if value.__class__ is not dict:
            if value.__class__ is not list or value:
                return False
            chunk.empty(at if rows is None else int(rows[at]), path, [])
            objects[at] = _NO_OBJECT
    return True


def _mismatches(chunk: _Chunk, objects: list[dict[str, Any]], array: Any, subfields: list[Any], prefix: str,
                extra: set[str], rows: Any, lengths: list[int]) -> None:
    """The rows of a level with more keys than arrow found values: record their nulls, walk their unknown keys."""
    m = len(objects)
    counts = np.zeros(m, dtype="int64")
    for child in subfields:
        if child.null_count < len(child):
            valid = child.is_valid().to_numpy(zero_copy_only=False)
            counts += valid if rows is None else valid[rows]
    for key in extra:
        counts += np.fromiter(map(_has_key, objects, repeat(key)), dtype=bool, count=m)
    names = set(array.type.names)
    for at in np.flatnonzero(np.array(lengths) != counts).tolist():
        row = at if rows is None else int(rows[at])
        for key, value in objects[at].items():
            if key in names:
                if value is None:
                    chunk.empty(row, prefix + key, None)
            elif key not in extra:
                chunk.put(row, prefix + key, value, top=not prefix)
