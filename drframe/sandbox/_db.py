"""The sandbox's SQL layer: the SQLite schema, customers stored as the API returns them, and their pages.

Every object is stored as compact JSON text (:func:`dumps`, the bytes Starlette's ``JSONResponse`` writes), and a
customer's row holds the whole object a response carries, its sources' and tax identifiers' texts spliced in
(:func:`render`): a page of customers is its rows' texts joined, never parsed or re-serialised.  So whatever
changes a customer's own fields, sources or tax identifiers re-renders its row (:func:`save_customer`,
:func:`refresh_customer`).  The domain rules are in ``_store``.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from .._core._models import parse_datetime
from ._errors import not_found, unknown_cursor

#: ``PRAGMA user_version`` of the current layout; in 0, customer rows did not embed their children and texts were
#: not compact.
SCHEMA_VERSION = 1

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

#: The keys a customer's row embeds from the other tables, always last and in this order.
CHILDREN = ("sources", "taxIdentifiers")
_OPERATORS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def open_db(path: str) -> sqlite3.Connection:
    """The store's connection to ``path`` (``":memory:"`` or a file), its schema created or brought up to date."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL" if path != ":memory:" else "PRAGMA journal_mode=MEMORY")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(_SCHEMA)
    if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
        db.execute("BEGIN IMMEDIATE")
        for table in ("sources", "tax_identifiers"):
            db.executemany(f"UPDATE {table} SET body = ? WHERE seq = ?",
                           [(dumps(json.loads(raw)), seq) for seq, raw in db.execute(f"SELECT seq, body FROM {table}")])
        for (customer_id,) in db.execute("SELECT id FROM customers").fetchall():
            refresh_customer(db, customer_id)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    return db


def dumps(value: Any) -> str:
    """Compact JSON text, exactly as Starlette's ``JSONResponse`` renders a response."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))


def us(value: datetime) -> int:
    """Microseconds since the epoch, the stored form of a time (for ordering and filters)."""
    return int(value.timestamp() * 1_000_000)


def now() -> datetime:
    """The current time at millisecond precision, as the API reports times."""
    value = datetime.now(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def norm_email(email: Any) -> str | None:
    """The stored, case-insensitive form of an email (what the ``email`` filter compares)."""
    return email.strip().lower() if isinstance(email, str) else None


# ---- customers --------------------------------------------------------------------------------------------------


def render(body: dict[str, Any], sources: list[str], tax_identifiers: list[str]) -> str:
    """A customer's stored text: its own fields ``body`` (never empty: it has an id), then its sources and tax
    identifiers when it has any, given as their own texts (compact JSON nests as is)."""
    tail = "".join(f',"{key}":[{",".join(texts)}]' for key, texts in zip(CHILDREN, (sources, tax_identifiers),
                                                                         strict=True) if texts)
    text = dumps(body)
    return f"{text[:-1]}{tail}}}" if tail else text


def save_customer(db: sqlite3.Connection, body: dict[str, Any], children: tuple[list[str], list[str]] | None = None,
                  *, insert: bool = False) -> str:
    """Insert (``insert``) or rewrite the row of the customer with own fields ``body``; returns its text.

    ``children`` are the texts of its ``(sources, tax identifiers)`` when the caller has them, else they are read
    from their tables.  The indexed columns all derive from ``body``.
    """
    customer_id = body["id"]
    if children is None:
        children = (_children(db, "sources", customer_id), _children(db, "tax_identifiers", customer_id))
    text = render(body, *children)
    created = us(parse_datetime(body["createdTime"]))
    updated = us(parse_datetime(body.get("updatedTime") or body["createdTime"]))
    values = (created, updated, norm_email(body.get("email")), int(bool(body.get("requestToBeForgotten"))), text,
              customer_id)
    if insert:
        db.execute("INSERT INTO customers (created_us, updated_us, email, forgotten, body, id)"
                   " VALUES (?, ?, ?, ?, ?, ?)", values)
    else:
        db.execute("UPDATE customers SET created_us = ?, updated_us = ?, email = ?, forgotten = ?, body = ?"
                   " WHERE id = ?", values)
    return text


def refresh_customer(db: sqlite3.Connection, customer_id: str) -> None:
    """Re-render a customer's row after its sources or tax identifiers changed."""
    save_customer(db, load_customer(db, customer_id))


def customer_text(db: sqlite3.Connection, customer_id: str) -> bytes:
    """A customer's stored text, UTF-8 encoded (404 if there is none)."""
    # CAST AS BLOB: SQLite hands over the bytes it holds, where a TEXT value would be decoded into a str.
    row = db.execute("SELECT CAST(body AS BLOB) FROM customers WHERE id = ?", (customer_id,)).fetchone()
    if row is None:
        raise not_found("Customer", customer_id)
    return bytes(row[0])


def load_customer(db: sqlite3.Connection, customer_id: str) -> dict[str, Any]:
    """A customer's own fields, without the embedded sources and tax identifiers (404 if there is none)."""
    body: dict[str, Any] = json.loads(customer_text(db, customer_id))
    for key in CHILDREN:
        body.pop(key, None)
    return body


def _children(db: sqlite3.Connection, table: str, customer_id: str) -> list[str]:
    """The texts of the customer's rows of ``table`` (sources or tax identifiers), in the order they were created."""
    return [raw for (raw,) in db.execute(f"SELECT body FROM {table} WHERE customer_id = ? ORDER BY seq", (customer_id,))]


def customer_page(
    db: sqlite3.Connection,
    *,
    limit: int,
    starting_after: str | None = None,
    ending_before: str | None = None,
    ids: list[str] | None = None,
    email: str | None = None,
    created: dict[str, datetime] | None = None,
    updated: dict[str, datetime] | None = None,
    forgotten: bool | None = None,
) -> tuple[bool, list[bytes]]:
    """``(hasMore, texts)`` of one page (UTF-8, as :func:`customer_text`), newest first, ties in insertion
    order; ``ending_before`` wins.

    Keyset pagination on ``(created_us, seq)``, the ``customers_order`` index: a page costs the same at any depth.
    """
    if ending_before:
        starting_after = None
    where: list[str] = []
    args: list[Any] = []
    if ids is not None:
        where.append(f"id IN ({','.join('?' * len(ids))})")
        args.extend(ids)
    if email is not None:
        where.append("email = ?")
        args.append(norm_email(email))
    if forgotten is not None:
        where.append("forgotten = ?")
        args.append(int(forgotten))
    for column, bounds in (("created_us", created), ("updated_us", updated)):
        for op, value in (bounds or {}).items():
            where.append(f"{column} {_OPERATORS[op]} ?")
            args.append(us(value))
    descending = True
    cursor = starting_after or ending_before
    if cursor:
        row = db.execute("SELECT created_us, seq FROM customers WHERE id = ?", (cursor,)).fetchone()
        if row is None:
            raise unknown_cursor("Customer", cursor, "startingAfter" if starting_after else "endingBefore")
        where.append("(created_us, seq) < (?, ?)" if starting_after else "(created_us, seq) > (?, ?)")
        args.extend(row)
        descending = bool(starting_after)
    condition = " WHERE " + " AND ".join(where) if where else ""
    if ids is not None:
        # At most 100 rows, sorted here: SQLite's sorter would copy every body along with its key.
        rows = db.execute(f"SELECT created_us, seq, CAST(body AS BLOB) FROM customers{condition}", args).fetchall()
        rows.sort(key=itemgetter(0, 1), reverse=descending)
        texts = [text for _, _, text in rows[:limit + 1]]
    else:
        order = "DESC" if descending else "ASC"
        sql = f"SELECT CAST(body AS BLOB) FROM customers{condition} ORDER BY created_us {order}, seq {order} LIMIT ?"
        texts = [text for (text,) in db.execute(sql, [*args, limit + 1])]
    has_more = len(texts) > limit
    del texts[limit:]
    if not descending:
        texts.reverse()
    return has_more, texts
