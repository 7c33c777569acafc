"""Sources (payment methods): the request and the response."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    StrictFloat,
    StrictInt,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ._base import (
    AdditionalAddressInfo,
    Address,
    APIModel,
    RequestEmail,
    RequestMetadata,
    RequestModel,
    UTCDateTime,
    _strict,
)


class Owner(RequestModel):
    REQUEST_REQUIRED = frozenset({"address"})
    REQUEST_NULLABLE = frozenset({"organization"})

    firstName: str | None = None
    lastName: str | None = None
    email: RequestEmail = None
    organization: str | None = None
    upstreamId: str | None = None
    address: Address | None = None
    additionalAddressInfo: AdditionalAddressInfo | None = None


class Source(APIModel):
    """A payment source; payment-method sub-objects (``creditCard``, ``payPal``...) are kept as extras."""

    id: str
    clientSecret: str | None = Field(default=None, repr=False)
    createdTime: UTCDateTime | None = None
    type: str | None = None
    currency: str | None = None
    amount: float | None = None
    reusable: bool | None = None
    owner: Owner | None = None
    flow: str | None = None
    state: str | None = None
    metadata: dict[str, Any] | None = None
    customerId: str | None = None
    paymentSessionId: str | None = None
    liveMode: bool | None = None


PAYMENT_TYPES: tuple[str, ...] = (
    "creditCard", "directDebit", "googlePay", "applePay", "payPal", "payPalBilling", "payPalCredit",
    "wireTransfer", "customerCredit", "alipay", "bPay", "onlineBanking", "codJapan", "klarnaCredit",
    "klarnaCreditRecurring", "konbini", "bankTransfer", "msts", "bancontact", "giftCard", "ideal",
)


class SourceRequest(RequestModel):
    """Body of ``POST /sources``: a payment type and its sub-object (the vendor's ``CreditSource`` and more)."""

    REQUEST_REQUIRED = frozenset({"type"})

    type: Literal[PAYMENT_TYPES]  # type: ignore[valid-type]
    currency: str | None = None
    amount: StrictFloat | StrictInt | None = None
    owner: Owner | None = None
    metadata: RequestMetadata = None
    paymentSessionId: str | None = None
    upstreamId: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_fields(cls, data: Any, info: ValidationInfo) -> Any:
        # The payment-method sub-object (named after the type) is the one extra a source request may carry.
        if _strict(info) and isinstance(data, dict):
            for key in data:
                if key not in cls.model_fields and key not in PAYMENT_TYPES:
                    raise PydanticCustomError("unknown_parameter", "Unknown field '{field}'.", {"field": str(key)})
                if key in PAYMENT_TYPES and not isinstance(data[key], dict):
                    raise PydanticCustomError("invalid_parameter", "'{field}' must be an object.",
                                              {"field": str(key)})
        return data

