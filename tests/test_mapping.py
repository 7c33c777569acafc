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


CRM_HEADER = ["Customer ID", "E-mail", "First Name", "Last Name", "Language", "Country", "Zip", "Customer Type",
              "VAT Number", "VAT Country"]
CRM_ROWS = [["C-100", "ann@example.co.uk", "Ann", "Smith", "English", "GB", "SW1A 1AA", "Business", "GB123456789",
             "United Kingdom"],
            ["C-101", "bernd@example.de", "Bernd", "Müller", "German", "Germany", "10115", "business", "DE123456789",
             "Germany"],
            ["C-102", "cy@example.com", "Cy", "", "English", "GB", "EC1A 1BB", "Private", "", ""]]


def test_a_crm_export_is_proposed_what_it_needs_and_applies(client: Client, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    source = write_rows(tmp_path / "crm.csv", CRM_HEADER, CRM_ROWS)
    assert main(["map", str(source)]) == 0
    out = capsys.readouterr().out
    proposal = tmp_path / "crm.mapping.yml"
    data = yaml.safe_load(proposal.read_text(encoding="utf-8"))
    assert data["columns"] == {"Customer ID": "customer_id", "E-mail": "email", "Language": "locale",
                               "Country": "shipping.address.country", "Zip": "shipping.address.postalCode",
                               "Customer Type": "type", "VAT Number": "tax_identifier.value",
                               "VAT Country": "tax_identifier.type"}
    assert data["join"] == {"shipping.name": ["First Name", "Last Name"]}
    assert data["values"] == {"locale": {"English": "en_GB", "German": "de_DE"},
                              "shipping.address.country": {"Germany": "DE"},
                              "type": {"Business": "business", "Private": "individual"},
                              "tax_identifier.type": {"United Kingdom": "uk", "Germany": "de"}}
    assert "'English' is not a locale; GUESSED 'en_GB' (from its rows' Country: GB)" in out
    assert "'Country': 'Germany' is not a two-letter ISO 3166 country code; GUESSED 'DE'" in out
    assert "'Customer Type': 'Business' is not a customer type (individual or business); GUESSED 'business'" in out
    assert "would be refused" not in out, "every value is fine once mapped"
    proposal.write_text(proposal.read_text(encoding="utf-8").replace("reviewed: false", "reviewed: true"),
                        encoding="utf-8")
    assert main(["apply", str(source), "--map", str(proposal), "--base-url", client.base_url, "--api-key",
                 "sk_test_sandbox", "--action", "create", "--no-progress"]) == 0, capsys.readouterr()
    ann, bernd, cy = (client.customers.get(i) for i in ("C-100", "C-101", "C-102"))
    assert (ann.locale, ann.type, ann.shipping and ann.shipping.name) == ("en_GB", "business", "Ann Smith")
    assert bernd.shipping and bernd.shipping.address and bernd.shipping.address.country == "DE"
    assert cy.shipping and cy.shipping.name == "Cy", "an empty last name is left out of the join"
    assert [(t.type, t.value) for t in ann.taxIdentifiers or []] == [("uk", "GB123456789")]
    assert [(t.type, t.value) for t in bernd.taxIdentifiers or []] == [("de", "DE123456789")]


def test_map_flags_every_value_bulk_would_refuse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [["C-1", "not-an-email", "Ann", "Lee", "Klingon", "Narnia", "1", "Alien", "12345", "Atlantis"],
            ["C-2", "b@example.com", "Bo", "Ng", "en_US", "US", "2", "individual", "", ""]]
    source = write_rows(tmp_path / "bad.csv", CRM_HEADER, rows)
    assert main(["map", str(source)]) == 0
    out = capsys.readouterr().out
    assert "'E-mail' (email): 'not-an-email' would be refused (row 2)" in out
    assert "'Language' (locale): 'Klingon' would be refused (row 2)" in out
    assert "'Country' (shipping.address.country): 'Narnia' would be refused (row 2): 'Narnia' is not a two-letter " \
           "ISO 3166 country code" in out
    assert "'Customer Type' (type): 'Alien' would be refused (row 2)" in out
    assert "'VAT Country' (tax_identifier.type): 'Atlantis' would be refused (row 2): not a tax identifier type" in out
    assert "row 3" not in out, "the good row is not flagged"


def test_join_block_reads_and_checks_its_headers(client: Client, tmp_path: Path) -> None:
    source = write_rows(tmp_path / "names.csv", ["customer_id", "First Name", "Last Name", "Country"],
                        [["n-1", "Ann", "Lee", "US"]])
    mapping = bulk.ColumnMapping.from_dict({"columns": {"Country": "shipping.address.country"},
                                            "join": {"shipping.name": ["First Name", "Last Name"]}})
    plan = bulk.plan(source, client, columns=mapping)
    assert plan.errors.empty and plan.frame().loc[0, "changes"].count("shipping.name: None -> 'Ann Lee'") == 1
    with pytest.raises(SheetError, match="joins 'Surname', which the file has no header for"):
        bulk.plan(source, client, columns=bulk.ColumnMapping.from_dict(
            {"join": {"shipping.name": ["First Name", "Surname"]}}))
    clash = bulk.ColumnMapping.from_dict({"columns": {"Country": "shipping.name"},
                                          "join": {"shipping.name": ["First Name", "Last Name"]}})
    with pytest.raises(SheetError, match=r"both map to 'shipping\.name'"):
        bulk.plan(source, client, columns=clash)
    assert "join:\n  shipping.name: [\"First Name\", \"Last Name\"]" in mapping.dump()
    assert bulk.ColumnMapping.from_dict(yaml.safe_load(mapping.dump())) == mapping
