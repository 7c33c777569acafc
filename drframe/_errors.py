"""Every exception and warning drframe raises, in one hierarchy::

    DRError
    ├── ConfigurationError        no target, bad base URL, conflicting options
    ├── InvalidRequest            refused before sending: (parameter, code, message) per problem
    ├── ConnectionFailed          the transport failed for good (cause, outcome_unknown)
    ├── APIError                  an error response: status, type, code, parameter, message, request_id
    │   ├── BadRequest (400)   ├── Unauthorized (401)   ├── Forbidden (403)   ├── NotFound (404)
    │   ├── MethodNotAllowed (405)   ├── NotAcceptable (406)   ├── RequestTimeout (408)
    │   ├── Conflict (409)     ├── RateLimited (429)    └── ServerError (5xx)
    ├── SheetError                an input file as a whole cannot be used; nothing was sent
    ├── JournalError              a bulk run's journal is damaged or cannot be written
    │   └── JournalLocked         another run holds the journal's lock; nothing was sent
    ├── ExportError               a value cannot be exported without changing it; nothing was written
    └── QueryError                a finder's pandas query cannot run on the frame

    UserWarning
    └── UnknownFieldWarning       a response carried fields drframe does not declare (kept as object columns)

The sandbox's store errors (``drframe.sandbox.StoreError``) are separate on purpose: they are the emulated
server's answers, turned into HTTP error bodies, and never reach a client as Python exceptions.
"""

from __future__ import annotations

from typing import Any


class DRError(Exception):
    """Base class of every drframe error."""


class ConfigurationError(DRError):
    """Missing or malformed configuration (API key, base URL, arguments)."""


class InvalidRequest(DRError):
    """A request was refused before anything was sent; ``errors`` lists (parameter, code, message)."""

    def __init__(self, errors: list[tuple[str, str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{p or 'body'}: {m}" for p, _, m in errors))


class SheetError(DRError):
    """The input file as a whole cannot be used (missing, unreadable, unknown columns); nothing was sent."""


class ExportError(DRError):
    """A value cannot be stored in the chosen format without changing it; nothing was written."""


class QueryError(DRError):
    """A search's pandas query cannot run on the frame it was given (the message says why)."""


class UnknownFieldWarning(UserWarning):
    """A response carried fields drframe does not declare; they were kept as object columns."""


class ConnectionFailed(DRError):
    """The request could not be completed at the transport level.

    ``cause`` names what failed (``connection refused``, ``DNS lookup failed``, ``TLS handshake failed``,
    ``connect timeout``, ``read timeout``, ``connection dropped``); ``outcome_unknown`` is true when the request
    may have reached the server (a dropped connection or a read timeout), so a write may or may not have been
    applied.
    """

    def __init__(self, message: str, *, outcome_unknown: bool, cause: str = "") -> None:
        super().__init__(message)
        self.outcome_unknown = outcome_unknown
        self.cause = cause


class APIError(DRError):
    """An error response from the API, in its ``{"type", "errors": [...]}`` format."""

    def __init__(
        self,
        status: int,
        type: str = "",
        code: str = "",
        parameter: str | None = None,
        message: str = "",
        request_id: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.type = type
        self.code = code
        self.parameter = parameter
        self.message = message
        self.request_id = request_id
        self.errors = errors or []
        self.retry_after = retry_after
        #: True when an earlier attempt of the same call ended with an unknown outcome (see ConnectionFailed).
        self.after_unknown_outcome = False
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" (parameter {self.parameter!r})" if self.parameter else ""
        rid = f" [request {self.request_id}]" if self.request_id else ""
        return f"{self.status} {self.type}/{self.code}: {self.message}{where}{rid}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_api_error,
            (type(self), self.status, self.type, self.code, self.parameter, self.message, self.request_id,
             self.errors, self.retry_after),
        )


def _rebuild_api_error(cls: type[APIError], *args: Any) -> APIError:
    return cls(*args)


class BadRequest(APIError):
    """400: the request was malformed or failed validation."""


class Unauthorized(APIError):
    """401: missing or wrong API key."""


class Forbidden(APIError):
    """403: the key may not call this endpoint (for example a public key)."""


class NotFound(APIError):
    """404: no such resource."""


class MethodNotAllowed(APIError):
    """405."""


class NotAcceptable(APIError):
    """406."""


class RequestTimeout(APIError):
    """408."""


class Conflict(APIError):
    """409: the resource already exists or is in a conflicting state."""


class RateLimited(APIError):
    """429: too many requests; ``retry_after`` holds the server's hint in seconds."""


class ServerError(APIError):
    """5xx."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    406: NotAcceptable,
    408: RequestTimeout,
    409: Conflict,
    429: RateLimited,
}


def error_class_for(status: int) -> type[APIError]:
    """The most specific APIError subclass for an HTTP status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIError)


def api_error_from_body(
    status: int, body: Any, request_id: str | None, retry_after: float | None = None
) -> APIError:
    """Build the APIError for a response body in the API's error format (tolerating other bodies)."""
    errors: list[dict[str, Any]] = []
    err_type = ""
    if isinstance(body, dict):
        err_type = str(body.get("type") or "")
        raw = body.get("errors")
        if isinstance(raw, list):
            errors = [e for e in raw if isinstance(e, dict)]
    first = errors[0] if errors else {}
    message = str(first.get("message") or (body if isinstance(body, str) else "") or f"HTTP {status}")
    return error_class_for(status)(
        status,
        err_type,
        str(first.get("code") or ""),
        first.get("parameter"),
        message[:500],
        request_id,
        errors,
        retry_after,
    )


class JournalError(DRError):
    """A bulk run's journal cannot be read (damaged, or another file's) or written (disk full); the message names
    the line and the way to recover. Nothing is sent for rows the journal cannot vouch for."""


class JournalLocked(JournalError):
    """Another run holds the journal's lock (``holder``: host, pid, start time, when recorded); nothing was sent.
    The CLI exits 2; ``--lock-timeout`` (``lock_timeout=``) waits for the lock instead."""

    def __init__(self, journal: Any, holder: Any, waited: float = 0.0) -> None:
        self.journal = journal
        self.holder = holder
        who = f"another run ({holder})" if holder else "another run (it has not recorded itself yet)"
        waited_text = f" after waiting {waited:g} s" if waited > 0 else ""
        super().__init__(f"journal {journal} is in use by {who}{waited_text}; nothing was sent. Wait for that run "
                         "to end, or pass --lock-timeout SECONDS (lock_timeout= in Python) to wait for it")
class LimitExceeded(DRError):
    """A bulk plan is over a limit set for the run (``max_changes``, ``max_deletes``); nothing was sent."""


class PlanRefused(DRError):
    """A saved plan cannot be applied as it is (made for another host, or its input file changed since)."""
