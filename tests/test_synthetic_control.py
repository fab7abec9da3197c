"""Synthetic control against constructed ground truth, and its failure messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from esmonitor.cli import app
from esmonitor.errors import UserInputError
from esmonitor.evaluation.synthetic_control import simplex_weights, synthetic_control

EFFECT = 2.0
T0 = 12


def panel(effect: float = EFFECT, seed: int = 1, periods: int = 20) -> pl.DataFrame:
    """Six donors on random walks; the treated unit is exactly 0.6 d0 + 0.4 d3 before T0,
    plus ``effect`` from T0 on."""
    rng = np.random.default_rng(seed)
    series = {f"d{j}": np.cumsum(rng.normal(0, 1, periods)) + rng.normal(0, 5) for j in range(6)}
    series["treated"] = 0.6 * series["d0"] + 0.4 * series["d3"] + np.where(np.arange(periods) >= T0, effect, 0)
    return pl.DataFrame([{"unit": u, "year": t, "y": float(v[t])} for u, v in series.items()
                         for t in range(periods)])


def test_weights_gaps_and_effect_are_recovered() -> None:
    r = synthetic_control(panel(), outcome="y", unit="unit", time="year", treated_unit="treated",
                          treatment_time=T0)
    assert r.weights["d0"] == pytest.approx(0.6, abs=1e-6)
    assert r.weights["d3"] == pytest.approx(0.4, abs=1e-6)
    assert sum(r.weights.values()) == pytest.approx(1.0, abs=1e-12)
    assert r.pre_rmspe < 1e-6
    assert r.att_post_mean == pytest.approx(EFFECT, abs=1e-5)
    assert all(g == pytest.approx(0, abs=1e-5) for t, g in r.gaps if t < T0)
    # the treated unit's post/pre RMSPE ratio is the largest of the 7 units: p = 1/7
    assert r.placebo_p_value == pytest.approx(1 / 7)


def test_no_effect_gives_no_gap_and_no_significance() -> None:
    r = synthetic_control(panel(effect=0.0).to_pandas(), outcome="y", unit="unit", time="year",
                          treated_unit="treated", treatment_time=T0)
    assert abs(r.att_post_mean) < 1e-5
    assert r.placebo_p_value > 1 / 7


def test_simplex_weights_match_a_brute_force_search() -> None:
    """Second implementation: a fine grid over the 2-simplex for three donors."""
    rng = np.random.default_rng(3)
    donors = rng.normal(size=(8, 3))
    target = rng.normal(size=8)
    grid = [(a, b, 1 - a - b) for a in np.linspace(0, 1, 201) for b in np.linspace(0, 1, 201) if a + b <= 1]
    best = min(grid, key=lambda w: float(np.sum((target - donors @ np.array(w)) ** 2)))
    w = simplex_weights(target, donors)
    loss = float(np.sum((target - donors @ w) ** 2))
    assert loss <= float(np.sum((target - donors @ np.array(best)) ** 2)) + 1e-12
    assert np.allclose(w, best, atol=0.01)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda df: df.drop("y"), "missing outcome column 'y'"),
    (lambda df: df.with_columns(pl.col("y").cast(pl.String).str.replace("^1", "x")), "is not numeric"),
    (lambda df: df.filter(~((pl.col("unit") == "d2") & (pl.col("year") == 3))), "unbalanced panel"),
    (lambda df: pl.concat([df, df.head(1)]), "more than one row"),
])
def test_bad_tables_get_clear_errors(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UserInputError, match=message):
        synthetic_control(mutate(panel()), outcome="y", unit="unit", time="year", treated_unit="treated",
                          treatment_time=T0)


def test_bad_designs_get_clear_errors() -> None:
    df = panel()
    with pytest.raises(UserInputError, match="treated unit 'nobody' is not in column 'unit'"):
        synthetic_control(df, outcome="y", unit="unit", time="year", treated_unit="nobody", treatment_time=T0)
    with pytest.raises(UserInputError, match="too few pre-treatment periods: 1"):
        synthetic_control(df, outcome="y", unit="unit", time="year", treated_unit="treated", treatment_time=1)
    with pytest.raises(UserInputError, match="no period at or after"):
        synthetic_control(df, outcome="y", unit="unit", time="year", treated_unit="treated", treatment_time=99)
    two = df.filter(pl.col("unit").is_in(["treated", "d0"]))
    with pytest.raises(UserInputError, match="at least 2 donor units"):
        synthetic_control(two, outcome="y", unit="unit", time="year", treated_unit="treated", treatment_time=T0)
    with pytest.raises(UserInputError, match="Polars or pandas"):
        synthetic_control([1, 2], outcome="y", unit="unit", time="year", treated_unit="treated", treatment_time=T0)


def test_cli_json_interface_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "panel.csv"
    panel().write_csv(path)
    runner = CliRunner()
    args = ["evaluate", "synth", str(path), "--outcome", "y", "--unit", "unit", "--time", "year",
            "--treated-unit", "treated", "--treatment-time", str(T0)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"weights", "pre_rmspe", "gaps", "att_post_mean", "placebo_p_value"}
    assert payload["gaps"][0].keys() == {"time", "gap"} and len(payload["gaps"]) == 20
    assert payload["att_post_mean"] == pytest.approx(EFFECT, abs=1e-5)
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0 and "d0" in shown.output and "placebo p-value" in shown.output
    bad = runner.invoke(app, [*args[:-2], "--treatment-time", "1"])
    assert bad.exit_code == 2 and "too few pre-treatment periods" in bad.output
    missing = runner.invoke(app, ["evaluate", "synth", str(tmp_path / "none.csv"), *args[3:]])
    assert missing.exit_code == 2 and "file not found" in missing.output
