"""Editing a customer in one place: edits (column -> value) to a validated update payload and its field changes.

The notebook form and the bulk importer both edit through :func:`edit_customer`; :func:`diff_frames` does the
same for two whole ``customers`` frames.  Columns are the ``customers`` frame's JSON-path columns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

import pandas as pd

from .._core._models import CustomerCreate, CustomerUpdate, validate_payload
from .._core._schema import CUSTOMER_PATHS, WRITABLE_CUSTOMER_FIELDS
from .._core._text import normalise_cell
from ._frames import CUSTOMER_KEY, EMPTY_VALUES_COLUMN, column_path, is_missing, plain_value, set_path

#: What spreadsheets write for a boolean cell, in English, German, French, Spanish, Italian and Dutch.
_SHEET_TRUE = frozenset({"true", "wahr", "vrai", "verdadero", "vero", "waar"})
_SHEET_FALSE = frozenset({"false", "falsch", "faux", "falso", "onwaar"})
_TRUE = _SHEET_TRUE | {"yes", "y", "1", "t"}
_FALSE = _SHEET_FALSE | {"no", "n", "0", "f"}
_INTEGER = re.compile(r"^-?\d+$")


def parse_bool(text: str) -> bool | None:
    """``TRUE``/``FALSE`` (also as German, French, Spanish, Italian and Dutch spreadsheets write them: WAHR/FALSCH,
    VRAI/FAUX, VERDADERO/FALSO, VERO/FALSO, WAAR/ONWAAR), yes/no, y/n, t/f and 1/0 (any case) as a boolean; None
    for anything else."""
    folded = text.casefold()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    return None


def _coerce_metadata(text: Any, current: Any) -> Any:
    """A metadata cell keeps the type of the value it replaces when its text says the same thing, and a string
    value stays exactly as stored when the cell shows it (see :func:`_same_text`)."""
    if not isinstance(text, str) or current is None:
        return text
    if isinstance(current, bool):
        parsed = parse_bool(text)
        return parsed if parsed is not None and text.casefold() in _SHEET_TRUE | _SHEET_FALSE else text
    if isinstance(current, int) and _INTEGER.match(text):
        return int(text)
    return current if _same_text(text, current) else text


def _same_text(text: Any, current: Any) -> bool:
    """True when the text ``text`` shows the stored string ``current``: a spreadsheet cell cannot carry what
    :func:`normalise_cell` drops (CR line ends, non-NFC forms, surrounding whitespace), so that is no change."""
    if not (isinstance(text, str) and isinstance(current, str)):
        return False
    return text == current or normalise_cell(text) == normalise_cell(current)


def edit_customer(current: Mapping[str, Any] | None, edits: Mapping[str, Any], *,
                  customer_id: str | None = None) -> tuple[dict[str, Any], list[tuple[str, Any, Any]]]:
    """The validated payload and field changes that apply ``edits`` (column -> value, None clears) to a customer.

    ``current`` is the customer's row in the customers frame, or None for a create (then ``customer_id`` is
    sent as ``id``). Raises InvalidRequest, naming each field, when the result breaks the API's rules.
    """
    if current is None:  # a create: nothing to compare with, every value given is a change
        created, fields = diff_rows(None, edits)
        created = {"id": customer_id, **created} if customer_id else created
        validate_payload(CustomerCreate, created)
        return created, [(CUSTOMER_KEY, None, customer_id), *fields]
    held = current
    edited: dict[str, Any] = {}
    for column, value in edits.items():
        stored = held.get(column)
        # The same object, or the same text (string fields and string metadata values only): keep what is held.
        if value is stored or _same_text(value, stored):
            continue
        edited[column] = _coerce_metadata(value, stored) if column.startswith("metadata.") else value
    payload: dict[str, Any] = {}
    changes: list[tuple[str, Any, Any]] = []
    if edited:  # only the edited columns can differ: the others hold what they held
        payload, changes = diff_rows(current, {**held, **edited}, only=edited.keys())
    if changes:
        validate_payload(CustomerUpdate, payload)
    return payload, changes


def row_payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """An update payload from one customers row: writable fields only, NA cells left out."""
    payload: dict[str, Any] = {}
    for column, value in row.items():
        if column == EMPTY_VALUES_COLUMN or is_missing(value):
            continue
        path = column_path(str(column))
        if path[0] in WRITABLE_CUSTOMER_FIELDS:
            set_path(payload, path, plain_value(value, CUSTOMER_PATHS.get(str(column))))
    return payload


def diff_rows(before: Mapping[str, Any] | None, after: Mapping[str, Any], *,
              only: AbstractSet[str] | None = None) -> tuple[dict[str, Any], list[tuple[str, Any, Any]]]:
    """The minimal update payload turning ``before`` into ``after`` (both customers rows), and the field changes.

    Only columns present in ``after`` count (and of those, only the columns in ``only`` when given: the caller
    knows the others are unchanged).  Any shipping change sends the whole shipping object (the API replaces it);
    a metadata key that disappears is sent as ``""`` (which removes it).
    """
    before = before or {}
    payload: dict[str, Any] = {}
    changes: list[tuple[str, Any, Any]] = []
    shipping_changed = False
    items = after.items() if only is None else [(c, v) for c, v in after.items() if c in only]
    for column, new in items:
        column = str(column)
        path = column_path(column)
        if column == EMPTY_VALUES_COLUMN or path[0] not in WRITABLE_CUSTOMER_FIELDS:
            continue
        kind = CUSTOMER_PATHS.get(column)
        old_value = None if is_missing(before.get(column)) else plain_value(before.get(column), kind)
        new_value = None if is_missing(new) else plain_value(new, kind)
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
    old: dict[Any, dict[str, Any]] = {
        row[CUSTOMER_KEY]: row for row in before.to_dict("records")  # type: ignore[misc]
    }
    out: dict[str, dict[str, Any]] = {}
    row: dict[str, Any]
    for row in after.to_dict("records"):  # type: ignore[assignment]
        payload, _ = diff_rows(old.get(row[CUSTOMER_KEY]), row)
        if payload:
            out[row[CUSTOMER_KEY]] = payload
    return out
