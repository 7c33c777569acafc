"""Bulk apply over real HTTP: nasty spreadsheets, every action, faults, a killed-and-resumed run, the CLI."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from drframe import Client, RetryPolicy, bulk
from drframe.cli import main
from drframe.sandbox import Sandbox

from .crashes import finished_records, kill_after

HEADER = ["customer_id", "action", "email", "locale", "enabled", "type", "shipping.name",
          "shipping.address.postalCode", "shipping.address.country", "metadata.segment", "metadata.note"]


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    header = header or HEADER
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def seeded() -> Iterator[Sandbox]:
    with Sandbox(seed_customers=40, seed=11) as sandbox:
        yield sandbox


@pytest.fixture
def seeded_client(seeded: Sandbox) -> Iterator[Client]:
    with seeded.client() as client:
        yield client


def statuses(result: bulk.BulkResult) -> dict[int, str]:
    return {int(r.row): str(r.status) for r in result.results.itertuples()}


def test_an_exported_sheet_is_a_valid_input_and_makes_no_call(seeded_client: Client, tmp_path: Path) -> None:
    frames = seeded_client.customers.to_frames()
    frames.to_excel(tmp_path / "all.xlsx")
    frames.to_csv(tmp_path / "csv")
    for source in (tmp_path / "all.xlsx", tmp_path / "csv" / "customers.csv"):
        plan = bulk.plan(source, seeded_client)
        assert plan.counts == {"unchanged": 40}, source
        before = seeded_client.stats["requests"]
        result = plan.apply(progress=False)
        assert seeded_client.stats["requests"] == before
        assert result.ok and result.counts["unchanged"] == 40


def test_a_nasty_spreadsheet_gets_one_clear_status_per_row(seeded_client: Client, tmp_path: Path) -> None:
    ids = [c["id"] for c in seeded_client.customers.iter_raw()][:12]
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(HEADER)
    rows: list[list[Any]] = [
        [ids[0], "", "  zoe.angstrom@example.com  ", "fr_FR", "yes", "", "Zoë Ångström", "", "", "vip", ""],
        [ids[1], "update", "not-an-email", "", "", "", "", "", "", "", ""],
        [ids[2], "update", "", "en-us", "", "", "", "", "", "", ""],
        [ids[3], "", "", "", "perhaps", "", "", "", "", "", ""],
        [ids[4], "", "", "", 1, "", "", "", "", "", ""],
        [ids[5], "", "", "", "FALSE", "", "", "02108", "US", "", ""],
        [ids[6], "", "", "", "", "", "", "", "", "", "=HYPERLINK(\"http://x\")"],
        [None] * len(HEADER),
        [ids[7], "", "", "", True, "alien", "", "", "", "", ""],
        [ids[8], "", "", "", "", "", "", "", "", "<clear>", datetime(2026, 1, 2, 3, 4, 5)],
        [582359480812345, "create", "fifteen@example.com", "", "", "", "", "", "", "", ""],
        [5823594808.0, "create", "float@example.com", "", "", "", "", "", "", "", ""],
        ["", "create", "generated@example.com", "de_DE", "", "business", "", "", "", "", ""],
        [ids[9], "", "", "", "", "", "", "", "us", "", ""],
    ]
    for row in rows:
        sheet.append(row)
    sheet["K8"] = "=1+1"  # a real formula cell on row 8 (ids[6])
    workbook.save(tmp_path / "nasty.xlsx")

    enabled_before = seeded_client.customers.get(ids[4]).enabled
    plan = bulk.plan(tmp_path / "nasty.xlsx", seeded_client)
    errors = {(int(e.row), str(e.column)): str(e.message) for e in plan.errors.itertuples()}
    result = plan.apply(progress=False)
    status = statuses(result)
    assert status == {
        2: "applied", 3: "invalid", 4: "invalid", 5: "invalid", 6: "unchanged" if enabled_before else "applied",
        7: "applied", 8: "invalid",
        9: "skipped", 10: "invalid", 11: "applied", 12: "applied", 13: "applied", 14: "applied", 15: "invalid",
    }
    assert "valid email" in errors[(3, "email")]
    assert "did you mean en_US" in errors[(4, "locale")]
    assert "not a boolean" in errors[(5, "enabled")]
    assert "formula" in errors[(8, "metadata.note")]
    assert (10, "type") in errors
    assert "country" in errors[(15, "shipping.address.country")]
    results = result.results.set_index("row")
    assert results.loc[3, "error"].startswith("email: 'not-an-email' is not")

    first = seeded_client.customers.get(ids[0])
    assert first.email == "zoe.angstrom@example.com" and first.enabled is True and first.locale == "fr_FR"
    assert first.metadata and first.metadata["segment"] == "vip"
    assert seeded_client.customers.get(ids[4]).enabled is True
    assert seeded_client.customers.get(ids[0]).shipping.name == "Zoë Ångström"  # type: ignore[union-attr]
    sixth = seeded_client.customers.get(ids[5])
    assert sixth.shipping and sixth.shipping.address and sixth.shipping.address.postalCode == "02108"
    ninth = seeded_client.customers.get(ids[8]).metadata or {}
    assert "segment" not in ninth and ninth["note"] == "2026-01-02T03:04:05Z"
    assert seeded_client.customers.get("582359480812345").email == "fifteen@example.com"
    assert seeded_client.customers.get("5823594808").email == "float@example.com"
    generated = str(results.loc[14, "id"])
    assert generated.startswith("drf-") and seeded_client.customers.get(generated).type == "business"

    again = bulk.plan(tmp_path / "nasty.xlsx", seeded_client).apply(progress=False)
    assert {r: s for r, s in statuses(again).items() if s == "applied"} == {}, "a re-run must not apply twice"
    assert seeded_client.customers.list_raw(limit=100, email="generated@example.com")["data"].__len__() == 1


def test_unknown_columns_stop_everything_with_a_suggestion(seeded_client: Client, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", [{"customer_id": "x", "emial": "a@b.co", "Locale": "en_US",
                                             "metadata": "1"}], header=["customer_id", "emial", "Locale", "metadata"])
    before = seeded_client.stats["requests"]
    with pytest.raises(bulk.SheetError) as caught:
        bulk.plan(path, seeded_client)
    text = str(caught.value)
    assert "'emial' (column B): did you mean 'email'?" in text
    assert "'Locale' (column C): did you mean 'locale'?" in text
    assert "metadata.<key>" in text
    assert seeded_client.stats["requests"] == before


def test_duplicate_ids_are_errors_and_nothing_is_sent_for_them(seeded_client: Client, tmp_path: Path) -> None:
    target = next(seeded_client.customers.iter_raw())
    path = write_csv(tmp_path / "dup.csv", [
        {"customer_id": target["id"], "locale": "it_IT"},
        {"customer_id": target["id"], "locale": "es_ES"},
    ])
    result = bulk.plan(path, seeded_client).apply(progress=False)
    assert statuses(result) == {2: "invalid", 3: "invalid"}
    assert "rows 2, 3" in str(result.results["error"][0])
    assert seeded_client.customers.get(target["id"]).locale == target.get("locale")


def test_every_action(sandbox: Sandbox, tmp_path: Path) -> None:
    client = sandbox.client()
    client.customers.create(id="keep", email="keep@example.com", metadata={"tier": 3, "vip": True})
    client.customers.create(id="gone", email="gone@example.com")
    card = client.sources.create(type="creditCard", creditCard={"lastFourDigits": "1111", "brand": "Visa"})
    tax = client.tax_identifiers.create("de", "DE123456789")
    header = ["customer_id", "action", "email", "metadata.tier", "metadata.vip", "source_id", "tax_id"]
    rows = [
        {"customer_id": "new1", "action": "create", "email": "new1@example.com"},
        {"customer_id": "new1", "action": "attach_source", "source_id": card.id},
        {"customer_id": "new1", "action": "attach_tax_identifier", "tax_id": tax.id},
        {"customer_id": "keep", "action": "update", "metadata.tier": "3", "metadata.vip": "TRUE"},
        {"customer_id": "gone", "action": "delete"},
        {"customer_id": "never", "action": "delete"},
        {"customer_id": "missing", "action": "update", "email": "m@example.com"},
        {"customer_id": "keep", "action": "detach_source", "source_id": "src_nope"},
    ]
    result = bulk.plan(write_csv(tmp_path / "actions.csv", rows, header), client).apply(progress=False)
    assert statuses(result) == {2: "applied", 3: "applied", 4: "applied", 5: "unchanged", 6: "applied",
                                7: "unchanged", 8: "failed", 9: "unchanged"}
    created = client.customers.get("new1")
    assert [s.id for s in created.sources or []] == [card.id]
    assert [t.id for t in created.taxIdentifiers or []] == [tax.id]
    assert not result.ok and result.counts["failed"] == 1

    detach = [{"customer_id": "new1", "action": "detach_source", "source_id": card.id}]
    assert statuses(bulk.plan(write_csv(tmp_path / "d.csv", detach, header), client).apply(progress=False)) == {
        2: "applied"}
    assert not client.customers.get("new1").sources


def intended_rows(ids: list[str]) -> list[dict[str, str]]:
    """Updates for most ids, deletes for a few, creates (with and without ids)."""
    rows = []
    for n, customer_id in enumerate(ids):
        if n % 10 == 9:
            rows.append({"customer_id": customer_id, "action": "delete"})
        else:
            rows.append({"customer_id": customer_id, "locale": "nl_NL", "metadata.segment": f"s{n}"})
    rows += [{"customer_id": f"bulk-new-{n}", "action": "create", "email": f"new{n}@example.com"} for n in range(15)]
    rows += [{"email": f"anon{n}@example.com", "locale": "ja_JP"} for n in range(10)]
    return rows


def assert_intended_state(client: Client, ids: list[str], total_before: int) -> None:
    current = {c["id"]: c for c in client.customers.iter_raw()}
    for n, customer_id in enumerate(ids):
        if n % 10 == 9:
            assert customer_id not in current
        else:
            assert current[customer_id]["locale"] == "nl_NL"
            assert current[customer_id]["metadata"]["segment"] == f"s{n}"
    for n in range(15):
        assert current[f"bulk-new-{n}"]["email"] == f"new{n}@example.com"
    anon = [c for c in current.values() if str(c.get("email", "")).startswith("anon")]
    assert sorted(c["email"] for c in anon) == sorted(f"anon{n}@example.com" for n in range(10)), "no duplicates"
    deleted = sum(1 for n in range(len(ids)) if n % 10 == 9)
    assert len(current) == total_before - deleted + 25


def test_faults_everywhere_still_end_in_the_intended_state(tmp_path: Path) -> None:
    with Sandbox(seed_customers=150, seed=5, fault_rate=0.1) as sandbox:
        client = sandbox.client(retry=RetryPolicy(max_retries=10, backoff_base=0.01, backoff_max=0.05))
        ids = [str(c["id"]) for c in client.customers.iter_raw()][:120]
        path = write_csv(tmp_path / "faulty.csv", intended_rows(ids))
        result = bulk.plan(path, client).apply(workers=6, journal=tmp_path / "j", progress=False)
        assert result.ok, result.errors
        assert result.counts["applied"] == len(ids) + 25
        assert client.stats["retries"] > 0
        assert_intended_state(client, ids, 150)


@dataclass
class CliRun:
    """A sandbox with latency, the intended-rows CSV and the `drframe apply` command a test kills or interrupts."""

    client: Client
    ids: list[str]
    command: list[str]
    env: dict[str, str]
    journal: Path
    results: Path


@contextmanager
def cli_run(tmp_path: Path, name: str, seed: int) -> Iterator[CliRun]:
    with Sandbox(seed_customers=150, seed=seed, latency_ms=15) as sandbox:
        client = sandbox.client()
        ids = [str(c["id"]) for c in client.customers.iter_raw()][:120]
        path = write_csv(tmp_path / f"{name}.csv", intended_rows(ids))
        journal = tmp_path / f"{name}.journal"
        env = {**os.environ, "DR_BASE_URL": sandbox.base_url, "DR_API_KEY": sandbox.api_key}
        command = [sys.executable, "-m", "drframe.cli", "apply", str(path), "--journal", str(journal),
                   "--rate", "40", "--workers", "4", "--no-progress"]
        yield CliRun(client, ids, command, env, journal, tmp_path / f"{name}.results.csv")


def test_a_killed_run_resumes_without_applying_twice(tmp_path: Path) -> None:
    with cli_run(tmp_path, "big", seed=6) as run:
        kill_after(run.command, run.env, run.journal, finished=40)
        done_before = finished_records(run.journal)
        assert 40 <= done_before < len(run.ids) + 25, "the kill must land mid-run"

        second = subprocess.run(run.command, env=run.env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stdout + second.stderr
        results = list(csv.DictReader(run.results.open(encoding="utf-8")))
        assert len(results) == len(run.ids) + 25
        assert {r["status"] for r in results} == {"applied"}
        assert sum(r["resumed"] == "True" for r in results) >= done_before
        assert_intended_state(run.client, run.ids, 150)


def test_ctrl_c_stops_cleanly_and_a_rerun_finishes(tmp_path: Path) -> None:
    with cli_run(tmp_path, "int", seed=8) as run:
        first = subprocess.Popen(run.command, env=run.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        while finished_records(run.journal) < 20 and first.poll() is None:
            time.sleep(0.02)
        first.send_signal(signal.SIGINT)
        out, err = first.communicate(timeout=60)
        assert first.returncode == 130, out + err
        interrupted = list(csv.DictReader(run.results.open(encoding="utf-8")))
        assert len(interrupted) == len(run.ids) + 25
        assert {r["status"] for r in interrupted} == {"applied", "skipped"}
        second = subprocess.run(run.command, env=run.env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stdout + second.stderr
        assert_intended_state(run.client, run.ids, 150)


def test_cli_exit_codes_dry_run_and_results(seeded: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DR_BASE_URL", seeded.base_url)
    monkeypatch.setenv("DR_API_KEY", seeded.api_key)
    client = seeded.client()
    target = next(client.customers.iter_raw())
    good = write_csv(tmp_path / "good.csv", [{"customer_id": target["id"], "locale": "sv_SE"}])
    assert main(["apply", str(good), "--dry-run", "--no-progress"]) == 0
    assert client.customers.get(target["id"]).locale == target.get("locale"), "a dry run sends nothing"
    assert "update 1" in capsys.readouterr().out
    assert main(["apply", str(good), "--no-progress", "--report", str(tmp_path / "audit.xlsx")]) == 0
    assert client.customers.get(target["id"]).locale == "sv_SE"
    assert (tmp_path / "audit.xlsx").exists()

    bad = write_csv(tmp_path / "badrow.csv", [{"customer_id": target["id"], "email": "=cmd|' /C calc'!A0"}])
    assert main(["apply", str(bad), "--no-progress", "--results", str(tmp_path / "r.csv")]) == 1
    text = (tmp_path / "r.csv").read_text(encoding="utf-8")
    assert "'=cmd" in text, "formula-like input is neutralised in the results file"
    assert "sk_test" not in text
    err = capsys.readouterr().err
    assert "row 2, column email (" in err

    assert main(["apply", str(tmp_path / "missing.csv")]) == 2
    unknown = write_csv(tmp_path / "unk.csv", [{"customer_id": "a", "e-mail": "x"}], header=["customer_id", "e-mail"])
    assert main(["apply", str(unknown)]) == 2
    assert "did you mean 'email'" in capsys.readouterr().err


def test_an_edited_frame_plans_like_a_sheet(seeded_client: Client) -> None:
    frames = seeded_client.customers.to_frames()
    edited = frames.customers.copy()
    assert bulk.plan(edited, seeded_client).counts == {"unchanged": 40}
    edited.loc[0, "locale"] = "fr_FR" if edited.loc[0, "locale"] != "fr_FR" else "de_DE"
    edited.loc[1, "metadata.segment"] = bulk.CLEAR
    plan = bulk.plan(edited, seeded_client)
    assert plan.counts == {"unchanged": 38, "update": 2}
    assert plan.apply(progress=False).counts["applied"] == 2
    assert "segment" not in (seeded_client.customers.get(str(edited.loc[1, "customer_id"])).metadata or {})
