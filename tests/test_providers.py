"""Provider ratings: hand-worked fixture, an independent Paule–Mandel, known-truth recovery
(shrinkage helps small providers), the planted provider quality of the synthetic province, the
planted creaming, bands and failure messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.optimize import brentq
from scipy.stats import spearmanr
from typer.testing import CliRunner

from esmonitor.cli import app
from esmonitor.errors import UserInputError
from esmonitor.evaluation.providers import (
    SYSTEM_COVARIATES,
    SYSTEM_OUTCOME,
    band_of,
    creaming_diagnostics,
    provider_inputs,
    rate_providers,
)


def paule_mandel(effect: np.ndarray, variance: np.ndarray) -> float:
    """tau^2 solving sum w (y - mu_w)^2 = k - 1 with w = 1 / (v + tau^2); 0 if already below."""
    def q(tau2: float) -> float:
        w = 1 / (variance + tau2)
        mu = np.sum(w * effect) / np.sum(w)
        return float(np.sum(w * (effect - mu) ** 2) - (len(effect) - 1))

    return 0.0 if q(0.0) <= 0 else float(brentq(q, 0.0, 10.0))


def test_hand_worked_fixture() -> None:
    # 30 clients, no covariates: the expected outcome is the overall rate 15/30 = 0.5 for everyone.
    df = pl.DataFrame({"p": ["A"] * 10 + ["B"] * 10 + ["C"] * 10,
                       "y": [1] * 9 + [0] + [0] * 9 + [1] + [1, 0] * 5})
    result = rate_providers(df, outcome="y", provider="p")
    by = {r.provider: r for r in result.providers}
    assert result.model == "logistic"
    for name, observed in (("A", 0.9), ("B", 0.1), ("C", 0.5)):
        assert by[name].observed == pytest.approx(observed)
        assert by[name].expected == pytest.approx(0.5, abs=1e-9)
        assert by[name].raw_effect == pytest.approx(observed - 0.5, abs=1e-9)
        assert by[name].raw_ratio == pytest.approx(observed / 0.5, abs=1e-9)
    # A's residuals: nine .5 and one -.5, sample variance (9 x .01 + .81) / 9 = 0.1, below the model's
    # p(1-p) = 0.25, so SE^2 = 0.25 / 10; B likewise. C's: five .5, five -.5, variance 2.5 / 9 > 0.25.
    variance = {"A": 0.025, "B": 0.025, "C": 2.5 / 9 / 10}
    for name, v in variance.items():
        assert by[name].raw_se == pytest.approx(np.sqrt(v), abs=1e-9)
    effects = np.array([0.4, -0.4, 0.0])
    tau2 = paule_mandel(effects, np.array(list(variance.values())))
    assert tau2 > 0
    assert result.tau == pytest.approx(np.sqrt(tau2), abs=1e-6)
    for name, raw in (("A", 0.4), ("B", -0.4), ("C", 0.0)):
        assert by[name].effect == pytest.approx(tau2 / (tau2 + variance[name]) * raw, abs=1e-6)


def test_paule_mandel_matches_independent_solver() -> None:
    rng = np.random.default_rng(4)
    sizes = rng.integers(30, 400, 25)
    rows = []
    for j, n in enumerate(sizes):
        rows += [{"p": f"P{j}", "y": float(v)} for v in rng.normal(j % 5 * 0.1, 1.0, n)]
    result = rate_providers(pl.DataFrame(rows), outcome="y", provider="p")
    assert result.model == "linear"
    raw = np.array([r.raw_effect for r in result.providers])
    var = np.array([r.raw_se**2 for r in result.providers])
    assert result.tau == pytest.approx(np.sqrt(paule_mandel(raw, var)), rel=1e-4)


@pytest.mark.parametrize("binary", [False, True])
def test_shrinkage_lowers_error_for_small_providers(binary: bool) -> None:
    """Known truth: provider effects delta_j in outcome units, clients' risk from a covariate."""
    wins, raw_total, shrunk_total = 0, 0.0, 0.0
    for seed in range(5):
        rng = np.random.default_rng(seed)
        sizes = np.concatenate([rng.integers(8, 40, 40), rng.integers(300, 1500, 20)])
        delta = rng.normal(0, 0.05 if binary else 0.3, len(sizes))
        prov = np.repeat(np.arange(len(sizes)), sizes)
        x = rng.normal(0, 1, len(prov))
        if binary:
            p = np.clip(0.4 + 0.1 * x + delta[prov], 0.02, 0.98)
            y = (rng.random(len(prov)) < p).astype(float)
        else:
            y = 2 + 0.5 * x + delta[prov] + rng.normal(0, 1, len(prov))
        df = pl.DataFrame({"p": [f"P{j:03d}" for j in prov], "y": y, "x": x})
        result = rate_providers(df, outcome="y", provider="p", covariates=["x"])
        truth = delta - np.average(delta, weights=sizes)  # effects are relative to the overall expectation
        small = sizes < 100
        raw = np.array([r.raw_effect for r in result.providers])
        shrunk = np.array([r.effect for r in result.providers])
        raw_err = np.mean((raw[small] - truth[small]) ** 2)
        shrunk_err = np.mean((shrunk[small] - truth[small]) ** 2)
        wins += shrunk_err < raw_err
        raw_total += raw_err
        shrunk_total += shrunk_err
        # and every posterior interval is narrower than the raw one
        assert all(r.ci[1] - r.ci[0] <= 2 * 1.96 * r.raw_se + 1e-12 for r in result.providers)
    # Empirical Bayes wins in expectation, not in every draw: pooled over the seeds, and in most.
    assert shrunk_total < 0.85 * raw_total
    assert wins >= 4


@pytest.mark.parametrize(("ratio", "stars"), [(0.5, 1), (0.60, 1), (0.61, 2), (0.85, 2), (0.86, 3), (1.0, 3),
                                              (1.14, 3), (1.15, 4), (1.39, 4), (1.40, 5), (2.0, 5)])
def test_bands_default_cutoffs(ratio: float, stars: int) -> None:
    assert band_of(ratio) == stars


def test_bands_configurable() -> None:
    assert [band_of(r, (0.10, 0.30)) for r in (0.69, 0.71, 0.91, 1.09, 1.11, 1.31)] == [1, 2, 3, 3, 4, 5]
    df = pl.DataFrame({"p": ["A"] * 50 + ["B"] * 50, "y": [1.0] * 40 + [0.0] * 10 + [1.0] * 10 + [0.0] * 40})
    result = rate_providers(df, outcome="y", provider="p", cutoffs=(0.10, 0.30))
    assert result.cutoffs == (0.10, 0.30)
    assert {r.band for r in result.providers} <= {"30%+ below expected", "10-29% below expected",
                                                  "within 10% of expected", "10-29% above expected",
                                                  "30%+ above expected"}


def test_failure_messages(tmp_path: Path) -> None:
    df = pl.DataFrame({"p": ["A", "B", "A"], "y": [1, 0, 1], "x": ["a", "b", "c"]})
    with pytest.raises(UserInputError, match="missing outcome column 'Y'"):
        rate_providers(df, outcome="Y", provider="p")
    with pytest.raises(UserInputError, match="missing covariate_z column 'z'"):
        rate_providers(df, outcome="y", provider="p", covariates=["z"])
    with pytest.raises(UserInputError, match="outcome column 'x' is not numeric"):
        rate_providers(df, outcome="x", provider="p")
    with pytest.raises(UserInputError, match="provider column 'p' has missing values"):
        rate_providers(df.with_columns(pl.lit(None, dtype=pl.String).alias("p")), outcome="y", provider="p")
    with pytest.raises(UserInputError, match="cut-offs must satisfy"):
        rate_providers(df, outcome="y", provider="p", cutoffs=(0.4, 0.15))
    with pytest.raises(UserInputError, match="no provider has at least 5 clients"):
        rate_providers(df, outcome="y", provider="p", min_clients=5)
    path = tmp_path / "t.csv"
    df.write_csv(path)
    result = CliRunner().invoke(app, ["evaluate", "providers", str(path), "--outcome", "y"])
    assert result.exit_code == 2 and "--outcome and --provider are required" in result.output
    result = CliRunner().invoke(app, ["evaluate", "providers", str(path), "--outcome", "y", "--provider", "p",
                                      "--cutoffs", "x"])
    assert result.exit_code == 2 and "--cutoffs must be two numbers" in result.output


def test_cli_json_interface(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    df = pl.DataFrame({"prov": rng.choice(["A", "B", "C"], 600), "y": rng.integers(0, 2, 600),
                       "stream": rng.choice(["A", "B", "C"], 600)})
    path = tmp_path / "clients.parquet"
    df.write_parquet(path)
    result = CliRunner().invoke(app, ["evaluate", "providers", str(path), "--outcome", "y", "--provider", "prov",
                                      "--covariates", "stream", "--json"])
    assert result.exit_code == 0, result.output
    providers = json.loads(result.stdout)["providers"]
    assert [p["provider"] for p in providers] == ["A", "B", "C"]
    assert providers[0].keys() >= {"provider", "n", "observed", "expected", "ratio", "effect", "ci", "band"}
    assert sum(p["n"] for p in providers) == 600


# -- the synthetic province -------------------------------------------------------------------
def test_planted_provider_quality_recovered(province_50k) -> None:  # type: ignore[no-untyped-def]
    province, frames, unemployment = province_50k
    table = provider_inputs(frames, unemployment)
    result = rate_providers(table, outcome=SYSTEM_OUTCOME, provider="provider_id", covariates=SYSTEM_COVARIATES)
    quality = province.provider_quality
    assert {r.provider for r in result.providers} == set(quality)
    rho = spearmanr([r.effect for r in result.providers], [quality[r.provider] for r in result.providers]).statistic
    assert rho >= 0.8
    # the adjustment matters: stream C and social assistance lower the expected rate
    assert "stream=C" in result.covariates and "unemployment" in result.covariates


def test_planted_creaming_visible(province_50k) -> None:  # type: ignore[no-untyped-def]
    """Stream C share of intakes: before vs after go-live, creaming catchments vs the others; the
    difference matches the planted effect (manifest: expected share with and without creaming)."""
    province, frames, _ = province_50k
    diag = creaming_diagnostics(frames, grain="fiscal_year")
    planted = province.manifest()["planted_effects"]
    go_live = {c: int(d[:4]) + (1 if int(d[5:7]) >= 4 else 0) for c, d in planted["go_live"].items()}
    creaming = set(planted["creaming_catchments"])
    df = diag.with_columns(pl.col("period").str.slice(2, 4).cast(pl.Int64).alias("fy"),
                           pl.col("catchment_id").replace_strict(go_live).alias("live_fy"))
    df = df.filter(pl.col("fy") != pl.col("live_fy"))  # the go-live year is mixed
    shares = (df.with_columns(pl.col("catchment_id").is_in(list(creaming)).alias("creaming"),
                              (pl.col("fy") > pl.col("live_fy")).alias("after"),
                              (pl.col("stream_c_share_intakes") * pl.col("intakes")).alias("c"))
              .group_by("creaming", "after").agg((pl.col("c").sum() / pl.col("intakes").sum()).alias("share")))
    s = {(r["creaming"], r["after"]): r["share"] for r in shares.iter_rows(named=True)}
    did = (s[(True, True)] - s[(True, False)]) - (s[(False, True)] - s[(False, False)])
    expected = province.realised["expected_stream_c_share_creaming_catchments"]
    planted_drop = expected["with_creaming"] - expected["without_creaming"]
    assert planted_drop < -0.03
    assert did == pytest.approx(planted_drop, abs=0.5 * abs(planted_drop))
