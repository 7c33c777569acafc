"""The workbook pieces every report shares: a summary sheet with a chart, table sheets, saving."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._files._atomic import written_whole
from .._files._export import fill_sheet

if TYPE_CHECKING:
    pass


def _summary_sheet(workbook: Any, title: str, counts: Mapping[str, int], labels: Mapping[str, str],
                   metadata: Mapping[str, Any], chart_title: str, heading: str) -> None:
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font

    sheet = workbook.active
    sheet.title = "Summary"
    sheet["A1"] = title
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([])
    sheet.append([heading, "Description", "Rows"])
    for cell in sheet[3]:
        cell.font = Font(bold=True)
    first = sheet.max_row + 1
    for name, count in counts.items():
        sheet.append([name, labels.get(name, ""), int(count)])
    last = sheet.max_row
    sheet.append([])
    sheet.append(["Run", "Value"])
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    fill_sheet(sheet, pd.DataFrame({"Run": list(metadata), "Value": [str(v) for v in metadata.values()]}),
               header=False)
    chart = BarChart()
    chart.type = "bar"
    chart.title = chart_title
    chart.legend = None
    chart.y_axis.title = "Rows"
    chart.add_data(Reference(sheet, min_col=3, min_row=first - 1, max_row=last), titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=first, max_row=last))
    chart.height, chart.width = 7.5, 16
    sheet.add_chart(chart, "E3")
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["B"].width = 48
    sheet.column_dimensions["C"].width = 12


def _table_sheet(workbook: Any, name: str, frame: pd.DataFrame, *, mask_pii: bool) -> None:
    sheet = workbook.create_sheet(name)
    fill_sheet(sheet, frame, mask_pii=mask_pii)  # widths fitted to the content
    sheet.freeze_panes = "A2"
    if len(frame.columns):
        sheet.auto_filter.ref = sheet.dimensions


def _save(workbook: Any, path: str | Path) -> Path:
    """Save ``workbook`` at ``path``, whole or not at all (see :mod:`drframe._files._atomic`)."""
    path = Path(path)
    with written_whole([path]) as (partial,):
        workbook.save(partial)
    return path
