"""Bulk apply throughput: N updates from a CSV against the sandbox with a server rate limit and latency.

Run: ``python benchmarks/bench_bulk.py [ROWS]`` (default 3,000). Prints one table row per scenario: the
sustained write rate against the limit, and every row's status.
"""

from __future__ import annotations

import csv
import sys
import tempfile
from pathlib import Path

from drframe import RetryPolicy, bulk
from drframe.sandbox import Sandbox

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
LIMIT = 50.0
LATENCY_MS = 20.0


def scenario(name: str, fault_rate: float, workdir: Path) -> str:
    with Sandbox(seed_customers=ROWS, seed=3, rate_limit=LIMIT, latency_ms=LATENCY_MS,
                 fault_rate=fault_rate) as sandbox:
        client = sandbox.client(rate_limit=LIMIT, retry=RetryPolicy(max_retries=10))
        ids = [c["id"] for c in client.customers.iter_raw()]
        path = workdir / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["customer_id", "locale", "metadata.batch"])
            writer.writerows([customer_id, "fr_FR", f"b{n % 7}"] for n, customer_id in enumerate(ids))
        plan = bulk.plan(path, client)
        result = plan.apply(workers=8, journal=workdir / f"{name}.journal", progress=False)
        counts = result.counts
        rate = result.throughput
        return (f"| {name:<22} | {ROWS:>5} | {result.elapsed:>7.1f} | {rate:>6.1f} | {100 * rate / LIMIT:>5.1f}% | "
                f"{counts['applied']:>7} | {counts['failed']:>6} | {result.stats.get('throttled', 0):>9} | "
                f"{result.stats.get('retries', 0):>7} |")


def main() -> None:
    print(f"{ROWS} updates, sandbox limit {LIMIT:.0f}/s + {LATENCY_MS:.0f} ms latency, client rate {LIMIT:.0f}/s, "
          "8 workers")
    print("| scenario               |  rows | seconds | rows/s | of limit | applied | failed | 429s seen | retries |")
    print("|------------------------|------:|--------:|-------:|---------:|--------:|-------:|----------:|--------:|")
    with tempfile.TemporaryDirectory() as tmp:
        print(scenario("clean", 0.0, Path(tmp)))
        print(scenario("10% faults", 0.10, Path(tmp)))


if __name__ == "__main__":
    main()
