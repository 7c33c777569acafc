"""Validation errors named with the API's error codes, for requests, bulk rows and the sandbox's 400s."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)

from ..._errors import InvalidRequest
from ._base import STRICT


class ErrorDetail(BaseModel):
    code: str
    parameter: str | None = None
    message: str


class ErrorResponse(BaseModel):
    """The API's error body."""

    type: str
    errors: list[ErrorDetail]

API_ERROR_CODES: frozenset[str] = frozenset({
    "email_invalid", "invalid_boolean", "invalid_empty", "invalid_format", "invalid_integer", "invalid_metadata_key",
    "invalid_metadata_value", "invalid_parameter", "invalid_string_empty", "missing_parameter",
    "too_many_metadata_pairs", "unknown_parameter",
})
_PYDANTIC_CODES = {
    "missing": "missing_parameter", "bool_type": "invalid_boolean", "bool_parsing": "invalid_boolean",
    "int_type": "invalid_integer", "int_parsing": "invalid_integer", "int_from_float": "invalid_integer",
    "json_invalid": "invalid_format",
}
#: Custom error types (beyond the API codes) whose message already names the value.
_OWN_ERROR_TYPES = frozenset({"invalid_locale", "invalid_country"})
#: pydantic's location labels for union branches and wrapped validators, which are not JSON path steps.
_LOCATION_LABELS = frozenset({"str", "int", "bool", "float", "none", "list", "dict", "Literal"})


def _error_code(error: Mapping[str, Any]) -> str:
    """The API error code for one pydantic error (``invalid_parameter`` when the table has no better one)."""
    kind = str(error.get("type", ""))
    if kind in API_ERROR_CODES:
        return kind
    if kind == "string_too_short" and error.get("input") == "":
        return "invalid_string_empty"
    return _PYDANTIC_CODES.get(kind, "invalid_parameter")


def validation_errors(exc: ValidationError | Iterable[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """Flatten pydantic errors into ``(parameter, code, message)``: dotted JSON paths, the API's error codes.

    One entry per parameter (a value failing every branch of a union is reported once).  Both the client's
    :class:`~drframe.InvalidRequest` and the sandbox's 400 responses take their codes from here.
    """
    errors = exc.errors(include_url=False) if isinstance(exc, ValidationError) else exc
    out: dict[str, tuple[str, str, str]] = {}
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if not str(p).startswith(("function-", "constrained-"))]
        loc = [p for p in loc if p not in _LOCATION_LABELS]
        kind = str(err.get("type", ""))
        if kind == "unknown_parameter":
            loc.append(str((err.get("ctx") or {}).get("field")))
        message = str(err.get("msg", ""))
        if kind not in API_ERROR_CODES | _OWN_ERROR_TYPES and kind != "missing" and "input" in err:
            message = f"{message} (got {str(err['input'])[:80]!r})"
        parameter = ".".join(loc)
        out.setdefault(parameter, (parameter, _error_code(err), message))
    return list(out.values())


def validate_payload(model: type[BaseModel], payload: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``payload`` against a request model with the API's rules; raise InvalidRequest naming each field."""
    try:
        model.model_validate(dict(payload), context=STRICT)
    except ValidationError as exc:
        raise InvalidRequest(validation_errors(exc)) from None
    return dict(payload)
