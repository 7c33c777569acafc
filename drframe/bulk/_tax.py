"""A row's tax number (``tax_identifier.type`` / ``.value``): make the customer hold exactly that one of its type.

The API cannot change an identifier's value, and creating one is not idempotent (the server names it), so the
steps are written to be safe to repeat after a crash at any point, without a journal of their own:

1. delete the customer's identifier of that type with another value (a 404 means an earlier run did);
2. reuse an unattached identifier with that type and value (an earlier run created it, then stopped), else
   create one;
3. attach it (attaching it again is a no-op).

A re-run plans against fresh state: once step 3 has happened the row is ``unchanged``.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from .._errors import NotFound

if TYPE_CHECKING:
    from .._api._client import Client
    from .._core._models import TaxIdentifier
    from ._rows import RowPlan


def put_tax_identifier(client: Client, row: RowPlan) -> TaxIdentifier:
    """Carry out the row's tax-number change (see the module docstring); returns the attached identifier."""
    assert row.tax_identifier is not None and row.customer_id is not None
    kind, value = row.tax_identifier
    if row.replaces_tax_id:
        # NotFound: already gone (an earlier, interrupted run), or no longer this customer's: nothing to delete.
        with contextlib.suppress(NotFound):
            client.customers.detach_tax_identifier(row.customer_id, row.replaces_tax_id)
    spare = next((t for t in client.tax_identifiers.iter(type=kind, value=value)
                  if not t.customerId and t.type == kind and t.value == value), None)
    identifier = spare or client.tax_identifiers.create(kind, value)
    return client.customers.attach_tax_identifier(row.customer_id, identifier.id)
