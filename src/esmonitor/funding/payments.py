"""What a funding model pays, from the funded-outcome engine's checkpoints.

``pay(outcomes, model, ies_start)`` returns

* ``trail``: one row per achieved checkpoint that the model pays for — pseudonymous client,
  checkpoint, its date and fiscal year, catchment, SSM, provider, stream, the catchment's agreement
  year, the amount earned and the amount paid (after the pot's cap) — the trail from every dollar
  back to the client checkpoint that earned it;
* ``envelopes``: per catchment and fiscal year: envelope, operational, performance pot and
  supports (which add up to the envelope), earned, paid and the surplus left in the pot.

Agreement years count fiscal years from the catchment's IES start (year 1 is the fiscal year it
began); checkpoints before a catchment's start are not paid (the model did not apply yet). A
target model pays each catchment-year's pot in proportion to how close its rate comes to the
target (nothing below the floor), and the trail spreads that payment evenly over the checkpoints
that counted toward it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from esmonitor.funding.model import FundingModel

TRAIL_COLUMNS = ("client_id", "checkpoint", "checkpoint_date", "fiscal_year", "catchment_id", "ssm_id",
                 "provider_id", "stream", "agreement_year", "earned", "paid")


@dataclass(frozen=True)
class Payments:
    model: FundingModel
    trail: pl.DataFrame
    envelopes: pl.DataFrame

    def totals(self, by: list[str]) -> pl.DataFrame:
        return self.trail.group_by(by).agg(pl.col("earned").sum(), pl.col("paid").sum(),
                                           pl.len().alias("checkpoints")).sort(by)


def _fiscal_start(column: str) -> pl.Expr:
    d = pl.col(column)
    return pl.when(d.dt.month() >= 4).then(d.dt.year()).otherwise(d.dt.year() - 1)


def pay(outcomes: pl.DataFrame, model: FundingModel, ies_start: dict[str, date]) -> Payments:
    """See the module docstring. ``outcomes``: the funded-outcome checkpoints with client_id,
    checkpoint, status, checkpoint_date, catchment_id, ssm_id, provider_id and stream."""
    starts = pl.DataFrame({"catchment_id": list(ies_start), "_start": list(ies_start.values())},
                          schema={"catchment_id": pl.String, "_start": pl.Date})
    base = (outcomes.join(starts, on="catchment_id", how="left")
            .filter(pl.col("_start").is_not_null() & (pl.col("checkpoint_date") >= pl.col("_start")))
            .with_columns(_fiscal_start("checkpoint_date").alias("_fy"), _fiscal_start("_start").alias("_fy0"))
            .with_columns((pl.col("_fy") - pl.col("_fy0") + 1).cast(pl.Int32).alias("agreement_year"),
                          pl.format("FY{}-{}", pl.col("_fy"), ((pl.col("_fy") + 1) % 100).cast(pl.String)
                                    .str.zfill(2)).alias("fiscal_year")))
    years = base.select("catchment_id", "fiscal_year", "agreement_year").unique()
    pots = years.with_columns(
        pl.col("catchment_id").map_elements(model.envelope, return_dtype=pl.Float64).alias("envelope"),
        pl.col("agreement_year").map_elements(model.performance_share, return_dtype=pl.Float64).alias("_share"))
    pots = pots.with_columns((pl.col("envelope") * pl.col("_share")).alias("performance_pot"),
                             (pl.col("envelope") * model.supports).alias("supports"))
    pots = pots.with_columns((pl.col("envelope") - pl.col("performance_pot") - pl.col("supports"))
                             .alias("operational")).drop("_share")
    trail = _per_outcome(base, model, pots) if model.kind == "per_outcome" else _target(base, model, pots)
    paid = trail.group_by("catchment_id", "fiscal_year").agg(pl.col("earned").sum(), pl.col("paid").sum())
    envelopes = (pots.join(paid, on=["catchment_id", "fiscal_year"], how="left")
                 .with_columns(pl.col("earned").fill_null(0.0), pl.col("paid").fill_null(0.0))
                 .with_columns((pl.col("performance_pot") - pl.col("paid")).alias("surplus"))
                 .select("catchment_id", "fiscal_year", "agreement_year", "envelope", "operational",
                         "performance_pot", "supports", "earned", "paid", "surplus")
                 .sort("catchment_id", "fiscal_year"))
    return Payments(model, trail.select(TRAIL_COLUMNS).sort("catchment_id", "fiscal_year", "client_id",
                                                            "checkpoint"), envelopes)


def _per_outcome(base: pl.DataFrame, model: FundingModel, pots: pl.DataFrame) -> pl.DataFrame:
    rates = pl.DataFrame([{"stream": s, "checkpoint": c, "earned": amount}
                          for s, table in model.payments.items() for c, amount in table.items()],
                         schema={"stream": pl.String, "checkpoint": pl.Int64, "earned": pl.Float64})
    earned = (base.filter(pl.col("status") == "achieved")
              .with_columns(pl.col("checkpoint").cast(pl.Int64))
              .join(rates, on=["stream", "checkpoint"], how="inner"))
    totals = earned.group_by("catchment_id", "fiscal_year").agg(pl.col("earned").sum().alias("_total"))
    factor = (pots.join(totals, on=["catchment_id", "fiscal_year"], how="left")
              .with_columns(pl.when((pl.col("_total") > pl.col("performance_pot")) & (model.shortfall == "prorate"))
                            .then(pl.col("performance_pot") / pl.col("_total")).otherwise(1.0).alias("_factor"))
              .select("catchment_id", "fiscal_year", "_factor"))
    return (earned.join(factor, on=["catchment_id", "fiscal_year"], how="left")
            .with_columns((pl.col("earned") * pl.col("_factor")).alias("paid")))


def _target(base: pl.DataFrame, model: FundingModel, pots: pl.DataFrame) -> pl.DataFrame:
    measured = base.filter((pl.col("checkpoint") == model.target_checkpoint)
                           & pl.col("status").is_in(["achieved", "not_achieved", "unknown"]))
    rates = measured.group_by("catchment_id", "fiscal_year").agg(
        (pl.col("status") == "achieved").mean().alias("_rate"), (pl.col("status") == "achieved").sum().alias("_n"))
    lo = model.target_floor
    share = ((pl.col("_rate") / model.target_rate - lo) / (1 - lo)).clip(0.0, 1.0)
    awards = (pots.join(rates, on=["catchment_id", "fiscal_year"], how="inner")
              .with_columns((pl.col("performance_pot") * share).alias("_award"))
              .select("catchment_id", "fiscal_year", "_award", "_n"))
    return (measured.filter(pl.col("status") == "achieved")
            .join(awards, on=["catchment_id", "fiscal_year"], how="inner")
            .with_columns((pl.col("_award") / pl.col("_n")).alias("earned"))
            .with_columns(pl.col("earned").alias("paid")))
