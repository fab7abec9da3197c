"""Event-study TWFE against an independent least-squares fit with dummies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from esmonitor.cli import app
from esmonitor.errors import UserInputError
from esmonitor.evaluation.event_study import event_study


def staggered(seed: int = 0) -> pl.DataFrame:
    """30 units, 2000-2009; cohorts first treated in 2004 and 2006, a third never treated; the
    effect grows by one per year of exposure."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(30):
        g = (0, 2004, 2006)[i % 3]
        for t in range(2000, 2010):
            effect = float(t - g + 1) if g and t >= g else 0.0
            rows.append({"unit": i, "year": t, "g": g, "y": effect + 0.3 * i + 0.1 * t + rng.normal(0, 0.5)})
    return pl.DataFrame(rows)


def dummies_ols(df: pl.DataFrame, ref: int) -> dict[int, float]:
    rel = np.where(df["g"].to_numpy() > 0, df["year"].to_numpy() - df["g"].to_numpy(), None)
    events = sorted({int(e) for e in rel if e is not None and e != ref})
    units, years = sorted(df["unit"].unique()), sorted(df["year"].unique())
    x = np.column_stack([np.array([r == e for r in rel], dtype=float) for e in events]
                        + [(df["unit"] == u).to_numpy().astype(float) for u in units]
                        + [(df["year"] == t).to_numpy().astype(float) for t in years[1:]])
    beta, *_ = np.linalg.lstsq(x, df["y"].to_numpy(), rcond=None)
    return dict(zip(events, beta[: len(events)], strict=True))


def test_coefficients_equal_least_squares_with_dummies() -> None:
    df = staggered()
    result = event_study(df, outcome="y", unit="unit", time="year", first_treated="g")
    expected = dummies_ols(df, ref=-1)
    got = {e: b for e, b, _ in result.coefficients}
    assert set(got) == set(expected)
    for e, b in expected.items():
        assert got[e] == pytest.approx(b, abs=1e-8)
    # the planted dynamic effect (event time e gives e + 1) is visible in the estimates
    assert got[0] == pytest.approx(1.0, abs=0.6) and got[3] == pytest.approx(4.0, abs=0.6)
    assert all(s > 0 for _, _, s in result.coefficients)


def test_bad_inputs_get_clear_errors() -> None:
    df = staggered()
    with pytest.raises(UserInputError, match="more than one first-treated value"):
        event_study(df.with_columns(pl.when(pl.col("year") == 2009).then(2005).otherwise(pl.col("g")).alias("g")),
                    outcome="y", unit="unit", time="year", first_treated="g")
    with pytest.raises(UserInputError, match="no unit is ever treated"):
        event_study(df.with_columns(pl.lit(0).alias("g")), outcome="y", unit="unit", time="year", first_treated="g")
    with pytest.raises(UserInputError, match="reference event time 99"):
        event_study(df, outcome="y", unit="unit", time="year", first_treated="g", ref=99)
    with pytest.raises(UserInputError, match="missing first_treated column 'G'"):
        event_study(df, outcome="y", unit="unit", time="year", first_treated="G")


def test_cli_json_interface(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    staggered().write_csv(path)
    result = CliRunner().invoke(app, ["evaluate", "event-study", str(path), "--outcome", "y", "--unit", "unit",
                                      "--time", "year", "--first-treated", "g", "--json"])
    assert result.exit_code == 0, result.output
    coefficients = json.loads(result.stdout)["coefficients"]
    assert coefficients[0].keys() == {"event_time", "estimate", "se"}
    assert -1 not in {c["event_time"] for c in coefficients}
