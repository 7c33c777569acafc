"""Every sandbox endpoint and status over real HTTP (plain requests, no client)."""

from __future__ import annotations

import http.client
import json
import queue
import re
import subprocess
import sys
import threading
from typing import Any

import pytest
import requests

from drframe.sandbox import REQUEST_ID_HEADER, Sandbox
from drframe.sandbox._defaults import DEFAULTS

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


CERTIFICATE = {"companyName": "Acme", "taxAuthority": "MN", "startDate": "2024-01-01T00:00:00Z",
               "endDate": "2025-01-01T00:00:00Z", "fileId": "file_1"}


@pytest.mark.parametrize(
    ("body", "parameter", "code"),
    [
        ({"email": "not-an-email"}, "email", "email_invalid"),
        ({"locale": "english"}, "locale", "invalid_parameter"),
        ({"type": "company"}, "type", "invalid_parameter"),
        ({"enabled": "perhaps"}, "enabled", "invalid_boolean"),
        ({"unknown": 1}, "unknown", "unknown_parameter"),
        ({"shipping": {"address": {"country": "USA"}}}, "shipping.address.country", "invalid_parameter"),
        ({"shipping": {"email": "nope", "address": {"country": "US"}}}, "shipping.email", "email_invalid"),
        ({"metadata": {f"k{i}": "v" for i in range(21)}}, "metadata", "too_many_metadata_pairs"),
        ({"metadata": {"k" * 41: "v"}}, "metadata", "invalid_metadata_key"),
        ({"metadata": {"k": "v" * 501}}, "metadata", "invalid_metadata_value"),
        ({"metadata": {"k": 1.5}}, "metadata", "invalid_metadata_value"),
        ({"id": "a/b"}, "id", "invalid_parameter"),
        ({"defaultSourceId": "not-a-source-id"}, "defaultSourceId", "invalid_parameter"),
        # Required fields and nulls, per the vendor's CustomerRequest, Shipping, Address and TaxCertificate.
        ({"shipping": {"address": {"line1": "1 Main St"}}}, "shipping.address.country", "missing_parameter"),
        ({"shipping": {"address": {"country": None}}}, "shipping.address.country", "invalid_empty"),
        ({"shipping": {"address": {"country": "US", "line2": None}}}, "shipping.address.line2", "invalid_empty"),
        ({"shipping": None}, "shipping", "invalid_empty"),
        ({"email": None}, "email", "invalid_empty"),
        ({"locale": None}, "locale", "invalid_empty"),
        ({"enabled": None}, "enabled", "invalid_empty"),
        ({"taxCertificate": {"companyName": "Acme"}}, "taxCertificate.taxAuthority", "missing_parameter"),
        ({"taxCertificate": {**CERTIFICATE, "fileId": None}}, "taxCertificate.fileId", "invalid_empty"),
    ],
)
def test_validation_errors(sandbox: Sandbox, body: dict[str, Any], parameter: str, code: str) -> None:
    response = call(sandbox, "POST", "/customers", json=body)
    assert response.status_code == 400
    assert error(response) == ("bad_request", code, parameter)
    assert sandbox.store.count_customers() == 0


def test_nullable_fields_and_complete_objects_are_accepted(sandbox: Sandbox) -> None:
    body = {"shipping": {"address": {"country": "US", "line1": None, "city": None, "postalCode": None,
                                     "state": None},
                         "name": None, "phone": None, "email": None, "organization": None,
                         "additionalAddressInfo": {"neighborhood": None, "division": None, "phoneticName": None}},
            "taxCertificate": CERTIFICATE}
    created = call(sandbox, "POST", "/customers", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["taxCertificates"] == [CERTIFICATE]
    update = call(sandbox, "POST", f"/customers/{created.json()['id']}", json={"requestToBeForgotten": None})
    assert error(update) == ("bad_request", "invalid_empty", "requestToBeForgotten")


def test_malformed_json_is_400(sandbox: Sandbox) -> None:
    response = call(sandbox, "POST", "/customers", data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert error(response) == ("bad_request", "invalid_format", "body")


def test_auth_accept_and_method_errors(sandbox: Sandbox) -> None:
    assert error(call(sandbox, "GET", "/customers", key=None)) == ("unauthorized", "unauthorized", None)
    assert call(sandbox, "GET", "/customers", key="sk_test_wrong").status_code == 401
    forbidden = call(sandbox, "GET", "/customers", key="pk_test_sandbox")
    assert forbidden.status_code == 403 and error(forbidden)[0] == "forbidden"
    assert call(sandbox, "POST", "/sources", key="pk_test_sandbox", json={"type": "creditCard"}).status_code == 201
    assert call(sandbox, "GET", "/customers", headers={"Accept": "text/html"}).status_code == 406
    assert call(sandbox, "GET", "/customers", headers={"Accept": "application/json"}).status_code == 200
    # The vendor spec documents no 404 for GET /customers: an unknown cursor is a bad parameter.
    unknown_cursor = call(sandbox, "GET", "/customers", params={"startingAfter": "missing"})
    assert error(unknown_cursor) == ("bad_request", "not_found", "startingAfter")
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
    both = call(sandbox, "GET", "/customers", params={"limit": 3, "endingBefore": "c010", "startingAfter": "c020"})
    assert both.json() == before, "given both cursors, endingBefore wins"
    by_ids = call(sandbox, "GET", "/customers", params={"ids": "c001,c002,zzz"}).json()
    assert sorted(c["id"] for c in by_ids["data"]) == ["c001", "c002"]
    repeated = call(sandbox, "GET", "/customers", params={"ids": ["c001", "c002"]}).json()
    assert sorted(c["id"] for c in repeated["data"]) == ["c001", "c002"]
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
    for bad, code in (({"limit": 0}, "invalid_parameter"), ({"limit": 101}, "invalid_parameter"),
                      ({"limit": "ten"}, "invalid_integer"), ({"requestToBeForgotten": "perhaps"}, "invalid_boolean"),
                      ({"createdTime[gte]": "yesterday"}, "invalid_parameter"),
                      ({"createdTime[between]": "2020-01-01T00:00:00Z"}, "invalid_parameter")):
        response = call(sandbox, "GET", "/customers", params=bad)
        assert (response.status_code, error(response)[1:]) == (400, (code, next(iter(bad)))), bad


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
    not_chargeable = call(sandbox, "POST", f"/customers/bob/sources/{pending['id']}")
    assert error(not_chargeable) == ("conflict", "source_not_chargeable", "sourceId")
    assert call(sandbox, "DELETE", f"/customers/alice/sources/{source['id']}").status_code == 204
    assert "sources" not in call(sandbox, "GET", "/customers/alice").json()
    assert call(sandbox, "GET", f"/sources/{source['id']}").json()["state"] == "cancelled"
    assert call(sandbox, "POST", f"/customers/bob/sources/{source['id']}").status_code == 409, "cancelled"
    assert error(call(sandbox, "POST", "/customers/alice/sources/nope")) == ("not_found", "source_not_found",
                                                                              "sourceId")
    assert call(sandbox, "POST", "/customers/nobody/sources/" + source["id"]).status_code == 404
    assert call(sandbox, "POST", "/sources", json={"type": "cash"}).status_code == 400


def test_source_requests_follow_the_vendor_schema(sandbox: Sandbox) -> None:
    credit = {"type": "customerCredit", "amount": 20, "upstreamId": "custCredit_orderId_16008796",
              "customerCredit": {}, "owner": {"firstName": "John", "address": {"country": "US"}}}
    created = call(sandbox, "POST", "/sources", json=credit)
    assert created.status_code == 201, created.text
    assert created.json()["upstreamId"] == "custCredit_orderId_16008796" and created.json()["amount"] == 20
    assert call(sandbox, "GET", f"/sources/{created.json()['id']}").json() == created.json()
    no_address = call(sandbox, "POST", "/sources", json={**credit, "owner": {"firstName": "John"}})
    assert error(no_address) == ("bad_request", "missing_parameter", "owner.address")
    no_type = call(sandbox, "POST", "/sources", json={"amount": 20})
    assert error(no_type) == ("bad_request", "missing_parameter", "type")
    assert error(call(sandbox, "GET", "/sources/nope")) == ("not_found", "source_not_found", "id")


def test_tax_identifiers_follow_the_guide(sandbox: Sandbox) -> None:
    """tax-identifiers.md: create, attach, one per type, retrieve, list, delete (which detaches)."""
    for cid in ("alice", "bob"):
        call(sandbox, "POST", "/customers", json={"id": cid})
    bad = call(sandbox, "POST", "/tax-identifiers", json={"type": "it", "value": "IT00121239990xxxx"})
    assert bad.status_code == 400 and error(bad) == ("bad_request", "invalid_parameter", "value")
    assert bad.json()["errors"][0]["message"] == "Tax identifier 'IT00121239990xxxx' invalid."
    assert error(call(sandbox, "POST", "/tax-identifiers", json={"type": "zz", "value": "ZZ1"}))[2] == "type"
    assert error(call(sandbox, "POST", "/tax-identifiers", json={"type": "de"})) == (
        "bad_request", "missing_parameter", "value")
    tax = call(sandbox, "POST", "/tax-identifiers", json={"type": "de", "value": "DE123456789"})
    assert tax.status_code == 201 and tax.json()["state"] == "verified" and "customerId" not in tax.json()
    tax_id = tax.json()["id"]
    attached = call(sandbox, "POST", f"/customers/alice/tax-identifiers/{tax_id}")
    assert attached.status_code == 200 and attached.json()["customerId"] == "alice"
    assert call(sandbox, "GET", f"/tax-identifiers/{tax_id}").json() == attached.json()
    taken = call(sandbox, "POST", f"/customers/bob/tax-identifiers/{tax_id}")
    assert taken.status_code == 409 and error(taken) == ("conflict", "customer_not_updateable", "customerId")
    same_type = call(sandbox, "POST", "/tax-identifiers", json={"type": "de", "value": "DE000000000"}).json()
    one_per_type = call(sandbox, "POST", f"/customers/alice/tax-identifiers/{same_type['id']}")
    assert one_per_type.status_code == 409 and error(one_per_type)[:2] == ("conflict", "already_exists")
    listed = call(sandbox, "GET", "/tax-identifiers", params={"customerId": "alice"}).json()
    assert [t["id"] for t in listed["data"]] == [tax_id] and listed["hasMore"] is False
    assert call(sandbox, "GET", "/tax-identifiers", params={"state": "verified", "limit": 1}).json()["hasMore"]

    # The vendor has no DELETE /customers/{id}/tax-identifiers/{taxId}: deleting the identifier detaches it.
    assert call(sandbox, "DELETE", f"/customers/alice/tax-identifiers/{tax_id}").status_code == 405
    assert call(sandbox, "DELETE", f"/tax-identifiers/{tax_id}").status_code == 204
    assert "taxIdentifiers" not in call(sandbox, "GET", "/customers/alice").json()
    assert call(sandbox, "GET", f"/tax-identifiers/{tax_id}").status_code == 404
    assert call(sandbox, "DELETE", f"/tax-identifiers/{tax_id}").status_code == 404
    deleted = call(sandbox, "POST", f"/customers/bob/tax-identifiers/{tax_id}")
    assert deleted.status_code == 404 and error(deleted) == ("not_found", "not_found", "id")
    assert deleted.json()["errors"][0]["message"] == f"Tax identifier '{tax_id}' not found."
    assert call(sandbox, "POST", f"/customers/alice/tax-identifiers/{same_type['id']}").status_code == 200
    assert call(sandbox, "DELETE", "/customers/alice").status_code == 204
    assert "customerId" not in call(sandbox, "GET", f"/tax-identifiers/{same_type['id']}").json()


@pytest.mark.parametrize(
    ("tax_type", "value", "state", "applicability"),
    [
        ("be", "BE0000000000", "verified", [("BE", "business")]),
        ("de", "DE123456789", "verified", [("DE", "business")]),
        ("it", "IT12345678901", "verified", [("IT", "business")]),
        ("it_natural", "IT00000000000", "verified", [("IT", "individual")]),
        ("de", "DE999999999", "pending", [("DE", "business")]),
        ("uk", "GB123283536", "pending", [("IM", "business")] * 2 + [("GB", "business")] * 2),
    ],
)
def test_documented_test_tax_identifiers_verify(sandbox: Sandbox, tax_type: str, value: str, state: str,
                                                applicability: list[tuple[str, str]]) -> None:
    body = call(sandbox, "POST", "/tax-identifiers", json={"type": tax_type, "value": value}).json()
    assert body["state"] == state and list(body["stateTransitions"]) == [state]
    assert [(a["country"], a["customerType"]) for a in body["applicability"]] == applicability


def test_tax_identifier_list_pages_and_filters(sandbox: Sandbox) -> None:
    call(sandbox, "POST", "/customers", json={"id": "alice"})
    made = [call(sandbox, "POST", "/tax-identifiers", json={"type": t, "value": v}).json()["id"]
            for t, v in (("de", "DE123456789"), ("be", "BE1234567890"), ("it", "IT12345678901"), ("dk", "DK12345678"))]
    newest_first = made[::-1]
    seen, after = [], None
    while True:
        page = call(sandbox, "GET", "/tax-identifiers",
                    params={"limit": 3, **({"startingAfter": after} if after else {})}).json()
        seen += [t["id"] for t in page["data"]]
        if not page["hasMore"]:
            break
        after = seen[-1]
    assert seen == newest_first
    before = call(sandbox, "GET", "/tax-identifiers", params={"limit": 1, "endingBefore": made[1]}).json()
    assert [t["id"] for t in before["data"]] == [made[2]] and before["hasMore"] is True
    both = call(sandbox, "GET", "/tax-identifiers",
                params={"limit": 1, "endingBefore": made[1], "startingAfter": made[3]}).json()
    assert both == before, "given both cursors, endingBefore wins"
    by_ids = call(sandbox, "GET", "/tax-identifiers", params={"ids": [made[0], made[2]]}).json()
    assert {t["id"] for t in by_ids["data"]} == {made[0], made[2]}
    pending = call(sandbox, "GET", "/tax-identifiers", params={"state": "pending"}).json()
    assert [t["id"] for t in pending["data"]] == [made[3]]
    dk = call(sandbox, "GET", f"/tax-identifiers/{made[3]}").json()
    assert call(sandbox, "GET", "/tax-identifiers",
                params={"pending": dk["stateTransitions"]["pending"]}).json()["data"] == [dk]
    assert call(sandbox, "GET", "/tax-identifiers", params={"type": "be", "value": "BE1234567890"}).json()[
        "data"][0]["id"] == made[1]
    newer = call(sandbox, "GET", "/tax-identifiers", params={"createdTime[gte]": dk["createdTime"]}).json()
    assert made[3] in {t["id"] for t in newer["data"]}
    assert error(call(sandbox, "GET", "/tax-identifiers", params={"startingAfter": "nope"})) == (
        "bad_request", "not_found", "startingAfter")
    assert error(call(sandbox, "GET", "/tax-identifiers", params={"verified": "soon"}))[1:] == (
        "invalid_parameter", "verified")


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
    assert error(call(sandbox, "GET", "/customers", params={"colour": "red"})) == (
        "bad_request", "unknown_parameter", "colour")
    assert call(sandbox, "GET", "/customers/x", params={"expand": "all"}).status_code == 400


def raw_request(sandbox: Sandbox, method: str, raw_path: str) -> tuple[int, dict[str, Any]]:
    """Send ``raw_path`` byte for byte (no client-side normalisation or re-encoding)."""
    host, port = sandbox.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, raw_path, headers=auth())
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("method", "raw_path"),
    [
        ("DELETE", "/customers/alice%2Fsources%2F{source}"),
        ("DELETE", "/customers/alice%2fsources%2f{source}"),
        ("POST", "/customers/alice%2Fsources%2F{source}"),
        ("GET", "/customers/alice%2F"),
        ("GET", "/customers/%2Falice"),
        ("DELETE", "/customers/.."),
        ("DELETE", "/customers/%2E%2E"),
        ("GET", "/customers/."),
        ("DELETE", "/customers/alice/sources/.."),
        ("DELETE", "/customers/alice/sources/%2E%2E%2F{source}"),
        ("DELETE", "/tax-identifiers/..%2F{source}"),
    ],
)
def test_encoded_slashes_and_dot_ids_never_reach_another_route(sandbox: Sandbox, method: str, raw_path: str) -> None:
    call(sandbox, "POST", "/customers", json={"id": "alice"})
    source = call(sandbox, "POST", "/sources", json={"type": "creditCard"}).json()["id"]
    assert call(sandbox, "POST", f"/customers/alice/sources/{source}").status_code == 200
    status, body = raw_request(sandbox, method, raw_path.format(source=source))
    assert status == 404 and body["type"] == "not_found", body
    alice = call(sandbox, "GET", "/customers/alice").json()
    assert [s["id"] for s in alice["sources"]] == [source], "nothing was detached or deleted"
    assert call(sandbox, "GET", f"/sources/{source}").json()["state"] == "chargeable"


def test_cli_sandbox_prints_the_url_it_listens_on() -> None:
    command = [sys.executable, "-m", "drframe.cli", "sandbox", "--port", "0", "--db", ":memory:"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        threading.Thread(target=lambda out=process.stdout: lines.put(out.readline()), daemon=True).start()
        first = lines.get(timeout=60)
        match = re.fullmatch(r"drframe sandbox: listening on (http://127\.0\.0\.1:(\d+)) \(db :memory:\); "
                             r"stop with Ctrl-C\n", first)
        assert match, first
        assert int(match[2]) > 0, "the real port, not 0"
        assert DEFAULTS.api_key not in first and DEFAULTS.public_key not in first
        response = requests.get(match[1] + "/customers", headers=auth(DEFAULTS.api_key), timeout=10)
        assert response.status_code == 200 and response.json() == {"hasMore": False, "data": []}
    finally:
        process.terminate()
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=20)
