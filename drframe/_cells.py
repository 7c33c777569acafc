"""Cell-level rules shared by exports and the sheet reader: formula neutralising, the one text normalisation of
a spreadsheet cell, and PII masking (one place for each)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
REDACTED = "[REDACTED]"
_APOSTROPHE = "'"
#: What :func:`neutralise` prefixes: formula starts, plus the apostrophe itself so the prefix can be undone.
_PREFIXED = (*FORMULA_PREFIXES, _APOSTROPHE)


def is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_PREFIXES)


def neutralise(text: str) -> str:
    """Prefix an apostrophe to text starting with ``= + - @``, TAB or CR (OWASP CSV injection), and to text that
    already starts with an apostrophe, so that :func:`unneutralise` gives back exactly ``text``."""
    return _APOSTROPHE + text if text.startswith(_PREFIXED) else text


def unneutralise(text: str) -> str:
    """Undo :func:`neutralise`: strip exactly one apostrophe when an apostrophe or a formula start follows it."""
    return text[1:] if text.startswith(_APOSTROPHE) and text[1:].startswith(_PREFIXED) else text


def normalise_cell(text: str) -> str:
    """A spreadsheet cell's text as drframe compares it: line ends as LF (XML, so xlsx, turns CR into LF), Unicode
    NFC, surrounding whitespace stripped. Cells are read this way, and a cell whose text equals a stored value
    after this normalisation leaves that value unchanged."""
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n")).strip()


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
