"""A resumed `drframe apply` says what it did now and what an earlier run of its journal had finished."""

from __future__ import annotations

from pathlib import Path

import pytest
from csvfiles import write_rows

from drframe import Client
from drframe.cli import main


def test_a_resumed_apply_counts_this_run_apart_from_the_earlier_one(client: Client, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(5):
        client.customers.create(id=f"r-{i}", email=f"old{i}@example.com")
    rows = [[f"r-{i}", "update", f"new{i}@example.com"] for i in range(6)]  # r-5 does not exist yet
    path = write_rows(tmp_path / "updates.csv", ["customer_id", "action", "email"], rows)
    command = ["apply", str(path), "--base-url", client.base_url, "--api-key", "sk_test_sandbox", "--no-progress"]
    assert main(command) == 1
    out = capsys.readouterr().out
    assert "applied 5, unchanged 0, failed 1, invalid 0" in out and "earlier" not in out, out

    client.customers.create(id="r-5", email="old5@example.com")
    assert main(command) == 0
    out = capsys.readouterr().out
    assert "unchanged 5, update 1" in out, "the plan: rows the first run applied now match"
    assert "this run: applied 1, unchanged 0, failed 0, invalid 0" in out, out
    assert "finished by an earlier run: applied 5 (total 5)" in out, out
