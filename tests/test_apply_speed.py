"""What makes bulk apply fast must not make it wrong: the group-committed journal, the adaptive rate limiter and
the stand-in workers that keep fresh rows moving while a retry waits. Correctness only, no timing targets."""

from __future__ import annotations

import csv
import errno
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from starlette.responses import JSONResponse

from drframe import Client, RetryPolicy, bulk
from drframe._api._ratelimit import RateLimiter
from drframe._errors import JournalError
from drframe.bulk import _run
from drframe.bulk._journal import Journal, payload_hash
from drframe.sandbox import Sandbox
from drframe.sandbox._errors import error_body

HEADER = ["customer_id", "action", "email", "locale", "metadata.segment"]


def write_rows(path: Path, ids: list[str], creates: int = 5) -> list[dict[str, str]]:
    rows = [{"customer_id": customer_id, "locale": "de_DE", "metadata.segment": f"s{n}"}
            for n, customer_id in enumerate(ids)]
    rows += [{"customer_id": f"speed-new-{n}", "action": "create", "email": f"speed{n}@example.com"}
             for n in range(creates)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return rows


class SlowDisk(Journal):
    """A journal whose fsync is slow (so commits group), counts what is durable, and can fail on commit N."""

    instances: ClassVar[list[SlowDisk]] = []
    fail_on: ClassVar[int | None] = None

    def __init__(self, path: str | Path, *, sha256: str) -> None:
        self.durable_size = 0
        self.fsyncs = 0
        SlowDisk.instances.append(self)
        super().__init__(path, sha256=sha256)

    def _fsync(self, fd: int) -> None:
        self.fsyncs += 1
        if self.fsyncs == SlowDisk.fail_on:
            raise OSError(errno.ENOSPC, "No space left on device")
        time.sleep(0.01)
        super()._fsync(fd)
        self.durable_size = os.fstat(fd).st_size

    def durable_records(self) -> list[dict[str, Any]]:
        data = self.path.read_bytes()[:self.durable_size]
        return [json.loads(line) for line in data.splitlines()]


@dataclass
class Server:
    """A sandbox that checks, as each write arrives, that the journal on disk already announces it."""

    sandbox: Sandbox
    client: Client
    ids: list[str]
    writes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    SlowDisk.instances, SlowDisk.fail_on = [], None
    monkeypatch.setattr(_run, "Journal", SlowDisk)
    sandbox = Sandbox(seed_customers=40, seed=21, latency_ms=5)
    app = sandbox.app
    state = Server(sandbox, None, [])  # type: ignore[arg-type]

    async def check_durable(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith("/customers"):
            return await app(scope, receive, send)
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = json.loads(b"".join(chunks))
        customer_id = scope["path"].rpartition("/")[2] if scope["path"] != "/customers" else body.get("id")
        if SlowDisk.instances:
            announced = [r for r in SlowDisk.instances[-1].durable_records()
                         if r["event"] == "started" and r["id"] == customer_id]
            if not any(r["payload_sha256"] == payload_hash(body) for r in announced):
                state.problems.append(f"{scope['path']} arrived before its started record was durable")
        state.writes[f"POST {scope['path']}"] += 1
        replay = iter([{"type": "http.request", "body": b"".join(chunks), "more_body": False}])

        async def again() -> Any:
            return next(replay, None) or await receive()

        return await app(scope, again, send)

    sandbox.app = check_durable  # type: ignore[assignment]
    with sandbox, sandbox.client() as client:
        state.client = client
        state.ids = [str(c["id"]) for c in client.customers.iter_raw()][:40]
        yield state


# -- the group-committed journal --------------------------------------------------------------------------------

def test_every_request_finds_its_started_record_durable_and_commits_are_grouped(server: Server,
                                                                                 tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    rows = write_rows(path, server.ids)
    result = bulk.plan(path, server.client).apply(workers=8, journal=tmp_path / "j", progress=False,
                                                  keep_journal=True)
    assert result.ok and result.counts["applied"] == len(rows)
    assert server.problems == []
    assert sum(server.writes.values()) == len(rows)
    journal = SlowDisk.instances[-1]
    records = journal.durable_records()
    assert journal.durable_size == (tmp_path / "j").stat().st_size, "close() committed every queued record"
    assert Counter(r["event"] for r in records) == {"journal": 1, "started": len(rows), "finished": len(rows)}
    assert journal.commits < len(rows), "8 workers behind a 10 ms fsync share commits"
    for row in {r["row"] for r in records if r["event"] == "started"}:
        events = [r["event"] for r in records if r.get("row") == row]
        assert events == ["started", "finished"], (row, events)


def test_a_failed_commit_stops_every_writer_waiting_on_it_and_a_rerun_applies_each_row_once(
        server: Server, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    rows = write_rows(path, server.ids)
    SlowDisk.fail_on = 4  # the header, then three commits of started records (at most 8 each) get through
    with pytest.raises(JournalError, match=r"cannot write journal .*No space left on device.*run again"):
        bulk.plan(path, server.client).apply(workers=8, journal=tmp_path / "j", progress=False)
    broken = SlowDisk.instances[-1]
    announced = {r["row"] for r in broken.durable_records() if r["event"] == "started"}
    assert server.problems == [], "nothing left without a durable started record"
    assert 0 < sum(server.writes.values()) <= len(announced) < len(rows)

    SlowDisk.fail_on = None
    result = bulk.plan(path, server.client).apply(workers=8, journal=tmp_path / "j", progress=False)
    assert result.ok and result.counts["applied"] == len(rows)
    assert server.problems == []
    assert server.writes == {"POST /customers": 5, **{f"POST /customers/{i}": 1 for i in server.ids}}
    assert not (tmp_path / "j").exists()


def test_finished_records_are_committed_with_the_next_started_or_on_close(tmp_path: Path) -> None:
    path = tmp_path / "j"
    with Journal(path, sha256="abc") as journal:
        journal.started(1, "c1", "update", {"a": 1})
        journal.finished_row(1, "c1", "update", "applied")
        assert b'"finished"' not in path.read_bytes(), "queued, not yet written"
        journal.started(2, "c2", "update", {"a": 2})
        assert path.read_bytes().count(b"\n") == 4, "one commit wrote both"
        journal.finished_row(2, "c2", "update", "failed")
    with Journal(path, sha256="abc") as journal:
        assert journal.finished.keys() == {1} and journal.in_flight == set()
    with pytest.raises(JournalError, match="is closed"):
        journal.started(3, "c3", "update", None)


# -- the rate limiter --------------------------------------------------------------------------------------------

class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_limiter_pauses_for_retry_after_then_resumes_near_the_rate_and_recovers() -> None:
    t = FakeTime()
    limiter = RateLimiter(100, catch_up=0, clock=t.clock, sleep=t.sleep)
    tickets = [limiter.acquire() for _ in range(5)]
    assert t.now == pytest.approx(100.04), "evenly spaced at 10 ms"
    limiter.on_success(tickets[0])
    limiter.on_throttled(1.0, tickets[1])
    assert limiter.rate == pytest.approx(90) and limiter.paused_for == pytest.approx(1.0)
    limiter.on_throttled(1.0, tickets[2])  # sent before the first cut took effect: the same round trip
    assert limiter.rate == pytest.approx(90) and limiter.throttled == 2
    assert limiter.reserve() == pytest.approx(1.0), "everyone waits for Retry-After"

    t.now += 1.0  # nobody answered meanwhile: the pause ran its course and the server's bucket refilled
    start = t.now
    resumed = [limiter.acquire() for _ in range(3)]
    assert t.now - start < 0.05, "sending resumes at once, at the cut rate (11 ms apart)"
    for ticket in resumed:
        limiter.on_success(ticket)
    assert limiter.rate == pytest.approx(96)
    for _ in range(2):
        limiter.on_success(limiter.acquire())
    assert limiter.rate == 100, "additive increase: back to the full rate within a handful of answers"


def test_a_later_admitted_request_lifts_the_pause_and_makes_older_429s_stale() -> None:
    t = FakeTime()
    limiter = RateLimiter(100, clock=t.clock, sleep=t.sleep)
    first, second, _ = (limiter.acquire() for _ in range(3))
    limiter.on_throttled(1.0, first)
    assert limiter.paused_for == pytest.approx(1.0)
    limiter.on_success(second)  # sent after the throttled one and admitted: the bucket was not empty
    assert limiter.paused_for == 0 and limiter.reserve() < 0.02
    rate = limiter.rate
    limiter.on_throttled(1.0, first)  # a late, older 429 changes nothing
    assert limiter.paused_for == 0 and limiter.rate == rate and limiter.throttled == 2


def test_a_real_exhaustion_keeps_everyone_paused_and_cuts_once_per_round_trip() -> None:
    t = FakeTime()
    limiter = RateLimiter(100, clock=t.clock, sleep=t.sleep)
    tickets = [limiter.acquire() for _ in range(4)]
    for ticket in tickets:  # every answer of the round trip is a 429
        limiter.on_throttled(2.0, ticket)
    assert limiter.rate == pytest.approx(90) and limiter.paused_for == pytest.approx(2.0)
    t.now += 2.0
    limiter.on_throttled(2.0, limiter.acquire())  # still refused after the pause: cut again
    assert limiter.rate == pytest.approx(81)
    t.now += 2.0
    for _ in range(40):
        limiter.on_throttled(None, limiter.acquire())
    assert limiter.rate == pytest.approx(10), "never below the floor"


def test_waiters_are_released_as_soon_as_the_pause_is_lifted() -> None:
    limiter = RateLimiter(1000)
    throttled, later = limiter.acquire(), limiter.acquire()
    limiter.on_throttled(30.0, throttled)
    waiter = threading.Thread(target=limiter.acquire)
    waiter.start()
    waiter.join(0.1)
    assert waiter.is_alive(), "paused"
    limiter.on_success(later)
    waiter.join(10)
    assert not waiter.is_alive()


# -- stand-ins while a retry waits --------------------------------------------------------------------------------

def test_a_retry_wait_lends_the_worker_to_fresh_rows_and_in_flight_stays_within_workers(tmp_path: Path) -> None:
    sandbox = Sandbox(seed_customers=12, seed=4, latency_ms=10)
    app = sandbox.app
    log: list[str] = []
    in_flight, most = 0, 0
    throttled: set[str] = set()

    async def throttle_first_write(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal in_flight, most
        if scope["type"] != "http" or scope["method"] != "POST":
            return await app(scope, receive, send)
        customer = scope["path"].rpartition("/")[2]
        if not throttled:  # the first write is told to come back in a second
            throttled.add(customer)
            log.append(f"429 {customer}")
            body = error_body(429, "too_many_requests", "Rate limit exceeded.")
            return await JSONResponse(body, status_code=429, headers={"Retry-After": "1"})(scope, receive, send)
        in_flight += 1
        most = max(most, in_flight)
        log.append(f"write {customer}")
        try:
            return await app(scope, receive, send)
        finally:
            in_flight -= 1

    sandbox.app = throttle_first_write  # type: ignore[assignment]
    with sandbox, sandbox.client(retry=RetryPolicy(max_retries=3)) as client:
        ids = [str(c["id"]) for c in client.customers.iter_raw()]
        path = tmp_path / "rows.csv"
        write_rows(path, ids, creates=0)
        result = bulk.plan(path, client).apply(workers=1, progress=False)
    assert result.ok and result.counts["applied"] == len(ids)
    first = log[0].split()[1]
    retried = log.index(f"write {first}")
    assert retried > 1, f"other customers were written while {first} waited: {log}"
    assert most == 1, "never more requests in flight than workers"


def test_a_stalled_limiter_catches_up_a_tenth_of_a_second() -> None:
    t = FakeTime()
    limiter = RateLimiter(100, clock=t.clock, sleep=t.sleep)
    sends = []
    for _ in range(50):
        limiter.acquire()
        sends.append(t.now)
    t.now += 0.3  # every thread held up (a garbage collection): 30 slots nobody took
    stalled_at = t.now
    for _ in range(400):
        limiter.acquire()
        sends.append(t.now)
    caught_up = sum(1 for s in sends if s == stalled_at)
    assert caught_up in {10, 11}, "the last 0.1 s of missed slots and the current one (floating point aside)"
    assert sends[-1] - stalled_at == pytest.approx(3.9, abs=0.02), "then evenly spaced at the rate"
    bursts = [sum(1 for s in sends if start <= s < start + 0.1) for start in sends]
    assert max(bursts) <= 21, "never more than a tenth of a second's worth beyond the rate"


def test_a_pause_is_not_caught_up_after() -> None:
    t = FakeTime()
    limiter = RateLimiter(100, clock=t.clock, sleep=t.sleep)
    limiter.on_throttled(1.0, limiter.acquire())
    t.now += 1.0
    start = t.now
    for _ in range(5):
        limiter.acquire()
    assert t.now - start == pytest.approx(4 / 90), "evenly spaced at the cut rate from the end of the pause"


def test_a_slot_reserved_before_a_pause_waits_for_the_pause_too() -> None:
    limiter = RateLimiter(10, catch_up=0)  # slots 100 ms apart
    first = limiter.acquire()
    returned: list[float] = []
    waiter = threading.Thread(target=lambda: returned.append((limiter.acquire(), time.monotonic())[1]))
    waiter.start()  # holds the slot 100 ms from now, sleeping
    time.sleep(0.02)
    limiter.on_throttled(0.5, first)
    paused_until = time.monotonic() + 0.5
    waiter.join(10)
    assert returned and returned[0] >= paused_until - 0.02, "not sent into the pause"
