"""Bulk-apply spreadsheet rows to customers: validate, plan, apply, resume.

>>> plan = drframe.bulk.plan("updates.xlsx", client)   # reads, validates, fetches current state, diffs
>>> plan.changes                                        # the field-level diff; plan.errors: bad cells
>>> result = plan.apply(rate=20, journal="updates.journal")
>>> result.to_file("updates.results.csv")

Rules an analyst can rely on:

* Columns are the ``customers`` frame's columns (``customer_id``, ``email``, ``shipping.address.postalCode``,
  ``metadata.<key>`` ...) plus an optional ``action`` column (:class:`Action`) and ``source_id`` / ``tax_id`` for
  the attach/detach actions.  An exported sheet, edited, is a valid input; unchanged rows make no API call.
* An empty cell leaves the field unchanged; the token ``<clear>`` (:data:`CLEAR`) clears it (a metadata key is
  removed); typed as ``'<clear>`` it is that text.
* Read-only columns (``createdTime``, ``updatedTime``, ``liveMode``, ``_empty_values``) are ignored, and so are
  field cells on ``delete`` and attach/detach rows.
* A create without ``customer_id`` gets an id derived from the file's SHA-256 and the row number, so re-running
  the same file never creates the customer twice.
* Every row ends in exactly one :class:`Status`.

The package (a workflow: uses the layers below, never ``cli``): ``_constants`` holds the vocabulary (actions,
statuses, column names), ``_mapping`` maps a file's own headers and values, ``_rows`` reads and checks rows into
``_rowplan`` (one row each), ``_reading`` streams them in and fetches current state, ``_spill`` keeps what each row holds out of memory
(cells, payload, changes; delete rows' before-images) in a temporary file, ``_resolve`` resolves each row against it,
``_plan`` is the plan they make, ``_guards`` its limits, ``_run`` applies it through the journal (``_journal``,
one run at a time by ``_lock``), ``_tax`` puts tax identifiers, ``_results`` builds and writes the outcome
tables, ``_before`` keeps the before-images, ``_revert`` plans a run's undo, ``_saved`` saves a plan for approval.
"""

from .._core._text import CLEAR
from .._errors import JournalError, SheetError
from .._files._sheets import read_sheet
from ._constants import OUTCOMES, Action, Status
from ._mapping import ColumnMapping, propose_mapping
from ._plan import Plan, plan
from ._results import BulkResult
from ._revert import revert_plan
from ._rowplan import CellError, RowPlan
from ._rows import sheet_from_frame
from ._saved import load_plan

#: Every action name, in the order the documentation lists them.
ACTIONS: tuple[Action, ...] = tuple(Action)
#: The statuses a finished run reports.
STATUSES = OUTCOMES

__all__ = ["ACTIONS", "CLEAR", "STATUSES", "Action", "BulkResult", "CellError", "ColumnMapping", "JournalError", "Plan",
           "RowPlan", "SheetError", "Status", "load_plan", "plan", "propose_mapping", "read_sheet", "revert_plan",
           "sheet_from_frame"]

