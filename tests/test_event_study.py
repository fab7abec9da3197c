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


def heterogeneous(seed: int = 0) -> pl.DataFrame:
    """Cohorts with different effect paths (2004: +1 per year of exposure; 2006: a flat 3), a third
    never treated: the design where TWFE event-study coefficients are contaminated."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(90):
        g = (0, 2004, 2006)[i % 3]
        for t in range(2000, 2010):
            effect = (float(t - g + 1) if g == 2004 else 3.0) if g and t >= g else 0.0
            rows.append({"unit": i, "year": t, "g": g, "y": effect + 0.3 * i + 0.1 * t + rng.normal(0, 0.2)})
    return pl.DataFrame(rows)


def interacted_ols(df: pl.DataFrame, ref: int) -> dict[int, float]:
    """Sun and Abraham by hand: cohort x event-time dummies with unit and year dummies, then each
    event time's cohort effects weighted by the cohorts' shares of treated rows at that event time."""
    g, year = df["g"].to_numpy(), df["year"].to_numpy()
    cells = sorted({(int(t - c), int(c)) for c, t in zip(g, year, strict=True) if c > 0 and t - c != ref})
    units, years = sorted(df["unit"].unique()), sorted(df["year"].unique())
    x = np.column_stack([((g == c) & (year - g == e)).astype(float) for e, c in cells]
                        + [(df["unit"] == u).to_numpy().astype(float) for u in units]
                        + [(df["year"] == t).to_numpy().astype(float) for t in years[1:]])
    beta, *_ = np.linalg.lstsq(x, df["y"].to_numpy(), rcond=None)
    catt = dict(zip(cells, beta[: len(cells)], strict=True))
    out = {}
    for e in sorted({e for e, _ in cells}):
        n = {c: int(((g == c) & (year - g == e)).sum()) for ee, c in cells if ee == e}
        out[e] = sum(n[c] * catt[(e, c)] for c in n) / sum(n.values())
    return out


def test_sun_abraham_equals_interacted_least_squares_and_pyfixest() -> None:
    import warnings

    import pyfixest as pf

    df = heterogeneous()
    result = event_study(df, outcome="y", unit="unit", time="year", first_treated="g", method="sun-abraham")
    got = {e: (b, s) for e, b, s in result.coefficients}
    expected = interacted_ols(df, ref=-1)
    assert set(got) == set(expected)
    for e, b in expected.items():
        assert got[e][0] == pytest.approx(b, abs=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = pf.event_study(df.to_pandas(), yname="y", idname="unit", tname="year", gname="g",
                                   estimator="saturated").aggregate(weighting="shares")
    for e, row in reference.iterrows():
        assert got[int(e)][0] == pytest.approx(float(row["Estimate"]), abs=1e-8)
        assert got[int(e)][1] == pytest.approx(float(row["Std. Error"]), rel=1e-6)
    # Truth by event time: the mean of the cohorts present (2004: e + 1; 2006: 3 up to e = 3), zero before.
    truth = {e: (e + 1 + 3) / 2 if e <= 3 else e + 1.0 for e in range(6)}
    for e, (b, s) in got.items():
        assert abs(b - truth.get(e, 0.0)) < 4 * s + 0.02, e
    # TWFE in the same design shows a spurious pre-trend (its leads borrow the later cohort's effects).
    twfe = {e: b for e, b, _ in event_study(df, outcome="y", unit="unit", time="year", first_treated="g").coefficients}
    assert abs(twfe[-6]) > 0.3 > abs(got[-6][0])


def test_sun_abraham_failure_messages() -> None:
    df = heterogeneous().filter(pl.col("g") > 0)
    with pytest.raises(UserInputError, match="Sun–Abraham needs never-treated units"):
        event_study(df, outcome="y", unit="unit", time="year", first_treated="g", method="sun-abraham")
    with pytest.raises(UserInputError, match="unknown event-study method 'sa'"):
        event_study(df, outcome="y", unit="unit", time="year", first_treated="g", method="sa")
