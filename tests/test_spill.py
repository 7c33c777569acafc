"""The spill that keeps a big plan's rows out of memory: values read back as written, in memory or on disk, and a
full disk is a drframe error naming the folder and the remedy, not a bare OSError."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from drframe.bulk import _spill

ROOT = Path(__file__).resolve().parents[1]


def test_values_read_back_from_memory_and_from_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_spill, "IN_MEMORY", 1000)
    spill = _spill.SpillFile()
    values = [{"row": n, "text": "x" * (n % 50)} for n in range(300)]
    refs = [spill.put(v) for v in values]
    assert [spill.get(r) for r in reversed(refs)] == values[::-1]


def test_a_full_disk_names_the_folder_and_the_remedy(tmp_path: Path) -> None:
    script = (
        "import resource, signal\n"
        "from drframe.bulk import _spill\n"
        "from drframe import DRError\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))\n"
        "_spill.IN_MEMORY = 10_000\n"
        "spill = _spill.SpillFile()\n"
        "try:\n"
        "    for n in range(100_000):\n"
        "        spill.put('x' * 100)\n"
        "except DRError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert f"could not keep the plan's rows in a temporary file in {tmp_path}" in done.stdout
    assert "set TMPDIR to a folder with room" in done.stdout
