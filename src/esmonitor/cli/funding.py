"""``esmonitor funding``: what a funding model pays, what it rewards, and what-if scenarios."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from esmonitor.cli.common import (
    AudienceOpt,
    JsonOpt,
    MinCountOpt,
    WarehouseOpt,
    console,
    out,
    user_errors,
)
from esmonitor.cli.evaluate import unemployment_monthly
from esmonitor.cli.output import print_frame, print_json, write_frame
from esmonitor.errors import UserInputError

if TYPE_CHECKING:
    import polars as pl

    from esmonitor.disclosure.access import Policy
    from esmonitor.funding.payments import Payments
    from esmonitor.indicators.engine import Frames

app = typer.Typer(help="Funding models: what the rules pay, what they reward, and what-if scenarios.",
                  no_args_is_help=True)
ModelOpt = Annotated[str, typer.Option("--model", help="ies (default), uk_work_programme, wioa_targets, or a "
                                                        "model file (.toml).")]
FundingByOpt = Annotated[str, typer.Option("--by", help="Breakdown: ssm_id, catchment_id, provider_id, stream, "
                                                        "fiscal_year (comma-separated).")]


def _funding_frames(warehouse: Path, policy: Policy) -> Frames:
    from esmonitor.indicators.engine import frames_from
    from esmonitor.warehouse import Warehouse

    with Warehouse(warehouse, read_only=True) as w:
        scope = policy.scope(w)
        frames = frames_from(w, needed=["outcome", "client"])
    return frames if scope.column is None else frames.only(scope.column, sorted(scope.values))


def _local_share(warehouse: Path, frames: Frames, result: Payments) -> pl.DataFrame | None:
    """The share of each catchment's payments owed to its local unemployment, or None when the
    warehouse has too few mature plans to fit the risk adjustment."""
    from esmonitor.evaluation.providers import provider_inputs
    from esmonitor.funding.report import local_labour_market_share
    from esmonitor.warehouse import Warehouse

    with Warehouse(warehouse, read_only=True) as w:
        monthly = unemployment_monthly(w)
    inputs = provider_inputs(frames, monthly)
    if inputs.height < 50 or result.trail.is_empty():
        return None
    return local_labour_market_share(result, inputs)


def _funding_by(by: str) -> list[str]:
    groups = [g for g in by.split(",") if g]
    allowed = ("ssm_id", "catchment_id", "provider_id", "stream", "fiscal_year")
    if not groups or any(g not in allowed for g in groups):
        raise UserInputError(f"cannot break payments down by {by!r}", hint=", ".join(allowed))
    return groups


def _only(frame: pl.DataFrame, column: str, shown: list[str] | None) -> pl.DataFrame:
    """The rows of ``frame`` whose ``column`` is in ``shown`` (None: every row)."""
    import polars as pl

    if shown is None or frame.is_empty():
        return frame
    return frame.filter(pl.col(column).is_in(shown))


@app.command("report")
@user_errors
def funding_report(
    warehouse: WarehouseOpt,
    model: ModelOpt = "ies",
    by: FundingByOpt = "catchment_id,fiscal_year",
    trail: Annotated[Path | None, typer.Option(help="Write every payment and the checkpoint that earned it "
                                                    "(.csv or .parquet; pseudonymous clients).")] = None,
    audience: AudienceOpt = None,
    min_count: MinCountOpt = 10,
    as_json: JsonOpt = False,
) -> None:
    """What a funding model pays on the warehouse's funded outcomes, by SSM, provider, stream and
    fiscal year; the envelope of every catchment-year; and what the rules reward by stream."""
    import polars as pl

    from esmonitor.disclosure.gate import Gate
    from esmonitor.funding.model import load_model
    from esmonitor.funding.payments import pay
    from esmonitor.funding.report import (
        creaming_gap,
        creaming_watch,
        funding_inputs,
        incentives,
        intake_phases,
        mix_shift,
    )

    gate = Gate.open(warehouse, "funding report", audience, min_count,
                     parameters={"model": model, "by": by})
    if trail is not None:
        gate.require_records("the payment trail (one row per client checkpoint)")
    groups = _funding_by(by)
    frames = _funding_frames(warehouse, gate.policy)
    outcomes, served, starts = funding_inputs(frames)
    result = pay(outcomes, load_model(model), starts)
    rewards = incentives(result, served)
    # the risk adjustment is fitted on every client: not for one provider's or SSM's subset
    local = _local_share(warehouse, frames, result) if gate.whole_province or gate.public else None
    watch = creaming_watch(served, rewards, starts) if rewards.height == 3 else pl.DataFrame()
    shown = gate.funding(result, groups, rewards, served, intakes=intake_phases(served, starts))
    totals, envelopes, rewards = shown["totals"], shown["envelopes"], shown["rewards"]
    shift = mix_shift(served, rewards) if rewards["per_client"].null_count() == 0 else pl.DataFrame()
    shift = _only(shift, "provider_id", shown["providers_shown"])
    watch = _only(watch, "catchment_id", shown["watch_shown"])
    if local is not None and gate.public:  # a catchment's share where every one of its envelopes is shown
        hidden = set(envelopes.filter(pl.col("status") != "published")["catchment_id"].to_list())
        local = local.filter(~pl.col("catchment_id").is_in(sorted(hidden)))
    if trail is not None:
        write_frame(result.trail, trail)
    gap = creaming_gap(rewards) if rewards.height == 3 and rewards["per_client"].null_count() == 0 else None
    if as_json:
        print_json(gate.stamp({"model": {"id": result.model.id, "version": result.model.version},
                    "totals": totals.to_dicts(), "envelopes": envelopes.to_dicts(),
                    "per_client_by_stream": rewards.to_dicts(), "creaming_gap": gap,
                    "mix_shift_to_a": shift.to_dicts(),
                    "local_unemployment": local.to_dicts() if local is not None else None,
                    "creaming_watch": watch.to_dicts()}))
        return
    print_frame(totals, f"{result.model.name_en} ({result.model.id} {result.model.version}): payments by "
                        f"{', '.join(groups)}", number=",.0f", missing="suppressed",
                right=("earned", "paid", "checkpoints"))
    table = Table(title="Expected payment per client served, by stream (95 % interval)")
    for col in ("stream", "clients", "per client", "interval"):
        table.add_column(col)
    for r in rewards.iter_rows(named=True):
        if r["per_client"] is None:
            table.add_row(r["stream"], "suppressed", "suppressed", "")
            continue
        table.add_row(r["stream"], f"{r['clients']:,}", f"${r['per_client']:,.2f}",
                      f"${r['low']:,.2f}–${r['high']:,.2f}")
    out.print(table)
    if local is not None and local.height:
        spread = local.sort("share_of_paid")
        out.print(f"Payments owed to local unemployment (risk-adjusted, against the province's mean rate): from "
                  f"{100 * spread['share_of_paid'][0]:+.1f} % ({spread['catchment_id'][0]}) to "
                  f"{100 * spread['share_of_paid'][-1]:+.1f} % ({spread['catchment_id'][-1]}) of what a catchment "
                  "was paid.")
    if watch.height:
        falls = watch.filter(pl.col("c_share_high") < 0).sort("c_share_shift")
        for r in falls.head(3).iter_rows(named=True):
            out.print(f"Creaming watch: {r['catchment_id']}'s stream C share of intakes fell "
                      f"{-100 * r['c_share_shift']:.1f} points against the other catchments after IES "
                      f"(95 % CI {-100 * r['c_share_high']:.1f} to {-100 * r['c_share_low']:.1f}); under these rules "
                      f"that is worth ${r['payoff_per_intake']:+,.2f} per intake.")
    if shift.height:
        mean_change = float(shift["change"].sum()) / float(shift["expected_payment"].sum())
        out.print(f"If 10 points of every provider's mix moved from streams B and C to A: {100 * mean_change:+.1f} % "
                  "of what the rules pay them, at the observed outcome rates.")
    if gap is not None:
        out.print(f"Creaming gap (stream A − stream C per client): ${gap['gap']:,.2f} "
                  f"(95 % CI ${gap['low']:,.2f} to ${gap['high']:,.2f}); positive means the easiest clients pay more.")
    if trail is not None:
        console.print(f"Wrote {result.trail.height:,} payments to {trail}")


@app.command("simulate")
@user_errors
def funding_simulate(
    warehouse: WarehouseOpt,
    model: ModelOpt = "ies",
    vs: Annotated[str | None, typer.Option(help="The model to compare with (default: the model with stream "
                                                "weights flattened to stream B's).")] = None,
    by: FundingByOpt = "stream",
    audience: AudienceOpt = None,
    min_count: MinCountOpt = 10,
    as_json: JsonOpt = False,
) -> None:
    """Recompute payments on the same outcomes under another model; the difference by SSM,
    provider or stream, and how the creaming gap moves."""
    import polars as pl

    from esmonitor.disclosure.gate import Gate
    from esmonitor.funding.model import load_model
    from esmonitor.funding.report import compare, creaming_gap, flat, funding_inputs, run

    gate = Gate.open(warehouse, "funding simulate", audience, min_count,
                     parameters={"model": model, "vs": vs, "by": by})
    groups = _funding_by(by)
    frames = _funding_frames(warehouse, gate.policy)
    first = load_model(model)
    second = load_model(vs) if vs else flat(first)
    a, rewards_a = run(frames, first)
    b, rewards_b = run(frames, second)
    table = compare(a, b, groups)
    _, served, _ = funding_inputs(frames)
    shown = gate.funding(a, groups, rewards_a, served, second=b)
    visible = shown["totals"].filter(pl.col("status") == "published").select(groups)
    figures = [c for c in table.columns if c not in groups]
    table = table.with_columns(pl.col(g).cast(pl.String) for g in groups).join(
        visible.with_columns(pl.lit(True).alias("_shown")), on=groups, how="left").with_columns(
        *[pl.when(pl.col("_shown")).then(pl.col(c)).otherwise(None).alias(c) for c in figures]).drop("_shown")
    streams = set(shown["rewards"].filter(pl.col("status") == "published")["stream"].to_list())
    gaps = {m.id: creaming_gap(r) for m, r in ((first, rewards_a), (second, rewards_b))
            if r.height == 3 and {"A", "C"} <= streams}
    if as_json:
        print_json(gate.stamp({"models": [first.id, second.id], "difference": table.to_dicts(),
                               "creaming_gap": gaps}))
        return
    print_frame(table, f"{second.id} against {first.id}, by {by}", number=",.0f", missing="suppressed")
    for name, gap in gaps.items():
        out.print(f"Creaming gap under {name}: ${gap['gap']:,.2f} (95 % CI ${gap['low']:,.2f} to ${gap['high']:,.2f})")
