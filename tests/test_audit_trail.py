"""The audit trail is never overwritten: every run keeps its results, and `audit --compare --runs` reads them all."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import openpyxl
from csvfiles import write_rows

from drframe.sandbox import Sandbox


def drframe(sandbox: Sandbox | None, *args: str) -> subprocess.CompletedProcess[str]:
    target = ["--base-url", sandbox.base_url, "--api-key", sandbox.api_key, "--no-progress"] if sandbox else []
    return subprocess.run([sys.executable, "-m", "drframe.cli", *args, *target], capture_output=True, text=True,
                          timeout=120)


def statuses(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["status"] for row in csv.DictReader(handle)]


def test_a_rerun_keeps_the_first_results_and_compare_credits_drframe(sandbox: Sandbox, tmp_path: Path) -> None:
    client = sandbox.client()
    for i in range(10):
        client.customers.create(id=f"t-{i}", email=f"t{i}@example.com", locale="en_US")
    before = drframe(sandbox, "export", "--out", str(tmp_path / "before.xlsx"))
    assert before.returncode == 0, before.stderr
    source = write_rows(tmp_path / "updates.csv", ["customer_id", "locale"],
                        [[f"t-{i}", "fr_FR"] for i in range(8)])

    first = drframe(sandbox, "apply", str(source))
    assert first.returncode == 0, first.stderr
    assert f"results: {tmp_path / 'updates.results.csv'}" in first.stdout
    second = drframe(sandbox, "apply", str(source))
    assert second.returncode == 0, second.stderr
    assert f"results: {tmp_path / 'updates.results.2.csv'}" in second.stdout, "a new file beside the first"
    assert statuses(tmp_path / "updates.results.csv") == ["applied"] * 8, "the first run's record is intact"
    assert statuses(tmp_path / "updates.results.2.csv") == ["unchanged"] * 8

    client.customers.update("t-9", locale="de_DE")  # outside drframe
    after = drframe(sandbox, "export", "--out", str(tmp_path / "after.xlsx"))
    assert after.returncode == 0, after.stderr
    # The folder holds the input, both exports and both results files: only results files count.
    compare = drframe(None, "audit", "--compare", str(tmp_path / "before.xlsx"), str(tmp_path / "after.xlsx"),
                      "--runs", f"{tmp_path}/", "--out", str(tmp_path / "changes.xlsx"))
    assert compare.returncode == 0, compare.stderr
    changes = list(openpyxl.load_workbook(tmp_path / "changes.xlsx")["Changes"].iter_rows(values_only=True))
    by = {row[0]: row[4] for row in changes[1:]}
    assert by == {**{f"t-{i}": f"updates.results.csv row {i + 2}" for i in range(8)}, "t-9": "outside drframe"}

    globbed = drframe(None, "audit", "--compare", str(tmp_path / "before.xlsx"), str(tmp_path / "after.xlsx"),
                      "--runs", str(tmp_path / "*.results*.csv"), "--out", str(tmp_path / "changes-2.xlsx"))
    assert globbed.returncode == 0, globbed.stderr
    summary = {r[0]: r[2] for r in openpyxl.load_workbook(tmp_path / "changes-2.xlsx")["Summary"].iter_rows(
        min_row=4, max_row=8, values_only=True)}
    assert summary["by drframe"] == 8 and summary["outside drframe"] == 1

    nothing = drframe(None, "audit", "--compare", str(tmp_path / "before.xlsx"), str(tmp_path / "after.xlsx"),
                      "--runs", str(tmp_path / "none-*.csv"), "--out", str(tmp_path / "changes-3.xlsx"))
    assert nothing.returncode == 2 and "no drframe results files" in nothing.stderr
