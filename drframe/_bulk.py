"""Bulk apply: spreadsheet rows -> validated operations -> a plan against current state -> applied, resumably.

Rules an analyst can rely on:

* Columns are the ``customers`` frame's columns (``customer_id``, ``email``, ``shipping.address.postalCode``,
  ``metadata.<key>`` ...) plus an optional ``action`` column and ``source_id`` / ``tax_id`` for the
  attach/detach actions.  An exported sheet, edited, is a valid input; unchanged rows make no API call.
* An empty cell leaves the field unchanged; the token ``<clear>`` clears it (a metadata key is removed).
* Read-only columns (``createdTime``, ``updatedTime``, ``liveMode``, ``_empty_values``) are ignored, and so are
  field cells on ``delete`` and attach/detach rows.
* A create without ``customer_id`` gets an id derived from the file's SHA-256 and the row number, so re-running
  the same file never creates the customer twice.
"""

from __future__ import annotations

import difflib
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._cells import normalise_cell
from ._client import validate_payload
from ._errors import APIError, ConnectionFailed, DRError, InvalidRequest
from ._export import column_letter
from ._frames import CUSTOMER_KEY, EMPTY_VALUES_COLUMN, diff_rows, is_missing, to_frames
from ._ids import customer_id_problem, id_problem
from ._journal import Journal
from ._models import CustomerCreate, CustomerUpdate
from ._ratelimit import RateLimiter
from ._schema import CUSTOMER_PATHS
from ._sheet import Sheet, SheetError, SheetRow, excel_text, number_problem, read_sheet

if TYPE_CHECKING:
    from ._client import Client

ACTIONS = ("upsert", "create", "update", "delete", "attach_source", "detach_source", "attach_tax_identifier")
STATUSES = ("applied", "unchanged", "failed", "invalid", "skipped")
CLEAR = "<clear>"
ACTION_COLUMN = "action"
SOURCE_COLUMN = "source_id"
TAX_COLUMN = "tax_id"
IGNORED_COLUMNS = frozenset({"createdTime", "updatedTime", "liveMode", EMPTY_VALUES_COLUMN})
FIELD_ACTIONS = frozenset({"upsert", "create", "update"})
_TARGET_COLUMNS = {"attach_source": SOURCE_COLUMN, "detach_source": SOURCE_COLUMN,
                   "attach_tax_identifier": TAX_COLUMN}
_TRUE = frozenset({"true", "yes", "y", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "f"})
#: Columns whose value must be exact digits: a spreadsheet number there may have been rounded.
_EXACT_COLUMNS = frozenset({CUSTOMER_KEY, SOURCE_COLUMN, TAX_COLUMN, "defaultSourceId"})
_EXACT_SUFFIXES = ("postalCode", "phone")
_ID_NAMESPACE = uuid.UUID("6f1c2a3e-4d5b-4c8a-9e7f-0a1b2c3d4e5f")
_INTEGER = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class CellError:
    """Why a row is invalid: the spreadsheet row, the column, the cell's text and a message."""

    row: int
    column: str
    value: str
    message: str

    def __str__(self) -> str:
        if not self.column:
            return self.message
        return f"{self.column}={self.value!r}: {self.message}"


@dataclass
class RowPlan:
    """One input row: what will be sent for it, or the status it already has."""

    row: int
    cells: dict[str, str]
    action: str
    customer_id: str | None = None
    target: str | None = None
    edits: dict[str, Any] = field(default_factory=dict)
    payload: dict[str, Any] | None = None
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)
    status: str | None = None
    """Final status known without a call (invalid, unchanged, failed, skipped); None = pending."""
    errors: list[CellError] = field(default_factory=list)
    note: str = ""
    resumed: bool = False

    @property
    def pending(self) -> bool:
        return self.status is None

    def fail(self, column: str, message: str, status: str = "invalid") -> None:
        self.errors.append(CellError(self.row, column, self.cells.get(column, ""), message))
        self.status = status

    @property
    def error_text(self) -> str:
        return "; ".join(str(e) for e in self.errors) or self.note if self.status in {"invalid", "failed"} else ""


# -- reading and validating rows ------------------------------------------------------------------------------

def _known_column(column: str) -> bool:
    if column.startswith("metadata.") and len(column) > len("metadata."):
        return True
    return column in CUSTOMER_PATHS or column in IGNORED_COLUMNS or column in {
        CUSTOMER_KEY, ACTION_COLUMN, SOURCE_COLUMN, TAX_COLUMN}


def _suggest(column: str) -> str:
    known = [CUSTOMER_KEY, ACTION_COLUMN, SOURCE_COLUMN, TAX_COLUMN, *CUSTOMER_PATHS]
    folded = {k.casefold().replace("_", "").replace(".", ""): k for k in known}
    key = column.casefold().replace("_", "").replace(".", "").replace(" ", "")
    if key in folded:
        return folded[key]
    if column.casefold() in {"id", "customerid", "customer id"}:
        return CUSTOMER_KEY
    if column == "metadata":
        return "metadata.<key> (one column per metadata key)"
    close = difflib.get_close_matches(column, known, n=1, cutoff=0.6)
    return close[0] if close else ""


def check_columns(columns: Iterable[str], source: str) -> None:
    """Raise SheetError naming every unknown column, with the closest known name."""
    problems = []
    for index, column in enumerate(columns, start=1):
        letter = column_letter(index)
        if not _known_column(column):
            hint = _suggest(column)
            problems.append(f"unknown column {column!r} (column {letter})" + (f": did you mean {hint!r}?" if hint
                                                                               else ""))
    if problems:
        raise SheetError(f"{source}: " + "; ".join(problems) + ". Nothing was sent.")


def _parse_bool(text: str) -> bool | None:
    folded = text.casefold()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    return None


def interpret(row: SheetRow, sha256: str) -> RowPlan:
    """Turn one sheet row into a RowPlan: action, id, typed edits, or cell errors. No network."""
    cells = row.cells
    if row.blank:
        return RowPlan(row.number, cells, "", status="skipped", note="blank row")
    raw_action = cells.get(ACTION_COLUMN, "").casefold().replace("-", "_").replace(" ", "_") or "upsert"
    plan = RowPlan(row.number, cells, raw_action)
    for column, error in row.errors.items():
        plan.fail(column, f"the cell shows the error {error}; correct the cell or clear it")
    for column in row.formulas:
        plan.fail(column, "a formula; enter the value itself (drframe never evaluates formulas)")
    for column, held in row.numeric.items():
        if column in _EXACT_COLUMNS or column.endswith(_EXACT_SUFFIXES):
            why = number_problem(cells[column]) or number_problem(held)  # shown 02109, it may hold 2108.5
            if why:
                plan.fail(column, f"stored as a number {why}; format the column as Text and type the value again")
    unusable = {error.column for error in plan.errors}  # already refused: no further checks on these cells
    customer_id = cells.get(CUSTOMER_KEY, "")
    if customer_id:
        problem = customer_id_problem(customer_id) if CUSTOMER_KEY not in unusable else None
        if problem:
            plan.fail(CUSTOMER_KEY, problem)
        plan.customer_id = customer_id
    if raw_action not in ACTIONS:
        close = difflib.get_close_matches(raw_action, ACTIONS, n=1)
        plan.fail(ACTION_COLUMN, f"unknown action; use one of {', '.join(ACTIONS)}"
                  + (f" (did you mean {close[0]!r}?)" if close else ""))
        return plan
    if not customer_id and raw_action in FIELD_ACTIONS - {"update"}:
        plan.customer_id = "drf-" + uuid.uuid5(_ID_NAMESPACE, f"{sha256}:{row.number}").hex
        plan.note = "id generated from the file and row (safe to re-run)"
    elif not customer_id:
        plan.fail(CUSTOMER_KEY, f"required for action {raw_action!r}")
    target_column = _TARGET_COLUMNS.get(raw_action)
    if target_column:
        plan.target = cells.get(target_column) or None
        problem = id_problem(plan.target) if plan.target and target_column not in unusable else None
        if not plan.target:
            plan.fail(target_column, f"required for action {raw_action!r}")
        elif problem:
            plan.fail(target_column, problem)
    if raw_action in FIELD_ACTIONS:
        for column, text in cells.items():
            if not text or column in IGNORED_COLUMNS or column in {CUSTOMER_KEY, ACTION_COLUMN} \
                    or column in unusable:
                continue
            if column in (SOURCE_COLUMN, TAX_COLUMN):
                plan.fail(column, f"only used by the attach/detach actions, not by {raw_action!r}")
                continue
            if text.casefold() == CLEAR:
                plan.edits[column] = None
            elif CUSTOMER_PATHS.get(column) == "boolean":
                value = _parse_bool(text)
                if value is None:
                    plan.fail(column, "not a boolean: use TRUE/FALSE (yes/no and 1/0 are accepted)")
                plan.edits[column] = value
            else:
                plan.edits[column] = text
    return plan


def _flag_duplicates(plans: list[RowPlan]) -> None:
    """An id named by two field rows (or the same attach twice): all its rows are invalid, nothing is sent."""
    by_id: dict[str, list[RowPlan]] = {}
    for plan in plans:
        if plan.customer_id and plan.action:
            by_id.setdefault(plan.customer_id, []).append(plan)
    for _customer_id, rows in by_id.items():
        field_rows = [p for p in rows if p.action in FIELD_ACTIONS or p.action == "delete"]
        targets = Counter((p.action, p.target) for p in rows if p.target)
        if len(field_rows) > 1 or any(n > 1 for n in targets.values()):
            numbers = ", ".join(str(p.row) for p in rows)
            for plan in rows:
                plan.fail(CUSTOMER_KEY, f"customer_id appears in rows {numbers}; each customer may be changed "
                                        "by one row per file, so nothing is sent for it")


# -- the plan -------------------------------------------------------------------------------------------------

def _coerce_metadata(text: Any, current: Any) -> Any:
    """A metadata cell keeps the type of the value it replaces when its text says the same thing, and a string
    value stays exactly as stored when the cell shows it (see :func:`_same_text`)."""
    if not isinstance(text, str) or current is None:
        return text
    if isinstance(current, bool):
        parsed = _parse_bool(text)
        return parsed if parsed is not None and text.casefold() in {"true", "false"} else text
    if isinstance(current, int) and _INTEGER.match(text):
        return int(text)
    return current if _same_text(text, current) else text


def _same_text(text: Any, current: Any) -> bool:
    """True when the text ``text`` shows the stored string ``current``: a spreadsheet cell cannot carry what
    :func:`normalise_cell` drops (CR line ends, non-NFC forms, surrounding whitespace), so that is no change."""
    return isinstance(text, str) and isinstance(current, str) and normalise_cell(text) == normalise_cell(current)


def edit_customer(current: Mapping[str, Any] | None, edits: Mapping[str, Any], *,
                  customer_id: str | None = None) -> tuple[dict[str, Any], list[tuple[str, Any, Any]]]:
    """The validated payload and field changes that apply ``edits`` (column -> value, None clears) to a customer.

    ``current`` is the customer's row in the customers frame, or None for a create (then ``customer_id`` is
    sent as ``id``). Raises InvalidRequest, naming each field, when the result breaks the API's rules.
    """
    after = dict(current or {})
    for column, value in edits.items():
        stored = after.get(column)
        if _same_text(value, stored):  # string fields and string metadata values only: keep the exact text
            continue
        after[column] = _coerce_metadata(value, stored) if column.startswith("metadata.") else value
    payload, changes = diff_rows(current, after)
    if current is None:
        payload = {"id": customer_id, **payload} if customer_id else payload
        changes.insert(0, (CUSTOMER_KEY, None, customer_id))
    if changes:
        validate_payload(CustomerCreate if current is None else CustomerUpdate, payload)
    return payload, changes


def _payload_errors(plan: RowPlan, exc: InvalidRequest) -> None:
    """Each payload error on the column that holds the bad value (a metadata rule on its ``metadata.<key>``)."""
    for parameter, _, message in exc.errors:
        if parameter == "metadata":  # the rule names the whole object: find the keys of this row that break it
            culprits = []
            for column, value in plan.edits.items():
                if column.startswith("metadata."):
                    try:
                        validate_payload(CustomerUpdate, {"metadata": {column.removeprefix("metadata."): value}})
                    except InvalidRequest as single:
                        culprits += [(column, text) for _, _, text in single.errors]
            for column, text in culprits:
                plan.fail(column, text)
            if culprits:
                continue
        column = parameter if parameter in plan.cells or parameter in CUSTOMER_PATHS else next(
            (c for c in plan.cells if c.startswith(parameter + ".") and plan.cells[c]), parameter)
        if column == "id":
            column = CUSTOMER_KEY
        plan.fail(column, message)


def _resolve(plan: RowPlan, current: Mapping[str, Any] | None, raw: Mapping[str, Any] | None,
             created_in_file: set[str]) -> None:
    """Decide what ``plan`` sends, given the customer's current row (None when it does not exist)."""
    action = plan.action
    if action == "upsert":
        action = plan.action = "update" if current is not None else "create"
    if action in {"create", "update"}:
        if action == "update" and current is None:
            plan.fail(CUSTOMER_KEY, "no such customer (use action 'upsert' or 'create' to create it)", "failed")
            return
        try:
            plan.payload, plan.changes = edit_customer(current, plan.edits, customer_id=plan.customer_id)
        except InvalidRequest as exc:
            _payload_errors(plan, exc)
            return
        if action == "create" and current is not None:
            if not plan.changes:
                plan.status, plan.note = "unchanged", "already exists with these values"
            else:
                plan.fail(CUSTOMER_KEY, "already exists with other values (use 'update' or 'upsert' to change it)",
                          "failed")
        elif not plan.changes:
            plan.status = "unchanged"
        return
    exists = current is not None or plan.customer_id in created_in_file
    if action == "delete":
        if current is None:
            plan.status, plan.note = "unchanged", "already absent"
        else:
            plan.changes = [(CUSTOMER_KEY, plan.customer_id, None)]
        return
    if not exists:
        plan.fail(CUSTOMER_KEY, "no such customer", "failed")
        return
    if action in {"attach_source", "detach_source"}:
        attached = {s.get("id") for s in (raw or {}).get("sources") or []}
    else:
        attached = {t.get("id") for t in (raw or {}).get("taxIdentifiers") or []}
    is_attached = plan.target in attached
    if is_attached == (action != "detach_source"):
        plan.status = "unchanged"
        plan.note = "already attached" if is_attached else "not attached"
        return
    field_name = SOURCE_COLUMN if action != "attach_tax_identifier" else TAX_COLUMN
    plan.changes = [(field_name, None, plan.target) if action.startswith("attach") else
                    (field_name, plan.target, None)]


@dataclass
class Plan:
    """What a bulk run will do: one :class:`RowPlan` per input row. ``apply()`` carries it out."""

    client: Client
    sheet: Sheet
    rows: list[RowPlan]

    @property
    def pending(self) -> list[RowPlan]:
        return [r for r in self.rows if r.pending]

    @property
    def counts(self) -> dict[str, int]:
        """Rows per planned outcome: each action still to send, plus unchanged / invalid / failed / skipped."""
        return dict(Counter(r.action if r.pending else r.status or "" for r in self.rows))

    def frame(self) -> pd.DataFrame:
        """One row per input row: row, id, action, planned status, error, changes."""
        return _outcome_frame(self.rows, planned=True)

    @property
    def changes(self) -> pd.DataFrame:
        """The field-level diff: row, id, action, field, before, after."""
        return _changes_frame(r for r in self.rows if r.pending)

    @property
    def errors(self) -> pd.DataFrame:
        """Every cell error: row, column, value, message."""
        return _errors_frame(self.rows)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()))
        return f"<Plan {self.sheet.path.name}: {len(self.rows)} rows ({counts})>"

    def _repr_html_(self) -> str:
        return _html_summary(repr(self), [("Changes", self.changes), ("Errors", self.errors)])

    def apply(
        self,
        *,
        workers: int = 8,
        rate: float | None = None,
        journal: str | Path | None = None,
        progress: bool = True,
        keep_journal: bool = False,
    ) -> BulkResult:
        """Send the pending rows: ``workers`` threads sharing the client's rate limit (``rate`` req/s replaces
        it); ``journal`` (a file path) makes the run resumable. Ctrl-C stops cleanly: rows not yet sent are
        ``skipped``. Once every row has finished (applied, unchanged, invalid or blank: nothing failed, skipped or
        in flight, not interrupted) the journal is deleted, unless ``keep_journal``. Raises JournalError (nothing
        sent) when the journal is damaged, and stops with it when the journal cannot be written."""
        if rate is not None:
            self.client.limiter = RateLimiter(rate)
        book = Journal(journal, sha256=self.sheet.sha256) if journal else _NoJournal()
        with book:
            runner = _Runner(self, book, workers, progress)
            result = runner.run()
        # A crash before this line is harmless: the journal then finishes every row and the next run sends nothing.
        if runner.complete and not keep_journal:
            book.remove()
        return result


def plan(source: str | Path | pd.DataFrame, client: Client | None = None, *, sheet: str | None = None,
         encoding: str | None = None) -> Plan:
    """Read ``source`` (a .csv/.xlsx/.ods path or a customers-style DataFrame), validate every row and diff it
    against the current state fetched 100 ids per call. ``encoding`` is a CSV file's encoding when it is neither
    UTF-8 nor UTF-16 with BOM. Raises SheetError (nothing sent) for an unreadable file or unknown columns."""
    if client is None:
        from ._client import Client

        client = Client()
    data = read_sheet(source, sheet=sheet, encoding=encoding) if not isinstance(source, pd.DataFrame) \
        else sheet_from_frame(source)
    check_columns(data.columns, str(data.path))
    rows = [interpret(row, data.sha256) for row in data.rows]
    _flag_duplicates(rows)
    valid = [r for r in rows if r.pending and r.customer_id]
    current_raw = client.customers.get_many_raw(r.customer_id for r in valid if r.customer_id)
    current_rows: dict[str, dict[str, Any]] = {}
    if current_raw:
        customers = to_frames(current_raw.values()).customers
        current_rows = {str(r[CUSTOMER_KEY]): {str(k): v for k, v in r.items()}
                        for r in customers.to_dict("records")}
    created_in_file: set[str] = set()
    for row in valid:
        assert row.customer_id is not None
        _resolve(row, current_rows.get(row.customer_id), current_raw.get(row.customer_id), created_in_file)
        if row.pending and row.action == "create":
            created_in_file.add(row.customer_id)
    return Plan(client, data, rows)


def sheet_from_frame(frame: pd.DataFrame, name: str = "<DataFrame>") -> Sheet:
    """A DataFrame as text cells (NA -> empty), row numbers as a spreadsheet would show them."""
    import hashlib

    columns = [str(c) for c in frame.columns]
    rows = []
    for number, values in enumerate(frame.itertuples(index=False, name=None), start=2):
        cells = {c: "" if is_missing(v) else excel_text(v).strip() for c, v in zip(columns, values, strict=True)}
        rows.append(SheetRow(number, cells))
    digest = hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()
    return Sheet(Path(name), columns, rows, digest)


# -- applying -------------------------------------------------------------------------------------------------

class _NoJournal:
    def __init__(self) -> None:
        self.finished: dict[int, dict[str, Any]] = {}
        self.in_flight: set[int] = set()

    def started(self, *args: Any) -> None:
        pass

    def finished_row(self, *args: Any) -> None:
        pass

    def remove(self) -> None:
        pass

    def __enter__(self) -> _NoJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _api_error_cell(plan: RowPlan, exc: APIError) -> CellError:
    column = exc.parameter or ""
    if column == "id":
        column = CUSTOMER_KEY
    message = f"{exc.message} (HTTP {exc.status} {exc.code}"
    message += f", request {exc.request_id})" if exc.request_id else ")"
    return CellError(plan.row, column, plan.cells.get(column, ""), message)


class _Runner:
    def __init__(self, plan: Plan, journal: Journal | _NoJournal, workers: int, progress: bool) -> None:
        self.plan = plan
        self.client = plan.client
        self.journal = journal
        self.workers = max(1, workers)
        self.progress = progress
        self.stop = threading.Event()
        #: Set by run(): every row ended applied, unchanged, invalid or blank, so the journal has nothing to resume.
        self.complete = False

    def _settle_from_journal(self) -> list[RowPlan]:
        """Rows the journal already finished keep their outcome; in-flight rows now unchanged were applied."""
        todo = []
        for row in self.plan.rows:
            record = self.journal.finished.get(row.row)
            if record is not None and row.status != "invalid":
                row.status, row.resumed = record["status"], True
                row.note = "finished by an earlier run"
                continue
            if row.row in self.journal.in_flight and row.status == "unchanged":
                row.status, row.resumed = "applied", True
                row.note = "sent by an interrupted run; confirmed applied"
                self.journal.finished_row(row.row, row.customer_id, row.action, "applied")
                continue
            if row.pending:
                todo.append(row)
        return todo

    def run(self) -> BulkResult:
        from tqdm.auto import tqdm

        started = time.monotonic()
        stats_before = dict(self.client.stats)
        todo = self._settle_from_journal()
        groups: dict[str, list[RowPlan]] = {}
        for row in todo:
            groups.setdefault(row.customer_id or f"row-{row.row}", []).append(row)
        bar = tqdm(total=len(todo), unit="row", desc="applying", disable=not self.progress or not todo)
        interrupted = False
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="drframe-apply") as pool:
            futures: set[Future[None]] = {pool.submit(self._run_group, rows, bar.update) for rows in groups.values()}
            try:
                while futures:
                    done, futures = wait(futures, timeout=0.25, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()
            except KeyboardInterrupt:
                interrupted = True
                self.stop.set()
                for future in futures:
                    future.cancel()
            except BaseException:  # a worker failed (the journal could not be written...): send nothing more
                self.stop.set()
                for future in futures:
                    future.cancel()
                bar.close()
                raise
        bar.close()
        for row in todo:
            if row.pending:
                row.status, row.note = "skipped", "not sent: the run was interrupted (re-run to continue)"
        self.complete = not interrupted and all(
            r.status in {"applied", "unchanged", "invalid"} or (r.status == "skipped" and not r.action)
            for r in self.plan.rows)
        stats = {k: self.client.stats.get(k, 0) - stats_before.get(k, 0) for k in self.client.stats}
        return BulkResult(self.plan, time.monotonic() - started, stats, interrupted)

    def _run_group(self, rows: list[RowPlan], tick: Callable[[int], object]) -> None:
        failed_row: int | None = None
        for row in rows:
            if self.stop.is_set():
                return
            if failed_row is not None:
                row.status = "skipped"
                row.note = f"not sent: row {failed_row} for the same customer failed"
                self.journal.finished_row(row.row, row.customer_id, row.action, "skipped")
            else:
                self._run_one(row)
                if row.status == "failed":
                    failed_row = row.row
            tick(1)

    def _run_one(self, row: RowPlan) -> None:
        customers = self.client.customers
        customer_id = row.customer_id or ""
        self.journal.started(row.row, customer_id, row.action, row.payload)
        try:
            if row.action == "create":
                customers.create(row.payload, validate=False)
            elif row.action == "update":
                customers.update(customer_id, row.payload, validate=False)
            elif row.action == "delete":
                customers.delete(customer_id)
            elif row.action == "attach_source":
                customers.attach_source(customer_id, row.target or "")
            elif row.action == "detach_source":
                customers.detach_source(customer_id, row.target or "")
            elif row.action == "attach_tax_identifier":
                customers.attach_tax_identifier(customer_id, row.target or "")
        except APIError as exc:
            row.status = "failed"
            row.errors.append(_api_error_cell(row, exc))
        except ConnectionFailed as exc:
            row.status = "failed"
            row.note = f"{exc}; the outcome is unknown: re-run with the same journal to re-check it"
            if exc.outcome_unknown:
                return  # left in flight in the journal: the next run re-checks before resending
        except DRError as exc:
            row.status = "failed"
            row.note = str(exc)
        else:
            row.status = "applied"
        self.journal.finished_row(row.row, customer_id, row.action, row.status or "")


# -- results --------------------------------------------------------------------------------------------------

def _change_text(changes: list[tuple[str, Any, Any]]) -> str:
    return "; ".join(f"{column}: {before!r} -> {after!r}" for column, before, after in changes)


def _outcome_frame(rows: list[RowPlan], *, planned: bool = False) -> pd.DataFrame:
    input_columns = [c for c in rows[0].cells if c != ACTION_COLUMN] if rows else []
    records = []
    for row in rows:
        status = row.status or ("pending" if planned else "skipped")
        record: dict[str, Any] = {
            "row": row.row, "id": row.customer_id, "action": row.action or None, "status": status,
            "error": row.error_text or None, "note": row.note or None, "changes": _change_text(row.changes) or None,
            "resumed": row.resumed,
        }
        for column in input_columns:
            record.setdefault(column, row.cells.get(column, ""))
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=[
        "row", "id", "action", "status", "error", "note", "changes", "resumed",
        *[c for c in input_columns if c not in {"row", "id", "status", "error", "note", "changes", "resumed"}]])
    dtypes: dict[str, str] = {c: "string" for c in frame.columns}
    dtypes.update(row="Int64", resumed="boolean")
    return frame.astype(dtypes)


def _changes_frame(rows: Iterable[RowPlan]) -> pd.DataFrame:
    records = [
        {"row": r.row, "id": r.customer_id, "action": r.action, "field": column, "before": before, "after": after}
        for r in rows for column, before, after in r.changes
    ]
    frame = pd.DataFrame.from_records(records, columns=["row", "id", "action", "field", "before", "after"])
    return frame.astype({"row": "Int64", "id": "string", "action": "string", "field": "string"})


def _errors_frame(rows: Iterable[RowPlan]) -> pd.DataFrame:
    records = [{"row": e.row, "column": e.column, "value": e.value, "message": e.message}
               for r in rows for e in r.errors]
    records += [{"row": r.row, "column": "", "value": "", "message": r.note}
                for r in rows if r.status == "failed" and not r.errors]
    frame = pd.DataFrame.from_records(records, columns=["row", "column", "value", "message"])
    return frame.astype({"row": "Int64", "column": "string", "value": "string", "message": "string"})


def _html_summary(title: str, tables: list[tuple[str, pd.DataFrame]], limit: int = 10) -> str:
    import html

    parts = [f"<p><b>{html.escape(title)}</b></p>"]
    for name, frame in tables:
        if len(frame):
            more = f" (first {limit} of {len(frame)})" if len(frame) > limit else ""
            parts.append(f"<p>{name}{more}</p>" + frame.head(limit).to_html(index=False, na_rep=""))
    return "".join(parts)


@dataclass
class BulkResult:
    """The outcome of :meth:`Plan.apply`: one status per input row."""

    plan: Plan
    elapsed: float
    stats: dict[str, int]
    interrupted: bool = False

    @property
    def rows(self) -> list[RowPlan]:
        return self.plan.rows

    @property
    def results(self) -> pd.DataFrame:
        """One row per input row: row, id, action, status, error, note, changes, resumed, then the input cells."""
        return _outcome_frame(self.rows)

    @property
    def changes(self) -> pd.DataFrame:
        """Field-level changes of the rows that were applied: row, id, action, field, before, after."""
        return _changes_frame(r for r in self.rows if r.status == "applied")

    @property
    def errors(self) -> pd.DataFrame:
        return _errors_frame(self.rows)

    @property
    def counts(self) -> dict[str, int]:
        counts = Counter(r.status or "skipped" for r in self.rows)
        return {status: counts.get(status, 0) for status in STATUSES}

    @property
    def ok(self) -> bool:
        counts = self.counts
        return not counts["failed"] and not counts["invalid"] and not self.interrupted

    @property
    def throughput(self) -> float:
        """API writes per second over the run."""
        sent = sum(1 for r in self.rows if r.status in {"applied", "failed"} and not r.resumed)
        return sent / self.elapsed if self.elapsed > 0 else 0.0

    def to_file(self, path: str | Path) -> Path:
        """Write the results as .csv or .xlsx (formula-like cells neutralised)."""
        from ._export import write_table

        return write_table(path, self.results, sheet="results")

    def _repr_html_(self) -> str:
        return _html_summary(repr(self), [("Errors", self.errors)])

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in self.counts.items() if v)
        flag = ", interrupted" if self.interrupted else ""
        return f"<BulkResult {len(self.rows)} rows ({counts}) in {self.elapsed:.1f} s{flag}>"
