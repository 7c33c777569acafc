"""CSV text built by Arrow's string kernels, byte for byte what ``DataFrame.to_csv`` writes for
:func:`drframe._files._export.write_csv_parts` (RFC 4180 quoting, CRLF row ends), in a fraction of its time: text
columns are quoted and joined a column at a time; whole numbers, booleans, the export's datetimes and object
columns of texts, numbers and booleans are written by Arrow as pandas writes them; floats (and datetimes in
another format) keep pandas' own formatting (one column at a time, where no field can hold a separator)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._export import _CSV_DATE_FORMAT  # the export's datetime format, which Arrow writes itself

#: Object-column values written as their ``str()`` (exact types: a numpy scalar or a subclass goes to pandas).
_PLAIN_NUMBERS = frozenset({int, float, bool})
#: What makes a field quoted under ``csv.QUOTE_MINIMAL`` with ``,``, ``"`` and CRLF row ends.
_QUOTED = '[,"\r\n]'


def csv_bytes(data: pd.DataFrame, *, header: bool, date_format: str) -> memoryview | bytes | None:
    """``data.to_csv(index=False, header=header, date_format=date_format, lineterminator="\\r\\n",
    quoting=csv.QUOTE_MINIMAL)`` encoded as UTF-8; None where this shortcut does not apply (one column, whose
    empty fields pandas quotes; an object column holding values other than texts, numbers and booleans), for the
    caller to write with pandas."""
    if len(data.columns) < 2:
        return None
    fields: list[pa.Array] = []
    try:
        for column in data.columns:
            field = _fields(data[column], date_format)
            if field is None:
                return None
            fields.append(field)
    except (pa.ArrowException, UnicodeEncodeError):  # a lone surrogate: pandas' path names the rows
        return None
    head = csv_header(data.columns) if header else b""
    if not len(data):
        return head
    pieces = csv_rows(fields)
    rows = pieces[0] if len(pieces) == 1 else b"".join(pieces)
    return head + bytes(rows) if head else rows


def csv_header(columns: Iterable[object]) -> bytes:
    """The header line of ``columns``, as pandas writes it."""
    return (",".join(_quoted(str(c)) for c in columns) + "\r\n").encode()


def csv_rows(fields: Sequence[pa.Array | pa.ChunkedArray]) -> list[memoryview]:
    """The rows of columns' CSV fields (:func:`_fields`, or the rows of consecutive columns already joined), one
    piece per chunk: one for arrays, which makes a table of one row or more."""
    lines = joined_fields(fields, row_end=True)
    return [text_bytes(chunk) for chunk in (lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines])]


def joined_fields(fields: Sequence[pa.Array | pa.ChunkedArray], *, row_end: bool) -> pa.Array | pa.ChunkedArray:
    """Consecutive columns' fields joined with ``,``; with ``row_end``, they are a row's last: CRLF after them."""
    joined = pc.binary_join_element_wise(*fields, ",")
    return pc.binary_join_element_wise(joined, "\r\n", "") if row_end else joined


def text_bytes(lines: pa.Array) -> memoryview:
    """The bytes of a string array's values, one after another."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:lines.offset + len(lines) + 1]
    return memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]]


def _fields(series: pd.Series, date_format: str) -> pa.Array | None:
    """A column's CSV fields (``""`` where missing), or None for an object column holding other values than texts,
    numbers and booleans."""
    dtype = series.dtype
    if pd.api.types.is_object_dtype(dtype):
        # Texts, numbers and booleans (metadata values): each as pandas writes an object column's value, its str()
        # (repr for a float: 1.0, 1e+16, -0.0), and missing ones empty; anything else is left to pandas.
        texts_of: list[str | None] = []
        for v in series.tolist():
            if v is None or v is pd.NA or (isinstance(v, float) and v != v):
                texts_of.append(None)
            elif isinstance(v, str):
                texts_of.append(v)
            elif type(v) in _PLAIN_NUMBERS:
                texts_of.append(str(v))
            else:
                return None
        texts = pa.array(texts_of, type=pa.string())
    elif pd.api.types.is_string_dtype(dtype):
        texts = pa.array(series, type=pa.string(), from_pandas=True)
    elif pd.api.types.is_integer_dtype(dtype):  # whole numbers: their digits, as pandas writes them, in Arrow
        return pc.fill_null(pc.cast(pa.array(series, from_pandas=True), pa.string()), "")
    elif pd.api.types.is_bool_dtype(dtype):  # True / False, as pandas writes them
        return pc.fill_null(pc.if_else(pa.array(series, from_pandas=True), "True", "False"), "")
    elif date_format == _CSV_DATE_FORMAT and isinstance(dtype, np.dtype) and dtype.kind == "M":
        # naive datetimes (UTC) with microseconds and a Z, as strftime writes them: %f is the microseconds of
        # the instant floored (a nanosecond before 1970 is 23:59:59.999999), %S two digits
        stamps = pc.floor_temporal(pa.array(series, from_pandas=True), unit="microsecond").cast(pa.timestamp("us"))
        return pc.fill_null(pc.binary_join_element_wise(pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%S"), "Z", ""), "")
    else:  # numbers: pandas' text for them, which never needs quoting
        written = series.to_frame().to_csv(index=False, header=False, date_format=date_format, lineterminator="\n",
                                           quoting=csv.QUOTE_MINIMAL)
        lines = written.split("\n")[:-1]
        if len(lines) != len(series):
            return None
        return pa.array(["" if line == '""' else line for line in lines], type=pa.string())  # one-field rows
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    needs = pc.match_substring_regex(texts, _QUOTED)
    if pc.any(needs).as_py():
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(texts, '"', '""'), '"', "")
        texts = pc.if_else(needs, quoted, texts)
    return pc.fill_null(texts, "")


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\r\n') else text
