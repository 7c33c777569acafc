"""The bulk run's journal: append-only JSON lines, group-committed (one fsync covers every record queued meanwhile).

The API has no idempotency key, so exactly-once comes from here: a row is written as ``started`` before its
request leaves and ``finished`` when its outcome is known.  A re-run of the same file skips finished rows and
re-checks every other row against freshly fetched state (the plan's GET) before sending anything again.

Group commit (leader/follower): a writer queues its record, then, if no commit is running, becomes the leader and
writes and fsyncs everything queued in one go; otherwise it waits for the commit that covers its record.
:meth:`Journal.started` returns only once its record is durable, so the request it announces leaves after that.
A ``finished`` record is queued without waiting and becomes durable with the next commit (the next ``started``,
at the latest :meth:`Journal.close`): losing it in a crash only makes the next run re-check that row, which
re-planning does anyway for every row without a ``finished`` record.

What survives what:

* A ``started`` record is fsynced before the request it announces leaves, and records are appended in order, so
  a crash (kill, power loss, full disk) can only tear the *last* line.  That line is cut off when the journal is next opened and the run continues on a fresh
  line.  A torn ``started`` whose row number is readable puts that row in flight; a torn ``finished`` leaves its row
  in flight through its complete ``started``; when the row number is unreadable nothing is lost either, because
  every row without a ``finished`` record is re-planned against the customers' current state anyway (the torn
  request had not left: its record never reached the disk).
* Damage anywhere else raises :class:`JournalError` naming the line and the recovery; nothing is sent.
* A failed write (disk full) stops the run with :class:`JournalError`: every writer waiting on that commit gets
  it (their requests are not sent), and the journal refuses further writes, so the fragment stays the last line
  and the next run recovers from it.
* Only what resuming needs is kept: row numbers, customer ids, actions, statuses and the SHA-256 of each request
  body (:func:`payload_hash`); never the body itself or any cell text.  A ``tax`` record keeps the id of each tax
  identifier a row created (durably, before it is attached), so a re-run attaches that one and no other.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

from .._errors import JournalError
from ._constants import Status

#: Statuses that end a row for good; a failed row is tried again by the next run.
FINAL_STATUSES = frozenset({Status.APPLIED, Status.UNCHANGED})
VERSION = 3
#: Version 1 journals (whole payloads and error texts) and 2 (no ``tax`` records) still resume.
_READABLE_VERSIONS = frozenset({1, 2, VERSION})
_EVENTS = frozenset({"journal", "started", "finished", "tax"})
# The row of a torn ``started`` record; the number counts only when something follows it (it may be cut short).
_TORN_STARTED = re.compile(rb'^\{"event": "started", "row": (\d+)[,}]')


def payload_hash(payload: Any) -> str | None:
    """SHA-256 (hex) of a request body's canonical JSON (sorted keys, no spaces, ASCII); None without a body."""
    if payload is None:
        return None
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


class Journal:
    """The journal of one input file (identified by its SHA-256)."""

    def __init__(self, path: str | Path, *, sha256: str) -> None:
        self.path = Path(path)
        self.sha256 = sha256
        self.finished: dict[int, dict[str, Any]] = {}
        self.in_flight: set[int] = set()
        #: Row -> the names of the fields its request changed (from its ``started`` record).
        self.fields: dict[int, list[str]] = {}
        #: Row -> the id of the tax identifier a run of this file created for it (from its ``tax`` record).
        self.tax_ids: dict[int, str] = {}
        #: The line number of a torn last record that was cut off when the journal was opened, if any.
        self.torn_line: int | None = None
        self._cond = threading.Condition(threading.Lock())
        self._broken: str | None = None
        self._fd: int | None = None
        # Group commit: records queued (numbered from 1), how many are durable, whether a leader is committing.
        self._queue: list[bytes] = []
        self._queued = 0
        self._durable = 0
        self._committing = False
        #: How many fsyncs the journal has made (each covers every record queued before it).
        self.commits = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            if not self._load():
                self._write({"event": "journal", "sha256": sha256, "version": VERSION})
        except OSError as exc:
            self.close()
            raise JournalError(f"cannot open journal {self.path}: {exc.strerror or exc}; nothing was sent") from None
        except BaseException:
            self.close()
            raise

    # -- reading ----------------------------------------------------------------------------------------------

    def _load(self) -> bool:
        """Read every record; cut off a torn last line. True when the journal already has its header."""
        content = self.path.read_bytes()
        lines = content.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline, else the last record (maybe torn)
        has_header = False
        for number, line in enumerate(lines, start=1):
            if line.strip():  # a blank line carries nothing
                has_header = self._apply(number, self._parse(number, line), has_header)
        if not tail:
            return has_header
        number = len(lines) + 1
        try:
            record = json.loads(tail.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):  # torn by a crash during its write
            torn = _TORN_STARTED.match(tail)
            if torn and has_header:
                self.in_flight.add(int(torn.group(1)))
            self._sync(lambda fd: os.ftruncate(fd, len(content) - len(tail)))
            self.torn_line = number
            return has_header
        has_header = self._apply(number, self._check(number, record), has_header)  # only its newline was lost
        self._sync(lambda fd: os.write(fd, b"\n"))
        return has_header

    def _parse(self, number: int, line: bytes) -> dict[str, Any]:
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise self._damaged(number, "not a complete JSON record") from None
        return self._check(number, record)

    def _check(self, number: int, record: Any) -> dict[str, Any]:
        if not isinstance(record, dict) or record.get("event") not in _EVENTS:
            raise self._damaged(number, "not a journal record")
        if record["event"] != "journal" and not _is_row(record.get("row")):
            raise self._damaged(number, "no row number")
        if record["event"] == "finished" and not isinstance(record.get("status"), str):
            raise self._damaged(number, "no status")
        if record["event"] == "tax" and not isinstance(record.get("tax_id"), str):
            raise self._damaged(number, "no tax identifier id")
        return record

    def _apply(self, number: int, record: dict[str, Any], has_header: bool) -> bool:
        event = record["event"]
        if (event == "journal") != (number == 1):
            raise self._damaged(number, "the header must be the first line, and only the first")
        if event == "journal":
            if record.get("sha256") != self.sha256:
                raise JournalError(
                    f"journal {self.path} belongs to a different version of the input file; "
                    "pass a new --journal path (or delete this one) to start over"
                )
            if record.get("version") not in _READABLE_VERSIONS:
                raise JournalError(f"journal {self.path} was written by a newer drframe (version "
                                   f"{record.get('version')!r}); upgrade drframe to resume it")
            return True
        row = int(record["row"])
        if event == "tax":
            self.tax_ids[row] = record["tax_id"]
        elif event == "started":
            self.in_flight.add(row)
            self.fields[row] = [str(f) for f in record.get("fields") or []]
        else:
            self.in_flight.discard(row)
            if record["status"] in FINAL_STATUSES:
                self.finished[row] = record
            else:
                self.finished.pop(row, None)
        return has_header

    def _damaged(self, number: int, reason: str) -> JournalError:
        if number == 1:
            recovery = ("delete it and run again: every row is then re-checked against the customers' current "
                        "state, and rows already applied are reported as unchanged")
        else:
            recovery = ("delete that line (or the whole journal) and run again: rows without a finished record are "
                        "re-checked against the customers' current state before anything is sent")
        return JournalError(f"journal {self.path} is damaged at line {number} ({reason}); nothing was sent. "
                            f"To recover, {recovery}.")

    # -- writing ----------------------------------------------------------------------------------------------

    def _fsync(self, fd: int) -> None:
        os.fsync(fd)

    def _failed(self, exc: OSError) -> JournalError:
        """Break the journal for good (the lock is held): a write or fsync failed."""
        self._broken = (f"cannot write journal {self.path}: {exc.strerror or exc}. Rows not yet sent were "
                        "not sent; fix the cause (disk full?) and run again to continue")
        return JournalError(self._broken)

    def _writable(self) -> int:
        """The open descriptor (the lock is held); JournalError once broken or closed."""
        if self._broken:
            raise JournalError(self._broken)
        if self._fd is None:
            raise JournalError(f"journal {self.path} is closed")
        return self._fd

    def _sync(self, operation: Callable[[int], object]) -> None:
        """Run ``operation(fd)`` then fsync, under the lock (opening only: no commit runs yet)."""
        with self._cond:
            fd = self._writable()
            try:
                operation(fd)
                self._fsync(fd)
            except OSError as exc:
                raise self._failed(exc) from None

    def _append(self, record: dict[str, Any], *, durable: bool) -> None:
        """Queue ``record``; with ``durable``, return only once a commit covering it has completed."""
        line = (json.dumps(record) + "\n").encode("ascii")
        with self._cond:
            self._writable()
            self._queue.append(line)
            self._queued += 1
            if durable:
                self._commit(self._queued)

    def _commit(self, number: int) -> None:
        """Return once record ``number`` is durable (the lock is held): lead a commit of everything queued, or
        wait for the running one (and lead the next if it did not cover ``number``)."""
        while self._durable < number:
            fd = self._writable()
            if self._committing:
                self._cond.wait()
                continue
            data, upto = memoryview(b"".join(self._queue)), self._queued
            self._queue.clear()
            self._committing = True
            self._cond.release()
            error: OSError | None = None
            written = False
            try:
                while data:
                    data = data[os.write(fd, data):]
                self._fsync(fd)
                written = True
            except OSError as exc:
                error = exc
            finally:
                self._cond.acquire()
                self._committing = False
                if not written and error is None:  # interrupted (Ctrl-C...): what reached the disk is unknown
                    self._broken = f"a write to journal {self.path} was interrupted; run again to continue"
                self._cond.notify_all()
            if error is not None:
                raise self._failed(error) from None
            self._durable = upto
            self.commits += 1

    def _write(self, record: dict[str, Any]) -> None:
        self._append(record, durable=True)

    def started(self, row: int, customer_id: str | None, action: str | None, payload: Any,
                fields: Sequence[str] = ()) -> None:
        """Record, durably, that the request for ``row`` (body ``payload``, kept only as a hash; the names of the
        ``fields`` it changes, never their values) is about to leave: returns once the record is on disk."""
        self._append({"event": "started", "row": row, "id": customer_id, "action": action,
                      "payload_sha256": payload_hash(payload), "fields": list(fields)}, durable=True)

    def tax_created(self, row: int, tax_id: str) -> None:
        """Record, durably, that ``row`` created the tax identifier ``tax_id`` (before it is attached)."""
        self.tax_ids[row] = tax_id
        self._append({"event": "tax", "row": row, "tax_id": tax_id}, durable=True)

    def finished_row(self, row: int, customer_id: str | None, action: str | None, status: str) -> None:
        """Record the final outcome of ``row``; it becomes durable with the next commit (at the latest on close)."""
        self._append({"event": "finished", "row": row, "id": customer_id, "action": action, "status": status},
                     durable=False)

    def close(self) -> None:
        """Commit what is queued, then close; JournalError when that last commit fails (the file is closed)."""
        with self._cond:
            if self._fd is None:
                return
            try:
                if not self._broken:
                    self._commit(self._queued)
            finally:
                while self._committing:  # a leader still writing after another writer's failure
                    self._cond.wait()
                os.close(self._fd)
                self._fd = None

    def remove(self) -> None:
        """Close and delete the journal (after a run in which every row finished)."""
        self.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_row(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
