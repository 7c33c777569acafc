"""Parquet exports streamed in bounded memory: pages flattened a chunk at a time as they arrive, files assembled
in listing order once every column is known.

A Parquet file has one schema, fixed before its first row group, but the columns of a flattened chunk depend on
its data (``metadata.<key>`` columns, payment-method columns, undeclared fields).  So the export runs in two
passes over a spill directory inside the target directory: each chunk of up to ``chunk_size`` customers of one
listing range is flattened with :func:`drframe.to_frames` and spilled; then each table's union schema is
settled (columns in the order :func:`drframe.to_frames` gives them) and the chunks are written, in listing
order, as row groups of one ``<table>.parquet`` file each, the same files ``Frames.to_parquet`` writes.  Memory
holds the chunks being filled (one per range being listed, with a cap on their sum) and one chunk being written,
whatever the number of customers.

Object columns (metadata values, JSON fields, undeclared fields) get one type for the whole export: text,
integer, boolean or number when every value in the export has that type, otherwise JSON text, marked in the
field's metadata (``drframe: json``) so that :func:`read_parquet` gives back the values themselves.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._errors import ExportError
from ._frames import CUSTOMERS, EMPTY_VALUES_COLUMN, PARENT_ROW_COLUMN, SPECS, Frames, column_path, to_frames
from ._listing import release_memory
from ._schema import FREE_FORM_PREFIXES

if TYPE_CHECKING:
    import pyarrow as pa

    from ._listing import RangeKey

#: Field metadata marking a column stored as JSON text.
JSON_MARK = {b"drframe": b"json"}
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


@cache
def _lead_columns(table: str) -> tuple[str, ...]:
    """The columns :func:`drframe.to_frames` puts before the declared paths (keys, parent, position...)."""
    empty = to_frames([]).tables()[table]
    return tuple(c for c in empty.columns if c not in SPECS[table].paths and c != EMPTY_VALUES_COLUMN)


def column_order(table: str, columns: Iterable[str]) -> list[str]:
    """``columns`` of ``table`` in the order :func:`drframe.to_frames` gives them: keys, declared paths, free-form
    (``metadata.*``) then undeclared paths alphabetically, then ``_empty_values``."""
    lead = _lead_columns(table)
    declared = {path: index for index, path in enumerate(SPECS[table].paths)}

    def rank(column: str) -> tuple[int, int, str]:
        if column in lead:
            return 0, lead.index(column), ""
        if column == EMPTY_VALUES_COLUMN:
            return 4, 0, ""
        if column in declared:
            return 1, declared[column], ""
        return (2 if column_path(column)[0] in FREE_FORM_PREFIXES else 3), 0, column

    return sorted(columns, key=rank)


@dataclass
class _Column:
    dtype: Any
    conflict: bool = False
    types: set[type] = field(default_factory=set)
    """The types of the values of an object column, over the whole export."""


@dataclass
class _Table:
    columns: dict[str, _Column] = field(default_factory=dict)

    def note(self, frame: pd.DataFrame) -> None:
        for name in frame.columns:
            series = frame[name]
            column = self.columns.setdefault(name, _Column(series.dtype))
            if series.dtype != column.dtype:
                column.conflict = True
            if series.dtype == object:
                column.types.update(type(v) for v in series.tolist() if _stored(v, "") is not None)


class _Spill:
    """Flattened chunks on disk, keyed by their place in the listing, and what their columns hold."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.chunks: list[tuple[tuple[RangeKey, int], Path]] = []
        self.tables: dict[str, _Table] = {}

    def add(self, key: tuple[RangeKey, int], frames: Frames) -> None:
        tables = frames.tables()
        for name, frame in tables.items():
            self.tables.setdefault(name, _Table()).note(frame)
        path = self.directory / f"chunk-{len(self.chunks):06d}.pickle"
        with path.open("wb") as out:
            pickle.dump(tables, out, protocol=pickle.HIGHEST_PROTOCOL)
        self.chunks.append((key, path))

    def frames(self) -> Iterator[dict[str, pd.DataFrame]]:
        """The spilled chunks in listing order."""
        for _, path in sorted(self.chunks, key=lambda chunk: chunk[0]):
            with path.open("rb") as spilled:
                tables: dict[str, pd.DataFrame] = pickle.load(spilled)  # our own spill file
            path.unlink()
            yield tables


class _Layout:
    """One table's settled columns: order, how each is stored, and the Parquet schema."""

    def __init__(self, name: str, table: _Table) -> None:
        self.name = name
        self.order = column_order(name, table.columns)
        self.columns = table.columns
        self.stored: dict[str, str] = {}  # object column -> arrow type name, or "json"
        for column_name, column in table.columns.items():
            if column.conflict or column.dtype == object:
                kind = None if column.conflict else _OBJECT_TYPES.get(frozenset(column.types))
                self.stored[column_name] = kind or ("json" if column.types or column.conflict else "string")
        self.schema: pa.Schema | None = None

    def arrow(self, frame: pd.DataFrame) -> pa.Table:
        pa = _pyarrow()
        n = len(frame)
        data: dict[str, Any] = {}
        for name in self.order:
            kind = self.stored.get(name)
            if kind is None:
                data[name] = frame[name].array if name in frame else pd.array([None] * n, dtype=self.columns[name].dtype)
            else:
                values = frame[name].tolist() if name in frame else [None] * n
                data[name] = pd.array([_stored(v, kind) for v in values], dtype=object)
        conformed = pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)
        if self.schema is None:
            schema = pa.Schema.from_pandas(conformed, preserve_index=False)
            for name, kind in self.stored.items():
                index = schema.get_field_index(name)
                arrow_type = pa.string() if kind == "json" else pa.type_for_alias(kind)
                schema = schema.set(index, pa.field(name, arrow_type, metadata=JSON_MARK if kind == "json" else None))
            self.schema = schema
        return pa.Table.from_pandas(conformed, schema=self.schema, preserve_index=False)


def _stored(value: Any, kind: str) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):  # NaN: a text column's NA
        return None
    return json.dumps(value, ensure_ascii=False, default=str) if kind == "json" else value


def write_parquet_stream(directory: str | Path,
                         pages: Iterable[tuple[RangeKey, int, list[dict[str, Any]] | None]], *,
                         redact: bool = True, progress: bool = False, chunk_size: int = 2000) -> list[Path]:
    """Write the customers of ``pages`` (``(range key, page number, customers)``, None once a range is complete,
    as :meth:`drframe._listing.Listing.pages_as_fetched` gives them) into ``directory``: one
    ``<table>.parquet`` per table, rows in listing order.  Memory is bounded (see the module); files appear only
    once complete (written under a temporary name, then renamed)."""
    from tqdm.auto import tqdm

    _pyarrow()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".drframe-spill-") as tmp:
        spill = _Spill(Path(tmp))
        buffers: dict[RangeKey, tuple[int, list[dict[str, Any]]]] = {}
        held = 0

        def flush(key: RangeKey) -> None:
            nonlocal held
            first, customers = buffers.pop(key)
            held -= len(customers)
            spill.add((key, first), to_frames(customers, redact=redact))
            release_memory()

        with tqdm(unit=" customers", desc="exporting customers", disable=not progress) as bar:
            for key, number, customers in pages:
                if customers is None:
                    if key in buffers:
                        flush(key)
                    continue
                buffers.setdefault(key, (number, []))[1].extend(customers)
                held += len(customers)
                bar.update(len(customers))
                if len(buffers[key][1]) >= chunk_size:
                    flush(key)
                elif held > BUFFER_LIMIT:
                    flush(max(buffers, key=lambda k: len(buffers[k][1])))
            for key in list(buffers):
                flush(key)
            if not spill.chunks:
                spill.add(((), 0), to_frames([], redact=redact))
            return _assemble(directory, spill)


def _assemble(directory: Path, spill: _Spill) -> list[Path]:
    import pyarrow.parquet as pq

    layouts = {name: _Layout(name, table) for name, table in spill.tables.items()}
    targets = {name: directory / f"{name}.parquet" for name in layouts}
    writers: dict[str, Any] = {}
    rows_before = 0  # customers written so far: child rows point at their parent's row in the whole table
    try:
        for tables in spill.frames():
            for name, frame in tables.items():
                if rows_before and PARENT_ROW_COLUMN in frame:
                    frame[PARENT_ROW_COLUMN] += rows_before
                table = layouts[name].arrow(frame)
                if name not in writers:
                    writers[name] = pq.ParquetWriter(f"{targets[name]}.partial", table.schema)
                if table.num_rows:
                    writers[name].write_table(table)
            rows_before += len(tables[CUSTOMERS.name])
    finally:
        for writer in writers.values():
            writer.close()
    for target in targets.values():
        os.replace(f"{target}.partial", target)
    return list(targets.values())


def read_parquet(directory: str | Path) -> Frames:
    """The :class:`Frames` of a Parquet export (``drframe export --format parquet``, ``Frames.to_parquet``):
    JSON-text columns (see the module) give back their values."""
    pq = _pyarrow().parquet
    directory = Path(directory)
    tables: dict[str, pd.DataFrame] = {}
    for name in SPECS:
        table = pq.read_table(directory / f"{name}.parquet")
        frame = table.to_pandas()
        for arrow_field in table.schema:
            if (arrow_field.metadata or {}).get(b"drframe") == b"json":
                frame[arrow_field.name] = pd.array(
                    [json.loads(v) if isinstance(v, str) else None for v in frame[arrow_field.name].tolist()],
                    dtype=object)
        tables[name] = frame
    return Frames(**tables)



def row_counts(paths: Iterable[Path]) -> dict[Path, int]:
    """Rows in each Parquet file (from its footer; nothing is read)."""
    pq = _pyarrow().parquet
    return {Path(path): int(pq.ParquetFile(path).metadata.num_rows) for path in paths}
