"""The sandbox's HTTP shell: a FastAPI app over :class:`~drframe.sandbox._store.Store`.

Cross-cutting behaviour (request ids, Accept negotiation, auth, rate limit, fault injection) lives in one ASGI
middleware so every response, including errors raised by the framework itself, gets the API's error format.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

from .._models import (
    EMAIL_PATTERN,
    LOCALES,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_LENGTH,
    PAYMENT_TYPES,
    STRICT,
    Customer,
    CustomerCreate,
    CustomerList,
    CustomerUpdate,
    ErrorResponse,
    RequestModel,
    Source,
    SourceRequest,
    TaxIdentifier,
    TaxIdentifierList,
    TaxIdentifierRequest,
    parse_datetime,
    validation_errors,
)
from ._store import Store, StoreError, bad_request

REQUEST_ID_HEADER = "x-dr-requestid"
_ERROR_TYPES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 408: "request_timeout", 409: "conflict", 429: "too_many_requests",
    500: "internal_server_error", 502: "bad_gateway", 503: "service_unavailable", 504: "gateway_timeout",
}
#: Faults injected before the request reaches the store (nothing is written) ...
_FAULTS_BEFORE = (500, 502, 503, 408, 429)
#: ... and after it (the write is committed but the client never learns it).
_FAULTS_AFTER = (504, "drop")


@dataclass
class SandboxConfig:
    """Keys and opt-in behaviours of a sandbox instance."""

    api_keys: tuple[str, ...] = ("sk_test_sandbox",)
    public_keys: tuple[str, ...] = ("pk_test_sandbox",)
    rate_limit: float | None = None
    fault_rate: float = 0.0
    latency_ms: float = 0.0
    fault_seed: int = 0
    stats: dict[str, int] = field(default_factory=dict)


def error_body(status: int, code: str, message: str, parameter: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if parameter is not None:
        error["parameter"] = parameter
    return {"type": _ERROR_TYPES.get(status, "bad_request"), "errors": [error]}


class _TokenBucket:
    """Per-key token buckets: ``rate`` tokens a second, a burst of one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if a token was taken, else the seconds until one is available."""
        with self._lock:
            now = time.monotonic()
            tokens, last = self._state.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._state[key] = (tokens - 1, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (1 - tokens) / self.rate


class GatewayMiddleware:
    """Request id, Accept check, auth, rate limit, latency and fault injection, error-format guarantee."""

    def __init__(self, app: FastAPI, config: SandboxConfig) -> None:
        self.app = app
        self.config = config
        self.bucket = _TokenBucket(config.rate_limit) if config.rate_limit else None
        self.rng = random.Random(config.fault_seed)
        self.rng_lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = str(uuid.uuid4())
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        stats = self.config.stats
        stats["requests"] = stats.get("requests", 0) + 1

        async def reply(status: int, body: dict[str, Any], extra: dict[str, str] | None = None) -> None:
            response = JSONResponse(body, status_code=status, headers={REQUEST_ID_HEADER: request_id, **(extra or {})})
            await response(scope, receive, send)

        if path in {"/openapi.json", "/docs", "/health"}:
            await self.app(scope, receive, _with_request_id(send, request_id))
            return
        accept = headers.get("accept", "*/*")
        if not _accepts_json(accept):
            await reply(406, error_body(406, "not_acceptable", f"Cannot produce a response for Accept '{accept[:80]}'."))
            return
        key = _bearer(headers.get("authorization", ""))
        if key is None:
            await reply(401, error_body(401, "unauthorized", "Missing API key: send 'Authorization: Bearer <key>'."))
            return
        if key in self.config.public_keys:
            if not (path == "/sources" and scope["method"] == "POST"):
                await reply(403, error_body(403, "forbidden", "A public key can only create sources."))
                return
        elif key not in self.config.api_keys:
            await reply(401, error_body(401, "unauthorized", "The API key is not valid."))
            return
        if self.bucket is not None:
            wait = self.bucket.take(key)
            if wait > 0:
                stats["rate_limited"] = stats.get("rate_limited", 0) + 1
                await reply(429, error_body(429, "too_many_requests", "Rate limit exceeded."),
                            {"Retry-After": str(max(1, math.ceil(wait)))})
                return
        raw_path = bytes(scope.get("raw_path") or path.encode())
        if b"%2f" in raw_path.lower():
            # The router sees the decoded path, where an encoded '/' inside an id would split it into more
            # segments and reach another route (DELETE /customers/1%2Fsources%2Fx is not a source detach).
            # No id contains '/', so such a request names nothing: a 404 for it, never another route.
            literal = raw_path.decode("latin-1")[:200]
            await reply(404, error_body(404, "not_found", f"Resource '{literal}' not found: an id never contains "
                                                          f"'/' (here '{unquote(literal)}')."))
            return
        if self.config.latency_ms:
            await asyncio.sleep(self.config.latency_ms / 1000)
        fault: int | str | None = None
        if self.config.fault_rate:
            with self.rng_lock:
                if self.rng.random() < self.config.fault_rate:
                    fault = self.rng.choice(_FAULTS_BEFORE + _FAULTS_AFTER)
        if fault in _FAULTS_BEFORE:
            stats[f"fault_{fault}"] = stats.get(f"fault_{fault}", 0) + 1
            status = int(fault)  # type: ignore[arg-type]
            extra = {"Retry-After": "1"} if status == 429 else None
            await reply(status, error_body(status, _ERROR_TYPES[status], f"Injected fault {status}."), extra)
            return
        if fault is None:
            await self._run_app(scope, receive, send, request_id, reply)
            return
        # Run the request for real, then lose the answer.
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        await self._run_app(scope, receive, capture, request_id, reply)
        stats[f"fault_{fault}"] = stats.get(f"fault_{fault}", 0) + 1
        if fault == 504:
            await reply(504, error_body(504, "gateway_timeout", "Injected fault 504 (the request was processed)."))
            return
        start = next(m for m in captured if m["type"] == "http.response.start")
        await send(start)
        # Raising after the response started makes uvicorn close the connection mid-response.
        raise ConnectionAbortedError("sandbox: injected dropped connection")

    async def _run_app(self, scope: Scope, receive: Receive, send: Send, request_id: str, reply: Any) -> None:
        started = False
        inner = _with_request_id(send, request_id)

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await inner(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started:
                raise
            await reply(500, error_body(500, "internal_server_error", "Internal server error."))


def _with_request_id(send: Send, request_id: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [h for h in message.get("headers", []) if h[0].lower() != REQUEST_ID_HEADER.encode()]
            headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method any route serves at this path (Starlette reports only the first route's)."""
    methods: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(request.url.path):
            methods |= set(route.methods or ())
    return sorted(methods)


def _bearer(value: str) -> str | None:
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _accepts_json(accept: str) -> bool:
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in {"", "*/*", "application/*", "application/json"} or media.endswith("+json"):
            return True
    return False


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    common = (400, 401, 403, 404, 405, 406, 408, 409, 429, 500, 502, 503, 504)
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(common) | set(statuses)):
        out[status] = {"model": ErrorResponse, "description": _ERROR_TYPES.get(status, "error")}
    return out


#: List filters sent as deepObject query parameters (createdTime[gte]=...), read by hand in the list operation.
_TIME_FILTERS = ("createdTime", "updatedTime")
_TIME_FILTER_PARAMS = [
    {
        "name": name,
        "in": "query",
        "style": "deepObject",
        "explode": True,
        "required": False,
        "schema": {"type": "object", "properties": {op: {"type": "string", "format": "date-time"}
                                                    for op in ("eq", "gt", "gte", "lt", "lte")},
                   "additionalProperties": False},
        "description": f"Filter on {name}: {name}[gte]=2020-09-22T12:09:44Z (eq, gt, gte, lt, lte).",
    }
    for name in _TIME_FILTERS
]


def _reject_unknown_query_parameters(request: Request) -> None:
    """400 for a query parameter the operation does not define (as for unknown body fields)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = {p.alias for p in route.dependant.query_params}
    filters = _TIME_FILTERS if route.name in {"list_customers", "list_tax_identifiers"} else ()
    for key in request.query_params:
        if key not in known and key.split("[", 1)[0] not in filters:
            raise bad_request(key or "query", f"Unknown query parameter '{key[:60]}'.", "unknown_parameter")


def _id_list(values: list[str] | None) -> list[str] | None:
    """The ``ids`` filter, as ``ids=a,b`` or ``ids=a&ids=b``; at most 100."""
    if values is None:
        return None
    ids = [i for value in values for i in value.split(",") if i]
    if len(ids) > 100:
        raise bad_request("ids", f"At most 100 ids may be given; got {len(ids)}.")
    return ids


def _instant(name: str, value: str) -> datetime:
    """An ISO-8601 query value (400 naming the parameter when it is not a date-time)."""
    try:
        return parse_datetime(value)
    except ValueError:
        raise bad_request(name, f"'{value[:60]}' is not an ISO-8601 date-time.") from None


def _time_filter(request: Request, name: str) -> dict[str, datetime] | None:
    out: dict[str, datetime] = {}
    for key, value in request.query_params.multi_items():
        if key == name:
            op = "eq"
        elif key.startswith(name + "[") and key.endswith("]"):
            op = key[len(name) + 1:-1]
            if op not in {"eq", "gt", "gte", "lt", "lte"}:
                raise bad_request(key, f"Unknown operator '{op}' in {key}; use eq, gt, gte, lt or lte.")
        else:
            continue
        out[op] = _instant(key, value)
    return out or None


async def _body(request: Request, model: type[BaseModel]) -> dict[str, Any]:
    """Parse and strictly validate a JSON body with the shared models; 400s name the parameter."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise bad_request("body", "The request body is not valid JSON.", "invalid_format") from None
    if not isinstance(data, dict):
        raise bad_request("body", "The request body must be a JSON object.", "invalid_format")
    try:
        validated = model.model_validate(data, context=STRICT)
    except ValidationError as exc:
        parameter, code, message = validation_errors(exc)[0]
        raise bad_request(parameter or "body", message, code) from None
    # Store the normalised form (dates in the API's canonical UTC text).
    return validated.model_dump(mode="json", exclude_unset=True)


def create_app(store: Store, config: SandboxConfig | None = None) -> GatewayMiddleware:
    """The sandbox ASGI app for ``store`` (the FastAPI app itself is ``.app``)."""
    config = config or SandboxConfig()
    app = FastAPI(
        dependencies=[Depends(_reject_unknown_query_parameters)],
        redirect_slashes=False,
        title="drframe sandbox: Digital River Customers API",
        version="2021-12-13",
        description="A stateful local emulator of the Digital River Customers API.",
    )
    # Routes return the store's JSON directly: it was validated on the way in, and re-validating every
    # response through response_model cost most of the list endpoint's time.  The models still document it.
    app.state.store = store
    app.state.config = config

    @app.exception_handler(StoreError)
    async def _store_error(_: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_body(500, "internal_server_error", "Internal server error."), status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's locations start with where the value came from ("query", "body"...): not part of the name,
        # except for a body that is not JSON at all (then the location is a character offset).
        errors = [{**err, "loc": ("body",) if err.get("type") == "json_invalid" else tuple(err.get("loc", ()))[1:]}
                  for err in exc.errors()]
        parameter, code, message = validation_errors(errors)[0]
        return JSONResponse(error_body(400, code, message, parameter or None), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        message = {404: f"Resource '{request.url.path}' not found.",
                   405: f"Method {request.method} is not allowed on '{request.url.path}'."}.get(status, str(exc.detail))
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, _ERROR_TYPES.get(status, "error"))
        headers = dict(exc.headers or {})
        if status == 405:
            headers["Allow"] = ", ".join(_allowed_methods(app, request))
        return JSONResponse(error_body(status, code, message), status_code=status, headers=headers)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, Any]:
        return {"ok": True, "customers": store.count_customers()}

    @app.post("/customers", status_code=201, response_model=Customer, response_model_exclude_unset=True,
              responses=_responses(), summary="Creates a new customer object")
    async def create_customer(request: Request, body: CustomerCreate) -> Any:
        return JSONResponse(store.create_customer(await _body(request, CustomerCreate)), status_code=201)

    @app.get("/customers", response_model=CustomerList, response_model_exclude_unset=True,
             responses=_responses(), summary="Returns a list of customers",
             openapi_extra={"parameters": _TIME_FILTER_PARAMS})
    async def list_customers(
        request: Request,
        limit: int = Query(10, ge=1, le=100),
        startingAfter: str | None = Query(None, max_length=100),
        endingBefore: str | None = Query(None, max_length=100, description="Wins when both cursors are given."),
        ids: list[str] | None = Query(None, description="Customer ids, ids=a,b or ids=a&ids=b (at most 100)."),
        email: str | None = Query(None),
        requestToBeForgotten: bool | None = Query(None),
    ) -> Any:
        return JSONResponse(store.list_customers(
            limit=limit, starting_after=startingAfter, ending_before=endingBefore, ids=_id_list(ids), email=email,
            created=_time_filter(request, "createdTime"), updated=_time_filter(request, "updatedTime"),
            request_to_be_forgotten=requestToBeForgotten,
        ))

    @app.get("/customers/{id}", response_model=Customer, response_model_exclude_unset=True,
             responses=_responses(), summary="Retrieves a customer")
    async def get_customer(id: str) -> Any:
        return JSONResponse(store.get_customer(id))

    @app.post("/customers/{id}", response_model=Customer, response_model_exclude_unset=True,
              responses=_responses(), summary="Updates an existing customer")
    async def update_customer(id: str, request: Request, body: CustomerUpdate) -> Any:
        return JSONResponse(store.update_customer(id, await _body(request, CustomerUpdate)))

    @app.delete("/customers/{id}", status_code=204, response_class=Response, responses=_responses(),
                summary="Permanently deletes a customer")
    async def delete_customer(id: str) -> Response:
        store.delete_customer(id)
        return Response(status_code=204)

    @app.post("/customers/{id}/sources/{sourceId}", response_model=Source, response_model_exclude_unset=True,
              responses=_responses(), summary="Attaches a source to a customer")
    async def attach_source(id: str, sourceId: str) -> Any:
        return JSONResponse(store.attach_source(id, sourceId))

    @app.delete("/customers/{id}/sources/{sourceId}", status_code=204, response_class=Response,
                responses=_responses(), summary="Detaches a source from a customer")
    async def detach_source(id: str, sourceId: str) -> Response:
        store.detach_source(id, sourceId)
        return Response(status_code=204)

    @app.post("/customers/{id}/tax-identifiers/{taxId}", response_model=TaxIdentifier,
              response_model_exclude_unset=True, responses=_responses(),
              summary="Attaches a tax identifier to a customer")
    async def attach_tax_identifier(id: str, taxId: str) -> Any:
        return JSONResponse(store.attach_tax_identifier(id, taxId))

    @app.post("/sources", status_code=201, response_model=Source, response_model_exclude_unset=True,
              responses=_responses(), summary="Creates a source (public or secret key)")
    async def create_source(request: Request, body: SourceRequest) -> Any:
        return JSONResponse(store.create_source(await _body(request, SourceRequest)), status_code=201)

    @app.get("/sources/{id}", response_model=Source, response_model_exclude_unset=True,
             responses=_responses(), summary="Retrieves a source")
    async def get_source(id: str) -> Any:
        return JSONResponse(store.get_source(id))

    @app.post("/tax-identifiers", status_code=201, response_model=TaxIdentifier,
              response_model_exclude_unset=True, responses=_responses(), summary="Creates a tax identifier")
    async def create_tax_identifier(request: Request, body: TaxIdentifierRequest) -> Any:
        data = await _body(request, TaxIdentifierRequest)
        return JSONResponse(store.create_tax_identifier(data["type"], data["value"]), status_code=201)

    @app.get("/tax-identifiers", response_model=TaxIdentifierList, response_model_exclude_unset=True,
             responses=_responses(), summary="Returns a list of tax identifiers",
             openapi_extra={"parameters": _TIME_FILTER_PARAMS})
    async def list_tax_identifiers(
        request: Request,
        limit: int = Query(10, ge=1, le=100),
        startingAfter: str | None = Query(None, max_length=100),
        endingBefore: str | None = Query(None, max_length=100, description="Wins when both cursors are given."),
        ids: list[str] | None = Query(None, description="Tax identifier ids (at most 100)."),
        customerId: str | None = Query(None),
        type: str | None = Query(None),
        value: str | None = Query(None),
        state: str | None = Query(None),
        pending: str | None = Query(None, description="When the identifier entered the pending state."),
        verified: str | None = Query(None, description="When the identifier was verified."),
        not_valid: str | None = Query(None, description="When the identifier was found not valid."),
    ) -> Any:
        fields = {k: v for k, v in (("type", type), ("value", value), ("state", state)) if v is not None}
        entered = {k: _instant(k, v) for k, v in (("pending", pending), ("verified", verified),
                                                  ("not_valid", not_valid)) if v is not None}
        return JSONResponse(store.list_tax_identifiers(
            limit=limit, starting_after=startingAfter, ending_before=endingBefore, ids=_id_list(ids),
            customer_id=customerId, fields=fields, created=_time_filter(request, "createdTime"),
            updated=_time_filter(request, "updatedTime"), transitions=entered,
        ))

    @app.get("/tax-identifiers/{id}", response_model=TaxIdentifier, response_model_exclude_unset=True,
             responses=_responses(), summary="Retrieves a tax identifier")
    async def get_tax_identifier(id: str) -> Any:
        return JSONResponse(store.get_tax_identifier(id))

    @app.delete("/tax-identifiers/{id}", status_code=204, response_class=Response, responses=_responses(),
                summary="Deletes a tax identifier (which detaches it from its customer)")
    async def delete_tax_identifier(id: str) -> Response:
        store.delete_tax_identifier(id)
        return Response(status_code=204)

    _document_security(app)
    return GatewayMiddleware(app, config)


def _document_security(app: FastAPI) -> None:
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
