"""What every model shares: datetimes as the API writes them, the format checks (email, locale, metadata),
the base models (unknown fields kept; ``context=STRICT`` for requests), and the address parts."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

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
            known = cls.model_fields  # a property of pydantic's: read once, not once per key
            for key in data:
                if key not in known:
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
