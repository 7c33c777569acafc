"""The client against the sandbox over real HTTP: round trips, errors, retries, rate limits, secrecy."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

import drframe
from drframe import Client, RetryPolicy
from drframe._api._retry import Safety, parse_retry_after
from drframe.sandbox import Sandbox


def fast_retry(max_retries: int = 8) -> RetryPolicy:
    """Retries with short waits: injected 429s say Retry-After 1 s, which this caps (the cap itself is tested)."""
    return RetryPolicy(max_retries=max_retries, backoff_base=0.01, backoff_max=0.05, max_retry_after=0.05)


def test_round_trips_every_seed_example(client: Client, seed_examples: dict[str, Any]) -> None:
    request = seed_examples["create_request"]
    created = client.customers.create(request)
    for key in ("id", "email", "shipping", "defaultSourceId", "metadata", "locale", "type", "enabled"):
        assert created.to_api()[key] == request[key]
    assert created.to_api()["taxCertificates"] == [request["taxCertificate"]]
    assert client.customers.get(created.id).to_api() == created.to_api()

    update = seed_examples["update_request"]
    updated = client.customers.update(created.id, update).to_api()
    for key in ("email", "shipping", "requestToBeForgotten", "type", "metadata", "locale", "enabled"):
        assert updated[key] == update[key]

    source = client.sources.create(type="creditCard", creditCard={"lastFourDigits": "3119", "brand": "Visa"})
    attached = client.customers.attach_source(created.id, source.id)
    assert attached.reusable is True and attached.customerId == created.id
    tax = client.tax_identifiers.create("de", "DE123456789")
    assert client.customers.attach_tax_identifier(created.id, tax.id).customerId == created.id
    full = client.customers.get(created.id)
    assert [s.id for s in full.sources or []] == [source.id]
    assert [t.id for t in full.taxIdentifiers or []] == [tax.id]
    client.customers.detach_tax_identifier(created.id, tax.id)
    client.customers.detach_source(created.id, source.id)
    client.customers.delete(created.id)
    with pytest.raises(drframe.NotFound):
        client.customers.get(created.id)


def test_response_examples_parse_losslessly(seed_examples: dict[str, Any]) -> None:
    for name in ("create_response", "get_response", "update_response"):
        assert drframe._core._models.Customer.model_validate(seed_examples[name]).to_api() == seed_examples[name]
    source = seed_examples["attach_source_response"]
    assert drframe._core._models.Source.model_validate(source).to_api() == source
    assert "clientSecret" not in repr(drframe._core._models.Source.model_validate(source))


def test_errors_carry_status_type_code_parameter_and_request_id(client: Client) -> None:
    client.customers.create(id="dup")
    with pytest.raises(drframe.Conflict) as conflict:
        client.customers.create(id="dup")
    err = conflict.value
    assert (err.status, err.type, err.code, err.parameter) == (409, "conflict", "already_exists", "id")
    assert err.request_id
    with pytest.raises(drframe.BadRequest) as bad:
        client.customers.create({"email": "nope"}, validate=False)
    assert bad.value.parameter == "email"
    with pytest.raises(drframe.InvalidRequest) as invalid:
        client.customers.update("dup", locale="xx_XX", email="bad")
    assert [p for p, _, _ in invalid.value.errors] == ["email", "locale"]
    assert isinstance(err, drframe.APIError) and isinstance(err, drframe.DRError)


def test_pages_and_batch_get(shared_sandbox: Sandbox) -> None:
    client = shared_sandbox.client()
    everyone = list(client.customers.iter(page_size=25))
    assert len(everyone) == 120
    created = [c.createdTime for c in everyone]
    assert created == sorted(created, reverse=True)
    page = client.customers.list(limit=5)
    assert len(page) == 5 and page.has_more
    wanted = [c.id for c in everyone[::3]] + ["missing"]
    found = client.customers.get_many(wanted)
    assert set(found) == set(wanted) - {"missing"}
    assert client.stats["requests"] >= 5 + 1 + 1


def test_configuration_from_environment(monkeypatch: pytest.MonkeyPatch, shared_sandbox: Sandbox) -> None:
    monkeypatch.setenv("DR_API_KEY", shared_sandbox.api_key)
    monkeypatch.setenv("DR_BASE_URL", shared_sandbox.base_url)
    assert len(Client().customers.list(limit=2)) == 2
    monkeypatch.delenv("DR_API_KEY")
    with pytest.raises(drframe.ConfigurationError):
        Client()
    with pytest.raises(drframe.Unauthorized):
        Client(api_key="sk_test_wrong", base_url=shared_sandbox.base_url).customers.list()


def test_key_never_shown(shared_sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    key = shared_sandbox.api_key
    client = shared_sandbox.client()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(drframe.NotFound) as err:
        client.customers.get("missing")
    client.customers.list(limit=1)
    assert key not in repr(client) and key not in str(client.__dict__.get("base_url"))
    assert key not in str(err.value) and key not in repr(err.value)
    assert key not in caplog.text


def test_retries_survive_faults_without_duplicates() -> None:
    with Sandbox(fault_rate=0.3, seed=5) as sandbox:
        client = sandbox.client(retry=fast_retry())
        for i in range(40):
            client.customers.create(id=f"r{i}", email=f"r{i}@example.com", metadata={"n": str(i)})
        for i in range(40):
            client.customers.update(f"r{i}", metadata={"n": str(i + 1)})
        for i in range(0, 40, 2):
            client.customers.delete(f"r{i}")
        assert sandbox.store.count_customers() == 20
        assert all(sandbox.store.get_customer(f"r{i}")["metadata"]["n"] == str(i + 1) for i in range(1, 40, 2))
        assert client.stats["retries"] > 0
        faults = {k: v for k, v in sandbox.config.stats.items() if k.startswith("fault_")}
        assert faults.get("fault_drop") and faults.get("fault_504"), faults


def test_unsafe_creates_are_not_retried_blindly() -> None:
    with Sandbox(fault_rate=1.0, seed=1) as sandbox:
        client = sandbox.client(retry=fast_retry(max_retries=3))
        outcomes = []
        for _ in range(15):
            try:
                client.customers.create(email="x@example.com")
                outcomes.append("ok")
            except (drframe.APIError, drframe.ConnectionFailed) as exc:
                outcomes.append(type(exc).__name__)
        # Each call may have committed at most once: never two customers from one call.
        assert sandbox.store.count_customers() <= len(outcomes)
        assert "ok" not in outcomes


def test_client_rate_limit_avoids_429_and_paces() -> None:
    with Sandbox(rate_limit=20) as sandbox:
        client = sandbox.client(rate_limit=20)
        start = time.perf_counter()
        for _ in range(30):
            client.customers.list(limit=1)
        elapsed = time.perf_counter() - start
    assert client.stats["throttled"] == 0
    assert elapsed >= (29 - 0.1 * 20) / 20 * 0.95, "evenly spaced after the 0.1 s a limiter may catch up at the start"


def test_retry_after_is_honoured() -> None:
    with Sandbox(rate_limit=2) as sandbox:
        client = sandbox.client(retry=RetryPolicy(max_retries=3, backoff_base=0.01))
        start = time.perf_counter()
        for _ in range(4):
            client.customers.list(limit=1)
        assert client.stats["throttled"] >= 1
        assert time.perf_counter() - start >= 1.0, "waited for Retry-After"


def test_retry_policy_matrix() -> None:
    policy = RetryPolicy(max_retries=2)
    assert policy.should_retry(0, Safety.IDEMPOTENT, status=503)
    assert not policy.should_retry(0, Safety.UNSAFE, status=503)
    assert policy.should_retry(0, Safety.UNSAFE, status=429)
    assert policy.should_retry(0, Safety.UNSAFE, status=None, sent=False)
    assert not policy.should_retry(0, Safety.UNSAFE, status=None, sent=True)
    assert not policy.should_retry(0, Safety.IDEMPOTENT, status=400)
    assert not policy.should_retry(2, Safety.IDEMPOTENT, status=503)
    assert policy.delay(0, retry_after=3) >= 3
    assert RetryPolicy(max_retry_after=1.0).delay(0, retry_after=30) <= 1.0, "Retry-After is capped"
    assert parse_retry_after("2") == 2 and parse_retry_after(None) is None and parse_retry_after("soon") is None


def test_tax_identifiers_create_get_list_delete(client: Client) -> None:
    client.customers.create(id="alice")
    client.customers.create(id="bob")
    made = [client.tax_identifiers.create(t, v) for t, v in (("de", "DE123456789"), ("be", "BE1234567890"),
                                                            ("dk", "DK12345678"))]
    assert [t.state for t in made] == ["verified", "verified", "pending"]
    assert client.tax_identifiers.get(made[0].id).customerId is None
    client.customers.attach_tax_identifier("alice", made[0].id)
    assert client.tax_identifiers.get(made[0].id).customerId == "alice"
    assert [t.id for t in client.tax_identifiers.list(customer_id="alice")] == [made[0].id]
    assert [t.id for t in client.tax_identifiers.iter(page_size=1)] == [t.id for t in made[::-1]]
    assert [t.id for t in client.tax_identifiers.list(state="pending")] == [made[2].id]
    page = client.tax_identifiers.list_raw(limit=1, ending_before=made[0].id)
    assert [t["id"] for t in page["data"]] == [made[1].id] and page["hasMore"] is True

    # The API's only detach is DELETE /tax-identifiers/{id}: detach_tax_identifier checks the owner, then deletes.
    with pytest.raises(drframe.NotFound):
        client.customers.detach_tax_identifier("bob", made[0].id)
    assert client.tax_identifiers.get(made[0].id).customerId == "alice", "nothing was deleted"
    client.customers.detach_tax_identifier("alice", made[0].id)
    assert client.customers.get("alice").taxIdentifiers is None
    with pytest.raises(drframe.NotFound):
        client.tax_identifiers.get(made[0].id)
    client.tax_identifiers.delete(made[1].id)
    with pytest.raises(drframe.NotFound):
        client.tax_identifiers.delete(made[1].id)
    with pytest.raises(drframe.InvalidRequest) as invalid:
        client.tax_identifiers.get("../customers")
    assert invalid.value.errors[0][0] == "id"
    with pytest.raises(drframe.InvalidRequest) as missing:
        client.tax_identifiers.create("de", "")
    assert missing.value.errors == [("value", "invalid_string_empty", missing.value.errors[0][2])]


def test_environment_is_read_once_and_netrc_never_replaces_the_key(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any, shared_sandbox: Sandbox) -> None:
    # A ~/.netrc login for the host would make requests send Basic auth instead of the API key.
    host = shared_sandbox.base_url.split("//")[1].split(":")[0]
    (tmp_path / ".netrc").write_text(f"machine {host} login someone password secret\n")
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    with Client(shared_sandbox.api_key, shared_sandbox.base_url) as client:
        assert client.customers.list_raw(limit=1)["data"] is not None
    # Proxies and the CA bundle are taken from the environment, for the client's host, when it is made.
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    proxied = Client("sk_test_x", "https://api.digitalriver.com")
    assert proxied._session.proxies.get("https") == "http://proxy.example:3128"
    assert proxied._session.verify == str(tmp_path / "ca.pem")
    assert not Client("sk_test_x", "https://internal.example")._session.proxies.get("https")
