"""The four tables' shape: :class:`TableSpec` and :data:`SPECS`, the key and bookkeeping column names,
:func:`column_path` (a column name back to its JSON path) and :func:`column_order` (the order of a table's
columns, for the frames and the Parquet files alike).  Everything else in the package builds on these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..._core._models import PAYMENT_TYPES
from ..._core._schema import (
    CUSTOMER_PATHS,
    FREE_FORM_PREFIXES,
    SOURCE_PATHS,
    TAX_CERTIFICATE_PATHS,
    TAX_IDENTIFIER_PATHS,
)

EMPTY_VALUES_COLUMN = "_empty_values"
#: In the child tables: the index label of the parent row in ``customers`` (two records may share an id).
PARENT_ROW_COLUMN = "customer_row"


@dataclass(frozen=True)
class TableSpec:
    name: str
    key: str | None
    parent_key: str | None
    paths: Mapping[str, str]
    #: Declared paths that only get a column when some row has them (the many payment-method sub-objects).
    optional_prefixes: tuple[str, ...] = ()

    def always(self, path: str) -> bool:
        return not path.startswith(self.optional_prefixes)


CUSTOMER_KEY = "customer_id"
CUSTOMERS = TableSpec("customers", CUSTOMER_KEY, None, CUSTOMER_PATHS)
SOURCES = TableSpec(
    "sources", "source_id", "customer_id", SOURCE_PATHS,
    optional_prefixes=tuple(f"{t}." for t in PAYMENT_TYPES if t != "creditCard"),
)
TAX_IDENTIFIERS = TableSpec("tax_identifiers", "tax_id", "customer_id", TAX_IDENTIFIER_PATHS)
TAX_CERTIFICATES = TableSpec("tax_certificates", None, "customer_id", TAX_CERTIFICATE_PATHS)
SPECS = {spec.name: spec for spec in (CUSTOMERS, SOURCES, TAX_IDENTIFIERS, TAX_CERTIFICATES)}
_NESTED = (("sources", SOURCES), ("taxIdentifiers", TAX_IDENTIFIERS), ("taxCertificates", TAX_CERTIFICATES))
_NESTED_FIELDS = frozenset(name for name, _ in _NESTED)
#: Records flattened together: big enough that per-key work is noise, small enough that a streamed input
#: (``client.customers.to_frames()``) never holds more than one chunk of response objects.
_CHUNK = 2048


def column_path(column: str) -> tuple[str, ...]:
    """The JSON path of a column: ``metadata.a.b`` is key ``a.b`` of metadata; other dots nest."""
    for prefix in FREE_FORM_PREFIXES:
        if column.startswith(prefix + "."):
            return (prefix, column[len(prefix) + 1:])
    return tuple(column.split("."))


def column_order(table: str, columns: Iterable[str]) -> list[str]:
    """``columns`` of ``table`` in the order :func:`drframe.to_frames` gives them: the key, the parent key,
    ``position`` and ``customer_row``, the declared paths as declared, free-form (``metadata.*``) then undeclared
    paths alphabetically, then ``_empty_values``."""
    spec = SPECS[table]
    lead = [c for c in (spec.key, spec.parent_key) if c] + (["position", PARENT_ROW_COLUMN] if spec.parent_key else [])
    declared = {path: index for index, path in enumerate(spec.paths)}

    def rank(column: str) -> tuple[int, int, str]:
        if column in lead:
            return 0, lead.index(column), ""
        if column == EMPTY_VALUES_COLUMN:
            return 4, 0, ""
        if column in declared:
            return 1, declared[column], ""
        return (2 if column_path(column)[0] in FREE_FORM_PREFIXES else 3), 0, column

    return sorted(columns, key=rank)


#: Pseudo-path of a child table's parent id while its chunks are collected.
_PARENT = "\0parent"
