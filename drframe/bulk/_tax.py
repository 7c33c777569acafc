"""A row's tax number (``tax_identifier.type`` / ``.value``): make the customer hold exactly that one of its type.

The API cannot change an identifier's value, and creating one is not idempotent (the server names it), so the
steps are written to be safe to repeat after a crash at any point:

1. delete the customer's identifier of that type with another value (a 404 means an earlier run did);
2. reuse the identifier an earlier run of this file created for this row and recorded in the journal, when it
   is still unattached (or already this customer's); else create one and record its id before attaching it;
3. attach it (attaching it again is a no-op).

An unattached identifier with the same value that no run of this file recorded is never taken: another worker
may have just created it for another row sharing the number (branches of one company), or the merchant's
checkout for someone else.  Each row gets its own identifier.  A run killed while its create was on the wire
can leave one unattached identifier behind (the API has no idempotency key); it is never attached to anyone.

A re-run plans against fresh state: once step 3 has happened the row is ``unchanged``.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Protocol

from .._errors import NotFound

if TYPE_CHECKING:
    from .._api._client import Client
    from .._core._models import TaxIdentifier
    from ._rowplan import RowPlan


class TaxBook(Protocol):
    """Where a run records the tax identifiers it creates (the journal)."""

    tax_ids: dict[int, str]

    def tax_created(self, row: int, tax_id: str) -> None: ...


def put_tax_identifier(client: Client, row: RowPlan, book: TaxBook) -> TaxIdentifier:
    """Carry out the row's tax-number change (see the module docstring); returns the attached identifier."""
    assert row.tax_identifier is not None and row.customer_id is not None
    kind, value = row.tax_identifier
    if row.replaces_tax_id:
        # NotFound: already gone (an earlier, interrupted run), or no longer this customer's: nothing to delete.
        with contextlib.suppress(NotFound):
            client.customers.detach_tax_identifier(row.customer_id, row.replaces_tax_id)
    identifier = _created_earlier(client, row, book)
    if identifier is None:
        identifier = client.tax_identifiers.create(kind, value)
        book.tax_created(row.row, identifier.id)
    return client.customers.attach_tax_identifier(row.customer_id, identifier.id)


def _created_earlier(client: Client, row: RowPlan, book: TaxBook) -> TaxIdentifier | None:
    """The identifier a run of this file created for ``row``, when it still fits it (unattached or this
    customer's, of the row's type and value)."""
    recorded = book.tax_ids.get(row.row)
    if recorded is None or row.tax_identifier is None:
        return None
    try:
        identifier = client.tax_identifiers.get(recorded)
    except NotFound:
        return None
    fits = (identifier.type, identifier.value) == row.tax_identifier
    return identifier if fits and identifier.customerId in {None, "", row.customer_id} else None
