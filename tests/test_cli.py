"""CLI manners: --version, -q/-v, a header-only file."""

from __future__ import annotations

from pathlib import Path

import pytest

from drframe.cli import main


def test_quiet_prints_nothing_and_verbose_logs_requests_without_the_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "export", "--sandbox", "--seed-customers", "3", "--out", str(tmp_path / "q.xlsx")]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    assert main(["-v", "export", "--sandbox", "--seed-customers", "3", "--out", str(tmp_path / "v.xlsx")]) == 0
    out, err = capsys.readouterr()
    assert "GET /customers -> 200" in err and "sk_test" not in out + err
    assert out.splitlines()[0].startswith("drframe: target embedded sandbox")


def test_a_header_only_file_says_no_data_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("customer_id,email\n", encoding="utf-8")
    assert main(["apply", str(path), "--sandbox", "--seed-customers", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "no data rows" in out and "rows:" not in out
