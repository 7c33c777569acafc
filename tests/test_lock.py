"""One run per journal: two `drframe apply` runs of one file at once send each row once; a dead run's lock is
taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from csvfiles import write_rows

from drframe import Client, JournalLocked, bulk
from drframe.bulk._lock import journal_lock, lock_paths
from drframe.sandbox import Sandbox

from .crashes import count_writes, kill_after

HEADER = ["customer_id", "email", "locale"]
ROWS = 60


def counting_sandbox(**options: float) -> tuple[Sandbox, Counter[str]]:
    """A sandbox that counts the successful writes (POST/DELETE) it answers."""
    sandbox = Sandbox(**options)  # type: ignore[arg-type]
    return sandbox, count_writes(sandbox)


def updates(client: Client, path: Path, rows: int = ROWS) -> Path:
    for i in range(rows):
        client.customers.create(id=f"l-{i}", email=f"old{i}@example.com", locale="en_US")
    return write_rows(path, HEADER, [[f"l-{i}", f"new{i}@example.com", "de_DE"] for i in range(rows)])


def cli(path: Path, sandbox: Sandbox, *extra: str) -> list[str]:
    return [sys.executable, "-m", "drframe.cli", "apply", str(path), "--rate", "40", "--workers", "4",
            "--no-progress", *extra]


def env(sandbox: Sandbox) -> dict[str, str]:
    return {**os.environ, "DR_BASE_URL": sandbox.base_url, "DR_API_KEY": sandbox.api_key}


def test_two_runs_of_one_file_at_once_send_each_row_once(tmp_path: Path) -> None:
    sandbox, writes = counting_sandbox(latency_ms=50, rate_limit=50)
    with sandbox:
        client = sandbox.client()
        path = updates(client, tmp_path / "updates.csv")
        writes.clear()
        # No --journal: the default journal (named by the file's content) is what the two runs share.
        runs = [subprocess.Popen(cli(path, sandbox), env=env(sandbox), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outcomes = [(run.wait(timeout=120), *run.communicate()) for run in runs]
        codes = sorted(code for code, _, _ in outcomes)
        assert codes == [0, 2], outcomes
        winner = next(run for run, (code, _, _) in zip(runs, outcomes, strict=True) if code == 0)
        _, out, err = next(o for o in outcomes if o[0] == 2)
        assert f"pid {winner.pid} on host " in err and "started " in err and "--lock-timeout" in err, err
        assert "nothing was sent" in err and "plan for" not in out, "the loser does not even plan"
        assert sum(writes.values()) == ROWS, writes
        assert {c["email"] for c in client.customers.iter_raw()} == {f"new{i}@example.com" for i in range(ROWS)}
        assert not list(tmp_path.glob("*.holder.json")), "the holder file goes with the lock"


def test_lock_timeout_waits_for_the_other_run(tmp_path: Path) -> None:
    sandbox, writes = counting_sandbox(latency_ms=20)
    with sandbox:
        client = sandbox.client()
        path = updates(client, tmp_path / "updates.csv", rows=30)
        journal = tmp_path / "updates.journal"
        writes.clear()
        first = subprocess.Popen(cli(path, sandbox, "--journal", str(journal)), env=env(sandbox),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not lock_paths(journal)[1].exists() and first.poll() is None:
            time.sleep(0.01)
        second = subprocess.run(cli(path, sandbox, "--journal", str(journal), "--lock-timeout", "60"),
                                env=env(sandbox), capture_output=True, text=True, timeout=120)
        assert first.wait(timeout=60) == 0
        assert second.returncode == 0, second.stderr
        assert "unchanged 30" in second.stdout, "planned after the first run ended: nothing left to send"
        assert sum(writes.values()) == 30, writes


def test_the_python_api_refuses_a_held_journal_and_can_wait(client: Client, tmp_path: Path) -> None:
    path = updates(client, tmp_path / "updates.csv", rows=3)
    journal = tmp_path / "updates.journal"
    plan = bulk.plan(path, client)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with journal_lock(journal):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    with pytest.raises(JournalLocked) as caught:
        plan.apply(journal=journal, progress=False)
    assert f"pid {os.getpid()} on host " in str(caught.value) and "lock_timeout=" in str(caught.value)
    assert client.customers.get("l-0").email == "old0@example.com", "nothing was sent"
    threading.Timer(0.3, release.set).start()
    assert plan.apply(journal=journal, lock_timeout=10, progress=False).counts["applied"] == 3
    holder.join()


def dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def test_a_stale_lock_of_a_dead_run_is_taken_over(client: Client, tmp_path: Path) -> None:
    path = updates(client, tmp_path / "updates.csv", rows=3)
    journal = tmp_path / "updates.journal"
    lock, holder = lock_paths(journal)
    pid = dead_pid()
    lock.touch()
    host = socket.gethostname()
    holder.write_text(json.dumps({"host": host, "pid": pid, "started": "2024-05-01T10:00:00Z"}))
    with pytest.warns(UserWarning, match=rf"took over .*\(pid {pid} on host {host}, started 2024-05-01"):
        result = bulk.plan(path, client).apply(journal=journal, progress=False)
    assert result.counts["applied"] == 3 and not holder.exists()


def test_a_killed_run_leaves_its_lock_to_the_next_run(tmp_path: Path) -> None:
    sandbox, writes = counting_sandbox(latency_ms=30)
    with sandbox:
        client = sandbox.client()
        path = updates(client, tmp_path / "updates.csv")
        journal = tmp_path / "updates.journal"
        writes.clear()
        first = kill_after(cli(path, sandbox, "--journal", str(journal)), env(sandbox), journal, finished=10)
        assert json.loads(lock_paths(journal)[1].read_text(encoding="utf-8"))["pid"] == first.pid
        second = subprocess.run(cli(path, sandbox, "--journal", str(journal)), env=env(sandbox),
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        assert f"took over the lock of {journal}" in second.stderr and f"pid {first.pid}" in second.stderr
        assert {c["email"] for c in client.customers.iter_raw()} == {f"new{i}@example.com" for i in range(ROWS)}
        assert sum(writes.values()) == ROWS, "rows in flight at the kill are re-checked, not sent again"
