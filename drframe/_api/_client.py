"""``drframe.Client``: a small, typed client for the Customers API over a requests.Session."""

from __future__ import annotations

import copy
import itertools
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Self
from urllib.parse import urlsplit

import requests
import urllib3

from .._errors import APIError, ConfigurationError, ConnectionFailed, api_error_from_body
from .._version import __version__
from ._ratelimit import RateLimiter
from ._resources import Customers, Sources, TaxIdentifiers
from ._retry import RetryPolicy, Safety, parse_retry_after, wait_before_retry

log = logging.getLogger("drframe")

DEFAULT_BASE_URL = "https://api.digitalriver.com"
_DEFAULT_RETRY = RetryPolicy()


def _session_for(base_url: str) -> requests.Session:
    """A session for one API host that reads the environment once, as requests would for each request: proxies
    (``HTTPS_PROXY``, ``NO_PROXY``...) and the CA bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``).  Not
    ``~/.netrc``, whose login for the host would replace the API key's ``Authorization`` header.  Reading them
    per request cost two scans of ``os.environ`` and two ``stat`` calls each."""
    session = requests.Session()
    settings = session.merge_environment_settings(base_url, {}, None, None, None)
    session.proxies.update(settings["proxies"])
    session.verify = settings["verify"]
    session.trust_env = False
    return session


class Client:
    """The Customers API client.

    ``api_key`` and ``base_url`` come from the arguments, then ``DR_API_KEY`` / ``DR_BASE_URL``.  ``rate_limit``
    (requests per second) is shared by every thread using this client.  Retries follow ``retry`` (a
    :class:`RetryPolicy`; ``None`` sends every call once); ``max_retries`` overrides the policy's count on this
    client only, the caller's policy object is never changed.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        retry: RetryPolicy | None = _DEFAULT_RETRY,
        max_retries: int | None = None,
        rate_limit: float | None = None,
        session: requests.Session | None = None,
        pool_size: int = 32,
    ) -> None:
        key = api_key or os.environ.get("DR_API_KEY")
        if not key:
            raise ConfigurationError("No API key: pass api_key=... or set DR_API_KEY.")
        self._api_key = key
        self.base_url = (base_url or os.environ.get("DR_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        self.timeout = timeout
        policy = RetryPolicy(max_retries=0) if retry is None else retry
        self.retry = replace(policy, max_retries=max_retries) if max_retries is not None else policy
        self.limiter = RateLimiter(rate_limit) if rate_limit else None
        self._session = session or _session_for(self.base_url)
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update({
            "Authorization": f"Bearer {key}",
            "Accept": "application/json",
            "User-Agent": f"drframe/{__version__}",
        })
        self._stats_lock = threading.Lock()
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "throttled": 0}
        self._on_close: list[Callable[[], object]] = []
        self._owns_session = True
        #: True for a client that :func:`drframe.connect` made for an embedded sandbox.
        self.embedded_sandbox = False
        self.customers = Customers(self)
        self.sources = Sources(self)
        self.tax_identifiers = TaxIdentifiers(self)

    @property
    def key_kind(self) -> str:
        """``test secret``, ``live secret``, ``test public`` or ``live public``, from the key's prefix only."""
        return key_kind(self._api_key)

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, api_key=<{self.key_kind} key hidden>)"

    def with_options(self, *, rate_limit: float | None = None) -> Client:
        """A client for the same target sharing this one's connection pool, with its own rate limit (requests per
        second; None for none) and request counters. This client is left as it is; closing the copy closes
        nothing shared."""
        clone = copy.copy(self)
        clone.limiter = RateLimiter(rate_limit) if rate_limit else None
        clone._stats_lock = threading.Lock()
        clone.stats = dict.fromkeys(self.stats, 0)
        clone._on_close = []
        clone._owns_session = False
        clone.customers, clone.sources, clone.tax_identifiers = Customers(clone), Sources(clone), TaxIdentifiers(clone)
        return clone

    def on_close(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` when the client is closed (an embedded sandbox it owns stops then)."""
        self._on_close.append(callback)

    def close(self) -> None:
        """Close the connection pool and anything the client owns."""
        if self._owns_session:
            self._session.close()
        while self._on_close:
            self._on_close.pop()()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _count(self, name: str) -> None:
        with self._stats_lock:
            self.stats[name] = self.stats.get(name, 0) + 1

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        safety: Safety | None = None,
    ) -> Any:
        """Send one API call with rate limiting and retries; returns the decoded JSON body (None for 204).

        Raises an :class:`APIError` subclass for an error response, :class:`ConnectionFailed` when the
        transport fails for good.
        """
        if safety is None:
            safety = Safety.IDEMPOTENT if method in {"GET", "DELETE", "HEAD"} else Safety.UNSAFE
        unknown_outcome = False
        limiter = self.limiter
        for attempt in itertools.count():
            # The ticket ties the answer to its place in the sending order (see RateLimiter).
            ticket = limiter.acquire() if limiter is not None else None
            outcome = self._attempt(method, path, params, json)
            retry_after: float | None = None
            if isinstance(outcome, _TransportFailure):
                log.debug("%s %s: %s on attempt %d", method, path, outcome.cause, attempt + 1)
                unknown_outcome = unknown_outcome or (outcome.sent and method != "GET")
                if not self.retry.should_retry(attempt, safety, status=None, sent=outcome.sent):
                    raise ConnectionFailed(
                        f"{method} {path} to {self.host} failed after {attempt + 1} attempt(s): {outcome.cause}",
                        outcome_unknown=unknown_outcome, cause=outcome.cause,
                    )
            else:
                status = outcome.status_code
                log.debug("%s %s -> %d (attempt %d)", method, path, status, attempt + 1)
                if limiter is not None and status != 429:
                    limiter.on_success(ticket)  # the server admitted it, whatever it answered
                if status < 400:
                    return None if status == 204 or not outcome.content else outcome.json()
                retry_after = parse_retry_after(outcome.headers.get("Retry-After"))
                if status == 429:
                    self._count("throttled")
                    if limiter is not None:
                        limiter.on_throttled(retry_after, ticket)
                if not self.retry.should_retry(attempt, safety, status=status):
                    raise _api_error(outcome, retry_after, unknown_outcome)
                unknown_outcome = unknown_outcome or (status >= 500 and method != "GET")
            self._count("retries")
            wait_before_retry(self.retry.delay(attempt, retry_after))
        raise AssertionError("unreachable")

    def _attempt(self, method: str, path: str, params: Mapping[str, Any] | None,
                 json: Any) -> requests.Response | _TransportFailure:
        """One attempt (its rate-limit permit already taken): the response, or what went wrong at the transport
        level."""
        self._count("requests")
        try:
            return self._session.request(method, self.base_url + path, params=params, json=json,
                                         timeout=self.timeout)
        except requests.RequestException as exc:
            return _TransportFailure.of(exc)

    @property
    def host(self) -> str:
        """The API host this client talks to (``api.digitalriver.com``, ``127.0.0.1:8080``)."""
        return urlsplit(self.base_url).netloc

    @property
    def target(self) -> str:
        """Where requests go and with which kind of key, e.g. ``api.digitalriver.com (live secret key)``."""
        where = f"embedded sandbox {self.host}" if self.embedded_sandbox else self.host
        return f"{where} ({self.key_kind} key)"

    @property
    def live(self) -> bool:
        """True unless the key is a test key (or a public key, which cannot write customers): writes through
        this client may change production data."""
        return not self.key_kind.startswith("test") and self.key_kind != "live public"


def key_kind(key: str) -> str:
    """The kind of an API key from its prefix (``sk_test_`` -> ``test secret``); never the key itself."""
    role = "public" if key.startswith("pk_") else "secret" if key.startswith("sk_") else "unrecognised"
    mode = "test" if key.startswith(("sk_test_", "pk_test_")) else "live" if role != "unrecognised" else ""
    return f"{mode} {role}".strip()


def _api_error(response: requests.Response, retry_after: float | None, unknown_outcome: bool) -> APIError:
    try:
        body = response.json()
    except ValueError:
        body = response.text[:500]
    error = api_error_from_body(response.status_code, body, response.headers.get("x-dr-requestid"), retry_after)
    error.after_unknown_outcome = unknown_outcome
    return error


@dataclass(frozen=True)
class _TransportFailure:
    """A transport error, classified by exception type: what failed and whether the request may have left."""

    cause: str
    sent: bool

    @classmethod
    def of(cls, exc: requests.RequestException) -> _TransportFailure:
        if isinstance(exc, requests.exceptions.SSLError):
            return cls("TLS handshake failed", sent=False)
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return cls("connect timeout", sent=False)
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return cls("read timeout", sent=True)
        if isinstance(exc, requests.exceptions.ConnectionError):
            reason = _root_reason(exc)
            if isinstance(reason, urllib3.exceptions.NameResolutionError):
                return cls("DNS lookup failed", sent=False)
            if isinstance(reason, urllib3.exceptions.NewConnectionError):
                return cls("connection refused", sent=False)
            return cls("connection dropped", sent=True)
        return cls(type(exc).__name__, sent=True)


def _root_reason(exc: requests.exceptions.ConnectionError) -> BaseException | None:
    """The urllib3 error behind a requests ConnectionError (``MaxRetryError.reason`` when wrapped)."""
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, urllib3.exceptions.MaxRetryError):
        return inner.reason
    return inner if isinstance(inner, BaseException) else None


__all__ = ["Client", "key_kind"]
