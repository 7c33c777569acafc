"""The sandbox's own OpenAPI document (``/openapi.json``), as strict as the sandbox itself.

FastAPI generates it from the routes; :func:`customise_openapi` then declares bearer auth, replaces FastAPI's 422
by the API's error responses (:func:`error_responses`) and tightens the request schemas to what the strict
request validation enforces.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from .._core._models import (
    EMAIL_PATTERN,
    LOCALES,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_LENGTH,
    PAYMENT_TYPES,
    ErrorResponse,
    RequestModel,
)
from ._defaults import ERROR_TYPES, TIME_FILTERS, TIME_OPERATORS


def error_responses() -> dict[int | str, dict[str, Any]]:
    """The error responses every operation documents: each status the sandbox answers with, the API's body."""
    return {status: {"model": ErrorResponse, "description": kind} for status, kind in sorted(ERROR_TYPES.items())}


#: The list filters (``createdTime[gte]=...``) as deepObject parameters; the list operations read them by hand.
TIME_FILTER_PARAMS: list[dict[str, Any]] = [
    {
        "name": name,
        "in": "query",
        "style": "deepObject",
        "explode": True,
        "required": False,
        "schema": {"type": "object", "properties": {op: {"type": "string", "format": "date-time"}
                                                    for op in TIME_OPERATORS},
                   "additionalProperties": False},
        "description": f"Filter on {name}: {name}[gte]=2020-09-22T12:09:44Z ({', '.join(TIME_OPERATORS)}).",
    }
    for name in TIME_FILTERS
]


def customise_openapi(app: FastAPI) -> None:
    """Declare bearer auth and drop FastAPI's 422 (validation errors are answered as the API's 400)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {})["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
        schema["security"] = [{"bearerAuth": []}]
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        schema.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
        schema.get("components", {}).get("schemas", {}).pop("ValidationError", None)
        _tighten_request_schemas(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


_METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "maxProperties": MAX_METADATA_KEYS,
    "propertyNames": {"minLength": 1, "maxLength": MAX_METADATA_KEY_LENGTH},
    "additionalProperties": {"anyOf": [{"type": "string", "maxLength": MAX_METADATA_VALUE_LENGTH},
                                       {"type": "boolean"}, {"type": "integer"}, {"type": "null"}]},
}
_FIELD_RULES: dict[str, dict[str, Any]] = {
    "locale": {"type": "string", "enum": list(LOCALES)},
    "email": {"type": "string", "format": "email", "pattern": EMAIL_PATTERN, "maxLength": 254},
    "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
    "defaultSourceId": {"type": "string", "format": "uuid"},
}


def _request_models() -> dict[str, type[RequestModel]]:
    """Every request model by name (the name of its OpenAPI component)."""
    found: dict[str, type[RequestModel]] = {}
    pending: list[type[RequestModel]] = [RequestModel]
    while pending:
        for sub in pending.pop().__subclasses__():
            found[sub.__name__] = sub
            pending.append(sub)
    return found


def _tighten_request_schemas(schema: dict[str, Any]) -> None:
    """Make the request schemas say what the strict request validation enforces.

    The models keep unknown fields and accept nulls (responses must never crash a client), so their generated
    schemas are permissive; requests, though, are validated strictly.  Every component reachable from a request
    body is closed (``additionalProperties: false``), given the format rules of its fields, and the vendor's
    ``required`` fields and non-nullable fields of its model (see :class:`RequestModel`).
    """
    models = _request_models()
    components = schema.get("components", {}).get("schemas", {})
    pending = [
        op["requestBody"]["content"]["application/json"]["schema"]
        for path in schema.get("paths", {}).values()
        for op in path.values()
        if "requestBody" in op
    ]
    seen: set[str] = set()
    while pending:
        node = pending.pop()
        ref = node.get("$ref", "")
        if ref:
            name = ref.rsplit("/", 1)[-1]
            if name in seen:
                continue
            seen.add(name)
            component = components[name]
            props = component.setdefault("properties", {})
            if name == "SourceRequest":
                for payment_type in PAYMENT_TYPES:
                    props.setdefault(payment_type, {"type": "object"})
            component["additionalProperties"] = False
            for field_name, prop in props.items():
                if field_name == "metadata":
                    props[field_name] = {"anyOf": [_METADATA_SCHEMA, {"type": "null"}]}
                elif field_name in _FIELD_RULES and "anyOf" in prop:
                    prop["anyOf"] = [_FIELD_RULES[field_name] if b.get("type") == "string" else b for b in prop["anyOf"]]
                elif field_name in _FIELD_RULES:
                    props[field_name] = {**prop, **_FIELD_RULES[field_name]}
                pending.append(prop)
            model = models.get(name.removesuffix("-Input"))
            if model is not None:
                if model.REQUEST_REQUIRED:
                    component["required"] = sorted(model.REQUEST_REQUIRED)
                for field_name, prop in props.items():
                    if field_name in model.model_fields and field_name not in model.REQUEST_NULLABLE:
                        branches = [b for b in prop.get("anyOf", []) if b.get("type") != "null"]
                        if branches:
                            props[field_name] = {k: v for k, v in prop.items() if k not in {"anyOf", "default"}}
                            props[field_name].update(branches[0] if len(branches) == 1 else {"anyOf": branches})
        for branch in node.get("anyOf", []) + node.get("allOf", []):
            pending.append(branch)
        if isinstance(node.get("items"), dict):
            pending.append(node["items"])
