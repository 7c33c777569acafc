"""What the widgets share: layout, how a value and an API error are shown."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from .._errors import APIError, NotFound, RateLimited, Unauthorized

_LABEL_LAYOUT = {"description_width": "180px"}


_WIDE = w.Layout(width="520px")


def _api_error_text(exc: APIError) -> str:
    if isinstance(exc, Unauthorized):
        return ("The API refused the key (401): check DR_API_KEY, or the key given to drframe.connect "
                f"({exc.message})")
    if isinstance(exc, NotFound):
        lead = "This customer no longer exists (404)."
    elif isinstance(exc, RateLimited):
        wait = f" Try again in {exc.retry_after:.0f} s." if exc.retry_after else " Try again shortly."
        return f"The API is rate limiting requests (429).{wait}"
    elif exc.status == 409:
        lead = "The API refused the change because of a conflict (409)."
    else:
        lead = f"The API refused the change ({exc.status})."
    where = f" Field {exc.parameter}:" if exc.parameter else ""
    return f"{lead}{where} {exc.message}"


def _shown(value: Any) -> str:
    return "(empty)" if value is None else str(value)


def _status_html(message: str, *, ok: bool = True) -> str:
    """A status line: the message escaped, green when ``ok``, red otherwise; empty for no message."""
    color = "#1b5e20" if ok else "#b00020"
    return f"<span style='color:{color}'>{html.escape(message)}</span>" if message else ""
