"""The plan: every valid row resolved against the current state of its customer (fetched 100 ids per call), so
each row either knows its outcome already or carries the exact payload it will send."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._editing import edit_customer
from .._errors import InvalidRequest
from .._frames import to_frames
from .._models import CustomerUpdate, validate_payload
from .._schema import CUSTOMER_PATHS
from .._sheets import Sheet, read_sheet
from ._constants import CUSTOMER_KEY, SOURCE_COLUMN, TAX_COLUMN, Action, Status
from ._mapping import ColumnMapping
from ._results import BulkResult, changes_frame, errors_frame, html_summary, outcome_frame, resubmit_frame
from ._rows import RowPlan, check_columns, flag_duplicates, interpret, sheet_from_frame
from ._run import run_plan

if TYPE_CHECKING:
    from .._client import Client


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


def _resolve(plan: RowPlan, current: Mapping[str, Any] | None, raw: Mapping[str, Any] | None,
             created_in_file: set[str]) -> None:
    """Decide what ``plan`` sends, given the customer's current row (None when it does not exist)."""
    if plan.action is Action.UPSERT:
        plan.action = Action.UPDATE if current is not None else Action.CREATE
    action = plan.action
    if action in {Action.CREATE, Action.UPDATE}:
        _resolve_fields(plan, current)
    elif action is Action.DELETE:
        if current is None:
            plan.status, plan.note = Status.UNCHANGED, "already absent"
        else:
            plan.changes = [(CUSTOMER_KEY, plan.customer_id, None)]
    elif current is None and plan.customer_id not in created_in_file:
        plan.fail(CUSTOMER_KEY, "no such customer", Status.FAILED)
    else:
        _resolve_attachment(plan, raw)


def _resolve_fields(plan: RowPlan, current: Mapping[str, Any] | None) -> None:
    if plan.action is Action.UPDATE and current is None:
        plan.fail(CUSTOMER_KEY, "no such customer (use action 'upsert' or 'create' to create it)", Status.FAILED)
        return
    try:
        plan.payload, plan.changes = edit_customer(current, plan.edits, customer_id=plan.customer_id)
    except InvalidRequest as exc:
        _payload_errors(plan, exc)
        return
    if plan.action is Action.CREATE and current is not None:
        if not plan.changes:
            plan.status, plan.note = Status.UNCHANGED, "already exists with these values"
        else:
            plan.fail(CUSTOMER_KEY, "already exists with other values (use 'update' or 'upsert' to change it)",
                      Status.FAILED)
    elif not plan.changes:
        plan.status = Status.UNCHANGED


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


@dataclass
class Plan:
    """What a bulk run will do: one :class:`RowPlan` per input row. ``apply()`` carries it out."""

    client: Client
    sheet: Sheet
    rows: list[RowPlan]

    @property
    def pending(self) -> list[RowPlan]:
        """The rows that will be sent (no outcome known yet)."""
        return [r for r in self.rows if r.pending]

    @property
    def counts(self) -> dict[str, int]:
        """Rows per planned outcome: each action still to send, plus unchanged / invalid / failed / skipped."""
        return dict(Counter(str(r.action if r.pending else r.status) for r in self.rows))

    def frame(self) -> pd.DataFrame:
        """One row per input row: row, id, action, planned status, error, changes."""
        return outcome_frame(self.rows, planned=True)

    def errors_file(self, path: str | Path) -> Path:
        """Write only the rows already known to be invalid or failed, as :meth:`BulkResult.errors_file` does."""
        from .._export import write_table

        return write_table(path, resubmit_frame(self.rows), sheet="errors")

    @property
    def changes(self) -> pd.DataFrame:
        """The field-level diff: row, id, action, field, before, after."""
        return changes_frame(r for r in self.rows if r.pending)

    @property
    def errors(self) -> pd.DataFrame:
        """Every cell error: row, column, value, message."""
        return errors_frame(self.rows)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()))
        return f"<Plan {self.sheet.path.name}: {len(self.rows)} rows ({counts})>"

    def _repr_html_(self) -> str:
        return html_summary(repr(self), [("Changes", self.changes), ("Errors", self.errors)])

    def apply(
        self,
        *,
        workers: int = 8,
        rate: float | None = None,
        journal: str | Path | None = None,
        progress: bool = True,
        keep_journal: bool = False,
    ) -> BulkResult:
        """Send the pending rows: ``workers`` threads sharing the client's rate limit (``rate`` req/s for this run
        only; the client keeps its own); ``journal`` (a file path) makes the run resumable. Ctrl-C stops cleanly: rows not yet sent are
        ``skipped``. Once every row has finished (applied, unchanged, invalid or blank: nothing failed, skipped or
        in flight, not interrupted) the journal is deleted, unless ``keep_journal``. Raises JournalError (nothing
        sent) when the journal is damaged, and stops with it when the journal cannot be written."""
        client = self.client.with_options(rate_limit=rate) if rate is not None else self.client
        return run_plan(self, client, workers=workers, journal=journal, progress=progress,
                        keep_journal=keep_journal)


def plan(source: str | Path | pd.DataFrame, client: Client | None = None, *, sheet: str | None = None,
         encoding: str | None = None, columns: Mapping[str, str | None] | ColumnMapping | None = None) -> Plan:
    """Read ``source`` (a .csv/.xlsx/.ods path or a customers-style DataFrame), validate every row and diff it
    against the current state fetched 100 ids per call. ``encoding`` is a CSV file's encoding when it is neither
    UTF-8 nor UTF-16 with BOM; ``columns`` maps the file's headers to drframe columns (``{"E-mail": "email"}``,
    None ignores a header; or a :class:`ColumnMapping` with value maps). Raises SheetError (nothing sent) for an
    unreadable file or unknown columns."""
    if client is None:
        from .._connect import connect

        client = connect()
    data = read_sheet(source, sheet=sheet, encoding=encoding) if not isinstance(source, pd.DataFrame) \
        else sheet_from_frame(source)
    if columns is not None:
        mapping = columns if isinstance(columns, ColumnMapping) else ColumnMapping.from_dict({"columns": columns})
        data = mapping.apply(data)
    check_columns(data.columns, str(data.path))
    rows = [interpret(row, data.sha256) for row in data.rows]
    flag_duplicates(rows)
    valid = [r for r in rows if r.pending and r.customer_id]
    current_raw = client.customers.get_many_raw(r.customer_id for r in valid if r.customer_id)
    current_rows: dict[str, dict[str, Any]] = {}
    if current_raw:
        customers = to_frames(current_raw.values()).customers
        current_rows = {str(r[CUSTOMER_KEY]): {str(k): v for k, v in r.items()}
                        for r in customers.to_dict("records")}
    created_in_file: set[str] = set()
    for row in valid:
        customer_id = row.customer_id or ""
        _resolve(row, current_rows.get(customer_id), current_raw.get(customer_id), created_in_file)
        if row.pending and row.action is Action.CREATE:
            created_in_file.add(customer_id)
    return Plan(client, data, rows)
