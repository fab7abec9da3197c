"""English and French for the report: numbers, percentages, money and dates formatted per locale
(Babel's CLDR data: en-CA ``12.5 %``, ``1,234``; fr-CA ``12,5 %``, ``1 234`` with the non-breaking
spaces French typography uses), and every sentence through a gettext catalogue
(``locale/fr/LC_MESSAGES/esmonitor.po``, read with Babel: no compile step)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources

from babel.dates import format_date
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

from esmonitor.errors import UserInputError

LOCALES = {"en": "en_CA", "fr": "fr_CA"}
NBSP = "\u00a0"


@lru_cache(maxsize=2)
def catalogue(lang: str) -> Catalog | None:
    """The message catalogue of ``lang`` (None for English, the source language)."""
    if lang == "en":
        return None
    path = resources.files("esmonitor.report") / "locale" / lang / "LC_MESSAGES" / "esmonitor.po"
    with path.open("rb") as fh:
        return read_po(fh, locale=LOCALES[lang])


@dataclass(frozen=True)
class Language:
    code: str

    def __post_init__(self) -> None:
        if self.code not in LOCALES:
            raise UserInputError(f"unknown language {self.code!r}", hint="en or fr")

    @property
    def locale(self) -> str:
        return LOCALES[self.code]

    def gettext(self, message: str) -> str:
        """The translation of ``message``; a message missing from the French catalogue is an
        error, not a silent fall-back to English."""
        cat = catalogue(self.code)
        if cat is None:
            return message
        entry = cat.get(message)
        if entry is None or not entry.string:
            raise KeyError(f"no French for {message!r} in the catalogue")
        return str(entry.string)

    def number(self, value: float, decimals: int = 0) -> str:
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def percent(self, share: float, decimals: int = 1) -> str:
        """A share (0.125) as a percentage: en ``12.5 %``, fr ``12,5 %`` (a non-breaking space)."""
        return f"{self.number(100 * share, decimals)}{NBSP}%"

    def money(self, value: float) -> str:
        return format_currency(value, "CAD", locale=self.locale, currency_digits=True)

    def date(self, day: date) -> str:
        return format_date(day, format="long", locale=self.locale)

    def fiscal_year(self, label: str) -> str:
        """``FY2024-25`` as ``FY 2024-25`` or ``exercice 2024-2025``."""
        start = int(label[2:6])
        return f"FY{NBSP}{start}-{str(start + 1)[2:]}" if self.code == "en" else f"exercice {start}-{start + 1}"

