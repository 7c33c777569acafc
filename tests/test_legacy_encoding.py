"""A CSV saved in a legacy encoding (Windows-1252) by a spreadsheet: characters it cannot hold became ``?``, and
applying the file must not write those ``?`` over the customers' text."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from drframe._core._text import garbled_utf8, lost_in_encoding
from drframe.sandbox import Sandbox

SOFFICE = shutil.which("soffice")


@pytest.fixture(scope="module")
def seeded() -> Iterator[Sandbox]:
    with Sandbox(seed_customers=50) as sandbox:
        yield sandbox


def _drframe(sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drframe.cli", *args, "--base-url", sandbox.base_url,
                           "--api-key", "sk_test_sandbox", "--no-progress"],
                          capture_output=True, text=True, timeout=180, check=False)


def test_lost_in_encoding_is_only_the_replacement() -> None:
    assert lost_in_encoding("東京", "??", "cp1252")
    assert lost_in_encoding("Zoë 東", "Zoë ?", "cp1252")
    assert not lost_in_encoding("東京", "Tokyo", "cp1252")  # a real edit
    assert not lost_in_encoding("Zoë", "Zoe", "cp1252")
    assert not lost_in_encoding("東京", "??", "utf-8")  # UTF-8 holds everything: '??' was typed


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed")
def test_an_export_saved_as_a_cp1252_csv_does_not_overwrite_text_with_question_marks(
        seeded: Sandbox, tmp_path: Path) -> None:
    assert _drframe(seeded, "export", "--out", str(tmp_path / "c.xlsx")).returncode == 0
    # LibreOffice saves the workbook as a Windows-1252 CSV (charset token 1), as "CSV (Comma delimited)" does.
    subprocess.run([str(SOFFICE), "--headless", "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,1",
                    "--outdir", str(tmp_path / "saved"), str(tmp_path / "c.xlsx")],
                   check=True, capture_output=True, timeout=180)
    saved = tmp_path / "saved" / "c.csv"
    with saved.open(encoding="cp1252", newline="") as handle:
        cities = {row["customer_id"]: row["shipping.address.city"] for row in csv.DictReader(handle)}
    lost = [customer for customer, city in cities.items() if "?" in city]
    assert lost, "no city lost its characters: the test shows nothing"
    client = seeded.client()
    originals = {customer: client.customers.get(customer).shipping.address.city  # type: ignore[union-attr]
                 for customer in lost}

    for _ in range(2):  # a second round of the same file refuses the same rows again
        run = _drframe(seeded, "apply", str(saved), "--encoding", "cp1252")
        assert run.returncode == 1, run.stderr
        assert "when the file was saved as cp1252, which cannot hold its characters" in run.stderr
        assert "Traceback" not in run.stderr
        assert "applied 0" in run.stdout + run.stderr  # every other row is unchanged
    for customer, city in originals.items():
        assert client.customers.get(customer).shipping.address.city == city  # type: ignore[union-attr]


def test_garbled_utf8_is_only_utf8_read_as_ansi() -> None:
    assert garbled_utf8("Léa Müller", "LÃ©a MÃ¼ller")
    assert garbled_utf8("東京", "æ\uf19d±äº¬")  # LibreOffice's stand-in for the byte 0x9D Windows-1252 lacks
    assert not garbled_utf8("Léa", "Lea")  # a real edit
    assert not garbled_utf8("Lea", "Léa")


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed")
def test_a_utf8_csv_export_opened_as_ansi_and_saved_as_xlsx_sends_no_garbled_names(
        seeded: Sandbox, tmp_path: Path) -> None:
    assert _drframe(seeded, "export", "--out", str(tmp_path / "export"), "--format", "csv").returncode == 0
    # Opened as Excel opens a BOM-less CSV by double-click (Windows-1252, charset token 1), saved as xlsx.
    subprocess.run([str(SOFFICE), "--headless", "--infilter=CSV:44,34,1,1", "--convert-to", "xlsx",
                    "--outdir", str(tmp_path / "saved"), str(tmp_path / "export" / "customers.csv")],
                   check=True, capture_output=True, timeout=180)
    saved = tmp_path / "saved" / "customers.xlsx"
    for _ in range(2):
        run = _drframe(seeded, "apply", str(saved), "--dry-run", "--results", str(tmp_path / "plan.csv"))
        assert run.returncode == 1, run.stderr
        assert "a UTF-8 file was opened as Windows-1252 (ANSI) and saved" in run.stderr
        assert "'Léa" in run.stderr or "'Zoë" in run.stderr or "'東京'" in run.stderr
        plan = list(csv.DictReader((tmp_path / "plan.csv").open(encoding="utf-8", newline="")))
        pending = [row["changes"] for row in plan if row["status"] == "pending"]
        assert not [changes for changes in pending if "Ã" in changes], "a garbled name would be sent"
        (tmp_path / "plan.csv").unlink()


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed")
def test_a_csv_exports_quoting_apostrophes_kept_by_a_spreadsheet_are_not_sent(seeded: Sandbox, tmp_path: Path) -> None:
    """The CSV export writes ``'+1-952-…`` for a phone (a formula start); a spreadsheet that opens the CSV shows
    and keeps that apostrophe as text, so the xlsx it saves has it: applying that must not send it."""
    assert _drframe(seeded, "export", "--out", str(tmp_path / "export"), "--format", "csv").returncode == 0
    assert "'+" in (tmp_path / "export" / "customers.csv").read_text(encoding="utf-8")
    subprocess.run([str(SOFFICE), "--headless", "--infilter=CSV:44,34,76,1", "--convert-to", "xlsx",
                    "--outdir", str(tmp_path / "saved"), str(tmp_path / "export" / "customers.csv")],
                   check=True, capture_output=True, timeout=180)
    run = _drframe(seeded, "apply", str(tmp_path / "saved" / "customers.xlsx"), "--results", str(tmp_path / "r.csv"))
    assert run.returncode == 1, run.stderr
    assert "with the apostrophe a CSV export puts before such a cell" in run.stderr
    assert "applied 0" in run.stdout + run.stderr
    phones = [c.shipping.phone for c in seeded.client().customers.iter() if c.shipping and c.shipping.phone]
    assert phones and not [phone for phone in phones if phone.startswith("'")]
