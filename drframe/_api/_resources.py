"""The API's resources: ``client.customers``, ``client.sources``, ``client.tax_identifiers``. Each method builds
one call (path, checked ids, validated body, retry safety) and hands it to :meth:`Client.request`.  Just over 400
lines: the three resources share their path, body and delete helpers, and each method is a few lines."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .._core._ids import check_id, path
from .._core._models import (
    Customer,
    CustomerCreate,
    CustomerUpdate,
    Source,
    SourceRequest,
    TaxIdentifier,
    TaxIdentifierRequest,
    format_datetime,
    validate_payload,
)
from .._errors import APIError, NotFound
from ._retry import Safety

if TYPE_CHECKING:
    from .._tables._frames import Frames
    from ._client import Client
    from ._listing import Listing

MAX_IDS_PER_CALL = 100
MAX_PAGE_SIZE = 100


@dataclass
class Page:
    """One page of ``GET /customers``."""

    data: list[Customer]
    has_more: bool

    def __iter__(self) -> Iterator[Customer]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)



def _customer_path(customer_id: str, kind: str | None = None, child_id: str = "", child_parameter: str = "") -> str:
    """``/customers/{id}[/{kind}/{child_id}]`` with every id checked (InvalidRequest names the bad one)."""
    segments = ["customers", check_id(customer_id, "id", customer=True)]
    if kind is not None:
        segments += [kind, check_id(child_id, child_parameter)]
    return path(*segments)


def _time_params(name: str, value: datetime | str | Mapping[str, datetime | str] | None) -> dict[str, str]:
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
        body = _payload_with(payload, fields)
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
        body = _payload_with(payload, fields)
        if validate:
            validate_payload(CustomerUpdate, body)
        data = self._client.request("POST", _customer_path(customer_id), json=body, safety=Safety.IDEMPOTENT)
        return Customer.model_validate(data)

    def delete(self, customer_id: str) -> None:
        """Delete a customer; a 404 after an attempt with unknown outcome counts as done."""
        _delete(self._client, _customer_path(customer_id))

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
        params.update(_time_params("createdTime", created_time))
        params.update(_time_params("updatedTime", updated_time))
        return dict(self._client.request("GET", "/customers", params=params))

    def list(self, **filters: Any) -> Page:
        """One page of customers, newest first (see ``list_raw`` for the filters)."""
        body = self.list_raw(**filters)
        return Page([Customer.model_validate(c) for c in body["data"]], bool(body["hasMore"]))

    def iter_raw(self, *, page_size: int = MAX_PAGE_SIZE, workers: int | None = None, progress: bool = False,
                 **filters: Any) -> Iterator[dict[str, Any]]:
        """Every matching customer as a raw dict, newest first: ``createdTime`` ranges paged by ``workers``
        threads (default: enough for the client's rate limit, 8 without one) under the client's rate limiter,
        in exactly the order of the sequential listing (``workers=1`` is that listing).  Not a snapshot:
        customers created after the listing started are left out, customers deleted while it runs may or may
        not be in it, every other customer is in it exactly once (see :mod:`drframe._api._listing`).  ``progress``
        reports customers listed (:mod:`drframe._progress`).  Filters as for :meth:`list_raw`, except
        ``ending_before``."""
        from ._listing import iter_customers

        return iter_customers(self._listing(workers, page_size, filters), progress=progress)

    def _listing(self, workers: int | None, page_size: int, filters: dict[str, Any]) -> Listing:
        from ._listing import Listing
        from ._pacing import default_workers

        return Listing(self.list_raw, workers=workers or default_workers(self._client), limiter=self._client.limiter,
                       page_size=page_size, **filters)

    def iter(self, *, page_size: int = MAX_PAGE_SIZE, workers: int | None = None,
             **filters: Any) -> Iterator[Customer]:
        """Every matching customer as a model, newest first (see :meth:`iter_raw`)."""
        for raw in self.iter_raw(page_size=page_size, workers=workers, **filters):
            yield Customer.model_validate(raw)

    def get_many_raw(self, ids: Iterable[str], *, workers: int | None = None,
                     progress: bool = False) -> dict[str, dict[str, Any]]:
        """Raw customers by id, ``MAX_IDS_PER_CALL`` per request, the requests sent by ``workers`` threads under
        the client's rate limiter; ids that do not exist are left out.  ``progress`` shows a bar of ids."""
        found: dict[str, dict[str, Any]] = {}
        for batch in self.iter_many_raw([ids], workers=workers, progress=progress):
            found.update(batch)
        return found

    def iter_many_raw(self, groups: Iterable[Iterable[str]], *, workers: int | None = None,
                      progress: bool = False) -> Iterator[dict[str, dict[str, Any]]]:
        """For each group of ids, in order, the raw customers of that group found (by id).  Groups are fetched
        ``MAX_IDS_PER_CALL`` ids per call; calls run concurrently (``workers`` threads under the client's rate
        limiter) a bounded way ahead, so a long stream of groups is never all in memory.  ``progress`` shows a
        bar of ids fetched."""
        from .._progress import progress as progress_of
        from ._pacing import default_workers, ordered_map

        def calls() -> Iterator[tuple[int, list[str]]]:
            for number, group in enumerate(groups):
                wanted = list(dict.fromkeys(group))
                chunks = [wanted[i:i + MAX_IDS_PER_CALL] for i in range(0, len(wanted), MAX_IDS_PER_CALL)]
                for chunk in chunks or [[]]:
                    yield number, chunk

        def fetch(call: tuple[int, list[str]]) -> tuple[int, int, dict[str, dict[str, Any]]]:
            number, chunk = call
            if not chunk:
                return number, 0, {}
            data = self.list_raw(limit=MAX_PAGE_SIZE, ids=chunk)["data"]
            return number, len(chunk), {raw["id"]: raw for raw in data}

        current: int | None = None
        found: dict[str, dict[str, Any]] = {}
        with progress_of("fetching current state", "ids", enabled=progress) as bar:
            for number, asked, batch in ordered_map(fetch, calls(), workers=workers or default_workers(self._client)):
                if number != current and current is not None:
                    yield found
                    found = {}
                current = number
                found.update(batch)
                bar.update(asked)
            if current is not None:
                yield found

    def get_many(self, ids: Iterable[str]) -> dict[str, Customer]:
        """Customers by id, 100 per call; missing ids are absent from the result."""
        return {k: Customer.model_validate(v) for k, v in self.get_many_raw(ids).items()}

    def attach_source(self, customer_id: str, source_id: str) -> Source:
        """Attach a chargeable source to the customer (it becomes reusable); attaching it again is a no-op."""
        data = self._client.request("POST", _customer_path(customer_id, "sources", source_id, "sourceId"),
                                    safety=Safety.IDEMPOTENT)
        return Source.model_validate(data)

    def detach_source(self, customer_id: str, source_id: str) -> None:
        """Detach a source from the customer (the API cancels it); a 404 after an attempt with unknown outcome
        counts as done."""
        _delete(self._client, _customer_path(customer_id, "sources", source_id, "sourceId"))

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

    def to_frames(self, *, redact: bool = True, workers: int | None = None, progress: bool = False,
                  **filters: Any) -> Frames:
        """Every matching customer in typed DataFrames (see :func:`drframe.to_frames`), listed concurrently by
        :meth:`iter_raw` (same order and guarantees; ``progress`` shows a bar of customers listed)."""
        # The first pages are under way while pandas and pyarrow are imported (as pandas' ``to_excel`` imports
        # its writer, the bridge to the tables layer is imported here, not at the top).
        with self._listing(workers, MAX_PAGE_SIZE, filters) as listing:
            from .._fetch import listing_frames

            return listing_frames(listing, redact=redact, progress=progress)

    def _to_csv(self, directory: str | Path, *, redact: bool = True, mask_pii: bool = False, workers: int | None = None,
                progress: bool = False, **filters: Any) -> tuple[str, builtins.list[Path]]:
        """What ``to_frames(...).to_csv(directory, mask_pii=...)`` writes, rendered while the listing runs (for
        ``drframe export --format csv``): the frames' ``repr`` and the files written."""
        with self._listing(workers, MAX_PAGE_SIZE, filters) as listing:
            from .._fetch import listing_csv

            return listing_csv(directory, listing, redact=redact, mask_pii=mask_pii, progress=progress)

    def _to_excel(self, path: str | Path, *, redact: bool = True, mask_pii: bool = False, workers: int | None = None,
                  progress: bool = False, **filters: Any) -> tuple[str, Path]:
        """What ``to_frames(...).to_excel(path, mask_pii=...)`` writes, rendered while the listing runs (for
        ``drframe export --format xlsx``): the frames' ``repr`` and the file written."""
        with self._listing(workers, MAX_PAGE_SIZE, filters) as listing:
            from .._fetch import listing_xlsx

            return listing_xlsx(path, listing, redact=redact, mask_pii=mask_pii, progress=progress)

    def to_parquet(self, directory: str | Path, *, redact: bool = True, workers: int | None = None,
                   progress: bool = False, chunk_size: int = 2000, page_size: int = MAX_PAGE_SIZE,
                   **filters: Any) -> builtins.list[Path]:
        """Stream every matching customer into ``directory`` as one Parquet file per table (what
        ``to_frames().to_parquet(directory)`` writes), in bounded memory: pages are flattened ``chunk_size``
        customers at a time as they arrive, and the files are assembled in listing order once every column is
        known (see :mod:`drframe._files._parquet`)."""
        with self._listing(workers, page_size, filters) as listing:  # under way while pyarrow is imported
            from .._fetch import listing_parquet

            return listing_parquet(directory, listing, redact=redact, progress=progress, chunk_size=chunk_size)


class Sources:
    """``POST /sources`` (a public key may call it)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(self, payload: Mapping[str, Any] | None = None, /, **fields: Any) -> Source:
        """Create a source (a public key may); never retried blindly, since the server names it."""
        body = _payload_with(payload, fields)
        validate_payload(SourceRequest, body)
        return Source.model_validate(self._client.request("POST", "/sources", json=body, safety=Safety.UNSAFE))

    def get(self, source_id: str) -> Source:
        """Retrieve one source; raises NotFound."""
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
        _delete(self._client, path("tax-identifiers", check_id(tax_id, "id")))

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
        params.update(_time_params("createdTime", created_time))
        params.update(_time_params("updatedTime", updated_time))
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


def _delete(client: Client, url_path: str) -> None:
    """DELETE ``url_path``; a 404 after an attempt whose outcome was unknown means that attempt did it."""
    try:
        client.request("DELETE", url_path)
    except NotFound as exc:
        if not exc.after_unknown_outcome:
            raise


def _payload_with(payload: Mapping[str, Any] | BaseModel | None, fields: Mapping[str, Any]) -> dict[str, Any]:
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
