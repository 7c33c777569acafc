"""The outcome tables of a plan or a run (results, changes, errors) and :class:`BulkResult`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._constants import ACTION_COLUMN, CUSTOMER_KEY, ERROR_COLUMN, OUTCOMES, SOURCE_ROW_COLUMN, Status

if TYPE_CHECKING:
    from ._plan import Plan
    from ._rowplan import RowPlan


def _change_text(changes: list[tuple[str, Any, Any]]) -> str:
    return "; ".join(f"{column}: {before!r} -> {after!r}" for column, before, after in changes)


def resubmit_frame(rows: list[RowPlan]) -> pd.DataFrame:
    """The invalid and failed rows as an input file again: an ``error`` column and a ``source_row`` column (the
    row's number in the file first applied, carried through every round; both ignored when the file is read
    back), then every input cell, read-only columns included. A generated id is written into ``customer_id`` so a
    fixed create keeps it."""
    explained = {ERROR_COLUMN, SOURCE_ROW_COLUMN}
    columns = [c for c in (rows[0].cells if rows else ()) if c not in explained]
    if CUSTOMER_KEY not in columns:
        columns.insert(0, CUSTOMER_KEY)
    records = []
    for row in rows:
        if row.status not in {Status.INVALID, Status.FAILED}:
            continue
        held = row.cells
        cells = {c: held.get(c, "") for c in columns}
        if not cells[CUSTOMER_KEY] and row.customer_id and CUSTOMER_KEY not in {e.column for e in row.errors}:
            cells[CUSTOMER_KEY] = row.customer_id
        source_row = held.get(SOURCE_ROW_COLUMN) or str(row.row)
        records.append({ERROR_COLUMN: row.error_text, SOURCE_ROW_COLUMN: source_row, **cells})
    return pd.DataFrame.from_records(records, columns=[ERROR_COLUMN, SOURCE_ROW_COLUMN, *columns]).astype("string")


def _labelled(frame: pd.DataFrame, labels: list[Any] | None) -> pd.DataFrame:
    """For a DataFrame input, an ``index`` column of its rows' index labels in place of ``row`` (the row number a
    spreadsheet would show, which a DataFrame has not)."""
    if labels is None:
        return frame
    numbers = frame.pop("row").tolist()
    frame.insert(0, "index", pd.Series([labels[n - 2] for n in numbers], index=frame.index, dtype=object))
    return frame


#: Rows of a results (or plan) file made into a table at a time when it is written as CSV.
OUTCOME_PART = 2_000


def write_outcome(path: str | Path, rows: list[RowPlan], *, planned: bool = False, labels: list[Any] | None = None,
                  sheet: str = "results") -> Path:
    """The results (or, ``planned``, the plan) of ``rows`` as .csv or .xlsx (see :func:`outcome_frame`). A CSV is
    written ``OUTCOME_PART`` rows at a time: memory does not grow with the number of rows."""
    from .._files._export import write_csv_parts, write_table

    if Path(path).suffix.lower() == ".xlsx":
        return write_table(path, outcome_frame(rows, planned=planned, labels=labels), sheet=sheet)
    columns = _input_columns(rows)
    parts = (outcome_frame(rows[start:start + OUTCOME_PART], planned=planned, labels=labels, input_columns=columns)
             for start in range(0, max(len(rows), 1), OUTCOME_PART))
    return write_csv_parts(path, parts, sheet)


def _input_columns(rows: list[RowPlan]) -> list[str]:
    return [c for c in rows[0].cells if c != ACTION_COLUMN] if rows else []


def outcome_frame(rows: list[RowPlan], *, planned: bool = False, labels: list[Any] | None = None,
                  input_columns: list[str] | None = None) -> pd.DataFrame:
    """One row per row of ``rows``: row, id, action, status, error, note, changes, resumed, then the input cells
    (``input_columns``: by default, those of the first row)."""
    if input_columns is None:
        input_columns = _input_columns(rows)
    records = []
    for row in rows:
        status = row.status or (Status.PENDING if planned else Status.SKIPPED)
        cells, changes = row.outcome()
        record: dict[str, Any] = {
            "row": row.row, "id": row.customer_id, "action": row.action or None, "status": status,
            "error": row.error_text or None, "note": row.note or None, "changes": _change_text(changes) or None,
            "resumed": row.resumed,
        }
        for column in input_columns:
            record.setdefault(column, cells.get(column, ""))
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=[
        "row", "id", "action", "status", "error", "note", "changes", "resumed",
        *[c for c in input_columns if c not in {"row", "id", "status", "error", "note", "changes", "resumed"}]])
    dtypes: dict[str, str] = {c: "string" for c in frame.columns}
    dtypes.update(row="Int64", resumed="boolean")
    return _labelled(frame.astype(dtypes), labels)


def changes_frame(rows: Iterable[RowPlan], *, labels: list[Any] | None = None) -> pd.DataFrame:
    records = [
        {"row": r.row, "id": r.customer_id, "action": r.action, "field": column, "before": before, "after": after}
        for r in rows for column, before, after in r.changes
    ]
    frame = pd.DataFrame.from_records(records, columns=["row", "id", "action", "field", "before", "after"])
    return _labelled(frame.astype({"row": "Int64", "id": "string", "action": "string", "field": "string"}), labels)


def errors_frame(rows: Iterable[RowPlan], *, labels: list[Any] | None = None) -> pd.DataFrame:
    records = [{"row": e.row, "id": r.customer_id, "column": e.column, "value": e.value, "message": e.message}
               for r in rows for e in r.errors]
    records += [{"row": r.row, "id": r.customer_id, "column": "", "value": "", "message": r.note}
                for r in rows if r.status is Status.FAILED and not r.errors]
    frame = pd.DataFrame.from_records(records, columns=["row", "id", "column", "value", "message"])
    return _labelled(frame.astype({"row": "Int64", "id": "string", "column": "string", "value": "string",
                                   "message": "string"}), labels)


def html_summary(title: str, tables: list[tuple[str, pd.DataFrame]], limit: int = 10) -> str:
    import html

    parts = [f"<p><b>{html.escape(title)}</b></p>"]
    for name, frame in tables:
        if len(frame):
            more = f" (first {limit} of {len(frame)})" if len(frame) > limit else ""
            parts.append(f"<p>{name}{more}</p>" + frame.head(limit).to_html(index=False, na_rep=""))
    return "".join(parts)


@dataclass
class BulkResult:
    """The outcome of :meth:`Plan.apply`: one status per input row."""

    plan: Plan
    elapsed: float
    stats: dict[str, int]
    interrupted: bool = False

    @property
    def rows(self) -> list[RowPlan]:
        """One :class:`RowPlan` per input row, with its final status."""
        return self.plan.rows

    @property
    def results(self) -> pd.DataFrame:
        """One row per input row: row, id, action, status, error, note, changes, resumed, then the input cells
        (``index``, the label, for a DataFrame input instead of ``row``)."""
        return outcome_frame(self.rows, labels=self.plan.sheet.labels)

    @property
    def changes(self) -> pd.DataFrame:
        """Field-level changes of the rows that were applied: row, id, action, field, before, after."""
        return changes_frame((r for r in self.rows if r.status is Status.APPLIED), labels=self.plan.sheet.labels)

    @property
    def errors(self) -> pd.DataFrame:
        """Every cell error and failure: row, id, column, value, message (``index`` for a DataFrame input)."""
        return errors_frame(self.rows, labels=self.plan.sheet.labels)

    @property
    def counts(self) -> dict[str, int]:
        """Rows per status, every status listed (zero included; ``kept`` and ``stale``, which only a revert or a
        saved plan can have, only when some row has them)."""
        counts = Counter(r.status or Status.SKIPPED for r in self.rows)
        return {str(status): counts.get(status, 0) for status in OUTCOMES
                if counts.get(status) or status not in {Status.KEPT, Status.STALE}}

    @property
    def ok(self) -> bool:
        """True when no row failed, was invalid, kept or stale, and the run was not interrupted."""
        counts = self.counts
        return not self.interrupted and not any(counts.get(s) for s in (Status.FAILED, Status.INVALID, Status.KEPT,
                                                                         Status.STALE))

    @property
    def throughput(self) -> float:
        """API writes per second over the run."""
        sent = sum(1 for r in self.rows if r.status in {Status.APPLIED, Status.FAILED} and not r.resumed)
        return sent / self.elapsed if self.elapsed > 0 else 0.0

    def to_file(self, path: str | Path) -> Path:
        """Write the results as .csv or .xlsx (formula-like cells neutralised)."""
        return write_outcome(path, self.rows, labels=self.plan.sheet.labels)

    def errors_file(self, path: str | Path) -> Path:
        """Write only the invalid and failed rows, original cells plus an ``error`` column, as .csv or .xlsx:
        fix the cells and apply that file (the ``error`` column is ignored)."""
        from .._files._export import write_table

        return write_table(path, resubmit_frame(self.rows), sheet="errors")

    def revert_plan(self, *, force: bool = False) -> Plan:
        """The plan that takes this run back (see :func:`drframe.bulk.revert_plan`): apply it like any plan.
        Rows changed since the run are ``kept`` unless ``force``."""
        from ._revert import result_revert_plan

        return result_revert_plan(self, force)

    def _repr_html_(self) -> str:
        return html_summary(repr(self), [("Errors", self.errors)])

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in self.counts.items() if v)
        flag = ", interrupted" if self.interrupted else ""
        return f"<BulkResult {len(self.rows)} rows ({counts}) in {self.elapsed:.1f} s{flag}>"
