"""The two Parquet writers give the same files: ``Frames.to_parquet`` (frames in memory) and
``client.customers.to_parquet`` (streamed a chunk at a time) share one writer, so for the same customers they
write the same schema (field metadata and pandas metadata included), column order and values, and
:func:`read_parquet` gives back the frames :func:`to_frames` built -- with metadata values of several types
across customers and chunks, children in a few chunks only, timestamps in non-canonical text and hostile text."""

from __future__ import annotations

import copy
import json
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from drframe import Frames, UnknownFieldWarning, to_frames
from drframe._core._text import REDACTED
from drframe._files._parquet import read_parquet
from drframe._tables._frames import SPECS, column_order
from drframe.sandbox import Sandbox
from drframe.testing import generate_customers

TABLES = ["customers", "sources", "tax_identifiers", "tax_certificates"]
HOSTILE = ["=HYPERLINK(\"http://evil\")", "@SUM(A1)", "+1", "-2", "'quoted'", 'say "hi"\\', "line\nbreak\ttab\r",
           "", " ", "null", "None", "NaN", "nan", "NA", "true", "[1, 2]", '{"a": 1}', "\u202eevil\u202c", "日本語 ☃ 🎉",
           "x" * 5000, "\x00nul\x1f"]
#: Rows of ``tier``: text, integer, boolean and number in different chunks (stored as JSON text).
TIERS: list[Any] = ["gold", 3, True, 2.5, "silver", 0, False, "", None]
#: Timestamps in forms other than format_datetime's (kept in _empty_values; the cell holds the instant).
ODD_TIMES = ["2024-01-01T00:00:00.000Z", "2024-01-01T01:00:00.1234567Z", "2024-01-01T03:00:00+02:00",
             "2024-01-01T00:00:00.500000Z", "2024-01-01T00:00:04Z"]


def customers_to_export() -> list[dict[str, Any]]:
    """The customers, newest first (the listing's order)."""
    customers = generate_customers(180, seed=11)
    for index, customer in enumerate(customers):
        metadata: dict[str, Any] = customer["metadata"]
        if index % 7 == 0:
            metadata["tier"] = TIERS[(index // 7) % len(TIERS)]
        if index % 13 == 0:
            metadata["note"] = HOSTILE[(index // 13) % len(HOSTILE)]
        if index in (40, 150):  # integers only, in two chunks
            metadata["count"] = index
        if index in (41, 151):  # an integer and a number
            metadata["ratio"] = 1 if index == 41 else 0.25
        if index == 160:  # only in the last chunks: absent from the first one
            metadata["late.key"] = True
        if index == 17:
            customer["metadata"] = {}
        if index == 18:
            customer.pop("metadata")
    # Children in a few chunks only; a payment type no other source has, late in the listing.
    for index, customer in enumerate(customers):
        if not 60 <= index < 90:
            customer.pop("sources", None)
            customer.pop("defaultSourceId", None)
        if index < 100:
            customer.pop("taxIdentifiers", None)
            customer.pop("taxCertificates", None)
    late = customers[170]
    late["sources"] = [{"id": "0a3c9bde-late-source", "type": "googlePay", "createdTime": ODD_TIMES[2],
                        "googlePay": {"lastFourDigits": "4242", "expirationMonth": 4, "expirationYear": 2031,
                                      "brand": HOSTILE[0]}, "customerId": late["id"], "liveMode": False}]
    late["defaultSourceId"] = late["sources"][0]["id"]
    late["taxCertificates"] = [{"companyName": HOSTILE[5], "taxAuthority": "MN", "startDate": ODD_TIMES[3],
                                "endDate": "2025-01-01T00:00:00Z", "fileId": "file_1"}]
    for index, stamp in zip((5, 50, 99, 120, 179), ODD_TIMES, strict=True):
        customers[index]["updatedTime"] = stamp
    customers[3]["shipping"]["name"] = HOSTILE[20]
    customers[4]["loyalty"] = {"level": 2}  # undeclared: an object column, one type...
    customers[130]["loyalty"] = {"level": "two"}  # ...then another in a later chunk
    return customers[::-1]


def arrow_tables(directory: Path) -> dict[str, pa.Table]:
    return {name: pq.read_table(directory / f"{name}.parquet") for name in TABLES}


def assert_frames_equal(left: Frames, right: Frames) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(left.tables()[name], right.tables()[name], obj=name)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Frames, Path, Path]:
    """The frames of the customers, and the directories both writers wrote them into."""
    customers = customers_to_export()
    out = tmp_path_factory.mktemp("parquet")
    sandbox = Sandbox()
    sandbox.store.insert_many(copy.deepcopy(customers))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownFieldWarning)
        with sandbox.start(), sandbox.client() as client:
            frames = client.customers.to_frames(workers=1)
            # chunks of 23 out of pages of 10 listed by 4 workers: types differ between chunks
            client.customers.to_parquet(out / "streamed", chunk_size=23, page_size=10, workers=4)
        assert_frames_equal(frames, to_frames(customers))  # the sandbox gives the customers back as given
    frames.to_parquet(out / "memory")
    return frames, out / "memory", out / "streamed"


def test_both_writers_write_the_same_tables(written: tuple[Frames, Path, Path]) -> None:
    _, memory, streamed = written
    in_memory, stream = arrow_tables(memory), arrow_tables(streamed)
    for name in TABLES:
        assert in_memory[name].schema.equals(stream[name].schema, check_metadata=True), name
        assert in_memory[name].equals(stream[name], check_metadata=True), name
    assert pq.ParquetFile(streamed / "customers.parquet").metadata.num_row_groups > 1  # it did stream in chunks
    assert sorted(p.name for p in memory.iterdir()) == sorted(p.name for p in streamed.iterdir())


def test_mixed_metadata_is_json_text_and_single_types_keep_their_type(written: tuple[Frames, Path, Path]) -> None:
    _, memory, _ = written
    schema = arrow_tables(memory)["customers"].schema
    marks = {f.name: (str(f.type), (f.metadata or {}).get(b"drframe")) for f in schema}
    assert marks["metadata.tier"] == ("string", b"json")
    assert marks["metadata.count"] == ("int64", b"object")
    assert marks["metadata.ratio"] == ("double", b"object")
    assert marks["metadata.late.key"] == ("bool", b"object")
    assert marks["loyalty.level"] == ("string", b"json")
    assert marks["metadata.note"][1] is None  # text only: the frames' own text column


def test_reading_back_gives_the_frames(written: tuple[Frames, Path, Path]) -> None:
    frames, memory, streamed = written
    from_memory, from_stream = read_parquet(memory), read_parquet(streamed)
    assert_frames_equal(from_memory, frames)
    assert_frames_equal(from_stream, frames)
    customers = customers_to_export()
    tiers = [(type(t), t) for t in from_stream.customers["metadata.tier"].tolist()]  # 0 is not False
    assert tiers == [(type(t), t) for t in (c.get("metadata", {}).get("tier") for c in customers)]
    for customer in customers:
        for source in customer.get("sources", []):
            if "clientSecret" in source:
                source["clientSecret"] = REDACTED
        if "ratio" in customer.get("metadata", {}):  # integers and numbers in one column: stored as numbers
            customer["metadata"]["ratio"] = float(customer["metadata"]["ratio"])
    # down to each value's JSON type and each timestamp's text
    assert json.dumps(from_stream.to_payloads(), sort_keys=True) == json.dumps(customers, sort_keys=True)


def test_the_files_keep_the_frames_column_order(written: tuple[Frames, Path, Path]) -> None:
    frames, memory, _ = written
    for name, frame in frames.tables().items():
        assert list(frame.columns) == column_order(name, frame.columns)
        assert arrow_tables(memory)[name].column_names == list(frame.columns)


def test_column_order_is_the_frames_order() -> None:
    assert column_order("sources", ["_empty_values", "metadata.b", "zz", "metadata.a", "id_unknown", "type",
                                    "customer_row", "position", "customer_id", "source_id"]) == [
        "source_id", "customer_id", "position", "customer_row", "type", "metadata.a", "metadata.b", "id_unknown",
        "zz", "_empty_values"]
    empty = to_frames([])
    for name, spec in SPECS.items():
        assert list(empty.tables()[name].columns) == column_order(name, empty.tables()[name].columns)
        assert [c for c in empty.tables()[name].columns if c in spec.paths] == [p for p in spec.paths
                                                                                 if spec.always(p)]


def test_empty_frames_write_the_streamed_empty_export(tmp_path: Path) -> None:
    to_frames([]).to_parquet(tmp_path / "memory")
    sandbox = Sandbox()
    with sandbox.start(), sandbox.client() as client:
        client.customers.to_parquet(tmp_path / "streamed", created_time={"lt": "2000-01-01T00:00:00Z"})
    for name in TABLES:
        left, right = arrow_tables(tmp_path / "memory")[name], arrow_tables(tmp_path / "streamed")[name]
        assert left.equals(right, check_metadata=True) and left.num_rows == 0, name
    assert read_parquet(tmp_path / "memory").customers.empty


def test_a_filtered_frame_writes_its_rows_as_they_are(tmp_path: Path) -> None:
    frames = to_frames(generate_customers(30, seed=3, start=datetime(2024, 6, 1, tzinfo=UTC)))
    frames.customers = frames.customers.iloc[5:]  # index labels 5..29: children still point at them
    frames.to_parquet(tmp_path)
    again = read_parquet(tmp_path)
    assert again.customers["customer_id"].tolist() == frames.customers["customer_id"].tolist()
    assert again.sources["customer_row"].tolist() == frames.sources["customer_row"].tolist()


def test_chunks_converted_while_listing_are_written_without_converting_them_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The streamed writer converts each chunk to Arrow as it arrives; after the last page it converts again only
    the first chunk of each table (which settles the schema) and a chunk whose columns the export stores another
    way (here ``tier``: an integer in one chunk, text in another, JSON text in the file)."""
    from drframe._files._parquet import _Chunk, write_parquet_segments

    customers = generate_customers(60, seed=4)
    for customer in customers:
        customer.pop("metadata", None)
    customers[45]["metadata"] = {"tier": 3}
    customers[55]["metadata"] = {"tier": "gold"}
    segments = [(((i,), 0), customers[i:i + 10]) for i in range(0, 60, 10)]
    converted_again: list[int] = []
    frame_of = _Chunk.frame
    monkeypatch.setattr(_Chunk, "frame", lambda chunk: converted_again.append(chunk.rows) or frame_of(chunk))
    write_parquet_segments(tmp_path / "pq", reversed(segments))
    assert len(converted_again) == len(TABLES) + 2  # each table's first chunk; customers' chunks 5 and 6
    again = read_parquet(tmp_path / "pq")
    for name, frame in to_frames(customers).tables().items():
        pd.testing.assert_frame_equal(again.tables()[name], frame, obj=name)
