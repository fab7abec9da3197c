"""Net-impact estimators on data with a known effect and known confounding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from esmonitor.cli import app
from esmonitor.errors import UserInputError
from esmonitor.evaluation.impact import net_impact

EFFECT = 2.0


def confounded(n: int = 1500, seed: int = 4) -> pl.DataFrame:
    """Participation rises with x1 and falls with x2; both raise the outcome. True effect: 2."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    e = 1 / (1 + np.exp(-(0.8 * x1 - 0.5 * x2)))
    d = (rng.random(n) < e).astype(int)
    y = 1 + EFFECT * d + 1.5 * x1 + 1.0 * x2 + rng.normal(0, 1, n)
    return pl.DataFrame({"y": y, "d": d, "x1": x1, "x2": x2})


@pytest.mark.parametrize("estimand", ["ate", "att"])
@pytest.mark.parametrize("method", ["regression", "ipw", "aipw", "match"])
def test_adjusted_estimators_recover_the_effect(method: str, estimand: str) -> None:
    r = net_impact(confounded(), outcome="y", treatment="d", covariates=["x1", "x2"], method=method,
                   estimand=estimand)
    assert r.ci[0] <= EFFECT <= r.ci[1], (method, estimand, r.estimate, r.se)
    assert 0 < r.se < 0.3
    assert r.n_treated + r.n_control == 1500


def test_the_unadjusted_difference_is_biased_by_the_confounding() -> None:
    r = net_impact(confounded(), outcome="y", treatment="d", covariates=["x1", "x2"], method="diff")
    assert not r.ci[0] <= EFFECT <= r.ci[1]
    assert r.estimate > EFFECT + 0.5  # participants have higher x1, which raises the outcome


def test_balance_improves_after_weighting_and_matching() -> None:
    df = confounded()
    for method, limit in (("ipw", 0.1), ("aipw", 0.1), ("match", 0.15)):
        r = net_impact(df, outcome="y", treatment="d", covariates=["x1", "x2"], method=method, estimand="att")
        before = {c: b for c, b, _ in r.balance}
        after = {c: a for c, _, a in r.balance}
        assert abs(before["x1"]) > 0.3
        assert max(abs(a) for a in after.values()) < limit, (method, after)


def test_diff_standard_error_is_welch() -> None:
    df = confounded()
    r = net_impact(df, outcome="y", treatment="d", covariates=[], method="diff")
    t, c = df.filter(pl.col("d") == 1)["y"], df.filter(pl.col("d") == 0)["y"]
    assert r.estimate == pytest.approx(t.mean() - c.mean(), abs=1e-12)
    assert r.se == pytest.approx(float(np.sqrt(t.var() / t.len() + c.var() / c.len())), rel=1e-12)


def test_bad_inputs_get_clear_errors() -> None:
    df = confounded()
    with pytest.raises(UserInputError, match="unknown method 'magic'"):
        net_impact(df, outcome="y", treatment="d", covariates=["x1"], method="magic")
    with pytest.raises(UserInputError, match="missing covariate x9 column 'x9'"):
        net_impact(df, outcome="y", treatment="d", covariates=["x9"])
    with pytest.raises(UserInputError, match="must be 0 or 1"):
        net_impact(df.with_columns(pl.col("d") * 3), outcome="y", treatment="d", covariates=["x1"])
    with pytest.raises(UserInputError, match="needs --covariates"):
        net_impact(df, outcome="y", treatment="d", covariates=[], method="ipw")
    with pytest.raises(UserInputError, match="at least 2 treated"):
        net_impact(df.with_columns(pl.lit(0).alias("d")), outcome="y", treatment="d", covariates=["x1"])


def test_cli_json_interface(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    confounded().write_csv(path)
    result = CliRunner().invoke(app, ["evaluate", "impact", str(path), "--outcome", "y", "--treatment", "d",
                                      "--covariates", "x1,x2", "--method", "aipw", "--estimand", "att", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"estimate", "se", "ci", "n_treated", "n_control", "balance"}
    assert {b["covariate"] for b in payload["balance"]} == {"x1", "x2"}
    bad = CliRunner().invoke(app, ["evaluate", "impact", str(path), "--outcome", "y", "--treatment", "d",
                                   "--method", "magic"])
    assert bad.exit_code == 2 and "unknown method" in bad.output
