"""Flatten customer responses into typed pandas tables, and back.

Column names are JSON paths (``shipping.address.postalCode``), so habits from ``pd.json_normalize`` carry over;
:func:`column_path` maps a column back to its path, which drives the reverse.  Dtypes are declared in
``_schema`` and never inferred.  What a NA cannot say (an explicit ``null``, an empty ``{}`` or ``[]``) is kept
per row in the ``_empty_values`` column as JSON, so the round trip is exact.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
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
_DTYPES = {"string": "string", "boolean": "boolean", "Int64": "Int64", "Float64": "Float64"}
_DATETIME_DTYPE = pd.DatetimeTZDtype("ns", "UTC")


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
_CUSTOMER_SKIP = _NESTED_FIELDS | {"id"}
_KEY_SKIP = frozenset({"id"})
_NO_SKIP: frozenset[str] = frozenset()


def column_path(column: str) -> tuple[str, ...]:
    """The JSON path of a column: ``metadata.a.b`` is key ``a.b`` of metadata; other dots nest."""
    for prefix in FREE_FORM_PREFIXES:
        if column.startswith(prefix + "."):
            return (prefix, column[len(prefix) + 1:])
    return tuple(column.split("."))


class _Node(dict[str, Any]):
    """One level of a table's column tree: key -> column list (a leaf) or a child _Node (a nested object).

    Walking records against this tree finds each leaf's column without building path strings, which is most
    of what makes flattening fast.
    """

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix


class _Table:
    """Accumulates one table column by column (lists padded with None), then builds the typed DataFrame."""

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self.rows = 0
        self.keys: list[Any] = []
        self.parents: list[Any] = []
        self.positions: list[int] = []
        self.tree = _Node("")
        self.columns: dict[str, list[Any]] = {}
        self.empties: list[str | None] = []

    def add(self, record: Mapping[str, Any], key: Any, parent: Any, position: int, skip: frozenset[str]) -> None:
        empties: dict[str, Any] = {}
        _walk(record, self.tree, self.rows, empties, self.columns, self.spec.paths, skip)
        self.keys.append(key)
        self.parents.append(parent)
        self.positions.append(position)
        self.empties.append(json.dumps(empties, ensure_ascii=False) if empties else None)
        self.rows += 1

    def _take(self, path: str) -> list[Any]:
        values = self.columns.pop(path)
        if len(values) < self.rows:
            values.extend([None] * (self.rows - len(values)))
        return values

    def frame(self) -> pd.DataFrame:
        spec = self.spec
        n = self.rows
        # The tree holds the column lists too: drop it so each list is freed as soon as its array is built.
        self.tree = _Node("")
        data: dict[str, Any] = {}
        if spec.key:
            data[spec.key] = _strings(self.keys)
        if spec.parent_key:
            data[spec.parent_key] = _strings(self.parents)
            data["position"] = pd.array(self.positions, dtype="Int64")
        seen = set(self.columns)
        free = sorted(p for p in seen if p not in spec.paths and column_path(p)[0] in FREE_FORM_PREFIXES)
        unknown = sorted(p for p in seen if p not in spec.paths and p not in free)
        # Declared columns exist whatever the data holds, so every table has a stable shape.
        for path, kind in spec.paths.items():
            if path in seen:
                data[path] = _typed(self._take(path), kind, f"{spec.name}.{path}")
            elif spec.always(path):
                data[path] = _all_missing(kind, n)
        for path in free:
            data[path] = pd.array(self._take(path), dtype=object)
        if unknown:
            warnings.warn(
                f"{spec.name}: undeclared fields kept as object columns: {', '.join(unknown[:10])}"
                + (" ..." if len(unknown) > 10 else ""),
                UnknownFieldWarning,
                stacklevel=3,
            )
            for path in unknown:
                data[path] = pd.array(self._take(path), dtype=object)
        data[EMPTY_VALUES_COLUMN] = _strings(self.empties)
        return pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)


def _walk(obj: Mapping[str, Any], node: _Node, row: int, empties: dict[str, Any], columns: dict[str, list[Any]],
          declared: Mapping[str, str], skip: frozenset[str] = frozenset()) -> None:
    # The hot loop of to_frames (millions of leaves): scalars first, and a column that already holds every
    # earlier row takes the value with a single append.  ``skip`` (top level only) names the non-empty child
    # lists the caller tables; an empty or null one is recorded in ``empties`` like any other.
    get = node.get
    for key, value in obj.items():
        if skip and value and key in skip:
            continue
        cls = value.__class__
        if cls is str or cls is bool or cls is int or cls is float:
            column = get(key)
            if column is not None and len(column) == row:
                column.append(value)
                continue
            if column is None:
                column = node[key] = [None] * row
                columns[node.prefix + key] = column
            else:
                column.extend([None] * (row - len(column)))
            column.append(value)
        elif cls is dict:
            child = get(key)
            if child is None or child.__class__ is not _Node:
                child = node[key] = _Node(f"{node.prefix}{key}.")
            if value:
                _walk(value, child, row, empties, columns, declared)
            else:
                empties[child.prefix[:-1]] = {}
        elif value is None:
            empties[node.prefix + key] = None
        elif cls is list and not value and declared.get(node.prefix + key) != "json":
            empties[node.prefix + key] = []
        else:
            column = get(key)
            if column is None:
                column = node[key] = [None] * row
                columns[node.prefix + key] = column
            elif len(column) != row:
                column.extend([None] * (row - len(column)))
            column.append(value)


_NONE = type(None)
# Text kinds are checked by the arrow conversion itself (it refuses non-strings); these need a look.
_ALLOWED_TYPES: dict[str, set[type]] = {
    "boolean": {bool, _NONE}, "Int64": {int, _NONE}, "Float64": {int, float, _NONE},
}


def _strings(values: list[Any]) -> Any:
    """A ``string`` array; straight through pyarrow when pandas stores strings there (several times faster)."""
    if _ARROW_STRINGS:
        import pyarrow as pa

        return pd.arrays.ArrowStringArray(pa.array(values, type=pa.large_string()))
    return pd.array(values, dtype="string")


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

        return pd.arrays.ArrowStringArray(pa.nulls(n, type=pa.large_string()))
    return pd.array([None] * n, dtype="string")


def _arrow_strings() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return pd.StringDtype().storage == "pyarrow" and hasattr(pd.arrays, "ArrowStringArray")


_ARROW_STRINGS = _arrow_strings()
if _ARROW_STRINGS:
    from pyarrow import ArrowException as ArrowError
else:
    ArrowError = TypeError


def _typed(values: list[Any], kind: str, where: str) -> Any:
    """Build the declared array; a value of the wrong JSON type keeps the column lossless as object."""
    allowed = _ALLOWED_TYPES.get(kind) or (None if _ARROW_STRINGS else {str, _NONE})
    try:
        if allowed is not None and not set(map(type, values)) <= allowed:
            raise TypeError("a value of another JSON type")
        if kind == "datetime":
            return _datetimes(values)
        if kind == "json":
            return pd.array(values, dtype=object)
        if kind == "string":
            return _strings(values)
        return pd.array(values, dtype=_DTYPES[kind])  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError, ArrowError) as exc:
        warnings.warn(f"{where}: values do not fit the declared {kind} ({type(exc).__name__}); kept as object",
                      UnknownFieldWarning, stacklevel=4)
        return pd.array(values, dtype=object)


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
        """The customers as API objects again (with sources, tax identifiers and certificates), in order."""
        children: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]] = {}
        for field_name, spec in _NESTED:
            frame = getattr(self, spec.name)
            parents = frame[spec.parent_key].tolist()
            positions = frame["position"].tolist()
            for parent, position, record in zip(parents, positions, _records(frame, spec), strict=True):
                children.setdefault(parent, {}).setdefault(field_name, []).append((position, record))
        out = []
        for customer_id, record in zip(self.customers[CUSTOMERS.key].tolist(), _records(self.customers, CUSTOMERS),
                                       strict=True):
            for field_name, items in children.get(customer_id, {}).items():
                record[field_name] = [item for _, item in sorted(items, key=lambda pair: pair[0])]
            out.append(record)
        return out

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
    """Flatten customers (API dicts or models) into typed tables; ``clientSecret`` is redacted by default."""
    tables = {spec.name: _Table(spec) for spec in SPECS.values()}
    add_customer = tables["customers"].add
    nested = [(field_name, tables[spec.name].add, bool(spec.key)) for field_name, spec in _NESTED]
    for item in customers:
        record = item.model_dump(mode="json", exclude_unset=True) if isinstance(item, BaseModel) else item
        customer_id = record.get("id")
        add_customer(record, customer_id, None, 0, _CUSTOMER_SKIP)
        for field_name, add, keyed in nested:
            children = record.get(field_name)
            if not children:
                continue
            for position, child in enumerate(children):
                if keyed:
                    add(child, child.get("id"), customer_id, position, _KEY_SKIP)
                else:
                    add(child, None, customer_id, position, _NO_SKIP)
    frames = Frames(**{name: table.frame() for name, table in tables.items()})
    if redact and "clientSecret" in frames.sources:
        secrets = frames.sources["clientSecret"]
        frames.sources["clientSecret"] = secrets.where(secrets.isna(), REDACTED)
    return frames


def is_missing(value: Any) -> bool:
    """True for a cell pandas would call NA: None, pd.NA, NaT or a float NaN."""
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def plain_value(value: Any, kind: str | None) -> Any:
    """A cell value as JSON: timestamps to the API's text, JSON columns parsed, numpy scalars unwrapped."""
    if isinstance(value, datetime):
        return format_datetime(value.to_pydatetime() if isinstance(value, pd.Timestamp) else value)
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


def _records(frame: pd.DataFrame, spec: TableSpec) -> list[dict[str, Any]]:
    columns = [c for c in frame.columns if c not in {spec.parent_key, "position", EMPTY_VALUES_COLUMN}]
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
                set_path(record, column_path(column), value)
        out.append(record)
    return out
