"""The sandbox's store/service layer: the Customers API's rules over SQLite, free of HTTP.

Every public method takes and returns plain JSON-able dicts and raises :class:`StoreError` with the API's error
``type``/``code``/``parameter``; the FastAPI app in ``_app`` is only a thin HTTP shell around it.
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

#: Test tax identifiers that verify at once, as documented by Digital River.
VERIFIED_TEST_TAX_IDS = frozenset(
    {("be", "BE0000000000"), ("be", "BE1234567890"), ("de", "DE000000000"), ("de", "DE123456789"),
     ("it", "IT00000000000"), ("it", "IT12345678901"), ("it_natural", "IT00000000000"),
     ("it_natural", "IT12345678901")}
)
_TAX_ID_FORMATS: dict[str, tuple[str, int, int]] = {
    # type: (prefix, min digits, max digits) -- the EU VAT shapes the sandbox checks
    "at": ("ATU", 8, 8), "be": ("BE", 10, 10), "de": ("DE", 9, 9), "dk": ("DK", 8, 8), "es": ("ES", 9, 9),
    "fi": ("FI", 8, 8), "fr": ("FR", 11, 11), "gb": ("GB", 9, 12), "ie": ("IE", 8, 9), "it": ("IT", 11, 11),
    "it_natural": ("IT", 11, 11), "nl": ("NL", 12, 12), "pl": ("PL", 10, 10), "se": ("SE", 12, 12),
}


class StoreError(Exception):
    """An API error raised by the store: HTTP status plus the error body fields."""

    def __init__(self, status: int, type: str, code: str, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.code = code
        self.parameter = parameter
        self.message = message

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.parameter is not None:
            error["parameter"] = self.parameter
        return {"type": self.type, "errors": [error]}


def not_found(what: str, ident: str, parameter: str = "id") -> StoreError:
    return StoreError(404, "not_found", "not_found", f"{what} '{ident}' not found.", parameter)


def bad_request(parameter: str, message: str, code: str = "invalid_parameter") -> StoreError:
    return StoreError(400, "bad_request", code, message, parameter)


def conflict(code: str, message: str, parameter: str | None = None) -> StoreError:
    return StoreError(409, "conflict", code, message, parameter)


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
                        raise bad_request("metadata", "Metadata would exceed 20 keys after the merge.")
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
            for sid, raw in db.execute("SELECT id, body FROM sources WHERE customer_id = ?", (customer_id,)).fetchall():
                self._save_source(db, sid, None, {**json.loads(raw), "state": "cancelled"})
            db.execute("UPDATE tax_identifiers SET customer_id = NULL WHERE customer_id = ?", (customer_id,))
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
        """One page, newest first, with the API's cursor semantics."""
        if starting_after and ending_before:
            raise bad_request("startingAfter", "Only one of startingAfter and endingBefore may be given.")
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
                    param = "startingAfter" if starting_after else "endingBefore"
                    raise not_found("Customer", cursor, param)
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
                raise conflict("source_in_use", f"Source '{source_id}' is attached to another customer.", "sourceId")
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
                raise not_found("Source", source_id, "sourceId")
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
            raise not_found("Source", source_id, parameter)
        return row[0], dict(json.loads(row[1]))

    def _save_source(self, db: sqlite3.Connection, source_id: str, customer_id: str | None, body: dict[str, Any]) -> None:
        db.execute("UPDATE sources SET customer_id = ?, body = ? WHERE id = ?", (customer_id, json.dumps(body), source_id))

    # ---- tax identifiers -------------------------------------------------------------------------------------

    def create_tax_identifier(self, tax_type: str, value: str) -> dict[str, Any]:
        tax_type, value = tax_type.strip().lower(), value.strip()
        shape = _TAX_ID_FORMATS.get(tax_type)
        if shape is not None:
            prefix, low, high = shape
            digits = value[len(prefix):]
            if not value.startswith(prefix) or not digits.isdigit() or not low <= len(digits) <= high:
                raise bad_request("value", f"Tax identifier '{value}' invalid.")
        elif not value.replace("-", "").replace(".", "").isalnum():
            raise bad_request("value", f"Tax identifier '{value}' invalid.")
        now = format_datetime(_now())
        state = "verified" if (tax_type, value) in VERIFIED_TEST_TAX_IDS else "pending"
        country = tax_type.split("_")[0].upper()
        body = {
            "id": str(uuid.uuid4()),
            "createdTime": now,
            "type": tax_type,
            "value": value,
            "state": state,
            "stateTransitions": {state: now},
            "updatedTime": now,
            "applicability": [
                {"country": country, "entity": "DR_IRELAND-ENTITY",
                 "customerType": "individual" if tax_type.endswith("_natural") else "business"}
            ],
            "liveMode": False,
        }
        with self._tx() as db:
            db.execute("INSERT INTO tax_identifiers (id, customer_id, body) VALUES (?, NULL, ?)",
                       (body["id"], json.dumps(body)))
        return body

    def attach_tax_identifier(self, customer_id: str, tax_id: str) -> dict[str, Any]:
        with self._tx() as db:
            self._load_customer(db, customer_id)
            row = db.execute("SELECT customer_id, body FROM tax_identifiers WHERE id = ?", (tax_id,)).fetchone()
            if row is None:
                raise not_found("Tax identifier", tax_id, "taxId")
            owner, body = row[0], json.loads(row[1])
            if owner == customer_id:
                return dict(body)
            if owner is not None:
                raise conflict("customer_not_updateable", "You cannot replace a tax identifier's customer id.",
                               "customerId")
            for (raw,) in db.execute("SELECT body FROM tax_identifiers WHERE customer_id = ?", (customer_id,)):
                if json.loads(raw).get("type") == body.get("type"):
                    raise conflict("tax_identifier_type_exists",
                                   f"Customer '{customer_id}' already holds a tax identifier of type "
                                   f"'{body.get('type')}'.", "taxId")
            body["customerId"] = customer_id
            body["updatedTime"] = format_datetime(_now())
            db.execute("UPDATE tax_identifiers SET customer_id = ?, body = ? WHERE id = ?",
                       (customer_id, json.dumps(body), tax_id))
            return dict(body)

    def detach_tax_identifier(self, customer_id: str, tax_id: str) -> None:
        with self._tx() as db:
            self._load_customer(db, customer_id)
            row = db.execute("SELECT customer_id, body FROM tax_identifiers WHERE id = ?", (tax_id,)).fetchone()
            if row is None or row[0] != customer_id:
                raise not_found("Tax identifier", tax_id, "taxId")
            body = json.loads(row[1])
            body.pop("customerId", None)
            body["updatedTime"] = format_datetime(_now())
            db.execute("UPDATE tax_identifiers SET customer_id = NULL, body = ? WHERE id = ?", (json.dumps(body), tax_id))


def _norm_email(email: Any) -> str | None:
    return email.strip().lower() if isinstance(email, str) else None


def _generate_customer_id(db: sqlite3.Connection) -> str:
    # Numeric ids like the API's own (e.g. 5823594808), unique within the store.
    while True:
        candidate = str(5_000_000_000 + uuid.uuid4().int % 4_000_000_000)
        if not db.execute("SELECT 1 FROM customers WHERE id = ?", (candidate,)).fetchone():
            return candidate
