"""The sandbox's routes: thin handlers over :class:`~drframe.sandbox._store.Store`, plus request parsing.

A handler parses the query and body, calls one store method and returns its JSON as is: the store validated it
on the way in, and re-validating every response through ``response_model`` cost most of the list endpoint's
time; customers come back as the JSON the store keeps (see ``_db``), written out unparsed.  The response models
still document each operation.  The app's store is ``app.state.store``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from .._core._models import (
    STRICT,
    Customer,
    CustomerCreate,
    CustomerList,
    CustomerUpdate,
    Source,
    SourceRequest,
    TaxIdentifier,
    TaxIdentifierList,
    TaxIdentifierRequest,
    parse_datetime,
    validation_errors,
)
from ._defaults import TIME_FILTERS, TIME_OPERATORS
from ._errors import bad_request
from ._openapi import TIME_FILTER_PARAMS, error_responses
from ._store import Store


async def _reject_unknown_query_parameters(request: Request) -> None:
    """400 for a query parameter the operation does not define (as for unknown body fields)."""
    # async, as every dependency here: FastAPI runs a plain function in its thread pool, on every request.
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = {p.alias for p in route.dependant.query_params}
    filters = TIME_FILTERS if route.name in {"list_customers", "list_tax_identifiers"} else ()
    for key in request.query_params:
        if key not in known and key.split("[", 1)[0] not in filters:
            raise bad_request(key or "query", f"Unknown query parameter '{key[:60]}'.", "unknown_parameter")


async def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


#: The app's store, as a handler parameter.
AppStore = Annotated[Store, Depends(_store)]

_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])
_OPERATIONS: list[tuple[str, str, Callable[..., Any], dict[str, Any]]] = []


def _operation(method: str, path: str, **options: Any) -> Callable[[_Endpoint], _Endpoint]:
    """Declare a handler as ``method path`` (``options`` as for ``FastAPI.add_api_route``)."""
    def declare(endpoint: _Endpoint) -> _Endpoint:
        _OPERATIONS.append((method, path, endpoint, options))
        return endpoint

    return declare


def add_routes(app: FastAPI) -> None:
    """Register every operation on ``app`` itself.

    Not through an included ``APIRouter``: FastAPI keeps those as one opaque entry of ``app.router.routes``,
    where the 405 ``Allow`` header looks for the routes of a path.
    """
    for method, path, endpoint, options in _OPERATIONS:
        app.add_api_route(path, endpoint, methods=[method], responses=error_responses(),
                          dependencies=[Depends(_reject_unknown_query_parameters)], **options)


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


def _time_range_query(request: Request, name: str) -> dict[str, datetime] | None:
    """The bounds of the ``name`` filter: ``name=t`` (eq) or ``name[op]=t``."""
    out: dict[str, datetime] = {}
    for key, value in request.query_params.multi_items():
        if key == name:
            op = "eq"
        elif key.startswith(name + "[") and key.endswith("]"):
            op = key[len(name) + 1:-1]
            if op not in TIME_OPERATORS:
                raise bad_request(key, f"Unknown operator '{op}' in {key}; use {', '.join(TIME_OPERATORS[:-1])} "
                                       f"or {TIME_OPERATORS[-1]}.")
        else:
            continue
        out[op] = _instant(key, value)
    return out or None


def _rendered(body: bytes, status_code: int = 200) -> Response:
    """A response whose body is the JSON the store rendered (the bytes ``JSONResponse`` would write)."""
    return Response(body, status_code=status_code, media_type="application/json")


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


@_operation("GET", "/health", include_in_schema=False)
async def health(store: AppStore) -> dict[str, Any]:
    return {"ok": True, "customers": store.count_customers()}


@_operation("POST", "/customers", status_code=201, response_model=Customer, response_model_exclude_unset=True,
            summary="Creates a new customer object")
async def create_customer(request: Request, body: CustomerCreate, store: AppStore) -> Any:
    return _rendered(store.create_customer_json(await _body(request, CustomerCreate)), status_code=201)


@_operation("GET", "/customers", response_model=CustomerList, response_model_exclude_unset=True,
            summary="Returns a list of customers", openapi_extra={"parameters": TIME_FILTER_PARAMS})
async def list_customers(
    request: Request,
    store: AppStore,
    limit: int = Query(10, ge=1, le=100),
    startingAfter: str | None = Query(None, max_length=100),
    endingBefore: str | None = Query(None, max_length=100, description="Wins when both cursors are given."),
    ids: list[str] | None = Query(None, description="Customer ids, ids=a,b or ids=a&ids=b (at most 100)."),
    email: str | None = Query(None),
    requestToBeForgotten: bool | None = Query(None),
) -> Any:
    return _rendered(store.list_customers_json(
        limit=limit, starting_after=startingAfter, ending_before=endingBefore, ids=_id_list(ids), email=email,
        created=_time_range_query(request, "createdTime"), updated=_time_range_query(request, "updatedTime"),
        request_to_be_forgotten=requestToBeForgotten,
    ))


@_operation("GET", "/customers/{id}", response_model=Customer, response_model_exclude_unset=True,
            summary="Retrieves a customer")
async def get_customer(id: str, store: AppStore) -> Any:
    return _rendered(store.get_customer_json(id))


@_operation("POST", "/customers/{id}", response_model=Customer, response_model_exclude_unset=True,
            summary="Updates an existing customer")
async def update_customer(id: str, request: Request, body: CustomerUpdate, store: AppStore) -> Any:
    return _rendered(store.update_customer_json(id, await _body(request, CustomerUpdate)))


@_operation("DELETE", "/customers/{id}", status_code=204, response_class=Response,
            summary="Permanently deletes a customer")
async def delete_customer(id: str, store: AppStore) -> Response:
    store.delete_customer(id)
    return Response(status_code=204)


@_operation("POST", "/customers/{id}/sources/{sourceId}", response_model=Source, response_model_exclude_unset=True,
            summary="Attaches a source to a customer")
async def attach_source(id: str, sourceId: str, store: AppStore) -> Any:
    return JSONResponse(store.attach_source(id, sourceId))


@_operation("DELETE", "/customers/{id}/sources/{sourceId}", status_code=204, response_class=Response,
            summary="Detaches a source from a customer")
async def detach_source(id: str, sourceId: str, store: AppStore) -> Response:
    store.detach_source(id, sourceId)
    return Response(status_code=204)


@_operation("POST", "/customers/{id}/tax-identifiers/{taxId}", response_model=TaxIdentifier,
            response_model_exclude_unset=True, summary="Attaches a tax identifier to a customer")
async def attach_tax_identifier(id: str, taxId: str, store: AppStore) -> Any:
    return JSONResponse(store.attach_tax_identifier(id, taxId))


@_operation("POST", "/sources", status_code=201, response_model=Source, response_model_exclude_unset=True,
            summary="Creates a source (public or secret key)")
async def create_source(request: Request, body: SourceRequest, store: AppStore) -> Any:
    return JSONResponse(store.create_source(await _body(request, SourceRequest)), status_code=201)


@_operation("GET", "/sources/{id}", response_model=Source, response_model_exclude_unset=True,
            summary="Retrieves a source")
async def get_source(id: str, store: AppStore) -> Any:
    return JSONResponse(store.get_source(id))


@_operation("POST", "/tax-identifiers", status_code=201, response_model=TaxIdentifier,
            response_model_exclude_unset=True, summary="Creates a tax identifier")
async def create_tax_identifier(request: Request, body: TaxIdentifierRequest, store: AppStore) -> Any:
    data = await _body(request, TaxIdentifierRequest)
    return JSONResponse(store.create_tax_identifier(data["type"], data["value"]), status_code=201)


@_operation("GET", "/tax-identifiers", response_model=TaxIdentifierList, response_model_exclude_unset=True,
            summary="Returns a list of tax identifiers", openapi_extra={"parameters": TIME_FILTER_PARAMS})
async def list_tax_identifiers(
    request: Request,
    store: AppStore,
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
        customer_id=customerId, fields=fields, created=_time_range_query(request, "createdTime"),
        updated=_time_range_query(request, "updatedTime"), transitions=entered,
    ))


@_operation("GET", "/tax-identifiers/{id}", response_model=TaxIdentifier, response_model_exclude_unset=True,
            summary="Retrieves a tax identifier")
async def get_tax_identifier(id: str, store: AppStore) -> Any:
    return JSONResponse(store.get_tax_identifier(id))


@_operation("DELETE", "/tax-identifiers/{id}", status_code=204, response_class=Response,
            summary="Deletes a tax identifier (which detaches it from its customer)")
async def delete_tax_identifier(id: str, store: AppStore) -> Response:
    store.delete_tax_identifier(id)
    return Response(status_code=204)
