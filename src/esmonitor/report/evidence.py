"""Everything the monitoring report shows, gathered once (for both languages) from the warehouse:
indicator tables, the rollout evaluation, provider ratings, funding, voices and data quality —
each already cut to the audience (its scope) and, for the public, through the disclosure layer.

The expensive results (the rollout evaluation and the provider ratings) are reused from the
warehouse when they were saved on the same data (:meth:`Warehouse.save_result`); otherwise they
are computed here and saved when the warehouse can be written.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from esmonitor.disclosure.access import Policy
from esmonitor.disclosure.gate import Gate
from esmonitor.errors import UserInputError
from esmonitor.indicators.catalogue import BY_ID, GAPS
from esmonitor.model.reference import fiscal_year_bounds
from esmonitor.warehouse import Warehouse

PROVINCE_IDS = (
    "referrals", "referral_to_intake", "days_referral_to_intake", "days_intake_to_assessment",
    "days_assessment_to_plan", "clients_served", "intake_stream_a", "intake_stream_b", "intake_stream_c",
    "outcome_1m_per_served", "outcome_3m_per_served", "outcome_6m_per_served", "outcome_12m_per_served",
    "job_start_rate", "median_starting_wage", *[g.id for g in GAPS])
SOURCE_IDS = ("referrals", "referral_to_intake", "days_referral_to_intake")
CATCHMENT_IDS = ("clients_served", "outcome_3m_per_served", "intake_stream_c")
GAP_IDS = tuple(g.id for g in GAPS)
TOTAL = "Total"

Progress = Callable[[str], None]


@dataclass
class Evidence:
    audience: str
    public: bool
    min_count: int
    grain: str  # fiscal_year or quarter
    period: str  # the period reported on (FY2024-25, 2025Q3)
    previous: str | None  # the period it is compared with
    periods: list[str]  # every period up to ``period``, oldest first
    as_of: date
    province: pl.DataFrame  # indicator rows by period (with a status; public: disclosure-controlled)
    by_source: pl.DataFrame
    by_catchment: pl.DataFrame
    catchments: list[dict[str, Any]]
    scope: list[str] | None  # catchments in scope (None: all)
    rollout: dict[str, Any] | None
    rollout_skipped: str | None
    providers: dict[str, Any] | None
    providers_withheld: int
    funding: dict[str, Any] | None
    voices: dict[str, Any] | None
    quality: dict[str, Any]
    versions: dict[str, str] = field(default_factory=dict)
    synthetic: bool = False  # the data come from ``esmonitor synth``: every edition must say so
    rollout_withheld: dict[str, Any] | None = None  # public: the small cells that withhold the rollout


def parse_period(text: str | None) -> tuple[str, str | None]:
    """``FY2024-25`` -> (fiscal_year, FY2024-25); ``2025Q3`` -> (quarter, 2025Q3); None: the
    latest complete fiscal year, chosen later."""
    if text is None:
        return "fiscal_year", None
    t = text.strip().upper()
    if t.startswith("FY") and len(t) == 9 and t[2:6].isdigit() and t[6] == "-" and t[7:].isdigit():
        if int(t[7:]) != (int(t[2:6]) + 1) % 100:
            raise UserInputError(f"--period {text!r}: the second year must follow the first", hint="e.g. FY2024-25")
        return "fiscal_year", t
    if len(t) == 6 and t[:4].isdigit() and t[4] == "Q" and t[5] in "1234":
        return "quarter", t
    raise UserInputError(f"--period {text!r} is neither a fiscal year nor a quarter", hint="FY2024-25 or 2025Q3")


def _period_end(label: str, grain: str) -> date:
    if grain == "fiscal_year":
        return fiscal_year_bounds(label)[1]
    year, q = int(label[:4]), int(label[5])
    return date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)


def _indicators(gate: Gate, frames: Any, ids: tuple[str, ...], by: list[str], grain: str) -> pl.DataFrame:
    """An indicator table through the release gate (public: protected jointly with every earlier
    public release of these data, and recorded in the ledger)."""
    table = gate.indicators(frames, list(ids), by, grain)
    if "status" not in table.columns:
        table = table.with_columns(pl.lit("published").alias("status"))
    return table.with_columns(pl.col(c).cast(pl.String).fill_null("(missing)") for c in ["period", *by])


def gather(warehouse_path: Path, policy: Policy, period: str | None = None, min_count: int = 10,
           progress: Progress = lambda _: None, save: bool = True) -> Evidence:
    """The evidence for ``policy``'s audience, every product through one release gate (public:
    protected jointly with every earlier public release of these data, and recorded in the
    ledger). Evaluations computed here are saved in the warehouse (when ``save`` and the file
    can be written) for the next report on the same data."""
    from esmonitor.indicators.engine import frames_from
    from esmonitor.model.reference import catchments

    grain, wanted = parse_period(period)
    gate = Gate(warehouse_path, Policy(policy.audience, min_count, policy.publish_zeros), "report",
                {"period": period, "min_count": min_count})
    from esmonitor.evaluation.rollout import evaluate_rollout, unemployment_by_quarter

    with Warehouse(warehouse_path, read_only=True) as w:
        scope = gate.scope(w)
        progress("reading the warehouse")
        everything = frames_from(w)
        frames = everything if scope.column is None else everything.only(scope.column, sorted(scope.values))
        in_scope = scope.catchments(w)
        scoped_catchments = None if in_scope is None else sorted(in_scope)
        files, rules = _quality_inputs(w)
        versions = _versions(w)
        synthetic = w.synthetic() is not None
        fresh: dict[str, Any] = {}
        rollout, rollout_skipped = _rollout(w, everything, progress, fresh)
        unemployment = unemployment_by_quarter(w)
        ratings, clients = _ratings(w, everything, gate, progress, fresh)
        own = scope.providers(w) or set()
        voices_inputs = _voices_inputs(w, scoped_catchments, progress)
    if fresh and save:
        _save(warehouse_path, fresh)
    progress("computing the indicators")
    province = _indicators(gate, frames, PROVINCE_IDS, [], grain)
    known = sorted(p for p in province["period"].unique().to_list() if p not in (TOTAL, "(missing)"))
    if not known:
        raise UserInputError("the warehouse holds no indicator data to report on", hint="run esmonitor ingest first")
    if wanted is None:
        complete = [p for p in known if _period_end(p, grain) <= frames.as_of]
        wanted = (complete or known)[-1]
    elif wanted not in known:
        raise UserInputError(f"no data for the period {wanted}", hint="periods with data: " + ", ".join(known))
    periods = [p for p in known if p <= wanted]
    previous = periods[-2] if len(periods) > 1 else None
    by_source = _indicators(gate, frames, SOURCE_IDS, ["source"], grain)
    by_catchment = _indicators(gate, frames, CATCHMENT_IDS, ["catchment_id"], grain)
    rollout_withheld = None
    if rollout is not None:
        def without(exclude: list[str]) -> dict[str, Any]:
            progress(f"evaluating the rollout without {', '.join(exclude)} (some of their quarters are withheld)")
            return evaluate_rollout(everything, unemployment, exclude=exclude).as_dict()

        shown = gate.rollout(rollout, everything, without=without)
        if "skipped" in shown:
            rollout, rollout_skipped, rollout_withheld = None, shown["skipped"], shown.get("withheld")
        else:
            rollout = shown
    providers, withheld = None, 0
    if ratings is not None:
        from esmonitor.evaluation.providers import SYSTEM_OUTCOME

        hidden = gate.hidden_providers(clients, SYSTEM_OUTCOME, own) if clients is not None else None
        if hidden:
            kept = [p for p in ratings["providers"] if p["provider"] not in hidden]
            providers, withheld = ratings | {"providers": kept}, len(ratings["providers"]) - len(kept)
        else:
            providers = ratings
    progress("funding")
    funding = _funding(gate, frames, wanted if grain == "fiscal_year" else None)
    voices = _voices(gate, voices_inputs)
    quality = _quality(gate, files, rules)
    reference = [{"catchment_id": c.catchment_id, "name_en": c.name_en, "name_fr": c.name_fr, "phase": c.phase,
                  "ssm": c.ssm, "ssm_id": c.ssm_id, "ies_start": c.ies_start.isoformat(),
                  "transition_start": c.transition_start.isoformat()} for c in catchments()]
    return Evidence(str(policy.audience), gate.public, min_count, grain, wanted, previous, periods, frames.as_of,
                    province, by_source, by_catchment, reference, scoped_catchments, rollout, rollout_skipped,
                    providers, withheld, funding, voices, quality, versions, synthetic, rollout_withheld)


def _save(path: Path, results: dict[str, Any]) -> None:
    from esmonitor.errors import WarehouseError

    try:
        with Warehouse(path) as w:
            for name, payload in results.items():
                w.save_result(name, payload)
    except (WarehouseError, OSError):  # read-only file or in use: computed again next time
        return


def _rollout(w: Warehouse, frames: Any, progress: Progress,
             fresh: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The rollout evaluation of the whole province (saved, or computed now)."""
    from esmonitor.evaluation.rollout import evaluate_rollout_on

    saved = w.saved_result("rollout")
    if saved is None:
        progress("evaluating the rollout (staggered difference-in-differences, synthetic controls)")
        try:
            saved = evaluate_rollout_on(w, frames).as_dict()
        except UserInputError as err:
            saved = {"skipped": str(err)}
        fresh["rollout"] = saved
    return (None, saved["skipped"]) if "skipped" in saved else (saved, None)


def _ratings(w: Warehouse, frames: Any, gate: Gate, progress: Progress,
             fresh: dict[str, Any]) -> tuple[dict[str, Any] | None, pl.DataFrame | None]:
    """Risk-adjusted ratings, fitted on every provider (saved, or computed now), and the
    clients they are computed from when the audience may not see every rating (the gate then
    decides which it sees)."""
    from esmonitor.evaluation.providers import (
        SYSTEM_COVARIATES,
        SYSTEM_OUTCOME,
        provider_inputs,
        rate_providers,
        unemployment_monthly,
    )

    ratings = w.saved_result("providers")
    table = None
    if ratings is None or not gate.whole_province:
        table = provider_inputs(frames, unemployment_monthly(w))
    if ratings is None:
        progress("rating providers (risk adjustment and shrinkage)")
        assert table is not None
        try:
            ratings = rate_providers(table, outcome=SYSTEM_OUTCOME, provider="provider_id",
                                     covariates=SYSTEM_COVARIATES).as_dict() if table.height >= 50 else None
        except UserInputError:
            ratings = None
        ratings = ratings or {"skipped": "too few clients served a year ago or more"}
        fresh["providers"] = ratings
    if ratings.get("skipped"):
        return None, None
    return ratings, None if gate.whole_province else table


def _funding(gate: Gate, frames: Any, year: str | None) -> dict[str, Any] | None:
    """The IES model's payments by fiscal year and stream, per client by stream, and against
    flat stream weights; money shown only where the gate publishes every count behind it."""
    from esmonitor.funding.model import load_model
    from esmonitor.funding.report import compare, creaming_gap, flat, funding_inputs, run

    model = load_model("ies")
    result, rewards = run(frames, model)
    if result.trail.is_empty() or rewards.height < 3:
        return None
    flat_result, flat_rewards = run(frames, flat(model))
    _, served, _ = funding_inputs(frames)
    yearly = gate.funding(result, ["fiscal_year", "stream"], rewards, served, second=flat_result)
    by_stream = gate.funding(result, ["stream"], rewards, served, second=flat_result)
    by_year = yearly["totals"].with_columns(pl.col("fiscal_year").cast(pl.String), pl.col("stream").cast(pl.String))
    if "status" not in by_year.columns:
        by_year = by_year.with_columns(pl.lit("published").alias("status"))
    rewards = yearly["rewards"]
    shown = by_stream["totals"]
    if "status" in shown.columns:
        visible = shown.filter(pl.col("status") == "published")["stream"].cast(pl.String).to_list()
    else:
        visible = shown["stream"].cast(pl.String).to_list()
    scenario = compare(result, flat_result, ["stream"]).with_columns(pl.col("stream").cast(pl.String))
    figures = [c for c in scenario.columns if c != "stream"]
    ok = pl.col("stream").is_in(visible)
    scenario = scenario.with_columns(*[pl.when(ok).then(pl.col(c)).otherwise(None).alias(c) for c in figures],
                                     pl.when(ok).then(pl.lit("published")).otherwise(pl.lit("secondary"))
                                     .alias("status"))
    by_year = by_year.filter(pl.col("fiscal_year") != "(missing)")
    if year is not None:
        by_year = by_year.filter((pl.col("fiscal_year") <= year) | (pl.col("fiscal_year") == TOTAL))
    gap = creaming_gap(rewards) if rewards["per_client"].null_count() == 0 else None
    flat_gap = creaming_gap(flat_rewards) if gap is not None else None
    return {"model": {"id": model.id, "version": model.version, "name_en": model.name_en},
            "by_year": by_year, "per_client": rewards, "scenario": scenario,
            "gap": gap, "flat_gap": flat_gap}


def _voices_inputs(w: Warehouse, catchments: list[str] | None, progress: Progress) -> dict[str, Any] | None:
    """Survey answers (closed and open) of the catchments in scope, read once."""
    from esmonitor.voices.closed import answers_frame
    from esmonitor.voices.language import detect
    from esmonitor.voices.responses import open_answers

    frame = answers_frame(w)
    if frame.is_empty():
        return None
    progress("voices: survey answers and themes")
    answers = open_answers(w)
    if catchments is not None:
        frame = frame.filter(pl.col("catchment_id").is_in(catchments))
        answers = answers.filter(pl.col("catchment_id").is_in(catchments))
    if answers.height:
        answers = answers.with_columns(pl.Series("language", detect(answers["answer"].to_list())))
    return {"frame": frame, "answers": answers}


def _voices(gate: Gate, inputs: dict[str, Any] | None) -> dict[str, Any] | None:
    """Closed questions by role and wave, the change in job seekers' view of waiting between
    the first and last wave, and themes of open answers: each as the gate shows it."""
    from esmonitor.voices.closed import compare, likert_summary
    from esmonitor.voices.quotes import quoted_themes

    if inputs is None:
        return None
    frame, answers = inputs["frame"], inputs["answers"]
    summary, _ = gate.survey(frame, likert_summary(frame, by=["role", "wave"]), ["role", "wave"])
    waves = sorted(frame["wave"].unique().to_list())
    change = None
    seekers = frame.filter(pl.col("role") == "job_seeker")
    if len(waves) >= 2:
        try:
            change = compare(seekers, "wait_ok", "wave", waves[0], waves[-1]) | {
                "question": "wait_ok", "role": "job_seeker", "first": waves[0], "second": waves[-1]}
        except ValueError:
            change = None
        if change is not None:  # shown when both waves' answer distributions are (their means are then shown)
            rows = summary.filter((pl.col("question") == "wait_ok") & (pl.col("role") == "job_seeker")
                                  & pl.col("wave").cast(pl.String).is_in([str(waves[0]), str(waves[-1])]))
            if rows.height < 2 or rows["mean"].null_count() > 0:
                change = None
    themes: dict[str, list[dict[str, Any]]] = {}
    if answers.height:
        found = quoted_themes(answers, min_count=int(gate.min_count), seed=2024, min_answers=20, quotes=2)
        themes = {lang: block["themes"] for lang, block in gate.themes(found).items()}
    return {"summary": summary, "change": change, "themes": themes, "waves": waves}


def _quality_inputs(w: Warehouse) -> tuple[pl.DataFrame, pl.DataFrame]:
    files = pl.DataFrame(w.arrow(
        "SELECT file_name, entity, sum(rows_read) AS rows_read, sum(rows_loaded) AS rows_loaded, "
        "sum(rows_quarantined) AS rows_quarantined FROM _ingest_batches GROUP BY ALL ORDER BY file_name"))
    files = files.with_columns(pl.col(c).cast(pl.Int64) for c in ("rows_read", "rows_loaded", "rows_quarantined")
                               if c in files.columns)
    rules = pl.DataFrame(w.arrow("SELECT file_name, rule, count(*) AS rows FROM quarantine GROUP BY ALL "
                                 "ORDER BY file_name, rule"), schema={"file_name": pl.String, "rule": pl.String,
                                                                       "rows": pl.Int64})
    return files, rules


def _quality(gate: Gate, files: pl.DataFrame, rules: pl.DataFrame) -> dict[str, Any]:
    """Rows read, loaded and quarantined per file, and quarantined rows per file and rule, as
    the gate shows them (public: the rule counts with each file's total as their margin,
    protected; the file table keeps only those protected totals)."""
    status = pl.lit("published").alias("status")
    if gate.whole_province:
        return {"files": files.with_columns(status), "rules": rules.with_columns(status)}
    if not rules.height:  # nothing quarantined: each file's count is 0, and says nothing of anyone
        kept = ["file_name", "entity"] if gate.public else [c for c in files.columns if c != "rows_quarantined"]
        return {"files": files.select(*kept, pl.lit(0, dtype=pl.Int64).alias("rows_quarantined"), status),
                "rules": rules.with_columns(status)}
    shown = gate.quality(rules).select("file_name", "rule", pl.col("rows").cast(pl.Int64), "status")
    totals = shown.filter(pl.col("rule") == TOTAL).select("file_name", pl.col("rows").alias("_q"),
                                                          pl.col("status").alias("_s"))
    kept = ["file_name", "entity"] if gate.public else [c for c in files.columns if c != "rows_quarantined"]
    files = files.select(kept).join(totals, on="file_name", how="left").with_columns(
        pl.when(pl.col("_s").is_null()).then(0).otherwise(pl.col("_q")).alias("rows_quarantined"),
        pl.col("_s").fill_null("published").alias("status")).drop("_q", "_s")
    rules = shown.join(rules.select("file_name", "rule"), on=["file_name", "rule"], how="inner").sort(
        "file_name", "rule")
    return {"files": files, "rules": rules}


def _versions(w: Warehouse) -> dict[str, str]:
    out = {"esmonitor": metadata.version("esmonitor"), "python": platform.python_version(),
           "data_version": w.data_version(), "schema": w.meta("schema_version") or ""}
    from esmonitor.funding.model import load_model

    out["funding model ies"] = load_model("ies").version
    for package in ("duckdb", "polars", "altair", "vl-convert-python", "babel", "weasyprint"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:  # pragma: no cover
            continue
    return out


def indicator_ids() -> list[str]:
    """Every indicator the report shows (for its definitions)."""
    return [i for i in dict.fromkeys([*PROVINCE_IDS, *SOURCE_IDS, *CATCHMENT_IDS]) if i in BY_ID]
