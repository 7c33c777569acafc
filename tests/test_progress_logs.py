"""Progress in a log file: plain lines every few seconds, no bars redrawn with carriage returns (`--progress` forces
the bars)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drframe._progress import ProgressLines
from drframe.sandbox import Sandbox


def _drframe(sandbox: Sandbox, log: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A real ``drframe`` process with stderr written to ``log``, as a scheduled job's would be."""
    env = {**os.environ, "DR_BASE_URL": sandbox.base_url, "DR_API_KEY": sandbox.api_key}
    with log.open("w", encoding="utf-8") as err:
        return subprocess.run([sys.executable, "-m", "drframe.cli", *args], env=env, stdout=subprocess.PIPE,
                              stderr=err, text=True, timeout=120)


@pytest.fixture(scope="module")
def seeded() -> object:
    with Sandbox(seed_customers=150, seed=3) as sandbox:
        yield sandbox


def _updates(sandbox: Sandbox, path: Path) -> Path:
    frames = sandbox.client().customers.to_frames()
    edited = frames.customers[["customer_id", "email"]].copy()
    edited["email"] = [f"log-{i}-{path.stem}@example.com" for i in range(len(edited))]
    edited.to_csv(path, index=False)
    return path


def test_an_apply_logged_to_a_file_writes_a_few_plain_lines(seeded: Sandbox, tmp_path: Path) -> None:
    source = _updates(seeded, tmp_path / "plain.csv")
    log = tmp_path / "apply.log"
    run = _drframe(seeded, log, "apply", str(source), "--rate", "1000")
    assert run.returncode == 0, log.read_text(encoding="utf-8")
    text = log.read_bytes().decode()
    assert "\r" not in text
    lines = text.splitlines()
    assert 3 <= len(lines) <= 6, lines
    assert lines[0].startswith("reading rows: 150 rows in ")
    assert lines[-1].startswith("applying: 150/150 rows (100%) in ")


def test_progress_forces_the_bars_and_excludes_no_progress(seeded: Sandbox, tmp_path: Path) -> None:
    source = _updates(seeded, tmp_path / "bars.csv")
    log = tmp_path / "bars.log"
    assert _drframe(seeded, log, "apply", str(source), "--rate", "1000", "--progress").returncode == 0
    text = log.read_bytes().decode()  # read_text would turn each \r into \n
    assert "\r" in text and "applying: 100%" in text
    quiet = _drframe(seeded, tmp_path / "quiet.log", "apply", str(source), "--no-progress", "--dry-run")
    assert quiet.returncode == 0 and (tmp_path / "quiet.log").read_text(encoding="utf-8") == ""
    both = _drframe(seeded, tmp_path / "both.log", "apply", str(source), "--progress", "--no-progress")
    assert both.returncode == 2
    assert "not allowed with argument --progress" in (tmp_path / "both.log").read_text(encoding="utf-8")


def test_an_export_logged_to_a_file_has_no_carriage_returns(seeded: Sandbox, tmp_path: Path) -> None:
    log = tmp_path / "export.log"
    for out, fmt in ((tmp_path / "c.xlsx", "xlsx"), (tmp_path / "p", "parquet")):
        run = _drframe(seeded, log, "export", "--out", str(out), "--format", fmt)
        assert run.returncode == 0, log.read_text(encoding="utf-8")
        text = log.read_bytes().decode()
        assert "\r" not in text and text.splitlines() == [text.splitlines()[0]], text
        assert re.match(r"(listing|exporting) customers: 150 customers in ", text), text


def test_plain_lines_come_every_interval_and_once_at_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    lines = ProgressLines("applying", "rows", total=40, interval=0.05)
    for _ in range(4):
        lines.update(10)
        time.sleep(0.06)
    lines.close()
    lines.close()
    out = capsys.readouterr().err.splitlines()
    assert [re.sub(r", \d+/s$", "", line) for line in out[:-1]] == \
        ["applying: 20/40 rows (50%)", "applying: 30/40 rows (75%)", "applying: 40/40 rows (100%)"], out
    assert re.fullmatch(r"applying: 40/40 rows \(100%\) in 0\.\d s", out[-1]), "and one line at the end, once"
    quiet = ProgressLines("listing customers", "customers", enabled=False)
    quiet.update(5)
    quiet.close()
    assert capsys.readouterr().err == ""
