"""drframe: Digital River customer records as typed pandas DataFrames, bulk edits, notebook forms and audits."""

from __future__ import annotations

from ._client import Client, Page
from ._connect import connect
from ._errors import (
    APIError,
    BadRequest,
    ConfigurationError,
    Conflict,
    ConnectionFailed,
    DRError,
    Forbidden,
    InvalidRequest,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    RateLimited,
    RequestTimeout,
    ServerError,
    Unauthorized,
)
from ._retry import RetryPolicy
from ._version import __version__

__all__ = [
    "APIError", "BadRequest", "Client", "ConfigurationError", "Conflict", "ConnectionFailed", "DRError",
    "Forbidden", "InvalidRequest", "MethodNotAllowed", "NotAcceptable", "NotFound", "Page", "RateLimited",
    "RequestTimeout", "RetryPolicy", "ServerError", "Unauthorized", "__version__", "connect", "to_frames",
]


def __getattr__(name: str) -> object:
    # Heavy submodules (pandas, openpyxl, ipywidgets) load on first use.
    if name == "to_frames":
        from ._frames import to_frames

        return to_frames
    if name in {"bulk", "report", "widgets", "sandbox"}:
        import importlib

        return importlib.import_module(f"drframe.{name}")
    raise AttributeError(f"module 'drframe' has no attribute {name!r}")
