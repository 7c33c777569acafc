"""The customer form, headless: set values, click, read what the form shows; real HTTP to the sandbox."""

from __future__ import annotations

from drframe import RetryPolicy
from drframe.sandbox import Sandbox
from drframe.widgets import CustomerForm


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
