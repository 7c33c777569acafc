"""Saved plans over real HTTP: save for review, apply exactly once, stale rows, another host, a changed input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import load_workbook

from drframe import PlanRefused, bulk
from drframe.cli import main
from drframe.sandbox import Sandbox
from tests.crashes import count_writes, finished_records, kill_after
from tests.test_revert import write_rows


@pytest.fixture
def counted() -> Any:
    sandbox = Sandbox()
    writes: Counter[str] = Counter()
    app = sandbox.app

    async def count(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in {"POST", "DELETE"}:
            writes[f"{scope['method']} {scope['path']}"] += 1
        return await app(scope, receive, send)

    sandbox.app = count  # type: ignore[assignment]
    with sandbox:
        client = sandbox.client()
        for i in range(5):
            client.customers.create(id=f"s-{i}", email=f"s{i}@example.com", locale="en_US")
        writes.clear()
        yield sandbox, client, writes


def target(sandbox: Sandbox) -> list[str]:
    return ["--base-url", sandbox.base_url, "--api-key", sandbox.api_key, "--no-progress"]


def changes_file(tmp_path: Path) -> Path:
    path = tmp_path / "change.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "action", "locale", "metadata.batch"])
        writer.writerows([[f"s-{i}", "", "fr_FR", "q3"] for i in range(4)] + [["s-4", "delete", "", ""],
                                                                              ["", "create", "de_DE", "q3"]])
    return path


def test_a_saved_plan_is_reviewed_then_applied_exactly_once(counted: Any, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    sandbox, client, writes = counted
    source = changes_file(tmp_path)
    plan_path, review = tmp_path / "change.drplan", tmp_path / "review.xlsx"
    assert main(["apply", str(source), *target(sandbox), "--dry-run", "--save-plan", str(plan_path),
                 "--review", str(review)]) == 0
    assert not writes, "a dry run sends nothing"
    lines = [json.loads(line) for line in plan_path.read_text(encoding="utf-8").splitlines()]
    head = lines[0]
    assert head["host"] == sandbox.base_url and head["key"] == "test secret key (not recorded)"
    assert sandbox.api_key not in plan_path.read_text(encoding="utf-8")
    assert [line["payload"] for line in lines[1:4]] == [{"locale": "fr_FR", "metadata": {"batch": "q3"}}] * 3
    assert set(lines[1]["fingerprint"]) >= {"email", "locale"}, "a hash per field, no values"
    assert "s0@example.com" not in json.dumps(lines[1]["fingerprint"])
    assert load_workbook(review).sheetnames == ["rows", "changes", "errors"]

    source.unlink()  # the plan alone is what is applied
    assert main(["apply", str(plan_path), *target(sandbox)]) == 0
    assert client.customers.get("s-0").locale == "fr_FR" and "s-4" not in client.customers.get_many(["s-4"])
    assert sum(writes.values()) == 6
    capsys.readouterr()
    writes.clear()
    assert main(["apply", str(plan_path), *target(sandbox)]) == 0
    assert "change.drplan was already applied by the run of" in capsys.readouterr().out
    assert "(change.results.csv)" in plan_path.read_text(encoding="utf-8").splitlines()[-1]
    assert not writes, "a second apply of the same plan sends nothing"
    assert not bulk.load_plan(plan_path, client).apply(progress=False).counts["applied"]


def test_a_row_whose_record_changed_since_the_plan_is_stale_and_replan_sends_it(
        counted: Any, tmp_path: Path) -> None:
    sandbox, client, writes = counted
    plan_path = tmp_path / "change.drplan"
    assert main(["apply", str(changes_file(tmp_path)), *target(sandbox), "--dry-run", "--save-plan",
                 str(plan_path)]) == 0
    client.customers.update("s-1", email="moved@example.com")
    writes.clear()
    assert main(["apply", str(plan_path), *target(sandbox)]) == 1
    results = pd.read_csv(tmp_path / "change.results.csv", dtype=str).set_index("id")
    assert results.loc["s-1", "status"] == "stale"
    assert results.loc["s-1", "note"] == ("not sent: changed since the plan was saved: email (--replan plans it "
                                          "again)")
    assert "POST /customers/s-1" not in writes and client.customers.get("s-1").locale == "en_US"
    assert client.customers.get("s-0").locale == "fr_FR"

    writes.clear()
    assert main(["apply", str(plan_path), *target(sandbox), "--replan"]) == 0
    assert client.customers.get("s-1").locale == "fr_FR" and client.customers.get("s-1").email == "moved@example.com"
    assert dict(writes) == {"POST /customers/s-1": 1}, "only the re-planned row; the rest were applied already"


def test_a_plan_for_another_host_or_a_changed_input_is_refused(counted: Any, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    sandbox, client, writes = counted
    source = changes_file(tmp_path)
    plan_path = tmp_path / "change.drplan"
    bulk.plan(source, client).save(plan_path)
    with Sandbox() as other:
        assert main(["apply", str(plan_path), *target(other)]) == 2
        assert "was planned for http://127.0.0.1" in capsys.readouterr().err
        with pytest.raises(PlanRefused):
            bulk.load_plan(plan_path, other.client())
    source.write_text(source.read_text(encoding="utf-8").replace("fr_FR", "it_IT"), encoding="utf-8")
    assert main(["apply", str(plan_path), *target(sandbox)]) == 2
    assert "change.csv changed after change.drplan was planned" in capsys.readouterr().err
    assert not writes


def test_a_killed_run_of_a_saved_plan_resumes_and_sends_each_row_once(tmp_path: Path) -> None:
    sandbox = Sandbox(seed_customers=100, seed=3, latency_ms=10)
    writes = count_writes(sandbox)
    with sandbox, sandbox.client() as client:
        ids = [str(c["id"]) for c in client.customers.iter_raw()]
        source = write_rows(tmp_path / "big.csv", [{"customer_id": i, "locale": "sv_SE"} for i in ids])
        plan_path = tmp_path / "big.drplan"
        bulk.plan(source, client).save(plan_path)
        journal = tmp_path / "big.journal"
        command = [sys.executable, "-m", "drframe.cli", "apply", str(plan_path), *target(sandbox), "--rate", "40",
                   "--workers", "4", "--journal", str(journal)]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        kill_after(command, env, journal, finished=20)
        assert 20 <= finished_records(journal) < 100, "the kill must land mid-run"
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stdout + second.stderr
        assert writes == Counter({f"POST /customers/{i}": 1 for i in ids}), "each row sent exactly once"
        assert "already applied by" in subprocess.run(command, env=env, capture_output=True, text=True,
                                                      timeout=120).stdout
