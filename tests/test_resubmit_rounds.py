"""Fix and resubmit, round after round, with real `drframe` processes and real xlsx and csv errors files."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import openpyxl
from csvfiles import write_rows

from drframe.sandbox import Sandbox


def drframe(sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "drframe.cli", *args, "--base-url", sandbox.base_url,
               "--api-key", sandbox.api_key, "--no-progress"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def xlsx_rows(path: Path) -> list[dict[str, str]]:
    sheet = openpyxl.load_workbook(path)["errors"]
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_three_rounds_of_fix_and_resubmit(sandbox: Sandbox, tmp_path: Path) -> None:
    client = sandbox.client()
    client.customers.create(id="good-1", email="good@example.com", locale="en_US")
    source = write_rows(tmp_path / "crm.csv", ["customer_id", "action", "email", "locale", "createdTime"], [
        ["", "create", "not-an-email", "de_DE", "2020-01-01"],        # row 2: invalid email
        ["gone-1", "update", "a@example.com", "", ""],                # row 3: no such customer
        ["good-1", "update", "", "fr_FR", ""],                        # row 4: applied
        ["", "create", "ok@example.com", "xx_XX", "2021-02-02"],      # row 5: invalid locale
    ])

    first = drframe(sandbox, "apply", str(source), "--errors", str(tmp_path / "fix-me.xlsx"))
    assert first.returncode == 1, first.stderr
    rows = xlsx_rows(tmp_path / "fix-me.xlsx")
    assert [r["source_row"] for r in rows] == ["2", "3", "5"]
    assert rows[0]["createdTime"] == "2020-01-01", "read-only input columns are kept"
    assert rows[0]["error"] == "email: 'not-an-email' is not a valid email address.", "the value is named once"

    # Round 2: the analyst fixes the email in Excel and applies the errors file itself.
    book = openpyxl.load_workbook(tmp_path / "fix-me.xlsx")
    sheet = book["errors"]
    header = [c.value for c in sheet[1]]
    sheet.cell(row=2, column=header.index("email") + 1, value="fixed@example.com")
    book.save(tmp_path / "fix-me.xlsx")
    second = drframe(sandbox, "apply", str(tmp_path / "fix-me.xlsx"), "--errors", str(tmp_path / "fix-me-2.csv"))
    assert second.returncode == 1, second.stderr
    assert "applied 1, unchanged 0, failed 1, invalid 1" in second.stdout, second.stdout + second.stderr
    assert "Traceback" not in second.stderr
    with (tmp_path / "fix-me-2.csv").open(encoding="utf-8", newline="") as handle:
        again = list(csv.DictReader(handle))
    assert [r["source_row"] for r in again] == ["3", "5"], "row numbers of the original file, carried through"
    assert list(again[0])[:3] == ["error", "source_row", "customer_id"], "one error column"

    # Round 3: fix the rest in the CSV; a clean run.
    again[0]["action"] = "upsert"
    again[1]["locale"] = "de_DE"
    write_rows(tmp_path / "fix-me-2.csv", list(again[0]), [list(r.values()) for r in again])
    third = drframe(sandbox, "apply", str(tmp_path / "fix-me-2.csv"), "--errors", str(tmp_path / "fix-me-3.xlsx"))
    assert third.returncode == 0, third.stdout + third.stderr
    assert "applied 2" in third.stdout and "no rows to fix" in third.stdout
    assert not (tmp_path / "fix-me-3.xlsx").exists()
    assert client.customers.get("gone-1").email == "a@example.com"
    created = {c.email: c for c in client.customers.iter()}
    assert created["fixed@example.com"].locale == "de_DE" and created["ok@example.com"].locale == "de_DE"
    assert len(created) == 4, "each fixed create kept its generated id: nothing created twice"


def test_a_file_that_cannot_be_written_still_leaves_the_summary(sandbox: Sandbox, tmp_path: Path) -> None:
    client = sandbox.client()
    client.customers.create(id="w-1", locale="en_US")
    source = write_rows(tmp_path / "in.csv", ["customer_id", "locale"], [["w-1", "fr_FR"]])
    (tmp_path / "blocked").write_text("a file where the report's folder would go", encoding="utf-8")
    run = drframe(sandbox, "apply", str(source), "--report", str(tmp_path / "blocked" / "audit.xlsx"))
    assert run.returncode == 2, run.stdout + run.stderr
    assert "applied 1" in run.stdout and "results: " in run.stdout
    assert "could not write the report file" in run.stderr and "Traceback" not in run.stderr
    assert client.customers.get("w-1").locale == "fr_FR"
