"""CSV exports rendered while the listing runs (``drframe export --format csv``): byte for byte what
``Frames.to_csv`` writes for the same customers, whatever order the segments come in, and the ordinary path
(same bytes, same errors) whenever the streamed rendering cannot promise that."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from mixes import benchmark_mix
from streaming import Segment, cut_small, null_in_some_segments, shuffled, spy_reasons, store_with

from drframe import to_frames
from drframe._errors import ExportError, UnknownFieldWarning
from drframe._fetch import csv_in_order
from drframe._files import _csv_streamed
from drframe._tables._frames import frames_in_order
from drframe.cli import main
from drframe.sandbox import Sandbox
from drframe.testing import generate_customers


@pytest.fixture
def reasons(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    return spy_reasons(monkeypatch)


@pytest.fixture
def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    cut_small(monkeypatch, "CSV_BATCH")


def files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def streamed_over_http(customers: list[dict[str, Any]], tmp_path: Path, *, workers: int = 4,
                       mask_pii: bool = False) -> tuple[dict[str, bytes], dict[str, bytes], str]:
    """The streamed export of ``customers`` listed from a sandbox, ``Frames.to_csv`` of the same listing, and
    the streamed export's summary."""
    with store_with(customers).start() as sandbox, sandbox.client() as client:
        summary, written = client.customers._to_csv(tmp_path / "streamed", workers=workers, mask_pii=mask_pii)
        frames = client.customers.to_frames(workers=1)
    frames.to_csv(tmp_path / "frames", mask_pii=mask_pii)
    assert summary == repr(frames)
    assert [p.name for p in written] == ["customers.csv", "sources.csv", "tax_identifiers.csv", "tax_certificates.csv"]
    return files(tmp_path / "streamed"), files(tmp_path / "frames"), summary


def streamed_and_whole(segments: list[Segment], tmp_path: Path, *, batch: int = 0,
                       mask_pii: bool = False) -> tuple[dict[str, bytes], dict[str, bytes]]:
    summary, _ = csv_in_order(tmp_path / "streamed", segments, batch=batch, mask_pii=mask_pii)
    frames = frames_in_order(segments)
    frames.to_csv(tmp_path / "frames", mask_pii=mask_pii)
    assert summary == repr(frames)
    return files(tmp_path / "streamed"), files(tmp_path / "frames")


# ---- over HTTP -------------------------------------------------------------------------------------------------

def test_the_seeded_sandbox_streams_the_same_files(shared_sandbox: Sandbox, tmp_path: Path,
                                                   reasons: list[str | None], small_segments: None) -> None:
    with shared_sandbox.client() as client:
        summary, _ = client.customers._to_csv(tmp_path / "streamed", workers=5)
        frames = client.customers.to_frames()
    frames.to_csv(tmp_path / "frames")
    assert summary == repr(frames) and len(frames.customers) == 120
    assert files(tmp_path / "streamed") == files(tmp_path / "frames")
    assert reasons == [None], "rendered while listing, not written from the frames"


@pytest.mark.parametrize("mix", ["sparse", "dense", "sources"])
def test_the_benchmark_mixes_stream_the_same_files(mix: str, tmp_path: Path, reasons: list[str | None],
                                                   small_segments: None) -> None:
    customers = benchmark_mix(mix, 600)
    streamed, whole, _ = streamed_over_http(customers, tmp_path)
    assert streamed == whole
    assert reasons == [None]


def test_metadata_numbers_and_booleans_stream_the_same_files(tmp_path: Path, reasons: list[str | None],
                                                           small_segments: None) -> None:
    streamed, whole, _ = streamed_over_http(benchmark_mix("dense", 300), tmp_path)
    assert streamed == whole
    assert reasons == [None], "rendered while listing, not written from the joined frames"
    assert b",True," in streamed["customers.csv"] or b",False," in streamed["customers.csv"]


def test_odd_texts_late_metadata_and_nul_stream_the_same_files(tmp_path: Path, reasons: list[str | None],
                                                               small_segments: None) -> None:
    customers = generate_customers(200, seed=11)
    odd = ["=1+1", "+44 20 7946 0000", "-5", "@x", "'quoted", 'say "hi", twice', "line\r\nbreak", "lf\nonly",
           "cr\ronly", " padded ", "1E5", "12345678901234567890"]
    for index, text in enumerate(odd):
        customers[index * 7 + 1]["metadata"] = {"note": text}
        if index % 2:
            customers[index * 7 + 2]["email"] = f"{text}@example.com"
    customers[0]["metadata"] = {"late.key": "only in the newest customer", "note": "=SUM(A1)"}  # listed first
    customers[-1]["metadata"] = {"early": "x,y"}  # listed last
    customers[100]["metadata"] = {"nul": "a\x00b"}
    streamed, whole, _ = streamed_over_http(customers, tmp_path)
    assert streamed == whole
    assert streamed["customers.csv"].startswith(b"\xef\xbb\xbf"), "a NUL byte: the BOM"
    assert not streamed["sources.csv"].startswith(b"\xef\xbb\xbf")
    assert b"'=1+1" in streamed["customers.csv"] and b'"say ""hi"", twice"' in streamed["customers.csv"]
    assert reasons == [None]


def test_masked_pii_streams_the_same_files(tmp_path: Path, reasons: list[str | None], small_segments: None) -> None:
    streamed, whole, _ = streamed_over_http(generate_customers(150, seed=12), tmp_path, mask_pii=True)
    assert streamed == whole
    assert reasons == [None]


def test_an_empty_listing_writes_the_headers(shared_sandbox: Sandbox, tmp_path: Path) -> None:
    with shared_sandbox.client() as client:
        summary, _ = client.customers._to_csv(tmp_path / "streamed", created_time={"lt": "2000-01-01T00:00:00Z"})
        frames = client.customers.to_frames(created_time={"lt": "2000-01-01T00:00:00Z"})
    frames.to_csv(tmp_path / "frames")
    assert summary == repr(frames) == "Frames(customers=0, sources=0, tax_identifiers=0, tax_certificates=0)"
    assert files(tmp_path / "streamed") == files(tmp_path / "frames")


def test_mixed_type_metadata_is_written_from_the_frames(tmp_path: Path, reasons: list[str | None],
                                                        small_segments: None) -> None:
    customers = generate_customers(160, seed=13)
    customers[10]["metadata"] = {"tier": 3}
    customers[150]["metadata"] = {"tier": "gold"}  # another segment: text there, a number here
    streamed, whole, _ = streamed_over_http(customers, tmp_path)
    assert streamed == whole
    assert reasons and reasons[0] is not None and "metadata.tier" in reasons[0]


def test_the_cli_writes_the_same_files(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       reasons: list[str | None], small_segments: None) -> None:
    customers = generate_customers(230, seed=14)
    customers[5]["metadata"] = {"formula": "=HYPERLINK(\"x\")"}
    with store_with(customers).start() as sandbox, sandbox.client() as client:
        frames = client.customers.to_frames()
        for options, name in (([], "plain"), (["--mask-pii"], "masked")):
            capsys.readouterr()
            assert main(["export", "--base-url", sandbox.base_url, "--api-key", sandbox.api_key, "--out",
                         str(tmp_path / name), "--format", "csv", "--no-progress", "--workers", "4", *options]) == 0
            printed = capsys.readouterr().out
            assert f"exported {frames!r} to {tmp_path / name / 'customers.csv'}, " in printed
            frames.to_csv(tmp_path / f"{name}-frames", mask_pii=bool(options))
            assert files(tmp_path / name) == files(tmp_path / f"{name}-frames")
    assert reasons == [None, None]


def test_the_cli_with_the_embedded_sandbox(tmp_path: Path, reasons: list[str | None]) -> None:
    assert main(["export", "--sandbox", "--seed-customers", "90", "--out", str(tmp_path / "out"), "--format", "csv",
                 "--no-progress"]) == 0
    with Sandbox(seed_customers=90) as sandbox, sandbox.client() as client:
        client.customers.to_frames().to_csv(tmp_path / "frames")
    assert files(tmp_path / "out") == files(tmp_path / "frames")
    assert reasons == [None]


# ---- segments in any order ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("batch", [0, 250, 10_000])
@pytest.mark.parametrize("seed", [1, 2])
def test_shuffled_segments_give_the_same_files(batch: int, seed: int, tmp_path: Path,
                                               reasons: list[str | None]) -> None:
    customers = benchmark_mix("sources", 500) + generate_customers(300, seed=seed)
    customers[-1]["metadata"] = {"zz.last": "only in the last segment"}
    customers[-2]["sources"] = [{"id": "late-source", "type": "payPal", "payPal": {"redirect": {"redirectUrl": "=u"}}}]
    streamed, whole = streamed_and_whole(shuffled(customers, 37, seed), tmp_path, batch=batch)
    assert streamed == whole
    assert reasons == [None]


def test_a_key_only_in_a_late_segment_fed_first_or_last(tmp_path: Path, reasons: list[str | None]) -> None:
    customers = generate_customers(120, seed=3)
    customers[119]["metadata"] = {"a.late": "=cmd|' /C calc'!A0", "b": "1,2"}
    segments: list[Segment] = [((i,), customers[i:i + 30]) for i in range(0, 120, 30)]
    for order, name in ((segments, "last"), (segments[::-1], "first")):
        streamed, whole = streamed_and_whole(order, tmp_path / name)
        assert streamed == whole
    assert reasons == [None, None]


def test_a_column_only_null_in_some_segments(tmp_path: Path, reasons: list[str | None]) -> None:
    """A metadata key that is null in every customer of a segment (an object column of None there, text in the
    joined frames) and an amount missing from whole segments: empty fields either way."""
    streamed, whole = streamed_and_whole(shuffled(null_in_some_segments(), 30), tmp_path)
    assert streamed == whole
    assert reasons == [None]


# ---- written from the frames: the same bytes, the same errors --------------------------------------------------

def test_a_lone_surrogate_fails_as_before(tmp_path: Path, reasons: list[str | None]) -> None:
    customers = generate_customers(60, seed=4)
    customers[5]["metadata"] = {"note": "half \ud800"}
    customers[50]["metadata"] = {"note": 7}  # an object column: the frames hold it, the CSV refuses it
    segments = shuffled(customers, 20)
    with pytest.raises(ExportError) as before:
        frames_in_order(segments).to_csv(tmp_path / "frames")
    with pytest.raises(ExportError) as now:
        csv_in_order(tmp_path / "streamed", segments, batch=0)
    assert str(now.value) == str(before.value)
    assert "column 'metadata.note' (U+D800" in str(now.value)
    assert files(tmp_path / "streamed") == files(tmp_path / "frames")  # the tables before it, as before
    assert reasons and reasons[0] is not None


def test_a_lone_surrogate_in_text_fails_as_before(tmp_path: Path) -> None:
    customers = generate_customers(40, seed=5)
    customers[3]["metadata"] = {"note": "half \ud800"}
    with pytest.raises(UnicodeEncodeError) as before:
        to_frames(customers).to_csv(tmp_path / "frames")
    with pytest.raises(UnicodeEncodeError) as now:
        csv_in_order(tmp_path / "streamed", shuffled(customers, 10), batch=0)
    assert str(now.value) == str(before.value)


def test_undeclared_fields_warn_once_as_before(tmp_path: Path, reasons: list[str | None]) -> None:
    customers = generate_customers(60, seed=6)
    customers[40]["brandNewField"] = "x"
    segments = shuffled(customers, 20)
    with warnings.catch_warnings(record=True) as before:
        warnings.simplefilter("always")
        frames_in_order(segments).to_csv(tmp_path / "frames")
    with warnings.catch_warnings(record=True) as now:
        warnings.simplefilter("always")
        csv_in_order(tmp_path / "streamed", segments, batch=0)
    assert [str(w.message) for w in now] == [str(w.message) for w in before]
    assert [w.category for w in now] == [UnknownFieldWarning]
    assert files(tmp_path / "streamed") == files(tmp_path / "frames")
    assert reasons and reasons[0] is not None and "brandNewField" in reasons[0]


def test_past_the_cap_the_frames_are_written(tmp_path: Path, reasons: list[str | None],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_csv_streamed, "CAP", 50_000)
    streamed, whole = streamed_and_whole(shuffled(generate_customers(300, seed=7), 50), tmp_path)
    assert streamed == whole
    assert reasons and reasons[0] is not None and "bytes rendered" in reasons[0]


def test_a_dtype_that_differs_between_segments_is_written_from_the_frames(tmp_path: Path,
                                                                          reasons: list[str | None]) -> None:
    customers = generate_customers(40, seed=8)
    customers[2]["metadata"] = {"tier": "gold"}  # text in one segment...
    customers[30]["metadata"] = {"tier": [1, 2]}  # ...a list (JSON text in the CSV) in another
    streamed, whole = streamed_and_whole(shuffled(customers, 10), tmp_path)
    assert streamed == whole
    assert reasons and reasons[0] is not None and "metadata.tier" in reasons[0]



def test_whole_numbers_are_the_text_pandas_writes() -> None:
    """Integer columns (``position``, ``customer_row``...) are rendered by Arrow: the digits pandas writes."""
    import csv

    import numpy as np
    import pandas as pd

    from drframe._files._csv_out import csv_bytes

    frame = pd.DataFrame({
        "nullable": pd.array([0, -1, 2**62, None, 2**63 - 1, -(2**63)], dtype="Int64"),
        "numpy": np.array([1, -2, 3, 0, 10**18, -5], dtype="int64"),
        "unsigned": pd.array([2**64 - 1, None, 0, 1, 2, 3], dtype="UInt64"),
        "missing": pd.array([None] * 6, dtype="Int64"),
    })
    written = frame.to_csv(index=False, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).encode()
    assert bytes(csv_bytes(frame, header=True, date_format="%Y") or b"") == written


_SPECIAL = ["\r", "\n", "\t", " ", "\u00a0", "'", '"', ",", "=", "+", "-", "@", "\x00", "\x0b", "e", "\u0301",
            "\ufeff", "\U0001f600", "1", "E"]


def test_any_texts_and_any_cut_give_the_same_files(tmp_path_factory: pytest.TempPathFactory,
                                                  reasons: list[str | None]) -> None:
    """Texts of any characters in declared fields and metadata (keys in some segments only), customers cut into
    segments anywhere and fed in any order: the files of ``Frames.to_csv``."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    text = st.text(st.one_of(st.sampled_from(_SPECIAL), st.characters(codec="utf-8")), max_size=12)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(texts=st.lists(st.tuples(text, st.sampled_from(["a", "b", "c.d"])), min_size=1, max_size=30),
           size=st.integers(1, 12), batch=st.sampled_from([0, 7, 1000]), seed=st.integers(0, 9))
    def check(texts: list[tuple[str, str]], size: int, batch: int, seed: int) -> None:
        customers = generate_customers(len(texts), seed=seed)
        for customer, (value, key) in zip(customers, texts, strict=True):
            customer["metadata"] = {key: value} if value else None
            customer.setdefault("shipping", {}).setdefault("address", {})["line1"] = value
        directory = tmp_path_factory.mktemp("any")
        segments = shuffled(customers, size, seed)
        summary, _ = csv_in_order(directory / "streamed", segments, batch=batch)
        frames = frames_in_order(segments)
        frames.to_csv(directory / "frames")
        assert summary == repr(frames)
        assert files(directory / "streamed") == files(directory / "frames")

    check()
    assert reasons and set(reasons) == {None}, "every example rendered while listing"
