"""Shared by bench_export.py and bench_plan.py: a seeded sandbox in its own process, and measurements taken in a
fresh child process (so the server's CPU and memory, and the parent's, are never counted)."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from drframe.sandbox import Store
from drframe.testing import generate_customers

HERE = Path(__file__).resolve().parent
API_KEY = "sk_test_sandbox"  # the sandbox's default test key
SEED_BATCH = 25_000


def scratch_dir(name: str) -> Path:
    """A scratch directory next to this script (on the repository's disk, not a tmpfs)."""
    return Path(tempfile.mkdtemp(prefix=f".bench-{name}-", dir=HERE))


#: Shapes of seeded data: ``even`` is the project's generator (a customer every ~50 s, shipping, metadata and
#: children everywhere); ``skewed`` is the sparser mix of bench_frames.py (60% shipping, half with sources, 20%
#: with tax ids, the vendor's timestamp forms) with most customers from one bulk import: 80% created in one
#: burst (pairs sharing a millisecond, 8 ms apart), the rest spread over the three years before it.
SHAPES = ("even", "skewed")


def skewed_customers(count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` customers of the ``skewed`` shape, oldest first (see :data:`SHAPES`)."""
    from bench_frames import sparse_customers

    rng = random.Random(seed)
    burst = datetime(2024, 3, 1, 14, tzinfo=UTC)
    spread = int(count * 0.2)
    moments = sorted(burst - timedelta(seconds=rng.uniform(60, 3 * 365 * 86_400)) for _ in range(spread))
    moments += [burst + timedelta(milliseconds=4 * (i - i % 2)) for i in range(count - spread)]
    customers = sparse_customers(count, seed)
    for customer, moment in zip(customers, moments, strict=True):
        customer["createdTime"] = customer["updatedTime"] = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return customers


def seed_db(path: Path, count: int, each: Callable[[dict[str, Any]], None] | None = None,
            shape: str = "even") -> None:
    """A SQLite sandbox store with ``count`` generated customers of ``shape`` (see :data:`SHAPES`), built 25,000
    at a time (never all in memory); ``each`` sees every customer as it is stored."""
    store = Store(str(path))
    try:
        start = datetime(2020, 1, 1, tzinfo=UTC)
        for batch, first in enumerate(range(0, count, SEED_BATCH)):
            size = min(SEED_BATCH, count - first)
            if shape == "skewed":
                if first:
                    raise ValueError(f"the skewed shape is built in one batch (at most {SEED_BATCH:,})")
                customers = skewed_customers(size, seed=batch)
            else:
                customers = generate_customers(size, seed=batch, start=start + timedelta(days=batch * 12),
                                               id_prefix=f"b{batch}-")
            store.insert_many(customers)
            if each is not None:
                for customer in customers:
                    each(customer)
    finally:
        store.close()


@contextmanager
def sandbox_process(*options: str) -> Iterator[str]:
    """``drframe sandbox --port 0 OPTIONS`` in its own process; yields its base URL."""
    command = [sys.executable, "-m", "drframe.cli", "sandbox", "--port", "0", *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if not match:
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=30)


#: Prepended to every child's code: ``report(**values)`` prints them with the child's peak RSS as JSON.
_CHILD_PRELUDE = '''
import json, sys, time
def _status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
def cpu():
    import resource
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
def report(**values):
    print("RESULT " + json.dumps({"peak_mib": _status("VmHWM"), **values}), flush=True)
BASELINE_MIB = _status("VmRSS")
'''


def in_child(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` (which calls ``report(...)``) in a fresh interpreter with ``sys.argv[1:] == args``; its
    report, with ``peak_mib`` (VmHWM, the child's peak resident memory)."""
    result = subprocess.run([sys.executable, "-c", _CHILD_PRELUDE + code, *args], capture_output=True, text=True,
                            check=False, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    found = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode or not found:
        raise RuntimeError(f"child failed ({result.returncode}): {result.stderr[-2000:]}")
    return dict(json.loads(found[-1].removeprefix("RESULT ")))


def load() -> str:
    """The 1-minute load average, for the record (2 shared cores)."""
    return f"{os.getloadavg()[0]:.2f}"
