"""Two-way fixed effects (unit and time) for a binary treatment, via pyfixest's ``feols``.

``y_it = beta * D_it + unit_i + time_t + e_it``, standard errors clustered by unit (or the
column given), CR1 with pyfixest's small-sample correction; the interval uses its t quantiles.
Under staggered adoption with effects that change over time this estimate can be biased (see the
Goodman-Bacon decomposition and the Callaway–Sant'Anna estimator); it is kept as a diagnostic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from esmonitor.errors import UserInputError
from esmonitor.evaluation.panel import as_polars, feols, require_binary, require_columns, require_numeric


@dataclass(frozen=True)
class TwfeResult:
    estimate: float
    se: float
    ci: tuple[float, float]
    n_obs: int
    n_clusters: int

    def as_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate, "se": self.se, "ci": list(self.ci), "n_obs": self.n_obs}


def twfe(data: Any, *, outcome: str, unit: str, time: str, treated: str,
         cluster: str | None = None) -> TwfeResult:
    df = as_polars(data)
    require_columns(df, outcome=outcome, unit=unit, time=time, treated=treated,
                    **({"cluster": cluster} if cluster else {}))
    df = require_numeric(df, outcome, "outcome")
    df = require_binary(df, treated)
    if df[treated].n_unique() < 2:
        raise UserInputError(f"treatment column {treated!r} never varies: nothing to estimate")
    cluster = cluster or unit
    frame = df.select(pl.col(outcome).alias("y"), pl.col(treated).alias("d"),
                      pl.col(unit).cast(pl.String).alias("unit_fe"), pl.col(time).cast(pl.String).alias("time_fe"),
                      pl.col(cluster).cast(pl.String).alias("cluster_id")).to_pandas()
    n_clusters = frame["cluster_id"].nunique()
    if n_clusters < 2:
        raise UserInputError(f"at least 2 clusters are needed, found {n_clusters}")
    fit = feols("y ~ d | unit_fe + time_fe", frame, "cluster_id")
    coef, se = float(fit.coef()["d"]), float(fit.se()["d"])
    ci = fit.confint().loc["d"]
    return TwfeResult(coef, se, (float(ci.iloc[0]), float(ci.iloc[1])), int(fit._N), int(n_clusters))
