"""Exports round-trip exactly: an unedited xlsx or csv export, applied again, sends nothing for any stored string."""

from __future__ import annotations

import csv
import io
import itertools
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drframe import Client, bulk, to_frames
from drframe._core._text import is_formula_like, neutralise, normalise_cell, unneutralise
from drframe._files._export import ExportError, write_table
from drframe._tables._frames import Frames
from drframe.sandbox import Sandbox

#: Customer fields that take any text (email-free), as columns of the customers frame.
TEXT_COLUMNS = ("shipping.name", "shipping.organization", "shipping.address.line1", "shipping.address.line2",
                "shipping.address.city", "shipping.additionalAddressInfo.phoneticName", "metadata.note")
NAMED = [
    "\r=cmd|' /C calc'!A0", "=1+2", "+1", "-1", "@SUM(A1)", "\t=x", "\r\n=x", "'", "''", "'=x", "''=x", "'abc",
    "'\t", " leading", "trailing ", "  both  ", "a\r\nb", "a\rb", "a\nb\n", "line1\r\nline2\r\n", 'q"u,o;te"',
    '"', ",", "e\u0301", "\u212b", "\u00a0nbsp\u00a0", "\u2028x\u2029", "\x85next", "\x7fdel", "TRUE", "false",
    "1e5", "0012", "5823594808", "2026-01-02", "NaN", "None", "null", "N/A", "#1", "emoji \U0001f600", "Zoë Ångström",
    "تجربة", "中文", "x" * 500,
]
#: Characters XML 1.0 cannot hold: an xlsx export refuses them, a csv export keeps them.
NOT_XML = ["nul\x00", "bell\x07", "vt\x0b", "esc\x1b[0m", "\ufffe", "\uffff"]
SPECIAL = st.sampled_from(["\r", "\n", "\t", " ", "\u00a0", "'", '"', ",", ";", "=", "+", "-", "@", "\x00",
                           "\x0b", "e", "\u0301", "\u2028", "\ufeff", "\U0001f600"])
TEXT = st.text(st.one_of(SPECIAL, st.characters(codec="utf-8")), max_size=20)  # lone surrogates: see below


def xml_storable(text: str) -> bool:
    """XML 1.0's Char production: what an xlsx cell can hold."""
    return all(c in "\t\n\r" or 0x20 <= ord(c) <= 0xD7FF or 0xE000 <= ord(c) <= 0xFFFD or ord(c) >= 0x10000
               for c in text)


@pytest.fixture(scope="module")
def shared() -> Iterator[Client]:
    """One sandbox for the whole module: every example creates its own customers."""
    with Sandbox() as sandbox, sandbox.client(retry=None) as client:
        yield client


_ids = itertools.count()


def _customer(text: str) -> dict[str, Any]:
    """A customer holding ``text`` in every free-text field (metadata cannot hold "" or more than 500 characters)."""
    address = {"line1": text, "line2": text, "city": text, "country": "US"}
    customer: dict[str, Any] = {
        "id": f"rt-{next(_ids)}",
        "shipping": {"name": text, "organization": text, "address": address,
                     "additionalAddressInfo": {"phoneticName": text}},
    }
    if text:
        customer["metadata"] = {"note": text[:500], "n": 7, "flag": True}
    return customer


def _create(client: Client, texts: list[str]) -> Frames:
    ids = [client.customers.create(_customer(text)).id for text in texts]
    return to_frames(client.customers.get_many_raw(ids).values())


def assert_round_trip(client: Client, frames: Frames, directory: Path, *, xlsx: bool = True) -> None:
    """Both exports of ``frames`` plan as all unchanged: no pending row, no invalid row, no change."""
    frames.to_csv(directory / "csv")
    sources = [directory / "csv" / "customers.csv"]
    if xlsx:
        sources.append(frames.to_excel(directory / "customers.xlsx"))
    for source in sources:
        plan = bulk.plan(source, client)
        assert plan.pending == [], (source.suffix, plan.changes.to_dict("records"))
        assert plan.errors.empty, (source.suffix, plan.errors.to_dict("records"))
        assert plan.counts == {"unchanged": len(frames.customers)}, source.suffix


# -- the cell rules -------------------------------------------------------------------------------------------

@given(TEXT)
def test_neutralising_is_reversible_and_never_leaves_a_formula_start(text: str) -> None:
    written = neutralise(text)
    assert unneutralise(written) == text
    assert not is_formula_like(written)
    assert normalise_cell(normalise_cell(text)) == normalise_cell(text)


def test_neutralising_named_cases() -> None:
    assert neutralise("'=x") == "''=x" and unneutralise("''=x") == "'=x"
    assert neutralise("'abc") == "''abc" and unneutralise("'abc") == "'abc", "a typed apostrophe stays"
    assert neutralise("\r=x") == "'\r=x" and neutralise("plain") == "plain"


@settings(max_examples=60, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=4))
def test_a_csv_field_never_splits_a_row_and_reads_back_exactly(texts: list[str]) -> None:
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        path = write_table(Path(tmp) / "t.csv", pd.DataFrame({"customer_id": [f"c{n}" for n in range(len(texts))],
                                                             "value": texts}, dtype="string"))
        content = path.read_bytes().decode("utf-8-sig")  # a BOM only when a value holds NUL
        records = list(csv.reader(io.StringIO(content, newline="")))
        assert records[0] == ["customer_id", "value"] and len(records) == len(texts) + 1, "RFC 4180: one row each"
        assert [unneutralise(r[1]) for r in records[1:]] == texts
        sheet = bulk.read_sheet(path)
        assert [normalise_cell(r.cells["value"]) for r in sheet.rows] == [normalise_cell(t) for t in texts]


# -- over HTTP: export, then plan the unedited file -------------------------------------------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(st.lists(TEXT, min_size=1, max_size=4))
def test_any_stored_text_survives_an_unedited_export(shared: Client, texts: list[str]) -> None:
    frames = _create(shared, texts)
    storable = all(xml_storable(text) for text in texts)
    with tempfile.TemporaryDirectory() as tmp:
        if not storable:
            with pytest.raises(ExportError):
                frames.to_excel(Path(tmp) / "refused.xlsx")
            assert not (Path(tmp) / "refused.xlsx").exists()
        assert_round_trip(shared, frames, Path(tmp), xlsx=storable)


def test_named_nasty_values_survive_both_exports(shared: Client, tmp_path: Path) -> None:
    assert_round_trip(shared, _create(shared, NAMED), tmp_path)


def test_characters_xml_cannot_hold_are_refused_by_name_and_kept_by_csv(shared: Client, tmp_path: Path) -> None:
    frames = _create(shared, NOT_XML)
    with pytest.raises(ExportError) as caught:
        frames.to_excel(tmp_path / "controls.xlsx")
    message = str(caught.value)
    nul = frames.customers.set_index("shipping.name")["customer_id"][NOT_XML[0]]
    assert f"customer_id {nul!r}: columns 'shipping.name', 'shipping.organization'" in message
    assert "(U+0000 in 'nul\\x00')" in message and "(U+FFFE in '\\ufffe')" in message
    assert "nothing was written" in message and "CSV" in message
    assert not (tmp_path / "controls.xlsx").exists()
    assert_round_trip(shared, frames, tmp_path, xlsx=False)


def test_a_real_edit_is_still_sent_and_keeps_the_other_stored_text_exact(shared: Client, tmp_path: Path) -> None:
    stored = " Zoe\r\nAngstrom "
    frames = _create(shared, [stored])
    customer_id = str(frames.customers["customer_id"].iloc[0])
    edited = frames.customers.copy()
    edited.loc[0, "shipping.address.city"] = "Paris"
    plan = bulk.plan(edited, shared)
    assert plan.changes[["field", "after"]].values.tolist() == [["shipping.address.city", "Paris"]]
    assert plan.apply(progress=False).counts["applied"] == 1
    after = shared.customers.get_many_raw([customer_id])[customer_id]["shipping"]
    assert after["address"]["city"] == "Paris"
    assert after["name"] == stored and after["address"]["line1"] == stored, "siblings sent exactly as stored"


def test_lone_surrogates_are_refused_by_name_in_both_formats(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame({"customer_id": ["c1"], "metadata.note": pd.Series(["half \ud800"], dtype=object)})
    for name in ("t.csv", "t.xlsx"):
        with pytest.raises(ExportError, match=r"customer_id 'c1': column 'metadata.note' \(U\+D800"):
            write_table(tmp_path / name, frame)
        assert not (tmp_path / name).exists()


# Texts the reader would otherwise take for an error cell, the clear token or a rounded number are exported as
# literal text (an apostrophe in CSV, Excel's quote prefix in xlsx) and read back as exactly that text.

def test_text_that_looks_like_an_error_value_survives_csv(shared: Client, tmp_path: Path) -> None:
    assert_round_trip(shared, _create(shared, ["#N/A", "Err:502", " #REF! "]), tmp_path)


def test_the_text_clear_token_survives_an_export(shared: Client, tmp_path: Path) -> None:
    assert_round_trip(shared, _create(shared, ["<clear>", "<CLEAR>"]), tmp_path)


def test_text_that_looks_like_a_rounded_number_survives_an_export(shared: Client, tmp_path: Path) -> None:
    texts = ["1E5", "12345678901234567890000"]
    ids = []
    for text in texts:  # also where ids, postal codes and phones are checked for rounding
        customer = _customer(text)
        customer["shipping"]["address"]["postalCode"] = customer["shipping"]["phone"] = text
        ids.append(shared.customers.create(customer).id)
    ids.append(shared.customers.create(id="12345678901234567890", email="long@example.com").id)
    assert_round_trip(shared, to_frames(shared.customers.get_many_raw(ids).values()), tmp_path)


_RULE_TEXT = st.one_of(TEXT, st.sampled_from(NAMED), st.from_regex(r"\s*(#N/A|Err:502|<cLeAr>|1e5|1234567890123456000)\s*"),
                       st.text(st.sampled_from("0123456789eE+-.,#<:'= \t\r\n\x1cAz"), max_size=20))


@given(_RULE_TEXT)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_needs_quote_fast_path_agrees_with_the_rule(text: str) -> None:
    """The shortcut an export takes for plain ASCII text never changes which cells get quoted."""
    from drframe._core._text import (
        CLEAR,
        FORMULA_PREFIXES,
        QUOTE_CANDIDATES,
        is_error_value,
        looks_rounded,
        needs_quote,
    )

    shown = normalise_cell(text)
    rule = (text.startswith((*FORMULA_PREFIXES, "'")) or is_error_value(shown) or shown.casefold() == CLEAR
            or looks_rounded(shown))
    assert needs_quote(text) == rule
    if rule:  # what an export's column scan looks at (Python's re here; pandas' arrow strings use RE2)
        assert re.search(QUOTE_CANDIDATES, text)
