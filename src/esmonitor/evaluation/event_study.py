"""Event study by two-way fixed effects (dynamic TWFE), via pyfixest's ``feols``.

``y_it = sum_{e != ref} beta_e * 1[t - G_i = e] + unit_i + time_t + e_it``, where ``G_i`` is the
unit's first treated period (0 or missing: never treated, whose indicators are all zero).
Standard errors are clustered by unit (or the column given). Event time is in the units of the
time column. Under heterogeneous effects across cohorts the TWFE coefficients can mix cohorts
(Sun and Abraham 2021); the interaction-weighted estimator comes with the rest of the staggered
difference-in-differences work.
"""

from __future__ import annotations

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
                cluster: str | None = None) -> EventStudy:
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
    fit = feols(f"y ~ i(rel, ref={ref}) | unit_fe + time_fe", frame, "cluster_id")
    coef, se = fit.coef(), fit.se()
    rows = []
    for name in coef.index:
        e = int(str(name).split("::")[1])
        if np.isfinite(coef[name]):
            rows.append((e, float(coef[name]), float(se[name])))
    return EventStudy(tuple(sorted(rows)), ref, int(fit._N))
