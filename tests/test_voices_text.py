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


def _expand(table: list[list[int]]) -> tuple[list[str], list[str]]:
    first, second = [], []
    for i, row in enumerate(table):
        for j, n in enumerate(row):
            first += [str(i)] * n
            second += [str(j)] * n
    return first, second


@pytest.mark.parametrize(("table", "published"), [
    # Fleiss and Paik (2003), as computed by statpsych's ci.kappa(.05, 31, 12, 4, 58): Cohen's kappa
    # 0.6756757, SE 0.07344761, 95 % interval 0.5317210 to 0.8196303
    ([[31, 12], [4, 58]], (0.6756757, 0.07344761, 0.5317210, 0.8196303)),
    # Stata's kapci on a 1,932-case table (Statalist, 2009-12): kappa 0.3411969, SE 0.0262914,
    # analytical interval 0.2896668 to 0.3927271
    ([[1395, 118], [261, 158]], (0.3411969, 0.0262914, 0.2896668, 0.3927271)),
])
def test_kappa_interval_against_published_worked_examples(table: list[list[int]],
                                                           published: tuple[float, ...]) -> None:
    from esmonitor.voices.themes import kappa_interval

    found = kappa_interval(*_expand(table))
    assert (found.kappa, found.se, found.low, found.high) == pytest.approx(published, abs=5e-7)
    assert found.n == sum(map(sum, table))
    assert found.kappa == pytest.approx(cohen_kappa(*_expand(table)), abs=1e-12)  # the hand formula agrees


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


# -- the command line ----------------------------------------------------------------------------------
def _cli(*args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from esmonitor.cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def answers_file(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    mixed = open_answers(240, "en", seed=21) + open_answers(240, "fr", seed=22)
    rng = np.random.default_rng(3)
    frame = pl.DataFrame({
        "answer": [a.text for a in mixed],
        "role": ["employer" if i % 40 == 0 else "job_seeker" for i in range(len(mixed))],  # employers: 12
        "catchment_id": rng.choice(["TOR", "HNP"], len(mixed)).tolist(), "wave": ["2025"] * len(mixed),
        "code": [a.theme if i % 2 == 0 else None for i, a in enumerate(mixed)],
        "code2": [(a.theme if i % 8 else "funding") if i % 4 == 0 else None for i, a in enumerate(mixed)]})
    path = tmp_path_factory.mktemp("voices") / "answers.csv"
    frame.write_csv(path)
    return path, mixed, frame


def test_voices_themes_command_reports_both_languages_with_safe_quotes(answers_file: tuple) -> None:
    import json

    path, mixed, frame = answers_file
    code, output = _cli("voices", "themes", str(path), "--text", "answer", "--seed", "2", "--min-count", "10", "--json")
    assert code == 0, output
    report = json.loads(output)
    assert set(report["languages"]) == {"en", "fr"}
    for lang, block in report["languages"].items():
        assert block["answers"] == sum(a.language == lang for a in mixed)
        assert sum(t["size"] for t in block["themes"]) == block["answers"]
        for theme in block["themes"]:
            assert all(g["len"] >= 10 for g in theme["by_group"])
            for quote in theme["quotes"]:
                assert "@" not in quote and "555" not in quote
    quoted = {q for block in report["languages"].values() for t in block["themes"] for q in t["quotes"]}
    employer_texts = set(frame.filter(pl.col("role") == "employer")["answer"].to_list())
    # employers in a catchment number 12 at most, split over two catchments: under 10 each, never quoted
    assert not quoted & {Redactor().redact(t) for t in employer_texts}


def test_voices_code_command_kappas(answers_file: tuple) -> None:
    import json

    path, mixed, _ = answers_file
    code, output = _cli("voices", "code", str(path), "--text", "answer", "--codes", "code", "--second", "code2",
                        "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["coded"] == 240 and report["double_coded"] == 120
    first = [a.theme for i, a in enumerate(mixed) if i % 4 == 0]
    second = [(a.theme if i % 8 else "funding") for i, a in enumerate(mixed) if i % 4 == 0]
    assert report["kappa_between_coders"] == pytest.approx(cohen_kappa(first, second), abs=1e-12)
    low, high = report["kappa_between_coders_ci"]
    assert low < report["kappa_between_coders"] < high
    assert 0.3 < report["kappa_model_vs_coder"] <= 1


def test_voices_commands_name_bad_input(answers_file: tuple, tmp_path) -> None:
    path, _, _ = answers_file
    code, output = _cli("voices", "themes", str(path), "--text", "nope")
    assert code == 2 and "nope" in output and "Traceback" not in output
    code, output = _cli("voices", "quotes", str(path), "--text", "answer", "--group", "role,region")
    assert code == 2 and "region" in output
    code, output = _cli("voices", "redact", str(tmp_path / "none.csv"), "--text", "a", "--out", str(tmp_path / "o.csv"))
    assert code == 2 and "not found" in output
