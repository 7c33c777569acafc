"""The bulk journal survives any crash: torn last records, a full disk, damage, and keeps no customer data."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drframe import Client, bulk
from drframe._core._schema import CUSTOMER_PATHS
from drframe._errors import JournalError
from drframe.bulk._journal import Journal, payload_hash
from drframe.sandbox import Sandbox

from .crashes import count_writes, finished_records

HEADER = ["customer_id", "action", "email", "locale", "shipping.phone", "metadata.segment"]
#: Applies a file in a child process with a journal, so a test can kill it or limit its file size.
CHILD = """
import resource, signal, sys
from drframe import Client, bulk
journal, limit = sys.argv[2], int(sys.argv[3])
if limit:  # a full disk: writes past `limit` bytes fail (EFBIG) instead of killing the process (SIGXFSZ)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
result = bulk.plan(sys.argv[1], Client()).apply(workers=4, rate=40, journal=journal, progress=False,
                                                keep_journal=True)
sys.exit(0 if result.ok else 1)
"""


@dataclass
class Run:
    """A sandbox that counts the writes it receives, and a file of real changes (with PII) for it."""

    sandbox: Sandbox
    client: Client
    writes: Counter[str]
    rows: list[dict[str, str]]
    path: Path
    journal: Path

    def apply(self, **kwargs: Any) -> bulk.BulkResult:
        return bulk.plan(self.path, self.client).apply(journal=self.journal, progress=False, **kwargs)

    def child(self, limit: int = 0) -> subprocess.Popen[str]:
        env = {**os.environ, "DR_BASE_URL": self.sandbox.base_url, "DR_API_KEY": self.sandbox.api_key}
        return subprocess.Popen([sys.executable, "-c", CHILD, str(self.path), str(self.journal), str(limit)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def assert_each_row_applied_once(self) -> None:
        """Every row's write reached the server exactly once, and the state is the intended one."""
        updates = [r["customer_id"] for r in self.rows if r.get("action") != "create"]
        assert {path: n for path, n in self.writes.items() if path != "POST /customers"} == {
            f"POST /customers/{customer_id}": 1 for customer_id in updates}
        assert self.writes["POST /customers"] == len(self.rows) - len(updates)
        current = self.client.customers.get_many_raw(r["customer_id"] for r in self.rows)
        for row in self.rows:
            customer = current[row["customer_id"]]
            if row.get("action") == "create":
                assert customer["email"] == row["email"]
            else:
                assert customer["metadata"]["segment"] == row["metadata.segment"]


def _changes(ids: list[str]) -> list[dict[str, str]]:
    rows = [{"customer_id": customer_id, "locale": "nl_NL", "shipping.phone": f"+31 20 555 {n:04d}",
             "metadata.segment": f"seg-{n}"} for n, customer_id in enumerate(ids)]
    rows += [{"customer_id": f"jr-new-{n}", "action": "create", "email": f"journal.person{n}@example.com"}
             for n in range(10)]
    return rows


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    sandbox = Sandbox(seed_customers=40, seed=13, latency_ms=20)
    writes = count_writes(sandbox)
    with sandbox, sandbox.client() as client:
        ids = [str(c["id"]) for c in client.customers.iter_raw()][:40]
        rows = _changes(ids)
        path = tmp_path / "changes.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=HEADER)
            writer.writeheader()
            writer.writerows(rows)
        yield Run(sandbox, client, writes, rows, path, tmp_path / "changes.journal")


def tear_last_record(journal: Path) -> bytes:
    """Cut the journal in the middle of its last record, as a crash during that write would; return the cut part."""
    content = journal.read_bytes()
    start = content.rstrip(b"\n").rfind(b"\n") + 1
    cut = start + (len(content) - start) // 2
    os.truncate(journal, cut)
    return content[start:cut]


# -- crashes --------------------------------------------------------------------------------------------------

def test_a_torn_last_record_is_in_flight_and_two_resumes_apply_every_row_once(run: Run) -> None:
    child = run.child()
    deadline = time.monotonic() + 60
    while finished_records(run.journal) < 12 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert 12 <= finished_records(run.journal) < len(run.rows), "the kill must land mid-run"
    torn = tear_last_record(run.journal)
    assert not torn.endswith(b"\n")

    second = run.apply(keep_journal=True)
    assert second.ok and set(second.results["status"]) == {"applied"}, second.results
    third = run.apply(keep_journal=True)
    assert third.ok and set(third.results["status"]) == {"applied"} and all(third.results["resumed"])
    run.assert_each_row_applied_once()
    for line in run.journal.read_text(encoding="utf-8").splitlines():
        json.loads(line)  # every line whole: the resumes started their records on a fresh line


def test_a_full_disk_stops_the_run_and_the_next_run_recovers(run: Run) -> None:
    child = run.child(limit=3000)
    _, err = child.communicate(timeout=60)
    assert child.returncode != 0 and "cannot write journal" in err and "run again" in err, err
    content = run.journal.read_bytes()
    assert len(content) == 3000 and not content.endswith(b"\n"), "the last record was torn by the full disk"
    sent_before = sum(run.writes.values())
    assert 0 < sent_before < len(run.rows)

    result = run.apply()
    assert result.ok and set(result.results["status"]) == {"applied"}
    run.assert_each_row_applied_once()
    assert not run.journal.exists(), "every row finished: the journal is removed"


def test_damage_in_the_middle_names_the_line_and_sends_nothing(run: Run) -> None:
    assert run.apply(keep_journal=True).ok
    lines = run.journal.read_bytes().splitlines(keepends=True)
    sent = sum(run.writes.values())
    for damaged, line in ((3, b'{"event": "fini\n'), (5, b"garbage" + lines[4])):  # torn, and an old glued line
        run.journal.write_bytes(b"".join([*lines[:damaged - 1], line, *lines[damaged:]]))
        with pytest.raises(JournalError, match=rf"damaged at line {damaged} .*delete that line"):
            run.apply()
        assert sum(run.writes.values()) == sent, "nothing sent"
    run.journal.write_bytes(b"".join(lines[1:]))
    with pytest.raises(JournalError, match=r"damaged at line 1 .*delete it and run again"):
        run.apply()


def test_the_journal_holds_no_customer_data(run: Run) -> None:
    plan = bulk.plan(run.path, run.client)
    payloads = {r.row: r.payload for r in plan.rows}
    plan.apply(journal=run.journal, progress=False, keep_journal=True)
    text = run.journal.read_text(encoding="utf-8")
    for row in run.rows:
        for column in ("email", "shipping.phone"):
            if row.get(column):
                assert row[column] not in text
    assert "@" not in text and "+31" not in text and "nl_NL" not in text and "seg-" not in text
    started = [json.loads(line) for line in text.splitlines() if '"started"' in line]
    assert len(started) == len(run.rows)
    assert all(set(r) == {"event", "row", "id", "action", "payload_sha256", "fields"} for r in started)
    names = {*CUSTOMER_PATHS, "customer_id"}
    assert all(f in names or f.startswith("metadata.") for r in started for f in r["fields"]), "field names only"
    assert all(r["payload_sha256"] == payload_hash(payloads[r["row"]]) for r in started)
    assert payload_hash({"b": 1, "a": "é"}) == payload_hash({"a": "é", "b": 1}), "canonical: key order free"


# -- removal --------------------------------------------------------------------------------------------------

def test_the_journal_is_removed_after_a_complete_run_unless_kept(run: Run, tmp_path: Path) -> None:
    assert run.apply(keep_journal=True).ok and run.journal.exists(), "kept when asked"
    sent = sum(run.writes.values())
    again = run.apply()  # as if the first run had crashed between its last record and the deletion
    assert again.ok and sum(run.writes.values()) == sent and not run.journal.exists()
    assert run.apply().counts["unchanged"] == len(run.rows) and not run.journal.exists()

    failing = tmp_path / "failing.csv"
    failing.write_text("customer_id,action,locale\nnobody-here,update,de_DE\n", encoding="utf-8")
    journal = tmp_path / "failing.journal"
    assert bulk.plan(failing, run.client).apply(journal=journal, progress=False).counts["failed"] == 1
    assert journal.exists(), "a failed row keeps the journal"


# -- the journal file itself ----------------------------------------------------------------------------------

def test_torn_and_unterminated_tails(tmp_path: Path) -> None:
    path = tmp_path / "j"
    path.write_bytes(b'{"event": "jour')  # torn header: start over
    with Journal(path, sha256="abc") as journal:
        assert journal.torn_line == 1 and not journal.in_flight
    assert path.read_bytes().count(b"\n") == 1 and json.loads(path.read_bytes())["sha256"] == "abc"

    with Journal(path, sha256="abc") as journal:
        journal.started(7, "c7", "update", {"locale": "de_DE"})
        journal.started(8, "c8", "update", None)
    whole = path.read_bytes()
    path.write_bytes(whole[:-1])  # a complete record that lost only its newline
    with Journal(path, sha256="abc") as journal:
        assert journal.torn_line is None and journal.in_flight == {7, 8}
    assert path.read_bytes() == whole

    path.write_bytes(whole + b'{"event": "started", "row": 12, "id": "c1')  # row readable: in flight
    with Journal(path, sha256="abc") as journal:
        assert journal.torn_line == 4 and journal.in_flight == {7, 8, 12}
    path.write_bytes(whole + b'{"event": "started", "row": 1')  # row cut short: unknown, nothing assumed
    with Journal(path, sha256="abc") as journal:
        journal.finished_row(7, "c7", "update", "applied")
        assert journal.in_flight == {7, 8}
    with Journal(path, sha256="abc") as journal:
        assert journal.in_flight == {8} and journal.finished[7]["status"] == "applied"
    with pytest.raises(JournalError, match="different version of the input file"):
        Journal(path, sha256="other")
