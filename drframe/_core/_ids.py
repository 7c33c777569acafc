"""The one rule for object ids that go into a URL path: each id reaches exactly the object it names.

An id is refused before anything is sent when it could address something else once it is in a URL: empty,
``.`` or ``..`` (path segments a server or proxy may collapse), a path or query character (``/ \\ ? # %``),
a comma for customer ids (the list filter ``ids=a,b`` splits on it), a character that is not printable
(control, format or separator characters), whitespace at either end, or more characters than the API allows.
Every other id is percent-encoded whole into one path segment.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from .._errors import InvalidRequest

#: The longest customer id the API accepts (client-supplied ids are at most 40 characters).
MAX_CUSTOMER_ID_LENGTH: Final = 40
#: Source and tax-identifier ids are UUIDs; this bound only keeps junk out of URLs.
MAX_OBJECT_ID_LENGTH: Final = 100

_FORBIDDEN = frozenset("/\\?#%")


def id_problem(value: object, *, max_length: int = MAX_OBJECT_ID_LENGTH, customer: bool = False) -> str | None:
    """Why ``value`` cannot be used as an id in a URL path, or None when it can."""
    if not isinstance(value, str):
        return f"an id is text, not {type(value).__name__}"
    if not value:
        return "an id cannot be empty"
    if value in {".", ".."}:
        return f"{value!r} is a path step, not an id"
    if value != value.strip():
        return "an id cannot start or end with whitespace"
    if len(value) > max_length:
        return f"an id is at most {max_length} characters (this one has {len(value)})"
    bad = next((c for c in value if c in _FORBIDDEN or (customer and c == ",")), None)
    if bad is not None:
        return f"an id cannot contain {bad!r}"
    if not all(c.isprintable() for c in value):
        return "an id cannot contain control or invisible characters"
    return None


def customer_id_problem(value: object) -> str | None:
    """:func:`id_problem` with the customer rules (at most 40 characters, no comma)."""
    return id_problem(value, max_length=MAX_CUSTOMER_ID_LENGTH, customer=True)


def check_id(value: object, parameter: str, *, customer: bool = False) -> str:
    """``value`` when it is a safe id, else raise :class:`InvalidRequest` naming ``parameter``."""
    problem = customer_id_problem(value) if customer else id_problem(value)
    if problem is not None:
        raise InvalidRequest([(parameter, "invalid_parameter", f"{problem}: {value!r}")])
    return str(value)


def path(*segments: str) -> str:
    """A URL path from literal segments and checked ids, each percent-encoded whole (``/`` included)."""
    return "/" + "/".join(quote(segment, safe="") for segment in segments)
