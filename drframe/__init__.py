"""drframe: Digital River customer records as typed pandas DataFrames, bulk edits, notebook forms and audits.

The public surface is what ``__all__`` lists: the client and :func:`connect`, :func:`to_frames` and
:class:`Frames` (and :func:`read_parquet` to load their Parquet files), :func:`diff_frames`, :func:`sync`, the
exception hierarchy, and the submodules ``bulk``, ``report``, ``widgets``, ``sandbox`` and ``testing``.
Everything in a module whose name starts with ``_`` is private.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import TYPE_CHECKING, Any

from ._api._client import Client
from ._api._resources import Page
from ._api._retry import RetryPolicy
from ._connect import connect
from ._errors import (
    APIError,
    BadRequest,
    ConfigurationError,
    Conflict,
    ConnectionFailed,
    DRError,
    ExportError,
    Forbidden,
    InvalidRequest,
    JournalError,
    JournalLocked,
    LimitExceeded,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    PlanRefused,
    RateLimited,
    RequestTimeout,
    ServerError,
    SheetError,
    Unauthorized,
    UnknownFieldWarning,
)
from ._version import __version__

if TYPE_CHECKING:  # visible to type checkers; loaded on first use at run time (pandas, openpyxl, ipywidgets)
    from . import bulk, report, sandbox, testing, widgets
    from ._files._parquet import read_parquet
    from ._sync import SyncResult, sync
    from ._tables._editing import diff_frames
    from ._tables._frames import Frames, to_frames

__all__ = [
    "APIError", "BadRequest", "Client", "ConfigurationError", "Conflict", "ConnectionFailed", "DRError", "ExportError",
    "Forbidden", "Frames", "InvalidRequest", "JournalError", "JournalLocked", "LimitExceeded", "MethodNotAllowed",
    "NotAcceptable", "NotFound", "Page", "PlanRefused", "RateLimited", "RequestTimeout", "RetryPolicy", "ServerError",
    "SheetError", "SyncResult",
    "Unauthorized", "UnknownFieldWarning", "__version__", "bulk", "connect", "diff_frames", "read_parquet", "report",
    "sandbox", "sync", "testing", "to_frames", "widgets",
]

_LAZY_NAMES = {"to_frames": "._tables._frames", "Frames": "._tables._frames", "diff_frames": "._tables._editing", "sync": "._sync",
               "SyncResult": "._sync", "read_parquet": "._files._parquet"}
_SUBMODULES = frozenset({"bulk", "report", "widgets", "sandbox", "testing"})


def _publish(value: Any) -> Any:
    """Show a public name as ``drframe.X`` (reprs, docs, pickling), as httpx does."""
    with contextlib.suppress(AttributeError, TypeError):  # a module or a constant keeps its own
        value.__module__ = __name__
    return value


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        value = _publish(getattr(importlib.import_module(_LAZY_NAMES[name], __name__), name))
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


for _name in __all__:
    if _name not in _LAZY_NAMES and _name not in _SUBMODULES and _name != "__version__":
        _publish(globals()[_name])
del _name
