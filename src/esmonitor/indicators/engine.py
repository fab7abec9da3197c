"""Compute catalogue indicators into one tidy table.

Unit-record frames (one row per referral, per client served, per job starter, per outcome
checkpoint) are read once from the warehouse as Arrow and held as Polars frames; every indicator
is then a group-by over one of them. Output columns: ``indicator, grain, period, <breakdowns>,
numerator, denominator, value, ci_low, ci_high, ci_method``.

Intervals: Wilson score for proportions; the order-statistic (binomial) interval for medians;
mean ± 1.96 standard errors for means; none for counts (a complete count of records, not a
sample).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import polars as pl
import sqlglot

from esmonitor.errors import UserInputError
from esmonitor.indicators.catalogue import BY_ID, CATALOGUE, Indicator
from esmonitor.indicators.outcomes import funded_outcomes, inputs_from, resolve_as_of
from esmonitor.indicators.stats import Z95, median_interval, newcombe_difference, wilson
from esmonitor.warehouse import Warehouse

Grain = Literal["month", "quarter", "fiscal_year", "all"]
GRAINS: tuple[str, ...] = ("month", "quarter", "fiscal_year", "all")
CI_METHOD = {"proportion": "wilson", "median": "order statistics (binomial)",
             "mean": "normal (mean ± 1.96 SE)", "count": "none (complete count)",
             "gap": "newcombe (hybrid score)", "distinct": "none (complete count)",
             "repeat": "none (complete count)", "caseload": "none (complete count)"}

PEOPLE_COLUMNS = ("social_assistance", "gender", "indigenous", "francophone", "racialized",
                  "disability", "lgbtq")

_SQL = {
    "referral": """
        SELECT r.referral_id, r.client_id, r.source, r.referral_date, r.result, r.result_date,
               CASE WHEN r.result = 'intake' THEN date_diff('day', r.referral_date, r.result_date) END
                   AS days_to_intake,
               r.site_id, s.provider_id, p.catchment_id, c.ssm_id
        FROM referral r JOIN site s USING (site_id) JOIN provider p USING (provider_id)
        JOIN catchment c USING (catchment_id)""",
    "client": """
        WITH plan AS (
            SELECT client_id, min(start_date) AS plan_start, arg_min(site_id, start_date) AS site_id
            FROM action_plan GROUP BY client_id),
        intake AS (
            SELECT client_id, min(result_date) AS intake_on FROM referral
            WHERE result = 'intake' GROUP BY client_id),
        assessed AS (
            SELECT client_id, min(assessment_date) AS assessment_date,
                   arg_min(stream, assessment_date) AS stream
            FROM assessment GROUP BY client_id),
        served AS (
            SELECT client_id, count(*) AS services,
                   bool_or(service_type = 'pre_employment') AS pre_employment_started,
                   bool_or(service_type = 'pre_employment' AND end_date IS NOT NULL)
                       AS pre_employment_completed
            FROM service GROUP BY client_id)
        SELECT plan.client_id, plan.plan_start, plan.site_id, s.provider_id, p.catchment_id,
               c.ssm_id, coalesce(intake.intake_on, cl.registered_on) AS intake_on,
               assessed.assessment_date, assessed.stream,
               coalesce(served.services, 0) AS services,
               coalesce(served.pre_employment_started, false) AS pre_employment_started,
               coalesce(served.pre_employment_completed, false) AS pre_employment_completed
        FROM plan JOIN site s USING (site_id) JOIN provider p USING (provider_id)
        JOIN catchment c USING (catchment_id) JOIN client cl USING (client_id)
        LEFT JOIN intake USING (client_id) LEFT JOIN assessed USING (client_id)
        LEFT JOIN served USING (client_id)""",
    "plan": """
        SELECT e.plan_id, e.client_id, e.start_date, e.close_date, e.site_id, s.provider_id,
               p.catchment_id, c.ssm_id
        FROM action_plan e JOIN site s USING (site_id) JOIN provider p USING (provider_id)
        JOIN catchment c USING (catchment_id)""",
    "people": """
        SELECT client_id, social_assistance, gender, indigenous, francophone, racialized,
               disability, lgbtq FROM client""",
    "spell": """
        SELECT spell_id AS placement_spell_id, employer_id, hourly_wage AS starting_wage, naics_sector,
               left(noc_code, 1) AS noc_broad FROM employment""",
}


@dataclass
class Frames:
    """The unit-record frames; a frame not asked for when reading is None."""

    referral: pl.DataFrame | None
    client: pl.DataFrame | None
    starter: pl.DataFrame | None
    outcome: pl.DataFrame | None
    plan: pl.DataFrame | None
    exiter: pl.DataFrame | None
    as_of: date

    def only(self, column: str, values: Sequence[str]) -> Frames:
        """The same frames keeping only rows whose ``column`` (e.g. provider_id) is in ``values``."""
        keep = pl.col(column).is_in(list(values))
        return Frames(**{name: None if (f := getattr(self, name)) is None else f.filter(keep)
                         for name in FRAME_NAMES}, as_of=self.as_of)

    def get(self, name: str) -> pl.DataFrame:
        frame = getattr(self, name)
        if frame is None:
            raise ValueError(f"frame {name!r} was not read; pass it in frames_from(needed=...)")
        return frame  # type: ignore[no-any-return]


def _read(warehouse: Warehouse, name: str) -> pl.DataFrame:
    return pl.from_arrow(warehouse.arrow(sqlglot.parse_one(_SQL[name], read="duckdb")))  # type: ignore[return-value]


FRAME_NAMES: tuple[str, ...] = ("referral", "client", "starter", "outcome", "plan", "exiter")


def frames_from(warehouse: Warehouse, as_of: date | None = None,
                needed: Sequence[str] | None = None) -> Frames:
    """Read the unit-record frames; only those in ``needed`` (default: all) and what they depend
    on are built, so one indicator does not pay for the whole catalogue."""
    as_of = resolve_as_of(warehouse, as_of)
    wanted = set(needed or FRAME_NAMES)
    unknown = wanted - set(FRAME_NAMES)
    if unknown:
        raise ValueError(f"unknown frames {sorted(unknown)}")
    cache: dict[str, pl.DataFrame] = {}

    def once(name: str, build: Callable[[], pl.DataFrame]) -> pl.DataFrame:
        if name not in cache:
            cache[name] = build()
        return cache[name]

    def inputs() -> tuple[pl.DataFrame, pl.DataFrame]:
        if "_starters_in" not in cache:
            cache["_starters_in"], cache["_spells_in"] = inputs_from(warehouse)
        return cache["_starters_in"], cache["_spells_in"]

    def spells() -> pl.DataFrame:
        return inputs()[1]

    def outcomes() -> pl.DataFrame:
        return once("_outcomes", lambda: funded_outcomes(*inputs(), as_of))

    def people() -> pl.DataFrame:
        return once("_people", lambda: _read(warehouse, "people"))

    def client_base() -> pl.DataFrame:
        return once("_client", lambda: _read(warehouse, "client"))

    def place() -> pl.DataFrame:
        return client_base().select("client_id", "site_id", "provider_id", "catchment_id", "ssm_id", "stream")

    def achieved() -> pl.DataFrame:
        def build() -> pl.DataFrame:
            by_k = outcomes().pivot(on="checkpoint", index="client_id", values="status")
            flags = [pl.col("client_id")]
            for k in (1, 3, 6, 12):
                col = pl.col(str(k)) if str(k) in by_k.columns else pl.lit(None, dtype=pl.String)
                flags += [(col == "achieved").fill_null(False).alias(f"achieved_{k}m"),
                          (col.is_not_null() & (col != "pending")).alias(f"decided_{k}m")]
            return by_k.select(flags)
        return once("_achieved", build)

    def client() -> pl.DataFrame:
        return (client_base().join(people(), on="client_id", how="left")
                .join(achieved().select("client_id", *[f"achieved_{k}m" for k in (1, 3, 6, 12)]),
                      on="client_id", how="left")
                .with_columns(
                    *[pl.col(f"achieved_{k}m").fill_null(False) for k in (1, 3, 6, 12)],
                    *[(pl.col("plan_start").dt.offset_by(f"{k + 3}mo") <= pl.lit(as_of)).alias(f"mature_{k}m")
                      for k in (1, 3, 6, 12)],
                    (pl.col("plan_start").dt.offset_by("12mo") <= pl.lit(as_of)).alias("mature_job"),
                    pl.col("client_id").is_in(outcomes()["client_id"].unique().implode()).alias("started_job"),
                    days_intake_to_assessment=pl.when(pl.col("assessment_date") >= pl.col("intake_on"))
                    .then((pl.col("assessment_date") - pl.col("intake_on")).dt.total_days()),
                    days_assessment_to_plan=pl.when(pl.col("plan_start") >= pl.col("assessment_date"))
                    .then((pl.col("plan_start") - pl.col("assessment_date")).dt.total_days())))

    def referral() -> pl.DataFrame:
        return (_read(warehouse, "referral").join(people(), on="client_id", how="left")
                .join(client_base().select("client_id", "stream"), on="client_id", how="left"))

    def starter() -> pl.DataFrame:
        first = outcomes().filter(pl.col("checkpoint") == outcomes()["checkpoint"].min())
        return (first.select("client_id", "placement_spell_id", "placement_start")
                .join(achieved(), on="client_id", how="left")
                .join(_read(warehouse, "spell"), on="placement_spell_id", how="left")
                .join(place(), on="client_id", how="left").join(people(), on="client_id", how="left"))

    def outcome() -> pl.DataFrame:
        return (outcomes().drop("catchment_id")
                .join(place(), on="client_id", how="left").join(people(), on="client_id", how="left"))

    def plan() -> pl.DataFrame:
        return once("plan", lambda: _read(warehouse, "plan").join(people(), on="client_id", how="left")
                    .join(client_base().select("client_id", "stream"), on="client_id", how="left"))

    def exiter() -> pl.DataFrame:
        return _exiters(plan(), spells().select("client_id", "job_start", "job_end", "hours_per_week",
                                                "hourly_wage"), as_of)

    builders: dict[str, Callable[[], pl.DataFrame]] = {
        "referral": referral, "client": client, "starter": starter, "outcome": outcome,
        "plan": plan, "exiter": exiter}
    built = {name: (builders[name]() if name in wanted else None) for name in FRAME_NAMES}
    return Frames(**built, as_of=as_of)


def _quarter_window(exit_date: pl.Expr, offset: int) -> tuple[pl.Expr, pl.Expr]:
    """First and last day of the calendar quarter ``offset`` quarters after the exit's quarter."""
    start = exit_date.dt.truncate("1q").dt.offset_by(f"{3 * offset}mo")
    return start, start.dt.offset_by("3mo").dt.offset_by("-1d")


def _exiters(plan: pl.DataFrame, spells: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """One row per closed action plan (an exit), with WIOA-style employment in the 2nd and 4th
    quarter after the exit quarter: employed when any job overlaps the quarter; earnings are
    hours x wage x weeks of overlap, summed over the jobs."""
    exits = plan.filter(pl.col("close_date").is_not_null())
    q2s, q2e = _quarter_window(pl.col("close_date"), 2)
    q4s, q4e = _quarter_window(pl.col("close_date"), 4)
    exits = exits.with_columns(q2s.alias("q2_start"), q2e.alias("q2_end"), q4s.alias("q4_start"),
                               q4e.alias("q4_end"))
    joined = exits.select("plan_id", "client_id", "q2_start", "q2_end", "q4_start", "q4_end").join(
        spells, on="client_id")
    far = pl.lit(date(9999, 12, 31))

    def overlap_days(qs: str, qe: str) -> pl.Expr:
        first = pl.max_horizontal(pl.col("job_start"), pl.col(qs))
        last = pl.min_horizontal(pl.col("job_end").fill_null(far), pl.col(qe))
        return pl.when(last >= first).then((last - first).dt.total_days() + 1).otherwise(0)

    per_plan = joined.with_columns(overlap_days("q2_start", "q2_end").alias("d2"),
                                   overlap_days("q4_start", "q4_end").alias("d4")).group_by("plan_id").agg(
        (pl.col("d2") > 0).any().alias("employed_q2"), (pl.col("d4") > 0).any().alias("employed_q4"),
        (pl.col("hours_per_week") * pl.col("hourly_wage") * pl.col("d2") / 7).sum().alias("earnings_q2"))
    return (exits.join(per_plan, on="plan_id", how="left")
            .with_columns(pl.col("employed_q2").fill_null(False), pl.col("employed_q4").fill_null(False),
                          pl.col("earnings_q2").fill_null(0.0),
                          (pl.col("q2_end") <= pl.lit(as_of)).alias("decided_q2"),
                          (pl.col("q4_end") <= pl.lit(as_of)).alias("decided_q4")))


def period_key(column: str, grain: str) -> pl.Expr:
    """A cheap, sortable key for the period of a date: the period's first day (month, quarter),
    the fiscal year's starting calendar year, or 0 for ``all``. Labels are made after grouping."""
    d = pl.col(column)
    if grain == "month":
        return d.dt.truncate("1mo").dt.epoch("d").cast(pl.Int64)
    if grain == "quarter":
        return d.dt.truncate("1q").dt.epoch("d").cast(pl.Int64)
    if grain == "fiscal_year":
        return pl.when(d.dt.month() >= 4).then(d.dt.year()).otherwise(d.dt.year() - 1).cast(pl.Int64)
    return pl.lit(0, dtype=pl.Int64)


def period_label(key: pl.Expr, grain: str) -> pl.Expr:
    """'2024-03', '2024Q1', 'FY2024-25' or 'all' for a key made by :func:`period_key`."""
    if grain in ("month", "quarter"):
        d = pl.from_epoch(key, time_unit="d")
        if grain == "month":
            return d.dt.strftime("%Y-%m")
        return pl.format("{}Q{}", d.dt.year(), d.dt.quarter())
    if grain == "fiscal_year":
        return pl.format("FY{}-{}", key, ((key + 1) % 100).cast(pl.String).str.zfill(2))
    return pl.lit("all")


def period_expr(column: str, grain: str) -> pl.Expr:
    return period_label(period_key(column, grain), grain)


def compute(indicator: Indicator, frames: Frames, *, by: Sequence[str] = (), grain: str = "quarter",
            start: date | None = None, end: date | None = None) -> pl.DataFrame:
    """One indicator as a tidy table (see the module docstring)."""
    if grain not in GRAINS:
        raise UserInputError(f"unknown grain {grain!r}", hint=f"one of {', '.join(GRAINS)}")
    bad = [b for b in by if b not in indicator.breakdowns]
    if bad:
        raise UserInputError(f"{indicator.id} cannot be broken down by {', '.join(bad)}",
                             hint=f"allowed: {', '.join(indicator.breakdowns)}")
    df = frames.get(indicator.frame).filter(pl.col(indicator.date).is_not_null())
    snapshot = indicator.statistic == "caseload"  # a stock: every earlier record counts
    if start and not snapshot:
        df = df.filter(pl.col(indicator.date) >= start)
    if end and not snapshot:
        df = df.filter(pl.col(indicator.date) <= end)
    keys = ["period", *by]
    # Materialise numerator and denominator first: a literal (every record counts) then has one
    # value per row, as it must for sums.
    df = df.with_columns(period_key(indicator.date, grain).alias("period"),
                         indicator.numerator.alias("_num"),
                         (indicator.denominator if indicator.denominator is not None else pl.lit(True))
                         .fill_null(False).alias("_den"))
    num, den = pl.col("_num"), pl.col("_den")
    s = indicator.statistic
    if s == "count":
        table = df.group_by(keys).agg(num.sum().cast(pl.Float64).alias("numerator")).with_columns(
            pl.lit(None, dtype=pl.Float64).alias("denominator"), pl.col("numerator").alias("value"),
            pl.lit(None, dtype=pl.Float64).alias("ci_low"), pl.lit(None, dtype=pl.Float64).alias("ci_high"))
    elif s == "proportion":
        table = df.group_by(keys).agg((num.fill_null(False) & den).sum().cast(pl.Float64).alias("numerator"),
                                      den.sum().cast(pl.Float64).alias("denominator"))
        table = table.filter(pl.col("denominator") > 0).with_columns(
            (pl.col("numerator") / pl.col("denominator")).alias("value"))
        low, high = wilson(table["numerator"].to_numpy(), table["denominator"].to_numpy())
        table = table.with_columns(pl.Series("ci_low", low), pl.Series("ci_high", high))
    elif s == "mean":
        x = num.filter(den).cast(pl.Float64)
        table = df.group_by(keys).agg(x.sum().alias("numerator"), x.count().cast(pl.Float64).alias("denominator"),
                                      x.std().alias("_sd")).filter(pl.col("denominator") > 0)
        table = table.with_columns((pl.col("numerator") / pl.col("denominator")).alias("value")).with_columns(
            (pl.col("value") - Z95 * pl.col("_sd") / pl.col("denominator").sqrt()).alias("ci_low"),
            (pl.col("value") + Z95 * pl.col("_sd") / pl.col("denominator").sqrt()).alias("ci_high")).drop("_sd")
    elif s == "gap":
        assert indicator.focus is not None and indicator.reference is not None
        df = df.with_columns(indicator.focus.fill_null(False).alias("_focus"),
                             indicator.reference.fill_null(False).alias("_ref"))
        hit = num.fill_null(False) & den
        table = df.group_by(keys).agg(
            (hit & pl.col("_focus")).sum().cast(pl.Float64).alias("numerator"),
            (den & pl.col("_focus")).sum().cast(pl.Float64).alias("denominator"),
            (hit & pl.col("_ref")).sum().cast(pl.Float64).alias("reference_numerator"),
            (den & pl.col("_ref")).sum().cast(pl.Float64).alias("reference_denominator"))
        table = table.filter((pl.col("denominator") > 0) & (pl.col("reference_denominator") > 0))
        d, low, high = newcombe_difference(table["reference_numerator"].to_numpy(),
                                           table["reference_denominator"].to_numpy(),
                                           table["numerator"].to_numpy(), table["denominator"].to_numpy())
        table = table.with_columns(pl.Series("value", d), pl.Series("ci_low", low), pl.Series("ci_high", high))
    elif s == "caseload":
        table = _caseload(df, indicator, by, grain, frames.as_of)
        bounds_key = pl.DataFrame({"d": [start, end]}, schema={"d": pl.Date}).with_columns(
            period_key("d", grain).alias("_key"))  # with_columns: a literal key (grain all) fills both rows
        first, last = bounds_key["_key"].to_list()
        if start:
            table = table.filter(pl.col("period") >= first)
        if end:
            table = table.filter(pl.col("period") <= last)
    elif s in ("distinct", "repeat"):
        counts = df.filter(den).group_by([*keys, "_num"]).agg(pl.len().alias("_hires"))
        if s == "repeat":
            counts = counts.filter(pl.col("_hires") >= 2)
        table = counts.group_by(keys).agg(pl.len().cast(pl.Float64).alias("numerator")).with_columns(
            pl.lit(None, dtype=pl.Float64).alias("denominator"), pl.col("numerator").alias("value"),
            pl.lit(None, dtype=pl.Float64).alias("ci_low"), pl.lit(None, dtype=pl.Float64).alias("ci_high"))
    else:  # median
        grouped = df.group_by(keys).agg(num.filter(den & num.is_not_null()).cast(pl.Float64).alias("_values"))
        grouped = grouped.filter(pl.col("_values").list.len() > 0)
        bounds = [median_interval(np.asarray(v)) for v in grouped["_values"].to_list()]
        table = grouped.with_columns(
            pl.lit(None, dtype=pl.Float64).alias("numerator"),
            pl.col("_values").list.len().cast(pl.Float64).alias("denominator"),
            pl.col("_values").list.median().alias("value"),
            pl.Series("ci_low", [b[0] for b in bounds], dtype=pl.Float64),
            pl.Series("ci_high", [b[1] for b in bounds], dtype=pl.Float64)).drop("_values")
    table = table.sort(keys).with_columns(period_label(pl.col("period"), grain).alias("period"))
    return (table.with_columns(pl.lit(indicator.id).alias("indicator"), pl.lit(grain).alias("grain"),
                               pl.lit(CI_METHOD[s]).alias("ci_method"))
            .select("indicator", "grain", "period", *by, "numerator", "denominator", "value",
                    "ci_low", "ci_high", "ci_method",
                    *[c for c in ("reference_numerator", "reference_denominator") if c in table.columns]))


def _caseload(df: pl.DataFrame, indicator: Indicator, by: Sequence[str], grain: str, as_of: date) -> pl.DataFrame:
    """Open plans at the end of each period: starts up to the period minus closes up to it."""
    close_col = indicator.denominator_text or "close_date"
    starts = df.group_by(["period", *by]).agg(pl.len().alias("_starts"))
    closes = (df.filter(pl.col(close_col).is_not_null() & (pl.col(close_col) <= pl.lit(as_of)))
              .with_columns(period_key(close_col, grain).alias("period"))
              .group_by(["period", *by]).agg(pl.len().alias("_closes")))
    periods = pl.concat([starts.select("period"), closes.select("period")]).unique()
    groups = pl.concat([starts.select(by), closes.select(by)]).unique() if by else pl.DataFrame()
    grid = periods.join(groups, how="cross") if by else periods
    table = (grid.join(starts, on=["period", *by], how="left").join(closes, on=["period", *by], how="left")
             .with_columns(pl.col("_starts").fill_null(0), pl.col("_closes").fill_null(0))
             .sort(["period"]).with_columns(
                 (pl.col("_starts").cum_sum() - pl.col("_closes").cum_sum()).over(list(by) or None)
                 .cast(pl.Float64).alias("value") if by else
                 (pl.col("_starts").cum_sum() - pl.col("_closes").cum_sum()).cast(pl.Float64).alias("value")))
    return table.drop("_starts", "_closes").with_columns(
        pl.col("value").alias("numerator"), pl.lit(None, dtype=pl.Float64).alias("denominator"),
        pl.lit(None, dtype=pl.Float64).alias("ci_low"), pl.lit(None, dtype=pl.Float64).alias("ci_high"))


def compute_many(frames: Frames, ids: Sequence[str] | None = None, **options: object) -> pl.DataFrame:
    """Several indicators stacked into one tidy table (breakdown columns a catalogue entry does not
    allow are skipped for it, so ``--by stream`` works across the catalogue)."""
    chosen = [BY_ID[i] for i in ids] if ids else list(CATALOGUE)
    unknown = [i for i in (ids or []) if i not in BY_ID]
    if unknown:
        raise UserInputError(f"unknown indicator {', '.join(unknown)}",
                             hint="esmonitor indicators --list shows the catalogue")
    by = list(options.pop("by", ()) or ())  # type: ignore[call-overload]
    known = {b for ind in chosen for b in ind.breakdowns}
    if any(b not in known for b in by):
        raise UserInputError(f"no indicator can be broken down by {', '.join(b for b in by if b not in known)}",
                             hint=f"breakdowns: {', '.join(sorted(known))}")
    tables = []
    for ind in chosen:
        usable = [b for b in by if b in ind.breakdowns]
        if len(usable) != len(by) and ids:  # asked for by name: say why, do not skip silently
            raise UserInputError(f"{ind.id} cannot be broken down by {', '.join(b for b in by if b not in usable)}",
                                 hint=f"allowed: {', '.join(ind.breakdowns)}")
        tables.append(compute(ind, frames, by=usable, **options))  # type: ignore[arg-type]
    return pl.concat(tables, how="diagonal_relaxed")
