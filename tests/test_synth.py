"""The synthetic province: deterministic, realistic, and its planted truth is recoverable."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from conftest import Ingested
from esmonitor.synth import SynthConfig, generate, write_province
from esmonitor.warehouse import Warehouse

SITE_CATCHMENT = "WITH sc AS (SELECT s.site_id, p.catchment_id FROM site s JOIN provider p USING (provider_id))"


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.suffix != ".xlsx"}  # xlsx embeds a creation time


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        write_province(generate(SynthConfig(clients=600, seed=seed, dirty=True)), tmp_path / name)
    a, b, c = (_digests(tmp_path / n) for n in "abc")
    assert a == b
    assert a["clients.csv"] != c["clients.csv"]
    xa = pl.read_excel(tmp_path / "a" / "providers.xlsx")
    xb = pl.read_excel(tmp_path / "b" / "providers.xlsx")
    assert xa.equals(xb)


def test_prototype_stream_mix_is_near_the_published_mix(clean_ingested: Ingested) -> None:
    with Warehouse(clean_ingested.warehouse, read_only=True) as w:
        rows = dict(w.fetchall(SITE_CATCHMENT + """
            SELECT stream, count(*) * 1.0 / sum(count(*)) OVER () FROM assessment a
            JOIN sc USING (site_id) WHERE sc.catchment_id IN ('HNP', 'MKW', 'PEL') GROUP BY stream"""))
    for stream, published in {"A": 0.22, "B": 0.31, "C": 0.47}.items():
        assert abs(rows[stream] - published) < 0.03, (stream, rows[stream])


def test_referral_to_intake_gap_matches_the_planted_probabilities(clean_ingested: Ingested) -> None:
    truth = clean_ingested.manifest["planted_effects"]["referral_intake_probability"]
    drop = clean_ingested.manifest["planted_effects"]["social_assistance_intake_drop_after_ies"]
    with Warehouse(clean_ingested.warehouse, read_only=True) as w:
        rates = dict(w.fetchall(SITE_CATCHMENT + """
            SELECT source, avg(CASE WHEN result = 'intake' THEN 1.0 ELSE 0 END)
            FROM referral r JOIN sc USING (site_id) JOIN catchment c USING (catchment_id)
            WHERE result <> 'pending' AND referral_date < c.ies_start
              AND catchment_id NOT IN ('HAL', 'LON', 'WSA')
            GROUP BY source"""))
        after = dict(w.fetchall(SITE_CATCHMENT + """
            SELECT source, avg(CASE WHEN result = 'intake' THEN 1.0 ELSE 0 END)
            FROM referral r JOIN sc USING (site_id) JOIN catchment c USING (catchment_id)
            WHERE result <> 'pending' AND referral_date >= c.ies_start
              AND catchment_id NOT IN ('HAL', 'LON', 'WSA')
            GROUP BY source"""))
    # pending referrals were drawn from all outcomes, so take-up among resolved ones is unbiased
    for source in ("self", "ow", "odsp"):
        assert abs(rates[source] - truth[source]) < 0.04, (source, rates[source])
    sa_drop = (rates["ow"] - after["ow"])
    assert abs(sa_drop - drop) < 0.05
    assert abs(rates["self"] - after["self"]) < 0.04


def test_creaming_lowers_stream_c_intake_only_where_planted(clean_ingested: Ingested) -> None:
    with Warehouse(clean_ingested.warehouse, read_only=True) as w:
        share = {(c, post): s for c, post, s in w.fetchall(SITE_CATCHMENT + """
            SELECT catchment_id IN ('HAL', 'LON', 'WSA') AS creaming,
                   a.assessment_date >= c.ies_start AS post,
                   avg(CASE WHEN stream = 'C' THEN 1.0 ELSE 0 END)
            FROM assessment a JOIN sc USING (site_id) JOIN catchment c USING (catchment_id)
            WHERE c.phase IN ('phase1', 'phase2') GROUP BY 1, 2""")}
    creaming_drop = share[(True, False)] - share[(True, True)]
    other_drop = share[(False, False)] - share[(False, True)]
    assert creaming_drop > 0.06
    assert abs(other_drop) < 0.04


def test_social_assistance_outcome_gap_is_present(clean_ingested: Ingested) -> None:
    realised = clean_ingested.manifest["realised"]
    with Warehouse(clean_ingested.warehouse, read_only=True) as w:
        rates = dict(w.fetchall("""
            SELECT c.social_assistance <> 'none',
                   avg(CASE WHEN EXISTS (SELECT 1 FROM employment j WHERE j.client_id = e.client_id
                                         AND j.job_start >= e.start_date) THEN 1.0 ELSE 0 END)
            FROM action_plan e JOIN client c USING (client_id) GROUP BY 1"""))
    assert abs(rates[True] - realised["employment_rate_sa"]) < 0.01
    assert abs(rates[False] - realised["employment_rate_non_sa"]) < 0.01
    assert rates[False] - rates[True] > 0.10  # "10+ points below", as monitors report


def test_labour_market_series_has_the_2020_shock(clean_ingested: Ingested) -> None:
    with Warehouse(clean_ingested.warehouse, read_only=True) as w:
        rows = dict(w.fetchall("""
            SELECT month, avg(value) FROM labour_market
            WHERE characteristic = 'Unemployment rate' AND month IN ('2019-04-01', '2020-04-01')
            GROUP BY month"""))
        regions = w.scalar("SELECT count(DISTINCT economic_region) FROM labour_market")
    values = sorted(rows.values())
    assert values[1] - values[0] > 4.0
    assert regions == 11


def test_wages_follow_the_minimum_wage_schedule(clean_ingested: Ingested) -> None:
    with Warehouse(clean_ingested.warehouse, read_only=True) as w:
        below, total = w.fetchall("""
            SELECT sum(CASE WHEN j.hourly_wage < m.cad_per_hour THEN 1 ELSE 0 END), count(*)
            FROM employment j ASOF JOIN minimum_wage m ON j.job_start >= m.effective_date""")[0]
        by_year = dict(w.fetchall("""SELECT year(job_start), median(hourly_wage) FROM employment
                                      WHERE year(job_start) IN (2019, 2025) GROUP BY 1"""))
    assert 0.02 < below / total < 0.07  # about 4 % planted below the minimum
    assert by_year[2025] > by_year[2019] * 1.15
