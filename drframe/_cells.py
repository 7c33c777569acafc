"""Cell-level safety for exports: spreadsheet formula neutralising and PII masking (one place for both)."""

from __future__ import annotations

import re
from collections.abc import Callable

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
REDACTED = "[REDACTED]"


def is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_PREFIXES)


def neutralise(text: str) -> str:
    """Prefix a leading ``= + - @`` with an apostrophe so spreadsheets never evaluate it (OWASP CSV injection)."""
    return "'" + text if is_formula_like(text) else text


def unneutralise(text: str) -> str:
    """Undo :func:`neutralise` when reading back a file drframe wrote."""
    return text[1:] if text.startswith("'") and is_formula_like(text[1:]) else text


def mask_email(text: str) -> str:
    """``jsmith@digitalriver.com`` -> ``j*****@digitalriver.com``."""
    local, at, domain = text.partition("@")
    if not at:
        return mask_text(text)
    return (local[:1] + "*" * max(1, len(local) - 1)) + "@" + domain


def mask_phone(text: str) -> str:
    """Keep the last two digits: ``952-111-1111`` -> ``***-***-**11``."""
    digits_seen = 0
    out = []
    total = sum(c.isdigit() for c in text)
    for char in text:
        if char.isdigit():
            digits_seen += 1
            out.append(char if digits_seen > total - 2 else "*")
        else:
            out.append(char)
    return "".join(out)


def mask_text(text: str) -> str:
    return text[:1] + "*" * max(1, len(text) - 1) if text else text


_EMAIL_COLUMN = re.compile(r"(^|\.)email$", re.IGNORECASE)
_PHONE_COLUMN = re.compile(r"(^|\.)(phone|phoneNumber)$", re.IGNORECASE)


def masker_for(column: str) -> Callable[[str], str] | None:
    """The masking function for a column name, or None when the column holds no email/phone."""
    if _EMAIL_COLUMN.search(column):
        return mask_email
    if _PHONE_COLUMN.search(column):
        return mask_phone
    return None
