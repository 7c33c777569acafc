"""The one pydantic model layer shared by the client, the sandbox and spreadsheet-row validation.

Models keep unknown fields (``extra="allow"``) and accept nulls and missing fields, so responses from a newer
API never crash the client.  Request validation is stricter: validating with ``context=STRICT`` applies the vendor
spec's request rules (required fields, no null where the spec does not allow it, no unknown fields) and checks
formats (email, locale, metadata limits), which is how the sandbox answers 400 and how bulk rows are checked before
sending.  :func:`validation_errors` names each problem with the error code of the API's error-code table.
"""

from __future__ import annotations

from ._base import (
    CUSTOMER_TYPES,
    EMAIL_PATTERN,
    LOCALES,
    MAX_ID_LENGTH,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_LENGTH,
    STRICT,
    AdditionalAddressInfo,
    Address,
    APIModel,
    RequestEmail,
    RequestLocale,
    RequestMetadata,
    RequestModel,
    Shipping,
    UTCDateTime,
    check_email,
    check_locale,
    check_metadata,
    format_datetime,
    is_valid_email,
    parse_datetime,
)
from ._customers import (
    Customer,
    CustomerCreate,
    CustomerList,
    CustomerType,
    CustomerUpdate,
    check_customer_id,
    check_uuid,
)
from ._sources import PAYMENT_TYPES, Owner, Source, SourceRequest
from ._tax import (
    TAX_IDENTIFIER_APPLICABILITY,
    TAX_IDENTIFIER_TYPES,
    Applicability,
    TaxCertificate,
    TaxIdentifier,
    TaxIdentifierList,
    TaxIdentifierRequest,
)
from ._validation import API_ERROR_CODES, ErrorDetail, ErrorResponse, validate_payload, validation_errors

__all__ = [
    "API_ERROR_CODES", "CUSTOMER_TYPES", "EMAIL_PATTERN", "LOCALES", "MAX_ID_LENGTH", "MAX_METADATA_KEYS",
    "MAX_METADATA_KEY_LENGTH", "MAX_METADATA_VALUE_LENGTH", "PAYMENT_TYPES", "STRICT",
    "TAX_IDENTIFIER_APPLICABILITY", "TAX_IDENTIFIER_TYPES", "APIModel", "AdditionalAddressInfo", "Address",
    "Applicability", "Customer", "CustomerCreate", "CustomerList", "CustomerType", "CustomerUpdate", "ErrorDetail",
    "ErrorResponse", "Owner", "RequestEmail", "RequestLocale", "RequestMetadata", "RequestModel", "Shipping",
    "Source", "SourceRequest", "TaxCertificate", "TaxIdentifier", "TaxIdentifierList", "TaxIdentifierRequest",
    "UTCDateTime", "check_customer_id", "check_email", "check_locale", "check_metadata", "check_uuid",
    "format_datetime", "is_valid_email", "parse_datetime", "validate_payload", "validation_errors",
]
