"""Risk-adjusted provider performance: observed against expected, shrunk, banded.

1. **Expected outcome per client** from a model of the outcome on the clients' characteristics
   (stream, social assistance, demographics, local unemployment...) *without* the provider: a
   logistic regression for a 0/1 outcome, least squares otherwise (statsmodels). Text, boolean and
   categorical covariates become indicator columns (first level in sort order as reference).
2. **Per provider**: ``n``, ``observed`` (mean outcome), ``expected`` (mean prediction), the raw
   effect ``observed - expected`` with a standard error from the spread of its clients' residuals
   (for a 0/1 outcome at least the model's p(1-p); for other outcomes the residual variance pooled
   within providers), and the raw ratio ``observed / expected``.
3. **Empirical Bayes shrinkage**: true provider effects are taken as drawn from N(0, τ²), τ²
   estimated by the Paule–Mandel method of moments (statsmodels ``combine_effects``). A
   provider's effect is pulled toward 0 ("as expected") by the factor τ² / (τ² + se²), so a small
   provider with a noisy raw effect is not ranked on noise; its interval is the posterior one.
4. **Bands** in the style of star ratings, from the shrunk ratio ``(expected + effect) / expected``:
   40 %+ below expected (1 star), 15–39 % below (2), within 15 % (3), 15–39 % above (4), 40 %+
   above (5). The two cut-offs are parameters.

The same approach underlies the US WIOA statistical adjustment model (expected levels from a
regression on participant characteristics and local conditions) and Australia's star ratings
(performance relative to a regression-adjusted expectation, banded).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from esmonitor.errors import UserInputError
from esmonitor.evaluation.panel import as_polars, require_columns, require_numeric
from esmonitor.indicators.stats import Z95

if TYPE_CHECKING:
    from esmonitor.indicators.engine import Frames


@dataclass(frozen=True)
class ProviderRating:
    provider: str
    n: int
    observed: float
    expected: float
    raw_effect: float
    raw_se: float
    effect: float  # shrunk
    ci: tuple[float, float]  # posterior interval of the shrunk effect
    ratio: float  # shrunk: (expected + effect) / expected
    raw_ratio: float
    stars: int
    band: str

    def as_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "n": self.n, "observed": self.observed, "expected": self.expected,
                "ratio": self.ratio, "effect": self.effect, "ci": list(self.ci), "band": self.band,
                "stars": self.stars, "raw_ratio": self.raw_ratio, "raw_effect": self.raw_effect,
                "raw_ci": [self.raw_effect - Z95 * self.raw_se, self.raw_effect + Z95 * self.raw_se]}


@dataclass(frozen=True)
class ProviderRatings:
    providers: tuple[ProviderRating, ...]
    model: str  # "logistic" or "linear"
    tau: float  # between-provider standard deviation of true effects
    n_clients: int
    covariates: tuple[str, ...]  # design columns after encoding
    cutoffs: tuple[float, float]

    def as_dict(self) -> dict[str, Any]:
        return {"providers": [p.as_dict() for p in self.providers], "model": self.model, "tau": self.tau,
                "n_clients": self.n_clients, "covariates": list(self.covariates), "cutoffs": list(self.cutoffs)}


def band_of(ratio: float, cutoffs: tuple[float, float] = (0.15, 0.40)) -> int:
    """Stars 1-5 for a performance ratio (observed over expected)."""
    inner, outer = cutoffs
    delta = round(ratio - 1, 10)  # 1.15 - 1 is 0.1499999... in binary
    if delta <= -outer:
        return 1
    if delta <= -inner:
        return 2
    if delta < inner:
        return 3
    if delta < outer:
        return 4
    return 5


def design_matrix(df: pl.DataFrame, covariates: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Numeric covariates as they are; text, boolean and categorical ones as indicators."""
    columns: list[np.ndarray] = []
    names: list[str] = []
    for c in covariates:
        dtype = df[c].dtype
        if dtype.is_numeric():
            values = df[c].cast(pl.Float64)
            if values.is_null().any():
                raise UserInputError(f"covariate column {c!r} has missing values ({values.null_count()} rows)")
            columns.append(values.to_numpy())
            names.append(c)
            continue
        text = df[c].cast(pl.String).fill_null("(missing)")
        levels = sorted(text.unique().to_list())
        for level in levels[1:]:
            columns.append((text == level).cast(pl.Float64).to_numpy())
            names.append(f"{c}={level}")
    if not columns:
        return np.empty((df.height, 0)), ()
    return np.column_stack(columns), tuple(names)


def _expected(y: np.ndarray, x: np.ndarray, binary: bool) -> np.ndarray:
    import statsmodels.api as sm

    design = np.column_stack([np.ones(len(y)), x])
    # Drop constant and duplicate columns (a level absent after filtering, a covariate fixed in the data).
    keep = [0] + [j for j in range(1, design.shape[1]) if np.ptp(design[:, j]) > 0]
    design = design[:, keep]
    rank = np.linalg.matrix_rank(design)
    if rank < design.shape[1]:
        _, r = np.linalg.qr(design)
        independent = np.flatnonzero(np.abs(np.diag(r)) > 1e-8 * np.abs(r).max())
        design = design[:, independent]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; the fit is checked below
        model = sm.GLM(y, design, family=sm.families.Binomial()) if binary else sm.OLS(y, design)
        fit = model.fit()
    predicted = np.asarray(fit.predict(design), dtype=float)
    if not np.all(np.isfinite(predicted)):
        raise UserInputError("the risk-adjustment model did not converge (check the covariates for perfect predictors)")
    return predicted


def shrink(effect: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Empirical Bayes posterior means and standard deviations toward 0 under N(0, τ²), with τ²
    by Paule–Mandel (statsmodels). Returns (shrunk effect, posterior sd, τ)."""
    from statsmodels.stats.meta_analysis import combine_effects

    variance = np.maximum(se**2, 1e-12)
    if len(effect) < 3:
        tau2 = 0.0
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tau2 = float(combine_effects(effect, variance, method_re="pm").tau2)
    factor = tau2 / (tau2 + variance) if tau2 > 0 else np.zeros_like(variance)
    return factor * effect, np.sqrt(factor * variance), float(np.sqrt(max(tau2, 0.0)))


def rate_providers(data: Any, *, outcome: str, provider: str, covariates: tuple[str, ...] | list[str] = (),
                   cutoffs: tuple[float, float] = (0.15, 0.40), min_clients: int = 1) -> ProviderRatings:
    """Observed against expected outcome per provider, shrunk and banded (see module docstring)."""
    inner, outer = cutoffs
    if not 0 < inner < outer:
        raise UserInputError(f"band cut-offs must satisfy 0 < inner < outer (got {inner}, {outer})")
    covariates = tuple(covariates)
    df = as_polars(data)
    require_columns(df, outcome=outcome, provider=provider, **{f"covariate_{c}": c for c in covariates})
    if df.is_empty():
        raise UserInputError("the table has no rows")
    df = require_numeric(df, outcome, "outcome")
    if df[provider].is_null().any():
        raise UserInputError(f"provider column {provider!r} has missing values ({df[provider].null_count()} rows)")
    y = df[outcome].to_numpy()
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    x, names = design_matrix(df, covariates)
    expected = _expected(y, x, binary)
    frame = pl.DataFrame({"provider": df[provider].cast(pl.String), "y": y, "e": expected, "r": y - expected})
    per = (frame.group_by("provider")
           .agg(n=pl.len(), observed=pl.col("y").mean(), expected=pl.col("e").mean(), effect=pl.col("r").mean(),
                # binary: the provider's residual variance, floored by the model's p(1 - p)
                var=pl.max_horizontal(pl.col("r").var(ddof=1).fill_null(0.0),
                                      (pl.col("e") * (1 - pl.col("e"))).mean() if binary else pl.lit(0.0)))
           .filter(pl.col("n") >= min_clients).sort("provider"))
    if per.is_empty():
        raise UserInputError(f"no provider has at least {min_clients} clients")
    if not binary:
        # one residual variance for all (pooled within providers): steadier than each provider's own,
        # which for a provider with a handful of clients is itself mostly noise
        within = frame.with_columns((pl.col("r") - pl.col("r").mean().over("provider")).alias("d"))
        dof = max(frame.height - frame["provider"].n_unique(), 1)
        per = per.with_columns(pl.lit(float((within["d"] ** 2).sum()) / dof).alias("var"))
    n = per["n"].to_numpy()
    raw = per["effect"].to_numpy()
    raw_se = np.sqrt(per["var"].to_numpy() / n)
    shrunk, post_sd, tau = shrink(raw, raw_se)
    exp = per["expected"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(exp != 0, (exp + shrunk) / exp, np.nan)
        raw_ratio = np.where(exp != 0, per["observed"].to_numpy() / exp, np.nan)
    rows = []
    for i, p in enumerate(per["provider"].to_list()):
        stars = band_of(float(ratio[i]), cutoffs) if np.isfinite(ratio[i]) else 3
        rows.append(ProviderRating(
            provider=p, n=int(n[i]), observed=float(per["observed"][i]), expected=float(exp[i]),
            raw_effect=float(raw[i]), raw_se=float(raw_se[i]), effect=float(shrunk[i]),
            ci=(float(shrunk[i] - Z95 * post_sd[i]), float(shrunk[i] + Z95 * post_sd[i])),
            ratio=float(ratio[i]), raw_ratio=float(raw_ratio[i]), stars=stars,
            band=_label(stars, cutoffs)))
    return ProviderRatings(tuple(rows), "logistic" if binary else "linear", tau, df.height, names, cutoffs)


def _label(stars: int, cutoffs: tuple[float, float]) -> str:
    inner, outer = (round(100 * c) for c in cutoffs)
    return {1: f"{outer}%+ below expected", 2: f"{inner}-{outer - 1}% below expected",
            3: f"within {inner}% of expected", 4: f"{inner}-{outer - 1}% above expected",
            5: f"{outer}%+ above expected"}[stars]


# -- on the warehouse ---------------------------------------------------------------------------
SYSTEM_OUTCOME = "started_job"
SYSTEM_COVARIATES = ("stream", "social_assistance", "gender", "indigenous", "francophone", "racialized",
                     "disability", "unemployment", "ies_phase")


def _catchment_info() -> pl.DataFrame:
    from esmonitor.model import reference

    cs = reference.catchments()
    return pl.DataFrame({"catchment_id": [c.catchment_id for c in cs],
                         "economic_region": [c.economic_region for c in cs],
                         "transition_start": [c.transition_start for c in cs],
                         "ies_start": [c.ies_start for c in cs]})


def provider_inputs(frames: Frames, unemployment_monthly: pl.DataFrame) -> pl.DataFrame:
    """One row per client whose action plan began at least a year before the as-of date: the
    provider, whether the client started a job, and the risk factors of the adjustment model.
    ``ies_phase`` (before, transition, IES) is in the model so a provider is not credited or
    blamed for the system it worked in; unemployment is the month's regional rate."""
    client = frames.get("client").filter(pl.col("mature_job") & pl.col("provider_id").is_not_null())
    info = _catchment_info()
    df = (client.join(info, on="catchment_id", how="left")
          .with_columns(pl.col("plan_start").dt.truncate("1mo").alias("month"))
          .join(unemployment_monthly.rename({"unemployment_rate": "unemployment"}),
                on=["economic_region", "month"], how="left")
          .with_columns(
              pl.when(pl.col("plan_start") >= pl.col("ies_start")).then(pl.lit("ies"))
              .when(pl.col("plan_start") >= pl.col("transition_start")).then(pl.lit("transition"))
              .otherwise(pl.lit("before")).alias("ies_phase"),
              pl.col("started_job").cast(pl.Int8).alias(SYSTEM_OUTCOME),
              *[pl.col(c).fill_null("unknown") for c in ("stream", "social_assistance", "gender", "indigenous",
                                                         "francophone", "racialized", "disability")]))
    missing = df["unemployment"].null_count()
    if missing:
        # a month without Labour Force Survey data: the region's mean keeps the client in the model
        df = df.with_columns(pl.col("unemployment").fill_null(pl.col("unemployment").mean().over("economic_region"))
                             .fill_null(pl.col("unemployment").mean()))
    return df.select("client_id", "provider_id", "catchment_id", "plan_start", SYSTEM_OUTCOME, *SYSTEM_COVARIATES)


def creaming_diagnostics(frames: Frames, grain: str = "fiscal_year") -> pl.DataFrame:
    """Each provider's intakes against its referrals, by period of referral: how many of the
    people referred to it were taken in, the social-assistance share among referrals and among
    intakes (a selection ratio below 1 means people on social assistance, who are more often in
    stream C, are taken in less often than they are referred), the intake rate of each group, and
    the stream mix of those taken in. Compared over time, a falling selection ratio or stream C
    share at one provider but not its neighbours is the pattern creaming leaves."""
    from esmonitor.indicators.engine import period_key, period_label

    ref = frames.get("referral").filter(pl.col("result") != "pending")
    sa = pl.col("social_assistance").is_in(["ow", "odsp"])
    intake = pl.col("result") == "intake"
    key = period_key("referral_date", grain)
    out = (ref.with_columns(key.alias("_key"))
           .group_by("provider_id", "catchment_id", "_key")
           .agg(referrals=pl.len(), intakes=intake.sum(),
                sa_referrals=sa.sum(), sa_intakes=(sa & intake).sum(),
                stream_c_intakes=(intake & (pl.col("stream") == "C")).sum(),
                assessed_intakes=(intake & pl.col("stream").is_not_null()).sum())
           .with_columns(
               (pl.col("intakes") / pl.col("referrals")).alias("intake_rate"),
               (pl.col("sa_referrals") / pl.col("referrals")).alias("sa_share_referrals"),
               (pl.col("sa_intakes") / pl.col("intakes")).alias("sa_share_intakes"),
               (pl.col("sa_intakes") / pl.col("sa_referrals")).alias("intake_rate_sa"),
               ((pl.col("intakes") - pl.col("sa_intakes")) / (pl.col("referrals") - pl.col("sa_referrals")))
               .alias("intake_rate_other"),
               (pl.col("stream_c_intakes") / pl.col("assessed_intakes")).alias("stream_c_share_intakes"))
           .with_columns((pl.col("sa_share_intakes") / pl.col("sa_share_referrals")).alias("selection_ratio"),
                         period_label(pl.col("_key"), grain).alias("period"))
           .sort("provider_id", "_key").drop("_key"))
    return out.select("provider_id", "catchment_id", "period", "referrals", "intakes", "intake_rate",
                      "sa_share_referrals", "sa_share_intakes", "selection_ratio", "intake_rate_sa",
                      "intake_rate_other", "stream_c_share_intakes")


def unemployment_monthly(warehouse: Any) -> pl.DataFrame:
    """The monthly unemployment rate of every economic region, from the warehouse."""
    return pl.from_arrow(warehouse.arrow(  # type: ignore[return-value]
        "SELECT economic_region, month, unemployment_rate FROM labour_market_monthly"))


def ratings_for(result: ProviderRatings, clients: pl.DataFrame, column: str | None, values: Any,
                min_count: float) -> tuple[ProviderRatings, int]:
    """The ratings an audience narrower than the province may see, and how many were withheld:
    its own providers (clients whose ``column`` is in ``values``; none when ``column`` is None),
    and any other with at least K clients who reached the outcome and K who did not."""
    own = set() if column is None else set(
        clients.filter(clients[column].is_in(sorted(values)))["provider_id"].unique().to_list())
    kept = tuple(p for p in result.providers if p.provider in own or shown_to_all(p.n, p.observed, min_count))
    return dataclasses.replace(result, providers=kept), len(result.providers) - len(kept)


def shown_to_all(n: int, observed: float, min_count: float) -> bool:
    """A provider's rating may be shown beyond its own audience: at least K of its clients reached
    the outcome and at least K did not."""
    return min(n * observed, n * (1 - observed)) >= min_count - 1e-9
