"""The rollout evaluation on the warehouse: the panel against independent SQL, the planted IES
effect recovered with honest coverage over 20 synthetic provinces, synthetic controls for the
prototypes, and the command's JSON and errors."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from conftest import LoadedProvince, load_synthetic
from esmonitor.cli import app
from esmonitor.errors import UserInputError
from esmonitor.evaluation.rollout import (
    evaluate_rollout_on,
    quarter_index,
    quarter_label,
    rollout_panel,
    unemployment_by_quarter,
)
from esmonitor.indicators.engine import frames_from
from esmonitor.model import reference
from esmonitor.warehouse import Warehouse


def test_quarter_index_round_trip() -> None:
    from datetime import date

    assert quarter_label(quarter_index(date(2021, 1, 1))) == "2021Q1"
    assert quarter_label(quarter_index(date(2023, 10, 1))) == "2023Q4"
    assert quarter_index(date(2024, 1, 1)) - quarter_index(date(2023, 4, 1)) == 3


def test_panel_against_independent_sql(loaded_50k: LoadedProvince) -> None:
    with Warehouse(loaded_50k.warehouse, read_only=True) as w:
        panel = rollout_panel(frames_from(w, needed=["client"]), unemployment_by_quarter(w))
        row = panel.filter((pl.col("unit") == "HNP") & (pl.col("period") == "2019Q3")).row(0, named=True)
        # job starters among clients whose first plan began in 2019Q3 (mature by construction)
        n, k = w.fetchall("""
            WITH first_plan AS (
                SELECT a.client_id, min(a.start_date) AS plan_start, arg_min(p.catchment_id, a.start_date) AS c
                FROM action_plan a JOIN site s USING (site_id) JOIN provider p USING (provider_id)
                GROUP BY a.client_id)
            SELECT count(*), count(*) FILTER (WHERE client_id IN (
                       SELECT client_id FROM employment e WHERE e.job_start >= f.plan_start))
            FROM first_plan f WHERE c = 'HNP' AND plan_start >= DATE '2019-07-01' AND plan_start < DATE '2019-10-01'
        """)[0]
        months = w.fetchall("""SELECT avg(value) FROM labour_market WHERE economic_region = '3550'
            AND lower(characteristic) = 'unemployment rate' AND month >= DATE '2019-07-01'
            AND month < DATE '2019-10-01'""")[0][0]
    assert row["denominator"] == n
    assert row["value"] == pytest.approx(k / n, abs=0.02)  # funded-outcome job starts vs any later job
    assert row["unemployment"] == pytest.approx(float(months), abs=1e-9)
    hnp = next(c for c in reference.catchments() if c.catchment_id == "HNP")
    assert row["first_treated"] == quarter_index(hnp.ies_start)
    # balanced: every catchment in every quarter kept
    assert panel.group_by("t").len()["len"].unique().to_list() == [15]


def _coverage_run(seed: int, folder: str) -> tuple[float, float, float, float, float]:
    """(truth, estimate, ci_low, ci_high) of the dynamic aggregate on one synthetic province, and
    the pre-trend test's p-value (parallel trends hold before the transitions by construction)."""
    loaded = load_synthetic(Path(folder) / f"p{seed}.duckdb", 50_000, seed)
    cells = loaded.province.realised["ies_effect_points_by_catchment_quarter"]  # type: ignore[attr-defined]
    with Warehouse(loaded.warehouse, read_only=True) as w:
        result = evaluate_rollout_on(w, frames_from(w, needed=["client"]), permutations=0, synthetic=False,
                                     draws=49, seed=seed)
    weight = dict(result.panel.select("unit", "weight").unique().iter_rows())
    cohorts: dict[int, list[str]] = {}
    for unit, g in result.panel.select("unit", "first_treated").unique().iter_rows():
        cohorts.setdefault(g, []).append(unit)
    by_event: dict[int, list[tuple[float, float]]] = {}
    for cell in result.did.att_gt:  # the truth of each estimated post-go-live ATT(g,t), same weights
        if cell.time < cell.group or not np.isfinite(cell.att):
            continue
        units = cohorts[int(cell.group)]
        truth = np.average([cells[u][quarter_label(int(cell.time))] for u in units], weights=[weight[u] for u in units])
        by_event.setdefault(int(cell.time - cell.group), []).append((sum(weight[u] for u in units), truth))
    truth = float(np.mean([sum(n * t for n, t in v) / sum(n for n, _ in v) for v in by_event.values()]))
    data = result.as_dict()
    effect = data["effect"]
    return truth, effect["att"], effect["ci"][0], effect["ci"][1], data["pretrend"]["p_value"]


@pytest.mark.slow
def test_planted_ies_effect_covered_in_20_provinces(tmp_path: Path) -> None:
    # spawn, not fork: the parent already runs DuckDB and Polars threads, which a fork would copy mid-lock
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = list(pool.map(_coverage_run, range(20), [str(tmp_path)] * 20))
    covered = [low <= truth <= high for truth, _, low, high, _ in runs]
    assert sum(covered) >= 18, runs
    # and the estimates centre on the truth (no systematic bias)
    errors = np.array([est - truth for truth, est, _, _, _ in runs])
    assert abs(errors.mean()) < 2 * errors.std(ddof=1) / np.sqrt(len(errors))
    # the pre-trend test rejects true parallel pre-trends about as often as its level says
    assert sum(p < 0.05 for *_, p in runs) <= 3


def test_rollout_report_on_the_warehouse(loaded_50k: LoadedProvince) -> None:
    result = CliRunner().invoke(app, ["evaluate", "rollout", "-w", str(loaded_50k.warehouse), "--draws", "19",
                                      "--permutations", "19", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["units"] == 15 and data["anticipation_quarters"] == 5
    planted = loaded_50k.province.realised["ies_att_probability_points"] / 100  # type: ignore[attr-defined]
    assert data["effect"]["ci"][0] < planted < data["effect"]["ci"][1]
    events = {e["event_time"]: e for e in data["event_study"]}
    assert 0 in events and all(e["band"][0] <= e["att"] <= e["band"][1] for e in events.values())
    assert 1 / 20 <= data["randomization"]["p_value"] <= 1
    assert set(data["synthetic_controls"]) == {"HNP", "MKW", "PEL"}
    for sc in data["synthetic_controls"].values():
        assert sum(sc["weights"].values()) == pytest.approx(1.0, abs=1e-6)
        assert not set(sc["weights"]) & {"HNP", "MKW", "PEL"}
        assert sc["treatment_period"] == "2020Q1"
    assert data["did"]["aggregate"]["dynamic"]["att"] == pytest.approx(data["effect"]["att"])


def test_the_public_rollout_leaves_out_the_units_with_withheld_quarters(loaded_50k: LoadedProvince,
                                                                        tmp_path: Path) -> None:
    """Every estimate is a function of the panel's unit × quarter cells, so for the public the
    evaluation is made again without the units whose quarters a protected release withholds:
    those units, exactly, are named and left out (checked against the public indicator table of
    the same warehouse), and the result is the evaluation without them; the planted effect is still
    inside its interval."""
    import shutil
    from io import StringIO

    from esmonitor.evaluation.rollout import evaluate_rollout

    warehouse = tmp_path / "w.duckdb"  # its own copy: public releases go into the ledger
    shutil.copy(loaded_50k.warehouse, warehouse)
    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", "rollout", "-w", str(warehouse), "--draws", "19", "--permutations", "0",
                                 "--json"], env={"ESMONITOR_AUDIENCE": "public"})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout[result.stdout.index("{"):])
    table = runner.invoke(app, ["indicators", "-w", str(warehouse), "--id", "job_start_rate", "--by", "catchment_id",
                                "--grain", "quarter", "--format", "csv"], env={"ESMONITOR_AUDIENCE": "public"})
    assert table.exit_code == 0, table.output
    cells = pl.read_csv(StringIO(table.stdout[table.stdout.index("indicator"):]), infer_schema_length=None).filter(
        pl.col("period").is_in(data["panel_periods"]) & (pl.col("catchment_id") != "Total"))
    withheld = sorted(set(cells.filter(pl.col("status") != "published")["catchment_id"]))
    assert withheld and data["left_out"]["units"] == withheld
    assert data["units"] == 15 - len(withheld) and not set(data["panel_units"]) & set(withheld)
    with Warehouse(warehouse, read_only=True) as w:
        frames = frames_from(w)
        again = evaluate_rollout(frames, unemployment_by_quarter(w), draws=19, permutations=0,
                                 exclude=withheld).as_dict()
    assert data["effect"]["att"] == pytest.approx(again["effect"]["att"], rel=1e-9)
    assert data["effect"]["ci"] == pytest.approx(again["effect"]["ci"], rel=1e-9)
    assert [r["att"] for r in data["did"]["att_gt"]] == pytest.approx([r["att"] for r in again["did"]["att_gt"]],
                                                                    rel=1e-9, abs=1e-12)
    planted = loaded_50k.province.realised["ies_att_probability_points"] / 100  # type: ignore[attr-defined]
    assert data["effect"]["ci"][0] < planted < data["effect"]["ci"][1]


def test_rollout_errors(loaded_50k: LoadedProvince) -> None:
    with Warehouse(loaded_50k.warehouse, read_only=True) as w:
        frames = frames_from(w, needed=["client"])
        unemployment = unemployment_by_quarter(w)
        with pytest.raises(UserInputError, match="unknown indicator 'nope'"):
            rollout_panel(frames, unemployment, indicator="nope")
        with pytest.raises(UserInputError, match="'clients_served' is a count"):
            rollout_panel(frames, unemployment, indicator="clients_served")
        with pytest.raises(UserInputError, match="unknown level 'ssm'"):
            rollout_panel(frames, unemployment, level="ssm")
    result = CliRunner().invoke(app, ["evaluate", "rollout", "-w", str(loaded_50k.warehouse), "--indicator", "nope"])
    assert result.exit_code == 2 and "unknown indicator" in result.output


def test_provider_level_panel(loaded_50k: LoadedProvince) -> None:
    with Warehouse(loaded_50k.warehouse, read_only=True) as w:
        result = evaluate_rollout_on(w, frames_from(w, needed=["client"]), level="provider", draws=19,
                                     permutations=0, synthetic=False)
    panel = result.panel
    n_providers = len(loaded_50k.province.provider_quality)  # type: ignore[attr-defined]
    assert 0.5 * n_providers <= panel["unit"].n_unique() <= n_providers
    assert panel.group_by("unit").len()["len"].n_unique() == 1  # balanced
    # every provider carries its catchment's go-live quarter
    for catchment, g in panel.select("catchment_id", "first_treated").unique().iter_rows():
        ies = next(c.ies_start for c in reference.catchments() if c.catchment_id == catchment)
        assert g == quarter_index(ies)
    planted = loaded_50k.province.realised["ies_att_probability_points"] / 100  # type: ignore[attr-defined]
    low, high = result.as_dict()["effect"]["ci"]
    assert low < planted < high
    assert result.synthetic_controls == {}
