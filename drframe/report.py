"""Audit reports as Excel workbooks: what a bulk run changed, and the state and quality of the customer data.

Both neutralise formula-like cells (``= + - @`` are stored as text, never evaluated), never contain an API key,
and mask emails and phone numbers when asked (``mask_pii=True``).
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._export import fill_sheet
from ._frames import CUSTOMER_KEY, Frames, to_frames
from ._models import LOCALES, is_valid_email
from ._version import __version__
from .bulk._constants import OUTCOMES

if TYPE_CHECKING:
    from ._client import Client
    from .bulk import BulkResult

__all__ = ["QUALITY_CHECKS", "change_audit", "quality_audit", "quality_issues"]

QUALITY_CHECKS: dict[str, str] = {
    "missing_email": "No email address",
    "invalid_email": "Email address is not valid",
    "duplicate_email": "Email address shared with another customer",
    "invalid_locale": "Locale is not one the API supports",
    "disabled": "Customer is disabled (enabled = FALSE)",
    "request_to_be_forgotten": "Customer asked to be forgotten",
    "expired_tax_certificate": "A tax certificate's end date has passed",
    "unverified_tax_identifier": "A tax identifier is not verified",
}


def _summary_sheet(workbook: Any, title: str, counts: Mapping[str, int], labels: Mapping[str, str],
                   metadata: Mapping[str, Any], chart_title: str, heading: str) -> None:
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font

    sheet = workbook.active
    sheet.title = "Summary"
    sheet["A1"] = title
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([])
    sheet.append([heading, "Description", "Rows"])
    for cell in sheet[3]:
        cell.font = Font(bold=True)
    first = sheet.max_row + 1
    for name, count in counts.items():
        sheet.append([name, labels.get(name, ""), int(count)])
    last = sheet.max_row
    sheet.append([])
    sheet.append(["Run", "Value"])
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    fill_sheet(sheet, pd.DataFrame({"Run": list(metadata), "Value": [str(v) for v in metadata.values()]}),
               header=False)
    chart = BarChart()
    chart.type = "bar"
    chart.title = chart_title
    chart.legend = None
    chart.y_axis.title = "Rows"
    chart.add_data(Reference(sheet, min_col=3, min_row=first - 1, max_row=last), titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=first, max_row=last))
    chart.height, chart.width = 7.5, 16
    sheet.add_chart(chart, "E3")
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["B"].width = 48
    sheet.column_dimensions["C"].width = 12


def _table_sheet(workbook: Any, name: str, frame: pd.DataFrame, *, mask_pii: bool) -> None:
    sheet = workbook.create_sheet(name)
    fill_sheet(sheet, frame, mask_pii=mask_pii)
    sheet.freeze_panes = "A2"
    if len(frame.columns):
        sheet.auto_filter.ref = sheet.dimensions
    for index, column in enumerate(frame.columns, start=1):
        sheet.column_dimensions[sheet.cell(1, index).column_letter].width = min(60, max(10, len(str(column)) + 4))


def _save(workbook: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def change_audit(result: BulkResult, path: str | Path, *, mask_pii: bool = False) -> Path:
    """Write the change audit of a bulk run: Summary (counts, chart, run metadata without secrets), Changes
    (id, field, before, after), Errors (row, column, value, message) and the per-row Results."""
    from openpyxl import Workbook

    plan = result.plan
    client = plan.client
    metadata = {
        "input file": plan.sheet.path.name,
        "input sha256": plan.sheet.sha256,
        "finished (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "elapsed (s)": f"{result.elapsed:.1f}",
        "rows": len(result.rows),
        "API base URL": client.base_url,
        "API key": f"{client.key_kind} key (not recorded)",
        "requests sent": result.stats.get("requests", 0),
        "retries": result.stats.get("retries", 0),
        "throttled (429)": result.stats.get("throttled", 0),
        "interrupted": "yes" if result.interrupted else "no",
        "drframe": f"{__version__} (Python {platform.python_version()})",
    }
    workbook = Workbook()
    labels = {str(status): status.description for status in OUTCOMES}
    _summary_sheet(workbook, "drframe change audit", result.counts, labels, metadata, "Rows by outcome",
                   "Status")
    _table_sheet(workbook, "Changes", result.changes, mask_pii=mask_pii)
    _table_sheet(workbook, "Errors", result.errors, mask_pii=mask_pii)
    _table_sheet(workbook, "Results", result.results, mask_pii=mask_pii)
    return _save(workbook, path)


def quality_issues(frames: Frames, *, now: datetime | None = None) -> pd.DataFrame:
    """One row per data-quality finding: customer_id, check, field, value, detail."""
    now = now or datetime.now(UTC)
    customers = frames.customers
    records: list[dict[str, Any]] = []

    def add(ids: Iterable[Any], check: str, field: str, values: Iterable[Any],
            details: Iterable[str] | None = None) -> None:
        values = list(values)
        for customer_id, value, detail in zip(ids, values, details or [""] * len(values), strict=True):
            records.append({"customer_id": customer_id, "check": check, "field": field,
                            "value": None if pd.isna(value) else str(value), "detail": detail})

    ids = customers[CUSTOMER_KEY]
    email = customers["email"] if "email" in customers else pd.Series(pd.NA, index=customers.index, dtype="string")
    missing = email.isna() | (email.str.strip() == "")
    add(ids[missing], "missing_email", "email", email[missing])
    invalid = ~missing & ~email.fillna("").map(is_valid_email).astype(bool)
    add(ids[invalid], "invalid_email", "email", email[invalid])
    folded = email.str.strip().str.casefold()
    duplicated = ~missing & folded.duplicated(keep=False)
    for customer_id, value, key in zip(ids[duplicated], email[duplicated], folded[duplicated], strict=True):
        others = ids[duplicated & (folded == key) & (ids != customer_id)]
        add([customer_id], "duplicate_email", "email", [value], ["also used by " + ", ".join(map(str, others))])
    if "locale" in customers:
        locale = customers["locale"]
        bad = locale.notna() & ~locale.isin(LOCALES)
        add(ids[bad], "invalid_locale", "locale", locale[bad])
    if "enabled" in customers:
        disabled = customers["enabled"].eq(False).fillna(False).astype(bool)
        add(ids[disabled], "disabled", "enabled", customers["enabled"][disabled])
    if "requestToBeForgotten" in customers:
        forgotten = customers["requestToBeForgotten"].eq(True).fillna(False).astype(bool)
        add(ids[forgotten], "request_to_be_forgotten", "requestToBeForgotten",
            customers["requestToBeForgotten"][forgotten])
    certificates = frames.tax_certificates
    if len(certificates) and "endDate" in certificates:
        expired = certificates["endDate"].lt(pd.Timestamp(now)).fillna(False).astype(bool)
        names = certificates["companyName"] if "companyName" in certificates else certificates["endDate"].isna()
        add(certificates["customer_id"][expired], "expired_tax_certificate", "taxCertificates.endDate",
            certificates["endDate"][expired], [f"certificate of {name}" for name in names[expired]])
    identifiers = frames.tax_identifiers
    if len(identifiers) and "state" in identifiers:
        unverified = identifiers["state"].ne("verified").fillna(True).astype(bool)
        add(identifiers["customer_id"][unverified], "unverified_tax_identifier", "taxIdentifiers.state",
            identifiers["state"][unverified], [f"tax identifier {t}" for t in identifiers["tax_id"][unverified]])
    frame = pd.DataFrame.from_records(records, columns=["customer_id", "check", "field", "value", "detail"])
    return frame.astype("string")


def quality_audit(source: Client | Frames | Iterable[Mapping[str, Any]], path: str | Path, *,
                  mask_pii: bool = False, now: datetime | None = None) -> Path:
    """Write the data-quality audit of a customer base (a client, Frames, or raw customers): Summary with a
    chart, Issues (one row per finding), and the Customers table."""
    from openpyxl import Workbook

    from ._client import Client

    if isinstance(source, Client):
        frames = source.customers.to_frames()
    elif isinstance(source, Frames):
        frames = source
    else:
        frames = to_frames(source)
    issues = quality_issues(frames, now=now)
    counts = {check: int((issues["check"] == check).sum()) for check in QUALITY_CHECKS}
    metadata = {
        "customers": len(frames.customers),
        "customers with a finding": issues["customer_id"].nunique(),
        "generated (UTC)": (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S"),
        "drframe": __version__,
    }
    workbook = Workbook()
    _summary_sheet(workbook, "drframe data-quality audit", counts, QUALITY_CHECKS, metadata, "Findings by check",
                   "Check")
    _table_sheet(workbook, "Issues", issues, mask_pii=mask_pii)
    _table_sheet(workbook, "Customers", frames.customers, mask_pii=mask_pii)
    return _save(workbook, path)
