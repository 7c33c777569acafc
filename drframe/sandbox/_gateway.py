"""The sandbox's gateway: what the API does around every operation, in one ASGI middleware.

:class:`GatewayMiddleware` gives each request an id, negotiates ``Accept``, checks the key, applies the per-key
rate limit, adds latency and injects faults, and refuses an encoded ``/`` in the raw path.  Together with the
app's error handlers (:func:`install_error_handlers`) it guarantees the API's error format on every response,
including errors raised by the framework itself.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

from .._core._models import validation_errors
from ._defaults import DEFAULTS, ERROR_TYPES, FAULTS_AFTER, FAULTS_BEFORE, REQUEST_ID_HEADER
from ._errors import StoreError, error_body


@dataclass
class SandboxConfig:
    """Keys and opt-in behaviours of a sandbox instance."""

    api_keys: tuple[str, ...] = (DEFAULTS.api_key,)
    public_keys: tuple[str, ...] = (DEFAULTS.public_key,)
    rate_limit: float | None = None
    fault_rate: float = 0.0
    latency_ms: float = 0.0
    fault_seed: int = DEFAULTS.seed
    stats: dict[str, int] = field(default_factory=dict)


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
                    fault = self.rng.choice(FAULTS_BEFORE + FAULTS_AFTER)
        if fault in FAULTS_BEFORE:
            stats[f"fault_{fault}"] = stats.get(f"fault_{fault}", 0) + 1
            status = int(fault)  # type: ignore[arg-type]
            extra = {"Retry-After": "1"} if status == 429 else None
            await reply(status, error_body(status, ERROR_TYPES[status], f"Injected fault {status}."), extra)
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


def install_error_handlers(app: FastAPI) -> None:
    """Answer the store's errors, validation errors, unknown routes and methods, and crashes in the API's format."""

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
        code = ERROR_TYPES.get(status, "error")
        headers = dict(exc.headers or {})
        if status == 405:
            headers["Allow"] = ", ".join(_allowed_methods(app, request))
        return JSONResponse(error_body(status, code, message), status_code=status, headers=headers)


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method any route serves at this path (Starlette reports only the first route's)."""
    methods: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(request.url.path):
            methods |= set(route.methods or ())
    return sorted(methods)
