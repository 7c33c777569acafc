"""The one assembly point of the sandbox's HTTP app: routes over a store, behind the gateway."""

from __future__ import annotations

from fastapi import FastAPI

from ._gateway import GatewayMiddleware, SandboxConfig, install_error_handlers
from ._openapi import customise_openapi
from ._routes import add_routes
from ._store import Store


def create_app(store: Store, config: SandboxConfig | None = None) -> GatewayMiddleware:
    """The sandbox ASGI app for ``store`` (the FastAPI app itself is ``.app``)."""
    config = config or SandboxConfig()
    app = FastAPI(
        redirect_slashes=False,
        title="drframe sandbox: Digital River Customers API",
        version="2021-12-13",
        description="A stateful local emulator of the Digital River Customers API.",
    )
    app.state.store = store
    app.state.config = config
    install_error_handlers(app)
    add_routes(app)
    customise_openapi(app)
    return GatewayMiddleware(app, config)
