"""The sample update spreadsheet shipped in data/ and used by ``drframe demo``: real changes plus a few bad rows.

Its ids match the embedded sandbox seeded with ``seed_customers >= 300`` (ids 5800000000 ...).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

SAMPLE_COLUMNS = ["customer_id", "action", "email", "locale", "enabled", "shipping.address.postalCode",
                  "metadata.segment", "metadata.source"]


def sample_updates() -> pd.DataFrame:
    """The sample rows as text (every cell a string, as a spreadsheet holds them)."""
    rows: list[dict[str, str]] = []
    for n in range(10, 30):
        rows.append({"customer_id": str(5_800_000_000 + n), "locale": "fr_FR" if n % 2 else "",
                     "metadata.segment": "vip" if n % 3 == 0 else "smb", "metadata.source": "spring-import"})
    rows[3]["shipping.address.postalCode"] = "02108"  # a leading zero that must survive
    rows[4]["enabled"] = "no"
    rows[5]["metadata.source"] = "<clear>"
    rows += [
        {"customer_id": "demo-new-1", "action": "create", "email": "new.customer@example.com", "locale": "en_GB"},
        {"action": "create", "email": "no.id.given@example.com", "locale": "de_DE"},
        {"customer_id": "5800000299", "action": "delete"},
        # Bad rows: each ends "invalid" with the column and value named; nothing is sent for them.
        {"customer_id": "5800000040", "email": "not-an-email"},
        {"customer_id": "5800000041", "locale": "en-us"},
        {"customer_id": "5800000042", "enabled": "maybe"},
        {"customer_id": "5800000043", "action": "updat", "locale": "it_IT"},
        {"customer_id": "5800000044", "locale": "es_ES"},
        {"customer_id": "5800000044", "locale": "pt_PT"},
        {"customer_id": "5800000045", "email": "=HYPERLINK(\"http://evil.example\")"},
    ]
    return pd.DataFrame(rows, columns=SAMPLE_COLUMNS).fillna("").astype("string")


def write_samples(directory: str | Path) -> list[Path]:
    """Write ``customer-updates.xlsx`` and ``customer-updates.csv`` into ``directory``."""
    from ._export import write_table

    directory = Path(directory)
    frame = sample_updates().replace("", pd.NA)
    return [write_table(directory / "customer-updates.xlsx", frame, sheet="customers"),
            write_table(directory / "customer-updates.csv", frame)]
