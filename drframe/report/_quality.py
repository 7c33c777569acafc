"""The quality audit: the state of the customer data, one finding per row."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._core._models import LOCALES, is_valid_email
from .._tables._frames import CUSTOMER_KEY, Frames, to_frames
from .._version import __version__
from ._workbook import _save, _summary_sheet, _table_sheet

if TYPE_CHECKING:
    from .._api._client import Client


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

    from .._api._client import Client

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
