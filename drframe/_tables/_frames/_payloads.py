"""The way back: :class:`Frames` (the four tables, :meth:`Frames.to_payloads` and the Excel, CSV and Parquet
exports) and the cell helpers the editors share -- :func:`is_missing`, :func:`plain_value`, :func:`set_path` --
with :func:`_records`, which turns one table's rows into API objects, honouring ``_empty_values``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import pandas as pd

from ..._core._models import format_datetime
from ._specs import _NESTED, CUSTOMER_KEY, CUSTOMERS, EMPTY_VALUES_COLUMN, PARENT_ROW_COLUMN, TableSpec, column_path


@dataclass
class Frames:
    """The tidy tables of a set of customers: ``customers``, ``sources``, ``tax_identifiers``, ``tax_certificates``."""

    customers: pd.DataFrame
    sources: pd.DataFrame
    tax_identifiers: pd.DataFrame
    tax_certificates: pd.DataFrame

    def __repr__(self) -> str:
        return frames_repr({name: len(frame) for name, frame in self.tables().items()})

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
        from ..._files._export import write_excel

        return write_excel(path, self.tables(), mask_pii=mask_pii)

    def to_csv(self, directory: str | Path, *, mask_pii: bool = False) -> list[Path]:
        """One CSV per table in ``directory`` (formula-like cells neutralised)."""
        from ..._files._export import write_csv

        return write_csv(directory, self.tables(), mask_pii=mask_pii)

    def to_parquet(self, directory: str | Path) -> list[Path]:
        """One Parquet file per table in ``directory`` (dtypes preserved), as ``client.customers.to_parquet``
        writes them: an object column (metadata values...) holding values of several types is stored as JSON
        text, which :func:`drframe.read_parquet` gives back as values."""
        from ..._files._parquet import write_frames

        return write_frames(directory, self)


def frames_repr(rows: Mapping[str, int]) -> str:
    """What ``repr`` of frames with these tables' rows says."""
    counts = ", ".join(f"{name}={n}" for name, n in rows.items())
    return f"Frames({counts})"


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
