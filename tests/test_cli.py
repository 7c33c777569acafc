"""CLI manners: --version, -q/-v, a header-only file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from drframe import Client
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


def test_export_filters(client: Client, tmp_path: Path) -> None:
    for i in range(4):
        client.customers.create(id=f"f-{i}", email="shared@example.com" if i < 2 else f"f{i}@example.com")
    key = ["--base-url", client.base_url, "--api-key", "sk_test_sandbox", "--no-progress"]
    assert main(["export", *key, "--out", str(tmp_path / "a"), "--ids", "f-1,f-3"]) == 0

    assert sorted(pd.read_csv(tmp_path / "a" / "customers.csv", dtype=str)["customer_id"]) == ["f-1", "f-3"]
    assert main(["export", *key, "--out", str(tmp_path / "b"), "--email", "shared@example.com"]) == 0
    assert sorted(pd.read_csv(tmp_path / "b" / "customers.csv", dtype=str)["customer_id"]) == ["f-0", "f-1"]
    assert main(["export", *key, "--out", str(tmp_path / "c"), "--created-since", "2999-01-01"]) == 0
    assert pd.read_csv(tmp_path / "c" / "customers.csv", dtype=str).empty
    with pytest.raises(SystemExit):
        main(["export", *key, "--out", str(tmp_path / "d"), "--updated-since", "yesterday"])


def test_audit_compare(client: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client.customers.create(id="a-1", locale="en_US")
    client.customers.to_frames().to_parquet(tmp_path / "before")
    client.customers.update("a-1", locale="fr_FR")
    client.customers.to_frames().to_parquet(tmp_path / "after")
    assert main(["audit", "--compare", str(tmp_path / "before"), str(tmp_path / "after"),
                 "--out", str(tmp_path / "changes.xlsx")]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "changes.xlsx").exists()
