"""A faithful, stateful local emulator of the Digital River Customers API.

>>> with Sandbox(seed_customers=50) as sandbox:
...     client = sandbox.client()
...     client.customers.list(limit=5)

The same service runs over real HTTP from the command line: ``drframe sandbox --port 8080``.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from ._app import REQUEST_ID_HEADER, SandboxConfig, create_app
from ._store import Store, StoreError

if TYPE_CHECKING:
    from .._client import Client

__all__ = ["REQUEST_ID_HEADER", "Sandbox", "SandboxConfig", "Store", "StoreError", "create_app"]

DEFAULT_API_KEY = "sk_test_sandbox"
DEFAULT_PUBLIC_KEY = "pk_test_sandbox"


class Sandbox:
    """The sandbox served on an ephemeral port in a background thread; a context manager.

    ``db`` is ``":memory:"`` (default) or a file path, which persists across restarts.
    """

    def __init__(
        self,
        *,
        db: str = ":memory:",
        seed_customers: int = 0,
        seed: int = 0,
        api_key: str = DEFAULT_API_KEY,
        public_key: str = DEFAULT_PUBLIC_KEY,
        rate_limit: float | None = None,
        fault_rate: float = 0.0,
        latency_ms: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.public_key = public_key
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

        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP,
        # and without it every keep-alive response waits ~40 ms on delayed ACKs.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="critical", lifespan="off", access_log=False,
                                timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name=f"drframe-sandbox-{port}")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.005)
        self.base_url = f"http://{self._host}:{port}"
        return self

    def stop(self) -> None:
        """Stop serving and close the store."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
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
        from .._client import Client

        kwargs.setdefault("api_key", self.api_key)
        kwargs.setdefault("base_url", self.base_url)
        return Client(**kwargs)


def seed_store(store: Store, count: int, *, seed: int = 0) -> int:
    """Insert ``count`` synthetic customers (with sources and tax identifiers) into ``store``."""
    from ..testing import generate_customers

    return store.insert_many(generate_customers(count, seed=seed))


def serve(
    *, host: str = "127.0.0.1", port: int = 8080, db: str = "drframe-sandbox.db", api_key: str = DEFAULT_API_KEY,
    public_key: str = DEFAULT_PUBLIC_KEY, seed_customers: int = 0, rate_limit: float | None = None,
    fault_rate: float = 0.0, latency_ms: float = 0.0, seed: int = 0,
) -> None:
    """Serve the sandbox in the foreground (the ``drframe sandbox`` command)."""
    import uvicorn

    store = Store(db)
    if seed_customers and store.count_customers() == 0:
        seed_store(store, seed_customers, seed=seed)
    config = SandboxConfig(api_keys=(api_key,), public_keys=(public_key,), rate_limit=rate_limit,
                           fault_rate=fault_rate, latency_ms=latency_ms, fault_seed=seed)
    logging.getLogger("drframe").info("sandbox on http://%s:%s (db %s)", host, port, db)
    uvicorn.run(create_app(store, config), host=host, port=port, log_level="warning", lifespan="off")
