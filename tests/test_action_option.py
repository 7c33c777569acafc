"""`drframe apply --action` / `plan(action=)`: a CRM import of new customers never silently updates an existing one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from csvfiles import write_rows

from drframe import Client, SheetError, bulk
from drframe.sandbox import Sandbox

HEADER = ["customer_id", "email", "shipping.name", "shipping.address.line1", "shipping.address.city",
          "shipping.address.postalCode", "shipping.address.country"]
#: 1001 is already a customer (the CRM number matches); 1002 is new.
CRM = [["1001", "new-owner@example.com", "Jo New", "1 New St", "Boston", "02108", "US"],
       ["1002", "bo@example.com", "Bo Two", "2 Elm St", "Boston", "02110", "US"]]
EXISTING = {"id": "1001", "email": "kept@example.com",
            "shipping": {"name": "Kept Name", "address": {"line1": "9 Old Rd", "city": "Salem", "postalCode": "01970",
                                                          "country": "US"}}}


def _drframe(sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DR_BASE_URL": sandbox.base_url, "DR_API_KEY": sandbox.api_key}
    return subprocess.run([sys.executable, "-m", "drframe.cli", *args, "--no-progress"], env=env,
                          capture_output=True, text=True, timeout=120)


def test_create_only_import_leaves_an_existing_customer_untouched(tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        client = sandbox.client(retry=None)
        client.customers.create(EXISTING)
        kept = client.customers.get("1001").to_api()
        path = write_rows(tmp_path / "crm.csv", HEADER, CRM)

        upsert = _drframe(sandbox, "apply", str(path), "--dry-run")
        assert upsert.returncode == 0, upsert.stderr
        assert "upsert: 1 row matches an existing customer and will update it (1001)" in upsert.stdout
        assert "create 1, update 1" in upsert.stdout

        dry = _drframe(sandbox, "apply", str(path), "--action", "create", "--dry-run")
        assert dry.returncode == 1, "a planned failure is a failed row, also in a dry run"
        assert "create 1, failed 1" in dry.stdout and "upsert:" not in dry.stdout
        assert "row 2, column customer_id ('1001'): already exists, and this create would change it (email " \
               "'kept@example.com' -> 'new-owner@example.com'" in dry.stderr
        assert "409 already_exists" in dry.stderr

        run = _drframe(sandbox, "apply", str(path), "--action", "create")
        assert run.returncode == 1, run.stdout + run.stderr
        assert "applied 1" in run.stdout and "failed 1" in run.stdout
        assert client.customers.get("1001").to_api() == kept, "the existing customer is not touched"
        assert client.customers.get("1002").email == "bo@example.com"
        results = pd.read_csv(tmp_path / "crm.results.csv", dtype=str)
        assert results.set_index("row")["status"].to_dict() == {"2": "failed", "3": "applied"}
        assert "already exists" in results.loc[0, "error"]

        again = _drframe(sandbox, "apply", str(path), "--action", "create")
        assert again.returncode == 1
        assert "unchanged 1" in again.stdout and "failed 1" in again.stdout
        assert client.customers.get("1001").to_api() == kept


def test_an_action_column_naming_another_action_refuses_the_option(tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        client = sandbox.client(retry=None)
        client.customers.create(EXISTING)
        path = write_rows(tmp_path / "mixed.csv", ["action", *HEADER], [["", *CRM[1]], ["update", *CRM[0]]])
        run = _drframe(sandbox, "apply", str(path), "--action", "create")
        assert run.returncode == 2
        assert "the action 'create' was given for the rows without one, but the 'action' column names another " \
               "in row 3 ('update')" in run.stderr and "Nothing was sent" in run.stderr
        assert client.customers.get("1001").email == "kept@example.com"
        assert client.customers.list_raw(ids=["1002"])["data"] == [], "nothing was sent"
        same = write_rows(tmp_path / "same.csv", ["action", *HEADER], [["", *CRM[1]], ["Create", *CRM[0]]])
        assert _drframe(sandbox, "apply", str(same), "--action", "create", "--dry-run").returncode == 1, \
            "an action cell naming the same action is no conflict (row 3 fails: 1001 exists)"


def test_a_create_never_attaches_a_tax_number_to_an_existing_customer(client: Client, tmp_path: Path) -> None:
    client.customers.create(id="2001", email="same@example.com")
    path = write_rows(tmp_path / "vat.csv", ["customer_id", "email", "tax_identifier.type", "tax_identifier.value"],
                      [["2001", "same@example.com", "de", "DE123456789"]])
    plan = bulk.plan(path, client, action="create")
    assert plan.counts == {"failed": 1}
    assert "tax_identifier None -> 'de DE123456789'" in plan.errors.loc[0, "message"]
    before = client.stats["requests"]
    assert not plan.apply(progress=False).ok
    assert client.stats["requests"] == before, "nothing is sent for it"
    assert client.customers.get("2001").taxIdentifiers in (None, [])
    assert client.customers.list_raw()["data"][0]["id"] == "2001", "no other customer was created either"


def test_a_customer_created_after_the_plan_fails_the_create_with_the_api_409(client: Client, tmp_path: Path) -> None:
    path = write_rows(tmp_path / "crm.csv", HEADER, CRM[1:])
    plan = bulk.plan(path, client, action="create")
    assert plan.counts == {"create": 1} and not plan.upsert_note
    client.customers.create(id="1002", email="first@example.com")  # someone else was quicker
    result = plan.apply(progress=False)
    row = result.results.iloc[0]
    assert row["status"] == "failed" and "HTTP 409 already_exists" in row["error"]
    assert client.customers.get("1002").email == "first@example.com"


def test_plan_action_checks_its_value_and_upsert_is_the_default(client: Client, tmp_path: Path) -> None:
    client.customers.create(EXISTING)
    path = write_rows(tmp_path / "crm.csv", HEADER, CRM)
    with pytest.raises(ValueError, match="unknown action 'crate'"):
        bulk.plan(path, client, action="crate")
    plan = bulk.plan(path, client)
    assert [r.customer_id for r in plan.upsert_updates] == ["1001"]
    assert "upsert: 1 row matches an existing customer" in repr(plan)
    updates = bulk.plan(path, client, action="update")
    assert updates.counts == {"update": 1, "failed": 1} and not updates.upsert_note
    with pytest.raises(SheetError, match="names another in row 2"):
        bulk.plan(write_rows(tmp_path / "a.csv", ["action", "customer_id"], [["delete", "1001"]]), client,
                  action="create")
