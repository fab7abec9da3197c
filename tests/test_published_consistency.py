"""When both exist, the published tables agree with the records (acceptance of issue 16, item 5).

For three seeds: a synthetic province is loaded into one warehouse; the releases it implies
(esmonitor.synth.releases: an FOI workbook and an ES client-outcomes file by site, suppressed
with <5 and x) are written, and only those are ingested into a second warehouse through the
readers a monitor uses. Every indicator computed from the published tables — its bounds (the
attacker's linear programs over the tables' own margins) and its interval — must contain the
record-level value computed by the indicator engine from the first warehouse. And on the FOI
release, the SA gap at 3 months by catchment and fiscal year must cover the province's planted
(expected, not realised) gap in at least 90 % of catchment-years.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from conftest import TEST_KEY
from esmonitor.indicators import published
from esmonitor.indicators.catalogue import BY_ID
from esmonitor.indicators.engine import compute, frames_from
from esmonitor.ingest.pipeline import ingest_files
from esmonitor.ingest.pseudonym import Pseudonymizer
from esmonitor.synth import SynthConfig, generate
from esmonitor.synth import releases as R
from esmonitor.synth.loader import load_province
from esmonitor.warehouse import Warehouse

SEEDS = (101, 202, 303)
CLIENTS = 3000
TOL = 1e-9


def _grouped(frames: Any, indicator: str, by: list[str]) -> pl.DataFrame:
    """Numerator and denominator of a record-level proportion by catchment, fiscal year, client type
    (SA = ow or odsp, non-SA = none, all = both) and ``by``."""
    table = compute(BY_ID[indicator], frames, by=["catchment_id", "social_assistance", *by], grain="fiscal_year")
    typed = table.with_columns(
        pl.when(pl.col("social_assistance") == "none").then(pl.lit("non_sa"))
        .when(pl.col("social_assistance").is_in(["ow", "odsp"])).then(pl.lit("sa")).otherwise(None)
        .alias("client_type")).filter(pl.col("client_type").is_not_null())
    keys = ["period", "catchment_id", *by]
    parts = typed.group_by([*keys, "client_type"]).agg(pl.col("numerator").sum(), pl.col("denominator").sum())
    everyone = typed.group_by(keys).agg(pl.col("numerator").sum(), pl.col("denominator").sum()) \
        .with_columns(pl.lit("all").alias("client_type"))
    out = pl.concat([parts, everyone.select(parts.columns)])
    return out.filter(pl.col("denominator") > 0).with_columns((pl.col("numerator") / pl.col("denominator"))
                                                               .alias("record"))


def _gap_truth(frames: Any) -> pl.DataFrame:
    rates = _grouped(frames, "outcome_3m_per_served", []).filter(pl.col("client_type") != "all")
    wide = rates.pivot(on="client_type", index=["period", "catchment_id"], values="record")
    return wide.filter(pl.col("sa").is_not_null() & pl.col("non_sa").is_not_null()).select(
        "period", "catchment_id", (pl.col("non_sa") - pl.col("sa")).alias("record"))


@pytest.fixture(scope="module", params=SEEDS)
def both(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp(f"both-{request.param}")
    province = generate(SynthConfig(clients=CLIENTS, seed=request.param))
    with Warehouse(root / "records.duckdb") as w:
        load_province(w, province)
        written = R.write_releases(w, root / "releases", province)
        frames = frames_from(w)
    with Warehouse(root / "published.duckdb") as w:
        reports = ingest_files(w, [root / "releases" / "ies_foi_release.xlsx",
                                   root / "releases" / "es_client_outcomes_by_site.csv"], Pseudonymizer(TEST_KEY))
        table = published.compute(w)
        kinds = dict(w.fetchall("SELECT release_id, kind FROM aggregate_release"))
        obs = published.observations(w)
        from esmonitor.report.monitor import monitor_report

        doc = monitor_report(w, "not evaluated in this test", "en")
    return {"frames": frames, "written": written, "reports": reports, "table": table, "kinds": kinds, "obs": obs,
            "doc": doc}


def _check(rows: pl.DataFrame, truth: pl.DataFrame, on: list[str]) -> int:
    joined = rows.join(truth, on=on, how="inner")
    # a published row without a record-level value: a group with no client in the records, whose
    # count the source hid (the rate is then only bounded) or published as 0
    lonely = rows.join(truth, on=on, how="anti")
    assert lonely.filter(pl.col("value").is_not_null() & (pl.col("denominator") > 0)).is_empty(), lonely.head()
    outside = joined.filter(
        (pl.col("record") < pl.col("bound_low") - TOL) | (pl.col("record") > pl.col("bound_high") + TOL)
        | (pl.col("record") < pl.col("ci_low") - TOL) | (pl.col("record") > pl.col("ci_high") + TOL))
    assert outside.is_empty(), outside.head(5)
    return joined.height


def test_the_releases_load_whole(both: dict[str, Any]) -> None:
    for r in both["reports"]:
        assert r.status == "loaded", (r.path, r.message, r.quarantine_by_rule)
        assert r.cells_read == r.cells_loaded and r.cells_suppressed > 0


def test_every_published_bound_and_interval_contains_the_record_level_value(both: dict[str, Any]) -> None:
    frames, table, kinds = both["frames"], both["table"], both["kinds"]
    kind = pl.col("release").replace_strict(kinds, default=None)
    checked = 0
    for k in (1, 3, 6, 12):
        foi = table.filter((pl.col("indicator") == f"employed_{k}m_reported") & (kind == "foi_workbook"))
        everyone = foi.filter(pl.col("dimension") == "all")
        checked += _check(everyone, _grouped(frames, f"outcome_{k}m_per_served", []),
                          ["period", "catchment_id", "client_type"])
        genders = foi.filter(pl.col("dimension") != "all").rename({"group": "gender"})
        checked += _check(genders, _grouped(frames, f"outcome_{k}m_per_served", ["gender"]),
                          ["period", "catchment_id", "client_type", "gender"])
    sites = table.filter(kind == "es_outcomes")
    all_clients = ["period", "catchment_id", "client_type"]
    checked += _check(sites.filter(pl.col("indicator") == "employed_3m_reported"),
                      _grouped(frames, "outcome_3m_per_served", []), all_clients)
    checked += _check(sites.filter(pl.col("indicator") == "employed_exit_reported"),
                      _grouped(frames, "job_start_rate", []), all_clients)
    checked += _check(table.filter(pl.col("indicator") == "sa_referral_to_intake"),
                      _grouped(frames, "referral_to_intake", []), all_clients)
    gap = table.filter((pl.col("indicator") == "gap_employed_3m_social_assistance") & (pl.col("dimension") == "all"))
    checked += _check(gap, _gap_truth(frames), ["period", "catchment_id"])
    hidden = table.filter(pl.col("value").is_null())
    assert hidden.height > 0  # some rows are only bounded: the suppression was exercised
    assert checked > 500


def test_the_sa_gap_recovers_the_planted_gap(both: dict[str, Any]) -> None:
    planted = pl.DataFrame([g for g in both["written"]["planted_gap_3m"] if g["gap"] is not None]).select(
        pl.col("fiscal_year").alias("period"), "catchment_id", "gap")
    gap = both["table"].filter((pl.col("indicator") == "gap_employed_3m_social_assistance")
                               & (pl.col("dimension") == "all"))
    joined = gap.join(planted, on=["period", "catchment_id"], how="inner")
    assert joined.height >= 0.8 * planted.height
    covered = joined.filter((pl.col("ci_low") <= pl.col("gap")) & (pl.col("gap") <= pl.col("ci_high"))).height
    assert covered / joined.height >= 0.90, (covered, joined.height)
    # and the gap is there: on average SA clients are behind (the province plants it)
    assert joined["value"].drop_nulls().mean() > 0


def test_the_monitor_report_reveals_no_hidden_cell(both: dict[str, Any]) -> None:
    """Everything the monitor's report shows, attacked together with the tables themselves: every
    rate it prints becomes one more equation (employed - rate x clients = 0 over the cells behind
    it), and no hidden cell of the sources may be narrowed by them."""
    import numpy as np
    from scipy import sparse

    from esmonitor.disclosure.attacker import feasible_intervals
    from esmonitor.model.aggregates import relations

    obs = both["obs"].filter(pl.col("unit").is_in(["count", ""]) | pl.col("unit").is_null())
    obs = obs.filter(pl.col("period_type") == "fiscal_year").with_row_index("i")
    shown = {(r["period"], r["catchment"], r["citation"]) for t in ("employed_3m", "sa_gap_3m", "sa_referral_to_intake")
             for r in both["doc"].tables.get(t, type("E", (), {"rows": []})).rows if r.get("value") is not None}
    assert shown  # the report prints rates
    # the equations the report adds: for each printed 3-month rate of all clients, its cells
    table = both["table"].filter((pl.col("indicator") == "employed_3m_reported") & (pl.col("client_type") == "all")
                                 & (pl.col("dimension") == "all") & pl.col("value").is_not_null())
    edges = relations(obs.drop("i"))
    n = obs.height
    extra_rows: list[dict[int, float]] = []
    for row in table.iter_rows(named=True):
        cells = obs.filter((pl.col("release_id") == row["release"]) & (pl.col("period") == row["period"])
                           & (pl.col("catchment_id") == row["catchment_id"]) & (pl.col("client_type") == "all")
                           & (pl.col("dimension") == "all"))
        employed = cells.filter((pl.col("measure") == "outcome_employed") & (pl.col("interval_months") == 3))
        base = cells.filter(pl.col("measure") == ("outcome_total" if (cells["measure"] == "outcome_total").any()
                                                   else "clients_assisted"))
        base = base.filter(pl.col("interval_months") == 3) if (base["measure"] == "outcome_total").any() else base
        missing = cells.filter((pl.col("measure") == "outcome_missing") & (pl.col("interval_months") == 3))
        eq: dict[int, float] = {}
        for i in employed["i"]:
            eq[i] = eq.get(i, 0.0) + 1.0
        for i in base["i"]:
            eq[i] = eq.get(i, 0.0) - row["value"]
        for i in missing["i"]:
            eq[i] = eq.get(i, 0.0) + row["value"]
        extra_rows.append(eq)
    hidden = obs["value"].is_null().to_numpy()
    values = obs["value"].fill_null(0).to_numpy().astype(float)
    lower = obs["bound_low"].fill_null(0).to_numpy().astype(float)
    upper = obs["bound_high"].fill_null(np.inf).to_numpy().astype(float)
    rels = edges.select("rel", "equal").unique("rel").sort("rel")
    loose = rels.filter(~pl.col("equal"))["rel"].to_numpy()

    def system(extra: list[dict[int, float]]) -> sparse.csr_matrix:
        totals = edges.select("rel", "total").unique()
        rows = [totals["rel"].to_numpy(), loose, edges["rel"].to_numpy()]
        cols = [totals["total"].to_numpy(), n + np.arange(len(loose)), edges["part"].to_numpy()]
        vals = [np.ones(totals.height), -np.ones(len(loose)), -np.ones(edges.height)]
        for k, eq in enumerate(extra):
            rows.append(np.full(len(eq), len(rels) + k))
            cols.append(np.array(list(eq), dtype=np.int64))
            vals.append(np.array(list(eq.values())))
        return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                 shape=(len(rels) + len(extra), n + len(loose)))

    pad = np.zeros(len(loose))
    unknown = np.concatenate([hidden, np.ones(len(loose), dtype=bool)])
    args = {"upper": np.concatenate([upper, np.full(len(loose), np.inf)]), "lower": np.concatenate([lower, pad])}
    wanted = np.flatnonzero(hidden)
    alone = feasible_intervals(system([]), np.concatenate([values, pad]), unknown, cells=wanted, **args)
    together = feasible_intervals(system(extra_rows), np.concatenate([values, pad]), unknown, cells=wanted, **args)
    narrowed = [c for c in alone if together[c].width < alone[c].width - 1e-6]
    assert not narrowed, [(c, alone[c], together[c]) for c in narrowed[:5]]
