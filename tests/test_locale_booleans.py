"""Booleans as German, French, Spanish, Italian and Dutch Excel write them into CSV (issue 17, item 12)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from drframe import bulk
from drframe.sandbox import Sandbox

#: (true, false) as each Excel writes a boolean cell into a CSV file.
WORDS = {"de": ("WAHR", "FALSCH"), "fr": ("VRAI", "FAUX"), "es": ("VERDADERO", "FALSO"), "it": ("VERO", "FALSO"),
         "nl": ("WAAR", "ONWAAR")}


def _excel_csv(path: Path, customers: list[dict[str, object]], true: str, false: str, *, encoding: str,
               flip: int = 0) -> None:
    """A CSV as a European Excel saves it: ``;`` between cells, CRLF, its own words for TRUE/FALSE, no quotes.
    The first ``flip`` customers get ``enabled`` inverted."""
    lines = ["customer_id;shipping.name;enabled;requestToBeForgotten"]
    for number, customer in enumerate(customers):
        enabled = bool(customer["enabled"]) != (number < flip)
        lines.append(";".join([str(customer["id"]), str(customer["shipping"]["name"]),  # type: ignore[index]
                               true if enabled else false, true if customer["requestToBeForgotten"] else false]))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))


def test_a_german_excel_csv_in_cp1252_applies(tmp_path: Path) -> None:
    with Sandbox(seed_customers=300, seed=3) as sandbox:
        client = sandbox.client(retry=None)
        customers = list(client.customers.iter_raw())
        path = tmp_path / "kunden.csv"
        _excel_csv(path, customers, "Wahr", "FALSCH", encoding="cp1252", flip=4)  # Excel writes WAHR; any case
        assert "ü".encode("cp1252") in path.read_bytes() or "é".encode("cp1252") in path.read_bytes()
        done = subprocess.run(
            [sys.executable, "-m", "drframe.cli", "apply", str(path), "--encoding", "cp1252", "--base-url",
             sandbox.base_url, "--api-key", "sk_test_sandbox", "--no-progress"],
            capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "delimiter ';'" in done.stdout
        assert "invalid" not in done.stdout.split("rows:")[1].splitlines()[0]
        assert "update 4, unchanged 296" in done.stdout or "unchanged 296, update 4" in done.stdout
        flipped = client.customers.get(str(customers[0]["id"]))
        assert flipped.enabled is not customers[0]["enabled"]


@pytest.mark.parametrize("language", sorted(WORDS))
def test_each_excel_language_reads_as_booleans(language: str, shared_sandbox: Sandbox, tmp_path: Path) -> None:
    client = shared_sandbox.client(retry=None)
    customers = list(client.customers.iter_raw())[:20]
    path = tmp_path / f"{language}.csv"
    true, false = WORDS[language]
    _excel_csv(path, customers, true.lower() if language == "nl" else true, false, encoding="utf-8-sig", flip=2)
    plan = bulk.plan(path, client)
    assert plan.errors.empty, plan.errors
    assert plan.counts == {"update": 2, "unchanged": 18}
    assert set(plan.changes["field"]) == {"enabled"}


def test_a_word_that_is_no_boolean_names_the_accepted_ones(shared_sandbox: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    customer = next(iter(shared_sandbox.client().customers.iter_raw()))
    path.write_text(f"customer_id;enabled\r\n{customer['id']};JA\r\n", encoding="utf-8")
    errors = bulk.plan(path, shared_sandbox.client(retry=None)).errors
    assert errors[["row", "column", "value"]].values.tolist() == [[2, "enabled", "JA"]]
    assert "WAHR/FALSCH" in errors["message"][0]
