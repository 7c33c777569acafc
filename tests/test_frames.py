"""Flattening into typed tables and back; exports; the export CLI."""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

import drframe
from drframe import UnknownFieldWarning
from drframe._editing import diff_frames, diff_rows, row_payload
from drframe._frames import EMPTY_VALUES_COLUMN, column_path
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
    drframe._models.CustomerUpdate.model_validate(payload, context=drframe._models.STRICT)

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


def test_demo_runs(tmp_path: Path) -> None:
    assert main(["demo", "--out", str(tmp_path / "demo"), "--seed-customers", "40"]) == 0
    assert (tmp_path / "demo" / "customers-after.xlsx").exists()


def test_empty_values_column_is_json_or_na(seed_examples: dict[str, Any]) -> None:
    frames = drframe.to_frames([seed_examples["get_response"]])
    value = frames.sources[EMPTY_VALUES_COLUMN].iloc[0]
    assert json.loads(value)["alipay"] == {}
