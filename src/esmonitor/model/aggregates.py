"""Aggregate observations: the published numbers a monitor actually holds.

Record-level extracts are one kind of source; public tables and freedom-of-information releases
are the other. Each published number becomes one row of a tidy long table: which release it comes
from, what it measures, for which period, which geography and which breakdown, its value, its
status and, where the source hid or bounded it, the interval it must lie in. Suppressed is never
zero: a hidden cell has no value, a status and bounds.

This module holds the vocabulary (statuses, suppression codes, measures, periods) and the parsers
of the spellings real files use; the readers are in :mod:`esmonitor.ingest.aggregates`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Literal

import polars as pl

from esmonitor.model.reference import _read_rows, catchments, fiscal_year_bounds

Status = Literal["published", "suppressed", "estimate", "unreliable", "not_available", "not_applicable"]
STATUSES: tuple[str, ...] = ("published", "suppressed", "estimate", "unreliable", "not_available", "not_applicable")
PeriodType = Literal["fiscal_year", "year", "quarter", "month"]
GeoType = Literal["province", "catchment", "site", "economic_region", "delivery_agent", "office"]
GEO_TYPES: tuple[str, ...] = ("province", "catchment", "site", "economic_region", "delivery_agent", "office")


@dataclass(frozen=True)
class Release:
    """A registered release: where a set of published numbers comes from and how to cite it."""

    release_id: str
    title: str
    publisher: str
    reference: str  # URL or FOI request number
    released: str  # ISO date, or year, as the source gives it
    licence: str
    kind: str  # es_outcomes, foi_workbook, sa_caseload, statcan, generic

    def citation(self) -> str:
        parts = [self.publisher, f"“{self.title}”", self.released, self.reference]
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True)
class Code:
    """What a source's code in a number cell means: a status and, for a hidden count, its bounds
    (``high=None``: up to the cell's own margin, found from the table)."""

    status: str
    low: float | None = None
    high: float | None = None
    meaning: str = ""


#: Codes the readers know in number cells (after trimming; case is kept for StatCan's letters).
#: ``<5`` is a count from 1 to 4 (a zero is published as 0); ``x`` (and ``*``, ``SP``) hide a count
#: of at least 0 bounded by its margin. ``SP`` in Ontario's ES client-outcomes files is the
#: ministry's "suppressed" mark for secondary suppression: the contextual documentation is the
#: authority; a mapping file may give another meaning.
SUPPRESSION_CODES: dict[str, Code] = {
    "<5": Code("suppressed", 1, 4, "fewer than 5 (1 to 4)"),
    "< 5": Code("suppressed", 1, 4, "fewer than 5 (1 to 4)"),
    "<10": Code("suppressed", 1, 9, "fewer than 10 (1 to 9)"),
    "x": Code("suppressed", 0, None, "suppressed (confidentiality)"),
    "X": Code("suppressed", 0, None, "suppressed (confidentiality)"),
    "*": Code("suppressed", 0, None, "suppressed"),
    "SP": Code("suppressed", 0, None, "suppressed (secondary)"),
    "sp": Code("suppressed", 0, None, "suppressed (secondary)"),
    "s": Code("suppressed", 0, None, "suppressed"),
    "S": Code("suppressed", 0, None, "suppressed"),
    "..": Code("not_available", meaning="not available for this period"),
    ".": Code("not_available", meaning="not available for any period"),
    "...": Code("not_applicable", meaning="not applicable"),
    "na": Code("not_available", meaning="not available"),
    "n/a": Code("not_available", meaning="not available"),
    "NA": Code("not_available", meaning="not available"),
    "N/A": Code("not_available", meaning="not available"),
    "-": Code("not_applicable", meaning="not applicable"),
    "F": Code("unreliable", meaning="too unreliable to be published"),
}

#: Statistics Canada's STATUS column: quality letters keep the value; these change its status.
STATCAN_STATUS: dict[str, Code] = {
    "..": Code("not_available", meaning="not available for a specific reference period"),
    ".": Code("not_available", meaning="not available for any reference period"),
    "...": Code("not_applicable", meaning="not applicable"),
    "x": Code("suppressed", 0, None, "suppressed to meet the confidentiality requirements of the Statistics Act"),
    "E": Code("estimate", meaning="use with caution"),
    "F": Code("unreliable", meaning="too unreliable to be published"),
}

NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:[,\u00a0\u202f ]\d{3})+|\d+)(?:\.\d+)?$")


@dataclass(frozen=True)
class Cell:
    """A number cell read: the value (None when hidden), its status, its bounds, the source's code."""

    value: float | None
    status: str
    low: float | None = None
    high: float | None = None
    symbol: str = ""


def parse_cell(raw: object, codes: dict[str, Code] | None = None) -> Cell | None:
    """A published number cell: ``"1,200"`` → 1200, ``"<5"`` → hidden in [1, 4], ``"x"`` → hidden
    in [0, margin]; ``""`` → not available. ``None`` when the text is neither a number nor a known
    code (the caller quarantines it)."""
    if raw is None:
        return Cell(None, "not_available")
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return Cell(float(raw), "published", float(raw), float(raw))
    text = str(raw).strip()
    if text == "":
        return Cell(None, "not_available")
    table = SUPPRESSION_CODES if codes is None else codes
    if text in table:
        c = table[text]
        return Cell(None, c.status, c.low, c.high, text)
    body = text.rstrip("%").strip()
    if _identifier_like(body):
        return None
    if NUMBER.match(body):
        value = float(re.sub(r"[,\u00a0\u202f ]", "", body))
        return Cell(value, "published", value, value)
    flagged = re.fullmatch(r"(.+?)\s*([A-Fa-f]|[pr])", body)  # "12.3E", "1,200 p"
    if flagged and NUMBER.match(flagged.group(1)):
        value = float(re.sub(r"[,\u00a0\u202f ]", "", flagged.group(1)))
        letter = flagged.group(2)
        return Cell(value, "estimate" if letter.upper() == "E" else "published", value, value, letter)
    return None


#: The roles a column can have in a published table (``[file.aggregate.columns]`` of a mapping file).
ROLES = ("period", "geography", "client_type", "dimension", "group", "interval", "programme", "measure", "value")


@dataclass(frozen=True)
class GenericMapping:
    """How to read a table of another shape (``[file.aggregate]`` in a mapping file)."""

    measure: str | None = None  # a fixed measure id, or None: from the measure column or each value column
    columns: dict[str, str] = field(default_factory=dict)  # role → header
    values: dict[str, str] = field(default_factory=dict)  # header → measure id
    codes: dict[str, Code] = field(default_factory=dict)  # more codes for hidden or missing cells
    geo_type: str | None = None


def _identifier_like(text: str) -> bool:
    """A number in groups that no count is written as: a first group with a leading zero
    ("046 454 286"), or nine digits in three groups passing the SIN checksum."""
    groups = re.split(r"[,\u00a0\u202f .-]", text)
    if len(groups) < 2 or not all(g.isdigit() for g in groups):
        return False
    if groups[0].startswith("0") and len(groups[0]) > 1:
        return True
    digits = "".join(groups)
    if len(groups) == 3 and all(len(g) == 3 for g in groups):
        total = 0
        for i, d in enumerate(int(c) for c in digits):
            d = d * 2 if i % 2 else d
            total += d - 9 if d > 9 else d
        return total % 10 == 0
    return False


# -- periods ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    type: str
    label: str  # canonical: FY2024-25, 2024, 2024Q1, 2024-01
    start: date
    end: date


_DASH = "-\u2010\u2011\u2012\u2013\u2014/"


def parse_period(raw: object, prefer: str = "fiscal_year") -> Period | None:
    """A period as sources write it: fiscal years ``2022-2023``, ``2022-23``, ``FY2022-23``,
    ``2022/23``, ``2022–23``, ``F2022-23``, ``2022-23 FY``; months ``2024-01``, ``2024/01`` and
    ``2024-01-01``; quarters ``2024Q1``, ``Q1 2024``; calendar years ``2024``. ``2011-12`` is both
    a fiscal year and a month: ``prefer`` decides (StatCan's REF_DATE is a month). None when it
    does not parse."""
    if raw is None:
        return None
    if isinstance(raw, date):
        return _month(raw.year, raw.month)
    text = re.sub(r"\s+", " ", str(raw).strip()).upper()
    text = re.sub(r"^(?:FY|F|EF|EXERCICE|FISCAL YEAR|FISCAL)\s*", "", text)
    text = re.sub(r"\s*(?:FY|EF)$", "", text)
    m = re.fullmatch(rf"(\d{{4}})\s*[{_DASH}]\s*(\d{{2}}|\d{{4}})", text)
    if m:
        first, second = int(m.group(1)), m.group(2)
        fiscal = int(second) == first + 1 if len(second) == 4 else int(second) == (first + 1) % 100
        month = len(second) == 2 and 1 <= int(second) <= 12
        if fiscal and not (month and prefer == "month"):
            label = f"FY{first}-{(first + 1) % 100:02d}"
            start, end = fiscal_year_bounds(label)
            return Period("fiscal_year", label, start, end)
        return _month(first, int(second)) if month else None
    m = re.fullmatch(r"(\d{4})\s*-?\s*Q([1-4])|Q([1-4])\s*[-/ ]?\s*(\d{4})", text)
    if m:
        year, q = int(m.group(1) or m.group(4)), int(m.group(2) or m.group(3))
        return Period("quarter", f"{year}Q{q}", date(year, 3 * q - 2, 1), _month(year, 3 * q).end)
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
    if m:
        try:
            day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
        return _month(day.year, day.month)
    if re.fullmatch(r"(?:19|20)\d{2}", text):
        year = int(text)
        return Period("year", text, date(year, 1, 1), date(year, 12, 31))
    return None


def _month(year: int, month: int) -> Period:
    start = date(year, month, 1)
    end = date(year + (month == 12), month % 12 + 1, 1)
    return Period("month", f"{year}-{month:02d}", start, date.fromordinal(end.toordinal() - 1))


# -- geography -------------------------------------------------------------------------------

def fold_label(raw: str) -> str:
    """A place label folded for matching: accents off, case folded, every dash, slash and run of
    punctuation one space ("Hamilton--Niagara Peninsula, Ontario" → "hamilton niagara peninsula")."""
    text = re.sub(r"[^\w'’&,]+", " ", raw)  # dashes of every kind, slashes, dots: spaces, before accents go
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()
    text = re.sub(r",\s*(ontario|on)\s*$", "", text.strip())
    text = text.replace("&", " and ").replace("'", "")
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


@dataclass(frozen=True)
class Place:
    geo_type: str
    geo_id: str
    catchment_id: str | None  # None where the place spans several catchments (the Toronto ER)
    name_en: str
    name_fr: str


@cache
def delivery_agents() -> tuple[Place, ...]:
    """Ontario Works delivery agents (37 CMSMs and 10 DSSABs) with the catchment that holds each."""
    return tuple(Place("delivery_agent", r["agent_id"], r["catchment_id"], r["name_en"], r["name_fr"])
                 for r in _read_rows(None, "delivery_agents.csv"))


@cache
def places() -> dict[tuple[str, str], Place]:
    """Every label a source may use for a place, folded, by geography type: catchments (English,
    French, both joined by a slash, hyphen or double hyphen, and codes), economic regions (codes,
    DGUIDs of every vintage, StatCan GEO names), delivery agents (names with and without "City
    of", "District Social Services Administration Board")."""
    from esmonitor.model.codes import CODE_LISTS, statcan_dguid

    out: dict[tuple[str, str], Place] = {}
    ers: dict[str, list[str]] = {}
    for c in catchments():
        p = Place("catchment", c.catchment_id, c.catchment_id, c.name_en, c.name_fr)
        for label in (c.catchment_id, c.name_en, c.name_fr, f"{c.name_en} / {c.name_fr}", f"{c.name_en} {c.name_fr}"):
            out[("catchment", fold_label(label))] = p
        ers.setdefault(c.economic_region, []).append(c.catchment_id)
    for code in CODE_LISTS["economic_region"].codes:
        inside = ers.get(code.code, [])
        p = Place("economic_region", code.code, inside[0] if len(inside) == 1 else None, code.en, code.fr)
        labels = [code.code, code.en, code.fr, *code.aliases,
                  *(statcan_dguid(code.code, v) for v in range(2006, 2031))]
        for label in labels:
            out[("economic_region", fold_label(label))] = p
    for a in delivery_agents():
        for label in _agent_labels(a):
            out[("delivery_agent", fold_label(label))] = a
    out[("province", "ontario")] = Place("province", "ON", None, "Ontario", "Ontario")
    out[("province", "on")] = out[("province", "ontario")]
    out[("province", "35")] = out[("province", "ontario")]
    return out


def _agent_labels(a: Place) -> list[str]:
    labels = [a.geo_id, a.name_en, a.name_fr]
    bare = re.sub(r"^(?:City|County|United Counties|Regional Municipality|District Municipality|Municipality|"
                  r"Town|Township)\s+of\s+", "", a.name_en)
    bare = re.sub(r"\s+(?:DSSAB|District Social Services Administration Board)$", "", bare)
    labels += [bare, f"{bare} DSSAB", f"{bare} District Social Services Administration Board",
               f"{bare} District", f"Region of {bare}", f"{bare} Region", f"{bare} County", f"City of {bare}"]
    return labels


def find_place(label: object, geo_type: str | None = None) -> Place | None:
    """The place a source's label names (of ``geo_type``, or of any type, catchments first)."""
    if label is None:
        return None
    dguid = re.fullmatch(r"\s*(?:19|20)\d{2}[AS]\d{4}(35\d{2})\s*", str(label))  # any vintage and schema
    if dguid and geo_type in (None, "economic_region"):
        found = places().get(("economic_region", dguid.group(1)))
        if found:
            return found
    folded = fold_label(str(label))
    for kind in ((geo_type,) if geo_type else ("catchment", "economic_region", "delivery_agent", "province")):
        found = places().get((kind, folded))
        if found:
            return found
    return None


def statcan_place(dguid: str, geo: str) -> Place | None:
    """A Statistics Canada place outside what :func:`find_place` knows, from its DGUID: an economic
    region of another province (kept, attached to no catchment), a province, or Canada."""
    m = re.fullmatch(r"\s*(?:19|20)\d{2}([AS])(\d{4})(\d+)\s*", dguid or "")
    label = re.sub(r"\s+", " ", geo or "").strip()
    if not m:
        return Place("province", "CA", None, label, label) if fold_label(label) in ("canada",) else None
    schema, code = m.group(1) + m.group(2), m.group(3)
    if schema in ("A0005", "S0500") and len(code) == 4:
        return Place("economic_region", code, None, label, label)
    if schema == "A0002" and len(code) == 2:
        return Place("province", "ON" if code == "35" else code, None, label, label)
    if schema == "A0000" and code == "11124":
        return Place("province", "CA", None, label, label)
    return None


# -- measures --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Measure:
    measure_id: str
    en: str
    fr: str
    unit: str = "count"  # count, rate (per cent), level (thousands)


MEASURES: dict[str, Measure] = {m.measure_id: m for m in (
    Measure("clients_assisted", "Clients assisted", "Clients aidés"),
    Measure("outcome_employed", "Employed (incl. self-employed)", "En emploi (y compris autonome)"),
    Measure("outcome_training", "In education or training", "Aux études ou en formation"),
    Measure("outcome_unemployed", "Unemployed", "Sans emploi"),
    Measure("outcome_other", "Other outcome", "Autre résultat"),
    Measure("outcome_unknown", "Outcome unknown", "Résultat inconnu"),
    Measure("outcome_missing", "No outcome recorded", "Aucun résultat inscrit"),
    Measure("outcome_total", "Clients with an outcome checkpoint", "Clients ayant un point de contrôle"),
    Measure("referrals", "Referrals to employment services", "Aiguillages vers les services d'emploi"),
    Measure("intakes", "Intakes (clients starting service)", "Accueils (clients commençant un service)"),
    Measure("sa_cases", "Social assistance cases (monthly average)", "Dossiers d'aide sociale (moyenne mensuelle)"),
    Measure("sa_beneficiaries", "Social assistance beneficiaries (monthly average)",
            "Bénéficiaires d'aide sociale (moyenne mensuelle)"),
)}

CLIENT_TYPES = {"sa": ("social assistance", "sa", "ow/odsp", "ow or odsp", "on sa", "sa client", "sa clients",
                       "social assistance recipient", "social assistance recipients", "ow", "odsp",
                       "aide sociale", "prestataire d'aide sociale", "prestataires d'aide sociale"),
                "non_sa": ("non-sa", "non sa", "non-social assistance", "non social assistance", "not on sa",
                           "non-sa client", "non-sa clients", "other", "others", "hors aide sociale",
                           "non-prestataires", "non prestataires", "non-prestataire"),
                "all": ("all", "total", "all clients", "tous", "ensemble", "")}


ALL_SPELLINGS = frozenset(("all", "total", "all clients", "tous", "toutes", "ensemble", "overall", "tous les clients"))


def all_or(raw: str) -> str:
    """A breakdown label, with every spelling of "all" made ``all``."""
    return "all" if fold_label(raw) in ALL_SPELLINGS or not raw.strip() else raw.strip()


def client_type(raw: object) -> str | None:
    folded = fold_label(str(raw or ""))
    for code, spellings in CLIENT_TYPES.items():
        if folded in {fold_label(s) for s in spellings} or folded == code.replace("_", " "):
            return code
    return None


def interval_months(raw: object) -> int | None:
    """An outcome interval as sources write it: ``3``, ``3 months``, ``3-month``, ``3 mois``,
    ``exit``/``at exit``/``sortie`` (0), ``12m``."""
    text = fold_label(str(raw or ""))
    if text in ("exit", "at exit", "sortie", "a la sortie", "0"):
        return 0
    m = re.fullmatch(r"(\d{1,2})\s*(?:m|mo|mos|month|months|mois)?(?:\s*(?:follow up|suivi|interval))?", text)
    if m and int(m.group(1)) in (0, 1, 3, 6, 12):
        return int(m.group(1))
    return None


# -- how published numbers relate --------------------------------------------------------------

#: The outcome categories of a checkpoint: together they are every client of the period.
OUTCOME_PARTS = ("outcome_employed", "outcome_training", "outcome_unemployed", "outcome_other", "outcome_unknown",
                 "outcome_missing")
_KEY = ("release_id", "measure", "period", "geo_type", "geo_id", "client_type", "dimension", "group",
        "interval_months", "programme", "detail")


def relations(obs: pl.DataFrame) -> pl.DataFrame:
    """The additive relations among a release's counts, as edges (rel, total, part, equal) between
    row positions of ``obs``: outcome categories are among the clients assisted (at most all of
    them: whether the ministry's six categories always add up to them is not documented, and a
    bound assumed too tight would be wrong); the employed are
    among the clients with a checkpoint; demographic groups are among (not always all of) the
    "all" row; SA and non-SA clients make up all clients. ``equal``: the parts are the whole."""
    empty = pl.DataFrame(schema={"rel": pl.Int64, "total": pl.Int64, "part": pl.Int64, "equal": pl.Boolean})
    if obs.is_empty():
        return empty
    counts = obs.with_row_index("_i").with_columns(pl.col("_i").cast(pl.Int64)).filter(
        pl.col("unit").is_in(["count", "", "Number", "number"]) | pl.col("unit").is_null())
    keys = [c for c in _KEY if c in counts.columns]
    out = []

    def join(totals: pl.DataFrame, parts: pl.DataFrame, on: list[str], kind: str, whole: int | None) -> None:
        # an empty key matches an empty key (a release without breakdowns has nulls there)
        edges = totals.select(*on, pl.col("_i").alias("total")).join(
            parts.select(*on, pl.col("_i").alias("part"), pl.col("interval_months").alias("_pi"),
                         pl.col("dimension").alias("_pd")), on=on, nulls_equal=True)
        if edges.is_empty():
            return
        grouping = {"outcome": ["total", "_pi"], "group": ["total", "_pd"]}.get(kind, ["total"])
        edges = edges.with_columns(pl.len().over(grouping).alias("_n"))
        equal = (pl.col("_n") == whole) if whole else pl.lit(False)
        named = [pl.lit(kind), *[pl.col(g).cast(pl.String).fill_null("\x00") for g in grouping]]
        out.append(edges.select(pl.concat_str(named, separator=":").alias("rel"), "total", "part",
                                equal.alias("equal")))

    def key_but(*drop: str) -> list[str]:
        return [k for k in keys if k not in drop]

    join(counts.filter(pl.col("measure") == "clients_assisted"), counts.filter(pl.col("measure").is_in(OUTCOME_PARTS)
         & pl.col("interval_months").is_not_null()), key_but("measure", "interval_months"), "outcome", None)
    join(counts.filter(pl.col("measure") == "outcome_total"), counts.filter(pl.col("measure") == "outcome_employed"),
         key_but("measure"), "employed", None)
    join(counts.filter(pl.col("dimension") == "all"), counts.filter(pl.col("dimension") != "all"),
         key_but("dimension", "group"), "group", None)
    join(counts.filter(pl.col("client_type") == "all"), counts.filter(pl.col("client_type").is_in(["sa", "non_sa"])),
         key_but("client_type"), "client", 2)
    if not out:
        return empty
    edges = pl.concat(out)
    ids = edges.select("rel").unique(maintain_order=True).with_row_index("_r")
    return edges.join(ids, on="rel").select(pl.col("_r").cast(pl.Int64).alias("rel"), "total", "part", "equal")
