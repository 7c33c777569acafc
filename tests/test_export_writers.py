"""The Arrow-built CSV is byte for byte what pandas' ``to_csv`` writes, whatever the cells hold."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from drframe._files import _csv_out
from drframe._files._csv_out import csv_bytes
from drframe._files._export import write_csv
from drframe.sandbox import Sandbox

DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
TEXTS = ["", "plain", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "crlf\r\nend", " padded ", "\x00nul", "é 東京",
         "'=1+2", '"', ",", "\r\n", "tab\tin", "😀"]


MIXED_VALUES = [7, -0.0, True, None, float("nan"), 10**20, 1e16, 1.0, 0.1 + 0.2, float("inf"), False, 2.5e-7]


def pandas_csv(frame: pd.DataFrame, *, header: bool = True) -> bytes:
    return frame.to_csv(index=False, header=header, date_format=DATE_FORMAT, lineterminator="\r\n",
                        quoting=csv.QUOTE_MINIMAL).encode()


def mixed_frame() -> pd.DataFrame:
    n = len(TEXTS) + 1
    chunked = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([TEXTS[:5], [*TEXTS[5:], None]])))
    return pd.DataFrame({
        "text": pd.array([*TEXTS, None], dtype="string"),
        "nan text": pd.Series([*TEXTS, None], dtype=pd.StringDtype("pyarrow", na_value=float("nan"))),
        "chunked": chunked,
        "objects": [*TEXTS, None],
        # metadata values: texts, numbers and booleans in one object column (pandas writes each one's str())
        "values": pd.Series([*MIXED_VALUES, *TEXTS][:n], dtype=object),
        "count": pd.array([*range(n - 1), None], dtype="Int64"),
        "amount": pd.array([1.0, 12.0, 1e-7, 1e20, 0.1, 1 / 3, None, *[2.5] * (n - 7)], dtype="Float64"),
        "flag": pd.array([True, False, None, *[True] * (n - 3)], dtype="boolean"),
        "when": pd.to_datetime(["2024-03-05T06:07:08.123456789Z", None, "1969-12-31T23:59:59.999999999Z",
                                "1677-09-22T00:12:43.145224192Z", "2262-04-11T23:47:16.854775807Z",
                                *["1999-12-31T23:59:59Z"] * (n - 5)], format="ISO8601").tz_localize(None),
        "seconds": pd.Series(pd.to_datetime(["2024-01-02T03:04:05Z", None, *["1970-01-01T00:00:00Z"] * (n - 2)],
                                            format="ISO8601").tz_localize(None)).astype("datetime64[s]"),
        "bool": [True, False] * (n // 2) + [True] * (n % 2),
        "a,quoted \"name\"": list(range(n)),
    })


@pytest.mark.parametrize("header", [True, False])
def test_the_arrow_csv_is_pandas_csv(header: bool) -> None:
    frame = mixed_frame()
    assert bytes(csv_bytes(frame, header=header, date_format=DATE_FORMAT) or b"") == pandas_csv(frame, header=header)
    empty = frame.iloc[:0]
    assert bytes(csv_bytes(empty, header=header, date_format=DATE_FORMAT) or b"") == pandas_csv(empty, header=header)


def test_what_the_arrow_csv_leaves_to_pandas() -> None:
    assert csv_bytes(pd.DataFrame({"only": ["", "x"]}), header=True, date_format=DATE_FORMAT) is None
    for other in (np.int64(7), Decimal("1.5"), pd.Timestamp("2024-01-01"), [1]):  # not a plain number or text
        assert csv_bytes(pd.DataFrame({"a": ["x", other], "b": [1, 2]}), header=True, date_format=DATE_FORMAT) is None


def test_an_export_is_what_pandas_wrote(tmp_path: Path, shared_sandbox: Sandbox,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The seeded customers' four tables (texts in several scripts, metadata, amounts, datetimes, JSON lists)."""
    tables = shared_sandbox.client().customers.to_frames().tables()
    fast = [path.read_bytes() for path in write_csv(tmp_path / "fast", tables)]
    monkeypatch.setattr(_csv_out, "csv_bytes", lambda *args, **kwargs: None)
    assert fast == [path.read_bytes() for path in write_csv(tmp_path / "pandas", tables)]


def test_xlsx_datetimes_are_openpyxl_serials() -> None:
    from datetime import datetime

    import numpy as np
    from openpyxl.utils.datetime import to_excel

    from drframe._files._xlsx_out import _serials

    moments = [datetime(2024, 3, 5, 6, 7, 8, 123456), datetime(1900, 1, 1), datetime(1900, 2, 28, 12),
               datetime(1900, 3, 1), datetime(9999, 12, 31, 23, 59, 59, 999999), datetime(1899, 12, 30, 1)]
    assert _serials(np.array(moments, dtype="datetime64[us]")).tolist() == [to_excel(m) for m in moments]
    recent = np.array(moments[:1], dtype="datetime64[ns]")
    assert _serials(recent).tolist() == [to_excel(moments[0])]
