"""Customers: the create and update bodies, the response, and the list page."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
)
from pydantic_core import PydanticCustomError

from .._ids import customer_id_problem
from ._base import (
    _UUID_RE,
    MAX_ID_LENGTH,
    APIModel,
    RequestEmail,
    RequestLocale,
    RequestMetadata,
    RequestModel,
    Shipping,
    UTCDateTime,
    _only_when_strict,
)
from ._sources import Source
from ._tax import TaxCertificate, TaxIdentifier

CustomerType = Literal["individual", "business"]


def check_customer_id(value: str) -> str:
    """Raise unless ``value`` is a customer id that addresses exactly one customer in a URL (see ``_ids``)."""
    problem = customer_id_problem(value)
    if problem is not None:
        raise PydanticCustomError("invalid_parameter", "{problem}: {value}",
                                  {"problem": problem, "value": repr(value)[:80]})
    return value


def check_uuid(value: str) -> str:
    """Raise unless ``value`` is a UUID, the form of every source id (``format: uuid`` in the vendor spec)."""
    if not _UUID_RE.fullmatch(value):
        raise PydanticCustomError("invalid_parameter", "'{value}' is not a source id (a UUID).", {"value": value[:60]})
    return value


class _CustomerWritable(RequestModel):
    email: RequestEmail = None
    shipping: Shipping | None = None
    defaultSourceId: Annotated[str | None, _only_when_strict(check_uuid)] = None
    taxCertificate: TaxCertificate | None = None
    metadata: RequestMetadata = None
    locale: RequestLocale = None
    type: CustomerType | None = None
    enabled: StrictBool | None = None


class CustomerCreate(_CustomerWritable):
    """Body of ``POST /customers``."""

    id: Annotated[str | None, Field(max_length=MAX_ID_LENGTH), _only_when_strict(check_customer_id)] = None


class CustomerUpdate(_CustomerWritable):
    """Body of ``POST /customers/{id}`` (partial update; metadata merged, ``""`` removes a key)."""

    requestToBeForgotten: StrictBool | None = None


class Customer(APIModel):
    """A customer as the API returns it."""

    id: str
    createdTime: UTCDateTime | None = None
    updatedTime: UTCDateTime | None = None
    email: str | None = None
    shipping: Shipping | None = None
    defaultSourceId: str | None = None
    sources: list[Source] | None = None
    taxIdentifiers: list[TaxIdentifier] | None = None
    taxCertificates: list[TaxCertificate] | None = None
    requestToBeForgotten: bool | None = None
    type: str | None = None
    metadata: dict[str, Any] | None = None
    locale: str | None = None
    enabled: bool | None = None
    liveMode: bool | None = None

class CustomerList(BaseModel):
    """Body of ``GET /customers``."""

    model_config = ConfigDict(extra="allow")

    hasMore: bool
    data: list[Customer]
