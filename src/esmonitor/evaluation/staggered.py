"""Staggered difference-in-differences (Callaway and Sant'Anna 2021), via ``moderndid``.

``moderndid`` is a maintained Python port of the authors' R packages ``did`` and ``DRDID``; it
reproduces the published ``mpdta`` example (tests/test_staggered.py) and is the fastest Python
implementation we found (docs/performance.md). This module is the seam around it: it checks the
user's table and says what is wrong in one line, renames columns so any name works, balances the
panel, keeps the library's chatter out of the output, and returns one frozen result with the
group-time effects, the four aggregations, simultaneous bands and the pre-trend test.

Inference:
- standard errors are analytical (from the influence functions) unless ``bootstrap`` draws are
  asked for, in which case they come from the multiplier (wild) bootstrap, clustered by unit or by
  ``cluster``; simultaneous bands always come from that bootstrap (``band_draws`` draws, fixed seed);
- with few treated units or clusters (15 catchments), :func:`randomization_test` gives a p-value
  for the overall effect that does not rest on large-sample theory: it reassigns the observed
  adoption dates across units and recomputes the aggregate.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from esmonitor.errors import UserInputError
from esmonitor.evaluation.event_study import first_treated_column
from esmonitor.evaluation.panel import as_polars, require_columns, require_numeric

AGGREGATIONS = ("simple", "group", "dynamic", "calendar")
_CONTROL = {"never-treated": "nevertreated", "not-yet-treated": "notyettreated"}


@dataclass(frozen=True)
class GroupTime:
    group: float
    time: float
    att: float
    se: float


@dataclass(frozen=True)
class Effect:
    """One aggregated effect; ``label`` is the group, event time or calendar period it is for."""

    label: float | None
    att: float
    se: float
    band: tuple[float, float]  # simultaneous over the effects of one aggregation (pointwise for overall)


@dataclass(frozen=True)
class Aggregation:
    kind: str
    overall: Effect
    by: tuple[Effect, ...]


@dataclass(frozen=True)
class StaggeredDiD:
    att_gt: tuple[GroupTime, ...]
    aggregations: dict[str, Aggregation]
    pretrend_statistic: float | None
    pretrend_p_value: float | None
    n_units: int
    n_obs: int
    control_group: str
    method: str
    inference: str
    dropped_units: int = 0
    notes: tuple[str, ...] = field(default=())

    def aggregate(self, kind: str) -> Aggregation:
        return self.aggregations[kind]

    def as_dict(self) -> dict[str, Any]:
        def effect(e: Effect) -> dict[str, Any]:
            return {"att": e.att, "se": e.se, "ci": list(e.band)}

        aggregate: dict[str, Any] = {}
        for kind, agg in self.aggregations.items():
            entry = effect(agg.overall)
            key = {"group": "by_group", "dynamic": "by_event_time", "calendar": "by_time"}.get(kind)
            name = {"group": "group", "dynamic": "event_time", "calendar": "time"}.get(kind)
            if key and name:
                entry[key] = [{name: _number(e.label), "att": e.att, "se": e.se, "band": list(e.band)} for e in agg.by]
            aggregate[kind] = entry
        return {
            "att_gt": [{"group": _number(r.group), "time": _number(r.time), "att": r.att, "se": r.se}
                       for r in self.att_gt],
            "aggregate": aggregate,
            "pretrend": {"statistic": self.pretrend_statistic, "p_value": self.pretrend_p_value},
            "n_units": self.n_units,
            "n_obs": self.n_obs,
            "control_group": self.control_group,
            "method": self.method,
            "inference": self.inference,
            "dropped_units": self.dropped_units,
            "notes": list(self.notes),
        }


def _number(x: float | None) -> float | int | None:
    if x is None:
        return None
    return int(x) if float(x).is_integer() else float(x)


@dataclass(frozen=True)
class _Prepared:
    frame: pl.DataFrame  # columns y, t, id, g, x0.., cl
    covariates: tuple[str, ...]
    dropped_units: int


def _prepare(data: Any, outcome: str, unit: str, time: str, first_treated: str, covariates: tuple[str, ...],
             control_group: str, cluster: str | None, anticipation: int = 0,
             weights: str | None = None) -> _Prepared:
    if control_group not in _CONTROL:
        raise UserInputError(f"unknown control group {control_group!r}", hint="use never-treated or not-yet-treated")
    df = as_polars(data)
    roles = {"outcome": outcome, "unit": unit, "time": time, "first-treated": first_treated}
    roles |= {f"covariate {i + 1}": c for i, c in enumerate(covariates)}
    if cluster:
        roles["cluster"] = cluster
    if weights:
        roles["weights"] = weights
    require_columns(df, **{k.replace(" ", "_").replace("-", "_"): v for k, v in roles.items()})
    numeric = [(outcome, "outcome"), (time, "time"), *[(c, "covariate") for c in covariates]]
    for column, role in numeric + ([(weights, "weights")] if weights else []):
        df = require_numeric(df, column, role)
    if weights:
        if (df[weights] < 0).any():
            raise UserInputError(f"weights column {weights!r} has negative values")
        per_unit = df.group_by(unit).agg(pl.col(weights).n_unique().alias("n")).filter(pl.col("n") > 1)
        if per_unit.height:
            raise UserInputError(f"weights column {weights!r} varies within unit {per_unit[unit][0]!r}",
                                 hint="weights are per unit: one value for all of a unit's rows")
    df = first_treated_column(df, unit, first_treated)
    if df.select(pl.struct(unit, time).is_duplicated().any()).item():
        raise UserInputError(f"more than one row for some {unit} × {time}: "
                             "the data must have one row per unit and time")
    renamed = {outcome: "y", time: "t", unit: "id", first_treated: "g"} | {c: f"x{i}" for i, c in enumerate(covariates)}
    frame = df.select(
        *[pl.col(src).alias(dst) for src, dst in renamed.items()],
        pl.col(cluster or unit).cast(pl.String).alias("cl"),
        (pl.col(weights) if weights else pl.lit(1.0)).alias("w"),
    ).with_columns(pl.col("id").cast(pl.String).cast(pl.Categorical).to_physical().cast(pl.Int64))
    # A balanced panel: units missing a period are dropped (as the reference implementation does).
    periods = frame["t"].n_unique()
    complete = frame.group_by("id").len().filter(pl.col("len") == periods)["id"]
    dropped = frame["id"].n_unique() - complete.len()
    frame = frame.filter(pl.col("id").is_in(complete.implode()))
    first_period = float(frame["t"].cast(pl.Float64).to_numpy().min())
    groups = frame.filter(pl.col("g") > 0)["g"].unique()
    if groups.is_empty():
        raise UserInputError("no unit is ever treated: nothing to estimate")
    if groups.filter(groups > first_period + anticipation).is_empty():
        raise UserInputError(
            "too few pre-periods: every treated unit is already treated in the first period "
            f"({_number(first_period)})",
            hint="each adoption cohort needs at least one period before its first-treated period",
        )
    never = frame.filter(pl.col("g") == 0).height
    last = frame["t"].max()
    if control_group == "never-treated" and never == 0:
        raise UserInputError("no never-treated units (first-treated 0 or empty)",
                             hint="use --control-group not-yet-treated")
    if control_group == "not-yet-treated" and never == 0 and groups.filter(groups > last).is_empty() \
            and groups.n_unique() < 2:
        raise UserInputError("no never-treated or not-yet-treated units to compare with")
    return _Prepared(frame, tuple(f"x{i}" for i in range(len(covariates))), dropped)


@dataclass(frozen=True)
class _Bootstrapped:
    """Multiplier-bootstrap figures of one aggregation."""

    overall_se: float
    by_se: np.ndarray
    crit: float


def _fit(prep: _Prepared, control_group: str, method: str, bootstrap: int, band_draws: int, seed: int,
         alpha: float, aggregations: tuple[str, ...],
         anticipation: int) -> tuple[Any, dict[str, Any], dict[str, _Bootstrapped], list[str]]:
    import moderndid

    xformla = "~" + "+".join(prep.covariates) if prep.covariates else None
    notes: list[str] = []
    draws = bootstrap or band_draws
    clustered = prep.frame["cl"].n_unique() != prep.frame["id"].n_unique()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            mp = moderndid.att_gt(
                data=prep.frame, yname="y", tname="t", idname="id", gname="g", xformla=xformla, weightsname="w",
                est_method=method, control_group=_CONTROL[control_group], alp=alpha, anticipation=anticipation,
                boot=bool(bootstrap), cband=bool(bootstrap), biters=draws, random_state=seed,
                clustervars=["cl"] if clustered else None,
            )
            analytic = {kind: moderndid.aggte(mp, type=kind, boot=False, cband=False, alp=alpha)
                        for kind in aggregations}
            if clustered:  # the library's own clustered bootstrap, one aggregation at a time
                boot = {kind: _from_library(moderndid.aggte(mp, type=kind, boot=True, cband=True, biters=draws,
                                                            random_state=seed, alp=alpha))
                        for kind in aggregations}
            else:
                boot = _shared_bootstrap(analytic, int(mp.n_units), draws, seed, alpha)
        except (ValueError, np.linalg.LinAlgError) as err:
            raise UserInputError(f"Callaway–Sant'Anna estimation failed: {err}") from err
    for w in caught:
        text = str(w.message)
        if "bootstrap procedure" not in text and text not in notes:
            notes.append(text)
    return mp, analytic, boot, notes


def _from_library(agg: Any) -> _Bootstrapped:
    crit = float(np.asarray(agg.critical_values).ravel()[0]) if agg.critical_values is not None else float("nan")
    by = np.asarray(agg.se_by_event, dtype=float) if agg.se_by_event is not None else np.empty(0)
    return _Bootstrapped(float(agg.overall_se), by, crit)


def _shared_bootstrap(analytic: dict[str, Any], n_units: int, draws: int, seed: int,
                      alpha: float) -> dict[str, _Bootstrapped]:
    """One multiplier bootstrap (moderndid's ``mboot``, Mammen weights) over the influence functions
    of every aggregation at once, instead of three per aggregation: the same weights serve every
    column, and each aggregation's sup-t critical value is taken over its own columns, with the
    interquartile standard errors of the reference implementation."""
    from moderndid.did.mboot import mboot

    blocks: list[tuple[str, int, int]] = []  # (kind, first column, number of by-effect columns)
    columns: list[np.ndarray] = []
    for kind, agg in analytic.items():
        first = sum(c.shape[1] for c in columns)
        columns.append(np.asarray(agg.influence_func_overall, dtype=float).reshape(-1, 1))
        by = 0
        if agg.event_times is not None:
            matrix = np.asarray(agg.influence_func, dtype=float).reshape(n_units, -1)
            columns.append(matrix)
            by = matrix.shape[1]
        blocks.append((kind, first, by))
    result = mboot(np.hstack(columns), n_units, biters=draws, alp=alpha, random_state=seed)
    bres, se = np.asarray(result["bres"]), np.asarray(result["se"])
    out = {}
    for kind, first, by in blocks:
        cols = slice(first + 1, first + 1 + by)
        crit = float("nan")
        if by:
            scale = se[cols] * np.sqrt(n_units)  # the interquartile SE of the sqrt(n)-scaled draws
            with np.errstate(divide="ignore", invalid="ignore"):
                t_max = np.nanmax(np.abs(bres[:, cols] / scale), axis=1)
            t_max = t_max[np.isfinite(t_max)]
            if t_max.size:
                crit = float(np.percentile(t_max, 100 * (1 - alpha), method="inverted_cdf"))
        out[kind] = _Bootstrapped(float(se[first]), se[cols], crit)
    return out


def callaway_santanna(data: Any, *, outcome: str, unit: str, time: str, first_treated: str,
                      covariates: tuple[str, ...] | list[str] = (), control_group: str = "never-treated",
                      method: str = "dr", cluster: str | None = None, bootstrap: int = 0,
                      band_draws: int = 999, seed: int = 20240101, alpha: float = 0.05,
                      anticipation: int = 0, weights: str | None = None) -> StaggeredDiD:
    """Group-time average treatment effects ATT(g, t) and their simple, group, dynamic and calendar
    aggregations. ``first_treated`` is 0 or empty for never-treated units. Covariates enter the
    outcome regression and/or propensity score at the base period (``method``: dr, ipw or reg).
    ``anticipation``: periods before ``first_treated`` in which units may already react (a
    transition year); comparisons then start from the period before them. ``weights``: a per-unit
    weight column (e.g. the number of people behind a unit's rates); effects then average over
    units in proportion to it."""
    if anticipation < 0:
        raise UserInputError(f"anticipation must be 0 or more periods (got {anticipation})")
    if method not in ("dr", "ipw", "reg"):
        raise UserInputError(f"unknown method {method!r}", hint="use dr, ipw or reg")
    covariates = tuple(covariates)
    prep = _prepare(data, outcome, unit, time, first_treated, covariates, control_group, cluster, anticipation,
                    weights)
    mp, analytic, boot, notes = _fit(prep, control_group, method, bootstrap, band_draws, seed, alpha, AGGREGATIONS,
                                     anticipation)
    se_gt = np.asarray(mp.se_gt, dtype=float)
    att_gt = tuple(GroupTime(float(g), float(t), float(a), float(s))
                   for g, t, a, s in zip(mp.groups, mp.times, mp.att_gt, se_gt, strict=True))
    from scipy.stats import norm

    z = float(norm.ppf(1 - alpha / 2))
    aggregations = {}
    for kind in AGGREGATIONS:
        point, draws_ = analytic[kind], boot[kind]
        att0 = float(point.overall_att)
        overall_se = draws_.overall_se if bootstrap else float(point.overall_se)
        overall = Effect(None, att0, overall_se, (att0 - z * overall_se, att0 + z * overall_se))
        by: list[Effect] = []
        if point.event_times is not None:
            crit = draws_.crit if np.isfinite(draws_.crit) else z
            for i, (label, att, se) in enumerate(zip(point.event_times, point.att_by_event, point.se_by_event,
                                                     strict=True)):
                bse = float(draws_.by_se[i]) if i < len(draws_.by_se) else float("nan")
                shown = bse if bootstrap and np.isfinite(bse) else float(se)
                band_se = bse if np.isfinite(bse) else float(se)
                by.append(Effect(float(label), float(att), shown,
                                 (float(att) - crit * band_se, float(att) + crit * band_se)))
        aggregations[kind] = Aggregation(kind, overall, tuple(by))
    wald = None if mp.wald_stat is None or not np.isfinite(mp.wald_stat) else float(mp.wald_stat)
    wald_p = None if mp.wald_pvalue is None or not np.isfinite(mp.wald_pvalue) else float(mp.wald_pvalue)
    inference = f"multiplier bootstrap ({bootstrap} draws)" if bootstrap else "analytical"
    return StaggeredDiD(att_gt, aggregations, wald, wald_p, int(mp.n_units), prep.frame.height, control_group,
                        method, inference, prep.dropped_units, tuple(notes))


def _aggregate_only(prep: _Prepared, method: str, control_group: str, anticipation: int, aggregation: str) -> Any:
    """Point estimates of one aggregation (no inference): the inner loop of the resampling methods."""
    import moderndid

    xformla = "~" + "+".join(prep.covariates) if prep.covariates else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mp = moderndid.att_gt(data=prep.frame, yname="y", tname="t", idname="id", gname="g", xformla=xformla,
                              weightsname="w", est_method=method, control_group=_CONTROL[control_group],
                              boot=False, cband=False, anticipation=anticipation)
        return moderndid.aggte(mp, type=aggregation, boot=False, cband=False)


@dataclass(frozen=True)
class RandomizationTest:
    aggregation: str
    observed: float
    p_value: float
    permutations: int


def randomization_test(data: Any, *, outcome: str, unit: str, time: str, first_treated: str,
                       covariates: tuple[str, ...] | list[str] = (), control_group: str = "never-treated",
                       method: str = "dr", aggregation: str = "dynamic", permutations: int = 199,
                       seed: int = 20240101, anticipation: int = 0, weights: str | None = None) -> RandomizationTest:
    """Randomization inference for the overall effect of one aggregation: the observed adoption dates
    are reassigned at random across units ``permutations`` times; the p-value is the share of
    reassignments whose |effect| is at least the observed one (counting the observed assignment)."""
    if aggregation not in AGGREGATIONS:
        raise UserInputError(f"unknown aggregation {aggregation!r}", hint=f"use one of {', '.join(AGGREGATIONS)}")
    prep = _prepare(data, outcome, unit, time, first_treated, tuple(covariates), control_group, None, anticipation,
                    weights)
    frame = prep.frame
    observed = float(_aggregate_only(prep, method, control_group, anticipation, aggregation).overall_att)
    units = frame.group_by("id").agg(pl.col("g").first()).sort("id")
    rng = np.random.default_rng(seed)
    extreme = 0
    done = 0
    for _ in range(permutations):
        shuffled = units.with_columns(pl.Series("g", rng.permutation(units["g"].to_numpy())))
        f = frame.drop("g").join(shuffled, on="id")
        try:
            value = float(_aggregate_only(_Prepared(f, prep.covariates, 0), method, control_group, anticipation,
                                          aggregation).overall_att)
        except (ValueError, np.linalg.LinAlgError):
            continue  # an assignment the estimator cannot use (e.g. no pre-period for a cohort)
        if not np.isfinite(value):
            continue
        done += 1
        extreme += abs(value) >= abs(observed) - 1e-12
    if done == 0:
        raise UserInputError("randomization inference failed: no reassignment of adoption dates could be estimated")
    return RandomizationTest(aggregation, observed, (1 + extreme) / (1 + done), done)


@dataclass(frozen=True)
class OutcomeBootstrap:
    """Standard errors of the dynamic aggregation from redrawing the outcomes themselves."""

    draws: int
    overall_se: float
    event_se: dict[float, float]
    sup_t: float  # critical value of the simultaneous band over event times
    event_times: tuple[float, ...] = ()
    estimates: tuple[float, ...] = ()
    draw_matrix: Any = None  # draws x event times

    def pretrend(self, before: float) -> tuple[float, float, int] | None:
        """Joint test that the event-time effects before ``before`` are all zero: Hotelling's T²
        with the bootstrap covariance, referred to its F distribution (so a covariance estimated
        from a finite number of draws is allowed for). Returns (F, p-value, periods tested)."""
        from scipy.stats import f as f_dist

        keep = [i for i, e in enumerate(self.event_times) if e < before]
        keep = keep[-max(1, min(len(keep), self.draws // 4)):] if keep else []
        matrix = self.draw_matrix[:, keep] if keep else None
        if matrix is None or np.isnan(matrix).any():
            return None
        k, b = len(keep), self.draws
        theta = np.asarray(self.estimates, dtype=float)[keep]
        cov = np.atleast_2d(np.cov(matrix, rowvar=False))
        t2 = float(theta @ np.linalg.pinv(cov) @ theta)
        f_stat = (b - k) / (k * (b - 1)) * t2
        return f_stat, float(f_dist.sf(f_stat, k, b - k)), k


def outcome_bootstrap(data: Any, *, outcome: str, unit: str, time: str, first_treated: str,
                      redraw: Any, covariates: tuple[str, ...] | list[str] = (),
                      control_group: str = "never-treated", method: str = "dr", anticipation: int = 0,
                      weights: str | None = None, draws: int = 99, seed: int = 20240101,
                      alpha: float = 0.05) -> OutcomeBootstrap:
    """Parametric bootstrap for outcomes that are themselves estimates (a unit-period rate from
    its people): ``redraw(rng, frame)`` returns a new outcome vector for the rows of ``data`` in
    their order; the estimator is rerun on each draw. The units are then fixed, and what is
    uncertain is the outcome of each cell: the right view when the units are all the catchments
    there are, and the only one that stays reliable with 15 of them."""
    prep = _prepare(data, outcome, unit, time, first_treated, tuple(covariates), control_group, None, anticipation,
                    weights)
    base = _aggregate_only(prep, method, control_group, anticipation, "dynamic")
    events = [float(e) for e in base.event_times]
    original = as_polars(data)
    order = prep.frame["y"].len()
    if order != original.height:
        raise UserInputError("the outcome bootstrap needs a balanced panel (no unit may miss a period)")
    rng = np.random.default_rng(seed)
    overall, by_event = [], []
    for _ in range(draws):
        y = np.asarray(redraw(rng, original), dtype=float)
        agg = _aggregate_only(_Prepared(prep.frame.with_columns(pl.Series("y", y)), prep.covariates, 0),
                              method, control_group, anticipation, "dynamic")
        values = dict(zip((float(e) for e in agg.event_times), agg.att_by_event, strict=True))
        overall.append(float(agg.overall_att))
        by_event.append([values.get(e, np.nan) for e in events])
    matrix = np.asarray(by_event, dtype=float)
    se = np.nanstd(matrix, axis=0, ddof=1)
    centred = np.abs(matrix - np.asarray(base.att_by_event, dtype=float)) / np.where(se > 0, se, np.nan)
    sup_t = float(np.nanquantile(np.nanmax(centred, axis=1), 1 - alpha))
    return OutcomeBootstrap(draws, float(np.std(overall, ddof=1)), dict(zip(events, map(float, se), strict=True)),
                            sup_t, tuple(events), tuple(float(a) for a in base.att_by_event), matrix)
