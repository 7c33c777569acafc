"""Reverting a run: a normal :class:`Plan` (dry run, confirmation, journal, results, exactly once) that takes back
what the run's applied rows changed, from their before-images (:mod:`._before`) and the customers' current state.

* updated fields go back to their before values; a created customer is deleted; a deleted customer is created
  again from its before-image (fields, metadata, shipping, tax certificates and tax identifiers); an attached
  source is detached; a tax identifier attached or replaced goes back.
* What the API cannot undo is named on the row: a detached source was cancelled and cannot be attached again;
  a deleted tax identifier is gone (the number is created again under a new id); a re-created customer has a
  new ``createdTime``.
* A row whose customer changed since the run (a current value is not what the run wrote) is ``kept``, naming the
  field and both values, unless ``force``.
* A row already as before the run is ``unchanged``, so a resumed or repeated revert sends nothing twice; and a
  revert's own before-images make reverting a revert re-apply the original.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._core._schema import WRITABLE_CUSTOMER_FIELDS
from .._errors import InvalidRequest, NotFound, SheetError
from .._files._sheets import Sheet
from .._tables._editing import edit_customer
from .._tables._frames import column_path, to_frames
from ._before import applied_records, before_images_path, image_record, read_before_images
from ._constants import CUSTOMER_KEY, SOURCE_COLUMN, TAX_COLUMN, Action, Status
from ._rowplan import RowPlan
from ._tax import TaxBook, put_tax_identifier

if TYPE_CHECKING:
    from .._api._client import Client
    from ._plan import Plan
    from ._results import BulkResult

TAX_FIELD = "tax_identifier"
#: Fields a re-created customer cannot get back from its before-image: sources the delete cancelled.
_NOT_RESTORED = frozenset({"defaultSourceId"})
#: Not accepted by ``POST /customers``: set by an update right after the create.
_UPDATE_ONLY = frozenset({"requestToBeForgotten"})


@dataclass(slots=True, init=False)
class RevertRow(RowPlan):
    """A row of a revert plan: besides its one request, steps carried out after it (each safe to repeat, and a
    resumed revert plans again from fresh state): ``("put_tax", type, value, replaces)``, ``("delete_tax", id)``,
    ``("update", payload)``."""

    steps: list[tuple[Any, ...]]

    def __init__(self, row: int, cells: Mapping[str, str], action: Action, *, customer_id: str) -> None:
        RowPlan.__init__(self, row, cells, action, customer_id=customer_id)
        self.steps = []

    def finish(self, client: Client, book: TaxBook) -> None:
        """Carry out the steps (the runner calls this after the row's request; ``book`` records the tax identifiers
        created, so a resumed revert reuses them)."""
        customer_id = self.customer_id or ""
        for step in self.steps:
            if step[0] == "put_tax":
                held = put_tax_identifier(client, RowPlan(self.row, {}, Action.UPDATE, customer_id=customer_id,
                                                          tax_identifier=(step[1], step[2]),
                                                          replaces_tax_id=step[3] or None), book)
                self.note = "; ".join(filter(None, [self.note, f"tax identifier {held.type} {held.value}: "
                                                               f"{held.state} (id {held.id})"]))
            elif step[0] == "delete_tax":
                with contextlib.suppress(NotFound):  # already gone: an interrupted revert deleted it
                    client.tax_identifiers.delete(step[1])
            else:
                client.customers.update(customer_id, step[1], validate=False)


def _norm(value: Any) -> Any:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _same(a: Any, b: Any) -> bool:
    return bool(_norm(a) == _norm(b))


def flat_customers(raws: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Customers' rows of the customers frame (every column), by id; a missing cell is None."""
    if not raws:
        return {}
    frame = to_frames(raws, redact=False).customers
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return {str(row[CUSTOMER_KEY]): {str(k): v for k, v in row.items()} for row in rows}


def _writable(flat: Mapping[str, Any]) -> dict[str, Any]:
    return {column: value for column, value in flat.items() if value is not None
            and column_path(column)[0] in WRITABLE_CUSTOMER_FIELDS and column_path(column)[0] not in _NOT_RESTORED}


def _tax_text(identifier: Mapping[str, Any]) -> str:
    return f"{identifier.get('type')} {identifier.get('value')}"


def _held(raw: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    return next((t for t in raw.get("taxIdentifiers") or [] if str(t.get("type")) == kind), None)


def action_detached(changes: list[tuple[Any, ...]]) -> bool:
    """True when the changes detached a source (so it was cancelled)."""
    return any(c[0] == SOURCE_COLUMN and c[1] is not None for c in changes)


def _what_changed(kept: list[tuple[str, Any, Any]], expected: str = "the run wrote") -> str:
    return "changed since the run: " + "; ".join(f"{f} is now {now!r}, {expected} {value!r}"
                                                  for f, now, value in kept) + " (--force reverts it anyway)"


class _Reverter:
    def __init__(self, force: bool) -> None:
        self.force = force
        self.deleted: dict[int, dict[str, Any]] = {}
        self.creating: set[str] = set()  # customers an earlier row of this plan creates again

    def row(self, record: Mapping[str, Any], raw: dict[str, Any] | None, flat: dict[str, Any] | None) -> RevertRow:
        action = str(record.get("action"))
        customer_id = str(record.get("id"))
        changes = [tuple(change) for change in record.get("changes") or []]
        if record.get("unknown"):
            row = self._new(record, customer_id, Action.UPDATE)
            row.fail(CUSTOMER_KEY, "cannot be reverted: an earlier, interrupted run applied it and its before values "
                                   "are not known (apply with before_images= to keep them)", Status.FAILED)
            return row
        if action == Action.CREATE:
            return self._delete_created(record, customer_id, changes, raw, flat)
        if action == Action.DELETE:
            row = self._recreate(record, customer_id, record.get("before"), raw, flat)
            if row.action is Action.CREATE and row.pending:
                self.creating.add(customer_id)
            return row
        if raw is None and customer_id in self.creating:
            raw, flat = {"id": customer_id}, {CUSTOMER_KEY: customer_id}
        return self._undo_changes(record, customer_id, changes, raw, flat)

    @staticmethod
    def _new(record: Mapping[str, Any], customer_id: str, action: Action) -> RevertRow:
        cells = {CUSTOMER_KEY: customer_id, "action": str(action), "reverts": str(record.get("action"))}
        return RevertRow(int(record["row"]), cells, action, customer_id=customer_id)

    def _delete_created(self, record: Mapping[str, Any], customer_id: str, changes: list[tuple[Any, ...]],
                        raw: dict[str, Any] | None, flat: dict[str, Any] | None) -> RevertRow:
        row = self._new(record, customer_id, Action.DELETE)
        if raw is None or flat is None:
            row.status, row.note = Status.UNCHANGED, "the customer the run created is already gone"
            return row
        kept = [(f, flat.get(f), after) for f, _, after in changes
                if f not in {CUSTOMER_KEY, TAX_FIELD} and not _same(flat.get(f), after)]
        if kept and not self.force:
            row.status, row.note = Status.KEPT, _what_changed(kept)
            return row
        row.changes = [(CUSTOMER_KEY, customer_id, None)]
        self.deleted[row.row] = raw
        # Tax identifiers the run created for it: deleted too (deleting the customer only detaches them).
        created = {after for f, _, after in changes if f == TAX_FIELD}
        row.steps = [("delete_tax", t["id"]) for t in raw.get("taxIdentifiers") or [] if _tax_text(t) in created]
        return row

    def _recreate(self, record: Mapping[str, Any], customer_id: str, before: dict[str, Any] | None,
                  raw: dict[str, Any] | None, flat: dict[str, Any] | None) -> RevertRow:
        if not before:
            row = self._new(record, customer_id, Action.CREATE)
            row.fail(CUSTOMER_KEY, "no before-image of the deleted customer: it cannot be created again",
                     Status.FAILED)
            return row
        edits = _writable(flat_customers([before])[customer_id])
        later = {c: edits.pop(c) for c in list(edits) if column_path(c)[0] in _UPDATE_ONLY}
        certificates = list(before.get("taxCertificates") or [])
        identifiers = list(before.get("taxIdentifiers") or [])
        notes = []
        if raw is None or flat is None:
            row = self._new(record, customer_id, Action.CREATE)
            row.payload, row.changes = edit_customer(None, edits, customer_id=customer_id)
            if certificates:
                row.payload["taxCertificate"] = certificates[0]
            row.steps = [("update", {"taxCertificate": c}) for c in certificates[1:]]
            if later:
                payload, changes = edit_customer({}, later)
                row.steps.append(("update", payload))
                row.changes += changes
            notes.append("created again: its createdTime is now")
        else:
            row = self._new(record, customer_id, Action.UPDATE)
            kept = [(c, flat.get(c), v) for c, v in {**edits, **later}.items() if not _same(flat.get(c), v)]
            if kept and not self.force:
                row.status = Status.KEPT
                row.note = "the deleted customer exists again with other values; " + _what_changed(
                    kept, "before the run it was")
                return row
            payload, row.changes = edit_customer(flat, {**edits, **later})
            row.payload = payload or None
            held = list(raw.get("taxCertificates") or [])
            row.steps = [("update", {"taxCertificate": c}) for c in certificates if c not in held]
        held_texts = {_tax_text(t) for t in (raw or {}).get("taxIdentifiers") or []}
        for identifier in identifiers:
            if _tax_text(identifier) not in held_texts:
                row.steps.append(("put_tax", identifier["type"], identifier["value"], ""))
                row.changes.append((TAX_FIELD, None, _tax_text(identifier)))
        sources = [str(s.get("id")) for s in before.get("sources") or []]
        if sources:
            notes.append(f"source(s) {', '.join(sources)} not attached again, nor its defaultSourceId: the delete "
                         "cancelled them and the API cannot attach a cancelled source")
        row.note = "; ".join(notes)
        if not row.changes and not row.steps:
            row.status, row.note = Status.UNCHANGED, "already created again as before the run"
        return row

    def _undo_changes(self, record: Mapping[str, Any], customer_id: str, changes: list[tuple[Any, ...]],
                      raw: dict[str, Any] | None, flat: dict[str, Any] | None) -> RevertRow:
        row = self._new(record, customer_id, Action.UPDATE)
        if raw is None or flat is None:
            row.status, row.note = Status.KEPT, "changed since the run: the customer was deleted"
            return row
        edits: dict[str, Any] = {}
        kept: list[tuple[str, Any, Any]] = []
        cannot: list[str] = []
        tax_changes: list[tuple[str, Any, Any]] = []
        for column, before, after in changes:
            if column == SOURCE_COLUMN:
                if before is not None:
                    cannot.append(f"source {before} was detached: the API cancelled it and it cannot be attached "
                                  "again")
                elif any(s.get("id") == after for s in raw.get("sources") or []):
                    row.action, row.target, row.changes = Action.DETACH_SOURCE, str(after), [(column, after, None)]
                    if raw.get("defaultSourceId") == after:  # detaching clears it: say so (audits attribute it)
                        row.changes.append(("defaultSourceId", after, None))
            elif column == TAX_COLUMN:
                if before is not None:
                    cannot.append(f"tax identifier {before} was deleted (the API has no detach): create the number "
                                  "again to attach it")
                elif any(t.get("id") == after for t in raw.get("taxIdentifiers") or []):
                    row.steps.append(("delete_tax", after))
                    tax_changes.append((column, after, None))
            elif column == TAX_FIELD:
                kind = str(after or before).split(" ", 1)[0]
                held = _held(raw, kind)
                now = _tax_text(held) if held else None
                if _same(now, before):
                    continue
                if not _same(now, after) and not self.force:
                    kept.append((column, now, after))
                    continue
                if before is None:
                    row.steps.append(("delete_tax", held["id"] if held else ""))
                else:
                    row.steps.append(("put_tax", kind, str(before).split(" ", 1)[1], held["id"] if held else ""))
                tax_changes.append((column, now, before))
            elif column == "defaultSourceId" and action_detached(changes):
                continue  # went with its source, which cannot come back (named above)
            elif column != CUSTOMER_KEY:
                now = flat.get(column)
                if _same(now, before):
                    continue
                if _same(now, after) or self.force:
                    edits[column] = before
                else:
                    kept.append((column, now, after))
        row.steps = [s for s in row.steps if s[0] != "delete_tax" or s[1]]
        if kept and not self.force:
            row.status, row.note, row.steps, row.target, row.changes = Status.KEPT, _what_changed(kept), [], None, []
            row.action = Action.UPDATE
            return row
        if edits:
            try:
                payload, field_changes = edit_customer(flat, edits)
            except InvalidRequest as exc:
                row.fail(CUSTOMER_KEY, f"the before values are refused now: {exc}", Status.FAILED)
                return row
            row.payload, row.changes = payload or None, field_changes
        row.changes += tax_changes
        row.note = "; ".join(cannot)
        if not row.changes and not row.steps:
            if cannot:
                row.fail(CUSTOMER_KEY, "cannot be undone: " + row.note, Status.FAILED)
            else:
                row.status = Status.UNCHANGED
                row.note = "already as before the run"
        return row


def plan_revert(client: Client, records: list[dict[str, Any]], *, name: str, reverts: str, sha256: str,
                force: bool = False) -> Plan:
    """The revert plan of ``records`` (before-images of applied rows, in the order they were applied)."""
    from ._plan import Plan

    ids = list(dict.fromkeys(str(r.get("id")) for r in records))
    current = client.customers.get_many_raw(ids) if ids else {}
    flats = flat_customers(list(current.values()))
    reverter = _Reverter(force)
    rows: list[RowPlan] = [reverter.row(r, current.get(str(r.get("id"))), flats.get(str(r.get("id"))))
                           for r in reversed(records)]
    sheet = Sheet(Path(name), [CUSTOMER_KEY, "action", "reverts"], [], sha256, format_note=f"revert of {reverts}")
    return Plan(client, sheet, rows, deleted=reverter.deleted, reverts=reverts)


def revert_plan(results: str | Path, client: Client | None = None, *, force: bool = False) -> Plan:
    """The plan that takes back the run whose results file is ``results`` (its before-images beside it:
    ``x.results.before.jsonl``). Rows changed since the run are ``kept`` unless ``force``. Raises SheetError when
    either file cannot be read, and PlanRefused when the run was made against another host."""
    from .._errors import PlanRefused

    if client is None:
        from .._connect import connect

        client = connect()
    results = Path(results)
    images = before_images_path(results)
    head, records = read_before_images(images)
    if head.get("host") != client.base_url:
        raise PlanRefused(f"{results.name} was applied to {head.get('host')}, not {client.base_url}; nothing sent")
    try:
        frame = pd.read_excel(results, dtype=str) if results.suffix.lower() == ".xlsx" else pd.read_csv(
            results, dtype=str, keep_default_na=False)
        applied = {int(r) for r, s in zip(frame["row"], frame["status"], strict=True) if s == Status.APPLIED}
    except (OSError, KeyError, ValueError) as exc:
        raise SheetError(f"{results}: not a drframe results file ({exc})") from None
    sha = hashlib.sha256(images.read_bytes() + b"\0" + results.read_bytes()).hexdigest()
    return plan_revert(client, applied_records(records, applied), name=results.stem + ".revert", reverts=results.name,
                       sha256=sha, force=force)


def result_revert_plan(result: BulkResult, force: bool = False) -> Plan:
    """:meth:`BulkResult.revert_plan`: from the before-images file the run wrote, else from what it kept in
    memory (rows an earlier run finished then cannot be reverted: their before values are not known)."""
    plan = result.plan
    applied = {row.row for row in result.rows if row.status is Status.APPLIED}
    if plan.before_images is not None:
        _, records = read_before_images(plan.before_images)
    else:
        records = [{**image_record(row, plan.deleted.get(row.row)), "unknown": row.resumed} for row in result.rows]
    chosen = applied_records(records, applied)
    digest = hashlib.sha256(repr(chosen).encode()).hexdigest()
    return plan_revert(plan.client, chosen, name=plan.sheet.path.stem + ".revert", reverts=plan.sheet.path.name,
                       sha256=digest, force=force)
