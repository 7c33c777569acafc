"""Declared columns of every table: JSON path -> dtype kind. Never inferred from the data.

Kinds: ``string``, ``boolean``, ``Int64``, ``Float64``, ``datetime`` (tz-aware UTC), ``json`` (a list kept
losslessly as JSON text), ``object`` (metadata values: string, boolean or integer as given).
The source paths were generated from the vendor's OpenAPI ``Source`` schema (2021-12-13).
"""

from __future__ import annotations

from ._models import CustomerUpdate

CUSTOMER_PATHS: dict[str, str] = {
    "email": "string",
    "locale": "string",
    "type": "string",
    "enabled": "boolean",
    "requestToBeForgotten": "boolean",
    "defaultSourceId": "string",
    "createdTime": "datetime",
    "updatedTime": "datetime",
    "liveMode": "boolean",
    "shipping.name": "string",
    "shipping.email": "string",
    "shipping.phone": "string",
    "shipping.organization": "string",
    "shipping.address.line1": "string",
    "shipping.address.line2": "string",
    "shipping.address.city": "string",
    "shipping.address.postalCode": "string",
    "shipping.address.state": "string",
    "shipping.address.country": "string",
    "shipping.additionalAddressInfo.neighborhood": "string",
    "shipping.additionalAddressInfo.division": "string",
    "shipping.additionalAddressInfo.phoneticName": "string",
}

SOURCE_PATHS: dict[str, str] = {
    "clientSecret": "string",
    "createdTime": "datetime",
    "type": "string",
    "currency": "string",
    "amount": "Float64",
    "reusable": "boolean",
    "owner.firstName": "string",
    "owner.lastName": "string",
    "owner.email": "string",
    "owner.organization": "string",
    "owner.upstreamId": "string",
    "owner.address.line1": "string",
    "owner.address.line2": "string",
    "owner.address.city": "string",
    "owner.address.postalCode": "string",
    "owner.address.state": "string",
    "owner.address.country": "string",
    "owner.additionalAddressInfo.neighborhood": "string",
    "owner.additionalAddressInfo.division": "string",
    "owner.additionalAddressInfo.phoneticName": "string",
    "creditCard.lastFourDigits": "string",
    "creditCard.expirationMonth": "Int64",
    "creditCard.expirationYear": "Int64",
    "creditCard.brand": "string",
    "googlePay.lastFourDigits": "string",
    "googlePay.expirationMonth": "Int64",
    "googlePay.expirationYear": "Int64",
    "googlePay.brand": "string",
    "payPal.redirect.redirectUrl": "string",
    "payPal.redirect.returnUrl": "string",
    "payPal.redirect.cancelUrl": "string",
    "payPal.directDebit.token": "string",
    "payPalBilling.redirect.redirectUrl": "string",
    "payPalBilling.redirect.returnUrl": "string",
    "payPalBilling.redirect.cancelUrl": "string",
    "payPalBilling.directDebit.token": "string",
    "payPalCredit.redirect.redirectUrl": "string",
    "payPalCredit.redirect.returnUrl": "string",
    "payPalCredit.redirect.cancelUrl": "string",
    "payPalCredit.directDebit.token": "string",
    "directDebit.redirect.redirectUrl": "string",
    "directDebit.redirect.returnUrl": "string",
    "wireTransfer.accountHolder": "string",
    "wireTransfer.bankName": "string",
    "wireTransfer.city": "string",
    "wireTransfer.country": "string",
    "wireTransfer.referenceId": "string",
    "wireTransfer.accountNumber": "string",
    "wireTransfer.additionalBankInformation": "string",
    "wireTransfer.iban": "string",
    "payCo.redirectUrl": "string",
    "payCo.returnUrl": "string",
    "bPay.accountHolder": "string",
    "bPay.bankName": "string",
    "bPay.city": "string",
    "bPay.country": "string",
    "bPay.referenceId": "string",
    "bPay.accountNumber": "string",
    "bPay.billId": "string",
    "bPay.customerPaymentReference": "string",
    "bPay.swiftCode": "string",
    "onlineBanking.bankCode": "string",
    "klarnaCredit.shipping.recipient": "string",
    "klarnaCredit.shipping.phoneNumber": "string",
    "klarnaCredit.shipping.address.line1": "string",
    "klarnaCredit.shipping.address.city": "string",
    "klarnaCredit.shipping.address.state": "string",
    "klarnaCredit.shipping.address.country": "string",
    "klarnaCredit.shipping.address.postalCode": "string",
    "klarnaCredit.shipping.email": "string",
    "klarnaCredit.token": "string",
    "klarnaCreditRecurring.returnUrl": "string",
    "klarnaCreditRecurring.cancelUrl": "string",
    "konbini.storeId": "string",
    "konbini.receiptNumber": "string",
    "konbini.printableInvoiceUrl": "string",
    "konbini.storeName": "string",
    "konbini.localizedStoreName": "string",
    "konbini.storeLogoUrl": "string",
    "giftCard.cardCurrency": "string",
    "giftCard.conversionRate": "Float64",
    "giftCard.lastFourDigits": "Int64",
    "flow": "string",
    "state": "string",
    "customerId": "string",
    "paymentSessionId": "string",
    "liveMode": "boolean",
    "wireTransfer.swiftCode": "string",
}

TAX_IDENTIFIER_PATHS: dict[str, str] = {
    "type": "string",
    "value": "string",
    "state": "string",
    "customerId": "string",
    "createdTime": "datetime",
    "updatedTime": "datetime",
    "stateTransitions.pending": "datetime",
    "stateTransitions.verified": "datetime",
    "stateTransitions.not_valid": "datetime",
    "verifiedName": "string",
    "verifiedAddress": "string",
    "applicability": "json",
    "liveMode": "boolean",
}

TAX_CERTIFICATE_PATHS: dict[str, str] = {
    "companyName": "string",
    "taxAuthority": "string",
    "startDate": "datetime",
    "endDate": "datetime",
    "fileId": "string",
}

#: Paths whose dict value holds free-form keys: each key becomes a ``<prefix>.<key>`` column of kind object.
FREE_FORM_PREFIXES: frozenset[str] = frozenset({"metadata"})

#: Fields of an update body that are no column of the customers table (a certificate is sent one at a time and
#: comes back in the ``taxCertificates`` list).
REQUEST_ONLY_FIELDS: frozenset[str] = frozenset({"taxCertificate"})
#: Customer fields an update may carry (everything else in the customers table is read-only): the update model's.
WRITABLE_CUSTOMER_FIELDS: frozenset[str] = frozenset(CustomerUpdate.model_fields) - REQUEST_ONLY_FIELDS
