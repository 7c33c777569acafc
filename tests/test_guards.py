"""Guards for unattended runs over real HTTP: --max-changes, --max-deletes, --max-failures, and their Python form."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from drframe import Client, LimitExceeded, bulk
from drframe.cli import main
from drframe.sandbox import Sandbox


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["customer_id", "action", "locale", "source_id"])
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def seeded(sandbox: Sandbox) -> Client:
    client = sandbox.client(retry=None)
    for i in range(40):
        client.customers.create(id=f"g-{i:02}", locale="en_US")
    return client


def target(client: Client) -> list[str]:
    return ["--base-url", client.base_url, "--api-key", "sk_test_sandbox", "--no-progress"]


def test_a_plan_over_max_changes_or_max_deletes_sends_nothing_and_names_the_count(
        seeded: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"customer_id": f"g-{i:02}", "locale": "fr_FR"} for i in range(6)]
    rows += [{"customer_id": f"g-{i:02}", "action": "delete"} for i in range(30, 33)]
    path = write_rows(tmp_path / "big.csv", rows)
    assert main(["apply", str(path), *target(seeded), "--max-changes", "8"]) == 1
    assert "9 rows to send, over --max-changes 8; nothing was sent" in capsys.readouterr().err
    assert main(["apply", str(path), *target(seeded), "--max-deletes", "2", "--dry-run"]) == 1
    assert "3 deletes, over --max-deletes 2" in capsys.readouterr().err
    assert seeded.customers.get("g-00").locale == "en_US" and seeded.customers.get("g-30").id == "g-30"

    plan = bulk.plan(path, seeded)
    with pytest.raises(LimitExceeded, match="3 deletes"):
        plan.apply(max_deletes=2, progress=False)
    assert seeded.customers.get("g-30").id == "g-30", "nothing was sent"
    assert main(["apply", str(path), *target(seeded), "--max-changes", "9", "--max-deletes", "3"]) == 0


def test_max_failures_stops_sending_and_skips_the_rest(seeded: Client, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    # Every attach names a source that does not exist: each fails at the API.
    rows = [{"customer_id": f"g-{i:02}", "action": "attach_source", "source_id": f"no-such-source-{i}"}
            for i in range(40)]
    path = write_rows(tmp_path / "bad.csv", rows)
    assert main(["apply", str(path), *target(seeded), "--workers", "1", "--max-failures", "50"]) == 1
    results = pd.read_csv(tmp_path / "bad.results.csv", dtype=str)
    counts = results["status"].value_counts().to_dict()
    assert counts == {"failed": 20, "skipped": 20}, "judged from 20 finished rows on, then nothing more is sent"
    assert results.loc[results["status"] == "skipped", "note"].str.contains("over --max-failures 50%").all()

    # In Python, with more workers: rows already in flight finish, nothing new starts.
    result = bulk.plan(path, seeded).apply(max_failures=10, workers=4, progress=False)
    assert 20 <= result.counts["failed"] < 20 + 8 and result.counts["skipped"] == 40 - result.counts["failed"]
    assert not result.ok


def test_max_failures_lets_a_healthy_run_finish(seeded: Client, tmp_path: Path) -> None:
    rows = [{"customer_id": f"g-{i:02}", "locale": "de_DE"} for i in range(38)]
    rows += [{"customer_id": "g-38", "action": "attach_source", "source_id": "no-such-source"}]
    result = bulk.plan(write_rows(tmp_path / "ok.csv", rows), seeded).apply(max_failures=5, progress=False)
    assert result.counts["applied"] == 38 and result.counts["failed"] == 1 and result.counts["skipped"] == 0


def test_max_deletes_0_is_a_guard_not_a_usage_error(seeded: Client, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """An unattended job's natural guard: "never delete anything" (and "change nothing") is 0, not refused."""
    path = write_rows(tmp_path / "one.csv", [{"customer_id": "g-05", "action": "delete"}])
    assert main(["apply", str(path), *target(seeded), "--max-deletes", "0"]) == 1
    assert "1 deletes, over --max-deletes 0; nothing was sent" in capsys.readouterr().err
    assert main(["apply", str(path), *target(seeded), "--max-changes", "0"]) == 1
    assert seeded.customers.get("g-05").id == "g-05", "nothing was sent"
    unchanged = write_rows(tmp_path / "same.csv", [{"customer_id": "g-06", "locale": "en_US"}])
    assert main(["apply", str(unchanged), *target(seeded), "--max-changes", "0", "--max-deletes", "0"]) == 0
    with pytest.raises(SystemExit) as usage:
        main(["apply", str(path), *target(seeded), "--max-deletes", "-1"])
    assert usage.value.code == 2
    assert "must be a finite number, 0 or more, got -1" in capsys.readouterr().err
