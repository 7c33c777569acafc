"""Writing tables to xlsx and csv: formula-like cells neutralised, datetimes as UTC, optional PII masking."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ._cells import is_formula_like, masker_for, neutralise


def _export_frame(frame: pd.DataFrame, *, mask_pii: bool) -> pd.DataFrame:
    """A copy ready for a spreadsheet: tz-naive UTC datetimes, JSON text for lists, masked PII if asked."""
    out = {}
    for column in frame.columns:
        series = frame[column]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        elif series.dtype == object:
            series = series.map(lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v)
        masker = masker_for(str(column)) if mask_pii else None
        if masker is not None:
            series = series.map(lambda v, m=masker: m(v) if isinstance(v, str) else v)
        out[column] = series
    return pd.DataFrame(out, index=frame.index)


def write_excel(path: str | Path, tables: Mapping[str, pd.DataFrame], *, mask_pii: bool = False) -> Path:
    """One sheet per table, header frozen, autofilter on. Formula-like text is stored as text, never evaluated."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    path = Path(path)
    workbook = Workbook(write_only=True)
    for name, frame in tables.items():
        sheet = workbook.create_sheet(title=name[:31])
        sheet.freeze_panes = "A2"
        data = _export_frame(frame, mask_pii=mask_pii)
        columns = [str(c) for c in data.columns]
        if columns:
            sheet.auto_filter.ref = f"A1:{column_letter(len(columns))}{max(1, len(data) + 1)}"
        header = []
        for column in columns:
            cell = WriteOnlyCell(sheet, value=column)
            cell.font = Font(bold=True)
            header.append(cell)
        sheet.append(header)
        for row in data.itertuples(index=False, name=None):
            sheet.append([_excel_value(sheet, value, WriteOnlyCell) for value in row])
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def fill_sheet(sheet: Any, frame: pd.DataFrame, *, header: bool = True, mask_pii: bool = False) -> None:
    """Append ``frame`` to an ordinary (not write-only) worksheet: bold header, formula-like text kept as text."""
    from openpyxl.cell import Cell
    from openpyxl.styles import Font

    data = _export_frame(frame, mask_pii=mask_pii)
    if header:
        sheet.append([str(c) for c in data.columns])
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
    for values in data.itertuples(index=False, name=None):
        sheet.append([_excel_value(sheet, v, Cell) for v in values])


def _excel_value(sheet: Any, value: Any, cell_type: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, str) and is_formula_like(value):
        # Keep the text exact but force the cell type to string (with Excel's quote prefix): never a formula.
        cell = cell_type(sheet, value=value)
        cell.data_type = "s"
        cell.style = "Normal"
        cell.quotePrefix = True
        return cell
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def column_letter(index: int) -> str:
    """Excel's letters for a 1-based column index: 1 -> A, 28 -> AB."""
    letters = ""
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


_CSV_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _neutralised(data: pd.DataFrame) -> pd.DataFrame:
    for column in data.columns:
        if data[column].dtype == object or pd.api.types.is_string_dtype(data[column].dtype):
            data[column] = data[column].map(lambda v: neutralise(v) if isinstance(v, str) else v)
    return data


def write_csv(directory: str | Path, tables: Mapping[str, pd.DataFrame], *, mask_pii: bool = False) -> list[Path]:
    """One UTF-8 CSV per table; formula-like cells get a leading apostrophe (OWASP)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in tables.items():
        data = _neutralised(_export_frame(frame, mask_pii=mask_pii))
        target = directory / f"{name}.csv"
        data.to_csv(target, index=False, date_format=_CSV_DATE_FORMAT)
        written.append(target)
    return written


def write_table(path: str | Path, frame: pd.DataFrame, *, sheet: str = "data", mask_pii: bool = False) -> Path:
    """One table to ``.xlsx`` (a sheet named ``sheet``) or ``.csv``, chosen by the path's suffix."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        return write_excel(path, {sheet: frame}, mask_pii=mask_pii)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _neutralised(_export_frame(frame, mask_pii=mask_pii))
    data.to_csv(path, index=False, date_format=_CSV_DATE_FORMAT)
    return path
