"""Tax identifiers and tax certificates (see ``tax-identifiers.md``): the supported types and their applicability."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from ._base import APIModel, RequestModel, UTCDateTime


class TaxCertificate(RequestModel):
    REQUEST_REQUIRED = frozenset({"companyName", "taxAuthority", "startDate", "endDate", "fileId"})

    companyName: str | None = None
    taxAuthority: str | None = None
    startDate: UTCDateTime | None = None
    endDate: UTCDateTime | None = None
    fileId: str | None = None


class Applicability(APIModel):
    country: str | None = None
    entity: str | None = None
    customerType: str | None = None


class TaxIdentifier(APIModel):
    id: str
    createdTime: UTCDateTime | None = None
    customerId: str | None = None
    type: str | None = None
    value: str | None = None
    state: str | None = None
    stateTransitions: dict[str, UTCDateTime | None] | None = None
    verifiedName: str | None = None
    verifiedAddress: str | None = None
    updatedTime: UTCDateTime | None = None
    applicability: list[Applicability] | None = None
    liveMode: bool | None = None


_IRELAND = "DR_IRELAND-ENTITY"
#: The supported tax identifier types (tax-identifiers.md, "Supported tax identifiers"): type -> the
#: ``applicability`` rows (ship-to country, customer type, selling entity).  Most are business identifiers
#: of one country sold through the Irish entity; the rest are listed one by one.
TAX_IDENTIFIER_APPLICABILITY: dict[str, tuple[tuple[str, str, str], ...]] = {
    **{t: ((t.upper(), "business", _IRELAND),) for t in (
        "ae", "au", "at", "be", "bg", "bh", "by", "ch", "co", "cy", "cz", "de", "dk", "ee", "es", "fi", "gr", "hr",
        "hu", "id", "ie", "in", "is", "it", "ke", "lt", "lu", "lv", "mt", "mx", "my", "nl", "no", "nz", "ph", "pl",
        "pt", "ro", "ru", "sa", "se", "sg", "si", "sk", "th", "tr", "ua", "za")},
    "br": (("BR", "business", "DR_BRAZIL-ENTITY"),),
    "br_ie": (("BR", "business", "DR_BRAZIL-ENTITY"),),
    "br_natural": (("BR", "individual", "DR_BRAZIL-ENTITY"),),
    "ca": (("CA", "business", _IRELAND), ("CA", "business", "C5_INC-ENTITY")),
    "cl": (("CL", "individual", _IRELAND), ("CL", "business", _IRELAND)),
    "fr": (("FR", "business", _IRELAND), ("MC", "business", _IRELAND)),
    "it_cf": (("IT", "individual", _IRELAND),),
    "it_natural": (("IT", "individual", _IRELAND),),
    "jp": (("JP", "business", "DR_JAPAN-ENTITY"),),
    "jp_offshore": (("JP", "business", _IRELAND),),
    "kr_offshore": (("KR", "business", _IRELAND),),
    "mx_natural": (("MX", "individual", _IRELAND),),
    "pt_nif": (("PT", "individual", _IRELAND),),
    "ru_natural": (("RU", "business", _IRELAND),),
    "tw": (("TW", "business", "DR_TAIWAN-ENTITY"),),
    "tw_offshore": (("TW", "business", _IRELAND),),
    "uk": tuple((country, "business", entity) for country in ("IM", "GB") for entity in (_IRELAND, "DR_UK-ENTITY")),
}
#: The tax identifier types the API supports (lowercase country codes, some with a suffix; ``uk`` for Britain).
TAX_IDENTIFIER_TYPES: frozenset[str] = frozenset(TAX_IDENTIFIER_APPLICABILITY)


class TaxIdentifierRequest(RequestModel):
    """Body of ``POST /tax-identifiers``."""

    REQUEST_REQUIRED = frozenset({"type", "value"})

    type: Annotated[str, Field(min_length=2, max_length=20)]
    value: Annotated[str, Field(min_length=1, max_length=40)]

class TaxIdentifierList(BaseModel):
    """Body of ``GET /tax-identifiers``."""

    model_config = ConfigDict(extra="allow")

    hasMore: bool
    data: list[TaxIdentifier]


#: The codes of the API's error-code table that the request rules use.  Custom validators raise these as their
#: pydantic error type; pydantic's own error types are translated by ``_PYDANTIC_CODES``.
