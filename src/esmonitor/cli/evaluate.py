"""``esmonitor evaluate``: causal estimators on the warehouse or on a user's table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from esmonitor.cli.common import (
    AudienceOpt,
    JsonOpt,
    MinCountOpt,
    WarehouseOpt,
    console,
    out,
    parse_date,
    read_table,
    user_errors,
)
from esmonitor.cli.output import print_json, write_frame
from esmonitor.errors import UserInputError

if TYPE_CHECKING:
    import polars as pl

    from esmonitor.evaluation.providers import ProviderRatings
    from esmonitor.evaluation.staggered import StaggeredDiD
    from esmonitor.warehouse import Warehouse

app = typer.Typer(help="Causal evaluation on the warehouse or on any table (CSV or Parquet).",
                  no_args_is_help=True)

# Options shared by the estimators that read a user's long table.
DataArg = Annotated[Path, typer.Argument(help="Long table (.csv or .parquet): one row per unit and time.")]
OutcomeOpt = Annotated[str, typer.Option(help="Outcome column.")]
UnitOpt = Annotated[str, typer.Option(help="Unit column.")]
TimeOpt = Annotated[str, typer.Option(help="Time column (numeric).")]
FirstTreatedOpt = Annotated[str, typer.Option(help="First treated period; 0 or empty for never treated.")]
ClusterOpt = Annotated[str | None, typer.Option(help="Cluster column (default: the unit).")]


@app.command("synth")
@user_errors
def evaluate_synth(
    data: DataArg,
    outcome: OutcomeOpt,
    unit: UnitOpt,
    time: TimeOpt,
    treated_unit: Annotated[str, typer.Option(help="The treated unit's value in the unit column.")],
    treatment_time: Annotated[float, typer.Option(help="First treated period.")],
    as_json: JsonOpt = False,
) -> None:
    """Synthetic control for one treated unit, with placebo-in-space inference."""
    from esmonitor.evaluation.synthetic_control import synthetic_control

    result = synthetic_control(read_table(data), outcome=outcome, unit=unit, time=time,
                               treated_unit=treated_unit, treatment_time=treatment_time)
    if as_json:
        print_json(result.as_dict())
        return
    table = Table(title=f"Synthetic control for {result.treated_unit} (treated from {treatment_time:g})")
    table.add_column("donor")
    table.add_column("weight", justify="right")
    for name, weight in sorted(result.weights.items(), key=lambda kv: -kv[1]):
        if weight > 0.0005:
            table.add_row(name, f"{weight:.3f}")
    out.print(table)
    out.print(f"pre-period RMSPE {result.pre_rmspe:.4g}; mean post-period gap {result.att_post_mean:.4g}; "
              f"placebo p-value {result.placebo_p_value:.3f} ({len(result.placebo_ratios)} units)")


@app.command("did")
@user_errors
def evaluate_did(
    data: DataArg,
    outcome: OutcomeOpt,
    unit: UnitOpt,
    time: TimeOpt,
    first_treated: FirstTreatedOpt,
    covariates: Annotated[str | None, typer.Option(help="Comma-separated covariate columns.")] = None,
    control_group: Annotated[str, typer.Option(help="never-treated or not-yet-treated.")] = "never-treated",
    method: Annotated[str, typer.Option(help="dr (doubly robust), ipw or reg.")] = "dr",
    cluster: ClusterOpt = None,
    bootstrap: Annotated[int, typer.Option(
        help="Standard errors from this many multiplier-bootstrap draws (default 0: analytical).", min=0)] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap behind the simultaneous bands.")] = 20240101,
    as_json: JsonOpt = False,
) -> None:
    """Staggered difference-in-differences (Callaway and Sant'Anna): ATT(g,t), four aggregations, pre-trend test."""
    from esmonitor.evaluation.staggered import callaway_santanna

    result = callaway_santanna(read_table(data), outcome=outcome, unit=unit, time=time, first_treated=first_treated,
                               covariates=covariates.split(",") if covariates else (), control_group=control_group,
                               method=method, cluster=cluster, bootstrap=bootstrap, seed=seed)
    if as_json:
        print_json(result.as_dict())
        return
    _print_staggered(result)


def _print_staggered(result: StaggeredDiD) -> None:
    table = Table(title=f"Group-time effects ATT(g,t) — {result.method}, {result.control_group} controls, "
                        f"{result.inference} standard errors")
    for col in ("group", "time", "ATT", "SE"):
        table.add_column(col, justify="right")
    for r in result.att_gt:
        table.add_row(f"{r.group:g}", f"{r.time:g}", f"{r.att:.4f}", f"{r.se:.4f}")
    out.print(table)
    table = Table(title="Aggregated effects (95 % intervals)")
    for col in ("aggregation", "ATT", "SE", "interval"):
        table.add_column(col, justify="left" if col == "aggregation" else "right")
    for kind, agg in result.aggregations.items():
        o = agg.overall
        table.add_row(kind, f"{o.att:.4f}", f"{o.se:.4f}", f"{o.band[0]:.4f} to {o.band[1]:.4f}")
    out.print(table)
    table = Table(title="Dynamic effects by event time (simultaneous 95 % bands)")
    for col in ("event time", "ATT", "SE", "band"):
        table.add_column(col, justify="right")
    for e in result.aggregations["dynamic"].by:
        table.add_row(f"{e.label:g}", f"{e.att:.4f}", f"{e.se:.4f}", f"{e.band[0]:.4f} to {e.band[1]:.4f}")
    out.print(table)
    if result.pretrend_p_value is None:
        out.print("Pre-trend test: no pre-treatment group-time effects to test.")
    else:
        out.print(f"Pre-trend test (all pre-treatment ATT(g,t) = 0): Wald {result.pretrend_statistic:.3f}, "
                  f"p-value {result.pretrend_p_value:.3f}")
    if result.dropped_units:
        console.print(f"[yellow]{result.dropped_units} units dropped: they miss some periods (balanced panel).[/]")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")


@app.command("twfe")
@user_errors
def evaluate_twfe(
    data: DataArg,
    outcome: OutcomeOpt,
    unit: UnitOpt,
    time: TimeOpt,
    treated: Annotated[str, typer.Option(help="Treatment indicator column (0/1).")],
    cluster: ClusterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Two-way fixed-effects estimate of a binary treatment, cluster-robust standard error."""
    from esmonitor.evaluation.twfe import twfe

    result = twfe(read_table(data), outcome=outcome, unit=unit, time=time, treated=treated, cluster=cluster)
    if as_json:
        print_json(result.as_dict())
        return
    out.print(f"TWFE estimate {result.estimate:.4g} (SE {result.se:.4g}; 95 % CI {result.ci[0]:.4g} to "
              f"{result.ci[1]:.4g}); {result.n_obs:,} observations, {result.n_clusters} clusters")


@app.command("event-study")
@user_errors
def evaluate_event_study(
    data: DataArg,
    outcome: OutcomeOpt,
    unit: UnitOpt,
    time: TimeOpt,
    first_treated: FirstTreatedOpt,
    ref: Annotated[int, typer.Option(help="Reference event time.")] = -1,
    method: Annotated[str, typer.Option(help="twfe or sun-abraham (interaction-weighted).")] = "twfe",
    cluster: ClusterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Event study: one coefficient per event time, by TWFE or Sun and Abraham's estimator."""
    from esmonitor.evaluation.event_study import event_study

    result = event_study(read_table(data), outcome=outcome, unit=unit, time=time, first_treated=first_treated,
                         ref=ref, cluster=cluster, method=method)
    if as_json:
        print_json(result.as_dict())
        return
    name = "Sun–Abraham" if method == "sun-abraham" else "TWFE"
    table = Table(title=f"Event study ({name}), reference event time {result.reference}")
    for col in ("event time", "estimate", "SE"):
        table.add_column(col, justify="right")
    for e, b, s in result.coefficients:
        table.add_row(str(e), f"{b:.4g}", f"{s:.4g}")
    out.print(table)


@app.command("bacon")
@user_errors
def evaluate_bacon(
    data: DataArg,
    outcome: OutcomeOpt,
    unit: UnitOpt,
    time: TimeOpt,
    treated: Annotated[str, typer.Option(help="Absorbing treatment indicator (0/1).")],
    as_json: JsonOpt = False,
) -> None:
    """Goodman-Bacon decomposition of the TWFE estimate into its 2x2 comparisons."""
    from esmonitor.evaluation.bacon import bacon_decomposition

    result = bacon_decomposition(read_table(data), outcome=outcome, unit=unit, time=time, treated=treated)
    if as_json:
        print_json(result.as_dict())
        return
    table = Table(title=f"Goodman-Bacon decomposition (TWFE {result.twfe:.4g})")
    for col in ("comparison", "treated", "control", "weight", "estimate"):
        table.add_column(col, justify="left" if col == "comparison" else "right")
    for c in result.components:
        table.add_row(c.type, f"{c.treated_group:g}", "never" if c.control_group is None else f"{c.control_group:g}",
                      f"{c.weight:.3f}", f"{c.estimate:.4g}")
    out.print(table)


@app.command("impact")
@user_errors
def evaluate_impact(
    data: Annotated[Path, typer.Argument(help="Table (.csv or .parquet): one row per person.")],
    outcome: OutcomeOpt,
    treatment: Annotated[str, typer.Option(help="Participation indicator (0/1).")],
    covariates: Annotated[str | None, typer.Option(help="Comma-separated covariate columns.")] = None,
    method: Annotated[str, typer.Option(help="diff, regression, ipw, aipw or match.")] = "aipw",
    estimand: Annotated[str, typer.Option(help="ate or att.")] = "ate",
    as_json: JsonOpt = False,
) -> None:
    """Net impact of a service: participants against comparable non-participants."""
    from esmonitor.evaluation.impact import net_impact

    result = net_impact(read_table(data), outcome=outcome, treatment=treatment,
                        covariates=covariates.split(",") if covariates else [], method=method, estimand=estimand)
    if as_json:
        print_json(result.as_dict())
        return
    out.print(f"{result.estimand.upper()} by {result.method}: {result.estimate:.4g} (SE {result.se:.4g}; "
              f"95 % CI {result.ci[0]:.4g} to {result.ci[1]:.4g}); {result.n_treated:,} treated, "
              f"{result.n_control:,} controls")
    if result.propensity_range:
        low, high = result.propensity_range
        poor = low < 0.02 or high > 0.98
        note = " — poor overlap: some people have almost no comparable counterparts" if poor else ""
        out.print(f"propensity scores from {low:.3f} to {high:.3f}{note}")
    table = Table(title="Covariate balance (standardised mean differences)")
    for col in ("covariate", "before", "after"):
        table.add_column(col, justify="left" if col == "covariate" else "right")
    for c, b, a in result.balance:
        table.add_row(c, f"{b:.3f}", f"{a:.3f}")
    out.print(table)


@app.command("rollout")
@user_errors
def evaluate_rollout_cmd(
    warehouse: WarehouseOpt,
    indicator: Annotated[str, typer.Option(help="A proportion or mean indicator of the catalogue.")] = "job_start_rate",
    level: Annotated[str, typer.Option(help="catchment or provider.")] = "catchment",
    method: Annotated[str, typer.Option(help="reg, dr or ipw (Callaway–Sant'Anna).")] = "reg",
    draws: Annotated[int, typer.Option(help="Parametric-bootstrap draws of the cell outcomes.", min=19)] = 99,
    permutations: Annotated[int, typer.Option(help="Randomization-inference reassignments (0: skip).", min=0)] = 99,
    seed: Annotated[int, typer.Option(help="Seed of the resampling.")] = 20240101,
    as_of: Annotated[str | None, typer.Option(help="As-of date of the outcome engine.")] = None,
    audience: AudienceOpt = None,
    min_count: MinCountOpt = 10,
    as_json: JsonOpt = False,
    source: Annotated[str | None, typer.Option(
        help="record (extracts, catchment × quarter) or aggregate (published tables, catchment × fiscal year); "
             "default: records when the warehouse has them.")] = None,
    release: Annotated[str | None, typer.Option(help="With --source aggregate: the one release to use.")] = None,
    client_type: Annotated[str, typer.Option(help="With --source aggregate: all, sa or non_sa.")] = "all",
) -> None:
    """Did IES change outcomes? Staggered DiD over the phased rollout, with synthetic controls.

    For the public, the evaluation uses only the units whose every quarter of the indicator a
    protected release publishes (recorded in the ledger); the others are left out, and named.
    From published tables (--source aggregate): a catchment × fiscal-year panel of one release's
    indicator (default employed_3m_reported), or a refusal that says why it cannot be evaluated."""
    from esmonitor.indicators import published
    from esmonitor.warehouse import Warehouse

    with Warehouse(warehouse, read_only=True) as w:
        held = published.holds(w)
    if source not in (None, "record", "aggregate"):
        raise UserInputError(f"unknown source {source!r}", hint="record or aggregate")
    if source == "aggregate" or (source is None and held["aggregate"] and not held["record"]):
        _published_rollout(warehouse, indicator if indicator != "job_start_rate" else "employed_3m_reported",
                           release, client_type, draws, permutations, seed, as_json)
        return
    from esmonitor.disclosure.gate import Gate
    from esmonitor.evaluation.rollout import evaluate_rollout, unemployment_by_quarter
    from esmonitor.indicators.engine import frames_from
    from esmonitor.warehouse import Warehouse

    gate = Gate.open(warehouse, "evaluate rollout", audience, min_count,
                     parameters={"indicator": indicator, "level": level})
    when = parse_date(as_of)
    if gate.public:
        gate.check_as_of(when)
    with Warehouse(warehouse, read_only=True) as w:
        frames = frames_from(w, when)
        unemployment = unemployment_by_quarter(w)

    def evaluated(exclude: list[str]) -> dict[str, Any]:
        with console.status("Evaluating the rollout" + (f" without {', '.join(exclude)}…" if exclude else "…")):
            return evaluate_rollout(frames, unemployment, indicator=indicator, level=level, method=method,
                                    draws=draws, permutations=permutations, seed=seed, exclude=exclude).as_dict()

    data = gate.rollout(evaluated([]), frames, without=evaluated)
    if as_json:
        print_json(data)
        return
    print_rollout(data)


def _published_rollout(warehouse: Path, indicator: str, release: str | None, client_type: str, draws: int,
                       permutations: int, seed: int, as_json: bool) -> None:
    import polars as pl

    from esmonitor.evaluation.rollout_published import evaluate_published_rollout, unemployment_by_fiscal_year
    from esmonitor.indicators import published
    from esmonitor.warehouse import Warehouse

    with Warehouse(warehouse, read_only=True) as w:
        table = published.compute(w, (indicator,))
        kinds = dict(w.fetchall("SELECT release_id, kind FROM aggregate_release"))
        monthly = pl.from_arrow(w.arrow("SELECT economic_region, month, unemployment_rate FROM labour_market_monthly"))
    assert isinstance(monthly, pl.DataFrame)
    with console.status("Evaluating the rollout from published tables…"):
        result = evaluate_published_rollout(table, indicator=indicator, client_type=client_type, release=release,
                                            kinds=kinds, unemployment=unemployment_by_fiscal_year(monthly),
                                            draws=max(draws, 199), permutations=permutations, seed=seed)
    data = result.as_dict()
    if as_json:
        print_json(data)
        return
    effect, wild = data["effect"], data["wild_cluster_bootstrap"]
    out.print(f"[bold]Effect of IES on {indicator}[/] (published: {', '.join(data['releases'])}; "
              f"{data['units']} catchments, {data['first_period']} to {data['last_period']}; "
              f"{data['anticipation_years']} transition year(s) before each go-live set aside)")
    out.print(f"Average effect after go-live: {effect['att']:+.4f} (95 % CI {effect['ci'][0]:+.4f} to "
              f"{effect['ci'][1]:+.4f}; {effect['inference']}); wild cluster bootstrap: {wild['ci'][0]:+.4f} to "
              f"{wild['ci'][1]:+.4f}")
    if data["randomization"]:
        ri = data["randomization"]
        out.print(f"Randomization inference ({ri['permutations']} reassignments of go-live dates): p = "
                  f"{ri['p_value']:.3f}")
    table_ = Table(title="Event study: effect by fiscal years since go-live (simultaneous 95 % bands)")
    for col in ("years", "effect", "SE", "band"):
        table_.add_column(col, justify="right")
    for e in data["event_study"]:
        table_.add_row(str(e["event_time"]), f"{e['att']:+.4f}", f"{e['se']:.4f}",
                       f"{e['band'][0]:+.4f} to {e['band'][1]:+.4f}")
    out.print(table_)
    for unit, why in data["left_out"].items():
        out.print(f"[yellow]Left out:[/] {unit}: {why}")
    for note in data["notes"]:
        out.print(f"[dim]{note}[/]")


def print_rollout(data: dict[str, Any]) -> None:
    """The rollout evaluation (its JSON form) as lines and the event-study table."""
    if "skipped" in data:
        out.print(f"[bold]Rollout not shown:[/] {data['skipped']}")
        return
    if data.get("left_out"):
        out.print(f"[yellow]Left out of this evaluation:[/] {', '.join(data['left_out']['units'])} "
                  f"({data['left_out']['reason']})")
    effect = data["effect"]
    out.print(f"[bold]Effect of IES on {data['indicator']}[/] ({data['units']} {data['level']}s, "
              f"{data['first_period']} to {data['last_period']}; a transition of {data['anticipation_quarters']} "
              "quarters before each go-live is set aside)")
    out.print(f"Average effect after go-live (dynamic aggregation): {effect['att']:+.4f} "
              f"(95 % CI {effect['ci'][0]:+.4f} to {effect['ci'][1]:+.4f}; {effect['inference']})")
    if data["randomization"]:
        ri = data["randomization"]
        out.print(f"Randomization inference ({ri['permutations']} reassignments of go-live dates): "
                  f"p = {ri['p_value']:.3f}")
    pre = data["pretrend"]
    if pre is not None:
        out.print(f"Pre-trend test over the {pre['periods']} quarters before the transitions: F = "
                  f"{pre['statistic']:.2f}, p = {pre['p_value']:.3f}"
                  + (" — trends already differed: read the effects with care" if pre["p_value"] < 0.05 else ""))
    table = Table(title="Event study: effect by quarters since go-live (simultaneous 95 % bands; "
                        f"quarters -{data['anticipation_quarters']} to -1 are the transition)")
    for col in ("quarters", "effect", "SE", "band"):
        table.add_column(col, justify="right")
    shown = [e for e in data["event_study"] if e["event_time"] >= -data["anticipation_quarters"] - 4]
    for e in shown:
        table.add_row(str(e["event_time"]), f"{e['att']:+.4f}", f"{e['se']:.4f}",
                      f"{e['band'][0]:+.4f} to {e['band'][1]:+.4f}")
    out.print(table)
    if len(shown) < len(data["event_study"]):
        out.print(f"({len(data['event_study']) - len(shown)} earlier quarters in the JSON output.)")
    twfe = data["twfe"]
    out.print(f"Static TWFE (diagnostic only, biased by staggered timing and the transition): "
              f"{twfe['estimate']:+.4f} (SE {twfe['se']:.4f})")
    for unit, sc in data["synthetic_controls"].items():
        out.print(f"Synthetic control for {unit} from {sc['treatment_period']}: mean gap {sc['att_post_mean']:+.4f}, "
                  f"pre-period RMSPE {sc['pre_rmspe']:.4f}, placebo p = {sc['placebo_p_value']:.3f}")
    for note in data["notes"]:
        console.print(f"[yellow]note:[/] {note}")


@app.command("providers")
@user_errors
def evaluate_providers(
    warehouse: WarehouseOpt,
    data: Annotated[Path | None, typer.Argument(
        help="Table (.csv or .parquet), one row per client. Without it: every provider in the warehouse.")] = None,
    outcome: Annotated[str | None, typer.Option(help="Outcome column (with DATA).")] = None,
    provider: Annotated[str | None, typer.Option(help="Provider column (with DATA).")] = None,
    covariates: Annotated[str | None, typer.Option(help="Comma-separated risk factors (with DATA).")] = None,
    cutoffs: Annotated[str, typer.Option(help="Band cut-offs as fractions of expected: inner,outer.")] = "0.15,0.40",
    creaming: Annotated[Path | None, typer.Option(
        help="Warehouse mode: also write the creaming diagnostics (CSV) here.")] = None,
    audience: AudienceOpt = None,
    min_count: MinCountOpt = 10,
    as_json: JsonOpt = False,
) -> None:
    """Risk-adjusted provider ratings: observed against expected, shrunk, banded.

    Warehouse mode, for an audience narrower than province: the model is fitted on every
    provider, and a provider outside the audience's own is shown only if at least K of its
    clients reached the outcome and at least K did not; the creaming diagnostics (counts by
    provider and period) need an SSM or provider audience and cover only its own providers."""
    from esmonitor.evaluation.providers import SYSTEM_COVARIATES, SYSTEM_OUTCOME, rate_providers

    try:
        inner, outer = (float(x) for x in cutoffs.split(","))
    except ValueError as err:
        raise UserInputError(f"--cutoffs must be two numbers such as 0.15,0.40 (got {cutoffs!r})") from err
    if data is not None:
        if not outcome or not provider:
            raise UserInputError("with a DATA table, --outcome and --provider are required")
        result = rate_providers(read_table(data), outcome=outcome, provider=provider,
                                covariates=covariates.split(",") if covariates else (), cutoffs=(inner, outer))
    else:
        from esmonitor.disclosure.gate import Gate
        from esmonitor.evaluation.providers import creaming_diagnostics, provider_inputs
        from esmonitor.indicators.engine import frames_from
        from esmonitor.warehouse import Warehouse

        gate = Gate.open(warehouse, "evaluate providers", audience, min_count)
        if creaming:
            gate.require("provider", "the creaming diagnostics (counts by provider and period)")
        with Warehouse(warehouse, read_only=True) as w, console.status("Rating providers…"):
            scope = gate.scope(w)
            frames = frames_from(w, needed=["client", "referral"])
            table = provider_inputs(frames, unemployment_monthly(w))
            if table.is_empty():
                raise UserInputError("no client in the warehouse has an action plan a year old or more to rate on")
            result = rate_providers(table, outcome=SYSTEM_OUTCOME, provider="provider_id",
                                    covariates=SYSTEM_COVARIATES, cutoffs=(inner, outer))
            if creaming:
                scoped = frames if scope.column is None else frames.only(scope.column, sorted(scope.values))
                write_frame(creaming_diagnostics(scoped), creaming, "csv")
                console.print(f"Wrote creaming diagnostics to {creaming}")
        result, withheld = gate.ratings(result, table, SYSTEM_OUTCOME)
        if withheld:
            console.print(f"{withheld} provider rating(s) withheld: their clients on either side of the outcome "
                          f"are counts under {gate.min_count:g} or hidden to protect them")
    if as_json:
        print_json(result.as_dict())
        return
    _print_providers(result)


def unemployment_monthly(w: Warehouse) -> pl.DataFrame:
    """Monthly unemployment by catchment, the labour-market risk factor of the provider model."""
    from esmonitor.evaluation.providers import unemployment_monthly

    return unemployment_monthly(w)


def _print_providers(result: ProviderRatings) -> None:
    table = Table(title=f"Providers against expectation ({result.model} risk adjustment, {result.n_clients:,} "
                        "clients; ratios shrunk toward 1)")
    for col in ("provider", "clients", "observed", "expected", "ratio", "95 % interval", "stars"):
        table.add_column(col, justify="left" if col == "provider" else "right")
    for p in sorted(result.providers, key=lambda p: -p.ratio):
        low, high = ((p.expected + c) / p.expected for c in p.ci)
        table.add_row(p.provider, f"{p.n:,}", f"{p.observed:.3f}", f"{p.expected:.3f}", f"{p.ratio:.2f}",
                      f"{low:.2f}–{high:.2f}", "★" * p.stars)
    out.print(table)
    labels = {p.stars: p.band for p in result.providers}
    out.print("Stars: " + "; ".join(f"{'★' * k} {labels.get(k) or ''}".strip() for k in sorted(labels)))
    out.print(f"Between-provider SD of true effects (τ): {result.tau:.3f}. Providers are never ranked on the "
              "point estimate alone: read the interval.")
