"""Goodman-Bacon (2021) decomposition of the two-way fixed-effects estimate.

With a balanced panel and a binary, absorbing treatment, the TWFE coefficient is a weighted
average of every 2x2 difference-in-differences between timing groups: each treated group against
the never-treated (``treated_vs_untreated``), an earlier-treated group against a later-treated one
before the later one is treated (``earlier_vs_later_treated``), and a later-treated group against
an earlier-treated one after the earlier one is treated (``later_vs_earlier_treated``, the
comparison that can bias TWFE when effects change over time). Weights follow equations (10a–c)
of the paper, from group sizes and the share of periods each group is treated; they sum to one
and the weighted estimates sum to the TWFE coefficient, which the tests check against pyfixest.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import polars as pl

from esmonitor.errors import UserInputError
from esmonitor.evaluation.panel import as_polars, require_binary, require_columns, require_numeric


@dataclass(frozen=True)
class BaconComponent:
    type: str
    treated_group: float
    control_group: float | None  # None: never treated
    weight: float
    estimate: float


@dataclass(frozen=True)
class BaconDecomposition:
    twfe: float
    components: tuple[BaconComponent, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"twfe": self.twfe,
                "components": [{"type": c.type, "weight": c.weight, "estimate": c.estimate}
                               for c in self.components]}


def _did(y: np.ndarray, treated: np.ndarray, control: np.ndarray, post: np.ndarray, window: np.ndarray) -> float:
    """2x2 DiD on a (units x periods) outcome matrix restricted to the periods in ``window``."""
    def mean(rows: np.ndarray, cols: np.ndarray) -> float:
        return float(y[np.ix_(rows, cols)].mean())

    pre_cols, post_cols = window & ~post, window & post
    return (mean(treated, post_cols) - mean(treated, pre_cols)) - (mean(control, post_cols) - mean(control, pre_cols))


def bacon_decomposition(data: Any, *, outcome: str, unit: str, time: str, treated: str) -> BaconDecomposition:
    df = as_polars(data)
    require_columns(df, outcome=outcome, unit=unit, time=time, treated=treated)
    df = require_numeric(df, outcome, "outcome")
    df = require_numeric(df, time, "time")
    df = require_binary(df, treated)
    df = df.with_columns(pl.col(unit).cast(pl.String))
    y_wide = df.pivot(on=time, index=unit, values=outcome, aggregate_function=None).sort(unit)
    d_wide = df.pivot(on=time, index=unit, values=treated, aggregate_function=None).sort(unit)
    periods = sorted(float(c) for c in y_wide.columns if c != unit)
    cols = [c for c in y_wide.columns if c != unit]
    order = np.argsort([float(c) for c in cols])
    y = y_wide.select(cols).to_numpy()[:, order].astype(float)
    d = d_wide.select(cols).to_numpy()[:, order].astype(float)
    if np.isnan(y).any() or np.isnan(d).any():
        raise UserInputError("unbalanced panel: every unit must be observed in every period")
    if (np.diff(d, axis=1) < 0).any():
        raise UserInputError(f"treatment in {treated!r} must be absorbing (once 1, always 1)")
    if (d[:, 0] == 1).any():
        raise UserInputError("some units are treated in the first period; the decomposition needs "
                             "an untreated period for every unit")
    times = np.array(periods)
    first = np.where(d.any(axis=1), times[np.argmax(d, axis=1)], np.inf)
    timings = sorted(set(first[np.isfinite(first)]))
    if not timings:
        raise UserInputError("no unit is ever treated: nothing to decompose")
    share = {g: float(np.mean(first == g)) for g in timings}
    treated_share = {g: float(np.mean(times >= g)) for g in timings}  # D-bar_k
    never = ~np.isfinite(first)
    n_u = float(np.mean(never))
    all_periods = np.ones(len(times), dtype=bool)

    raw: list[tuple[str, float, float | None, float, float]] = []
    for g in timings:
        if n_u > 0:
            nk, dk = share[g], treated_share[g]
            nku = nk / (nk + n_u)
            w = (nk + n_u) ** 2 * nku * (1 - nku) * dk * (1 - dk)
            est = _did(y, first == g, never, times >= g, all_periods)
            raw.append(("treated_vs_untreated", g, None, w, est))
    for early, late in combinations(timings, 2):
        nk, nl, dk, dl = share[early], share[late], treated_share[early], treated_share[late]
        nkl = nk / (nk + nl)
        w_early = ((nk + nl) * (1 - dl)) ** 2 * nkl * (1 - nkl) * ((dk - dl) / (1 - dl)) * ((1 - dk) / (1 - dl))
        est_early = _did(y, first == early, first == late, times >= early, times < late)
        raw.append(("earlier_vs_later_treated", early, late, w_early, est_early))
        w_late = ((nk + nl) * dk) ** 2 * nkl * (1 - nkl) * (dl / dk) * ((dk - dl) / dk)
        est_late = _did(y, first == late, first == early, times >= late, times >= early)
        raw.append(("later_vs_earlier_treated", late, early, w_late, est_late))
    total = sum(w for *_, w, _ in raw)
    components = tuple(BaconComponent(t, g, c, w / total, e) for t, g, c, w, e in raw)
    twfe = sum(c.weight * c.estimate for c in components)
    return BaconDecomposition(float(twfe), components)
