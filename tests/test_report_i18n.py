"""Report languages: formats per locale and a complete French catalogue."""

from __future__ import annotations

from datetime import date

import pytest

from esmonitor.errors import UserInputError
from esmonitor.report.i18n import NBSP, Language, catalogue


def test_numbers_percentages_money_and_dates_per_locale() -> None:
    en, fr = Language("en"), Language("fr")
    assert en.percent(0.125) == f"12.5{NBSP}%" and fr.percent(0.125) == f"12,5{NBSP}%"
    assert en.number(1234) == "1,234" and fr.number(1234) == f"1{NBSP}234"
    assert fr.number(1234567.891, 2) == f"1{NBSP}234{NBSP}567,89"
    assert en.date(date(2025, 3, 31)) == "March 31, 2025" and fr.date(date(2025, 3, 31)) == "31 mars 2025"
    assert en.fiscal_year("FY2024-25") == f"FY{NBSP}2024-25" and fr.fiscal_year("FY2024-25") == "exercice 2024-2025"
    assert en.money(1234.5) == "$1,234.50" and fr.money(1234.5).startswith(f"1{NBSP}234,50")
    with pytest.raises(UserInputError):
        Language("de")


def test_the_french_catalogue_is_complete_and_used() -> None:
    cat = catalogue("fr")
    assert cat is not None
    ids = [m.id for m in cat if m.id]
    assert len(ids) >= 10
    assert all(m.string for m in cat if m.id), [m.id for m in cat if m.id and not m.string]
    fr = Language("fr")
    assert fr.gettext("Summary of findings") == "Sommaire des constatations"
    assert Language("en").gettext("Summary of findings") == "Summary of findings"
    assert fr.in_period("FY2024-25") == "au cours de l'exercice 2024-2025"
    assert fr.in_period("2025Q1") == "au 1er trimestre de 2025" and fr.in_period("2025Q3") == "au 3e trimestre de 2025"
    assert fr.period("2025Q3") == f"2025{NBSP}T3"
    assert Language("en").in_period("FY2024-25") == f"in FY{NBSP}2024-25"
    with pytest.raises(KeyError, match="no French"):
        fr.gettext("A sentence nobody translated")
