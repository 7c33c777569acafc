"""Exporting at the API's rate limit, and streaming a Parquet export in bounded memory.

Run: ``python benchmarks/bench_export.py [PART ...]`` with parts ``command``, ``command-skewed`` (the same on
the skewed shape), ``write``, ``rate`` and ``parquet`` (default ``command``, ``write``, ``rate``, ``parquet``).

* ``command``: the ``drframe export`` command itself, timed from its process's start to its exit (file written):
  20,000 customers of the even shape at 25/s and 100/s (150 ms latency), as csv, xlsx and parquet, against the
  sequential bound (the first and the last page's round trips, the other pages at the limit), then an empty
  store (median of 3: the fixed cost). The table is printed at the end, the worst share of the bound first;
  ``CPU s`` is the command's own (user + sys, from ``wait4``), the server's not counted; ``load`` is the 1-minute
  load average after the run. Beside it, ``naive``: what a user would write instead (a sequential
  ``startingAfter`` loop with requests, ``pd.json_normalize``, ``to_csv``), timed the same way. Run it alone:
  ``flock /tmp/drframe-bench.lock python benchmarks/bench_export.py command``.

* ``rate``: 20,000 customers of each data shape (``even`` and ``skewed``, see ``_bench.SHAPES``) served by ``drframe sandbox`` in its own process with ``--latency-ms 150`` and
  ``--rate-limit 25``, then ``--rate-limit 100``; the client's rate limit is the server's. For each limit, in the
  same run (a fresh sandbox each, so the server's bucket starts alike), the sequential listing (``workers=1``:
  one page after another, as before) and the concurrent one (default workers), as a plain listing
  (``iter_raw``) and as ``to_frames()`` (what ``drframe export`` does before writing). ``% of limit`` is
  customers/s over limit x 100 (a page holds 100), ``bound`` the best any listing can do (the first and the
  last page's round trips cannot overlap the others). Then what the sandbox serves at all on this machine (no
  limit on either side, 32 and 48 workers), and last 100,000 customers at 100/s, where those round trips weigh
  less.
* ``write``: what is left after the last page, the writers alone: the 20,000 customers' four tables (listed once
  from a sandbox in its own process, no latency) written by ``Frames.to_excel`` / ``to_csv``, beside pandas' own
  ``DataFrame.to_excel`` (openpyxl) / ``to_csv`` of the same tables (what a user would write, without drframe's
  neutralising, formats or widths); CPU seconds (user + sys of this process, the writer's threads included),
  best of 3 (pandas' to_excel: one run, a minute of CPU).
* ``parquet``: ``client.customers.to_parquet(dir)`` of 100,000 and 300,000 customers (sandbox in its own process,
  no latency or limit, default 8 workers), each in a fresh child process reporting its peak resident memory
  (VmHWM), beside the in-memory ``to_frames().to_parquet(dir)`` for comparison.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _bench import API_KEY, SHAPES, in_child, load, sandbox_process, scratch_dir, seed_db

from drframe import Client

RATE_CUSTOMERS = 20_000
LARGE_CUSTOMERS = 100_000
LATENCY_MS = 150
LIMITS = (25.0, 100.0)
PARQUET_SIZES = (100_000, 300_000)

EXPORT = '''
import pyarrow.parquet as pq
from drframe import Client
url, out, how, key = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
with Client(key, url) as client:
    started = time.monotonic()
    if how == "streamed":
        client.customers.to_parquet(out)
    else:
        client.customers.to_frames().to_parquet(out)
    seconds = time.monotonic() - started
    report(seconds=seconds, customers=pq.ParquetFile(out + "/customers.parquet").metadata.num_rows,
           requests=client.stats["requests"])
'''


def rate_part() -> None:
    print(f"`drframe sandbox` in its own process with {LATENCY_MS} ms latency and a per-key rate limit; client rate "
          f"limit = server limit; load average {load()}. `bound`: the best any listing can do, the first page's round "
          f"trip, then the other pages at the limit, then the last page's round trip")
    print("| shape  | customers | limit req/s | read        | workers | seconds | customers/s | % of limit | bound "
          "| requests | 429s |")
    print("|--------|----------:|------------:|-------------|--------:|--------:|------------:|-----------:|------:"
          "|---------:|-----:|")
    for shape in SHAPES:
        rate_runs(shape, RATE_CUSTOMERS, LIMITS, RUNS, ceiling=True)
    # The fixed round trips at each end are 13% of a 2 s export: a bigger one at 100/s shows the engine itself.
    rate_runs("even", LARGE_CUSTOMERS, (100.0,), RUNS[1:], ceiling=False)


def rate_runs(shape: str, customers: int, limits: tuple[float, ...], runs: tuple[tuple[int | None, str], ...], *,
              ceiling: bool) -> None:
    work = scratch_dir("export")
    try:
        db = work / "sandbox.db"
        seed_db(db, customers, shape=shape)
        for limit in limits:
            pages = math.ceil(customers / 100)
            bound = 100 * (pages / limit) / (2 * LATENCY_MS / 1000 + (pages - 1) / limit)
            for workers, name in runs:
                # a copy of the seeded store for each run: the server's rate bucket starts full every time
                run_db = work / "run.db"
                shutil.copyfile(db, run_db)
                with sandbox_process("--db", str(run_db), "--latency-ms", str(LATENCY_MS),
                                     "--rate-limit", str(limit)) as url, \
                        Client(API_KEY, url, rate_limit=limit) as client:
                    started = time.monotonic()
                    count = READS[name](client, workers)
                    seconds = time.monotonic() - started
                    stats = client.stats
                run_db.unlink()
                rate = count / seconds
                shown = "1" if workers == 1 else f"{client_workers(limit)}"
                print(f"| {shape:<6} | {customers:>9,} | {limit:>11.0f} | {name:<11} | {shown:>7} | {seconds:>7.1f} | "
                      f"{rate:>11,.0f} | {100 * rate / (limit * 100):>9.1f}% | {bound:>4.0f}% | {stats['requests']:>8} "
                      f"| {stats['throttled']:>4} |", flush=True)
        if not ceiling:
            return
        # What this machine's sandbox serves at all (no limit anywhere): the ceiling of the 100/s rows.
        for workers in (32, 48):
            with sandbox_process("--db", str(db), "--latency-ms", str(LATENCY_MS)) as url, \
                    Client(API_KEY, url, pool_size=workers) as client:
                started = time.monotonic()
                count = READS["iter_raw"](client, workers)
                seconds = time.monotonic() - started
                print(f"| {shape:<6} | {customers:>9,} |        none | iter_raw    | {workers:>7} | {seconds:>7.1f} | "
                      f"{count / seconds:>11,.0f} | {'-':>10} | {'-':>5} | {client.stats['requests']:>8} | "
                      f"{client.stats['throttled']:>4} |", flush=True)
    finally:
        shutil.rmtree(work)


def client_workers(limit: float) -> int:
    from drframe._api._pacing import default_workers

    with Client(API_KEY, "http://127.0.0.1:9", rate_limit=limit) as client:
        return default_workers(client)


#: (workers, read): the sequential listing, then the concurrent one as a listing and as ``to_frames()``.
RUNS: tuple[tuple[int | None, str], ...] = ((1, "iter_raw"), (None, "iter_raw"), (None, "to_frames()"))
READS: dict[str, Callable[[Client, int | None], int]] = {
    "iter_raw": lambda client, workers: sum(1 for _ in client.customers.iter_raw(workers=workers)),
    "to_frames()": lambda client, workers: len(client.customers.to_frames(workers=workers).customers),
}


#: (format, ``--out`` name) for the command part; "naive" is :data:`NAIVE_EXPORT`, the alternative.
COMMAND_FORMATS = (("csv", "tables"), ("xlsx", "customers.xlsx"), ("parquet", "parquet"), ("naive", "naive"))


#: What a user would write instead of ``drframe export``: the ``startingAfter`` loop, ``pd.json_normalize`` (the
#: customers, and each child list by ``record_path``) and ``to_csv``, in its own process.
NAIVE_EXPORT = '''
import json, sys
import pandas as pd, requests
url, key, out = sys.argv[1], sys.argv[2], sys.argv[3]
session, customers, after = requests.Session(), [], None
session.headers["Authorization"] = "Bearer " + key
while True:
    page = session.get(url + "/customers", params={"limit": 100, **({"startingAfter": after} if after else {})}).json()
    customers += page["data"]
    if not page["hasMore"]:
        break
    after = page["data"][-1]["id"]
pd.json_normalize(customers).to_csv(out + "-customers.csv", index=False)
for field in ("sources", "taxIdentifiers"):
    pd.json_normalize([c for c in customers if c.get(field)], record_path=field, meta=["id"],
                      meta_prefix="customer.").to_csv(out + "-" + field + ".csv", index=False)
'''


def run_command(url: str, out: Path, fmt: str, rate: float | None) -> tuple[float, float]:
    """``drframe export`` (``fmt`` "naive": :data:`NAIVE_EXPORT`) in its own process: (seconds from its start to its
    exit, its CPU seconds)."""
    command = [sys.executable, "-m", "drframe.cli", "export", "--base-url", url, "--api-key", API_KEY,
               "--out", str(out), "--format", fmt, "--no-progress"]
    if rate is not None:
        command += ["--rate", str(rate)]
    if fmt == "naive":
        out.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-c", NAIVE_EXPORT, url, API_KEY, str(out)]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    if status:
        raise RuntimeError(f"drframe export failed: {process.stderr.read().decode()[-2000:] if process.stderr else ''}")
    return seconds, usage.ru_utime + usage.ru_stime


def command_part(shape: str = "even") -> None:
    """The rows at the limits, worst share of the bound first, then the alternative's, then the empty exports (the
    fixed cost)."""
    print(f"`drframe export` timed from its process's start to its exit, {shape} shape; `drframe sandbox` in its own "
          f"process with {LATENCY_MS} ms latency; load average {load()} at the start")
    work = scratch_dir("command")
    rows: list[tuple[float, str]] = []
    try:
        db = work / "sandbox.db"
        seed_db(db, RATE_CUSTOMERS, shape=shape)
        pages = math.ceil(RATE_CUSTOMERS / 100)
        for limit in LIMITS:
            bound = 2 * LATENCY_MS / 1000 + (pages - 1) / limit
            for fmt, name in COMMAND_FORMATS:
                run_db = work / "run.db"
                shutil.copyfile(db, run_db)
                with sandbox_process("--db", str(run_db), "--latency-ms", str(LATENCY_MS),
                                     "--rate-limit", str(limit)) as url:
                    seconds, cpu = run_command(url, work / "out" / name, fmt, limit)
                run_db.unlink()
                shutil.rmtree(work / "out")
                rows.append((bound / seconds + (10 if fmt == "naive" else 0),  # the alternative after drframe's
                             f"| {RATE_CUSTOMERS:>9,} | {limit:>11.0f} | {fmt:<7} | {seconds:>7.2f} | {cpu:>5.2f} | "
                             f"{bound:>7.2f} | {bound / seconds:>12.2f} | {RATE_CUSTOMERS / seconds / limit:>9.1f}% "
                             f"| {load():>5} |"))
                print(f"  ({rows[-1][1]})", file=sys.stderr, flush=True)
        empty = work / "empty.db"
        seed_db(empty, 0)
        with sandbox_process("--db", str(empty)) as url:
            for fmt, name in COMMAND_FORMATS[:-1]:
                times = sorted(run_command(url, work / "out" / name, fmt, None) for _ in range(3))
                seconds, cpu = times[1]
                rows.append((math.inf, f"| {0:>9} | {'none':>11} | {fmt:<7} | {seconds:>7.2f} | {cpu:>5.2f} | "
                                       f"{'-':>7} | {'-':>12} | {'-':>10} | {load():>5} |"))
                shutil.rmtree(work / "out")
    finally:
        shutil.rmtree(work)
    print("| customers | limit req/s | format  | seconds | CPU s | bound s | of the bound | % of limit |  load |")
    print("|----------:|------------:|---------|--------:|------:|--------:|-------------:|-----------:|------:|")
    for _, row in sorted(rows, key=lambda r: r[0]):
        print(row)


def write_part() -> None:
    import pandas as pd

    work = scratch_dir("write")
    try:
        db = work / "sandbox.db"
        seed_db(db, RATE_CUSTOMERS)
        with sandbox_process("--db", str(db)) as url, Client(API_KEY, url) as client:
            frames = client.customers.to_frames()
        tables = frames.tables()

        def pandas_excel() -> None:
            with pd.ExcelWriter(work / "pandas.xlsx", engine="openpyxl") as writer:
                for name, table in tables.items():
                    plain = table.copy()
                    for column in plain.select_dtypes("datetimetz").columns:  # Excel holds no time zones
                        plain[column] = plain[column].dt.tz_localize(None)
                    for column in [c for c in plain.columns if pd.api.types.is_object_dtype(plain[c])]:  # nor lists
                        plain[column] = [str(v) if isinstance(v, list | dict) else v for v in plain[column]]
                    plain.to_excel(writer, sheet_name=name, index=False)

        def pandas_csv() -> None:
            for name, table in tables.items():
                table.to_csv(work / f"{name}.pandas.csv", index=False)

        writers: list[tuple[str, str, Callable[[], object], int]] = [
            ("xlsx", "drframe Frames.to_excel", lambda: frames.to_excel(work / "drframe.xlsx"), 3),
            ("xlsx", "pandas to_excel (openpyxl)", pandas_excel, 1),  # a minute of CPU: once
            ("csv", "drframe Frames.to_csv", lambda: frames.to_csv(work / "csv"), 3),
            ("csv", "pandas to_csv", pandas_csv, 3),
        ]
        rows = sum(len(t) for t in tables.values())
        cells = sum(t.size for t in tables.values())
        print(f"Writing {RATE_CUSTOMERS:,} customers' tables ({rows:,} rows, {cells:,} cells) after the last page; "
              f"CPU s of this process, best of 3 (pandas to_excel: one run); load average {load()}")
        print("| format | writer                     | CPU s | seconds |")
        print("|--------|----------------------------|------:|--------:|")
        for fmt, label, write, runs in writers:
            best = (math.inf, math.inf)
            for _ in range(runs):
                started, cpu = time.monotonic(), time.process_time()
                write()
                best = min(best, (time.process_time() - cpu, time.monotonic() - started))
            print(f"| {fmt:<6} | {label:<26} | {best[0]:>5.2f} | {best[1]:>7.2f} |", flush=True)
    finally:
        shutil.rmtree(work)


def parquet_part() -> None:
    print(f"Parquet export against `drframe sandbox` in its own process (no latency, no limit), 8 workers, each "
          f"run in a fresh child process; load average {load()}")
    print("| customers | export                            | seconds | customers/s | peak RSS MiB |")
    print("|----------:|-----------------------------------|--------:|------------:|-------------:|")
    for size in PARQUET_SIZES:
        work = scratch_dir("parquet")
        try:
            db = work / "sandbox.db"
            seed_db(db, size)
            with sandbox_process("--db", str(db)) as url:
                for how, label in (("streamed", "streamed: customers.to_parquet"),
                                   ("memory", "in memory: to_frames().to_parquet")):
                    out = work / how
                    result = in_child(EXPORT, url, str(out), how, API_KEY)
                    assert result["customers"] == size, result
                    print(f"| {size:>9,} | {label:<33} | {result['seconds']:>7.1f} | "
                          f"{size / result['seconds']:>11,.0f} | {result['peak_mib']:>12.0f} |", flush=True)
                    shutil.rmtree(out)
        finally:
            shutil.rmtree(work)


def main() -> None:
    parts = sys.argv[1:] or ["command", "write", "rate", "parquet"]
    for shape in SHAPES:
        if ("command" if shape == "even" else f"command-{shape}") in parts:
            command_part(shape)
    if "write" in parts:
        write_part()
    if "rate" in parts:
        rate_part()
    if "parquet" in parts:
        parquet_part()
    print(f"load average at the end {load()}")


if __name__ == "__main__":
    main()
