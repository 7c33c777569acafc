"""Cell-level rules shared by exports and the sheet reader: formula neutralising, the one text normalisation of
a spreadsheet cell, and PII masking (one place for each)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
REDACTED = "[REDACTED]"
#: The cell text that clears a field in a bulk input (typed as ``'<clear>`` it is the text itself).
CLEAR = "<clear>"
#: The texts spreadsheets show for error cells (Excel's, and LibreOffice's ``Err:nnn``).
ERROR_VALUES = frozenset({
    "#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!", "#GETTING_DATA",
    "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!", "#EXTERNAL!", "#PYTHON!",
})
#: The header suffix of datetime columns in xlsx: the values are UTC, which a spreadsheet cannot say itself.
UTC_SUFFIX = " (UTC)"
#: Spreadsheets hold numbers as IEEE doubles and show at most this many significant digits.
SIGNIFICANT_DIGITS = 15
_LIBREOFFICE_ERROR = re.compile(r"^Err:\d{3}$")
_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$")
_APOSTROPHE = "'"
#: What :func:`neutralise` prefixes: formula starts, plus the apostrophe itself so the prefix can be undone.
_PREFIXED = (*FORMULA_PREFIXES, _APOSTROPHE)
#: The first characters of every text :func:`needs_quote` marks, once normalised: the prefixes, an error
#: value's (``#``, LibreOffice's ``Err:``), the clear token's and a number's.
_QUOTE_STARTS = frozenset("".join(_PREFIXED) + "#E<0123456789")
#: A pattern (RE2 and Python ``re`` alike) that finds every text :func:`needs_quote` marks, and few others: so an
#: export checks a whole text column at once and calls it only on the cells found.
QUOTE_CANDIDATES = (r"^[=+\-@'#<E\x09-\x0d\x1c-\x20]|[\x09-\x0d\x1c-\x20]$|\r|[^\x00-\x7f]"
                    r"|^\d+(?:[.,]\d+)?[eE][+-]?\d+$|^\d{16,}$")


def is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_PREFIXES)


def is_error_value(text: str) -> bool:
    """Whether ``text`` is what a spreadsheet shows for an error cell (``#N/A``, ``#DIV/0!``, ``Err:502``...)."""
    return text in ERROR_VALUES or bool(_LIBREOFFICE_ERROR.match(text))


def looks_rounded(text: str) -> bool:
    """A text that can only be a number a spreadsheet rounded: E-notation, or 16+ digits ending in zeros."""
    if _SCIENTIFIC.match(text):
        return True
    digits = text.lstrip("0")
    return text.isdigit() and text.isascii() and len(digits) > SIGNIFICANT_DIGITS \
        and not digits[SIGNIFICANT_DIGITS:].strip("0")


#: Last path segments of columns whose text must stay exactly as typed (ids, postal codes, phones): a spreadsheet
#: that takes ``02108`` for a number stores 2108.
_EXACT_NAMES = frozenset({"id", "postalCode", "phone", "phoneNumber", "lastFourDigits"})


def is_exact_column(column: str) -> bool:
    """Whether ``column`` holds ids, postal codes or phone numbers (``customer_id``, ``defaultSourceId``,
    ``shipping.address.postalCode``, ``shipping.phone``...): text a spreadsheet must not take for a number."""
    last = column.rsplit(".", 1)[-1]
    return last in _EXACT_NAMES or last.endswith(("_id", "Id"))


def is_digits(text: object) -> bool:
    """Whether ``text`` is a text made only of ASCII digits (``"02108"``), which a spreadsheet takes for a number."""
    return isinstance(text, str) and text.isascii() and text.isdigit()


def drops_leading_zeros(before: object, after: object) -> bool:
    """Whether the only difference from ``before`` to ``after`` is leading zeros dropped from a text of digits
    (``'02108'`` -> ``'2108'``): what a spreadsheet does to such text it reads as a number."""
    return (is_digits(before) and is_digits(after) and before != after and str(before).startswith("0")
            and str(before).lstrip("0") == str(after).lstrip("0") and len(str(after)) < len(str(before)))


def lost_in_encoding(before: object, after: object, encoding: str) -> bool:
    """Whether ``after`` is ``before`` as a file saved in ``encoding`` holds it, each character the encoding lacks
    replaced by ``?`` (``'東京'`` -> ``'??'``): what Excel and LibreOffice write to a CSV in a legacy encoding."""
    if not isinstance(before, str) or not isinstance(after, str) or before == after:
        return False
    try:
        return before.encode(encoding, errors="replace").decode(encoding) == after
    except LookupError:
        return False


def garbled_utf8(before: object, after: object) -> bool:
    """Whether ``after`` is ``before``'s UTF-8 bytes read as Windows-1252 (``'Léa'`` -> ``'LÃ©a'``): what a
    spreadsheet makes of a UTF-8 CSV it opens as ANSI, and writes back when the file is saved."""
    if not isinstance(before, str) or not isinstance(after, str) or before == after or before.isascii():
        return False
    read = bytearray()
    for char in after:
        try:
            read += char.encode("cp1252")
        except UnicodeEncodeError:
            code = ord(char)
            if 0x80 <= code <= 0xFF:  # Latin-1: the bytes Windows-1252 leaves undefined
                read.append(code)
            elif 0xF100 <= code <= 0xF1FF:  # LibreOffice's stand-in for such a byte
                read.append(code - 0xF100)
            else:
                return False
    return bytes(read) == before.encode("utf-8")


def needs_quote(text: str) -> bool:
    """Whether an export must mark ``text`` as literal text (a leading apostrophe in CSV, Excel's quote prefix in
    xlsx): a formula start, a leading apostrophe, or a text the reader would otherwise take for an error cell,
    the clear token or a rounded number."""
    first = text[:1]
    if (first not in _QUOTE_STARTS and text.isascii() and not first.isspace() and not text[-1:].isspace()
            and "\r" not in text):
        # Fast path (exports call this for every text cell): ASCII text without surrounding whitespace or CR is
        # its own normalised form, and every rule below needs one of these first characters.
        return False
    if text.startswith(_PREFIXED):
        return True
    shown = normalise_cell(text)
    return is_error_value(shown) or shown.casefold() == CLEAR or looks_rounded(shown)


def neutralise(text: str) -> str:
    """Prefix an apostrophe where :func:`needs_quote` says so (OWASP CSV injection, and exact round trips), so
    that :func:`unquote` gives back exactly ``text``."""
    return _APOSTROPHE + text if needs_quote(text) else text


def unquote(text: str) -> str | None:
    """The literal text of an apostrophe-quoted cell that :func:`neutralise` wrote, or None when ``text`` is
    not quoted (strips exactly one apostrophe)."""
    return text[1:] if text.startswith(_APOSTROPHE) and needs_quote(text[1:]) else None


def unneutralise(text: str) -> str:
    """Undo :func:`neutralise`."""
    literal = unquote(text)
    return text if literal is None else literal


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
