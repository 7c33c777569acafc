"""The bulk run's journal: append-only JSON lines, fsynced before and after every API write.

The API has no idempotency key, so exactly-once comes from here: a row is written as ``started`` before its
request leaves and ``finished`` when its outcome is known.  A re-run of the same file skips finished rows and
re-checks started ones against freshly fetched state (the plan's GET) before sending anything again.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Self

from ._sheet import SheetError

#: Statuses that end a row for good; a failed row is tried again by the next run.
FINAL_STATUSES = frozenset({"applied", "unchanged"})


class Journal:
    """The journal of one input file (identified by its SHA-256)."""

    def __init__(self, path: str | Path, *, sha256: str) -> None:
        self.path = Path(path)
        self.sha256 = sha256
        self.finished: dict[int, dict[str, Any]] = {}
        self.in_flight: set[int] = set()
        self._lock = threading.Lock()
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if not fresh:
            self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        if fresh:
            self._write({"event": "journal", "sha256": sha256, "version": 1})

    def _load(self) -> None:
        with self.path.open(encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):  # a write torn by a kill: that row is simply still in flight
                    continue
                raise SheetError(f"journal {self.path} is damaged at line {number}") from None
            event = record.get("event")
            if event == "journal":
                if record.get("sha256") != self.sha256:
                    raise SheetError(
                        f"journal {self.path} belongs to a different version of the input file; "
                        "pass a new --journal path (or delete this one) to start over"
                    )
            elif event == "started":
                self.in_flight.add(record["row"])
            elif event == "finished":
                self.in_flight.discard(record["row"])
                if record.get("status") in FINAL_STATUSES:
                    self.finished[record["row"]] = record
                else:
                    self.finished.pop(record["row"], None)

    def _write(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())

    def started(self, row: int, customer_id: str | None, action: str, payload: Any) -> None:
        """Record, durably, that the request for ``row`` is about to leave."""
        self._write({"event": "started", "row": row, "id": customer_id, "action": action, "payload": payload})

    def finished_row(self, row: int, customer_id: str | None, action: str, status: str, error: str | None) -> None:
        """Record, durably, the final outcome of ``row``."""
        self._write({"event": "finished", "row": row, "id": customer_id, "action": action, "status": status,
                     "error": error})

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
