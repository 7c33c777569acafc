"""Input files for measuring ``drframe apply --dry-run`` from the command line, one per shape.

Run: ``python benchmarks/make_apply_files.py ROWS DIRECTORY``.  Writes, for ROWS rows each:

- ``creates.csv``: new customers with ids, 9 fields;
- ``creates-noid.csv``: the same without ``customer_id`` (drframe derives the ids);
- ``updates-all.csv``: every field of the first ROWS customers of a sandbox seeded with ``--seed-customers ROWS``
  (the project's generator, seed 0) changed;
- ``updates-one.csv``: one field (``locale``) of those customers changed;
- ``deletes.csv``: those customers deleted;
- ``attaches.csv``: a payment source (``source_id``) attached to each of those customers;
- ``vat.csv``: a VAT number (``tax_identifier.type`` ``de``, ``tax_identifier.value``) given to each of them;
- ``mixed.csv``: a quarter each of creates, all-field updates, one-field updates and deletes.

Measure each as ``/usr/bin/time -v drframe apply FILE --dry-run --base-url http://127.0.0.1:P --api-key
sk_test_sandbox --no-progress`` against ``drframe sandbox --port P --db DB --seed-customers ROWS`` in its own
process (the embedded ``--sandbox`` would count the server's memory too); the peak is "Maximum resident set size".
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from drframe.testing import generate_customers

COLUMNS = ["customer_id", "email", "locale", "enabled", "type", "shipping.name", "shipping.phone",
           "shipping.address.line1", "shipping.address.city", "shipping.address.country"]
LOCALES = ["de_DE", "fr_FR", "en_GB", "nl_NL", "it_IT"]


def new_row(number: int) -> list[str]:
    """A new customer's 9 fields (and its id)."""
    return [f"imp-{number:08d}", f"new{number}@example.org", LOCALES[number % 5], "TRUE" if number % 7 else "FALSE",
            "individual", f"Person {number}", f"+49 30 {number:07d}", f"{number} Main Street", "Berlin", "DE"]


def all_fields(customer: dict[str, Any], number: int) -> list[str]:
    """Every field of an existing customer changed."""
    row = new_row(number)
    row[0] = customer["id"]
    row[3] = "FALSE" if customer.get("enabled", True) else "TRUE"
    row[4] = "business" if customer.get("type") == "individual" else "individual"
    return row


def one_field(customer: dict[str, Any], number: int) -> list[str]:
    locale = "pt_BR" if customer.get("locale") != "pt_BR" else "es_ES"
    return [customer["id"], "", locale, *[""] * (len(COLUMNS) - 3)]


def delete(customer: dict[str, Any], number: int) -> list[str]:
    return [customer["id"], *[""] * (len(COLUMNS) - 1)]


def attach(customer: dict[str, Any], number: int) -> list[str]:
    """A source attached to an existing customer (its id unknown to the customer: a change each)."""
    return ["attach_source", customer["id"], f"src_bench_{number:08d}"]


def vat(customer: dict[str, Any], number: int) -> list[str]:
    """A German VAT number for an existing customer."""
    return ["update", customer["id"], "de", f"DE{number:09d}"]


def write(path: Path, columns: list[str], rows: Iterator[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(columns)
        out.writerows(rows)


def main(rows: int, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    existing = [{k: c.get(k) for k in ("id", "enabled", "type", "locale")} for c in generate_customers(rows, seed=0)]
    write(directory / "creates.csv", COLUMNS, (new_row(n) for n in range(rows)))
    write(directory / "creates-noid.csv", COLUMNS[1:], (new_row(n)[1:] for n in range(rows)))
    shapes: dict[str, Callable[[dict[str, Any], int], list[str]]] = {
        "updates-all": all_fields, "updates-one": one_field}
    for name, make in shapes.items():
        write(directory / f"{name}.csv", COLUMNS, (make(c, n) for n, c in enumerate(existing)))
    write(directory / "deletes.csv", ["action", *COLUMNS],
          (["delete", *delete(c, n)] for n, c in enumerate(existing)))
    write(directory / "attaches.csv", ["action", "customer_id", "source_id"],
          (attach(c, n) for n, c in enumerate(existing)))
    write(directory / "vat.csv", ["action", "customer_id", "tax_identifier.type", "tax_identifier.value"],
          (vat(c, n) for n, c in enumerate(existing)))
    kinds: list[tuple[str, Callable[[dict[str, Any], int], list[str]]]] = [
        ("create", lambda c, n: new_row(n)), ("update", all_fields), ("update", one_field), ("delete", delete)]
    write(directory / "mixed.csv", ["action", *COLUMNS],
          ([kinds[n % 4][0], *kinds[n % 4][1](c, n)] for n, c in enumerate(existing)))


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
