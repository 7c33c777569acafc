"""Before-images: for each row a run sends, what it changes *from* — the field values it replaces, and the whole
customer a ``delete`` removes. Customer data, so they live in a file the user controls next to the results
(``updates.results.before.jsonl``), never in the journal.

The file is JSON lines: a header (input file, its SHA-256, the target host; never a key), then one record per
row: ``row``, ``id``, ``action``, ``target``, ``changes`` ([field, before, after] ...) and ``before`` (the whole
customer, for deletes). A re-run of the same input keeps the records already written (the first run saw the state
before any change) and adds the rows it had not recorded; another input's file is replaced.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import SheetError

if TYPE_CHECKING:
    from ._plan import Plan
    from ._rowplan import RowPlan

KIND = "drframe before-images"
VERSION = 1


def before_images_path(results: str | Path) -> Path:
    """The before-images file beside a results file: ``x.results.csv`` -> ``x.results.before.jsonl``."""
    results = Path(results)
    return results.with_name(results.stem + ".before.jsonl")


def image_record(row: RowPlan, before: dict[str, Any] | None) -> dict[str, Any]:
    """One row's before-image record."""
    return {"row": row.row, "id": row.customer_id, "action": str(row.action), "target": row.target,
            "changes": [list(change) for change in row.changes], "before": before}


def header(plan: Plan) -> dict[str, Any]:
    return {"kind": KIND, "version": VERSION, "input": plan.sheet.path.name, "sha256": plan.sheet.sha256,
            "host": plan.client.base_url, "reverts": plan.reverts}


def write_before_images(path: str | Path, plan: Plan) -> Path:
    """Write (fsynced, readable by the owner only) the before-images of ``plan``'s rows still to send."""
    path = Path(path)
    head = header(plan)
    kept: list[dict[str, Any]] = []
    if path.exists():
        old_head, old = read_before_images(path)
        if old_head.get("sha256") == head["sha256"] and old_head.get("host") == head["host"]:
            kept = old
    known = {record["row"] for record in kept}
    records = kept + [image_record(row, plan.deleted.get(row.row)) for row in plan.rows
                      if row.pending and row.row not in known]
    temporary = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        for record in [head, *records]:
            handle.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path


def read_before_images(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and the records of a before-images file; SheetError naming the line when it is not one."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SheetError(f"cannot read the before-images {path}: {exc.strerror or exc}; without them the run "
                         "cannot be reverted") from None
    parsed: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or (number == 1) != (record.get("kind") == KIND):
            raise SheetError(f"{path} line {number}: not a drframe before-images record")
        parsed.append(record)
    if not parsed:
        raise SheetError(f"{path} is empty: not a drframe before-images file")
    return parsed[0], parsed[1:]


def run_label(results: Path) -> str:
    """`` (revert of X)`` for the results of a revert (its before-images say so), else empty."""
    images = before_images_path(results)
    try:
        with images.open(encoding="utf-8") as handle:
            head = json.loads(handle.readline())
    except (OSError, ValueError):
        return ""
    reverts = head.get("reverts") if isinstance(head, dict) else None
    return f" (revert of {reverts})" if reverts else ""


def applied_records(records: Iterable[dict[str, Any]], applied: set[int]) -> list[dict[str, Any]]:
    """The records of the rows a run applied, in file order."""
    return [record for record in records if record.get("row") in applied]
