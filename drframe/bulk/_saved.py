"""Saved plans: a dry run written to a file a second person reviews (``--save-plan change.drplan``, JSON lines;
``--review plan.xlsx``) and that is then applied exactly as saved (``drframe apply change.drplan``,
:func:`load_plan`).

The file holds a header (the input file's name, path and SHA-256, the target host and key kind, never the key),
then one record per input row: its cells, action, exact payload, changes, and a fingerprint of its record's
state when the plan was saved (a short hash per field: no values). Applying it:

* is refused for another host, or when the input file changed after planning (:class:`PlanRefused`);
* re-reads every record first: a row whose record changed since is not sent but ``stale``, naming the fields —
  unless planning it again finds it already applied (a resumed run), or ``replan`` plans it again from its cells;
* once every row has finished, appends an ``applied`` line naming the run, so a second apply sends nothing and
  says which run applied it.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._errors import PlanRefused, SheetError
from .._files._atomic import written_whole
from .._files._sheets import Sheet
from ._constants import CUSTOMER_KEY, Action, Status
from ._revert import flat_customers
from ._rowplan import CellError, RowPlan

if TYPE_CHECKING:
    from .._api._client import Client
    from ._plan import Plan
    from ._results import BulkResult

KIND = "drframe plan"
VERSION = 1
SUFFIX = ".drplan"
#: Fields whose change is no change to the record (the server's clock; drframe's bookkeeping).
_UNFINGERPRINTED = frozenset({"updatedTime", "_empty_values"})


def fingerprint(raw: dict[str, Any] | None) -> dict[str, str] | None:
    """A customer's state as a short hash per field (None when it does not exist): compares, names, shows nothing."""
    if raw is None:
        return None
    flat = flat_customers([raw])[str(raw["id"])]
    parts: dict[str, Any] = {k: v for k, v in flat.items() if k not in _UNFINGERPRINTED and v is not None}
    parts["sources"] = sorted(str(s.get("id")) for s in raw.get("sources") or [])
    parts["taxIdentifiers"] = sorted(f"{t.get('type')} {t.get('value')}" for t in raw.get("taxIdentifiers") or [])
    parts["taxCertificates"] = raw.get("taxCertificates") or []
    return {k: hashlib.sha256(json.dumps(v, sort_keys=True, default=str).encode()).hexdigest()[:16]
            for k, v in sorted(parts.items())}


def _changed_fields(saved: dict[str, str] | None, now: dict[str, str] | None) -> list[str]:
    if saved is None or now is None:
        return ["the customer was created since" if now is not None else "the customer was deleted since"]
    return [k for k in dict.fromkeys([*saved, *now]) if saved.get(k) != now.get(k)]


def save_plan(plan: Plan, path: str | Path) -> Path:
    """Write ``plan`` as a reviewable JSON-lines file (owner-only: it holds customer data), each record it touches
    fingerprinted as it is now."""
    path = Path(path)
    ids = list(dict.fromkeys(r.customer_id for r in plan.rows if r.pending and r.customer_id))
    current = plan.client.customers.get_many_raw(ids) if ids else {}
    head = {"kind": KIND, "version": VERSION, "input": plan.sheet.path.name,
            "input_path": str(plan.sheet.path.resolve()), "sha256": plan.sheet.sha256, "host": plan.client.base_url,
            "key": f"{plan.client.key_kind} key (not recorded)",
            "saved": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "counts": plan.counts}
    lines = [head]
    for row in plan.rows:
        record: dict[str, Any] = {
            "row": row.row, "cells": dict(row.cells), "action": row.action and str(row.action), "id": row.customer_id,
            "target": row.target, "status": row.status and str(row.status), "note": row.note,
            "errors": [[e.column, e.value, e.message] for e in row.errors], "changes": [list(c) for c in row.changes]}
        if row.pending:
            record.update(payload=row.payload, tax_identifier=row.tax_identifier, replaces_tax_id=row.replaces_tax_id,
                          fingerprint=fingerprint(current.get(row.customer_id or "")))
        lines.append(record)
    with written_whole([path]) as (partial,):  # never a truncated plan that loads with rows missing
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(line, default=str, ensure_ascii=False) + "\n" for line in lines)
    return path


def review_sheet(plan: Plan, path: str | Path) -> Path:
    """The plan as an xlsx a reviewer reads: every row's planned outcome, every field change, every error."""
    from .._files._export import write_excel

    return write_excel(Path(path), {"rows": plan.frame(), "changes": plan.changes, "errors": plan.errors})


def _read(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SheetError(f"cannot read the plan {path}: {exc.strerror or exc}") from None
    records: list[dict[str, Any]] = []
    applied: list[dict[str, Any]] = []
    body = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or (number == 1) != (record.get("kind") == KIND):
            raise SheetError(f"{path} line {number}: not a drframe plan record")
        if record.get("kind") == "applied":
            applied.append(record)
        else:
            records.append(record)
            body.append(line)
    if not records:
        raise SheetError(f"{path} is empty: not a drframe plan")
    return records[0], records[1:], applied, hashlib.sha256("\n".join(body).encode()).hexdigest()


def _row(record: dict[str, Any]) -> RowPlan:
    action = Action(record["action"]) if record.get("action") else None
    row = RowPlan(int(record["row"]), record.get("cells") or {}, action, customer_id=record.get("id"),
                  target=record.get("target"), payload=record.get("payload"),
                  changes=[tuple(c) for c in record.get("changes") or []],  # type: ignore[misc]
                  status=Status(record["status"]) if record.get("status") else None, note=record.get("note") or "",
                  errors=[CellError(int(record["row"]), *e) for e in record.get("errors") or []],
                  replaces_tax_id=record.get("replaces_tax_id"))
    if record.get("tax_identifier"):
        kind, value = record["tax_identifier"]
        row.tax_identifier = (str(kind), str(value))
    return row


def load_plan(path: str | Path, client: Client | None = None, *, replan: bool = False) -> Plan:
    """A saved plan, checked against the customers' current state: apply it with :meth:`Plan.apply` to send exactly
    its payloads. Rows whose record changed since it was saved are ``stale`` (naming the fields), or planned again
    with ``replan``. Raises PlanRefused for another host or a changed input file, SheetError for a bad file."""
    from ._plan import Plan, plan

    if client is None:
        from .._connect import connect

        client = connect()
    path = Path(path)
    head, records, applied, plan_id = _read(path)
    if head.get("host") != client.base_url:
        raise PlanRefused(f"{path.name} was planned for {head.get('host')}, not {client.base_url}; nothing sent")
    source = Path(str(head.get("input_path", "")))
    if source.is_file() and hashlib.sha256(source.read_bytes()).hexdigest() != head.get("sha256"):
        raise PlanRefused(f"{source} changed after {path.name} was planned; plan it again (drframe apply "
                          f"{source.name} --dry-run --save-plan ...); nothing sent")
    rows = [_row(r) for r in records]
    columns = list(rows[0].cells) if rows else []
    sheet = Sheet(path, columns, [], plan_id, format_note=f"saved plan of {head.get('input')}, made "
                                                          f"{head.get('saved')} for {head.get('host')}")
    result = Plan(client, sheet, rows, saved=path)
    if applied:
        by = applied[-1]
        for row in result.pending:
            row.status, row.note = Status.UNCHANGED, f"not sent: the plan was applied by {by.get('run')}"
        result.applied_by = str(by.get("run"))
        return result
    saved = {int(r["row"]): r.get("fingerprint") for r in records}
    ids = list(dict.fromkeys(r.customer_id for r in result.pending if r.customer_id))
    current = client.customers.get_many_raw(ids) if ids else {}
    moved = [r for r in result.pending
             if fingerprint(current.get(r.customer_id or "")) != saved.get(r.row)]
    if moved:
        # Planned again from their cells (ids as saved): already applied (a resumed run) ends them unchanged.
        cells = [{**r.cells, CUSTOMER_KEY: r.customer_id or ""} for r in moved]
        again = plan(pd.DataFrame(cells, columns=list(dict.fromkeys(k for c in cells for k in c))).astype("string"),
                     client).rows
        for row, fresh in zip(moved, again, strict=True):
            fields = _changed_fields(saved.get(row.row), fingerprint(current.get(row.customer_id or "")))
            if fresh.status is Status.UNCHANGED:
                row.status, row.payload = Status.UNCHANGED, None
                row.note = "already in the planned state"
            elif replan:
                row.action, row.payload, row.changes, row.status = fresh.action, fresh.payload, fresh.changes, fresh.status
                row.tax_identifier, row.replaces_tax_id, row.errors = (fresh.tax_identifier, fresh.replaces_tax_id,
                                                                       [CellError(row.row, e.column, e.value, e.message)
                                                                        for e in fresh.errors])
                row.note = "planned again (--replan): changed since the plan: " + ", ".join(fields)
            else:
                row.status, row.payload = Status.STALE, None
                row.note = ("not sent: changed since the plan was saved: " + ", ".join(fields)
                            + " (--replan plans it again)")
    for row in result.pending:
        if row.action is Action.DELETE and row.customer_id in current:
            result.deleted[row.row] = current[row.customer_id]
    return result


def mark_applied(plan: Plan, result: BulkResult, run: str) -> None:
    """Append the ``applied`` line once every row of a saved plan has finished (nothing failed, stale or left)."""
    if plan.saved is None or result.interrupted:
        return
    done = {Status.APPLIED, Status.UNCHANGED, Status.INVALID, Status.KEPT}
    if any(r.status not in done and not (r.status is Status.SKIPPED and not r.action) for r in result.rows):
        return
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with plan.saved.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"kind": "applied", "run": f"the run of {stamp} ({run})" if run else
                                 f"the run of {stamp}", "host": plan.client.base_url}) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
