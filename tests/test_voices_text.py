"""Open text on synthetic answers with known themes and planted identifiers: redaction recall,
themes recovered (adjusted Rand index) and reproducible, kappa by hand, safe quotes at K-1 and K."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import adjusted_rand_score

from esmonitor.synth.voices import open_answers
from esmonitor.voices.quotes import safe_quotes
from esmonitor.voices.redact import Redactor
from esmonitor.voices.themes import cohen_kappa, find_themes, suggest_codes


@pytest.fixture(scope="module", params=["en", "fr"])
def answers(request: pytest.FixtureRequest) -> list:
    return open_answers(600, request.param, seed=11)


def test_planted_identifiers_are_redacted(answers: list) -> None:
    redactor = Redactor()
    planted = [(a, value) for a in answers for _, value in a.planted]
    assert len(planted) >= 150
    survived = [value for a, value in planted if value in redactor.redact(a.text)]
    assert 1 - len(survived) / len(planted) >= 0.98, survived


def test_themes_recover_the_planted_ones_and_rerun_identically(answers: list) -> None:
    redactor = Redactor()
    texts = [redactor.redact(a.text) for a in answers]
    language = answers[0].language
    found = find_themes(texts, language, seed=5)
    truth = [a.theme for a in answers]
    assert adjusted_rand_score(truth, found.assignment) >= 0.6
    again = find_themes(texts, language, seed=5)
    assert (again.assignment == found.assignment).all()
    assert [(t.label, t.keywords, t.size, t.quotes) for t in again.themes] == \
        [(t.label, t.keywords, t.size, t.quotes) for t in found.themes]
    assert sum(t.size for t in found.themes) == len(texts)
    for theme in found.themes:  # a quote is an answer of its own theme
        assert all(found.assignment[q] == theme.id for q in theme.quotes) and len(theme.keywords) == 8


def test_cohen_kappa_by_hand() -> None:
    # 10 answers, codes A/B/C: 7 agreements; both coders use A 4 times, B 3, C 3.
    # p_o = 0.7; p_e = .4*.4 + .3*.3 + .3*.3 = 0.34; kappa = (0.7 - 0.34) / 0.66 = 0.545454...
    first, second = list("AABBBCCCAA"), list("AABBCCCAAB")
    assert cohen_kappa(first, second) == pytest.approx(0.36 / 0.66, abs=1e-12)
    assert cohen_kappa(first, first) == 1.0
    # a classic: two raters, yes/no, 50 items: 20 yes-yes, 5 yes-no, 10 no-yes, 15 no-no -> 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4, abs=1e-12)
    with pytest.raises(ValueError):
        cohen_kappa(["a"], ["a", "b"])


def test_suggested_codes_agree_with_the_truth(answers: list) -> None:
    texts = [a.text for a in answers]
    truth = [a.theme for a in answers]
    coded = {i: truth[i] for i in range(0, len(texts), 4)}  # analysts code a quarter
    suggested = suggest_codes(texts, coded, answers[0].language)
    rest = [i for i in range(len(texts)) if i not in coded]
    assert cohen_kappa([truth[i] for i in rest], [suggested[i] for i in rest]) >= 0.8


def test_safe_quotes_at_k_minus_one_and_k() -> None:
    k = 5
    rows = [{"role": "job_seeker", "catchment_id": "TOR", "wave": "2025",
             "answer": f"Answer {i}, call 416-555-01{i:02d}"} for i in range(k)]
    rows += [{"role": "employer", "catchment_id": "TOR", "wave": "2025", "answer": f"Employer answer {i}"}
             for i in range(k - 1)]
    frame = pl.DataFrame(rows)
    quotes = safe_quotes(frame, min_count=k)
    assert set(quotes["role"]) == {"job_seeker"} and quotes.height == k  # K respondents: quotable
    assert not quotes.filter(pl.col("role") == "employer").height      # K - 1: never
    assert all("555" not in q and "[PHONE]" in q for q in quotes["quote"])
    with_equity = frame.with_columns(pl.Series("indigenous", ["yes"] + ["no"] * (frame.height - 1)))
    split = safe_quotes(with_equity, group=("role", "catchment_id", "wave", "indigenous"), min_count=k)
    assert split.height == 0  # the equity attribute splits the k job seekers into 1 and k - 1
    assert np.array_equal(safe_quotes(frame, min_count=k - 1)["group_size"].unique().sort().to_numpy(), [k - 1, k])
