"""Typed columns: building each declared dtype (``string``, ``boolean``, ``Int64``, ``Float64``, UTC datetimes,
``json`` objects) from a list of values or an arrow array, the warning and object fallback when values do not
fit, the canonical timestamp text and the JSON text helpers of the ``_empty_values`` bookkeeping.  It also
decides once whether the arrow fast path is available (``_ARROW_STRINGS``) and which memory pool it uses.
"""

from __future__ import annotations

import json
import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..._errors import UnknownFieldWarning
from ..._memory import release_memory

_DTYPES = {"string": "string", "boolean": "boolean", "Int64": "Int64", "Float64": "Float64"}
_DATETIME_DTYPE = pd.DatetimeTZDtype("ns", "UTC")
#: pandas' own text dtype (NaN for missing), which pandas >= 3 infers for an object column of strings.
try:
    _TEXT_DTYPE: Any = pd.StringDtype(na_value=np.nan)
except TypeError:  # pandas 2: no such dtype, and object columns stay object
    _TEXT_DTYPE = None


_NONE: type = type(None)
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
    if not value and (value.__class__ is dict or value.__class__ is list):  # an empty payment sub-object, often
        return "{}" if value.__class__ is dict else "[]"
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

    ArrowError = _pa.ArrowException
    _FREE_TYPES = {str: _pa.large_string, bool: _pa.bool_, int: _pa.int64, float: _pa.float64}
    # Buffers that end up in the frames come from the C allocator: pyarrow's default pool (mimalloc) keeps
    # about 40% more resident for the many chunk-sized buffers a flatten leaves behind.  Short-lived results
    # (casts, bookkeeping steps) stay in the default pool, which reuses its pages without new page faults.
    _POOL = _pa.system_memory_pool()
else:
    ArrowError = TypeError


def release_buffers() -> None:
    """Give back the memory that building a table let go (casts, datetime parsing, the ``_empty_values`` texts):
    pyarrow's default pool keeps freed pages, and so does the C allocator.  Between tables it keeps a flatten's
    peak near what its frames hold (dense customers, 50,000: 284 -> 244 MiB) at a few milliseconds."""
    if _ARROW_STRINGS:
        _pa.default_memory_pool().release_unused()
    release_memory()

