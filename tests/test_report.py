"""Audit reports: sheets, native chart, neutralised cells, masking, no secrets; the `drframe audit` command."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from drframe import bulk, to_frames
from drframe.cli import main
from drframe.report import change_audit, quality_audit, quality_issues
from drframe.sandbox import Sandbox

CUSTOMERS = [
    {"id": "ok", "email": "ok@example.com", "locale": "en_US", "enabled": True},
    {"id": "noemail", "locale": "en_US"},
    {"id": "bademail", "email": "=cmd|' /C calc'!A0", "locale": "xx_XX"},
    {"id": "dup1", "email": "Same@Example.com", "enabled": False},
    {"id": "dup2", "email": "same@example.com", "requestToBeForgotten": True},
    {"id": "tax", "email": "tax@example.com",
     "taxCertificates": [{"companyName": "Old Co", "endDate": "2020-01-01T00:00:00Z"}],
     "taxIdentifiers": [{"id": "t1", "type": "de", "value": "DE1", "state": "pending_verification"}]},
]


def test_quality_issues_find_every_check() -> None:
    issues = quality_issues(to_frames(CUSTOMERS), now=datetime(2026, 1, 1, tzinfo=UTC))
    found = {(str(r.customer_id), str(r.check)) for r in issues.itertuples()}
    assert found == {
        ("noemail", "missing_email"), ("bademail", "invalid_email"), ("bademail", "invalid_locale"),
        ("dup1", "duplicate_email"), ("dup2", "duplicate_email"), ("dup1", "disabled"),
        ("dup2", "request_to_be_forgotten"), ("tax", "expired_tax_certificate"),
        ("tax", "unverified_tax_identifier"),
    }


def test_quality_audit_workbook_is_neutralised_masked_and_charted(tmp_path: Path) -> None:
    path = quality_audit(CUSTOMERS, tmp_path / "q.xlsx", mask_pii=True)
    book = load_workbook(path)
    assert book.sheetnames == ["Summary", "Issues", "Customers"]
    assert len(book["Summary"]._charts) == 1
    cells = [c for row in book["Issues"].iter_rows() for c in row if isinstance(c.value, str)]
    formula_like = [c for c in cells if c.value.startswith(("=", "+", "-", "@"))]
    assert formula_like and all(c.data_type == "s" and c.quotePrefix for c in formula_like)
    emails = [c.value for c in book["Customers"]["B"] if c.value and "@" in str(c.value)]
    assert "ok@example.com" not in emails and "o*@example.com" in emails


def test_change_audit_of_a_run(tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        client = sandbox.client()
        client.customers.create(id="a", email="a@example.com")
        path = tmp_path / "in.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerows([["customer_id", "email", "locale"], ["a", "b@example.com", "fr_FR"],
                              ["b", "+1 555 0100", ""]])
        result = bulk.plan(path, client).apply(progress=False)
        audit = change_audit(result, tmp_path / "audit.xlsx")
    book = load_workbook(audit)
    assert book.sheetnames == ["Summary", "Changes", "Errors", "Results"]
    summary = [tuple(r) for r in book["Summary"].iter_rows(values_only=True)]
    assert ("applied", "Sent and confirmed by the API", 1) in summary
    assert ("invalid", "Bad input: nothing sent", 1) in summary
    assert len(book["Summary"]._charts) == 1
    text = " ".join(str(c.value) for sheet in book for row in sheet.iter_rows() for c in row if c.value)
    assert "sk_test" not in text and "secret key (not recorded)" in text
    changes = {(r[1], r[3], r[5]) for r in book["Changes"].iter_rows(min_row=2, values_only=True)}
    assert changes == {("a", "email", "b@example.com"), ("a", "locale", "fr_FR")}
    errors = list(book["Errors"].iter_rows(min_row=2, values_only=True))
    assert errors[0][:4] == (3, "b", "email", "+1 555 0100")
    assert book["Errors"]["D2"].quotePrefix, "'+1 555 0100' must stay text"


def test_audit_command(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DR_BASE_URL", raising=False)
    assert main(["audit", "--sandbox", "--out", str(tmp_path / "qa.xlsx"), "--seed-customers", "80"]) == 0
    assert "80 customers" in capsys.readouterr().out
    assert load_workbook(tmp_path / "qa.xlsx").sheetnames == ["Summary", "Issues", "Customers"]
