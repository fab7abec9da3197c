"""What every output made from synthetic data says about itself, in English and French."""

from __future__ import annotations

SYNTHETIC_NOTICE = {
    "en": "synthetic data for demonstration: not Ontario's figures",
    "fr": "données synthétiques de démonstration : ce ne sont pas les chiffres de l'Ontario",
}
NOTICE_FIELD = "synthetic_data"  # the JSON field or table column that carries it


def notice_text() -> str:
    """Both languages in one line (a table cell)."""
    return f"{SYNTHETIC_NOTICE['en']} / {SYNTHETIC_NOTICE['fr']}"
