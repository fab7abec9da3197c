"""Event study by two-way fixed effects (dynamic TWFE), via pyfixest's ``feols``.

``y_it = sum_{e != ref} beta_e * 1[t - G_i = e] + unit_i + time_t + e_it``, where ``G_i`` is the
unit's first treated period (0 or missing: never treated, whose indicators are all zero).
Standard errors are clustered by unit (or the column given). Event time is in the units of the
time column.

Under effects that differ across adoption cohorts the TWFE coefficients mix cohorts and can be
contaminated by other event times (Sun and Abraham 2021). ``method="sun-abraham"`` gives their
interaction-weighted estimator: one regression with cohort × event-time indicators (never-treated
units as the control cohort), then each event time's cohort effects averaged with the cohorts'
shares of the treated observations at that event time; the standard error is that linear
combination of the clustered covariance (shares taken as fixed, as in fixest and pyfixest).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from esmonitor.errors import UserInputError
from esmonitor.evaluation.panel import as_polars, feols, require_columns, require_numeric


@dataclass(frozen=True)
class EventStudy:
    coefficients: tuple[tuple[int, float, float], ...]  # (event_time, estimate, se)
    reference: int
    n_obs: int

    def as_dict(self) -> dict[str, Any]:
        return {"coefficients": [{"event_time": e, "estimate": b, "se": s} for e, b, s in self.coefficients]}


def first_treated_column(df: pl.DataFrame, unit: str, first_treated: str) -> pl.DataFrame:
    """Never-treated as 0; one first-treated value per unit, or a clear error."""
    df = df.with_columns(pl.col(first_treated).fill_null(0))
    df = require_numeric(df, first_treated, "first-treated")
    per_unit = df.group_by(unit).agg(pl.col(first_treated).n_unique().alias("n"))
    bad = per_unit.filter(pl.col("n") > 1)
    if bad.height:
        raise UserInputError(f"unit {bad[unit][0]!r} has more than one first-treated value in {first_treated!r}")
    return df


def event_study(data: Any, *, outcome: str, unit: str, time: str, first_treated: str, ref: int = -1,
                cluster: str | None = None, method: str = "twfe") -> EventStudy:
    if method not in ("twfe", "sun-abraham"):
        raise UserInputError(f"unknown event-study method {method!r}", hint="use twfe or sun-abraham")
    df = as_polars(data)
    require_columns(df, outcome=outcome, unit=unit, time=time, first_treated=first_treated,
                    **({"cluster": cluster} if cluster else {}))
    df = require_numeric(df, outcome, "outcome")
    df = require_numeric(df, time, "time")
    df = first_treated_column(df, unit, first_treated)
    treated = df.filter(pl.col(first_treated) > 0)
    if treated.is_empty():
        raise UserInputError("no unit is ever treated: nothing to estimate")
    # Never-treated units take the reference event time: all their event indicators are zero.
    rel = pl.when(pl.col(first_treated) > 0).then(pl.col(time) - pl.col(first_treated)).otherwise(ref)
    frame = df.select(pl.col(outcome).alias("y"), rel.cast(pl.Int64).alias("rel"),
                      pl.col(unit).cast(pl.String).alias("unit_fe"), pl.col(time).cast(pl.String).alias("time_fe"),
                      pl.col(cluster or unit).cast(pl.String).alias("cluster_id")).to_pandas()
    treated_event_times = set((treated[time] - treated[first_treated]).cast(pl.Int64).to_list())
    if ref not in treated_event_times:
        raise UserInputError(f"reference event time {ref} does not occur in the data",
                             hint="pick an event time observed for treated units, usually -1")
    if method == "sun-abraham":
        if not (df[first_treated] == 0).any():
            raise UserInputError(
                "Sun–Abraham needs never-treated units (first-treated 0 or empty) as the control cohort",
                hint="use --method twfe, or the Callaway–Sant'Anna estimator with not-yet-treated controls")
        frame["cohort"] = df[first_treated].cast(pl.Int64).to_numpy()
        return _sun_abraham(frame, ref)
    fit = feols(f"y ~ i(rel, ref={ref}) | unit_fe + time_fe", frame, "cluster_id")
    coef, se = fit.coef(), fit.se()
    rows = []
    for name in coef.index:
        e = int(str(name).split("::")[1])
        if np.isfinite(coef[name]):
            rows.append((e, float(coef[name]), float(se[name])))
    return EventStudy(tuple(sorted(rows)), ref, int(fit._N))


def _sun_abraham(frame: Any, ref: int) -> EventStudy:
    """Interaction-weighted event study (Sun and Abraham 2021) on the prepared pandas frame."""
    with warnings.catch_warnings():
        # i() builds every cohort × event-time pair; pairs that never occur are empty columns and are dropped.
        warnings.filterwarnings("ignore", message=r"\s*\d+ variables dropped due to multicollinearity",
                                category=UserWarning)
        fit = feols(f"y ~ i(rel, cohort, ref={ref}, ref2=0) | unit_fe + time_fe", frame, "cluster_id")
    names = list(fit._coefnames)
    beta = np.asarray(fit._beta_hat, dtype=float)
    vcov = np.asarray(fit._vcov, dtype=float)
    keys = []
    for name in names:  # "rel::<e>:cohort::<g>"
        rel_part, cohort_part = str(name).split(":cohort::")
        keys.append((int(float(rel_part.split("::")[1])), int(float(cohort_part))))
    treated = frame[frame["cohort"] > 0]
    counts = treated.groupby(["rel", "cohort"]).size()
    rows = []
    for e in sorted({k[0] for k in keys}):
        weights = np.zeros(len(names))
        for i, (ke, g) in enumerate(keys):
            if ke == e and np.isfinite(beta[i]):
                weights[i] = counts.get((e, g), 0)
        if weights.sum() == 0:
            continue
        weights /= weights.sum()
        estimate = float(weights @ np.nan_to_num(beta))
        se = float(np.sqrt(weights @ np.nan_to_num(vcov) @ weights))
        rows.append((e, estimate, se))
    return EventStudy(tuple(rows), ref, int(fit._N))
