"""Indicator engine: intervals against published values, headline indicators against an
independent pandas computation, and the generated catalogue document."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from conftest import Ingested
from esmonitor.errors import UserInputError
from esmonitor.indicators.catalogue import BY_ID, CATALOGUE
from esmonitor.indicators.engine import Frames, compute, compute_many, frames_from
from esmonitor.indicators.stats import median_interval, newcombe_difference, wilson
from esmonitor.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[1]


# -- intervals against published values ----------------------------------------------------------
def test_wilson_matches_newcombe_1998_table_i() -> None:
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (score, no correction)
    low, high = wilson(np.array([81, 15, 0, 1]), np.array([263, 148, 20, 29]))
    assert np.round(low, 4).tolist() == [0.2553, 0.0624, 0.0, 0.0061]
    assert np.round(high, 4).tolist() == [0.3662, 0.1605, 0.1611, 0.1718]


def test_newcombe_difference_matches_newcombe_1998_method_10() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II example (a): 56/70 - 48/80
    d, low, high = newcombe_difference(np.array([56]), np.array([70]), np.array([48]), np.array([80]))
    assert (round(float(d[0]), 4), round(float(low[0]), 4), round(float(high[0]), 4)) == (0.2, 0.0524, 0.3339)


@pytest.mark.parametrize(("n", "ranks"), [(20, (6, 15)), (100, (40, 61))])
def test_median_interval_uses_the_binomial_order_statistics(n: int, ranks: tuple[int, int]) -> None:
    # Conover, Practical Nonparametric Statistics: x(6)..x(15) for n = 20, x(40)..x(61) for n = 100
    assert median_interval(np.arange(1, n + 1)) == (float(ranks[0]), float(ranks[1]))


# -- headline indicators against an independent pandas computation ------------------------------
@pytest.fixture(scope="module")
def frames(clean_ingested: Ingested) -> Frames:
    with Warehouse(clean_ingested.warehouse, read_only=True) as w:
        return frames_from(w)


def _tables(path: Path, *names: str) -> dict[str, pd.DataFrame]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        return {n: con.execute(f"SELECT * FROM {n}").df() for n in names}


def _quarter(s: pd.Series) -> pd.Series:
    s = pd.to_datetime(s)
    return s.dt.year.astype(str) + "Q" + s.dt.quarter.astype(str)


def _compare(engine: pl.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    got = engine.to_pandas().set_index(keys).sort_index()
    exp = expected.set_index(keys).sort_index()
    assert list(got.index) == list(exp.index)
    assert (got["numerator"].to_numpy() == exp["numerator"].to_numpy()).all()
    assert (got["denominator"].to_numpy() == exp["denominator"].to_numpy()).all()


def test_referral_to_intake_by_catchment_equals_pandas(clean_ingested: Ingested, frames: Frames) -> None:
    t = _tables(clean_ingested.warehouse, "referral", "site", "provider")
    df = t["referral"].merge(t["site"][["site_id", "provider_id"]], on="site_id").merge(
        t["provider"][["provider_id", "catchment_id"]], on="provider_id")
    df = df[df["result"] != "pending"]
    expected = (df.assign(numerator=(df["result"] == "intake").astype(float), denominator=1.0)
                .groupby("catchment_id", as_index=False)[["numerator", "denominator"]].sum())
    expected["period"] = "all"
    engine = compute(BY_ID["referral_to_intake"], frames, by=["catchment_id"], grain="all")
    _compare(engine, expected, ["period", "catchment_id"])


def test_stream_mix_of_intakes_by_quarter_equals_pandas(clean_ingested: Ingested, frames: Frames) -> None:
    t = _tables(clean_ingested.warehouse, "assessment", "action_plan")
    served = set(t["action_plan"]["client_id"])
    first = (t["assessment"][t["assessment"]["client_id"].isin(served)]
             .sort_values(["client_id", "assessment_date"]).groupby("client_id").head(1))
    first = first.assign(period=_quarter(first["assessment_date"]))
    for stream in "ABC":
        expected = (first.assign(numerator=(first["stream"] == stream).astype(float), denominator=1.0)
                    .groupby("period", as_index=False)[["numerator", "denominator"]].sum())
        engine = compute(BY_ID[f"intake_stream_{stream.lower()}"], frames, grain="quarter")
        _compare(engine, expected, ["period"])


def test_three_month_outcome_rate_by_catchment_and_quarter_equals_pandas(
        clean_ingested: Ingested, frames: Frames) -> None:
    t = _tables(clean_ingested.warehouse, "action_plan", "site", "provider")
    plans = t["action_plan"].merge(t["site"][["site_id", "provider_id"]], on="site_id").merge(
        t["provider"][["provider_id", "catchment_id"]], on="provider_id")
    home = plans.sort_values(["client_id", "start_date", "plan_id"]).groupby("client_id").head(1)
    outcomes = frames.outcome.select("client_id", "checkpoint", "status", "placement_start").to_pandas()
    at3 = outcomes[(outcomes["checkpoint"] == 3) & (outcomes["status"] != "pending")]
    at3 = at3.merge(home[["client_id", "catchment_id"]], on="client_id")
    at3 = at3.assign(period=_quarter(at3["placement_start"]),
                     numerator=(at3["status"] == "achieved").astype(float), denominator=1.0)
    expected = at3.groupby(["period", "catchment_id"], as_index=False)[["numerator", "denominator"]].sum()
    engine = compute(BY_ID["outcome_3m_per_starter"], frames, by=["catchment_id"], grain="quarter")
    _compare(engine, expected, ["period", "catchment_id"])


def test_breakdown_errors_name_the_allowed_values(frames: Frames) -> None:
    with pytest.raises(UserInputError, match="cannot be broken down by shoe_size"):
        compute(BY_ID["referrals"], frames, by=["shoe_size"])
    with pytest.raises(UserInputError, match="no indicator can be broken down by shoe_size"):
        compute_many(frames, by=["shoe_size"])
    with pytest.raises(UserInputError, match="unknown grain"):
        compute(BY_ID["referrals"], frames, grain="week")


def test_counts_count_every_record(frames: Frames) -> None:
    table = compute(BY_ID["clients_served"], frames, grain="all")
    assert table["value"].to_list() == [float(frames.client.height)]


# -- the catalogue document ------------------------------------------------------------------------
def test_catalogue_doc_matches_and_every_indicator_is_bilingual() -> None:
    from esmonitor.indicators.docs import render_catalogue_markdown

    assert (ROOT / "docs" / "indicators.md").read_text("utf-8") == render_catalogue_markdown(), \
        "run: ./run esmonitor indicators --catalogue-doc docs/indicators.md"
    for i in CATALOGUE:
        assert i.fr and i.definition_fr and i.definition_fr != i.definition_en, i.id


def test_planted_social_assistance_gap_is_recovered_within_its_interval(
        clean_ingested: Ingested, frames: Frames) -> None:
    """The synthetic province's expected job-start rates (from its generating model, averaged over
    the drawn clients) for plans begun a year or more before the as-of date."""
    truth = clean_ingested.manifest["realised"]["expected_job_start_rate_mature_plans"]
    gap = compute(BY_ID["gap_job_start_social_assistance"], frames, grain="all").row(0, named=True)
    assert gap["ci_low"] <= truth["gap"] <= gap["ci_high"]
    assert gap["ci_high"] - gap["ci_low"] < 0.08   # informative, not just wide
    assert gap["ci_low"] > 0.05                    # and clearly a gap, as planted
    rate = compute(BY_ID["job_start_rate"], frames, by=["social_assistance"], grain="all")
    by_group = {r["social_assistance"]: r for r in rate.iter_rows(named=True)}
    other = by_group["none"]
    assert other["ci_low"] <= truth["other"] <= other["ci_high"]


def test_gap_equals_difference_of_the_two_group_rates(frames: Frames) -> None:
    gap = compute(BY_ID["gap_outcome_3m_disability"], frames, grain="all").row(0, named=True)
    rate = compute(BY_ID["outcome_3m_per_served"], frames, by=["disability"], grain="all")
    by_group = {r["disability"]: r["value"] for r in rate.iter_rows(named=True)}
    assert gap["value"] == pytest.approx(by_group["no"] - by_group["yes"], abs=1e-12)


def test_active_caseload_and_wioa_on_a_hand_made_frame() -> None:
    """Four plans, worked by hand: caseload at each quarter end; WIOA quarters after exit."""
    from datetime import date

    from esmonitor.indicators.engine import _exiters

    plan = pl.DataFrame({
        "plan_id": ["p1", "p2", "p3", "p4"], "client_id": ["a", "b", "c", "d"],
        "start_date": [date(2024, 1, 15), date(2024, 2, 1), date(2024, 5, 1), date(2024, 8, 1)],
        "close_date": [date(2024, 3, 31), date(2024, 6, 30), None, date(2024, 8, 20)],
        "catchment_id": ["HNP"] * 4,
    })
    spells = pl.DataFrame({
        "client_id": ["a", "a", "b"],
        "job_start": [date(2024, 7, 1), date(2025, 1, 1), date(2024, 12, 31)],
        "job_end": [date(2024, 7, 14), None, date(2024, 12, 31)],
        "hours_per_week": [35.0, 20.0, 40.0], "hourly_wage": [20.0, 18.0, 25.0],
    })
    as_of = date(2025, 6, 30)
    exiter = _exiters(plan, spells, as_of)
    frames = Frames(referral=pl.DataFrame(), client=pl.DataFrame(), starter=pl.DataFrame(),
                    outcome=pl.DataFrame(), plan=plan, exiter=exiter, as_of=as_of)
    caseload = compute(BY_ID["active_caseload"], frames, grain="quarter")
    # Q1 2024: p1, p2 start; p1 closes 03-31 -> 1 open.  Q2: p3 starts, p2 closes -> 1.
    # Q3: p4 starts and closes -> 1.  (p3 stays open.)
    assert dict(zip(caseload["period"], caseload["value"], strict=True)) == {
        "2024Q1": 1.0, "2024Q2": 1.0, "2024Q3": 1.0}
    # the whole window at once (grain all, with bounds): p3 is the one plan still open
    whole = compute(BY_ID["active_caseload"], frames, grain="all", start=date(2024, 1, 1), end=date(2024, 12, 31))
    assert whole["value"].to_list() == [1.0]
    rows = {r["plan_id"]: r for r in exiter.iter_rows(named=True)}
    # p1 exits in 2024Q1: Q2 after = 2024Q3 (job 07-01..07-14: 14 days), Q4 after = 2025Q1 (job from 01-01)
    assert (rows["p1"]["employed_q2"], rows["p1"]["employed_q4"]) == (True, True)
    assert rows["p1"]["earnings_q2"] == pytest.approx(35 * 20 * 14 / 7)
    # p2 exits in 2024Q2: Q2 after = 2024Q4 (job on 12-31 only: 1 day); Q4 after = 2025Q2, not employed
    assert (rows["p2"]["employed_q2"], rows["p2"]["employed_q4"]) == (True, False)
    assert rows["p2"]["earnings_q2"] == pytest.approx(40 * 25 / 7)
    # p4 exits in 2024Q3: Q4 after = 2025Q3 ends after the as-of date: not decided
    assert (rows["p4"]["decided_q2"], rows["p4"]["decided_q4"]) == (True, False)
    q2 = compute(BY_ID["wioa_employment_q2"], frames, grain="all").row(0, named=True)
    assert (q2["numerator"], q2["denominator"]) == (2.0, 3.0)
    q4 = compute(BY_ID["wioa_employment_q4"], frames, grain="all").row(0, named=True)
    assert (q4["numerator"], q4["denominator"]) == (1.0, 2.0)


def test_planted_creaming_is_recovered_within_its_interval(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A larger province (the three creaming catchments hold about 15 % of clients): the stream C
    share of intakes after go-live, pooled over them, covers the expected share under creaming
    and excludes the share the same referrals would have given without it."""
    import json
    from datetime import timedelta

    from conftest import ingest_folder
    from esmonitor.model.reference import catchment
    from esmonitor.synth import SynthConfig, generate, write_province

    out = tmp_path_factory.mktemp("creaming")
    write_province(generate(SynthConfig(clients=30_000, seed=5)), out / "x")
    ingest_folder(out / "w.duckdb", out / "x")
    manifest = json.loads((out / "x" / "manifest.json").read_text())
    truth = manifest["realised"]["expected_stream_c_share_creaming_catchments"]
    with Warehouse(out / "w.duckdb", read_only=True) as w:
        frames = frames_from(w)
    numerator = denominator = 0.0
    for cid in manifest["planted_effects"]["creaming_catchments"]:
        start = catchment(cid).ies_start + timedelta(days=90)
        table = compute(BY_ID["intake_stream_c"], frames, by=["catchment_id"], grain="all", start=start,
                        end=frames.as_of - timedelta(days=60))
        row = table.filter(pl.col("catchment_id") == cid).row(0, named=True)
        numerator += row["numerator"]
        denominator += row["denominator"]
    low, high = wilson(np.array([numerator]), np.array([denominator]))
    assert low[0] <= truth["with_creaming"] <= high[0]
    assert not low[0] <= truth["without_creaming"] <= high[0]


def test_only_the_frames_asked_for_are_read(clean_ingested: Ingested, frames: Frames) -> None:
    with Warehouse(clean_ingested.warehouse, read_only=True) as w:
        partial = frames_from(w, needed=["referral"])
    assert partial.client is None and partial.outcome is None
    with pytest.raises(ValueError, match="was not read"):
        partial.get("client")
    full = compute(BY_ID["referral_to_intake"], frames, by=["catchment_id"], grain="quarter")
    assert compute(BY_ID["referral_to_intake"], partial, by=["catchment_id"], grain="quarter").equals(full)
