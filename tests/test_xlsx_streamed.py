"""xlsx exports rendered while the listing runs (``drframe export --format xlsx``): every entry of the workbook
byte for byte what ``Frames.to_excel`` writes for the same customers, whatever order the segments come in, and
the ordinary path (same bytes, same errors, same warnings) whenever the streamed rendering cannot promise that."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest
from mixes import benchmark_mix
from streaming import Segment, cut_small, null_in_some_segments, shuffled, spy_reasons, store_with

from drframe import _fetch as fetch
from drframe._errors import ExportError, UnknownFieldWarning
from drframe._fetch import xlsx_in_order
from drframe._files import _xlsx_streamed
from drframe._tables._frames import frames_in_order
from drframe.cli import main
from drframe.sandbox import Sandbox
from drframe.testing import generate_customers


@pytest.fixture
def reasons(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    return spy_reasons(monkeypatch)


@pytest.fixture
def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    cut_small(monkeypatch, "XLSX_BATCH")


def entries(path: Path) -> dict[str, bytes]:
    """The workbook's parts, unzipped (the zip container itself may differ)."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def streamed_over_http(customers: list[dict[str, Any]], tmp_path: Path, *, workers: int = 4,
                       mask_pii: bool = False) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The streamed workbook of ``customers`` listed from a sandbox and ``Frames.to_excel`` of the same listing."""
    with store_with(customers).start() as sandbox, sandbox.client() as client:
        summary, written = client.customers._to_excel(tmp_path / "streamed.xlsx", workers=workers, mask_pii=mask_pii)
        frames = client.customers.to_frames(workers=1)
    frames.to_excel(tmp_path / "frames.xlsx", mask_pii=mask_pii)
    assert summary == repr(frames)
    assert written == tmp_path / "streamed.xlsx"
    return entries(written), entries(tmp_path / "frames.xlsx")


def streamed_and_whole(segments: list[Segment], tmp_path: Path, *, batch: int = 0,
                       mask_pii: bool = False) -> tuple[dict[str, bytes], dict[str, bytes]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    summary, written = xlsx_in_order(tmp_path / "streamed.xlsx", segments, batch=batch, mask_pii=mask_pii)
    frames = frames_in_order(segments)
    frames.to_excel(tmp_path / "frames.xlsx", mask_pii=mask_pii)
    assert summary == repr(frames)
    return entries(written), entries(tmp_path / "frames.xlsx")


def sheet(parts: dict[str, bytes], number: int) -> str:
    return parts[f"xl/worksheets/sheet{number}.xml"].decode()


# ---- over HTTP -------------------------------------------------------------------------------------------------

def test_the_seeded_sandbox_streams_the_same_workbook(shared_sandbox: Sandbox, tmp_path: Path,
                                                      reasons: list[str | None], small_segments: None) -> None:
    with shared_sandbox.client() as client:
        summary, written = client.customers._to_excel(tmp_path / "streamed.xlsx", workers=5)
        frames = client.customers.to_frames()
    frames.to_excel(tmp_path / "frames.xlsx")
    assert summary == repr(frames) and len(frames.customers) == 120
    assert entries(written) == entries(tmp_path / "frames.xlsx")
    assert reasons == [None], "rendered while listing, not written from the frames"


@pytest.mark.parametrize("mix", ["sparse", "dense", "sources"])
def test_the_benchmark_mixes_stream_the_same_workbook(mix: str, tmp_path: Path, reasons: list[str | None],
                                                      small_segments: None) -> None:
    streamed, whole = streamed_over_http(benchmark_mix(mix, 600), tmp_path)
    assert streamed == whole
    assert reasons == [None]


def test_odd_texts_and_late_metadata_stream_the_same_workbook(tmp_path: Path, reasons: list[str | None],
                                                              small_segments: None) -> None:
    customers = generate_customers(200, seed=11)
    odd = ["=1+1", "+44 20 7946 0000", "-5", "@x", "'quoted", "a & b <c>", "line\r\nbreak", " padded ", "tab\t",
           "\u00a0nbsp", "trailing\n", "1E5", "12345678901234567890", "x" * 40_000]
    for index, text in enumerate(odd):
        customers[index * 7 + 1]["metadata"] = {"note": text, "number": index, "flag": index % 2 == 0}
        if index % 2:
            customers[index * 7 + 2]["email"] = f"{text[:50]}@example.com"
    customers[0]["metadata"] = {"late.key": "only in the newest customer", "code": "=SUM(A1)"}  # listed first
    customers[-1]["metadata"] = {"code": "02108", "early": " x "}  # listed last: digits make a Text column
    streamed, whole = streamed_over_http(customers, tmp_path)
    assert streamed == whole
    text = sheet(streamed, 1)
    assert '<t xml:space="preserve"> padded </t>' in text and "a &amp; b &lt;c&gt;" in text
    assert "x" * 32_767 + "</t>" in text and "x" * 32_768 not in text, "cut to Excel's longest text"
    assert 's="6" t="inlineStr"><is><t>=SUM(A1)</t>' in text, "formula-like text in a Text column"
    assert reasons == [None]


def test_datetimes_amounts_and_empty_values_stream_the_same_workbook(tmp_path: Path,
                                                                     reasons: list[str | None]) -> None:
    customers = generate_customers(150, seed=12)
    customers[3]["createdTime"] = "2021-03-04T05:06:07+02:00"  # kept in _empty_values
    customers[100]["metadata"] = {}
    customers[140]["updatedTime"] = "1899-12-31T00:00:00.000Z"
    streamed, whole = streamed_and_whole(shuffled(customers, 20, seed=3), tmp_path / "plain")
    assert streamed == whole
    names = list(streamed)
    assert "xl/worksheets/sheet5.xml" in names, "the hidden _empty_values sheet"
    assert 's="2"><v>' in sheet(streamed, 1), "datetimes"
    assert any('s="3"><v>' in sheet(streamed, n) for n in (2, 4)) or "amount" not in sheet(streamed, 2)
    streamed, whole = streamed_and_whole(shuffled(customers, 20, seed=4), tmp_path / "masked", mask_pii=True)
    assert streamed == whole
    assert reasons == [None, None]


def test_masked_pii_streams_the_same_workbook(tmp_path: Path, reasons: list[str | None],
                                              small_segments: None) -> None:
    streamed, whole = streamed_over_http(generate_customers(150, seed=12), tmp_path, mask_pii=True)
    assert streamed == whole
    assert reasons == [None]


def test_an_empty_listing_writes_the_headers(shared_sandbox: Sandbox, tmp_path: Path) -> None:
    with shared_sandbox.client() as client:
        summary, written = client.customers._to_excel(tmp_path / "streamed.xlsx",
                                                      created_time={"lt": "2000-01-01T00:00:00Z"})
        frames = client.customers.to_frames(created_time={"lt": "2000-01-01T00:00:00Z"})
    frames.to_excel(tmp_path / "frames.xlsx")
    assert summary == repr(frames) == "Frames(customers=0, sources=0, tax_identifiers=0, tax_certificates=0)"
    assert entries(written) == entries(tmp_path / "frames.xlsx")


def test_the_cli_writes_the_same_workbook(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          reasons: list[str | None], small_segments: None) -> None:
    customers = generate_customers(230, seed=14)
    customers[5]["metadata"] = {"formula": "=HYPERLINK(\"x\")", "zip": "02108"}
    with store_with(customers).start() as sandbox, sandbox.client() as client:
        frames = client.customers.to_frames()
        for options, name in (([], "plain"), (["--mask-pii"], "masked")):
            capsys.readouterr()
            out = tmp_path / name / "customers.xlsx"
            assert main(["export", "--base-url", sandbox.base_url, "--api-key", sandbox.api_key, "--out", str(out),
                         "--format", "xlsx", "--no-progress", "--workers", "4", *options]) == 0
            assert f"exported {frames!r} to {out}\n" in capsys.readouterr().out
            frames.to_excel(tmp_path / f"{name}-frames.xlsx", mask_pii=bool(options))
            assert entries(out) == entries(tmp_path / f"{name}-frames.xlsx")
    assert reasons == [None, None]


def test_the_cli_with_the_embedded_sandbox(tmp_path: Path, reasons: list[str | None]) -> None:
    assert main(["export", "--sandbox", "--seed-customers", "90", "--out", str(tmp_path / "out.xlsx"), "--format",
                 "xlsx", "--no-progress"]) == 0
    with Sandbox(seed_customers=90) as sandbox, sandbox.client() as client:
        client.customers.to_frames().to_excel(tmp_path / "frames.xlsx")
    assert entries(tmp_path / "out.xlsx") == entries(tmp_path / "frames.xlsx")
    assert reasons == [None]


# ---- segments in any order ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("batch", [0, 250, 10_000])
@pytest.mark.parametrize("seed", [1, 2])
def test_shuffled_segments_give_the_same_workbook(batch: int, seed: int, tmp_path: Path,
                                                  reasons: list[str | None]) -> None:
    customers = benchmark_mix("sources", 500) + generate_customers(300, seed=seed)
    customers[-1]["metadata"] = {"zz.last": "only in the last segment", "digits": "0042"}
    customers[-2]["sources"] = [{"id": "late-source", "type": "payPal", "payPal": {"redirect": {"redirectUrl": "=u"}}}]
    customers[-3]["metadata"] = {"digits": "=quoted in what becomes a Text column"}
    streamed, whole = streamed_and_whole(shuffled(customers, 37, seed), tmp_path, batch=batch)
    assert streamed == whole
    assert reasons == [None]


def test_a_key_only_in_a_late_segment_fed_first_or_last(tmp_path: Path, reasons: list[str | None]) -> None:
    customers = generate_customers(120, seed=3)
    customers[119]["metadata"] = {"a.late": "=cmd|' /C calc'!A0", "b": " 1,2 ", "c": "123"}
    segments: list[Segment] = [((i,), customers[i:i + 30]) for i in range(0, 120, 30)]
    for order, name in ((segments, "last"), (segments[::-1], "first")):
        streamed, whole = streamed_and_whole(order, tmp_path / name)
        assert streamed == whole
    assert reasons == [None, None]


def test_a_column_only_null_in_some_segments(tmp_path: Path, reasons: list[str | None]) -> None:
    streamed, whole = streamed_and_whole(shuffled(null_in_some_segments(), 30), tmp_path)
    assert streamed == whole
    assert reasons == [None]


# ---- written from the frames: the same bytes, the same errors --------------------------------------------------

def fails_as_before(segments: list[Segment], tmp_path: Path) -> str:
    """The ``ExportError`` of the streamed export, the same as ``Frames.to_excel``'s; no file is left, not even
    a partial one."""
    with pytest.raises(ExportError) as before:
        frames_in_order(segments).to_excel(tmp_path / "frames.xlsx")
    with pytest.raises(ExportError) as now:
        xlsx_in_order(tmp_path / "streamed.xlsx", segments, batch=0)
    assert str(now.value) == str(before.value)
    assert not any(tmp_path.iterdir()), "no file, not even a partial one"
    return str(now.value)


def test_a_character_xml_cannot_store_fails_as_before(tmp_path: Path, reasons: list[str | None]) -> None:
    customers = generate_customers(60, seed=4)
    customers[45]["metadata"] = {"note": "bell \x07 here"}
    message = fails_as_before(shuffled(customers, 20), tmp_path)
    assert "column 'metadata.note' (U+0007" in message and customers[45]["id"] in message
    assert reasons and reasons[0] is not None


def test_a_lone_surrogate_fails_as_before(tmp_path: Path, reasons: list[str | None]) -> None:
    customers = generate_customers(40, seed=5)
    customers[3]["metadata"] = {"note": "half \ud800"}
    customers[30]["metadata"] = {"note": 7}
    fails_as_before(shuffled(customers, 10), tmp_path)


def test_undeclared_fields_warn_once_as_before(tmp_path: Path, reasons: list[str | None]) -> None:
    customers = generate_customers(60, seed=6)
    customers[40]["brandNewField"] = "x"
    segments = shuffled(customers, 20)
    with warnings.catch_warnings(record=True) as before:
        warnings.simplefilter("always")
        frames_in_order(segments).to_excel(tmp_path / "frames.xlsx")
    with warnings.catch_warnings(record=True) as now:
        warnings.simplefilter("always")
        xlsx_in_order(tmp_path / "streamed.xlsx", segments, batch=0)
    assert [str(w.message) for w in now] == [str(w.message) for w in before]
    assert [w.category for w in now] == [UnknownFieldWarning]
    assert entries(tmp_path / "streamed.xlsx") == entries(tmp_path / "frames.xlsx")
    assert reasons and reasons[0] is not None and "brandNewField" in reasons[0]


@pytest.mark.parametrize("other", [[1, 2], 7, True])
def test_a_dtype_that_differs_between_segments_is_written_from_the_frames(other: Any, tmp_path: Path,
                                                                          reasons: list[str | None]) -> None:
    customers = generate_customers(40, seed=8)
    customers[2]["metadata"] = {"tier": "gold"}  # text in one segment...
    customers[30]["metadata"] = {"tier": other}  # ...a list (JSON text), a number, a boolean in another
    streamed, whole = streamed_and_whole(shuffled(customers, 10), tmp_path)
    assert streamed == whole
    assert reasons and reasons[0] is not None and "metadata.tier" in reasons[0]


def test_past_the_cap_the_frames_are_written(tmp_path: Path, reasons: list[str | None],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_xlsx_streamed, "CAP", 50_000)
    streamed, whole = streamed_and_whole(shuffled(generate_customers(300, seed=7), 50), tmp_path)
    assert streamed == whole
    assert reasons and reasons[0] is not None and "bytes rendered" in reasons[0]


def test_a_value_of_another_type_in_metadata_is_written_from_the_frames(tmp_path: Path, reasons: list[str | None],
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A metadata value that is not text, a number or a boolean cannot be told from text when a Text column's
    cells are restyled: written from the frames."""
    customers = generate_customers(40, seed=9)
    original = fetch.Segments.frames_of

    def with_a_decimal(self: Any, numbers: Any) -> Any:
        from decimal import Decimal

        frames = original(self, numbers)
        if "metadata.odd" in frames.customers:
            frames.customers["metadata.odd"] = [Decimal(1) if v is not None else None
                                                for v in frames.customers["metadata.odd"]]
        return frames

    customers[5]["metadata"] = {"odd": 1.5}
    customers[25]["metadata"] = {"odd": 2.5}
    monkeypatch.setattr(fetch.Segments, "frames_of", with_a_decimal)
    xlsx_in_order(tmp_path / "streamed.xlsx", shuffled(customers, 10), batch=0)
    assert reasons and reasons[0] is not None and "metadata.odd" in reasons[0]


_SPECIAL = ["\r", "\n", "\t", " ", "\u00a0", "'", '"', "&", "<", ">", "=", "+", "-", "@", "e", "\u0301", "\ufeff",
            "\U0001f600", "1", "0", "E", "\u2028", "\x85"]


def test_any_texts_and_any_cut_give_the_same_workbook(tmp_path_factory: pytest.TempPathFactory,
                                                      reasons: list[str | None]) -> None:
    """Texts of any characters XML can hold in declared fields and metadata (keys in some segments only),
    customers cut into segments anywhere and fed in any order: the workbook of ``Frames.to_excel``."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    storable = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters="\ufffe\uffff")
    text = st.text(st.one_of(st.sampled_from(_SPECIAL), storable), max_size=12)

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(texts=st.lists(st.tuples(text, st.sampled_from(["a", "b", "c.d"])), min_size=1, max_size=30),
           size=st.integers(1, 12), batch=st.sampled_from([0, 7, 1000]), seed=st.integers(0, 9))
    def check(texts: list[tuple[str, str]], size: int, batch: int, seed: int) -> None:
        customers = generate_customers(len(texts), seed=seed)
        for customer, (value, key) in zip(customers, texts, strict=True):
            customer["metadata"] = {key: value} if value else None
            customer.setdefault("shipping", {}).setdefault("address", {})["line1"] = value
        directory = tmp_path_factory.mktemp("any")
        segments = shuffled(customers, size, seed)
        summary, written = xlsx_in_order(directory / "streamed.xlsx", segments, batch=batch)
        frames = frames_in_order(segments)
        frames.to_excel(directory / "frames.xlsx")
        assert summary == repr(frames)
        assert entries(written) == entries(directory / "frames.xlsx")

    check()
    assert reasons and set(reasons) == {None}, "every example rendered while listing"
