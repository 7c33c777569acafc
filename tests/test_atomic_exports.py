"""An export that fails mid-write (a full disk, an error in a later table, a crash) leaves the files of the export
before it whole and unchanged, and no half-written file: every file is written under a temporary name and renamed
over its target once complete, the tables of one export together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from drframe import to_frames
from drframe._fetch import csv_in_order
from drframe._files import _csv_out
from drframe.testing import generate_customers


def contents(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def fail_on_call(number: int, function: Any) -> Any:
    """``function``, raising OSError (a full disk) on its ``number``-th call."""
    calls = [0]

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == number:
            raise OSError(28, "No space left on device")
        return function(*args, **kwargs)

    return failing


@pytest.mark.parametrize("how", ["csv", "streamed csv", "xlsx", "parquet"])
def test_a_failed_export_leaves_the_earlier_files_whole(how: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    before, after = generate_customers(60, seed=1), generate_customers(80, seed=2)
    out = tmp_path / "out"

    def export(customers: list[dict[str, Any]]) -> None:
        if how == "csv":
            to_frames(customers).to_csv(out)
        elif how == "streamed csv":
            csv_in_order(out, [(((0,), 0), customers[:40]), (((1,), 0), customers[40:])], batch=1)
        elif how == "xlsx":
            to_frames(customers).to_excel(out / "customers.xlsx")
        else:
            to_frames(customers).to_parquet(out)

    export(before)
    earlier = contents(out)
    if how == "parquet":
        monkeypatch.setattr(pq.ParquetWriter, "write_table", fail_on_call(3, pq.ParquetWriter.write_table))
    elif how == "xlsx":
        import zipfile

        monkeypatch.setattr(zipfile.ZipFile, "writestr", fail_on_call(3, zipfile.ZipFile.writestr))
    elif how == "csv":  # the third table's text, after two tables were written
        monkeypatch.setattr(_csv_out, "csv_bytes", fail_on_call(3, _csv_out.csv_bytes))
    else:  # rendered while listing; the third file written fails
        opened = Path.open
        open_for_writing = fail_on_call(3, opened)
        monkeypatch.setattr(Path, "open", lambda path, mode="r", *args, **kwargs: (
            open_for_writing if mode == "wb" else opened)(path, mode, *args, **kwargs))
    with pytest.raises(OSError, match="No space left"):
        export(after)
    assert contents(out) == earlier, "the earlier export is left whole, and nothing half-written is beside it"
