"""Column mapping: analysts' headers onto drframe's columns, proposed for review, never guessed silently."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from csvfiles import write_rows

from drframe import Client, SheetError, bulk
from drframe.cli import main

HEADER = ["Customer ID", "E-mail", "Language", "Zip", "Land", "Notes"]
ROWS = [["c-1", "a@example.com", "French", "01234", "FR", "call back"],
        ["c-2", "b@example.com", "de_DE", "", "", ""]]



def test_a_proposal_maps_aliases_flags_guesses_and_must_be_reviewed(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    source = write_rows(tmp_path / "people.csv", HEADER, ROWS)
    assert main(["map", str(source)]) == 0
    out = capsys.readouterr().out
    assert "GUESSED 'fr_FR'" in out and "'Notes': no drframe column found" in out
    proposal = tmp_path / "people.mapping.yml"
    mapping = bulk.ColumnMapping.from_dict(yaml.safe_load(proposal.read_text(encoding="utf-8")))
    assert mapping.columns == {"Customer ID": "customer_id", "E-mail": "email", "Language": "locale",
                               "Zip": "shipping.address.postalCode", "Land": "shipping.address.country",
                               "Notes": None}
    assert mapping.values == {"locale": {"French": "fr_FR"}}, "de_DE is a locale already: no guess for it"
    assert not mapping.reviewed
    with pytest.raises(SheetError, match="reviewed: false"):
        bulk.ColumnMapping.load(proposal)
    assert main(["map", str(source)]) == 2, "an existing mapping (maybe reviewed) is not overwritten"


def test_a_reviewed_mapping_applies(client: Client, tmp_path: Path) -> None:
    source = write_rows(tmp_path / "people.csv", HEADER, ROWS)
    mapping = tmp_path / "m.yml"
    mapping.write_text('reviewed: true\ncolumns:\n  "Customer ID": customer_id\n  "E-mail": email\n'
                       '  "Language": locale\n  "Zip": shipping.address.postalCode\n'
                       '  "Land": shipping.address.country\n  "Notes": null\n'
                       'values:\n  locale:\n    "French": "fr_CA"\n', encoding="utf-8")
    plan = bulk.plan(source, client, columns=bulk.ColumnMapping.load(mapping))
    assert plan.errors.empty, plan.errors.to_dict("records")
    assert plan.apply(progress=False).ok
    first = client.customers.get("c-1")
    assert first.locale == "fr_CA", "the reviewed value map, not a guess"
    assert first.shipping and first.shipping.address and first.shipping.address.postalCode == "01234"
    assert client.customers.get("c-2").locale == "de_DE"


def test_unmapped_unknown_headers_still_stop_everything(client: Client, tmp_path: Path) -> None:
    source = write_rows(tmp_path / "people.csv", HEADER, ROWS)
    with pytest.raises(SheetError, match=r"unknown column 'Notes'.*Nothing was sent"):
        bulk.plan(source, client, columns={"Customer ID": "customer_id", "E-mail": "email", "Language": "locale",
                                           "Zip": "shipping.address.postalCode", "Land": "shipping.address.country"})
    with pytest.raises(SheetError, match="both map to 'email'"):
        bulk.plan(source, client, columns={"Customer ID": "email", "E-mail": "email"})
    assert client.stats["requests"] == 0
