"""Synthetic control for one treated unit (Abadie, Diamond and Hainmueller 2010).

Donor weights are non-negative and sum to one, fitted to the treated unit's outcome over the
pre-treatment periods by constrained least squares (SLSQP from SciPy, analytic gradient, started
from equal weights). Inference is placebo-in-space: every donor in turn is treated as if it were
the treated unit, with the other donors as its pool; the p-value is the share of all units
(the treated one included) whose post/pre RMSPE ratio is at least the treated unit's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy.optimize import minimize

from esmonitor.errors import UserInputError
from esmonitor.evaluation.panel import as_polars, require_columns, require_numeric

MIN_PRE_PERIODS = 2
MIN_DONORS = 2


@dataclass(frozen=True)
class SyntheticControl:
    treated_unit: str
    treatment_time: float
    weights: dict[str, float]
    pre_rmspe: float
    post_rmspe: float
    gaps: tuple[tuple[float, float], ...]  # (time, treated - synthetic)
    att_post_mean: float
    placebo_p_value: float
    placebo_ratios: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {"weights": self.weights, "pre_rmspe": self.pre_rmspe,
                "gaps": [{"time": t, "gap": g} for t, g in self.gaps],
                "att_post_mean": self.att_post_mean, "placebo_p_value": self.placebo_p_value}


def simplex_weights(target: np.ndarray, donors: np.ndarray) -> np.ndarray:
    """argmin_w ||target - donors @ w||^2 subject to w >= 0 and sum(w) = 1."""
    k = donors.shape[1]
    gram = donors.T @ donors
    cross = donors.T @ target

    def loss(w: np.ndarray) -> float:
        r = target - donors @ w
        return float(r @ r)

    def grad(w: np.ndarray) -> np.ndarray:
        return np.asarray(2 * (gram @ w - cross))

    result = minimize(loss, np.full(k, 1.0 / k), jac=grad, method="SLSQP", bounds=[(0.0, 1.0)] * k,
                      constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(k)}],
                      options={"ftol": 1e-14, "maxiter": 1000})
    w = np.clip(result.x, 0.0, None)
    return np.asarray(w / w.sum())


def _fit(wide: np.ndarray, treated: int, donors: list[int], pre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = simplex_weights(wide[pre][:, treated], wide[pre][:, donors])
    gaps = wide[:, treated] - wide[:, donors] @ w
    return w, gaps


def _rmspe(gaps: np.ndarray) -> float:
    return float(np.sqrt(np.mean(gaps**2))) if len(gaps) else float("nan")


def synthetic_control(data: Any, *, outcome: str, unit: str, time: str, treated_unit: Any,
                      treatment_time: float) -> SyntheticControl:
    """Fit a synthetic control for ``treated_unit`` treated from ``treatment_time`` on."""
    df = as_polars(data)
    require_columns(df, outcome=outcome, unit=unit, time=time)
    df = require_numeric(df, outcome, "outcome")
    df = require_numeric(df, time, "time")
    df = df.with_columns(pl.col(unit).cast(pl.String))
    treated_name = str(treated_unit)
    if treated_name not in set(df[unit].to_list()):
        raise UserInputError(f"treated unit {treated_name!r} is not in column {unit!r}")
    if df.select(pl.struct(unit, time).is_duplicated().any()).item():
        raise UserInputError(f"more than one row for the same {unit} and {time}")
    wide = df.pivot(on=unit, index=time, values=outcome).sort(time)
    units = [c for c in wide.columns if c != time]
    if wide.select(pl.exclude(time).is_null().any()).to_numpy().any():
        incomplete = [u for u in units if wide[u].null_count()]
        raise UserInputError(f"unbalanced panel: units {', '.join(incomplete[:5])} miss some periods",
                             hint="synthetic control needs every unit observed in every period")
    times = wide[time].to_numpy()
    pre = times < treatment_time
    if pre.sum() < MIN_PRE_PERIODS:
        raise UserInputError(f"too few pre-treatment periods: {int(pre.sum())} before {treatment_time:g} "
                             f"(at least {MIN_PRE_PERIODS} needed)")
    if pre.all():
        raise UserInputError(f"no period at or after the treatment time {treatment_time:g}")
    values = wide.select(units).to_numpy().astype(float)
    t_index = units.index(treated_name)
    donors = [i for i in range(len(units)) if i != t_index]
    if len(donors) < MIN_DONORS:
        raise UserInputError(f"at least {MIN_DONORS} donor units are needed, found {len(donors)}")

    w, gaps = _fit(values, t_index, donors, pre)
    ratios: dict[str, float] = {}
    for unit_index in [t_index, *donors]:
        pool = [i for i in donors if i != unit_index] if unit_index != t_index else donors
        if len(pool) < 1:
            continue
        _, g = _fit(values, unit_index, pool, pre)
        pre_r = _rmspe(g[pre])
        ratios[units[unit_index]] = _rmspe(g[~pre]) / pre_r if pre_r > 0 else float("inf")
    treated_ratio = ratios[treated_name]
    p_value = sum(r >= treated_ratio for r in ratios.values()) / len(ratios)
    return SyntheticControl(
        treated_unit=treated_name, treatment_time=float(treatment_time),
        weights={units[i]: float(round(wi, 12)) for i, wi in zip(donors, w, strict=True)},
        pre_rmspe=_rmspe(gaps[pre]), post_rmspe=_rmspe(gaps[~pre]),
        gaps=tuple((float(t), float(g)) for t, g in zip(times, gaps, strict=True)),
        att_post_mean=float(np.mean(gaps[~pre])), placebo_p_value=float(p_value), placebo_ratios=ratios)
