"""Survey exports of any tool, recognised from their shape, into one form: the questions (with
their English and French labels and their kind) and one row of answers per response, with every
identifier column dropped at the edge and named.

Shapes (each as the tool writes it):

* **Google Forms** (CSV or XLSX): a first column ``Timestamp`` (``Horodateur`` in French), one
  column per question headed by its text, an optional ``Email Address`` column; a checkbox
  question's choices joined by ``", "``.
* **Microsoft Forms** (XLSX): ``ID``, ``Start time``, ``Completion time``, ``Email``, ``Name``
  (and ``Last modified time``), then one column per question; checkbox choices joined by ``;``.
* **SurveyMonkey** (CSV or XLSX): two header rows: ``Respondent ID``, ``Collector ID``, ``Start
  Date``, ``End Date``, ``IP Address``, ``Email Address``, ``First Name``, ``Last Name``, then the
  questions; the second row says ``Response``, ``Open-Ended Response`` or, for a question with
  several columns, each choice (the question text stands above its first column only).
* **Qualtrics** (CSV): three header rows: the field ids (``StartDate``, ``ResponseId``, ``Q1`` …),
  the question texts, and the ``{"ImportId":"QID1"}`` row.

A header in both languages (``"The wait was reasonable / L'attente était raisonnable"``) gives
both labels. A question is a Likert item when every answer is a point of the agreement scale in
English or French (stored as 1–5), a number when every answer is one, a choice when few distinct
answers recur, and open text otherwise.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from esmonitor.errors import InputFileError
from esmonitor.voices.redact import fold, identifier_columns

TOOLS = ("google_forms", "microsoft_forms", "surveymonkey", "qualtrics")

#: The agreement scale as the tools' templates and people write it, English and French, 1 to 5.
AGREEMENT: dict[str, int] = {fold(label): point for point, labels in {
    1: ("Strongly disagree", "Fortement en désaccord", "Tout à fait en désaccord", "Totalement en désaccord"),
    2: ("Disagree", "Somewhat disagree", "En désaccord", "Plutôt en désaccord"),
    3: ("Neither agree nor disagree", "Neutral", "Ni en accord ni en désaccord", "Ni d'accord ni pas d'accord",
        "Neutre"),
    4: ("Agree", "Somewhat agree", "D'accord", "En accord", "Plutôt d'accord"),
    5: ("Strongly agree", "Fortement d'accord", "Tout à fait d'accord", "Totalement d'accord"),
}.items() for label in labels}

#: Columns of the tools' own that identify a person or say nothing of the answers.
_TOOL_META = {fold(h) for h in (
    "Timestamp", "Horodateur", "Horodatage", "ID", "Start time", "Completion time", "Last modified time",
    "Heure de début", "Heure de fin", "Respondent ID", "Collector ID", "Start Date", "End Date", "StartDate",
    "EndDate", "Status", "Progress", "Duration (in seconds)", "Finished", "RecordedDate", "DistributionChannel",
    "UserLanguage", "Custom Data 1")}
_IDENTIFYING = re.compile(r"\b(e-?mail|courriel|adresse e-?mail|name|nom|prenom|first name|last name|phone|"
                          r"telephone|ip address|respondent id|collector id|contact me|contact information|"
                          r"coordonnees|me contacter)\b")
_CHOICE_LIMIT = 12  # distinct answers at most for a question read as a choice


@dataclass(frozen=True)
class ExportQuestion:
    column: str  # the question's key in ``SurveyExport.answers``
    label_en: str
    label_fr: str
    kind: str  # likert, number, choice, open_text


@dataclass
class SurveyExport:
    tool: str
    questions: list[ExportQuestion]
    answers: pl.DataFrame  # one row per response: ``submitted`` (text, as exported) and a column per question
    dropped_identifier_columns: list[str] = field(default_factory=list)
    language_columns: list[str] = field(default_factory=list)


def _rows(path: Path) -> list[list[str]]:
    """Every row of the file as text (CSV in UTF-8, with or without a byte-order mark, or XLSX)."""
    if not path.exists():
        raise InputFileError(str(path), "file not found")
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        try:
            frame = pl.read_excel(path, has_header=False, infer_schema_length=0)
        except Exception:  # the engine's message is not the user's business
            raise InputFileError(str(path), "cannot be read as a workbook", hint="export it again as .xlsx") from None
        return [["" if v is None else str(v) for v in row] for row in frame.iter_rows()]
    if suffix not in (".csv", ".txt"):
        raise InputFileError(str(path), f"unsupported file type {suffix!r}", hint="a .csv or .xlsx export")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputFileError(str(path), "not UTF-8 text", hint="export again as CSV (UTF-8)") from None
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if any(c.strip() for c in r)]
    if not rows:
        raise InputFileError(str(path), "the file is empty")
    width = len(rows[0])
    bad = next((i for i, r in enumerate(rows) if len(r) != width), None)
    if bad is not None:
        raise InputFileError(str(path), f"row {bad + 1} has {len(rows[bad])} fields, the header {width}: the export "
                                        "is malformed; nothing was loaded")
    return rows


def detect_tool(rows: list[list[str]]) -> str | None:
    """The tool that wrote these rows, from its header rows; None if none fits."""
    head = [fold(c) for c in rows[0]]
    third = [c.strip() for c in rows[2]] if len(rows) > 2 else []
    if third and any(c.startswith('{"ImportId"') for c in third):
        return "qualtrics"
    if "respondent id" in head and "collector id" in head:
        return "surveymonkey"
    if {"id", "start time", "completion time"} <= set(head):
        return "microsoft_forms"
    if head and head[0] in ("timestamp", "horodateur", "horodatage"):
        return "google_forms"
    return None


#: Qualtrics' own fields, by the ImportId of its third header row (the questions' are QID…;
#: other names are embedded data, kept).
_QUALTRICS_META = {"startdate", "enddate", "status", "progress", "duration", "finished", "recordeddate",
                   "distributionchannel", "userlanguage"}
_QUALTRICS_IDENTIFYING = {"ipaddress", "_recordid", "recipientlastname", "recipientfirstname", "recipientemail",
                          "externaldatareference", "locationlatitude", "locationlongitude"}


def _import_id(cell: str) -> str:
    m = re.search(r'"ImportId"\s*:\s*"([^"]*)"', cell)
    return (m.group(1) if m else cell).strip().lower()


def _headers(tool: str, rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """One header per column and the data rows."""
    if tool == "qualtrics":
        ids, texts = rows[0], rows[1]
        return [t.strip() or i for i, t in zip(ids, texts, strict=True)], rows[3:]
    if tool == "surveymonkey":
        top, sub = rows[0], rows[1]
        headers, current = [], ""
        for t, s in zip(top, sub, strict=True):
            current = t.strip() or current  # a question with several columns is named above the first
            s = s.strip()
            if s and s not in ("Response", "Open-Ended Response", "Réponse", "Réponse ouverte"):
                headers.append(f"{current} [{s}]")  # one choice of a question with several columns
            else:
                headers.append(current)
        return headers, rows[2:]
    return [h.strip() for h in rows[0]], rows[1:]


def split_label(header: str) -> tuple[str, str]:
    """``"English / Français"`` → both labels (one language only: the same text twice)."""
    parts = [p.strip() for p in re.split(r"\s+/\s+", header) if p.strip()]
    if len(parts) == 2:
        return parts[0], parts[1]
    return header.strip(), header.strip()


def _kind(values: pl.Series) -> str:
    given = [v.strip() for v in values.drop_nulls().to_list() if v and v.strip()]
    if not given:
        return "open_text"
    if all(fold(v) in AGREEMENT for v in given):
        return "likert"
    if all(re.fullmatch(r"-?\d+(?:[.,]\d+)?", v) for v in given):
        return "number"
    distinct = {fold(v) for v in given}
    # a choice: few answers that recur, each a few words (open answers rarely repeat)
    if len(distinct) <= _CHOICE_LIMIT and len(distinct) < len(given) and max(len(v.split()) for v in given) <= 6:
        return "choice"
    return "open_text"


def read_survey_export(path: Path) -> SurveyExport:
    """The questions and answers of one export (see the module docstring); identifier columns are
    dropped here, before anything else reads the file."""
    rows = _rows(Path(path))
    tool = detect_tool(rows)
    if tool is None:
        raise InputFileError(str(path), "not an export of Google Forms, Microsoft Forms, SurveyMonkey or Qualtrics "
                                        "(no header row of theirs)",
                             hint="give a mapping of its columns, or export it again with the tool's own headers")
    headers, body = _headers(tool, rows)
    dropped = [h for h in headers if _IDENTIFYING.search(fold(h)) or h in identifier_columns([h])]
    meta = [h for h in headers if fold(h) in _TOOL_META and h not in dropped]
    if tool == "qualtrics":  # its own fields are known by their ImportId, whatever their label
        imports = [_import_id(c) for c in rows[2]]
        dropped += [h for h, i in zip(headers, imports, strict=True) if i in _QUALTRICS_IDENTIFYING]
        meta += [h for h, i in zip(headers, imports, strict=True) if i in _QUALTRICS_META]
    keep = [i for i, h in enumerate(headers) if h not in dropped and h not in meta]
    submitted = next((i for i, h in enumerate(headers) if fold(h) in ("timestamp", "horodateur", "horodatage",
                                                                      "completion time", "end date", "enddate")),
                     None)
    # a question's key is its English label, folded (the same statement in two tools' exports is one
    # question); a repeated label gets a number
    columns: dict[str, int] = {}
    for i in keep:
        base = re.sub(r"[^a-z0-9]+", "_", fold(split_label(headers[i])[0])).strip("_")[:60] or "question"
        key, n = base, 2
        while key in columns or key == "submitted":
            key, n = f"{base}_{n}", n + 1
        columns[key] = i
    data = {"submitted": [r[submitted] if submitted is not None else "" for r in body]}
    data.update({key: [r[i] for r in body] for key, i in columns.items()})
    answers = pl.DataFrame(data, schema={c: pl.String for c in data})
    questions = []
    for key, i in columns.items():
        en, fr = split_label(headers[i])
        questions.append(ExportQuestion(key, en, fr, _kind(answers[key])))
    likert = [q.column for q in questions if q.kind == "likert"]
    answers = answers.with_columns(
        pl.col(c).map_elements(lambda v: AGREEMENT.get(fold(v)) if v and v.strip() else None,
                               return_dtype=pl.Int64).alias(c) for c in likert)
    return SurveyExport(tool, questions, answers, sorted(set(dropped), key=headers.index))


QUESTIONS_TABLE = "survey_question"


def form_id_of(export: SurveyExport) -> str:
    """The same questions give the same form id (a later download of the same survey, with more
    responses, is the same form)."""
    import hashlib

    labels = "\n".join(f"{q.label_en}\t{q.label_fr}" for q in export.questions)
    return f"{export.tool}:{hashlib.sha256(labels.encode('utf-8')).hexdigest()[:12]}"


def catchment_question(export: SurveyExport) -> str | None:
    """The question whose every answer names a catchment (a region question), if there is one."""
    from esmonitor.model.aggregates import find_place

    for q in export.questions:
        if q.kind not in ("choice", "open_text"):
            continue
        given = [v for v in export.answers[q.column].to_list() if v and v.strip()]
        places = [find_place(v, "catchment") for v in given]
        if given and all(p is not None for p in places):
            return q.column
    return None


def ingest_export(warehouse: Any, path: Path, pseudonymize: Any, *, role: str, wave: str,
                  catchment: str | None = None, redactor: Any = None) -> Any:
    """Store one export of another tool: its questions (labels in both languages, kind), one
    response per row (pseudonymous id from the form, the submission time and the answers; role
    and wave as given; catchment as given for the whole file, else from its region question),
    answers with open text redacted; a response without a catchment to the quarantine; a file or
    response already stored is not stored again. Returns a :class:`ResponsesReport`."""
    import hashlib
    import time
    import uuid

    import sqlglot.expressions as exp

    from esmonitor.model.aggregates import find_place
    from esmonitor.voices.instruments import ROLES
    from esmonitor.voices.redact import Redactor
    from esmonitor.voices.responses import ResponsesReport, ingested_batch, store_responses

    if role not in ROLES:
        raise InputFileError(str(path), f"unknown role {role!r}", hint=f"--role {'|'.join(ROLES)}")
    report = ResponsesReport(str(path))
    sha = hashlib.sha256(Path(path).read_bytes()).hexdigest() if Path(path).exists() else ""
    export = read_survey_export(Path(path))
    report.format, report.rows_read = export.tool, export.answers.height
    report.dropped_identifier_columns = list(export.dropped_identifier_columns)
    seen = ingested_batch(warehouse, sha)
    if seen:
        report.skipped, report.batch_id = True, seen
        return report
    fixed: str | None = None
    if catchment is not None:
        given = find_place(catchment, "catchment")
        if given is None:
            raise InputFileError(str(path), f"--catchment {catchment!r} is not a catchment of the reference data")
        fixed = given.catchment_id
    where = None if fixed else catchment_question(export)
    if fixed is None and where is None:
        raise InputFileError(str(path), "no catchment: none given and no question whose answers all name one",
                             hint="--catchment NAME for the whole file")
    report.batch_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    redactor = redactor or Redactor()
    form = form_id_of(export)
    stored = {r[0] for r in warehouse.fetchall("SELECT response_id FROM survey_response")}
    kinds = {q.column: q.kind for q in export.questions}
    responses, answers, problems = [], [], []
    for row_number, row in enumerate(export.answers.iter_rows(named=True), start=1):
        content = "\x1f".join(str(row[c]) for c in export.answers.columns)
        response_id = pseudonymize(f"{form}:{hashlib.sha256(content.encode('utf-8')).hexdigest()}")
        place = fixed
        if place is None and where is not None and row[where]:
            named = find_place(row[where], "catchment")
            place = named.catchment_id if named else None
        if place is None:
            problems.append((report.batch_id, Path(path).name, "survey_response", row_number, where, None,
                             "catchment", "no catchment named: the response cannot be placed", None))
            continue
        if response_id in stored:
            report.responses_already_stored += 1
            continue
        stored.add(response_id)
        for q in export.questions:
            value = row[q.column]
            if value is None or str(value).strip() == "" or q.column == where:
                continue
            text = redactor.redact(str(value)) if kinds[q.column] == "open_text" else str(value)
            answers.append((response_id, q.column, text, "open" if kinds[q.column] == "open_text" else None,
                            report.batch_id))
        responses.append((response_id, form, role, place, wave, None, None, export.tool, report.batch_id))
    known = {r[0] for r in warehouse.fetchall(
        exp.select("question").from_(QUESTIONS_TABLE).where(exp.column("form_id").eq(exp.Placeholder())), [form])}
    questions = [(form, q.column, q.label_en, q.label_fr, q.kind, report.batch_id) for q in export.questions
                 if q.column not in known]
    store_responses(warehouse, Path(path), sha, report, responses, answers, problems, questions)
    return report
