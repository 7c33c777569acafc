"""Reading rows: the input's columns checked, each row interpreted (action, ids, typed edits or cell errors), and
customers named by more than one row flagged. No network."""

from __future__ import annotations

import difflib
import hashlib
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._core._ids import customer_id_problem, id_problem
from .._core._models import TAX_IDENTIFIER_TYPES, TaxIdentifierRequest, validate_payload
from .._core._schema import CUSTOMER_PATHS
from .._core._text import is_exact_column
from .._errors import InvalidRequest, SheetError
from .._files._export import column_letter
from .._files._sheets import Sheet, SheetRow, excel_text, number_problem
from .._tables._editing import parse_bool
from .._tables._frames import is_missing
from ._constants import (
    ACTION_COLUMN,
    CLEAR,
    CUSTOMER_KEY,
    FIELD_ACTIONS,
    SOURCE_COLUMN,
    TARGET_COLUMNS,
    TAX_COLUMN,
    TAX_TYPE_COLUMN,
    TAX_VALUE_COLUMN,
    Action,
    Status,
    is_ignored_column,
)
from ._rowplan import RowPlan

_ID_NAMESPACE = uuid.UUID("6f1c2a3e-4d5b-4c8a-9e7f-0a1b2c3d4e5f")
_ACTIONS = {str(action): action for action in Action}
#: How the ids drframe derives for creates without ``customer_id`` start.
GENERATED_ID_PREFIX = "drf-"


def _known_column(column: str) -> bool:
    if column.startswith("metadata.") and len(column) > len("metadata."):
        return True
    return column in CUSTOMER_PATHS or is_ignored_column(column) or column in {
        CUSTOMER_KEY, ACTION_COLUMN, SOURCE_COLUMN, TAX_COLUMN, TAX_TYPE_COLUMN, TAX_VALUE_COLUMN}


def _suggest(column: str) -> str:
    known = [CUSTOMER_KEY, ACTION_COLUMN, SOURCE_COLUMN, TAX_COLUMN, TAX_TYPE_COLUMN, TAX_VALUE_COLUMN,
             *CUSTOMER_PATHS]
    folded = {k.casefold().replace("_", "").replace(".", ""): k for k in known}
    key = column.casefold().replace("_", "").replace(".", "").replace(" ", "")
    if key in folded:
        return folded[key]
    if column.casefold() in {"id", "customerid", "customer id"}:
        return CUSTOMER_KEY
    if column == "metadata":
        return "metadata.<key> (one column per metadata key)"
    close = difflib.get_close_matches(column, known, n=1, cutoff=0.6)
    return close[0] if close else ""


def check_columns(columns: Iterable[str], source: str) -> None:
    """Raise SheetError naming every unknown column, with the closest known name."""
    problems = []
    for index, column in enumerate(columns, start=1):
        letter = column_letter(index)
        if not _known_column(column):
            hint = _suggest(column)
            problems.append(f"unknown column {column!r} (column {letter})" + (f": did you mean {hint!r}?" if hint
                                                                               else ""))
    if problems:
        raise SheetError(f"{source}: " + "; ".join(problems) + ". Nothing was sent.")


def parse_action(text: str) -> Action | None:
    """The action a cell (or an option) names, in any case, with ``-`` or a space for ``_``; None if unknown."""
    return _ACTIONS.get(text.casefold().replace("-", "_").replace(" ", "_"))


def interpret(row: SheetRow, sha256: str, default: Action = Action.UPSERT) -> RowPlan:
    """Turn one sheet row into a RowPlan: action (``default`` when its cell is empty), id, typed edits, or cell
    errors. No network."""
    cells = row.cells
    if row.blank:
        return RowPlan(row.number, cells, None, status=Status.SKIPPED, note="blank row")
    raw_action = cells.get(ACTION_COLUMN, "")
    action = parse_action(raw_action) if raw_action else default
    plan = RowPlan(row.number, cells, action)
    for column, error in row.errors.items():
        plan.fail(column, f"the cell shows the error {error}; correct the cell or clear it")
    for column in row.formulas:
        plan.fail(column, "a formula; enter the value itself (drframe never evaluates formulas)")
    for column, held in row.numeric.items():
        if is_exact_column(column):  # a spreadsheet number there may have been rounded
            why = number_problem(cells[column]) or number_problem(held)  # shown 02109, it may hold 2108.5
            if why:
                plan.fail(column, f"stored as a number {why}; format the column as Text and type the value again")
    unusable = {error.column for error in plan.errors}  # already refused: no further checks on these cells
    customer_id = cells.get(CUSTOMER_KEY, "")
    if customer_id:
        problem = customer_id_problem(customer_id) if CUSTOMER_KEY not in unusable else None
        if problem:
            plan.fail(CUSTOMER_KEY, problem)
        plan.customer_id = customer_id
    if action is None:
        names = [str(a) for a in Action]
        close = difflib.get_close_matches(raw_action.casefold(), names, n=1)
        plan.fail(ACTION_COLUMN, f"unknown action; use one of {', '.join(names)}"
                  + (f" (did you mean {close[0]!r}?)" if close else ""))
        return plan
    if not customer_id and action in {Action.UPSERT, Action.CREATE}:
        plan.customer_id = GENERATED_ID_PREFIX + uuid.uuid5(_ID_NAMESPACE, f"{sha256}:{row.number}").hex
        plan.note = "id generated from the file and row (safe to re-run)"
    elif not customer_id:
        plan.fail(CUSTOMER_KEY, f"required for action {str(action)!r}")
    target_column = TARGET_COLUMNS.get(action)
    if target_column:
        plan.target = cells.get(target_column) or None
        problem = id_problem(plan.target) if plan.target and target_column not in unusable else None
        if not plan.target:
            plan.fail(target_column, f"required for action {str(action)!r}")
        elif problem:
            plan.fail(target_column, problem)
    if action in FIELD_ACTIONS:
        read_edits(plan, cells, row.literal, unusable)
        _read_tax_identifier(plan, unusable)
    else:
        for column in (TAX_TYPE_COLUMN, TAX_VALUE_COLUMN):
            if cells.get(column):
                plan.fail(column, f"only used by upsert, create and update rows, not by {str(action)!r}")
    return plan


def check_action_column(rows: Iterable[RowPlan], action: Action, source: str) -> None:
    """With an action given for the rows without one: raise SheetError when the ``action`` column names another
    action in some row, so an option never silently loses to a cell (or a cell to an option)."""
    others = [(row.row, row.cells.get(ACTION_COLUMN, "")) for row in rows
              if row.cells.get(ACTION_COLUMN) and parse_action(row.cells[ACTION_COLUMN]) is not action]
    if others:
        shown = ", ".join(f"{number} ({text!r})" for number, text in others[:5])
        more = f" and {len(others) - 5} more" if len(others) > 5 else ""
        raise SheetError(f"{source}: the action {str(action)!r} was given for the rows without one, but the "
                         f"'action' column names another in row {shown}{more}; empty those cells or leave out the "
                         "action option. Nothing was sent.")


def _read_tax_identifier(plan: RowPlan, unusable: set[str]) -> None:
    """The row's tax number: both columns or neither; a type the API supports (any case; ``uk`` for Britain)."""
    kind, value = (plan.cells.get(c, "") for c in (TAX_TYPE_COLUMN, TAX_VALUE_COLUMN))
    if (not kind and not value) or {TAX_TYPE_COLUMN, TAX_VALUE_COLUMN} & unusable:
        return
    if CLEAR in {kind.casefold(), value.casefold()}:
        plan.fail(TAX_TYPE_COLUMN if kind.casefold() == CLEAR else TAX_VALUE_COLUMN,
                  "removing a tax identifier is not done from a sheet: delete it with client.tax_identifiers.delete")
        return
    if not kind or not value:
        missing = TAX_TYPE_COLUMN if not kind else TAX_VALUE_COLUMN
        plan.fail(missing, f"{TAX_TYPE_COLUMN} and {TAX_VALUE_COLUMN} go together: fill both, or neither")
        return
    kind = kind.casefold()
    if kind not in TAX_IDENTIFIER_TYPES:
        close = difflib.get_close_matches(kind, sorted(TAX_IDENTIFIER_TYPES), 2)
        hint = ("the United Kingdom's type is 'uk'" if kind == "gb" else
                "did you mean " + " or ".join(map(repr, close)) + "?" if close else
                "the types are lowercase country codes, some with a suffix (br_natural)")
        plan.fail(TAX_TYPE_COLUMN, f"not a tax identifier type the API supports; {hint}")
        return
    try:
        validate_payload(TaxIdentifierRequest, {"type": kind, "value": value})
    except InvalidRequest as exc:
        plan.fail(TAX_VALUE_COLUMN, "; ".join(message for _, _, message in exc.errors))
        return
    plan.tax_identifier = (kind, value)


#: What a column's cell is to a field row: not a field, a column of the attach/detach actions only, a boolean
#: field, any other field (plain ints: this runs for every cell of every row, twice).
_NOT_A_FIELD, _ATTACH_ONLY, _BOOLEAN, _TEXT = range(4)


@lru_cache(maxsize=1024)
def _edit_kind(column: str) -> int:
    """What ``column``'s cell is to a field row (decided once per column name)."""
    if is_ignored_column(column) or column in {CUSTOMER_KEY, ACTION_COLUMN, TAX_TYPE_COLUMN, TAX_VALUE_COLUMN}:
        return _NOT_A_FIELD
    if column in (SOURCE_COLUMN, TAX_COLUMN):
        return _ATTACH_ONLY
    return _BOOLEAN if CUSTOMER_PATHS.get(column) == "boolean" else _TEXT


def read_edits(plan: RowPlan, cells: Mapping[str, str], literal: AbstractSet[str], unusable: AbstractSet[str]) -> None:
    """The typed field edits of a field row into ``plan.edits``: ``<clear>`` -> None (unless the cell is in
    ``literal``: marked as text), booleans parsed, other text as is; cells in ``unusable`` left out."""
    edits = plan.edits
    for column, text in cells.items():
        if not text:
            continue
        kind = _edit_kind(column)
        if kind == _NOT_A_FIELD or column in unusable:
            continue
        if kind == _ATTACH_ONLY:
            plan.fail(column, f"only used by the attach/detach actions, not by {str(plan.action)!r}")
            continue
        # Only "<" casefolds to a text starting with "<" (checked over every code point): a cheap first test.
        if text[0] == "<" and text.casefold() == CLEAR and column not in literal:
            edits[column] = None
        elif kind == _BOOLEAN:
            value = parse_bool(text)
            if value is None:
                plan.fail(column, "not a boolean: use TRUE/FALSE (yes/no, 1/0 and WAHR/FALSCH, VRAI/FAUX, "
                                  "VERDADERO/FALSO, VERO/FALSO, WAAR/ONWAAR are accepted)")
            edits[column] = value
        else:
            edits[column] = text


def emptied_cells(cells: Mapping[str, str], current: Mapping[str, Any]) -> int:
    """How many of a field row's empty cells stand where the customer's field (``current``: its customers row)
    holds a value: an empty cell leaves a field unchanged, which an analyst who emptied it may not expect."""
    return sum(1 for column, text in cells.items()
               if not text and _edit_kind(column) in (_BOOLEAN, _TEXT) and not is_missing(current.get(column))
               and current.get(column) != "")


def flag_duplicates(plans: list[RowPlan], sheet: Sheet) -> None:
    """An id named by two field rows (or the same attach twice): all its rows are invalid, nothing is sent."""
    named = [plan for plan in plans if plan.customer_id and plan.action]
    # The ids' hashes first (8 bytes a row, not a dict of every id): only ids whose hash repeats are counted.
    hashes = np.fromiter((hash(p.customer_id) for p in named), dtype=np.int64, count=len(named))
    values, counts = np.unique(hashes, return_counts=True)
    clashing = set(values[counts > 1].tolist())
    del hashes, values, counts
    candidates = Counter(p.customer_id for p in named if hash(p.customer_id) in clashing) if clashing else Counter()
    repeated = {customer_id for customer_id, n in candidates.items() if n > 1}
    by_id: dict[str | None, list[RowPlan]] = {}  # only the ids named twice or more: one row alone is never flagged
    for plan in named:
        if plan.customer_id in repeated:
            by_id.setdefault(plan.customer_id, []).append(plan)
    for _customer_id, rows in by_id.items():
        field_rows = [p for p in rows if p.action in FIELD_ACTIONS or p.action is Action.DELETE]
        targets = Counter((p.action, p.target) for p in rows if p.target)
        if len(field_rows) > 1 or any(n > 1 for n in targets.values()):
            where = (f"rows {', '.join(str(p.row) for p in rows)}" if sheet.labels is None else
                     f"the rows labelled {', '.join(repr(sheet.label(p.row)) for p in rows)}")
            for plan in rows:
                plan.fail(CUSTOMER_KEY, f"customer_id appears in {where}; each customer may be changed "
                                        "by one row per file, so nothing is sent for it")


def cell_text(value: Any) -> str:
    """A DataFrame cell as a sheet cell's text: NA -> empty, booleans TRUE/FALSE, numbers as Excel shows them."""
    return "" if is_missing(value) else excel_text(value).strip()


def sheet_from_frame(frame: pd.DataFrame, name: str = "<DataFrame>") -> Sheet:
    """A DataFrame as text cells (NA -> empty), row numbers as a spreadsheet would show them."""
    columns = [str(c) for c in frame.columns]
    rows = []
    for number, values in enumerate(frame.itertuples(index=False, name=None), start=2):
        cells = {c: cell_text(v) for c, v in zip(columns, values, strict=True)}
        rows.append(SheetRow(number, cells))
    digest = hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()
    return Sheet(Path(name), columns, rows, digest, labels=frame.index.tolist())
