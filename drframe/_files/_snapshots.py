"""Snapshots of the customer base, whatever wrote them: an xlsx export, a CSV or Parquet export folder, a
``drframe sync`` mirror. :func:`read_snapshot` gives their :class:`Frames`; :func:`comparable` one text per value,
so the same state read from any of them compares equal."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .._core._models import format_datetime
from .._core._text import UTC_SUFFIX, unneutralise
from .._errors import ConfigurationError
from .._tables._frames import SPECS, Frames, is_missing

_KINDS = ("an .xlsx export, a folder of a CSV or Parquet export, or a drframe sync mirror")
_ISO_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})")
_DECIMAL = re.compile(r"-?[0-9]+\.[0-9]+")


def read_snapshot(path: str | Path) -> Frames:
    """The four tables of an export or mirror: ``FILE.xlsx``, a folder of ``<table>.csv`` or ``<table>.parquet``
    files (an export or a sync mirror), or one of those Parquet files (its folder is read). Raises
    ConfigurationError naming the path when it is none of these."""
    path = Path(path)
    if path.suffix.lower() == ".parquet" and path.is_file():
        path = path.parent
    if path.is_file() and path.suffix.lower() == ".xlsx":
        return _read_xlsx(path)
    if path.is_dir() and (path / "customers.parquet").exists():
        from ._parquet import read_parquet

        return read_parquet(path)
    if path.is_dir() and (path / "customers.csv").exists():
        return Frames(**{name: _read_csv(path / f"{name}.csv") for name in SPECS})
    raise ConfigurationError(f"{path}: not a drframe snapshot ({_KINDS})")


def _read_xlsx(path: Path) -> Frames:
    sheets = pd.read_excel(path, sheet_name=None, dtype=object, engine="openpyxl")
    tables = {}
    for name in SPECS:
        frame = sheets.get(name, pd.DataFrame())
        frame.columns = [str(c).removesuffix(UTC_SUFFIX) for c in frame.columns]
        tables[name] = frame
    return Frames(**tables)


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    return frame.map(lambda v: None if v == "" else unneutralise(v))


def comparable(value: Any) -> str | None:
    """One canonical text per value: None for a missing or empty cell, ISO 8601 UTC for instants (a timestamp or
    its text), ``true``/``false``, whole numbers without ``.0``, JSON with sorted keys for lists and objects."""
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if is_missing(value):
        return None
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        value = value.item()
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return format_datetime(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return str(int(value)) if math.isfinite(value) and value.is_integer() else repr(value)
    text = str(value)
    if not text:
        return None
    if text in {"True", "False", "TRUE", "FALSE"}:
        return text.lower()
    if _ISO_TIME.fullmatch(text):
        return format_datetime(datetime.fromisoformat(text.replace("Z", "+00:00")))
    if _DECIMAL.fullmatch(text):
        return comparable(float(text))
    if text[0] in "[{":
        try:
            return comparable(json.loads(text))
        except ValueError:
            return text
    return text
