"""The sandbox store's customer rows: pages against a reference ordering, embedded children kept current, the
stored JSON exactly as a response renders it, and databases written before the rows embedded their children."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from fastapi.responses import JSONResponse

from drframe.sandbox import Sandbox, Store
from drframe.testing import generate_customers

from .conftest import auth

#: Ascending.
TIMES = ["2024-03-01T10:00:00Z", "2024-03-01T10:00:00.500Z", "2024-03-02T00:00:00Z"]


@pytest.fixture(scope="module")
def tied() -> tuple[Store, list[str]]:
    """30 customers on three createdTime values, inserted shuffled; and their ids newest first (ties: the later
    inserted first)."""
    rng = random.Random(5)
    customers = generate_customers(30, seed=5, id_prefix="t")
    rng.shuffle(customers)
    for customer in customers:
        customer["createdTime"] = rng.choice(TIMES)
    store = Store()
    store.insert_many(customers)
    inserted = [(TIMES.index(c["createdTime"]), index, c["id"]) for index, c in enumerate(customers)]
    return store, [cid for _, _, cid in sorted(inserted, reverse=True)]


def _expected(order: list[str], keep: Callable[[str], bool], limit: int, after: str | None,
              before: str | None) -> tuple[bool, list[str]]:
    """The page the API's cursor rules give over ``order`` (newest first): the cursor is a position in all of
    it, the filter then applies."""
    if before is not None:
        newer = [cid for cid in order[:order.index(before)] if keep(cid)]
        return len(newer) > limit, newer[-limit:]
    older = [cid for cid in order[order.index(after) + 1 if after else 0:] if keep(cid)]
    return len(older) > limit, older[:limit]


@pytest.mark.parametrize("filtered", ["none", "ids", "created"])
def test_pages_follow_the_reference_order_on_ties(tied: tuple[Store, list[str]], filtered: str) -> None:
    store, order = tied
    subset = set(random.Random(1).sample(order, 12))
    keep: Callable[[str], bool] = {"none": lambda _: True, "ids": subset.__contains__,
                                   "created": lambda cid: TIMES.index(store.get_customer(cid)["createdTime"]) >= 1}[filtered]
    options: dict[str, Any] = {"none": {}, "ids": {"ids": sorted(subset)},
                               "created": {"created": {"gte": datetime(2024, 3, 1, 10, 0, 0, 500_000, tzinfo=UTC)}}}
    for limit in (1, 4, 7, 100):
        for cursor in [None, *order]:
            for direction in ("after", "before"):
                if direction == "before" and cursor is None:
                    continue
                after, before = (cursor, None) if direction == "after" else (None, cursor)
                page = store.list_customers(limit=limit, starting_after=after, ending_before=before,
                                            **options[filtered])
                got = (page["hasMore"], [c["id"] for c in page["data"]])
                assert got == _expected(order, keep, limit, after, before), (limit, direction, cursor)


def test_a_full_walk_both_ways_sees_every_customer_once(tied: tuple[Store, list[str]]) -> None:
    store, order = tied
    seen: list[str] = []
    page = store.list_customers(limit=7)
    while True:
        seen += [c["id"] for c in page["data"]]
        if not page["hasMore"]:
            break
        page = store.list_customers(limit=7, starting_after=seen[-1])
    assert seen == order
    back: list[str] = []
    page = store.list_customers(limit=6, ending_before=order[-1])
    while True:
        back = [c["id"] for c in page["data"]] + back
        if not page["hasMore"]:
            break
        page = store.list_customers(limit=6, ending_before=back[0])
    assert back == order[:-1]


def _rendered(value: Any) -> bytes:
    return bytes(JSONResponse(value).body)


def test_customers_embed_their_current_sources_and_tax_identifiers() -> None:
    store = Store()
    store.create_customer({"id": "ana", "email": "Ána@example.com", "shipping": {"name": "Ána Ñúñez"}})
    store.create_customer({"id": "bo"})

    def check(customer_id: str) -> dict[str, Any]:
        """The stored text is the response JSONResponse renders, children as their own endpoints give them."""
        text = store.get_customer_json(customer_id)
        customer = json.loads(text)
        assert text == _rendered(customer)
        sources = [store.get_source(s["id"]) for s in customer.get("sources", [])]
        tax_ids = [store.get_tax_identifier(t["id"]) for t in customer.get("taxIdentifiers", [])]
        assert customer.get("sources", []) == sources and customer.get("taxIdentifiers", []) == tax_ids
        return dict(customer)

    cards = [store.create_source({"type": "creditCard", "creditCard": {"brand": "Visa"}})["id"] for _ in range(2)]
    for card in cards:
        store.attach_source("ana", card)
    vat = store.create_tax_identifier("de", "DE123456789")["id"]
    store.attach_tax_identifier("ana", vat)
    ana = check("ana")
    assert [s["id"] for s in ana["sources"]] == cards and ana["defaultSourceId"] == cards[0]
    assert ana["taxIdentifiers"][0]["customerId"] == "ana"
    assert list(ana)[-2:] == ["sources", "taxIdentifiers"], "the children come last, as the API embeds them"
    updated = store.update_customer("ana", {"metadata": {"k": "v"}})
    assert updated == check("ana") and updated["sources"] == ana["sources"]
    store.detach_source("ana", cards[0])
    ana = check("ana")
    assert [s["id"] for s in ana["sources"]] == cards[1:] and "defaultSourceId" not in ana
    store.delete_tax_identifier(vat)
    assert "taxIdentifiers" not in check("ana")
    store.detach_source("ana", cards[1])
    assert "sources" not in check("ana")
    page = store.list_customers_json(limit=10)
    assert page == _rendered({"hasMore": False, "data": [check("bo"), check("ana")]})
    assert store.list_customers(limit=1) == {"hasMore": True, "data": [check("bo")]}


def test_a_database_written_before_rows_embedded_their_children_is_brought_up_to_date(tmp_path: Any) -> None:
    path = str(tmp_path / "old.db")
    store = Store(path)
    store.insert_many(generate_customers(20, seed=2))
    expected = store.list_customers(limit=100)
    store.close()
    # The old layout: a customer's own fields only, every text in json.dumps' default spacing, user_version 0.
    db = sqlite3.connect(path)
    for customer_id, text in db.execute("SELECT id, body FROM customers").fetchall():
        own = {k: v for k, v in json.loads(text).items() if k not in {"sources", "taxIdentifiers"}}
        db.execute("UPDATE customers SET body = ? WHERE id = ?", (json.dumps(own), customer_id))
    for table in ("sources", "tax_identifiers"):
        for seq, text in db.execute(f"SELECT seq, body FROM {table}").fetchall():
            db.execute(f"UPDATE {table} SET body = ? WHERE seq = ?", (json.dumps(json.loads(text)), seq))
    db.execute("PRAGMA user_version = 0")
    db.commit()
    db.close()
    reopened = Store(path)
    try:
        assert reopened.list_customers_json(limit=100) == _rendered(expected)
        assert any(c.get("sources") for c in expected["data"]) and any(c.get("taxIdentifiers") for c in
                                                                      expected["data"])
    finally:
        reopened.close()


def test_responses_are_what_jsonresponse_would_render(sandbox: Sandbox) -> None:
    sandbox.store.insert_many(generate_customers(15, seed=4))
    sandbox.store.create_customer({"id": "zoë", "email": "zoë@example.com", "metadata": {"ключ": "值"}})
    for path, params in (("/customers", {"limit": 100}), ("/customers", {"limit": 3, "startingAfter": "zoë"}),
                         ("/customers/zoë", {}), ("/customers", {"ids": "zoë,5800000003", "limit": 100})):
        response = requests.get(sandbox.base_url + path, params=params, headers=auth(), timeout=10)
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        assert response.content == _rendered(response.json()), path
