"""Planning a large CSV: seconds and peak memory of ``drframe.bulk.plan``.

Run: ``python benchmarks/bench_plan.py [ROWS [WORKERS ...]]`` (default 350,000 rows; workers 0 = the default
(8 here) and 1). A sandbox store is seeded with ROWS customers
(25,000 at a time) and served by ``drframe sandbox`` in its own process (``--latency-ms 50``, no rate limit);
the CSV has one row per customer in 12 columns (about 145 bytes a row, as an analyst's extract of an export),
every tenth row with a new locale. Each plan runs in a fresh child process, which reports its peak resident
memory (VmHWM) and its CPU seconds (user + sys, all its threads: the client's CPU, not the sandbox's);
``workers=1`` is the sequential fetch for comparison. Prints one table row per run.
"""

from __future__ import annotations

import csv
import shutil
import sys
from typing import Any

from _bench import API_KEY, in_child, load, sandbox_process, scratch_dir, seed_db

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 350_000
RUNS = [int(w) for w in sys.argv[2:]] or [0, 1]
LATENCY_MS = 50
COLUMNS = ["customer_id", "email", "locale", "enabled", "type", "shipping.name", "shipping.phone",
           "shipping.address.line1", "shipping.address.city", "shipping.address.postalCode",
           "shipping.address.country", "metadata.segment"]

PLAN = '''
import resource
from drframe import Client, bulk
url, path, workers, key = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
with Client(key, url, rate_limit=None) as client:
    started, cpu_started = time.monotonic(), cpu()
    plan = bulk.plan(path, client, workers=workers or None)
    seconds, cpu_seconds = time.monotonic() - started, cpu() - cpu_started
    report(seconds=seconds, cpu_seconds=cpu_seconds, rows=len(plan.rows), counts=plan.counts,
           requests=client.stats["requests"], baseline_mib=BASELINE_MIB)
'''


def csv_row(customer: dict[str, Any], number: list[int]) -> list[str]:
    shipping = customer.get("shipping") or {}
    address = shipping.get("address") or {}
    number[0] += 1
    locale = "fr_FR" if number[0] % 10 == 0 else customer.get("locale", "")
    return [customer["id"], customer.get("email", ""), locale, "TRUE" if customer.get("enabled") else "FALSE",
            customer.get("type", ""), shipping.get("name", ""), shipping.get("phone", ""), address.get("line1", ""),
            address.get("city", ""), address.get("postalCode", ""), address.get("country", ""),
            (customer.get("metadata") or {}).get("segment", "")]


def main() -> None:
    work = scratch_dir("plan")
    try:
        db, path = work / "sandbox.db", work / f"plan-{ROWS}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            counter = [0]
            seed_db(db, ROWS, lambda customer: writer.writerow(csv_row(customer, counter)))
        size = path.stat().st_size / 1e6
        print(f"plan of a {ROWS:,}-row CSV ({size:.1f} MB, {len(COLUMNS)} columns) against `drframe sandbox` in "
              f"its own process ({LATENCY_MS} ms latency, no rate limit); load average {load()}")
        print("| fetch               |    rows | seconds | client CPU s | rows/s | calls | peak RSS MiB | baseline MiB |")
        print("|---------------------|--------:|--------:|-------------:|-------:|------:|-------------:|-------------:|")
        with sandbox_process("--db", str(db), "--latency-ms", str(LATENCY_MS)) as url:
            for workers in RUNS:
                result = in_child(PLAN, url, str(path), str(workers), API_KEY)
                name = "sequential (1)" if workers == 1 else "concurrent (8)"
                print(f"| {name:<19} | {result['rows']:>7,} | {result['seconds']:>7.1f} | {result['cpu_seconds']:>12.1f} | "
                      f"{result['rows'] / result['seconds']:>6,.0f} | {result['requests']:>5} | "
                      f"{result['peak_mib']:>12.0f} | {result['baseline_mib']:>12.0f} |", flush=True)
        print(f"counts: {result['counts']}; load average at the end {load()}")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
