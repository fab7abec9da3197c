"""Funded-outcome rules, one hand-worked case per rule and edge.

Every expected status below was worked out by hand from the rules in the module docstring of
esmonitor.indicators.outcomes and the Ontario minimum-wage schedule (15.50 from 2022-10-01,
16.55 from 2023-10-01, 17.20 from 2024-10-01, 17.60 from 2025-10-01).
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from esmonitor.indicators.outcomes import SPELL_COLUMNS, STARTER_COLUMNS, OutcomeRules, funded_outcomes

AS_OF = date(2025, 12, 31)


def starter(client: str, intake: date, hours_at_intake: float = 0.0, catchment: str = "HNP") -> dict:
    return {"client_id": client, "catchment_id": catchment, "intake_date": intake,
            "hours_at_intake": hours_at_intake}


def spell(spell_id: str, client: str, start: date, *, end: date | None = None, hours: float = 30.0,
          wage: float = 18.00, employer: str | None = "E1", subsidized: bool = False,
          subsidy_end: date | None = None, self_employed: bool = False, income: float | None = None,
          evidence: str = "pay_stub") -> dict:
    return {"spell_id": spell_id, "client_id": client, "employer_id": None if self_employed else employer,
            "job_start": start, "job_end": end, "hours_per_week": hours, "hourly_wage": wage,
            "subsidized": subsidized, "subsidy_end": subsidy_end, "self_employed": self_employed,
            "self_employment_net_income_4wk": income, "evidence_type": evidence}


def run(starters: list[dict], spells: list[dict], as_of: date = AS_OF, **rules: object) -> dict:
    result = funded_outcomes(pl.DataFrame(starters, schema=STARTER_COLUMNS),
                             pl.DataFrame(spells, schema=SPELL_COLUMNS), as_of, OutcomeRules(**rules))
    return {(r["client_id"], r["checkpoint"]): (r["status"], r["basis"], r["reason"])
            for r in result.iter_rows(named=True)}


ACHIEVED = ("achieved", "primary", None)


def test_minimum_wage_change_between_job_start_and_checkpoint() -> None:
    # Job from 2023-02-01 at $16.00: above 15.50 until 2023-09-30, below 16.55 from 2023-10-01.
    out = run([starter("A", date(2023, 1, 10))], [spell("J1", "A", date(2023, 2, 1), wage=16.00)])
    assert out[("A", 1)] == ACHIEVED          # 2023-03-01, minimum 15.50
    assert out[("A", 6)] == ACHIEVED          # 2023-08-01, minimum 15.50
    assert out[("A", 12)] == ("not_achieved", None, "wage_below_minimum")  # 2024-02-01, minimum 16.55


@pytest.mark.parametrize(("hours", "expected"), [
    (19.9, ("not_achieved", None, "hours_below_threshold")),
    (20.0, ACHIEVED),
])
def test_twenty_hours_is_the_threshold(hours: float, expected: tuple) -> None:
    out = run([starter("B", date(2023, 1, 10))], [spell("J1", "B", date(2023, 2, 1), hours=hours)])
    assert out[("B", 1)] == expected


def test_checkpoints_after_the_as_of_date_are_pending_not_failures() -> None:
    out = run([starter("D", date(2025, 9, 1))], [spell("J1", "D", date(2025, 10, 15), wage=17.60)])
    assert out[("D", 1)] == ACHIEVED          # 2025-11-15 <= 2025-12-31
    assert out[("D", 3)] == ("pending", None, None)   # 2026-01-15
    assert out[("D", 12)] == ("pending", None, None)


def test_subsidy_ending_before_and_on_a_checkpoint() -> None:
    out = run([starter("E", date(2023, 1, 10)), starter("F", date(2023, 1, 10))],
              [spell("J1", "E", date(2023, 2, 1), subsidized=True, subsidy_end=date(2023, 4, 15)),
               spell("J2", "F", date(2023, 2, 1), subsidized=True, subsidy_end=date(2023, 5, 1))])
    assert out[("E", 1)] == ("not_achieved", None, "subsidy_active")   # 2023-03-01: subsidy runs
    assert out[("E", 3)] == ACHIEVED                                   # 2023-05-01: ended 04-15
    assert out[("F", 3)] == ("not_achieved", None, "subsidy_active")   # ends on the checkpoint day
    assert out[("F", 6)] == ACHIEVED                                   # 2023-08-01


def test_subsidy_never_ended_earns_nothing() -> None:
    out = run([starter("E", date(2023, 1, 10))],
              [spell("J1", "E", date(2023, 2, 1), subsidized=True, subsidy_end=None)])
    assert {out[("E", k)] for k in (1, 3, 6, 12)} == {("not_achieved", None, "subsidy_active")}


def test_new_employer_rule_for_clients_working_at_intake() -> None:
    starters = [starter("G", date(2023, 1, 10), hours_at_intake=25),
                starter("H", date(2023, 1, 10), hours_at_intake=25),
                starter("I", date(2023, 1, 10), hours_at_intake=10)]
    spells = [
        spell("P1", "G", date(2021, 1, 1), hours=25, employer="X"),   # held at intake
        spell("J1", "G", date(2023, 2, 1), hours=30, employer="X"),   # same employer again
        spell("P2", "H", date(2021, 1, 1), end=date(2023, 1, 31), hours=25, employer="X"),
        spell("J2", "H", date(2023, 2, 1), hours=30, employer="Y"),   # a new employer
        spell("P3", "I", date(2021, 1, 1), hours=10, employer="X"),   # under 20 h at intake
        spell("J3", "I", date(2023, 2, 1), hours=30, employer="X"),   # rule does not apply
    ]
    out = run(starters, spells)
    assert out[("G", 1)] == ("not_achieved", None, "same_employer_as_intake")
    assert out[("H", 1)] == ACHIEVED
    assert out[("I", 1)] == ACHIEVED


def test_self_report_is_not_evidence() -> None:
    out = run([starter("K", date(2023, 1, 10))],
              [spell("J1", "K", date(2023, 2, 1), evidence="self_report")])
    assert out[("K", 1)] == ("unknown", None, "no_accepted_evidence")


def test_job_ended_before_the_checkpoint() -> None:
    out = run([starter("L", date(2023, 1, 10))], [spell("J1", "L", date(2023, 2, 1), end=date(2023, 4, 10))])
    assert out[("L", 1)] == ACHIEVED
    assert out[("L", 3)] == ("not_achieved", None, "no_job")


def test_self_employment_income_threshold() -> None:
    # 2023-03-01: 20 h x 4 weeks x 15.50 = 1,240.00
    out = run([starter("M", date(2023, 1, 10)), starter("N", date(2023, 1, 10))],
              [spell("S1", "M", date(2023, 2, 1), self_employed=True, income=1240.00),
               spell("S2", "N", date(2023, 2, 1), self_employed=True, income=1239.99)])
    assert out[("M", 1)] == ("achieved", "self_employment", None)
    assert out[("N", 1)] == ("not_achieved", None, "income_below_threshold")


def test_primary_job_is_the_one_with_most_hours() -> None:
    # Primary 25 h below minimum wage; a 21 h job at a good wage exists but is not primary, and
    # the two together are a stacking candidate (46 h, but the first is below the minimum wage,
    # so it does not stack): not achieved, for the primary job's reason.
    out = run([starter("Q", date(2023, 1, 10))],
              [spell("J1", "Q", date(2023, 2, 1), hours=25, wage=15.00),
               spell("J2", "Q", date(2023, 2, 1), hours=21, wage=18.00, employer="E2")])
    assert out[("Q", 1)] == ("not_achieved", None, "wage_below_minimum")


def _stacking_case(candidates: int) -> dict:
    """20 starters in one catchment, all placed in May 2023 (checkpoint 1 in FY2023-24):
    the first ``candidates`` hold two part-time jobs (12 h + 10 h), the rest one 30 h job."""
    starters, spells = [], []
    for i in range(20):
        client = f"Z{i:02d}"
        starters.append(starter(client, date(2023, 4, 3), catchment="SBP"))
        start = date(2023, 5, 1 + i)
        if i < candidates:
            spells += [spell(f"{client}a", client, start, hours=12),
                       spell(f"{client}b", client, start, hours=10, employer="E2")]
        else:
            spells.append(spell(f"{client}a", client, start))
    return run(starters, spells)


def test_stacking_exactly_at_the_cap_counts() -> None:
    out = _stacking_case(candidates=1)   # 1 of 20 = 5 %: floor(0.05 x 20) = 1
    assert out[("Z00", 1)] == ("achieved", "stacked", None)
    assert sum(v[0] == "achieved" for (c, k), v in out.items() if k == 1) == 20


def test_stacking_one_over_the_cap_drops_the_latest() -> None:
    out = _stacking_case(candidates=2)   # 2 of 20: the earlier checkpoint date keeps its outcome
    assert out[("Z00", 1)] == ("achieved", "stacked", None)
    assert out[("Z01", 1)] == ("not_achieved", None, "stacking_cap")
    assert sum(v[0] == "achieved" for (c, k), v in out.items() if k == 1) == 19


def test_parameters_are_configuration() -> None:
    out = run([starter("B", date(2023, 1, 10))], [spell("J1", "B", date(2023, 2, 1), hours=15)],
              hours_threshold=15.0, checkpoints=(2,))
    assert out == {("B", 2): ACHIEVED}


def test_clients_without_a_job_after_intake_have_no_checkpoints() -> None:
    out = run([starter("R", date(2023, 1, 10))], [spell("P", "R", date(2022, 1, 1))])
    assert out == {}


def test_engine_reads_its_inputs_from_a_warehouse(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A tiny warehouse built by the real ingest; the expected statuses are worked by hand."""
    from esmonitor.indicators.outcomes import explain, inputs_from, outcomes_from
    from esmonitor.ingest.pipeline import ingest_files
    from esmonitor.ingest.pseudonym import Pseudonymizer
    from esmonitor.warehouse import Warehouse

    files = {
        "providers.csv": "provider_id,name,catchment_id\nP1,Example Services,SBP\n",
        "sites.csv": "site_id,provider_id,name\nS1,P1,Example Services - Stratford\n",
        "clients.csv": "client_id,registered_on,birth_year,social_assistance,hours_worked_at_intake\n"
                       "C1,2023-01-02,1990,ow,0\nC2,2023-01-02,1985,none,0\n",
        "action_plans.csv": "plan_id,client_id,site_id,start_date\nE1,C1,S1,2023-01-10\nE2,C2,S1,2023-01-10\n",
        "employers.csv": "employer_id,naics_sector\nX,72\n",
        "employment.csv": "spell_id,client_id,employer_id,job_start,job_end,hours_per_week,hourly_wage,"
                          "subsidized,self_employed,evidence_type\n"
                          "J1,C1,X,2023-02-01,,30,16.00,N,N,pay_stub\n"
                          "J2,C2,X,2023-02-01,2023-03-15,30,18.00,N,N,employer_letter\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    p = Pseudonymizer(bytes(range(32)))
    with Warehouse(tmp_path / "w.duckdb") as w:
        reports = ingest_files(w, sorted(tmp_path.glob("*.csv")), p)
        assert all(r.status == "loaded" for r in reports), [(r.path, r.message) for r in reports]
        result, as_of = outcomes_from(w, date(2024, 6, 30))
        spells = inputs_from(w)[1]
    c1, c2 = p("client\x1fC1"), p("client\x1fC2")
    got = {(r["client_id"], r["checkpoint"]): r["status"] for r in result.iter_rows(named=True)}
    assert as_of == date(2024, 6, 30)
    assert got == {(c1, 1): "achieved", (c1, 3): "achieved", (c1, 6): "achieved",
                   (c1, 12): "not_achieved",              # 16.00 < 16.55 from 2023-10-01
                   (c2, 1): "achieved", (c2, 3): "not_achieved", (c2, 6): "not_achieved",
                   (c2, 12): "not_achieved"}
    assert set(result["catchment_id"]) == {"SBP"}
    text = "\n".join(explain(result, spells, c1))
    assert "12-month checkpoint 2024-02-01: NOT_ACHIEVED" in text
    assert "minimum wage in force $16.55" in text and "J1" in text


def test_social_assistance_clients_reach_fewer_outcomes_on_the_synthetic_province(clean_ingested) -> None:  # type: ignore[no-untyped-def]
    """Planted: a negative social-assistance effect on employment (manifest). Per client served
    (every client whose plan started at least 15 months before the as-of date, so that a 3-month
    checkpoint would be decided), SA clients reach the 3-month outcome less often."""
    from esmonitor.indicators.outcomes import outcomes_from
    from esmonitor.warehouse import Warehouse

    assert clean_ingested.manifest["planted_effects"]["social_assistance_gap"] < 0
    with Warehouse(clean_ingested.warehouse, read_only=True) as w:
        result, as_of = outcomes_from(w)
        served = pl.from_arrow(w.arrow(
            "SELECT e.client_id, c.social_assistance <> 'none' AS sa FROM action_plan e "
            "JOIN client c USING (client_id) GROUP BY ALL "
            f"HAVING min(e.start_date) <= DATE '{as_of}' - INTERVAL 15 MONTH"))
    achieved = result.filter((pl.col("checkpoint") == 3) & (pl.col("status") == "achieved"))["client_id"]
    rates = dict(served.with_columns(pl.col("client_id").is_in(achieved.implode()).alias("ok"))
                 .group_by("sa").agg(pl.col("ok").mean()).iter_rows())
    assert rates[False] - rates[True] > 0.08
