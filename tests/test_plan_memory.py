"""A big import's dry run from the command line stays in bounded memory, its plan file included."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from drframe.sandbox import Sandbox

ROWS = 100_000
#: Peak resident memory of the whole command (Python, pandas, the plan, the plan file): about 230 MB now (each
#: row's cells, payload, changes and edits spilled to a file), 717 MB when every row kept its cells four times and
#: the plan file was one table of every row.  A generous bound that the older layout fails.
LIMIT_MB = 450
COLUMNS = ["customer_id", "email", "locale", "enabled", "type", "shipping.name", "shipping.phone",
           "shipping.address.line1", "shipping.address.city", "shipping.address.country"]

#: The peak is the process's own ``VmHWM``: ``ru_maxrss`` survives ``exec`` on Linux, so a child of a big pytest
#: process reports the parent's size at the fork (546 MB in CI whatever the plan held).
_MEASURED = """
import json, re, sys
from drframe.cli import main
code = main(sys.argv[1:])
with open("/proc/self/status") as status:
    peak_kb = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
print(json.dumps({"code": code, "peak_mb": peak_kb / 1024}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("with_ids", [True, False], ids=["with-ids", "ids-generated"])
def test_dry_run_of_100k_creates_stays_under_the_memory_bound(tmp_path: Path, with_ids: bool) -> None:
    source = tmp_path / "new-customers.csv"
    skip = 0 if with_ids else 1
    with source.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(COLUMNS[skip:])
        out.writerows([f"imp-{n:08d}", f"new{n}@example.org", "de_DE", "TRUE", "individual", f"Person {n}",
                       f"+49 30 {n:07d}", f"{n} Main Street", "Berlin", "DE"][skip:] for n in range(ROWS))
    with Sandbox() as sandbox:
        done = subprocess.run(
            [sys.executable, "-c", _MEASURED, "apply", str(source), "--dry-run", "--base-url", sandbox.base_url,
             "--api-key", "sk_test_sandbox", "--no-progress"],
            capture_output=True, text=True, check=False, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    measured = json.loads(done.stdout.strip().splitlines()[-1])

    assert measured["code"] == 0, done.stderr
    assert measured["peak_mb"] < LIMIT_MB
    written = pd.read_csv(tmp_path / "new-customers.plan.csv", dtype=str, keep_default_na=False)
    assert len(written) == ROWS
    last = written.iloc[-1]
    assert (last["row"], last["action"], last["status"]) == (str(ROWS + 1), "create", "pending")
    customer_id = last["id"] if not with_ids else f"imp-{ROWS - 1:08d}"
    assert last["id"] == customer_id and (with_ids or customer_id.startswith("drf-"))
    assert last["changes"].startswith(f"customer_id: None -> '{customer_id}'; email: None -> ")
    assert last["shipping.address.city"] == "Berlin"


def test_a_csv_written_in_parts_is_the_csv_of_all_its_rows(tmp_path: Path) -> None:
    from drframe._files._export import write_csv_parts, write_table

    frame = pd.DataFrame({"id": ["a", "b", "c"], "note": ["=1+1", "plain", "nul\x00inside"]}, dtype="string")
    whole = write_table(tmp_path / "whole.csv", frame)
    parts = write_csv_parts(tmp_path / "parts.csv", [frame[:1], frame[1:2], frame[2:]], "data")

    assert parts.read_bytes() == whole.read_bytes()
    assert parts.read_bytes().startswith(b"\xef\xbb\xbfid,note\r\na,'=1+1\r\n")  # the NUL of the last part: a BOM
