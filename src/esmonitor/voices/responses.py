"""Survey responses in: KoboToolbox exports (CSV or XLSX) and LimeSurvey CSV, through the same
rules as administrative data.

* **Formats**: a Kobo export is recognised by ``_uuid`` / ``_submission_time``; its columns may
  carry group paths (``experience/wait_ok``), and a select-multiple comes as one column of
  space-separated choices, as one 0/1 column per choice (``barriers/transport``), or both.
  A LimeSurvey export is recognised by ``id`` and ``submitdate``; question codes lose their
  underscores there (``waitok``), and a multiple-choice question is one ``Y``/empty column per
  choice (``barriers[transport]``).
* **Validation**: each answer against its question (a choice of its list, an integer, a
  catchment of the reference data); a bad answer goes to the quarantine (file, row, column,
  value, rule) and the rest of the response is kept; a response without a valid catchment is
  quarantined whole.
* **Idempotency**: a file already ingested (same SHA-256) is skipped; a response already
  stored (same pseudonymous id) is not stored twice.
* **Privacy**: respondent ids are pseudonymized with the warehouse key; metadata that identifies
  (submitter, device, IP address, token, phone number) is never read; open answers are redacted
  before they are stored, and never go to the quarantine.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import sqlglot.expressions as exp

from esmonitor.errors import InputFileError
from esmonitor.ingest.pseudonym import Pseudonymizer
from esmonitor.ingest.sources import synthetic_origin
from esmonitor.voices.instruments import Instrument
from esmonitor.voices.redact import Redactor, identifier_columns
from esmonitor.warehouse import Warehouse
from esmonitor.warehouse.schema import BATCHES_TABLE, QUARANTINE_TABLE

DROPPED = {"_submitted_by", "deviceid", "username", "phonenumber", "ipaddr", "token", "refurl", "subscriberid",
           "simserial", "email", "_attachments", "_geolocation"}
KOBO_META = {"_id", "_uuid", "_submission_time", "_validation_status", "_notes", "_status", "__version__", "_tags",
             "_index", "start", "end", "today", "meta/instanceid", "formhub/uuid", "_version_"}
LIME_META = {"id", "submitdate", "lastpage", "startlanguage", "seed", "startdate", "datestamp"}
TRUE = {"1", "true", "y", "yes", "oui", "x"}
FALSE = {"0", "false", "n", "no", "non", ""}


@dataclass
class ResponsesReport:
    file: str
    format: str = ""
    rows_read: int = 0
    responses_loaded: int = 0
    responses_already_stored: int = 0
    answers_loaded: int = 0
    problems: int = 0
    skipped: bool = False
    batch_id: str = ""
    by_rule: dict[str, int] = field(default_factory=dict)
    #: identifier columns of the export (name, e-mail, IP address, token …): never read into storage
    dropped_identifier_columns: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def read_export(path: Path) -> pl.DataFrame:
    """Every cell as text (a malformed file is a clear error naming the file and the problem)."""
    if not path.exists():
        raise InputFileError(str(path), "file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".xlsx":
            frame = pl.read_excel(path, infer_schema_length=0)
        elif suffix in (".csv", ".txt"):
            text = path.read_bytes().decode("utf-8-sig", errors="strict")
            dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else ",", delimiters=",;\t")
            rows = list(csv.reader(io.StringIO(text), delimiter=dialect.delimiter))
            if not rows:
                raise InputFileError(str(path), "the file is empty")
            header, body = rows[0], rows[1:]
            bad = next((i for i, r in enumerate(body) if len(r) != len(header) and any(r)), None)
            if bad is not None:
                raise InputFileError(str(path), f"line {bad + 2} has {len(body[bad])} fields, the header "
                                                f"{len(header)}: the export is malformed; nothing was loaded")
            frame = pl.DataFrame([r for r in body if any(r)], schema=header, orient="row")
        else:
            raise InputFileError(str(path), f"unsupported file type {suffix!r}", hint="a .csv or .xlsx export")
    except UnicodeDecodeError:
        raise InputFileError(str(path), "not UTF-8 text", hint="export again as CSV (UTF-8)") from None
    except pl.exceptions.PolarsError as err:
        raise InputFileError(str(path), f"cannot be read ({err})") from None
    return frame.with_columns(pl.all().cast(pl.String))


def detect_format(frame: pl.DataFrame, path: Path) -> str:
    columns = {c.lower() for c in frame.columns}
    if "_uuid" in columns or "_submission_time" in columns:
        return "kobo"
    if {"id", "submitdate"} <= columns:
        return "limesurvey"
    raise InputFileError(str(path), "neither a KoboToolbox export (_uuid, _submission_time) nor a LimeSurvey "
                                    "export (id, submitdate)")


def ingest_responses(warehouse: Warehouse, path: Path, instrument: Instrument, pseudonymize: Pseudonymizer,
                     wave: str, redactor: Redactor | None = None) -> ResponsesReport:
    """Load one export (see the module docstring); one transaction, one batch."""
    report = ResponsesReport(str(path))
    sha = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""
    frame = read_export(path)
    report.format = detect_format(frame, path)
    report.rows_read = frame.height
    seen = ingested_batch(warehouse, sha)
    if seen:
        report.skipped, report.batch_id = True, seen
        return report
    report.batch_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    redactor = redactor or Redactor()
    columns = _columns(frame, instrument, report.format)
    report.dropped_identifier_columns = [c for c in identifier_columns(frame.columns) if c not in columns.values()]
    catchments = {c[0] for c in instrument.choices.get("catchment", ())}
    responses, answers, problems = [], [], []
    stored = {r[0] for r in warehouse.fetchall("SELECT response_id FROM survey_response")}
    for row_number, row in enumerate(frame.iter_rows(named=True), start=1):
        raw_id = row.get("_uuid") or row.get("id") or row.get("_id")

        def problem(column: str, value: Any, rule: str, message: str, row_number: int = row_number) -> None:
            problems.append((report.batch_id, path.name, "survey_response", row_number, column,
                             None if value is None else str(value)[:200], rule, message, None))

        if not raw_id:
            problem("_uuid" if report.format == "kobo" else "id", raw_id, "required", "a response needs its id")
            continue
        response_id = pseudonymize(f"{instrument.form_id}:{raw_id}")
        catchment = (row.get(columns.get("catchment_id", "")) or "").strip()
        if catchment not in catchments:
            problem(columns.get("catchment_id", "catchment_id"), catchment, "catchment",
                    "not a catchment of the reference data: the response cannot be placed")
            continue
        if response_id in stored:
            report.responses_already_stored += 1
            continue
        stored.add(response_id)
        submitted = row.get("_submission_time") or row.get("submitdate") or None
        texts: list[str] = []
        for q in instrument.answerable:
            if q.name == "catchment_id":
                continue
            value, rule = _answer(q, row, columns, instrument, report.format)
            if rule:
                problem(columns.get(q.name, q.name), value, rule, f"{q.name}: {rule}")
                continue
            if value in (None, ""):
                continue
            if q.kind == "text":
                value = redactor.redact(str(value))
                texts.append(value)
            answers.append((response_id, q.name, str(value), q.theme or None, report.batch_id))
        language = (row.get("startlanguage") or "").split("-")[0] or None
        responses.append((response_id, instrument.form_id, instrument.role, catchment, wave,
                          _timestamp(submitted), language, report.format, report.batch_id))
    store_responses(warehouse, path, sha, report, responses, answers, problems)
    return report


def ingested_batch(warehouse: Warehouse, sha: str) -> str | None:
    """The batch that already loaded a file of this content, if any."""
    seen = warehouse.fetchall(exp.select("batch_id").from_(exp.table_(BATCHES_TABLE, quoted=True))
                              .where(exp.column("file_sha256").eq(exp.Placeholder())), [sha])
    return str(seen[0][0]) if seen else None


def store_responses(warehouse: Warehouse, path: Path, sha: str, report: ResponsesReport,
                    responses: list[tuple[Any, ...]], answers: list[tuple[Any, ...]], problems: list[tuple[Any, ...]],
                    questions: list[tuple[Any, ...]] | None = None) -> None:
    """One file's responses, answers, quarantined problems (and questions of another tool's
    export) in one transaction, with its batch record; the report's counts filled in."""
    report.responses_loaded, report.answers_loaded, report.problems = len(responses), len(answers), len(problems)
    for p in problems:
        report.by_rule[p[6]] = report.by_rule.get(p[6], 0) + 1
    with warehouse.transaction():
        if questions:
            warehouse.insert_arrow("survey_question", pa.table(list(zip(*questions, strict=True)), names=[
                "form_id", "question", "label_en", "label_fr", "kind", "_batch_id"]))
        if responses:
            warehouse.insert_arrow("survey_response", pa.table(list(zip(*responses, strict=True)), names=[
                "response_id", "form_id", "role", "catchment_id", "wave", "submitted_at", "language", "source",
                "_batch_id"]))
        if answers:
            warehouse.insert_arrow("survey_answer", pa.table(list(zip(*answers, strict=True)), names=[
                "response_id", "question", "value", "theme", "_batch_id"]))
        if problems:
            warehouse.insert_arrow(QUARANTINE_TABLE, pa.table(list(zip(*problems, strict=True)), names=[
                "batch_id", "file_name", "entity", "source_row", "column_name", "value", "rule", "message",
                "record"]))
        origin = synthetic_origin(path)
        if origin is not None and responses:
            warehouse.mark_synthetic(origin)
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        ledger = [report.batch_id, path.name, sha, "survey_response", report.rows_read, len(responses),
                  len(problems), len(responses), 0, report.responses_already_stored, now, now]
        warehouse.execute(exp.insert(exp.values([tuple(exp.Placeholder() for _ in ledger)]),
                                     exp.table_(BATCHES_TABLE, quoted=True)), ledger)


def _columns(frame: pl.DataFrame, instrument: Instrument, fmt: str) -> dict[str, str]:
    """Question name (or ``question/choice`` for one-column-per-choice) -> column of the export."""
    names = {_key(q.name): q.name for q in instrument.answerable}
    out: dict[str, str] = {}
    for column in frame.columns:
        low = column.lower()
        if low in DROPPED or low in KOBO_META or low in LIME_META:
            continue
        if fmt == "limesurvey":
            m = re.fullmatch(r"(.+?)\[(.+)\]", column)
            if m and _key(m.group(1)) in names:
                out[f"{names[_key(m.group(1))]}/{m.group(2)}"] = column
            elif _key(column) in names:
                out[names[_key(column)]] = column
            continue
        parts = column.split("/")
        if len(parts) >= 2 and _key(parts[-2]) in names and instrument.question(names[_key(parts[-2])]) is not None \
                and instrument.question(names[_key(parts[-2])]).kind == "select_multiple":  # type: ignore[union-attr]
            out[f"{names[_key(parts[-2])]}/{parts[-1]}"] = column
        elif _key(parts[-1]) in names:
            out[names[_key(parts[-1])]] = column
    return out


def _answer(q: Any, row: dict[str, Any], columns: dict[str, str], instrument: Instrument,
            fmt: str) -> tuple[str | None, str | None]:
    """The stored value of one answer and, if it breaks a rule, the rule's name."""
    options = [c[0] for c in instrument.choices.get(q.list_name or "", ())]
    if q.kind == "select_multiple":
        picked: list[str] = []
        whole = columns.get(q.name)
        if whole and (row.get(whole) or "").strip():
            picked = (row.get(whole) or "").split()
        for option in options:
            column = columns.get(f"{q.name}/{option}")
            if column is None:
                continue
            flag = (row.get(column) or "").strip().lower()
            if flag not in TRUE | FALSE:
                return row.get(column), "choice flag"
            if flag in TRUE and option not in picked:
                picked.append(option)
        bad = [p for p in picked if p not in options]
        if bad:
            return " ".join(bad), "choice"
        return " ".join(sorted(picked, key=options.index)) or None, None
    column = columns.get(q.name)
    value = (row.get(column) or "").strip() if column else ""
    if not value:
        return None, None
    if q.kind == "select_one":
        return (value, None) if value in options else (value, "choice")
    if q.kind == "integer":
        return (value, None) if re.fullmatch(r"-?\d+", value) else (value, "integer")
    if q.kind == "decimal":
        try:
            float(value)
        except ValueError:
            return value, "number"
    return value, None


def _timestamp(text: str | None) -> Any:
    if not text:
        return None
    from datetime import datetime

    for fmt in ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text.strip()[:26], fmt).replace(tzinfo=None)
        except ValueError:
            continue
    return None


def open_answers(warehouse: Any) -> pl.DataFrame:
    """The warehouse's open answers (stored redacted) with their role, catchment and wave."""
    return pl.DataFrame(warehouse.arrow(
        "SELECT a.value AS answer, r.role, r.catchment_id, r.wave FROM survey_answer a "
        "JOIN survey_response r USING (response_id) WHERE a.theme = 'open' ORDER BY a.response_id, a.question"))
