"""The bulk run's journal: append-only JSON lines, fsynced before and after every API write.

The API has no idempotency key, so exactly-once comes from here: a row is written as ``started`` before its
request leaves and ``finished`` when its outcome is known.  A re-run of the same file skips finished rows and
re-checks every other row against freshly fetched state (the plan's GET) before sending anything again.

What survives what:

* A record is fsynced before the request it announces leaves, so a crash (kill, power loss, full disk) can only
  tear the *last* line.  That line is cut off when the journal is next opened and the run continues on a fresh
  line.  A torn ``started`` whose row number is readable puts that row in flight; a torn ``finished`` leaves its row
  in flight through its complete ``started``; when the row number is unreadable nothing is lost either, because
  every row without a ``finished`` record is re-planned against the customers' current state anyway (the torn
  request had not left: its record never reached the disk).
* Damage anywhere else raises :class:`JournalError` naming the line and the recovery; nothing is sent.
* A failed write (disk full) stops the run with :class:`JournalError`; the journal refuses further writes, so the
  fragment stays the last line and the next run recovers from it.
* Only what resuming needs is kept: row numbers, customer ids, actions, statuses and the SHA-256 of each request
  body (:func:`payload_hash`); never the body itself or any cell text.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from .._errors import JournalError
from ._constants import Status

#: Statuses that end a row for good; a failed row is tried again by the next run.
FINAL_STATUSES = frozenset({Status.APPLIED, Status.UNCHANGED})
VERSION = 2
#: Version 1 journals (whole payloads and error texts) still resume; new records are written as version 2.
_READABLE_VERSIONS = frozenset({1, VERSION})
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
        #: The line number of a torn last record that was cut off when the journal was opened, if any.
        self.torn_line: int | None = None
        self._lock = threading.Lock()
        self._broken: str | None = None
        self._fd: int | None = None
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
        if not isinstance(record, dict) or record.get("event") not in {"journal", "started", "finished"}:
            raise self._damaged(number, "not a journal record")
        if record["event"] != "journal" and not _is_row(record.get("row")):
            raise self._damaged(number, "no row number")
        if record["event"] == "finished" and not isinstance(record.get("status"), str):
            raise self._damaged(number, "no status")
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
        if event == "started":
            self.in_flight.add(row)
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

    def _sync(self, operation: Callable[[int], object]) -> None:
        """Run ``operation(fd)`` then fsync, under the lock; a failure breaks the journal for good."""
        with self._lock:
            if self._broken:
                raise JournalError(self._broken)
            if self._fd is None:
                raise JournalError(f"journal {self.path} is closed")
            try:
                operation(self._fd)
                os.fsync(self._fd)
            except OSError as exc:
                self._broken = (f"cannot write journal {self.path}: {exc.strerror or exc}. Rows not yet sent were "
                                "not sent; fix the cause (disk full?) and run again to continue")
                raise JournalError(self._broken) from None

    def _write(self, record: dict[str, Any]) -> None:
        data = memoryview((json.dumps(record) + "\n").encode("ascii"))

        def append(fd: int) -> None:
            rest = data
            while rest:
                rest = rest[os.write(fd, rest):]

        self._sync(append)

    def started(self, row: int, customer_id: str | None, action: str | None, payload: Any) -> None:
        """Record, durably, that the request for ``row`` (body ``payload``, kept only as a hash) is about to leave."""
        self._write({"event": "started", "row": row, "id": customer_id, "action": action,
                     "payload_sha256": payload_hash(payload)})

    def finished_row(self, row: int, customer_id: str | None, action: str | None, status: str) -> None:
        """Record, durably, the final outcome of ``row``."""
        self._write({"event": "finished", "row": row, "id": customer_id, "action": action, "status": status})

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
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
