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

import pandas as pd
from pydantic import BaseModel

from ._cells import REDACTED
from ._models import PAYMENT_TYPES, format_datetime
from ._schema import (
    CUSTOMER_PATHS,
    FREE_FORM_PREFIXES,
    SOURCE_PATHS,
    TAX_CERTIFICATE_PATHS,
    TAX_IDENTIFIER_PATHS,
    WRITABLE_CUSTOMER_FIELDS,
)

EMPTY_VALUES_COLUMN = "_empty_values"
_DTYPES = {"string": "string", "boolean": "boolean", "Int64": "Int64", "Float64": "Float64"}
_DATETIME_DTYPE = "datetime64[ns, UTC]"


class UnknownFieldWarning(UserWarning):
    """A response carried fields drframe does not declare; they were kept as object columns."""


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


CUSTOMERS = TableSpec("customers", "customer_id", None, CUSTOMER_PATHS)
SOURCES = TableSpec(
    "sources", "source_id", "customer_id", SOURCE_PATHS,
    optional_prefixes=tuple(f"{t}." for t in PAYMENT_TYPES if t != "creditCard"),
)
TAX_IDENTIFIERS = TableSpec("tax_identifiers", "tax_id", "customer_id", TAX_IDENTIFIER_PATHS)
TAX_CERTIFICATES = TableSpec("tax_certificates", None, "customer_id", TAX_CERTIFICATE_PATHS)
SPECS = {spec.name: spec for spec in (CUSTOMERS, SOURCES, TAX_IDENTIFIERS, TAX_CERTIFICATES)}
_NESTED = (("sources", SOURCES), ("taxIdentifiers", TAX_IDENTIFIERS), ("taxCertificates", TAX_CERTIFICATES))
_NESTED_FIELDS = frozenset(name for name, _ in _NESTED)


def column_path(column: str) -> tuple[str, ...]:
    """The JSON path of a column: ``metadata.a.b`` is key ``a.b`` of metadata; other dots nest."""
    for prefix in FREE_FORM_PREFIXES:
        if column.startswith(prefix + "."):
            return (prefix, column[len(prefix) + 1:])
    return tuple(column.split("."))


class _Table:
    """Accumulates flat rows of one table, then builds the typed DataFrame."""

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self.keys: list[Any] = []
        self.parents: list[Any] = []
        self.positions: list[int] = []
        self.rows: list[dict[str, Any]] = []
        self.empties: list[str | None] = []

    def add(self, record: Mapping[str, Any], key: Any, parent: Any, position: int, skip: frozenset[str]) -> None:
        flat: dict[str, Any] = {}
        empties: dict[str, Any] = {}
        _flatten(record, "", flat, empties, skip, self.spec.paths)
        self.keys.append(key)
        self.parents.append(parent)
        self.positions.append(position)
        self.rows.append(flat)
        self.empties.append(json.dumps(empties, ensure_ascii=False) if empties else None)

    def frame(self) -> pd.DataFrame:
        spec = self.spec
        rows = self.rows
        data: dict[str, Any] = {}
        if spec.key:
            data[spec.key] = pd.array(self.keys, dtype="string")
        if spec.parent_key:
            data[spec.parent_key] = pd.array(self.parents, dtype="string")
            data["position"] = pd.array(self.positions, dtype="Int64")
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        free = sorted(p for p in seen if p not in spec.paths and column_path(p)[0] in FREE_FORM_PREFIXES)
        unknown = sorted(p for p in seen if p not in spec.paths and p not in free)
        # Declared columns exist whatever the data holds, so every table has a stable shape.
        for path, kind in spec.paths.items():
            if path in seen:
                data[path] = _typed([row.get(path) for row in rows], kind, f"{spec.name}.{path}")
            elif spec.always(path):
                data[path] = pd.array([None] * len(rows), dtype=_DATETIME_DTYPE if kind == "datetime"
                                      else _DTYPES.get(kind, "string"))
        for path in free:
            data[path] = pd.array([row.get(path) for row in rows], dtype=object)
        if unknown:
            warnings.warn(
                f"{spec.name}: undeclared fields kept as object columns: {', '.join(unknown[:10])}"
                + (" ..." if len(unknown) > 10 else ""),
                UnknownFieldWarning,
                stacklevel=3,
            )
            for path in unknown:
                data[path] = pd.array([row.get(path) for row in rows], dtype=object)
        data[EMPTY_VALUES_COLUMN] = pd.array(self.empties, dtype="string")
        return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))


def _flatten(obj: Mapping[str, Any], prefix: str, out: dict[str, Any], empties: dict[str, Any],
             skip: frozenset[str], declared: Mapping[str, str]) -> None:
    for key, value in obj.items():
        if not prefix and key in skip:
            continue
        path = prefix + key
        kind = type(value)
        if kind is dict:
            if not value:
                empties[path] = {}
            elif path in FREE_FORM_PREFIXES:
                for free_key, free_value in value.items():
                    if free_value is None:
                        empties[f"{path}.{free_key}"] = None
                    else:
                        out[f"{path}.{free_key}"] = free_value
            else:
                _flatten(value, path + ".", out, empties, skip, declared)
        elif value is None:
            empties[path] = None
        elif kind is list and not value and declared.get(path) != "json":
            empties[path] = []
        else:
            out[path] = value


def _typed(values: list[Any], kind: str, where: str) -> Any:
    """Build the declared array; a value of the wrong JSON type keeps the column lossless as object."""
    try:
        if kind == "datetime":
            if any(v is not None and type(v) is not str for v in values):
                raise TypeError("non-text date-time")
            parsed = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
            return parsed.astype(_DATETIME_DTYPE).array
        if kind == "json":
            return pd.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in values],
                            dtype="string")
        if kind == "string":
            if any(v is not None and type(v) is not str for v in values):
                raise TypeError("non-string value")
        elif kind == "boolean":
            if any(v is not None and type(v) is not bool for v in values):
                raise TypeError("non-boolean value")
        elif kind == "Int64":
            if any(v is not None and type(v) is not int for v in values):
                raise TypeError("non-integer value")
        elif kind == "Float64" and any(v is not None and type(v) not in (int, float) for v in values):
            raise TypeError("non-numeric value")
        return pd.array(values, dtype=_DTYPES[kind])
    except (TypeError, ValueError, OverflowError) as exc:
        warnings.warn(f"{where}: values do not fit the declared {kind} ({exc}); kept as object",
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
    customer_table = tables["customers"]
    for item in customers:
        record = item.model_dump(mode="json", exclude_unset=True) if isinstance(item, BaseModel) else item
        customer_id = record.get("id")
        customer_table.add(record, customer_id, None, 0, _NESTED_FIELDS | {"id"})
        for field_name, spec in _NESTED:
            children = record.get(field_name)
            if not children:
                continue
            table = tables[spec.name]
            for position, child in enumerate(children):
                if redact and field_name == "sources" and child.get("clientSecret") is not None:
                    child = {**child, "clientSecret": REDACTED}
                key = child.get("id") if spec.key else None
                table.add(child, key, customer_id, position, frozenset({"id"}) if spec.key else frozenset())
    return Frames(**{name: table.frame() for name, table in tables.items()})


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _plain(value: Any, kind: str | None) -> Any:
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
            if not _is_missing(value):
                set_path(record, path, _plain(value, kind))
        raw = empties[index]
        if not _is_missing(raw):
            for column, value in json.loads(raw).items():
                set_path(record, column_path(column), value)
        out.append(record)
    return out


def row_payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """An update payload from one customers row: writable fields only, NA cells left out."""
    payload: dict[str, Any] = {}
    for column, value in row.items():
        if column == EMPTY_VALUES_COLUMN or _is_missing(value):
            continue
        path = column_path(str(column))
        if path[0] in WRITABLE_CUSTOMER_FIELDS:
            set_path(payload, path, _plain(value, CUSTOMER_PATHS.get(str(column))))
    return payload


def diff_rows(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, Any, Any]]]:
    """The minimal update payload turning ``before`` into ``after`` (both customers rows), and the field changes.

    Only columns present in ``after`` count.  Any shipping change sends the whole shipping object (the API
    replaces it); a metadata key that disappears is sent as ``""`` (which removes it).
    """
    before = before or {}
    payload: dict[str, Any] = {}
    changes: list[tuple[str, Any, Any]] = []
    shipping_changed = False
    for column, new in after.items():
        column = str(column)
        path = column_path(column)
        if column == EMPTY_VALUES_COLUMN or path[0] not in WRITABLE_CUSTOMER_FIELDS:
            continue
        kind = CUSTOMER_PATHS.get(column)
        old_value = None if _is_missing(before.get(column)) else _plain(before.get(column), kind)
        new_value = None if _is_missing(new) else _plain(new, kind)
        if old_value == new_value:
            continue
        changes.append((column, old_value, new_value))
        if path[0] == "shipping":
            shipping_changed = True
        elif path[0] == "metadata":
            set_path(payload, path, "" if new_value is None else new_value)
        else:
            payload[path[0]] = new_value
    if shipping_changed:
        shipping = row_payload({c: v for c, v in after.items() if str(c).startswith("shipping.")}).get("shipping")
        payload["shipping"] = shipping
    return payload, changes


def diff_frames(before: pd.DataFrame, after: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Minimal update payloads, by customer id, turning the ``before`` customers frame into ``after``."""
    old = {row[CUSTOMERS.key]: row for row in before.to_dict("records")}
    out: dict[str, dict[str, Any]] = {}
    for row in after.to_dict("records"):
        payload, _ = diff_rows(old.get(row[CUSTOMERS.key]), row)
        if payload:
            out[row[CUSTOMERS.key]] = payload
    return out
