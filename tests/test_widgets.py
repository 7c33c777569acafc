"""The customer form, headless: set values, click, read what the form shows; real HTTP to the sandbox."""

from __future__ import annotations

import html
import socket
import time

import pandas as pd
import pytest
from ipywidgets import Button

import drframe
from drframe import Client, RetryPolicy, SheetError
from drframe.sandbox import Sandbox
from drframe.testing import generate_customers
from drframe.widgets import PROBLEMS_COLUMN, CustomerFinder, CustomerForm, CustomerGrid


def test_form_validates_inline_previews_the_diff_and_saves(sandbox: Sandbox) -> None:
    client = sandbox.client()
    client.customers.create(id="c1", email="old@example.com", locale="en_US", metadata={"tier": 2, "old": "x"})
    saved: list[dict[str, object]] = []
    form = CustomerForm(client, "c1", on_saved=saved.append)
    assert form.save_button.disabled and "no changes" in form.diff.value

    form.inputs["email"].value = "not an email"
    assert "not a valid email" in form.errors["email"].value
    assert form.save_button.disabled
    form.inputs["shipping.address.country"].value = "usa"
    assert "two-letter" in form.errors["shipping.address.country"].value

    form.inputs["email"].value = "new@example.com"
    form.inputs["shipping.address.country"].value = "US"
    form.inputs["shipping.address.postalCode"].value = "02108"
    form.inputs["locale"].value = "fr_FR"
    form.inputs["enabled"].value = False
    form.metadata_rows[0][1].value = "y"  # "old" -> "y"
    form.add_metadata_button.click()
    form.metadata_rows[-1][0].value = "segment"
    form.metadata_rows[-1][1].value = "vip"
    assert not form.errors["email"].value and not form.save_button.disabled
    assert "new@example.com" in form.diff.value and "02108" in form.diff.value and "tier" not in form.diff.value

    form.save_button.click()
    assert "Saved" in form.status.value and saved
    customer = client.customers.get("c1")
    assert customer.email == "new@example.com" and customer.locale == "fr_FR" and customer.enabled is False
    assert customer.metadata == {"tier": 2, "old": "y", "segment": "vip"}
    assert customer.shipping and customer.shipping.address and customer.shipping.address.postalCode == "02108"
    assert form.save_button.disabled and "no changes" in form.diff.value

    form.metadata_rows[0][0].value = ""  # removing a key sends "" for it
    payload, _ = form.pending()
    assert payload == {"metadata": {"old": ""}}


def test_form_shows_api_errors_instead_of_raising(sandbox: Sandbox) -> None:
    client = sandbox.client(retry=RetryPolicy(max_retries=0))
    client.customers.create(id="c2", email="a@example.com")
    form = CustomerForm(client, "c2")
    client.customers.delete("c2")
    form.inputs["email"].value = "b@example.com"
    form.save_button.click()
    assert "no longer exists (404)" in form.status.value

    missing = CustomerForm(client, "nobody")
    assert "404" in missing.status.value

    with Sandbox(rate_limit=2) as limited:
        fast = limited.client(retry=RetryPolicy(max_retries=0))
        fast.customers.create(id="c3", email="a@example.com")
        busy = CustomerForm(fast, "c3")
        busy.inputs["email"].value = "c@example.com"
        busy.save_button.click()
        assert "rate limiting" in busy.status.value and "(429)" in busy.status.value


def test_form_from_a_frame_row(shared_sandbox: Sandbox) -> None:
    client = shared_sandbox.client()
    frames = client.customers.to_frames()
    form = CustomerForm.from_row(client, frames.customers.iloc[3])
    assert form.customer_id == frames.customers.iloc[3]["customer_id"]
    assert form.inputs["email"].value == (frames.customers.iloc[3]["email"] or "")


def test_form_keeps_values_the_api_no_longer_accepts(sandbox: Sandbox) -> None:
    sandbox.store.insert_many([{"id": "odd", "createdTime": "2024-01-01T00:00:00Z", "locale": "xx_XX",
                                "type": "reseller", "email": "odd@example.com"}])
    form = CustomerForm(sandbox.client(), "odd")
    assert form.inputs["locale"].value == "xx_XX" and form.inputs["type"].value == "reseller"
    assert "no changes" in form.diff.value
    form.inputs["locale"].value = "en_US"
    form.inputs["type"].value = "business"
    assert form.pending()[0] == {"locale": "en_US", "type": "business"}


def test_a_metadata_value_without_a_key_is_flagged_not_dropped(sandbox: Sandbox) -> None:
    client = sandbox.client()
    client.customers.create(id="c1", email="old@example.com")
    form = CustomerForm(client, "c1")
    form.add_metadata_button.click()
    form.metadata_rows[-1][1].value = "orphan value"
    assert "needs a key" in form.errors["metadata"].value and "orphan value" in form.errors["metadata"].value
    assert form.save_button.disabled
    form.metadata_rows[-1][0].value = "note"
    assert not form.errors["metadata"].value and not form.save_button.disabled
    form.save_button.click()
    assert client.customers.get("c1").metadata == {"note": "orphan value"}


# -- the finder ---------------------------------------------------------------------------------------------------

def test_finder_searches_by_email_ids_and_query_and_opens_the_form(sandbox: Sandbox) -> None:
    client = sandbox.client()
    client.customers.create(id="f1", email="shared@example.com", locale="fr_FR")
    client.customers.create(id="f2", email="shared@example.com", locale="de_DE")
    client.customers.create(id="f3", email="alone@example.com", locale="fr_FR")
    frames = client.customers.to_frames()
    finder = CustomerFinder(client, frames)

    finder.search("alone@example.com")  # one match: its form opens at once
    assert "1 match" in finder.status.value and finder.form is not None and finder.form.customer_id == "f3"

    finder.search("shared@example.com")  # several: a table, and Open picks one
    assert "2 matches" in finder.status.value and finder.form is None
    assert set(finder.matches["customer_id"]) == {"f1", "f2"} and len(finder.open_buttons) == 2
    finder.open_buttons[[b.tooltip for b in finder.open_buttons].index("f2")].click()
    assert finder.form is not None and finder.form.customer_id == "f2"
    assert finder.form_box.children == (finder.form.widget,)
    finder.form.inputs["locale"].value = "it_IT"
    finder.form.save_button.click()
    assert client.customers.get("f2").locale == "it_IT"

    finder.search("f1, f3 gone")  # ids: the ones the API has
    assert list(finder.matches["customer_id"]) == ["f1", "f3"]
    finder.search("locale == 'fr_FR'")  # a query on the frame held: no call
    assert set(finder.matches["customer_id"]) == {"f1", "f3"}
    finder.search("nobody@example.com")
    assert "No customer matches" in finder.status.value and not finder.table.children
    finder.search("`shipping.address.country` = 'DE'")
    assert "Not a query pandas can run" in finder.status.value and "backticks" in finder.status.value
    finder.search("bad/id")
    assert "cannot contain '/'" in html.unescape(finder.status.value)


def test_finder_shows_401_429_and_network_failures(sandbox: Sandbox) -> None:
    wrong_key = Client(api_key="sk_test_wrong", base_url=sandbox.base_url, retry=None)
    finder = CustomerFinder(wrong_key)
    finder.search("a@example.com")
    assert "refused the key (401)" in finder.status.value

    with Sandbox(rate_limit=1) as limited:
        busy = limited.client(retry=RetryPolicy(max_retries=0))
        busy.customers.create(id="r1", email="a@example.com")
        finder = CustomerFinder(busy)
        for _ in range(3):
            finder.search("r1" if finder.text.value != "r1" else "a@example.com")
        assert "rate limiting" in finder.status.value and "(429)" in finder.status.value

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    offline = Client(api_key="sk_test_x", base_url=f"http://127.0.0.1:{port}", retry=None)
    finder = CustomerFinder(offline)
    finder.search("a@example.com")
    assert "Could not reach the API" in finder.status.value and "connection refused" in finder.status.value


def test_form_by_email_opens_one_or_offers_a_choice(sandbox: Sandbox) -> None:
    client = sandbox.client()
    client.customers.create(id="e1", email="one@example.com")
    client.customers.create(id="e2", email="two@example.com")
    client.customers.create(id="e3", email="two@example.com")
    form = CustomerForm(client, email="one@example.com")
    assert form.customer_id == "e1" and form.inputs["email"].value == "one@example.com"

    several = CustomerForm(client, email="two@example.com")
    assert several.choice is not None and not several.inputs
    assert {value for _, value in several.choice.options} == {"e2", "e3"}
    several.choice.value = "e3"
    next(c for c in several.widget.children[2].children if isinstance(c, Button)).click()
    assert several.customer_id == "e3" and several.inputs["email"].value == "two@example.com"

    none = CustomerForm(client, email="none@example.com")
    assert "No customer has the email none@example.com" in none.status.value
    with pytest.raises(TypeError, match="customer_id or an email"):
        CustomerForm(client)


# -- the grid -----------------------------------------------------------------------------------------------------

def test_grid_marks_invalid_cells_with_the_bulk_message_and_plans_only_the_edits(sandbox: Sandbox) -> None:
    client = sandbox.client()
    for n in range(4):
        client.customers.create(id=f"g{n}", email=f"g{n}@example.com", locale="en_US", enabled=True)
    frames = client.customers.to_frames()
    grid = CustomerGrid(frames, columns=["email", "locale", "enabled", "createdTime"], client=client)
    row = {str(c): i for i, c in enumerate(frames.customers["customer_id"])}

    grid.edit(row["g0"], "email", "not an email")
    grid.edit(row["g1"], "locale", "fr_FR")
    grid.edit(row["g2"], "enabled", "maybe")
    grid.edit(row["g3"], "createdTime", "2020-01-01")  # read-only: undone
    assert "createdTime is read-only" in grid.status.value
    assert grid.grid.get_cell_value_by_index("createdTime", row["g3"]) == grid._original.at[row["g3"], "createdTime"]
    assert grid.pending() == {"rows": 3, "fields": 1, "invalid cells": 2}
    assert "3 row(s) edited, 1 field change(s)" in grid.summary.value and "2 invalid cell(s)" in grid.summary.value
    assert "email: " in grid.grid.get_cell_value_by_index(PROBLEMS_COLUMN, row["g0"])

    # The same rule and message as the same cell in a sheet row.
    sheet = drframe.bulk.plan(pd.DataFrame({"customer_id": ["g0", "g2"], "email": ["not an email", ""],
                                            "enabled": ["", "maybe"]}), client)
    assert {(e.column, e.message) for r in grid.problems.values() for e in r} == \
        set(zip(sheet.errors["column"], sheet.errors["message"], strict=True))
    assert client.customers.get("g1").locale == "en_US"  # edits never call the API

    grid.edit(row["g0"], "email", "g0@example.com")  # back to what it was: no longer an edit
    assert grid.pending() == {"rows": 2, "fields": 1, "invalid cells": 1}
    assert grid.grid.get_cell_value_by_index(PROBLEMS_COLUMN, row["g0"]) == ""
    grid.edit(row["g0"], "email", "")  # an emptied cell clears the field, as <clear> does in a sheet
    assert grid.edits_frame().set_index("customer_id").loc["g0", "email"] == "<clear>"
    grid.edit(row["g0"], "email", "g0@example.com")

    plan = grid.plan()
    assert isinstance(plan, drframe.bulk.Plan)
    assert plan.counts == {"update": 1, "invalid": 1}
    assert list(plan.changes[["id", "field", "before", "after"]].itertuples(index=False, name=None)) == [
        ("g1", "locale", "en_US", "fr_FR")]
    result = grid.apply()  # the invalid cell blocks nothing else
    assert result is not None and result.counts["applied"] == 1 and result.counts["invalid"] == 1
    assert client.customers.get("g1").locale == "fr_FR" and client.customers.get("g2").enabled is True
    assert grid.pending() == {"rows": 1, "fields": 0, "invalid cells": 1}  # the applied row is the new start
    grid.edit(row["g1"], "locale", "de_DE")
    assert grid.changes[row["g1"]] == [("locale", "fr_FR", "de_DE")]


def test_grid_refuses_unknown_columns_with_the_closest_name(shared_sandbox: Sandbox) -> None:
    client = shared_sandbox.client()
    with pytest.raises(SheetError, match="did you mean 'email'"):
        CustomerGrid(client, columns=["emial"])


def test_grid_of_20000_rows_builds_quickly_and_checks_an_edit_without_scanning() -> None:
    frames = drframe.to_frames(generate_customers(20_000))
    started = time.perf_counter()
    grid = CustomerGrid(frames)  # no client: editing needs none
    built = time.perf_counter() - started
    started = time.perf_counter()
    for n in range(50):
        grid.edit(n * 400, "email", f"new.{n}@example.com" if n % 2 else "not an email")
    per_edit = (time.perf_counter() - started) / 50
    assert grid.pending() == {"rows": 50, "fields": 25, "invalid cells": 25}
    assert built < 15 and per_edit < 0.2, (built, per_edit)
