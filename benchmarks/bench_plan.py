"""Planning a large CSV: seconds and peak memory of ``drframe.bulk.plan``.

Run: ``python benchmarks/bench_plan.py [ROWS [WORKERS ...]]`` (default 350,000 rows; workers 0 = the default
(8 here) and 1). A sandbox store is seeded with ROWS customers
(25,000 at a time) and served by ``drframe sandbox`` in its own process (``--latency-ms 50``, no rate limit);
the sheet has one row per customer in 12 columns (about 145 bytes a row as CSV, an analyst's extract of an
export), every tenth row with a new locale, in two shapes: a CSV, and the same rows as an xlsx workbook (what
Excel users send; every cell goes through its number format). Each plan runs in a fresh child process, which
reports its peak resident memory (VmHWM) and its CPU seconds (user + sys, all its threads: the client's CPU, not
the sandbox's); ``workers=1`` is the sequential fetch for comparison. Beside them, what a pandas user would
write instead: ``pd.read_csv(dtype=str)`` for the CSV and ``pd.read_excel(dtype=str)`` for the xlsx, the current
state by ``get_many_raw`` (same concurrent fetch), ``pd.json_normalize`` and a column-by-column comparison (the
naming "pandas read_csv" / "pandas read_excel" in the table) -- no validation, no per-row errors, no plan to
apply. Prints one table row per run.
"""

from __future__ import annotations

import csv
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _bench import API_KEY, in_child, load, sandbox_process, scratch_dir, seed_db

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 350_000
RUNS = [int(w) for w in sys.argv[2:]] or [0, 1]
LATENCY_MS = 50
COLUMNS = ["customer_id", "email", "locale", "enabled", "type", "shipping.name", "shipping.phone",
           "shipping.address.line1", "shipping.address.city", "shipping.address.postalCode",
           "shipping.address.country", "metadata.segment"]

PLAN = '''
from drframe import Client, bulk
url, path, workers, key = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with Client(key, url, rate_limit=None) as client:
    started, cpu_started = time.monotonic(), cpu()
    plan = bulk.plan(path, client, workers=workers or None)
    seconds, cpu_seconds = time.monotonic() - started, cpu() - cpu_started
    report(seconds=seconds, cpu_seconds=cpu_seconds, rows=len(plan.rows), counts=plan.counts,
           requests=client.stats["requests"], baseline_mib=BASELINE_MIB)
'''


NAIVE = '''
import pandas as pd
from drframe import Client
url, path, workers, key = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with Client(key, url, rate_limit=None) as client:
    started, cpu_started = time.monotonic(), cpu()
    sheet = (pd.read_excel(path, dtype=str, keep_default_na=False) if path.endswith(".xlsx") else
             pd.read_csv(path, dtype=str, keep_default_na=False))
    current = pd.json_normalize(list(client.customers.get_many_raw(sheet["customer_id"].tolist()).values()))
    current["enabled"] = current["enabled"].map({True: "TRUE", False: "FALSE"})
    merged = sheet.merge(current.astype(str), left_on="customer_id", right_on="id", how="left",
                         suffixes=("", " now"))
    changed = sum(int((merged[c] != merged[c + " now"]).sum()) for c in sheet.columns if c + " now" in merged)
    seconds, cpu_seconds = time.monotonic() - started, cpu() - cpu_started
    report(seconds=seconds, cpu_seconds=cpu_seconds, rows=len(sheet), counts={"changed cells": changed},
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


def write_xlsx(rows: Iterator[list[str]], path: Path) -> None:
    """The rows as an xlsx workbook, written in openpyxl's streaming mode (a 350k-row sheet never in memory)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("customers")
    for row in rows:
        sheet.append(row)
    book.save(path)


def main() -> None:
    work = scratch_dir("plan")
    try:
        db, path, xlsx = work / "sandbox.db", work / f"plan-{ROWS}.csv", work / f"plan-{ROWS}.xlsx"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            counter = [0]
            seed_db(db, ROWS, lambda customer: writer.writerow(csv_row(customer, counter)))
        with path.open(newline="", encoding="utf-8") as handle:
            write_xlsx(csv.reader(handle), xlsx)
        print(f"plan of {ROWS:,} rows in {len(COLUMNS)} columns (CSV {path.stat().st_size / 1e6:.1f} MB, xlsx "
              f"{xlsx.stat().st_size / 1e6:.1f} MB) against `drframe sandbox` in its own process ({LATENCY_MS} ms "
              f"latency, no rate limit); load average {load()}")
        print("| sheet | plan                  |    rows | seconds | client CPU s | rows/s | calls | peak RSS MiB "
              "| baseline MiB |")
        print("|-------|-----------------------|--------:|--------:|-------------:|-------:|------:|-------------:"
              "|-------------:|")
        runs = [("csv", path, PLAN, workers) for workers in RUNS] + [("csv", path, NAIVE, 0)] + \
            [("xlsx", xlsx, PLAN, RUNS[0]), ("xlsx", xlsx, NAIVE, 0)]
        with sandbox_process("--db", str(db), "--latency-ms", str(LATENCY_MS)) as url:
            for shape, sheet, code, workers in runs:
                result = in_child(code, url, str(sheet), str(workers), API_KEY)
                name = f"pandas {'read_excel' if shape == 'xlsx' else 'read_csv'}" if code is NAIVE else \
                    "drframe, sequential" if workers == 1 else "drframe, concurrent"
                print(f"| {shape:<5} | {name:<21} | {result['rows']:>7,} | {result['seconds']:>7.1f} | "
                      f"{result['cpu_seconds']:>12.1f} | {result['rows'] / result['seconds']:>6,.0f} | "
                      f"{result['requests']:>5} | {result['peak_mib']:>12.0f} | {result['baseline_mib']:>12.0f} |",
                      flush=True)
                print(f"  counts: {result['counts']}", flush=True)
        print(f"load average at the end {load()}")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
