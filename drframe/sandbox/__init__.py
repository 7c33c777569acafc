"""A faithful, stateful local emulator of the Digital River Customers API.

>>> with Sandbox(seed_customers=50) as sandbox:
...     client = sandbox.client()
...     client.customers.list(limit=5)

The same service runs over real HTTP from the command line: ``drframe sandbox`` (:func:`serve`).

Rule (the emulator): uses ``drframe._core`` (the same models as the client), never the workflows, tables or
files; ``Sandbox.client()`` imports the client inside the method.

Its layers, bottom up: ``_defaults`` (the constants), ``_errors``, ``_tax``, ``_db`` (the SQL) and ``_store`` (the
backend, free of HTTP), ``_routes`` and ``_openapi`` (the FastAPI app), ``_gateway`` (the middleware around it) and
``_app``, where they are assembled.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from ._defaults import DEFAULTS, REQUEST_ID_HEADER
from ._errors import StoreError
from ._store import Store

if TYPE_CHECKING:
    from .._api._client import Client
    from ._app import create_app
    from ._gateway import SandboxConfig


def __getattr__(name: str) -> Any:
    # FastAPI is imported only when an app is built: the command line reads DEFAULTS from here on every command,
    # and `drframe export` should not pay 0.2 s for a web framework it never uses.
    if name == "create_app":
        from ._app import create_app

        return create_app
    if name == "SandboxConfig":
        from ._gateway import SandboxConfig

        return SandboxConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["REQUEST_ID_HEADER", "Sandbox", "SandboxConfig", "Store", "StoreError", "create_app", "serve"]


class Sandbox:
    """The sandbox served on an ephemeral port in a background thread; a context manager.

    ``db`` is ``":memory:"`` (default) or a file path, which persists across restarts.
    """

    def __init__(
        self,
        *,
        db: str = ":memory:",
        seed_customers: int = 0,
        seed: int = DEFAULTS.seed,
        api_key: str = DEFAULTS.api_key,
        public_key: str = DEFAULTS.public_key,
        rate_limit: float | None = None,
        fault_rate: float = 0.0,
        latency_ms: float = 0.0,
        host: str = DEFAULTS.host,
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.public_key = public_key
        from ._app import create_app
        from ._gateway import SandboxConfig

        self.store = Store(db)
        if seed_customers and self.store.count_customers() == 0:
            seed_store(self.store, seed_customers, seed=seed)
        self.config = SandboxConfig(
            api_keys=(api_key,), public_keys=(public_key,), rate_limit=rate_limit, fault_rate=fault_rate,
            latency_ms=latency_ms, fault_seed=seed,
        )
        self.app = create_app(self.store, self.config)
        self._host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def __repr__(self) -> str:
        return f"Sandbox(base_url={self.base_url!r}, db={self.store.path!r})"

    def start(self) -> Self:
        """Bind, serve in a daemon thread and wait until the server accepts connections."""
        import uvicorn

        sock, url = _listen(self._host, self._port)
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="critical", lifespan="off", access_log=False,
                                timeout_keep_alive=30)
        self._server = _ThreadedServer(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name=f"drframe-sandbox-{port}")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.005)
        self.base_url = url
        return self

    def stop(self) -> None:
        """Stop serving and close the store."""
        if self._server is not None and self._thread is not None:
            self._server.request_stop()
            self._thread.join(timeout=10)
            self._server = None
        self.store.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def client(self, **kwargs: Any) -> Client:
        """A :class:`drframe.Client` for this sandbox (keyword arguments pass through)."""
        from .._api._client import Client

        kwargs.setdefault("api_key", self.api_key)
        kwargs.setdefault("base_url", self.base_url)
        return Client(**kwargs)


def _threaded_server_class() -> type[Any]:
    import uvicorn

    class ThreadedServer(uvicorn.Server):  # type: ignore[misc]
        """uvicorn in a background thread that stops as soon as it is asked, not at its next 0.1 s tick."""

        _loop: asyncio.AbstractEventLoop | None = None
        _wake: asyncio.Event | None = None

        async def main_loop(self) -> None:
            self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
            counter = 0
            while not await self.on_tick(counter):
                counter += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.1)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # uvicorn's own shutdown sleeps 0.1 s and polls every 0.1 s; a test suite starts hundreds of these.
            for server in self.servers:
                server.close()
            for connection in list(self.server_state.connections):
                connection.shutdown()
            deadline = time.monotonic() + 5
            while (self.server_state.connections or self.server_state.tasks) and time.monotonic() < deadline:
                await asyncio.sleep(0.002)

        def request_stop(self) -> None:
            self.should_exit = True
            if self._loop is not None and self._wake is not None:
                self._loop.call_soon_threadsafe(self._wake.set)

    return ThreadedServer


def _ThreadedServer(config: Any) -> Any:
    return _threaded_server_class()(config)


def seed_store(store: Store, count: int, *, seed: int = DEFAULTS.seed) -> int:
    """Insert ``count`` synthetic customers (with sources and tax identifiers) into ``store``."""
    from ..testing import generate_customers

    return store.insert_many(generate_customers(count, seed=seed))


def serve(
    *, host: str = DEFAULTS.host, port: int = DEFAULTS.port, db: str = DEFAULTS.db_file,
    api_key: str = DEFAULTS.api_key, public_key: str = DEFAULTS.public_key, seed_customers: int = 0,
    rate_limit: float | None = None, fault_rate: float = 0.0, latency_ms: float = 0.0, seed: int = DEFAULTS.seed,
) -> None:
    """Serve the sandbox in the foreground until interrupted (the ``drframe sandbox`` command).

    Once listening (``port=0``: any free port), prints ``drframe sandbox: listening on URL (db DB); stop with
    Ctrl-C`` to stdout (never the keys).  Raises :class:`OSError` when it cannot listen on ``host:port``.
    """
    import uvicorn

    sandbox = Sandbox(db=db, seed_customers=seed_customers, seed=seed, api_key=api_key, public_key=public_key,
                      rate_limit=rate_limit, fault_rate=fault_rate, latency_ms=latency_ms)
    try:
        sock, url = _listen(host, port)
        with sock:
            print(f"drframe sandbox: listening on {url} (db {db}); stop with Ctrl-C", flush=True)
            server = uvicorn.Server(uvicorn.Config(sandbox.app, log_level="warning", lifespan="off"))
            server.run(sockets=[sock])
    finally:
        sandbox.stop()


def _listen(host: str, port: int) -> tuple[socket.socket, str]:
    """A TCP socket listening on ``host:port`` (0: any free port) for uvicorn to serve, and its URL."""
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP,
    # and without it every keep-alive response waits ~40 ms on delayed ACKs.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # Listening before anyone is told the URL: a client that connects at once waits, it is never refused.
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    authority = f"[{host}]" if ":" in host else host
    return sock, f"http://{authority}:{sock.getsockname()[1]}"
