"""Bulk apply at the API's rate limit: ``drframe.bulk`` against the naive thread pool a user would write instead.

Run: ``python benchmarks/bench_bulk.py [ROWS] [SCENARIO ...]`` (default 5,000 rows, every scenario). Each
approach gets a fresh sandbox in a separate process (``drframe sandbox``: server-side limit, 100 ms latency,
optional injected faults), so the server's CPU is not counted against the client. Prints one table row per
scenario, data shape and approach; ``client CPU s`` is this process's CPU time (all threads) over the apply.

Two shapes of input, each row one call:

* ``light``: every row updates an existing customer's ``locale`` and one metadata key;
* ``mixed``: 7 rows in 10 update an existing customer's whole shipping block (name, phone, four address fields)
  and two metadata keys, 2 in 10 create a new customer (client-supplied id, email, locale, shipping), 1 in 10
  deletes one.  Creates are what a retry cannot simply repeat (``POST /customers`` is not idempotent).

* ``drframe``: ``bulk.plan(csv).apply(rate=LIMIT, workers=WORKERS, journal=...)`` with the journal in a real
  file next to this script (not /tmp, which may be tmpfs); the plan's fetch is not timed.
* ``naive``: a ``ThreadPoolExecutor`` of ``client.customers.update`` calls through a client with the same rate
  limit and retry policy, and no journal.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _bench import sandbox_process

from drframe import Client, RetryPolicy, bulk
from drframe._errors import DRError

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
LATENCY_MS = 100.0
WORKERS = 32
RETRY = RetryPolicy(max_retries=10)
API_KEY = "sk_test_sandbox"  # the sandbox's default test key
#: name -> (label, limit req/s for server and client, fault rate)
SCENARIOS = {"clean-50": ("clean, 50/s", 50.0, 0.0), "clean-250": ("clean, 250/s", 250.0, 0.0),
             "faults-250": ("10% faults, 250/s", 250.0, 0.10)}
HERE = Path(__file__).resolve().parent
SHAPES = ("light", "mixed")


@dataclass
class Outcome:
    seconds: float
    writes: int
    applied: int
    failed: int
    throttled: int
    retries: int
    cpu: float
    #: The plan (read, validate, fetch, diff) before the apply: seconds and CPU seconds (drframe only).
    plan: tuple[float, float] | None = None


@contextmanager
def seeded_sandbox(limit: float, fault_rate: float) -> Iterator[str]:
    """A seeded sandbox in its own process (uvicorn logs every injected dropped connection, so stderr is dropped);
    yields its base URL."""
    with sandbox_process("--db", ":memory:", "--rate-limit", str(limit), "--latency-ms", str(LATENCY_MS),
                         "--seed-customers", str(ROWS), "--fault-rate", str(fault_rate), "--seed", "3") as url:
        yield url


def customer_ids(base_url: str) -> list[str]:
    with Client(API_KEY, base_url, retry=RETRY) as client:
        return [str(c["id"]) for c in client.customers.iter_raw()][:ROWS]


#: The columns of each shape's CSV (``action`` empty: an update of an existing customer).
COLUMNS = {
    "light": ["customer_id", "locale", "metadata.batch"],
    "mixed": ["customer_id", "action", "email", "locale", "shipping.name", "shipping.phone",
              "shipping.address.line1", "shipping.address.city", "shipping.address.postalCode",
              "shipping.address.country", "metadata.batch", "metadata.tier"],
}


def change(shape: str, n: int, customer_id: str) -> tuple[str, str, dict[str, Any]]:
    """Row ``n`` of ``shape`` for existing customer ``customer_id``: (action, id, the payload sent)."""
    if shape == "light":
        return "update", customer_id, {"locale": "fr_FR", "metadata": {"batch": f"b{n % 7}"}}
    shipping = {"name": f"Pat Doe {n}", "phone": f"+1 612 555 {n % 10_000:04d}",
                "address": {"line1": f"{n % 997} Main St", "city": "Minnetonka", "postalCode": f"{55_000 + n % 999:05d}",
                            "country": "US"}}
    metadata = {"batch": f"b{n % 7}", "tier": ("gold", "silver", "bronze")[n % 3]}
    kind = n % 10
    if kind == 9:
        return "delete", customer_id, {}
    if kind in {7, 8}:
        return "create", f"bench-new-{n}", {"email": f"new{n}@example.org", "locale": "en_US", "shipping": shipping}
    return "update", customer_id, {"shipping": shipping, "metadata": metadata}


def csv_row(shape: str, action: str, customer_id: str, payload: dict[str, Any]) -> list[str]:
    flat = {"customer_id": customer_id, "action": "" if action == "update" else action}
    for key, value in payload.items():
        if isinstance(value, dict):
            for inner, leaf in value.items():
                if isinstance(leaf, dict):
                    flat.update({f"{key}.{inner}.{k}": v for k, v in leaf.items()})
                else:
                    flat[f"{key}.{inner}"] = leaf
        else:
            flat[key] = value
    return [str(flat.get(column, "")) for column in COLUMNS[shape]]


def run_drframe(base_url: str, limit: float, workdir: Path, shape: str) -> Outcome:
    ids = customer_ids(base_url)
    path = workdir / "updates.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS[shape])
        writer.writerows(csv_row(shape, *change(shape, n, customer_id)) for n, customer_id in enumerate(ids))
    with Client(API_KEY, base_url, retry=RETRY, pool_size=WORKERS) as client:
        planned, cpu = time.monotonic(), time.process_time()
        plan = bulk.plan(path, client)
        plan_time = (time.monotonic() - planned, time.process_time() - cpu)
        cpu = time.process_time()
        result = plan.apply(rate=limit, workers=WORKERS, journal=workdir / "updates.journal", progress=False)
        cpu = time.process_time() - cpu
    counts = result.counts
    return Outcome(result.elapsed, counts["applied"] + counts["failed"], counts["applied"], counts["failed"],
                   result.stats.get("throttled", 0), result.stats.get("retries", 0), cpu, plan_time)


def run_naive(base_url: str, limit: float, workdir: Path, shape: str) -> Outcome:
    ids = customer_ids(base_url)
    with Client(API_KEY, base_url, retry=RETRY, rate_limit=limit, pool_size=WORKERS) as client:

        def update(item: tuple[int, str]) -> bool:
            action, customer_id, payload = change(shape, *item)
            try:
                if action == "update":
                    client.customers.update(customer_id, payload)
                elif action == "create":
                    client.customers.create({"id": customer_id, **payload})
                else:
                    client.customers.delete(customer_id)
            except DRError:
                return False
            return True

        cpu, started = time.process_time(), time.monotonic()
        with ThreadPoolExecutor(WORKERS) as pool:
            done = list(pool.map(update, enumerate(ids)))
        seconds, cpu = time.monotonic() - started, time.process_time() - cpu
        stats = client.stats
    return Outcome(seconds, len(done), sum(done), len(done) - sum(done), stats["throttled"], stats["retries"], cpu)


def journal_dir() -> Path:
    """A scratch directory on the repository's own filesystem, refusing tmpfs (its fsync costs nothing)."""
    path = Path(tempfile.mkdtemp(prefix=".bench-bulk-", dir=HERE))
    mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()] \
        if Path("/proc/mounts").exists() else []
    best = max((m for m in mounts if str(path).startswith(m[1].rstrip("/") + "/")), key=lambda m: len(m[1]),
               default=None)
    if best is not None and best[2] in {"tmpfs", "ramfs"}:
        raise SystemExit(f"{path} is on {best[2]}: the journal must be on a real disk")
    return path


def row(name: str, shape: str, approach: str, limit: float, outcome: Outcome) -> str:
    rate = outcome.writes / outcome.seconds
    return (f"| {name:<17} | {shape:<5} | {approach:<7} | {ROWS:>5} | {outcome.seconds:>7.1f} | {rate:>8.1f} | "
            f"{100 * rate / limit:>9.1f}% | {outcome.applied:>7} | {outcome.failed:>6} | {outcome.throttled:>4} | "
            f"{outcome.retries:>7} | {outcome.cpu:>11.1f} |")


def main() -> None:
    names = sys.argv[2:] or list(SCENARIOS)
    workdir = journal_dir()
    approaches: dict[str, Callable[[str, float, Path, str], Outcome]] = {"drframe": run_drframe,
                                                                         "naive": run_naive}
    print(f"{ROWS} rows per shape, sandbox in its own process with {LATENCY_MS:.0f} ms latency, "
          f"{WORKERS} workers, client rate = server limit; journal in {workdir.parent}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| scenario          | shape | apply   |  rows | seconds | writes/s | % of limit | applied | failed | 429s "
          "| retries | client CPU s |")
    print("|-------------------|-------|---------|------:|--------:|---------:|-----------:|--------:|-------:|-----:"
          "|--------:|-------------:|")
    plans = []
    try:
        for name in names:
            label, limit, fault_rate = SCENARIOS[name]
            for shape in SHAPES:
                for approach, run in approaches.items():
                    with seeded_sandbox(limit, fault_rate) as base_url:
                        outcome = run(base_url, limit, workdir, shape)
                    print(row(label, shape, approach, limit, outcome), flush=True)
                    if outcome.plan:
                        plans.append(f"{name}/{shape}: plan {outcome.plan[0]:.1f} s, {outcome.plan[1]:.1f} CPU s")
                    for leftover in workdir.iterdir():
                        leftover.unlink()
    finally:
        for leftover in workdir.iterdir():
            leftover.unlink()
        workdir.rmdir()
    print("drframe's plan before each apply (not in the table): " + "; ".join(plans))
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
