"""No silent no-ops: a dry run writes the report it is asked for, and an option that would do nothing is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from csvfiles import write_rows

from drframe.cli import main
from drframe.sandbox import Sandbox


def test_a_dry_run_writes_the_plan_audit(sandbox: Sandbox, tmp_path: Path) -> None:
    client = sandbox.client()
    client.customers.create(id="d-1", locale="en_US")
    source = write_rows(tmp_path / "in.csv", ["customer_id", "locale", "email"],
                        [["d-1", "fr_FR", ""], ["d-2", "", "not-an-email"]])
    run = subprocess.run([sys.executable, "-m", "drframe.cli", "apply", str(source), "--dry-run", "--report",
                          str(tmp_path / "plan.xlsx"), "--errors", str(tmp_path / "fix-me.csv"), "--base-url",
                          sandbox.base_url, "--api-key", sandbox.api_key, "--no-progress"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr  # one invalid row
    assert f"report: {tmp_path / 'plan.xlsx'}" in run.stdout and "dry run: nothing sent" in run.stdout
    book = openpyxl.load_workbook(tmp_path / "plan.xlsx")
    assert book.sheetnames == ["Summary", "Changes", "Errors", "Plan"]
    changes = list(book["Changes"].iter_rows(values_only=True))
    assert changes[1][1:] == ("d-1", "update", "locale", "en_US", "fr_FR")
    errors = list(book["Errors"].iter_rows(values_only=True))
    error = dict(zip(errors[0], errors[1], strict=True))
    assert (error["id"], error["column"], error["value"]) == ("d-2", "email", "not-an-email")
    assert "nothing was sent" in str(book["Summary"]["A1"].value)
    assert (tmp_path / "in.plan.csv").exists() and not (tmp_path / "in.results.csv").exists()
    assert (tmp_path / "fix-me.csv").exists(), "--errors works in a dry run"
    assert client.customers.get("d-1").locale == "en_US"


@pytest.mark.parametrize(("args", "named"), [
    (["apply", "in.csv", "--sandbox", "--dry-run", "--journal", "j.journal"], "--journal has no effect with --dry-run"),
    (["apply", "in.csv", "--sandbox", "--dry-run", "--keep-journal", "--yes"], "--yes, --keep-journal have no effect"),
    (["apply", "in.csv", "--sandbox", "--mask-pii"], "--mask-pii masks the --report workbook only"),
    (["audit", "--out", "q.xlsx", "--sandbox", "--runs", "r.csv"], "--runs has no effect without --compare"),
    (["audit", "--compare", "a", "b", "--out", "c.xlsx", "--sandbox", "--rate", "5"],
     "--sandbox, --rate have no effect with --compare"),
    (["export", "--sandbox", "--out", "dir", "--format", "parquet", "--mask-pii"],
     "--mask-pii is not supported with --format parquet"),
    (["sync", "mirror", "--sandbox", "--full", "--overlap", "5"], "--overlap has no effect with --full"),
])
def test_an_option_without_effect_is_refused(args: list[str], named: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 2
    assert named in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [], "nothing written"


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--rate", "nan", "must be a finite number, positive, got nan"),
    ("--rate", "inf", "must be a finite number, positive, got inf"),
    ("--rate", "0", "must be a finite number, positive, got 0"),
    ("--rate", "-5", "must be a finite number, positive, got -5"),
    ("--rate", "fast", "not a number: 'fast'"),
    ("--workers", "0", "must be a finite number, positive, got 0"),
])
def test_numbers_that_cannot_pace_a_run_are_refused(option: str, value: str, message: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """``--rate nan`` used to pass (every comparison with nan is false) and reach the rate limiter."""
    with pytest.raises(SystemExit) as usage:
        main(["export", "--sandbox", "--out", "x.csv", option, value])
    assert usage.value.code == 2
    assert message in capsys.readouterr().err
