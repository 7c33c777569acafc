"""``drframe.Client``: a small, typed client for the Customers API over a requests.Session."""

from __future__ import annotations

import copy
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

import requests
import urllib3
from pydantic import BaseModel, ValidationError

from ._errors import (
    APIError,
    ConfigurationError,
    ConnectionFailed,
    InvalidRequest,
    NotFound,
    api_error_from_body,
)
from ._ids import check_id, path
from ._models import (
    STRICT,
    Customer,
    CustomerCreate,
    CustomerUpdate,
    Source,
    SourceRequest,
    TaxIdentifier,
    TaxIdentifierRequest,
    format_datetime,
    validation_errors,
)
from ._ratelimit import RateLimiter
from ._retry import RetryPolicy, Safety, parse_retry_after
from ._version import __version__

if TYPE_CHECKING:
    from ._frames import Frames

log = logging.getLogger("drframe")

DEFAULT_BASE_URL = "https://api.digitalriver.com"
MAX_IDS_PER_CALL = 100
MAX_PAGE_SIZE = 100


def validate_payload(model: type[BaseModel], payload: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``payload`` against a request model with the API's rules; raise InvalidRequest naming each field."""
    try:
        model.model_validate(dict(payload), context=STRICT)
    except ValidationError as exc:
        raise InvalidRequest(validation_errors(exc)) from None
    return dict(payload)


@dataclass
class Page:
    """One page of ``GET /customers``."""

    data: list[Customer]
    has_more: bool

    def __iter__(self) -> Iterator[Customer]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


_DEFAULT_RETRY = RetryPolicy()


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
        self._session = session or requests.Session()
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
        for attempt in itertools.count():
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
                if status < 400:
                    if self.limiter is not None:
                        self.limiter.on_success()
                    return None if status == 204 or not outcome.content else outcome.json()
                retry_after = parse_retry_after(outcome.headers.get("Retry-After"))
                if status == 429:
                    self._count("throttled")
                    if self.limiter is not None:
                        self.limiter.on_throttled(retry_after)
                if not self.retry.should_retry(attempt, safety, status=status):
                    raise _api_error(outcome, retry_after, unknown_outcome)
                unknown_outcome = unknown_outcome or (status >= 500 and method != "GET")
            self._count("retries")
            time.sleep(self.retry.delay(attempt, retry_after))
        raise AssertionError("unreachable")

    def _attempt(self, method: str, path: str, params: Mapping[str, Any] | None,
                 json: Any) -> requests.Response | _TransportFailure:
        """One rate-limited attempt: the response, or what went wrong at the transport level."""
        if self.limiter is not None:
            self.limiter.acquire()
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


def _customer_path(customer_id: str, kind: str | None = None, child_id: str = "", child_parameter: str = "") -> str:
    """``/customers/{id}[/{kind}/{child_id}]`` with every id checked (InvalidRequest names the bad one)."""
    segments = ["customers", check_id(customer_id, "id", customer=True)]
    if kind is not None:
        segments += [kind, check_id(child_id, child_parameter)]
    return path(*segments)


def _time_filter(name: str, value: datetime | str | Mapping[str, datetime | str] | None) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        value = {"eq": value}
    return {f"{name}[{op}]": format_datetime(v) if isinstance(v, datetime) else str(v) for op, v in value.items()}


class Customers:
    """The ``/customers`` endpoints."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(self, payload: Mapping[str, Any] | CustomerCreate | None = None, /, *, validate: bool = True,
               **fields: Any) -> Customer:
        """Create a customer (``id`` optional: the API generates one). Retried safely only with an ``id``."""
        body = _merge(payload, fields)
        if body.get("id") is not None:
            check_id(body["id"], "id", customer=True)
        if validate:
            validate_payload(CustomerCreate, body)
        safety = Safety.IDEMPOTENT if body.get("id") else Safety.UNSAFE
        try:
            data = self._client.request("POST", "/customers", json=body, safety=safety)
        except APIError as exc:
            # A retry of a create whose first attempt landed: the customer exists with what we sent.
            if exc.status == 409 and exc.after_unknown_outcome and body.get("id"):
                existing = self.get(body["id"])
                if _matches(existing.to_api(), body):
                    return existing
            raise
        return Customer.model_validate(data)

    def get(self, customer_id: str) -> Customer:
        """Retrieve one customer; raises NotFound."""
        return Customer.model_validate(self._client.request("GET", _customer_path(customer_id)))

    def update(self, customer_id: str, payload: Mapping[str, Any] | CustomerUpdate | None = None, /, *,
               validate: bool = True, **fields: Any) -> Customer:
        """Partial update: metadata merges and ``""`` removes a metadata key."""
        body = _merge(payload, fields)
        if validate:
            validate_payload(CustomerUpdate, body)
        data = self._client.request("POST", _customer_path(customer_id), json=body, safety=Safety.IDEMPOTENT)
        return Customer.model_validate(data)

    def delete(self, customer_id: str) -> None:
        """Delete a customer; a 404 after an attempt with unknown outcome counts as done."""
        try:
            self._client.request("DELETE", _customer_path(customer_id))
        except NotFound as exc:
            if not exc.after_unknown_outcome:
                raise

    def list_raw(
        self,
        *,
        limit: int = 10,
        starting_after: str | None = None,
        ending_before: str | None = None,
        ids: Iterable[str] | None = None,
        email: str | None = None,
        created_time: datetime | str | Mapping[str, datetime | str] | None = None,
        updated_time: datetime | str | Mapping[str, datetime | str] | None = None,
        request_to_be_forgotten: bool | None = None,
    ) -> dict[str, Any]:
        """One page as the raw JSON body ``{"hasMore", "data"}``."""
        params: dict[str, Any] = {"limit": limit}
        if starting_after:
            params["startingAfter"] = starting_after
        if ending_before:
            params["endingBefore"] = ending_before
        if ids is not None:
            params["ids"] = ",".join(check_id(i, "ids", customer=True) for i in ids)
        if email is not None:
            params["email"] = email
        if request_to_be_forgotten is not None:
            params["requestToBeForgotten"] = "true" if request_to_be_forgotten else "false"
        params.update(_time_filter("createdTime", created_time))
        params.update(_time_filter("updatedTime", updated_time))
        return dict(self._client.request("GET", "/customers", params=params))

    def list(self, **filters: Any) -> Page:
        """One page of customers, newest first (see ``list_raw`` for the filters)."""
        body = self.list_raw(**filters)
        return Page([Customer.model_validate(c) for c in body["data"]], bool(body["hasMore"]))

    def iter_raw(self, *, page_size: int = MAX_PAGE_SIZE, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every matching customer as a raw dict, newest first, fetching page after page."""
        after: str | None = filters.pop("starting_after", None)
        while True:
            body = self.list_raw(limit=page_size, starting_after=after, **filters)
            yield from body["data"]
            if not body["hasMore"] or not body["data"]:
                return
            after = body["data"][-1]["id"]

    def iter(self, *, page_size: int = MAX_PAGE_SIZE, **filters: Any) -> Iterator[Customer]:
        """Every matching customer as a model, newest first."""
        for raw in self.iter_raw(page_size=page_size, **filters):
            yield Customer.model_validate(raw)

    def get_many_raw(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Raw customers by id, ``MAX_IDS_PER_CALL`` per request; ids that do not exist are left out."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), MAX_IDS_PER_CALL):
            chunk = wanted[start:start + MAX_IDS_PER_CALL]
            for raw in self.list_raw(limit=MAX_PAGE_SIZE, ids=chunk)["data"]:
                found[raw["id"]] = raw
        return found

    def get_many(self, ids: Iterable[str]) -> dict[str, Customer]:
        """Customers by id, 100 per call; missing ids are absent from the result."""
        return {k: Customer.model_validate(v) for k, v in self.get_many_raw(ids).items()}

    def attach_source(self, customer_id: str, source_id: str) -> Source:
        data = self._client.request("POST", _customer_path(customer_id, "sources", source_id, "sourceId"),
                                    safety=Safety.IDEMPOTENT)
        return Source.model_validate(data)

    def detach_source(self, customer_id: str, source_id: str) -> None:
        try:
            self._client.request("DELETE", _customer_path(customer_id, "sources", source_id, "sourceId"))
        except NotFound as exc:
            if not exc.after_unknown_outcome:
                raise

    def attach_tax_identifier(self, customer_id: str, tax_id: str) -> TaxIdentifier:
        """Associate a tax identifier with a customer (``POST /customers/{id}/tax-identifiers/{taxId}``).

        Re-attaching to the same customer is a no-op; Conflict when it belongs to another customer or the
        customer already holds one of the same type; NotFound when either does not exist (or was deleted).
        """
        data = self._client.request("POST", _customer_path(customer_id, "tax-identifiers", tax_id, "taxId"),
                                    safety=Safety.IDEMPOTENT)
        return TaxIdentifier.model_validate(data)

    def detach_tax_identifier(self, customer_id: str, tax_id: str) -> None:
        """Remove a tax identifier from a customer by **deleting** it: ``DELETE /tax-identifiers/{id}``.

        The API has no detach route: deleting a tax identifier is what detaches it, and the object is then gone
        for good (to attach the same number again, create a new one).  This first checks that the identifier
        belongs to ``customer_id`` and raises NotFound, deleting nothing, when it does not; otherwise it is
        ``client.tax_identifiers.delete(tax_id)``.
        """
        check_id(customer_id, "id", customer=True)
        owner = self._client.tax_identifiers.get(check_id(tax_id, "taxId")).customerId
        if owner != customer_id:
            raise NotFound(404, "not_found", "not_found", "taxId",
                           f"Tax identifier '{tax_id}' is not attached to customer '{customer_id}'; nothing deleted.")
        self._client.tax_identifiers.delete(tax_id)

    def to_frames(self, *, redact: bool = True, **filters: Any) -> Frames:
        """Stream every matching customer into typed DataFrames (see :func:`drframe.to_frames`)."""
        from ._frames import to_frames

        return to_frames(self.iter_raw(**filters), redact=redact)


class Sources:
    """``POST /sources`` (a public key may call it)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(self, payload: Mapping[str, Any] | None = None, /, **fields: Any) -> Source:
        body = _merge(payload, fields)
        validate_payload(SourceRequest, body)
        return Source.model_validate(self._client.request("POST", "/sources", json=body, safety=Safety.UNSAFE))

    def get(self, source_id: str) -> Source:
        return Source.model_validate(self._client.request("GET", path("sources", check_id(source_id, "id"))))


class TaxIdentifiers:
    """The ``/tax-identifiers`` endpoints: create, get, list, delete (attach with ``customers.attach_tax_identifier``)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(self, type: str, value: str) -> TaxIdentifier:
        """Create a tax identifier (``type`` such as ``de``, ``value`` such as ``DE123456789``).

        Its ``state`` starts ``pending`` while it is verified (the documented test identifiers are ``verified`` at
        once); it belongs to no customer until attached.
        """
        body = validate_payload(TaxIdentifierRequest, {"type": type, "value": value})
        return TaxIdentifier.model_validate(
            self._client.request("POST", "/tax-identifiers", json=body, safety=Safety.UNSAFE)
        )

    def get(self, tax_id: str) -> TaxIdentifier:
        """Retrieve one tax identifier (``customerId`` is set while it is attached); raises NotFound."""
        return TaxIdentifier.model_validate(self._client.request("GET", path("tax-identifiers", check_id(tax_id, "id"))))

    def delete(self, tax_id: str) -> None:
        """Delete a tax identifier, which also detaches it from its customer; a 404 after an attempt with unknown
        outcome counts as done."""
        try:
            self._client.request("DELETE", path("tax-identifiers", check_id(tax_id, "id")))
        except NotFound as exc:
            if not exc.after_unknown_outcome:
                raise

    def list_raw(
        self,
        *,
        limit: int = 10,
        starting_after: str | None = None,
        ending_before: str | None = None,
        ids: Iterable[str] | None = None,
        customer_id: str | None = None,
        type: str | None = None,
        value: str | None = None,
        state: str | None = None,
        created_time: datetime | str | Mapping[str, datetime | str] | None = None,
        updated_time: datetime | str | Mapping[str, datetime | str] | None = None,
    ) -> dict[str, Any]:
        """One page, newest first, as the raw JSON body ``{"hasMore", "data"}`` (``ending_before`` wins over
        ``starting_after``); ``state`` is ``pending``, ``verified`` or ``not_valid``."""
        params: dict[str, Any] = {"limit": limit}
        if starting_after:
            params["startingAfter"] = check_id(starting_after, "startingAfter")
        if ending_before:
            params["endingBefore"] = check_id(ending_before, "endingBefore")
        if ids is not None:
            params["ids"] = [check_id(i, "ids") for i in ids]
        if customer_id is not None:
            params["customerId"] = check_id(customer_id, "customerId", customer=True)
        params.update({k: v for k, v in (("type", type), ("value", value), ("state", state)) if v is not None})
        params.update(_time_filter("createdTime", created_time))
        params.update(_time_filter("updatedTime", updated_time))
        return dict(self._client.request("GET", "/tax-identifiers", params=params))

    def iter(self, *, page_size: int = MAX_PAGE_SIZE, **filters: Any) -> Iterator[TaxIdentifier]:
        """Every matching tax identifier, newest first, page after page (filters as in ``list_raw``, which pages
        backwards with ``ending_before``)."""
        if filters.get("ending_before"):
            raise TypeError("iter() pages forward from starting_after; use list_raw(ending_before=...)")
        after: str | None = filters.pop("starting_after", None)
        while True:
            body = self.list_raw(limit=page_size, starting_after=after, **filters)
            yield from (TaxIdentifier.model_validate(t) for t in body["data"])
            if not body["hasMore"] or not body["data"]:
                return
            after = body["data"][-1]["id"]

    def list(self, **filters: Any) -> list[TaxIdentifier]:
        """One page of tax identifiers (see ``list_raw`` for the filters and ``hasMore``, ``iter`` for all)."""
        return [TaxIdentifier.model_validate(t) for t in self.list_raw(**filters)["data"]]


def _merge(payload: Mapping[str, Any] | BaseModel | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    base = payload.model_dump(mode="json", exclude_unset=True) if isinstance(payload, BaseModel) else dict(payload or {})
    base.update(fields)
    return base


def _matches(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """True when every field in ``wanted`` already holds in ``current`` (metadata and nested dicts by subset)."""
    for key, value in wanted.items():
        have = current.get(key)
        if key == "taxCertificate":
            if value not in (current.get("taxCertificates") or []):
                return False
        elif key == "metadata" and isinstance(value, Mapping):
            meta = have or {}
            for mk, mv in value.items():
                if (mv in ("", None) and mk in meta) or (mv not in ("", None) and meta.get(mk) != mv):
                    return False
        elif isinstance(value, Mapping) and isinstance(have, Mapping):
            if not _matches(have, value):
                return False
        elif have != value:
            return False
    return True
