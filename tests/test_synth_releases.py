"""The published releases a synthetic province implies (esmonitor.synth.releases).

Their exact counts are checked against the warehouse they were counted from by other routes
(SQL over the tables, the funded-outcome engine's own rows); their cells against the exact
counts (``<5`` is 1 to 4, 0 is never hidden); the files are read back by the readers a monitor
uses, and the attacker's linear programs over the readers' relations find no hidden cell it can
pin; the expected 3-month outcomes behind the planted gap match the realised ones.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import fastexcel
import numpy as np
import polars as pl
import pytest
from scipy import sparse
from typer.testing import CliRunner

from conftest import TEST_KEY
from esmonitor.cli import app
from esmonitor.disclosure.attacker import feasible_intervals
from esmonitor.indicators.engine import frames_from
from esmonitor.indicators.outcomes import outcomes_from
from esmonitor.ingest.pipeline import ingest_files
from esmonitor.ingest.pseudonym import Pseudonymizer
from esmonitor.model.aggregates import find_place, relations
from esmonitor.synth import SynthConfig, generate
from esmonitor.synth import releases as R
from esmonitor.synth.loader import load_province
from esmonitor.synth.province import Province
from esmonitor.warehouse import Warehouse

CLIENTS, SEED = 4000, 31
TYPES = {"SA": "sa", "Non-SA": "non_sa", "All": "all"}


@dataclass
class Written:
    province: Province
    warehouse: Path
    out: Path
    result: dict[str, Any]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Written:
    root = tmp_path_factory.mktemp("releases")
    province = generate(SynthConfig(clients=CLIENTS, seed=SEED))
    path = root / "province.duckdb"
    with Warehouse(path) as w:
        load_province(w, province)
        result = R.write_releases(w, root / "releases", province)
    return Written(province, path, root / "releases", result)


def _fy(day: pl.Expr) -> pl.Expr:
    return pl.when(day.dt.month() >= 4).then(day.dt.year()).otherwise(day.dt.year() - 1)


def _label(fy: int) -> str:
    return f"FY{fy}-{(fy + 1) % 100:02d}"


def _query(path: Path, sql: str) -> pl.DataFrame:
    with Warehouse(path, read_only=True) as w:
        out = pl.from_arrow(w.arrow(sql))
    assert isinstance(out, pl.DataFrame)
    return out


def _keyed(records: list[dict[str, Any]], keys: tuple[str, ...], values: tuple[str, ...]) -> dict[tuple, tuple]:
    return {tuple(r[k] for k in keys): tuple(r[v] for v in values) for r in records}


# -- the exact counts, by other routes -------------------------------------------------------------

def test_referrals_and_intakes_are_the_warehouse_referrals(written: Written) -> None:
    sql = """
        SELECT p.catchment_id, CASE WHEN month(r.referral_date) >= 4 THEN year(r.referral_date)
                                    ELSE year(r.referral_date) - 1 END AS fy,
               CASE WHEN c.social_assistance = 'none' THEN 'non_sa' ELSE 'sa' END AS client_type,
               count(*) FILTER (WHERE r.result <> 'pending') AS resolved,
               count(*) FILTER (WHERE r.result = 'intake') AS intakes,
               count(*) FILTER (WHERE r.result = 'pending') AS pending
        FROM referral r JOIN site s USING (site_id) JOIN provider p USING (provider_id) JOIN client c USING (client_id)
        GROUP BY ALL"""
    truth = {(c, _label(y), t): (res, i, pend) for c, y, t, res, i, pend in _query(written.warehouse, sql).iter_rows()}
    counts = written.result["counts"]
    referrals = _keyed(counts["referrals"], ("catchment_id", "fiscal_year", "client_type"), ("value",))
    intakes = _keyed(counts["intakes"], ("catchment_id", "fiscal_year", "client_type"), ("value",))
    assert {k[2] for k in referrals} == {"sa"} and {k[2] for k in intakes} == {"sa", "non_sa"}
    for key, (value,) in referrals.items():
        assert value == truth.get(key, (0, 0, 0))[0], key
    for key, (value,) in intakes.items():
        assert value == truth.get(key, (0, 0, 0))[1], key
    # every referral of the warehouse is in a published cell (a full catchment x year grid)
    assert sum(v for (v,) in intakes.values()) == sum(i for _, i, _ in truth.values())
    # the referrals count pending ones too: the release takes the resolved ones (referral_to_intake's denominator)
    pending = sum(p for (_, _, t), (_, _, p) in truth.items() if t == "sa")
    assert written.result["referral_check"]["pending_sa_referrals"] == pending > 0


def _clients(written: Written) -> pl.DataFrame:
    """Clients served: first plan's start, site and catchment; their SA status and gender."""
    sql = """
        WITH plan AS (SELECT client_id, min(start_date) AS plan_start, arg_min(site_id, start_date) AS site_id
                      FROM action_plan GROUP BY client_id)
        SELECT plan.client_id, plan.plan_start, plan.site_id, p.catchment_id, c.social_assistance, c.gender
        FROM plan JOIN site s USING (site_id) JOIN provider p USING (provider_id) JOIN client c USING (client_id)"""
    return _query(written.warehouse, sql).with_columns(
        _fy(pl.col("plan_start")).alias("fy"),
        pl.when(pl.col("social_assistance") == "none").then(pl.lit("non_sa")).otherwise(pl.lit("sa"))
        .alias("client_type"))


def test_outcome_counts_are_the_funded_outcomes_of_clients_served(written: Written) -> None:
    as_of = date.fromisoformat(written.result["as_of"])
    with Warehouse(written.warehouse, read_only=True) as w:
        outcomes, engine_as_of = outcomes_from(w)
    assert engine_as_of == as_of
    clients = _clients(written)
    assert clients["social_assistance"].null_count() == 0 and clients["gender"].null_count() == 0
    expected: dict[tuple, tuple[int, int]] = {}
    for k in R.INTERVALS:
        achieved = outcomes.filter((pl.col("checkpoint") == k) & (pl.col("status") == "achieved"))["client_id"]
        due = clients.filter(pl.col("plan_start").dt.offset_by(f"{k + 3}mo") <= as_of).with_columns(
            pl.col("client_id").is_in(achieved.implode()).alias("employed"))
        for typed in (due, due.with_columns(pl.lit("all").alias("client_type"))):
            for dims in (["catchment_id", "fy", "client_type"], ["catchment_id", "fy", "client_type", "gender"]):
                for row in typed.group_by(dims).agg(pl.col("employed").sum(), pl.len()).iter_rows(named=True):
                    group = ("Gender", row["gender"]) if "gender" in row else ("All", "All")
                    key = (row["catchment_id"], _label(row["fy"]), row["client_type"], *group, k)
                    expected[key] = (row["employed"], row["len"])
    published = _keyed(written.result["counts"]["outcomes"],
                       ("catchment_id", "fiscal_year", "client_type", "dimension", "group", "interval_months"),
                       ("employed", "total"))
    for key, counts in published.items():
        assert counts == expected.get(key, (0, 0)), key
    assert set(expected) <= set(published)  # no client served is left out


def test_site_counts_are_clients_served_and_their_outcomes(written: Written) -> None:
    as_of = date.fromisoformat(written.result["as_of"])
    with Warehouse(written.warehouse, read_only=True) as w:
        outcomes, _ = outcomes_from(w)
    started = outcomes["client_id"].unique()  # a job started after the plan began
    three = outcomes.filter((pl.col("checkpoint") == 3) & (pl.col("status") == "achieved"))["client_id"]
    clients = _clients(written).with_columns(
        (pl.col("plan_start").dt.offset_by("6mo") <= as_of).alias("due3"),
        (pl.col("plan_start").dt.offset_by("12mo") <= as_of).alias("due0"),
        pl.col("client_id").is_in(three.implode()).alias("emp3"),
        pl.col("client_id").is_in(started.implode()).alias("emp0"))
    truth = {(r["site_id"], _label(r["fy"])): r for r in clients.group_by("site_id", "fy").agg(
        pl.len().alias("n"), (pl.col("emp3") & pl.col("due3")).sum().alias("e3"), pl.col("due3").sum().alias("d3"),
        (pl.col("emp0") & pl.col("due0")).sum().alias("e0"), pl.col("due0").sum().alias("d0")).iter_rows(named=True)}
    sites = written.result["counts"]["sites"]
    assert {(s["site_id"], s["fiscal_year"]) for s in sites} == set(truth)
    for s in sites:
        t = truth[(s["site_id"], s["fiscal_year"])]
        assert s["num_assist"] == t["n"]
        assert (s["out_3_sum_emp"], s["out_3_unemp"], s["out_3_null"]) == (t["e3"], t["d3"] - t["e3"], t["n"] - t["d3"])
        assert (s["out_exit_sum_emp"], s["out_exit_unemp"], s["out_exit_null"]) == (
            t["e0"], t["d0"] - t["e0"], t["n"] - t["d0"])
        for when in ("exit", "3"):
            parts = [k for k in R.SITE_HEADERS[7:] if k.startswith(f"out_{when}_")]
            assert len(parts) == 6 and sum(s[k] for k in parts) == s["num_assist"]


def test_sa_and_non_sa_make_all_and_the_genders_make_the_all_row(written: Written) -> None:
    rows = pl.DataFrame(written.result["counts"]["outcomes"])
    key = ["catchment_id", "fiscal_year", "dimension", "group", "interval_months"]
    by_type = rows.pivot(on="client_type", index=key, values=["employed", "total"])
    for m in ("employed", "total"):
        assert (by_type[f"{m}_sa"] + by_type[f"{m}_non_sa"] == by_type[f"{m}_all"]).all()
    key = ["catchment_id", "fiscal_year", "client_type", "interval_months"]
    groups = rows.filter(pl.col("dimension") == "Gender").group_by(key).agg(pl.col("employed", "total").sum())
    whole = rows.filter(pl.col("dimension") == "All").select(*key, "employed", "total")
    joined = whole.join(groups, on=key, suffix="_groups")
    assert joined.height == whole.height
    assert (joined["employed"] == joined["employed_groups"]).all() and (joined["total"] == joined["total_groups"]).all()
    assert set(rows.filter(pl.col("dimension") == "Gender")["group"]) == {"woman", "man", "gender_diverse",
                                                                        "prefer_not"}


# -- the files: shown as the exact counts allow ----------------------------------------------------

def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _check_cell(shown: str, exact: int, where: object) -> str:
    if shown == "<5":
        assert 1 <= exact <= 4, where
    elif shown == "x":
        assert exact > 0, where  # a zero is never hidden
    else:
        assert _number(shown) == exact, where
        assert exact == 0 or exact >= 5, where
        if exact >= 1000:
            assert "," in shown, where
    return shown


def test_cells_are_shown_as_the_rules_say(written: Written) -> None:
    counts = written.result["counts"]
    outcomes = _keyed(counts["outcomes"], ("catchment_id", "fiscal_year", "client_type", "dimension", "group",
                                           "interval_months"), ("employed", "total"))
    raw = (written.out / R.OUTCOMES_CSV).read_bytes()
    text = raw.decode("cp1252")
    assert b"\r\n" in raw and text.splitlines()[0] == ",".join(R.FOI_HEADERS["Employment Outcomes"])
    shown: list[str] = []
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(outcomes)
    for row in rows:
        place = find_place(row["Catchment Area"], "catchment")
        assert place is not None
        key = (place.catchment_id, f"FY{row['Fiscal Year']}", TYPES[row["Client Type"]], row["Demographic"],
               row["Group"], int(row["Interval"].split()[0]))
        employed, total = outcomes[key]
        shown += [_check_cell(row["Employed"], employed, key), _check_cell(row["Total"], total, key)]
    assert shown.count("<5") > 100 and shown.count("x") > 10 and "0" in shown
    referrals = _keyed(counts["referrals"], ("catchment_id", "fiscal_year", "client_type"), ("value",))
    intakes = _keyed(counts["intakes"], ("catchment_id", "fiscal_year", "client_type"), ("value",))
    both = list(csv.DictReader(io.StringIO((written.out / R.REFERRALS_INTAKES_CSV).read_bytes().decode("cp1252"))))
    assert len(both) == len(intakes)
    for row in both:
        place = find_place(row["Catchment Area"], "catchment")
        assert place is not None
        key = (place.catchment_id, f"FY{row['Fiscal Year']}", TYPES[row["Client Type"]])
        _check_cell(row["Intakes"], intakes[key][0], key)
        if key[2] == "sa":
            _check_cell(row["Referrals"], referrals[key][0], key)
        else:
            assert row["Referrals"] == ""
    sites = {(s["site_id"], s["fiscal_year"]): s for s in counts["sites"]}
    site_rows = list(csv.DictReader(io.StringIO((written.out / R.SITES_CSV).read_text("utf-8"))))
    assert list(site_rows[0]) == R.SITE_HEADERS and len(site_rows) == len(sites)
    for row in site_rows:
        first, second = row["fiscal_year"].split("-")
        exact = sites[(row["sds_id"], _label(int(first)))]
        assert int(second) == int(first) + 1 and row["eo_program"] == "ES" and row["sds_name"]
        place = find_place(row["est_region"], "catchment")
        assert place is not None and place.catchment_id == exact["catchment_id"]
        for column in R.SITE_HEADERS[6:]:
            _check_cell(row[column], exact[column], (row["sds_id"], column))


def test_workbook_sheets_titles_and_notes(written: Written) -> None:
    book = fastexcel.read_excel(str(written.out / R.WORKBOOK))
    assert book.sheet_names == ["Notes", "Referrals", "Intakes", "Employment Outcomes"]
    notes = book.load_sheet("Notes", header_row=None, dtypes="string").to_polars()
    text = " ".join(str(v) for v in notes.to_series(0).to_list())
    assert "FIPPA" in text and "<5" in text and "x marks" in text and "SYNTHETIC" in text
    for name, headers in R.FOI_HEADERS.items():
        grid = book.load_sheet(name, header_row=None, dtypes="string").to_polars()
        assert str(grid.row(0)[0]).startswith("Table ") and all(v in (None, "") for v in grid.row(1))
        assert list(grid.row(2)) == headers
    outcomes = book.load_sheet("Employment Outcomes", header_row=2, dtypes="string").to_polars()
    assert set(outcomes["Interval"]) == {"1 month", "3 months", "6 months", "12 months"}
    assert set(outcomes["Client Type"]) == {"SA", "Non-SA", "All"}
    assert "Northeast / Nord-Est" in set(outcomes["Catchment Area"]) and "Kitchener-Waterloo-Barrie" in set(
        outcomes["Catchment Area"])
    assert all(len(y) == 7 and y[4] == "-" for y in outcomes["Fiscal Year"].unique())


# -- read back: every cell loaded, no hidden cell pinned ---------------------------------------------

def _reader_intervals(obs: pl.DataFrame) -> pl.DataFrame:
    """Each hidden count's interval from its release's own relations (model.aggregates.relations):
    the attacker's linear programs, ``<5`` in [1, 4], ``x`` at least 0, groups at most their total."""
    out = []
    for (release,), part in obs.group_by("release_id"):
        part = part.sort("sheet", "source_row", "source_column")
        edges = relations(part)
        if edges.is_empty():  # referrals and intakes: no margin relates them
            continue
        n = part.height
        hidden = part["value"].is_null().to_numpy()
        rels = edges.select("rel", "equal").unique().sort("rel")
        slack = {r: n + i for i, (r, equal) in enumerate(rels.iter_rows()) if not equal}
        terms = [(r, t, 1.0) for r, t in edges.select("rel", "total").unique().iter_rows()]
        terms += [(r, p, -1.0) for r, p in edges.select("rel", "part").iter_rows()]
        terms += [(r, s, -1.0) for r, s in slack.items()]
        rows, cols, coef = zip(*terms, strict=True)
        a = sparse.csr_matrix((coef, (rows, cols)), shape=(rels.height, n + len(slack)))
        values = np.concatenate([part["value"].fill_null(0).to_numpy(), np.zeros(len(slack))])
        unknown = np.concatenate([hidden, np.ones(len(slack), dtype=bool)])
        lower = np.concatenate([part["bound_low"].fill_null(0).to_numpy(), np.zeros(len(slack))])
        upper = np.concatenate([part["bound_high"].fill_null(np.inf).to_numpy(), np.full(len(slack), np.inf)])
        involved = np.unique(np.concatenate([edges["total"].to_numpy(), edges["part"].to_numpy()]))
        wanted = np.intersect1d(np.flatnonzero(hidden), involved)
        found = feasible_intervals(a, values, unknown, cells=wanted, upper=upper, lower=np.where(unknown, lower, 0))
        out.append(part[list(found)].select("measure", "status").with_columns(
            pl.lit(release).alias("release_id"), pl.Series("low", [found[c].low for c in found]),
            pl.Series("high", [found[c].high for c in found])))
    return pl.concat(out)


def test_readers_load_every_cell_and_no_hidden_cell_is_pinned(written: Written, tmp_path: Path) -> None:
    files = [written.out / name for name in R.FILES]
    with Warehouse(tmp_path / "published.duckdb") as w:
        reports = ingest_files(w, files, Pseudonymizer(TEST_KEY))
        obs = pl.from_arrow(w.arrow("SELECT * FROM aggregate_observation"))
        notes = w.fetchall("SELECT sheet FROM aggregate_note")
    assert isinstance(obs, pl.DataFrame)
    by_name = {Path(r.path).name: r for r in reports}
    for name, r in by_name.items():
        assert r.status == "loaded" and r.cells_quarantined == 0, (name, r.message, r.quarantine_by_rule)
    assert by_name[R.WORKBOOK].entity == "aggregate:foi_workbook" and by_name[R.WORKBOOK].notes_sheets == ["Notes"]
    assert by_name[R.SITES_CSV].entity == "aggregate:es_outcomes"
    assert notes == [("Notes",)]
    # every number of the files is stored, the hidden ones as suppressed (never as zero)
    suppression = written.result["suppression"]["by_table"]
    hidden_cells = sum(t["shown_under_5"] + t["shown_x"] for t in suppression.values())
    workbook = obs.filter(pl.col("release_id") == "foi_workbook:ies_foi_release")
    sites = obs.filter(pl.col("release_id") == "es_outcomes:es_client_outcomes_by_site")
    stored_hidden = workbook.filter(pl.col("status") == "suppressed").height + sites.filter(
        pl.col("status") == "suppressed").height
    assert stored_hidden == hidden_cells
    assert workbook.filter(pl.col("status") == "suppressed")["value"].null_count() == workbook.filter(
        pl.col("status") == "suppressed").height
    # the published outcome numbers are the exact ones
    exact = pl.DataFrame(written.result["counts"]["outcomes"]).unpivot(
        index=["catchment_id", "fiscal_year", "client_type", "dimension", "group", "interval_months"],
        on=["employed", "total"], variable_name="m", value_name="exact").with_columns(
        pl.col("m").replace({"employed": "outcome_employed", "total": "outcome_total"}).alias("measure"),
        pl.col("dimension").replace({"All": "all"}), pl.col("group").replace({"All": "all"}))
    stored = workbook.filter(pl.col("measure").is_in(["outcome_employed", "outcome_total"])).join(
        exact, left_on=["catchment_id", "period", "client_type", "dimension", "group", "interval_months", "measure"],
        right_on=["catchment_id", "fiscal_year", "client_type", "dimension", "group", "interval_months", "measure"])
    assert stored.height == exact.height
    shown = stored.filter(pl.col("status") == "published")
    assert (shown["value"] == shown["exact"]).all()
    # what the relations of each release leave of every hidden cell: never one value
    intervals = _reader_intervals(obs).filter(pl.col("status") == "suppressed")
    assert intervals.height > 1000
    assert (intervals["high"] - intervals["low"] >= 1 - 1e-6).all(), intervals.filter(
        pl.col("high") - pl.col("low") < 1 - 1e-6)


def test_the_writers_own_attack_finds_every_hidden_cell_wide(written: Written) -> None:
    with Warehouse(written.warehouse, read_only=True) as w:
        cells, _, _ = R.release_cells(w)
    rels = R.relations(cells)
    values = cells["value"].to_numpy()
    state = np.array(_states_from_counts(written, cells), dtype=np.int8)  # as the files show them
    assert int((state == R.SMALL).sum()) == written.result["suppression"]["shown_under_5"]
    assert int((state == R.HIDDEN).sum()) == written.result["suppression"]["shown_x"]
    found = R.attack(values, state, rels)  # the relations of both tables, Employed <= Total, Intakes <= Referrals
    assert found and min(high - low for low, high in found.values()) >= 1 - 1e-6
    assert not ((state != R.PUBLISHED) & (values == 0)).any()
    assert ((state == R.SMALL) <= ((values >= 1) & (values <= 4))).all()


def _states_from_counts(written: Written, cells: pl.DataFrame) -> list[int]:
    """The cells' states (published, <5, x) read back from the written CSV files."""
    code = {"<5": R.SMALL, "x": R.HIDDEN}
    states: dict[tuple, int] = {}
    for row in csv.DictReader(io.StringIO((written.out / R.OUTCOMES_CSV).read_bytes().decode("cp1252"))):
        place = find_place(row["Catchment Area"], "catchment")
        assert place is not None
        base = (place.catchment_id, int(row["Fiscal Year"][:4]), TYPES[row["Client Type"]], row["Demographic"],
                row["Group"], int(row["Interval"].split()[0]))
        states[("outcomes", *base, "employed")] = code.get(row["Employed"], R.PUBLISHED)
        states[("outcomes", *base, "total")] = code.get(row["Total"], R.PUBLISHED)
    for row in csv.DictReader(io.StringIO((written.out / R.REFERRALS_INTAKES_CSV).read_bytes().decode("cp1252"))):
        place = find_place(row["Catchment Area"], "catchment")
        assert place is not None
        base = (place.catchment_id, int(row["Fiscal Year"][:4]), TYPES[row["Client Type"]], "All", "All", -1)
        states[("intakes", *base, "intakes")] = code.get(row["Intakes"], R.PUBLISHED)
        if row["Referrals"]:
            states[("referrals", *base, "referrals")] = code.get(row["Referrals"], R.PUBLISHED)
    for row in csv.DictReader(io.StringIO((written.out / R.SITES_CSV).read_text("utf-8"))):
        for column in R.SITE_HEADERS[6:]:
            interval = 0 if column.startswith("out_exit") else 3 if column.startswith("out_3") else -1
            states[("sites", row["sds_id"], int(row["fiscal_year"][:4]), interval, column)] = code.get(
                row[column], R.PUBLISHED)
    out = []
    for r in cells.iter_rows(named=True):
        key = (("sites", r["site_id"], r["fy"], r["interval"], r["measure"]) if r["table"] == "sites" else
               (r["table"], r["catchment_id"], r["fy"], r["client_type"], r["dimension"], r["group"], r["interval"],
                r["measure"]))
        out.append(states[key])
    return out


# -- the planted truth ---------------------------------------------------------------------------

def test_expected_outcomes_match_the_realised_ones(written: Written) -> None:
    with Warehouse(written.warehouse, read_only=True) as w:
        frames = frames_from(w, needed=["client"])
        expected = R.expected_outcomes(w, frames, written.province.employment_probability)  # type: ignore[arg-type]
    due = frames.get("client").filter(pl.col("mature_3m")).join(expected, on="client_id")
    assert due.height > 2000 and due["p_outcome_3m"].is_between(0, 1).all()
    assert (due["p_outcome_3m"] <= due["p_employed"]).all()
    for group in (due, due.filter(pl.col("social_assistance") == "none"),
                  due.filter(pl.col("social_assistance") != "none")):
        p = group["p_outcome_3m"]
        z = (group["achieved_3m"].sum() - p.sum()) / float(np.sqrt((p * (1 - p)).sum()))
        assert abs(z) < 3.5, z
    # the outcome rules take about 40 % of employment away: the expectation is not p itself
    assert due["p_outcome_3m"].sum() < 0.75 * due["p_employed"].sum()


def test_planted_gap_by_catchment_and_year(written: Written) -> None:
    gaps = written.result["planted_gap_3m"]
    assert gaps and written.result["planted_log_odds_gap"] == written.province.truth.social_assistance_gap
    outcomes = _keyed(written.result["counts"]["outcomes"],
                      ("catchment_id", "fiscal_year", "client_type", "dimension", "group", "interval_months"),
                      ("employed", "total"))
    for g in gaps:
        sa = outcomes[(g["catchment_id"], g["fiscal_year"], "sa", "All", "All", 3)]
        other = outcomes[(g["catchment_id"], g["fiscal_year"], "non_sa", "All", "All", 3)]
        assert (g["achieved_sa"], g["clients_sa"]) == sa and (g["achieved_non_sa"], g["clients_non_sa"]) == other
        if g["gap"] is not None:
            assert g["gap"] == pytest.approx(g["expected_rate_non_sa"] - g["expected_rate_sa"], abs=2e-6)
    found = [g["gap"] for g in gaps if g["gap"] is not None]
    # SA clients are behind (the planted log-odds gap is negative), in nearly every cell
    assert len(found) > 100 and np.mean(found) > 0.03 and np.mean(np.array(found) > 0) > 0.9
    stored = json.loads((written.out / R.MANIFEST).read_text("utf-8"))
    assert stored["planted_gap_3m"] == gaps and stored["generator"] == "esmonitor synth"


# -- esmonitor synth writes them ------------------------------------------------------------------

def test_synth_writes_the_releases(tmp_path: Path) -> None:
    out = tmp_path / "extracts"
    result = CliRunner().invoke(app, ["synth", "--out", str(out), "--clients", "300", "--seed", "4"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    releases = manifest["releases"]
    assert releases["folder"] == "releases" and set(releases["files"]) == set(R.FILES)
    assert all((out / "releases" / name).exists() for name in R.FILES)
    assert releases["planted_gap_3m"] and releases["counts"]["outcomes"]
    assert manifest["voices"]["folder"] == "voices"
    # ingested with the folder's own mapping, the releases are registered as synthetic, never as the
    # government's, and every indicator row cites them so
    key = tmp_path / "key"
    key.write_text("ab" * 32 + "\n", "ascii")
    key.chmod(0o600)
    w = tmp_path / "w.duckdb"
    got = CliRunner().invoke(app, ["ingest", str(out / "releases"), "-w", str(w), "--key-file", str(key)])
    assert got.exit_code == 0, got.output
    with Warehouse(w, read_only=True) as wh:
        register = wh.fetchall("SELECT release_id, title, publisher, reference FROM aggregate_release")
    assert len(register) == len(R.FILES)
    assert all(t.startswith("SYNTHETIC") and "not a real release" in p and "data.ontario.ca" not in r
               for _, t, p, r in register), register
    rows = json.loads(CliRunner().invoke(app, ["indicators", "-w", str(w), "--source", "aggregate", "--format",
                                               "json"]).stdout)
    assert rows and all(r["citation"].startswith("esmonitor synth (synthetic data") for r in rows)
