"""Excel must not drop leading zeros unnoticed (issue 17, item 6): an exported CSV that a spreadsheet opened and
saved plans no zero-dropping update, and an xlsx export keeps ids, postal codes, phones and digit metadata as Text."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from drframe import bulk
from drframe._core._text import drops_leading_zeros
from drframe.sandbox import Sandbox

SOFFICE = shutil.which("soffice")
ZERO_LED = "postalCode '02108' or '00186', crmId '0…'"


@pytest.fixture(scope="module")
def seeded() -> Iterator[Sandbox]:
    with Sandbox(seed_customers=100, seed=11) as sandbox:
        yield sandbox


def _drframe(sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drframe.cli", *args, "--base-url", sandbox.base_url,
                           "--api-key", "sk_test_sandbox", "--no-progress"],
                          capture_output=True, text=True, timeout=300)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed")
def test_a_csv_resaved_by_a_spreadsheet_plans_no_dropped_zeros(seeded: Sandbox, tmp_path: Path) -> None:
    assert _drframe(seeded, "export", "--out", str(tmp_path / "export"), "--format", "csv").returncode == 0
    exported = tmp_path / "export" / "customers.csv"
    # Open and save it as Excel does: numbers parsed in Standard columns (LibreOffice's CSV filter, UTF-8, comma).
    subprocess.run([str(SOFFICE), "--headless", "--infilter=CSV:44,34,76,1", "--convert-to",
                    "csv:Text - txt - csv (StarCalc):44,34,76,1", "--outdir", str(tmp_path / "saved"), str(exported)],
                   check=True, capture_output=True, timeout=180)
    saved = tmp_path / "saved" / "customers.csv"
    before, after = _rows(exported), _rows(saved)
    dropped = [(number, column, old[column], new[column])
               for number, (old, new) in enumerate(zip(before, after, strict=True), start=2)
               for column in ("shipping.address.postalCode", "metadata.crmId") if old[column] != new[column]]
    assert dropped, f"the spreadsheet kept every {ZERO_LED}: the test shows nothing"
    assert all(drops_leading_zeros(old, new) for _, _, old, new in dropped)  # zeros really were dropped
    zero_rows = {number for number, *_ in dropped}

    refused = _drframe(seeded, "apply", str(saved), "--dry-run")
    assert refused.returncode == 1, refused.stderr
    assert f"invalid {len(zero_rows)}" in refused.stdout and "update" not in refused.stdout
    number, column, old, new = dropped[0]
    assert (f"row {number}, column {column} ({new!r}): Excel dropped the leading zero" in refused.stderr
            and f"of {old!r}; format the column as Text and type it again, or pass --allow-dropped-zeros"
            in refused.stderr)
    plan = bulk.plan(saved, seeded.client(retry=None))
    assert set(plan.errors["row"]) == zero_rows and plan.changes.empty
    assert (plan.errors[["row", "column", "value"]].values.tolist()
            == [[n, c, v] for n, c, _, v in dropped])

    allowed = _drframe(seeded, "apply", str(saved), "--dry-run", "--allow-dropped-zeros")
    assert allowed.returncode == 0, allowed.stderr
    assert f"update {len(zero_rows)}" in allowed.stdout and "invalid" not in allowed.stdout
    plan = bulk.plan(saved, seeded.client(retry=None), allow_dropped_zeros=True)
    assert plan.errors.empty and plan.counts["update"] == len(zero_rows)
    assert plan.changes[["row", "field", "before", "after"]].values.tolist() == [list(d) for d in dropped]


def test_an_xlsx_export_formats_ids_postal_codes_phones_and_digit_metadata_as_text(seeded: Sandbox,
                                                                                    tmp_path: Path) -> None:
    path = tmp_path / "customers.xlsx"
    assert _drframe(seeded, "export", "--out", str(path)).returncode == 0
    sheet = openpyxl.load_workbook(path)["customers"]
    header = [cell.value for cell in sheet[1]]
    text = {"customer_id", "defaultSourceId", "shipping.phone", "shipping.address.postalCode", "metadata.crmId"}
    for column in [*text, "email", "metadata.segment"]:
        letter = openpyxl.utils.get_column_letter(header.index(column) + 1)
        formats = {cell.number_format for cell in sheet[letter][1:] if cell.value is not None}
        expected = "@" if column in text else "General"
        assert formats == {expected}, column
        assert sheet.column_dimensions[letter].number_format == expected, column  # cells typed in later too
    assert openpyxl.load_workbook(path)["sources"]["A2"].number_format == "@"  # source_id

    # Typed into a General cell, 02108 is the number 2108 (what Excel stores): that row is refused too.
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["customers"]
    column = header.index("shipping.address.postalCode") + 1
    row = next(r for r in range(2, sheet.max_row + 1) if str(sheet.cell(r, column).value).startswith("0"))
    zipped = str(sheet.cell(row, column).value)
    sheet.cell(row, column).value = int(zipped)
    sheet.cell(row, column).number_format = "General"
    workbook.save(path)
    plan = bulk.plan(path, seeded.client(retry=None))
    assert plan.errors[["row", "column", "value"]].values.tolist() == [
        [row, "shipping.address.postalCode", str(int(zipped))]]
    assert "Excel dropped the leading zero" in plan.errors["message"][0]
    assert bulk.plan(path, seeded.client(retry=None), allow_dropped_zeros=True).counts.get("update") == 1


@pytest.mark.parametrize(("before", "after", "dropped"), [
    ("02108", "2108", True), ("00186", "186", True), ("00186", "0186", True), ("02108", "02109", False),
    ("02108", "2109", False), ("1000", "1", False), ("0", "", False), ("A0123", "A123", False), (None, "2108", False),
])
def test_only_dropped_zeros_count(before: str | None, after: str, dropped: bool) -> None:
    assert drops_leading_zeros(before, after) is dropped
