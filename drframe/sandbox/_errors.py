"""The API's errors, free of HTTP: :class:`StoreError` and the error body every sandbox response uses."""

from __future__ import annotations

from typing import Any

from ._defaults import ERROR_TYPES


def error_body(status: int, code: str, message: str, parameter: str | None = None, *,
               type: str | None = None) -> dict[str, Any]:
    """The API's error body, ``{"type": ..., "errors": [{"code", "message", "parameter"?}]}``.

    ``type`` defaults to the one of ``status`` (:data:`~drframe.sandbox._defaults.ERROR_TYPES`).
    """
    error: dict[str, Any] = {"code": code, "message": message}
    if parameter is not None:
        error["parameter"] = parameter
    return {"type": ERROR_TYPES.get(status, "bad_request") if type is None else type, "errors": [error]}


class StoreError(Exception):
    """An API error raised by the store: HTTP status plus the error body fields."""

    def __init__(self, status: int, type: str, code: str, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.code = code
        self.parameter = parameter
        self.message = message

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.code, self.message, self.parameter, type=self.type)


def _error(status: int, code: str, message: str, parameter: str | None) -> StoreError:
    return StoreError(status, ERROR_TYPES[status], code, message, parameter)


def not_found(what: str, ident: str, parameter: str = "id", code: str = "not_found") -> StoreError:
    return _error(404, code, f"{what} '{ident}' not found.", parameter)


def bad_request(parameter: str, message: str, code: str = "invalid_parameter") -> StoreError:
    return _error(400, code, message, parameter)


def unknown_cursor(what: str, ident: str, parameter: str) -> StoreError:
    # A 400, not a 404: the vendor spec documents no 404 for GET /customers (the cursor is a bad parameter).
    return _error(400, "not_found", f"{what} '{ident}' not found.", parameter)


def conflict(code: str, message: str, parameter: str | None = None) -> StoreError:
    return _error(409, code, message, parameter)
