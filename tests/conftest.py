from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drframe import Client
from drframe.sandbox import Sandbox

DATA = Path(__file__).parent / "data"
# The Voila app notebooks are served by test_browser.py; they need the test's sandbox, so nbval must not run them.
collect_ignore = ["data/form_app.ipynb", "data/grid_app.ipynb"]

#: The slow part of the suite, in one place: `pytest -m "not slow"` is the fast loop, `pytest` runs everything.
SLOW_FILES = frozenset({"test_browser.py", "test_schemathesis.py", "test_quality.py"})
SLOW_TESTS = ("killed_run", "killed_vat", "killed_revert", "ctrl_c", "live_write", "test_keys_need_no_confirmation", "prints_the_url")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path
        if path.suffix == ".ipynb" or path.name in SLOW_FILES or any(name in item.name for name in SLOW_TESTS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def seed_examples() -> dict[str, Any]:
    """The request/response examples of the API reference (../shared/api), obfuscated emails replaced."""
    return json.loads((DATA / "seed_examples.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[Sandbox]:
    """A seeded sandbox shared by read-only tests."""
    with Sandbox(seed_customers=120, seed=7) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh, empty sandbox for a test that writes."""
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def client(sandbox: Sandbox) -> Client:
    return sandbox.client(retry=None)


def auth(key: str = "sk_test_sandbox") -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
