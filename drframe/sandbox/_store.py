"""The sandbox's store/service layer: the Customers API's rules over SQLite, free of HTTP.

Every public method takes and returns plain JSON-able dicts and raises :class:`StoreError` with the API's error
``type``/``code``/``parameter``; the routes in ``_routes`` are only a thin HTTP shell around it.  The customer
methods also come as ``*_json``, answering the response body itself: customers are stored as the JSON the API
returns (see ``_db``, the SQL layer), so reading them parses nothing.  The tax identifier rules of the vendor's
guide are in ``_tax``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from .._core._models import format_datetime
from ._db import (
    CHILDREN,
    customer_page,
    customer_text,
    dumps,
    load_customer,
    now,
    open_db,
    refresh_customer,
    save_customer,
)
from ._errors import bad_request, conflict, not_found, unknown_cursor
from ._tax import new_tax_identifier, tax_identifier_matches, time_us

CHARGEABLE_ON_CREATE = frozenset(
    {"creditCard", "googlePay", "applePay", "payPal", "payPalBilling", "payPalCredit", "directDebit", "giftCard",
     "customerCredit", "klarnaCredit", "klarnaCreditRecurring", "alipay", "bancontact", "ideal", "msts"}
)


class Store:
    """A thread-safe, SQLite-backed Customers API state (``":memory:"`` or a file that persists)."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = open_db(path)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ---- customers -------------------------------------------------------------------------------------------

    def create_customer(self, fields: dict[str, Any], *, created: datetime | None = None) -> dict[str, Any]:
        """Create a customer from a validated ``CustomerRequest`` dict; 409 if the id is taken."""
        return dict(json.loads(self.create_customer_json(fields, created=created)))

    def create_customer_json(self, fields: dict[str, Any], *, created: datetime | None = None) -> bytes:
        """:meth:`create_customer`, answered as the response's body (UTF-8 JSON)."""
        with self._tx() as db:
            customer_id = fields.get("id") or _generate_customer_id(db)
            if db.execute("SELECT 1 FROM customers WHERE id = ?", (customer_id,)).fetchone():
                raise conflict("already_exists", f"Customer '{customer_id}' already exists.", "id")
            stamp = format_datetime(created or now())
            body: dict[str, Any] = {"id": customer_id, "createdTime": stamp}
            for key, value in fields.items():
                if key in {"id", "taxCertificate"}:
                    continue
                body[key] = value
            if fields.get("metadata") is not None:
                body["metadata"] = {k: v for k, v in fields["metadata"].items() if v not in ("", None)}
            if fields.get("taxCertificate"):
                body["taxCertificates"] = [fields["taxCertificate"]]
            body.setdefault("type", "individual")
            body.setdefault("enabled", True)
            body.setdefault("requestToBeForgotten", False)
            body["liveMode"] = False
            body["updatedTime"] = stamp
            return save_customer(db, body, ([], []), insert=True).encode()

    def insert_many(self, customers: Iterable[dict[str, Any]]) -> int:
        """Bulk-load full customer objects (with ``sources``/``taxIdentifiers``), as seeding does."""
        count = 0
        with self._tx() as db:
            for full in customers:
                body = {k: v for k, v in full.items() if k not in CHILDREN}
                sources = [(source["id"], body["id"], dumps(source)) for source in full.get("sources") or []]
                tax_ids = [(tax_id["id"], body["id"], dumps(tax_id)) for tax_id in full.get("taxIdentifiers") or []]
                save_customer(db, body, ([text for *_, text in sources], [text for *_, text in tax_ids]),
                              insert=True)
                db.executemany("INSERT INTO sources (id, customer_id, body) VALUES (?, ?, ?)", sources)
                db.executemany("INSERT INTO tax_identifiers (id, customer_id, body) VALUES (?, ?, ?)", tax_ids)
                count += 1
        return count

    def get_customer(self, customer_id: str) -> dict[str, Any]:
        return dict(json.loads(self.get_customer_json(customer_id)))

    def get_customer_json(self, customer_id: str) -> bytes:
        """:meth:`get_customer`, as the response's body (UTF-8 JSON, stored as such: nothing is parsed)."""
        with self._lock:
            return customer_text(self._db, customer_id)

    def update_customer(self, customer_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Partial update: given fields replace, metadata merges (``""`` removes a key), shipping replaces."""
        return dict(json.loads(self.update_customer_json(customer_id, fields)))

    def update_customer_json(self, customer_id: str, fields: dict[str, Any]) -> bytes:
        """:meth:`update_customer`, answered as the response's body (UTF-8 JSON)."""
        with self._tx() as db:
            body = load_customer(db, customer_id)
            for key, value in fields.items():
                if key == "metadata":
                    merged = dict(body.get("metadata") or {})
                    for meta_key, meta_value in (value or {}).items():
                        if meta_value in ("", None):
                            merged.pop(meta_key, None)
                        else:
                            merged[meta_key] = meta_value
                    if len(merged) > 20:
                        raise bad_request("metadata", "Metadata would exceed 20 keys after the merge.",
                                          "too_many_metadata_pairs")
                    body["metadata"] = merged
                elif key == "taxCertificate":
                    certificates = body.setdefault("taxCertificates", [])
                    if value and value not in certificates:
                        certificates.append(value)
                else:
                    body[key] = value
            body["updatedTime"] = format_datetime(now())
            return save_customer(db, body).encode()

    def delete_customer(self, customer_id: str) -> None:
        with self._tx() as db:
            customer_text(db, customer_id)
            # Its sources are cancelled and its tax identifiers detached: neither names the customer any more.
            for table in ("sources", "tax_identifiers"):
                for oid, raw in db.execute(f"SELECT id, body FROM {table} WHERE customer_id = ?",
                                           (customer_id,)).fetchall():
                    body = {k: v for k, v in json.loads(raw).items() if k != "customerId"}
                    if table == "sources":
                        body["state"] = "cancelled"
                    db.execute(f"UPDATE {table} SET customer_id = NULL, body = ? WHERE id = ?", (dumps(body), oid))
            db.execute("DELETE FROM customers WHERE id = ?", (customer_id,))

    def list_customers(self, **filters: Any) -> dict[str, Any]:
        """One page ``{"hasMore", "data"}``, newest first, with the API's cursor semantics (given both cursors,
        ``endingBefore`` wins); the filters of :meth:`list_customers_json`."""
        return dict(json.loads(self.list_customers_json(**filters)))

    def list_customers_json(
        self,
        *,
        limit: int = 10,
        starting_after: str | None = None,
        ending_before: str | None = None,
        ids: list[str] | None = None,
        email: str | None = None,
        created: dict[str, datetime] | None = None,
        updated: dict[str, datetime] | None = None,
        request_to_be_forgotten: bool | None = None,
    ) -> bytes:
        """One page of customers as the response's body (``{"hasMore", "data"}``, newest first, given both cursors
        ``endingBefore`` wins): the page's stored texts joined, none parsed."""
        with self._lock:
            has_more, texts = customer_page(
                self._db, limit=limit, starting_after=starting_after, ending_before=ending_before, ids=ids,
                email=email, created=created, updated=updated, forgotten=request_to_be_forgotten,
            )
        return b"".join((b'{"hasMore":true,"data":[' if has_more else b'{"hasMore":false,"data":[',
                         b",".join(texts), b"]}"))

    def count_customers(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM customers").fetchone()[0])

    # ---- sources ---------------------------------------------------------------------------------------------

    def create_source(self, fields: dict[str, Any]) -> dict[str, Any]:
        source_id = str(uuid.uuid4())
        payment_type = fields["type"]
        source = {
            "id": source_id,
            "clientSecret": f"{source_id}_{uuid.uuid4()}",
            "createdTime": format_datetime(now()),
            **fields,
            "reusable": False,
            "flow": "standard",
            "state": "chargeable" if payment_type in CHARGEABLE_ON_CREATE else "pending_funds",
            "liveMode": False,
        }
        source.setdefault(payment_type, {})
        with self._tx() as db:
            db.execute("INSERT INTO sources (id, customer_id, body) VALUES (?, NULL, ?)", (source_id, dumps(source)))
        return source

    def get_source(self, source_id: str) -> dict[str, Any]:
        with self._lock:
            return self._load_source(self._db, source_id)[1]

    def attach_source(self, customer_id: str, source_id: str) -> dict[str, Any]:
        """Attach: makes the source reusable; 409 if attached elsewhere or not chargeable. Re-attach is a no-op."""
        with self._tx() as db:
            customer = load_customer(db, customer_id)
            owner, source = self._load_source(db, source_id, parameter="sourceId")
            if owner == customer_id:
                return source
            if owner is not None:
                raise conflict("invalid_parameter", f"Source '{source_id}' is attached to another customer.",
                               "sourceId")
            if source.get("state") != "chargeable":
                raise conflict(
                    "source_not_chargeable",
                    f"Source '{source_id}' is in state '{source.get('state')}' and cannot be attached.",
                    "sourceId",
                )
            source.update(reusable=True, customerId=customer_id)
            self._save_source(db, source_id, customer_id, source)
            if not customer.get("defaultSourceId"):
                customer["defaultSourceId"] = source_id
            save_customer(db, customer)
            return source

    def detach_source(self, customer_id: str, source_id: str) -> None:
        """Detach: the source is cancelled and can't be reused."""
        with self._tx() as db:
            customer = load_customer(db, customer_id)
            owner, source = self._load_source(db, source_id, parameter="sourceId")
            if owner != customer_id:
                raise not_found("Source", source_id, "sourceId", "source_not_found")
            source.pop("customerId", None)
            source["state"] = "cancelled"
            self._save_source(db, source_id, None, source)
            if customer.get("defaultSourceId") == source_id:
                customer.pop("defaultSourceId")
            save_customer(db, customer)

    def _load_source(
        self, db: sqlite3.Connection, source_id: str, parameter: str = "id"
    ) -> tuple[str | None, dict[str, Any]]:
        row = db.execute("SELECT customer_id, body FROM sources WHERE id = ?", (source_id,)).fetchone()
        if row is None:
            raise not_found("Source", source_id, parameter, "source_not_found")
        return row[0], dict(json.loads(row[1]))

    def _save_source(self, db: sqlite3.Connection, source_id: str, customer_id: str | None, body: dict[str, Any]) -> None:
        db.execute("UPDATE sources SET customer_id = ?, body = ? WHERE id = ?", (customer_id, dumps(body), source_id))

    # ---- tax identifiers -------------------------------------------------------------------------------------

    def create_tax_identifier(self, tax_type: str, value: str) -> dict[str, Any]:
        """Create a tax identifier (see :func:`~drframe.sandbox._tax.new_tax_identifier` for the rules)."""
        body = new_tax_identifier(tax_type, value, format_datetime(now()))
        with self._tx() as db:
            db.execute("INSERT INTO tax_identifiers (id, customer_id, body) VALUES (?, NULL, ?)",
                       (body["id"], dumps(body)))
        return body

    def get_tax_identifier(self, tax_id: str) -> dict[str, Any]:
        with self._lock:
            return self._load_tax_identifier(self._db, tax_id)[1]

    def delete_tax_identifier(self, tax_id: str) -> None:
        """Delete a tax identifier, which also detaches it from its customer (the API has no other detach)."""
        with self._tx() as db:
            owner, _ = self._load_tax_identifier(db, tax_id)
            db.execute("DELETE FROM tax_identifiers WHERE id = ?", (tax_id,))
            if owner is not None:
                refresh_customer(db, owner)

    def list_tax_identifiers(
        self,
        *,
        limit: int = 10,
        starting_after: str | None = None,
        ending_before: str | None = None,
        ids: list[str] | None = None,
        customer_id: str | None = None,
        fields: dict[str, str] | None = None,
        created: dict[str, datetime] | None = None,
        updated: dict[str, datetime] | None = None,
        transitions: dict[str, datetime] | None = None,
    ) -> dict[str, Any]:
        """One page of tax identifiers, newest first, with the same cursor rules as customers.

        ``fields`` filters on equal ``type``/``value``/``state``; ``transitions`` on the time a state was
        entered (``{"verified": t}``).
        """
        if ending_before:
            starting_after = None
        where: list[str] = []
        args: list[Any] = []
        if ids is not None:
            where.append(f"id IN ({','.join('?' * len(ids))})")
            args.extend(ids)
        if customer_id is not None:
            where.append("customer_id = ?")
            args.append(customer_id)
        cursor = ending_before or starting_after
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, body FROM tax_identifiers" + (" WHERE " + " AND ".join(where) if where else ""), args
            ).fetchall()
            mark = None
            if cursor:
                row = self._db.execute("SELECT seq, body FROM tax_identifiers WHERE id = ?", (cursor,)).fetchone()
                if row is None:
                    raise unknown_cursor("Tax identifier", cursor, "endingBefore" if ending_before else "startingAfter")
                mark = (time_us(json.loads(row[1]).get("createdTime")), row[0])
        keyed = []
        for seq, raw in rows:
            body = json.loads(raw)
            if tax_identifier_matches(body, fields or {}, created, updated, transitions):
                keyed.append(((time_us(body.get("createdTime")), seq), body))
        keyed.sort(key=lambda item: item[0], reverse=True)
        if mark is not None and ending_before:
            newer = [body for key, body in keyed if key > mark]
            return {"hasMore": len(newer) > limit, "data": newer[-limit:]}
        older = [body for key, body in keyed if mark is None or key < mark]
        return {"hasMore": len(older) > limit, "data": older[:limit]}

    def attach_tax_identifier(self, customer_id: str, tax_id: str) -> dict[str, Any]:
        """Associate a tax identifier with a customer: one customer per identifier, one identifier per type."""
        with self._tx() as db:
            customer_text(db, customer_id)
            owner, body = self._load_tax_identifier(db, tax_id)
            if owner == customer_id:
                return body
            if owner is not None:
                raise conflict("customer_not_updateable", "You cannot replace a tax identifier's customer id.",
                               "customerId")
            for (raw,) in db.execute("SELECT body FROM tax_identifiers WHERE customer_id = ?", (customer_id,)):
                if json.loads(raw).get("type") == body.get("type"):
                    raise conflict("already_exists",
                                   f"Customer '{customer_id}' already holds a tax identifier of type "
                                   f"'{body.get('type')}'; delete it first.", "taxId")
            body["customerId"] = customer_id
            body["updatedTime"] = format_datetime(now())
            db.execute("UPDATE tax_identifiers SET customer_id = ?, body = ? WHERE id = ?",
                       (customer_id, dumps(body), tax_id))
            refresh_customer(db, customer_id)
            return body

    def _load_tax_identifier(self, db: sqlite3.Connection, tax_id: str) -> tuple[str | None, dict[str, Any]]:
        row = db.execute("SELECT customer_id, body FROM tax_identifiers WHERE id = ?", (tax_id,)).fetchone()
        if row is None:
            # As documented, also when attaching a deleted one: parameter "id", code not_found.
            raise not_found("Tax identifier", tax_id)
        return row[0], dict(json.loads(row[1]))


def _generate_customer_id(db: sqlite3.Connection) -> str:
    # Numeric ids like the API's own (e.g. 5823594808), unique within the store.
    while True:
        candidate = str(5_000_000_000 + uuid.uuid4().int % 4_000_000_000)
        if not db.execute("SELECT 1 FROM customers WHERE id = ?", (candidate,)).fetchone():
            return candidate
