"""Test helpers for code built on drframe: deterministic, realistic synthetic customers.

>>> from drframe.testing import generate_customers
>>> customers = generate_customers(1000, seed=7)   # full API response objects, newest last
>>> frames = drframe.to_frames(customers)

The sandbox seeds itself from the same generator (``Sandbox(seed_customers=N, seed=S)``).
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from ._core._models import format_datetime

__all__ = ["generate_customers"]

_FIRST = ("Ana", "Bjørn", "Chloé", "Daniel", "Emma", "François", "Grace", "Hiro", "Ingrid", "José", "Kai", "Léa",
          "Mia", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tomás", "Uma", "Valentina", "Wei", "Yuki", "Zoë")
_LAST = ("Andersen", "Brown", "Costa", "Dubois", "Eriksson", "Fischer", "García", "Hansen", "Ito", "Jensen",
         "Kowalski", "López", "Müller", "Nakamura", "O'Brien", "Petrov", "Rossi", "Smith", "Tanaka", "Weber")
_PLACES = (
    ("US", "Minnetonka", "MN", "55129", "en_US"), ("US", "Boston", "MA", "02108", "en_US"),
    ("GB", "London", None, "SW1A 1AA", "en_GB"), ("DE", "Berlin", None, "10115", "de_DE"),
    ("FR", "Paris", None, "75001", "fr_FR"), ("IT", "Roma", "RM", "00186", "it_IT"),
    ("JP", "東京", "Tokyo", "100-0001", "ja_JP"), ("NL", "Amsterdam", None, "1071 DJ", "nl_NL"),
    ("BE", "Bruxelles", None, "1000", "fr_BE"), ("CA", "Toronto", "ON", "M5H 2N2", "en_CA"),
)
_STREETS = ("Bren Rd W", "Main St", "High Street", "Hauptstraße", "Rue de Rivoli", "Via del Corso", "Keizersgracht")
_TAX = (("de", "DE123456789"), ("be", "BE1234567890"), ("it", "IT12345678901"), ("uk", "GB123283536"),
        ("fr", "FR12345678901"))
_BRANDS = ("Visa", "MasterCard", "American Express", "Discover")


def generate_customers(
    count: int, *, seed: int = 0, start: datetime | None = None, id_prefix: str = ""
) -> list[dict[str, Any]]:
    """``count`` customers, oldest first, each with 0-3 sources and 0-2 tax identifiers.

    A few carry data-quality problems on purpose (missing email, duplicate email, disabled, request to be
    forgotten, expired tax certificate) so audits have something to find.
    """
    rng = random.Random(seed)
    base = start or datetime(2024, 1, 1, tzinfo=UTC)
    out: list[dict[str, Any]] = []
    for index in range(count):
        created = base + timedelta(seconds=index * 37 + rng.randint(0, 30), milliseconds=rng.randint(0, 999))
        stamp = format_datetime(created)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        country, city, state, postal, locale = rng.choice(_PLACES)
        customer_id = f"{id_prefix}{5_800_000_000 + index}"
        email = f"{_ascii(first)}.{_ascii(last)}.{index}@example.com"
        roll = rng.random()
        customer: dict[str, Any] = {"id": customer_id, "createdTime": stamp}
        if roll < 0.02:
            pass  # no email
        elif roll < 0.03 and index > 0:
            customer["email"] = out[-1].get("email", email)  # duplicate email
        else:
            customer["email"] = email
        address: dict[str, Any] = {
            "line1": f"{rng.randint(1, 9999)} {rng.choice(_STREETS)}", "city": city, "postalCode": postal,
            "country": country,
        }
        if state:
            address["state"] = state
        customer["shipping"] = {
            "address": address,
            "name": f"{first} {last}",
            "phone": f"+1-952-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
            "email": customer.get("email", email),
        }
        if rng.random() < 0.2:
            customer["shipping"]["organization"] = f"{last} GmbH"
        customer_type = "business" if rng.random() < 0.3 else "individual"
        sources = [_source(rng, customer_id, created, first, last, address) for _ in range(rng.randint(0, 3))]
        tax_ids = [_tax_identifier(rng, customer_id, created, kind)
                   for kind in rng.sample(_TAX, rng.randint(0, 2))]
        if sources:
            customer["defaultSourceId"] = sources[0]["id"]
            customer["sources"] = sources
        if tax_ids:
            customer["taxIdentifiers"] = tax_ids
        if customer_type == "business" and rng.random() < 0.3:
            begin = created - timedelta(days=rng.randint(30, 900))
            customer["taxCertificates"] = [{
                "companyName": f"{last} Inc.", "taxAuthority": state or "MN",
                "startDate": format_datetime(begin.replace(microsecond=0)),
                "endDate": format_datetime((begin + timedelta(days=365)).replace(microsecond=0)),
                "fileId": f"file_{uuid.UUID(int=rng.getrandbits(128))}",
            }]
        customer["requestToBeForgotten"] = rng.random() < 0.01
        customer["type"] = customer_type
        customer["metadata"] = {"segment": rng.choice(("retail", "smb", "enterprise")),
                                "crmId": f"{rng.randint(0, 10**8):08d}"}
        customer["locale"] = locale
        customer["enabled"] = rng.random() >= 0.03
        customer["liveMode"] = False
        customer["updatedTime"] = stamp
        out.append(customer)
    return out


def _ascii(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return folded.lower().replace("'", "").replace("ø", "o")


def _source(rng: random.Random, customer_id: str, created: datetime, first: str, last: str,
            address: dict[str, Any]) -> dict[str, Any]:
    source_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return {
        "id": source_id,
        "clientSecret": f"{source_id}_{uuid.UUID(int=rng.getrandbits(128), version=4)}",
        "createdTime": format_datetime(created),
        "type": "creditCard",
        "currency": "USD",
        "amount": round(rng.uniform(1, 2000), 2),
        "reusable": True,
        "owner": {"firstName": first, "lastName": last, "email": f"{_ascii(first)}.{_ascii(last)}@example.com",
                  "address": dict(address)},
        "creditCard": {"lastFourDigits": f"{rng.randint(0, 9999):04d}", "expirationMonth": rng.randint(1, 12),
                       "expirationYear": rng.randint(2025, 2032), "brand": rng.choice(_BRANDS)},
        "flow": "standard",
        "state": "chargeable",
        "customerId": customer_id,
        "liveMode": False,
    }


def _tax_identifier(rng: random.Random, customer_id: str, created: datetime, kind: tuple[str, str]) -> dict[str, Any]:
    stamp = format_datetime(created)
    state = rng.choice(("verified", "verified", "pending", "not_valid"))
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "createdTime": stamp,
        "customerId": customer_id,
        "type": kind[0],
        "value": kind[1],
        "state": state,
        "stateTransitions": {state: stamp},
        "updatedTime": stamp,
        "applicability": [{"country": kind[0].upper(), "entity": "DR_IRELAND-ENTITY", "customerType": "business"}],
    }
