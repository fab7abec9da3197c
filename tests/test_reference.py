"""Reference data shipped in the package, checked against hand-worked values."""

from __future__ import annotations

from datetime import date

import pytest

from esmonitor.model import reference


def test_fifteen_catchments_with_phases_and_dates() -> None:
    cs = reference.catchments()
    assert len(cs) == 15
    assert sorted(c.catchment_id for c in cs if c.phase == "prototype") == ["HNP", "MKW", "PEL"]
    assert reference.catchment("KPM").ies_start == date(2023, 10, 1)
    assert reference.catchment("TOR").ies_start_confirmed is False
    assert {c.economic_region for c in cs if c.catchment_id in ("PEL", "HAL", "YRK", "DUR", "TOR")} == {"3530"}
    assert all(c.transition_start < c.ies_start for c in cs)


@pytest.mark.parametrize(("day", "rate"), [
    (date(2020, 9, 30), 14.00), (date(2020, 10, 1), 14.25), (date(2022, 1, 1), 15.00),
    (date(2023, 9, 30), 15.50), (date(2023, 10, 1), 16.55), (date(2025, 12, 1), 17.60),
])
def test_minimum_wage_in_force(day: date, rate: float) -> None:
    assert reference.minimum_wage_on(day) == rate


def test_minimum_wage_before_schedule_is_an_error() -> None:
    with pytest.raises(ValueError, match="no minimum wage known"):
        reference.minimum_wage_on(date(2010, 1, 1))


@pytest.mark.parametrize(("day", "label"), [
    (date(2024, 4, 1), "FY2024-25"), (date(2025, 3, 31), "FY2024-25"), (date(2024, 3, 31), "FY2023-24"),
    (date(1999, 12, 31), "FY1999-00"),
])
def test_fiscal_years(day: date, label: str) -> None:
    assert reference.fiscal_year_label(day) == label
    start, end = reference.fiscal_year_bounds(label)
    assert start <= day <= end


def test_fiscal_year_bounds_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="not a fiscal year"):
        reference.fiscal_year_bounds("FY2024-26")


def test_ssm_codes_are_stable_ascii() -> None:
    assert reference.ssm_id("Collège Boréal") == "COLLEGE-BOREAL"
    assert reference.catchment("HNP").ssm_id == reference.catchment("HAL").ssm_id == "FEDCAP-CANADA"
