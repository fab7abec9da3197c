"""Funding models by hand: stream weights, the checkpoint schedule, the agreement-year shift from
20 % to 25 %, the pot's cap, the target model; reconciliation of every total with the trail."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from esmonitor.errors import UserInputError
from esmonitor.funding.model import load_model
from esmonitor.funding.payments import pay

START = {"X": date(2021, 4, 1), "Y": date(2024, 4, 1)}  # X: FY2021-22 is agreement year 1


def checkpoint(client: str, k: int, when: date, stream: str, status: str = "achieved", catchment: str = "X",
               provider: str = "P1") -> dict:
    return {"client_id": client, "checkpoint": k, "checkpoint_date": when, "status": status, "stream": stream,
            "catchment_id": catchment, "ssm_id": f"S-{catchment}", "provider_id": provider}


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"client_id": pl.String, "checkpoint": pl.Int64, "checkpoint_date": pl.Date,
                                      "status": pl.String, "stream": pl.String, "catchment_id": pl.String,
                                      "ssm_id": pl.String, "provider_id": pl.String})


def test_ies_stream_weights_and_checkpoint_schedule_by_hand() -> None:
    model = load_model("ies")
    assert model.per_client("A") == 344 and model.per_client("C") == 3230  # the reported totals
    rows = [checkpoint("a1", k, date(2022, 6, 1), "A") for k in (1, 3, 6, 12)]          # 34 + 69 + 86 + 155
    rows += [checkpoint("c1", 1, date(2022, 7, 1), "C"), checkpoint("c1", 3, date(2022, 9, 1), "C"),  # 323 + 646
             checkpoint("c1", 6, date(2022, 12, 1), "C", status="not_achieved")]                        # 0
    rows += [checkpoint("b1", 12, date(2022, 5, 1), "B", status="pending")]                            # 0
    rows += [checkpoint("z1", 1, date(2021, 3, 1), "C")]  # before X's IES start: the model did not apply
    result = pay(frame(rows), model, START)
    paid = dict(zip(result.trail["client_id"] + "-" + result.trail["checkpoint"].cast(pl.String),
                    result.trail["paid"], strict=True))
    assert paid == {"a1-1": 34, "a1-3": 69, "a1-6": 86, "a1-12": 155, "c1-1": 323, "c1-3": 646}
    env = result.envelopes.row(0, named=True)
    assert (env["fiscal_year"], env["agreement_year"]) == ("FY2022-23", 2)
    assert env["performance_pot"] == 0.20 * 20_000_000 and env["supports"] == 0.10 * 20_000_000
    assert env["operational"] == 0.70 * 20_000_000 and env["paid"] == 344 + 969
    assert env["surplus"] == env["performance_pot"] - 1313


def test_agreement_year_four_shifts_the_share_to_25_percent() -> None:
    model = load_model("ies")
    rows = [checkpoint("a", 1, date(2023, 6, 1), "A"), checkpoint("b", 1, date(2024, 6, 1), "A"),
            checkpoint("c", 1, date(2025, 6, 1), "A")]
    env = pay(frame(rows), model, START).envelopes
    shares = dict(zip(env["agreement_year"], env["performance_pot"] / env["envelope"], strict=True))
    assert shares == {3: pytest.approx(0.20), 4: pytest.approx(0.25), 5: pytest.approx(0.25)}
    for r in env.iter_rows(named=True):  # the envelope identity
        assert r["operational"] + r["performance_pot"] + r["supports"] == pytest.approx(r["envelope"])


def test_the_pot_caps_payments_in_proportion() -> None:
    small = replace(load_model("ies"), envelope_default=5_000.0, envelope_by_catchment={})  # pot 20 % = 1,000
    rows = [checkpoint("c1", 12, date(2022, 6, 1), "C"), checkpoint("c2", 12, date(2022, 6, 2), "C")]  # 2 x 1,453
    result = pay(frame(rows), small, START)
    assert result.trail["earned"].to_list() == [1453.0, 1453.0]
    assert result.trail["paid"].to_list() == pytest.approx([500.0, 500.0])  # 1,000 shared pro rata
    env = result.envelopes.row(0, named=True)
    assert env["earned"] == 2906 and env["paid"] == pytest.approx(1000) and env["surplus"] == pytest.approx(0)
    uncapped = pay(frame(rows), replace(small, shortfall="none"), START)
    assert uncapped.trail["paid"].to_list() == [1453.0, 1453.0]


def test_uk_work_programme_pays_outcome_and_sustainment_checkpoints() -> None:
    model = load_model("uk_work_programme")
    rows = [checkpoint("a", k, date(2022, 6, 1), "A") for k in (1, 3, 6, 12)]   # 1,700 at 3; 1,020 at 12
    rows += [checkpoint("c", k, date(2022, 6, 1), "C") for k in (1, 3, 6, 12)]  # 3,400 at 6; 3,960 at 12
    totals = pay(frame(rows), model, START).totals(["client_id"])
    assert dict(zip(totals["client_id"], totals["paid"], strict=True)) == {"a": 2720.0, "c": 7360.0}


def test_target_model_pays_in_proportion_between_floor_and_target() -> None:
    model = load_model("wioa_targets")  # target 45 % at 6 months; nothing below 90 % of it; pot 10 % of 20 M
    def catchment_rows(catchment: str, achieved: int, total: int) -> list[dict]:
        return [checkpoint(f"{catchment}{i}", 6, date(2025, 6, 1), "B", "achieved" if i < achieved
                           else "not_achieved", catchment=catchment) for i in range(total)]
    rows = catchment_rows("X", 43, 100) + catchment_rows("Y", 30, 100)  # X: 43 % = 95.6 % of target; Y: 66.7 %
    result = pay(frame(rows), model, START)
    env = {r["catchment_id"]: r for r in result.envelopes.iter_rows(named=True)}
    expected_x = 2_000_000 * ((0.43 / 0.45 - 0.9) / 0.1)
    assert env["X"]["paid"] == pytest.approx(expected_x) and env["Y"]["paid"] == 0
    assert result.trail.filter(pl.col("catchment_id") == "X")["paid"].sum() == pytest.approx(expected_x)


def test_totals_reconcile_with_the_trail() -> None:
    rows = []
    for i in range(60):
        rows.append(checkpoint(f"k{i}", [1, 3, 6, 12][i % 4], date(2022 + i % 3, 1 + i % 12, 1), "ABC"[i % 3],
                               catchment="XY"[i % 2], provider=f"P{i % 5}"))
    result = pay(frame(rows), load_model("ies"), START)
    total = result.trail["paid"].sum()
    for by in (["ssm_id"], ["provider_id"], ["stream"], ["fiscal_year"], ["catchment_id", "fiscal_year"]):
        assert result.totals(by)["paid"].sum() == pytest.approx(total)
    assert result.envelopes["paid"].sum() == pytest.approx(total)


def test_bad_models_are_named(tmp_path: Path) -> None:
    text = Path(load_model("ies").source.split(" ")[0]).name
    assert text == "ies.toml"
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nid = "x"\nversion = "1"\nkind = "per_outcome"\n[shares]\nperformance = [0.95]\n'
                   'supports = 0.1\n[payments]\nA = { 1 = 10 }\n', "utf-8")
    with pytest.raises(UserInputError, match=r"bad.toml: shares.performance\[0\] = 0.95"):
        load_model(bad)
    bad.write_text('[model]\nid = "x"\nversion = "1"\nkind = "per_outcome"\n[shares]\nperformance = [0.2]\n'
                   '[payments]\nD = { 1 = 10 }\n', "utf-8")
    with pytest.raises(UserInputError, match=r"payments\.D"):
        load_model(bad)
    with pytest.raises(UserInputError, match="not found"):
        load_model(tmp_path / "none.toml")


def test_on_the_synthetic_province_totals_reconcile_and_flat_weights_widen_the_creaming_gap(loaded_50k) -> None:
    from esmonitor.funding.report import creaming_gap, flat, run
    from esmonitor.indicators.engine import frames_from
    from esmonitor.warehouse import Warehouse

    with Warehouse(loaded_50k.warehouse, read_only=True) as w:
        frames = frames_from(w, needed=["outcome", "client"])
    ies = load_model("ies")
    result, rewards = run(frames, ies)
    total = result.trail["paid"].sum()
    assert total > 0
    for by in (["ssm_id"], ["provider_id"], ["stream"], ["fiscal_year"]):
        assert result.totals(by)["paid"].sum() == pytest.approx(total)
    for r in result.envelopes.iter_rows(named=True):
        assert r["operational"] + r["performance_pot"] + r["supports"] == pytest.approx(r["envelope"])
        assert r["paid"] <= r["performance_pot"] + 1e-6
    # every payment is an achieved checkpoint of the outcome engine, at the model's rate for its stream
    achieved = frames.get("outcome").filter(pl.col("status") == "achieved").select("client_id", "checkpoint")
    assert result.trail.join(achieved, on=["client_id", "checkpoint"], how="anti").height == 0
    assert set(result.trail.select(pl.struct("stream", "checkpoint", "earned")).to_series().struct.unnest()
               .iter_rows()) <= {(s, k, v) for s, t in ies.payments.items() for k, v in t.items()}
    # the rules' reward by stream is measured with a clear interval; flattening the stream weights
    # takes away stream C's premium, so serving easy clients pays relatively more (the gap rises)
    gap = creaming_gap(rewards)
    assert gap["high"] - gap["low"] < abs(gap["gap"])  # measurable: the interval excludes 0
    flat_gap = creaming_gap(run(frames, flat(ies))[1])
    assert flat_gap["low"] > gap["high"]


def test_mix_shift_and_payment_per_service_by_hand() -> None:
    from esmonitor.funding.report import incentives, mix_shift

    # expected payment per client: A 100, B 400, C 1,000 (given); provider P: 2 A, 4 B, 4 C clients
    rewards = pl.DataFrame({"stream": ["A", "B", "C"], "per_client": [100.0, 400.0, 1000.0]})
    clients = pl.DataFrame({"client_id": [f"c{i}" for i in range(10)], "provider_id": ["P"] * 10,
                            "stream": ["A"] * 2 + ["B"] * 4 + ["C"] * 4, "mature_job": [True] * 10})
    row = mix_shift(clients, rewards, points=0.10).row(0, named=True)
    # now: 2x100 + 4x400 + 4x1000 = 5,800; one client (10 % of 10) moves from the B/C mean (700) to A (100)
    assert row["expected_payment"] == 5800 and row["change"] == pytest.approx(-600.0)
    assert row["after_shift"] == pytest.approx(5200.0) and row["share_a"] == pytest.approx(0.2)
    # per service: a stream C client earning 1,000 over 4 services is 250 a service
    trail = pl.DataFrame({"client_id": ["c6", "c2"], "paid": [1000.0, 400.0]})
    served = clients.with_columns(pl.Series("services", [1, 1, 4, 4, 4, 4, 4, 4, 4, 4]))
    table = incentives(type("P", (), {"trail": trail})(), served)  # a Payments-like holder of a trail
    c = table.filter(pl.col("stream") == "C").row(0, named=True)
    assert c["per_client"] == pytest.approx(250.0) and c["per_service"] == pytest.approx(250.0 / 4)


def test_share_of_payments_due_to_local_unemployment(loaded_50k) -> None:
    """Catchments with lower unemployment than the province owe part of their payments to it
    (positive share), those with higher unemployment lose some (negative); a client at the mean
    rate contributes nothing."""
    from scipy.stats import spearmanr

    from esmonitor.evaluation.providers import provider_inputs
    from esmonitor.funding.report import local_labour_market_share, run
    from esmonitor.indicators.engine import frames_from
    from esmonitor.warehouse import Warehouse

    with Warehouse(loaded_50k.warehouse, read_only=True) as w:
        frames = frames_from(w, needed=["outcome", "client"])
        monthly = pl.from_arrow(w.arrow("SELECT economic_region, month, unemployment_rate FROM labour_market_monthly"))
    inputs = provider_inputs(frames, monthly)
    result, _ = run(frames, load_model("ies"))
    share = local_labour_market_share(result, inputs)
    assert share.height == 15 and share["paid"].min() > 0
    rho = spearmanr(share["unemployment"], share["share_of_paid"]).statistic
    assert rho < -0.8
    mean_rate = float(inputs["unemployment"].mean())
    below = share.filter(pl.col("unemployment") < mean_rate - 0.3)["share_of_paid"]
    above = share.filter(pl.col("unemployment") > mean_rate + 0.3)["share_of_paid"]
    assert (below > 0).all() and (above < 0).all()


def test_planted_creaming_shows_as_a_payoff_that_flat_weights_reverse(loaded_50k) -> None:
    """The synthetic province's creaming catchments take in high-need referrals 30 % less often
    after IES: stream C's share of their intakes falls against the other catchments (measurable:
    the interval excludes 0, and the size is near the manifest's). Under the IES weights that fall
    costs payments, because stream C clients bring more; with the stream weights flattened it
    pays: the expected direction."""
    from esmonitor.funding.report import creaming_payoff, flat, run, stream_c_shift
    from esmonitor.indicators.engine import frames_from
    from esmonitor.warehouse import Warehouse

    planted = loaded_50k.province.manifest()["planted_effects"]
    with Warehouse(loaded_50k.warehouse, read_only=True) as w:
        frames = frames_from(w, needed=["outcome", "client"])
    from esmonitor.funding.report import funding_inputs

    _, clients, starts = funding_inputs(frames)
    shift = stream_c_shift(clients, starts, planted["creaming_catchments"])
    assert shift["high"] < 0
    expected = loaded_50k.province.realised["expected_stream_c_share_creaming_catchments"]
    truth = expected["with_creaming"] - expected["without_creaming"]
    assert truth < 0 and 0.5 * truth > shift["shift"] > 1.5 * truth
    payoffs = {m.id: creaming_payoff(shift, run(frames, m)[1]) for m in (load_model("ies"), flat(load_model("ies")))}
    assert payoffs["ies"]["high"] < 0 < payoffs["ies_flat"]["low"]


def test_public_funding_totals_go_through_the_disclosure_layer(loaded_50k, tmp_path) -> None:
    """Public totals by provider: a total over fewer than K paid checkpoints is withheld, and
    enough others that the attacker, knowing the published totals and the grand total, cannot
    narrow a withheld count below K."""
    import json

    import numpy as np
    from typer.testing import CliRunner

    from esmonitor.cli import app
    from esmonitor.disclosure.attacker import feasible_intervals
    from esmonitor.disclosure.table import build_table

    k = 400  # high enough that several providers fall below it
    w = str(tmp_path / "w.duckdb")  # its own copy: a public release goes into the ledger
    shutil.copy(loaded_50k.warehouse, w)
    private = json.loads(CliRunner().invoke(app, ["funding", "report", "-w", w, "--by", "provider_id", "--json"])
                         .output)["totals"]
    result = CliRunner().invoke(app, ["funding", "report", "-w", w, "--by", "provider_id", "--audience", "public",
                                      "--min-count", str(k), "--json"])
    assert result.exit_code == 0, result.output
    public = {r["provider_id"]: r for r in json.loads(result.output)["totals"]}
    counts = {r["provider_id"]: r["checkpoints"] for r in private}
    small = {p for p, n in counts.items() if n < k}
    assert small and all(public[p]["paid"] is None for p in small)
    assert all(public[p]["checkpoints"] >= k for p in public if public[p]["paid"] is not None)
    frame = pl.DataFrame({"provider_id": list(counts), "n": [float(v) for v in counts.values()]})
    table = build_table(frame, ["provider_id"], "n")
    hidden = np.array([r["provider_id"] != "Total" and public[r["provider_id"]]["paid"] is None
                       for r in table.cells.iter_rows(named=True)])
    widths = feasible_intervals(table.equations, table.values, hidden)
    for row, cell in zip(table.cells.iter_rows(named=True), range(len(table)), strict=True):
        if row["provider_id"] in small:
            assert widths[cell].width >= k
