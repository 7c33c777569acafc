"""What the streamed-export tests (CSV and xlsx) share: a sandbox holding given customers, segments in a shuffled
order, why each streamed export gave up, and listings cut small."""

from __future__ import annotations

import random
from typing import Any

import pytest

from drframe import _fetch as fetch
from drframe._files._streamed import Streamed
from drframe.sandbox import Sandbox
from drframe.testing import generate_customers

Segment = tuple[tuple[int], list[dict[str, Any]]]


def store_with(customers: list[dict[str, Any]]) -> Sandbox:
    sandbox = Sandbox()
    sandbox.store.insert_many(customers)
    return sandbox


def shuffled(customers: list[dict[str, Any]], size: int, seed: int = 0) -> list[Segment]:
    """``customers`` in segments of ``size``, keyed in order, given in a shuffled order."""
    segments: list[Segment] = [((i,), customers[i:i + size]) for i in range(0, len(customers), size)]
    random.Random(seed).shuffle(segments)
    return segments


def null_in_some_segments() -> list[dict[str, Any]]:
    """90 customers whose metadata key ``note`` is null in every customer of the first 30 (an object column of
    None in a segment of 30, text in the joined frames), ``other`` only in one late customer."""
    customers = generate_customers(90, seed=10)
    for index in range(0, 30):
        customers[index]["metadata"] = {"note": None}
    customers[45]["metadata"] = {"note": "=text"}
    customers[80]["metadata"] = {"note": None, "other": "x"}
    return customers


def spy_reasons(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Why each streamed export gave up (None: it wrote what it rendered), as the exports write."""
    seen: list[str | None] = []
    write = Streamed.write

    def spy(self: Streamed[Any, Any], frames: Any) -> Any:
        seen.append(self.reason)
        return write(self, frames)

    monkeypatch.setattr(Streamed, "write", spy)
    return seen


def cut_small(monkeypatch: pytest.MonkeyPatch, batch: str) -> None:
    """Listings cut into segments of 40 customers, each rendered on its own (``batch``: the driver's batch size
    constant): many pieces to assemble."""
    monkeypatch.setattr(fetch, "LISTING_SEGMENT", 40)
    monkeypatch.setattr(fetch, batch, 1)
