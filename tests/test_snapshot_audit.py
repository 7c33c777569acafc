"""Snapshot audit: what changed between two exports, and which changes a drframe run explains."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

from drframe import Client, bulk
from drframe.report import snapshot_audit, snapshot_changes


@pytest.mark.parametrize("fmt", ["parquet", "xlsx"])
def test_snapshot_audit_attributes_changes(client: Client, tmp_path: Path, fmt: str) -> None:
    for i in range(4):
        client.customers.create(id=f"s-{i}", email=f"s{i}@example.com", locale="en_US", enabled=True)

    def export(name: str) -> Path:
        frames = client.customers.to_frames()
        if fmt == "xlsx":
            return frames.to_excel(tmp_path / f"{name}.xlsx")
        frames.to_parquet(tmp_path / name)
        return tmp_path / name

    before = export("before")
    updates = tmp_path / "updates.csv"
    with updates.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["customer_id", "locale"], ["s-0", "fr_FR"]])
    result = bulk.plan(updates, client).apply(progress=False)
    result.to_file(tmp_path / "run.results.csv")
    client.customers.update("s-1", enabled=False)      # outside drframe
    client.customers.delete("s-2")
    client.customers.create(id="s-9", email="new@example.com")
    after = export("after")

    found = snapshot_changes(before, after, runs=[tmp_path / "run.results.csv"])
    changes = {(r["customer_id"], r["field"]): (r["before"], r["after"], r["by"])
               for r in found["changes"].to_dict("records")}
    assert changes == {("s-0", "locale"): ("en_US", "fr_FR", "run.results.csv row 2"),
                       ("s-1", "enabled"): ("true", "false", "outside drframe")}
    assert found["added"]["customer_id"].tolist() == ["s-9"]
    assert found["removed"]["customer_id"].tolist() == ["s-2"]

    book = openpyxl.load_workbook(snapshot_audit(before, after, tmp_path / "changes.xlsx",
                                                 runs=[tmp_path / "run.results.csv"]))
    assert book.sheetnames == ["Summary", "Changes", "Added", "Removed"]
    summary = {r[0]: r[2] for r in book["Summary"].iter_rows(min_row=4, max_row=8, values_only=True)}
    assert summary == {"changed": 2, "added": 1, "removed": 1, "by drframe": 1, "outside drframe": 1}
