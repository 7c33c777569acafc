"""Sandbox throughput: requests per second through drframe.Client over real HTTP (keep-alive), on this machine.

Run: ``python benchmarks/bench_sandbox.py [SECONDS]``.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor

from drframe.sandbox import Sandbox

DURATION = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0


def measure(name: str, call, threads: int) -> tuple[str, int, float]:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + DURATION

    def worker(offset: int) -> int:
        done = 0
        while time.perf_counter() < deadline:
            call(offset + done)
            done += 1
        return done

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(worker, [i * 1_000_000 for i in range(threads)]))
    return name, threads, total / (time.perf_counter() - start)


def main() -> None:
    with Sandbox(seed_customers=1000) as sandbox:
        client = sandbox.client()
        ids = [c["id"] for c in client.customers.iter_raw()]
        rows = []
        for threads in (1, 4):
            rows.append(measure("GET /customers/{id}", lambda i: client.customers.get(ids[i % len(ids)]), threads))
            rows.append(measure("POST /customers/{id}", lambda i: client.customers.update(
                ids[i % len(ids)], metadata={"n": str(i)}), threads))
            rows.append(measure("GET /customers?limit=100", lambda i: client.customers.list_raw(limit=100), threads))
    print(f"{'operation':<28}{'threads':>8}{'req/s':>10}")
    for name, threads, rate in rows:
        print(f"{name:<28}{threads:>8}{rate:>10.0f}")


if __name__ == "__main__":
    main()
