"""Edit many customers in a grid (ipydatagrid), checked cell by cell with the bulk rules, sent through a plan."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd

from .._core._schema import WRITABLE_CUSTOMER_FIELDS
from .._tables._frames import CUSTOMER_KEY, Frames, column_path, is_missing, to_frames
from ..bulk._constants import CLEAR, Status
from ._common import _status_html
from ._search import _SEARCH_ERRORS, _search_error_text

if TYPE_CHECKING:
    from .._api._client import Client
    from ..bulk import BulkResult, CellError, Plan


GRID_COLUMNS = ("email", "locale", "type", "enabled", "shipping.name", "shipping.address.country",
                "shipping.address.postalCode")
#: The grid's last column: each row's invalid cells with the bulk rule's message (read-only).
PROBLEMS_COLUMN = "problems"
_INVALID_FILL = "#f8d7da"


def _writable(column: str) -> bool:
    return column_path(column)[0] in WRITABLE_CUSTOMER_FIELDS


class CustomerGrid:
    """Many customers in an editable grid (``ipydatagrid``): edit cells as in a spreadsheet, then :meth:`plan`.

    Cells hold text as an exported sheet does (an emptied cell clears the field, as ``<clear>`` does in a
    sheet); only writable columns take edits. Each edit is checked at once by the bulk rules
    (:func:`drframe.bulk.plan`'s, against the row the grid holds: no call), an invalid cell turns red with the
    same message a sheet row gets, and a summary of pending rows, fields and invalid cells sits above the grid.
    Edits never call the API: ``grid.plan()`` is a :class:`drframe.bulk.Plan` of the edited cells only (fresh
    state fetched, the same diff, review, journal and results as a spreadsheet); the Plan and Apply buttons do
    the same in the page. The browser draws only the visible cells (a canvas), so 20,000 rows stay responsive.
    """

    def __init__(self, frames_or_client: Frames | pd.DataFrame | Client, columns: Sequence[str] | None = None, *,
                 client: Client | None = None, height: str = "420px") -> None:
        from ipydatagrid import DataGrid, TextRenderer, VegaExpr

        from .._api._client import Client
        from ..bulk._rows import cell_text, check_columns

        if isinstance(frames_or_client, Client):
            client = client or frames_or_client
            customers = frames_or_client.customers.to_frames().customers
        else:
            customers = frames_or_client.customers if isinstance(frames_or_client, Frames) else frames_or_client
        self.client = client
        shown = [c for c in (columns or GRID_COLUMNS) if c != CUSTOMER_KEY]
        check_columns(shown, "CustomerGrid columns")  # an unknown name stops here, with the closest known one
        self.columns = shown
        self.writable = [c for c in shown if _writable(c)]
        self._customers = customers.reset_index(drop=True)
        text = pd.DataFrame({c: (self._customers[c].map(cell_text) if c in self._customers else "")
                             for c in shown}, dtype=object)
        self._original = text.copy()
        text.index = pd.Index(self._customers[CUSTOMER_KEY].astype(str), name=CUSTOMER_KEY)
        text[PROBLEMS_COLUMN] = ""
        self.edits: dict[int, dict[str, str]] = {}
        """Row position -> column -> the edited text (``<clear>`` for an emptied cell)."""
        self.problems: dict[int, list[CellError]] = {}
        self.changes: dict[int, list[tuple[str, Any, Any]]] = {}
        self._refreshed: dict[int, dict[str, Any]] = {}  # rows re-read after an apply
        self._busy = False
        fill = {c: TextRenderer(background_color=VegaExpr(
            f"indexof('; ' + cell.metadata.data['{PROBLEMS_COLUMN}'], '; {c}: ') >= 0 ? '{_INVALID_FILL}' : "
            f"'{'#ffffff' if c in self.writable else '#f3f3f3'}'")) for c in shown}
        fill[PROBLEMS_COLUMN] = TextRenderer(text_color="#b00020", background_color="#f3f3f3")
        self.grid = DataGrid(text, editable=True, renderers=fill, base_column_size=170, base_row_size=24,
                             base_column_header_size=28, base_row_header_size=190,
                             column_widths={PROBLEMS_COLUMN: 420}, layout=w.Layout(height=height))
        self.grid.on_cell_change(self._on_cell_change)
        self.summary = w.HTML()
        self.status = w.HTML()
        self.plan_button = w.Button(description="Plan changes", icon="list", disabled=True)
        self.apply_button = w.Button(description="Apply", icon="check", button_style="warning", disabled=True)
        self.review = w.HTML()
        self.current_plan: Plan | None = None
        self.result: BulkResult | None = None
        self.plan_button.on_click(lambda _: self._plan_clicked())
        self.apply_button.on_click(lambda _: self.apply())
        read_only = [c for c in shown if c not in self.writable]
        note = (f"<i>read-only: {html.escape(', '.join(read_only))}</i>" if read_only else "")
        self.widget = w.VBox([self.summary, self.grid, w.HTML(note), w.HBox([self.plan_button, self.apply_button]),
                              self.status, self.review])
        self._summarise()

    # -- editing ----------------------------------------------------------------------------------------------

    def edit(self, row: int, column: str, value: str) -> None:
        """Edit one cell as typing into it does (``row`` is the row's position in the grid)."""
        self.grid.set_cell_value_by_index(column, row, value)

    def _on_cell_change(self, change: Mapping[str, Any]) -> None:
        if self._busy:
            return
        row, column = int(change["row"]), str(change["column"])
        value = change["value"]
        text = "" if value is None or is_missing(value) else str(value).strip()
        if column not in self.writable:  # read-only (or the problems column): put back what it held
            held = str(self._original.at[row, column]) if column in self._original else self._problems_text(row)
            if text == held:  # the browser echoing a value set here
                return
            self._set(row, column, held)
            self._show(f"{column} is read-only: the edit was undone.", ok=False)
            return
        original = str(self._original.at[row, column])
        row_edits = self.edits.setdefault(row, {})
        if text == original:
            row_edits.pop(column, None)
        else:
            row_edits[column] = text or CLEAR
        if not row_edits:
            del self.edits[row]
        self._check(row)
        self._summarise()

    def _set(self, row: int, column: str, value: str) -> None:
        self._busy = True
        try:
            self.grid.set_cell_value_by_index(column, row, value)
        finally:
            self._busy = False

    def _current_row(self, row: int) -> dict[str, Any]:
        return self._refreshed.get(row) or {str(k): v for k, v in self._customers.iloc[row].to_dict().items()}

    def _check(self, row: int) -> None:
        """The row's edits through the bulk row rules: its invalid cells and field changes, marked in the grid."""
        from ..bulk._resolve import check_row

        before = self._problems_text(row)
        self.problems.pop(row, None)
        self.changes.pop(row, None)
        if row in self.edits:
            current = self._current_row(row)
            checked = check_row(row + 2, {CUSTOMER_KEY: str(current[CUSTOMER_KEY]), **self.edits[row]}, current)
            if checked.errors:
                self.problems[row] = checked.errors
            if checked.changes:
                self.changes[row] = checked.changes
        after = self._problems_text(row)
        if after != before:
            self._set(row, PROBLEMS_COLUMN, after)

    def _problems_text(self, row: int) -> str:
        return "; ".join(f"{e.column}: {e.message}" for e in self.problems.get(row, []))

    # -- the summary, the plan, applying ----------------------------------------------------------------------

    def pending(self) -> dict[str, int]:
        """Pending edits: rows, fields changed, invalid cells."""
        return {"rows": len(self.edits), "fields": sum(len(c) for c in self.changes.values()),
                "invalid cells": sum(len(p) for p in self.problems.values())}

    def _summarise(self) -> None:
        counts = self.pending()
        invalid = counts["invalid cells"]
        text = (f"<b>Pending:</b> {counts['rows']} row(s) edited, {counts['fields']} field change(s), "
                + (f"<span style='color:#b00020'><b>{invalid} invalid cell(s)</b></span>" if invalid
                   else "0 invalid cells")
                + " &middot; nothing is sent until you plan and apply")
        problems = "".join(
            f"<li><code>{html.escape(str(self._customers.at[r, CUSTOMER_KEY]))}</code> {html.escape(e.column)}"
            f" = {html.escape(repr(e.value))}: {html.escape(e.message)}</li>"
            for r, errors in sorted(self.problems.items())[:20] for e in errors)
        self.summary.value = f"<div class='drframe-grid-summary'>{text}</div>" + (
            f"<ul class='drframe-grid-problems' style='color:#b00020'>{problems}</ul>" if problems else "")
        self.plan_button.disabled = not self.edits

    def edits_frame(self) -> pd.DataFrame:
        """The edited rows as a bulk input: ``customer_id`` and every edited column; a cell not edited in its row
        is empty (left unchanged), an emptied one is ``<clear>``."""
        columns = [c for c in self.writable if any(c in e for e in self.edits.values())]
        records = [{CUSTOMER_KEY: str(self._customers.at[r, CUSTOMER_KEY]),
                    **{c: self.edits[r].get(c, "") for c in columns}} for r in sorted(self.edits)]
        return pd.DataFrame.from_records(records, columns=[CUSTOMER_KEY, *columns]).astype("string")

    def plan(self, client: Client | None = None) -> Plan:
        """The pending edits as a :class:`drframe.bulk.Plan` (``drframe.bulk.plan(grid.edits_frame(), client)``):
        current state fetched, the same diff, errors, review, journal and results as a spreadsheet."""
        from .. import bulk

        self.current_plan = bulk.plan(self.edits_frame(), client or self.client)
        return self.current_plan

    def _plan_clicked(self) -> None:
        try:
            plan = self.plan()
        except _SEARCH_ERRORS as exc:
            self._show(_search_error_text(exc), ok=False)
            return
        self.review.value = plan._repr_html_()
        sending = len(plan.pending)
        self.apply_button.description = f"Apply {sending} row(s)"
        self.apply_button.disabled = not sending
        self._show(f"Planned: {sending} row(s) to send. Review the changes, then Apply.")

    def apply(self, **options: Any) -> BulkResult | None:
        """Apply the last plan (``plan.apply(**options)``: workers, rate, journal ...); shows the outcome, and the
        applied rows become the grid's new starting point."""
        plan = self.current_plan or self.plan()
        self.apply_button.disabled, self.apply_button.description = True, "Apply"
        options.setdefault("progress", False)
        try:
            result = plan.apply(**options)
        except _SEARCH_ERRORS as exc:
            self._show(_search_error_text(exc), ok=False)
            return None
        self.result, self.current_plan = result, None
        by_id = {str(self._customers.at[r, CUSTOMER_KEY]): r for r in self.edits}
        self._rebase([by_id[row.customer_id] for row in result.rows
                      if row.status in {Status.APPLIED, Status.UNCHANGED} and row.customer_id in by_id])
        counts = ", ".join(f"{k}: {v}" for k, v in result.counts.items() if v)
        self._show(f"Done: {counts}.", ok=result.ok)
        self.review.value = result._repr_html_()
        return result

    def _rebase(self, rows: list[int]) -> None:
        """Rows the API now holds as edited: read them again and make them the starting point."""
        if not rows:
            return
        from ..bulk._rows import cell_text

        client = self.client or (self.current_plan.client if self.current_plan else None)
        ids = [str(self._customers.at[r, CUSTOMER_KEY]) for r in rows]
        fresh = to_frames(list(client.customers.get_many_raw(ids).values())).customers if client else None
        for r, customer_id in zip(rows, ids, strict=True):
            if fresh is not None:
                match = fresh[fresh[CUSTOMER_KEY] == customer_id]
                if len(match):
                    self._refreshed[r] = {str(k): v for k, v in match.iloc[0].to_dict().items()}
            for column in self.edits.pop(r, {}):
                value = self._refreshed.get(r, {}).get(column)
                self._original.at[r, column] = cell_text(value)
            self._check(r)
        self._summarise()

    def _show(self, message: str, *, ok: bool = True) -> None:
        self.status.value = _status_html(message, ok=ok)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        counts = self.pending()
        return (f"CustomerGrid({len(self._customers)} rows; pending: {counts['rows']} rows, {counts['fields']} "
                f"fields, {counts['invalid cells']} invalid cells)")
