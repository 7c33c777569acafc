"""The customer form in a real browser: Voila serves it, Playwright drives Debian's /usr/bin/chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from drframe.sandbox import Sandbox

CHROMIUM = Path("/usr/bin/chromium")
APP = Path(__file__).parent / "data" / "form_app.ipynb"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _voila(app: Path, env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Serve ``app`` with Voila (``env`` added to the environment) until the block ends; yields its URL."""
    port = _free_port()
    log = log_path.open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "voila", str(app), f"--port={port}", "--no-browser", "--Voila.ip=127.0.0.1"],
        env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.head(url + "voila/static/", timeout=1)
                break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"voila did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def _target(sandbox: Sandbox) -> dict[str, str]:
    return {"DR_BASE_URL": sandbox.base_url, "DR_API_KEY": sandbox.api_key}


@pytest.fixture
def voila_form(sandbox: Sandbox, tmp_path: Path) -> Iterator[tuple[str, Sandbox]]:
    sandbox.client().customers.create(id="browser-1", email="old@example.com", locale="en_US")
    with _voila(APP, {**_target(sandbox), "DRFRAME_CUSTOMER_ID": "browser-1"}, tmp_path / "voila.log") as url:
        yield url, sandbox


def test_edit_a_customer_in_chromium(voila_form: tuple[str, Sandbox]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, sandbox = voila_form
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(url, timeout=60_000)
            email = page.locator(".widget-text", has_text="Email").first.locator("input")
            expect(email).to_have_value("old@example.com", timeout=60_000)
            plot = page.locator("img[src^='data:image/png']").first
            expect(plot).to_be_visible(timeout=60_000)
            assert (plot.bounding_box() or {}).get("width", 0) > 100, "the plot renders at a readable size"

            email.fill("not an email")
            expect(page.get_by_text("is not a valid email address")).to_be_visible()
            save = page.get_by_role("button", name="Save")
            expect(save).to_be_disabled()

            email.fill("new@example.com")
            expect(page.locator(".drframe-diff")).to_contain_text("new@example.com")
            save.click()
            expect(page.get_by_text("Saved 1 change(s).")).to_be_visible(timeout=20_000)
        finally:
            browser.close()
    assert sandbox.client().customers.get("browser-1").email == "new@example.com"


GRID_APP = Path(__file__).parent / "data" / "grid_app.ipynb"
#: Screenshots for the manual (docs/), retaken by every browser run.
SCREENSHOTS = Path(__file__).parent.parent / "docs" / "img"
#: The grid app's geometry (CustomerGrid's row header, column and row sizes): where a cell is drawn.
ROW_HEADER, COLUMN, HEADER, ROW = 190, 170, 28, 24
GRID_COLUMNS = ["email", "locale", "shipping.name"]


@pytest.fixture
def voila_grid(sandbox: Sandbox, tmp_path: Path) -> Iterator[tuple[str, Sandbox]]:
    client = sandbox.client()
    for n in range(1, 6):
        client.customers.create(id=f"b{n}", email=f"b{n}@example.com", locale="en_US",
                                shipping={"name": f"Name {n}", "address": {"country": "US"}})
    with _voila(GRID_APP, _target(sandbox), tmp_path / "voila.log") as url:
        yield url, sandbox


def _cell(page: Any, row: int, column: str) -> tuple[float, float]:
    """The page coordinates of the middle of a grid cell (rows sorted by customer_id: b1 is row 0)."""
    box = page.locator(".lm-DataGrid").first.bounding_box()
    return (box["x"] + ROW_HEADER + COLUMN * GRID_COLUMNS.index(column) + COLUMN / 2,
            box["y"] + HEADER + ROW * row + ROW / 2)


def _type_into_cell(page: Any, row: int, column: str, text: str) -> None:
    """What a person does: double-click the cell, replace its text, Enter."""
    x, y = _cell(page, row, column)
    page.mouse.dblclick(x, y)
    editor = page.locator(".lm-DataGrid input").first
    editor.wait_for(state="visible", timeout=10_000)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def _fill_at(page: Any, row: int, column: str) -> tuple[int, int, int]:
    """The background colour drawn near the right edge of a cell (clear of its text)."""
    import io

    from PIL import Image

    x, y = _cell(page, row, column)
    shot = page.screenshot(clip={"x": x + COLUMN / 2 - 8, "y": y - 2, "width": 4, "height": 4})
    red, green, blue, *_ = Image.open(io.BytesIO(shot)).convert("RGB").getpixel((1, 1))
    return red, green, blue


def _launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])


def test_find_by_email_and_save_one_field_in_chromium(voila_grid: tuple[str, Sandbox]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, sandbox = voila_grid
    with sync_playwright() as playwright:
        browser = _launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1200})
            page.goto(url, timeout=60_000)
            find = page.locator(".widget-text", has_text="Find").first.locator("input")
            expect(find).to_be_visible(timeout=60_000)
            find.fill("nobody@example.com")
            find.press("Enter")
            expect(page.get_by_text("No customer matches 'nobody@example.com'.")).to_be_visible(timeout=20_000)
            find.fill("b3@example.com")
            find.press("Enter")
            expect(page.get_by_text("1 match.")).to_be_visible(timeout=20_000)
            name = page.locator(".widget-text", has_text="Shipping name").first.locator("input")
            expect(name).to_have_value("Name 3", timeout=20_000)
            name.fill("Name Three")
            expect(page.locator(".drframe-diff")).to_contain_text("Name Three")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "finder-form.png"), full_page=True)
            page.get_by_role("button", name="Save").click()
            expect(page.get_by_text("Saved 1 change(s).")).to_be_visible(timeout=20_000)
        finally:
            browser.close()
    customer = sandbox.client().customers.get("b3")
    assert customer.shipping and customer.shipping.name == "Name Three" and customer.email == "b3@example.com"


def test_edit_two_cells_in_the_grid_and_apply_the_plan_in_chromium(voila_grid: tuple[str, Sandbox]) -> None:
    """Typed into the grid's canvas as a person does; an invalid cell is marked and blocks nothing else."""
    from playwright.sync_api import expect, sync_playwright

    url, sandbox = voila_grid
    with sync_playwright() as playwright:
        browser = _launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1200})
            page.goto(url, timeout=60_000)
            summary = page.locator(".drframe-grid-summary")
            expect(summary).to_contain_text("0 row(s) edited", timeout=60_000)
            page.wait_for_timeout(1000)  # the canvas draws after the widget appears
            white = _fill_at(page, 3, "email")

            _type_into_cell(page, 0, "email", "new.b1@example.com")
            expect(summary).to_contain_text("1 row(s) edited, 1 field change(s)")
            _type_into_cell(page, 1, "locale", "fr_FR")
            expect(summary).to_contain_text("2 row(s) edited, 2 field change(s)")
            _type_into_cell(page, 3, "email", "not an email")
            expect(summary).to_contain_text("1 invalid cell(s)")
            expect(page.locator(".drframe-grid-problems")).to_contain_text(
                "'not an email' is not a valid email address.")
            page.mouse.click(*_cell(page, 0, "shipping.name"))  # select another cell: the selection tints its cell
            page.wait_for_timeout(500)
            red, green, blue = _fill_at(page, 3, "email")
            assert red > 230 and green < 225 and (red, green, blue) != white, ("the invalid cell is drawn red", (red, green, blue), white)
            assert _fill_at(page, 3, "locale") == white, "only the invalid cell is marked"
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "grid-invalid-cell.png"), full_page=True)

            page.get_by_role("button", name="Plan changes").click()
            apply = page.get_by_role("button", name="Apply 2 row(s)")
            expect(apply).to_be_enabled(timeout=30_000)
            expect(page.locator("table.dataframe").first).to_contain_text("new.b1@example.com")
            page.screenshot(path=str(SCREENSHOTS / "grid-plan-review.png"), full_page=True)
            assert sandbox.client().customers.get("b1").email == "b1@example.com", "planning sends nothing"
            apply.click()
            expect(page.get_by_text("Done: applied: 2, invalid: 1.")).to_be_visible(timeout=30_000)
            expect(summary).to_contain_text("1 row(s) edited, 0 field change(s), 1 invalid cell(s)")
            page.wait_for_timeout(1000)
            expect(page.get_by_text("Done: applied: 2, invalid: 1.")).to_be_visible()  # nothing echoed over it
            page.screenshot(path=str(SCREENSHOTS / "grid-applied.png"), full_page=True)
        finally:
            browser.close()
    client = sandbox.client()
    assert client.customers.get("b1").email == "new.b1@example.com"
    assert client.customers.get("b2").locale == "fr_FR"
    assert client.customers.get("b4").email == "b4@example.com"
