"""Writing CSV inputs for the tests: one helper instead of a copy per test file."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path


def write_rows(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    """A UTF-8 CSV at ``path`` with ``header`` and ``rows`` (as the csv module writes them)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
