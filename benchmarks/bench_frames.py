"""Normalisation benchmark: drframe.to_frames against json_normalize, pyarrow and polars, on four customer mixes.

Mixes (all seeded, all full API objects):

* ``project`` -- ``drframe.testing.generate_customers``: every customer has shipping and metadata, 0-3 sources,
  0-2 tax identifiers, canonical timestamps.
* ``sparse`` -- :func:`sparse_customers`, the kind of mix an outside tester measured: ~60% with shipping, half
  with 1-3 sources, ~20% with 1-2 tax identifiers, 0-5 metadata keys, and the vendor's own timestamp forms
  where its documents show them (``.000Z`` state transitions, a few 7-digit fractions and ``+02:00`` offsets).
* ``dense`` -- :func:`rich_customers`: every customer field, 2-4 cards with every owner field and source
  metadata, 2-3 tax identifiers (verified name and address, ``not_valid`` transitions), a certificate for a third.
* ``sources`` -- source-heavy: 2-6 sources each, mixing cards, Google Pay, wire transfers (every field, a payment
  session), customer credits (the vendor's empty ``customerCredit`` object) and PayPal with its ``redirect`` and
  ``directDebit`` sub-objects.

Every contender builds the same four tables (customers; sources, tax identifiers and tax certificates, each
with its customer's id) as pandas DataFrames:

* ``drframe`` -- ``to_frames``: declared dtypes, ``_empty_values`` bookkeeping, lossless (checked after timing).
* ``json_normalize`` -- ``pd.json_normalize`` for the top level and once per child list (``record_path``).
* ``polars`` -- ``pl.DataFrame(records)``, ``unnest`` until no struct is left, ``explode`` for the child lists,
  then ``to_pandas()``.
* ``pyarrow`` -- ``pa.array(records)``, ``Table.flatten`` until no struct is left, ``list_flatten`` for the
  child lists, then ``to_pandas()``. Lossy (null vs absent, ``{}``, timestamps stay text), but it sets the bar.

Each (mix, size, contender) runs ``RUNS`` times, each in its own fresh process reading the same pickled input;
the median by CPU time (the child's user + sys, ``getrusage``: on a shared machine wall time is mostly waiting)
is reported; peak memory is the kernel's peak resident size (VmHWM, reset once the input is loaded and the
contender's modules imported) above the resident size then.  Run:
``python benchmarks/bench_frames.py [SIZE ...] [MIX ...] [CONTENDER ...]`` (default 100,000 customers, every
mix and contender), e.g. ``python benchmarks/bench_frames.py 50000 150000 sparse dense sources drframe
json_normalize pyarrow``.
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

N = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 100_000
MIXES = ("sparse", "dense", "sources", "project")
CONTENDERS = ("drframe", "json_normalize", "pyarrow", "polars")
#: Runs of each (mix, size, contender), each in a fresh process: the median by CPU time is reported.
RUNS = 3
NESTED = ("sources", "taxIdentifiers", "taxCertificates")
IMPORTS = {"drframe": ("pandas", "pyarrow", "pyarrow.compute", "drframe._tables._frames"), "json_normalize": ("pandas",),
           "polars": ("pandas", "pyarrow", "polars"), "pyarrow": ("pandas", "pyarrow", "pyarrow.compute")}
#: Customers checked for an exact round trip after the timed run (to_payloads is not what is measured).
CHECKED = 5_000

_METADATA = (("crmId", str), ("segment", str), ("channel", str), ("campaign", str), ("loyaltyTier", str),
             ("region", str), ("score", int), ("visits", int), ("vip", bool), ("newsletter", bool))
_COUNTRIES = (("US", "Minneapolis", "MN", "55401", "en_US"), ("DE", "Berlin", None, "10115", "de_DE"),
              ("GB", "London", None, "SW1A 1AA", "en_GB"), ("FR", "Paris", None, "75001", "fr_FR"),
              ("JP", "東京", "Tokyo", "100-0001", "ja_JP"), ("BR", "São Paulo", "SP", "01310-100", "pt_BR"))
_TAX = (("de", "DE123456789"), ("be", "BE1234567890"), ("it", "IT12345678901"), ("gb", "GB123456789"))


def _stamp(moment: datetime, rng: random.Random) -> str:
    """Mostly the canonical form; sometimes the vendor's other forms (7-digit fraction, +02:00 offset)."""
    roll = rng.random()
    if roll < 0.02:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}{rng.randint(0, 9)}Z"
    if roll < 0.03:
        return (moment + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{moment.microsecond // 1000:03d}Z" if moment.microsecond >= 1000 else text + "Z"


def sparse_customers(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """A sparser, realistic mix: ~60% shipping, half with 1-3 sources, ~20% with tax ids, 0-5 metadata keys."""
    rng = random.Random(seed)
    base = datetime(2023, 6, 1, tzinfo=UTC)
    out: list[dict[str, Any]] = []
    for index in range(count):
        created = base + timedelta(seconds=index * 53, milliseconds=rng.randint(0, 999))
        customer_id = str(7_100_000_000 + index)
        country, city, state, postal, locale = rng.choice(_COUNTRIES)
        customer: dict[str, Any] = {"id": customer_id, "createdTime": _stamp(created, rng)}
        if rng.random() < 0.95:
            customer["email"] = f"user{index}@example.org"
        address: dict[str, Any] = {"line1": f"{rng.randint(1, 999)} Market St", "city": city,
                                   "postalCode": postal, "country": country}
        if state:
            address["state"] = state
        if rng.random() < 0.6:
            customer["shipping"] = {"name": f"Customer {index}", "address": address}
            if rng.random() < 0.5:
                customer["shipping"]["phone"] = f"+1 612 555 {rng.randint(0, 9999):04d}"
        if rng.random() < 0.5:
            sources = []
            for _ in range(rng.randint(1, 3)):
                source_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                sources.append({
                    "id": source_id, "clientSecret": f"{source_id}_secret", "createdTime": _stamp(created, rng),
                    "type": "creditCard", "currency": "USD", "reusable": True,
                    "owner": {"firstName": "Pat", "lastName": f"Doe{index}", "email": f"user{index}@example.org",
                              "address": dict(address)},
                    "creditCard": {"lastFourDigits": f"{rng.randint(0, 9999):04d}",
                                   "expirationMonth": rng.randint(1, 12), "expirationYear": rng.randint(2026, 2032),
                                   "brand": rng.choice(("Visa", "MasterCard"))},
                    "flow": "standard", "state": "chargeable", "customerId": customer_id, "liveMode": False,
                })
            customer["sources"] = sources
            customer["defaultSourceId"] = sources[0]["id"]
        if rng.random() < 0.2:
            identifiers = []
            for kind, value in rng.sample(_TAX, rng.randint(1, 2)):
                # The vendor's tax-identifier examples write state transitions with ".000Z".
                moment = created.strftime("%Y-%m-%dT%H:%M:%S") + ".000Z"
                identifiers.append({
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "createdTime": _stamp(created, rng),
                    "customerId": customer_id, "type": kind, "value": value, "state": "verified",
                    "stateTransitions": {"pending": moment, "verified": moment}, "updatedTime": _stamp(created, rng),
                    "applicability": [{"country": kind.upper(), "entity": "DR_IRELAND-ENTITY",
                                       "customerType": "business"}],
                })
            customer["taxIdentifiers"] = identifiers
        metadata = {key: kind(rng.randint(0, 1)) if kind is bool else rng.randint(0, 10_000) if kind is int
                    else f"{key}-{rng.randint(0, 500)}" for key, kind in rng.sample(_METADATA, rng.randint(0, 5))}
        if metadata:
            customer["metadata"] = metadata
        customer.update(locale=locale, type="individual", enabled=rng.random() >= 0.03, liveMode=False,
                        updatedTime=customer["createdTime"])
        out.append(customer)
    return out


def _owner(index: int, address: dict[str, Any], rng: random.Random, full: bool) -> dict[str, Any]:
    owner: dict[str, Any] = {"firstName": "Pat", "lastName": f"Doe{index}", "email": f"user{index}@example.org",
                             "address": dict(address)}
    if full:
        owner.update(organization=f"Org {rng.randint(1, 900)}", upstreamId=f"up-{rng.randint(0, 10**6)}",
                     additionalAddressInfo={"neighborhood": "Centro", "division": "North", "phoneticName": "Pat"})
    return owner


def _source(index: int, customer_id: str, created: datetime, address: dict[str, Any], rng: random.Random,
            kind: str, full: bool) -> dict[str, Any]:
    """One source of ``kind`` as the vendor's Source schema shows it, with its payment sub-object."""
    source_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    source: dict[str, Any] = {"id": source_id, "clientSecret": f"{source_id}_secret",
                              "createdTime": _stamp(created, rng), "type": kind, "currency": "USD"}
    if kind == "creditCard" or kind == "googlePay":
        source["reusable"] = True
        source[kind] = {"lastFourDigits": f"{rng.randint(0, 9999):04d}", "expirationMonth": rng.randint(1, 12),
                        "expirationYear": rng.randint(2026, 2032), "brand": rng.choice(("Visa", "MasterCard"))}
    elif kind == "wireTransfer":
        source["reusable"] = False
        source["amount"] = round(rng.uniform(10, 5000), 2)
        source["wireTransfer"] = {"accountHolder": "Netgiro Payments AB", "bankName": "ABN AMRO Bank N.V.",
                                  "city": "Prague", "country": "CZ", "referenceId": f"DR{rng.randint(0, 10**10)}",
                                  "accountNumber": f"{rng.randint(0, 10**10):010d}", "swiftCode": "ABNACZPP",
                                  "iban": f"CZ{rng.randint(0, 10**20):022d}",
                                  "additionalBankInformation": "Codigo de oficina: 0001"}
        source["paymentSessionId"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    elif kind == "customerCredit":  # the vendor's CustomerCredit sub-object has no fields: an empty object
        source["reusable"] = False
        source["amount"] = float(rng.randint(5, 500))
        source["customerCredit"] = {}
    else:  # payPal
        source["reusable"] = rng.random() < 0.5
        source["payPal"] = {"redirect": {"redirectUrl": f"https://pay.example/r/{source_id}",
                                         "returnUrl": "https://shop.example/return",
                                         "cancelUrl": "https://shop.example/cancel"}}
        if rng.random() < 0.5:
            source["payPal"]["directDebit"] = {"token": f"EC-{rng.randint(0, 10**12)}"}
        source["paymentSessionId"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    source["owner"] = _owner(index, address, rng, full)
    if full:
        source["metadata"] = {"origin": rng.choice(("web", "app")), "attempt": rng.randint(1, 3)}
    source.update(flow=rng.choice(("standard", "redirect")), state="chargeable", customerId=customer_id,
                  liveMode=False)
    return source


def rich_customers(count: int, seed: int = 1, *, dense: bool) -> list[dict[str, Any]]:
    """``dense``: every customer field, 2-4 card sources with every owner field, 2-3 tax identifiers (one
    verified with its name and address) and a tax certificate for a third.  Otherwise source-heavy: 2-6 sources
    mixing cards, Google Pay, wire transfers, customer credits (an empty ``customerCredit`` object) and PayPal
    with its redirect and direct-debit sub-objects, little else."""
    rng = random.Random(seed)
    base = datetime(2023, 6, 1, tzinfo=UTC)
    out: list[dict[str, Any]] = []
    kinds = ("creditCard", "creditCard", "googlePay", "wireTransfer", "customerCredit", "payPal")
    for index in range(count):
        created = base + timedelta(seconds=index * 53, milliseconds=rng.randint(0, 999))
        customer_id = str(7_200_000_000 + index)
        country, city, state, postal, locale = rng.choice(_COUNTRIES)
        address: dict[str, Any] = {"line1": f"{rng.randint(1, 999)} Market St", "line2": f"Suite {index % 90}",
                                   "city": city, "postalCode": postal, "country": country}
        if state:
            address["state"] = state
        customer: dict[str, Any] = {"id": customer_id, "createdTime": _stamp(created, rng),
                                    "email": f"user{index}@example.org"}
        if dense:
            customer["shipping"] = {"name": f"Customer {index}", "email": f"ship{index}@example.org",
                                    "phone": f"+1 612 555 {rng.randint(0, 9999):04d}", "organization": "Acme",
                                    "address": dict(address),
                                    "additionalAddressInfo": {"neighborhood": "Centro", "division": "North",
                                                              "phoneticName": f"Kasutamaa {index}"}}
            sources = [_source(index, customer_id, created, address, rng, "creditCard", True)
                       for _ in range(rng.randint(2, 4))]
            identifiers = []
            for number, (kind, value) in enumerate(rng.sample(_TAX, rng.randint(2, 3))):
                moment = created.strftime("%Y-%m-%dT%H:%M:%S") + ".000Z"
                identifier: dict[str, Any] = {
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "createdTime": _stamp(created, rng),
                    "customerId": customer_id, "type": kind, "value": value,
                    "state": "verified" if number == 0 else "not_valid",
                    "stateTransitions": {"pending": moment, ("verified" if number == 0 else "not_valid"): moment},
                    "updatedTime": _stamp(created, rng),
                    "applicability": [{"country": kind.upper(), "entity": "DR_IRELAND-ENTITY",
                                       "customerType": "business"}]}
                if number == 0:
                    identifier.update(verifiedName=f"Acme {index} GmbH", verifiedAddress=f"{address['line1']}, {city}")
                identifiers.append(identifier)
            customer["taxIdentifiers"] = identifiers
            if index % 3 == 0:
                customer["taxCertificates"] = [{"companyName": f"Acme {index}", "taxAuthority": "MN",
                                                "startDate": "2024-01-01T00:00:00Z", "endDate": "2026-12-31T00:00:00Z",
                                                "fileId": str(uuid.UUID(int=rng.getrandbits(128), version=4))}]
            customer["metadata"] = {key: kind(rng.randint(0, 1)) if kind is bool else rng.randint(0, 10_000)
                                    if kind is int else f"{key}-{rng.randint(0, 500)}"
                                    for key, kind in rng.sample(_METADATA, rng.randint(5, 8))}
            customer["requestToBeForgotten"] = False
        else:
            sources = [_source(index, customer_id, created, address, rng, rng.choice(kinds), False)
                       for _ in range(rng.randint(2, 6))]
        customer["sources"] = sources
        customer["defaultSourceId"] = sources[0]["id"]
        customer.update(locale=locale, type="business" if dense else "individual", enabled=True, liveMode=False,
                        updatedTime=customer["createdTime"])
        out.append(customer)
    return out


def make(mix: str, count: int) -> list[dict[str, Any]]:
    if mix == "sparse":
        return sparse_customers(count, seed=1)
    if mix in ("dense", "sources"):
        return rich_customers(count, seed=1, dense=mix == "dense")
    from drframe.testing import generate_customers

    return generate_customers(count, seed=1)


def by_drframe(customers: list[dict[str, Any]]) -> list[Any]:
    from drframe import to_frames

    frames = to_frames(customers)
    dtypes = frames.customers.dtypes
    assert str(dtypes["customer_id"]) == "string" and str(dtypes["shipping.address.postalCode"]) == "string"
    assert str(dtypes["enabled"]) == "boolean" and str(dtypes["createdTime"]) == "datetime64[ns, UTC]"
    return list(frames.tables().values())


def by_json_normalize(customers: list[dict[str, Any]]) -> list[Any]:
    import pandas as pd

    tables = [pd.json_normalize(customers)]
    for field in NESTED:
        tables.append(pd.json_normalize([c for c in customers if c.get(field)], record_path=field, meta=["id"],
                                        meta_prefix="customer."))
    return tables


def by_polars(customers: list[dict[str, Any]]) -> list[Any]:
    import polars as pl

    def unnest(frame: pl.DataFrame) -> pl.DataFrame:
        while structs := [name for name, kind in frame.schema.items() if isinstance(kind, pl.Struct)]:
            frame = frame.with_columns(pl.col(s).name.map_fields(lambda f, s=s: f"{s}.{f}") for s in structs)
            frame = frame.unnest(structs)
        return frame

    top = pl.DataFrame(customers, infer_schema_length=None)
    tables = [unnest(top.drop([f for f in NESTED if f in top.columns])).to_pandas()]
    for field in NESTED:
        if field not in top.columns:
            continue
        child = (top.select(pl.col("id").alias("customer.id"), field).drop_nulls(field).explode(field)
                 .drop_nulls(field).unnest(field))
        tables.append(unnest(child).to_pandas())
    return tables


def by_pyarrow(customers: list[dict[str, Any]]) -> list[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    def flatten(table: pa.Table) -> pa.Table:
        while any(pa.types.is_struct(field.type) for field in table.schema):
            table = table.flatten()
        return table

    top = pa.Table.from_struct_array(pa.array(customers))
    tables = [flatten(top.drop_columns([f for f in NESTED if f in top.column_names])).to_pandas()]
    for field in NESTED:
        if field not in top.column_names:
            continue
        lists = top[field].combine_chunks()
        child = pa.Table.from_struct_array(pc.list_flatten(lists))
        child = child.append_column("customer.id", top["id"].take(pc.list_parent_indices(lists)))
        tables.append(flatten(child).to_pandas())
    return tables


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> int:
    """The resident size now (KiB), with the kernel's peak (VmHWM) reset to it, so that the peak measured after
    is the contender's own, not loading the input's.  Without /proc: ru_maxrss, which a load's peak may hide."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return _status_kib("VmRSS") or 0


def _peak() -> int:
    return _status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_one(mix: str, contender: str, count: int, inputs: str) -> dict[str, Any]:
    import gc
    import importlib
    import pickle

    with open(inputs, "rb") as file:  # built once per (mix, size) by the parent: every run gets the same input
        customers = pickle.load(file)
    for module in IMPORTS[contender]:  # imports are not what is measured
        importlib.import_module(module)
    gc.collect()
    baseline = _reset_peak()
    start, cpu = time.perf_counter(), _cpu()
    tables = globals()[f"by_{contender}"](customers)
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    peak = _peak()
    rows = sum(len(table) for table in tables)
    del tables
    if contender == "drframe":  # lossless, checked outside the timed region
        from drframe import to_frames

        sample = customers[:CHECKED]
        assert to_frames(sample, redact=False).to_payloads() == sample, "drframe round trip is not exact"
    return {"seconds": seconds, "cpu": cpu, "peak_mib": (peak - baseline) / 1024, "rows": rows}


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        print(json.dumps(run_one(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])))
        return
    import os
    import pickle
    import statistics
    import tempfile

    sizes = [int(a) for a in sys.argv[1:] if a.isdigit()] or [N]
    mixes = [a for a in sys.argv[1:] if a in MIXES] or list(MIXES)
    contenders = [a for a in sys.argv[1:] if a in CONTENDERS] or list(CONTENDERS)
    print(f"normalise customers into four tables; each (mix, size, contender) in a fresh process, median of {RUNS} "
          f"by CPU seconds (the child's user + sys); load average {os.getloadavg()[0]:.2f}")
    print("| mix | customers | contender | CPU s | seconds | peak MiB | rows | CPU vs json_normalize "
          "| memory vs json_normalize | CPU vs pyarrow | memory vs pyarrow |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as scratch:
        for mix in mixes:
            for size in sizes:
                inputs = os.path.join(scratch, f"{mix}-{size}.pickle")
                with open(inputs, "wb") as file:
                    pickle.dump(make(mix, size), file, protocol=pickle.HIGHEST_PROTOCOL)
                results: dict[str, dict[str, Any]] = {}
                for contender in contenders:
                    runs = []
                    for _ in range(RUNS):
                        done = subprocess.run([sys.executable, __file__, "--one", mix, contender, str(size), inputs],
                                              capture_output=True, text=True)
                        if done.returncode:
                            print(f"{mix}/{contender} failed: {done.stderr.strip().splitlines()[-1:]}",
                                  file=sys.stderr)
                            break
                        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
                    if runs:
                        runs.sort(key=lambda r: r["cpu"])
                        results[contender] = {**runs[len(runs) // 2],
                                              "peak_mib": statistics.median(r["peak_mib"] for r in runs)}
                for contender, r in results.items():
                    ratios = ""
                    for bar in ("json_normalize", "pyarrow"):
                        other = results.get(bar)
                        # A peak below the input's own (ru_maxrss does not move) is 0: no memory ratio then.
                        memory = f"{r['peak_mib'] / other['peak_mib']:.2f}" if other and other["peak_mib"] else "-"
                        ratios += f" {other['cpu'] / r['cpu']:.2f}x | {memory} |" if other else " - | - |"
                    print(f"| {mix} | {size:,} | {contender} | {r['cpu']:.2f} | {r['seconds']:.2f} | "
                          f"{r['peak_mib']:.0f} | {r['rows']:,} |{ratios}", flush=True)
                os.unlink(inputs)


if __name__ == "__main__":
    main()
