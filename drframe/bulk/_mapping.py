"""Column mapping: an analyst's headers (``Customer ID``, ``E-mail``, ``Zip``) onto drframe's columns.

A mapping is ``{header: column}`` (``None`` ignores that header), optionally with value maps per column
(``{"locale": {"French": "fr_FR"}}``).  In a file (``--map mapping.yml``, YAML or JSON)::

    reviewed: true
    columns:
      Customer ID: customer_id
      E-mail: email
      Language: locale
      Notes: null            # ignored
    values:
      locale:
        French: fr_FR
    join:                    # cells joined with a space, empty ones left out
      shipping.name: [First Name, Last Name]

:func:`propose_mapping` writes such a file from a sheet's headers and values, with ``reviewed: false``: a proposal
is refused until a person has read it, so a guess (``French`` -> ``fr_FR``) is never applied silently.
Headers that are neither mapped, joined nor known still stop the file before anything is sent.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .._core._models import CUSTOMER_TYPES, LOCALES, TAX_IDENTIFIER_TYPES, check_locale
from .._core._schema import CUSTOMER_PATHS
from .._core._text import normalise_cell
from .._errors import SheetError
from .._files._sheets import Sheet, SheetRow
from ._constants import ACTION_COLUMN, CUSTOMER_KEY, SOURCE_COLUMN, TAX_COLUMN, TAX_TYPE_COLUMN, TAX_VALUE_COLUMN

#: Headers analysts use, folded (lower case, no spaces, dashes, dots or underscores), and the column they mean.
ALIASES: dict[str, str] = {
    **{alias: CUSTOMER_KEY for alias in ("customerid", "id", "customer", "custid", "customerno", "customernumber",
                                         "clientid", "accountid")},
    **{alias: "email" for alias in ("email", "emailaddress", "mail", "emailadresse", "courriel")},
    **{alias: "locale" for alias in ("locale", "language", "lang", "languagecode", "sprache", "langue")},
    **{alias: "shipping.address.postalCode" for alias in ("zip", "zipcode", "postcode", "postalcode", "plz",
                                                            "codepostal", "cap")},
    **{alias: "shipping.address.country" for alias in ("country", "countrycode", "land", "pays")},
    **{alias: "shipping.address.city" for alias in ("city", "town", "ort", "stadt", "ville")},
    **{alias: "shipping.address.state" for alias in ("state", "province", "region", "county")},
    **{alias: "shipping.address.line1" for alias in ("street", "address", "addressline1", "street1", "strasse")},
    **{alias: "shipping.address.line2" for alias in ("addressline2", "street2", "apartment", "suite")},
    **{alias: "shipping.name" for alias in ("name", "fullname", "customername", "contact", "contactname")},
    **{alias: "shipping.phone" for alias in ("phone", "telephone", "tel", "phonenumber", "mobile", "telefon")},
    **{alias: "shipping.organization" for alias in ("company", "organization", "organisation", "companyname",
                                                     "firma")},
    **{alias: "enabled" for alias in ("enabled", "active", "isactive")},
    **{alias: "type" for alias in ("type", "customertype")},
    **{alias: ACTION_COLUMN for alias in ("action", "operation", "op")},
    **{alias: SOURCE_COLUMN for alias in ("sourceid", "source")},
    **{alias: TAX_COLUMN for alias in ("taxid", "taxidentifierid")},
    **{alias: TAX_VALUE_COLUMN for alias in ("vatnumber", "vatno", "vatid", "vat", "vatregistrationnumber",
                                             "taxnumber", "taxidentifier", "ustidnr", "ustid", "tvaintracom")},
    **{alias: TAX_TYPE_COLUMN for alias in ("vatcountry", "vattype", "taxcountry", "taxidentifiertype",
                                            "taxtype")},
}
#: Headers of a first and a last name (folded), proposed joined into ``shipping.name``.
_FIRST_NAMES = frozenset({"firstname", "givenname", "forename", "vorname", "prenom", "prénom"})
_LAST_NAMES = frozenset({"lastname", "surname", "familyname", "nachname", "nom"})
#: Customer types as CRMs write them -> the API's.
_CUSTOMER_TYPE_NAMES = {"company": "business", "b2b": "business", "private": "individual", "person": "individual",
                        "consumer": "individual", "b2c": "individual", "privat": "individual"}
#: Country names no CLDR language uses, folded -> ISO 3166 code.
_COUNTRY_EXTRAS = {"uk": "GB", "greatbritain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
                   "usa": "US", "unitedstatesofamerica": "US", "america": "US", "holland": "NL"}
#: Language names -> the locales they may mean (the first is the guess; all are offered for review).
_LANGUAGES: dict[str, list[str]] = {}
for _locale in sorted(LOCALES, key=lambda loc: (loc.split("_")[0], loc.split("_")[1] != loc.split("_")[0].upper())):
    _LANGUAGES.setdefault(_locale.split("_")[0], []).append(_locale)
_LANGUAGE_NAMES = {
    "english": "en", "french": "fr", "german": "de", "spanish": "es", "italian": "it", "dutch": "nl",
    "portuguese": "pt", "swedish": "sv", "danish": "da", "norwegian": "no", "finnish": "fi", "polish": "pl",
    "czech": "cs", "japanese": "ja", "chinese": "zh", "korean": "ko", "russian": "ru", "turkish": "tr",
    "greek": "el", "hungarian": "hu", "deutsch": "de", "français": "fr", "francais": "fr", "español": "es",
    "italiano": "it", "nederlands": "nl",
}


def _fold(text: str) -> str:
    return re.sub(r"[\s\-_.]+", "", text.casefold())


@dataclass
class ColumnMapping:
    """Headers -> drframe columns (None: ignore), per-column value maps, and columns joined from several headers
    (``{"shipping.name": ["First Name", "Last Name"]}``: their cells joined with a space, empty ones left out)."""

    columns: dict[str, str | None] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    reviewed: bool = True
    join: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> ColumnMapping:
        """Read a mapping file (YAML or JSON); SheetError when it is unreadable, malformed or not reviewed."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SheetError(f"cannot read the mapping {path}: {exc.strerror or exc}") from None
        import yaml

        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise SheetError(f"{path}: not a readable mapping ({type(exc).__name__}: {exc})") from None
        mapping = cls.from_dict(data, str(path))
        if not mapping.reviewed:
            raise SheetError(f"{path} is a proposal (reviewed: false): check every line, above all the value guesses, "
                             "then set 'reviewed: true'. Nothing was sent.")
        return mapping

    @classmethod
    def from_dict(cls, data: Any, source: str = "mapping") -> ColumnMapping:
        """A mapping from ``{"columns": {...}, "values": {...}, "join": {...}, "reviewed": bool}`` or a plain
        ``{header: column}``."""
        if not isinstance(data, Mapping):
            raise SheetError(f"{source}: a mapping is 'columns: {{header: column}}'")
        if not {"columns", "join"} & set(data):
            data = {"columns": data}
        columns, values, join = data.get("columns") or {}, data.get("values") or {}, data.get("join") or {}
        if not isinstance(columns, Mapping) or not isinstance(values, Mapping) or not all(
                isinstance(v, Mapping) for v in values.values()) or not isinstance(join, Mapping) or not all(
                isinstance(v, list) and v for v in join.values()):
            raise SheetError(f"{source}: 'columns' maps headers to columns, 'values' maps columns to "
                             "{cell text: value} and 'join' maps a column to a list of headers")
        return cls({str(k): None if v is None else str(v) for k, v in columns.items()},
                   {str(c): {str(k): str(v) for k, v in m.items()} for c, m in values.items()},
                   bool(data.get("reviewed", True)), {str(c): [str(h) for h in hs] for c, hs in join.items()})

    def apply(self, sheet: Sheet) -> Sheet:
        """``sheet`` with its headers renamed, ignored headers dropped, joined columns made (their headers used up
        unless ``columns`` maps them too) and value maps applied to text cells."""
        joined = {header for headers in self.join.values() for header in headers}
        missing = sorted(joined - set(sheet.columns))
        if missing:
            raise SheetError(f"{sheet.path}: the mapping joins {', '.join(map(repr, missing))}, which the file has "
                             "no header for. Nothing was sent.")
        renamed: dict[str, str] = {}
        for header in sheet.columns:
            target = self.columns.get(header, None if header in joined else header)
            if target is None:
                continue
            if target in renamed.values() or target in self.join:
                first = next((h for h, t in renamed.items() if t == target), "join: " + " + ".join(
                    self.join.get(target, [])))
                raise SheetError(f"{sheet.path}: headers {first!r} and {header!r} both map to {target!r}; "
                                 "map one of them to null to ignore it. Nothing was sent.")
            renamed[header] = target
        renamed |= {column: column for column in self.join}  # made by _joined_row under their own names
        rows = [_renamed_row(_joined_row(row, self.join), renamed, self.values) for row in sheet.rows]
        mapped = ", columns mapped" if self.columns or self.join else ""
        return dataclasses.replace(sheet, columns=list(renamed.values()), rows=rows,
                                   format_note=sheet.format_note + mapped)

    def dump(self) -> str:
        """The mapping as the YAML a person reviews."""
        lines = [f"reviewed: {'true' if self.reviewed else 'false'}", "columns:"]
        lines += [f"  {_yaml_key(h)}: {'null' if c is None else c}" for h, c in self.columns.items()]
        if self.values:
            lines.append("values:")
            for column, table in self.values.items():
                lines.append(f"  {column}:")
                lines += [f"    {_yaml_key(k)}: {_yaml_key(v)}" for k, v in table.items()]
        if self.join:
            lines.append("join:")
            lines += [f"  {column}: [{', '.join(map(_yaml_key, headers))}]" for column, headers in self.join.items()]
        return "\n".join(lines) + "\n"


def _yaml_key(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _joined_row(row: SheetRow, join: Mapping[str, list[str]]) -> SheetRow:
    """``row`` with each joined column added (under its own name): the headers' cells joined with a space, empty ones
    left out; an error or formula in one of them is the joined cell's."""
    if not join:
        return row
    cells, errors, formulas = dict(row.cells), dict(row.errors), dict(row.formulas)
    for column, headers in join.items():
        cells[column] = " ".join(text for header in headers if (text := row.cells.get(header, "")))
        for header in headers:
            if header in row.errors:
                errors[column] = row.errors[header]
            if header in row.formulas:
                formulas[column] = row.formulas[header]
    return dataclasses.replace(row, cells=cells, errors=errors, formulas=formulas)


def _renamed_row(row: SheetRow, renamed: Mapping[str, str], values: Mapping[str, Mapping[str, str]]) -> SheetRow:
    def rename(cells: Mapping[str, str]) -> dict[str, str]:
        return {renamed[h]: v for h, v in cells.items() if h in renamed}

    cells = rename(row.cells)
    for column, table in values.items():
        text = cells.get(column)
        if text and column not in rename(row.formulas) and column not in rename(row.errors):
            folded = {normalise_cell(k).casefold(): v for k, v in table.items()}
            cells[column] = folded.get(text.casefold(), text)
    return dataclasses.replace(row, cells=cells, formulas=rename(row.formulas), errors=rename(row.errors),
                               numeric=rename(row.numeric), literal={renamed[h] for h in row.literal if h in renamed})


def _known(column: str) -> bool:
    return column in CUSTOMER_PATHS or column in {CUSTOMER_KEY, ACTION_COLUMN, SOURCE_COLUMN, TAX_COLUMN} \
        or column.startswith("metadata.")


def propose_mapping(sheet: Sheet) -> tuple[ColumnMapping, list[str]]:
    """A proposed mapping for ``sheet`` (``reviewed: false``) and the notes a person must read: unmapped headers,
    joined headers, value guesses (a language name taken for a locale, chosen with the row's country; a country
    name for its code or tax identifier type; ``Business`` for ``business``), and every value that bulk would
    still refuse once mapped, checked by the same rules and models as ``drframe apply``."""
    mapping = ColumnMapping(reviewed=False)
    notes: list[str] = []
    targets = [CUSTOMER_KEY, ACTION_COLUMN, SOURCE_COLUMN, TAX_COLUMN, *CUSTOMER_PATHS]
    names = _name_headers(sheet)
    for header in sheet.columns:
        if _known(header) or header in names:
            continue
        target = ALIASES.get(_fold(header))
        if target is None:
            close = difflib.get_close_matches(header, targets, n=1, cutoff=0.75)
            target = close[0] if close else None
        if target is None or target in mapping.columns.values():
            mapping.columns[header] = None
            notes.append(f"{header!r}: no drframe column found; ignored (map it, or keep it ignored)")
            continue
        mapping.columns[header] = target
    if names and NAME_COLUMN not in {*mapping.columns.values(), *sheet.columns}:
        mapping.join[NAME_COLUMN] = names
        notes.append(f"{' and '.join(map(repr, names))}: joined into {NAME_COLUMN} (join: block): check it")
    else:
        for header in names:
            mapping.columns[header] = None
            notes.append(f"{header!r}: no drframe column found; ignored (map it, or keep it ignored)")
    headers = {c: h for h, c in mapping.columns.items() if c} | {c: c for c in sheet.columns if _known(c)}
    for column, header in headers.items():
        guesses = _value_guesses(sheet, header, column, headers.get(COUNTRY_COLUMN))
        if guesses:
            mapping.values[column] = {text: guess for text, (guess, _) in guesses.items()}
            notes += [f"{header!r}: {text!r} {why}: check it" for text, (_, why) in guesses.items()]
    notes += _refused(sheet, mapping, {**headers, **{c: " + ".join(hs) for c, hs in mapping.join.items()}})
    return mapping, notes


NAME_COLUMN = "shipping.name"
COUNTRY_COLUMN = "shipping.address.country"


def _name_headers(sheet: Sheet) -> list[str]:
    """A first-name and a last-name header, in that order, or none."""
    first = next((h for h in sheet.columns if _fold(h) in _FIRST_NAMES), None)
    last = next((h for h in sheet.columns if _fold(h) in _LAST_NAMES), None)
    return [first, last] if first and last else []


def _value_guesses(sheet: Sheet, header: str, column: str,
                   country_header: str | None) -> dict[str, tuple[str, str]]:
    """Cell texts of ``header`` (mapped to ``column``) that the column refuses -> (the value they likely mean, why)."""
    if column == "locale":
        return _locale_guesses(sheet, header, country_header)
    guesses: dict[str, tuple[str, str]] = {}
    for text in dict.fromkeys(row.cells.get(header, "") for row in sheet.rows):
        guess = what = None
        if column.endswith(".country") and text and not re.fullmatch(r"[A-Z]{2}", text):
            guess, what = _country_code(text), "a two-letter ISO 3166 country code"
        elif column == TAX_TYPE_COLUMN and text and text.casefold() not in TAX_IDENTIFIER_TYPES:
            code = (_country_code(text) or "").casefold()
            guess, what = "uk" if code == "gb" else code, "a tax identifier type (uk for Britain)"
            guess = guess if guess in TAX_IDENTIFIER_TYPES else None
        elif column == "type" and text and text not in CUSTOMER_TYPES:
            folded = text.casefold()
            guess = folded if folded in CUSTOMER_TYPES else _CUSTOMER_TYPE_NAMES.get(folded)
            what = f"a customer type ({' or '.join(CUSTOMER_TYPES)})"
        if guess:
            guesses[text] = (guess, f"is not {what}; GUESSED {guess!r}")
    return guesses


@cache
def _country_names() -> dict[str, str]:
    """Country names in the languages CRMs are kept in (CLDR's, through babel), folded -> ISO 3166 code."""
    from babel import Locale

    names: dict[str, str] = {}
    for language in ("en", "de", "fr", "es", "it", "nl", "pt"):
        for code, name in Locale(language).territories.items():
            if len(code) == 2 and code.isalpha():
                names.setdefault(_fold(name), code)
    return names | _COUNTRY_EXTRAS


def _country_code(text: str) -> str | None:
    """The ISO 3166 code a country cell means (``Germany``, ``de``, ``UK``), or None."""
    folded = _fold(text)
    if folded in _COUNTRY_EXTRAS:
        return _COUNTRY_EXTRAS[folded]
    if re.fullmatch(r"[a-z]{2}", folded):
        return folded.upper()
    return _country_names().get(folded)


def _locale_guesses(sheet: Sheet, header: str, country_header: str | None) -> dict[str, tuple[str, str]]:
    """Cell texts of a language column that are not locales -> (a locale, why): the language in the country of
    the rows that hold the text (``English`` in GB rows is ``en_GB``), else the language's first locale."""
    countries: dict[str, Counter[str]] = {}
    for row in sheet.rows:
        text = row.cells.get(header, "")
        if not text:
            continue
        if text not in countries:
            try:
                check_locale(text)
                continue
            except ValueError:  # not a locale (pydantic's error types are ValueErrors)
                countries[text] = Counter()
        country = _country_code(row.cells.get(country_header, "")) if country_header else None
        if country:
            countries[text][country] += 1
    guesses: dict[str, tuple[str, str]] = {}
    for text, seen in countries.items():
        language = _LANGUAGE_NAMES.get(text.casefold(), text.casefold()[:2])
        local = [f"{language}_{c}" for c, _ in seen.most_common() if f"{language}_{c}" in LOCALES]
        choices = local + [loc for loc in _LANGUAGES.get(language, []) if loc not in local]
        if not choices:
            continue
        why = f"is not a locale; GUESSED {choices[0]!r}"
        if local:
            why += f" (from its rows' {country_header}: {', '.join(c for c in seen)})"
        if len(local) > 1:
            why += (f"; rows of other countries may want {', '.join(local[1:])}: a value map gives every "
                    f"{text!r} row one locale, so put a locale per row in the file")
        else:
            why += f" (could also be {', '.join(choices[1:]) or 'nothing else listed'})"
        guesses[text] = (choices[0], why)
    return guesses


def _refused(sheet: Sheet, mapping: ColumnMapping, headers: Mapping[str, str]) -> list[str]:
    """Notes on the values ``drframe apply`` would refuse once ``sheet`` is read with ``mapping``: by column and
    value, with the rows and the reason. Values only: a field an update may leave out is not flagged."""
    from ._resolve import refused_values

    refused: dict[tuple[str, str, str], list[int]] = {}
    for error in refused_values(mapping.apply(sheet)):
        if error.value and error.column:
            refused.setdefault((error.column, error.value, error.message), []).append(error.row)
    notes = []
    for (column, value, message), rows in refused.items():
        shown = ", ".join(map(str, rows[:5])) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")
        header = headers.get(column, column)
        where = repr(header) if header == column else f"{header!r} ({column})"
        notes.append(f"{where}: {value!r} would be refused (row {shown}): {message}")
    return notes
