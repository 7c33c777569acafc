"""Emptied cells (issue 17, item 11): an empty cell leaves the field unchanged, and the plan says so once per file,
with how many such cells it met and that ``<clear>`` clears."""

from __future__ import annotations

import html
import subprocess
import sys
from pathlib import Path

import openpyxl

from drframe import bulk
from drframe.sandbox import Sandbox

NOTE = "3 empty cells where the customers have values: left unchanged (an empty cell changes nothing; <clear> clears)"


def test_the_plan_counts_emptied_cells_and_says_clear_clears(tmp_path: Path) -> None:
    with Sandbox(seed_customers=20, seed=5) as sandbox:
        client = sandbox.client(retry=None)
        path = tmp_path / "customers.xlsx"
        key = ["--base-url", sandbox.base_url, "--api-key", "sk_test_sandbox", "--no-progress"]
        subprocess.run([sys.executable, "-m", "drframe.cli", "export", "--out", str(path), *key], check=True,
                       capture_output=True, timeout=300)
        workbook = openpyxl.load_workbook(path)
        sheet = workbook["customers"]
        header = [cell.value for cell in sheet[1]]
        segment, city = header.index("metadata.segment") + 1, header.index("shipping.address.city") + 1
        ids = [sheet.cell(row, 1).value for row in (2, 3, 4)]
        sheet.cell(2, segment).value = None          # the analyst empties three cells that hold values...
        sheet.cell(3, segment).value = None
        sheet.cell(4, city).value = None
        sheet.cell(5, segment).value = "<clear>"     # ...and clears one field the documented way
        cleared = sheet.cell(5, 1).value
        workbook.save(path)

        dry = subprocess.run([sys.executable, "-m", "drframe.cli", "apply", str(path), "--dry-run", *key],
                             capture_output=True, text=True, timeout=300)
        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.count("left unchanged") == 1 and f"  {NOTE}\n" in dry.stdout
        assert "rows: unchanged 19, update 1\n" in dry.stdout, dry.stdout

        plan = bulk.plan(path, client)
        assert plan.emptied_cells == 3
        assert NOTE in repr(plan) and html.escape(NOTE) in plan._repr_html_()
        assert plan.changes[["id", "field", "after"]].values.tolist() == [[cleared, "metadata.segment", None]]
        plan.apply(progress=False)
        assert "segment" not in client.customers.get(str(cleared)).metadata
        assert all("segment" in client.customers.get(str(i)).metadata for i in ids[:2])
        assert client.customers.get(str(ids[2])).shipping.address.city


def test_no_note_when_no_cell_was_emptied(shared_sandbox: Sandbox, tmp_path: Path) -> None:
    client = shared_sandbox.client(retry=None)
    customer = next(iter(client.customers.iter_raw()))
    path = tmp_path / "new.csv"  # a create's empty cells, and a column the customer has no value in, are no news
    path.write_text(f"customer_id,email,shipping.address.line2\r\n{customer['id']},,\r\nnew-1,,\r\n", "utf-8")
    plan = bulk.plan(path, client)
    assert plan.emptied_cells == 1 and "1 empty cell where the customer has a value: left unchanged" in repr(plan)  # the existing email
    path.write_text(f"customer_id,shipping.address.line2\r\n{customer['id']},\r\nnew-1,\r\n", "utf-8")
    plan = bulk.plan(path, client)
    assert plan.emptied_cells == 0 and "left unchanged" not in repr(plan)
