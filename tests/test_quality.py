"""The package stays ruff-clean and mypy-clean (strict)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_clean() -> None:
    result = run("ruff", "check", "drframe", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_clean() -> None:
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_readme_python_call_passes_strict_mypy() -> None:
    # --strict would turn on warn_unused_ignores, which pyproject.toml turns off for the package on purpose (an
    # ignore needed with one pandas-stubs version is unused with another); the README's calls are what is checked.
    result = run("mypy", "--strict", "--no-warn-unused-ignores", "tests/readme_calls.py")
    assert result.returncode == 0, result.stdout + result.stderr
