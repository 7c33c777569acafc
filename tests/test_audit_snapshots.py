"""`audit --compare` reads every kind of snapshot: xlsx file, CSV folder, Parquet folder, sync mirror."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from drframe.report import snapshot_changes
from drframe.sandbox import Sandbox

KINDS = ("xlsx", "csv", "parquet", "mirror")


def drframe(sandbox: Sandbox | None, *args: str) -> subprocess.CompletedProcess[str]:
    target = ["--base-url", sandbox.base_url, "--api-key", sandbox.api_key, "--no-progress"] if sandbox else []
    run = subprocess.run([sys.executable, "-m", "drframe.cli", *args, *target], capture_output=True, text=True,
                         timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def snapshots(sandbox: Sandbox, folder: Path) -> dict[str, Path]:
    """The sandbox's state written four ways, by the commands a user runs."""
    paths = {"xlsx": folder / "export.xlsx", "csv": folder / "csv", "parquet": folder / "parquet",
             "mirror": folder / "mirror"}
    drframe(sandbox, "export", "--out", str(paths["xlsx"]))
    drframe(sandbox, "export", "--out", str(paths["csv"]), "--format", "csv")
    drframe(sandbox, "export", "--out", str(paths["parquet"]), "--format", "parquet")
    drframe(sandbox, "sync", str(paths["mirror"]))
    return paths


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], dict[str, Path], set[tuple[str, ...]]]:
    """Snapshots before and after a source attached, one detached, a tax identifier added and one removed, and a
    field changed; and those changes, as the audit must report them."""
    root = tmp_path_factory.mktemp("snapshots")
    with Sandbox(seed_customers=60, seed=11) as sandbox:
        client = sandbox.client()
        before = snapshots(sandbox, root / "before")
        customers = list(client.customers.iter())
        with_source = next(c for c in customers if c.sources)
        with_tax = next(c for c in customers if c.taxIdentifiers)
        plain = next(c for c in customers if not c.taxIdentifiers and c.id != with_source.id)
        other = next(c for c in customers if c.id not in {with_source.id, with_tax.id, plain.id})
        card = client.sources.create(type="creditCard", creditCard={"lastFourDigits": "1111", "brand": "Visa"})
        client.customers.attach_source(other.id, card.id)
        detached = with_source.sources[0].id
        client.customers.detach_source(with_source.id, detached)
        tax = client.tax_identifiers.create("de", "DE123456789")
        client.customers.attach_tax_identifier(plain.id, tax.id)
        gone = with_tax.taxIdentifiers[0]
        client.tax_identifiers.delete(gone.id)
        new_locale = "fr_FR" if other.locale != "fr_FR" else "de_DE"
        client.customers.update(other.id, locale=new_locale)
        after = snapshots(sandbox, root / "after")
        default_now = client.customers.get(with_source.id).defaultSourceId
    expected = {
        (other.id, "source_id", None, card.id),
        (with_source.id, "source_id", detached, None),
        (plain.id, "tax_identifier", None, "de DE123456789"),
        (with_tax.id, "tax_identifier", f"{gone.type} {gone.value}", None),
        (other.id, "locale", other.locale, new_locale),
    }
    if default_now != with_source.defaultSourceId:  # detaching the default source clears it
        expected.add((with_source.id, "defaultSourceId", with_source.defaultSourceId, default_now))
    return before, after, expected


def found(before: Path, after: Path) -> set[tuple[str, ...]]:
    changes = snapshot_changes(before, after)["changes"]
    return {tuple(None if pd.isna(v) else v for v in row)
            for row in changes[["customer_id", "field", "before", "after"]].itertuples(index=False)}


@pytest.mark.parametrize(("first", "second"), list(itertools.combinations(KINDS, 2)))
def test_the_same_state_in_two_kinds_shows_no_change(states: tuple[dict[str, Path], dict[str, Path], set[tuple[str, ...]]],
                                                     first: str, second: str) -> None:
    before, _, _ = states
    assert snapshot_changes(before[first], before[second])["changes"].empty
    assert snapshot_changes(before[second], before[first])["changes"].empty


@pytest.mark.parametrize(("first", "second"), [(k, k) for k in KINDS] + [("xlsx", "parquet"), ("csv", "mirror"),
                                                                       ("mirror", "xlsx"), ("parquet", "csv")])
def test_each_change_is_reported(states: tuple[dict[str, Path], dict[str, Path], set[tuple[str, ...]]],
                                 first: str, second: str) -> None:
    before, after, expected = states
    assert found(before[first], after[second]) == expected


def test_audit_compare_command_on_a_csv_export_and_a_mirror(
        states: tuple[dict[str, Path], dict[str, Path], set[tuple[str, ...]]], tmp_path: Path) -> None:
    before, after, _ = states
    run = drframe(None, "audit", "--compare", str(before["csv"]), str(after["mirror"]),
                  "--out", str(tmp_path / "changes.xlsx"))
    assert "Traceback" not in run.stderr and (tmp_path / "changes.xlsx").exists()


def test_a_tax_identifier_state_change_is_reported(shared_sandbox: Sandbox) -> None:
    before = shared_sandbox.client().customers.to_frames()
    after = shared_sandbox.client().customers.to_frames()
    row = after.tax_identifiers.index[0]
    kind, value, customer_id, state = after.tax_identifiers.loc[row, ["type", "value", "customer_id", "state"]]
    after.tax_identifiers.loc[row, "state"] = "not_valid" if state != "not_valid" else "verified"
    changes = snapshot_changes(before, after)["changes"]
    assert changes[["customer_id", "field", "before"]].values.tolist() == [
        [customer_id, f"tax_identifiers[{kind} {value}].state", state]]
