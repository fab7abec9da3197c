"""Closed questions by hand: distribution, mean and interval, agreement share, weights, the
comparison between waves, and the public version through the disclosure layer."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from esmonitor.voices.closed import compare, likert_summary, poststratify, protect_summary


def _frame() -> pl.DataFrame:
    # wave 2024: answers 1,2,2,3,4 ; wave 2025: 3,4,4,5,5,5 (question wait_ok); catchments A/B
    values = ["1", "2", "2", "3", "4", "3", "4", "4", "5", "5", "5"]
    return pl.DataFrame({"response_id": [f"r{i}" for i in range(11)], "question": ["wait_ok"] * 11, "value": values,
                         "wave": ["2024"] * 5 + ["2025"] * 6, "catchment_id": ["A", "A", "B", "B", "B"] + ["A"] * 6})


def test_likert_summary_by_hand() -> None:
    s = likert_summary(_frame(), by=("wave",)).sort("wave")
    first = s.row(0, named=True)
    assert (first["n"], first["n_1"], first["n_2"], first["n_3"], first["n_4"], first["n_5"]) == (5, 1, 2, 1, 1, 0)
    assert first["mean"] == pytest.approx(12 / 5)
    sd = np.std([1, 2, 2, 3, 4], ddof=1)
    half = stats.t.ppf(0.975, 4) * sd / np.sqrt(5)
    assert (first["mean_low"], first["mean_high"]) == pytest.approx((2.4 - half, 2.4 + half))
    assert first["agree"] == pytest.approx(1 / 5)
    second = s.row(1, named=True)
    assert second["agree"] == pytest.approx(5 / 6) and second["mean"] == pytest.approx(26 / 6)


def test_weights_post_stratify_to_the_population() -> None:
    frame = _frame().filter(pl.col("wave") == "2024")  # A: answers 1, 2 ; B: 2, 3, 4
    weighted = poststratify(frame, {"A": 300.0, "B": 100.0})
    # A: 75 % of the population, 40 % of respondents -> 1.875 ; B: 25 % / 60 % -> 0.41667
    assert weighted.filter(pl.col("catchment_id") == "A")["weight"][0] == pytest.approx(0.75 / 0.4)
    s = likert_summary(weighted, by=("wave",), weighted=True).row(0, named=True)
    assert s["mean"] == pytest.approx(0.75 * 1.5 + 0.25 * 3.0)  # each catchment's mean at its population share
    with pytest.raises(ValueError, match="B"):
        poststratify(frame, {"A": 1.0})


def test_compare_waves_is_welch() -> None:
    result = compare(_frame(), "wait_ok", "wave", "2024", "2025")
    a, b = [1, 2, 2, 3, 4], [3, 4, 4, 5, 5, 5]
    assert result["difference"] == pytest.approx(np.mean(b) - np.mean(a))
    assert result["p_value"] == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue)


def test_public_summary_hides_small_groups_and_cells() -> None:
    """Three waves, the last with 7 respondents: its figures are hidden, and so is a second wave's
    count (else 7 = overall total - the others); every published count is at least 10."""
    rng = np.random.default_rng(0)
    rows = []
    for wave, n in (("2023", 80), ("2024", 40), ("2025", 7)):
        for i in range(n):
            rows.append({"response_id": f"{wave}-{i}", "question": "wait_ok", "value": str(rng.integers(1, 6)),
                         "wave": wave, "catchment_id": "A"})
    s = likert_summary(pl.DataFrame(rows), by=("wave",))
    public = protect_summary(s, by=("wave",), min_count=10).sort("wave")
    small = public.filter(pl.col("wave") == "2025").row(0, named=True)
    assert small["mean"] is None and small["n"] is None and small["agree"] is None
    assert public["n"].null_count() == 2  # the small wave and one more
    shown = public.filter(pl.col("n").is_not_null())
    assert shown.height == 1
    wave = shown["wave"][0]
    assert shown["mean"][0] == pytest.approx(s.filter(pl.col("wave") == wave)["mean"][0])
    for choice in "12345":
        assert all(v >= 10 for v in public[f"n_{choice}"].drop_nulls())
