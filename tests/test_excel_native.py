"""xlsx exports look like an analyst's workbook and still re-import exactly."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pyarrow as pa

import drframe
from drframe import Client, bulk
from drframe._files._export import write_excel


def test_an_export_is_excel_native(tmp_path: Path, seed_examples: dict[str, Any]) -> None:
    customer = copy.deepcopy(seed_examples["get_response"])
    customer["createdTime"] = "2024-03-05T06:07:08.123Z"
    customer["metadata"] = {"note": "x" * 200}
    frames = drframe.to_frames([customer])
    book = openpyxl.load_workbook(frames.to_excel(tmp_path / "out.xlsx"))
    sheet = book["customers"]
    header = [c.value for c in sheet[1]]
    assert "createdTime (UTC)" in header and "createdTime" not in header
    assert "_empty_values" not in header, "bookkeeping is on the hidden sheet"
    cells = dict(zip(header, sheet[2], strict=True))
    created = cells["createdTime (UTC)"]
    assert created.number_format == "yyyy-mm-dd hh:mm:ss.000"
    assert created.value.microsecond == 123000, "milliseconds kept"
    assert cells["enabled"].data_type == "b" and cells["enabled"].value is True, "a boolean, shown TRUE/FALSE"
    letters = {c.value: c.column_letter for c in sheet[1]}
    assert sheet.column_dimensions[letters["metadata.note"]].width == 60, "widths are capped"
    assert 8 <= sheet.column_dimensions[letters["email"]].width < 60, "widths fit the content"
    sources = book["sources"]
    source_header = [c.value for c in sources[1]]
    if "amount" in source_header:
        amount = sources.cell(row=2, column=source_header.index("amount") + 1)
        assert amount.value is None or amount.number_format == "#,##0.00"
    hidden = book["_empty_values"]
    assert hidden.sheet_state == "hidden"
    assert [c.value for c in hidden[1]] == ["table", "row", "_empty_values"]


def test_an_excel_native_export_reimports_as_unchanged(client: Client, tmp_path: Path) -> None:
    client.customers.create(id="x-1", email="x1@example.com", enabled=True, metadata={"n": 7, "flag": False},
                            shipping={"name": "A", "address": {"line1": "1 Main", "city": "Oslo", "country": "NO"}})
    client.customers.create(id="x-2", locale="fr_FR", metadata={})
    path = client.customers.to_frames().to_excel(tmp_path / "all.xlsx")
    plan = bulk.plan(path, client)
    assert plan.errors.empty, plan.errors.to_dict("records")
    assert plan.counts == {"unchanged": 2}


def test_columns_in_pieces_are_written_whole(tmp_path: Path) -> None:
    """A table joined from the listing's segments holds chunked Arrow columns."""
    texts = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([["c-1", None], ["=c-3"]])))
    frame = pd.DataFrame({"customer_id": texts, "count": pd.array([1, 2, None], dtype="Int64")})
    path = write_excel(tmp_path / "pieces.xlsx", {"customers": frame})
    sheet = openpyxl.load_workbook(path)["customers"]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["customer_id", "count"], ["c-1", 1], [None, 2], ["=c-3", None]]
    assert sheet["A4"].quotePrefix and sheet["A4"].number_format == "@"
