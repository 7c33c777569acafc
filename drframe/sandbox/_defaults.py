"""The sandbox's constants, written once.

The CLI, :class:`~drframe.sandbox.Sandbox`, :func:`~drframe.sandbox.serve` and
:class:`~drframe.sandbox.SandboxConfig` take their defaults from :data:`DEFAULTS`; the store and the HTTP layers
share the error vocabulary, the request-id header and the list filters from here.  Nothing here imports anything,
so the CLI can read it without loading the web stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class SandboxDefaults:
    """Where ``drframe sandbox`` listens, the keys it accepts, its database file and its seed."""

    host: str = "127.0.0.1"
    port: int = 8080
    api_key: str = "sk_test_sandbox"
    public_key: str = "pk_test_sandbox"
    db_file: str = "drframe-sandbox.db"
    seed: int = 0


DEFAULTS: Final = SandboxDefaults()

#: The response header naming each request (every response carries it, errors too).
REQUEST_ID_HEADER: Final = "x-dr-requestid"
#: The error ``type`` of each status the sandbox answers with.
ERROR_TYPES: Final[dict[int, str]] = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 408: "request_timeout", 409: "conflict", 429: "too_many_requests",
    500: "internal_server_error", 502: "bad_gateway", 503: "service_unavailable", 504: "gateway_timeout",
}
#: Faults injected before the request reaches the store (nothing is written) ...
FAULTS_BEFORE: Final = (500, 502, 503, 408, 429)
#: ... and after it (the write is committed but the client never learns it).
FAULTS_AFTER: Final = (504, "drop")
#: List filters sent as deepObject query parameters (``createdTime[gte]=...``), and their operators.
TIME_FILTERS: Final = ("createdTime", "updatedTime")
TIME_OPERATORS: Final = ("eq", "gt", "gte", "lt", "lte")
