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
    result = run("mypy", "--strict", "tests/readme_calls.py")
    assert result.returncode == 0, result.stdout + result.stderr
