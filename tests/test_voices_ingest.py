"""Survey exports in their real column conventions: KoboToolbox (CSV and XLSX, group paths,
select-multiple in both export styles, _uuid and _submission_time) and LimeSurvey CSV; bad
answers quarantined, a malformed file refused whole, idempotent, pseudonymized and redacted."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from conftest import TEST_KEY
from esmonitor.errors import InputFileError
from esmonitor.ingest.pseudonym import Pseudonymizer
from esmonitor.voices.instruments import builtin, read_xlsform, write_xlsform
from esmonitor.voices.responses import ingest_responses
from esmonitor.warehouse import Warehouse

KOBO_HEADER = ["start", "end", "catchment_id", "experience/wait_ok", "experience/stream_fit", "experience/accessible",
               "experience/language_ok", "experience/helped_job", "experience/barriers",
               "experience/barriers/transport", "experience/barriers/childcare", "experience/barriers/language",
               "experience/barriers/disability", "experience/barriers/digital", "experience/barriers/housing",
               "experience/barriers/none", "open/improve", "open/comments", "_id", "_uuid", "_submission_time",
               "_validation_status", "_submitted_by", "__version__", "_index"]


def kobo_rows() -> list[list[str]]:
    return [
        # a clean response, select-multiple in both styles at once
        ["2025-03-01T10:00:00", "2025-03-01T10:09:00", "TOR", "4", "5", "4", "5", "4", "transport digital",
         "1", "0", "0", "0", "1", "0", "0", "Shorter waits. Call my worker Priya at 416-555-0199.", "",
         "101", "b1f7c2aa-0001", "2025-03-01T10:09:12", "", "kobo_user_17", "vXYZ", "1"],
        # the space-separated column only; one bad Likert value (7) is quarantined, the rest kept
        ["2025-03-02T11:00:00", "2025-03-02T11:05:00", "HNP", "7", "2", "3", "", "2", "childcare", "", "", "", "",
         "", "", "", "", "Merci à Mme Gagnon, joignable au marie.gagnon@videotron.ca", "102", "b1f7c2aa-0002",
         "2025-03-02T11:05:40", "", "kobo_user_17", "vXYZ", "2"],
        # the 0/1 columns only
        ["2025-03-03T09:00:00", "2025-03-03T09:04:00", "SBP", "1", "1", "2", "3", "1", "", "0", "0", "1", "1", "0",
         "0", "0", "", "", "103", "b1f7c2aa-0003", "2025-03-03T09:04:01", "", "", "vXYZ", "3"],
        # not a catchment: the whole response goes to the quarantine
        ["2025-03-04T09:00:00", "2025-03-04T09:04:00", "Atlantis", "3", "3", "3", "3", "3", "", "", "", "", "",
         "", "", "", "", "", "104", "b1f7c2aa-0004", "2025-03-04T09:04:01", "", "", "vXYZ", "4"],
    ]


def write_kobo_csv(path: Path, rows: list[list[str]], delimiter: str = ";") -> Path:
    lines = [delimiter.join(KOBO_HEADER)] + [delimiter.join(f'"{v}"' for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "voices.duckdb"


def _ingest(warehouse: Path, path: Path, role: str = "job_seeker", wave: str = "2025") -> object:
    with Warehouse(warehouse) as w:
        return ingest_responses(w, path, builtin(role), Pseudonymizer(TEST_KEY), wave)


def test_kobo_csv_with_groups_and_both_select_multiple_styles(tmp_path: Path, warehouse: Path) -> None:
    path = write_kobo_csv(tmp_path / "kobo.csv", kobo_rows())
    report = _ingest(warehouse, path)
    assert (report.format, report.rows_read, report.responses_loaded, report.problems) == ("kobo", 4, 3, 2)
    assert report.by_rule == {"choice": 1, "catchment": 1}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        answers = con.execute("SELECT r.catchment_id, a.question, a.value FROM survey_answer a "
                              "JOIN survey_response r USING (response_id)").fetchall()
        got = {(c, q): v for c, q, v in answers}
        assert got[("TOR", "barriers")] == "transport digital"
        assert got[("HNP", "barriers")] == "childcare"
        assert got[("SBP", "barriers")] == "language disability"
        assert got[("TOR", "wait_ok")] == "4" and ("HNP", "wait_ok") not in got and got[("HNP", "stream_fit")] == "2"
        assert "[PHONE]" in got[("TOR", "improve")] and "[NAME]" in got[("TOR", "improve")]
        quarantine = con.execute("SELECT source_row, column_name, value, rule FROM quarantine ORDER BY 1").fetchall()
        assert quarantine == [(2, "experience/wait_ok", "7", "choice"), (4, "catchment_id", "Atlantis", "catchment")]
        stored = str(con.execute("SELECT * FROM survey_response").fetchall()) + str(answers)
    for secret in ("b1f7c2aa", "kobo_user_17", "416-555-0199", "Priya", "Gagnon", "videotron"):
        assert secret not in stored
    assert _ingest(warehouse, path).skipped  # the same file again: nothing new


def test_kobo_xlsx_and_a_later_export_with_the_same_responses(tmp_path: Path, warehouse: Path) -> None:
    xlsx = tmp_path / "kobo.xlsx"
    pl.DataFrame(kobo_rows()[:2], schema=KOBO_HEADER, orient="row").write_excel(xlsx)
    assert _ingest(warehouse, xlsx).responses_loaded == 2
    later = write_kobo_csv(tmp_path / "later.csv", kobo_rows(), delimiter=",")  # a new export: all four rows
    report = _ingest(warehouse, later)
    assert (report.responses_loaded, report.responses_already_stored) == (1, 2)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM survey_response").fetchone()[0] == 3


def test_limesurvey_csv(tmp_path: Path, warehouse: Path) -> None:
    header = ["id", "submitdate", "lastpage", "startlanguage", "seed", "token", "ipaddr", "catchmentid", "referralsok",
              "adminok", "fundingok", "streamaccurate", "waitok", "caseload", "improve", "comments"]
    rows = [["1", "2025-05-01 10:00:00", "3", "fr", "123", "tok1", "10.0.0.1", "OTT", "2", "1", "1", "3", "2", "45",
             "Trop de paperasse dans CaMS; appelez-moi au 613 555-0147", ""],
            ["2", "2025-05-02 10:00:00", "3", "en", "124", "tok2", "10.0.0.2", "KWB", "4", "2", "", "4", "3",
             "forty", "", "Funding does not cover costs."]]
    path = tmp_path / "lime.csv"
    pl.DataFrame(rows, schema=header, orient="row").write_csv(path)
    report = _ingest(warehouse, path, role="esp_staff", wave="2025-spring")
    # by hand: 7 answers in the first response, 5 in the second (empty ones skipped, "forty" quarantined)
    assert (report.format, report.responses_loaded, report.answers_loaded) == ("limesurvey", 2, 12)
    assert report.by_rule == {"integer": 1}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows_in = con.execute("SELECT catchment_id, language, wave, role FROM survey_response ORDER BY 1").fetchall()
        assert rows_in == [("KWB", "en", "2025-spring", "esp_staff"), ("OTT", "fr", "2025-spring", "esp_staff")]
        text = con.execute("SELECT value FROM survey_answer WHERE question = 'improve'").fetchone()[0]
        assert "[PHONE]" in text and "613" not in text
        assert "tok1" not in str(con.execute("SELECT * FROM survey_response").fetchall())


def test_a_malformed_export_is_refused_whole_and_others_still_load(tmp_path: Path, warehouse: Path) -> None:
    broken = tmp_path / "broken.csv"
    good = write_kobo_csv(tmp_path / "good.csv", kobo_rows()[:1])
    text = good.read_text("utf-8").splitlines()
    broken.write_text("\n".join([text[0], text[1], '"2025-03-05";"TOR";"4"']) + "\n", "utf-8")
    with pytest.raises(InputFileError, match=r"broken.csv.*line 3 has 3 fields"):
        _ingest(warehouse, broken)
    assert _ingest(warehouse, good).responses_loaded == 1
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM survey_response").fetchone()[0] == 1
    unknown = tmp_path / "other.csv"
    unknown.write_text("a,b\n1,2\n", "utf-8")
    with pytest.raises(InputFileError, match="neither a KoboToolbox"):
        _ingest(warehouse, unknown)


def test_xlsform_round_trip_and_bilingual_labels(tmp_path: Path) -> None:
    for role in ("esp_staff", "ssm_staff", "job_seeker", "employer"):
        instrument = builtin(role)
        path = tmp_path / f"{role}.xlsx"
        write_xlsform(instrument, path)
        back = read_xlsform(path)
        assert back.questions == instrument.questions and back.choices == instrument.choices and back.role == role
        labelled = [q for q in instrument.answerable]
        assert all(q.en and q.fr and q.en != q.fr for q in labelled)
        assert sum(q.kind == "text" for q in labelled) >= 2 and sum("agree5" in q.type for q in labelled) >= 4
    sheets = pl.read_excel(tmp_path / "employer.xlsx", sheet_id=0)
    assert set(sheets) == {"survey", "choices", "settings"}
    assert {"type", "name", "label::English (en)", "label::Français (fr)"} <= set(sheets["survey"].columns)
