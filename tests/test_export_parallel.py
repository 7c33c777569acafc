"""Concurrent reads over real HTTP: the range listing equals the sequential one (set, order, no duplicates) on
every shape, stays right while customers come and go, streams Parquet equal to the in-memory frames, and the
plan's concurrent fetch plans exactly as the sequential one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from csvfiles import write_rows

import drframe
from drframe import Client, Unauthorized, bulk
from drframe._api._listing import Listing
from drframe._files._parquet import read_parquet
from drframe._tables._frames import frames_in_order
from drframe.bulk import _reading
from drframe.cli import main
from drframe.sandbox import Sandbox
from drframe.testing import generate_customers


def sequential(client: Client, page_size: int = 100, **filters: Any) -> list[dict[str, Any]]:
    """The listing as one client would page it: one page after another with ``startingAfter``."""
    out: list[dict[str, Any]] = []
    after = None
    while True:
        body = client.customers.list_raw(limit=page_size, starting_after=after, **filters)
        out += body["data"]
        if not body["hasMore"] or not body["data"]:
            return out
        after = body["data"][-1]["id"]


def listed(list_page: Callable[..., Mapping[str, Any]], *, workers: int, page_size: int,
           **filters: Any) -> tuple[list[dict[str, Any]], set[tuple[int, ...]]]:
    """The concurrent listing's customers in order, and the ranges it used."""
    pages: dict[tuple[tuple[int, ...], int], list[dict[str, Any]]] = {}
    for key, number, data in Listing(list_page, workers=workers, page_size=page_size, **filters).pages_as_fetched():
        if data is not None:
            pages[(key, number)] = data
    ordered = [c for _, data in sorted(pages.items(), key=lambda item: item[0]) for c in data]
    in_order = [c for page in Listing(list_page, workers=workers, page_size=page_size, **filters).pages() for c in page]
    assert [c["id"] for c in in_order] == [c["id"] for c in ordered], "pages() and pages_as_fetched() agree"
    return in_order, {key for key, _ in pages}


def store_with(customers: list[dict[str, Any]]) -> Sandbox:
    sandbox = Sandbox()
    sandbox.store.insert_many(customers)
    return sandbox


def same_instant(count: int, moment: str, *, prefix: str) -> list[dict[str, Any]]:
    customers = generate_customers(count, seed=5, id_prefix=prefix)
    for customer in customers:
        customer["createdTime"] = customer["updatedTime"] = moment
    return customers


SHAPES: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "uniform": lambda: generate_customers(700, seed=1),
    # 90 customers share one instant (ties span pages and ranges' cursors), with others before and after
    "ties": lambda: (generate_customers(150, seed=2, id_prefix="a-")
                     + same_instant(90, "2024-01-02T00:00:00.000Z", prefix="t-")
                     + generate_customers(150, seed=3, id_prefix="z-", start=datetime(2024, 3, 1, tzinfo=UTC))),
    "all tied": lambda: same_instant(55, "2023-05-05T05:05:05.555Z", prefix="s-"),
    "one": lambda: generate_customers(1, seed=4),
    "empty": lambda: [],
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("page_size", [7, 100])
def test_concurrent_listing_is_the_sequential_listing(shape: str, page_size: int) -> None:
    with store_with(SHAPES[shape]()).start() as sandbox, sandbox.client() as client:
        expected = sequential(client, page_size)
        got, ranges = listed(client.customers.list_raw, workers=6, page_size=page_size)
        assert [c["id"] for c in got] == [c["id"] for c in expected]
        assert got == expected
        assert len({c["id"] for c in got}) == len(got), "no duplicates"
        if shape in {"uniform", "ties"} and page_size == 7:
            assert len(ranges) > 3, "the listing was split into ranges, mid-page"
        assert [c["id"] for c in client.customers.iter_raw(page_size=page_size)] == [c["id"] for c in expected]


@pytest.mark.parametrize("shape", ["uniform", "ties", "empty"])
def test_frames_flattened_as_pages_arrive_are_the_frames_of_the_sequential_listing(shape: str) -> None:
    customers = SHAPES[shape]()
    for n, customer in enumerate(customers):  # metadata of mixed types, so column types depend on every chunk
        customer.setdefault("metadata", {})["mixed"] = (n, f"t{n}", n % 2 == 0, None)[n % 4]
    with store_with(customers).start() as sandbox, sandbox.client() as client:
        expected = drframe.to_frames(sequential(client))
        got = client.customers.to_frames(workers=6)
    for name, frame in expected.tables().items():
        pd.testing.assert_frame_equal(got.tables()[name], frame, obj=name)


def test_frames_of_segments_in_any_order_are_the_frames_of_the_customers_in_key_order() -> None:
    customers = generate_customers(300, seed=9)
    for n, customer in enumerate(customers):
        customer.setdefault("metadata", {})["mixed"] = (n, f"t{n}", n % 2 == 0)[n % 3] if n > 150 else f"t{n}"
    pieces = [((n,), customers[n * 37:(n + 1) * 37]) for n in range(9)]
    shuffled = [pieces[n] for n in (8, 3, 0, 5, 1, 7, 2, 6, 4)]
    got = frames_in_order(shuffled)
    expected = drframe.to_frames(customers)
    for name, frame in expected.tables().items():
        pd.testing.assert_frame_equal(got.tables()[name], frame, obj=name)
    assert frames_in_order(shuffled, redact=False).to_payloads() == customers, "exact, children with their parents"


def test_filters_and_a_start_cursor_bound_the_ranges() -> None:
    with store_with(generate_customers(400, seed=6)).start() as sandbox, sandbox.client() as client:
        window = {"gte": "2024-01-01T01:00:00Z", "lt": "2024-01-01T03:00:00Z"}
        expected = sequential(client, 9, created_time=window)
        assert 50 < len(expected) < 400
        got, _ = listed(client.customers.list_raw, workers=5, page_size=9, created_time=window)
        assert [c["id"] for c in got] == [c["id"] for c in expected]
        start = expected[20]["id"]
        after = list(client.customers.iter_raw(page_size=9, workers=5, starting_after=start))
        assert [c["id"] for c in after] == [c["id"] for c in sequential(client, 9)][
            [c["id"] for c in sequential(client, 9)].index(start) + 1:]
        with pytest.raises(ValueError, match="ending_before"):
            list(client.customers.iter_raw(ending_before=start))


def test_a_deleted_cursor_is_stepped_over_even_inside_a_tie() -> None:
    customers = (generate_customers(60, seed=7, id_prefix="a-") + same_instant(45, "2024-01-01T12:00:00.000Z",
                                                                                 prefix="t-"))
    with store_with(customers).start() as sandbox, sandbox.client() as client:
        expected = [c["id"] for c in sequential(client, 10)]
        deleted: list[str] = []

        def delete_the_cursor_first(**params: Any) -> Mapping[str, Any]:
            cursor = params.get("starting_after")
            if cursor and len(deleted) < 12:
                sandbox.store.delete_customer(cursor)  # gone before the page after it is asked for
                deleted.append(cursor)
            return client.customers.list_raw(**params)

        got = [c for page in Listing(delete_the_cursor_first, workers=1, page_size=10).pages() for c in page]
        assert len(deleted) == 12
        # each deleted customer was the last of a page already read: the listing still has everyone, once
        assert [c["id"] for c in got] == expected


def test_customers_come_and_go_during_the_listing() -> None:
    with Sandbox(seed_customers=500, seed=8, latency_ms=3) as sandbox, sandbox.client() as client:
        before = [c["id"] for c in sequential(client)]
        created: list[str] = []
        deleted: list[str] = []
        stop = threading.Event()

        def churn() -> None:
            number = 0
            while not stop.is_set():
                created.append(sandbox.store.create_customer({"id": f"new-{number}", "email": "n@example.com"})["id"])
                victim = before[(number * 37) % len(before)]
                if victim not in deleted:
                    sandbox.store.delete_customer(victim)
                    deleted.append(victim)
                number += 1
                time.sleep(0.002)

        listing = client.customers.iter_raw(page_size=10, workers=6)
        got = [next(listing)["id"]]  # the first page is in: churn from now on
        thread = threading.Thread(target=churn)
        thread.start()
        try:
            got += [c["id"] for c in listing]
        finally:
            stop.set()
            thread.join()
        assert created and deleted
        assert len(got) == len(set(got)), "nobody twice"
        assert set(before) - set(deleted) <= set(got), "everyone who was there all along is there"
        assert not set(got) & set(created), "customers created after the first page are not in it"
        assert got == [i for i in before if i in set(got)], "in the listing's order"


def test_leaving_early_stops_the_workers_and_errors_reach_the_caller(shared_sandbox: Sandbox) -> None:
    with shared_sandbox.client() as client:
        first = next(client.customers.iter_raw(page_size=5, workers=6))
        assert first["id"] == sequential(client, 5)[0]["id"]
        deadline = time.monotonic() + 5
        while any(t.name.startswith("drframe-list") for t in threading.enumerate()):
            assert time.monotonic() < deadline, "listing threads still running"
            time.sleep(0.01)
    with shared_sandbox.client(api_key="sk_test_wrong") as wrong, pytest.raises(Unauthorized):
        list(wrong.customers.iter_raw(workers=4))


def test_a_started_listing_that_is_never_read_stops_on_close(shared_sandbox: Sandbox) -> None:
    with shared_sandbox.client() as client:
        listing = Listing(client.customers.list_raw, workers=4, page_size=5).start()
        assert listing.start() is listing, "starting twice starts nothing more"
        time.sleep(0.2)  # the workers fill what they may fetch ahead, then wait for a reader
        listing.close()
        assert not any(t.name.startswith("drframe-list") for t in threading.enumerate())


def test_streamed_parquet_equals_the_frames_in_memory(tmp_path: Path) -> None:
    customers = (generate_customers(230, seed=9, id_prefix="a-")
                 + same_instant(30, "2024-02-02T00:00:00.000Z", prefix="t-"))
    customers[3]["metadata"] = {"tier": 3, "flag": True}  # metadata types differ between chunks
    customers[200]["metadata"] = {"tier": "gold"}
    customers[100]["metadata"] = {"only.here": "x"}
    with store_with(customers).start() as sandbox, sandbox.client() as client:
        frames = client.customers.to_frames(workers=1)
        written = client.customers.to_parquet(tmp_path / "pq", chunk_size=23, page_size=10, workers=5)
        assert sorted(p.name for p in written) == ["customers.parquet", "sources.parquet",
                                                    "tax_certificates.parquet", "tax_identifiers.parquet"]
        assert not [p for p in (tmp_path / "pq").iterdir() if p.name.startswith(".")], "no spill left behind"
        again = read_parquet(tmp_path / "pq")
        for name, frame in frames.tables().items():
            pd.testing.assert_frame_equal(again.tables()[name], frame, obj=name)
        empty = tmp_path / "empty"
        client.customers.to_parquet(empty, created_time={"lt": "2000-01-01T00:00:00Z"})
        assert read_parquet(empty).customers.empty


def test_cli_export_and_audit_stream_quietly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pq"
    assert main(["export", "--sandbox", "--seed-customers", "130", "--out", str(out), "--format", "parquet",
                 "--no-progress", "--workers", "3"]) == 0
    printed = capsys.readouterr()
    assert "exported Frames(customers=130" in printed.out and "customers/s" not in printed.err
    assert len(read_parquet(out).customers) == 130
    assert main(["audit", "--sandbox", "--seed-customers", "20", "--out", str(tmp_path / "q.xlsx"),
                 "--no-progress"]) == 0



@pytest.fixture
def small_groups(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(_reading, "FETCH_GROUP", 4)  # many fetch groups: order across them must hold
    yield


@pytest.mark.usefixtures("small_groups")
def test_the_concurrent_plan_is_the_sequential_plan(tmp_path: Path) -> None:
    with Sandbox(seed_customers=40, seed=12) as sandbox, sandbox.client() as client:
        ids = [c["id"] for c in sequential(client)]
        header = ["customer_id", "action", "locale", "email", "enabled", "source_id", "metadata.note"]
        rows = [[ids[n], "", "fr_FR" if n % 3 else "", "", "FALSE" if n % 5 == 0 else "", "", f"n{n % 2}"]
                for n in range(25)]
        rows += [["made-here", "create", "de_DE", "m@example.com", "", "", ""],
                 [ids[30], "delete", "", "", "", "", ""], ["gone-already", "delete", "", "", "", "", ""],
                 [ids[31], "update", "", "not-an-email", "", "", ""], [ids[2], "update", "en_GB", "", "", "", ""],
                 ["nobody", "update", "en_US", "", "", "", ""], ["", "", "", "", "", "", ""],
                 [ids[33], "", "", "", "perhaps", "", ""], ["'=x", "", "", "", "", "", ""]]
        rows += [[ids[n], "", "it_IT", "", "", "", ""] for n in range(34, 40)]
        rows.append(["made-here", "attach_source", "", "", "", "src-1", ""])  # relies on the create 15 rows up
        path = write_rows(tmp_path / "changes.csv", header, rows)
        one = bulk.plan(path, client, workers=1)
        many = bulk.plan(path, client, workers=6, progress=True)
        pd.testing.assert_frame_equal(many.frame(), one.frame())
        pd.testing.assert_frame_equal(many.changes, one.changes)
        pd.testing.assert_frame_equal(many.errors, one.errors)
        assert one.counts["unchanged"] and one.counts["update"] and one.counts["invalid"]
        attach = next(r for r in many.rows if r.action == "attach_source")
        assert attach.pending, "the create earlier in the file counts for the attach in a later fetch group"
        assert dict(many.rows[0].cells) == dict(zip(header, rows[0], strict=True))
        frame_plan = bulk.plan(pd.read_csv(path, dtype=str, keep_default_na=False), client, workers=4)
        assert frame_plan.counts == one.counts
