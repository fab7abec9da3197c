"""Interval estimates used by the indicator engine, written out with their references.

- :func:`wilson` — Wilson score interval for a binomial proportion (Wilson 1927; Newcombe 1998,
  method 3), the default for every rate.
- :func:`newcombe_difference` — Newcombe's hybrid score interval for a difference of two
  independent proportions (Newcombe 1998, method 10), used for gaps.
- :func:`median_interval` — distribution-free interval for a median from order statistics
  (binomial, e.g. Conover, *Practical Nonparametric Statistics*, 3rd ed., section 3.2).

Vectorised over NumPy arrays so that a whole indicator table is done in one call.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

# the standard library's inverse normal (Wichura's AS 241, accurate to double precision): scipy.stats
# costs about two seconds to import, which every command would pay
Z95 = NormalDist().inv_cdf(0.975)


def wilson(successes: np.ndarray, trials: np.ndarray, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper Wilson bounds; NaN where there are no trials."""
    x = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # the bounds contain p exactly (rounding can leave 1e-17 on the wrong side at p = 0 or 1)
    low, high = np.minimum(centre - half, p), np.maximum(centre + half, p)
    empty = n <= 0
    return np.where(empty, np.nan, np.clip(low, 0, 1)), np.where(empty, np.nan, np.clip(high, 0, 1))


def newcombe_difference(x1: np.ndarray, n1: np.ndarray, x2: np.ndarray, n2: np.ndarray,
                        z: float = Z95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Difference p1 - p2 and its Newcombe hybrid score interval."""
    x1, n1, x2, n2 = (np.asarray(a, dtype=float) for a in (x1, n1, x2, n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, low, high


def median_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Order-statistic interval for the median: ranks from the Binomial(n, 1/2) quantiles."""
    v = np.sort(np.asarray(values, dtype=float))
    n = len(v)
    if n == 0:
        return float("nan"), float("nan")
    alpha = 1 - confidence
    # the largest k with P(X <= k) <= alpha/2, X ~ Binomial(n, 1/2); bounds are x(k+1), x(n-k)
    from scipy import stats

    k = int(stats.binom.ppf(alpha / 2, n, 0.5))
    if stats.binom.cdf(k, n, 0.5) > alpha / 2:
        k -= 1
    if k < 0:
        return float(v[0]), float(v[-1])
    return float(v[k]), float(v[n - k - 1])
