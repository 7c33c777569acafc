"""Finding customers by email (the API's filter), id(s) or a pandas query on a frame the user holds."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._errors import APIError, ConnectionFailed, InvalidRequest, QueryError
from .._tables._frames import CUSTOMER_KEY, Frames, is_missing, to_frames

if TYPE_CHECKING:
    from .._api._client import Client

from ._common import _api_error_text

_SEARCH_ERRORS = (APIError, ConnectionFailed, InvalidRequest, QueryError)


#: The columns a match shows (those the frame has).
_MATCH_COLUMNS = ("customer_id", "email", "locale", "type", "enabled", "shipping.name", "shipping.address.country")


_SEARCH_MODES = ("auto", "email", "ids", "query")


_QUERY_SIGNS = re.compile(r"==|!=|<|>|\.str\.|`|\b(and|or|not|in)\b")


def _search_error_text(exc: Exception) -> str:
    if isinstance(exc, APIError):
        return _api_error_text(exc)
    if isinstance(exc, ConnectionFailed):
        return f"Could not reach the API: {exc}"
    return str(exc)


def _search_kind(text: str, frame: pd.DataFrame | None) -> str:
    """What ``auto`` searches by: a query when a frame is held and the text reads as one, an email when it has an
    ``@``, else ids."""
    if frame is not None and _QUERY_SIGNS.search(text):
        return "query"
    return "email" if "@" in text else "ids"


def find_customers(client: Client, text: str, *, by: str = "auto",
                   frame: pd.DataFrame | Frames | None = None) -> pd.DataFrame:
    """The customers frame rows matching ``text``: ``by="email"`` (the API's ``email`` filter: several customers
    may share one), ``"ids"`` (ids separated by commas or spaces; ids the API does not have are left out),
    ``"query"`` (``DataFrame.query`` on ``frame``, the customers frame the caller holds: no API call), or
    ``"auto"``. Raises APIError, ConnectionFailed, InvalidRequest (an id the API cannot address) or QueryError."""
    held = frame.customers if isinstance(frame, Frames) else frame
    text = text.strip()
    kind = _search_kind(text, held) if by == "auto" else by
    if kind not in _SEARCH_MODES[1:]:
        raise ValueError(f"by must be one of {', '.join(_SEARCH_MODES)}, not {by!r}")
    if not text:
        return to_frames([]).customers
    if kind == "query":
        if held is None:
            raise QueryError("A query needs a frame to run on: CustomerFinder(client, frames).")
        try:
            return held.query(text, engine="python")
        except Exception as exc:  # pandas raises many kinds (SyntaxError, UndefinedVariableError, TypeError...)
            raise QueryError(f"Not a query pandas can run on the frame: {exc}. Column names with dots go in "
                             "backticks: `shipping.address.country` == 'DE'") from exc
    if kind == "email":
        return to_frames(list(client.customers.iter_raw(email=text))).customers
    ids = list(dict.fromkeys(re.split(r"[\s,;]+", text)))
    found = client.customers.get_many_raw(ids)
    return to_frames([found[i] for i in ids if i in found]).customers


def _match_label(row: Mapping[Any, Any]) -> str:
    parts = [str(row[CUSTOMER_KEY])] + [str(row[c]) for c in ("shipping.name", "locale", "createdTime")
                                        if c in row and not is_missing(row[c])]
    return " · ".join(parts)
