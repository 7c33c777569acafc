"""The sandbox's store/service layer: the Customers API's rules over SQLite, free of HTTP.

Every public method takes and returns plain JSON-able dicts and raises :class:`StoreError` with the API's error
``type``/``code``/``parameter``; the routes in ``_routes`` are only a thin HTTP shell around it.  The tax
identifier rules of the vendor's guide are in ``_tax``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from .._models import format_datetime, parse_datetime
from ._errors import bad_request, conflict, not_found, unknown_cursor
from ._tax import new_tax_identifier

_SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created_us INTEGER NOT NULL,
    updated_us INTEGER NOT NULL,
    email TEXT,
    forgotten INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS customers_order ON customers (created_us, seq);
CREATE INDEX IF NOT EXISTS customers_email ON customers (email);
CREATE TABLE IF NOT EXISTS sources (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    customer_id TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sources_customer ON sources (customer_id);
CREATE TABLE IF NOT EXISTS tax_identifiers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    customer_id TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tax_identifiers_customer ON tax_identifiers (customer_id);
"""

CHARGEABLE_ON_CREATE = frozenset(
    {"creditCard", "googlePay", "applePay", "payPal", "payPalBilling", "payPalCredit", "directDebit", "giftCard",
     "customerCredit", "klarnaCredit", "klarnaCreditRecurring", "alipay", "bancontact", "ideal", "msts"}
)


def _now() -> datetime:
    # Millisecond precision, as the API reports times.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _us(value: datetime) -> int:
    return int(value.timestamp() * 1_000_000)


class Store:
    """A thread-safe, SQLite-backed Customers API state (``":memory:"`` or a file that persists)."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL" if path != ":memory:" else "PRAGMA journal_mode=MEMORY")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

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
        with self._tx() as db:
            customer = self._insert_customer(db, fields, created or _now())
            return self._assemble(db, [customer])[0]

    def _insert_customer(self, db: sqlite3.Connection, fields: dict[str, Any], created: datetime) -> dict[str, Any]:
        customer_id = fields.get("id") or _generate_customer_id(db)
        if db.execute("SELECT 1 FROM customers WHERE id = ?", (customer_id,)).fetchone():
            raise conflict("already_exists", f"Customer '{customer_id}' already exists.", "id")
        stamp = format_datetime(created)
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
        db.execute(
            "INSERT INTO customers (id, created_us, updated_us, email, forgotten, body) VALUES (?, ?, ?, ?, ?, ?)",
            (customer_id, _us(created), _us(created), _norm_email(body.get("email")),
             int(bool(body["requestToBeForgotten"])), json.dumps(body)),
        )
        return body

    def insert_many(self, customers: Iterable[dict[str, Any]]) -> int:
        """Bulk-load full customer objects (with ``sources``/``taxIdentifiers``), as seeding does."""
        count = 0
        with self._tx() as db:
            for full in customers:
                body = {k: v for k, v in full.items() if k not in {"sources", "taxIdentifiers"}}
                created = parse_datetime(body["createdTime"])
                updated = parse_datetime(body.get("updatedTime") or body["createdTime"])
                db.execute(
                    "INSERT INTO customers (id, created_us, updated_us, email, forgotten, body)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (body["id"], _us(created), _us(updated), _norm_email(body.get("email")),
                     int(bool(body.get("requestToBeForgotten"))), json.dumps(body)),
                )
                for source in full.get("sources") or []:
                    db.execute("INSERT INTO sources (id, customer_id, body) VALUES (?, ?, ?)",
                               (source["id"], body["id"], json.dumps(source)))
                for tax_id in full.get("taxIdentifiers") or []:
                    db.execute("INSERT INTO tax_identifiers (id, customer_id, body) VALUES (?, ?, ?)",
                               (tax_id["id"], body["id"], json.dumps(tax_id)))
                count += 1
        return count

    def get_customer(self, customer_id: str) -> dict[str, Any]:
        with self._lock:
            return self._assemble(self._db, [self._load_customer(self._db, customer_id)])[0]

    def update_customer(self, customer_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Partial update: given fields replace, metadata merges (``""`` removes a key), shipping replaces."""
        with self._tx() as db:
            body = self._load_customer(db, customer_id)
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
            updated = _now()
            body["updatedTime"] = format_datetime(updated)
            db.execute(
                "UPDATE customers SET updated_us = ?, email = ?, forgotten = ?, body = ? WHERE id = ?",
                (_us(updated), _norm_email(body.get("email")), int(bool(body.get("requestToBeForgotten"))),
                 json.dumps(body), customer_id),
            )
            return self._assemble(db, [body])[0]

    def delete_customer(self, customer_id: str) -> None:
        with self._tx() as db:
            self._load_customer(db, customer_id)
            # Its sources are cancelled and its tax identifiers detached: neither names the customer any more.
            for table in ("sources", "tax_identifiers"):
                for oid, raw in db.execute(f"SELECT id, body FROM {table} WHERE customer_id = ?",
                                           (customer_id,)).fetchall():
                    body = {k: v for k, v in json.loads(raw).items() if k != "customerId"}
                    if table == "sources":
                        body["state"] = "cancelled"
                    db.execute(f"UPDATE {table} SET customer_id = NULL, body = ? WHERE id = ?", (json.dumps(body), oid))
            db.execute("DELETE FROM customers WHERE id = ?", (customer_id,))

    def list_customers(
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
    ) -> dict[str, Any]:
        """One page, newest first, with the API's cursor semantics (given both cursors, ``endingBefore`` wins)."""
        if ending_before:
            starting_after = None
        where: list[str] = []
        args: list[Any] = []
        if ids is not None:
            where.append(f"id IN ({','.join('?' * len(ids))})")
            args.extend(ids)
        if email is not None:
            where.append("email = ?")
            args.append(_norm_email(email))
        if request_to_be_forgotten is not None:
            where.append("forgotten = ?")
            args.append(int(request_to_be_forgotten))
        ops = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
        for column, bounds in (("created_us", created), ("updated_us", updated)):
            for op, value in (bounds or {}).items():
                where.append(f"{column} {ops[op]} ?")
                args.append(_us(value))
        with self._lock:
            db = self._db
            descending = True
            cursor = starting_after or ending_before
            if cursor:
                row = db.execute("SELECT created_us, seq FROM customers WHERE id = ?", (cursor,)).fetchone()
                if row is None:
                    raise unknown_cursor("Customer", cursor, "startingAfter" if starting_after else "endingBefore")
                where.append("(created_us, seq) < (?, ?)" if starting_after else "(created_us, seq) > (?, ?)")
                args.extend(row)
                descending = bool(starting_after)
            order = "DESC" if descending else "ASC"
            sql = (
                "SELECT body FROM customers"
                + (" WHERE " + " AND ".join(where) if where else "")
                + f" ORDER BY created_us {order}, seq {order} LIMIT ?"
            )
            rows = db.execute(sql, [*args, limit + 1]).fetchall()
            has_more = len(rows) > limit
            bodies = [json.loads(r[0]) for r in rows[:limit]]
            if not descending:
                bodies.reverse()
            return {"hasMore": has_more, "data": self._assemble(db, bodies)}

    def count_customers(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM customers").fetchone()[0])

    def _load_customer(self, db: sqlite3.Connection, customer_id: str) -> dict[str, Any]:
        row = db.execute("SELECT body FROM customers WHERE id = ?", (customer_id,)).fetchone()
        if row is None:
            raise not_found("Customer", customer_id)
        return dict(json.loads(row[0]))

    def _assemble(self, db: sqlite3.Connection, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Attach each customer's sources and tax identifiers (in attach order), as the API embeds them."""
        if not bodies:
            return []
        ids = [b["id"] for b in bodies]
        marks = ",".join("?" * len(ids))
        sources: dict[str, list[Any]] = {}
        for cid, raw in db.execute(
            f"SELECT customer_id, body FROM sources WHERE customer_id IN ({marks}) ORDER BY seq", ids
        ):
            sources.setdefault(cid, []).append(json.loads(raw))
        tax_ids: dict[str, list[Any]] = {}
        for cid, raw in db.execute(
            f"SELECT customer_id, body FROM tax_identifiers WHERE customer_id IN ({marks}) ORDER BY seq", ids
        ):
            tax_ids.setdefault(cid, []).append(json.loads(raw))
        out = []
        for body in bodies:
            full = dict(body)
            if body["id"] in sources:
                full["sources"] = sources[body["id"]]
            if body["id"] in tax_ids:
                full["taxIdentifiers"] = tax_ids[body["id"]]
            out.append(full)
        return out

    # ---- sources ---------------------------------------------------------------------------------------------

    def create_source(self, fields: dict[str, Any]) -> dict[str, Any]:
        source_id = str(uuid.uuid4())
        payment_type = fields["type"]
        source = {
            "id": source_id,
            "clientSecret": f"{source_id}_{uuid.uuid4()}",
            "createdTime": format_datetime(_now()),
            **fields,
            "reusable": False,
            "flow": "standard",
            "state": "chargeable" if payment_type in CHARGEABLE_ON_CREATE else "pending_funds",
            "liveMode": False,
        }
        source.setdefault(payment_type, {})
        with self._tx() as db:
            db.execute("INSERT INTO sources (id, customer_id, body) VALUES (?, NULL, ?)", (source_id, json.dumps(source)))
        return source

    def get_source(self, source_id: str) -> dict[str, Any]:
        with self._lock:
            return self._load_source(self._db, source_id)[1]

    def attach_source(self, customer_id: str, source_id: str) -> dict[str, Any]:
        """Attach: makes the source reusable; 409 if attached elsewhere or not chargeable. Re-attach is a no-op."""
        with self._tx() as db:
            customer = self._load_customer(db, customer_id)
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
                db.execute("UPDATE customers SET body = ? WHERE id = ?", (json.dumps(customer), customer_id))
            return source

    def detach_source(self, customer_id: str, source_id: str) -> None:
        """Detach: the source is cancelled and can't be reused."""
        with self._tx() as db:
            customer = self._load_customer(db, customer_id)
            owner, source = self._load_source(db, source_id, parameter="sourceId")
            if owner != customer_id:
                raise not_found("Source", source_id, "sourceId", "source_not_found")
            source.pop("customerId", None)
            source["state"] = "cancelled"
            self._save_source(db, source_id, None, source)
            if customer.get("defaultSourceId") == source_id:
                customer.pop("defaultSourceId")
                db.execute("UPDATE customers SET body = ? WHERE id = ?", (json.dumps(customer), customer_id))

    def _load_source(
        self, db: sqlite3.Connection, source_id: str, parameter: str = "id"
    ) -> tuple[str | None, dict[str, Any]]:
        row = db.execute("SELECT customer_id, body FROM sources WHERE id = ?", (source_id,)).fetchone()
        if row is None:
            raise not_found("Source", source_id, parameter, "source_not_found")
        return row[0], dict(json.loads(row[1]))

    def _save_source(self, db: sqlite3.Connection, source_id: str, customer_id: str | None, body: dict[str, Any]) -> None:
        db.execute("UPDATE sources SET customer_id = ?, body = ? WHERE id = ?", (customer_id, json.dumps(body), source_id))

    # ---- tax identifiers -------------------------------------------------------------------------------------

    def create_tax_identifier(self, tax_type: str, value: str) -> dict[str, Any]:
        """Create a tax identifier (see :func:`~drframe.sandbox._tax.new_tax_identifier` for the rules)."""
        body = new_tax_identifier(tax_type, value, format_datetime(_now()))
        with self._tx() as db:
            db.execute("INSERT INTO tax_identifiers (id, customer_id, body) VALUES (?, NULL, ?)",
                       (body["id"], json.dumps(body)))
        return body

    def get_tax_identifier(self, tax_id: str) -> dict[str, Any]:
        with self._lock:
            return self._load_tax_identifier(self._db, tax_id)[1]

    def delete_tax_identifier(self, tax_id: str) -> None:
        """Delete a tax identifier, which also detaches it from its customer (the API has no other detach)."""
        with self._tx() as db:
            self._load_tax_identifier(db, tax_id)
            db.execute("DELETE FROM tax_identifiers WHERE id = ?", (tax_id,))

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
                mark = (_time_us(json.loads(row[1]).get("createdTime")), row[0])
        keyed = []
        for seq, raw in rows:
            body = json.loads(raw)
            if _tax_identifier_matches(body, fields or {}, created, updated, transitions):
                keyed.append(((_time_us(body.get("createdTime")), seq), body))
        keyed.sort(key=lambda item: item[0], reverse=True)
        if mark is not None and ending_before:
            newer = [body for key, body in keyed if key > mark]
            return {"hasMore": len(newer) > limit, "data": newer[-limit:]}
        older = [body for key, body in keyed if mark is None or key < mark]
        return {"hasMore": len(older) > limit, "data": older[:limit]}

    def attach_tax_identifier(self, customer_id: str, tax_id: str) -> dict[str, Any]:
        """Associate a tax identifier with a customer: one customer per identifier, one identifier per type."""
        with self._tx() as db:
            self._load_customer(db, customer_id)
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
            body["updatedTime"] = format_datetime(_now())
            db.execute("UPDATE tax_identifiers SET customer_id = ?, body = ? WHERE id = ?",
                       (customer_id, json.dumps(body), tax_id))
            return body

    def _load_tax_identifier(self, db: sqlite3.Connection, tax_id: str) -> tuple[str | None, dict[str, Any]]:
        row = db.execute("SELECT customer_id, body FROM tax_identifiers WHERE id = ?", (tax_id,)).fetchone()
        if row is None:
            # As documented, also when attaching a deleted one: parameter "id", code not_found.
            raise not_found("Tax identifier", tax_id)
        return row[0], dict(json.loads(row[1]))


def _time_us(value: Any) -> int:
    """Microseconds of an API timestamp (0 when absent or unreadable), for ordering and filters."""
    try:
        return _us(parse_datetime(value)) if isinstance(value, str) else 0
    except ValueError:
        return 0


_COMPARE = {"eq": int.__eq__, "gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}


def _tax_identifier_matches(body: dict[str, Any], fields: dict[str, str], created: dict[str, datetime] | None,
                            updated: dict[str, datetime] | None, transitions: dict[str, datetime] | None) -> bool:
    if any(body.get(name) != value for name, value in fields.items()):
        return False
    for name, bounds in (("createdTime", created), ("updatedTime", updated)):
        stamp = _time_us(body.get(name))
        if any(not _COMPARE[op](stamp, _us(value)) for op, value in (bounds or {}).items()):
            return False
    entered = body.get("stateTransitions") or {}
    return all(_time_us(entered.get(state)) == _us(value) for state, value in (transitions or {}).items())


def _norm_email(email: Any) -> str | None:
    return email.strip().lower() if isinstance(email, str) else None


def _generate_customer_id(db: sqlite3.Connection) -> str:
    # Numeric ids like the API's own (e.g. 5823594808), unique within the store.
    while True:
        candidate = str(5_000_000_000 + uuid.uuid4().int % 4_000_000_000)
        if not db.execute("SELECT 1 FROM customers WHERE id = ?", (candidate,)).fetchone():
            return candidate
