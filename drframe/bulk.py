"""Bulk-apply spreadsheet rows to customers: validate, plan, apply, resume.

>>> plan = drframe.bulk.plan("updates.xlsx", client)   # reads, validates, fetches current state, diffs
>>> plan.changes                                        # the field-level diff; plan.errors: bad cells
>>> result = plan.apply(rate=20, journal="updates.journal")
>>> result.to_file("updates.results.csv")

An empty cell leaves a field unchanged; ``<clear>`` clears it. See :mod:`drframe._bulk` for the full rules.
"""

from ._bulk import ACTIONS, CLEAR, STATUSES, BulkResult, CellError, Plan, RowPlan, plan, sheet_from_frame
from ._sheet import SheetError, read_sheet

__all__ = ["ACTIONS", "CLEAR", "STATUSES", "BulkResult", "CellError", "Plan", "RowPlan", "SheetError", "plan",
           "read_sheet", "sheet_from_frame"]
