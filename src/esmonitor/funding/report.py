"""Funding on the warehouse: payments under a model, a scenario against another, and what the
rules reward.

* :func:`funding_inputs` reads the funded-outcome checkpoints (with stream, provider, catchment,
  SSM) and each served client's stream, from the indicator engine's frames.
* :func:`incentives`: the expected payment per client served, by stream (every client served
  whose 12-month checkpoint has had time to pass; those with no outcome earn 0), with a 95 %
  interval — the marginal payment of taking in one more client of that stream at the observed
  outcome rates. The **creaming gap** is stream A's minus stream C's: positive, the rules pay more
  for the easiest clients.
* :func:`compare` lines two models' payments up by any breakdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from esmonitor.funding.model import FundingModel
from esmonitor.funding.payments import Payments, pay
from esmonitor.indicators.stats import Z95


def funding_inputs(frames: Any) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, date]]:
    """(checkpoints, clients served with stream and maturity, IES start by catchment)."""
    from esmonitor.model.reference import catchments

    outcomes = frames.get("outcome").select("client_id", "checkpoint", "checkpoint_date", "status", "catchment_id",
                                            "ssm_id", "provider_id", "stream")
    clients = frames.get("client").select("client_id", "stream", "catchment_id", "provider_id", "mature_job",
                                          "services", "intake_on")
    return outcomes, clients, {c.catchment_id: c.ies_start for c in catchments()}


def incentives(result: Payments, clients: pl.DataFrame) -> pl.DataFrame:
    """Expected payment per client served, by stream, with its interval, and the creaming gap."""
    per_client = result.trail.group_by("client_id").agg(pl.col("paid").sum())
    served = (clients.filter(pl.col("mature_job") & pl.col("stream").is_in(["A", "B", "C"]))
              .join(per_client, on="client_id", how="left").with_columns(pl.col("paid").fill_null(0.0)))
    has_services = "services" in served.columns
    table = served.group_by("stream").agg(
        pl.len().alias("clients"), pl.col("paid").mean().alias("per_client"), pl.col("paid").std().alias("_sd"),
        (pl.col("services").mean() if has_services else pl.lit(None, dtype=pl.Float64)).alias("services_per_client"),
    ).sort("stream")
    table = table.with_columns((pl.col("per_client") / pl.col("services_per_client")).alias("per_service"))
    table = table.with_columns((pl.col("_sd") / pl.col("clients").sqrt()).alias("se")).with_columns(
        (pl.col("per_client") - Z95 * pl.col("se")).alias("low"),
        (pl.col("per_client") + Z95 * pl.col("se")).alias("high")).drop("_sd")
    return table


def mix_shift(clients: pl.DataFrame, rewards: pl.DataFrame, points: float = 0.10) -> pl.DataFrame:
    """Per provider: its clients served by stream, the payment the rules would bring at the
    expected payment per client of each stream, and the change if ``points`` of its mix moved
    from streams B and C (in proportion) to stream A, the same number of clients served:
    ``change = n x points x (E_A - (p_B E_B + p_C E_C) / (p_B + p_C))``."""
    expected = dict(zip(rewards["stream"], rewards["per_client"], strict=True))
    served = clients.filter(pl.col("mature_job") & pl.col("stream").is_in(["A", "B", "C"]))
    counts = served.group_by("provider_id").agg(*[(pl.col("stream") == s).sum().alias(s) for s in "ABC"])
    rows = []
    for r in counts.iter_rows(named=True):
        n = r["A"] + r["B"] + r["C"]
        harder = r["B"] + r["C"]
        now = sum(r[s] * expected.get(s, 0.0) for s in "ABC")
        moved = min(points, harder / n) if n else 0.0
        mean_harder = (r["B"] * expected.get("B", 0.0) + r["C"] * expected.get("C", 0.0)) / harder if harder else 0.0
        change = n * moved * (expected.get("A", 0.0) - mean_harder)
        rows.append({"provider_id": r["provider_id"], "clients": n, "share_a": r["A"] / n if n else 0.0,
                     "expected_payment": now, "after_shift": now + change, "change": change})
    return pl.DataFrame(rows).sort("provider_id") if rows else pl.DataFrame()


def creaming_gap(table: pl.DataFrame) -> dict[str, float]:
    """Stream A's expected payment per client minus stream C's, with a 95 % interval."""
    rows = {r["stream"]: r for r in table.iter_rows(named=True)}
    a, c = rows["A"], rows["C"]
    gap = a["per_client"] - c["per_client"]
    se = float(np.hypot(a["se"], c["se"]))
    return {"gap": gap, "low": gap - Z95 * se, "high": gap + Z95 * se}


def compare(first: Payments, second: Payments, by: Sequence[str]) -> pl.DataFrame:
    """Payments under two models side by side, and the difference (second minus first)."""
    a = first.totals(list(by)).select(*by, pl.col("paid").alias(first.model.id))
    b = second.totals(list(by)).select(*by, pl.col("paid").alias(second.model.id + ("_vs" if
                                                                                    second.model.id == first.model.id
                                                                                    else "")))
    name_b = b.columns[-1]
    out = a.join(b, on=list(by), how="full", coalesce=True).with_columns(
        pl.col(first.model.id).fill_null(0.0), pl.col(name_b).fill_null(0.0))
    return out.with_columns((pl.col(name_b) - pl.col(first.model.id)).alias("difference")).sort(list(by))


def flat(model: FundingModel) -> FundingModel:
    """The same model with every stream paid stream B's schedule (stream weights flattened)."""
    from dataclasses import replace

    middle = model.payments.get("B") or next(iter(model.payments.values()))
    return replace(model, id=f"{model.id}_flat", payments={s: dict(middle) for s in model.payments})


def run(frames: Any, model: FundingModel) -> tuple[Payments, pl.DataFrame]:
    outcomes, clients, starts = funding_inputs(frames)
    result = pay(outcomes, model, starts)
    return result, incentives(result, clients)


def local_labour_market_share(result: Payments, inputs: pl.DataFrame) -> pl.DataFrame:
    """How much of what each catchment is paid depends on its local unemployment, which its
    providers cannot influence. The evaluation engine's risk adjustment (a logistic model of
    starting a job on stream, social assistance, demographics, unemployment and system phase:
    ``esmonitor.evaluation.providers``) predicts each client's chance at the unemployment they
    faced and at the province's mean; the difference, valued at what a job start of the client's
    stream is paid on average, summed by catchment, against what the catchment was paid.
    ``inputs`` is ``provider_inputs``' table (one row per client with a mature plan)."""
    import statsmodels.api as sm

    from esmonitor.evaluation.providers import SYSTEM_COVARIATES, SYSTEM_OUTCOME, design_matrix

    x, names = design_matrix(inputs, SYSTEM_COVARIATES)
    y = inputs[SYSTEM_OUTCOME].cast(pl.Float64).to_numpy()
    fit = sm.GLM(y, sm.add_constant(x, has_constant="add"), family=sm.families.Binomial()).fit()
    at_mean = inputs.with_columns(pl.col("unemployment").mean().alias("unemployment"))
    x0, names0 = design_matrix(at_mean, SYSTEM_COVARIATES)
    if names0 != names:
        raise ValueError("the design changed when unemployment was set to its mean")
    p = fit.predict(sm.add_constant(x, has_constant="add"))
    p0 = fit.predict(sm.add_constant(x0, has_constant="add"))
    starters = result.trail.select("client_id", "stream").unique()
    value = (result.trail.group_by("stream").agg(pl.col("paid").sum())
             .join(starters.group_by("stream").len(), on="stream")
             .with_columns((pl.col("paid") / pl.col("len")).alias("per_start")).select("stream", "per_start"))
    effect = (inputs.select("client_id", "catchment_id", "stream", "unemployment")
              .with_columns(pl.Series("_delta_p", p - p0))
              .join(value, on="stream", how="left")
              .with_columns((pl.col("_delta_p") * pl.col("per_start").fill_null(0.0)).alias("_delta")))
    paid = result.trail.group_by("catchment_id").agg(pl.col("paid").sum())
    return (effect.group_by("catchment_id").agg(pl.col("unemployment").mean().alias("unemployment"),
                                                pl.col("_delta").sum().alias("due_to_local_unemployment"))
            .join(paid, on="catchment_id", how="left")
            .with_columns((pl.col("due_to_local_unemployment") / pl.col("paid")).alias("share_of_paid"))
            .sort("catchment_id"))


def stream_c_shift(clients: pl.DataFrame, ies_start: dict[str, date], group: Sequence[str],
                   settle_days: int = 60) -> dict[str, float]:
    """Difference in differences of stream C's share of intakes: the catchments in ``group``
    against all others, after their IES start (plus ``settle_days``) against before; with its
    standard error. A fall is the mark creaming leaves on whom a provider takes in."""
    starts = pl.DataFrame({"catchment_id": list(ies_start), "_start": list(ies_start.values())},
                          schema={"catchment_id": pl.String, "_start": pl.Date})
    d = (clients.filter(pl.col("stream").is_in(list(STREAMS_ABC)) & pl.col("intake_on").is_not_null())
         .join(starts, on="catchment_id", how="inner")
         .with_columns((pl.col("intake_on") >= pl.col("_start") + pl.duration(days=settle_days)).alias("_post"),
                       (pl.col("stream") == "C").alias("_c"), pl.col("catchment_id").is_in(list(group)).alias("_in")))
    cells = {(r["_in"], r["_post"]): (r["p"], r["n"]) for r in
             d.group_by("_in", "_post").agg(pl.len().alias("n"), pl.col("_c").mean().alias("p")).iter_rows(named=True)}
    if len(cells) < 4:
        raise ValueError("stream C shift: need intakes before and after IES, in the group and outside it")
    did = (cells[(True, True)][0] - cells[(True, False)][0]) - (cells[(False, True)][0] - cells[(False, False)][0])
    se = float(np.sqrt(sum(p * (1 - p) / n for p, n in cells.values())))
    return {"shift": float(did), "se": se, "low": float(did - Z95 * se), "high": float(did + Z95 * se)}


def intake_phases(clients: pl.DataFrame, ies_start: dict[str, date], settle_days: int = 60) -> pl.DataFrame:
    """The intakes :func:`stream_c_shift` counts, one row each: catchment_id, phase (before or
    after the catchment's IES start plus ``settle_days``) and stream_c (yes or no)."""
    starts = pl.DataFrame({"catchment_id": list(ies_start), "_start": list(ies_start.values())},
                          schema={"catchment_id": pl.String, "_start": pl.Date})
    return (clients.filter(pl.col("stream").is_in(list(STREAMS_ABC)) & pl.col("intake_on").is_not_null())
            .join(starts, on="catchment_id", how="inner")
            .select("catchment_id",
                    pl.when(pl.col("intake_on") >= pl.col("_start") + pl.duration(days=settle_days))
                    .then(pl.lit("after")).otherwise(pl.lit("before")).alias("phase"),
                    pl.when(pl.col("stream") == "C").then(pl.lit("yes")).otherwise(pl.lit("no")).alias("stream_c")))


def creaming_payoff(shift: dict[str, float], rewards: pl.DataFrame) -> dict[str, float]:
    """What a fall in stream C's share of intakes is worth per intake under the rules: the shift
    times stream C's expected payment per client minus the other streams' (weighted by their
    clients). Negative: taking in fewer stream C clients costs payments; positive: it pays."""
    rows = {r["stream"]: r for r in rewards.iter_rows(named=True)}
    others = [rows[s] for s in ("A", "B") if s in rows]
    other = sum(r["per_client"] * r["clients"] for r in others) / sum(r["clients"] for r in others)
    difference = rows["C"]["per_client"] - other
    ends = sorted((shift["low"] * difference, shift["high"] * difference))
    return {"per_intake": shift["shift"] * difference, "low": ends[0], "high": ends[1],
            "c_minus_other_per_client": difference}


def creaming_watch(clients: pl.DataFrame, rewards: pl.DataFrame, ies_start: dict[str, date]) -> pl.DataFrame:
    """For every catchment against all the others: the change in stream C's share of intakes
    after its IES start (:func:`stream_c_shift`) and what it is worth per intake under the rules."""
    rows = []
    for catchment in sorted(ies_start):
        try:
            shift = stream_c_shift(clients, ies_start, [catchment])
        except (ValueError, KeyError):
            continue
        payoff = creaming_payoff(shift, rewards)
        rows.append({"catchment_id": catchment, **{f"c_share_{k}": v for k, v in shift.items()},
                     "payoff_per_intake": payoff["per_intake"], "payoff_low": payoff["low"],
                     "payoff_high": payoff["high"]})
    return pl.DataFrame(rows) if rows else pl.DataFrame()


STREAMS_ABC = ("A", "B", "C")
