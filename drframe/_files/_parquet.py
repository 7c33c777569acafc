"""Parquet exports streamed in bounded memory: pages flattened a chunk at a time as they arrive, files assembled
in listing order once every column is known.

A Parquet file has one schema, fixed before its first row group, but the columns of a flattened chunk depend on
its data (``metadata.<key>`` columns, payment-method columns, undeclared fields).  So the export runs in two
passes over a spill directory inside the target directory: each chunk of up to ``chunk_size`` customers of one
listing range is flattened with :func:`drframe.to_frames` and spilled; then each table's union schema is
settled (columns in :func:`drframe._tables._frames.column_order`, the frames' own order) and the chunks are written, in
listing order, as row groups of one ``<table>.parquet`` file each.  Memory holds the chunks being filled (one per
range being listed, with a cap on their sum) and one chunk being written, whatever the number of customers.
``Frames.to_parquet`` (:func:`write_frames`) goes through the same writer with its frames as the one chunk, so
both give the same files for the same customers.

Object columns (metadata values, JSON fields, undeclared fields) get one type for the whole export: text,
integer, boolean or number when every value in the export has that type (``drframe: object`` in the field's
metadata), otherwise JSON text (``drframe: json``); :func:`read_parquet` gives back the values themselves.
A column whose dtype differs between chunks (a declared field whose values do not fit its type in some chunks
only, which warns) is JSON text too, where the frames in memory may hold it as typed values.
"""

from __future__ import annotations

import json
import pickle
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._errors import ExportError
from .._memory import release_memory
from .._tables._frames import (
    CUSTOMERS,
    PARENT_ROW_COLUMN,
    SPECS,
    Frames,
    column_order,
    is_missing,
    plain_value,
    to_frames,
)
from ._atomic import written_whole

if TYPE_CHECKING:
    import pyarrow as pa


#: Field metadata marking a column stored as JSON text.
JSON_MARK = {b"drframe": b"json"}
#: Field metadata marking an object column stored with one Parquet type (read back as an object column).
OBJECT_MARK = {b"drframe": b"object"}
#: Most customers held in unfinished chunks at once; past it the largest chunk is written early.
BUFFER_LIMIT = 8_000
_OBJECT_TYPES: dict[frozenset[type], str] = {
    frozenset({str}): "string", frozenset({bool}): "bool", frozenset({int}): "int64",
    frozenset({float}): "double", frozenset({int, float}): "double",
}


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ExportError("Parquet needs pyarrow: pip install 'drframe[parquet]'") from None
    return pyarrow


@dataclass
class _Column:
    dtype: Any
    conflict: bool = False
    types: set[type] = field(default_factory=set)
    """The types of the values of an object column, over the whole export."""


@dataclass
class _Census:
    """What one table's columns hold over the whole export (every chunk noted)."""

    columns: dict[str, _Column] = field(default_factory=dict)

    def note(self, frame: pd.DataFrame) -> dict[str, set[type]]:
        """Note ``frame``'s columns; the types of each object column's values in ``frame``."""
        types: dict[str, set[type]] = {}
        for name in frame.columns:
            series = frame[name]
            column = self.columns.setdefault(name, _Column(series.dtype))
            if series.dtype != column.dtype:
                column.conflict = True
            if series.dtype == object:
                types[name] = {type(v) for v in series.tolist() if not is_missing(v)}
                column.types.update(types[name])
        return types


class _Spill:
    """Flattened chunks on disk, keyed by their place in the listing, and what their columns hold."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.chunks: list[tuple[Any, Path]] = []
        self.tables: dict[str, _Census] = {}

    def add(self, key: Any, frames: Frames) -> None:
        tables = frames.tables()
        chunk: dict[str, _Chunk] = {}
        for name, frame in tables.items():
            types = self.tables.setdefault(name, _Census()).note(frame)
            chunk[name] = _Chunk(len(frame), _converted(frame, types),
                                 pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL))
        path = self.directory / f"chunk-{len(self.chunks):06d}.pickle"
        with path.open("wb") as out:
            pickle.dump(chunk, out, protocol=pickle.HIGHEST_PROTOCOL)
        self.chunks.append((key, path))

    def frames(self) -> Iterator[dict[str, _Chunk]]:
        """The spilled chunks in listing order."""
        for _, path in sorted(self.chunks, key=lambda chunk: chunk[0]):
            with path.open("rb") as spilled:
                tables: dict[str, _Chunk] = pickle.load(spilled)  # our own spill file
            path.unlink()
            yield tables


@dataclass
class _Chunk:
    """One table's rows of one chunk, and its columns already converted to Arrow while the listing still ran
    (what is left after the last page is mostly writing): a typed column as arrow converts it, an object column
    stored as its own values' kind would be.  At the end a converted column is used where the settled layout
    stores it that way, and the rows are converted again otherwise (the frame is unpickled only then)."""

    rows: int
    converted: dict[str, tuple[str | None, pa.Array]]
    """Column -> (how it is stored: None for a typed column, else the kind of ``_Layout.stored``; its array)."""
    kept: pd.DataFrame | bytes
    """The frame, or its pickle."""

    def frame(self) -> pd.DataFrame:
        if isinstance(self.kept, bytes):
            self.kept = pickle.loads(self.kept)  # our own spill file
        assert isinstance(self.kept, pd.DataFrame)
        return self.kept


def _object_kind(types: set[type]) -> str:
    """How an object column whose values have ``types`` is stored (see the module)."""
    return _OBJECT_TYPES.get(frozenset(types)) or ("json" if types else "string")


def _converted(frame: pd.DataFrame, types: Mapping[str, set[type]]) -> dict[str, tuple[str | None, pa.Array]]:
    """``frame``'s columns in Arrow; an object column (``types``: its values' types) stored as they say."""
    arrow = _pyarrow()
    converted: dict[str, tuple[str | None, pa.Array]] = {}
    for name in frame.columns:
        series = frame[name]
        if series.dtype == object:
            kind = _object_kind(types[name])
            converted[name] = kind, arrow.array([_stored(v, kind) for v in series.tolist()], type=_arrow_type(kind))
        else:
            converted[name] = None, arrow.array(series, from_pandas=True)
    return converted


def _arrow_type(kind: str) -> pa.DataType:
    arrow = _pyarrow()
    return arrow.string() if kind == "json" else arrow.type_for_alias(kind)


class _Layout:
    """One table's settled columns: order, how each is stored, and the Parquet schema."""

    def __init__(self, name: str, table: _Census) -> None:
        self.name = name
        self.order = column_order(name, table.columns)
        self.columns = table.columns
        self.stored: dict[str, str] = {}  # object column -> arrow type name, or "json"
        for column_name, column in table.columns.items():
            if column.conflict:
                self.stored[column_name] = "json"
            elif column.dtype == object:
                self.stored[column_name] = _object_kind(column.types)
        self.schema: pa.Schema | None = None

    def arrow(self, chunk: _Chunk, rows_before: int = 0) -> pa.Table:
        """One chunk's rows as an arrow table of the settled schema; ``rows_before``: customers in earlier chunks
        (a child row's ``customer_row`` is its parent's row in the whole table)."""
        pa = _pyarrow()
        if self.schema is not None and chunk.converted:
            arrays = [self._column(chunk, arrow_field, rows_before) for arrow_field in self.schema]
            if all(array is not None for array in arrays):
                return pa.Table.from_arrays(arrays, schema=self.schema)
        frame = chunk.frame()
        n = len(frame)
        data: dict[str, Any] = {}
        for name in self.order:
            kind = self.stored.get(name)
            if kind is None:
                data[name] = frame[name].array if name in frame else pd.array([None] * n, dtype=self.columns[name].dtype)
                if name == PARENT_ROW_COLUMN and rows_before:
                    data[name] = data[name] + rows_before
            else:
                values = frame[name].tolist() if name in frame else [None] * n
                # A Series: pandas >= 3 would make an object array of texts a str column, per chunk.
                data[name] = pd.Series([_stored(v, kind) for v in values], dtype=object)
        conformed = pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)
        if self.schema is None:
            schema = pa.Schema.from_pandas(conformed, preserve_index=False)
            for name, kind in self.stored.items():
                index = schema.get_field_index(name)
                arrow_type = _arrow_type(kind)
                schema = schema.set(index, pa.field(name, arrow_type, metadata=JSON_MARK if kind == "json" else
                                                    OBJECT_MARK))
            self.schema = schema
        return pa.Table.from_pandas(conformed, schema=self.schema, preserve_index=False)

    def _column(self, chunk: _Chunk, arrow_field: pa.Field, rows_before: int) -> pa.Array | None:
        """A column of the chunk as converted while listing, if the layout stores it that way (else None)."""
        pa = _pyarrow()
        name = arrow_field.name
        if name not in chunk.converted:
            return pa.nulls(chunk.rows, arrow_field.type)
        stored, array = chunk.converted[name]
        if stored != self.stored.get(name) or array.type != arrow_field.type:
            return None
        if name == PARENT_ROW_COLUMN and rows_before:
            import pyarrow.compute as pc

            return pc.add(array, rows_before)
        return array


def _stored(value: Any, kind: str) -> Any:
    if is_missing(value):
        return None
    return json.dumps(value, ensure_ascii=False, default=_plain) if kind == "json" else value


def _plain(value: Any) -> Any:
    """What ``json.dumps`` cannot write as it is: a timestamp as the API's text, a numpy scalar unwrapped."""
    plain = plain_value(value, None)
    return str(plain) if plain is value else plain


def write_parquet_segments(directory: str | Path, segments: Iterable[tuple[Any, list[dict[str, Any]]]], *,
                           redact: bool = True) -> list[Path]:
    """Write the customers of ``segments`` (``(sort key, customers)``, in any order, as
    :func:`drframe._fetch.to_parquet` gives them from a listing) into ``directory``: one ``<table>.parquet`` per
    table, rows in key order.  Memory is bounded (see the module); files appear only once complete (written under
    a temporary name, then renamed)."""

    _pyarrow()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".drframe-spill-") as tmp:
        spill = _Spill(Path(tmp))
        for key, customers in segments:
            spill.add(key, to_frames(customers, redact=redact))
            release_memory()
        if not spill.chunks:
            spill.add(((), 0), to_frames([], redact=redact))
        return _write(directory, spill.tables, spill.frames())


def write_frames(directory: str | Path, frames: Frames) -> list[Path]:
    """``Frames.to_parquet``: the files :func:`write_parquet_segments` writes for the same customers (same schema,
    columns and values), ``frames`` being the one chunk."""
    _pyarrow()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tables = frames.tables()
    census = {name: _Census() for name in tables}
    for name, frame in tables.items():
        census[name].note(frame)
    return _write(directory, census, [{name: _Chunk(len(frame), {}, frame) for name, frame in tables.items()}])


def _write(directory: Path, census: Mapping[str, _Census], chunks: Iterable[dict[str, _Chunk]]) -> list[Path]:
    """Write ``chunks`` (each the four tables of consecutive customers, in order) as row groups of one
    ``<table>.parquet`` per table, with the types ``census`` settled over all of them."""
    import pyarrow.parquet as pq

    layouts = {name: _Layout(name, table) for name, table in census.items()}
    targets = [directory / f"{name}.parquet" for name in layouts]
    writers: dict[str, Any] = {}
    rows_before = 0  # customers written so far: child rows point at their parent's row in the whole table
    with written_whole(targets) as partials:
        partial_of = dict(zip(layouts, partials, strict=True))
        try:
            for tables in chunks:
                for name, chunk in tables.items():
                    table = layouts[name].arrow(chunk, rows_before)
                    if name not in writers:
                        writers[name] = pq.ParquetWriter(partial_of[name], table.schema)
                    if table.num_rows:
                        writers[name].write_table(table)
                rows_before += tables[CUSTOMERS.name].rows
        finally:
            for writer in writers.values():
                writer.close()
    return targets


def read_parquet(directory: str | Path) -> Frames:
    """The :class:`Frames` of a Parquet export (``drframe export --format parquet``, ``Frames.to_parquet``, a
    ``drframe sync`` mirror): JSON-text columns (metadata whose values mix types) give back their values, other
    object columns their values as stored."""
    pq = _pyarrow().parquet
    directory = Path(directory)
    tables: dict[str, pd.DataFrame] = {}
    for name in SPECS:
        table = pq.read_table(directory / f"{name}.parquet")
        frame = table.to_pandas()
        for arrow_field in table.schema:
            mark = (arrow_field.metadata or {}).get(b"drframe")
            if mark == b"json":
                frame[arrow_field.name] = pd.array(
                    [json.loads(v) if isinstance(v, str) else None for v in frame[arrow_field.name].tolist()],
                    dtype=object)
            elif mark == b"object":
                frame[arrow_field.name] = pd.array(table.column(arrow_field.name).to_pylist(), dtype=object)
        tables[name] = frame
    return Frames(**tables)


def row_counts(paths: Iterable[Path]) -> dict[Path, int]:
    """Rows in each Parquet file (from its footer; nothing is read)."""
    pq = _pyarrow().parquet
    return {Path(path): int(pq.ParquetFile(path).metadata.num_rows) for path in paths}
