"""Did the move to IES change outcomes? The phased rollout on the warehouse.

The panel: one row per catchment (or provider) and quarter, the outcome being any proportion or
mean indicator of the catalogue (default: the job-start rate of clients served, by the quarter
their action plan began), computed by the indicator engine. Each catchment's treatment date is
its IES start (reference data); the year of transition before it is treated as anticipation,
so comparisons start from the last quarter before the transition began. Regional unemployment
(Labour Force Survey, the quarter's mean for the catchment's economic region) is a covariate.

Reported:
- Callaway–Sant'Anna group-time effects with not-yet-treated catchments as controls (every
  catchment adopts IES eventually), weighted by the catchment's number of people, their four
  aggregations and the pre-trend test; the dynamic aggregation is the event study;
- uncertainty from the outcomes, not from sampling catchments: the 15 catchments are all there
  are, and an influence-function standard error computed from 15 units (3 in a cohort, sometimes
  3 controls) is itself too noisy to trust (our coverage runs found its 95 % intervals covering
  the planted effect in about 70 % of provinces). Each catchment-quarter rate is an estimate
  from its people, so the event study's standard errors and simultaneous bands come from a
  parametric bootstrap of the cell rates (binomial for proportions, normal from the interval
  for means) through the same estimator; the influence-function figures are kept beside them;
- randomization inference for the dynamic aggregate: the adoption dates reassigned across
  catchments, which needs no large-sample theory at all;
- a static TWFE estimate, as the diagnostic most readers know (biased under staggered timing
  with changing effects; the Callaway–Sant'Anna figures are the ones to read);
- a synthetic control for each prototype catchment: the transition start as treatment time, the
  catchments that had not begun their own transition as donors, until the first of them did.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
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
from esmonitor.evaluation.synthetic_control import SyntheticControl, synthetic_control
from esmonitor.evaluation.twfe import TwfeResult, twfe
from esmonitor.indicators.catalogue import CATALOGUE
from esmonitor.indicators.engine import Frames, compute
from esmonitor.indicators.stats import Z95
from esmonitor.model import reference
from esmonitor.warehouse import Warehouse

DEFAULT_INDICATOR = "job_start_rate"
LEVELS = {"catchment": "catchment_id", "provider": "provider_id"}
MIN_DENOMINATOR = 5


def quarter_index(d: date) -> int:
    """Quarters since year 0: 2021Q1 -> 8084. Differences are in quarters."""
    return d.year * 4 + (d.month - 1) // 3


def quarter_label(index: int) -> str:
    return f"{index // 4}Q{index % 4 + 1}"


def quarter_index_of_label(label: str) -> int:
    """The inverse of :func:`quarter_label`: 2021Q1 -> 8084."""
    return int(label[:4]) * 4 + int(label[5:]) - 1


@dataclass(frozen=True)
class RolloutEvaluation:
    indicator: str
    level: str
    panel: pl.DataFrame  # unit, catchment_id, period, t, value, denominator, unemployment, first_treated
    anticipation: int
    did: StaggeredDiD
    bootstrap: OutcomeBootstrap
    randomization: RandomizationTest | None
    twfe: TwfeResult
    synthetic_controls: dict[str, SyntheticControl]
    notes: tuple[str, ...] = field(default=())

    def pretrend(self) -> dict[str, Any] | None:
        """Parallel trends before the transition: the event-time effects before it, jointly zero."""
        test = self.bootstrap.pretrend(before=-self.anticipation)
        if test is None:
            return None
        statistic, p_value, periods = test
        return {"statistic": statistic, "p_value": p_value, "periods": periods,
                "method": "Hotelling T² on the bootstrap covariance of the pre-transition event-time effects"}

    def as_dict(self) -> dict[str, Any]:
        dyn = self.did.aggregate("dynamic")
        boot = self.bootstrap
        z = Z95
        overall = dyn.overall.att
        return {
            "indicator": self.indicator, "level": self.level, "time_unit": "quarter",
            "anticipation_quarters": self.anticipation,
            "units": self.panel["unit"].n_unique(), "periods": self.panel["t"].n_unique(),
            "panel_units": sorted(str(u) for u in self.panel["unit"].unique().to_list()),
            "panel_periods": sorted(str(p) for p in self.panel["period"].unique().to_list()),
            "first_period": quarter_label(int(self.panel["t"].min())),  # type: ignore[arg-type]
            "last_period": quarter_label(int(self.panel["t"].max())),  # type: ignore[arg-type]
            "effect": {"att": overall, "se": boot.overall_se,
                       "ci": [overall - z * boot.overall_se, overall + z * boot.overall_se],
                       "inference": f"parametric bootstrap of the cell outcomes ({boot.draws} draws)"},
            "event_study": [{"event_time": int(e.label or 0), "att": e.att, "se": boot.event_se.get(e.label or 0.0),
                             "band": [e.att - boot.sup_t * boot.event_se.get(e.label or 0.0, np.nan),
                                      e.att + boot.sup_t * boot.event_se.get(e.label or 0.0, np.nan)]}
                            for e in dyn.by],
            "band_critical_value": boot.sup_t,
            "pretrend": self.pretrend(),
            "did": self.did.as_dict(),
            "randomization": None if self.randomization is None else {
                "aggregation": self.randomization.aggregation, "p_value": self.randomization.p_value,
                "permutations": self.randomization.permutations},
            "twfe": self.twfe.as_dict(),
            "synthetic_controls": {
                unit: sc.as_dict() | {"treatment_period": quarter_label(int(sc.treatment_time)),
                                      "gaps": [{"period": quarter_label(int(t)), "gap": g} for t, g in sc.gaps]}
                for unit, sc in self.synthetic_controls.items()},
            "notes": list(self.notes),
        }


def unemployment_by_quarter(warehouse: Warehouse) -> pl.DataFrame:
    """Mean monthly unemployment rate per economic region and quarter."""
    table = pl.from_arrow(warehouse.arrow(
        "SELECT economic_region, month, unemployment_rate FROM labour_market_monthly "
        "WHERE unemployment_rate IS NOT NULL"))
    assert isinstance(table, pl.DataFrame)
    return (table.with_columns((pl.col("month").dt.year() * 4 + (pl.col("month").dt.month() - 1) // 3).alias("t"))
            .group_by("economic_region", "t").agg(pl.col("unemployment_rate").mean().alias("unemployment")))


def rollout_panel(frames: Frames, unemployment: pl.DataFrame, *, indicator: str = DEFAULT_INDICATOR,
                  level: str = "catchment", min_denominator: int = MIN_DENOMINATOR,
                  exclude: Collection[str] = ()) -> pl.DataFrame:
    """Balanced unit × quarter panel of one indicator with treatment dates and unemployment
    (without the units in ``exclude``)."""
    if level not in LEVELS:
        raise UserInputError(f"unknown level {level!r}", hint="use catchment or provider")
    by_id = {i.id: i for i in CATALOGUE}
    if indicator not in by_id:
        raise UserInputError(f"unknown indicator {indicator!r}", hint="see `esmonitor indicators --list`")
    ind = by_id[indicator]
    if ind.statistic not in ("proportion", "mean"):
        raise UserInputError(f"indicator {indicator!r} is a {ind.statistic}; the rollout needs a proportion or a "
                             "mean (a rate per person), e.g. job_start_rate or outcome_3m_per_served")
    column = LEVELS[level]
    by = [column] if level == "catchment" else [column, "catchment_id"]
    values = compute(ind, frames, by=by, grain="quarter")
    values = values.filter(pl.col("denominator") >= min_denominator)
    if values.is_empty():
        raise UserInputError(f"no {level} × quarter cell of {indicator!r} has {min_denominator}+ people")
    catchments = {c.catchment_id: c for c in reference.catchments()}
    if level == "provider":
        values = values.rename({column: "unit"})
    else:
        values = values.with_columns(pl.col(column).alias("unit"))
    if exclude:
        values = values.filter(~pl.col("unit").is_in(list(exclude)))
    values = values.with_columns(
        (pl.col("period").str.slice(0, 4).cast(pl.Int64) * 4 + pl.col("period").str.slice(5, 1).cast(pl.Int64) - 1)
        .alias("t"))
    info = pl.DataFrame({
        "catchment_id": list(catchments),
        "economic_region": [c.economic_region for c in catchments.values()],
        "first_treated": [quarter_index(c.ies_start) for c in catchments.values()],
        "transition_t": [quarter_index(c.transition_start) for c in catchments.values()],
        "phase": [c.phase for c in catchments.values()],
    })
    panel = (values.join(info, on="catchment_id", how="inner")
             .join(unemployment, on=["economic_region", "t"], how="left"))
    # Balance: keep the quarters at least 80 % of units have, then the units present in all of them
    # (at catchment level with enough data this keeps everything; providers come and go).
    panel = panel.filter(pl.col("unemployment").is_not_null())
    n_units = panel["unit"].n_unique()
    counts = panel.group_by("t").agg(pl.col("unit").n_unique().alias("k"))
    quarters = counts.filter(pl.col("k") >= 0.8 * n_units)["t"]
    panel = panel.filter(pl.col("t").is_in(quarters.implode()))
    complete = panel.group_by("unit").len().filter(pl.col("len") == quarters.len())["unit"]
    panel = panel.filter(pl.col("unit").is_in(complete.implode()))
    if panel["t"].n_unique() < 4 or panel["unit"].n_unique() < 3:
        raise UserInputError(f"too few {level}s ({panel['unit'].n_unique()}) with {min_denominator}+ people in "
                             f"{indicator!r} in the same quarters ({panel['t'].n_unique()})",
                             hint="use --level catchment or more data")
    return (panel.with_columns(pl.col("denominator").mean().over("unit").alias("weight"))
            .select("unit", "catchment_id", "phase", "period", "t", "value", "denominator", "ci_low", "ci_high",
                    "weight", "unemployment", "first_treated", "transition_t").sort("unit", "t"))


def evaluate_rollout(frames: Frames, unemployment: pl.DataFrame, *, indicator: str = DEFAULT_INDICATOR,
                     level: str = "catchment", method: str = "reg", draws: int = 99, permutations: int = 99,
                     seed: int = 20240101, synthetic: bool = True, exclude: Collection[str] = ()) -> RolloutEvaluation:
    panel = rollout_panel(frames, unemployment, indicator=indicator, level=level, exclude=exclude)
    anticipation = int((panel["first_treated"] - panel["transition_t"]).max())  # type: ignore[arg-type]
    notes: list[str] = []
    kw: dict[str, Any] = {"outcome": "value", "unit": "unit", "time": "t", "first_treated": "first_treated",
                          "covariates": ["unemployment"], "control_group": "not-yet-treated", "method": method,
                          "anticipation": anticipation, "weights": "weight"}
    did = callaway_santanna(panel, seed=seed, cluster="catchment_id" if level == "provider" else None, **kw)
    notes.extend(n for n in did.notes if "Anticipation only applies" not in n and "pre-test Wald" not in n)
    statistic = next(i.statistic for i in CATALOGUE if i.id == indicator)
    boot = outcome_bootstrap(panel, redraw=_redraw(statistic), draws=draws, seed=seed, **kw)
    randomization = None
    if permutations > 0:
        try:
            randomization = randomization_test(panel, permutations=permutations, seed=seed, **kw)
        except UserInputError as err:
            notes.append(f"randomization inference not available: {err}")
    treated = panel.with_columns((pl.col("t") >= pl.col("first_treated")).cast(pl.Int8).alias("ies"))
    static = twfe(treated, outcome="value", unit="unit", time="t", treated="ies", cluster="catchment_id")
    controls: dict[str, SyntheticControl] = {}
    if synthetic and level == "catchment":
        controls = _prototype_controls(panel, notes)
    return RolloutEvaluation(indicator, level, panel, anticipation, did, boot, randomization, static, controls,
                             tuple(notes))


def _redraw(statistic: str) -> Any:
    """New cell outcomes as the data could have come out: binomial for a proportion, normal with
    the cell's own standard error (from its 95 % interval) for a mean."""

    def proportion(rng: np.random.Generator, panel: pl.DataFrame) -> np.ndarray:
        n = panel["denominator"].to_numpy().astype(np.int64)
        return np.asarray(rng.binomial(n, np.clip(panel["value"].to_numpy(), 0.0, 1.0)) / n)

    def mean(rng: np.random.Generator, panel: pl.DataFrame) -> np.ndarray:
        se = ((panel["ci_high"] - panel["ci_low"]) / (2 * Z95)).fill_null(0.0).to_numpy()
        return np.asarray(panel["value"].to_numpy() + rng.normal(0.0, 1.0, panel.height) * se)

    return proportion if statistic == "proportion" else mean


def _prototype_controls(panel: pl.DataFrame, notes: list[str]) -> dict[str, SyntheticControl]:
    prototypes = panel.filter(pl.col("phase") == "prototype")["unit"].unique().sort().to_list()
    donors = panel.filter(pl.col("phase") != "prototype")
    if donors.is_empty():
        return {}
    horizon = int(donors["transition_t"].min())  # type: ignore[arg-type]
    out = {}
    for unit in prototypes:
        own = panel.filter(pl.col("unit") == unit)
        start = int(own["transition_t"][0])
        window = pl.concat([own, donors]).filter(pl.col("t") < horizon)
        try:
            out[unit] = synthetic_control(window, outcome="value", unit="unit", time="t", treated_unit=unit,
                                          treatment_time=start)
        except UserInputError as err:
            notes.append(f"synthetic control for {unit} not available: {err}")
    return out


def evaluate_rollout_on(warehouse: Warehouse, frames: Frames, **options: Any) -> RolloutEvaluation:
    return evaluate_rollout(frames, unemployment_by_quarter(warehouse), **options)
