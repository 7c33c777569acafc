"""drframe sync: a Parquet mirror kept fresh from updates, reconciled by full runs; one mirror, one host."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from drframe import Client, ConfigurationError
from drframe._files._parquet import read_parquet
from drframe._sync import STATE_FILE, sync
from drframe.cli import main
from drframe.sandbox import Sandbox


def mirror_ids(directory: Path) -> set[str]:
    return set(pd.read_parquet(directory / "customers.parquet")["customer_id"])


def test_sync_merges_updates_and_a_full_run_reconciles_deletions(client: Client, tmp_path: Path) -> None:
    for i in range(5):
        client.customers.create(id=f"m-{i}", email=f"m{i}@example.com", locale="en_US")
    mirror = tmp_path / "mirror"
    first = sync(client, mirror)
    assert first.full and first.total == 5 and mirror_ids(mirror) == {f"m-{i}" for i in range(5)}

    time.sleep(0.01)
    client.customers.update("m-1", locale="fr_FR")
    client.customers.create(id="m-9", email="new@example.com")
    client.customers.delete("m-2")
    second = sync(client, mirror, overlap=timedelta(0))
    # Only what changed since the last sync's newest change (inclusive: that customer comes again).
    assert not second.full and second.fetched == 3 and (second.added, second.changed) == (1, 1)
    assert second.unchanged == 4, "m-0, m-3, m-4 untouched; m-2 deleted but unseen; overlap-fetched m-* compare equal"
    customers = pd.read_parquet(mirror / "customers.parquet").set_index("customer_id")
    assert customers.loc["m-1", "locale"] == "fr_FR" and "m-9" in customers.index
    assert "m-2" in customers.index, "an incremental run cannot see a deletion"
    assert len(customers) == 6

    third = sync(client, mirror, full=True)
    assert third.full and third.removed == 1 and mirror_ids(mirror) == {"m-0", "m-1", "m-3", "m-4", "m-9"}
    state = json.loads((mirror / STATE_FILE).read_text(encoding="utf-8"))
    assert state["host"] == client.host and state["high_water"] and state["last_full"]


def test_a_mirror_keeps_metadata_of_mixed_types(client: Client, tmp_path: Path) -> None:
    for i, value in enumerate(["gold", 3, True, 7]):
        client.customers.create(id=f"x-{i}", metadata={"tier": value})
    mirror = tmp_path / "mirror"
    sync(client, mirror)
    time.sleep(0.01)
    client.customers.update("x-1", metadata={"tier": "silver"})
    assert sync(client, mirror, overlap=timedelta(0)).changed == 1
    tiers = read_parquet(mirror).customers.set_index("customer_id")["metadata.tier"].to_dict()
    assert tiers == {"x-0": "gold", "x-1": "silver", "x-2": True, "x-3": 7}


def test_a_mirror_belongs_to_one_host(client: Client, tmp_path: Path) -> None:
    client.customers.create(id="h-1")
    sync(client, tmp_path / "mirror")
    with Sandbox() as other, other.client() as elsewhere, pytest.raises(ConfigurationError, match="mirrors"):
        sync(elsewhere, tmp_path / "mirror")
    (tmp_path / "plain").mkdir()
    pd.DataFrame({"customer_id": ["x"]}).to_parquet(tmp_path / "plain" / "customers.parquet")
    with pytest.raises(ConfigurationError, match="not a drframe mirror"):
        sync(client, tmp_path / "plain")


def test_sync_command(client: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client.customers.create(id="c-1")
    key = ["--base-url", client.base_url, "--api-key", "sk_test_sandbox", "--no-progress"]
    assert main(["sync", str(tmp_path / "m"), *key]) == 0
    assert "first sync: 1 fetched" in capsys.readouterr().out
    assert main(["sync", str(tmp_path / "m"), "--full", *key]) == 0
    assert "full sync" in capsys.readouterr().out


def test_sync_counts_what_changed_by_content(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox(seed_customers=60, seed=3) as sandbox:
        client = sandbox.client()
        key = ["--base-url", sandbox.base_url, "--api-key", sandbox.api_key, "--no-progress"]
        mirror = str(tmp_path / "mirror")
        assert main(["sync", mirror, *key]) == 0
        assert "first sync: 60 fetched; 60 added, 0 changed, 0 removed, 0 unchanged" in capsys.readouterr().out
        assert main(["sync", mirror, "--full", *key]) == 0
        assert "60 fetched; 0 added, 0 changed, 0 removed, 60 unchanged" in capsys.readouterr().out

        ids = [str(c["id"]) for c in client.customers.iter_raw()]
        time.sleep(0.01)
        for customer_id in ids[:3]:
            client.customers.update(customer_id, metadata={"segment": "moved"})
        attached = client.tax_identifiers.create("de", "DE123456789")
        client.customers.attach_tax_identifier(ids[3], attached.id)  # a child row counts too
        # The default overlap re-reads every customer updated in the last 10 minutes: all of them here.
        assert main(["sync", mirror, *key]) == 0
        out = capsys.readouterr().out
        assert "incremental" in out and "0 added, 4 changed, 56 unchanged; 60 customers" in out, out

        client.customers.delete(ids[4])
        client.customers.create(id="new-1", email="new@example.com")
        assert main(["sync", mirror, "--full", *key]) == 0
        out = capsys.readouterr().out
        assert "1 added, 0 changed, 1 removed, 59 unchanged; 60 customers" in out, out
