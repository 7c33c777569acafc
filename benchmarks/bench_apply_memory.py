"""Peak memory of ``drframe apply FILE --dry-run`` from the command line, per shape (results file included).

Run: ``python benchmarks/bench_apply_memory.py URL DIRECTORY [SHAPE ...]`` after ``make_apply_files.py ROWS
DIRECTORY`` and with ``drframe sandbox --port P --db DB --seed-customers ROWS`` serving URL in its own process.
Each run is ``/usr/bin/time -v python -m drframe.cli apply DIRECTORY/SHAPE.csv --dry-run --base-url URL --api-key
sk_test_sandbox --no-progress``; prints the shape, the peak resident set size, the CPU seconds (user + sys, which
load does not distort) and the wall-clock seconds.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

SHAPES = ["creates", "creates-noid", "updates-all", "updates-one", "deletes", "attaches", "vat", "mixed"]


def measure(url: str, path: Path) -> tuple[float, float, float]:
    """(peak MiB, CPU seconds, seconds) of one dry run; its plan file is removed after."""
    out = path.with_name(path.stem + ".bench-plan.csv")
    out.unlink(missing_ok=True)
    started = time.monotonic()
    done = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "drframe.cli", "apply", str(path),
                           "--dry-run", "--base-url", url, "--api-key", "sk_test_sandbox", "--no-progress",
                           "--results", str(out)], capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    out.unlink(missing_ok=True)
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if peak is None or done.returncode not in (0, 1):
        raise SystemExit(f"{path}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    cpu = sum(float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", done.stderr))
    return int(peak.group(1)) / 1024, cpu, seconds


def main() -> None:
    url, directory = sys.argv[1], Path(sys.argv[2])
    for shape in sys.argv[3:] or SHAPES:
        peak, cpu, seconds = measure(url, directory / f"{shape}.csv")
        print(f"| {shape} | {peak:,.0f} MiB | {cpu:.0f} s CPU | {seconds:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
