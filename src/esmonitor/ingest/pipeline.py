"""One ingest run: for each file, in parent-before-child order, one atomic batch.

A batch (one file) goes: inspect -> skip if its content hash is in the ledger -> stage the mapped
columns (direct-identifier columns are never staged) -> pseudonymize identifiers -> run every rule in
the engine -> quarantine bad rows -> upsert good rows (superseded versions kept in history) ->
record the batch in the ledger -> commit. Any failure rolls the whole batch back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl
import pyarrow as pa
import sqlglot.expressions as exp

from esmonitor.errors import EsmonitorError, InputFileError, PseudonymKeyError, UnreadableInputError
from esmonitor.ingest import rules as R
from esmonitor.ingest.columns import ColumnPlan, Mapping, detect_entity, plan_columns
from esmonitor.ingest.pseudonym import PSEUDONYM_HEX_CHARS, Pseudonymizer
from esmonitor.ingest.records import resync
from esmonitor.ingest.sources import (
    WIDE_ENCODINGS,
    SourceFile,
    inspect,
    read_xlsx_as_text,
    synthetic_origin,
    unreadable,
    utf8_copy,
)
from esmonitor.model.entities import LOAD_ORDER, Entity
from esmonitor.warehouse import Warehouse
from esmonitor.warehouse import schema as S

log = logging.getLogger(__name__)

Status = Literal["loaded", "loaded_with_quarantine", "rejected", "skipped_already_ingested", "failed"]


@dataclass
class FileReport:
    path: str
    entity: str | None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    status: Status = "failed"
    rows_new: int = 0
    rows_replaced: int = 0
    rows_unchanged: int = 0
    batch_id: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None  # the sheet of a workbook that was read
    other_sheets: list[str] = field(default_factory=list)  # its other sheets with a header, not read
    dropped_identifier_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    quarantine_by_rule: dict[str, int] = field(default_factory=dict)
    message: str | None = None
    seconds: float = 0.0
    # published tables (esmonitor.ingest.releases): the layout, and the numbers each row holds
    source_kind: str | None = None
    cells_read: int = 0
    cells_loaded: int = 0
    cells_quarantined: int = 0
    cells_suppressed: int = 0
    notes_sheets: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class IngestOptions:
    mapping: Mapping = field(default_factory=Mapping)
    entity: str | None = None  # force one entity for every file
    source_kind: str | None = None  # read every file as this kind of published table
    #: finds the direct identifiers in a text, as (start, end, type) spans: quarantined values
    #: are masked with it (the caller gives the voices' redactor; ingest cannot import it)
    identifiers: IdentifierFinder | None = None


IdentifierFinder = Callable[[str], Sequence[tuple[int, int, str]]]


ProgressCallback = Callable[[str, str], None]  # (file name, step)

STAGE_DATA = "_stg_data"
CSV_REJECTS = "_csv_rejects"


@dataclass(frozen=True)
class Staged:
    """What staging learnt about a file."""

    native: frozenset[str] = frozenset()  # fields staged with their own type (Parquet)
    malformed: tuple[tuple[int, str, str], ...] = ()  # (line, rule, reason) of CSV records not parsed


def _order(items: list[tuple[SourceFile, str]]) -> list[tuple[SourceFile, str]]:
    rank = {name: i for i, name in enumerate(LOAD_ORDER)}
    return sorted(items, key=lambda item: (rank[item[1]], str(item[0].path)))


STAGING_VIEWS = ("_good", R.STAGE, "_raw")


def staging_folder(warehouse: Warehouse) -> Path:
    """Where an ingest stages files (a transcoded copy of a CSV, which may hold identifiers):
    a private folder beside the warehouse, never the system's shared temporary folder."""
    return warehouse.path.with_name(warehouse.path.name + ".staging")


def _private(folder: Path) -> Path:
    folder.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)
    return folder


def sweep(warehouse: Warehouse) -> None:
    """What an ingest killed mid-batch left behind: its staging files and its views."""
    folder = staging_folder(warehouse)
    if folder.exists():
        for leftover in folder.glob("batch-*"):
            shutil.rmtree(leftover, ignore_errors=True)
    _drop_staging(warehouse)


def _drop_staging(warehouse: Warehouse) -> None:
    """A batch's views and temporary tables (views first: they read the tables)."""
    for view in STAGING_VIEWS[:2]:
        warehouse.drop_view(view)
    for temp in (STAGE_DATA, R.CHECKED, CSV_REJECTS, f"{CSV_REJECTS}_scans"):
        warehouse.drop_table(temp)
    warehouse.drop_view(STAGING_VIEWS[2])


def pseudonymizer_for(warehouse: Warehouse, key_file: Path | None) -> Pseudonymizer:
    """The pseudonymizer of ``warehouse``: its key file, created only for a warehouse that has
    no key yet (one that has a key's fingerprint and no key file is refused, nothing created),
    and checked against the fingerprint the warehouse keeps."""
    from esmonitor.ingest.pseudonym import load_or_create_key

    recorded = warehouse.meta("pseudonym_key_fingerprint")
    pseudonymizer = Pseudonymizer(load_or_create_key(key_file, create=recorded is None))
    check_key(warehouse, pseudonymizer)
    return pseudonymizer


def check_key(warehouse: Warehouse, pseudonymizer: Pseudonymizer) -> None:
    recorded = warehouse.meta("pseudonym_key_fingerprint")
    if recorded is None:
        warehouse.set_meta("pseudonym_key_fingerprint", pseudonymizer.fingerprint)
    elif recorded != pseudonymizer.fingerprint:
        raise PseudonymKeyError(
            f"warehouse {warehouse.path} was built with another pseudonymization key "
            f"(fingerprint {recorded}, this key {pseudonymizer.fingerprint})",
            hint="use the key file that built it (--key-file or ESMONITOR_KEY_FILE)")


def ingest_files(warehouse: Warehouse, paths: Sequence[Path], pseudonymizer: Pseudonymizer,
                 options: IngestOptions = IngestOptions(),
                 progress: ProgressCallback | None = None) -> list[FileReport]:
    """Ingest files; returns one report per file. User errors in one file do not stop the others."""
    check_key(warehouse, pseudonymizer)
    sweep(warehouse)
    reports: list[FileReport] = []
    planned: list[tuple[SourceFile, str]] = []
    published: list[tuple[SourceFile, str | None]] = []
    for path in paths:
        try:
            fm = options.mapping.for_file(Path(path))
            source = inspect(Path(path), sheet=fm.sheet if fm else None)
            forced = options.entity or (fm.entity if fm else None)
            kind = options.source_kind or (fm.source_kind if fm else None)
            if kind or (not forced and published_kind(source.headers)):
                published.append((source, kind))
                continue
            try:
                entity = detect_entity(source.path, source.headers, forced)
            except InputFileError:
                if forced or source.format == "parquet":
                    raise
                published.append((source, None))  # a published table with title lines or a notes sheet first?
                continue
            planned.append((source, entity))
        except InputFileError as err:
            reports.append(FileReport(str(path), None, status="rejected", message=_message(err)))
    try:
        for source, entity in _order(planned):
            if progress:
                progress(source.path.name, f"{entity}")
            reports.append(ingest_one(warehouse, source, entity, pseudonymizer, options))
            origin = synthetic_origin(source.path)
            if origin is not None and reports[-1].status != "rejected":
                warehouse.mark_synthetic(origin)
        for source, kind in published:
            if progress:
                progress(source.path.name, kind or "published table")
            reports.append(_ingest_published(warehouse, source, kind, options))
            origin = synthetic_origin(source.path)
            if origin is not None and reports[-1].status != "rejected":
                warehouse.mark_synthetic(origin)
    finally:
        warehouse.drop_table(R.PSEUDONYMS)
        with contextlib.suppress(OSError):
            staging_folder(warehouse).rmdir()  # empty unless another ingest is running
    return reports


def published_kind(headers: tuple[str, ...]) -> str | None:
    from esmonitor.ingest.aggregates import kind_of

    return kind_of(headers)


def _ingest_published(warehouse: Warehouse, source: SourceFile, kind: str | None,
                      options: IngestOptions) -> FileReport:
    """A published table (esmonitor.ingest.releases), or the refusal that no reader knows it."""
    from esmonitor.ingest import aggregates as G
    from esmonitor.ingest.releases import ingest_published

    fm = options.mapping.for_file(source.path)
    with tempfile.TemporaryDirectory(prefix="published-", dir=_private(staging_folder(warehouse))) as workdir:
        try:
            found = G.detect(source, Path(workdir), kind)
        except InputFileError as err:
            return FileReport(str(source.path), None, status="rejected", message=_message(err))
        if found is None:
            try:
                detect_entity(source.path, source.headers)
            except InputFileError as err:
                return FileReport(str(source.path), None, status="rejected", message=_message(err) + (
                    "; nor is it a published table esmonitor reads (ES client outcomes, an FOI table, a "
                    "social-assistance caseload, a Statistics Canada table: give --source-kind, or "
                    "[file.aggregate] in a mapping file for another layout)"))
            raise AssertionError("unreachable")  # pragma: no cover
        return ingest_published(warehouse, source, found[0], found[1], fm.aggregate if fm else None,
                                fm.release if fm else None, options.identifiers)


def ingest_one(warehouse: Warehouse, source: SourceFile, entity_name: str,
               pseudonymizer: Pseudonymizer, options: IngestOptions) -> FileReport:
    started = time.perf_counter()
    report = FileReport(str(source.path), entity_name, sheet=source.sheet, other_sheets=list(source.other_sheets),
                        encoding=source.encoding,
                        delimiter=source.delimiter)
    previous = warehouse.fetchall(
        exp.select("batch_id").from_(S.BATCHES_TABLE).where(
            exp.and_(exp.column("file_sha256").eq(exp.Literal.string(source.sha256)),
                     exp.column("entity").eq(exp.Literal.string(entity_name)))))
    if previous:
        report.status = "skipped_already_ingested"
        report.batch_id = previous[0][0]
        report.message = f"identical content already ingested in batch {previous[0][0]}"
        return report
    try:
        plan = plan_columns(entity_name, source.headers, options.mapping.for_file(source.path),
                            source.path)
    except InputFileError as err:
        report.status, report.message = "rejected", _message(err)
        return report
    report.dropped_identifier_columns = list(plan.dropped_identifiers)
    report.ignored_columns = list(plan.ignored)
    for col in plan.dropped_identifiers:
        log.info("%s: column %r looks like a direct identifier; dropped, never stored",
                 source.path.name, col)
    batch_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    report.batch_id = batch_id
    with tempfile.TemporaryDirectory(prefix="batch-", dir=_private(staging_folder(warehouse))) as workdir:
        try:
            # Staging only fills temporary tables, so it runs before the batch's transaction (row
            # numbers from insertion order are only plain inside committed storage).
            try:
                staged = _stage(warehouse, source, plan, Path(workdir))
            except Exception as err:
                if isinstance(err, EsmonitorError) and not isinstance(err, UnreadableInputError):
                    raise
                raise unreadable(source.path, source.format, err) from None
            with warehouse.transaction():
                _run_batch(warehouse, source, plan, pseudonymizer, batch_id, report, staged, options.identifiers)
        except UnreadableInputError as err:  # a damaged page found while the batch read the file
            report.status, report.message = "rejected", _message(unreadable(source.path, source.format, err))
            report.rows_loaded = report.rows_quarantined = 0
        except EsmonitorError as err:
            report.status, report.message = "rejected", _message(err)
            report.rows_loaded = report.rows_quarantined = 0
        finally:
            _drop_staging(warehouse)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _message(err: EsmonitorError) -> str:
    """An error as a file's report says it: what happened, then what to do."""
    return f"{err} ({err.hint})" if err.hint else str(err)


#: Engine types a staged column may already have for a field of each type (Parquet files carry
#: types): such columns are used as they are instead of going through text.
NATIVE_TYPES: dict[str, tuple[str, ...]] = {
    "date": ("DATE",),
    "decimal": ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "SMALLINT", "TINYINT"),
    "integer": ("BIGINT", "INTEGER", "SMALLINT", "TINYINT"),
    "boolean": ("BOOLEAN",),
}


def _stage(warehouse: Warehouse, source: SourceFile, plan: ColumnPlan, workdir: Path) -> Staged:
    """Create the staging view: _row plus one text column per mapped field (and per absent field
    that has a default). Row numbers come from the table's insertion order (``rowid``), which the
    engine keeps equal to file order; a window function would serialise the parallel read."""
    native: frozenset[str] = frozenset()
    wide = source.format == "csv" and source.encoding in WIDE_ENCODINGS
    if source.format == "csv":
        assert source.delimiter is not None
        names = [f"c{i}" for i in range(len(source.headers))]
        if not wide:  # UTF-16 and UTF-32 are read record by record below, never copied to a file
            # a line longer than the cell cap is rejected by the engine (then read again below,
            # where a cell over the cap is quarantined): no second scan of every cell
            warehouse.stage_csv("_raw", utf8_copy(source, workdir), delimiter=source.delimiter,
                                columns=names, rejects=CSV_REJECTS, max_line_size=plan.cell_cap)
        select = {f: f"c{pos}" for f, pos in plan.fields.items()}
        first_row = 2  # row 1 is the header, as a spreadsheet shows it
    elif source.format == "xlsx":
        wanted = sorted(set(plan.fields.values()))
        table = read_xlsx_as_text(source, [source.headers[p] for p in wanted])
        table = table.rename_columns([f"c{p}" for p in wanted])
        warehouse.register_arrow("_raw", table)
        select = {f: f"c{pos}" for f, pos in plan.fields.items()}
        first_row = 2
    else:
        warehouse.stage_parquet("_raw", source.path)
        select = {f: source.headers[pos] for f, pos in plan.fields.items()}
        first_row = 1  # Parquet has no header row: record numbers start at 1
        types = dict(warehouse.fetchall(exp.select("column_name", "column_type").from_(
            exp.paren(exp.Describe(this=exp.select("*").from_("_raw"))))))
        native = frozenset(name for name, src in select.items()
                           if types.get(src) in NATIVE_TYPES.get(plan.entity.field(name).type, ()))
    cols = [exp.alias_(exp.column(src, quoted=True) if name in native
                       else exp.cast(exp.column(src, quoted=True), "VARCHAR"), name, quoted=True)
            for name, src in select.items()]
    cols += [exp.alias_(exp.cast(exp.null(), "VARCHAR"), f.name, quoted=True)
             for f in plan.entity.fields if f.default is not None and f.name not in plan.fields]
    temporary = exp.Properties(expressions=[exp.TemporaryProperty()])
    if wide:
        return _stage_resynced(warehouse, source, plan, cols, temporary)
    if source.format == "parquet":
        # The Parquet reader numbers rows itself and decodes fast: no staging copy.
        row = exp.Add(this=exp.column("file_row_number"), expression=exp.Literal.number(first_row))
        warehouse.execute(exp.Create(
            this=exp.to_table(R.STAGE), kind="VIEW", replace=True, properties=temporary,
            expression=exp.select(exp.alias_(row, "_row", quoted=True), *cols).from_("_raw")))
        return Staged(native)
    try:
        warehouse.execute(exp.Create(this=exp.to_table(STAGE_DATA), kind="TABLE", replace=True,
                                     properties=temporary, expression=exp.select(*cols).from_("_raw")))
    except Exception:  # the engine's reader gave up on the whole file (mixed line endings, say)
        if source.format != "csv":
            raise
        return _stage_resynced(warehouse, source, plan, cols, temporary)
    if source.format == "xlsx":
        warehouse.unregister("_raw")
    if source.format == "csv" and (warehouse.count(CSV_REJECTS) or source.lines is None
                                   or warehouse.count(STAGE_DATA) != source.lines - 1):
        # the engine rejected a line (one over the cell cap among them), or its records do not
        # add up to the file's lines (an unclosed quote swallowing the rest, a quoted line
        # break, a blank line): read the file again record by record
        return _stage_resynced(warehouse, source, plan, cols, temporary)
    row = exp.Add(this=exp.column("rowid"), expression=exp.Literal.number(first_row))
    stage = exp.select(exp.alias_(row, "_row", quoted=True), exp.Star()).from_(STAGE_DATA)
    warehouse.execute(exp.Create(this=exp.to_table(R.STAGE), kind="VIEW", replace=True,
                                 properties=temporary.copy(), expression=stage))
    return Staged(native)


def _stage_resynced(warehouse: Warehouse, source: SourceFile, plan: ColumnPlan, cols: list[exp.Expr],
                    temporary: exp.Properties) -> Staged:
    """Stage a CSV file read record by record (:mod:`esmonitor.ingest.records`): each good record
    with its own line number, each malformed one quarantined with its line and reason."""
    assert source.delimiter is not None
    wanted = sorted(set(plan.fields.values()))
    found = resync(source.path, encoding=source.encoding or "utf-8", delimiter=source.delimiter,
                   width=len(source.headers), cell_cap=plan.cell_cap, capped=wanted)
    table = pa.table({"_line": pa.array(found.lines, pa.int64()),
                      **{f"c{p}": pa.array([r[p] for r in found.fields], pa.string()) for p in wanted}})
    warehouse.drop_view("_raw")
    warehouse.register_arrow("_raw", table)
    try:
        warehouse.execute(exp.Create(this=exp.to_table(STAGE_DATA), kind="TABLE", replace=True,
                                     properties=temporary.copy(),
                                     expression=exp.select(exp.alias_(exp.column("_line"), "_row", quoted=True),
                                                           *[c.copy() for c in cols]).from_("_raw")))
    finally:
        warehouse.unregister("_raw")
    warehouse.execute(exp.Create(this=exp.to_table(R.STAGE), kind="VIEW", replace=True, properties=temporary.copy(),
                                 expression=exp.select(exp.Star()).from_(STAGE_DATA)))
    return Staged(frozenset(), tuple(found.malformed))


def _pseudonymize(warehouse: Warehouse, entity: Entity, present: list[str],
                  pseudonymizer: Pseudonymizer) -> None:
    """The join table (domain, raw, pseudo) for every distinct identifier of the file.

    HMAC-SHA-256 runs in the engine (same result as :class:`Pseudonymizer`, which the tests check
    against Python's ``hmac``); the keyed pads travel as parameters and are never stored."""
    distinct: list[exp.Query] = []
    for f in entity.fields:
        if f.pseudonymize and f.name in present:
            raw = R.clean_text(exp.column(f.name, quoted=True))
            distinct.append(exp.select(exp.alias_(exp.Literal.string(f.pseudonym_domain), "domain"),
                                       exp.alias_(raw, "raw")).distinct().from_(R.STAGE)
                            .where(raw.copy().is_(exp.null()).not_()))
    ids: exp.Query = distinct[0] if distinct else exp.select(
        exp.alias_(exp.cast(exp.null(), "VARCHAR"), "domain"), exp.alias_(exp.cast(exp.null(), "VARCHAR"), "raw")
    ).where(exp.false())
    for query in distinct[1:]:
        ids = exp.union(ids, query, distinct=False)
    message = exp.Anonymous(this="encode", expressions=[exp.DPipe(
        this=exp.DPipe(this=exp.column("domain"), expression=exp.func("chr", exp.Literal.number(31))),
        expression=exp.column("raw"))])
    inner = exp.DPipe(this=exp.cast(exp.Placeholder(), "BLOB"), expression=message)
    outer = exp.DPipe(this=exp.cast(exp.Placeholder(), "BLOB"),
                      expression=exp.func("unhex", exp.Anonymous(this="sha256", expressions=[inner])))
    pseudo = exp.Anonymous(this="left", expressions=[
        exp.Anonymous(this="sha256", expressions=[outer]), exp.Literal.number(PSEUDONYM_HEX_CHARS)])
    known = exp.Exists(this=exp.select("1").from_(exp.alias_(exp.to_table(R.PSEUDONYMS), "p")).where(
        exp.and_(exp.column("domain", table="p").eq(exp.column("domain", table="i")),
                 exp.column("raw", table="p").eq(exp.column("raw", table="i")))))
    query = (exp.select("domain", "raw", exp.alias_(pseudo, "pseudo"))
             .from_(exp.alias_(exp.paren(ids), "i")).where(exp.not_(known)))
    inner_pad, outer_pad = pseudonymizer.pads()
    _ensure_pseudonym_cache(warehouse)
    warehouse.execute(exp.insert(query, R.PSEUDONYMS), [outer_pad, inner_pad])


def _ensure_pseudonym_cache(warehouse: Warehouse) -> None:
    """Identifiers already pseudonymized in this run (clients recur in every file). A temporary
    table: it lives only in this connection's memory and is dropped when the run ends."""
    warehouse.execute(S.create_table(R.PSEUDONYMS, (("domain", "VARCHAR"), ("raw", "VARCHAR"),
                                                    ("pseudo", "VARCHAR")), temporary=True))


def _quarantine(warehouse: Warehouse, source: SourceFile, entity: Entity, rules: list[R.Rule],
                batch_id: str, present: list[str], native: frozenset[str]) -> None:
    record = exp.JSONObject(expressions=[
        exp.JSONKeyValue(this=exp.Literal.string(n), expression=exp.column(R.raw(n), quoted=True))
        for n in present])
    selects = []
    for rule in rules:
        selects.append(
            exp.select(
                exp.Literal.string(batch_id), exp.Literal.string(source.path.name),
                exp.Literal.string(entity.name), exp.column("_row", quoted=True),
                exp.Literal.string(rule.column), rule.value.copy(), exp.Literal.string(rule.rule),
                exp.Literal.string(rule.message), exp.cast(record.copy(), "VARCHAR"),
            ).from_("bad_rows").where(exp.column(R.flag(rule.index), quoted=True)))
    union: exp.Query = selects[0]
    for s in selects[1:]:
        union = exp.union(union, s, distinct=False)
    bad_rows = R.raw_rows(entity, present, where=exp.column("_bad", table="c", quoted=True), native=native)
    warehouse.execute(exp.insert(exp.select("*").from_(exp.alias_(exp.paren(union), "q"))
                                 .with_("bad_rows", as_=bad_rows), S.QUARANTINE_TABLE))


def masker(find: IdentifierFinder, label: Callable[[str, str], str]) -> Callable[[str | None], str | None]:
    """A function that replaces each identifier ``find`` finds in a text by ``label(type, text)``
    (each distinct text masked once)."""
    seen: dict[str, str] = {}

    def mask(text: str | None) -> str | None:
        if text is None or not text.strip():
            return text
        if text not in seen:
            out, last = [], 0
            for start, end, kind in sorted(find(text)):
                if start < last:
                    continue
                out += [text[last:start], label(kind, text[start:end])]
                last = end
            seen[text] = "".join([*out, text[last:]])
        return seen[text]

    return mask


def _mask_quarantine(warehouse: Warehouse, batch_id: str, find: IdentifierFinder,
                     pseudonymizer: Pseudonymizer, pseudonyms: frozenset[str]) -> None:
    """A value typed into the wrong column (a name in Gender, a SIN in a date) must not reach the
    quarantine as it is: each identifier in a quarantined value and in its record becomes its
    type and a keyed hash (``[SIN:3f2a9c1b0d]``), the same for the same value, so that repeats
    still match and nothing is readable. The fields already pseudonymized (``pseudonyms``) are
    left as they are."""
    batch = exp.column("batch_id").eq(exp.Literal.string(batch_id))
    rows = pl.DataFrame(warehouse.arrow(exp.select("*").from_(S.QUARANTINE_TABLE).where(batch)))
    if rows.is_empty():
        return
    mask = masker(find, lambda kind, found: f"[{kind.upper()}:{pseudonymizer('masked:' + found)[:10]}]")

    def mask_record(record: str | None) -> str | None:
        if record is None:
            return None
        fields = json.loads(record)
        return json.dumps({k: mask(v) if isinstance(v, str) and k not in pseudonyms else v
                           for k, v in fields.items()}, ensure_ascii=False)

    value = pl.when(pl.col("column_name").is_in(list(pseudonyms))).then(pl.col("value")).otherwise(
        pl.col("value").map_elements(mask, return_dtype=pl.String))
    masked = rows.with_columns(value.alias("value"),
                               pl.col("record").map_elements(mask_record, return_dtype=pl.String))
    if masked.equals(rows):
        return
    warehouse.execute(exp.delete(S.QUARANTINE_TABLE, batch))
    warehouse.insert_arrow(S.QUARANTINE_TABLE, masked.to_arrow())


def _malformed_quarantine(warehouse: Warehouse, source: SourceFile, entity: Entity,
                          malformed: tuple[tuple[int, str, str], ...], batch_id: str) -> None:
    """One quarantine line per CSV record that does not parse. The line's text is not kept: it
    was never mapped, so it may hold a direct identifier; the line number leads back to it."""
    n = len(malformed)
    warehouse.insert_arrow(S.QUARANTINE_TABLE, pa.table({
        "batch_id": [batch_id] * n, "file_name": [source.path.name] * n, "entity": [entity.name] * n,
        "source_row": [line for line, _, _ in malformed], "column_name": [None] * n, "value": [None] * n,
        "rule": [rule for _, rule, _ in malformed],
        "message": [f"line {line} does not parse as CSV ({reason}); reading went on at the next line"
                    for line, _, reason in malformed],
        "record": [None] * n,
    }, schema=pa.schema([(name, pa.int64() if kind == "BIGINT" else pa.string())
                         for name, kind in S.SYSTEM_TABLES[S.QUARANTINE_TABLE]])))


def _missing_column_quarantine(warehouse: Warehouse, source: SourceFile, entity: Entity,
                               missing: tuple[str, ...], batch_id: str) -> None:
    for name in missing:
        warehouse.execute(exp.insert(
            exp.select(
                exp.Literal.string(batch_id), exp.Literal.string(source.path.name),
                exp.Literal.string(entity.name), exp.column("_row", quoted=True),
                exp.Literal.string(name), exp.null(), exp.Literal.string("missing_column"),
                exp.Literal.string(f"required column {name} is absent (headers: "
                                   f"{', '.join(source.headers)})"),
                exp.null(),
            ).from_(R.STAGE), S.QUARANTINE_TABLE))


def _key_match(left: str, right: str, key: tuple[str, ...]) -> exp.Expr:
    return exp.and_(*[exp.column(k, table=left, quoted=True).eq(exp.column(k, table=right, quoted=True))
                      for k in key])


def _differs(left: str, right: str, entity: Entity) -> exp.Expr:
    """Any non-key value differs (NULL-safe)."""
    return exp.or_(*[exp.NullSafeNEQ(this=exp.column(n, table=left, quoted=True),
                                     expression=exp.column(n, table=right, quoted=True))
                     for n in entity.field_names if n not in entity.key])


def _upsert(warehouse: Warehouse, entity: Entity, batch_id: str, report: FileReport) -> None:
    """Insert good rows; a changed record for an existing key replaces it, old version to history."""
    names = list(entity.field_names)
    good = exp.select(*[exp.column(n, quoted=True) for n in names]).from_(R.CHECKED).where(
        exp.not_(exp.column("_bad", quoted=True)))
    warehouse.execute(exp.Create(this=exp.to_table("_good"), kind="VIEW", replace=True,
                                 properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
                                 expression=good))
    table, history = entity.table, S.history_table(entity)
    t, g = exp.alias_(exp.to_table(table), "t"), exp.alias_(exp.to_table("_good"), "g")
    target_cols = [exp.to_identifier(n, quoted=True) for n in [*names, "_batch_id"]]
    insert = exp.Insert(this=exp.Schema(this=exp.to_table(table), expressions=target_cols),
                        expression=exp.select(*[exp.column(n, table="g", quoted=True) for n in names],
                                              exp.Literal.string(batch_id)).from_(g.copy()))
    if not warehouse.scalar(exp.select(exp.Exists(this=exp.select("1").from_(table)))):
        report.rows_new = report.rows_loaded  # first load of this entity: nothing to compare
        warehouse.execute(insert)
        return
    exists_same_key = exp.Exists(this=exp.select("1").from_(t.copy()).where(_key_match("t", "g", entity.key)))
    changed = exp.and_(_key_match("t", "g", entity.key), _differs("t", "g", entity))
    report.rows_replaced = int(warehouse.scalar(
        exp.select(exp.func("count", exp.Star())).from_(t.copy()).join(g.copy(), on=changed.copy())))
    report.rows_new = int(warehouse.scalar(
        exp.select(exp.func("count", exp.Star())).from_(g.copy()).where(exp.not_(exists_same_key.copy()))))
    report.rows_unchanged = report.rows_loaded - report.rows_new - report.rows_replaced
    if report.rows_replaced:
        warehouse.execute(exp.insert(
            exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("t")),
                       exp.Literal.string(batch_id), exp.func("current_timestamp"))
            .from_(t.copy()).join(g.copy(), on=changed.copy()), history))
        warehouse.execute(exp.delete(table).where(exp.Exists(
            this=exp.select("1").from_(g.copy()).where(
                exp.and_(_key_match(table, "g", entity.key), _differs(table, "g", entity))))))
    insert.set("expression", insert.expression.where(exp.not_(exists_same_key.copy())))
    warehouse.execute(insert)


def _run_batch(warehouse: Warehouse, source: SourceFile, plan: ColumnPlan,
               pseudonymizer: Pseudonymizer, batch_id: str, report: FileReport,
               staged: Staged = Staged(), identifiers: IdentifierFinder | None = None) -> None:
    entity = plan.entity
    native = staged.native
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    report.rows_read = warehouse.count(R.STAGE) + len(staged.malformed)
    if staged.malformed:
        _malformed_quarantine(warehouse, source, entity, staged.malformed, batch_id)
    if plan.missing_required:
        _missing_column_quarantine(warehouse, source, entity, plan.missing_required, batch_id)
        report.rows_quarantined = report.rows_read
        report.quarantine_by_rule = {"missing_column": report.rows_read - len(staged.malformed)}
        for _, rule, _ in staged.malformed:
            report.quarantine_by_rule[rule] = report.quarantine_by_rule.get(rule, 0) + 1
        report.status = "rejected"
        report.message = (f"required column(s) {', '.join(plan.missing_required)} absent; "
                          f"every row quarantined")
    else:
        # Fields with a default are checked even when the file lacks the column.
        present = [f.name for f in entity.fields if f.name in plan.fields or f.default is not None]
        _pseudonymize(warehouse, entity, present, pseudonymizer)
        check, rules = R.build_check(entity, present, plan.date_formats, native, source.control_free)
        warehouse.execute(check)
        if warehouse.scalar(R.duplicate_keys(entity)):
            dup_check, dup_rules = R.build_duplicate_check(entity, present, len(rules) + 1, native)
            warehouse.execute(dup_check)
            rules += dup_rules
        # Absent optional columns are NULL in the table.
        for n in entity.field_names:
            if n not in present:
                warehouse.execute(exp.Alter(this=exp.to_table(R.CHECKED), kind="TABLE", actions=[
                    exp.ColumnDef(this=exp.to_identifier(n, quoted=True),
                                  kind=exp.DataType.build(S.FIELD_SQL_TYPES[entity.field(n).type]))]))
        bad = int(warehouse.scalar(
            exp.select(exp.func("count", exp.Star())).from_(R.CHECKED).where(exp.column("_bad", quoted=True))))
        report.rows_quarantined = bad + len(staged.malformed)
        report.rows_loaded = report.rows_read - report.rows_quarantined
        if bad:
            _quarantine(warehouse, source, entity, rules, batch_id, present, native)
            if identifiers is not None:
                _mask_quarantine(warehouse, batch_id, identifiers, pseudonymizer,
                                 frozenset(f.name for f in entity.fields if f.pseudonymize))
        if report.rows_quarantined:
            report.quarantine_by_rule = dict(warehouse.fetchall(
                exp.select("rule", exp.func("count", exp.Star())).from_(S.QUARANTINE_TABLE)
                .where(exp.column("batch_id").eq(exp.Literal.string(batch_id))).group_by("rule")
                .order_by("rule")))
        _upsert(warehouse, entity, batch_id, report)
        report.status = "loaded_with_quarantine" if report.rows_quarantined else "loaded"
    warehouse.insert_arrow(S.BATCHES_TABLE, pa.table({
        "batch_id": [batch_id], "file_name": [source.path.name], "file_sha256": [source.sha256],
        "entity": [entity.name], "rows_read": [report.rows_read],
        "rows_loaded": [report.rows_loaded], "rows_quarantined": [report.rows_quarantined],
        "rows_new": [report.rows_new], "rows_replaced": [report.rows_replaced],
        "rows_unchanged": [report.rows_unchanged],
        "started_at": [started], "finished_at": [time.strftime("%Y-%m-%d %H:%M:%S")],
    }, schema=pa.schema([(n, pa.string() if t in ("VARCHAR", "TIMESTAMP") else pa.int64())
                         for n, t in S.SYSTEM_TABLES[S.BATCHES_TABLE]])))
