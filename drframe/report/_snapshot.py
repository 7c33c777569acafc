"""Snapshot audits: what changed between two snapshots of the customers, and which drframe run did it."""

from __future__ import annotations

import glob
import re
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._errors import ConfigurationError
from .._files._snapshots import comparable, read_snapshot
from .._tables._frames import CUSTOMER_KEY, EMPTY_VALUES_COLUMN, PARENT_ROW_COLUMN, Frames
from .._version import __version__
from ._workbook import _save, _summary_sheet, _table_sheet

if TYPE_CHECKING:
    pass


#: A run's change to these columns shows in a snapshot as this field.
_RUN_FIELDS = {"tax_id": "tax_identifier"}


#: Columns that change on every write, or are bookkeeping: not reported as field changes.
_SNAPSHOT_SKIP = frozenset({"updatedTime", EMPTY_VALUES_COLUMN, PARENT_ROW_COLUMN, "position"})


_SNAPSHOT_LABELS = {
    "changed": "A field's value differs between the two exports",
    "added": "A customer only in the later export",
    "removed": "A customer only in the earlier export (deleted, or outside its filters)",
    "by drframe": "Changes a given drframe run applied",
    "outside drframe": "Changes no given drframe run explains",
}


#: The columns that make a table a drframe results file (``drframe apply --results``, ``BulkResult.to_file``).
_RESULTS_COLUMNS = frozenset({"row", "id", "status", "changes"})


def _results_table(path: Path) -> pd.DataFrame | None:
    """The results table in ``path``, or None when it is not a drframe results file."""
    try:
        if path.suffix.lower() == ".xlsx":
            frame = pd.read_excel(path, dtype=str, engine="openpyxl")
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError, UnicodeDecodeError):
        return None
    return frame if set(map(str, frame.columns)) >= _RESULTS_COLUMNS else None


def _run_files(runs: Iterable[str | Path]) -> list[Path]:
    """The results files that ``runs`` name, oldest first: files, folders (each results file in it, other files
    passed over) and globs (``runs/*.results*.csv``). Raises ConfigurationError for a named file that is not a
    results file, or a folder or glob with none."""
    found: dict[Path, None] = {}
    for run in runs:
        text = str(run)
        path = Path(text)
        if path.is_file():
            if _results_table(path) is None:
                raise ConfigurationError(f"--runs {text}: not a drframe results file (it needs the columns "
                                         f"{', '.join(sorted(_RESULTS_COLUMNS))})")
            found[path] = None
            continue
        candidates = path.iterdir() if path.is_dir() else (Path(p) for p in glob.glob(text, recursive=True))
        matches = [p for p in candidates
                   if p.is_file() and p.suffix.lower() in {".csv", ".xlsx"} and _results_table(p) is not None]
        if not matches:
            raise ConfigurationError(f"--runs {text}: no drframe results files there")
        found.update(dict.fromkeys(matches))
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, str(p)))


def _applied_fields(runs: Iterable[str | Path]) -> dict[tuple[str, str], str]:
    """(customer id, field) -> which drframe run applied it (the latest), from results files, folders or globs."""
    from ..bulk._before import run_label

    applied: dict[tuple[str, str], str] = {}
    for run in _run_files(runs):
        label = run_label(run)
        frame = _results_table(run)
        for record in (frame.fillna("").to_dict("records") if frame is not None else ()):
            if record.get("status") != "applied":
                continue
            for change in str(record.get("changes", "")).split("; "):
                field, _, _ = change.partition(": ")
                if field:
                    field = _RUN_FIELDS.get(field, field)
                    applied[(str(record.get("id")), field)] = f"{run.name} row {record.get('row')}{label}"
    return applied


Row = dict[str, str | None]


def _canonical_rows(frame: pd.DataFrame) -> list[Row]:
    """Each row of ``frame`` as column -> :func:`comparable` text, bookkeeping columns left out."""
    columns = [str(c) for c in frame.columns if str(c) not in _SNAPSHOT_SKIP]
    values = [[comparable(v) for v in frame[c].tolist()] for c in columns]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def _field_changes(customer_id: str, prefix: str, was: Row, now: Row) -> list[tuple[str, str, Any, Any]]:
    fields = [f for f in dict.fromkeys([*was, *now]) if f not in {CUSTOMER_KEY, "source_id", "tax_id"}]
    return [(customer_id, prefix + f, was.get(f), now.get(f)) for f in fields if was.get(f) != now.get(f)]


#: What the API stamps on a child by itself: a tax number deleted and created again (a revert of a replaced number)
#: has new timestamps but holds the same number in the same state; its state is compared.
_CHILD_BOOKKEEPING = re.compile(r"createdTime$|updatedTime$|stateTransitions\.")


def _child_changes(old: pd.DataFrame, new: pd.DataFrame, key: Callable[[Row], str], customers: set[str], field: str,
                   label: Callable[[Row], str], table: str) -> list[tuple[str, str, Any, Any]]:
    """A child table's differences for ``customers`` (those in both snapshots), children matched by ``key``: a
    child attached or added (``field``: None -> its label), detached or removed (label -> None), or with a field
    changed (``<table>[<key>].<field>``, e.g. ``tax_identifiers[de DE123456789].state``)."""
    was = {key(r): r for r in _canonical_rows(old) if r.get(CUSTOMER_KEY) in customers}
    now = {key(r): r for r in _canonical_rows(new) if r.get(CUSTOMER_KEY) in customers}
    found: list[tuple[str, str, Any, Any]] = []
    for child, row in was.items():
        moved = child in now and now[child].get(CUSTOMER_KEY) != row.get(CUSTOMER_KEY)
        if child not in now or moved:
            found.append((str(row[CUSTOMER_KEY]), field, label(row), None))
    for child, row in now.items():
        moved = child in was and was[child].get(CUSTOMER_KEY) != row.get(CUSTOMER_KEY)
        if child not in was or moved:
            found.append((str(row[CUSTOMER_KEY]), field, None, label(row)))
        elif child in was:
            found += [change for change in _field_changes(str(row[CUSTOMER_KEY]), f"{table}[{label(row)}].",
                                                          was[child], row)
                      if not _CHILD_BOOKKEEPING.match(change[1].rpartition("].")[2])]
    return found


def _source_id(row: Row) -> str:
    return str(row["source_id"])


def _tax_number(row: Row) -> str:
    return f"{row.get('type')} {row.get('value')}"


def _held_number(row: Row) -> str:
    """A customer holds a tax number, whatever the identifier's id: one deleted and created again with the same type
    and value (a revert of a replaced number) is no change."""
    return f"{row.get(CUSTOMER_KEY)} {_tax_number(row)}"


def _certificate_changes(old: pd.DataFrame, new: pd.DataFrame, customers: set[str]) -> list[tuple[str, str, Any, Any]]:
    """Tax certificates have no id: per customer, the certificates only in one snapshot."""
    def held(frame: pd.DataFrame) -> Counter[tuple[str, str]]:
        return Counter((str(r[CUSTOMER_KEY]), "; ".join(f"{k}={v}" for k, v in r.items() if v and k != CUSTOMER_KEY))
                       for r in _canonical_rows(frame) if r.get(CUSTOMER_KEY) in customers)

    was, now = held(old), held(new)
    return ([(c, "tax_certificate", text, None) for c, text in (was - now).elements()]
            + [(c, "tax_certificate", None, text) for c, text in (now - was).elements()])


def _snapshot(source: str | Path | Frames | pd.DataFrame) -> Frames:
    if isinstance(source, Frames):
        return source
    if isinstance(source, pd.DataFrame):
        return Frames(source, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    return read_snapshot(source)


def snapshot_changes(before: str | Path | Frames | pd.DataFrame, after: str | Path | Frames | pd.DataFrame, *,
                     runs: Iterable[str | Path] = ()) -> dict[str, pd.DataFrame]:
    """Compare two snapshots (an xlsx export, a CSV or Parquet export folder, a sync mirror, :class:`Frames`, or
    a customers DataFrame): ``changes`` (customer_id, field, before, after, by), ``added`` and ``removed`` (the
    customers themselves). Child tables count: a source attached or detached (``source_id``), a tax identifier
    added or removed (``tax_identifier``, as ``type value``), a tax certificate added or removed, and a child's
    changed field (``tax_identifiers[de DE123456789].state``: tax numbers are matched by type and value, ``sources[<id>].<field>``). With ``runs`` (drframe results files, folders holding them,
    globs), each change says which run applied it, or ``outside drframe``."""
    old, new = _snapshot(before), _snapshot(after)
    old_rows = {str(r[CUSTOMER_KEY]): r for r in _canonical_rows(old.customers)}
    new_rows = {str(r[CUSTOMER_KEY]): r for r in _canonical_rows(new.customers)}
    both = {i for i in new_rows if i in old_rows}
    found = [change for i in new_rows if i in both for change in _field_changes(i, "", old_rows[i], new_rows[i])]
    found += _child_changes(old.sources, new.sources, _source_id, both, "source_id", _source_id, "sources")
    found += _child_changes(old.tax_identifiers, new.tax_identifiers, _held_number, both, "tax_identifier",
                            _tax_number, "tax_identifiers")
    found += _certificate_changes(old.tax_certificates, new.tax_certificates, both)
    applied = _applied_fields(runs) if runs else {}
    records = [{CUSTOMER_KEY: customer_id, "field": field, "before": a, "after": b,
                "by": applied.get((customer_id, field), "outside drframe") if runs else ""}
               for customer_id, field, a, b in found]
    changes = pd.DataFrame.from_records(records, columns=[CUSTOMER_KEY, "field", "before", "after", "by"])
    added = new.customers[new.customers[CUSTOMER_KEY].astype(str).isin(set(new_rows) - set(old_rows))]
    removed = old.customers[old.customers[CUSTOMER_KEY].astype(str).isin(set(old_rows) - set(new_rows))]
    return {"changes": changes.astype("string"), "added": added.reset_index(drop=True),
            "removed": removed.reset_index(drop=True)}


def snapshot_audit(before: str | Path, after: str | Path, path: str | Path, *, runs: Iterable[str | Path] = (),
                   mask_pii: bool = False) -> Path:
    """Write what changed between two exports, in the change-audit layout: Summary, Changes (customer_id, field,
    before, after, by), Added and Removed customers."""
    from openpyxl import Workbook

    runs = _run_files(runs)
    found = snapshot_changes(before, after, runs=runs)
    changes = found["changes"]
    counts = {"changed": len(changes), "added": len(found["added"]), "removed": len(found["removed"])}
    if runs:
        counts["by drframe"] = int((changes["by"] != "outside drframe").sum())
        counts["outside drframe"] = int((changes["by"] == "outside drframe").sum())
    metadata = {
        "before": Path(before).name, "after": Path(after).name,
        "drframe runs": ", ".join(p.name for p in runs) or "none given",
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
