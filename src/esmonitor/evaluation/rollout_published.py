"""The phased rollout from published tables: a catchment × fiscal-year panel.

What a monitor holds is one number per catchment and fiscal year (an FOI table) — no people,
no quarters. The panel takes one aggregate indicator (:mod:`esmonitor.indicators.published`)
from *one* kind of release, for one client type, the rows whose value the source publishes (a
cell left only bounded by suppression is not a point a regression can use: those are counted
and named). Treatment: a catchment is treated from its first fiscal year wholly under IES (its
go-live date is reference data; a go-live in January leaves three months of IES in that year);
the fiscal years from its transition start to then are the transition, set aside (anticipation),
so each cohort is compared from the last year before its transition began. Regional unemployment
(the Labour Force Survey's mean for the catchment's economic region over the fiscal year) is the
covariate when the warehouse has it.

Estimator and inference for 15 clusters: Callaway–Sant'Anna with not-yet-treated controls;
the interval from a parametric bootstrap of the published rates (each redrawn binomially from its
own count, the estimator rerun: the units are all the catchments there are, so what is uncertain
is each rate), randomization inference over the adoption dates (no large-sample theory), and, for
comparison, the multiplier (wild) bootstrap clustered by catchment, which with 3 treated and 3
control catchments in a cohort is known to be too narrow.

Refusals, with the reason, instead of a number that would mislead:
- the indicator comes from several kinds of release (the legacy ES client-outcomes files measure
  the pre-IES Employment Service; the IES FOI tables measure IES clients: not the same measure,
  and splicing them at go-live would put the change of definition into the effect);
- no cohort is observed before its transition began (a measure that only exists once IES does);
  the years from which a catchment was changing over without a full year under IES inside the
  published years are set aside, since it would otherwise serve as an untreated comparison;
- too few catchments or years.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from esmonitor.errors import UserInputError
from esmonitor.evaluation.staggered import (
    OutcomeBootstrap,
    RandomizationTest,
    StaggeredDiD,
    callaway_santanna,
    outcome_bootstrap,
    randomization_test,
)
from esmonitor.indicators.stats import Z95
from esmonitor.model import reference

DEFAULT_INDICATOR = "employed_3m_reported"


class RolloutRefused(UserInputError):
    """The published tables cannot answer the rollout question: ``rule`` names why (the report
    words it in each language from ``rule`` and ``params``)."""

    def __init__(self, rule: str, message: str, *, hint: str | None = None, **params: Any) -> None:
        super().__init__(message, hint=hint)
        self.rule = rule
        self.params = params

    def as_dict(self) -> dict[str, Any]:
        return {"refused": str(self), "hint": self.hint, "rule": self.rule, "params": self.params}


def first_full_fiscal_year(day: date) -> int:
    """The starting year of the first fiscal year wholly on or after ``day``."""
    start = reference.fiscal_year_start(day)
    return start if (day.month, day.day) == (4, 1) else start + 1


@dataclass(frozen=True)
class PublishedRollout:
    indicator: str
    source_kind: str
    releases: tuple[str, ...]
    client_type: str
    panel: pl.DataFrame
    anticipation: int
    did: StaggeredDiD
    bootstrap: OutcomeBootstrap
    randomization: RandomizationTest | None
    left_out: dict[str, str]
    notes: tuple[str, ...] = field(default=())
    left_out_rules: dict[str, dict[str, str]] = field(default_factory=dict)
    set_aside: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        dyn = self.did.aggregate("dynamic")
        overall = dyn.overall
        return {
            "indicator": self.indicator, "level": "catchment", "time_unit": "fiscal year",
            "source_kind": self.source_kind, "releases": list(self.releases), "client_type": self.client_type,
            "anticipation_years": self.anticipation, "units": self.panel["unit"].n_unique(),
            "periods": self.panel["t"].n_unique(),
            "first_period": _label(int(self.panel["t"].min())),  # type: ignore[arg-type]
            "last_period": _label(int(self.panel["t"].max())),  # type: ignore[arg-type]
            "effect": {"att": overall.att, "se": self.bootstrap.overall_se,
                       "ci": [overall.att - Z95 * self.bootstrap.overall_se,
                              overall.att + Z95 * self.bootstrap.overall_se],
                       "inference": f"parametric bootstrap of the published rates ({self.bootstrap.draws} draws)"},
            "wild_cluster_bootstrap": {"se": overall.se, "ci": list(overall.band),
                                       "inference": self.did.inference + ", clustered by catchment"},
            "event_study": [{"event_time": int(e.label or 0), "att": e.att,
                             "se": self.bootstrap.event_se.get(e.label or 0.0),
                             "band": [e.att - self.bootstrap.sup_t * self.bootstrap.event_se.get(e.label or 0.0, 0.0),
                                      e.att + self.bootstrap.sup_t * self.bootstrap.event_se.get(e.label or 0.0, 0.0)]}
                            for e in dyn.by],
            "randomization": None if self.randomization is None else {
                "aggregation": self.randomization.aggregation, "p_value": self.randomization.p_value,
                "permutations": self.randomization.permutations},
            "left_out": self.left_out, "left_out_rules": self.left_out_rules, "set_aside": self.set_aside,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Panel:
    """A catchment × fiscal-year panel and what was left out of it: ``left_out`` in words (English),
    ``rules`` the same as a rule and its values (for the report's languages), ``set_aside`` the
    years dropped at the end (after which fiscal year, because of which catchments)."""

    frame: pl.DataFrame
    left_out: dict[str, str]
    rules: dict[str, dict[str, str]]
    notes: list[str]
    kind: str
    anticipation: int
    set_aside: dict[str, Any]


def _label(start: int) -> str:
    return f"FY{start}-{(start + 1) % 100:02d}"


def unemployment_by_fiscal_year(monthly: pl.DataFrame) -> pl.DataFrame:
    """Mean monthly unemployment rate per economic region and fiscal year (``economic_region``,
    ``month``, ``unemployment_rate`` in)."""
    if monthly.is_empty():
        return pl.DataFrame(schema={"economic_region": pl.String, "t": pl.Int64, "unemployment": pl.Float64})
    m = pl.col("month")
    return (monthly.filter(pl.col("unemployment_rate").is_not_null())
            .with_columns(pl.when(m.dt.month() >= 4).then(m.dt.year()).otherwise(m.dt.year() - 1)
                          .cast(pl.Int64).alias("t"))
            .group_by("economic_region", "t").agg(pl.col("unemployment_rate").mean().alias("unemployment")))


def published_panel(indicators: pl.DataFrame, *, indicator: str = DEFAULT_INDICATOR, client_type: str = "all",
                    release: str | None = None, kinds: dict[str, str] | None = None,
                    unemployment: pl.DataFrame | None = None,
                    ) -> Panel:
    """The catchment × fiscal-year panel of one published indicator, with what was left out and why."""
    rows = indicators.filter((pl.col("indicator") == indicator) & (pl.col("client_type") == client_type)
                             & (pl.col("dimension") == "all") & (pl.col("group") == "all"))
    if release is not None:
        rows = rows.filter(pl.col("release") == release)
    if rows.is_empty():
        have = sorted(indicators.get_column("indicator").unique().to_list()) if indicators.height else []
        raise RolloutRefused("no_published", f"no published {indicator!r} for client type {client_type!r}"
                             + (f" in release {release!r}" if release else ""),
                             hint=f"indicators the published tables give: {', '.join(have) or 'none'}",
                             indicator=indicator, client_type=client_type)
    kinds = kinds or {}
    kind_of = rows.get_column("release").map_elements(lambda s: kinds.get(s, s.split(":")[0]), return_dtype=pl.String)
    found = sorted(set(kind_of.to_list()))
    if len(found) > 1:
        raise RolloutRefused(
            "kinds_differ",
            f"{indicator!r} comes from releases of different kinds ({', '.join(found)}): not the same measure",
            hint="the legacy ES client-outcomes files measure the pre-IES Employment Service and the IES FOI tables "
                 "measure IES clients; splicing them at go-live would make the change of definition look like an "
                 "effect. Choose one release with --release", indicator=indicator, kinds=found)
    notes: list[str] = []
    left_out: dict[str, str] = {}
    rules: dict[str, dict[str, str]] = {}
    set_aside: dict[str, Any] = {}
    bounded = rows.filter(pl.col("value").is_null())
    if bounded.height:
        notes.append(f"{bounded.height} catchment-years only bounded by the source's suppression, left out: "
                     + ", ".join(f"{c} {p}" for c, p in bounded.select("catchment_id", "period").iter_rows()))
    rows = rows.filter(pl.col("value").is_not_null() & (pl.col("denominator") > 0))
    if rows.select("catchment_id", "period").is_duplicated().any():
        raise RolloutRefused("releases_overlap", f"{indicator!r}: two releases give the same catchment and year",
                             hint="choose one with --release", indicator=indicator)
    catchments = reference.catchments()
    info = pl.DataFrame({
        "catchment_id": [c.catchment_id for c in catchments],
        "economic_region": [c.economic_region for c in catchments],
        "first_treated": [first_full_fiscal_year(c.ies_start) for c in catchments],
        "transition_t": [reference.fiscal_year_start(c.transition_start) for c in catchments],
        "phase": [c.phase for c in catchments],
    })
    panel = rows.with_columns(pl.col("period").str.slice(2, 4).cast(pl.Int64).alias("t"),
                              pl.col("catchment_id").alias("unit")).join(info, on="catchment_id", how="inner")
    notes.append("fiscal years are Ontario's (April to March); a catchment is treated from its first fiscal year "
                 "wholly under IES, and the years from its transition start to then are set aside")
    if unemployment is not None and unemployment.height:
        panel = panel.join(unemployment, on=["economic_region", "t"], how="left")
        missing = panel.filter(pl.col("unemployment").is_null())
        if missing.height:
            notes.append(f"{missing.height} catchment-years without a Labour Force Survey rate: left out")
            panel = panel.filter(pl.col("unemployment").is_not_null())
    years = sorted(panel.get_column("t").unique().to_list())
    if not years:
        raise RolloutRefused("no_published", f"no catchment-year of {indicator!r} with a published value",
                             indicator=indicator, client_type=client_type)
    # A catchment whose transition begins within the published years but whose first full IES year
    # lies beyond them would stand in as never treated while it is already changing over (the
    # estimator's anticipation applies only to the catchments it sees treated): the panel ends
    # before the first such transition.
    phases = panel.select("unit", "first_treated", "transition_t").unique()
    end = max(years)
    while phases.filter((pl.col("first_treated") > end) & (pl.col("transition_t") <= end)).height:
        end -= 1
    if end < max(years):
        changing = sorted(phases.filter((pl.col("first_treated") > max(years))
                                        & (pl.col("transition_t") <= max(years))).get_column("unit").to_list())
        notes.append(f"years after {_label(end)} set aside: {', '.join(changing)} began the transition to IES "
                     f"within the published years without a full year under IES in them, so they are no clean "
                     "comparison from then on")
        set_aside = {"after": _label(end), "units": changing}
        panel = panel.filter(pl.col("t") <= end)
        years = [y for y in years if y <= end]
        if not years:
            raise RolloutRefused("not_observed_before", f"no published year of {indicator!r} before the transition "
                                 "began", indicator=indicator)
    # balanced: the catchments present in every year kept
    complete = panel.group_by("unit").len().filter(pl.col("len") == len(years)).get_column("unit")
    for unit in sorted(set(panel.get_column("unit").to_list()) - set(complete.to_list())):
        left_out[unit] = "not published in every fiscal year of the panel"
        rules[unit] = {"rule": "not_every_year"}
    panel = panel.filter(pl.col("unit").is_in(complete.implode()))
    anticipation = max((int(g) - int(tr) for g, tr in panel.select("first_treated", "transition_t").iter_rows()),
                       default=0)
    first_year = min(years)
    for unit, g, transition in panel.select("unit", "first_treated", "transition_t").unique().iter_rows():
        if g <= max(years) and g - anticipation - 1 < first_year:
            left_out[unit] = (f"its transition began in {_label(transition)}; the year before it is not in the "
                              f"published years (from {_label(first_year)}): not observed before go-live")
            rules[unit] = {"rule": "not_observed_before", "transition": _label(transition), "first": _label(first_year)}
    panel = panel.filter(~pl.col("unit").is_in(list(left_out)))
    treated = panel.filter(pl.col("first_treated") <= max(years))
    hidden = sorted(u for u, r in rules.items() if r["rule"] == "not_every_year")
    if treated.is_empty() and hidden:
        raise RolloutRefused(
            "suppressed_years",
            f"{len(hidden)} catchment(s) are not published in every fiscal year of {indicator!r} (the source hid "
            "their counts in some years), and no catchment left is observed both before its IES transition and after "
            "its go-live", hint="a table with larger counts (all client types together, fewer breakdowns) hides fewer "
                                "cells", indicator=indicator, hidden=len(hidden))
    if treated.is_empty():
        raise RolloutRefused(
            "not_observed_before",
            f"no catchment is observed both before its IES transition and after its go-live in {indicator!r}",
            hint="the measure would have to be published for the years before each transition began, by the same "
                 "source and definition; an IES table that starts with IES cannot show what IES changed",
            indicator=indicator)
    if panel["unit"].n_unique() < 4 or len(years) < 3:
        raise RolloutRefused("too_few", f"too few catchments ({panel['unit'].n_unique()}) or fiscal years "
                             f"({len(years)}) for a rollout evaluation", units=panel["unit"].n_unique(),
                             years=len(years))
    return Panel(panel.with_columns(pl.col("denominator").mean().over("unit").alias("weight")).sort("unit", "t"),
                 left_out, rules, notes, found[0], anticipation, set_aside)


def evaluate_published_rollout(indicators: pl.DataFrame, *, indicator: str = DEFAULT_INDICATOR,
                               client_type: str = "all", release: str | None = None,
                               kinds: dict[str, str] | None = None, unemployment: pl.DataFrame | None = None,
                               draws: int = 999, permutations: int = 99, seed: int = 20240101) -> PublishedRollout:
    made = published_panel(indicators, indicator=indicator, client_type=client_type, release=release, kinds=kinds,
                           unemployment=unemployment)
    panel, notes, anticipation = made.frame, made.notes, made.anticipation
    cohorts = panel.select("unit", "first_treated").unique().get_column("first_treated").to_list()
    end = int(panel["t"].max())  # type: ignore[arg-type]
    compared = [(g, t) for g in set(cohorts) if g <= end for t in range(g, end + 1)
                if any(h > end or h > t + anticipation for h in cohorts if h != g)]
    if not compared:
        raise RolloutRefused(
            "no_comparison",
            f"no catchment treated within the published years of {indicator!r} has a comparison after its go-live",
            hint=f"a comparison must not yet be in its own transition (which lasts up to {anticipation} year(s)): "
                 "the published years end before any catchment that is still untreated could serve; a longer "
                 "series, or one that starts before the earlier transitions, would allow it",
            indicator=indicator, anticipation=anticipation)
    covariates = ["unemployment"] if "unemployment" in panel.columns else []
    # first_treated beyond the panel: not yet treated within it (the not-yet-treated controls)
    panel = panel.with_columns(pl.when(pl.col("first_treated") > end).then(0).otherwise(pl.col("first_treated"))
                               .alias("first_treated"))
    kw: dict[str, Any] = {"outcome": "value", "unit": "unit", "time": "t", "first_treated": "first_treated",
                          "covariates": covariates, "control_group": "not-yet-treated", "method": "reg",
                          "anticipation": anticipation, "weights": "weight"}
    did = callaway_santanna(panel, seed=seed, bootstrap=draws, band_draws=draws, **kw)
    notes.extend(n for n in did.notes if "Anticipation only applies" not in n)

    def redraw(rng: Any, frame: pl.DataFrame) -> Any:  # each published rate as its clients could have come out
        n = frame["denominator"].to_numpy().astype("int64")
        return rng.binomial(n, frame["value"].clip(0.0, 1.0).to_numpy()) / n

    boot = outcome_bootstrap(panel, redraw=redraw, draws=draws, seed=seed, **kw)
    randomization = None
    if permutations > 0:
        try:
            randomization = randomization_test(panel, permutations=permutations, seed=seed, **kw)
        except UserInputError as err:
            notes.append(f"randomization inference not available: {err}")
    releases = tuple(sorted(panel.get_column("release").unique().to_list()))
    return PublishedRollout(indicator, made.kind, releases, client_type, panel, anticipation, did, boot,
                            randomization, made.left_out, tuple(notes), made.rules, made.set_aside)
