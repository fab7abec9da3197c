"""Net impact of a service: participants against comparable non-participants.

Estimators (``method``), for the average treatment effect (``ate``) or on the treated (``att``):

``diff``        difference in means (no adjustment); Welch standard error.
``regression``  regression adjustment: a linear outcome model fitted separately in each arm
                (statsmodels OLS), effects averaged over the target population.
``ipw``         inverse probability weighting with normalised (Hájek) weights; propensity from a
                logistic regression (statsmodels Logit) on the covariates.
``aipw``        augmented IPW (doubly robust): the regression predictions corrected by weighted
                residuals.
``match``       one nearest neighbour with replacement on covariates scaled to unit variance.

Standard errors: Welch for ``diff``; the sample variance of the estimator's influence function
for ``aipw``; a seeded nonparametric bootstrap (200 resamples, propensity and outcome models
refitted) for ``regression``, ``ipw`` and ``match`` (for matching this is known to be only
approximate; Abadie and Imbens 2008). Intervals are estimate ± 1.96 SE. Covariates are used as
given: squares or dummies are the user's to add.

Balance is reported as standardised mean differences (difference in means over the pooled
standard deviation) before adjustment and after: weighted by the IPW weights for ``ipw`` and
``aipw``, over the matched sample for ``match``, unchanged for ``diff`` and ``regression``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from esmonitor.errors import UserInputError
from esmonitor.evaluation.panel import as_polars, require_binary, require_columns, require_numeric
from esmonitor.indicators.stats import Z95

Method = Literal["diff", "regression", "ipw", "aipw", "match"]
Estimand = Literal["ate", "att"]
METHODS: tuple[str, ...] = ("diff", "regression", "ipw", "aipw", "match")
BOOTSTRAP = 200


@dataclass(frozen=True)
class ImpactResult:
    method: str
    estimand: str
    estimate: float
    se: float
    ci: tuple[float, float]
    n_treated: int
    n_control: int
    balance: tuple[tuple[str, float, float], ...]  # (covariate, smd_before, smd_after)
    propensity_range: tuple[float, float] | None

    def as_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate, "se": self.se, "ci": list(self.ci), "n_treated": self.n_treated,
                "n_control": self.n_control,
                "balance": [{"covariate": c, "smd_before": b, "smd_after": a} for c, b, a in self.balance]}


def _design(x: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(x)), x])


def _propensity(x: np.ndarray, d: np.ndarray) -> np.ndarray:
    import statsmodels.api as sm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # perfect-separation and convergence notes: checked below
        fit = sm.Logit(d, _design(x)).fit(disp=0, maxiter=200)
    p: NDArray[np.float64] = np.asarray(fit.predict(_design(x)), dtype=np.float64)
    return np.clip(p, 1e-6, 1 - 1e-6)


def _arm_predictions(x: np.ndarray, y: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import statsmodels.api as sm

    mu = []
    for arm in (1, 0):
        keep = d == arm
        fit = sm.OLS(y[keep], _design(x[keep])).fit()
        mu.append(np.asarray(fit.predict(_design(x))))
    return mu[0], mu[1]


def _weights(e: np.ndarray, d: np.ndarray, estimand: str) -> np.ndarray:
    if estimand == "ate":
        return np.where(d == 1, 1 / e, 1 / (1 - e))
    return np.where(d == 1, 1.0, e / (1 - e))


def _hajek(y: np.ndarray, d: np.ndarray, w: np.ndarray) -> float:
    t, c = d == 1, d == 0
    return float(np.sum(w[t] * y[t]) / np.sum(w[t]) - np.sum(w[c] * y[c]) / np.sum(w[c]))


def _nearest(x_from: np.ndarray, x_to: np.ndarray) -> np.ndarray:
    """Index in ``x_to`` of each row's nearest neighbour (ties: the lowest index)."""
    d2 = ((x_from[:, None, :] - x_to[None, :, :]) ** 2).sum(axis=2)
    return np.asarray(np.argmin(d2, axis=1))


def _match(x: np.ndarray, y: np.ndarray, d: np.ndarray, estimand: str) -> tuple[float, np.ndarray]:
    scaled = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    t, c = np.flatnonzero(d == 1), np.flatnonzero(d == 0)
    to_control = c[_nearest(scaled[t], scaled[c])]
    att = float(np.mean(y[t] - y[to_control]))
    used = np.concatenate([t, to_control])
    if estimand == "att":
        return att, used
    to_treated = t[_nearest(scaled[c], scaled[t])]
    atc = float(np.mean(y[to_treated] - y[c]))
    return (len(t) * att + len(c) * atc) / len(d), np.concatenate([used, c, to_treated])


def _point(method: str, x: np.ndarray, y: np.ndarray, d: np.ndarray, estimand: str) -> float:
    t = d == 1
    if method == "diff":
        return float(y[t].mean() - y[~t].mean())
    if method == "match":
        return _match(x, y, d, estimand)[0]
    if method == "ipw":
        return _hajek(y, d, _weights(_propensity(x, d), d, estimand))
    mu1, mu0 = _arm_predictions(x, y, d)
    if method == "regression":
        target = slice(None) if estimand == "ate" else t
        return float(np.mean(mu1[target] - mu0[target]))
    return float(np.mean(_aipw_influence(x, y, d, estimand, mu1, mu0)[0]))


def _aipw_influence(x: np.ndarray, y: np.ndarray, d: np.ndarray, estimand: str,
                    mu1: np.ndarray, mu0: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-observation contributions whose mean is the AIPW estimate (and the estimate)."""
    e = _propensity(x, d)
    if estimand == "ate":
        psi = mu1 - mu0 + d * (y - mu1) / e - (1 - d) * (y - mu0) / (1 - e)
        return psi, float(psi.mean())
    p = d.mean()
    psi = (d * (y - mu0) - (1 - d) * e / (1 - e) * (y - mu0)) / p
    estimate = float(psi.mean())
    return psi - d / p * estimate + estimate, estimate


def _smd(x: np.ndarray, d: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    w = np.ones(len(d)) if w is None else w
    t, c = d == 1, d == 0
    mt = np.average(x[t], axis=0, weights=w[t])
    mc = np.average(x[c], axis=0, weights=w[c])
    pooled = np.sqrt((x[t].var(axis=0, ddof=1) + x[c].var(axis=0, ddof=1)) / 2)
    return np.asarray(np.where(pooled > 0, (mt - mc) / pooled, 0.0))


def net_impact(data: Any, *, outcome: str, treatment: str, covariates: list[str], method: str = "aipw",
               estimand: str = "ate", seed: int = 0) -> ImpactResult:
    if method not in METHODS:
        raise UserInputError(f"unknown method {method!r}", hint=f"one of {', '.join(METHODS)}")
    if estimand not in ("ate", "att"):
        raise UserInputError(f"unknown estimand {estimand!r}", hint="ate or att")
    df = as_polars(data)
    require_columns(df, outcome=outcome, treatment=treatment, **{f"covariate {c}": c for c in covariates})
    df = require_numeric(df, outcome, "outcome")
    df = require_binary(df, treatment)
    for c in covariates:
        df = require_numeric(df, c, "covariate")
    y = df[outcome].to_numpy().astype(float)
    d = df[treatment].to_numpy().astype(float)
    x = df.select(covariates).to_numpy().astype(float) if covariates else np.zeros((len(y), 0))
    n1, n0 = int(d.sum()), int(len(d) - d.sum())
    if min(n1, n0) < 2:
        raise UserInputError(f"need at least 2 treated and 2 control observations (found {n1} and {n0})")
    if method != "diff" and not covariates:
        raise UserInputError(f"method {method!r} needs --covariates", hint="or use --method diff")

    estimate = _point(method, x, y, d, estimand)
    propensity = None
    if method in ("ipw", "aipw", "match", "regression") and covariates:
        e = _propensity(x, d)
        propensity = (float(e.min()), float(e.max()))
    if method == "diff":
        se = float(np.sqrt(y[d == 1].var(ddof=1) / n1 + y[d == 0].var(ddof=1) / n0))
    elif method == "aipw":
        mu1, mu0 = _arm_predictions(x, y, d)
        psi, _ = _aipw_influence(x, y, d, estimand, mu1, mu0)
        se = float(psi.std(ddof=1) / np.sqrt(len(y)))
    else:
        rng = np.random.default_rng(seed)
        draws = []
        for _ in range(BOOTSTRAP):
            idx = rng.integers(0, len(y), len(y))
            if 0 < d[idx].sum() < len(idx) - 1:
                draws.append(_point(method, x[idx], y[idx], d[idx], estimand))
        se = float(np.std(draws, ddof=1))
    before = _smd(x, d) if covariates else np.array([])
    if method in ("ipw", "aipw"):
        after = _smd(x, d, _weights(_propensity(x, d), d, estimand))
    elif method == "match":
        _, used = _match(x, y, d, estimand)
        after = _smd(x[used], d[used])
    else:
        after = before
    balance = tuple((c, float(b), float(a)) for c, b, a in zip(covariates, before, after, strict=True))
    return ImpactResult(method, estimand, estimate, se, (estimate - Z95 * se, estimate + Z95 * se), n1, n0, balance,
                        propensity)
