"""A big workbook is read in memory that does not grow with it: an xlsx whose every cell is a distinct shared
string (as Excel and LibreOffice write text) streams its rows without holding the strings or the file whole."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.test_sheets import XLSX_MAIN, xlsx

ROWS = 200_000
#: Growth of the peak resident memory over the reader's imports while every row is read: 43 MB now (the first
#: 131,072 strings held, the rest on disk), 288 MB when the shared strings were all held as a list next to the
#: whole file's bytes. A generous bound that the old reader fails.
LIMIT_MB = 120

_MEASURED = """
import json, sys
from drframe._files._sheets import open_sheet
import openpyxl.styles.numbers
def peak():  # VmHWM, not ru_maxrss: that one starts from the forking test process's peak
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
baseline = peak()
sheet, rows = open_sheet(sys.argv[1])
count = sum(1 for _ in rows)
print(json.dumps({"rows": count, "growth_mb": peak() - baseline}))
"""


@pytest.mark.slow
def test_an_xlsx_of_a_million_distinct_strings_reads_in_bounded_memory(tmp_path: Path) -> None:
    columns = ["customer_id", "email", "shipping.name", "shipping.phone", "shipping.address.line1"]
    texts = [*columns]
    for n in range(ROWS):
        texts += [f"imp-{n:08d}", f"new{n}@example.org", f"Person {n}", f"+49 30 {n:07d}", f"{n} Main Street"]
    strings = "".join(f"<si><t>{text}</t></si>" for text in texts)
    rows = "".join(f'<row r="{row + 1}">' + "".join(f'<c r="{letter}{row + 1}" t="s"><v>{row * 5 + column}</v></c>'
                                                     for column, letter in enumerate("ABCDE")) + "</row>"
                   for row in range(ROWS + 1))
    sheet = f'<worksheet xmlns="{XLSX_MAIN}"><sheetData>{rows}</sheetData></worksheet>'
    path = xlsx(tmp_path / "big.xlsx", sheet, strings=strings)
    del texts, strings, rows, sheet
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("xl/sharedStrings.xml").file_size > 30_000_000
    done = subprocess.run([sys.executable, "-c", _MEASURED, str(path)], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rows"] == ROWS
    assert result["growth_mb"] < LIMIT_MB, result
