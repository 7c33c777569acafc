"""Numbers, dates and times as a spreadsheet displays them: Excel number-format codes (zero padding, decimals,
percentages, scaling, scientific), the General format's 15 significant digits, dates and times as ISO 8601 showing
the parts their format shows, :func:`excel_text` for a single value, and :func:`number_problem` (whether a
displayed number can be an identifier exactly).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from ..._core._models import format_datetime
from ..._core._text import SIGNIFICANT_DIGITS


@dataclass(frozen=True)
class _NumberFormat:
    """The parts of a number format that decide the digits shown (literals, colours, separators dropped)."""

    min_integer: int = 1
    decimals: int = 0
    min_decimals: int = 0
    percent: bool = False
    exponent_digits: int | None = None
    """Digits of the exponent in scientific formats (``0.00E+00`` -> 2); None when not scientific."""
    scale: int = 1
    """``0,`` shows thousands, ``0,,`` millions."""


_FORMAT_DECORATION = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]|_.|\*.')


def _sections(code: str) -> list[str]:
    """A format code's ``;``-separated sections, ignoring ``;`` inside quotes and escapes."""
    sections: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in code:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            sections.append("".join(current))
            current = []
            continue
        current.append(char)
    return [*sections, "".join(current)]


@lru_cache(maxsize=512)
def _number_format(code: str) -> _NumberFormat | None:
    """The number format of an Excel format code, or None for General/text/fraction formats."""
    section = _FORMAT_DECORATION.sub("", _sections(code or "General")[0])
    if not re.search(r"[0#?]", section) or "/" in section:
        return None
    scientific = re.search(r"[eE][+-]", section)
    mantissa = section[:scientific.start()] if scientific else section
    integer, _, fraction = mantissa.partition(".")
    scaling = re.search(r"[0#?](,+)[^0#?]*$", mantissa)
    placeholders = re.findall(r"[0#?]", fraction)
    return _NumberFormat(
        min_integer=max(1, integer.count("0")),
        decimals=len(placeholders),
        min_decimals=len(fraction) - len(fraction.lstrip("0")),
        percent="%" in section,
        exponent_digits=max(1, section[scientific.end():].count("0")) if scientific else None,
        scale=1000 ** len(scaling.group(1)) if scaling and not scientific else 1,
    )


def general(value: float) -> str:
    """A number as Excel's General format shows it: at most 15 significant digits, exact integers in full."""
    if float(value).is_integer() and abs(value) < 10 ** SIGNIFICANT_DIGITS:
        return str(int(value))
    return format(value, f".{SIGNIFICANT_DIGITS}g").upper()


def format_number(value: float, code: str = "General") -> str:
    """``value`` as a spreadsheet shows it in number format ``code`` (thousands separators left out)."""
    number_format = _number_format(code)
    if number_format is None:
        return general(value)
    if number_format.exponent_digits is not None:
        text = format(float(value) * (100 if number_format.percent else 1), f".{number_format.decimals}E")
        mantissa, _, exponent = text.partition("E")
        digits = exponent[1:].lstrip("0").zfill(number_format.exponent_digits)
        return f"{mantissa}E{exponent[0]}{digits}" + ("%" if number_format.percent else "")
    exact = Decimal(format(value, f".{SIGNIFICANT_DIGITS}g"))  # what the spreadsheet holds: 15 digits
    exact = exact * (100 if number_format.percent else 1) / number_format.scale
    rounded = exact.quantize(Decimal(1).scaleb(-number_format.decimals), rounding=ROUND_HALF_UP)
    integer, _, fraction = format(abs(rounded), "f").partition(".")
    fraction = fraction.rstrip("0").ljust(number_format.min_decimals, "0")
    text = integer.zfill(number_format.min_integer) + (f".{fraction}" if fraction else "")
    return ("-" if rounded < 0 else "") + text + ("%" if number_format.percent else "")


def date_parts(code: str) -> tuple[bool, bool]:
    """Whether a date/time format code shows a date and whether it shows a time."""
    section = _FORMAT_DECORATION.sub("", _sections(code or "")[0]).lower()
    has_time = bool(re.search(r"[hs]|am/pm|a/p", section))
    has_date = bool(re.search(r"[yd]", section)) or ("m" in section and not has_time)
    return has_date, has_time


def _clock(seconds: float, fraction: bool) -> str:
    """``HH:MM:SS`` (hours beyond 24 for durations), rounded to the second unless fractions are shown."""
    if not fraction:
        seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{int(hours):02d}:{int(minutes):02d}:{int(secs):02d}"
    micro = round((secs - int(secs)) * 1_000_000)
    return text + (f".{micro:06d}".rstrip("0") if fraction and micro else "")


def temporal_text(value: datetime | date | time | timedelta, has_date: bool, has_time: bool,
                   fraction: bool = False) -> str:
    """A date/time value as ISO 8601, showing the parts its format shows (both when it shows neither)."""
    if isinstance(value, timedelta):
        return _clock(value.total_seconds(), fraction)
    if isinstance(value, time):
        return _clock(value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6, fraction)
    if not isinstance(value, datetime):
        return value.isoformat()
    if has_date and not has_time:
        return value.date().isoformat()
    if has_time and not has_date:
        return temporal_text(value.time(), False, True, fraction)
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    if not fraction:
        aware = aware.replace(microsecond=0) + timedelta(seconds=round(aware.microsecond / 1e6))
    return format_datetime(aware)


def excel_text(value: Any) -> str:
    """A cell value (from Excel or a DataFrame) as the text the analyst sees, without float artefacts."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return general(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return format_datetime(aware)
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def number_problem(text: str) -> str | None:
    """Why the displayed text of a numeric cell cannot be an identifier exactly, or None when it can.

    A whole number of at most 15 significant digits (leading zeros from a format such as ``00000`` allowed) is
    exact; anything else was rounded (more digits, E-notation) or is not a whole number (decimals, %, dates).
    """
    if re.fullmatch(r"-?\d+", text):
        if len(text.lstrip("-").lstrip("0")) > SIGNIFICANT_DIGITS:
            return f"with more than {SIGNIFICANT_DIGITS} digits, which the spreadsheet has rounded"
        return None
    if re.search(r"\d[eE][+-]?\d", text):
        return f"in E-notation, which the spreadsheet has rounded to {SIGNIFICANT_DIGITS} significant digits"
    return "that is not a whole number (a decimal, percentage or date)"

