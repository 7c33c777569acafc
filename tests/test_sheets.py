"""Every cell read as the user sees it in Excel / LibreOffice, and what bulk apply does with it.

The fixtures in tests/data/sheets/ were saved by LibreOffice (make_fixtures.py); the others are built here.
"""

from __future__ import annotations

import codecs
import zipfile
from datetime import datetime, time
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from drframe import Client, bulk
from drframe._files._sheets import Sheet, SheetError, excel_text, format_number, open_sheet, read_sheet
from drframe.cli import main

SHEETS = Path(__file__).parent / "data" / "sheets"
ROUNDED = "format the column as Text and type the value again"

#: customers.xlsx / customers.ods, row by row: the non-empty cells, formulas, errors and numeric columns.
WORKBOOK_ROWS: dict[int, tuple[dict[str, str], dict[str, str], dict[str, str], set[str]]] = {
    2: ({"customer_id": "cust-zip", "email": "zip@example.com", "enabled": "TRUE", "shipping.name": "José Müller",
         "shipping.address.postalCode": "01234", "shipping.address.country": "US", "shipping.phone": "4155551234",
         "metadata.score": "3.3", "metadata.rate": "15%", "metadata.since": "2024-03-05",
         "metadata.amount": "1234.50", "metadata.note": "plain"}, {}, {},
        {"shipping.address.postalCode", "shipping.phone", "metadata.score", "metadata.rate", "metadata.since",
         "metadata.amount"}),
    3: ({"customer_id": "cust-na", "email": "na@example.com", "enabled": "FALSE",
         "metadata.since": "2024-03-05T06:07:08Z", "metadata.note": "#N/A"}, {}, {"metadata.note": "#N/A"},
        {"metadata.since"}),
    4: ({"customer_id": "1.23456789012346E+18", "email": "big@example.com", "enabled": "TRUE"}, {}, {},
        {"customer_id"}),
    5: ({"customer_id": "1234567890123460000", "email": "big0@example.com"}, {}, {}, {"customer_id"}),
    6: ({"customer_id": "cust-div", "metadata.score": "#DIV/0!"}, {}, {"metadata.score": "#DIV/0!"}, set()),
    7: ({"customer_id": "cust-formula", "metadata.score": "=1+1"}, {"metadata.score": "=1+1"}, {}, set()),
    8: ({"customer_id": "cust-half", "shipping.address.postalCode": "12345.5"}, {}, {},
        {"shipping.address.postalCode"}),
    9: ({}, {}, {}, set()),
    10: ({}, {}, {}, set()),
    11: ({"customer_id": "42", "action": "create", "email": "n42@example.com",
          "shipping.address.postalCode": "02108", "shipping.address.country": "US"}, {}, {},
         {"customer_id", "shipping.address.postalCode"}),
    12: ({"customer_id": "cust-time", "email": "time@example.com", "enabled": "FALSE", "metadata.score": "1.23E+04",
          "metadata.since": "03:04:05"}, {}, {}, {"metadata.score", "metadata.since"}),
}


def cells_of(sheet: Sheet) -> dict[int, tuple[dict[str, str], dict[str, str], dict[str, str], set[str]]]:
    return {r.number: ({c: v for c, v in r.cells.items() if v}, r.formulas, r.errors, set(r.numeric))
            for r in sheet.rows}


@pytest.mark.parametrize("name", ["customers.xlsx", "customers.ods"])
def test_libreoffice_workbooks_read_as_shown(name: str) -> None:
    sheet = read_sheet(SHEETS / name)
    assert sheet.format_note == f"{name.split('.')[1]}, sheet 'customers'"  # preferred over the first sheet
    assert sheet.delimiter is None
    assert sheet.columns[:3] == ["customer_id", "action", "email"] and len(sheet.columns) == 13
    assert cells_of(sheet) == WORKBOOK_ROWS
    other = read_sheet(SHEETS / name, sheet="notes")
    assert other.columns == ["not the data"] and other.rows == []
    with pytest.raises(SheetError, match="no sheet 'nope'; sheets are notes, customers"):
        read_sheet(SHEETS / name, sheet="nope")


def csv_rows() -> dict[int, tuple[dict[str, str], dict[str, str], dict[str, str], set[str]]]:
    """The same sheet saved as CSV "as shown": text only, so formulas are their results and numbers are text;
    only E-notation and 16+ digits ending in zeros (a number a spreadsheet rounded) still count as numbers."""
    rows: dict[int, tuple[dict[str, str], dict[str, str], dict[str, str], set[str]]] = {
        n: ({**cells}, {}, dict(errors), set()) for n, (cells, _, errors, _) in WORKBOOK_ROWS.items()}
    rows[2][0]["metadata.amount"] = "1,234.50"
    rows[3][0]["metadata.since"] = "2024-03-05 06:07:08"
    rows[4][0]["customer_id"] = "1.23456789012346E+018"
    rows[7][0]["metadata.score"] = "2"
    for number, column in ((4, "customer_id"), (5, "customer_id"), (12, "metadata.score")):
        rows[number][3].add(column)
    return rows


@pytest.mark.parametrize(("name", "encoding", "delimiter", "note"), [
    ("customers-semicolon.csv", None, ";", "CSV, delimiter ';', UTF-8"),
    ("customers-utf16.txt", None, "\t", "CSV, delimiter tab, UTF-16 with BOM"),
    ("customers-cp1252.csv", "cp1252", ",", "CSV, delimiter ',', cp1252"),
])
def test_csv_dialects_and_encodings(name: str, encoding: str | None, delimiter: str, note: str) -> None:
    sheet = read_sheet(SHEETS / name, encoding=encoding)
    assert sheet.format_note == note and sheet.delimiter == delimiter
    assert cells_of(sheet) == csv_rows()


def test_csv_with_bom_pipes_and_a_single_column(tmp_path: Path) -> None:
    bom = tmp_path / "bom.csv"
    bom.write_bytes(codecs.BOM_UTF8 + (SHEETS / "customers-semicolon.csv").read_bytes())
    sheet = read_sheet(bom)
    assert sheet.format_note == "CSV, delimiter ';', UTF-8 with BOM" and sheet.columns[0] == "customer_id"
    piped = tmp_path / "piped.csv"
    piped.write_text("customer_id|email\nc1|a@example.com\n", encoding="utf-8")
    assert read_sheet(piped).rows[0].cells == {"customer_id": "c1", "email": "a@example.com"}
    single = tmp_path / "single.csv"
    single.write_text("customer_id\nc1\n", encoding="utf-8")
    assert read_sheet(single).format_note == "CSV, delimiter ',', UTF-8"


def test_undecodable_csv_names_line_and_byte_and_never_guesses(tmp_path: Path) -> None:
    with pytest.raises(SheetError) as caught:
        read_sheet(SHEETS / "customers-cp1252.csv")
    assert str(caught.value).endswith(
        "not UTF-8 at line 2 (byte 0xe9); save as 'CSV UTF-8' or pass --encoding cp1252")
    with pytest.raises(SheetError, match="unknown encoding 'klingon'"):
        read_sheet(SHEETS / "customers-cp1252.csv", encoding="klingon")
    bare = tmp_path / "bare.txt"
    bare.write_bytes("customer_id\temail\n".encode("utf-16-le"))
    with pytest.raises(SheetError, match=r"UTF-16 without a byte-order mark.*--encoding utf-16-le"):
        read_sheet(bare)
    assert read_sheet(bare, encoding="utf-16-le").columns == ["customer_id", "email"]
    with pytest.raises(SheetError, match="applies to CSV files only"):
        read_sheet(SHEETS / "customers.xlsx", encoding="cp1252")


@pytest.mark.parametrize(("value", "code", "shown"), [
    (3.3000000000000003, "General", "3.3"),
    (0.1 + 0.2, "General", "0.3"),
    (5823594808.0, "General", "5823594808"),
    (582359480812345, "General", "582359480812345"),
    (1234567890123456789, "General", "1.23456789012346E+18"),
    (1.2345678901234568e18, "0", "1234567890123460000"),
    (1e-7, "General", "1E-07"),
    (1234, "00000", "01234"),
    (-42, "00000", "-00042"),
    (1234567.891, "#,##0", "1234568"),
    (1234567.891, "#,##0.00", "1234567.89"),
    (2.675, "0.00", "2.68"),
    (3.3000000000000003, "0.00", "3.30"),
    (3.3, "0.0#", "3.3"),
    (3.345, "0.0#", "3.35"),
    (0.15, "0%", "15%"),
    (0.1234, "0.00%", "12.34%"),
    (12345, "0.00E+00", "1.23E+04"),
    (12345, '"$"#,##0.00_);[Red]\\("$"#,##0.00\\)', "12345.00"),
    (1234, "@", "1234"),
    (1500000, "0.0,,", "1.5"),
])
def test_numbers_render_through_their_format(value: float, code: str, shown: str) -> None:
    assert format_number(value, code) == shown


def test_excel_text_of_dataframe_values() -> None:
    assert excel_text(3.3000000000000003) == "3.3"
    assert excel_text(5823594808.0) == "5823594808"
    assert excel_text(True) == "TRUE" and excel_text(7) == "7"
    assert excel_text(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05Z"


def test_an_excel_written_workbook(client: Client, tmp_path: Path) -> None:
    """What Excel or pandas write: 17-digit floats, number formats, error cells, formulas without cached values."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "data"
    sheet.append(["customer_id", "shipping.address.postalCode", "metadata.a", "metadata.b", "enabled"])
    formats = {"B": "00000", "C": "0.00", "D": "@"}
    rows: list[list[Any]] = [
        ["c1", 2108, 3.3000000000000003, 1234, "=TRUE()"],
        [1234567890123456789, 2108.5, "#N/A", 12, "=FALSE()"],
        ["c3", None, datetime(2026, 1, 2), time(3, 4, 5), "=IF(1,TRUE(),FALSE())"],
    ]
    for row in rows:
        sheet.append(row)
    for number in range(2, 5):
        for letter, code in formats.items():
            sheet[f"{letter}{number}"].number_format = code
    sheet["C4"].number_format = "yyyy-mm-dd"
    sheet["D4"].number_format = "hh:mm:ss"
    workbook.save(tmp_path / "excel.xlsx")
    assert sheet["C3"].data_type == "e"

    read = read_sheet(tmp_path / "excel.xlsx")
    assert read.format_note == "xlsx, sheet 'data'"
    assert cells_of(read) == {
        2: ({"customer_id": "c1", "shipping.address.postalCode": "02108", "metadata.a": "3.30", "metadata.b": "1234",
             "enabled": "TRUE"}, {}, {}, {"shipping.address.postalCode", "metadata.a", "metadata.b"}),
        3: ({"customer_id": "1.23456789012346E+18", "shipping.address.postalCode": "02109", "metadata.a": "#N/A",
             "metadata.b": "12", "enabled": "FALSE"}, {}, {"metadata.a": "#N/A"},
            {"customer_id", "shipping.address.postalCode", "metadata.b"}),
        4: ({"customer_id": "c3", "metadata.a": "2026-01-02", "metadata.b": "03:04:05",
             "enabled": "=IF(1,TRUE(),FALSE())"}, {"enabled": "=IF(1,TRUE(),FALSE())"}, {},
            {"metadata.a", "metadata.b"}),
    }
    assert read.rows[1].numeric == {"customer_id": "1.23456789012346E+18", "shipping.address.postalCode": "2108.5",
                                    "metadata.b": "12"}

    statuses, errors = outcome(bulk.plan(tmp_path / "excel.xlsx", client))
    assert statuses == {2: "invalid", 3: "invalid", 4: "invalid"}
    assert errors == {
        2: [("shipping.address.country", "", "'country' is required.")],  # checked like any other cell
        3: [("metadata.a", "#N/A", "the cell shows the error #N/A; correct the cell or clear it"),
            ("customer_id", "1.23456789012346E+18", E_NOTATION),
            ("shipping.address.postalCode", "02109", "stored as a number that is not a whole number (a decimal, "
                                                     "percentage or date); " + ROUNDED)],
        4: [("enabled", "=IF(1,TRUE(),FALSE())",
             "a formula; enter the value itself (drframe never evaluates formulas)")],
    }


def ods(path: Path, rows_xml: str, styles: str = "", columns: str = "") -> Path:
    """A minimal .ods: one sheet with the given rows, automatic styles and columns."""
    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0"')
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns}>'
               f"<office:automatic-styles>{styles}</office:automatic-styles><office:body><office:spreadsheet>"
               f'<table:table table:name="Sheet1">{columns}{rows_xml}</table:table>'
               "</office:spreadsheet></office:body></office:document-content>")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", content)
    return path


def text_cell(text: str, repeat: int = 1) -> str:
    return (f'<table:table-cell table:number-columns-repeated="{repeat}" office:value-type="string">'
            f"<text:p>{text}</text:p></table:table-cell>")


def test_an_xlsx_streams_and_reads_late_formulas_in_step(tmp_path: Path) -> None:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("customers")
    sheet.append(["customer_id", "locale", "metadata.score"])
    for n in range(3000):
        sheet.append([f"c-{n}", "en_US", "=1+1" if n in {0, 2500} else str(n)])
    book.save(tmp_path / "big.xlsx")
    read, rows = open_sheet(tmp_path / "big.xlsx")
    assert read.columns == ["customer_id", "locale", "metadata.score"]
    formulas = {row.number: row.formulas for row in rows if row.formulas}
    assert formulas == {2: {"metadata.score": "=1+1"}, 2502: {"metadata.score": "=1+1"}}


def test_ods_repeats_spaces_and_column_styles(tmp_path: Path) -> None:
    zip_style = ('<number:number-style style:name="N1"><number:number number:decimal-places="0" '
                 'number:min-integer-digits="5"/></number:number-style>'
                 '<style:style style:name="ce1" style:family="table-cell" style:data-style-name="N1"/>')
    columns = ('<table:table-column table:default-cell-style-name="Default"/>'
               '<table:table-column table:number-columns-repeated="2" table:default-cell-style-name="ce1"/>'
               '<table:table-column table:number-columns-repeated="16381"/>')
    empty_tail = '<table:table-cell table:number-columns-repeated="16381"/>'
    number = '<table:table-cell office:value-type="float" office:value="{}"/>'
    rows = (
        f"<table:table-row>{text_cell('customer_id')}{text_cell('shipping.address.postalCode')}"
        f"{text_cell('metadata.n')}{empty_tail}</table:table-row>"
        f'<table:table-row table:number-rows-repeated="2">{text_cell("same")}'
        f'<table:table-cell table:number-columns-repeated="2" office:value-type="float" office:value="7"/>'
        f"{empty_tail}</table:table-row>"
        f'<table:table-row table:number-rows-repeated="3"><table:table-cell table:number-columns-repeated="16384"/>'
        "</table:table-row>"
        '<table:table-row><table:table-cell office:value-type="string"><text:p>a<text:s text:c="2"/>b'
        '<text:span>c</text:span></text:p><office:annotation><text:p>a comment</text:p></office:annotation>'
        f'</table:table-cell>{number.format("2108")}{number.format("0.5")}{empty_tail}</table:table-row>'
        '<table:table-row table:number-rows-repeated="1048570"><table:table-cell '
        'table:number-columns-repeated="16384"/></table:table-row>'
    )
    sheet = read_sheet(ods(tmp_path / "repeats.ods", rows, zip_style, columns))
    assert sheet.format_note == "ods, sheet 'Sheet1'"
    assert cells_of(sheet) == {
        2: ({"customer_id": "same", "shipping.address.postalCode": "00007", "metadata.n": "00007"}, {}, {},
            {"shipping.address.postalCode", "metadata.n"}),
        3: ({"customer_id": "same", "shipping.address.postalCode": "00007", "metadata.n": "00007"}, {}, {},
            {"shipping.address.postalCode", "metadata.n"}),
        4: ({}, {}, {}, set()), 5: ({}, {}, {}, set()), 6: ({}, {}, {}, set()),
        7: ({"customer_id": "a  bc", "shipping.address.postalCode": "02108", "metadata.n": "00001"}, {}, {},
            {"shipping.address.postalCode", "metadata.n"}),
    }


def test_ods_native_booleans_errors_and_extra_cells(tmp_path: Path) -> None:
    rows = (
        f"<table:table-row>{text_cell('customer_id')}{text_cell('enabled')}</table:table-row>"
        '<table:table-row><table:table-cell table:formula="of:=TRUE()" office:value-type="float" office:value="1">'
        '<text:p>TRUE</text:p></table:table-cell><table:table-cell office:value-type="boolean" '
        'office:boolean-value="false"/></table:table-row>'
        '<table:table-row><table:table-cell table:formula="of:=[.A1]" office:value-type="string" '
        'office:string-value="x"/><table:table-cell table:formula="of:=1/0" office:value-type="string">'
        "<text:p>Err:503</text:p></table:table-cell></table:table-row>"
    )
    sheet = read_sheet(ods(tmp_path / "b.ods", rows))
    assert cells_of(sheet) == {
        2: ({"customer_id": "TRUE", "enabled": "FALSE"}, {}, {}, set()),
        3: ({"customer_id": "=[.A1]", "enabled": "Err:503"}, {"customer_id": "=[.A1]"}, {"enabled": "Err:503"},
            set()),
    }
    wide = f"<table:table-row>{text_cell('customer_id')}</table:table-row><table:table-row>" \
           f"{text_cell('a')}<table:table-cell table:number-columns-repeated='3'/>{text_cell('oops')}</table:table-row>"
    with pytest.raises(SheetError, match=r"row 2 has 2 cells but the header has 1 columns \(extra value 'oops'\)"):
        read_sheet(ods(tmp_path / "wide.ods", wide))
    (tmp_path / "broken.ods").write_bytes(b"not a zip")
    with pytest.raises(SheetError, match=r"not a readable \.ods file"):
        read_sheet(tmp_path / "broken.ods")


# -- bulk apply ---------------------------------------------------------------------------------------------

def outcome(plan: bulk.Plan) -> tuple[dict[int, str], dict[int, list[tuple[str, str, str]]]]:
    """Planned status per row and the (column, value, message) errors per row."""
    statuses = {r.row: r.status or "pending" for r in plan.rows}
    errors: dict[int, list[tuple[str, str, str]]] = {}
    for row in plan.rows:
        for error in row.errors:
            errors.setdefault(error.row, []).append((error.column, error.value, error.message))
    return statuses, errors


CELL_ERRORS = {
    3: [("metadata.note", "#N/A", "the cell shows the error #N/A; correct the cell or clear it")],
    6: [("metadata.score", "#DIV/0!", "the cell shows the error #DIV/0!; correct the cell or clear it")],
}
E_NOTATION = ("stored as a number in E-notation, which the spreadsheet has rounded to 15 significant digits; "
              + ROUNDED)
MANY_DIGITS = "stored as a number with more than 15 digits, which the spreadsheet has rounded; " + ROUNDED


@pytest.mark.parametrize("name", ["customers.xlsx", "customers.ods"])
def test_bulk_plan_of_a_libreoffice_workbook(client: Client, name: str) -> None:
    plan = bulk.plan(SHEETS / name, client)
    statuses, errors = outcome(plan)
    assert statuses == {2: "pending", 3: "invalid", 4: "invalid", 5: "invalid", 6: "invalid", 7: "invalid",
                        8: "invalid", 9: "skipped", 10: "skipped", 11: "pending", 12: "pending"}
    assert errors == {
        **CELL_ERRORS,
        4: [("customer_id", "1.23456789012346E+18", E_NOTATION)],
        5: [("customer_id", "1234567890123460000", MANY_DIGITS)],
        7: [("metadata.score", "=1+1", "a formula; enter the value itself (drframe never evaluates formulas)")],
        8: [("shipping.address.postalCode", "12345.5",
             "stored as a number that is not a whole number (a decimal, percentage or date); " + ROUNDED)],
    }
    before = client.stats["requests"]
    result = plan.apply(progress=False)
    assert result.counts == {"applied": 3, "unchanged": 0, "failed": 0, "invalid": 6, "skipped": 2}
    assert client.stats["requests"] - before == 3, "one create per valid row, nothing for the invalid ones"
    assert sorted(c["id"] for c in client.customers.iter_raw()) == ["42", "cust-time", "cust-zip"]
    zipped = client.customers.get("cust-zip")
    assert zipped.enabled is True and zipped.shipping and zipped.shipping.address
    assert zipped.shipping.address.postalCode == "01234" and zipped.shipping.phone == "4155551234"
    assert zipped.metadata == {"score": "3.3", "rate": "15%", "since": "2024-03-05", "amount": "1234.50",
                               "note": "plain"}
    assert client.customers.get("cust-time").enabled is False
    assert client.customers.get("42").shipping.address.postalCode == "02108"  # type: ignore[union-attr]


def test_bulk_plan_of_a_semicolon_csv(client: Client) -> None:
    plan = bulk.plan(SHEETS / "customers-semicolon.csv", client)
    assert plan.sheet.format_note == "CSV, delimiter ';', UTF-8"
    statuses, errors = outcome(plan)
    assert statuses == {2: "pending", 3: "invalid", 4: "invalid", 5: "invalid", 6: "invalid", 7: "pending",
                        8: "invalid", 9: "skipped", 10: "skipped", 11: "pending", 12: "pending"}
    assert errors == {**CELL_ERRORS, 4: [("customer_id", "1.23456789012346E+018", E_NOTATION)],
                      5: [("customer_id", "1234567890123460000", MANY_DIGITS)],
                      # a CSV cell is text: 12345.5 is a postal code like any other, this row lacks the country
                      8: [("shipping.address.country", "", "'country' is required.")]}
    encoded = bulk.plan(SHEETS / "customers-cp1252.csv", client, encoding="cp1252")
    assert encoded.rows[0].edits["shipping.name"] == "José Müller"


def test_ids_and_metadata_errors_name_their_own_column(client: Client, tmp_path: Path) -> None:
    client.customers.create(id="known", email="known@example.com", metadata={"a": "x"})
    path = tmp_path / "ids.csv"
    long = "x" * 501
    path.write_text(
        "customer_id,action,source_id,metadata.a,metadata.b,metadata.c\n"
        "known,,,fine,,\n"
        f"known2,,,fine,{long},also fine\n"
        "a/b,update,,,,\n"
        "known,attach_source,src/1,,,\n"
        f"known3,,,{long},,{long}\n", encoding="utf-8")
    plan = bulk.plan(path, client)
    statuses, errors = outcome(plan)
    assert statuses == {2: "pending", 3: "invalid", 4: "invalid", 5: "invalid", 6: "invalid"}
    assert errors == {
        3: [("metadata.b", long, "Metadata value for 'b' is longer than 500 characters.")],
        4: [("customer_id", "a/b", "an id cannot contain '/'")],
        5: [("source_id", "src/1", "an id cannot contain '/'")],
        6: [("metadata.a", long, "Metadata value for 'a' is longer than 500 characters."),
            ("metadata.c", long, "Metadata value for 'c' is longer than 500 characters.")],
    }


# -- xlsx as Excel and other writers store it ----------------------------------------------------------------

XLSX_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
XLSX_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def xlsx(path: Path, sheet_xml: str, *, strings: str = "", styles: str = "", date1904: bool = False) -> Path:
    """A minimal workbook as Excel lays it out: shared strings, a style sheet, one sheet ``data``."""
    part = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("_rels/.rels", f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                         f'relationships"><Relationship Id="rId1" Type="{part}officeDocument" '
                         f'Target="xl/workbook.xml"/></Relationships>')
        archive.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="http://schemas.openxmlformats.org/'
                         f'package/2006/relationships"><Relationship Id="rId1" Type="{part}worksheet" '
                         f'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{part}styles" '
                         f'Target="/xl/styles.xml"/><Relationship Id="rId3" Type="{part}sharedStrings" '
                         f'Target="sharedStrings.xml"/></Relationships>')
        archive.writestr("xl/workbook.xml", f'<workbook xmlns="{XLSX_MAIN}" xmlns:r="{XLSX_RELS}">'
                         f'<workbookPr date1904="{int(date1904)}"/><sheets><sheet name="data" sheetId="1" '
                         f'r:id="rId1"/></sheets></workbook>')
        archive.writestr("xl/styles.xml", f'<styleSheet xmlns="{XLSX_MAIN}">{styles}</styleSheet>')
        archive.writestr("xl/sharedStrings.xml", f'<sst xmlns="{XLSX_MAIN}">{strings}</sst>')
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return path


def test_an_xlsx_read_from_its_xml_in_small_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shared strings (rich text runs, phonetic guides, escapes), a namespace prefix, cells without a reference
    or with attributes in another order, the quote prefix, a custom number format, the 1904 calendar, shared
    formulas and cached results, blank rows, all cut into 40-byte chunks (a UTF-8 character split across two)."""
    from drframe._files._sheets import _xlsx

    monkeypatch.setattr(_xlsx, "_CHUNK", 40)
    strings = ("<si><t>customer_id</t></si><si><t>shipping.address.postalCode</t></si><si><t>metadata.a</t></si>"
               "<si><t>metadata.b</t></si><si><t>enabled</t></si>"
               '<si><r><rPr><b/></rPr><t xml:space="preserve">José </t></r><r><t>&amp; Müller</t></r>'
               "<rPh sb='0' eb='1'><t>ignored</t></rPh></si>"
               "<si><t>line_x000D_\r\nbreak</t></si><si><t>&lt;clear&gt;</t></si><si/>")
    styles = ('<numFmts count="2"><numFmt numFmtId="164" formatCode="00000"/>'
              '<numFmt numFmtId="165" formatCode="yyyy-mm-dd"/></numFmts><cellXfs count="4">'
              '<xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="165"/><xf numFmtId="49" quotePrefix="1"/>'
              "</cellXfs>")
    header = "".join(f'<x:c r="{c}1" t="s"><x:v>{i}</x:v></x:c>' for i, c in enumerate("ABCDE"))
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?><x:worksheet xmlns:x="{XLSX_MAIN}"><x:sheetData>'
        f'<x:row r="1">{header}</x:row>'
        '<x:row r="2"><x:c t="s"><x:v>5</x:v></x:c><x:c s="1"><x:v>2108</x:v></x:c>'
        '<x:c t="s" r="C2"><x:v>6</x:v></x:c><x:c r="D2" s="2"><x:v>1</x:v></x:c>'
        '<x:c r="E2" t="b"><x:f>TRUE()</x:f><x:v>1</x:v></x:c></x:row>'
        '<x:row r="3" spans="1:5"/>'
        '<x:row r="5"><x:c r="A5" t="s" s="3"><x:v>7</x:v></x:c><x:c r="B5" s="1"><x:f t="shared" ref="B5:B6" '
        'si="0">B2+1</x:f><x:v>2109</x:v></x:c><x:c r="C5" t="e"><x:f>NA()</x:f><x:v>#N/A</x:v></x:c>'
        '<x:c r="D5" t="inlineStr"><x:is><x:t xml:space="preserve">  a &amp; b  </x:t></x:is></x:c>'
        '<x:c r="E5" t="b"><x:v>0</x:v></x:c></x:row>'
        '<x:row r="6"><x:c r="A6" t="s"><x:v>8</x:v></x:c><x:c r="B6" s="1"><x:f t="shared" si="0"/>'
        '<x:v>2110</x:v></x:c><x:c r="C6" t="str"><x:f>"#"&amp;"N/A"</x:f><x:v>#N/A</x:v></x:c>'
        '<x:c r="E6" t="n"><x:f>FALSE()</x:f><x:v>1</x:v></x:c></x:row>'
        '<x:row r="7"><x:c r="A7" s="2"/></x:row>'
        "</x:sheetData></x:worksheet>")
    read = read_sheet(xlsx(tmp_path / "excel.xlsx", sheet, strings=strings, styles=styles, date1904=True))
    assert read.format_note == "xlsx, sheet 'data'"
    assert read.columns == ["customer_id", "shipping.address.postalCode", "metadata.a", "metadata.b", "enabled"]
    assert cells_of(read) == {
        2: ({"customer_id": "José & Müller", "shipping.address.postalCode": "02108", "metadata.a": "line\nbreak",
             "metadata.b": "1904-01-02", "enabled": "TRUE"}, {}, {},
            {"shipping.address.postalCode", "metadata.b"}),
        3: ({}, {}, {}, set()),
        4: ({}, {}, {}, set()),
        5: ({"customer_id": "<clear>", "shipping.address.postalCode": "=B2+1", "metadata.a": "#N/A",
             "metadata.b": "a & b", "enabled": "FALSE"}, {"shipping.address.postalCode": "=B2+1"},
            {"metadata.a": "#N/A"}, set()),
        6: ({"shipping.address.postalCode": "=B3+1", "metadata.a": "#N/A", "enabled": "=FALSE()"},
            {"shipping.address.postalCode": "=B3+1", "enabled": "=FALSE()"}, {"metadata.a": "#N/A"}, set()),
    }
    assert read.rows[3].literal == {"customer_id"}, "the quote prefix: the text <clear>, not the clear token"


def test_shared_strings_past_those_held_are_read_back_from_disk(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A workbook with more shared strings than are held in memory: the rest are spilled in blocks and read back
    whatever the order the cells ask for them (in order, backwards, a block evicted and read again); an index
    past the last string is an unreadable file, not a wrong cell."""
    from drframe._files._sheets import _strings

    monkeypatch.setattr(_strings, "_HELD", 3)
    monkeypatch.setattr(_strings, "_BLOCK", 2)
    monkeypatch.setattr(_strings, "_CACHED", 2)
    texts = ["customer_id", "email", *(f"cus_{n:02d}" for n in range(20))]
    strings = "".join(f'<si><t xml:space="preserve">{text}</t></si>' for text in texts)
    order = [*range(2, 22), *range(21, 1, -1), 2, 21, 11]

    def sheet_xml(indexes: list[int]) -> str:
        rows = "".join(f'<row r="{row}"><c r="A{row}" t="s"><v>{index}</v></c><c r="B{row}" t="s"><v>1</v></c></row>'
                       for row, index in enumerate(indexes, start=2))
        return (f'<worksheet xmlns="{XLSX_MAIN}"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c>'
                f'<c r="B1" t="s"><v>1</v></c></row>{rows}</sheetData></worksheet>')

    read = read_sheet(xlsx(tmp_path / "many.xlsx", sheet_xml(order), strings=strings))
    assert [row.cells for row in read.rows] == [{"customer_id": texts[i], "email": "email"} for i in order]
    with pytest.raises(SheetError, match=r"not a readable \.xlsx file"):
        read_sheet(xlsx(tmp_path / "past.xlsx", sheet_xml([5, 22]), strings=strings))


@pytest.mark.parametrize("name", ["customers.xls", "customers.xlsb"])
def test_legacy_excel_is_refused_with_save_as_xlsx(tmp_path: Path, name: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """LibreOffice's .xls of the customers sheet holds #N/A, =1+1 and 01234; its readers would show an empty cell,
    2 and 1234, so the file is refused (LibreOffice cannot write .xlsb: the same bytes stand in for one)."""
    path = tmp_path / name
    path.write_bytes((SHEETS / "customers.xls").read_bytes())
    assert main(["apply", str(path), "--sandbox", "--dry-run", "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert f"{path}: .{name.split('.')[1]} workbooks are not read" in error
    assert error.rstrip().endswith("open the file in Excel or LibreOffice and save as .xlsx")
