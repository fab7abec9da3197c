"""The ``esmonitor`` command line."""

from __future__ import annotations

import csv
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable
from datetime import date
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from esmonitor import __version__
from esmonitor.errors import EsmonitorError, UserInputError
from esmonitor.ingest.columns import load_mapping
from esmonitor.ingest.pipeline import FileReport, IngestOptions, ingest_files
from esmonitor.ingest.pseudonym import Pseudonymizer, load_or_create_key
from esmonitor.ingest.sources import FORMATS
from esmonitor.warehouse import Warehouse, default_warehouse_path
from esmonitor.warehouse.core import WAREHOUSE_ENV

app = typer.Typer(
    name="esmonitor",
    help="Transparent monitoring and evaluation of public employment services "
         "(Ontario Integrated Employment Services).",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()

F = TypeVar("F", bound=Callable[..., Any])

WarehouseOpt = Annotated[Path, typer.Option(
    "--warehouse", "-w", envvar=WAREHOUSE_ENV, help="DuckDB warehouse file.",
    default_factory=default_warehouse_path, show_default="./esmonitor.duckdb")]
KeyOpt = Annotated[Path | None, typer.Option(
    "--key-file", envvar="ESMONITOR_KEY_FILE",
    help="Pseudonymization key (created on first use, owner-only permissions). "
         "Default: the user's configuration folder.")]


AudienceOpt = Annotated[str | None, typer.Option(
    "--audience", help="Who the output is for: public (disclosure-controlled aggregates only), provider:<id>, "
                       "ssm:<id>, province or admin. Default: province, or the ESMONITOR_AUDIENCE of this account.")]
MinCountOpt = Annotated[float, typer.Option(
    "--min-count", help="Disclosure threshold K: counts 0 < n < K (and rates or means over fewer than K "
                        "people) are suppressed, with enough other cells that none can be narrowed below K.")]
PublishZerosOpt = Annotated[bool, typer.Option("--publish-zeros", help="Publish zero counts (default: protect them).")]


def _policy(audience: str | None) -> Any:
    from esmonitor.disclosure.access import Policy, resolve_audience

    return Policy(resolve_audience(audience))


def user_errors(fn: F) -> F:
    """Turn esmonitor's own errors into a message and exit code instead of a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except EsmonitorError as err:
            console.print(f"[bold red]Error:[/] {err}")
            if err.hint:
                console.print(f"[yellow]Hint:[/] {err.hint}")
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            console.print("[red]Interrupted[/]; the batch in progress was rolled back.")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
                        force=True)


def _version(value: bool) -> None:
    if value:
        out.print(f"esmonitor {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="Show the version and exit.")] = False) -> None:
    _logging()


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"),
                    BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=console, transient=False)


# -- synth ------------------------------------------------------------------------------------
@app.command()
@user_errors
def synth(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the extract files into.")],
    clients: Annotated[int, typer.Option(help="Number of clients (job seekers).", min=100)] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same files.")] = 2024,
    dirty: Annotated[bool, typer.Option(
        "--dirty", help="Plant defects at known rates (recorded in manifest.json).")] = False,
) -> None:
    """Write a synthetic Ontario province as realistic extract files plus manifest.json."""
    _synth(out_dir, clients, seed, dirty)


def _synth(out_dir: Path, clients: int, seed: int, dirty: bool) -> dict[str, Any]:
    from esmonitor.synth import SynthConfig, generate, write_province

    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task(f"Generating {clients:,} clients", total=11)
        province = generate(SynthConfig(clients=clients, seed=seed, dirty=dirty))
        progress.advance(task)

        def step(name: str) -> None:
            progress.update(task, description=f"Writing {name}", advance=1)

        manifest = write_province(province, out_dir, progress=step)
        from esmonitor.synth.voices import write_voices

        progress.update(task, description="Writing survey exports")
        voices = write_voices(out_dir / "voices", seed)
        manifest["voices"] = {"folder": "voices", "files": voices["files"]}
        progress.update(task, description="Synthetic province written", completed=11)
    rows: dict[str, int] = manifest["row_counts"]  # type: ignore[assignment]
    files: dict[str, str] = manifest["files"]  # type: ignore[assignment]
    console.print(f"Wrote {sum(rows.values()):,} rows in {len(files)} files to {out_dir} "
                  f"({time.perf_counter() - started:.1f} s); ground truth in {out_dir / 'manifest.json'}")
    return manifest


# -- ingest -----------------------------------------------------------------------------------
def _expand(paths: list[Path]) -> tuple[list[Path], Path | None]:
    files: list[Path] = []
    found_mapping: Path | None = None
    for p in paths:
        if p.is_dir():
            files.extend(sorted(q for q in p.iterdir() if q.suffix.lower() in FORMATS))
            if (p / "column_map.toml").exists():
                found_mapping = p / "column_map.toml"
        else:
            files.append(p)
    if not files:
        raise UserInputError("no input files", hint="pass .csv, .xlsx or .parquet files or a folder")
    return files, found_mapping


def _report_table(reports: list[FileReport]) -> Table:
    table = Table(title="Ingest", show_lines=False)
    for col, justify in (("file", "left"), ("entity", "left"), ("read", "right"), ("loaded", "right"),
                         ("quarantined", "right"), ("status", "left"), ("notes", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in reports:
        notes = []
        if r.dropped_identifier_columns:
            notes.append("dropped identifiers: " + ", ".join(r.dropped_identifier_columns))
        if r.quarantine_by_rule:
            notes.append(", ".join(f"{k} {v:,}" for k, v in r.quarantine_by_rule.items()))
        if r.message:
            notes.append(r.message)
        style = {"loaded": "green", "loaded_with_quarantine": "yellow", "rejected": "red",
                 "failed": "red"}.get(r.status, "dim")
        table.add_row(Path(r.path).name, r.entity or "?", f"{r.rows_read:,}", f"{r.rows_loaded:,}",
                      f"{r.rows_quarantined:,}", f"[{style}]{r.status}[/]", "; ".join(notes))
    return table


def _print_problems(reports: list[FileReport]) -> None:
    """Full-width lines for what the table may truncate: rejected files and dropped identifiers."""
    for r in reports:
        name = Path(r.path).name
        if r.status in ("rejected", "failed"):
            console.print(f"[bold red]Rejected[/] {name}: {r.message}")
        if r.dropped_identifier_columns:
            console.print(f"[yellow]Warning[/] {name}: direct identifier column(s) "
                          f"{', '.join(r.dropped_identifier_columns)} dropped, never stored")
        if r.ignored_columns:
            console.print(f"[dim]{name}: columns not in the data model, ignored: "
                          f"{', '.join(r.ignored_columns)}[/]")


def run_ingest(warehouse: Path, paths: list[Path], mapping: Path | None, entity: str | None,
               key_file: Path | None) -> list[FileReport]:
    files, found_mapping = _expand(paths)
    options = IngestOptions(mapping=load_mapping(mapping or found_mapping), entity=entity)
    pseudonymizer = Pseudonymizer(load_or_create_key(key_file))
    with Warehouse(warehouse) as w, _progress() as progress:
        task = progress.add_task("Ingesting", total=len(files))

        def step(name: str, what: str) -> None:
            progress.update(task, description=f"Ingesting {name} ({what})")

        reports = ingest_files(w, files, pseudonymizer, options, progress=step)
        progress.update(task, completed=len(files), description="Ingest finished")
    return reports


@app.command()
@user_errors
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files (.csv, .xlsx, .parquet) or folders.")],
    warehouse: WarehouseOpt,
    mapping: Annotated[Path | None, typer.Option(
        help="TOML column-mapping file (a folder's column_map.toml is used by default).")] = None,
    entity: Annotated[str | None, typer.Option(help="Treat every file as this entity.")] = None,
    key_file: KeyOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the per-file report as JSON on stdout.")] = False,
    report: Annotated[Path | None, typer.Option(
        help="Where to write the JSON report (default: next to the warehouse).")] = None,
) -> None:
    """Validate and load extracts; bad rows go to the quarantine table, never lost."""
    reports = run_ingest(warehouse, paths, mapping, entity, key_file)
    payload = {"files": [r.as_dict() for r in reports]}
    report_path = report or warehouse.with_name(f"ingest-report-{time.strftime('%Y%m%dT%H%M%S')}.json")
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False), "utf-8")
    if as_json:
        out.print_json(data=payload)
    else:
        out.print(_report_table(reports))
        _print_problems(reports)
        console.print(f"JSON report: {report_path}")
    if any(r.status in ("rejected", "failed") for r in reports):
        raise typer.Exit(1)


# -- summary and quarantine ---------------------------------------------------------------------
def _print_summary(summary: dict[str, Any]) -> None:
    t = Table(title="Clients by catchment (distinct people)")
    cols = ["catchment_id", "name_en", "phase", "referred", "intakes", "assessed", "stream_c",
            "with_action_plan", "employed_after_plan"]
    for c in cols:
        t.add_column(c.replace("_", " "), justify="right" if c not in cols[:3] else "left")
    for row in summary["by_catchment"]:
        t.add_row(*[f"{row[c]:,}" if isinstance(row[c], int) else str(row[c]) for c in cols])
    out.print(t)
    t = Table(title="By phase")
    pcols = ["phase", "catchments", "referred", "intakes", "assessed", "with_action_plan", "employed_after_plan"]
    for c in pcols:
        t.add_column(c.replace("_", " "))
    for row in summary["by_phase"]:
        t.add_row(*[f"{row[c]:,}" if isinstance(row[c], int) else str(row[c]) for c in pcols])
    out.print(t)
    t = Table(title="Common Assessment stream")
    for c in ("stream", "clients", "percent"):
        t.add_column(c)
    for row in summary["by_stream"]:
        t.add_row(str(row["stream"]), f"{row['clients']:,}", f"{row['percent']}")
    out.print(t)
    t = Table(title="Quarantine (rows kept for correction)")
    for c in ("file", "rule", "rows"):
        t.add_column(c)
    for row in summary["quarantine"]:
        t.add_row(str(row["file_name"]), str(row["rule"]), f"{row['rows']:,}")
    if not summary["quarantine"]:
        t.add_row("-", "nothing quarantined", "0")
    out.print(t)


@app.command()
@user_errors
def summary(
    warehouse: WarehouseOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    audience: AudienceOpt = None,
) -> None:
    """Counts by catchment, phase and stream, and the quarantine summary (province or admin; the
    public and one provider or SSM use ``esmonitor indicators --audience ...``)."""
    from esmonitor.indicators.summary import summarise

    _policy(audience).require("province", "the warehouse summary (every catchment and the quarantine)")
    with Warehouse(warehouse, read_only=True) as w:
        data = summarise(w).as_dict()
    if as_json:
        out.print_json(json.dumps(data, default=str, ensure_ascii=False))
    else:
        _print_summary(data)


def export_quarantine(warehouse: Path, target: Path) -> int:
    with Warehouse(warehouse, read_only=True) as w:
        rows = w.fetchall("SELECT file_name, source_row, column_name, value, rule, message, record, "
                          "batch_id FROM quarantine ORDER BY file_name, source_row, column_name")
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "row", "column", "value", "rule", "message", "record", "batch_id"])
        writer.writerows(rows)
    return len(rows)


@app.command()
@user_errors
def quarantine(
    warehouse: WarehouseOpt,
    out_file: Annotated[Path, typer.Option(
        "--out", "-o", help="CSV to write, one line per problem.")] = Path("quarantine.csv"),
    audience: AudienceOpt = None,
) -> None:
    """Export quarantined rows (file, row, column, value, rule) for correction (province or admin)."""
    policy = _policy(audience)
    policy.require_records("the quarantine")
    policy.require("province", "the quarantine (rejected rows of every provider)")
    n = export_quarantine(warehouse, out_file)
    console.print(f"Wrote {n:,} quarantined problems to {out_file}")


# -- funded outcomes --------------------------------------------------------------------------
def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise UserInputError(f"--as-of {value!r} is not a date", hint="use YYYY-MM-DD") from err


@app.command()
@user_errors
def outcomes(
    warehouse: WarehouseOpt,
    client: Annotated[str | None, typer.Argument(help="A client pseudonym: explain its checkpoints.")] = None,
    as_of: Annotated[str | None, typer.Option(help="As-of date YYYY-MM-DD (default: latest date in the data).")] = None,
    rules_doc: Annotated[Path | None, typer.Option(help="Write the rules as Markdown to this file and exit.")] = None,
    audience: AudienceOpt = None,
    min_count: MinCountOpt = 10,
) -> None:
    """Funded outcomes at 1, 3, 6 and 12 months (IES rules); with CLIENT, why each was reached or not."""
    if rules_doc is not None:
        from esmonitor.indicators.docs import render_outcomes_markdown

        rules_doc.write_text(render_outcomes_markdown(), "utf-8")
        console.print(f"Wrote {rules_doc}")
        return
    import polars as pl

    from esmonitor.indicators.outcomes import explain as explain_client
    from esmonitor.indicators.outcomes import funded_outcomes, inputs_from, resolve_as_of

    policy = _policy(audience)
    if client:
        policy.require_records("a client's checkpoints")
    with Warehouse(warehouse, read_only=True) as w:
        used_as_of = resolve_as_of(w, _parse_date(as_of))
        starters, spells = inputs_from(w)
        allowed = policy.scope(w).client_ids(w)
    if allowed is not None:  # another provider's clients are as invisible as unknown ones
        starters = starters.filter(pl.col("client_id").is_in(sorted(allowed)))
        spells = spells.filter(pl.col("client_id").is_in(sorted(allowed)))
    result = funded_outcomes(starters, spells, used_as_of)
    if client:
        out.print("\n".join(explain_client(result, spells, client)), highlight=False)
        return
    table = Table(title=f"Funded outcomes by checkpoint (as of {used_as_of}; job starters)")
    for col in ("checkpoint", "achieved", "not achieved", "unknown", "pending", "rate, decided"):
        table.add_column(col, justify="right")
    counts = result.group_by("checkpoint", "status").len()
    if policy.needs_disclosure_control:
        from esmonitor.disclosure.release import disclose_frame

        cells = disclose_frame(counts.select(pl.col("checkpoint").cast(pl.String), pl.col("status").alias("outcome"),
                                             "len"), ["checkpoint", "outcome"], "len", min_count=min_count).cells
        counts = cells.filter((pl.col("checkpoint") != "Total") & (pl.col("outcome") != "Total")).select(
            pl.col("checkpoint").cast(pl.Int64), pl.col("outcome").alias("status"),
            pl.when(pl.col("status") == "published").then(pl.col("value")).alias("len"))
        table.title = f"{table.title}; public: counts below {min_count:g}, and cells that would reveal them, hidden"
    for k in sorted(result["checkpoint"].unique().to_list()):
        by = {r["status"]: r["len"] for r in counts.filter(counts["checkpoint"] == k).iter_rows(named=True)}
        parts = [by.get(s, 0) for s in ("achieved", "not_achieved", "unknown", "pending")]
        decided = None if None in parts[:3] else sum(parts[:3])
        rate = f"{100 * parts[0] / decided:.1f} %" if decided else "-"
        table.add_row(f"{k} months", *["suppressed" if v is None else f"{v:,.0f}" for v in parts], rate)
    out.print(table)


# -- indicators -------------------------------------------------------------------------------
@app.command()
@user_errors
def indicators(
    warehouse: WarehouseOpt,
    ids: Annotated[str | None, typer.Option("--id", help="Comma-separated indicator ids (default: all).")] = None,
    by: Annotated[str | None, typer.Option(help="Comma-separated breakdowns, e.g. catchment_id,stream.")] = None,
    grain: Annotated[str, typer.Option(help="month, quarter, fiscal_year or all.")] = "quarter",
    start: Annotated[str | None, typer.Option("--from", help="First date YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last date YYYY-MM-DD.")] = None,
    as_of: Annotated[str | None, typer.Option(help="As-of date of the outcome engine.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, parquet or json.")] = "table",
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the catalogue and exit.")] = False,
    catalogue_doc: Annotated[Path | None, typer.Option(help="Write docs/indicators.md here and exit.")] = None,
    audience: AudienceOpt = None,
    min_count: MinCountOpt = 10,
    publish_zeros: PublishZerosOpt = False,
) -> None:
    """Compute catalogue indicators into one tidy table (value, numerator, denominator, 95 % interval).

    With --audience public the table comes with its margins (Total rows) and every count, rate
    and mean passes the disclosure layer (a status column says which rows are published); with
    provider:<id> or ssm:<id> only that provider's or catchment's clients count."""
    from esmonitor.indicators.catalogue import BY_ID, CATALOGUE
    from esmonitor.indicators.engine import compute_many, frames_from

    if catalogue_doc is not None:
        from esmonitor.indicators.docs import render_catalogue_markdown

        catalogue_doc.write_text(render_catalogue_markdown(), "utf-8")
        console.print(f"Wrote {catalogue_doc}")
        return
    if list_:
        listing = Table(title="Indicator catalogue")
        for col in ("id", "English", "Français", "statistic"):
            listing.add_column(col)
        for i in CATALOGUE:
            listing.add_row(i.id, i.en, i.fr, i.statistic)
        out.print(listing)
        return
    if fmt not in ("table", "csv", "parquet", "json"):
        raise UserInputError(f"unknown format {fmt!r}", hint="one of table, csv, parquet, json")
    if fmt == "parquet" and out_file is None:
        raise UserInputError("--format parquet needs --out FILE")
    chosen = ids.split(",") if ids else None
    needed = sorted({BY_ID[i].frame for i in chosen if i in BY_ID}) if chosen else None
    policy = _policy(audience)
    with Warehouse(warehouse, read_only=True) as w:
        scope = policy.scope(w)
        frames = frames_from(w, _parse_date(as_of), needed=needed)
    if scope.column is not None:
        frames = frames.only(scope.column, sorted(scope.values))
    breakdowns = by.split(",") if by else []
    window = {"start": _parse_date(start), "end": _parse_date(end)}
    if policy.needs_disclosure_control:
        from esmonitor.disclosure.release import public_indicators

        table = public_indicators(frames, chosen, breakdowns, grain, min_count=min_count,
                                  publish_zeros=publish_zeros, **window)
    else:
        table = compute_many(frames, chosen, by=breakdowns, grain=grain, **window)
    if fmt == "parquet":
        assert out_file is not None
        table.write_parquet(out_file)
    elif fmt == "csv":
        text = table.write_csv()
        out_file.write_text(text, "utf-8") if out_file else sys.stdout.write(text)
    elif fmt == "json":
        text = table.write_json()
        out_file.write_text(text, "utf-8") if out_file else sys.stdout.write(text + "\n")
    else:
        shown = Table(title=f"Indicators by {grain} (as of {frames.as_of})")
        for col in table.columns:
            shown.add_column(col)
        for row in table.iter_rows():
            shown.add_row(*["" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
        out.print(shown)
    if out_file:
        console.print(f"Wrote {table.height:,} rows to {out_file}")


# -- evaluation -------------------------------------------------------------------------------
evaluate_app = typer.Typer(help="Causal evaluation on the warehouse or on any table (CSV or Parquet).",
                           no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")


def _read_table(path: Path) -> Any:
    import polars as pl

    if not path.exists():
        raise UserInputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pl.read_parquet(path)
        if suffix in (".csv", ".txt"):
            return pl.read_csv(path, infer_schema_length=10_000)
    except pl.exceptions.PolarsError as err:
        raise UserInputError(f"{path}: cannot be read ({err})") from err
    raise UserInputError(f"{path}: unsupported file type {suffix!r}", hint="use .csv or .parquet")


# Options shared by the estimators that read a user's long table.
DataArg = Annotated[Path, typer.Argument(help="Long table (.csv or .parquet): one row per unit and time.")]
OutcomeOpt = Annotated[str, typer.Option(help="Outcome column.")]
UnitOpt = Annotated[str, typer.Option(help="Unit column.")]
TimeOpt = Annotated[str, typer.Option(help="Time column (numeric).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@evaluate_app.command("synth")
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

    result = synthetic_control(_read_table(data), outcome=outcome, unit=unit, time=time,
                               treated_unit=treated_unit, treatment_time=treatment_time)
    if as_json:
        out.print_json(data=result.as_dict())
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


FirstTreatedOpt = Annotated[str, typer.Option(help="First treated period; 0 or empty for never treated.")]
ClusterOpt = Annotated[str | None, typer.Option(help="Cluster column (default: the unit).")]


@evaluate_app.command("did")
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

    result = callaway_santanna(_read_table(data), outcome=outcome, unit=unit, time=time, first_treated=first_treated,
                               covariates=covariates.split(",") if covariates else (), control_group=control_group,
                               method=method, cluster=cluster, bootstrap=bootstrap, seed=seed)
    if as_json:
        out.print_json(data=result.as_dict())
        return
    _print_staggered(result)


def _print_staggered(result: Any) -> None:
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


@evaluate_app.command("twfe")
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

    result = twfe(_read_table(data), outcome=outcome, unit=unit, time=time, treated=treated, cluster=cluster)
    if as_json:
        out.print_json(data=result.as_dict())
        return
    out.print(f"TWFE estimate {result.estimate:.4g} (SE {result.se:.4g}; 95 % CI {result.ci[0]:.4g} to "
              f"{result.ci[1]:.4g}); {result.n_obs:,} observations, {result.n_clusters} clusters")


@evaluate_app.command("event-study")
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

    result = event_study(_read_table(data), outcome=outcome, unit=unit, time=time, first_treated=first_treated,
                         ref=ref, cluster=cluster, method=method)
    if as_json:
        out.print_json(data=result.as_dict())
        return
    name = "Sun–Abraham" if method == "sun-abraham" else "TWFE"
    table = Table(title=f"Event study ({name}), reference event time {result.reference}")
    for col in ("event time", "estimate", "SE"):
        table.add_column(col, justify="right")
    for e, b, s in result.coefficients:
        table.add_row(str(e), f"{b:.4g}", f"{s:.4g}")
    out.print(table)


@evaluate_app.command("bacon")
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

    result = bacon_decomposition(_read_table(data), outcome=outcome, unit=unit, time=time, treated=treated)
    if as_json:
        out.print_json(data=result.as_dict())
        return
    table = Table(title=f"Goodman-Bacon decomposition (TWFE {result.twfe:.4g})")
    for col in ("comparison", "treated", "control", "weight", "estimate"):
        table.add_column(col, justify="left" if col == "comparison" else "right")
    for c in result.components:
        table.add_row(c.type, f"{c.treated_group:g}", "never" if c.control_group is None else f"{c.control_group:g}",
                      f"{c.weight:.3f}", f"{c.estimate:.4g}")
    out.print(table)


@evaluate_app.command("impact")
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

    result = net_impact(_read_table(data), outcome=outcome, treatment=treatment,
                        covariates=covariates.split(",") if covariates else [], method=method, estimand=estimand)
    if as_json:
        out.print_json(data=result.as_dict())
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


@evaluate_app.command("rollout")
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
    as_json: JsonOpt = False,
) -> None:
    """Did IES change outcomes? Staggered DiD over the phased rollout, with synthetic controls."""
    from esmonitor.evaluation.rollout import evaluate_rollout_on
    from esmonitor.indicators.engine import frames_from

    with Warehouse(warehouse, read_only=True) as w, console.status("Evaluating the rollout…"):
        frames = frames_from(w, _parse_date(as_of))
        result = evaluate_rollout_on(w, frames, indicator=indicator, level=level, method=method, draws=draws,
                                     permutations=permutations, seed=seed)
    data = result.as_dict()
    if as_json:
        out.print_json(data=data)
        return
    _print_rollout(data)


def _print_rollout(data: dict[str, Any]) -> None:
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


@evaluate_app.command("providers")
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
        result = rate_providers(_read_table(data), outcome=outcome, provider=provider,
                                covariates=covariates.split(",") if covariates else (), cutoffs=(inner, outer))
    else:
        from esmonitor.evaluation.providers import creaming_diagnostics, provider_inputs
        from esmonitor.indicators.engine import frames_from

        policy = _policy(audience)
        if creaming and policy.audience.is_public:
            policy.require("provider", "the creaming diagnostics (counts by provider and period)")
        with Warehouse(warehouse, read_only=True) as w, console.status("Rating providers…"):
            scope = policy.scope(w)
            frames = frames_from(w, needed=["client", "referral"])
            table = provider_inputs(frames, _unemployment_monthly(w))
            if table.is_empty():
                raise UserInputError("no client in the warehouse has an action plan a year old or more to rate on")
            result = rate_providers(table, outcome=SYSTEM_OUTCOME, provider="provider_id",
                                    covariates=SYSTEM_COVARIATES, cutoffs=(inner, outer))
            if creaming:
                scoped = frames if scope.column is None else frames.only(scope.column, sorted(scope.values))
                creaming_diagnostics(scoped).write_csv(creaming)
                console.print(f"Wrote creaming diagnostics to {creaming}")
        if policy.audience.tier not in ("province", "admin"):
            result = _ratings_for(result, table, scope, min_count)
    if as_json:
        out.print_json(data=result.as_dict())
        return
    _print_providers(result)


def _ratings_for(result: Any, clients: Any, scope: Any, min_count: float) -> Any:
    from esmonitor.evaluation.providers import ratings_for

    kept, withheld = ratings_for(result, clients, scope.column, scope.values, min_count)
    if withheld:
        console.print(f"{withheld} provider rating(s) withheld: fewer than {min_count:g} clients on one side "
                      "of the outcome")
    return kept


def _unemployment_monthly(w: Warehouse) -> Any:
    from esmonitor.evaluation.providers import unemployment_monthly

    return unemployment_monthly(w)


def _print_providers(result: Any) -> None:
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


# -- voices ---------------------------------------------------------------------------------------
voices_app = typer.Typer(help="Stakeholder voices: open answers (redaction, themes, codes, safe quotes).",
                         no_args_is_help=True)
app.add_typer(voices_app, name="voices")
AnswersArg = Annotated[Path, typer.Argument(help="Answers (.csv or .parquet), one row per answer.")]
TextOpt = Annotated[str, typer.Option("--text", help="Column of open answers.")]
LanguageOpt = Annotated[str, typer.Option(help="en, fr, or auto (detected per answer).")]
GroupOpt = Annotated[str, typer.Option(help="Columns a quote is attributed to (safe-quote groups).")]
EmployersOpt = Annotated[Path | None, typer.Option(help="Text file of employer names to redact, one per line.")]


def _answers(path: Path, text: str) -> Any:
    frame = _read_table(path)  # (the warehouse's answers come already redacted and in this shape)
    if text not in frame.columns:
        raise UserInputError(f"{path}: no column {text!r}", hint=f"columns are: {', '.join(frame.columns)}")
    return frame


def _redactor(employers: Path | None) -> Any:
    from esmonitor.voices.redact import Redactor

    if employers is None:
        return Redactor()
    if not employers.exists():
        raise UserInputError(f"{employers}: file not found")
    return Redactor(employers=employers.read_text("utf-8").splitlines())


def _languages(texts: list[str | None], language: str) -> list[str]:
    from esmonitor.voices.language import detect

    if language == "auto":
        return detect(texts)
    if language not in ("en", "fr"):
        raise UserInputError(f"unknown language {language!r}", hint="en, fr or auto")
    return [language] * len(texts)


def run_voices_ingest(warehouse: Path, paths: list[Path], instrument: str | None, wave: str | None,
                      key_file: Path | None) -> list[Any]:
    """Survey exports into the warehouse. A folder written by ``esmonitor synth`` (with its
    manifest) says each file's role and wave; otherwise --instrument and --wave do."""
    from esmonitor.voices.instruments import ROLES, builtin, read_xlsform
    from esmonitor.voices.redact import Redactor
    from esmonitor.voices.responses import ingest_responses

    jobs: list[tuple[Path, Any, str]] = []
    for p in paths:
        manifest = p / "manifest.json" if p.is_dir() else None
        if manifest is not None and manifest.exists() and instrument is None:
            described = json.loads(manifest.read_text("utf-8")).get("files", {})
            jobs += [(p / name, builtin(info["role"]), info["wave"]) for name, info in sorted(described.items())]
            continue
        files = sorted(q for q in p.iterdir() if q.suffix.lower() in (".csv", ".xlsx")) if p.is_dir() else [p]
        if instrument is None or wave is None:
            raise UserInputError(f"{p}: say which instrument and wave the responses answer",
                                 hint=f"--instrument {'|'.join(ROLES)} or an XLSForm file, and --wave")
        form = builtin(instrument) if instrument in ROLES else read_xlsform(Path(instrument))
        jobs += [(f, form, wave) for f in files]
    if not jobs:
        raise UserInputError("no survey exports found")
    pseudonymizer = Pseudonymizer(load_or_create_key(key_file))
    redactor = Redactor()
    reports = []
    with Warehouse(warehouse) as w, _progress() as progress:
        task = progress.add_task("Ingesting responses", total=len(jobs))
        for path, form, wave_label in jobs:
            progress.update(task, description=f"Ingesting {path.name}")
            reports.append(ingest_responses(w, path, form, pseudonymizer, wave_label, redactor))
            progress.advance(task)
    return reports


def _print_voices_reports(reports: list[Any]) -> None:
    table = Table(title="Survey responses")
    for col in ("file", "format", "rows", "loaded", "already stored", "answers", "quarantined"):
        table.add_column(col, justify="left" if col in ("file", "format") else "right")
    for r in reports:
        table.add_row(Path(r.file).name, r.format + (" (skipped: seen)" if r.skipped else ""), f"{r.rows_read:,}",
                      f"{r.responses_loaded:,}", f"{r.responses_already_stored:,}", f"{r.answers_loaded:,}",
                      f"{r.problems:,}")
    out.print(table)


@voices_app.command("ingest")
@user_errors
def voices_ingest(
    warehouse: WarehouseOpt,
    paths: Annotated[list[Path], typer.Argument(help="Survey exports (.csv, .xlsx) or folders of them.")],
    instrument: Annotated[str | None, typer.Option(help="esp_staff, ssm_staff, job_seeker, employer, or an "
                                                        "XLSForm file.")] = None,
    wave: Annotated[str | None, typer.Option(help="The survey wave the responses belong to, e.g. 2025.")] = None,
    key_file: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load KoboToolbox (CSV, XLSX) and LimeSurvey (CSV) exports: validated, bad answers to the
    quarantine, respondents pseudonymized, open answers redacted, files and responses once only."""
    reports = run_voices_ingest(warehouse, paths, instrument, wave, key_file)
    if as_json:
        out.print_json(data={"files": [r.as_dict() for r in reports]})
        return
    _print_voices_reports(reports)


@voices_app.command("summary")
@user_errors
def voices_summary(
    warehouse: WarehouseOpt,
    by: Annotated[str, typer.Option(help="Groups: any of wave, role, catchment_id, phase, rollout (prototype or "
                                         "later), francophone, indigenous, disability.")] = "wave",
    role: Annotated[str | None, typer.Option(help="Only this role's responses.")] = None,
    population: Annotated[Path | None, typer.Option(
        help="CSV of catchment_id,population to weight responses to (post-stratification).")] = None,
    compare_groups: Annotated[str | None, typer.Option(
        "--compare", help="COLUMN:FIRST,SECOND — difference in means for every question (Welch).")] = None,
    audience: AudienceOpt = None,
    min_count: MinCountOpt = 10,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write the table (.csv or .parquet).")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Closed questions: distribution, mean and share agreeing with 95 % intervals, by group."""
    import polars as pl

    from esmonitor.voices.closed import answers_frame, compare, likert_summary, poststratify, protect_summary

    policy = _policy(audience)
    groups = [g for g in by.split(",") if g]
    allowed = ("wave", "role", "catchment_id", "phase", "rollout", "francophone", "indigenous", "disability")
    unknown = [g for g in groups if g not in allowed]
    if unknown:
        raise UserInputError(f"cannot group by {', '.join(unknown)}", hint=", ".join(allowed))
    with Warehouse(warehouse, read_only=True) as w:
        scope = policy.scope(w)
        frame = answers_frame(w)
    if frame.is_empty():
        raise UserInputError("the warehouse holds no survey responses", hint="esmonitor voices ingest EXPORTS")
    if role:
        frame = frame.filter(pl.col("role") == role)
    if scope.column == "catchment_id":
        frame = frame.filter(pl.col("catchment_id").is_in(sorted(scope.values)))
    elif scope.column is not None:
        policy.require("ssm", "survey results (responses are tied to catchments, not providers)")
    weighted = population is not None
    if population is not None:
        table = _read_table(population)
        try:
            frame = poststratify(frame, {str(r[0]): float(r[1]) for r in table.select(
                "catchment_id", "population").iter_rows()})
        except (ValueError, pl.exceptions.ColumnNotFoundError) as err:
            raise UserInputError(f"{population}: {err}", hint="columns catchment_id,population") from None
    summary = likert_summary(frame, by=groups, weighted=weighted)
    if policy.needs_disclosure_control:
        summary = protect_summary(summary, by=groups, min_count=min_count)
    comparisons = []
    if compare_groups:
        column, _, pair = compare_groups.partition(":")
        first, _, second = pair.partition(",")
        if column not in frame.columns or not second:
            raise UserInputError(f"--compare {compare_groups!r} must look like wave:2023,2025")
        for question in sorted(summary["question"].unique().to_list()):
            try:
                comparisons.append({"question": question, **compare(frame, question, column, first, second)})
            except ValueError:
                continue
        if policy.needs_disclosure_control:
            comparisons = [c for c in comparisons if min(c["n_first"], c["n_second"]) >= min_count]
    if out_file is not None:
        _write_frame(summary, out_file)
    if as_json:
        out.print_json(json.dumps({"summary": summary.to_dicts(), "comparisons": comparisons}, default=str))
        return
    shown = Table(title=f"Closed questions by {', '.join(groups)}" + (" (weighted)" if weighted else ""))
    for col in ("question", *groups, "n", "mean (95 % CI)", "agree (95 % CI)"):
        shown.add_column(col)
    for r in summary.iter_rows(named=True):
        mean = "suppressed" if r["mean"] is None else f"{r['mean']:.2f} ({r['mean_low']:.2f}–{r['mean_high']:.2f})"
        agree = "" if r["agree"] is None else f"{100 * r['agree']:.0f} % ({100 * r['agree_low']:.0f}–" \
                                             f"{100 * r['agree_high']:.0f})"
        shown.add_row(r["question"], *[str(r[g]) for g in groups], "" if r["n"] is None else f"{r['n']:,}", mean,
                      agree)
    out.print(shown)
    for c in comparisons:
        out.print(f"{c['question']}: {second} − {first} = {c['difference']:+.2f} "
                  f"(95 % CI {c['low']:+.2f} to {c['high']:+.2f}; p = {c['p_value']:.3g})")


@voices_app.command("redact")
@user_errors
def voices_redact(
    data: AnswersArg, text: TextOpt, out_file: Annotated[Path, typer.Option("--out", "-o", help="Write here.")],
    employers: EmployersOpt = None,
) -> None:
    """Remove names, e-mails, phone numbers, SINs, health card and case numbers, addresses and
    postal codes (and listed employers) from a column of answers; add each answer's language."""
    import polars as pl

    frame = _answers(data, text)
    redactor = _redactor(employers)
    texts = frame[text].cast(pl.String).to_list()
    with _progress() as progress:
        task = progress.add_task("Redacting", total=len(texts))
        clean = []
        for t in texts:
            clean.append(None if t is None else redactor.redact(t))
            progress.advance(task)
    result = frame.with_columns(pl.Series(text, clean, dtype=pl.String),
                                pl.Series("language", _languages(clean, "auto"), dtype=pl.String))
    _write_frame(result, out_file)
    changed = sum(a != b for a, b in zip(texts, clean, strict=True))
    console.print(f"Wrote {result.height:,} answers to {out_file}; {changed:,} had something redacted")


@voices_app.command("themes")
@user_errors
def voices_themes(
    warehouse: WarehouseOpt,
    data: Annotated[Path | None, typer.Argument(
        help="Answers (.csv or .parquet). Without it: the open answers in the warehouse.")] = None,
    text: Annotated[str, typer.Option("--text", help="Column of open answers (with DATA).")] = "answer",
    language: LanguageOpt = "auto",
    themes: Annotated[int | None, typer.Option("--themes", help="Number of themes (default: chosen).", min=2)] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same themes.")] = 0,
    group: GroupOpt = "role,catchment_id,wave",
    min_count: MinCountOpt = 10,
    employers: EmployersOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Themes in open answers, per language: label, keywords, size by group, and representative
    quotes (redacted, and only from groups of at least K respondents)."""
    import polars as pl

    from esmonitor.voices.quotes import quoted_themes

    if data is None:
        frame, text, source = _open_answers(warehouse), "answer", warehouse
    else:
        frame, source = _answers(data, text), data
    frame = frame.filter(pl.col(text).is_not_null())
    redactor = _redactor(employers)
    clean = [redactor.redact(t) for t in frame[text].cast(pl.String).to_list()]
    frame = frame.with_columns(pl.Series(text, clean, dtype=pl.String),
                               pl.Series("_language", _languages(clean, language), dtype=pl.String))
    groups = [g for g in group.split(",") if g]
    missing = [g for g in groups if g not in frame.columns]
    if missing:
        raise UserInputError(f"{source}: no column {', '.join(map(repr, missing))} for --group",
                             hint="name the columns a quote is attributed to, e.g. --group role,catchment_id,wave")
    report = {"languages": quoted_themes(frame, text=text, language="_language", group=groups,
                                         min_count=int(min_count), n_themes=themes, seed=seed, redactor=redactor)}
    if as_json:
        out.print_json(json.dumps(report, default=str, ensure_ascii=False))
        return
    for lang, block in report["languages"].items():
        table = Table(title=f"Themes, {lang} ({block['answers']:,} answers)")
        for col in ("theme", "answers", "keywords", "a quote"):
            table.add_column(col)
        for e in block["themes"]:
            table.add_row(e["label"], f"{e['size']:,}", ", ".join(e["keywords"][3:8]), (e["quotes"] or ["-"])[0])
        out.print(table)


def _open_answers(warehouse: Path) -> Any:
    """The warehouse's open answers (stored redacted) with their role, catchment and wave."""
    from esmonitor.voices.responses import open_answers

    with Warehouse(warehouse, read_only=True) as w:
        frame = open_answers(w)
    if frame.is_empty():
        raise UserInputError("the warehouse holds no open answers", hint="esmonitor voices ingest EXPORTS")
    return frame


@voices_app.command("code")
@user_errors
def voices_code(
    data: AnswersArg, text: TextOpt,
    codes: Annotated[str, typer.Option(help="Column of an analyst's codes (empty where not coded).")],
    second: Annotated[str | None, typer.Option(help="Column of a second analyst's codes, for agreement.")] = None,
    language: LanguageOpt = "auto",
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write the answers with suggested codes.")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """The codebook workflow: agreement between coders and between the model and the coders
    (Cohen's kappa), and a suggested code for every answer not yet coded."""
    import polars as pl

    from esmonitor.voices.themes import cohen_kappa, model_agreement, suggest_codes

    frame = _answers(data, text)
    for column in (codes, second):
        if column is not None and column not in frame.columns:
            raise UserInputError(f"{data}: no column {column!r}")
    texts = frame[text].cast(pl.String).fill_null("").to_list()
    langs = _languages(texts, language)
    main_language = max(set(langs) - {"und"} or {"en"}, key=langs.count)
    given = frame[codes].cast(pl.String).to_list()
    coded = {i: c for i, c in enumerate(given) if c}
    report: dict[str, Any] = {"coded": len(coded), "answers": len(texts)}
    if second is not None:
        other = frame[second].cast(pl.String).to_list()
        both = [i for i in coded if other[i]]
        if not both:
            raise UserInputError("no answer was coded by both analysts")
        report["kappa_between_coders"] = cohen_kappa([given[i] for i in both], [other[i] for i in both])
        report["double_coded"] = len(both)
    report["kappa_model_vs_coder"] = model_agreement(texts, coded, main_language)
    suggested = suggest_codes(texts, coded, main_language)
    if out_file is not None:
        _write_frame(frame.with_columns(pl.Series("suggested_code", suggested, dtype=pl.String)), out_file)
    if as_json:
        out.print_json(data=report)
        return
    for key, value in report.items():
        out.print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value:,}")
    if out_file is not None:
        console.print(f"Wrote suggestions to {out_file}")


@voices_app.command("quotes")
@user_errors
def voices_quotes(
    data: AnswersArg, text: TextOpt, group: GroupOpt = "role,catchment_id,wave", min_count: MinCountOpt = 10,
    employers: EmployersOpt = None,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write the quotes (.csv or .parquet).")]
    = None,
) -> None:
    """Answers that may be quoted: redacted, from groups of at least K respondents."""
    from esmonitor.voices.quotes import safe_quotes

    frame = _answers(data, text)
    groups = [g for g in group.split(",") if g]
    try:
        quotes = safe_quotes(frame, text=text, group=groups, min_count=int(min_count), redactor=_redactor(employers))
    except ValueError as err:
        raise UserInputError(f"{data}: {err}") from None
    if out_file is not None:
        _write_frame(quotes, out_file)
        console.print(f"Wrote {quotes.height:,} quotable answers of {frame.height:,} to {out_file}")
    else:
        for row in quotes.head(20).iter_rows(named=True):
            out.print(f"[{', '.join(str(row[g]) for g in groups)}; n = {row['group_size']}] {row['quote']}")
        console.print(f"{quotes.height:,} quotable answers of {frame.height:,}")


# -- funding ----------------------------------------------------------------------------------------
funding_app = typer.Typer(help="Funding models: what the rules pay, what they reward, and what-if scenarios.",
                          no_args_is_help=True)
app.add_typer(funding_app, name="funding")
ModelOpt = Annotated[str, typer.Option("--model", help="ies (default), uk_work_programme, wioa_targets, or a "
                                                        "model file (.toml).")]
FundingByOpt = Annotated[str, typer.Option("--by", help="Breakdown: ssm_id, catchment_id, provider_id, stream, "
                                                        "fiscal_year (comma-separated).")]


def _funding_frames(warehouse: Path, policy: Any) -> Any:
    from esmonitor.indicators.engine import frames_from

    with Warehouse(warehouse, read_only=True) as w:
        scope = policy.scope(w)
        frames = frames_from(w, needed=["outcome", "client"])
    return frames if scope.column is None else frames.only(scope.column, sorted(scope.values))


def _local_share(warehouse: Path, frames: Any, result: Any) -> Any:
    """The share of each catchment's payments owed to its local unemployment, or None when the
    warehouse has too few mature plans to fit the risk adjustment."""
    from esmonitor.evaluation.providers import provider_inputs
    from esmonitor.funding.report import local_labour_market_share

    with Warehouse(warehouse, read_only=True) as w:
        monthly = _unemployment_monthly(w)
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


def _public_totals(table: Any, groups: list[str], min_count: float) -> Any:
    from esmonitor.disclosure.release import protect_totals

    return protect_totals(table, groups, "checkpoints", min_count)


@funding_app.command("report")
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

    from esmonitor.funding.model import load_model
    from esmonitor.funding.payments import pay
    from esmonitor.funding.report import creaming_gap, creaming_watch, funding_inputs, incentives, mix_shift

    policy = _policy(audience)
    if trail is not None:
        policy.require_records("the payment trail (one row per client checkpoint)")
    groups = _funding_by(by)
    frames = _funding_frames(warehouse, policy)
    outcomes, served, starts = funding_inputs(frames)
    result = pay(outcomes, load_model(model), starts)
    rewards = incentives(result, served)
    totals = result.totals(groups)
    shift = mix_shift(served, rewards)
    if policy.needs_disclosure_control and shift.height:
        shift = shift.filter(pl.col("clients") >= min_count)
    # the risk adjustment is fitted on every client: not for one provider's or SSM's subset
    local = _local_share(warehouse, frames, result) if policy.audience.tier in ("public", "province", "admin") \
        else None
    watch = creaming_watch(served, rewards, starts) if rewards.height == 3 else pl.DataFrame()
    if policy.needs_disclosure_control:
        totals = _public_totals(totals, groups, min_count)
    if trail is not None:
        _write_frame(result.trail, trail)
    gap = creaming_gap(rewards) if rewards.height == 3 else None
    if as_json:
        out.print_json(json.dumps({"model": {"id": result.model.id, "version": result.model.version},
                                   "totals": totals.to_dicts(), "envelopes": result.envelopes.to_dicts(),
                                   "per_client_by_stream": rewards.to_dicts(), "creaming_gap": gap,
                                   "mix_shift_to_a": shift.to_dicts(),
                                   "local_unemployment": local.to_dicts() if local is not None else None,
                                   "creaming_watch": watch.to_dicts()},
                                  default=str))
        return
    table = Table(title=f"{result.model.name_en} ({result.model.id} {result.model.version}): payments by "
                        f"{', '.join(groups)}")
    for col in totals.columns:
        table.add_column(col, justify="right" if col in ("earned", "paid", "checkpoints") else "left")
    for row in totals.iter_rows():
        table.add_row(*["suppressed" if v is None else f"{v:,.0f}" if isinstance(v, float) else str(v) for v in row])
    out.print(table)
    shown = Table(title="Expected payment per client served, by stream (95 % interval)")
    for col in ("stream", "clients", "per client", "interval"):
        shown.add_column(col)
    for r in rewards.iter_rows(named=True):
        shown.add_row(r["stream"], f"{r['clients']:,}", f"${r['per_client']:,.2f}",
                      f"${r['low']:,.2f}–${r['high']:,.2f}")
    out.print(shown)
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


@funding_app.command("simulate")
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

    from esmonitor.funding.model import load_model
    from esmonitor.funding.report import compare, creaming_gap, flat, run

    policy = _policy(audience)
    frames = _funding_frames(warehouse, policy)
    first = load_model(model)
    second = load_model(vs) if vs else flat(first)
    a, rewards_a = run(frames, first)
    b, rewards_b = run(frames, second)
    table = compare(a, b, _funding_by(by))
    if policy.needs_disclosure_control:  # the same protection as the report's totals
        groups = _funding_by(by)
        counts = a.totals(groups).select(*groups, "checkpoints")
        table = _public_totals(table.join(counts, on=groups, how="left").with_columns(
            pl.col("checkpoints").fill_null(0)), groups, min_count).drop("checkpoints", "status")
    gaps = {m.id: creaming_gap(r) for m, r in ((first, rewards_a), (second, rewards_b)) if r.height == 3}
    if as_json:
        out.print_json(json.dumps({"models": [first.id, second.id], "difference": table.to_dicts(),
                                   "creaming_gap": gaps}, default=str))
        return
    shown = Table(title=f"{second.id} against {first.id}, by {by}")
    for col in table.columns:
        shown.add_column(col)
    for row in table.iter_rows():
        shown.add_row(*["suppressed" if v is None else f"{v:,.0f}" if isinstance(v, float) else str(v) for v in row])
    out.print(shown)
    for name, gap in gaps.items():
        out.print(f"Creaming gap under {name}: ${gap['gap']:,.2f} (95 % CI ${gap['low']:,.2f} to ${gap['high']:,.2f})")


# -- data model -------------------------------------------------------------------------------
# -- disclosure control -------------------------------------------------------------------------
TableArg = Annotated[Path, typer.Argument(help="Table of cells (.csv or .parquet).")]
DimsOpt = Annotated[str, typer.Option("--dims", help="Comma-separated dimension columns, e.g. catchment,stream.")]
HierarchyOpt = Annotated[list[str] | None, typer.Option(
    "--hierarchy", help="PARENT:CHILD (repeatable, chains allowed: catchment:provider:site). The parent "
                        "column is added as a level of the child's dimension.")]
ValueOpt = Annotated[str, typer.Option("--value", help="Column of counts.")]


def _dims(text: str) -> list[str]:
    dims = [d.strip() for d in text.split(",") if d.strip()]
    if not dims:
        raise UserInputError("--dims needs at least one column")
    return dims


@app.command()
@user_errors
def disclose(
    table: TableArg,
    dims: DimsOpt,
    value: ValueOpt,
    hierarchy: HierarchyOpt = None,
    min_count: MinCountOpt = 10,
    publish_zeros: PublishZerosOpt = False,
    cost: Annotated[str, typer.Option(help="What to lose least of: value (cells weighted by their count) "
                                           "or cells.")] = "value",
    method: Annotated[str, typer.Option(help="hypercube (fast, each choice proven) or linear-programming.")]
    = "hypercube",
    mask: Annotated[bool, typer.Option("--mask", help="Empty the value of every suppressed cell (the "
                                                      "version to publish).")] = False,
    top1: Annotated[str | None, typer.Option(help="A table of sums (e.g. earnings): column of each interior "
                                                  "cell's largest single contribution (dominance rule).")] = None,
    top2: Annotated[str | None, typer.Option(help="Column of each cell's second-largest contribution.")] = None,
    contributors: Annotated[str | None, typer.Option(help="A table of sums: column counting the contributors "
                                                          "(fewer than K: primary).")] = None,
    dominance: Annotated[str, typer.Option(help="The (n, k) rule for sums: primary when the n largest "
                                                "contributions exceed k of the cell.")] = "2,0.85",
    protection: Annotated[float, typer.Option(help="A table of sums: no hidden cell may be estimated within "
                                                   "this share of its value either way.")] = 0.10,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write the cells (.csv or .parquet).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Protect a table of interior counts: add every margin (and hierarchy level), then mark each
    cell published, primary (0 < n < K) or secondary (hidden so that no primary cell can be
    narrowed below K by anyone who knows the published cells). With --top1 the table holds sums
    (earnings) and the dominance rule decides the primary cells."""
    import polars as pl

    from esmonitor.disclosure.release import disclose_frame

    started = time.perf_counter()
    try:
        n_text, _, k_text = dominance.partition(",")
        rule = (int(n_text), float(k_text))
    except ValueError:
        raise UserInputError(f"--dominance {dominance!r} must look like N,K (e.g. 2,0.85)") from None
    try:
        result = disclose_frame(_read_table(table), _dims(dims), value, hierarchy or [], min_count=min_count,
                                publish_zeros=publish_zeros, cost=cost, method=method, top1=top1, top2=top2,
                                contributors=contributors, dominance=rule, protection=protection)
    except UserInputError as err:
        raise _in_file(table, err) from None
    cells = result.cells
    if mask:
        cells = cells.with_columns(pl.when(pl.col("status") == "published").then(pl.col("value")).alias("value"))
    if out_file is not None:
        _write_frame(cells, out_file)
    loss = result.information_loss
    if as_json:
        out.print_json(json.dumps({"cells": cells.to_dicts(), "information_loss": loss,
                                   "min_count": min_count}, default=str))
        return
    shown = Table(title=f"{table.name}: {loss['cells']:,} cells with margins, K = {min_count:g}")
    for col in ("", "cells", "value"):
        shown.add_column(col, justify="right" if col else "left")
    shown.add_row("primary", f"{loss['primary_cells']:,}", f"{loss['suppressed_value'] - loss['secondary_value']:,.0f}")
    shown.add_row("secondary", f"{loss['secondary_cells']:,}", f"{loss['secondary_value']:,.0f}")
    shown.add_row("published", f"{loss['cells'] - loss['suppressed_cells']:,}",
                  f"{loss['total_value'] - loss['suppressed_value']:,.0f}")
    out.print(shown)
    console.print(f"{result.protection.hypercubes} primary cells protected by a proven hypercube, "
                  f"{result.protection.linear_programs} by linear programming; "
                  f"{time.perf_counter() - started:.1f} s")
    if out_file is not None:
        console.print(f"Wrote {cells.height:,} cells to {out_file}")
    elif cells.height <= 60:
        listing = Table()
        for col in cells.columns:
            listing.add_column(col)
        for row in cells.iter_rows():
            listing.add_row(*["" if v is None else f"{v:g}" if isinstance(v, float) else str(v) for v in row])
        out.print(listing)
    else:
        console.print("Use --out FILE or --json for the cells.")


def _in_file(path: Path, err: UserInputError) -> UserInputError:
    text = str(err)
    return err if text.startswith(str(path)) else UserInputError(f"{path}: {text}", hint=err.hint)


def _write_frame(frame: Any, path: Path) -> None:
    if path.suffix.lower() == ".parquet":
        frame.write_parquet(path)
    elif path.suffix.lower() == ".csv":
        frame.write_csv(path)
    else:
        raise UserInputError(f"{path}: unsupported file type {path.suffix!r}", hint="use .csv or .parquet")


@app.command("disclosure-audit")
@user_errors
def disclosure_audit(
    table: Annotated[Path, typer.Argument(help="A published table with its margins (.csv or .parquet): "
                                               "Total in a dimension column marks a margin, an empty "
                                               "value a suppressed cell.")],
    dims: DimsOpt,
    value: ValueOpt,
    hierarchy: HierarchyOpt = None,
    status: Annotated[str | None, typer.Option(help="Column of statuses (published, primary, secondary): "
                                                     "only cells not 'published' are unknown, and only "
                                                     "primary cells must stay K wide.")] = None,
    min_count: MinCountOpt = 10,
    as_json: JsonOpt = False,
) -> None:
    """Attack a published table: each suppressed cell's interval of values consistent with every
    published number (linear programming). Exit code 1 if any cell is narrowed below K."""
    from esmonitor.disclosure.release import audit_frame

    try:
        found = audit_frame(_read_table(table), _dims(dims), value, hierarchy or [], status=status,
                            min_count=min_count)
    except UserInputError as err:
        raise _in_file(table, err) from None
    exposed = int(found["exposed"].sum()) if found.height else 0
    if as_json:
        out.print_json(json.dumps({"cells": found.to_dicts(), "exposed": exposed, "min_count": min_count}))
    else:
        shown = Table(title=f"{table.name}: {found.height:,} suppressed cells, {exposed:,} narrowed below "
                            f"{min_count:g}")
        for col in found.columns:
            shown.add_column(col)
        for row in found.sort("width").head(40).iter_rows():
            shown.add_row(*["-" if v is None else f"{v:g}" if isinstance(v, float) else str(v) for v in row])
        out.print(shown)
    if exposed:
        console.print(f"[bold red]{exposed} suppressed cell(s) can be narrowed below {min_count:g}[/]")
        raise typer.Exit(1)


@app.command("data-model")
@user_errors
def data_model(
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write Markdown here instead of stdout.")] = None,
    check: Annotated[bool, typer.Option(help="Exit 1 if --out differs from the code's model.")] = False,
) -> None:
    """Print the canonical data model as Markdown (source of docs/data-model.md)."""
    from esmonitor.model.docs import render_markdown

    text = render_markdown()
    if out_file is None:
        sys.stdout.write(text)
        return
    if check:
        current = out_file.read_text("utf-8") if out_file.exists() else ""
        if current != text:
            console.print(f"[red]{out_file} is out of date[/]; run: esmonitor data-model --out {out_file}")
            raise typer.Exit(1)
        console.print(f"{out_file} is up to date")
        return
    out_file.write_text(text, "utf-8")
    console.print(f"Wrote {out_file}")


# -- report -----------------------------------------------------------------------------------
@app.command("report")
@user_errors
def report_cmd(
    warehouse: WarehouseOpt,
    audience: AudienceOpt = None,
    lang: Annotated[str, typer.Option("--lang", help="en, fr or en,fr (both editions).")] = "en,fr",
    period: Annotated[str | None, typer.Option(
        help="Fiscal year (FY2024-25) or quarter (2025Q3) reported on. Default: the latest complete fiscal "
             "year.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="html, pdf or html,pdf.")] = "html,pdf",
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("report"),
    commentary: Annotated[Path | None, typer.Option(
        help="The analyst's commentary and recommendations (text with '# section' headings; NAME.fr.txt "
             "next to it serves the French edition).")] = None,
    min_count: MinCountOpt = 10,
) -> None:
    """The monitoring report: findings, access, outcomes, gaps, the rollout's impact, providers,
    funding, voices and data quality, as one self-contained HTML file and a PDF, in English and
    French. The public edition holds only disclosure-controlled figures."""
    from esmonitor.report.evidence import gather
    from esmonitor.report.publish import write_reports

    policy = _policy(audience)
    languages = tuple(x.strip() for x in lang.split(",") if x.strip())
    formats = tuple(x.strip().lower() for x in fmt.split(",") if x.strip())
    started = time.perf_counter()
    with console.status("Gathering the evidence…") as status:
        def step(message: str) -> None:
            status.update(f"{message}…")
            console.print(f"[dim]{time.perf_counter() - started:5.1f} s[/] {message}")

        evidence = gather(warehouse, policy, period, int(min_count), progress=step)
        if commentary is not None and not commentary.exists():
            raise UserInputError(f"{commentary}: no such commentary file")
        written = write_reports(evidence, out_dir, languages, formats, commentary, progress=step)
    table = Table(title=f"Monitoring report, {evidence.period} ({policy.audience})")
    for col in ("file", "language", "size", "seconds"):
        table.add_column(col, justify="left" if col == "file" else "right")
    for w in written:
        table.add_row(str(w.path), w.lang, f"{w.bytes / 1024:,.0f} KiB", f"{w.seconds:.1f}")
    out.print(table)
    console.print(f"Report written in {time.perf_counter() - started:.0f} s.")


# -- demo -------------------------------------------------------------------------------------
@app.command()
@user_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("demo-output"),
    clients: Annotated[int, typer.Option(help="Number of synthetic clients.", min=100)] = 50_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2024,
    warehouse: Annotated[Path | None, typer.Option("--warehouse", "-w", envvar=WAREHOUSE_ENV,
                                                    help="Warehouse file (default: OUT/esmonitor.duckdb).")] = None,
    key_file: KeyOpt = None,
) -> None:
    """Synthetic province -> validated ingest -> summary, all into one folder."""
    started = time.perf_counter()
    warehouse = warehouse or out_dir / "esmonitor.duckdb"
    if warehouse.exists():
        with Warehouse(warehouse, read_only=True) as w:
            made_by_demo = w.meta("created_by") == "demo"
        if not made_by_demo:
            raise UserInputError(f"{warehouse} already holds data that the demo did not create",
                                 hint="pass another --warehouse or --out for the demo")
        for suffix in ("", ".wal"):
            Path(str(warehouse) + suffix).unlink(missing_ok=True)
    extracts = out_dir / "extracts"
    if extracts.exists():
        shutil.rmtree(extracts)
    console.rule("1. Synthetic province")
    _synth(extracts, clients, seed, dirty=True)
    console.rule("2. Validated ingest")
    with Warehouse(warehouse) as w:
        w.set_meta("created_by", "demo")
    reports = run_ingest(warehouse, [extracts], None, None, key_file or out_dir / "pseudonym.key")
    out.print(_report_table(reports))
    _print_problems(reports)
    (out_dir / "ingest-report.json").write_text(
        json.dumps({"files": [r.as_dict() for r in reports]}, indent=2, ensure_ascii=False), "utf-8")
    n = export_quarantine(warehouse, out_dir / "quarantine.csv")
    console.rule("3. Summary")
    from esmonitor.indicators.summary import summarise

    with Warehouse(warehouse, read_only=True) as w:
        data = summarise(w).as_dict()
    _print_summary(data)
    (out_dir / "summary.json").write_text(json.dumps(data, indent=2, default=str, ensure_ascii=False), "utf-8")
    console.rule("4. Indicators")
    from esmonitor.indicators.engine import compute_many, frames_from

    with Warehouse(warehouse, read_only=True) as w:
        frames = frames_from(w)
    province = compute_many(frames, grain="fiscal_year")
    province.write_csv(out_dir / "indicators.csv")
    compute_many(frames, grain="fiscal_year", by=["catchment_id"]).write_csv(out_dir / "indicators-by-catchment.csv")
    from esmonitor.model.reference import fiscal_year_bounds

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
    console.rule("5. Evaluation: the rollout and the providers")
    _demo_evaluation(warehouse, out_dir)
    console.rule("6. Public release: disclosure control")
    _demo_public(frames, out_dir)
    console.rule("7. Voices: surveys of job seekers, providers, managers and employers")
    _demo_voices(warehouse, extracts / "voices", out_dir, key_file or out_dir / "pseudonym.key")
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
        f"  extracts:       {extracts} (ground truth in manifest.json)")


def _demo_report(warehouse: Path, out_dir: Path) -> None:
    from esmonitor.disclosure.access import Audience, Policy
    from esmonitor.report.evidence import gather
    from esmonitor.report.publish import write_reports

    with console.status("Writing the report…") as status:
        evidence = gather(warehouse, Policy(Audience("public")), progress=lambda m: status.update(f"{m}…"))
        written = write_reports(evidence, out_dir / "report", progress=lambda m: status.update(f"{m}…"))
    for w in written:
        out.print(f"{w.path}  ({w.bytes / 1024:,.0f} KiB, {w.seconds:.1f} s)")


def _demo_public(frames: Any, out_dir: Path, min_count: int = 10) -> None:
    """The indicators by catchment and fiscal year, with margins, as the public may see them."""
    from esmonitor.disclosure.release import public_indicators

    started = time.perf_counter()
    table = public_indicators(frames, by=["catchment_id"], grain="fiscal_year", min_count=min_count)
    (out_dir / "public").mkdir(exist_ok=True)
    table.write_csv(out_dir / "public" / "indicators-by-catchment.csv")
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

    from esmonitor.voices.closed import answers_frame, compare, likert_summary, protect_summary
    from esmonitor.voices.quotes import quoted_themes

    _print_voices_reports(run_voices_ingest(warehouse, [folder], None, None, key_file))
    with Warehouse(warehouse, read_only=True) as w:
        frame = answers_frame(w)
    summary = protect_summary(likert_summary(frame, by=["role", "wave"]), by=["role", "wave"], min_count=min_count)
    summary.write_csv(out_dir / "voices-summary.csv")
    seekers = frame.filter(pl.col("role") == "job_seeker")
    change = compare(seekers, "wait_ok", "wave", "2023", "2025")
    out.print(f"Job seekers seen quickly after referral (1-5): 2025 − 2023 = {change['difference']:+.2f} "
              f"(95 % CI {change['low']:+.2f} to {change['high']:+.2f})")
    answers = _open_answers(warehouse)
    answers = answers.with_columns(pl.Series("language", _languages(answers["answer"].to_list(), "auto")))
    found = quoted_themes(answers, min_count=min_count, seed=2024)
    report = {lang: [{k: t[k] for k in ("label", "keywords", "size", "quotes")} for t in block["themes"]]
              for lang, block in found.items()}
    for lang, block in found.items():
        out.print(f"Themes ({lang}, {block['answers']:,} answers): " + "; ".join(
            f"{t['label']} ({t['size']})" for t in block["themes"]))
    (out_dir / "voices-themes.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), "utf-8")


def _demo_funding(frames: Any, out_dir: Path) -> None:
    from esmonitor.funding.model import load_model
    from esmonitor.funding.report import compare, creaming_gap, flat, run

    model = load_model("ies")
    result, rewards = run(frames, model)
    flat_result, flat_rewards = run(frames, flat(model))
    by_stream = compare(result, flat_result, ["stream"])
    gaps = {"ies": creaming_gap(rewards), "ies_flat": creaming_gap(flat_rewards)}
    (out_dir / "funding.json").write_text(json.dumps({
        "model": {"id": model.id, "version": model.version}, "by_ssm_year": result.totals(["ssm_id", "fiscal_year"])
        .to_dicts(), "envelopes": result.envelopes.to_dicts(), "per_client_by_stream": rewards.to_dicts(),
        "creaming_gap": gaps, "flat_weights_by_stream": by_stream.to_dicts()}, indent=1, default=str), "utf-8")
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
                ratings = rate_providers(provider_inputs(frames, _unemployment_monthly(w)), outcome=SYSTEM_OUTCOME,
                                         provider="provider_id", covariates=SYSTEM_COVARIATES)
        except UserInputError as err:
            console.print(f"[yellow]Providers not rated:[/] {err}")
        creaming_diagnostics(frames).write_csv(out_dir / "creaming.csv")
    (out_dir / "rollout.json").write_text(
        json.dumps(rollout or {"skipped": "too little data for the rollout panel"}, indent=2, ensure_ascii=False),
        "utf-8")
    with Warehouse(warehouse) as w:  # kept for the report, with the data version they were computed on
        w.save_result("rollout", rollout or {"skipped": "too little data for the rollout panel"})
        w.save_result("providers", ratings.as_dict() if ratings else {"skipped": "too little data"})
    (out_dir / "providers.json").write_text(
        json.dumps(ratings.as_dict() if ratings else {"skipped": "too little data"}, indent=2, ensure_ascii=False),
        "utf-8")
    if rollout:
        _print_rollout(rollout)
    if ratings:
        stars = [p.stars for p in ratings.providers]
        out.print(f"Providers rated: {len(stars)}; "
                  + ", ".join(f"{stars.count(k)} with {'★' * k}" for k in range(1, 6))
                  + " (full table: esmonitor evaluate providers)")


if __name__ == "__main__":  # pragma: no cover
    app()
