"""TWFE against an independent least-squares fit with unit and time dummies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from esmonitor.cli import app
from esmonitor.errors import UserInputError
from esmonitor.evaluation.twfe import twfe


def panel(seed: int = 0, units: int = 30, periods: int = 8) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    unit_effect = rng.normal(0, 1, units)
    time_effect = rng.normal(0, 1, periods)
    for i in range(units):
        for t in range(periods):
            d = int(i < units // 2 and t >= periods // 2)
            rows.append({"unit": f"u{i:02d}", "year": 2000 + t, "d": d,
                         "y": 1.5 * d + unit_effect[i] + time_effect[t] + rng.normal(0, 0.5)})
    return pl.DataFrame(rows)


def dummies_ols(df: pl.DataFrame) -> tuple[float, float]:
    """beta of d by least squares with unit and time dummies, and its CR1 cluster-robust SE
    (clusters = units; G/(G-1) x (N-1)/(N-K), K counting the treatment and time dummies only,
    since unit dummies are nested in the clusters)."""
    units = sorted(df["unit"].unique())
    years = sorted(df["year"].unique())
    x = np.column_stack([df["d"].to_numpy().astype(float)]
                        + [(df["unit"] == u).to_numpy().astype(float) for u in units]
                        + [(df["year"] == t).to_numpy().astype(float) for t in years[1:]])
    y = df["y"].to_numpy()
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    bread = np.linalg.pinv(x.T @ x)
    meat = np.zeros_like(bread)
    for u in units:
        m = (df["unit"] == u).to_numpy()
        s = x[m].T @ resid[m]
        meat += np.outer(s, s)
    n, g, k = len(y), len(units), 1 + len(years) - 1 + 1
    v = bread @ meat @ bread * g / (g - 1) * (n - 1) / (n - k)
    return float(beta[0]), float(np.sqrt(v[0, 0]))


def test_estimate_equals_least_squares_with_dummies() -> None:
    df = panel()
    r = twfe(df, outcome="y", unit="unit", time="year", treated="d")
    beta, se = dummies_ols(df)
    assert r.estimate == pytest.approx(beta, abs=1e-8)
    assert r.se == pytest.approx(se, rel=0.02)
    assert r.ci[0] < 1.5 < r.ci[1]
    assert (r.n_obs, r.n_clusters) == (240, 30)


def test_bad_inputs_get_clear_errors() -> None:
    df = panel()
    with pytest.raises(UserInputError, match="missing treated column 'D'"):
        twfe(df, outcome="y", unit="unit", time="year", treated="D")
    with pytest.raises(UserInputError, match="must be 0 or 1"):
        twfe(df.with_columns(pl.col("d") * 2), outcome="y", unit="unit", time="year", treated="d")
    with pytest.raises(UserInputError, match="never varies"):
        twfe(df.with_columns(pl.lit(0).alias("d")), outcome="y", unit="unit", time="year", treated="d")
    with pytest.raises(UserInputError, match="is not numeric"):
        twfe(df.with_columns(pl.lit("a").alias("y")), outcome="y", unit="unit", time="year", treated="d")


def test_cli_json_interface(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    panel().write_parquet(path)
    result = CliRunner().invoke(app, ["evaluate", "twfe", str(path), "--outcome", "y", "--unit", "unit",
                                      "--time", "year", "--treated", "d", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"estimate", "se", "ci", "n_obs"} and payload["n_obs"] == 240
