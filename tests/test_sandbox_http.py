"""Every sandbox endpoint and status over real HTTP (plain requests, no client)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from drframe.sandbox import REQUEST_ID_HEADER, Sandbox

from .conftest import auth


def call(sandbox: Sandbox, method: str, path: str, key: str | None = "sk_test_sandbox", **kw: Any) -> requests.Response:
    headers = kw.pop("headers", {})
    if key:
        headers.update(auth(key))
    response = requests.request(method, sandbox.base_url + path, headers=headers, timeout=10, **kw)
    assert response.headers.get(REQUEST_ID_HEADER), "every response carries x-dr-requestid"
    return response


def error(response: requests.Response) -> tuple[str, str, str | None]:
    body = response.json()
    first = body["errors"][0]
    return body["type"], first["code"], first.get("parameter")


def test_create_get_update_delete(sandbox: Sandbox, seed_examples: dict[str, Any]) -> None:
    created = call(sandbox, "POST", "/customers", json=seed_examples["create_request"])
    assert created.status_code == 201
    body = created.json()
    assert body["id"] == "5823594808"
    assert body["shipping"] == seed_examples["create_request"]["shipping"]
    assert body["taxCertificates"] == [seed_examples["create_request"]["taxCertificate"]]
    assert body["liveMode"] is False and body["enabled"] is True and body["requestToBeForgotten"] is False
    got = call(sandbox, "GET", "/customers/5823594808").json()
    assert got == body

    updated = call(sandbox, "POST", "/customers/5823594808",
                   json={"metadata": {"coupon": "", "tier": "gold"}, "locale": "de_DE", "requestToBeForgotten": True})
    assert updated.status_code == 200
    assert updated.json()["metadata"] == {"tier": "gold"}
    assert updated.json()["locale"] == "de_DE"
    assert updated.json()["updatedTime"] >= body["updatedTime"]

    assert call(sandbox, "DELETE", "/customers/5823594808").status_code == 204
    assert call(sandbox, "GET", "/customers/5823594808").status_code == 404
    assert call(sandbox, "DELETE", "/customers/5823594808").status_code == 404


def test_generated_id_and_conflict(sandbox: Sandbox) -> None:
    generated = call(sandbox, "POST", "/customers", json={"email": "a@example.com"}).json()
    assert generated["id"].isdigit()
    taken = call(sandbox, "POST", "/customers", json={"id": generated["id"]})
    assert taken.status_code == 409
    assert error(taken) == ("conflict", "already_exists", "id")
    too_long = call(sandbox, "POST", "/customers", json={"id": "x" * 41})
    assert too_long.status_code == 400 and error(too_long)[2] == "id"
    assert call(sandbox, "POST", "/customers", json={"id": "x" * 40}).status_code == 201


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"locale": "english"}, "locale"),
        ({"type": "company"}, "type"),
        ({"enabled": "perhaps"}, "enabled"),
        ({"unknown": 1}, "unknown"),
        ({"shipping": {"address": {"country": "USA"}}}, "shipping.address.country"),
        ({"shipping": {"email": "nope"}}, "shipping.email"),
        ({"metadata": {f"k{i}": "v" for i in range(21)}}, "metadata"),
        ({"metadata": {"k" * 41: "v"}}, "metadata"),
        ({"metadata": {"k": "v" * 501}}, "metadata"),
    ],
)
def test_validation_errors(sandbox: Sandbox, body: dict[str, Any], parameter: str) -> None:
    response = call(sandbox, "POST", "/customers", json=body)
    assert response.status_code == 400
    err_type, code, param = error(response)
    assert (err_type, code, param) == ("bad_request", "invalid_parameter", parameter)


def test_malformed_json_is_400(sandbox: Sandbox) -> None:
    response = call(sandbox, "POST", "/customers", data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400


def test_auth_accept_and_method_errors(sandbox: Sandbox) -> None:
    assert error(call(sandbox, "GET", "/customers", key=None)) == ("unauthorized", "unauthorized", None)
    assert call(sandbox, "GET", "/customers", key="sk_test_wrong").status_code == 401
    forbidden = call(sandbox, "GET", "/customers", key="pk_test_sandbox")
    assert forbidden.status_code == 403 and error(forbidden)[0] == "forbidden"
    assert call(sandbox, "POST", "/sources", key="pk_test_sandbox", json={"type": "creditCard"}).status_code == 201
    assert call(sandbox, "GET", "/customers", headers={"Accept": "text/html"}).status_code == 406
    assert call(sandbox, "GET", "/customers", headers={"Accept": "application/json"}).status_code == 200
    assert call(sandbox, "GET", "/customers", params={"startingAfter": "missing"}).status_code == 404
    not_allowed = call(sandbox, "PUT", "/customers", json={})
    assert not_allowed.status_code == 405 and error(not_allowed)[0] == "method_not_allowed"


def test_list_pagination_and_filters(sandbox: Sandbox) -> None:
    ids = [f"c{i:03d}" for i in range(25)]
    for i in ids:
        call(sandbox, "POST", "/customers", json={"id": i, "email": f"{i}@example.com"})
    first = call(sandbox, "GET", "/customers").json()
    assert first["hasMore"] is True and len(first["data"]) == 10
    assert [c["id"] for c in first["data"]] == ids[::-1][:10], "newest first"
    seen, after = [], None
    while True:
        params = {"limit": 7, **({"startingAfter": after} if after else {})}
        page = call(sandbox, "GET", "/customers", params=params).json()
        seen += [c["id"] for c in page["data"]]
        if not page["hasMore"]:
            break
        after = page["data"][-1]["id"]
    assert seen == ids[::-1]
    before = call(sandbox, "GET", "/customers", params={"limit": 3, "endingBefore": "c010"}).json()
    assert [c["id"] for c in before["data"]] == ["c013", "c012", "c011"]
    by_ids = call(sandbox, "GET", "/customers", params={"ids": "c001,c002,zzz"}).json()
    assert sorted(c["id"] for c in by_ids["data"]) == ["c001", "c002"]
    by_email = call(sandbox, "GET", "/customers", params={"email": "C005@example.com"}).json()
    assert [c["id"] for c in by_email["data"]] == ["c005"]
    created = call(sandbox, "GET", "/customers/c020").json()["createdTime"]
    newer = call(sandbox, "GET", "/customers", params={"createdTime[gte]": created, "limit": 100}).json()
    assert {c["id"] for c in newer["data"]} >= {"c020", "c024"}
    assert all(c["createdTime"] >= created for c in newer["data"])
    call(sandbox, "POST", "/customers/c003", json={"requestToBeForgotten": True})
    forgotten = call(sandbox, "GET", "/customers", params={"requestToBeForgotten": "true"}).json()
    assert [c["id"] for c in forgotten["data"]] == ["c003"]
    updated = call(sandbox, "GET", "/customers", params={"updatedTime[gt]": created}).json()
    assert "c003" in {c["id"] for c in updated["data"]}
    for bad in ({"limit": 0}, {"limit": 101}, {"createdTime[gte]": "yesterday"},
                {"createdTime[between]": "2020-01-01T00:00:00Z"}):
        assert call(sandbox, "GET", "/customers", params=bad).status_code == 400, bad


def test_sources_attach_detach(sandbox: Sandbox) -> None:
    for cid in ("alice", "bob"):
        call(sandbox, "POST", "/customers", json={"id": cid})
    source = call(sandbox, "POST", "/sources", json={"type": "creditCard", "creditCard": {"brand": "Visa"}}).json()
    assert source["state"] == "chargeable" and source["reusable"] is False
    attached = call(sandbox, "POST", f"/customers/alice/sources/{source['id']}")
    assert attached.status_code == 200 and attached.json()["reusable"] is True
    assert call(sandbox, "POST", f"/customers/alice/sources/{source['id']}").status_code == 200, "re-attach is a no-op"
    alice = call(sandbox, "GET", "/customers/alice").json()
    assert alice["defaultSourceId"] == source["id"] and alice["sources"][0]["customerId"] == "alice"
    elsewhere = call(sandbox, "POST", f"/customers/bob/sources/{source['id']}")
    assert elsewhere.status_code == 409 and error(elsewhere)[0] == "conflict"
    pending = call(sandbox, "POST", "/sources", json={"type": "wireTransfer"}).json()
    assert call(sandbox, "POST", f"/customers/bob/sources/{pending['id']}").status_code == 409
    assert call(sandbox, "DELETE", f"/customers/alice/sources/{source['id']}").status_code == 204
    assert "sources" not in call(sandbox, "GET", "/customers/alice").json()
    assert call(sandbox, "GET", f"/sources/{source['id']}").json()["state"] == "cancelled"
    assert call(sandbox, "POST", f"/customers/bob/sources/{source['id']}").status_code == 409, "cancelled"
    assert call(sandbox, "POST", "/customers/alice/sources/nope").status_code == 404
    assert call(sandbox, "POST", "/customers/nobody/sources/" + source["id"]).status_code == 404
    assert call(sandbox, "POST", "/sources", json={"type": "cash"}).status_code == 400


def test_tax_identifiers_attach_detach(sandbox: Sandbox) -> None:
    for cid in ("alice", "bob"):
        call(sandbox, "POST", "/customers", json={"id": cid})
    bad = call(sandbox, "POST", "/tax-identifiers", json={"type": "it", "value": "IT00121239990xxxx"})
    assert bad.status_code == 400 and error(bad) == ("bad_request", "invalid_parameter", "value")
    tax = call(sandbox, "POST", "/tax-identifiers", json={"type": "de", "value": "DE123456789"})
    assert tax.status_code == 201 and tax.json()["state"] == "verified"
    tax_id = tax.json()["id"]
    assert call(sandbox, "POST", f"/customers/alice/tax-identifiers/{tax_id}").json()["customerId"] == "alice"
    taken = call(sandbox, "POST", f"/customers/bob/tax-identifiers/{tax_id}")
    assert taken.status_code == 409 and error(taken) == ("conflict", "customer_not_updateable", "customerId")
    same_type = call(sandbox, "POST", "/tax-identifiers", json={"type": "de", "value": "DE000000000"}).json()
    assert call(sandbox, "POST", f"/customers/alice/tax-identifiers/{same_type['id']}").status_code == 409
    assert call(sandbox, "DELETE", f"/customers/alice/tax-identifiers/{tax_id}").status_code == 204
    assert call(sandbox, "DELETE", f"/customers/alice/tax-identifiers/{tax_id}").status_code == 404
    assert call(sandbox, "POST", f"/customers/bob/tax-identifiers/{tax_id}").status_code == 200
    assert call(sandbox, "POST", "/customers/bob/tax-identifiers/missing").status_code == 404


def test_persists_across_restarts(tmp_path: Any) -> None:
    db = str(tmp_path / "sandbox.db")
    with Sandbox(db=db) as first:
        call(first, "POST", "/customers", json={"id": "keep-me", "email": "k@example.com"})
    with Sandbox(db=db) as second:
        assert call(second, "GET", "/customers/keep-me").json()["email"] == "k@example.com"


def test_seeding(shared_sandbox: Sandbox) -> None:
    page = call(shared_sandbox, "GET", "/customers", params={"limit": 100}).json()
    assert len(page["data"]) == 100 and page["hasMore"]
    assert any(c.get("sources") for c in page["data"]) and any(c.get("taxIdentifiers") for c in page["data"])


def test_rate_limit_returns_429_with_retry_after() -> None:
    with Sandbox(rate_limit=5) as sandbox:
        statuses = [call(sandbox, "GET", "/customers") for _ in range(12)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, "a burst above 5/s is limited"
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert error(limited[0])[0] == "too_many_requests"


def test_fault_injection_is_seeded_and_drops_after_commit() -> None:
    outcomes: list[list[str]] = []
    for _ in range(2):
        with Sandbox(fault_rate=0.5, seed=3) as sandbox:
            seen = []
            for i in range(40):
                try:
                    response = call(sandbox, "POST", "/customers", json={"id": f"f{i}"})
                    seen.append(str(response.status_code))
                except requests.RequestException:
                    seen.append("drop")
            stored = sandbox.store.count_customers()
        outcomes.append(seen)
        assert {"500", "502", "503", "504", "408", "429", "drop"} & set(seen)
        # Writes behind a 504 or a dropped connection were committed.
        committed = sum(1 for s in seen if s in {"201", "504", "drop"})
        assert stored == committed
    assert outcomes[0] == outcomes[1], "the same seed injects the same faults"


def test_latency_is_added() -> None:
    import time

    with Sandbox(latency_ms=50) as sandbox:
        start = time.perf_counter()
        call(sandbox, "GET", "/customers")
        assert time.perf_counter() - start >= 0.05


def test_unknown_query_parameters_are_rejected(sandbox: Sandbox) -> None:
    assert error(call(sandbox, "GET", "/customers", params={"colour": "red"}))[2] == "colour"
    assert call(sandbox, "GET", "/customers/x", params={"expand": "all"}).status_code == 400
