"""Reference data shipped inside the package: catchments, SSMs, minimum wage, fiscal years.

The catchment and minimum-wage tables come from the project's domain brief (public sources are
cited there). Users can override either with their own CSV of the same shape.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class Catchment:
    catchment_id: str
    name_en: str
    name_fr: str
    phase: str
    ssm: str
    economic_region: str
    transition_start: date
    ies_start: date
    ies_start_confirmed: bool

    @property
    def ssm_id(self) -> str:
        return ssm_id(self.ssm)


@dataclass(frozen=True)
class MinimumWage:
    effective_date: date
    cad_per_hour: float


def ssm_id(name: str) -> str:
    """A stable code for an SSM organisation name: ASCII, upper case, words joined by '-'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Z0-9]+", "-", ascii_name.upper()).strip("-")


def _read_rows(path: Path | None, packaged: str) -> list[dict[str, str]]:
    if path is None:
        text = resources.files("esmonitor.model").joinpath("data").joinpath(packaged).read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def catchments(path: Path | None = None) -> tuple[Catchment, ...]:
    return tuple(
        Catchment(
            catchment_id=r["catchment_id"],
            name_en=r["name_en"],
            name_fr=r["name_fr"],
            phase=r["phase"],
            ssm=r["ssm"],
            economic_region=r["statcan_economic_region"],
            transition_start=date.fromisoformat(r["transition_start"]),
            ies_start=date.fromisoformat(r["ies_start"]),
            ies_start_confirmed=r["ies_start_confirmed"].strip().lower() == "true",
        )
        for r in _read_rows(path, "catchments.csv")
    )


def catchment(catchment_id: str) -> Catchment:
    for c in catchments():
        if c.catchment_id == catchment_id:
            return c
    raise KeyError(f"unknown catchment {catchment_id!r}")


@cache
def minimum_wage_schedule(path: Path | None = None) -> tuple[MinimumWage, ...]:
    rows = [
        MinimumWage(date.fromisoformat(r["effective_date"]), float(r["general_minimum_wage_cad_per_hour"]))
        for r in _read_rows(path, "ontario_minimum_wage.csv")
    ]
    return tuple(sorted(rows, key=lambda m: m.effective_date))


def minimum_wage_on(day: date, schedule: tuple[MinimumWage, ...] | None = None) -> float:
    """The general minimum wage in force on ``day`` (the latest rate whose effective date <= day)."""
    schedule = schedule or minimum_wage_schedule()
    rate: float | None = None
    for m in schedule:
        if m.effective_date <= day:
            rate = m.cad_per_hour
        else:
            break
    if rate is None:
        raise ValueError(f"no minimum wage known on {day.isoformat()} (schedule starts "
                         f"{schedule[0].effective_date.isoformat()})")
    return rate


def fiscal_year_start(day: date) -> int:
    """Calendar year in which the Ontario fiscal year containing ``day`` starts (April–March)."""
    return day.year if day.month >= 4 else day.year - 1


def fiscal_year_label(day: date) -> str:
    """Ontario fiscal year label, e.g. 2024-06-30 -> 'FY2024-25'."""
    start = fiscal_year_start(day)
    return f"FY{start}-{(start + 1) % 100:02d}"


def fiscal_year_bounds(label: str) -> tuple[date, date]:
    """First and last day of a fiscal year given as 'FY2024-25' (or '2024-25')."""
    m = re.fullmatch(r"(?:FY)?(\d{4})-(\d{2})", label.strip().upper())
    if not m or (int(m.group(1)) + 1) % 100 != int(m.group(2)):
        raise ValueError(f"{label!r} is not a fiscal year such as FY2024-25")
    start = int(m.group(1))
    return date(start, 4, 1), date(start + 1, 3, 31)
