"""The customer form in a real browser: Voila serves it, Playwright drives Debian's /usr/bin/chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture
def voila_form(sandbox: Sandbox, tmp_path: Path) -> Iterator[tuple[str, Sandbox]]:
    sandbox.client().customers.create(id="browser-1", email="old@example.com", locale="en_US")
    port = _free_port()
    env = {**os.environ, "DR_BASE_URL": sandbox.base_url, "DR_API_KEY": sandbox.api_key,
           "DRFRAME_CUSTOMER_ID": "browser-1"}
    log = (tmp_path / "voila.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "voila", str(APP), f"--port={port}", "--no-browser", "--Voila.ip=127.0.0.1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
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
                raise RuntimeError(f"voila did not start: {(tmp_path / 'voila.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield url, sandbox
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


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
