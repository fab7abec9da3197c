"""Survey exports of Google Forms, Microsoft Forms, SurveyMonkey and Qualtrics, each written in the
tool's own layout (header rows, label rows), read into questions and answers: the tool is
recognised, bilingual headers give both labels, the kinds of questions are told apart, the
agreement counts are the hand-counted ones, and no planted identifier survives."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from esmonitor.errors import InputFileError
from esmonitor.voices.exports import read_survey_export

STATEMENT = "Referrals arrive with enough information / Les aiguillages arrivent avec assez d'information"
OPEN = "What would you change? / Que changeriez-vous?"
# planted identifiers: none may appear in what is read
PLANTED = ("jane.doe@example.org", "Jane Doe", "Doe", "203.0.113.7", "416-555-0199", "114258936", "R_3kXr9Zq")
AGREE = ["Agree", "Strongly agree", "Disagree", "D'accord", "Agree"]  # hand count: 4 → 3, 5 → 1, 2 → 1
CHANGE = ["Faster intake", "Plus de temps avec les clients", "", "Less paperwork", "Call me at 416-555-0199"]


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def google_forms(tmp_path: Path) -> Path:
    rows = [["Timestamp", "Email Address", STATEMENT, "Your role / Votre rôle", OPEN, "Name (if we may contact you)"]]
    for i, (a, c) in enumerate(zip(AGREE, CHANGE, strict=True)):
        rows.append([f"2025/03/0{i + 1} 10:1{i}:00 AM EST", "jane.doe@example.org" if i == 0 else "", a,
                     ["Provider staff", "Provider staff", "SSM staff", "Provider staff", "SSM staff"][i], c,
                     "Jane Doe" if i == 1 else ""])
    return _write_csv(tmp_path / "Member survey (Responses) - Form Responses 1.csv", rows)


def microsoft_forms(tmp_path: Path) -> Path:
    import xlsxwriter

    path = tmp_path / "Member survey(1-5).xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Sheet1")
    header = ["ID", "Start time", "Completion time", "Email", "Name", "Last modified time", STATEMENT,
              "How many clients do you see in a week?", OPEN]
    sheet.write_row(0, 0, header)
    for i, (a, c) in enumerate(zip(AGREE, CHANGE, strict=True)):
        sheet.write_row(i + 1, 0, [str(i + 1), f"3/{i + 1}/25 10:00:00", f"3/{i + 1}/25 10:07:00",
                                   "jane.doe@example.org", "Jane Doe", "", a, str(10 + 5 * i), c])
    book.close()
    return path


def surveymonkey(tmp_path: Path) -> Path:
    top = ["Respondent ID", "Collector ID", "Start Date", "End Date", "IP Address", "Email Address", "First Name",
           "Last Name", "Custom Data 1", STATEMENT, "Which barriers do your clients face?", "", "", OPEN]
    sub = ["", "", "", "", "", "", "", "", "", "Response", "Transportation", "Child care", "Other (please specify)",
           "Open-Ended Response"]
    rows = [top, sub]
    for i, (a, c) in enumerate(zip(AGREE, CHANGE, strict=True)):
        rows.append(["114258936", "256178", "03/01/2025 10:00:00 AM", "03/01/2025 10:07:00 AM", "203.0.113.7",
                     "jane.doe@example.org", "Jane", "Doe", "", a, "Transportation" if i % 2 else "",
                     "Child care" if i < 3 else "", "", c])
    return _write_csv(tmp_path / "Sheet_1.csv", rows)


def qualtrics(tmp_path: Path) -> Path:
    ids = ["StartDate", "EndDate", "Status", "IPAddress", "Progress", "Duration (in seconds)", "Finished",
           "RecordedDate", "ResponseId", "RecipientLastName", "RecipientFirstName", "RecipientEmail",
           "ExternalReference", "LocationLatitude", "LocationLongitude", "DistributionChannel", "UserLanguage",
           "Q1", "Q2", "Q3"]
    texts = ["Start Date", "End Date", "Response Type", "IP Address", "Progress", "Duration (in seconds)", "Finished",
             "Recorded Date", "Response ID", "Recipient Last Name", "Recipient First Name", "Recipient Email",
             "External Data Reference", "Location Latitude", "Location Longitude", "Distribution Channel",
             "User Language", STATEMENT, "Region / Région", OPEN]
    # the ImportIds as Qualtrics writes them: its fields by name, the questions QID…
    imports = [f'{{"ImportId":"{i}"}}' for i in
               ("startDate", "endDate", "status", "ipAddress", "progress", "duration", "finished", "recordedDate",
                "_recordId", "recipientLastName", "recipientFirstName", "recipientEmail", "externalDataReference",
                "locationLatitude", "locationLongitude", "distributionChannel", "userLanguage", "QID1", "QID2",
                "QID3_TEXT")]
    rows = [ids, texts, imports]
    for i, (a, c) in enumerate(zip(AGREE, CHANGE, strict=True)):
        rows.append(["2025-03-01 10:00:00", "2025-03-01 10:07:00", "IP Address", "203.0.113.7", "100", "420", "True",
                     "2025-03-01 10:07:01", f"R_3kXr9Zq{i}", "Doe", "Jane", "jane.doe@example.org", "", "43.65",
                     "-79.38", "anonymous", "EN", a, ["Northeast", "Toronto", "Toronto", "Nord-Est", "Toronto"][i], c])
    return _write_csv(tmp_path / "Member+survey_March+1,+2025_10.07.csv", rows)


WRITERS = {"google_forms": google_forms, "microsoft_forms": microsoft_forms, "surveymonkey": surveymonkey,
           "qualtrics": qualtrics}


@pytest.mark.parametrize("tool", list(WRITERS))
def test_each_tool_is_recognised_and_its_statement_counted_by_hand(tool: str, tmp_path: Path) -> None:
    export = read_survey_export(WRITERS[tool](tmp_path))
    assert export.tool == tool
    by_label = {q.label_en: q for q in export.questions}
    statement = by_label["Referrals arrive with enough information"]
    assert statement.label_fr == "Les aiguillages arrivent avec assez d'information"
    assert statement.kind == "likert"
    assert Counter(export.answers[statement.column].to_list()) == Counter({4: 3, 5: 1, 2: 1})
    opened = by_label["What would you change?"]
    assert opened.kind == "open_text" and opened.label_fr == "Que changeriez-vous?"
    assert export.answers.height == 5
    # the tools' own fields are not questions
    for meta in ("Response Type", "Recorded Date", "Distribution Channel", "User Language", "Start Date", "End Date",
                 "Start time", "Completion time", "Timestamp", "Duration (in seconds)", "Progress", "ID"):
        assert meta not in by_label, (tool, meta)


@pytest.mark.parametrize("tool", list(WRITERS))
def test_no_identifier_column_survives(tool: str, tmp_path: Path) -> None:
    export = read_survey_export(WRITERS[tool](tmp_path))
    assert export.dropped_identifier_columns, tool
    labels = " ".join(f"{q.label_en} {q.label_fr}" for q in export.questions).lower()
    for word in ("email", "ip address", "first name", "last name", "respondent id", "responseid", "latitude",
                 "recipient", "name (if we may contact you)"):
        assert word not in labels, (tool, word)
    # every value of an identifier column is gone (an identifier typed into an open answer is
    # the redactor's job, later: "Call me at 416-555-0199" is an answer)
    cells = " ".join(str(v) for row in export.answers.drop(next(q.column for q in export.questions
                                                                  if q.label_en == "What would you change?"))
                     .iter_rows() for v in row)
    for planted in PLANTED:
        assert planted not in cells, (tool, planted)


def test_surveymonkey_choice_columns_and_microsoft_numbers(tmp_path: Path) -> None:
    monkey = read_survey_export(surveymonkey(tmp_path))
    labels = [q.label_en for q in monkey.questions]
    assert "Which barriers do your clients face? [Transportation]" in labels
    assert "Which barriers do your clients face? [Child care]" in labels
    transport = next(q for q in monkey.questions if q.label_en.endswith("[Transportation]"))
    assert monkey.answers[transport.column].to_list() == ["", "Transportation", "", "Transportation", ""]
    forms = read_survey_export(microsoft_forms(tmp_path))
    clients = next(q for q in forms.questions if q.label_en.startswith("How many clients"))
    assert clients.kind == "number" and forms.answers[clients.column].to_list() == ["10", "15", "20", "25", "30"]
    google = read_survey_export(google_forms(tmp_path))
    role = next(q for q in google.questions if q.label_en == "Your role")
    assert role.kind == "choice" and role.label_fr == "Votre rôle"
    assert google.answers["submitted"][0] == "2025/03/01 10:10:00 AM EST"
    region = next(q for q in read_survey_export(qualtrics(tmp_path)).questions if q.label_en == "Region")
    assert region.kind == "choice" and region.label_fr == "Région"


def test_a_file_of_no_tool_is_refused_clearly(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "x.csv", [["a", "b"], ["1", "2"]])
    with pytest.raises(InputFileError, match="not an export of Google Forms") as err:
        read_survey_export(path)
    assert "mapping" in (err.value.hint or "")
    bad = _write_csv(tmp_path / "y.csv", [["Timestamp", "Q"], ["2025", "Agree", "extra"]])
    with pytest.raises(InputFileError, match="row 2 has 3 fields"):
        read_survey_export(bad)


def test_voices_ingest_stores_the_exports_of_every_tool_once_and_no_identifier(tmp_path: Path) -> None:
    """`esmonitor voices ingest --role --wave` on the four exports: questions with both labels,
    the statement's answers 1–5 as counted by hand, open answers redacted, the region question (or
    --catchment) placing each response, nothing of the planted identifiers anywhere in the
    warehouse, and the same files again adding nothing."""
    import sqlglot.expressions as exp
    from typer.testing import CliRunner

    from esmonitor.cli import app
    from esmonitor.warehouse import Warehouse

    key = tmp_path / "key"
    key.write_text("ab" * 32 + "\n", "ascii")
    key.chmod(0o600)
    w = tmp_path / "w.duckdb"
    runner = CliRunner()
    for tool, writer in WRITERS.items():
        folder = tmp_path / tool
        folder.mkdir()
        path = writer(folder)
        extra = [] if tool == "qualtrics" else ["--catchment", "Peel"]  # Qualtrics has its region question
        got = runner.invoke(app, ["voices", "ingest", str(path), "-w", str(w), "--key-file", str(key), "--role",
                                  "esp_staff", "--wave", "2025", *extra])
        assert got.exit_code == 0, (tool, got.output)
        again = runner.invoke(app, ["voices", "ingest", str(path), "-w", str(w), "--key-file", str(key), "--role",
                                    "esp_staff", "--wave", "2025", *extra, "--json"])
        assert again.exit_code == 0 and '"skipped": true' in again.output, again.output
    with Warehouse(w, read_only=True) as wh:
        forms = wh.fetchall("SELECT source, count(*) FROM survey_response GROUP BY source ORDER BY source")
        statement = wh.fetchall(
            "SELECT r.source, a.value, count(*) FROM survey_answer a JOIN survey_response r USING (response_id) "
            "JOIN survey_question q ON q.form_id = r.form_id AND q.question = a.question "
            "WHERE q.label_en = 'Referrals arrive with enough information' GROUP BY ALL ORDER BY ALL")
        regions = wh.fetchall("SELECT catchment_id, count(*) FROM survey_response WHERE source = 'qualtrics' "
                              "GROUP BY ALL ORDER BY ALL")
        french = wh.fetchall("SELECT DISTINCT label_fr FROM survey_question WHERE kind = 'open_text'")
        opened = [r[0] for r in wh.fetchall("SELECT value FROM survey_answer WHERE theme = 'open'")]
    assert forms == [(t, 5) for t in sorted(WRITERS)]
    for tool in WRITERS:
        assert {(v, n) for t, v, n in statement if t == tool} == {("2", 1), ("4", 3), ("5", 1)}, tool
    assert regions == [("NEA", 2), ("TOR", 3)]  # "Northeast" and "Nord-Est" are one catchment
    assert ("Que changeriez-vous?",) in french
    assert opened and not any("416-555-0199" in t for t in opened)  # the phone number typed in an answer
    # every text column of every table (the file's bytes could hide a compressed string)
    with Warehouse(w, read_only=True) as wh:
        columns = wh.fetchall("SELECT table_name, column_name FROM information_schema.columns "
                              "WHERE data_type = 'VARCHAR'")
        for table, column in columns:
            for planted in PLANTED:
                query = exp.select(exp.func("count", exp.Star())).from_(exp.to_table(table, quoted=True)).where(
                    exp.func("strpos", exp.column(column, quoted=True), exp.Placeholder()) > 0)
                hits = wh.fetchall(query, [planted])
                assert hits == [(0,)], (table, column, planted)
    assert len(columns) > 20
