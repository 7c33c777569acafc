"""Tax identifiers as Digital River's guide (tax-identifiers.md) describes them, free of storage.

The supported types and where each applies, the value formats the sandbox checks, and the documented test
values that verify at once; :func:`new_tax_identifier` builds an identifier from them for the store to keep, and
:func:`tax_identifier_matches` is the list endpoint's filter.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from .._core._models import TAX_IDENTIFIER_APPLICABILITY, parse_datetime
from ._db import us
from ._errors import bad_request

#: Test tax identifiers that verify at once, as documented by Digital River (tax-identifiers.md).
VERIFIED_TEST_TAX_IDS = frozenset(
    {("be", "BE0000000000"), ("be", "BE1234567890"), ("de", "DE000000000"), ("de", "DE123456789"),
     ("it", "IT00000000000"), ("it", "IT12345678901"), ("it_natural", "IT00000000000"),
     ("it_natural", "IT12345678901")}
)
#: The value formats the sandbox checks (EU VAT numbers); other types need letters, digits, '-' or '.' only.
_TAX_ID_FORMATS: dict[str, re.Pattern[str]] = {t: re.compile(pattern) for t, pattern in {
    "at": r"ATU\d{8}", "be": r"BE\d{10}", "de": r"DE\d{9}", "dk": r"DK\d{8}", "es": r"ES[0-9A-Z]\d{7}[0-9A-Z]",
    "fi": r"FI\d{8}", "fr": r"FR[0-9A-Z]{2}\d{9}", "ie": r"IE\d[0-9A-Z+*]\d{5}[A-Z]{1,2}", "it": r"IT\d{11}",
    "it_natural": r"IT\d{11}", "nl": r"NL\d{9}[B\d]\d{2}", "pl": r"PL\d{10}", "se": r"SE\d{12}",
    "uk": r"GB\d{9}(\d{3})?",
}.items()}


def new_tax_identifier(tax_type: str, value: str, now: str) -> dict[str, Any]:
    """A new, unattached tax identifier created at ``now`` (the API's timestamp text).

    ``type`` must be supported and ``value`` of its format (400 naming ``type`` or ``value``); documented test
    values are ``verified`` at once, every other value is ``pending``.
    """
    tax_type, value = tax_type.strip().lower(), value.strip()
    applicability = TAX_IDENTIFIER_APPLICABILITY.get(tax_type)
    if applicability is None:
        raise bad_request("type", f"Tax identifier type '{tax_type[:40]}' is not supported.")
    shape = _TAX_ID_FORMATS.get(tax_type)
    if not (shape.fullmatch(value) if shape else value.replace("-", "").replace(".", "").isalnum()):
        raise bad_request("value", f"Tax identifier '{value[:60]}' invalid.")
    state = "verified" if (tax_type, value) in VERIFIED_TEST_TAX_IDS else "pending"
    return {
        "id": str(uuid.uuid4()),
        "createdTime": now,
        "type": tax_type,
        "value": value,
        "state": state,
        "stateTransitions": {state: now},
        "updatedTime": now,
        "applicability": [{"country": country, "entity": entity, "customerType": customer_type}
                          for country, customer_type, entity in applicability],
        "liveMode": False,
    }


def time_us(value: Any) -> int:
    """Microseconds of an API timestamp (0 when absent or unreadable), for ordering and filters."""
    try:
        return us(parse_datetime(value)) if isinstance(value, str) else 0
    except ValueError:
        return 0


_COMPARE = {"eq": int.__eq__, "gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}


def tax_identifier_matches(body: dict[str, Any], fields: dict[str, str], created: dict[str, datetime] | None,
                           updated: dict[str, datetime] | None, transitions: dict[str, datetime] | None) -> bool:
    """Whether a tax identifier passes a list's filters (see ``Store.list_tax_identifiers``)."""
    if any(body.get(name) != value for name, value in fields.items()):
        return False
    for name, bounds in (("createdTime", created), ("updatedTime", updated)):
        stamp = time_us(body.get(name))
        if any(not _COMPARE[op](stamp, us(value)) for op, value in (bounds or {}).items()):
            return False
    entered = body.get("stateTransitions") or {}
    return all(time_us(entered.get(state)) == us(value) for state, value in (transitions or {}).items())
