"""Undo over real HTTP: export, apply, revert, export again gives back the same customers; rows changed since the
run are kept; a killed revert resumes; reverting a revert re-applies the original."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import load_workbook

from drframe import Client, bulk
from drframe.cli import main
from drframe.report import snapshot_changes
from drframe.sandbox import Sandbox

from .crashes import count_writes, finished_records, kill_after

ROOT = Path(__file__).resolve().parents[1]


def target(sandbox: Sandbox) -> list[str]:
    return ["--base-url", sandbox.base_url, "--api-key", sandbox.api_key, "--no-progress"]


def export(sandbox: Sandbox, out: Path) -> Path:
    assert main(["-q", "export", *target(sandbox), "--out", str(out), "--format", "parquet"]) == 0
    return out


def differences(before: Path, after: Path, recreated: tuple[str, ...] = (),
                cancelled: tuple[str, ...] = (), numbers_gone: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every difference between two exports' customers (updatedTime aside), added and removed ones included; a
    customer deleted and created again has a new createdTime (the API sets it) and no default source (the delete
    cancelled its sources): the only differences allowed, and named in the revert's results."""
    found = snapshot_changes(before / "customers.parquet", after / "customers.parquet")
    changes = found["changes"]
    # Created again, a customer holds the same tax numbers under new identifier ids (one removed, one added each)
    # and none of its sources (the delete cancelled them): the note names them.
    # The API verifies a number created again afresh (its state and applicability are the API's).
    recreated_children = changes["customer_id"].isin(recreated) & (
        changes["field"].isin(["source_id", "tax_identifier"]) | changes["field"].str.startswith("tax_identifiers["))
    for customer_id in recreated:
        numbers = changes[(changes["customer_id"] == customer_id) & (changes["field"] == "tax_identifier")]
        assert sorted(numbers["before"].dropna()) == sorted(numbers["after"].dropna()), "the same tax numbers"
    allowed = recreated_children
    allowed |= changes["customer_id"].isin(recreated) & changes["field"].isin(["createdTime", "defaultSourceId"])
    # A source detached by a revert is cancelled, and an identifier it deleted is gone: neither comes back (named).
    allowed |= changes["customer_id"].isin(cancelled) & changes["field"].isin(["defaultSourceId", "source_id"])
    allowed |= changes["customer_id"].isin(numbers_gone) & (changes["field"] == "tax_identifier")
    assert set(changes.loc[allowed & (changes["field"] == "createdTime"), "customer_id"]) == set(recreated)
    return (changes[~allowed].to_dict("records") + [{"added": i} for i in found["added"]["customer_id"]]
            + [{"removed": i} for i in found["removed"]["customer_id"]])


def held(client: Client) -> dict[str, Any]:
    """What the customers hold besides their fields: sources and tax numbers (type and value), by customer."""
    return {c["id"]: (sorted(s["id"] for s in c.get("sources") or []),
                      sorted(f"{t['type']} {t['value']}" for t in c.get("taxIdentifiers") or []))
            for c in client.customers.iter_raw()}


def statuses(results: Path) -> dict[str, str]:
    return {r["id"]: r["status"] for r in csv.DictReader(results.open(encoding="utf-8"))}


def test_the_demo_file_applied_and_reverted_leaves_no_difference(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    updates = shutil.copy(ROOT / "data" / "customer-updates.xlsx", tmp_path / "updates.xlsx")
    with Sandbox(seed_customers=300) as sandbox:
        before = export(sandbox, tmp_path / "before")
        assert main(["apply", str(updates), *target(sandbox), "--keep-journal"]) == 1  # the demo's 7 bad rows
        results = tmp_path / "updates.results.csv"
        assert (tmp_path / "updates.results.before.jsonl").stat().st_mode & 0o077 == 0, "customer data: owner only"
        assert differences(before, export(sandbox, tmp_path / "applied"))
        capsys.readouterr()
        assert main(["revert", str(results), *target(sandbox), "--keep-journal"]) == 0
        out = capsys.readouterr().out
        assert "plan for updates.results.revert: 23 rows: create 1, delete 2, update 20" in out
        assert differences(before, export(sandbox, tmp_path / "after"), ("5800000299",)) == []
        reverted = pd.read_csv(tmp_path / "updates.results.revert.csv", dtype=str).set_index("id")
        note = reverted.loc["5800000299", "note"]
        assert "created again: its createdTime is now" in note and "nor its defaultSourceId" in note
    journals = "".join(path.read_text(encoding="utf-8") for path in tmp_path.glob("*.journal"))
    assert journals and "example.com" not in journals and "spring-import" not in journals, "the journal: no PII"


def mixed_sandbox(sandbox: Sandbox) -> tuple[Client, list[dict[str, str]]]:
    """Customers with metadata, shipping, tax numbers and sources, and a file that creates, updates (VAT numbers
    new and replaced, metadata cleared), deletes, attaches a source and a tax identifier."""
    client = sandbox.client()
    shipping = {"name": "Ada", "address": {"line1": "1 Main St", "city": "Berlin", "postalCode": "10115",
                                           "country": "DE"}}
    client.customers.create(id="m-upd", email="upd@example.com", locale="de_DE",
                            metadata={"tier": "gold", "note": "keep me"}, shipping=shipping)
    client.customers.create(id="m-vat", email="vat@example.com")
    client.customers.attach_tax_identifier("m-vat", client.tax_identifiers.create("de", "DE111111111").id)
    client.customers.create(id="m-del", email="del@example.com", locale="fr_FR", enabled=False,
                            metadata={"source": "fair"}, shipping=shipping, type="business")
    client.customers.attach_tax_identifier("m-del", client.tax_identifiers.create("be", "BE1234567890").id)
    client.customers.create(id="m-src", email="src@example.com")
    client.customers.create(id="m-att", email="att@example.com")
    card = client.sources.create(type="creditCard", creditCard={"lastFourDigits": "4242", "brand": "Visa"})
    spare = client.tax_identifiers.create("it", "IT12345678901")
    rows = [
        {"customer_id": "m-upd", "locale": "en_GB", "metadata.note": "<clear>", "shipping.address.city": "Bonn",
         "tax_identifier.type": "de", "tax_identifier.value": "DE123456789"},
        {"customer_id": "m-vat", "tax_identifier.type": "DE", "tax_identifier.value": "DE222222222"},
        {"customer_id": "m-new", "action": "create", "email": "new@example.com", "metadata.tier": "silver",
         "tax_identifier.type": "be", "tax_identifier.value": "BE0987654321"},
        {"customer_id": "m-new", "action": "attach_source", "source_id": card.id},
        {"customer_id": "m-del", "action": "delete"},
        {"customer_id": "m-src", "action": "attach_source", "source_id": card.id.replace(card.id, "")},
        {"customer_id": "m-att", "action": "attach_tax_identifier", "tax_id": spare.id},
    ]
    second = client.sources.create(type="creditCard", creditCard={"lastFourDigits": "1881", "brand": "Visa"})
    rows[5]["source_id"] = second.id
    return client, rows


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    header = list(dict.fromkeys(column for row in rows for column in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_mixed_file_reverts_to_the_same_customers_and_a_revert_of_the_revert_reapplies_it(
        sandbox: Sandbox, tmp_path: Path) -> None:
    client, rows = mixed_sandbox(sandbox)
    path = write_rows(tmp_path / "mixed.csv", rows)
    before, before_held = export(sandbox, tmp_path / "before"), held(client)
    assert main(["apply", str(path), *target(sandbox)]) == 0
    applied, applied_held = export(sandbox, tmp_path / "applied"), held(client)
    assert statuses(tmp_path / "mixed.results.csv") == {"m-upd": "applied", "m-vat": "applied", "m-new": "applied",
                                                       "m-del": "applied", "m-src": "applied", "m-att": "applied"}

    report = tmp_path / "revert-audit.xlsx"
    assert main(["revert", str(tmp_path / "mixed.results.csv"), *target(sandbox), "--report", str(report)]) == 0
    after = export(sandbox, tmp_path / "after")
    assert differences(before, after, ("m-del",)) == []
    assert held(client) == before_held
    summary = [tuple(r)[:2] for r in load_workbook(report)["Summary"].iter_rows(values_only=True)]
    assert ("reverts", "the run of mixed.results.csv") in summary, "the change audit names the run it reverts"
    compared = snapshot_changes(applied / "customers.parquet", after / "customers.parquet",
                                runs=[tmp_path / "mixed.results.csv", tmp_path / "mixed.results.revert.csv"])
    by = compared["changes"].set_index(["customer_id", "field"])["by"]
    assert by["m-upd", "locale"] == "mixed.results.revert.csv row 2 (revert of mixed.results.csv)"
    assert by.str.endswith("(revert of mixed.results.csv)").all(), by.to_dict()
    reverted = pd.read_csv(tmp_path / "mixed.results.revert.csv", dtype=str).set_index("row")
    assert "new id" not in str(reverted.loc["3", "note"])
    assert "tax identifier de DE111111111" in reverted.loc["3", "note"], "the replaced number, created again"
    detached = client.sources.get(rows[5]["source_id"])
    assert detached.state == "cancelled", "a detached source is cancelled: reverting the revert cannot attach it"

    assert main(["revert", str(tmp_path / "mixed.results.revert.csv"), *target(sandbox)]) == 1
    again = pd.read_csv(tmp_path / "mixed.results.revert.revert.csv", dtype=str).set_index("row")
    assert again.loc["7", "status"] == "failed" and "cannot be attached again" in again.loc["7", "error"]
    assert "cannot be attached again" in again.loc["5", "error"], "m-new's source (row 5) was cancelled too"
    redone = differences(applied, export(sandbox, tmp_path / "redone"), ("m-new",), cancelled=("m-src",),
                         numbers_gone=("m-att",))
    assert redone == [], "the original's field changes, creates and deletes are back; the sources are named"
    now = held(client)
    assert {k: v[1] for k, v in now.items()} == {k: v[1] for k, v in applied_held.items() if k != "m-att"} | {
        "m-att": []}, "tax numbers back, except the attached identifier the first revert deleted (named)"


def test_a_field_edited_since_the_run_is_kept_unless_forced(sandbox: Sandbox, tmp_path: Path) -> None:
    client, rows = mixed_sandbox(sandbox)
    path = write_rows(tmp_path / "mixed.csv", rows)
    assert main(["apply", str(path), *target(sandbox)]) == 0
    client.customers.update("m-upd", locale="it_IT")
    client.customers.update("m-new", metadata={"tier": "bronze"})
    results = tmp_path / "mixed.results.csv"
    assert main(["revert", str(results), *target(sandbox), "--dry-run"]) == 0
    assert main(["revert", str(results), *target(sandbox)]) == 1
    reverted = pd.read_csv(tmp_path / "mixed.results.revert.csv", dtype=str).set_index("row")
    assert reverted.loc["2", "status"] == "kept"
    assert "locale is now 'it_IT', the run wrote 'en_GB'" in reverted.loc["2", "note"]
    assert reverted.loc["4", "status"] == "kept" and "metadata.tier is now 'bronze'" in reverted.loc["4", "note"]
    assert client.customers.get("m-upd").locale == "it_IT" and client.customers.get("m-new").id == "m-new"
    assert client.customers.get("m-vat").taxIdentifiers[0].value == "DE111111111", "the other rows reverted"

    assert main(["revert", str(results), *target(sandbox), "--force", "--results",
                 str(tmp_path / "forced.csv")]) == 0
    assert client.customers.get("m-upd").locale == "de_DE"
    assert "m-new" not in client.customers.get_many(["m-new"])


def test_result_revert_plan_in_python(sandbox: Sandbox, tmp_path: Path) -> None:
    client, rows = mixed_sandbox(sandbox)
    original = held(client), client.customers.get("m-upd").model_dump(exclude={"updatedTime"})
    result = bulk.plan(write_rows(tmp_path / "mixed.csv", rows), client).apply(progress=False)
    undo = result.revert_plan()
    assert undo.reverts == "mixed.csv" and undo.counts == {"update": 3, "delete": 1, "create": 1, "detach_source": 2}
    assert set(undo.changes["field"]) >= {"locale", "metadata.note", "shipping.address.city", "tax_identifier"}
    assert undo.apply(progress=False).ok
    assert (held(client), client.customers.get("m-upd").model_dump(exclude={"updatedTime"})) == original


def test_a_killed_revert_resumes_and_reverts_each_row_once(tmp_path: Path) -> None:
    sandbox = Sandbox(seed_customers=120, seed=21, latency_ms=10)
    writes = count_writes(sandbox)
    with sandbox, sandbox.client() as client:
        ids = [str(c["id"]) for c in client.customers.iter_raw()][:100]
        rows = [{"customer_id": i, "locale": "nl_NL", "metadata.batch": f"b{n}"} for n, i in enumerate(ids)]
        path = write_rows(tmp_path / "big.csv", rows)
        before = export(sandbox, tmp_path / "before")
        assert main(["apply", str(path), *target(sandbox), "--rate", "500"]) == 0
        writes.clear()
        journal = tmp_path / "revert.journal"
        command = [sys.executable, "-m", "drframe.cli", "revert", str(tmp_path / "big.results.csv"),
                   *target(sandbox), "--rate", "40", "--workers", "4", "--journal", str(journal)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        kill_after(command, env, journal, finished=20)
        done = finished_records(journal)
        assert 20 <= done < 100, "the kill must land mid-revert"

        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stdout + second.stderr
        results = list(csv.DictReader((tmp_path / "big.results.revert.csv").open(encoding="utf-8")))
        assert {r["status"] for r in results} == {"applied"} and len(results) == 100
        assert sum(r["resumed"] == "True" for r in results) >= done
        assert writes == Counter({f"POST /customers/{i}": 1 for i in ids}), "each customer reverted exactly once"
        assert differences(before, export(sandbox, tmp_path / "after")) == []


def test_rows_an_earlier_run_applied_revert_from_the_before_images_file_only(sandbox: Sandbox, tmp_path: Path) -> None:
    client, rows = mixed_sandbox(sandbox)
    path, journal = write_rows(tmp_path / "mixed.csv", rows[:2]), tmp_path / "mixed.journal"
    images = tmp_path / "mixed.before.jsonl"
    bulk.plan(path, client).apply(journal=journal, keep_journal=True, before_images=images, progress=False)
    again = bulk.plan(path, client).apply(journal=journal, keep_journal=True, progress=False)
    assert all(row.resumed for row in again.rows), "finished by the first run"
    blind = again.revert_plan()
    assert {str(r.status) for r in blind.rows} == {"failed"}
    assert "its before values are not known" in blind.errors["message"][0], "named, never silently skipped"

    resumed = bulk.plan(path, client).apply(journal=journal, before_images=images, progress=False)
    assert resumed.revert_plan().apply(progress=False).counts["applied"] == 2, "the first run's records are kept"
    assert client.customers.get("m-upd").locale == "de_DE"


def test_a_revert_with_a_live_key_asks_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    live = "sk_live_0123456789abcdef"
    with Sandbox(api_key=live) as sandbox:
        client = sandbox.client()
        client.customers.create(id="c-1", locale="en_US")
        path = write_rows(tmp_path / "u.csv", [{"customer_id": "c-1", "locale": "fr_FR"}])
        key = ["--base-url", sandbox.base_url, "--api-key", live, "--no-progress"]
        assert main(["apply", str(path), *key, "--yes"]) == 0
        capsys.readouterr()
        assert main(["revert", str(tmp_path / "u.results.csv"), *key]) == 2, "no terminal to confirm"
        assert "update 1" in capsys.readouterr().err and client.customers.get("c-1").locale == "fr_FR"
        assert main(["revert", str(tmp_path / "u.results.csv"), *key, "--yes"]) == 0
        assert client.customers.get("c-1").locale == "en_US"
