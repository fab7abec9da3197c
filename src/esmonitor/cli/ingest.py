"""Getting data in and looking at it: ``synth``, ``ingest``, ``summary``, ``quarantine`` and
``data-model``."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from esmonitor.cli.common import (
    AudienceOpt,
    KeyOpt,
    WarehouseOpt,
    console,
    out,
    policy_for,
    progress,
    user_errors,
)
from esmonitor.cli.output import print_json, write_generated, write_json
from esmonitor.errors import EsmonitorError, UserInputError

if TYPE_CHECKING:
    from esmonitor.ingest.pipeline import FileReport


# -- synth ----------------------------------------------------------------------------------------
@user_errors
def synth(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the extract files into.")],
    clients: Annotated[int, typer.Option(help="Number of clients (job seekers).", min=100)] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same files.")] = 2024,
    dirty: Annotated[bool, typer.Option(
        "--dirty", help="Plant defects at known rates (recorded in manifest.json).")] = False,
) -> None:
    """Write a synthetic Ontario province as realistic extract files plus manifest.json."""
    write_synthetic(out_dir, clients, seed, dirty)


def write_synthetic(out_dir: Path, clients: int, seed: int, dirty: bool) -> dict[str, Any]:
    """The synthetic province and its survey exports, with a progress bar; the manifest."""
    import json
    import tempfile

    from esmonitor.synth import SynthConfig, generate, write_province
    from esmonitor.synth.loader import load_province
    from esmonitor.synth.releases import write_releases
    from esmonitor.synth.voices import write_voices
    from esmonitor.warehouse import Warehouse

    started = time.perf_counter()
    with progress() as bar:
        task = bar.add_task(f"Generating {clients:,} clients", total=13)
        province = generate(SynthConfig(clients=clients, seed=seed, dirty=dirty))
        bar.advance(task)

        def step(name: str) -> None:
            bar.update(task, description=f"Writing {name}", advance=1)

        manifest = write_province(province, out_dir, progress=step)
        bar.update(task, description="Writing survey exports")
        voices = write_voices(out_dir / "voices", seed)
        manifest["voices"] = {"folder": "voices", "files": voices["files"]}
        bar.update(task, description="Writing the published releases (FOI workbook, ES client outcomes)", advance=1)
        # the releases are counted from the province itself, loaded into a scratch warehouse
        with tempfile.TemporaryDirectory(prefix="esmonitor-synth-") as scratch, \
                Warehouse(Path(scratch) / "province.duckdb") as w:
            load_province(w, province)
            try:
                manifest["releases"] = write_releases(w, out_dir / "releases", province)
            except EsmonitorError as err:  # the extracts stand without them (known: the LP can fail at 50,000)
                manifest["releases"] = {"not_written": str(err)}
                console.print(f"[yellow]Warning[/] published releases not written: {escape(str(err))}")
        (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), "utf-8")
        bar.update(task, description="Synthetic province written", completed=13)
    rows: dict[str, int] = manifest["row_counts"]  # type: ignore[assignment]
    files: dict[str, str] = manifest["files"]  # type: ignore[assignment]
    console.print(f"Wrote {sum(rows.values()):,} rows in {len(files)} files to {out_dir} "
                  f"({time.perf_counter() - started:.1f} s); ground truth in {out_dir / 'manifest.json'}")
    return manifest


# -- ingest ---------------------------------------------------------------------------------------
def _expand(paths: list[Path]) -> tuple[list[Path], Path | None]:
    from esmonitor.ingest.sources import FORMATS

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


def report_table(reports: list[FileReport]) -> Table:
    """One row per ingested file: what was read, loaded and quarantined, and why."""
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
        counts = (r.rows_read, r.rows_loaded, r.rows_quarantined)
        if r.source_kind and r.status != "skipped_already_ingested":
            # a published table is loaded number by number: the counts are its numbers
            counts = (r.cells_read, r.cells_loaded, r.cells_quarantined)
            notes.insert(0, f"numbers in {r.rows_read:,} rows; {r.cells_suppressed:,} hidden by the source"
                         + (f"; notes kept from {', '.join(repr(n) for n in r.notes_sheets)}" if r.notes_sheets
                            else ""))
        table.add_row(escape(Path(r.path).name), r.entity or "?", *(f"{c:,}" for c in counts),
                      f"[{style}]{r.status}[/]", escape("; ".join(notes)))
    return table


def print_problems(reports: list[FileReport]) -> None:
    """Full-width lines for what the table may truncate: rejected files and dropped identifiers."""
    for r in reports:
        name = escape(Path(r.path).name)
        if r.status in ("rejected", "failed"):  # a message may hold [brackets]: shown as written
            console.print(f"[bold red]Rejected[/] {name}: {escape(r.message or '')}")
        if r.dropped_identifier_columns:
            console.print(f"[yellow]Warning[/] {name}: direct identifier column(s) "
                          f"{', '.join(r.dropped_identifier_columns)} dropped, never stored")
        if r.other_sheets and r.source_kind:
            console.print(f"[yellow]Note[/] {name}: sheets read: {escape(r.sheet or '')}; not read: "
                          f"{escape(', '.join(r.other_sheets))}")
        elif r.other_sheets:
            console.print(f"[yellow]Note[/] {name}: read sheet {r.sheet!r}; not read: "
                          f"{', '.join(repr(o) for o in r.other_sheets)} (choose with sheet = \"...\" in the "
                          "column map)")
        if r.ignored_columns:
            console.print(f"[dim]{name}: columns not in the data model, ignored: "
                          f"{', '.join(r.ignored_columns)}[/]")


def run_ingest(warehouse: Path, paths: list[Path], mapping: Path | None, entity: str | None,
               key_file: Path | None, source_kind: str | None = None) -> list[FileReport]:
    """Extract files (or folders of them) into the warehouse, with a progress bar."""
    from esmonitor.ingest.columns import load_mapping
    from esmonitor.ingest.pipeline import IngestOptions, ingest_files, pseudonymizer_for
    from esmonitor.voices.redact import Redactor
    from esmonitor.warehouse import Warehouse

    files, found_mapping = _expand(paths)
    redactor = Redactor()
    options = IngestOptions(mapping=load_mapping(mapping or found_mapping), entity=entity, source_kind=source_kind,
                            identifiers=lambda text: [(s.start, s.end, s.type) for s in redactor.spans(text)])
    with Warehouse(warehouse) as w, progress() as bar:
        pseudonymizer = pseudonymizer_for(w, key_file)
        task = bar.add_task("Ingesting", total=len(files))

        def step(name: str, what: str) -> None:
            bar.update(task, description=f"Ingesting {name} ({what})")

        reports = ingest_files(w, files, pseudonymizer, options, progress=step)
        bar.update(task, completed=len(files), description="Ingest finished")
    return reports


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
    audience: AudienceOpt = None,
    source_kind: Annotated[str | None, typer.Option(
        help="Read every file as this kind of published table: es_outcomes, foi_workbook, sa_caseload, statcan "
             "or generic (default: recognised from the headers).")] = None,
) -> None:
    """Validate and load extracts and published tables (ES client outcomes, FOI workbooks, caseloads,
    Statistics Canada tables); bad rows go to the quarantine table, never lost (province or admin:
    its accounting names every file's rejected rows)."""
    policy_for(audience).require("province", "loading data (its accounting names every file's rejected rows)")
    if source_kind is not None and source_kind not in ("es_outcomes", "foi_workbook", "sa_caseload", "statcan",
                                                        "generic"):
        raise UserInputError(f"unknown source kind {source_kind!r}",
                             hint="one of es_outcomes, foi_workbook, sa_caseload, statcan, generic")
    reports = run_ingest(warehouse, paths, mapping, entity, key_file, source_kind)
    payload = {"files": [r.as_dict() for r in reports]}
    report_path = report or warehouse.with_name(f"ingest-report-{time.strftime('%Y%m%dT%H%M%S')}.json")
    report_path.parent.mkdir(parents=True, exist_ok=True)
    write_json(payload, report_path)
    if as_json:
        print_json(payload)
    else:
        out.print(report_table(reports))
        print_problems(reports)
        console.print(f"JSON report: {report_path}")
    if any(r.status in ("rejected", "failed") for r in reports):
        raise typer.Exit(1)


# -- summary and quarantine -----------------------------------------------------------------------
def print_summary(summary: dict[str, Any]) -> None:
    """The warehouse summary as four tables: by catchment, by phase, by stream, the quarantine."""
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


def warehouse_summary(warehouse: Path) -> dict[str, Any]:
    from esmonitor.indicators.summary import summarise
    from esmonitor.warehouse import Warehouse

    with Warehouse(warehouse, read_only=True) as w:
        return summarise(w).as_dict()


@user_errors
def summary(
    warehouse: WarehouseOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    audience: AudienceOpt = None,
) -> None:
    """Counts by catchment, phase and stream, and the quarantine summary (province or admin; the
    public and one provider or SSM use ``esmonitor indicators --audience ...``)."""
    policy_for(audience).require("province", "the warehouse summary (every catchment and the quarantine)")
    data = warehouse_summary(warehouse)
    if as_json:
        print_json(data)
    else:
        print_summary(data)


def export_quarantine(warehouse: Path, target: Path) -> int:
    """Every quarantined problem as one CSV line; the number of lines."""
    from esmonitor.warehouse import Warehouse

    with Warehouse(warehouse, read_only=True) as w:
        rows = w.fetchall("SELECT file_name, source_row, column_name, value, rule, message, record, "
                          "batch_id FROM quarantine ORDER BY file_name, source_row, column_name")
    from esmonitor.cli.output import current_notice
    from esmonitor.model.synthetic import NOTICE_FIELD, notice_text

    target.parent.mkdir(parents=True, exist_ok=True)
    stamp = [notice_text()] if current_notice() else []
    with target.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "row", "column", "value", "rule", "message", "record", "batch_id",
                         *([NOTICE_FIELD] if stamp else [])])
        writer.writerows([*row, *stamp] for row in rows)
    return len(rows)


@user_errors
def quarantine(
    warehouse: WarehouseOpt,
    out_file: Annotated[Path, typer.Option(
        "--out", "-o", help="CSV to write, one line per problem.")] = Path("quarantine.csv"),
    audience: AudienceOpt = None,
) -> None:
    """Export quarantined rows (file, row, column, value, rule) for correction (province or admin)."""
    policy = policy_for(audience)
    policy.require_records("the quarantine")
    policy.require("province", "the quarantine (rejected rows of every provider)")
    n = export_quarantine(warehouse, out_file)
    console.print(f"Wrote {n:,} quarantined problems to {out_file}")


# -- data model -----------------------------------------------------------------------------------
@user_errors
def data_model(
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write Markdown here instead of stdout.")] = None,
    check: Annotated[bool, typer.Option(help="Exit 1 if --out differs from the code's model.")] = False,
) -> None:
    """Print the canonical data model as Markdown (source of docs/data-model.md)."""
    from esmonitor.model.docs import render_markdown

    write_generated(render_markdown(), out_file, check, "esmonitor data-model")
