"""Resolving a row against its customer's current state: the checks no current state can cure, then the
payload, the changes and the outcome it will have."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._core._models import CustomerUpdate, validate_payload
from .._core._schema import CUSTOMER_PATHS
from .._core._text import drops_leading_zeros, garbled_utf8, lost_in_encoding, neutralise
from .._errors import InvalidRequest
from .._files._sheets import Sheet, SheetRow
from .._tables._editing import edit_customer
from ._constants import CUSTOMER_KEY, FIELD_ACTIONS, SOURCE_COLUMN, TAX_COLUMN, TAX_VALUE_COLUMN, Action, Status
from ._rowplan import CellError, RowPlan
from ._rows import (
    GENERATED_ID_PREFIX,
    interpret,
)

if TYPE_CHECKING:
    pass

_NO_COLUMNS: frozenset[str] = frozenset()

#: The field a tax number change is listed under in a plan's changes.
TAX_FIELD = "tax_identifier"


def _payload_errors(plan: RowPlan, exc: InvalidRequest) -> None:
    """Each payload error on the column that holds the bad value (a metadata rule on its ``metadata.<key>``)."""
    for parameter, _, message in exc.errors:
        if parameter == "metadata":  # the rule names the whole object: find the keys of this row that break it
            culprits = []
            for column, value in plan.edits.items():
                if column.startswith("metadata."):
                    try:
                        validate_payload(CustomerUpdate, {"metadata": {column.removeprefix("metadata."): value}})
                    except InvalidRequest as single:
                        culprits += [(column, text) for _, _, text in single.errors]
            for column, text in culprits:
                plan.fail(column, text)
            if culprits:
                continue
        column = parameter if parameter in plan.cells or parameter in CUSTOMER_PATHS else next(
            (c for c in plan.cells if c.startswith(parameter + ".") and plan.cells[c]), parameter)
        if column == "id":
            column = CUSTOMER_KEY
        plan.fail(column, message)


def _refuse_dropped_zeros(plan: RowPlan) -> None:
    """A change whose only effect is to drop leading zeros from a text of digits (``'02108'`` -> ``'2108'``) makes
    the row invalid: a spreadsheet read the text as a number, and the analyst most likely never meant it."""
    for column, before, after in plan.changes:
        if column == TAX_FIELD:  # "<type> <value>": compare the values
            before, after = (value.partition(" ")[2] if isinstance(value, str) else value for value in (before, after))
        if drops_leading_zeros(before, after):
            zeros = "zeros" if str(before).startswith("00") else "zero"
            plan.fail(TAX_VALUE_COLUMN if column == TAX_FIELD else column,
                      f"Excel dropped the leading {zeros} of {before!r}; format the column as Text and type it again, "
                      "or pass --allow-dropped-zeros (allow_dropped_zeros=True) if you mean it")


def _refuse_garbled_text(plan: RowPlan, encoding: str | None) -> None:
    """A change whose only effect is what a file's encoding did to the stored text makes the row invalid: nobody
    typed it.  ``'東京'`` -> ``'??'``: the file was saved as ``encoding``, which cannot hold those characters;
    ``'Léa'`` -> ``'LÃ©a'``: a UTF-8 file was opened as Windows-1252 and saved; ``'+1-952'`` -> ``"'+1-952"``: a
    CSV export's quoting apostrophe kept as text by the spreadsheet that opened it."""
    for column, before, after in plan.changes:
        if column == TAX_FIELD:
            continue
        if encoding and lost_in_encoding(before, after, encoding):
            plan.fail(column, f"{before!r} became {after!r} when the file was saved as {encoding}, which cannot hold "
                              "its characters; save the file as CSV UTF-8 and apply that")
        elif garbled_utf8(before, after):
            plan.fail(column, f"{before!r} became {after!r}: a UTF-8 file was opened as Windows-1252 (ANSI) and "
                              "saved; open or import it as UTF-8 (Data > From Text/CSV, 65001: UTF-8) and save again")
        elif isinstance(before, str) and before != after and neutralise(before) == after:
            plan.fail(column, f"{after!r} is {before!r} with the apostrophe a CSV export puts before such a cell, "
                              "kept as text by the spreadsheet that opened the CSV; remove it, or edit an .xlsx "
                              "export instead")


def refused_values(sheet: Sheet) -> list[CellError]:
    """The cell errors of ``sheet``'s rows that no current state can cure, each row checked as bulk checks it and
    its field edits validated as a create by the same models. No network (``drframe map`` flags them)."""
    errors: list[CellError] = []
    for sheet_row in sheet.rows:
        row = interpret(sheet_row, sheet.sha256)
        if row.action in FIELD_ACTIONS:  # also when another cell of the row is refused already
            try:
                edit_customer(None, row.edits, customer_id=row.customer_id)
            except InvalidRequest as exc:
                _payload_errors(row, exc)
        errors += row.errors
    return errors


def _resolve(plan: RowPlan, current: Mapping[str, Any] | None, raw: Mapping[str, Any] | None,
             created_in_file: set[str]) -> None:
    """Decide what ``plan`` sends, given the customer's current row (None when it does not exist)."""
    if plan.action is Action.UPSERT:
        plan.action = Action.UPDATE if current is not None else Action.CREATE
        plan.upserted = True
    action = plan.action
    if action in {Action.CREATE, Action.UPDATE}:
        _resolve_fields(plan, current, raw)
    elif action is Action.DELETE:
        if current is None:
            plan.status, plan.note = Status.UNCHANGED, "already absent"
        else:
            plan.changes = [(CUSTOMER_KEY, plan.customer_id, None)]
    elif current is None and plan.customer_id not in created_in_file:
        plan.fail(CUSTOMER_KEY, "no such customer", Status.FAILED)
    else:
        _resolve_attachment(plan, raw)


def _resolve_fields(plan: RowPlan, current: Mapping[str, Any] | None, raw: Mapping[str, Any] | None) -> None:
    if plan.action is Action.UPDATE and current is None:
        plan.fail(CUSTOMER_KEY, "no such customer (use action 'upsert' or 'create' to create it)", Status.FAILED)
        return
    try:
        plan.payload, plan.changes = edit_customer(current, plan.edits, customer_id=plan.customer_id)
    except InvalidRequest as exc:
        _payload_errors(plan, exc)
        return
    fields_change = bool(plan.changes)
    if current is not None and not fields_change:
        plan.payload = None  # nothing to update: only the tax identifier, if anything, is sent
    _resolve_tax_identifier(plan, raw)
    if plan.action is Action.CREATE and current is not None and plan.changes:
        if fields_change or not (plan.customer_id or "").startswith(GENERATED_ID_PREFIX):
            _refuse_create_of_existing(plan)
            return
        # An id derived from this file exists only because an earlier run of it created the customer (and stopped
        # before its tax identifier): finish the row.
        plan.action, plan.note = Action.UPDATE, "created by an earlier run of this file; its tax identifier is left"
    if not plan.changes:
        plan.status = Status.UNCHANGED
        if plan.action is Action.CREATE and current is not None:
            plan.note = "already exists with these values"


def _refuse_create_of_existing(plan: RowPlan) -> None:
    """A create whose customer exists and would change: failed before sending (the API refuses it with 409
    already_exists), with the changes it would have made, so that customer is left as it is."""
    changed = ", ".join(f"{name} {before!r} -> {after!r}" for name, before, after in plan.changes)
    plan.changes, plan.payload, plan.tax_identifier, plan.replaces_tax_id = [], None, None, None
    plan.fail(CUSTOMER_KEY, f"already exists, and this create would change it ({changed}); a create of an "
                            "existing id is refused (HTTP 409 already_exists), so nothing is sent for this row "
                            "(action 'update' or 'upsert' changes existing customers)", Status.FAILED)


def _resolve_tax_identifier(plan: RowPlan, raw: Mapping[str, Any] | None) -> None:
    """The change a ``tax_identifier.*`` pair makes: none when the customer holds that value of that type; else
    the new one (created and attached), replacing the one of that type it holds (deleted first), as
    tax-identifiers.md prescribes: an identifier's value cannot be changed."""
    if plan.tax_identifier is None:
        return
    kind, value = plan.tax_identifier
    held = [t for t in (raw or {}).get("taxIdentifiers") or [] if str(t.get("type", "")).casefold() == kind]
    if any(t.get("value") == value for t in held):
        plan.tax_identifier = None
        return
    plan.replaces_tax_id = str(held[0]["id"]) if held else None
    before = f"{kind} {held[0].get('value')}" if held else None
    plan.changes.append((TAX_FIELD, before, f"{kind} {value}"))


def _resolve_attachment(plan: RowPlan, raw: Mapping[str, Any] | None) -> None:
    """Attach/detach: unchanged when the customer already is in the asked state."""
    kind = "taxIdentifiers" if plan.action is Action.ATTACH_TAX_IDENTIFIER else "sources"
    attached = {item.get("id") for item in (raw or {}).get(kind) or []}
    attaching = plan.action is not Action.DETACH_SOURCE
    is_attached = plan.target in attached
    if is_attached == attaching:
        plan.status = Status.UNCHANGED
        plan.note = "already attached" if is_attached else "not attached"
        return
    column = TAX_COLUMN if kind == "taxIdentifiers" else SOURCE_COLUMN
    plan.changes = [(column, None, plan.target) if attaching else (column, plan.target, None)]


def check_row(number: int, cells: Mapping[str, str], current: Mapping[str, Any] | None) -> RowPlan:
    """One row checked as :func:`plan` checks it, against a ``current`` customers row the caller already holds
    (None: the customer does not exist), with no call: the same cell errors and field changes (a tax number's
    change is left to the plan, which fetches the identifiers)."""
    row = interpret(SheetRow(number, dict(cells)), "")
    if row.pending and row.action in FIELD_ACTIONS:
        _resolve(row, current, None, set())
    return row


