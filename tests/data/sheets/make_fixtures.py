"""Regenerate the spreadsheet fixtures of tests/test_sheets.py with LibreOffice (needs ``soffice`` on PATH).

    python tests/data/sheets/make_fixtures.py

``customers.fods`` (flat ODS XML written below) is the source: a ``notes`` sheet, then ``customers`` with
number formats (``00000``, ``0%``, ``#,##0.00``, ``0.00E+00``, dates, times), a native boolean, ``=TRUE()`` /
``=FALSE()``, ``=NA()``, ``=1/0``, ``=1+1``, a 19-digit number and blank rows. LibreOffice loads it, recalculates
every formula and saves it the way a user's LibreOffice would: ``customers.ods``, ``customers.xlsx`` (the
``TRUE()``/``FALSE()`` formulas with cached booleans, errors cached as ``#N/A``/``#DIV/0!``, the 19-digit number
rounded to 15 digits), ``customers.xls`` (Excel 97, which drframe refuses: its readers cannot show the error
cells, formulas and number formats; LibreOffice has no .xlsb export, its "Calc MS Excel 2007 Binary" filter only
imports), and the ``customers`` sheet "as shown" as CSV: ``;``-delimited UTF-8 (the German-locale
export), tab-delimited UTF-16 with BOM (Excel's "Unicode Text") and comma-delimited cp1252. The tests only read
the generated files; they never need LibreOffice.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

HERE = Path(__file__).parent

NAMESPACES = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "number": "urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0",
    "fo": "urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0",
    "of": "urn:oasis:names:tc:opendocument:xmlns:of:1.2",
}

# data style name -> (cell style name, data style XML)
STYLES = {
    "zip": ('<number:number-style style:name="Nzip"><number:number number:decimal-places="0" '
            'number:min-integer-digits="5"/></number:number-style>'),
    "bool": '<number:boolean-style style:name="Nbool"><number:boolean/></number:boolean-style>',
    "int": ('<number:number-style style:name="Nint"><number:number number:decimal-places="0" '
            'number:min-integer-digits="1"/></number:number-style>'),
    "pct": ('<number:percentage-style style:name="Npct"><number:number number:decimal-places="0" '
            'number:min-integer-digits="1"/><number:text>%</number:text></number:percentage-style>'),
    "money": ('<number:number-style style:name="Nmoney"><number:number number:decimal-places="2" '
              'number:min-decimal-places="2" number:min-integer-digits="1" number:grouping="true"/>'
              '</number:number-style>'),
    "sci": ('<number:number-style style:name="Nsci"><number:scientific-number number:decimal-places="2" '
            'number:min-integer-digits="1" number:min-exponent-digits="2"/></number:number-style>'),
    "date": ('<number:date-style style:name="Ndate"><number:year number:style="long"/><number:text>-</number:text>'
             '<number:month number:style="long"/><number:text>-</number:text><number:day number:style="long"/>'
             '</number:date-style>'),
    "datetime": ('<number:date-style style:name="Ndatetime"><number:year number:style="long"/>'
                 '<number:text>-</number:text><number:month number:style="long"/><number:text>-</number:text>'
                 '<number:day number:style="long"/><number:text> </number:text><number:hours number:style="long"/>'
                 '<number:text>:</number:text><number:minutes number:style="long"/><number:text>:</number:text>'
                 '<number:seconds number:style="long"/></number:date-style>'),
    "time": ('<number:time-style style:name="Ntime"><number:hours number:style="long"/><number:text>:</number:text>'
             '<number:minutes number:style="long"/><number:text>:</number:text><number:seconds number:style="long"/>'
             '</number:time-style>'),
}

Cell = tuple[str, ...]  # (kind, value[, style]); kinds: s(tring) f(loat) b(oolean) d(ate) t(ime) = (formula)


def cell_xml(cell: Cell | None) -> str:
    if cell is None:
        return "<table:table-cell/>"
    kind, value, *style = cell
    attrs = f' table:style-name="ce-{style[0]}"' if style else ""
    if kind == "s":
        return f'<table:table-cell office:value-type="string"{attrs}><text:p>{escape(value)}</text:p></table:table-cell>'
    if kind == "f":
        return f'<table:table-cell office:value-type="float" office:value="{value}"{attrs}/>'
    if kind == "b":
        return f'<table:table-cell office:value-type="boolean" office:boolean-value="{value}"{attrs}/>'
    if kind == "d":
        return f'<table:table-cell office:value-type="date" office:date-value="{value}"{attrs}/>'
    if kind == "t":
        return f'<table:table-cell office:value-type="time" office:time-value="{value}"{attrs}/>'
    assert kind == "="
    return f"<table:table-cell table:formula={quoteattr('of:' + value)}{attrs}/>"


HEADER = ["customer_id", "action", "email", "enabled", "shipping.name", "shipping.address.postalCode",
          "shipping.address.country", "shipping.phone", "metadata.score", "metadata.rate", "metadata.since",
          "metadata.amount", "metadata.note"]
BIG = "1234567890123456789"  # 19 digits: LibreOffice and Excel keep 15 significant digits of it
ROWS: list[list[Cell | None]] = [
    [("s", "cust-zip"), None, ("s", "zip@example.com"), ("b", "true", "bool"), ("s", "José Müller"), ("f", "1234", "zip"),
     ("s", "US"), ("f", "4155551234"), ("f", "3.3"), ("f", "0.15", "pct"), ("d", "2024-03-05", "date"),
     ("f", "1234.5", "money"), ("s", "plain")],
    [("s", "cust-na"), None, ("s", "na@example.com"), ("=", "=FALSE()"), None, None, None, None, None, None,
     ("d", "2024-03-05T06:07:08", "datetime"), None, ("=", "=NA()")],
    [("f", BIG), None, ("s", "big@example.com"), ("=", "=TRUE()")],
    [("f", BIG, "int"), None, ("s", "big0@example.com")],
    [("s", "cust-div"), None, None, None, None, None, None, None, ("=", "=1/0")],
    [("s", "cust-formula"), None, None, None, None, None, None, None, ("=", "=1+1")],
    [("s", "cust-half"), None, None, None, None, ("f", "12345.5")],
    [],
    [],
    [("f", "42"), ("s", "create"), ("s", "n42@example.com"), None, None, ("f", "2108", "zip"), ("s", "US")],
    [("s", "cust-time"), None, ("s", "time@example.com"), ("=", "=FALSE()"), None, None, None, None,
     ("f", "12345", "sci"), None, ("t", "PT03H04M05S", "time")],
]


def fods() -> str:
    ns = " ".join(f'xmlns:{k}="{v}"' for k, v in NAMESPACES.items())
    styles = "".join(STYLES.values()) + "".join(
        f'<style:style style:name="ce-{name}" style:family="table-cell" style:data-style-name="N{name}"/>'
        for name in STYLES)
    header = "".join(cell_xml(("s", name)) for name in HEADER)
    rows = [f"<table:table-row>{header}</table:table-row>"]
    rows += [f"<table:table-row>{''.join(cell_xml(c) for c in row) or '<table:table-cell/>'}</table:table-row>"
             for row in ROWS]
    notes = '<table:table table:name="notes"><table:table-row>' + cell_xml(("s", "not the data")) + \
            "</table:table-row></table:table>"
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document {ns} office:version="1.3" '
            f'office:mimetype="application/vnd.oasis.opendocument.spreadsheet">'
            f"<office:automatic-styles>{styles}</office:automatic-styles><office:body><office:spreadsheet>"
            f'{notes}<table:table table:name="customers">{"".join(rows)}</table:table>'
            "</office:spreadsheet></office:body></office:document>\n")


def convert(source: Path, target: str, name: str, profile: Path) -> None:
    """``soffice --convert-to target``, then move the output to ``name`` next to this script."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(["soffice", f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to",
                        target, "--outdir", out, str(source)], check=True, capture_output=True)
        (produced,) = Path(out).iterdir()
        shutil.move(produced, HERE / name)


def main() -> None:
    source = HERE / "customers.fods"
    source.write_text(fods(), encoding="utf-8")
    with tempfile.TemporaryDirectory() as profile:
        convert(source, "ods", "customers.ods", Path(profile))
        convert(source, "xlsx:Calc MS Excel 2007 XML", "customers.xlsx", Path(profile))
        convert(source, "xls:MS Excel 97", "customers.xls", Path(profile))
        # Filter options: delimiter, quote, encoding, first line, cell format, language, quoted as text,
        # detect special numbers, save as shown, formulas, remove space, sheet number (2 = customers).
        csv_filter = "csv:Text - txt - csv (StarCalc):{sep},34,{enc},1,,0,false,true,true,false,false,2"
        convert(source, csv_filter.format(sep=59, enc=76), "customers-semicolon.csv", Path(profile))
        convert(source, csv_filter.format(sep=9, enc=65535), "customers-utf16.txt", Path(profile))
        convert(source, csv_filter.format(sep=44, enc=1), "customers-cp1252.csv", Path(profile))
    for path in sorted(HERE.iterdir()):
        print(path.name, path.stat().st_size)


if __name__ == "__main__":
    main()
