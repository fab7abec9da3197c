"""``esmonitor demo``: every stage on a synthetic province, into one folder."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from esmonitor.cli.common import WAREHOUSE_ENV, KeyOpt, console, out, user_errors
from esmonitor.cli.evaluate import print_rollout, unemployment_monthly
from esmonitor.cli.ingest import (
    export_quarantine,
    print_problems,
    print_summary,
    report_table,
    run_ingest,
    warehouse_summary,
    write_synthetic,
)
from esmonitor.cli.output import stamped, write_frame, write_json
from esmonitor.cli.voices import languages, open_answers, print_voices_reports, run_voices_ingest
from esmonitor.errors import UserInputError
from esmonitor.model.synthetic import SYNTHETIC_NOTICE

if TYPE_CHECKING:
    from esmonitor.indicators.engine import Frames


@user_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("demo-output"),
    clients: Annotated[int, typer.Option(help="Number of synthetic clients.", min=100)] = 50_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2024,
    warehouse: Annotated[Path | None, typer.Option("--warehouse", "-w", envvar=WAREHOUSE_ENV,
                                                    help="Warehouse file (default: OUT/esmonitor.duckdb).")] = None,
    key_file: KeyOpt = None,
    monitor: Annotated[bool, typer.Option(
        "--monitor", help="The path of a monitor who holds only published tables: the synthetic province's "
                          "FOI workbook and ES client-outcomes file, ingested alone; indicators, the rollout and "
                          "the report from them.")] = False,
) -> None:
    """Synthetic province -> validated ingest -> summary, all into one folder."""
    with stamped(SYNTHETIC_NOTICE):  # every file the demo writes says its data are synthetic
        if monitor:
            _monitor_demo(out_dir, clients, seed, warehouse, key_file)
        else:
            _demo(out_dir, clients, seed, warehouse, key_file)


def _fresh_warehouse(warehouse: Path) -> None:
    """Remove a warehouse the demo made before (and refuse to touch one it did not make)."""
    from esmonitor.warehouse import Warehouse

    if warehouse.exists():
        with Warehouse(warehouse, read_only=True) as w:
            made_by_demo = w.meta("created_by") == "demo"
        if not made_by_demo:
            raise UserInputError(f"{warehouse} already holds data that the demo did not create",
                                 hint="pass another --warehouse or --out for the demo")
        for suffix in ("", ".wal"):
            Path(str(warehouse) + suffix).unlink(missing_ok=True)
    with Warehouse(warehouse) as w:
        w.set_meta("created_by", "demo")


def _monitor_demo(out_dir: Path, clients: int, seed: int, warehouse: Path | None, key_file: Path | None) -> None:
    """What a network of providers or a policy group can do with the published tables alone."""
    import polars as pl

    from esmonitor.evaluation.rollout_published import (
        RolloutRefused,
        evaluate_published_rollout,
        unemployment_by_fiscal_year,
    )
    from esmonitor.indicators import published
    from esmonitor.report.monitor import monitor_report
    from esmonitor.report.render import render_html
    from esmonitor.warehouse import Warehouse

    started = time.perf_counter()
    warehouse = warehouse or out_dir / "monitor.duckdb"
    extracts = out_dir / "extracts"
    if extracts.exists():
        shutil.rmtree(extracts)
    console.rule("1. Synthetic province and the tables its ministry would publish")
    write_synthetic(extracts, clients, seed, dirty=False)
    releases = extracts / "releases"
    # the workbook and the site file: the CSV copies of the workbook's sheets are the same release again
    tables = [p for p in (releases / "ies_foi_release.xlsx", releases / "es_client_outcomes_by_site.csv")
              if p.exists()]
    if not tables:
        raise UserInputError(f"no published tables in {releases}", hint="esmonitor synth writes them there")
    console.rule("2. Ingest of the published tables only (no records)")
    _fresh_warehouse(warehouse)
    key_file = key_file or demo_key_path(out_dir)
    reports = run_ingest(warehouse, tables, releases / "column_map.toml", None, key_file)
    out.print(report_table(reports))
    print_problems(reports)
    write_json({"files": [r.as_dict() for r in reports]}, out_dir / "monitor-ingest-report.json")
    with Warehouse(warehouse) as w:
        w.mark_synthetic({"generator": "esmonitor synth", "seed": seed, "clients": clients})
    console.rule("3. Indicators from the published tables")
    with Warehouse(warehouse, read_only=True) as w:
        indicators = published.compute(w)
        kinds = dict(w.fetchall("SELECT release_id, kind FROM aggregate_release"))
        monthly = pl.from_arrow(w.arrow("SELECT economic_region, month, unemployment_rate FROM labour_market_monthly"))
    assert isinstance(monthly, pl.DataFrame)
    write_frame(indicators, out_dir / "published-indicators.csv")
    counts = indicators.group_by("indicator", "release").len().sort("indicator", "release")
    shown = Table(title="Indicators from the published tables (rows per release)")
    for col in ("indicator", "release", "rows"):
        shown.add_column(col)
    for r in counts.iter_rows():
        shown.add_row(r[0], r[1], f"{r[2]:,}")
    out.print(shown)
    console.rule("4. The rollout from the published tables")
    rollout: dict[str, Any] | str
    foi = [rid for rid, kind in kinds.items() if kind == "foi_workbook"]
    try:
        result = evaluate_published_rollout(indicators, release=foi[0] if foi else None, kinds=kinds,
                                            unemployment=unemployment_by_fiscal_year(monthly))
        rollout = result.as_dict()
        write_json(rollout, out_dir / "rollout-published.json")
        effect = rollout["effect"]
        left = (f"{len(rollout['left_out'])} catchment(s) left out, each with its reason in rollout-published.json"
                if rollout["left_out"] else "every catchment in the panel")
        out.print(f"Effect of IES on employed_3m_reported: {effect['att']:+.4f} (95 % CI {effect['ci'][0]:+.4f} to "
                  f"{effect['ci'][1]:+.4f}); {left}")
    except UserInputError as err:
        rollout = err.as_dict() if isinstance(err, RolloutRefused) else {"refused": str(err), "hint": err.hint}
        write_json(rollout, out_dir / "rollout-published.json")
        out.print(f"[yellow]Rollout not evaluated:[/] {err}" + (f" ({err.hint})" if err.hint else ""))
    console.rule("5. The monitor's report (English and French), every figure with its release")
    report_dir = out_dir / "monitor-report"
    report_dir.mkdir(parents=True, exist_ok=True)
    with Warehouse(warehouse, read_only=True) as w:
        for lang in ("en", "fr"):
            doc = monitor_report(w, rollout, lang)
            (report_dir / f"monitor-report-{lang}.html").write_text(render_html(doc), "utf-8")
    console.rule("Done")
    console.print(
        f"Monitor demo finished in {time.perf_counter() - started:.0f} s.\n"
        f"  published tables: {releases} (what a ministry would release: suppressed as real ones are)\n"
        f"  warehouse:        {warehouse} (published tables only)\n"
        f"  indicators:       {out_dir / 'published-indicators.csv'} (each row names its release)\n"
        f"  rollout:          {out_dir / 'rollout-published.json'}\n"
        f"  report:           {report_dir} (English and French)")


def demo_key_path(out_dir: Path) -> Path:
    """The demo's pseudonymization key: beside its output folder, never in it (demo-output.key)."""
    absolute = out_dir.resolve()
    return absolute.parent / f"{absolute.name}.key"


def _demo(out_dir: Path, clients: int, seed: int, warehouse: Path | None, key_file: Path | None) -> None:

    started = time.perf_counter()
    warehouse = warehouse or out_dir / "esmonitor.duckdb"
    _fresh_warehouse(warehouse)
    extracts = out_dir / "extracts"
    if extracts.exists():
        shutil.rmtree(extracts)
    console.rule("1. Synthetic province")
    write_synthetic(extracts, clients, seed, dirty=True)
    console.rule("2. Validated ingest")
    # the key lives outside the output folder: whoever is given the folder (its extracts hold the
    # client ids) must not get the means to link the pseudonyms back to them
    key_file = key_file or demo_key_path(out_dir)
    (out_dir / "pseudonym.key").unlink(missing_ok=True)  # where earlier versions kept it, beside the extracts
    reports = run_ingest(warehouse, [extracts], None, None, key_file)
    out.print(report_table(reports))
    print_problems(reports)
    write_json({"files": [r.as_dict() for r in reports]}, out_dir / "ingest-report.json")
    n = export_quarantine(warehouse, out_dir / "quarantine.csv")
    console.rule("3. Summary")
    data = warehouse_summary(warehouse)
    print_summary(data)
    write_json(data, out_dir / "summary.json")
    console.rule("4. Indicators")
    frames = _demo_indicators(warehouse, out_dir)
    console.rule("5. Evaluation: the rollout and the providers")
    _demo_evaluation(warehouse, out_dir)
    console.rule("6. Public release: disclosure control")
    _demo_public(warehouse, frames, out_dir)
    console.rule("7. Voices: surveys of job seekers, providers, managers and employers")
    _demo_voices(warehouse, extracts / "voices", out_dir, key_file)
    console.rule("8. Funding: what the IES rules pay and reward")
    _demo_funding(frames, out_dir)
    console.rule("9. The monitoring report (public edition, English and French, HTML and PDF)")
    _demo_report(warehouse, out_dir)
    console.rule("Done")
    console.print(
        f"Demo finished in {time.perf_counter() - started:.0f} s.\n"
        f"  warehouse:      {warehouse}\n  summary:        {out_dir / 'summary.json'}\n"
        f"  ingest report:  {out_dir / 'ingest-report.json'}\n"
        f"  quarantine:     {out_dir / 'quarantine.csv'} ({n:,} problems to fix)\n"
        f"  indicators:     {out_dir / 'indicators.csv'} and indicators-by-catchment.csv\n"
        f"  evaluation:     {out_dir / 'rollout.json'}, providers.json, creaming.csv\n"
        f"  public release: {out_dir / 'public' / 'indicators-by-catchment.csv'} (disclosure-controlled)\n"
        f"  voices:         {out_dir / 'voices-summary.csv'}, voices-themes.json (public edition)\n"
        f"  funding:        {out_dir / 'funding.json'} (IES payments, envelopes, rewards, flat-weights scenario)\n"
        f"  report:         {out_dir / 'report'} (public edition: HTML and PDF, English and French)\n"
        f"  extracts:       {extracts} (ground truth in manifest.json)\n"
        f"  pseudonym key:  {key_file} (kept outside {out_dir}: give the folder, never the key)")


def _demo_indicators(warehouse: Path, out_dir: Path) -> Frames:
    """Every indicator by fiscal year, for the province and by catchment; the latest complete year shown."""
    from esmonitor.indicators.engine import compute_many, frames_from
    from esmonitor.model.reference import fiscal_year_bounds
    from esmonitor.warehouse import Warehouse

    with Warehouse(warehouse, read_only=True) as w:
        frames = frames_from(w)
    province = compute_many(frames, grain="fiscal_year")
    write_frame(province, out_dir / "indicators.csv")
    write_frame(compute_many(frames, grain="fiscal_year", by=["catchment_id"]), out_dir / "indicators-by-catchment.csv")
    years = sorted(p for p in province["period"].unique().to_list() if p)
    complete = [y for y in years if fiscal_year_bounds(y)[1] <= frames.as_of]
    latest = (complete or years)[-1]
    shown = Table(title=f"Province, {latest} (95 % intervals)")
    for col in ("indicator", "value", "interval", "denominator"):
        shown.add_column(col, justify="left" if col == "indicator" else "right")
    for r in province.filter(province["period"] == latest).iter_rows(named=True):
        interval = "" if r["ci_low"] is None else f"{r['ci_low']:.3f} – {r['ci_high']:.3f}"
        value = f"{r['value']:,.0f}" if r["ci_method"].startswith("none") else f"{r['value']:.3f}"
        shown.add_row(r["indicator"], value, interval,
                      "" if r["denominator"] is None else f"{r['denominator']:,.0f}")
    out.print(shown)
    return frames


def _demo_report(warehouse: Path, out_dir: Path) -> None:
    from esmonitor.disclosure.access import Audience, Policy
    from esmonitor.report.evidence import gather
    from esmonitor.report.publish import write_reports

    with console.status("Writing the report…") as status:
        evidence = gather(warehouse, Policy(Audience("public")), progress=lambda m: status.update(f"{m}…"))
        written = write_reports(evidence, out_dir / "report", progress=lambda m: status.update(f"{m}…"))
    for w in written:
        out.print(f"{w.path}  ({w.bytes / 1024:,.0f} KiB, {w.seconds:.1f} s)")


def _demo_public(warehouse: Path, frames: Frames, out_dir: Path, min_count: int = 10) -> None:
    """The indicators by catchment and fiscal year, with margins, as the public may see them
    (through the release gate: recorded in the ledger, and protected jointly with the report)."""
    from esmonitor.disclosure.access import Audience, Policy
    from esmonitor.disclosure.gate import Gate

    started = time.perf_counter()
    gate = Gate(warehouse, Policy(Audience("public"), min_count), "demo",
                {"by": "catchment_id", "grain": "fiscal_year"})
    table = gate.indicators(frames, None, ["catchment_id"], "fiscal_year")
    (out_dir / "public").mkdir(exist_ok=True)
    write_frame(table, out_dir / "public" / "indicators-by-catchment.csv")
    counts = dict(table.group_by("status").len().iter_rows())
    shown = Table(title=f"Indicators by catchment and fiscal year, public edition (K = {min_count})")
    for col in ("status", "rows", "meaning"):
        shown.add_column(col, justify="right" if col == "rows" else "left")
    meaning = {"published": "shown", "primary": f"fewer than {min_count} people (or none)",
               "secondary": "hidden so that no primary row can be worked out from the others"}
    for status in ("published", "primary", "secondary"):
        shown.add_row(status, f"{counts.get(status, 0):,}", meaning[status])
    out.print(shown)
    console.print(f"{table.height:,} rows with their margins, protected in {time.perf_counter() - started:.1f} s")


def _demo_voices(warehouse: Path, folder: Path, out_dir: Path, key_file: Path, min_count: int = 10) -> None:
    """Ingest the synthetic survey exports, then the public closed-question summary by wave and
    the open-answer themes with safe quotes."""
    import polars as pl

    from esmonitor.disclosure.gate import Gate
    from esmonitor.voices.closed import answers_frame, compare, likert_summary
    from esmonitor.voices.quotes import quoted_themes
    from esmonitor.warehouse import Warehouse

    print_voices_reports(run_voices_ingest(warehouse, [folder], None, None, key_file))
    with Warehouse(warehouse, read_only=True) as w:
        frame = answers_frame(w)
    gate = Gate.open(warehouse, "demo", "public", min_count, parameters={"by": "role,wave"})
    summary, _ = gate.survey(frame, likert_summary(frame, by=["role", "wave"]), ["role", "wave"])
    write_frame(summary, out_dir / "voices-summary.csv")
    seekers = frame.filter(pl.col("role") == "job_seeker")
    change = compare(seekers, "wait_ok", "wave", "2023", "2025")
    out.print(f"Job seekers seen quickly after referral (1-5): 2025 − 2023 = {change['difference']:+.2f} "
              f"(95 % CI {change['low']:+.2f} to {change['high']:+.2f})")
    answers = open_answers(warehouse)
    answers = answers.with_columns(pl.Series("language", languages(answers["answer"].to_list(), "auto")))
    found = quoted_themes(answers, min_count=min_count, seed=2024)
    report = {lang: [{k: t[k] for k in ("label", "keywords", "size", "quotes")} for t in block["themes"]]
              for lang, block in found.items()}
    for lang, block in found.items():
        out.print(f"Themes ({lang}, {block['answers']:,} answers): " + "; ".join(
            f"{t['label']} ({t['size']})" for t in block["themes"]))
    write_json(report, out_dir / "voices-themes.json", indent=1)


def _demo_funding(frames: Frames, out_dir: Path) -> None:
    from esmonitor.funding.model import load_model
    from esmonitor.funding.report import compare, creaming_gap, flat, run

    model = load_model("ies")
    result, rewards = run(frames, model)
    flat_result, flat_rewards = run(frames, flat(model))
    by_stream = compare(result, flat_result, ["stream"])
    gaps = {"ies": creaming_gap(rewards), "ies_flat": creaming_gap(flat_rewards)}
    write_json({"model": {"id": model.id, "version": model.version},
                "by_ssm_year": result.totals(["ssm_id", "fiscal_year"]).to_dicts(),
                "envelopes": result.envelopes.to_dicts(), "per_client_by_stream": rewards.to_dicts(),
                "creaming_gap": gaps, "flat_weights_by_stream": by_stream.to_dicts()},
               out_dir / "funding.json", indent=1, ensure_ascii=True)
    table = Table(title="IES outcome payments by stream, and with stream weights flattened")
    for col in ("stream", "paid (IES)", "paid (flat)", "expected per client served"):
        table.add_column(col, justify="left" if col == "stream" else "right")
    per = dict(zip(rewards["stream"], rewards["per_client"], strict=True))
    for r in by_stream.iter_rows(named=True):
        table.add_row(r["stream"], f"${r['ies']:,.0f}", f"${r['ies_flat']:,.0f}", f"${per.get(r['stream'], 0):,.2f}")
    out.print(table)
    out.print(f"Creaming gap (A − C per client): IES ${gaps['ies']['gap']:,.2f}, flattened "
              f"${gaps['ies_flat']['gap']:,.2f}")


def _demo_evaluation(warehouse: Path, out_dir: Path) -> None:
    from esmonitor.evaluation.providers import (
        SYSTEM_COVARIATES,
        SYSTEM_OUTCOME,
        creaming_diagnostics,
        provider_inputs,
        rate_providers,
    )
    from esmonitor.evaluation.rollout import evaluate_rollout_on
    from esmonitor.indicators.engine import frames_from
    from esmonitor.warehouse import Warehouse

    with Warehouse(warehouse, read_only=True) as w:
        frames = frames_from(w, needed=["client", "referral"])
        rollout: dict[str, Any] | None = None
        ratings = None
        try:
            with console.status("Rollout: staggered DiD, bootstrap, permutations, synthetic controls…"):
                rollout = evaluate_rollout_on(w, frames).as_dict()
        except UserInputError as err:  # too little data for the panel (a very small demo)
            console.print(f"[yellow]Rollout not evaluated:[/] {err}")
        try:
            with console.status("Providers: risk adjustment and shrinkage…"):
                ratings = rate_providers(provider_inputs(frames, unemployment_monthly(w)), outcome=SYSTEM_OUTCOME,
                                         provider="provider_id", covariates=SYSTEM_COVARIATES)
        except UserInputError as err:
            console.print(f"[yellow]Providers not rated:[/] {err}")
        write_frame(creaming_diagnostics(frames), out_dir / "creaming.csv")
    skipped = {"skipped": "too little data for the rollout panel"}
    write_json(rollout or skipped, out_dir / "rollout.json")
    with Warehouse(warehouse) as w:  # kept for the report, with the data version they were computed on
        w.save_result("rollout", rollout or skipped)
        w.save_result("providers", ratings.as_dict() if ratings else {"skipped": "too little data"})
    write_json(ratings.as_dict() if ratings else {"skipped": "too little data"}, out_dir / "providers.json")
    if rollout:
        print_rollout(rollout)
    if ratings:
        stars = [p.stars for p in ratings.providers]
        out.print(f"Providers rated: {len(stars)}; "
                  + ", ".join(f"{stars.count(k)} with {'★' * k}" for k in range(1, 6))
                  + " (full table: esmonitor evaluate providers)")
