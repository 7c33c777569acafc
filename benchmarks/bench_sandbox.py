"""Sandbox throughput: requests per second through drframe.Client over real HTTP (keep-alive), on this machine,
and the CPU time the server's thread spent per request (user + system, from /proc: the client's share of the
process, JSON parsing included, is not counted there).

Run: ``python benchmarks/bench_sandbox.py [SECONDS]``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from drframe.sandbox import Sandbox

DURATION = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0


def thread_cpu(native_id: int) -> float:
    """CPU seconds (user + system) of one thread of this process."""
    with open(f"/proc/self/task/{native_id}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(name: str, call: Callable[[int], object], threads: int,
            server_thread: int) -> tuple[str, int, float, float]:
    """``(name, threads, requests a second, server CPU ms a request)``."""
    deadline = time.perf_counter() + DURATION

    def worker(offset: int) -> int:
        done = 0
        while time.perf_counter() < deadline:
            call(offset + done)
            done += 1
        return done

    start, cpu = time.perf_counter(), thread_cpu(server_thread)
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(worker, [i * 1_000_000 for i in range(threads)]))
    return name, threads, total / (time.perf_counter() - start), (thread_cpu(server_thread) - cpu) / total * 1e3


def main() -> None:
    with Sandbox(seed_customers=1000) as sandbox:
        client = sandbox.client()
        ids = [c["id"] for c in client.customers.iter_raw()]
        server = sandbox._thread
        assert server is not None and server.native_id is not None
        operations: list[tuple[str, Callable[[int], object]]] = [
            ("GET /customers/{id}", lambda i: client.customers.get(ids[i % len(ids)])),
            ("POST /customers/{id}", lambda i: client.customers.update(ids[i % len(ids)], metadata={"n": str(i)})),
            ("GET /customers?limit=100", lambda i: client.customers.list_raw(limit=100)),
            # 100 ids in one call, as plan's batched reads send them.
            ("GET /customers?ids=(100)", lambda i: client.customers.list_raw(
                limit=100, ids=[ids[(i + k) % len(ids)] for k in range(100)])),
        ]
        rows = [measure(name, call, threads, server.native_id) for threads in (1, 4) for name, call in operations]
    print(f"{'operation':<28}{'threads':>8}{'req/s':>10}{'server CPU ms/req':>19}")
    for name, threads, rate, cpu_ms in rows:
        print(f"{name:<28}{threads:>8}{rate:>10.0f}{cpu_ms:>19.2f}")


if __name__ == "__main__":
    main()
