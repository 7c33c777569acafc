"""``drframe.connect``: the one rule that decides where requests go, for the CLI and for notebooks alike.

* A real API: the key from ``api_key`` / ``DR_API_KEY``, the URL from ``base_url`` / ``DR_BASE_URL``, else
  ``https://api.digitalriver.com``.
* The embedded sandbox only when asked for (``sandbox=True``), or with ``sandbox="auto"`` when no key is
  configured at all (notebooks run without a key). A configured key or URL is never silently replaced by the
  sandbox, and naming both a sandbox and a URL or key is refused.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from ._api._client import Client
from ._errors import ConfigurationError

#: Customers seeded into an embedded sandbox that :func:`connect` starts.
DEFAULT_SEED_CUSTOMERS = 200


def connect(
    api_key: str | None = None,
    base_url: str | None = None,
    *,
    sandbox: bool | Literal["auto"] = False,
    seed_customers: int = DEFAULT_SEED_CUSTOMERS,
    **options: Any,
) -> Client:
    """A :class:`Client` for the target the arguments and environment name; see the module docstring.

    With the sandbox, a seeded in-process sandbox starts on an ephemeral port and stops when the client is
    closed. ``options`` pass through to :class:`Client` (``rate_limit``, ``retry``, ``timeout``, ...).
    Raises :class:`ConfigurationError` when no target is named or two are.
    """
    key = api_key or os.environ.get("DR_API_KEY")
    url = base_url or os.environ.get("DR_BASE_URL")
    if sandbox == "auto":
        sandbox = not key and not url
    if sandbox:
        named = [name for name, value in (("base_url", base_url), ("api_key", api_key)) if value]
        if named:
            raise ConfigurationError(f"both the sandbox and {' and '.join(named)} were given: name one target")
        return _sandbox_client(seed_customers, **options)
    if not key:
        raise ConfigurationError(
            "no API key: pass --api-key or set DR_API_KEY for the real API"
            + (f" at {url}" if url else "") + ", or use --sandbox for the embedded sandbox"
        )
    return Client(api_key=key, base_url=url, **options)


def _sandbox_client(seed_customers: int, **options: Any) -> Client:
    from .sandbox import Sandbox

    embedded = Sandbox(seed_customers=seed_customers).start()
    try:
        client = embedded.client(**options)
    except BaseException:
        embedded.stop()
        raise
    client.on_close(embedded.stop)
    client.embedded_sandbox = True
    return client
