"""English and French for the report: numbers, percentages, money and dates formatted per locale
(Babel's CLDR data: en-CA ``12.5 %``, ``1,234``; fr-CA ``12,5 %``, ``1 234`` with the non-breaking
spaces French typography uses), and every sentence through a gettext catalogue
(``locale/fr/LC_MESSAGES/esmonitor.po``, read with Babel: no compile step)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources

from babel import Locale
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

    def signed(self, value: float, decimals: int = 1) -> str:
        """A difference with its sign: ``+1.2``, ``−0.4`` (a true minus sign), ``0.0``."""
        text = self.number(abs(value), decimals)
        if text.strip("0.,\u00a0\u202f") == "":
            return text
        return ("+" if value > 0 else "\u2212") + text

    def money(self, value: float, cents: bool = True) -> str:
        """Dollars in the locale's own pattern (en ``$1,234.50``, fr ``1 234,50 $``); without
        cents, rounded to the dollar."""
        if cents:
            return format_currency(value, "CAD", locale=self.locale, currency_digits=True)
        pattern = Locale.parse(self.locale).currency_formats["standard"].pattern.replace(".00", "")
        return format_currency(round(value), "CAD", format=pattern, locale=self.locale, currency_digits=False)

    def in_period(self, label: str) -> str:
        """``in FY 2024-25``, ``au cours de l'exercice 2024-2025``, ``in 2025 Q3``, ``au 3e trimestre de 2025``."""
        if self.code == "en":
            return f"in {self.period(label)}"
        if label.startswith("FY"):
            return f"au cours de l'{self.fiscal_year(label)}"
        if len(label) == 6 and label[4] == "Q":
            return f"au {label[5]}{'er' if label[5] == '1' else 'e'} trimestre de {label[:4]}"
        return f"en {label}"

    def period(self, label: str) -> str:
        """A period label of the indicator engine in words: fiscal years and quarters."""
        if label.startswith("FY"):
            return self.fiscal_year(label)
        if len(label) == 6 and label[4] == "Q":
            return f"{label[:4]}{NBSP}T{label[5]}" if self.code == "fr" else f"{label[:4]}{NBSP}Q{label[5]}"
        return label

    def date(self, day: date) -> str:
        return format_date(day, format="long", locale=self.locale)

    def fiscal_year(self, label: str) -> str:
        """``FY2024-25`` as ``FY 2024-25`` or ``exercice 2024-2025``."""
        start = int(label[2:6])
        return f"FY{NBSP}{start}-{str(start + 1)[2:]}" if self.code == "en" else f"exercice {start}-{start + 1}"



def extract_messages() -> Catalog:
    """Every translatable string of the report, read from its Python sources (``_()``, ``N_()``)
    and its templates (``{{ _("...") }}``) with Babel's extractors."""
    from babel.messages.extract import extract_from_dir

    root = resources.files("esmonitor.report")
    found = Catalog(locale=None, project="esmonitor")
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2.ext:babel_extract")]
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(root), method_map=method_map, keywords={"_": None, "N_": None, "gettext": None},
            options_map={"**/templates/**.html": {"trimmed": "false"}}):
        if isinstance(message, str) and message:
            found.add(message, locations=[(filename, lineno)])
    return found


def missing_french() -> list[str]:
    """Strings of the report with no French translation (or one marked fuzzy)."""
    cat = catalogue("fr")
    assert cat is not None
    out = []
    for m in extract_messages():
        if not m.id:
            continue
        entry = cat.get(m.id)
        if entry is None or not entry.string or entry.fuzzy:
            out.append(str(m.id))
    return out


def update_catalogue() -> list[str]:
    """Add every string of the report missing from the French catalogue (with an empty
    translation, for a translator to fill in) and return them. Run it after changing a string:
    ``python -m esmonitor.report.i18n``."""
    from babel.messages.pofile import write_po

    path = resources.files("esmonitor.report") / "locale" / "fr" / "LC_MESSAGES" / "esmonitor.po"
    with path.open("rb") as fh:
        cat = read_po(fh, locale=LOCALES["fr"])
    added = []
    for m in extract_messages():
        if m.id and m.id not in cat:
            cat.add(m.id, "", locations=m.locations)
            added.append(str(m.id))
    if added:
        with open(str(path), "wb") as fh:
            write_po(fh, cat, width=120)
        catalogue.cache_clear()
    return added


if __name__ == "__main__":  # pragma: no cover
    for message in update_catalogue():
        print(message)
