"""The aggregate releases a synthetic province implies, shaped and suppressed like the real ones.

A monitor holds published tables as well as extracts: an FOI workbook of referrals, intakes and
employment outcomes by catchment, and Ontario's open data "Employment Services client outcomes" by
site. :func:`write_releases` reads a *record-level* warehouse (one built from a synthetic province)
and writes those tables, every count made by the project's indicator engine, so that the releases
alone, ingested into another warehouse, can be checked against the record-level values.

Files (in ``out_dir``)
    ``ies_foi_release.xlsx``: sheet ``Notes`` (title, FIPPA, the suppression codes, SYNTHETIC),
    then ``Referrals``, ``Intakes`` and ``Employment Outcomes``, each a title line ("Table 1: …"),
    a blank row, the header row and the data. ``ies_foi_referrals_intakes.csv`` (Referrals and
    Intakes side by side; Non-SA rows have no referral count) and ``ies_foi_outcomes.csv``: the data
    sheets as CSV copies, Windows-1252, no title line. ``es_client_outcomes_by_site.csv`` (UTF-8):
    the open-data layout, one row per site and fiscal year with clients served. Counts of 1,000 or
    more are written with a thousands separator in the CSVs (``"1,200"``), as numbers in the
    workbook. ``manifest.json``: what :func:`write_releases` returns.

Definitions (engine indicators by fiscal year of their period date; SA = ``social_assistance`` of
``ow`` or ``odsp``, Non-SA = ``none``, All = SA + Non-SA)
    *Referrals* (SA clients only, as the FOI table is): the denominator of ``referral_to_intake``
    (resolved referrals), by catchment of the referral's site and fiscal year of the referral. The
    ``referrals`` count also holds referrals still pending, so it is larger by those (returned as
    ``pending_sa_referrals``); the rate Intakes / Referrals is then the engine's conversion.
    *Intakes* (SA and Non-SA): the numerator of ``referral_to_intake``.
    *Employment Outcomes*: for k = 1, 3, 6, 12, Employed and Total are the numerator and the
    denominator of ``outcome_{k}m_per_served`` (catchment of the first plan's site, fiscal year of
    its start), by client type (SA, Non-SA, All) and for Demographic ``All`` / Group ``All`` and
    Demographic ``Gender`` / Group the engine's gender code (``woman``, ``man``, …, as stored).
    Fiscal years in which no client of the province is counted at k months are left out.
    *ES client outcomes by site*: ``num_assist`` = ``clients_served``; at 3 months
    ``out_3_sum_emp`` = Employed (``outcome_3m_per_served`` numerator), ``out_3_unemp`` = Total −
    Employed, ``out_3_null`` = num_assist − Total (checkpoint not yet due); at exit
    ``out_exit_sum_emp`` = clients who started a job after their plan began (``job_start_rate``
    numerator), ``out_exit_unemp`` = its denominator − numerator (plans begun 12+ months before the
    as-of date, no job start), ``out_exit_null`` = num_assist − that denominator (too recent to
    say). Training, other and unknown are 0 (the extracts record none). The six categories of each
    checkpoint add up to num_assist. ``sds_sec`` is the provider's organisation type.

Suppression, as real releases do it
    Primary: a count from 1 to 4 is written ``<5`` (0 is published as 0). Secondary: in every
    additive relation with exactly one hidden cell, the smallest other published non-zero part
    (else the total) is hidden with ``x``; repeated until no relation has a single hidden cell.
    The relations, each release on its own (those of :func:`esmonitor.model.aggregates.relations`):
    SA + Non-SA = All, the gender groups = the All row (where they add up to it), the six
    categories of a site checkpoint = num_assist. Then the disclosure attacker
    (:func:`esmonitor.disclosure.attacker.feasible_intervals`, with Employed ≤ Total and SA Intakes
    ≤ SA Referrals as well, ``<5`` in [1, 4], ``x`` ≥ 0) checks every hidden cell; one narrower than
    a whole count gets the smallest published part of one of its relations hidden too, or, when
    every part is hidden already, a ``<5`` total (else the cell) shown as ``x``: four groups of
    ``<5`` under a total of ``<5`` would each be 1. Not protected: what a reader holding both
    releases learns by adding a catchment's sites (they sum to its Employed and Total at 3 months,
    All clients), as real releases, protected each by its own publisher, are not either.

Planted truth (with ``province``)
    ``planted_gap_3m``: per catchment and fiscal year, the *expected* 3-month outcome rate of
    Non-SA minus SA clients in the denominator (clients whose plan began 6+ months before the
    as-of date). A client's expected outcome is ``p × T``: ``p`` the planted probability of
    employment during the plan (:attr:`Province.employment_probability`), ``T`` the probability,
    given employment, that the IES rules count an achieved 3-month outcome, worked out from the
    generator's own distributions (job-start lag, job length, hours, wage against the minimum wage
    in force at the checkpoint, subsidy, self-employment income, evidence, the employer at intake,
    a job held at intake that outranks the new one, job stacking) at the engine's as-of date.
    Two approximations, both below 0.5 % of outcomes: the 5 % stacking cap is not applied and the
    stacked job's wage is judged with the first job's minimum wage. ``T`` does not depend on the
    social-assistance status, so the gap is the planted log-odds gap carried through ``p``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import sqlglot
from scipy import sparse, stats

from esmonitor.disclosure.attacker import feasible_intervals
from esmonitor.indicators.catalogue import BY_ID
from esmonitor.indicators.engine import Frames, compute, frames_from
from esmonitor.model.reference import catchments, minimum_wage_schedule
from esmonitor.warehouse import Warehouse

if TYPE_CHECKING:
    from esmonitor.synth.province import Province

WORKBOOK = "ies_foi_release.xlsx"
REFERRALS_INTAKES_CSV = "ies_foi_referrals_intakes.csv"
OUTCOMES_CSV = "ies_foi_outcomes.csv"
SITES_CSV = "es_client_outcomes_by_site.csv"
MANIFEST = "manifest.json"
FILES = (WORKBOOK, REFERRALS_INTAKES_CSV, OUTCOMES_CSV, SITES_CSV)

INTERVALS = (1, 3, 6, 12)
CLIENT_TYPES = {"sa": "SA", "non_sa": "Non-SA", "all": "All"}
INTERVAL_LABEL = {1: "1 month", 3: "3 months", 6: "6 months", 12: "12 months"}
FOI_HEADERS = {
    "Referrals": ["Catchment Area", "Fiscal Year", "Client Type", "Referrals"],
    "Intakes": ["Catchment Area", "Fiscal Year", "Client Type", "Intakes"],
    "Employment Outcomes": ["Catchment Area", "Fiscal Year", "Client Type", "Demographic", "Group", "Interval",
                            "Employed", "Total"],
}
FOI_TITLES = {
    "Referrals": "Table 1: Referrals of social assistance clients to Employment Services, by catchment area "
                 "and fiscal year (SYNTHETIC)",
    "Intakes": "Table 2: Intakes of social assistance and other clients, by catchment area and fiscal year "
               "(SYNTHETIC)",
    "Employment Outcomes": "Table 3: Employment status of clients served at 1, 3, 6 and 12 months, by catchment "
                           "area, fiscal year, client type and gender (SYNTHETIC)",
}
SITE_HEADERS = ["est_region", "fiscal_year", "eo_program", "sds_id", "sds_name", "sds_sec", "num_assist",
                "out_exit_sum_emp", "out_exit_sum_te", "out_exit_unemp", "out_exit_sum_oth", "out_exit_unkn",
                "out_exit_null", "out_3_sum_emp", "out_3_sum_te", "out_3_unemp", "out_3_oth", "out_3_unkn",
                "out_3_null"]
SECTOR = {"non_profit": "Not-for-profit", "for_profit": "For-profit", "college": "College",
          "municipal": "Municipal"}
#: Bilingual labels for the two northern catchments, as the FOI tables write them.
FOI_PLACE = {"NEA": "Northeast / Nord-Est", "NWE": "Northwest / Nord-Ouest"}

PUBLISHED, SMALL, HIDDEN = 0, 1, 2  # cell states: published, "<5", "x"
SMALL_MAX = 4
NO_INTERVAL = -1


# -- cells and their relations ----------------------------------------------------------------

CELL_SCHEMA: dict[str, Any] = {"table": pl.String, "catchment_id": pl.String, "fy": pl.Int64,
                               "client_type": pl.String, "dimension": pl.String, "group": pl.String,
                               "interval": pl.Int64, "measure": pl.String, "site_id": pl.String,
                               "value": pl.Int64}


@dataclass(frozen=True)
class Relation:
    """``sum(lhs) = sum(rhs)`` (``equal``) or ``sum(lhs) >= sum(rhs)``, over cell positions."""

    lhs: tuple[int, ...]
    rhs: tuple[int, ...]
    equal: bool


def _fy(label: str) -> int:
    """2022 for the engine's 'FY2022-23'."""
    return int(label[2:6])


def _client_type(column: str = "social_assistance") -> pl.Expr:
    sa = pl.col(column)
    return pl.when(sa.is_null()).then(None).when(sa == "none").then(pl.lit("non_sa")).otherwise(pl.lit("sa"))


def _by_type(table: pl.DataFrame, keys: list[str], columns: list[str]) -> pl.DataFrame:
    """An engine table by social_assistance, summed to SA and Non-SA, and All = SA + Non-SA."""
    typed = (table.with_columns(_client_type().alias("client_type")).filter(pl.col("client_type").is_not_null())
             .group_by([*keys, "client_type"]).agg([pl.col(c).sum() for c in columns]))
    both = typed.group_by(keys).agg([pl.col(c).sum() for c in columns]).with_columns(
        pl.lit("all").alias("client_type"))
    return pl.concat([typed, both.select(typed.columns)])


def _grid(**axes: Iterable[object]) -> pl.DataFrame:
    out: pl.DataFrame | None = None
    for name, values in axes.items():
        frame = pl.DataFrame({name: list(values)})
        out = frame if out is None else out.join(frame, how="cross")
    assert out is not None
    return out


def _referral_cells(frames: Frames, catchment_ids: list[str]) -> tuple[pl.DataFrame, dict[str, int]]:
    conv = compute(BY_ID["referral_to_intake"], frames, by=["catchment_id", "social_assistance"],
                   grain="fiscal_year")
    counted = compute(BY_ID["referrals"], frames, by=["catchment_id", "social_assistance"], grain="fiscal_year")
    keys = ["period", "catchment_id"]
    conv = _by_type(conv, keys, ["numerator", "denominator"])
    counted = _by_type(counted, keys, ["numerator"])
    years = sorted({_fy(p) for p in counted["period"].to_list()})
    sa_counted = int(counted.filter(pl.col("client_type") == "sa")["numerator"].sum())
    sa_resolved = int(conv.filter(pl.col("client_type") == "sa")["denominator"].sum())
    conv = conv.with_columns(pl.col("period").map_elements(_fy, return_dtype=pl.Int64).alias("fy"))
    grid = _grid(catchment_id=catchment_ids, fy=years, client_type=["sa", "non_sa"])
    full = grid.join(conv.drop("period"), on=["catchment_id", "fy", "client_type"], how="left").with_columns(
        pl.col("numerator").fill_null(0), pl.col("denominator").fill_null(0))
    common = dict(dimension="All", group="All", interval=NO_INTERVAL, site_id="")
    referrals = full.filter(pl.col("client_type") == "sa").select(
        pl.lit("referrals").alias("table"), "catchment_id", "fy", "client_type",
        *[pl.lit(v).alias(k) for k, v in common.items()], pl.lit("referrals").alias("measure"),
        pl.col("denominator").cast(pl.Int64).alias("value"))
    intakes = full.select(
        pl.lit("intakes").alias("table"), "catchment_id", "fy", "client_type",
        *[pl.lit(v).alias(k) for k, v in common.items()], pl.lit("intakes").alias("measure"),
        pl.col("numerator").cast(pl.Int64).alias("value"))
    check = {"sa_referrals_counted": sa_counted, "sa_referrals_resolved": sa_resolved,
             "pending_sa_referrals": sa_counted - sa_resolved}
    return pl.concat([_cells(referrals), _cells(intakes)]), check


def _cells(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select([pl.col(c).cast(t) for c, t in CELL_SCHEMA.items()])


def _outcome_cells(frames: Frames, catchment_ids: list[str], genders: list[str]) -> pl.DataFrame:
    parts = []
    keys = ["period", "catchment_id", "gender"]
    for k in INTERVALS:
        table = compute(BY_ID[f"outcome_{k}m_per_served"], frames, by=["catchment_id", "social_assistance", "gender"],
                        grain="fiscal_year")
        years = sorted({_fy(p) for p in table.filter(pl.col("denominator") > 0)["period"].to_list()})
        if not years:
            continue
        typed = _by_type(table, keys, ["numerator", "denominator"]).with_columns(
            pl.col("period").map_elements(_fy, return_dtype=pl.Int64).alias("fy")).drop("period")
        grid = _grid(catchment_id=catchment_ids, fy=years, client_type=list(CLIENT_TYPES), gender=genders)
        fine = grid.join(typed, on=["catchment_id", "fy", "client_type", "gender"], how="left").with_columns(
            pl.col("numerator").fill_null(0), pl.col("denominator").fill_null(0))
        everyone = fine.group_by("catchment_id", "fy", "client_type").agg(
            pl.col("numerator").sum(), pl.col("denominator").sum()).with_columns(
            pl.lit("All").alias("dimension"), pl.lit("All").alias("group"))
        by_gender = fine.with_columns(pl.lit("Gender").alias("dimension"), pl.col("gender").alias("group")).drop(
            "gender")
        rows = pl.concat([everyone.select(by_gender.columns), by_gender])
        for measure, column in (("employed", "numerator"), ("total", "denominator")):
            parts.append(_cells(rows.select(
                pl.lit("outcomes").alias("table"), "catchment_id", "fy", "client_type", "dimension", "group",
                pl.lit(k).alias("interval"), pl.lit(measure).alias("measure"), pl.lit("").alias("site_id"),
                pl.col(column).cast(pl.Int64).alias("value"))))
    return pl.concat(parts) if parts else pl.DataFrame(schema=CELL_SCHEMA)


def _site_cells(frames: Frames, sites: pl.DataFrame) -> pl.DataFrame:
    def by_site(indicator: str) -> pl.DataFrame:
        t = compute(BY_ID[indicator], frames, by=["site_id"], grain="fiscal_year")
        return t.with_columns(pl.col("period").map_elements(_fy, return_dtype=pl.Int64).alias("fy")).select(
            "site_id", "fy", "numerator", "denominator")

    served = by_site("clients_served").select("site_id", "fy", pl.col("numerator").alias("num_assist"))
    three = by_site("outcome_3m_per_served").rename({"numerator": "emp3", "denominator": "due3"})
    exits = by_site("job_start_rate").rename({"numerator": "emp0", "denominator": "due0"})
    wide = (served.filter(pl.col("num_assist") > 0).join(three, on=["site_id", "fy"], how="left")
            .join(exits, on=["site_id", "fy"], how="left")
            .with_columns(pl.col("emp3", "due3", "emp0", "due0").fill_null(0))
            .join(sites.select("site_id", "catchment_id"), on="site_id", how="left"))
    zero = pl.lit(0.0)
    wide = wide.with_columns(
        pl.col("emp0").alias("out_exit_sum_emp"), zero.alias("out_exit_sum_te"),
        (pl.col("due0") - pl.col("emp0")).alias("out_exit_unemp"), zero.alias("out_exit_sum_oth"),
        zero.alias("out_exit_unkn"), (pl.col("num_assist") - pl.col("due0")).alias("out_exit_null"),
        pl.col("emp3").alias("out_3_sum_emp"), zero.alias("out_3_sum_te"),
        (pl.col("due3") - pl.col("emp3")).alias("out_3_unemp"), zero.alias("out_3_oth"), zero.alias("out_3_unkn"),
        (pl.col("num_assist") - pl.col("due3")).alias("out_3_null"))
    long = wide.unpivot(index=["site_id", "fy", "catchment_id"], on=SITE_HEADERS[6:], variable_name="measure",
                        value_name="value")
    interval = (pl.when(pl.col("measure").str.starts_with("out_exit")).then(pl.lit(0))
                .when(pl.col("measure").str.starts_with("out_3")).then(pl.lit(3)).otherwise(pl.lit(NO_INTERVAL)))
    return _cells(long.select(
        pl.lit("sites").alias("table"), "catchment_id", "fy", pl.lit("all").alias("client_type"),
        pl.lit("All").alias("dimension"), pl.lit("All").alias("group"), interval.alias("interval"), "measure",
        "site_id", pl.col("value").cast(pl.Int64)))


def relations(cells: pl.DataFrame) -> list[Relation]:
    """Every additive relation a reader of each release knows between its cells (``cells`` as
    :func:`release_cells` gives them: positions are row numbers)."""
    idx = cells.with_row_index("i").with_columns(pl.col("i").cast(pl.Int64))
    out: list[Relation] = []

    def positions(frame: pl.DataFrame, keys: list[str], where: pl.Expr) -> pl.DataFrame:
        return frame.filter(where).group_by(keys, maintain_order=True).agg(pl.col("i"), pl.col("value").sum())

    outcomes = idx.filter(pl.col("table") == "outcomes")
    # SA + Non-SA = All, for every group, interval and measure
    key = ["catchment_id", "fy", "dimension", "group", "interval", "measure"]
    whole = positions(outcomes, key, pl.col("client_type") == "all")
    parts = positions(outcomes, key, pl.col("client_type") != "all")
    for _, total, _, p, _ in _paired(whole, parts, key):
        out.append(Relation(tuple(total), tuple(p), True))
    # the gender groups make up the All row (equal when no client's gender is missing)
    key = ["catchment_id", "fy", "client_type", "interval", "measure"]
    whole = positions(outcomes, key, pl.col("dimension") == "All")
    parts = positions(outcomes, key, pl.col("dimension") == "Gender")
    for _, total, t_value, p, p_value in _paired(whole, parts, key):
        out.append(Relation(tuple(total), tuple(p), t_value == p_value))
    # the employed are among the clients counted
    key = ["catchment_id", "fy", "client_type", "dimension", "group", "interval"]
    whole = positions(outcomes, key, pl.col("measure") == "total")
    parts = positions(outcomes, key, pl.col("measure") == "employed")
    for _, total, _, p, _ in _paired(whole, parts, key):
        out.append(Relation(tuple(total), tuple(p), False))
    # intakes of SA clients are among their referrals
    key = ["catchment_id", "fy"]
    sa = pl.col("client_type") == "sa"
    whole = positions(idx, key, (pl.col("table") == "referrals") & sa)
    parts = positions(idx, key, (pl.col("table") == "intakes") & sa)
    for _, total, _, p, _ in _paired(whole, parts, key):
        out.append(Relation(tuple(total), tuple(p), False))
    # the six categories of a site's checkpoint add up to the clients assisted
    sites = idx.filter(pl.col("table") == "sites")
    assisted = {(s, y): i for s, y, i in sites.filter(pl.col("measure") == "num_assist")
                .select("site_id", "fy", "i").iter_rows()}
    for (site, fy, _), group in sites.filter(pl.col("interval") != NO_INTERVAL).group_by(
            "site_id", "fy", "interval", maintain_order=True):
        out.append(Relation((assisted[(site, fy)],), tuple(group["i"].to_list()), True))
    return out


def _paired(whole: pl.DataFrame, parts: pl.DataFrame, key: list[str]) -> Iterable[tuple[Any, ...]]:
    joined = whole.join(parts, on=key, suffix="_parts").with_columns(
        pl.concat_str([pl.col(k).cast(pl.String) for k in key], separator="|").alias("_key")).sort("_key")
    yield from joined.select("_key", "i", "value", "i_parts", "value_parts").iter_rows()


# -- suppression ------------------------------------------------------------------------------

def _single_hidden_pass(values: np.ndarray, state: np.ndarray, rels: list[Relation],
                        todo: Iterable[int] | None = None) -> None:
    """Hide (``x``) the smallest other published non-zero part of every equation with exactly one
    hidden cell (its total when no part is left), until no equation has one."""
    equations = [r for r in rels if r.equal]
    of_cell: dict[int, list[int]] = {}
    for k, r in enumerate(equations):
        for m in (*r.lhs, *r.rhs):
            of_cell.setdefault(m, []).append(k)
    queue = list(range(len(equations))) if todo is None else sorted(
        {k for c in todo for k in of_cell.get(c, [])})
    queued = set(queue)
    while queue:
        k = queue.pop()
        queued.discard(k)
        r = equations[k]
        members = (*r.lhs, *r.rhs)
        hidden = [m for m in members if state[m] != PUBLISHED]
        if len(hidden) != 1:
            continue
        h = hidden[0]
        same_side, other_side = (r.rhs, r.lhs) if h in r.rhs else (r.lhs, r.rhs)
        pick = _smallest(values, state, [m for m in same_side if m != h])
        if pick is None:
            pick = _smallest(values, state, list(other_side))
        if pick is None:  # cannot happen with true values: the hidden cell is not 0
            continue
        state[pick] = HIDDEN
        for j in of_cell.get(pick, []):
            if j not in queued:
                queue.append(j)
                queued.add(j)


def _smallest(values: np.ndarray, state: np.ndarray, cells: list[int]) -> int | None:
    open_ = [c for c in cells if state[c] == PUBLISHED and values[c] > 0]
    return min(open_, key=lambda c: (values[c], c)) if open_ else None


def attack(values: np.ndarray, state: np.ndarray, rels: list[Relation]) -> dict[int, tuple[float, float]]:
    """Each hidden cell's interval given the published cells and the relations (``<5`` cells in
    [1, 4], ``x`` cells at least 0): the disclosure attacker's linear programs."""
    hidden = np.flatnonzero(state != PUBLISHED)
    if hidden.size == 0 or not rels:
        return {}
    n = len(values)
    slack = {k: n + j for j, k in enumerate(k for k, r in enumerate(rels) if not r.equal)}
    terms: list[tuple[int, int, float]] = []
    for k, r in enumerate(rels):
        terms += [(k, m, 1.0) for m in r.lhs] + [(k, m, -1.0) for m in r.rhs]
        if k in slack:
            terms.append((k, slack[k], -1.0))
    rows, cols, coef = (list(t) for t in zip(*terms, strict=True))
    size = n + len(slack)
    a = sparse.csr_matrix((coef, (rows, cols)), shape=(len(rels), size))
    unknown = np.concatenate([state != PUBLISHED, np.ones(len(slack), dtype=bool)])
    shown = np.concatenate([np.where(state == PUBLISHED, values, 0).astype(float), np.zeros(len(slack))])
    small = np.concatenate([state == SMALL, np.zeros(len(slack), dtype=bool)])
    upper = np.where(small, float(SMALL_MAX), np.inf)
    lower = np.where(small, 1.0, 0.0)
    related = np.zeros(size, dtype=bool)
    related[np.unique(cols)] = True
    wanted = np.flatnonzero(related[:n] & (state != PUBLISHED))
    found = feasible_intervals(a, shown, unknown, cells=wanted, upper=upper, lower=lower)
    return {c: (iv.low, iv.high) for c, iv in found.items()}


def _widen(values: np.ndarray, state: np.ndarray, rels: list[Relation], cell: int) -> int | None:
    """One more hidden cell for a hidden ``cell`` the attacker pins: the smallest published part
    of one of its relations; where every part is hidden already, a ``<5`` total (else the cell
    itself) becomes ``x``, whose bounds are [0, its margin] instead of [1, 4] (four groups of
    ``<5`` under a total of ``<5`` would each be 1)."""
    for r in rels:
        pick = _smallest(values, state, [m for m in (*r.rhs, *r.lhs) if m != cell])
        if pick is not None:
            state[pick] = HIDDEN
            return pick
    for r in rels:
        small = [m for m in r.lhs if state[m] == SMALL]
        if small:
            state[small[0]] = HIDDEN
            return small[0]
    if state[cell] == SMALL:
        state[cell] = HIDDEN
        return cell
    for r in rels:
        small = [m for m in (*r.rhs, *r.lhs) if state[m] == SMALL]
        if small:
            pick = min(small, key=lambda c: (values[c], c))
            state[pick] = HIDDEN
            return pick
    return None


def suppress(values: np.ndarray, rels: list[Relation], max_rounds: int = 200) -> np.ndarray:
    """The state of every cell: primary ``<5``, then secondary ``x`` until every hidden cell's
    interval is at least one whole count wide."""
    values = np.asarray(values, dtype=np.int64)
    state = np.where((values >= 1) & (values <= SMALL_MAX), SMALL, PUBLISHED).astype(np.int8)
    _single_hidden_pass(values, state, rels)
    members: dict[int, list[Relation]] = {}
    for r in sorted(rels, key=lambda r: not r.equal):  # equations first
        for m in (*r.lhs, *r.rhs):
            members.setdefault(m, []).append(r)
    part = _parts(len(values), rels)
    checked = rels  # after the first round only the parts of the table that changed are attacked again
    before = state.copy()
    for _ in range(max_rounds):
        narrow = sorted(c for c, (low, high) in attack(values, state, checked).items() if high - low < 1 - 1e-6)
        if not narrow:
            return state
        added = [c for c in (_widen(values, state, members.get(c, []), c) for c in narrow) if c is not None]
        if not added:
            raise RuntimeError(f"cells {narrow[:5]} cannot be protected by hiding more of their relations")
        _single_hidden_pass(values, state, rels, todo=added)
        changed = set(part[np.flatnonzero(state != before)].tolist())
        before = state.copy()
        checked = [r for r in rels if part[r.lhs[0]] in changed]
    raise RuntimeError("secondary suppression did not settle")


def _parts(n: int, rels: list[Relation]) -> np.ndarray:
    """The independent part of the table each cell belongs to (cells linked by relations)."""
    from scipy.sparse.csgraph import connected_components

    if not rels:
        return np.arange(n)
    rows = [k for k, r in enumerate(rels) for _ in (*r.lhs, *r.rhs)]
    cols = [m for r in rels for m in (*r.lhs, *r.rhs)]
    incidence = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(rels), n))
    graph = sparse.bmat([[None, incidence], [incidence.T, None]]).tocsr()
    _, label = connected_components(graph, directed=False)
    return np.asarray(label[len(rels):])


# -- the expected 3-month outcome (planted truth) ----------------------------------------------

# The generator's distributions (esmonitor.synth.province.generate and _employment_spells): a
# change there must be made here too; tests/test_synth_releases.py checks the expectation
# against the realised outcomes.
LAG_SHAPE, LAG_SCALE, LAG_MIN = 1.6, 45.0, 7  # job start = plan start + ceil(gamma) + 7 days
LAG_DAYS = 900  # beyond: probability below 1e-8
JOB_DAYS = 330.0  # job length: ceil(exponential(330)) days
FULL_TIME, FULL_MEAN, FULL_SD, FULL_RANGE = 0.78, 32.0, 6.0, (20.0, 48.0)
PART_RANGE = (8.0, 19.5)
BELOW_MINIMUM, WAGE_LOG_MEAN, WAGE_LOG_SD = 0.04, 0.10, 0.14
SUBSIDISED, SUBSIDY_DAYS = 0.06, (60, 200)
SELF_EMPLOYED, SELF_INCOME = 0.03, (0.6, 1.6)
ACCEPTED_EVIDENCE = 0.85  # pay stub 0.60 + employer letter 0.25
SAME_EMPLOYER = 0.33  # of clients working at intake, return to that employer
EMPLOYER_PICK_EXPONENT = 0.7
STACKED, STACK_HOURS, STACK_START_DAYS = 0.05, (8, 15), 20
HOURS_THRESHOLD = 20.0
CHECKPOINT_MONTHS = 3

PRE_JOBS_SQL = """
    WITH plan AS (SELECT client_id, min(start_date) AS plan_start FROM action_plan GROUP BY client_id)
    SELECT plan.client_id, coalesce(c.hours_worked_at_intake, 0.0) AS hours_at_intake,
           min(e.job_end) AS pre_end, bool_or(e.spell_id IS NOT NULL AND e.job_end IS NULL) AS pre_open,
           min(e.employer_id) AS pre_employer, count(e.spell_id) AS pre_jobs
    FROM plan JOIN client c USING (client_id)
    LEFT JOIN employment e ON e.client_id = plan.client_id AND e.job_start < plan.plan_start
        AND e.employer_id IS NOT NULL
    GROUP BY plan.client_id, c.hours_worked_at_intake"""


def _hours_pmf() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The hours of a new job: a grid of half hours from 8 to 48 with the full-time, part-time and
    mixed probabilities; and the stacked job's whole hours (8 to 15) with theirs."""
    grid = np.arange(16, 97) / 2.0
    twice = np.arange(16, 97)  # full time: round(2 x normal) / 2, clipped to 20..48
    edges = stats.norm.cdf((twice + 0.5 - 2 * FULL_MEAN) / (2 * FULL_SD))
    full = np.diff(np.concatenate([[0.0], edges]))
    low, high = int(2 * FULL_RANGE[0]), int(2 * FULL_RANGE[1])
    full[twice == low] = edges[twice == low][0]
    full[twice == high] = 1.0 - edges[twice == high - 1][0]
    full[(twice < low) | (twice > high)] = 0.0
    width = 2 * (PART_RANGE[1] - PART_RANGE[0])  # part time: round(2 x uniform) / 2
    part = np.where((twice >= 2 * PART_RANGE[0]) & (twice <= 2 * PART_RANGE[1]), 1.0 / width, 0.0)
    part[(twice == 2 * PART_RANGE[0]) | (twice == 2 * PART_RANGE[1])] = 0.5 / width
    mixed = FULL_TIME * full + (1 - FULL_TIME) * part
    stack_hours = np.arange(STACK_HOURS[0], STACK_HOURS[1] + 1, dtype=float)  # round(uniform(8, 15))
    stack = np.full(stack_hours.size, 1.0 / (STACK_HOURS[1] - STACK_HOURS[0]))
    stack[[0, -1]] = 0.5 / (STACK_HOURS[1] - STACK_HOURS[0])
    return grid, full, part, mixed, np.vstack([stack_hours, stack])


def expected_outcomes(warehouse: Warehouse, frames: Frames, probability: pl.DataFrame) -> pl.DataFrame:
    """Per client served: ``p_employed`` (planted), ``p_outcome_3m`` its expected 3-month funded
    outcome (see the module docstring) at the engine's as-of date."""
    client = frames.get("client").select("client_id", "plan_start")
    pre = pl.from_arrow(warehouse.arrow(sqlglot.parse_one(PRE_JOBS_SQL, read="duckdb")))
    assert isinstance(pre, pl.DataFrame)
    n_employers = int(warehouse.scalar("SELECT count(*) FROM employer"))
    data = (client.join(probability, on="client_id", how="left").join(pre, on="client_id", how="left")
            .with_columns(pl.col("p_employed").fill_null(0.0)))
    as_of = np.datetime64(frames.as_of, "D").astype(np.int64)
    start = data["plan_start"].cast(pl.Int64).to_numpy()  # days since 1970-01-01

    # per job-start day j: the checkpoint, its minimum wage against the job's, the rules' chances
    first, last = int(start.min()) + LAG_MIN + 1, int(start.max()) + LAG_MIN + LAG_DAYS
    days = np.arange(first, last + 1)
    checkpoint = (pl.Series(days.astype("datetime64[D]")).dt.offset_by(f"{CHECKPOINT_MONTHS}mo")
                  .cast(pl.Int64).to_numpy())
    gap = (checkpoint - days).astype(float)
    valid = checkpoint <= as_of
    schedule = minimum_wage_schedule()
    effective = np.array([np.datetime64(w.effective_date, "D").astype(np.int64) for w in schedule])
    rates = np.array([w.cad_per_hour for w in schedule])

    def wage_at(d: np.ndarray) -> np.ndarray:
        return np.asarray(rates[np.clip(np.searchsorted(effective, d, side="right") - 1, 0, None)])

    mw_job, mw_check = wage_at(days), wage_at(checkpoint)
    ratio = (mw_check - 0.005) / mw_job
    above = np.where(ratio <= 1, 1.0, stats.norm.sf((np.log(np.maximum(ratio, 1.0)) - WAGE_LOG_MEAN) / WAGE_LOG_SD))
    wage_ok = (1 - BELOW_MINIMUM) * above
    active = np.exp(-(gap - 1) / JOB_DAYS)
    span = SUBSIDY_DAYS[1] - SUBSIDY_DAYS[0]
    subsidy_ok = (1 - SUBSIDISED) + SUBSIDISED * np.clip(gap - SUBSIDY_DAYS[0], 0, span) / span
    u = np.arange(STACK_START_DAYS)
    stack_active = np.exp(-(gap[:, None] - u - 1) / JOB_DAYS).mean(axis=1)
    stack_subsidy = (1 - SUBSIDISED) + SUBSIDISED * (
        np.clip(gap[:, None] - u - SUBSIDY_DAYS[0], 0, span) / span).mean(axis=1)
    grid, full, part, mixed, stack = _hours_pmf()
    lo, hi = SELF_INCOME
    threshold = (4 * HOURS_THRESHOLD * mw_check - 0.005) / (4 * mw_job)  # hours x U must reach this
    income_ok = np.clip((hi - threshold[:, None] / grid[None, :]) / (hi - lo), 0.0, 1.0)  # (days, hours)
    both = part[:, None] * stack[1][None, :]
    part_stack = float(both[(grid[:, None] + stack[0][None, :]) >= HOURS_THRESHOLD].sum())

    base = np.where(valid, active, 0.0)
    employed_ok = (1 - SELF_EMPLOYED) * wage_ok * subsidy_ok * ACCEPTED_EVIDENCE  # a job one could count
    b_main = base * employed_ok
    b_self = base * SELF_EMPLOYED * ACCEPTED_EVIDENCE * (income_ok @ mixed)
    b_stack = base * STACKED * stack_active * employed_ok * (wage_ok * stack_subsidy * ACCEPTED_EVIDENCE)
    g_none = FULL_TIME * b_main + b_self + (1 - FULL_TIME) * part_stack * b_stack

    lags = np.arange(LAG_MIN + 1, LAG_MIN + 1 + LAG_DAYS)
    cdf = stats.gamma.cdf(lags - LAG_MIN, LAG_SHAPE, scale=LAG_SCALE)
    pmf = np.diff(np.concatenate([[0.0], cdf]))

    def at(s: np.ndarray) -> np.ndarray:  # (clients, lags) positions into the day axis
        return np.asarray(s[:, None] + lags[None, :] - first)

    outcome = np.zeros(data.height)
    unique, inverse = np.unique(start, return_inverse=True)
    outcome[:] = (g_none[at(unique)] @ pmf)[inverse]

    # clients with a job of 20+ hours at intake still held then: its employer does not count, and
    # while it lasts it is the primary job when it has at least the new job's hours
    hours = data["hours_at_intake"].fill_null(0.0).to_numpy()
    pre_end = data["pre_end"].cast(pl.Int64).fill_null(np.iinfo(np.int64).max).to_numpy()
    pre_open = data["pre_open"].fill_null(False).to_numpy()
    pre_end = np.where(pre_open, np.iinfo(np.int64).max, pre_end)
    working = (hours >= HOURS_THRESHOLD) & (data["pre_jobs"].fill_null(0).to_numpy() > 0) & (pre_end >= start)
    if working.any():
        weights = 1.0 / np.arange(1, n_employers + 1) ** EMPLOYER_PICK_EXPONENT
        weights /= weights.sum()
        employer = data["pre_employer"].to_list()
        pick = np.array([weights[int(e[3:])] if working[i] and e else 0.0 for i, e in enumerate(employer)])
        others = np.flatnonzero(working)
        full_above = np.array([full[grid > h].sum() for h in range(0, 49)])
        self_above = np.stack([income_ok[:, grid > h] @ mixed[grid > h] for h in range(0, 49)])  # (hours, days)
        for chunk in np.array_split(others, max(1, len(others) // 2000)):
            pos = at(start[chunk])
            held = checkpoint[pos] <= pre_end[chunk][:, None]  # the job held at intake still runs
            h = np.clip(np.round(hours[chunk]).astype(int), 0, 48)
            eps_main = 1 - (SAME_EMPLOYER + (1 - SAME_EMPLOYER) * pick[chunk])
            eps_stack = 1 - pick[chunk]
            main = FULL_TIME * b_main[pos] * np.where(held, full_above[h][:, None], 1.0)
            own = np.where(held, base[pos] * SELF_EMPLOYED * ACCEPTED_EVIDENCE * self_above[h[:, None], pos],
                           b_self[pos])
            stacked = b_stack[pos] * ((1 - FULL_TIME) * part_stack
                                      + np.where(held, FULL_TIME * (1 - full_above[h])[:, None], 0.0))
            g = eps_main[:, None] * main + own + (eps_main * eps_stack)[:, None] * stacked
            outcome[chunk] = g @ pmf
    p = data["p_employed"].to_numpy()
    return data.select("client_id").with_columns(pl.Series("p_employed", p), pl.Series("p_outcome_3m", p * outcome))


def planted_gap(frames: Frames, expected: pl.DataFrame) -> list[dict[str, Any]]:
    """Per catchment and fiscal year: the expected 3-month outcome rate of SA and Non-SA clients in
    the denominator of outcome_3m_per_served, and Non-SA minus SA."""
    clients = (frames.get("client").filter(pl.col("mature_3m"))
               .with_columns(_client_type().alias("client_type"),
                             pl.when(pl.col("plan_start").dt.month() >= 4).then(pl.col("plan_start").dt.year())
                             .otherwise(pl.col("plan_start").dt.year() - 1).alias("fy"))
               .filter(pl.col("client_type").is_not_null())
               .join(expected, on="client_id", how="left"))
    cells = clients.group_by("catchment_id", "fy", "client_type").agg(
        pl.len().alias("n"), pl.col("p_outcome_3m").mean().alias("rate"),
        pl.col("achieved_3m").sum().alias("achieved"))
    wide = cells.pivot(on="client_type", index=["catchment_id", "fy"], values=["n", "rate", "achieved"])
    out = []
    for row in wide.sort("fy", "catchment_id").iter_rows(named=True):
        sa, other = row.get("rate_sa"), row.get("rate_non_sa")
        out.append({"catchment_id": row["catchment_id"], "fiscal_year": _fy_label(row["fy"]),
                    "clients_sa": int(row.get("n_sa") or 0), "clients_non_sa": int(row.get("n_non_sa") or 0),
                    "expected_rate_sa": _round(sa), "expected_rate_non_sa": _round(other),
                    "gap": _round(other - sa) if sa is not None and other is not None else None,
                    "achieved_sa": int(row.get("achieved_sa") or 0),
                    "achieved_non_sa": int(row.get("achieved_non_sa") or 0)})
    return out


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 6)


# -- writing ----------------------------------------------------------------------------------

def _fy_label(fy: int, long: bool = False) -> str:
    return f"{fy}-{fy + 1}" if long else f"FY{fy}-{(fy + 1) % 100:02d}"


def _foi_year(fy: int) -> str:
    return f"{fy}-{(fy + 1) % 100:02d}"


def _shown(value: int, state: int) -> str:
    if state == SMALL:
        return "<5"
    if state == HIDDEN:
        return "x"
    return f"{value:,}"


def _csv(rows: list[list[str]], encoding: str) -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


Number = tuple[int, int]  # a count and its state
Row = list[str | Number]


def _text(v: str | Number) -> str:
    return _shown(*v) if isinstance(v, tuple) else v


def _foi_rows(cells: pl.DataFrame, sheet: str, names: dict[str, str]) -> list[Row]:
    """The data rows of one FOI sheet: text for the labels, (value, state) for the numbers."""
    order = {"sa": 0, "non_sa": 1, "all": 2}
    if sheet == "Employment Outcomes":
        part = cells.filter(pl.col("table") == "outcomes")
        wide = part.pivot(on="measure", index=["catchment_id", "fy", "client_type", "dimension", "group", "interval"],
                          values=["value", "state"])
        wide = wide.with_columns(pl.col("client_type").replace_strict(order, return_dtype=pl.Int64).alias("_t"),
                                 (pl.col("dimension") != "All").alias("_d"),
                                 pl.col("catchment_id").replace_strict(_CATCHMENT_ORDER, return_dtype=pl.Int64)
                                 .alias("_c")).sort("fy", "_c", "_t", "_d", "group", "interval")
        return [[names[r["catchment_id"]], _foi_year(r["fy"]), CLIENT_TYPES[r["client_type"]], r["dimension"],
                 r["group"], INTERVAL_LABEL[r["interval"]], (r["value_employed"], r["state_employed"]),
                 (r["value_total"], r["state_total"])] for r in wide.iter_rows(named=True)]
    table = "referrals" if sheet == "Referrals" else "intakes"
    part = cells.filter(pl.col("table") == table).with_columns(
        pl.col("client_type").replace_strict(order, return_dtype=pl.Int64).alias("_t"),
        pl.col("catchment_id").replace_strict(_CATCHMENT_ORDER, return_dtype=pl.Int64).alias("_c")).sort(
        "fy", "_c", "_t")
    return [[names[r["catchment_id"]], _foi_year(r["fy"]), CLIENT_TYPES[r["client_type"]], (r["value"], r["state"])]
            for r in part.iter_rows(named=True)]


_CATCHMENT_ORDER = {c.catchment_id: i for i, c in enumerate(catchments())}


def _notes(config: dict[str, Any] | None, as_of: date) -> list[str]:
    origin = (f" (esmonitor synth, seed {config['seed']}, {config['clients']:,} clients)" if config else "")
    return [
        "Integrated Employment Services: referrals, intakes and employment outcomes, by catchment area",
        "SYNTHETIC DATA: every number below is made from a synthetic province" + origin
        + "; no real client is counted. Données synthétiques : aucun client réel n'est compté.",
        "Released under the Freedom of Information and Protection of Privacy Act (FIPPA).",
        f"Data as of {as_of.isoformat()}. Fiscal years run from April 1 to March 31.",
        "Counts from 1 to 4 are shown as <5. x marks a cell hidden so that a suppressed cell cannot be "
        "derived from the others (by subtraction from a total). A zero is shown as 0.",
        "SA: clients receiving Ontario Works or ODSP. Referrals: referrals of SA clients that were resolved "
        "(an intake, or declined, or not attended); pending referrals are not counted.",
        "Employment Outcomes: clients served (first employment action plan begun in the fiscal year) with an "
        "achieved funded outcome at 1, 3, 6 and 12 months (Employed), over those whose plan began long enough "
        "before the as-of date for the checkpoint to be due (Total).",
    ]


def _write_workbook(path: Path, cells: pl.DataFrame, names: dict[str, str], notes: list[str]) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    bold = book.add_format({"bold": True})
    count = book.add_format({"num_format": "#,##0"})
    right = book.add_format({"align": "right"})
    sheet = book.add_worksheet("Notes")
    for i, line in enumerate(notes):
        sheet.write_string(i, 0, line, bold if i == 0 else None)
    for name, headers in FOI_HEADERS.items():
        ws = book.add_worksheet(name)
        ws.write_string(0, 0, FOI_TITLES[name], bold)
        for j, h in enumerate(headers):
            ws.write_string(2, j, h, bold)
        for i, row in enumerate(_foi_rows(cells, name, names), start=3):
            for j, v in enumerate(row):
                if isinstance(v, tuple):
                    value, state = v
                    if state == PUBLISHED:
                        ws.write_number(i, j, int(value), count)
                    else:
                        ws.write_string(i, j, _shown(value, state), right)
                else:
                    ws.write_string(i, j, str(v))
    book.close()


def _foi_csv(cells: pl.DataFrame, sheet: str, names: dict[str, str]) -> bytes:
    rows = [[_text(v) for v in row] for row in _foi_rows(cells, sheet, names)]
    return _csv([FOI_HEADERS[sheet], *rows], "cp1252")


def _referrals_intakes_csv(cells: pl.DataFrame, names: dict[str, str]) -> bytes:
    """Referrals and Intakes side by side, one row per catchment, year and client type (no
    referral count for Non-SA clients: left empty, as the FOI table gives none)."""
    referrals = {(r[0], r[1]): _text(r[3]) for r in _foi_rows(cells, "Referrals", names)}
    rows = [[*[_text(v) for v in r[:3]], referrals.get((r[0], r[1]), "") if r[2] == "SA" else "", _text(r[3])]
            for r in _foi_rows(cells, "Intakes", names)]
    return _csv([[*FOI_HEADERS["Intakes"][:3], "Referrals", "Intakes"], *rows], "cp1252")


def _sites_csv(cells: pl.DataFrame, sites: pl.DataFrame, regions: dict[str, str]) -> bytes:
    part = cells.filter(pl.col("table") == "sites")
    wide = part.pivot(on="measure", index=["site_id", "fy", "catchment_id"], values=["value", "state"])
    wide = wide.join(sites.select("site_id", "name", "organisation_type"), on="site_id", how="left").with_columns(
        pl.col("catchment_id").replace_strict(regions).alias("_region")).sort("fy", "_region", "site_id")
    rows = []
    for r in wide.iter_rows(named=True):
        rows.append([r["_region"], _fy_label(r["fy"], long=True), "ES", r["site_id"], r["name"] or "",
                     SECTOR.get(r["organisation_type"] or "", r["organisation_type"] or "")]
                    + [_shown(r[f"value_{m}"], r[f"state_{m}"]) for m in SITE_HEADERS[6:]])
    return _csv([SITE_HEADERS, *rows], "utf-8")


def _records(cells: pl.DataFrame, table: str) -> list[dict[str, Any]]:
    part = cells.filter(pl.col("table") == table)
    if table == "outcomes":
        wide = part.pivot(on="measure", index=["catchment_id", "fy", "client_type", "dimension", "group", "interval"],
                          values="value")
        return [{"catchment_id": r["catchment_id"], "fiscal_year": _fy_label(r["fy"]), "client_type": r["client_type"],
                 "dimension": r["dimension"], "group": r["group"], "interval_months": r["interval"],
                 "employed": r["employed"], "total": r["total"]}
                for r in wide.sort("fy", "catchment_id", "client_type", "dimension", "group", "interval")
                .iter_rows(named=True)]
    if table == "sites":
        wide = part.pivot(on="measure", index=["site_id", "fy", "catchment_id"], values="value")
        return [{"site_id": r["site_id"], "catchment_id": r["catchment_id"], "fiscal_year": _fy_label(r["fy"]),
                 **{m: r[m] for m in SITE_HEADERS[6:]}} for r in wide.sort("fy", "site_id").iter_rows(named=True)]
    return [{"catchment_id": r["catchment_id"], "fiscal_year": _fy_label(r["fy"]), "client_type": r["client_type"],
             "value": r["value"]} for r in part.sort("fy", "catchment_id", "client_type").iter_rows(named=True)]


def release_cells(warehouse: Warehouse,
                  frames: Frames | None = None) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """Every cell of both releases, unsuppressed (table, keys, value), the sites, and the referral check."""
    frames = frames or frames_from(warehouse, needed=["referral", "client"])
    ids = [c.catchment_id for c in catchments()]
    sites = pl.from_arrow(warehouse.arrow(sqlglot.parse_one(
        "SELECT s.site_id, s.name, p.catchment_id, p.organisation_type FROM site s JOIN provider p USING "
        "(provider_id) ORDER BY s.site_id", read="duckdb")))
    assert isinstance(sites, pl.DataFrame)
    genders = sorted(frames.get("client")["gender"].drop_nulls().unique().to_list())
    referral, check = _referral_cells(frames, ids)
    cells = pl.concat([referral, _outcome_cells(frames, ids, genders), _site_cells(frames, sites)])
    return cells.sort(list(CELL_SCHEMA)[:-1]), sites, check


MAPPING = "column_map.toml"
_RELEASE_TITLES = {WORKBOOK: "FOI workbook", REFERRALS_INTAKES_CSV: "FOI CSV copy, referrals and intakes",
                   OUTCOMES_CSV: "FOI CSV copy, employment outcomes", SITES_CSV: "ES client outcomes by site"}


def release_mapping() -> str:
    """The ``[[file]]`` entries that register the synthetic releases as what they are (ingest
    reads them from the folder's ``column_map.toml``): without them a synthetic workbook would be
    cited as the government's."""
    entries = []
    for name in FILES:
        kind = "es_outcomes" if name == SITES_CSV else "foi_workbook"
        stem = name.rsplit(".", 1)[0]
        entries.append(f"""[[file]]
match = "{name}"
source_kind = "{kind}"

[file.release]
id = "{kind}:{stem}"
title = "SYNTHETIC {_RELEASE_TITLES[name]} (made by esmonitor synth; describes no real person or place)"
publisher = "esmonitor synth (synthetic data, not a real release)"
licence = "synthetic test data"
reference = "not published anywhere: written by esmonitor synth"
""")
    return ("# Release register entries of the synthetic published tables (see docs/published-data.md)\n\n"
            + "\n".join(entries))


def write_releases(warehouse: Warehouse, out_dir: Path, province: Province | None = None) -> dict[str, Any]:
    """Write the releases of the record-level ``warehouse`` into ``out_dir`` (see the module
    docstring); returns what was written, the exact counts, the suppression and, given the
    ``province`` the warehouse was loaded from, the planted 3-month SA gap."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = frames_from(warehouse, needed=["referral", "client"])
    cells, sites, check = release_cells(warehouse, frames)
    values = cells["value"].to_numpy()
    rels = relations(cells)
    state = suppress(values, rels)
    cells = cells.with_columns(pl.Series("state", state, dtype=pl.Int8))
    foi_names = {c.catchment_id: FOI_PLACE.get(c.catchment_id, c.name_en.replace("–", "-")) for c in catchments()}
    regions = {c.catchment_id: c.name_en.replace("–", "-") for c in catchments()}
    config = ({"seed": province.config.seed, "clients": province.config.clients} if province is not None else None)
    _write_workbook(out_dir / WORKBOOK, cells, foi_names, _notes(config, frames.as_of))
    (out_dir / REFERRALS_INTAKES_CSV).write_bytes(_referrals_intakes_csv(cells, foi_names))
    (out_dir / OUTCOMES_CSV).write_bytes(_foi_csv(cells, "Employment Outcomes", foi_names))
    (out_dir / SITES_CSV).write_bytes(_sites_csv(cells, sites, regions))
    (out_dir / MAPPING).write_text(release_mapping(), "utf-8")

    missing = int(frames.get("client")["social_assistance"].is_null().sum())
    result: dict[str, Any] = {
        "generator": "esmonitor synth",
        "config": config or {},
        "folder": out_dir.name,
        "files": {name: ("foi_workbook" if name != SITES_CSV else "es_outcomes") for name in FILES},
        "mapping_file": MAPPING,
        "as_of": frames.as_of.isoformat(),
        "definitions": {
            "referrals": "denominator of referral_to_intake (resolved referrals), SA clients, by catchment of "
                         "the referral's site and fiscal year of the referral",
            "intakes": "numerator of referral_to_intake, SA and Non-SA clients",
            "employed_k": "numerator of outcome_{k}m_per_served; total_k: its denominator; catchment of the "
                          "first plan's site, fiscal year of its start",
            "num_assist": "numerator of clients_served by site_id",
            "out_3": "sum_emp = outcome_3m_per_served numerator, unemp = its denominator - numerator, "
                     "null = num_assist - denominator; te, oth, unkn = 0",
            "out_exit": "sum_emp = job_start_rate numerator, unemp = its denominator - numerator, "
                        "null = num_assist - denominator; te, oth, unkn = 0",
            "client_type": "sa: social_assistance ow or odsp; non_sa: none; all: sa + non_sa",
        },
        "referral_check": check,
        "clients_without_social_assistance_status": missing,
        "suppression": {
            "cells": len(values), "shown_under_5": int((state == SMALL).sum()), "shown_x": int((state == HIDDEN).sum()),
            "x_of_counts_1_to_4": int(((state == HIDDEN) & (values >= 1) & (values <= SMALL_MAX)).sum()),
            "relations": len(rels),
            "by_table": {t: {"cells": int(n), "shown_under_5": int(p), "shown_x": int(x)} for t, n, p, x in
                         cells.group_by("table").agg(pl.len(), (pl.col("state") == SMALL).sum().alias("small"),
                                                     (pl.col("state") == HIDDEN).sum().alias("x"))
                         .sort("table").iter_rows()},
        },
        "counts": {t: _records(cells, t) for t in ("referrals", "intakes", "outcomes", "sites")},
        "planted_gap_3m": None,
    }
    if province is not None and province.employment_probability is not None:
        expected = expected_outcomes(warehouse, frames, province.employment_probability)
        result["planted_gap_3m"] = planted_gap(frames, expected)
        result["planted_log_odds_gap"] = province.truth.social_assistance_gap
    (out_dir / MANIFEST).write_text(json.dumps(result, indent=1, ensure_ascii=False), "utf-8")
    return result
