"""Goodman-Bacon decomposition: the weighted 2x2 estimates add up to pyfixest's TWFE."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from esmonitor.cli import app
from esmonitor.errors import UserInputError
from esmonitor.evaluation.bacon import bacon_decomposition
from esmonitor.evaluation.twfe import twfe


def staggered(cohorts: tuple[int, ...], seed: int = 0, dynamic: bool = True) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(40):
        g = cohorts[i % len(cohorts)]
        for t in range(2000, 2012):
            d = int(g > 0 and t >= g)
            effect = (t - g + 1.0 if dynamic else 2.0) * d
            rows.append({"unit": i, "year": t, "d": d, "y": effect + 0.2 * i + 0.3 * t + rng.normal(0, 1)})
    return pl.DataFrame(rows)


@pytest.mark.parametrize("cohorts", [(0, 2003, 2006, 2009), (2003, 2006, 2009), (0, 2005)])
def test_weighted_components_add_up_to_twfe(cohorts: tuple[int, ...]) -> None:
    df = staggered(cohorts)
    decomposition = bacon_decomposition(df, outcome="y", unit="unit", time="year", treated="d")
    reference = twfe(df, outcome="y", unit="unit", time="year", treated="d").estimate
    assert sum(c.weight for c in decomposition.components) == pytest.approx(1.0, abs=1e-12)
    assert decomposition.twfe == pytest.approx(reference, abs=1e-8)
    types = {c.type for c in decomposition.components}
    if 0 in cohorts:
        assert "treated_vs_untreated" in types
    if len([g for g in cohorts if g]) > 1:
        assert {"earlier_vs_later_treated", "later_vs_earlier_treated"} <= types


def test_a_constant_effect_is_recovered_by_every_clean_comparison() -> None:
    df = staggered((0, 2004, 2008), dynamic=False, seed=1)
    decomposition = bacon_decomposition(df, outcome="y", unit="unit", time="year", treated="d")
    for c in decomposition.components:
        assert c.estimate == pytest.approx(2.0, abs=0.6)


def test_bad_inputs_get_clear_errors() -> None:
    df = staggered((0, 2004))
    with pytest.raises(UserInputError, match="must be absorbing"):
        bacon_decomposition(df.with_columns(pl.when(pl.col("year") == 2011).then(0).otherwise(pl.col("d")).alias("d")),
                            outcome="y", unit="unit", time="year", treated="d")
    with pytest.raises(UserInputError, match="unbalanced panel"):
        bacon_decomposition(df.filter(~((pl.col("unit") == 3) & (pl.col("year") == 2005))),
                            outcome="y", unit="unit", time="year", treated="d")
    with pytest.raises(UserInputError, match="treated in the first period"):
        bacon_decomposition(df.with_columns(pl.when(pl.col("unit") == 1).then(1).otherwise(pl.col("d")).alias("d")),
                            outcome="y", unit="unit", time="year", treated="d")
    with pytest.raises(UserInputError, match="no unit is ever treated"):
        bacon_decomposition(df.with_columns(pl.lit(0).alias("d")), outcome="y", unit="unit", time="year",
                            treated="d")


def test_cli_json_interface(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    staggered((0, 2004, 2008)).write_csv(path)
    result = CliRunner().invoke(app, ["evaluate", "bacon", str(path), "--outcome", "y", "--unit", "unit",
                                      "--time", "year", "--treated", "d", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"twfe", "components"}
    assert all(set(c) == {"type", "weight", "estimate"} for c in payload["components"])
