"""The change audit: what a bulk run (or a dry run's plan) changed, row by row."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..bulk import STATUSES
from ._workbook import _save, _summary_sheet, _table_sheet

if TYPE_CHECKING:
    from ..bulk import BulkResult, Plan


def change_audit(outcome: BulkResult | Plan, path: str | Path, *, mask_pii: bool = False) -> Path:
    """Write the change audit of a bulk run: Summary (counts, chart, run metadata without secrets), Changes
    (id, field, before, after), Errors (row, column, value, message) and the per-row Results. Given a
    :class:`~drframe.bulk.Plan` (a dry run), the same audit of what the plan would send: planned counts, the
    Changes and Errors, and the Plan."""
    from openpyxl import Workbook

    from ..bulk import BulkResult

    plan = outcome.plan if isinstance(outcome, BulkResult) else outcome
    client = plan.client
    metadata: dict[str, Any] = {
        "input file": plan.sheet.path.name,
        "input sha256": plan.sheet.sha256,
        "rows": len(plan.rows),
        "API base URL": client.base_url,
        "API key": f"{client.key_kind} key (not recorded)",
        "drframe": f"{__version__} (Python {platform.python_version()})",
    }
    if plan.reverts:
        metadata["reverts"] = f"the run of {plan.reverts}"
    workbook = Workbook()
    if isinstance(outcome, BulkResult):
        metadata.update({
            "finished (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "elapsed (s)": f"{outcome.elapsed:.1f}",
            "requests sent": outcome.stats.get("requests", 0),
            "retries": outcome.stats.get("retries", 0),
            "throttled (429)": outcome.stats.get("throttled", 0),
            "interrupted": "yes" if outcome.interrupted else "no",
        })
        labels = {str(status): status.description for status in STATUSES}
        _summary_sheet(workbook, "drframe change audit", outcome.counts, labels, metadata, "Rows by outcome",
                       "Status")
        rows_sheet, rows = "Results", outcome.results
    else:
        metadata["planned (UTC)"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        labels = {str(status): status.description for status in STATUSES}
        _summary_sheet(workbook, "drframe change audit of a dry run: nothing was sent",
                       dict(sorted(plan.counts.items())), labels, metadata, "Rows by planned outcome", "Planned")
        rows_sheet, rows = "Plan", plan.frame()
    _table_sheet(workbook, "Changes", outcome.changes, mask_pii=mask_pii)
    _table_sheet(workbook, "Errors", outcome.errors, mask_pii=mask_pii)
    _table_sheet(workbook, rows_sheet, rows, mask_pii=mask_pii)
    return _save(workbook, path)
