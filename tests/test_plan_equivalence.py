"""The plan's fast paths give exactly what the general rules give: a CSV row checked whole against every cell
read one by one, an edit compared on its edited columns only against the diff of whole rows, and the current rows
flattened from a customer's needed fields against the whole customers frame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drframe._core._models import CustomerCreate, CustomerUpdate, validate_payload
from drframe._errors import InvalidRequest
from drframe._files._sheets import Sheet
from drframe._files._sheets._csv import _csv_cell, _csv_record
from drframe._files._sheets._model import Cell, PlainRow
from drframe._tables._editing import _coerce_metadata, _same_text, diff_rows, edit_customer
from drframe._tables._frames import CUSTOMER_KEY, is_missing, to_frames
from drframe.bulk._reading import _RowReader
from drframe.testing import generate_customers

#: Characters that reach every cell rule: apostrophes, error and number starts, whitespace (CR, NBSP, the
#: separators str.strip() drops), combining marks (non-NFC text), NUL (the joined row's separator).
_TRICKY = "'#Err:+-.,eE0123456789 \t\r\n\x00\x1f\xa0\u0301\u212b<>clarCLAR=@aé"
_CELL = st.one_of(st.text(alphabet=_TRICKY, max_size=8), st.sampled_from(
    ["", "<clear>", "'<clear>", "#N/A", "Err:502", "1E5", "1,5e3", "1234567890123456", "0001234567890123456",
     "'1E5", "Zoë", "Zoe\u0308", " x", "x ", "a\r\nb", "\u212b", "plain"]))


@given(st.lists(_CELL, max_size=6))
@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
def test_csv_row_check_matches_cell_rules(record: list[str]) -> None:
    read = _csv_record(record)
    cells = [Cell(text) for text in read] if isinstance(read, PlainRow) else read
    assert cells == [_csv_cell(text) for text in record]


def _edit_reference(current: dict[str, Any] | None, edits: dict[str, Any],
                    customer_id: str | None) -> tuple[dict[str, Any], list[tuple[str, Any, Any]]]:
    """edit_customer as it was: every column of the edited row diffed."""
    after = dict(current or {})
    for column, value in edits.items():
        stored = after.get(column)
        if _same_text(value, stored):
            continue
        after[column] = _coerce_metadata(value, stored) if column.startswith("metadata.") else value
    payload, changes = diff_rows(current, after)
    if current is None:
        payload = {"id": customer_id, **payload} if customer_id else payload
        changes.insert(0, (CUSTOMER_KEY, None, customer_id))
    if changes:
        validate_payload(CustomerCreate if current is None else CustomerUpdate, payload)
    return payload, changes


_COLUMNS = ["email", "locale", "enabled", "shipping.name", "shipping.address.line1", "shipping.address.country",
            "metadata.segment", "metadata.n"]
_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.just(pd.NA), st.just(float("nan")),
                   st.sampled_from(["a@example.com", "en_US", "fr_FR", "Zoë", "Zoe\u0308", " Zoë", "US", "1", "3",
                                    "true", "TRUE", "x", "a\r\nb", "a\nb", ""]))


@given(st.one_of(st.none(), st.dictionaries(st.sampled_from(_COLUMNS), _VALUE)),
       st.dictionaries(st.sampled_from(_COLUMNS), _VALUE.filter(lambda v: v is None or isinstance(v, bool | str))),
       st.sampled_from([None, "cust-1"]))
@settings(max_examples=800, suppress_health_check=[HealthCheck.too_slow])
def test_edit_customer_matches_whole_row_diff(current: dict[str, Any] | None, edits: dict[str, Any],
                                              customer_id: str | None) -> None:
    if current is not None:
        current = {CUSTOMER_KEY: "cust-1", **current}
    try:
        expected: Any = _edit_reference(current, edits, customer_id)
    except InvalidRequest as exc:
        expected = exc.errors
    try:
        got: Any = edit_customer(current, edits, customer_id=customer_id)
    except InvalidRequest as exc:
        got = exc.errors
    assert repr(got) == repr(expected)


def test_current_rows_match_the_customers_frame() -> None:
    customers = generate_customers(300, seed=3)
    for number, customer in enumerate(customers):  # metadata of every JSON type, nulls, absent objects
        metadata = customer.setdefault("metadata", {})
        metadata["n"] = [3, "3", True, None, 2.5, {"a": 1}][number % 6]
        if number % 7 == 0:
            customer["shipping"] = None
        if number % 11 == 0:
            customer.pop("email", None)
    columns = ["customer_id", "email", "enabled", "createdTime", "shipping.name", "metadata.n", "metadata.segment"]
    reader = _RowReader(Sheet(Path("x.csv"), columns, [], ""))
    got = reader.current_rows({c["id"]: c for c in customers})
    frame = to_frames(customers).customers
    for record in frame.to_dict("records"):
        row = got[record[CUSTOMER_KEY]]
        wanted = {c: v for c, v in record.items() if c in columns or str(c).startswith("shipping.")}
        assert list(row) == list(wanted)
        for column, value in wanted.items():
            if is_missing(value):
                assert row[column] is None  # every missing cell None, as to_dict gives most of them
            else:
                assert type(row[column]) is type(value) and row[column] == value
