"""Callaway–Sant'Anna against the published mpdta example, hand-computed 2x2 comparisons, a design
with known truth, a second inference method, and its failure messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from esmonitor.cli import app
from esmonitor.errors import UserInputError
from esmonitor.evaluation.staggered import callaway_santanna, randomization_test

# Published output of the R package `did` (Callaway and Sant'Anna) on its mpdta data (county teen
# employment, minimum-wage rises in 2004, 2006, 2007): `att_gt(yname="lemp", tname="year",
# idname="countyreal", gname="first.treat", xformla=~1, data=mpdta)`, as printed in the package's
# README and "Getting Started" vignette: (group, time, ATT, SE).
MPDTA_ATT_GT = [
    (2004, 2004, -0.0105, 0.0233), (2004, 2005, -0.0704, 0.0310), (2004, 2006, -0.1373, 0.0364),
    (2004, 2007, -0.1008, 0.0344), (2006, 2004, 0.0065, 0.0233), (2006, 2005, -0.0028, 0.0196),
    (2006, 2006, -0.0046, 0.0178), (2006, 2007, -0.0412, 0.0202), (2007, 2004, 0.0305, 0.0150),
    (2007, 2005, -0.0027, 0.0164), (2007, 2006, -0.0311, 0.0178), (2007, 2007, -0.0261, 0.0166),
]
MPDTA_PRETEST_P = 0.16812
# aggte(..., type=): overall ATT (the vignette's aggregations).
MPDTA_AGGREGATE = {"simple": -0.0400, "group": -0.0310, "dynamic": -0.0772, "calendar": -0.0417}
MPDTA_DYNAMIC = {-3: 0.0305, -2: -0.0006, -1: -0.0245, 0: -0.0199, 1: -0.0510, 2: -0.1373, 3: -0.1008}
MPDTA_GROUP = {2004: -0.0797, 2006: -0.0229, 2007: -0.0261}
MPDTA_CALENDAR = {2004: -0.0105, 2005: -0.0704, 2006: -0.0488, 2007: -0.0371}
# With the covariate: att_gt(..., xformla=~lpop) (doubly robust), README of `did`.
MPDTA_ATT_GT_LPOP = [-0.0145, -0.0764, -0.1404, -0.1069, -0.0005, -0.0062, 0.0010, -0.0413,
                     0.0267, -0.0046, -0.0284, -0.0288]
MPDTA_DYNAMIC_LPOP = -0.0804


@pytest.fixture(scope="module")
def mpdta() -> pl.DataFrame:
    from moderndid import load_mpdta

    return load_mpdta()


def cs(df: pl.DataFrame, **kw: object):  # type: ignore[no-untyped-def]
    return callaway_santanna(df, outcome="lemp", unit="countyreal", time="year", first_treated="first.treat", **kw)


@pytest.mark.parametrize("method", ["dr", "reg", "ipw"])
def test_mpdta_published_results(mpdta: pl.DataFrame, method: str) -> None:
    result = cs(mpdta, method=method)
    assert [(r.group, r.time) for r in result.att_gt] == [(g, t) for g, t, _, _ in MPDTA_ATT_GT]
    for r, (_, _, att, se) in zip(result.att_gt, MPDTA_ATT_GT, strict=True):
        assert round(r.att, 4) == pytest.approx(att, abs=1.5e-4)  # 3 decimals and more
        assert r.se == pytest.approx(se, rel=0.10)
    assert result.pretrend_p_value == pytest.approx(MPDTA_PRETEST_P, abs=5e-4)
    for kind, att in MPDTA_AGGREGATE.items():
        assert result.aggregate(kind).overall.att == pytest.approx(att, abs=6e-4)
    for by, reference in (("dynamic", MPDTA_DYNAMIC), ("group", MPDTA_GROUP), ("calendar", MPDTA_CALENDAR)):
        got = {int(e.label): e.att for e in result.aggregate(by).by}
        assert got.keys() == reference.keys()
        for key, att in reference.items():
            assert got[key] == pytest.approx(att, abs=1.5e-4)
    assert result.n_units == 500 and result.n_obs == 2500


def test_mpdta_with_covariate(mpdta: pl.DataFrame) -> None:
    result = cs(mpdta, covariates=["lpop"], method="dr")
    assert [round(r.att, 4) for r in result.att_gt] == pytest.approx(MPDTA_ATT_GT_LPOP, abs=1.5e-4)
    assert result.aggregate("dynamic").overall.att == pytest.approx(MPDTA_DYNAMIC_LPOP, abs=5e-4)


def test_bootstrap_standard_errors_agree_with_analytical(mpdta: pl.DataFrame) -> None:
    """Two inference methods: influence-function (analytical) and multiplier bootstrap."""
    analytical = cs(mpdta)
    boot = cs(mpdta, bootstrap=1999, seed=7)
    assert boot.inference.startswith("multiplier bootstrap")
    for kind in ("simple", "group", "dynamic", "calendar"):
        assert boot.aggregate(kind).overall.se == pytest.approx(analytical.aggregate(kind).overall.se, rel=0.10)
    for a, b in zip(analytical.att_gt, boot.att_gt, strict=True):
        assert b.se == pytest.approx(a.se, rel=0.15)
    # simultaneous bands are wider than pointwise intervals, but not absurdly so
    for e in analytical.aggregate("dynamic").by:
        half = (e.band[1] - e.band[0]) / 2
        assert 1.96 * e.se < half < 4 * e.se


def two_by_two(df: pl.DataFrame, g: int, t: int, control: str) -> float:
    """ATT(g,t) by hand: mean change from g-1 (or t-1 before treatment) to t of cohort g minus that of
    the controls (never treated, or not yet treated by t)."""
    base = g - 1 if t >= g else t - 1
    wide = df.pivot(on="year", index=["unit", "g"], values="y")
    change = wide[str(t)] - wide[str(base)]
    cohort = wide["g"] == g
    if control == "never-treated":
        controls = wide["g"] == 0
    else:
        controls = (wide["g"] == 0) | ((wide["g"] > max(t, base)) & (wide["g"] != g))
    return float(change.filter(cohort).mean() - change.filter(controls).mean())  # type: ignore[operator]


def panel(seed: int = 0, never: bool = True, n: int = 300) -> pl.DataFrame:
    """Cohorts adopting in 2003, 2005 and 2007 (and never), 2000-2008; the effect is 1 + 0.5 x
    years of exposure, the same in every cohort; unit and year effects, noise 0.5."""
    rng = np.random.default_rng(seed)
    cohorts = (0, 2003, 2005, 2007) if never else (2003, 2005, 2007, 2009)
    rows = []
    for i in range(n):
        g = cohorts[i % 4]
        alpha = rng.normal(0, 1)
        for t in range(2000, 2009):
            effect = 1 + 0.5 * (t - g) if g and t >= g else 0.0
            rows.append({"unit": i, "year": t, "g": g, "y": alpha + 0.2 * (t - 2000) + effect + rng.normal(0, 0.5)})
    return pl.DataFrame(rows)


@pytest.mark.parametrize("control", ["never-treated", "not-yet-treated"])
def test_group_time_effects_equal_hand_computed_differences(control: str) -> None:
    df = panel(seed=3)
    result = callaway_santanna(df, outcome="y", unit="unit", time="year", first_treated="g",
                               control_group=control, method="reg")
    assert len(result.att_gt) > 10
    for r in result.att_gt:
        assert r.att == pytest.approx(two_by_two(df, int(r.group), int(r.time), control), abs=1e-10)


def test_known_dynamic_effect_recovered_without_never_treated_units() -> None:
    """All units adopt eventually (as every IES catchment does); not-yet-treated controls recover the
    planted path 1 + 0.5 e, and the pre-trend test does not reject parallel trends that hold."""
    df = panel(seed=11, never=False, n=600)
    result = callaway_santanna(df, outcome="y", unit="unit", time="year", first_treated="g",
                               control_group="not-yet-treated", method="dr")
    for e in result.aggregate("dynamic").by:
        truth = 1 + 0.5 * e.label if e.label is not None and e.label >= 0 else 0.0
        assert e.band[0] <= truth <= e.band[1], e
    assert result.pretrend_p_value is not None and result.pretrend_p_value > 0.01
    with pytest.raises(UserInputError, match="no never-treated units"):
        callaway_santanna(df, outcome="y", unit="unit", time="year", first_treated="g")


def test_pretrend_test_rejects_a_planted_violation() -> None:
    df = panel(seed=5).with_columns(  # cohort 2007 drifts upward before it is treated
        (pl.col("y") + pl.when(pl.col("g") == 2007).then(0.4 * (pl.col("year") - 2000)).otherwise(0)).alias("y"))
    result = callaway_santanna(df, outcome="y", unit="unit", time="year", first_treated="g")
    assert result.pretrend_p_value is not None and result.pretrend_p_value < 0.001


def test_randomization_inference() -> None:
    small = panel(seed=2, n=24)
    strong = randomization_test(small, outcome="y", unit="unit", time="year", first_treated="g", permutations=99)
    assert strong.permutations >= 90 and strong.p_value <= 0.05
    null = small.with_columns((pl.col("y") - pl.when(pl.col("year") >= pl.col("g")).then(
        1 + 0.5 * (pl.col("year") - pl.col("g"))).otherwise(0) * (pl.col("g") > 0)).alias("y"))
    weak = randomization_test(null, outcome="y", unit="unit", time="year", first_treated="g", permutations=99)
    assert weak.p_value > 0.05
    assert 1 / (1 + weak.permutations) <= weak.p_value <= 1


def test_failure_messages() -> None:
    df = panel(seed=1, n=40)
    kw = {"outcome": "y", "unit": "unit", "time": "year", "first_treated": "g"}
    with pytest.raises(UserInputError, match="missing outcome column 'Y'"):
        callaway_santanna(df, **kw | {"outcome": "Y"})
    with pytest.raises(UserInputError, match=r"outcome column 'y' is not numeric \(first bad value: 'n/a'"):
        callaway_santanna(df.with_columns(pl.col("y").cast(pl.String).replace({df["y"].cast(pl.String)[3]: "n/a"})),
                          **kw)
    with pytest.raises(UserInputError, match="unit 1 has more than one first-treated value"):
        callaway_santanna(df.with_columns(pl.when((pl.col("unit") == 1) & (pl.col("year") == 2008)).then(2004)
                                          .otherwise(pl.col("g")).alias("g")), **kw)
    with pytest.raises(UserInputError, match="no never-treated units"):
        callaway_santanna(df.filter(pl.col("g") > 0), **kw)
    with pytest.raises(UserInputError, match="too few pre-periods"):
        callaway_santanna(df.with_columns(pl.when(pl.col("g") > 0).then(2000).otherwise(0).alias("g")), **kw)
    with pytest.raises(UserInputError, match="no unit is ever treated"):
        callaway_santanna(df.with_columns(pl.lit(0).alias("g")), **kw)
    with pytest.raises(UserInputError, match="one row per unit and time"):
        callaway_santanna(pl.concat([df, df.head(1)]), **kw)
    with pytest.raises(UserInputError, match="unknown method 'ols'"):
        callaway_santanna(df, **kw, method="ols")
    with pytest.raises(UserInputError, match="unknown control group"):
        callaway_santanna(df, **kw, control_group="later")


def test_unbalanced_panel_drops_incomplete_units() -> None:
    df = panel(seed=4, n=80)
    result = callaway_santanna(df.filter(~((pl.col("unit") < 3) & (pl.col("year") == 2004))), outcome="y",
                               unit="unit", time="year", first_treated="g")
    assert result.dropped_units == 3 and result.n_units == 77


def test_cli_json_interface_and_exit_code(tmp_path: Path, mpdta: pl.DataFrame) -> None:
    path = tmp_path / "mpdta.parquet"
    mpdta.write_parquet(path)
    args = ["evaluate", "did", str(path), "--outcome", "lemp", "--unit", "countyreal", "--time", "year",
            "--first-treated", "first.treat"]
    result = CliRunner().invoke(app, [*args, "--method", "reg", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"att_gt", "aggregate", "pretrend", "n_units", "n_obs"} <= data.keys()
    assert data["att_gt"][0].keys() >= {"group", "time", "att", "se"}
    assert data["aggregate"].keys() == {"simple", "group", "dynamic", "calendar"}
    assert data["aggregate"]["dynamic"]["by_event_time"][0].keys() >= {"event_time", "att", "se"}
    assert data["aggregate"]["dynamic"]["att"] == pytest.approx(-0.0772, abs=6e-4)
    assert data["pretrend"]["p_value"] == pytest.approx(MPDTA_PRETEST_P, abs=5e-4)
    assert data["n_units"] == 500 and data["n_obs"] == 2500
    bad = CliRunner().invoke(app, [*args, "--control-group", "later"])
    assert bad.exit_code == 2 and "unknown control group" in bad.output


def rate_panel(seed: int, drift: float) -> pl.DataFrame:
    """15 units x 24 quarters of rates from 300 people each; cohorts adopt at 10, 14 and 18, and one
    (3 units) after the window; the effect is +0.08; every adopting unit drifts by ``drift`` a
    quarter before it adopts."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(15):
        g = (10, 14, 18, 0, 0)[u % 5]
        base = 0.35 + 0.02 * (u % 4)
        for t in range(24):
            p = base + 0.002 * t + (0.08 if g and t >= g else 0.0) + (drift * t if g and t < g else 0.0)
            rows.append({"unit": u, "t": t, "g": g, "n": 300, "rate": rng.binomial(300, p) / 300})
    return pl.DataFrame(rows)


def test_outcome_bootstrap_and_its_pretrend_test() -> None:
    from esmonitor.evaluation.staggered import outcome_bootstrap

    def redraw(rng: np.random.Generator, frame: pl.DataFrame) -> np.ndarray:
        return rng.binomial(frame["n"].to_numpy(), frame["rate"].to_numpy()) / frame["n"].to_numpy()

    kw = {"outcome": "rate", "unit": "unit", "time": "t", "first_treated": "g", "method": "reg",
          "redraw": redraw, "draws": 99}
    clean = outcome_bootstrap(rate_panel(1, 0.0), seed=1, **kw)
    drifting = outcome_bootstrap(rate_panel(1, 0.02), seed=1, **kw)
    # The bootstrap SE against the binomial formula: at e = 0 each cohort's ATT(g,g) is the change of
    # 3 treated units minus that of 6 never-treated ones, variance 2 s2 (1/3 + 1/6) = s2 with
    # s2 = p(1-p)/300; the three cohorts (different quarters, independent) average to s2 / 3.
    s2 = 0.45 * 0.55 / 300
    assert clean.event_se[0.0] == pytest.approx(np.sqrt(s2 / 3), rel=0.3)
    _, p_clean, k = clean.pretrend(before=0.0)
    _, p_drift, _ = drifting.pretrend(before=0.0)
    assert k <= 99 // 4
    assert p_clean > 0.05 and p_drift < 0.01


def test_simultaneous_bands_match_the_library_bootstrap(mpdta: pl.DataFrame) -> None:
    """Our one shared multiplier bootstrap against moderndid's own, aggregation by aggregation."""
    import warnings

    import moderndid

    result = cs(mpdta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mp = moderndid.att_gt(data=mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat")
        for kind in ("group", "dynamic", "calendar"):
            ref = moderndid.aggte(mp, type=kind, boot=True, cband=True, biters=1999, random_state=11)
            half = [(e.band[1] - e.band[0]) / 2 for e in result.aggregate(kind).by]
            expected = ref.critical_values[0] * np.asarray(ref.se_by_event)
            assert half == pytest.approx(list(expected), rel=0.12)
