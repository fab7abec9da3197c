"""One published table in, as one batch: its release registered, its numbers stored, every cell
accounted for (loaded or quarantined with file, sheet, row, column, value and rule).

Same guarantees as record-level ingest: one transaction per file, a file already ingested (same
SHA-256) is skipped, the ledger row says what was read, loaded and set aside. A CSV that does not
parse is refused whole, with its line number: a published table half loaded would give wrong bounds.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import polars as pl
import pyarrow as pa
import sqlglot.expressions as exp

from esmonitor.errors import EsmonitorError
from esmonitor.ingest import aggregates as G
from esmonitor.ingest.pipeline import FileReport, IdentifierFinder, _message, masker
from esmonitor.ingest.sources import SourceFile
from esmonitor.model.aggregates import GenericMapping, Release
from esmonitor.warehouse import Warehouse
from esmonitor.warehouse import schema as S

#: What a release of each kind is, when the mapping file does not say (the user's own record of
#: where the file came from is better: ``[file.release]`` in the mapping file).
DEFAULT_RELEASES: dict[str, dict[str, str]] = {
    "es_outcomes": {"title": "Employment Services client outcomes", "licence": "Open Government Licence – Ontario",
                    "publisher": "Ontario Ministry of Labour, Immigration, Training and Skills Development",
                    "reference": "https://data.ontario.ca/ (Employment Services client outcomes)"},
    "foi_workbook": {"title": "Freedom-of-information release", "publisher": "Government of Ontario (FOI release)",
                     "licence": "as released under FIPPA", "reference": ""},
    "sa_caseload": {"title": "Social assistance recipient subgroups and characteristics",
                    "publisher": "Ontario Ministry of Children, Community and Social Services",
                    "licence": "Open Government Licence – Ontario", "reference": "https://data.ontario.ca/"},
    "statcan": {"title": "Statistics Canada table", "publisher": "Statistics Canada",
                "licence": "Statistics Canada Open Licence", "reference": "https://www150.statcan.gc.ca/"},
    "generic": {"title": "Published table", "publisher": "", "licence": "", "reference": ""},
}

#: The Labour Force Survey characteristics the rollout and funding analyses read (as ``labour_market``).
LFS_CHARACTERISTICS = ("unemployment_rate", "employment_rate", "participation_rate")


def release_for(kind: str, source: SourceFile, given: dict[str, str] | None = None) -> Release:
    base = dict(DEFAULT_RELEASES[kind])
    if kind == "statcan":
        m = re.search(r"(\d{2})-?(\d{2})-?(\d{4})-?(\d{2})?", source.path.stem)
        if m:
            table = f"{m.group(1)}-{m.group(2)}-{m.group(3)}-{m.group(4) or '01'}"
            base["title"] = f"Statistics Canada, Table {table}"
            digits = f"{m.group(1)}{m.group(2)}{m.group(3)}{m.group(4) or '01'}"
            base["reference"] = f"https://doi.org/10.25318/{digits}-eng"
            base.setdefault("id", f"statcan:{table}")  # a new download of the table revises the same release
    base.update({k: v for k, v in (given or {}).items() if v})
    release_id = base.pop("id", None) or f"{kind}:{re.sub(r'[^A-Za-z0-9._-]+', '_', source.path.stem)}"
    return Release(release_id, base.get("title", ""), base.get("publisher", ""), base.get("reference", ""),
                   base.get("released", ""), base.get("licence", ""), kind)


def ingest_published(warehouse: Warehouse, source: SourceFile, kind: str, sheets: list[G.Sheet],
                     mapping: GenericMapping | None = None, release: dict[str, str] | None = None,
                     identifiers: IdentifierFinder | None = None) -> FileReport:
    started = time.perf_counter()
    report = FileReport(str(source.path), f"aggregate:{kind}", encoding=source.encoding, delimiter=source.delimiter)
    report.source_kind = kind
    previous = warehouse.fetchall(exp.select("batch_id").from_(S.BATCHES_TABLE).where(
        exp.column("file_sha256").eq(exp.Literal.string(source.sha256))))
    if previous:
        report.status = "skipped_already_ingested"
        report.batch_id = previous[0][0]
        report.message = f"identical content already ingested in batch {previous[0][0]}"
        return report
    rel = release_for(kind, source, release)
    try:
        read = G.read(kind, source, sheets, mapping)
        found = G.tidy(read, rel.release_id, mapping.codes if mapping else None)
    except EsmonitorError as err:
        report.status, report.message = "rejected", _message(err)
        return report
    batch_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    report.batch_id = batch_id
    obs, problems = found.observations, _masked(found.problems, identifiers)
    report.sheet = ", ".join(read.sheets_read) or None
    report.other_sheets = [f"{name} ({why})" for name, why in read.sheets_skipped]
    report.notes_sheets = [name or source.path.name for name, _ in read.notes]
    report.rows_read = read.rows_read
    report.cells_read = read.raw.height
    report.cells_quarantined = read.raw.height - obs.height
    report.cells_loaded = obs.height
    report.cells_suppressed = int(obs.filter(pl.col("status") == "suppressed").height)
    bad_rows = problems.select("sheet", "row").unique().height
    report.rows_quarantined = bad_rows
    report.rows_loaded = report.rows_read - bad_rows
    if obs.is_empty() and read.raw.height == 0:
        report.status = "rejected"
        report.message = ("no table of numbers found (no header row naming a period and a place"
                          + (f"; sheets: {', '.join(s.name for s in sheets)}" if any(s.name for s in sheets) else "")
                          + ")")
        return report
    with warehouse.transaction():
        _store(warehouse, source, rel, obs, problems, read.notes, batch_id, report)
    report.status = "loaded_with_quarantine" if report.cells_quarantined else "loaded"
    report.quarantine_by_rule = dict(sorted(problems.group_by("rule").len().iter_rows())) if problems.height else {}
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _masked(problems: pl.DataFrame, find: IdentifierFinder | None) -> pl.DataFrame:
    """A name, e-mail, phone number or SIN typed into a published table never reaches the
    quarantine as it is: each becomes its type (``[EMAIL]``), in the value and in the message."""
    if find is None or problems.is_empty():
        return problems
    mask = masker(find, lambda kind, _: f"[{kind.upper()}]")

    masked_values = problems.get_column("value").map_elements(mask, return_dtype=pl.String)
    messages = [m if v == mv else m.replace(f"'{v}'", f"'{mv}'").replace(str(v), str(mv)) if v and m else m
                for v, mv, m in zip(problems.get_column("value").to_list(), masked_values.to_list(),
                                    problems.get_column("message").to_list(), strict=True)]
    return problems.with_columns(masked_values.alias("value"), pl.Series("message", messages, dtype=pl.String))


def _store(warehouse: Warehouse, source: SourceFile, rel: Release, obs: pl.DataFrame, problems: pl.DataFrame,
           notes: list[tuple[str, str]], batch_id: str, report: FileReport) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    warehouse.execute(exp.delete(S.AGG_RELEASES_TABLE, exp.column("release_id").eq(exp.Literal.string(rel.release_id))))
    warehouse.insert_arrow(S.AGG_RELEASES_TABLE, pa.table({
        "release_id": [rel.release_id], "title": [rel.title], "publisher": [rel.publisher],
        "reference": [rel.reference], "released": [rel.released], "licence": [rel.licence], "kind": [rel.kind],
        "file_name": [source.path.name], "file_sha256": [source.sha256], "_batch_id": [batch_id]}))
    if notes:
        same_release = exp.column("release_id").eq(exp.Literal.string(rel.release_id))
        warehouse.execute(exp.delete(S.AGG_NOTES_TABLE, same_release))
        warehouse.insert_arrow(S.AGG_NOTES_TABLE, pa.table({
            "release_id": [rel.release_id] * len(notes), "sheet": [n for n, _ in notes],
            "text": [t for _, t in notes], "_batch_id": [batch_id] * len(notes)}))
    report.rows_new, report.rows_replaced, report.rows_unchanged = _upsert(warehouse, obs, batch_id)
    if rel.kind == "statcan":
        report.message = _labour_market(warehouse, obs, batch_id)
    if problems.height:
        n = problems.height
        where = pl.when(pl.col("sheet") != "").then(pl.col("sheet") + pl.lit("!") + pl.col("column")) \
            .otherwise(pl.col("column"))
        shaped = problems.with_columns(where.alias("where"))
        warehouse.insert_arrow(S.QUARANTINE_TABLE, pa.table({
            "batch_id": [batch_id] * n, "file_name": [source.path.name] * n, "entity": [f"aggregate:{rel.kind}"] * n,
            "source_row": shaped.get_column("row").to_list(), "column_name": shaped.get_column("where").to_list(),
            "value": shaped.get_column("value").to_list(), "rule": shaped.get_column("rule").to_list(),
            "message": [(f"sheet {s!r}, row {r}, column {c!r}: {m}" if s else f"row {r}, column {c!r}: {m}")
                        for s, r, c, m in shaped.select("sheet", "row", "column", "message").iter_rows()],
            "record": [json.dumps({"sheet": s, "row": r}, ensure_ascii=False)
                       for s, r in shaped.select("sheet", "row").iter_rows()],
        }, schema=pa.schema([(name, pa.int64() if kind == "BIGINT" else pa.string())
                             for name, kind in S.SYSTEM_TABLES[S.QUARANTINE_TABLE]])))
    warehouse.insert_arrow(S.BATCHES_TABLE, pa.table({
        "batch_id": [batch_id], "file_name": [source.path.name], "file_sha256": [source.sha256],
        "entity": [f"aggregate:{rel.kind}"], "rows_read": [report.cells_read], "rows_loaded": [report.cells_loaded],
        "rows_quarantined": [report.cells_quarantined], "rows_new": [report.rows_new],
        "rows_replaced": [report.rows_replaced], "rows_unchanged": [report.rows_unchanged],
        "started_at": [stamp], "finished_at": [time.strftime("%Y-%m-%d %H:%M:%S")],
    }, schema=pa.schema([(n, pa.string() if t in ("VARCHAR", "TIMESTAMP") else pa.int64())
                         for n, t in S.SYSTEM_TABLES[S.BATCHES_TABLE]])))


_VALUE_COLUMNS = ("measure_label", "period_type", "period_label", "period_start", "period_end", "geo_label",
                  "catchment_id", "unit", "value", "status", "symbol", "bound_low", "bound_high")


def _upsert(warehouse: Warehouse, obs: pl.DataFrame, batch_id: str) -> tuple[int, int, int]:
    """New keys inserted; a key whose value or status changed replaces the stored cell (which
    moves to the history with the batch that superseded it); the same cell again is left."""
    return warehouse.upsert(S.AGG_OBSERVATIONS_TABLE, obs.with_columns(pl.lit(batch_id).alias("_batch_id")).to_arrow(),
                            G.OBSERVATION_KEY, _VALUE_COLUMNS, batch_id, f"{S.AGG_OBSERVATIONS_TABLE}__history")


def _labour_market(warehouse: Warehouse, obs: pl.DataFrame, batch_id: str) -> str | None:
    """The Labour Force Survey rates by economic region and month also fill ``labour_market``
    (what the rollout and funding analyses read), whatever form the file's DGUIDs take."""
    lfs = obs.filter(pl.col("measure").is_in(LFS_CHARACTERISTICS) & (pl.col("geo_type") == "economic_region")
                     & (pl.col("period_type") == "month"))
    if lfs.is_empty():
        return None
    statistic = pl.col("detail").str.extract(r"(?:^|; )Statistics=([^;]+)").fill_null("Estimate")
    rows = lfs.select(pl.col("geo_id").alias("economic_region"), pl.col("period_start").alias("month"),
                      pl.col("measure_label").alias("characteristic"), statistic.alias("statistic"),
                      "value", pl.col("symbol").alias("status"), pl.lit(batch_id).alias("_batch_id"))
    rows = rows.unique(subset=["economic_region", "month", "characteristic", "statistic"], keep="first",
                       maintain_order=True)
    warehouse.upsert("labour_market", rows.to_arrow(), ("economic_region", "month", "characteristic", "statistic"),
                     ("value", "status"), batch_id, "labour_market__history")
    return f"{rows.height:,} labour-market rates by economic region and month also stored for the analyses"
