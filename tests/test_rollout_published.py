"""The rollout from published tables: a catchment × fiscal-year panel with a planted effect.

The panel is built by hand from the real go-live dates (reference data): each catchment's rate is
a catchment level plus a provincial trend, plus a planted effect from its first fiscal year wholly
under IES (none in its transition years), each rate drawn binomially from its published count.
The estimate must recover the planted effect, its interval must cover it, a null effect must be
covered by its interval, and the refusals must say why.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from esmonitor.errors import UserInputError
from esmonitor.evaluation.rollout_published import evaluate_published_rollout, first_full_fiscal_year, published_panel
from esmonitor.model import reference

RELEASE = "foi_workbook:hand_made"
YEARS = range(2017, 2026)  # FY2017-18 .. FY2025-26: the last phase has a full year under IES
CLIENTS = 6000  # per catchment-year: the rates' sampling error is about 0.6 points


def _label(t: int) -> str:
    return f"FY{t}-{(t + 1) % 100:02d}"


def hand_panel(effect: float, seed: int = 7, years: range = YEARS, release: str = RELEASE,
               clients: int = CLIENTS) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i, c in enumerate(reference.catchments()):
        g = first_full_fiscal_year(c.ies_start)
        level = 0.40 + 0.01 * i
        for t in years:
            p = level + 0.015 * (t - years.start) + (effect if t >= g else 0.0)
            employed = int(rng.binomial(clients, p))
            rows.append({"indicator": "employed_3m_reported", "grain": "fiscal_year", "period": _label(t),
                         "catchment_id": c.catchment_id, "client_type": "all", "dimension": "all", "group": "all",
                         "release": release, "numerator": float(employed), "denominator": float(clients),
                         "value": employed / clients, "ci_low": None, "ci_high": None, "bound_low": employed / clients,
                         "bound_high": employed / clients})
    return pl.DataFrame(rows)


@pytest.mark.parametrize("effect", [0.06, 0.0])
def test_the_planted_effect_is_recovered_and_covered(effect: float) -> None:
    result = evaluate_published_rollout(hand_panel(effect), draws=99, permutations=19)
    out = result.as_dict()
    att, (low, high) = out["effect"]["att"], out["effect"]["ci"]
    assert abs(att - effect) < 0.015, out["effect"]
    assert low <= effect <= high, out["effect"]
    assert high - low < 0.05  # informative: 6,000 clients a catchment-year
    # every catchment observed before its transition began: none left out
    assert out["left_out"] == {} and out["units"] == 15 and out["anticipation_years"] == 2
    assert out["first_period"] == "FY2017-18" and out["last_period"] == "FY2025-26"
    # event study: the years before each transition are flat (no planted pre-trend)
    pre = [e for e in out["event_study"] if e["event_time"] < -2]
    assert pre and all(abs(e["att"]) < 0.02 for e in pre), pre
    assert out["randomization"] is not None
    if effect:
        assert out["randomization"]["p_value"] <= 0.1, out["randomization"]


def test_transition_years_are_set_aside_not_counted_as_effect() -> None:
    # a dip during the transition (the years from its start to the first full IES year) must not
    # enter the overall effect, which averages the years from go-live on
    frame = hand_panel(0.05)
    transition = {c.catchment_id: (reference.fiscal_year_start(c.transition_start), first_full_fiscal_year(c.ies_start))
                  for c in reference.catchments()}
    t = pl.col("period").str.slice(2, 4).cast(pl.Int64)
    start = pl.col("catchment_id").replace_strict({k: v[0] for k, v in transition.items()})
    go = pl.col("catchment_id").replace_strict({k: v[1] for k, v in transition.items()})
    dipped = frame.with_columns(pl.when((t >= start) & (t < go)).then(pl.col("value") - 0.08)
                                .otherwise(pl.col("value")).alias("value"))
    out = evaluate_published_rollout(dipped, draws=99, permutations=0).as_dict()
    assert abs(out["effect"]["att"] - 0.05) < 0.015, out["effect"]
    # published to FY2024-25 only, the last phase (transition from January 2024, IES from January
    # 2025) would be an untreated comparison while it dips: the years from its transition are set
    # aside, and the estimate stays unbiased
    short = dipped.filter(pl.col("period") <= "FY2024-25")
    out = evaluate_published_rollout(short, draws=99, permutations=0).as_dict()
    assert out["last_period"] == "FY2021-22", out["notes"]
    assert any("years after FY2021-22 set aside: NEA, NWE, TOR" in n for n in out["notes"]), out["notes"]
    assert abs(out["effect"]["att"] - 0.05) < 0.015 and out["effect"]["ci"][0] <= 0.05 <= out["effect"]["ci"][1]


def test_a_measure_only_published_from_go_live_on_is_refused() -> None:
    # from FY2023-24: no catchment is seen in the year before its transition began
    with pytest.raises(UserInputError, match="observed both before its IES transition") as err:
        evaluate_published_rollout(hand_panel(0.05, years=range(2023, 2026)), draws=9, permutations=0)
    assert "an IES table that starts with IES cannot show what IES changed" in (err.value.hint or "")


def test_the_catchments_not_seen_before_their_transition_are_left_out_with_the_reason() -> None:
    # from FY2020-21, as the FOI tables: the prototypes' transitions began in FY2019-20
    made = published_panel(hand_panel(0.05, years=range(2020, 2026)))
    assert set(made.left_out) == {"HNP", "MKW", "PEL"}
    assert all("not observed before go-live" in why for why in made.left_out.values())
    assert made.rules["PEL"] == {"rule": "not_observed_before", "transition": "FY2019-20", "first": "FY2020-21"}
    assert made.frame["unit"].n_unique() == 12
    # and then every catchment left is treated by FY2025-26, each within two years (its transition)
    # of the next: none can serve as the comparison of another after its go-live
    with pytest.raises(UserInputError, match="has a comparison after its go-live") as err:
        evaluate_published_rollout(hand_panel(0.05, years=range(2020, 2026)), draws=9, permutations=0)
    assert "not yet be in its own transition" in (err.value.hint or "")


def test_splicing_two_kinds_of_release_is_refused() -> None:
    legacy = hand_panel(0.0, years=range(2017, 2021), release="es_outcomes:legacy")
    ies = hand_panel(0.05, years=range(2021, 2026))
    with pytest.raises(UserInputError, match="not the same measure") as err:
        evaluate_published_rollout(pl.concat([legacy, ies]), draws=9, permutations=0)
    assert "--release" in (err.value.hint or "")
    # one release chosen: then the question is only whether it is observed before go-live
    with pytest.raises(UserInputError, match=r"observed both before|has a comparison after its go-live"):
        evaluate_published_rollout(pl.concat([legacy, ies]), release=RELEASE, draws=9, permutations=0)


def test_a_catchment_missing_a_year_is_left_out_and_a_bounded_cell_is_named() -> None:
    frame = hand_panel(0.05)
    frame = frame.filter(~((pl.col("catchment_id") == "TOR") & (pl.col("period") == "FY2019-20")))
    frame = frame.with_columns(pl.when((pl.col("catchment_id") == "LON") & (pl.col("period") == "FY2018-19"))
                               .then(None).otherwise(pl.col("value")).alias("value"))
    out = evaluate_published_rollout(frame, draws=99, permutations=0).as_dict()
    assert out["left_out"] == {"TOR": "not published in every fiscal year of the panel",
                               "LON": "not published in every fiscal year of the panel"}
    assert any("LON FY2018-19" in n for n in out["notes"])


def test_cli_evaluates_the_rollout_from_a_generic_published_table(tmp_path: Path) -> None:
    """The whole path a monitor takes: a table typed in a spreadsheet (counts by catchment and fiscal
    year), a TOML mapping, `esmonitor ingest`, `esmonitor evaluate rollout --source aggregate`."""
    import json

    from typer.testing import CliRunner

    from esmonitor.cli import app

    frame = hand_panel(0.06)
    names = {c.catchment_id: c.name_en for c in reference.catchments()}
    table = tmp_path / "outcomes_3m.csv"
    pl.DataFrame({
        "Fiscal Year": [p[2:6] + "-" + p[7:] for p in frame["period"]],
        "Catchment": [names[c] for c in frame["catchment_id"]],
        "Months after": ["3 months"] * frame.height,
        "Employed": [f"{int(v):,}" for v in frame["numerator"]],
        "Clients with a status": [f"{int(v):,}" for v in frame["denominator"]],
    }).write_csv(table)
    mapping = tmp_path / "map.toml"
    mapping.write_text("""
[[file]]
match = "outcomes_3m.csv"

[file.release]
id = "typed-3m"
title = "Employment status at 3 months, typed from annual reports"
publisher = "A network of providers"

[file.aggregate]
geo_type = "catchment"
columns = { period = "Fiscal Year", geography = "Catchment", interval = "Months after" }
values = { "Employed" = "outcome_employed", "Clients with a status" = "outcome_total" }
""", "utf-8")
    key = tmp_path / "key"
    key.write_text("ab" * 32 + "\n", "ascii")
    key.chmod(0o600)
    w = tmp_path / "w.duckdb"
    runner = CliRunner()
    got = runner.invoke(app, ["ingest", str(table), "-w", str(w), "--mapping", str(mapping), "--key-file", str(key)])
    assert got.exit_code == 0, got.output
    # every figure from the table cites it, in the indicator table too
    table_rows = json.loads(runner.invoke(app, ["indicators", "-w", str(w), "--source", "aggregate", "--format",
                                                "json"]).stdout)
    assert table_rows and {r["citation"] for r in table_rows} == {
        "A network of providers, Employment status at 3 months, typed from annual reports"}
    got = runner.invoke(app, ["evaluate", "rollout", "-w", str(w), "--source", "aggregate", "--json",
                              "--draws", "49", "--permutations", "0"])
    assert got.exit_code == 0, got.output
    out = json.loads(got.output)
    assert out["releases"] == ["typed-3m"] and out["units"] == 15
    assert abs(out["effect"]["att"] - 0.06) < 0.015 and out["effect"]["ci"][0] <= 0.06 <= out["effect"]["ci"][1]


def _paragraphs(doc: object) -> list[str]:
    from esmonitor.report.document import Paragraph

    return [b.text for s in doc.sections if s.id == "rollout" for b in s.blocks  # type: ignore[attr-defined]
            if isinstance(b, Paragraph)]


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_monitor_report_words_refusals_and_exclusions_in_its_language(lang: str) -> None:
    from esmonitor.evaluation.rollout_published import RolloutRefused
    from esmonitor.report.monitor import monitor_document

    frame = hand_panel(0.05, years=range(2020, 2026))
    with pytest.raises(RolloutRefused) as err:
        evaluate_published_rollout(frame, draws=9, permutations=0)
    refused = _paragraphs(monitor_document(frame, [], err.value.as_dict(), lang, versions={}))
    expected = {"en": "so none can serve as the comparison", "fr": "aucune ne peut servir de comparaison"}[lang]
    assert len(refused) == 1 and expected in refused[0], refused
    # a panel with exclusions and years set aside (to FY2024-25, the last phase in transition)
    gone = hand_panel(0.05, years=range(2017, 2025)).filter(
        ~((pl.col("catchment_id") == "TOR") & (pl.col("period") == "FY2019-20")))
    out = evaluate_published_rollout(gone, draws=19, permutations=0).as_dict()
    shown = _paragraphs(monitor_document(gone, [], out, lang, versions={}))
    from esmonitor.report.i18n import Language

    after = Language(lang).period("FY2021-22")
    words = {"en": ("Left out: Toronto (not published for every fiscal year).", f"Years after {after} set aside",
                    "Average change in “Employed at 3 months (as published)” after go-live"),
             "fr": ("Exclue : Toronto (pas publiée pour chaque exercice).", f"Années après {after} mises de côté",
                    "Changement moyen de l'indicateur « En emploi à 3 mois (tel que publié) »")}
    for w in words[lang]:
        assert any(w in p for p in shown), (w, shown)
    if lang == "fr":  # nothing of the evaluation's English reasons
        assert not any("fiscal year of the panel" in p or "set aside:" in p for p in shown), shown
