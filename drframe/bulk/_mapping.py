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

:func:`propose_mapping` writes such a file from a sheet's headers and values, with ``reviewed: false``: a proposal
is refused until a person has read it, so a guess (``French`` -> ``fr_FR``) is never applied silently.
Headers that are neither mapped nor known still stop the file before anything is sent.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._core._models import LOCALES, check_locale
from .._core._schema import CUSTOMER_PATHS
from .._core._text import normalise_cell
from .._errors import SheetError
from .._files._sheets import Sheet, SheetRow
from ._constants import ACTION_COLUMN, CUSTOMER_KEY, SOURCE_COLUMN, TAX_COLUMN

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
}
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
    """Headers -> drframe columns (None: ignore), and per-column value maps."""

    columns: dict[str, str | None] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    reviewed: bool = True

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
        """A mapping from ``{"columns": {...}, "values": {...}, "reviewed": bool}`` or a plain ``{header: column}``."""
        if not isinstance(data, Mapping):
            raise SheetError(f"{source}: a mapping is 'columns: {{header: column}}'")
        if "columns" not in data:
            data = {"columns": data}
        columns, values = data.get("columns") or {}, data.get("values") or {}
        if not isinstance(columns, Mapping) or not isinstance(values, Mapping) or not all(
                isinstance(v, Mapping) for v in values.values()):
            raise SheetError(f"{source}: 'columns' maps headers to columns and 'values' maps columns to "
                             "{cell text: value}")
        return cls({str(k): None if v is None else str(v) for k, v in columns.items()},
                   {str(c): {str(k): str(v) for k, v in m.items()} for c, m in values.items()},
                   bool(data.get("reviewed", True)))

    def apply(self, sheet: Sheet) -> Sheet:
        """``sheet`` with its headers renamed, ignored headers dropped and value maps applied to text cells."""
        renamed: dict[str, str] = {}
        for header in sheet.columns:
            target = self.columns.get(header, header)
            if target is None:
                continue
            if target in renamed.values():
                first = next(h for h, t in renamed.items() if t == target)
                raise SheetError(f"{sheet.path}: headers {first!r} and {header!r} both map to {target!r}; "
                                 "map one of them to null to ignore it. Nothing was sent.")
            renamed[header] = target
        rows = [_renamed_row(row, renamed, self.values) for row in sheet.rows]
        return dataclasses.replace(sheet, columns=list(renamed.values()), rows=rows,
                                   format_note=sheet.format_note + (", columns mapped" if self.columns else ""))

    def dump(self) -> str:
        """The mapping as the YAML a person reviews."""
        lines = [f"reviewed: {'true' if self.reviewed else 'false'}", "columns:"]
        lines += [f"  {_yaml_key(h)}: {'null' if c is None else c}" for h, c in self.columns.items()]
        if self.values:
            lines.append("values:")
            for column, table in self.values.items():
                lines.append(f"  {column}:")
                lines += [f"    {_yaml_key(k)}: {_yaml_key(v)}" for k, v in table.items()]
        return "\n".join(lines) + "\n"


def _yaml_key(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


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
    and value guesses such as a language name taken for a locale."""
    mapping = ColumnMapping(reviewed=False)
    notes: list[str] = []
    targets = [CUSTOMER_KEY, ACTION_COLUMN, SOURCE_COLUMN, TAX_COLUMN, *CUSTOMER_PATHS]
    for header in sheet.columns:
        if _known(header):
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
        if target == "locale":
            guesses = _locale_guesses(sheet, header)
            if guesses:
                mapping.values["locale"] = {text: choice[0] for text, choice in guesses.items()}
                notes += [f"{header!r}: {text!r} is not a locale; GUESSED {choice[0]!r} (could also be "
                          f"{', '.join(choice[1:]) or 'nothing else listed'}): check it"
                          for text, choice in guesses.items()]
    return mapping, notes


def _locale_guesses(sheet: Sheet, header: str) -> dict[str, list[str]]:
    """Cell texts of a language column that are not locales -> the locales they may mean."""
    seen: dict[str, list[str]] = {}
    for row in sheet.rows:
        text = row.cells.get(header, "")
        if not text or text in seen:
            continue
        try:
            check_locale(text)
            continue
        except ValueError:  # not a locale (pydantic's error types are ValueErrors)
            pass
        language = _LANGUAGE_NAMES.get(text.casefold(), text.casefold()[:2])
        seen[text] = _LANGUAGES.get(language, [])
    return {text: locales for text, locales in seen.items() if locales}
