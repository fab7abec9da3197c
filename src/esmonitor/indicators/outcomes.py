"""The funded-outcome engine: IES outcome rules applied to employment spells.

For every job starter (a client whose first job after the start of their employment action plan
is the *placement*) and every checkpoint (1, 3, 6 and 12 calendar months after the placement's job
start; a start on the 31st reaches its checkpoint on the last day of shorter months), the engine
decides one status:

``pending``
    the checkpoint date is after the data's as-of date: not yet known, never a failure.
``achieved``
    on the checkpoint date the client holds employment that meets every rule below, backed by
    accepted evidence (pay stub or employer letter).
``unknown``
    the employment would meet the rules but the only evidence is a self-report or none.
``not_achieved``
    anything else; ``reason`` says which rule failed.

Rules, each a parameter of :class:`OutcomeRules` (IES values by default, domain brief section 4):

1. *Primary job.* Of the spells active on the checkpoint date (started on or before it, not ended
   before it), the primary job is the one with the most weekly hours (ties: the earlier start,
   then the lower spell id). It counts when it averages at least ``hours_threshold`` hours a week
   at an hourly wage at or above the general minimum wage in force *on the checkpoint date*.
2. *Self-employment* counts when the net income of the last 4 weeks reaches
   ``hours_threshold`` x 4 x that minimum wage.
3. *Subsidized placements* earn nothing while the subsidy runs: a subsidized spell counts only at
   checkpoints strictly after its ``subsidy_end``.
4. *New employer.* A client already working ``hours_threshold`` hours or more at intake (the
   action plan start) needs the job with an employer other than those of the spells active at
   intake.
5. *Job stacking.* When the primary job alone does not qualify, two or more eligible jobs (each
   at or above the minimum wage, unsubsidized or past their subsidy, new employer where required,
   with accepted evidence) whose hours add up to the threshold are a *stacked* outcome. Stacked
   outcomes count for at most ``stacking_cap`` (5 %) of the job starters whose checkpoint is not
   pending, per catchment, per checkpoint and per Ontario fiscal year of the checkpoint date:
   ``floor(cap x N)`` of them, taken in order of checkpoint date, then client pseudonym; the rest
   are ``not_achieved`` with reason ``stacking_cap``.

The engine is a pure function over Polars frames (:func:`funded_outcomes`); :func:`inputs_from`
reads those frames from a warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import cast

import polars as pl
import sqlglot

from esmonitor.errors import UserInputError
from esmonitor.model.reference import MinimumWage, minimum_wage_schedule
from esmonitor.warehouse import Warehouse

STATUSES = ("achieved", "not_achieved", "pending", "unknown")
BASES = ("primary", "self_employment", "stacked")
REASONS = {
    "no_job": "no job held on the checkpoint date",
    "hours_below_threshold": "primary job below the weekly hours threshold",
    "wage_below_minimum": "hourly wage below the general minimum wage in force",
    "income_below_threshold": "self-employment income below hours threshold x 4 weeks x minimum wage",
    "subsidy_active": "subsidized placement, subsidy not ended before the checkpoint",
    "same_employer_as_intake": "client worked 20+ hours at intake and the job is with that employer",
    "stacking_cap": "stacked outcome over the catchment's cap for this checkpoint",
    "no_accepted_evidence": "no pay stub or employer letter (self-report is not accepted)",
}

STARTER_COLUMNS = {"client_id": pl.String, "catchment_id": pl.String, "intake_date": pl.Date,
                   "hours_at_intake": pl.Float64}
SPELL_COLUMNS = {"spell_id": pl.String, "client_id": pl.String, "employer_id": pl.String,
                 "job_start": pl.Date, "job_end": pl.Date, "hours_per_week": pl.Float64,
                 "hourly_wage": pl.Float64, "subsidized": pl.Boolean, "subsidy_end": pl.Date,
                 "self_employed": pl.Boolean, "self_employment_net_income_4wk": pl.Float64,
                 "evidence_type": pl.String}


@dataclass(frozen=True)
class OutcomeRules:
    hours_threshold: float = 20.0
    checkpoints: tuple[int, ...] = (1, 3, 6, 12)
    stacking_cap: float = 0.05
    accepted_evidence: tuple[str, ...] = ("pay_stub", "employer_letter")
    minimum_wage: tuple[MinimumWage, ...] = field(default_factory=minimum_wage_schedule)


def _fiscal_year(col: pl.Expr) -> pl.Expr:
    return pl.when(col.dt.month() >= 4).then(col.dt.year()).otherwise(col.dt.year() - 1)


def placements(starters: pl.DataFrame, spells: pl.DataFrame) -> pl.DataFrame:
    """Each starter's first spell starting on or after intake (ties: lower spell id)."""
    return (spells.join(starters.select("client_id", "intake_date"), on="client_id")
            .filter(pl.col("job_start") >= pl.col("intake_date"))
            .sort("client_id", "job_start", "spell_id")
            .group_by("client_id", maintain_order=True).first()
            .select("client_id", pl.col("spell_id").alias("placement_spell_id"),
                    pl.col("job_start").alias("placement_start")))


def funded_outcomes(starters: pl.DataFrame, spells: pl.DataFrame, as_of: date,
                    rules: OutcomeRules | None = None) -> pl.DataFrame:
    """One row per job starter and checkpoint: status, basis, reason and the evidence used.

    ``starters``: client_id, catchment_id, intake_date, hours_at_intake (see STARTER_COLUMNS).
    ``spells``: the employment spells of those clients (see SPELL_COLUMNS), before and after intake.
    """
    rules = rules or OutcomeRules()
    starters = starters.select([pl.col(c).cast(t) for c, t in STARTER_COLUMNS.items()])
    spells = spells.select([pl.col(c).cast(t) for c, t in SPELL_COLUMNS.items()])
    wage = pl.DataFrame({"effective_date": [w.effective_date for w in rules.minimum_wage],
                         "minimum_wage": [w.cad_per_hour for w in rules.minimum_wage]}).sort("effective_date")

    placed = placements(starters, spells).join(starters, on="client_id")
    checkpoints = (placed.join(pl.DataFrame({"checkpoint": list(rules.checkpoints)},
                                            schema={"checkpoint": pl.Int32}), how="cross")
                   .with_columns(pl.col("placement_start").dt.offset_by(
                       pl.format("{}mo", pl.col("checkpoint"))).alias("checkpoint_date"))
                   .sort("checkpoint_date")
                   .join_asof(wage, left_on="checkpoint_date", right_on="effective_date", strategy="backward")
                   .drop("effective_date"))

    # Employers of the jobs held at intake (for clients working at or above the threshold then).
    intake_employers = (spells.join(starters, on="client_id")
                        .filter((pl.col("hours_at_intake") >= rules.hours_threshold)
                                & (pl.col("job_start") < pl.col("intake_date"))
                                & (pl.col("job_end").is_null() | (pl.col("job_end") >= pl.col("intake_date")))
                                & pl.col("employer_id").is_not_null())
                        .select("client_id", "employer_id").unique()
                        .with_columns(pl.lit(True).alias("intake_employer")))

    active = (checkpoints.join(spells, on="client_id")
              .filter((pl.col("job_start") <= pl.col("checkpoint_date"))
                      & (pl.col("job_end").is_null() | (pl.col("job_end") >= pl.col("checkpoint_date"))))
              .join(intake_employers, on=["client_id", "employer_id"], how="left")
              .with_columns(
                  wage_ok=pl.col("hourly_wage") >= pl.col("minimum_wage"),
                  hours_ok=pl.col("hours_per_week") >= rules.hours_threshold,
                  income_ok=pl.col("self_employment_net_income_4wk").fill_null(0.0)
                  >= rules.hours_threshold * 4 * pl.col("minimum_wage"),
                  subsidy_ok=~pl.col("subsidized")
                  | (pl.col("subsidy_end") < pl.col("checkpoint_date")).fill_null(False),
                  employer_ok=pl.col("intake_employer").is_null(),
                  evidence_ok=pl.col("evidence_type").is_in(list(rules.accepted_evidence)))
              .with_columns(
                  qualifies=pl.when(pl.col("self_employed")).then(pl.col("income_ok"))
                  .otherwise(pl.col("hours_ok") & pl.col("wage_ok")) & pl.col("subsidy_ok") & pl.col("employer_ok"),
                  stackable=~pl.col("self_employed") & pl.col("wage_ok") & pl.col("subsidy_ok")
                  & pl.col("employer_ok") & pl.col("evidence_ok"))
              .with_columns(
                  reason=pl.when(~pl.col("subsidy_ok")).then(pl.lit("subsidy_active"))
                  .when(~pl.col("employer_ok")).then(pl.lit("same_employer_as_intake"))
                  .when(pl.col("self_employed") & ~pl.col("income_ok")).then(pl.lit("income_below_threshold"))
                  .when(~pl.col("self_employed") & ~pl.col("hours_ok")).then(pl.lit("hours_below_threshold"))
                  .when(~pl.col("self_employed") & ~pl.col("wage_ok")).then(pl.lit("wage_below_minimum"))
                  .when(~pl.col("evidence_ok")).then(pl.lit("no_accepted_evidence"))))

    key = ["client_id", "checkpoint"]
    primary = (active.sort([*key, "hours_per_week", "job_start", "spell_id"],
                           descending=[False, False, True, False, False])
               .group_by(key, maintain_order=True).first())
    stacks = (active.filter(pl.col("stackable")).group_by(key)
              .agg(pl.col("hours_per_week").sum().alias("stack_hours"), pl.len().alias("stack_jobs")))
    judged = (checkpoints.join(primary.select(*key, "spell_id", "hours_per_week", "hourly_wage", "evidence_type",
                                              "self_employed", "qualifies", "evidence_ok", "reason"),
                               on=key, how="left")
              .join(stacks, on=key, how="left")
              .with_columns(stack_candidate=(pl.col("stack_jobs").fill_null(0) >= 2)
                            & (pl.col("stack_hours").fill_null(0) >= rules.hours_threshold)))
    pending = pl.col("checkpoint_date") > pl.lit(as_of)
    status = (pl.when(pending).then(pl.lit("pending"))
              .when(pl.col("spell_id").is_null()).then(pl.lit("not_achieved"))
              .when(pl.col("qualifies") & pl.col("evidence_ok")).then(pl.lit("achieved"))
              .when(pl.col("qualifies")).then(pl.lit("unknown"))
              .when(pl.col("stack_candidate")).then(pl.lit("stacked_candidate"))
              .otherwise(pl.lit("not_achieved")))
    judged = judged.with_columns(
        status=status,
        basis=pl.when(pending | ~pl.col("qualifies").fill_null(False) | ~pl.col("evidence_ok").fill_null(False))
        .then(pl.lit(None, dtype=pl.String))
        .when(pl.col("self_employed")).then(pl.lit("self_employment")).otherwise(pl.lit("primary")),
        reason=pl.when(pending).then(pl.lit(None, dtype=pl.String))
        .when(pl.col("spell_id").is_null()).then(pl.lit("no_job"))
        .when(pl.col("qualifies") & pl.col("evidence_ok")).then(pl.lit(None, dtype=pl.String))
        .when(pl.col("qualifies")).then(pl.lit("no_accepted_evidence"))
        .otherwise(pl.col("reason")),
        fiscal_year=_fiscal_year(pl.col("checkpoint_date")))

    # Job stacking cap: floor(cap x non-pending starters) per catchment, checkpoint and fiscal year.
    group = ["catchment_id", "checkpoint", "fiscal_year"]
    caps = (judged.filter(pl.col("status") != "pending").group_by(group)
            .agg(pl.len().alias("eligible_starters"))
            .with_columns(stack_cap=(pl.col("eligible_starters") * rules.stacking_cap + 1e-9).floor().cast(pl.Int64)))
    candidate = pl.col("status") == "stacked_candidate"
    judged = (judged.join(caps, on=group, how="left").sort("checkpoint_date", "client_id")
              .with_columns(stack_rank=pl.when(candidate).then(candidate.cast(pl.Int64).cum_sum().over(group))))
    within = pl.col("stack_rank") <= pl.col("stack_cap")
    judged = judged.with_columns(
        basis=pl.when(pl.col("status") == "stacked_candidate").then(
            pl.when(within).then(pl.lit("stacked")).otherwise(pl.lit(None, dtype=pl.String)))
        .otherwise(pl.col("basis")),
        reason=pl.when(pl.col("status") == "stacked_candidate").then(
            pl.when(within).then(pl.lit(None, dtype=pl.String)).otherwise(pl.lit("stacking_cap")))
        .otherwise(pl.col("reason")),
        status=pl.when(pl.col("status") == "stacked_candidate").then(
            pl.when(within).then(pl.lit("achieved")).otherwise(pl.lit("not_achieved")))
        .otherwise(pl.col("status")),
    )
    return judged.select(
        "client_id", "catchment_id", "placement_spell_id", "placement_start", "checkpoint",
        "checkpoint_date", "fiscal_year", "status", "basis", "reason",
        pl.col("spell_id").alias("primary_spell_id"), pl.col("hours_per_week").alias("primary_hours"),
        pl.col("hourly_wage").alias("primary_wage"), "minimum_wage", "stack_hours", "stack_jobs",
    ).sort("client_id", "checkpoint")


# -- reading the inputs from a warehouse --------------------------------------------------------
STARTERS_QUERY = """
    WITH first_plan AS (
        SELECT client_id, min(start_date) AS intake_date,
               arg_min(site_id, start_date) AS site_id
        FROM action_plan GROUP BY client_id)
    SELECT f.client_id, p.catchment_id, f.intake_date,
           coalesce(c.hours_worked_at_intake, 0.0) AS hours_at_intake
    FROM first_plan f
    JOIN site s USING (site_id) JOIN provider p USING (provider_id)
    JOIN client c USING (client_id)
"""

SPELLS_QUERY = """
    SELECT spell_id, client_id, employer_id, job_start, job_end, hours_per_week, hourly_wage,
           subsidized, subsidy_end, self_employed, self_employment_net_income_4wk, evidence_type
    FROM employment WHERE client_id IN (SELECT client_id FROM action_plan)
"""

AS_OF_QUERY = """
    SELECT greatest(
        (SELECT max(greatest(job_start, coalesce(job_end, job_start))) FROM employment),
        (SELECT max(greatest(start_date, coalesce(close_date, start_date))) FROM action_plan),
        (SELECT max(referral_date) FROM referral))
"""


def _query(warehouse: Warehouse, sql: str) -> pl.DataFrame:
    return pl.from_arrow(warehouse.arrow(sqlglot.parse_one(sql, read="duckdb")))  # type: ignore[return-value]


def inputs_from(warehouse: Warehouse) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Job-starter candidates (clients with an action plan: intake = first plan start, catchment
    of that plan's site) and their employment spells."""
    return _query(warehouse, STARTERS_QUERY), _query(warehouse, SPELLS_QUERY)


def data_as_of(warehouse: Warehouse) -> date | None:
    """The latest event date in the warehouse: the default as-of date of the outcome engine."""
    # the engine returns a DATE (None in an empty warehouse) for this query
    return cast(date | None, warehouse.scalar(sqlglot.parse_one(AS_OF_QUERY, read="duckdb")))


def resolve_as_of(warehouse: Warehouse, as_of: date | None) -> date:
    as_of = as_of or data_as_of(warehouse)
    if as_of is None:
        raise UserInputError("the warehouse holds no action plans or employment yet",
                             hint="ingest extracts first (esmonitor ingest) or run esmonitor demo")
    return as_of


def outcomes_from(warehouse: Warehouse, as_of: date | None = None,
                  rules: OutcomeRules | None = None) -> tuple[pl.DataFrame, date]:
    as_of = resolve_as_of(warehouse, as_of)
    starters, spells = inputs_from(warehouse)
    return funded_outcomes(starters, spells, as_of, rules), as_of


def explain(outcomes: pl.DataFrame, spells: pl.DataFrame, client_id: str) -> list[str]:
    """Plain-language lines: for each checkpoint, the status, the rule and the evidence rows."""
    mine = outcomes.filter(pl.col("client_id") == client_id)
    if mine.is_empty():
        return [f"{client_id}: no job start after the action plan began, so no funded-outcome checkpoints"]
    first = mine.row(0, named=True)
    lines = [f"client {client_id}, catchment {first['catchment_id']}: placement {first['placement_spell_id']} "
             f"started {first['placement_start']}"]
    for r in mine.iter_rows(named=True):
        head = f"  {r['checkpoint']:>2}-month checkpoint {r['checkpoint_date']}: {r['status'].upper()}"
        if r["status"] == "pending":
            lines.append(head + " (after the data's as-of date; not counted as a failure)")
            continue
        why = f"basis {r['basis']}" if r["basis"] else REASONS.get(r["reason"] or "", r["reason"] or "")
        lines.append(f"{head} — {why}")
        if r["primary_spell_id"]:
            lines.append(f"      primary job {r['primary_spell_id']}: {r['primary_hours']:g} h/week at "
                         f"${r['primary_wage']:.2f}/h; minimum wage in force ${r['minimum_wage']:.2f}")
        if (r["stack_jobs"] or 0) >= 2:
            lines.append(f"      eligible jobs for stacking: {r['stack_jobs']} totalling {r['stack_hours']:g} h/week")
    held = spells.filter(pl.col("client_id") == client_id).sort("job_start")
    lines.append("  evidence rows (employment spells):")
    for s in held.iter_rows(named=True):
        lines.append(f"      {s['spell_id']}: {s['job_start']} to {s['job_end'] or 'ongoing'}, "
                     f"{s['hours_per_week']:g} h at ${s['hourly_wage']:.2f}, employer {s['employer_id'] or '-'}, "
                     f"subsidized {'until ' + str(s['subsidy_end']) if s['subsidized'] else 'no'}, "
                     f"evidence {s['evidence_type']}")
    return lines
