"""Audit reports as Excel workbooks: what a bulk run changed, and the state and quality of the customer data.

Both neutralise formula-like cells (``= + - @`` are stored as text, never evaluated), never contain an API key,
and mask emails and phone numbers when asked (``mask_pii=True``).
"""

from ._change import change_audit
from ._quality import QUALITY_CHECKS, quality_audit, quality_issues
from ._snapshot import snapshot_audit, snapshot_changes

__all__ = ["QUALITY_CHECKS", "change_audit", "quality_audit", "quality_issues", "snapshot_audit", "snapshot_changes"]
