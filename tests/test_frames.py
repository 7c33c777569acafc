"""Flattening into typed tables and back; exports; the export CLI."""

from __future__ import annotations

import copy
import json
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mixes import benchmark_mix

import drframe
import drframe._tables._frames as frames_module
from drframe import UnknownFieldWarning
from drframe._core._models import format_datetime, parse_datetime
from drframe._core._schema import CUSTOMER_PATHS, SOURCE_PATHS, TAX_CERTIFICATE_PATHS, TAX_IDENTIFIER_PATHS
from drframe._tables._editing import diff_frames, diff_rows, row_payload
from drframe._tables._frames import CUSTOMER_KEY, EMPTY_VALUES_COLUMN, PARENT_ROW_COLUMN, column_path
from drframe.cli import main
from drframe.sandbox import Sandbox
from drframe.testing import generate_customers


@pytest.mark.parametrize("name", ["create_response", "get_response", "update_response"])
def test_round_trip_is_exact_for_seed_examples(seed_examples: dict[str, Any], name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frames = drframe.to_frames([seed_examples[name]], redact=False)
    assert frames.to_payloads() == [seed_examples[name]]


def test_round_trip_is_exact_for_generated_data() -> None:
    customers = generate_customers(500, seed=3)
    assert drframe.to_frames(customers, redact=False).to_payloads() == customers


def test_absent_null_and_empty_are_kept_apart(seed_examples: dict[str, Any]) -> None:
    odd = copy.deepcopy(seed_examples["get_response"])
    odd.update(email=None, shipping={}, sources=[], metadata={"gone": None, "dotted.key": True, "n": 3})
    del odd["locale"]
    assert drframe.to_frames([odd], redact=False).to_payloads() == [odd]


def test_declared_dtypes(seed_examples: dict[str, Any]) -> None:
    lonely = {"id": "00042", "createdTime": "2024-02-03T04:05:06Z"}
    frames = drframe.to_frames([seed_examples["get_response"], lonely])
    customers = frames.customers
    assert customers["customer_id"].tolist() == ["5823594809", "00042"], "ids stay text, leading zeros kept"
    assert str(customers["customer_id"].dtype) == "string"
    assert str(customers["shipping.address.postalCode"].dtype) == "string"
    assert str(customers["enabled"].dtype) == "boolean" and customers["enabled"].isna().tolist() == [False, True]
    assert str(customers["createdTime"].dtype) == "datetime64[ns, UTC]"
    assert str(frames.sources["amount"].dtype) == "Float64"
    assert str(frames.sources["creditCard.expirationMonth"].dtype) == "Int64"
    assert frames.sources["clientSecret"].tolist() == ["[REDACTED]"], "clientSecret redacted by default"
    assert frames.sources[["source_id", "customer_id", "position"]].iloc[0].tolist() == [
        "a6809a63-e6a9-4016-abbc-f33d19fccb5b", "5823594809", 0]
    assert json.loads(frames.tax_identifiers["applicability"].iloc[0] and json.dumps(
        frames.tax_identifiers["applicability"].iloc[0]))[0]["country"] == "FR"
    assert str(frames.tax_certificates["endDate"].dtype) == "datetime64[ns, UTC]"
    assert len(frames.customers) == 2, "a customer with no sources still appears"


def test_empty_input_has_declared_columns() -> None:
    frames = drframe.to_frames([])
    assert "shipping.address.postalCode" in frames.customers and len(frames.customers) == 0
    assert str(frames.customers["enabled"].dtype) == "boolean"


def test_unknown_fields_become_columns_with_a_warning() -> None:
    with pytest.warns(UnknownFieldWarning) as caught:
        frames = drframe.to_frames([{"id": "1", "loyaltyTier": "gold", "email": 7}])
    messages = sorted(str(w.message) for w in caught)
    assert "customers.email: values do not fit the declared string" in messages[0]
    assert "undeclared fields kept as object columns: loyaltyTier" in messages[1]
    assert frames.customers["email"].dtype == object
    assert frames.customers["loyaltyTier"].tolist() == ["gold"]
    assert frames.to_payloads() == [{"id": "1", "loyaltyTier": "gold", "email": 7}]


def test_row_payload_and_minimal_diff(seed_examples: dict[str, Any]) -> None:
    frames = drframe.to_frames([seed_examples["get_response"]])
    row = frames.customers.iloc[0].to_dict()
    payload = row_payload(row)
    assert set(payload) <= {"email", "shipping", "defaultSourceId", "metadata", "locale", "type", "enabled",
                            "requestToBeForgotten"}
    assert payload["shipping"]["address"]["postalCode"] == "55129"
    assert "createdTime" not in payload and "liveMode" not in payload
    drframe._core._models.CustomerUpdate.model_validate(payload, context=drframe._core._models.STRICT)

    edited = frames.customers.copy()
    edited.loc[0, "shipping.address.city"] = "St. Paul"
    edited.loc[0, "metadata.coupon"] = pd.NA
    edited.loc[0, "enabled"] = False
    diff = diff_frames(frames.customers, edited)
    update = diff["5823594809"]
    assert update["enabled"] is False
    assert update["metadata"] == {"coupon": ""}, "a vanished metadata key is removed with an empty string"
    assert update["shipping"]["address"]["city"] == "St. Paul" and update["shipping"]["name"] == "John Smith"
    assert diff_frames(frames.customers, frames.customers) == {}
    _, changes = diff_rows(frames.customers.iloc[0].to_dict(), edited.iloc[0].to_dict())
    assert ("enabled", True, False) in changes


def test_column_paths() -> None:
    assert column_path("shipping.address.postalCode") == ("shipping", "address", "postalCode")
    assert column_path("metadata.a.b") == ("metadata", "a.b")


def test_client_streams_all_pages_into_frames(shared_sandbox: Sandbox) -> None:
    frames = shared_sandbox.client().customers.to_frames()
    assert len(frames.customers) == 120
    assert frames.customers["customer_id"].is_unique
    assert set(frames.sources["customer_id"]) <= set(frames.customers["customer_id"])


def test_exports(tmp_path: Path, seed_examples: dict[str, Any]) -> None:
    customer = copy.deepcopy(seed_examples["get_response"])
    customer["metadata"] = {"note": "=HYPERLINK(\"http://evil\")", "other": "@SUM(A1)"}
    frames = drframe.to_frames([customer])
    xlsx = frames.to_excel(tmp_path / "out.xlsx", mask_pii=True)
    book = openpyxl.load_workbook(xlsx)
    assert book.sheetnames == ["customers", "sources", "tax_identifiers", "tax_certificates", "_empty_values"]
    assert book["_empty_values"].sheet_state == "hidden"
    sheet = book["customers"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    header = [c.value for c in sheet[1]]
    values = dict(zip(header, [c for c in sheet[2]], strict=True))
    assert values["metadata.note"].value == "=HYPERLINK(\"http://evil\")" and values["metadata.note"].data_type == "s"
    assert values["email"].value.startswith("j*") and values["email"].value.endswith("@digitalriver.com")
    assert values["shipping.phone"].value.endswith("11") and "*" in values["shipping.phone"].value
    assert "52199c06" not in str([[c.value for c in r] for r in book["sources"].iter_rows()])

    written = frames.to_csv(tmp_path / "csv")
    text = (tmp_path / "csv" / "customers.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text and "'@SUM" in text
    assert len(written) == 4
    frames.to_parquet(tmp_path / "pq")
    again = pd.read_parquet(tmp_path / "pq" / "customers.parquet")
    assert str(again["createdTime"].dtype) == "datetime64[ns, UTC]"


def test_export_cli_on_embedded_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DR_BASE_URL", raising=False)
    assert main(["export", "--sandbox", "--out", str(tmp_path / "all.xlsx"), "--seed-customers", "15"]) == 0
    assert len(list(openpyxl.load_workbook(tmp_path / "all.xlsx")["customers"].iter_rows())) == 16


def test_export_cli_against_a_running_sandbox(tmp_path: Path, shared_sandbox: Sandbox,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DR_API_KEY", shared_sandbox.api_key)
    assert main(["export", "--base-url", shared_sandbox.base_url, "--out", str(tmp_path / "csv")]) == 0
    assert len(pd.read_csv(tmp_path / "csv" / "customers.csv", dtype=str)) == 120


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_command_starts_listing_before_heavy_imports(tmp_path: Path, shared_sandbox: Sandbox,
                                                            fmt: str) -> None:
    """`drframe export` imports no web framework, and pandas only once its listing has started (issue 20 s. 3)."""
    import subprocess
    import sys

    code = ("import sys, requests\n"
            "from drframe.cli import main\n"
            "send = requests.Session.send\n"
            "def first(self, *args, **kwargs):\n"
            "    print('first request: pandas imported' if 'pandas' in sys.modules else 'first request: no pandas')\n"
            "    requests.Session.send = send\n"
            "    return send(self, *args, **kwargs)\n"
            "requests.Session.send = first\n"
            "code = main(sys.argv[1:])\n"
            "print('fastapi imported' if 'fastapi' in sys.modules else 'no fastapi')\n"
            "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", code, "export", "--base-url", shared_sandbox.base_url, "--api-key",
                           shared_sandbox.api_key, "--format", fmt, "--out", str(tmp_path / fmt), "--no-progress"],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "first request: no pandas" in done.stdout and "no fastapi" in done.stdout, done.stdout


def test_demo_runs(tmp_path: Path) -> None:
    assert main(["demo", "--out", str(tmp_path / "demo"), "--seed-customers", "40"]) == 0
    assert (tmp_path / "demo" / "customers-after.xlsx").exists()


def test_empty_values_column_is_json_or_na(seed_examples: dict[str, Any]) -> None:
    frames = drframe.to_frames([seed_examples["get_response"]])
    value = frames.sources[EMPTY_VALUES_COLUMN].iloc[0]
    assert json.loads(value)["alipay"] == {}


# -- exact text round trip, repeated ids, and the two flattening paths ---------------------------------------

TIMESTAMP_FORMS = [
    "2020-05-13T11:00:00.000Z",        # the vendor's tax-identifier examples
    "2021-07-02T13:15:10.0875833Z",    # seven fraction digits (the vendor's OpenAPI examples)
    "2024-01-01T02:00:00+02:00",       # an offset instead of Z
    "2024-01-01T00:00:00Z",            # no fraction: canonical
    "2018-08-29T09:12:33.001Z",        # whole milliseconds: canonical
    "2024-01-01T00:00:00.120000Z",     # six digits for whole milliseconds
    "2024-01-01T00:00:00.123456789Z",  # nanoseconds
]


@pytest.fixture(params=["arrow", "python"])
def flatten_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test through both flatteners: arrow's (the fast path) and the Python walk (its fallback)."""
    if request.param == "python":
        monkeypatch.setattr(frames_module, "_add_arrow", lambda records, tables: False)
    return str(request.param)


@pytest.mark.parametrize("stamp", TIMESTAMP_FORMS)
def test_timestamp_text_round_trips_exactly(stamp: str, flatten_path: str) -> None:
    customer = {"id": "c1", "createdTime": stamp, "email": "a@example.org",
                "taxIdentifiers": [{"id": "t1", "stateTransitions": {"verified": stamp}, "createdTime": stamp}]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frames = drframe.to_frames([customer])
    created = frames.customers["createdTime"]
    assert str(created.dtype) == "datetime64[ns, UTC]", "the column stays a timestamp whatever the text"
    assert created.iloc[0] == pd.Timestamp(stamp)
    assert str(frames.tax_identifiers["stateTransitions.verified"].dtype) == "datetime64[ns, UTC]"
    kept = frames.customers[EMPTY_VALUES_COLUMN].iloc[0]
    if stamp == format_datetime(parse_datetime(stamp)):
        assert pd.isna(kept), "the canonical form costs nothing"
    else:
        assert json.loads(kept) == {"createdTime": stamp}
    assert frames.to_payloads() == [customer]


def test_an_edited_timestamp_wins_over_the_kept_text() -> None:
    frames = drframe.to_frames([{"id": "c1", "createdTime": "2020-05-13T11:00:00.000Z"}])
    frames.customers.loc[0, "createdTime"] = pd.Timestamp("2021-01-02T03:04:05Z")
    assert frames.to_payloads() == [{"id": "c1", "createdTime": "2021-01-02T03:04:05Z"}]


def test_records_sharing_an_id_keep_their_own_children(flatten_path: str) -> None:
    first = {"id": "dup", "email": "old@example.org", "sources": [{"id": "s1", "type": "creditCard"}]}
    second = {"id": "dup", "email": "new@example.org", "sources": [{"id": "s2"}, {"id": "s3"}],
              "taxIdentifiers": [{"id": "t1", "type": "de", "value": "DE123456789"}]}
    other = {"id": "solo", "sources": [{"id": "s4"}]}
    frames = drframe.to_frames([first, second, other])
    assert frames.customers[CUSTOMER_KEY].tolist() == ["dup", "dup", "solo"], "both rows are kept, in order"
    sources = frames.sources
    assert sources[["source_id", CUSTOMER_KEY, "position", PARENT_ROW_COLUMN]].values.tolist() == [
        ["s1", "dup", 0, 0], ["s2", "dup", 0, 1], ["s3", "dup", 1, 1], ["s4", "solo", 0, 2]]
    assert str(sources[PARENT_ROW_COLUMN].dtype) == "Int64"
    assert frames.tax_identifiers[PARENT_ROW_COLUMN].tolist() == [1]
    assert frames.to_payloads() == [first, second, other]
    # A filtered customers frame keeps its index labels: the children of a dropped row are dropped with it.
    kept = drframe.Frames(frames.customers.iloc[[1, 2]], sources, frames.tax_identifiers, frames.tax_certificates)
    assert kept.to_payloads() == [second, other]
    # Without customer_row (a frame from elsewhere) children go to the first row with their customer id.
    bare = drframe.Frames(frames.customers.iloc[[2]].reset_index(drop=True), sources.drop(columns=PARENT_ROW_COLUMN),
                          frames.tax_identifiers, frames.tax_certificates)
    assert bare.to_payloads() == [other]


def test_both_flatteners_build_the_same_frames() -> None:
    customers = generate_customers(300, seed=5)
    customers[7]["shipping"]["address"]["line2"] = None
    customers[9]["metadata"] = {}
    customers[11]["sources"] = []
    customers[12]["taxIdentifiers"] = None
    customers[13]["shipping"]["additionalAddressInfo"] = {}
    arrow = drframe.to_frames(customers, redact=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(frames_module, "_add_arrow", lambda records, tables: False)
        python = drframe.to_frames(customers, redact=False)
    for name, frame in arrow.tables().items():
        other = python.tables()[name]
        assert list(frame.columns) == list(other.columns), name
        assert frame.dtypes.equals(other.dtypes), name
        assert frame.equals(other), name
    assert arrow.to_payloads() == customers


def _stamps() -> st.SearchStrategy[str]:
    moments = st.datetimes(min_value=datetime(1700, 1, 1), max_value=datetime(2250, 1, 1))
    fractions = st.sampled_from([0, 1, 3, 6, 7, 9]).flatmap(
        lambda k: st.text("0123456789", min_size=k, max_size=k).map(lambda d: f".{d}" if d else ""))
    zones = st.sampled_from(["Z", "+00:00", "+02:00", "-05:30"])
    built = st.builds(lambda m, f, z: m.strftime("%Y-%m-%dT%H:%M:%S") + f + z, moments, fractions, zones)
    return st.one_of(built, moments.map(lambda m: format_datetime(m.replace(tzinfo=UTC))), st.text(max_size=4))


def _leaf(kind: str, odd: bool) -> st.SearchStrategy[Any]:
    values: dict[str, st.SearchStrategy[Any]] = {
        "string": st.text(max_size=6), "boolean": st.booleans(), "Int64": st.integers(-(2**53), 2**53),
        "Float64": st.floats(allow_nan=False, allow_infinity=False), "datetime": _stamps(),
        "json": st.lists(st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2), max_size=2),
    }
    specials: list[Any] = [None, {}, []] if odd else [None]
    return st.one_of(values[kind], values[kind], values[kind], st.sampled_from(specials))


def _objects(paths: dict[str, str], extra: dict[str, st.SearchStrategy[Any]] | None = None, *,
             odd: bool = True) -> st.SearchStrategy[Any]:
    """Dicts over the declared paths: any key may be absent or null instead of its value, and with ``odd`` a
    leaf may also be {} or [] (which only the Python walk takes; objects may be {} or [] either way)."""
    tree: dict[str, Any] = {}
    for path, kind in paths.items():
        *parents, leaf = path.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = kind

    def build(node: dict[str, Any]) -> st.SearchStrategy[Any]:
        optional = {key: build(value) if isinstance(value, dict) else _leaf(value, odd) for key, value in node.items()}
        return st.fixed_dictionaries({}, optional=optional)

    optional = {key: st.one_of(build(value), st.sampled_from([None, {}, []])) if isinstance(value, dict)
                else _leaf(value, odd) for key, value in tree.items()}
    return st.fixed_dictionaries({}, optional={**optional, **(extra or {})})


_METADATA = st.dictionaries(st.text(max_size=5), st.one_of(st.text(max_size=5), st.integers(), st.booleans(), st.none()),
                            max_size=4)
_IDS = st.sampled_from(["c1", "c2", "0042", "é"])
_CHILD_ID = {"id": st.text(max_size=4)}


def _customers(odd: bool) -> st.SearchStrategy[list[dict[str, Any]]]:
    customer = _objects(CUSTOMER_PATHS, {
        "id": _IDS, "metadata": st.one_of(_METADATA, st.sampled_from([None, {}, []])),
        "sources": st.one_of(st.lists(_objects(SOURCE_PATHS, _CHILD_ID, odd=odd), max_size=3),
                             st.sampled_from([None, []])),
        "taxIdentifiers": st.one_of(st.lists(_objects(TAX_IDENTIFIER_PATHS, _CHILD_ID, odd=odd), max_size=2),
                                    st.none()),
        "taxCertificates": st.lists(_objects(TAX_CERTIFICATE_PATHS, odd=odd), max_size=2),
    }, odd=odd)
    return st.lists(customer, max_size=4)


def _assert_round_trip_both_ways(customers: list[dict[str, Any]]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownFieldWarning)  # values of another type than declared: kept as object
        arrow = drframe.to_frames(customers, redact=False)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(frames_module, "_add_arrow", lambda records, tables: False)
            python = drframe.to_frames(customers, redact=False)
    assert arrow.to_payloads() == customers
    assert python.to_payloads() == customers
    for name, frame in arrow.tables().items():
        other = python.tables()[name]
        assert list(frame.columns) == list(other.columns), name
        assert frame.dtypes.equals(other.dtypes), name
        assert frame.equals(other), name


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_customers(odd=True))
def test_any_customers_round_trip_exactly(customers: list[dict[str, Any]]) -> None:
    _assert_round_trip_both_ways(customers)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_customers(odd=False))
def test_customers_arrow_can_take_round_trip_exactly(customers: list[dict[str, Any]]) -> None:
    _assert_round_trip_both_ways(customers)


@pytest.mark.parametrize("mix", ["sparse", "dense", "sources"])
def test_round_trip_is_exact_on_the_benchmark_mixes(mix: str, flatten_path: str, tmp_path: Path) -> None:
    """Every benchmarked mix -- sparse; dense with every field; source-heavy with cards, wire transfers, customer
    credits (``{}``) and PayPal's sub-objects -- comes back exactly, through both flatteners and through Parquet."""
    from drframe._files._parquet import read_parquet

    customers = benchmark_mix(mix, 2_500)  # two chunks
    frames = drframe.to_frames(customers, redact=False)
    assert frames.to_payloads() == customers
    frames.to_parquet(tmp_path)
    assert read_parquet(tmp_path).to_payloads() == customers


def test_payment_objects_without_declared_fields_round_trip_both_ways() -> None:
    """customerCredit has no declared field: ``{}``, ``null``, ``[]``, unknown keys and other values all come back
    exactly, next to sub-objects present on a few rows only (the arrow path checks only the rows that have them)."""
    variants: list[Any] = [{}, None, [], {"note": 1}, "text", {"x": {}}]
    customers: list[dict[str, Any]] = []
    for index in range(24):
        source: dict[str, Any] = {"id": f"s{index}", "type": "customerCredit"}
        if index % 4:
            source["customerCredit"] = variants[index % len(variants)]
        if index % 5 == 0:
            source["owner"] = {"address": {"line1": None} if index % 10 else {}, "email": "a@b.c"}
        if index % 7 == 0:
            source["payPal"] = {"redirect": {}} if index % 14 else {"directDebit": None}
        customers.append({"id": f"c{index}", "sources": [source, {"id": f"t{index}", "customerCredit": {}}]})
    _assert_round_trip_both_ways(customers)
    _assert_round_trip_both_ways([c for c in customers if not isinstance(c["sources"][0].get("customerCredit"),
                                                                             (str, list))])


@pytest.mark.parametrize("odd", [{"a": 2.5}, {"b": 3}, {"a": [1]}, "text"])
def test_source_metadata_round_trips_both_ways(odd: Any) -> None:
    """A source's metadata is free-form like the customer's: each key a column, values exactly as given, and a
    value that does not fit the type of its key's first value (or no object at all) still comes back."""
    variants: list[Any] = [{"a": 1, "b": "x"}, {"a": None}, {}, None, {"c": True, "b": "y"}, {"d": 0.5}]
    customers: list[dict[str, Any]] = []
    for index in range(12):
        sources = [{"id": f"s{index}", "metadata": variants[index % len(variants)]}, {"id": f"t{index}"}]
        customers.append({"id": f"c{index}", "sources": sources})
    _assert_round_trip_both_ways(customers)
    customers[7]["sources"][1]["metadata"] = odd
    _assert_round_trip_both_ways(customers)
