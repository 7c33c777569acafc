"""The one pydantic model layer shared by the client, the sandbox and spreadsheet-row validation.

Models keep unknown fields (``extra="allow"``) and accept nulls and missing fields, so responses from a newer
API never crash the client.  Request validation is stricter: validating with ``context=STRICT`` applies the vendor
spec's request rules (required fields, no null where the spec does not allow it, no unknown fields) and checks
formats (email, locale, metadata limits), which is how the sandbox answers 400 and how bulk rows are checked before
sending.  :func:`validation_errors` names each problem with the error code of the API's error-code table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .._errors import InvalidRequest
from ._ids import customer_id_problem

STRICT: dict[str, bool] = {"strict_request": True}

MAX_ID_LENGTH = 40
MAX_METADATA_KEYS = 20
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500

EMAIL_PATTERN = (
    r"^(?=[^@]{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}$"
)
_EMAIL_RE = re.compile(EMAIL_PATTERN)
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

#: Locales the Digital River API accepts (language_COUNTRY).
LOCALES: tuple[str, ...] = (
    "ar_EG", "be_BY", "bg_BG", "ca_ES", "cs_CZ", "da_DK", "de_AT", "de_CH", "de_DE", "de_LU", "el_CY", "el_GR",
    "en_AU", "en_BE", "en_CA", "en_CH", "en_DK", "en_FI", "en_GB", "en_IE", "en_IN", "en_MT", "en_MY", "en_NL",
    "en_NO", "en_NZ", "en_PH", "en_SE", "en_SG", "en_US", "en_ZA", "es_AR", "es_CL", "es_CO", "es_EC", "es_ES",
    "es_MX", "es_PE", "es_VE", "et_EE", "fi_FI", "fr_BE", "fr_CA", "fr_CH", "fr_FR", "fr_LU", "hr_HR", "hu_HU",
    "in_ID", "it_CH", "it_IT", "iw_IL", "ja_JP", "ko_KR", "lt_LT", "lv_LV", "nl_BE", "nl_NL", "no_NO", "pl_PL",
    "pt_BR", "pt_PT", "ro_RO", "ru_RU", "sk_SK", "sl_SI", "sr_RS", "sv_SE", "th_TH", "tr_TR", "uk_UA", "vi_VN",
    "zh_CN", "zh_HK", "zh_TW",
)
_LOCALE_SET = frozenset(LOCALES)
_LOCALE_BY_FOLDED = {locale.casefold(): locale for locale in LOCALES}

CUSTOMER_TYPES: tuple[str, ...] = ("individual", "business")


def format_datetime(value: datetime) -> str:
    """The API's ISO-8601 UTC form: ``Z`` suffix, fraction only when present (millis when exact)."""
    value = value.astimezone(UTC)
    base = value.replace(tzinfo=None, microsecond=0).isoformat()  # strftime("%Y") does not pad years < 1000
    micro = value.microsecond
    if micro == 0:
        return base + "Z"
    if micro % 1000 == 0:
        return f"{base}.{micro // 1000:03d}Z"
    return f"{base}.{micro:06d}Z"


def parse_datetime(value: str) -> datetime:
    """Parse an ISO-8601 timestamp; naive values are taken as UTC."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"'{value}' is out of the representable date range") from None


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso_text(value: Any) -> Any:
    # The API speaks ISO-8601 text; pydantic alone would also take a number as a Unix time.
    if not isinstance(value, str | datetime):
        raise PydanticCustomError("datetime_type", "Expected an ISO-8601 date-time string.")
    return value


UTCDateTime = Annotated[
    datetime, BeforeValidator(_iso_text), AfterValidator(_as_utc), PlainSerializer(format_datetime, when_used="json")
]


def _strict(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("strict_request"))


def is_valid_email(value: str) -> bool:
    """The API's email rule: at most 254 characters, ``local@domain.tld``."""
    return len(value) <= 254 and _EMAIL_RE.match(value) is not None


def check_email(value: str) -> str:
    """Raise ValueError unless ``value`` looks like an email address."""
    if not is_valid_email(value):
        raise PydanticCustomError("email_invalid", "'{value}' is not a valid email address.", {"value": value})
    return value


def check_locale(value: str) -> str:
    """Raise ValueError unless ``value`` is a supported locale such as ``en_US``."""
    if value not in _LOCALE_SET:
        guess = _LOCALE_BY_FOLDED.get(value.replace("-", "_").casefold())
        hint = f"did you mean {guess}?" if guess else "for example en_US"
        raise PydanticCustomError(
            "invalid_locale", "'{value}' is not a supported locale ({hint}).", {"value": value, "hint": hint}
        )
    return value


def check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    """Enforce the API's metadata limits: <=20 keys, key <=40 chars, value <=500 chars."""
    if len(value) > MAX_METADATA_KEYS:
        raise PydanticCustomError(
            "too_many_metadata_pairs", "Metadata has {count} keys; at most {limit} are allowed.",
            {"count": len(value), "limit": MAX_METADATA_KEYS},
        )
    for key, item in value.items():
        if not key or len(key) > MAX_METADATA_KEY_LENGTH:
            raise PydanticCustomError(
                "invalid_metadata_key", "Metadata key '{key}' must be 1 to {limit} characters.",
                {"key": key[:60], "limit": MAX_METADATA_KEY_LENGTH},
            )
        if (item is not None and not isinstance(item, str | bool | int)) or isinstance(item, float):
            raise PydanticCustomError(
                "invalid_metadata_value", "Metadata value for '{key}' must be a string, boolean or integer.",
                {"key": key},
            )
        if isinstance(item, str) and len(item) > MAX_METADATA_VALUE_LENGTH:
            raise PydanticCustomError(
                "invalid_metadata_value", "Metadata value for '{key}' is longer than {limit} characters.",
                {"key": key, "limit": MAX_METADATA_VALUE_LENGTH},
            )
    return value


def _only_when_strict(check: Callable[[Any], Any]) -> AfterValidator:
    """A format rule applied to requests (``context=STRICT``) but never to responses, which must not crash."""

    def validate(value: Any, info: ValidationInfo) -> Any:
        return check(value) if _strict(info) and value is not None else value

    return AfterValidator(validate)


RequestEmail = Annotated[str | None, _only_when_strict(check_email)]
RequestLocale = Annotated[str | None, _only_when_strict(check_locale)]
RequestMetadata = Annotated[dict[str, Any] | None, _only_when_strict(check_metadata)]


class APIModel(BaseModel):
    """Base of every model: keeps unknown fields; under ``context=STRICT`` rejects them instead."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, validate_assignment=False)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_fields(cls, data: Any, info: ValidationInfo) -> Any:
        if _strict(info) and isinstance(data, dict):
            for key in data:
                if key not in cls.model_fields:
                    raise PydanticCustomError(
                        "unknown_parameter", "Unknown field '{field}'.", {"field": str(key)}
                    )
        return data

    def to_api(self) -> dict[str, Any]:
        """The JSON payload for this model (unset fields left out, extras kept)."""
        return self.model_dump(mode="json", exclude_unset=True)


class _Absent:
    """Stands in for a required field a request left out, so the field itself reports it (with its path)."""

    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: Final = _Absent()


class RequestModel(APIModel):
    """A model that is also part of a request body: the vendor spec's ``required`` and ``nullable`` apply.

    Both rules apply under ``context=STRICT`` only (responses must always parse): every field in
    ``REQUEST_REQUIRED`` must be present, and no field outside ``REQUEST_NULLABLE`` may be null.
    """

    REQUEST_REQUIRED: ClassVar[frozenset[str]] = frozenset()
    REQUEST_NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _mark_missing(cls, data: Any, info: ValidationInfo) -> Any:
        if _strict(info) and isinstance(data, dict) and (missing := cls.REQUEST_REQUIRED - data.keys()):
            return {**data, **dict.fromkeys(sorted(missing), _ABSENT)}
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _present_and_not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is _ABSENT:
            raise PydanticCustomError("missing_parameter", "'{field}' is required.", {"field": info.field_name})
        if value is None and _strict(info) and info.field_name not in cls.REQUEST_NULLABLE:
            raise PydanticCustomError("invalid_empty", "'{field}' cannot be null.", {"field": info.field_name})
        return value


class Address(RequestModel):
    REQUEST_REQUIRED = frozenset({"country"})
    REQUEST_NULLABLE = frozenset({"line1", "city", "postalCode", "state"})

    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postalCode: str | None = None
    state: str | None = None
    country: str | None = None

    @field_validator("country")
    @classmethod
    def _country_code(cls, value: str | None, info: ValidationInfo) -> str | None:
        if _strict(info) and value is not None and not re.fullmatch(r"[A-Z]{2}", value):
            raise PydanticCustomError(
                "invalid_country", "'{value}' is not a two-letter ISO 3166 country code.", {"value": value}
            )
        return value


class AdditionalAddressInfo(RequestModel):
    REQUEST_NULLABLE = frozenset({"neighborhood", "division", "phoneticName"})

    neighborhood: str | None = None
    division: str | None = None
    phoneticName: str | None = None


class Shipping(RequestModel):
    REQUEST_NULLABLE = frozenset({"name", "phone", "email", "organization"})

    address: Address | None = None
    name: str | None = None
    phone: str | None = None
    email: RequestEmail = None
    organization: str | None = None
    additionalAddressInfo: AdditionalAddressInfo | None = None


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


class ErrorDetail(BaseModel):
    code: str
    parameter: str | None = None
    message: str


class ErrorResponse(BaseModel):
    """The API's error body."""

    type: str
    errors: list[ErrorDetail]


class CustomerList(BaseModel):
    """Body of ``GET /customers``."""

    model_config = ConfigDict(extra="allow")

    hasMore: bool
    data: list[Customer]


class TaxIdentifierList(BaseModel):
    """Body of ``GET /tax-identifiers``."""

    model_config = ConfigDict(extra="allow")

    hasMore: bool
    data: list[TaxIdentifier]


#: The codes of the API's error-code table that the request rules use.  Custom validators raise these as their
#: pydantic error type; pydantic's own error types are translated by ``_PYDANTIC_CODES``.
API_ERROR_CODES: frozenset[str] = frozenset({
    "email_invalid", "invalid_boolean", "invalid_empty", "invalid_format", "invalid_integer", "invalid_metadata_key",
    "invalid_metadata_value", "invalid_parameter", "invalid_string_empty", "missing_parameter",
    "too_many_metadata_pairs", "unknown_parameter",
})
_PYDANTIC_CODES = {
    "missing": "missing_parameter", "bool_type": "invalid_boolean", "bool_parsing": "invalid_boolean",
    "int_type": "invalid_integer", "int_parsing": "invalid_integer", "int_from_float": "invalid_integer",
    "json_invalid": "invalid_format",
}
#: Custom error types (beyond the API codes) whose message already names the value.
_OWN_ERROR_TYPES = frozenset({"invalid_locale", "invalid_country"})
#: pydantic's location labels for union branches and wrapped validators, which are not JSON path steps.
_LOCATION_LABELS = frozenset({"str", "int", "bool", "float", "none", "list", "dict", "Literal"})


def _error_code(error: Mapping[str, Any]) -> str:
    """The API error code for one pydantic error (``invalid_parameter`` when the table has no better one)."""
    kind = str(error.get("type", ""))
    if kind in API_ERROR_CODES:
        return kind
    if kind == "string_too_short" and error.get("input") == "":
        return "invalid_string_empty"
    return _PYDANTIC_CODES.get(kind, "invalid_parameter")


def validation_errors(exc: ValidationError | Iterable[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """Flatten pydantic errors into ``(parameter, code, message)``: dotted JSON paths, the API's error codes.

    One entry per parameter (a value failing every branch of a union is reported once).  Both the client's
    :class:`~drframe.InvalidRequest` and the sandbox's 400 responses take their codes from here.
    """
    errors = exc.errors(include_url=False) if isinstance(exc, ValidationError) else exc
    out: dict[str, tuple[str, str, str]] = {}
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if not str(p).startswith(("function-", "constrained-"))]
        loc = [p for p in loc if p not in _LOCATION_LABELS]
        kind = str(err.get("type", ""))
        if kind == "unknown_parameter":
            loc.append(str((err.get("ctx") or {}).get("field")))
        message = str(err.get("msg", ""))
        if kind not in API_ERROR_CODES | _OWN_ERROR_TYPES and kind != "missing" and "input" in err:
            message = f"{message} (got {str(err['input'])[:80]!r})"
        parameter = ".".join(loc)
        out.setdefault(parameter, (parameter, _error_code(err), message))
    return list(out.values())


def validate_payload(model: type[BaseModel], payload: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``payload`` against a request model with the API's rules; raise InvalidRequest naming each field."""
    try:
        model.model_validate(dict(payload), context=STRICT)
    except ValidationError as exc:
        raise InvalidRequest(validation_errors(exc)) from None
    return dict(payload)
