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

from ._cells import unneutralise
from ._errors import ConfigurationError
from ._export import UTC_SUFFIX, fill_sheet
from ._frames import CUSTOMER_KEY, EMPTY_VALUES_COLUMN, Frames, is_missing, to_frames
from ._models import LOCALES, format_datetime, is_valid_email
from ._version import __version__
from .bulk._constants import OUTCOMES

if TYPE_CHECKING:
    from ._client import Client
    from .bulk import BulkResult

__all__ = ["QUALITY_CHECKS", "change_audit", "quality_audit", "quality_issues", "snapshot_audit", "snapshot_changes"]

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
    fill_sheet(sheet, frame, mask_pii=mask_pii)  # widths fitted to the content
    sheet.freeze_panes = "A2"
    if len(frame.columns):
        sheet.auto_filter.ref = sheet.dimensions


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
    if plan.reverts:
        metadata["reverts"] = f"the run of {plan.reverts}"
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


# -- snapshot audit -------------------------------------------------------------------------------------------

#: Columns that change on every write, or are bookkeeping: not reported as field changes.
_SNAPSHOT_SKIP = frozenset({"updatedTime", EMPTY_VALUES_COLUMN})
_SNAPSHOT_LABELS = {
    "changed": "A field's value differs between the two exports",
    "added": "A customer only in the later export",
    "removed": "A customer only in the earlier export (deleted, or outside its filters)",
    "by drframe": "Changes a given drframe run applied",
    "outside drframe": "Changes no given drframe run explains",
}


def _snapshot_customers(path: str | Path) -> pd.DataFrame:
    """The customers table of an export: a Parquet file or directory (``drframe export --format parquet``), an
    xlsx workbook, or a CSV directory."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        frame = pd.read_excel(path, sheet_name="customers", dtype=object)
        frame.columns = [str(c).removesuffix(UTC_SUFFIX) for c in frame.columns]
        return frame
    for candidate in (path, path / "customers.parquet", path / "customers"):
        if candidate.suffix == ".parquet" or (candidate.is_dir() and any(candidate.glob("*.parquet"))):
            return pd.read_parquet(candidate)
    if (path / "customers.csv").exists():
        frame = pd.read_csv(path / "customers.csv", dtype=str, keep_default_na=False)
        return frame.map(lambda v: None if v == "" else unneutralise(v))
    raise ConfigurationError(f"{path}: not a drframe export (a .parquet file or directory, an .xlsx workbook, or a "
                             "directory with customers.csv)")


def _comparable(value: Any) -> Any:
    """One canonical form per value, so the same data read from Parquet, xlsx or CSV compares equal."""
    if is_missing(value):
        return None
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return format_datetime(aware)
    if isinstance(value, bool) or str(value) in {"True", "False"}:
        return str(value).lower()
    if hasattr(value, "item") and not isinstance(value, str):
        return _comparable(value.item())
    return str(value)


def _applied_fields(runs: Iterable[str | Path]) -> dict[tuple[str, str], str]:
    """(customer id, field) -> which drframe run applied it, from results files (``drframe apply --results``)."""
    from .bulk._before import run_label

    applied: dict[tuple[str, str], str] = {}
    for run in runs:
        run = Path(run)
        label = run_label(run)
        frame = pd.read_excel(run, dtype=str) if run.suffix.lower() == ".xlsx" else pd.read_csv(run, dtype=str)
        for record in frame.fillna("").to_dict("records"):
            if record.get("status") != "applied":
                continue
            for change in str(record.get("changes", "")).split("; "):
                field, _, _ = change.partition(": ")
                if field:
                    applied[(str(record.get("id")), field)] = f"{run.name} row {record.get('row')}{label}"
    return applied


def snapshot_changes(before: str | Path | pd.DataFrame, after: str | Path | pd.DataFrame, *,
                     runs: Iterable[str | Path] = ()) -> dict[str, pd.DataFrame]:
    """Compare two exports' customers: ``changes`` (customer_id, field, before, after, by), ``added`` and
    ``removed`` (the customers themselves). With ``runs`` (drframe results files), each change says which run
    applied it, or ``outside drframe``."""
    old = before if isinstance(before, pd.DataFrame) else _snapshot_customers(before)
    new = after if isinstance(after, pd.DataFrame) else _snapshot_customers(after)
    old_rows = {str(r[CUSTOMER_KEY]): r for r in old.to_dict("records")}
    new_rows = {str(r[CUSTOMER_KEY]): r for r in new.to_dict("records")}
    applied = _applied_fields(runs)
    fields = [c for c in dict.fromkeys([*map(str, old.columns), *map(str, new.columns)])
              if c not in _SNAPSHOT_SKIP and c != CUSTOMER_KEY]
    records = []
    for customer_id in [i for i in new_rows if i in old_rows]:
        was, now = old_rows[customer_id], new_rows[customer_id]
        for field in fields:
            a, b = _comparable(was.get(field)), _comparable(now.get(field))
            if a != b:
                by = applied.get((customer_id, field), "outside drframe") if runs else ""
                records.append({CUSTOMER_KEY: customer_id, "field": field, "before": a, "after": b, "by": by})
    changes = pd.DataFrame.from_records(records, columns=[CUSTOMER_KEY, "field", "before", "after", "by"])
    added = new[new[CUSTOMER_KEY].astype(str).isin(set(new_rows) - set(old_rows))]
    removed = old[old[CUSTOMER_KEY].astype(str).isin(set(old_rows) - set(new_rows))]
    return {"changes": changes.astype("string"), "added": added.reset_index(drop=True),
            "removed": removed.reset_index(drop=True)}


def snapshot_audit(before: str | Path, after: str | Path, path: str | Path, *, runs: Iterable[str | Path] = (),
                   mask_pii: bool = False) -> Path:
    """Write what changed between two exports, in the change-audit layout: Summary, Changes (customer_id, field,
    before, after, by), Added and Removed customers."""
    from openpyxl import Workbook

    runs = list(runs)
    found = snapshot_changes(before, after, runs=runs)
    changes = found["changes"]
    counts = {"changed": len(changes), "added": len(found["added"]), "removed": len(found["removed"])}
    if runs:
        counts["by drframe"] = int((changes["by"] != "outside drframe").sum())
        counts["outside drframe"] = int((changes["by"] == "outside drframe").sum())
    metadata = {
        "before": Path(before).name, "after": Path(after).name,
        "drframe runs": ", ".join(Path(r).name for r in runs) or "none given",
        "customers changed": changes[CUSTOMER_KEY].nunique(),
        "generated (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "drframe": __version__,
    }
    workbook = Workbook()
    _summary_sheet(workbook, "drframe snapshot audit", counts, _SNAPSHOT_LABELS, metadata, "Differences", "Kind")
    _table_sheet(workbook, "Changes", changes, mask_pii=mask_pii)
    _table_sheet(workbook, "Added", found["added"], mask_pii=mask_pii)
    _table_sheet(workbook, "Removed", found["removed"], mask_pii=mask_pii)
    return _save(workbook, path)
