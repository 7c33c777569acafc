"""Fix and resubmit: the errors file holds the bad rows as they were, plus why; fixed, it applies cleanly."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from csvfiles import write_rows

from drframe import Client, bulk
from drframe.cli import main


def test_errors_file_round_trip(client: Client, tmp_path: Path) -> None:
    client.customers.create(id="ok-1", email="ok@example.com")
    source = write_rows(tmp_path / "in.csv", ["customer_id", "action", "email", "locale"], [
        ["ok-1", "update", "fine@example.com", ""],          # applied
        ["ok-1x", "update", "", "fr_FR"],                    # failed: no such customer
        ["", "create", "not-an-email", "de_DE"],            # invalid, generated id
        ["bad/id", "upsert", "x@example.com", ""],           # invalid id
    ])
    result = bulk.plan(source, client).apply(progress=False)
    assert result.counts["applied"] == 1 and result.counts["invalid"] == 2 and result.counts["failed"] == 1
    errors_path = result.errors_file(tmp_path / "errors.xlsx")
    sheet = openpyxl.load_workbook(errors_path)["errors"]
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    assert rows[0] == ["error", "source_row", "customer_id", "action", "email", "locale"]
    by_id = {r[2]: r for r in rows[1:]}
    assert set(by_id) == {"ok-1x", "bad/id", result.rows[2].customer_id}, "only bad rows; generated id kept"
    assert "no such customer" in by_id["ok-1x"][0]
    assert "not a valid email" in by_id[result.rows[2].customer_id][0]
    assert by_id["bad/id"][4] == "x@example.com", "original cells as they were"
    assert by_id["bad/id"][1] == "5", "the row's number in the original file"

    # Fix the cells in the workbook, as an analyst would, and apply the errors file itself.
    for row in sheet.iter_rows(min_row=2):
        cells = {sheet.cell(row=1, column=c.column).value: c for c in row}
        if cells["customer_id"].value == "ok-1x":
            cells["action"].value = "upsert"
        elif cells["customer_id"].value == "bad/id":
            cells["customer_id"].value = "good-id"
        else:
            cells["email"].value = "fixed@example.com"
    sheet.parent.save(errors_path)
    fixed = bulk.plan(errors_path, client)
    assert fixed.errors.empty, fixed.errors.to_dict("records")
    again = fixed.apply(progress=False)
    assert again.counts["applied"] == 3 and again.ok
    generated = result.rows[2].customer_id or ""
    assert client.customers.get(generated).email == "fixed@example.com", "the fixed create kept its id"
    assert client.customers.get("good-id").email == "x@example.com"


def test_cli_errors_option(client: Client, tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.csv", ["customer_id", "email"], [["a-1", "nope"]])
    errors = tmp_path / "fix-me.csv"
    key = ["--base-url", client.base_url, "--api-key", "sk_test_sandbox", "--no-progress"]
    assert main(["apply", str(source), *key, "--errors", str(errors)]) == 1
    assert "nope" in errors.read_text(encoding="utf-8")
    good = write_rows(tmp_path / "in.csv", ["customer_id", "email"], [["a-1", "yes@example.com"]])
    assert main(["apply", str(good), *key, "--errors", str(errors)]) == 0
    assert "nope" in errors.read_text(encoding="utf-8"), "a file the user may have edited is never deleted"
    assert not (tmp_path / "fix-me.2.csv").exists(), "a clean run writes no errors file"


def test_a_resumed_run_still_shows_what_earlier_runs_changed(client: Client, tmp_path: Path) -> None:
    client.customers.create(id="r-1", email="r1@example.com", locale="en_US")
    source = write_rows(tmp_path / "in.csv", ["customer_id", "locale", "tax_identifier.type", "tax_identifier.value"],
                       [["r-1", "fr_FR", "de", "DE123456789"]])
    journal = tmp_path / "in.journal"
    first = bulk.plan(source, client).apply(progress=False, journal=journal, keep_journal=True)
    assert first.ok
    assert "email" not in journal.read_text(encoding="utf-8").replace('"event"', ""), "field names, not values"
    resumed = bulk.plan(source, client).apply(progress=False, journal=journal)
    row = resumed.results.iloc[0]
    assert row["status"] == "applied" and bool(row["resumed"])
    assert "locale: '(earlier run)' -> 'fr_FR'" in row["changes"]
    assert "tax_identifier: '(earlier run)' -> 'de DE123456789'" in row["changes"]
