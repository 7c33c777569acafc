"""The layers hold: the import-linter contract in pyproject.toml, and ``import drframe`` stays free of pandas."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_lint_imports_keeps_every_layer_contract() -> None:
    result = _python("import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_import_drframe_does_not_import_pandas() -> None:
    result = _python("import sys, drframe\n"
                     "drframe.Client, drframe.connect, drframe.RetryPolicy, drframe.Page\n"
                     "print(sorted(m for m in ('pandas', 'pyarrow', 'openpyxl', 'numpy') if m in sys.modules))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_to_frames_and_to_parquet_start_the_listing_before_pandas_is_imported(tmp_path: Path) -> None:
    # A finder that notes, when pandas is first looked for, whether a listing had started.
    code = f"""
import sys
import drframe
from drframe._api import _listing

started, at_pandas = [], []
real_start = _listing.Listing.start
def start(self):
    started.append(True)
    return real_start(self)
_listing.Listing.start = start

class Watch:
    def find_spec(self, name, path=None, target=None):
        if name in ("pandas", "pyarrow") and not at_pandas:
            at_pandas.append(bool(started))
        return None
sys.meta_path.insert(0, Watch())

with drframe.connect(sandbox=True, seed_customers=30) as client:
    if sys.argv[-1:] == ["parquet"]:
        written = client.customers.to_parquet({str(tmp_path)!r})
    else:
        written = client.customers.to_frames().customers
print(at_pandas, len(written))
"""
    for mode in ("frames", "parquet"):
        result = subprocess.run([sys.executable, "-c", code, mode], cwd=ROOT, capture_output=True, text=True,
                                timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[0] == "[True]", (mode, result.stdout)
