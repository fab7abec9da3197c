"""Every record of a CSV file accounted for: well-formed extracts corrupted at random (unclosed
quotes, extra fields, over-long cells, quoted line breaks, CR and CRLF line ends, blank lines)
are read to ``rows_read = rows_loaded + rows_quarantined = records written``, each corrupted
record quarantined under its own rule at its own line, and every other record loaded."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esmonitor.ingest.columns import load_mapping
from esmonitor.ingest.pipeline import FileReport, IngestOptions, ingest_files
from esmonitor.ingest.pseudonym import Pseudonymizer
from esmonitor.ingest.records import resync
from esmonitor.synth import SynthConfig, generate, write_province
from esmonitor.warehouse import Warehouse

KEY = bytes(range(32))
CAP = 64  # a small cell cap, set in the column map, so over-long cells stay small
BROKEN = {"quote": "malformed_row", "extra": "malformed_row", "cell": "cell_too_long", "control": "control_character"}
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-32", "cp1252")
HARMLESS = ("newline", "crlf", "cr", "blank")


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[list[str]]]:
    """The header and records of a synthetic clients file (200 records)."""
    out = tmp_path_factory.mktemp("records")
    write_province(generate(SynthConfig(clients=200, seed=5)), out)
    with (out / "clients.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _ingest(folder: Path, path: Path) -> tuple[FileReport, list[tuple[int, str]]]:
    (folder / "map.toml").write_text(f'[[file]]\nmatch = "clients*"\nentity = "client"\ncell_cap = {CAP}\n',
                                     "utf-8")
    warehouse = folder / "w.duckdb"
    with Warehouse(warehouse) as w:
        options = IngestOptions(mapping=load_mapping(folder / "map.toml"))
        (report,) = ingest_files(w, [path], Pseudonymizer(KEY), options)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        quarantined = [(int(r), str(rule)) for r, rule in con.execute(
            "SELECT DISTINCT source_row, rule FROM quarantine ORDER BY 1").fetchall()]
        assert con.execute("SELECT count(*) FROM client").fetchone()[0] == report.rows_loaded
    return report, quarantined


def _write(header: list[str], records: list[list[str]], damage: dict[int, str]) -> tuple[str, dict[int, int]]:
    """The file's text, and the physical line of each record (the header is line 1)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(header)
    line, where = 2, {}
    for i, fields in enumerate(records):
        fields = list(fields)
        kind = damage.get(i)
        end = {"crlf": "\r\n", "cr": "\r"}.get(kind or "", "\n")
        if kind == "cell":
            fields[3] = "x" * (CAP + 1)
        if kind == "control":
            fields[0] = fields[0][:2] + "\x00" + fields[0][2:]  # a NUL inside the client id
        if kind == "newline":
            fields[3] = "two\nlines"  # a quoted line break: one record on two lines (an unknown code)
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator=end).writerow(fields)
        text = buffer.getvalue()
        if kind == "quote":
            cut = text.index(",") + 1
            text = text[:cut] + '"' + text[cut:]  # a quote opened in the second field, never closed
        if kind == "extra":
            text = text[: -len(end)] + ",surplus" + end
        where[i] = line
        out.write(text)
        line += text.count("\n") + text.count("\r") - text.count("\r\n")
        if kind == "blank":
            out.write("\n")
            line += 1
    return out.getvalue(), where


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=st.dictionaries(st.integers(0, 199), st.sampled_from(sorted(BROKEN) + list(HARMLESS)),
                              min_size=1, max_size=12),
       encoding=st.sampled_from(ENCODINGS))
def test_every_record_is_loaded_or_quarantined_at_its_line(clients: tuple[list[str], list[list[str]]],
                                                           tmp_path_factory: pytest.TempPathFactory,
                                                           damage: dict[int, str], encoding: str) -> None:
    """Any mix of damage, in any encoding people export (UTF-16 and UTF-32 with their byte-order
    mark, as Excel's "Unicode Text" writes them; Windows-1252): every record is accounted for."""
    header, records = clients
    folder = tmp_path_factory.mktemp("damaged")
    text, where = _write(header, records, damage)
    path = folder / "clients.csv"
    path.write_bytes(text.encode(encoding, errors="replace"))
    report, quarantined = _ingest(folder, path)
    assert report.status != "rejected", report.message
    assert report.rows_read == len(records) == report.rows_loaded + report.rows_quarantined
    broken = {where[i]: BROKEN[k] for i, k in damage.items() if k in BROKEN}
    assert {line: rule for line, rule in quarantined if line in broken} == broken
    # nothing else is quarantined but the record whose quoted line break is not a code
    others = {line for line, _ in quarantined} - set(broken)
    assert others <= {where[i] for i, k in damage.items() if k == "newline"}
    assert report.rows_quarantined == len(broken) + len(others)


def test_one_unclosed_quote_loses_nothing_else(clients: tuple[list[str], list[list[str]]], tmp_path: Path) -> None:
    """The red-team case: an unclosed quote in record 10 of 200 used to swallow the 190 records
    after it, reported as loaded."""
    header, records = clients
    text, where = _write(header, records, {9: "quote"})
    path = tmp_path / "clients.csv"
    path.write_text(text, "utf-8")
    report, quarantined = _ingest(tmp_path, path)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (200, 199, 1)
    assert quarantined == [(where[9], "malformed_row")] == [(11, "malformed_row")]
    assert report.status == "loaded_with_quarantine"


def test_a_cell_over_the_cap_sends_its_record_to_the_quarantine(clients: tuple[list[str], list[list[str]]],
                                                               tmp_path: Path) -> None:
    """A 32 MiB cell (the default cap is 1 MiB) used to drop its record without a word."""
    header, records = clients
    records = [list(r) for r in records]
    records[19][3] = "x" * (32 << 20)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *records])
    path = tmp_path / "big.csv"
    path.write_text(out.getvalue(), "utf-8")
    found = resync(path, encoding="utf-8", delimiter=",", width=len(header))
    assert found.malformed == [(21, "cell_too_long", "a cell longer than 1,048,576 characters")]
    assert found.lines == [n for n in range(2, 202) if n != 21]


def test_the_reader_resynchronises_on_the_next_line(tmp_path: Path) -> None:
    """By hand: a quoted line break is one record, an unclosed quote is one malformed line and
    the next line is read again, blank lines are not records, CR and CRLF end lines."""
    path = tmp_path / "t.csv"
    path.write_bytes(b'a,b\r\n1,2\r\n"3,4\n5,6\r7,"x\ny"\n\n8,9,10\n11,12')
    found = resync(path, encoding="utf-8", delimiter=",", width=2)
    assert found.lines == [2, 4, 5, 9]
    assert found.fields == [["1", "2"], ["5", "6"], ["7", "x\ny"], ["11", "12"]]
    assert [(line, rule) for line, rule, _ in found.malformed] == [(3, "malformed_row"), (8, "malformed_row")]
    assert found.blank == 1 and found.physical == 8


def test_an_ingest_killed_mid_batch_leaves_nothing_behind(tmp_path: Path) -> None:
    """kill -9 during the batch of a Windows-1252 file (whose UTF-8 copy, with the identifier
    columns, is staged): nothing in the system's temporary folder, and the next ingest sweeps the
    staging folder beside the warehouse; no staging view outlives its batch."""
    import os
    import signal
    import subprocess
    import sys
    import time

    extracts = tmp_path / "extracts"
    write_province(generate(SynthConfig(clients=60_000, seed=5)), extracts)
    text = (extracts / "clients.csv").read_text("utf-8").splitlines(keepends=True)
    header = text[0].rstrip("\n") + ",Client Name\n"
    body = [line.rstrip("\n") + ",Amélie Tremblay\n" for line in text[1:]]
    path = tmp_path / "clients.csv"
    path.write_bytes("".join([header, *body]).encode("cp1252"))
    (tmp_path / "key").write_text("ab" * 32 + "\n", "ascii")
    (tmp_path / "key").chmod(0o600)
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    warehouse = tmp_path / "w.duckdb"
    staging = tmp_path / "w.duckdb.staging"
    command = [str(Path(sys.executable).parent / "esmonitor"), "ingest", str(path), "-w", str(warehouse),
               "--key-file", str(tmp_path / "key"), "--report", str(tmp_path / "r.json")]
    child = subprocess.Popen(command, env=os.environ | {"TMPDIR": str(system_tmp)}, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(staging.glob("batch-*/*")) and child.poll() is None:
        time.sleep(0.02)
    assert child.poll() is None, "the ingest finished before it could be killed: use a larger file"
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert any(staging.glob("batch-*/*"))  # the staged copy, at the moment of the kill
    assert staging.stat().st_mode & 0o077 == 0  # private to its owner
    assert not [p for p in system_tmp.rglob("*")]
    done = subprocess.run(command, env=os.environ | {"TMPDIR": str(system_tmp)}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not staging.exists() and not [p for p in system_tmp.rglob("*")]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        assert not views & {"_raw", "_stg", "_good"}, views
        assert con.execute("SELECT count(*) FROM client").fetchone()[0] == 60_000


def test_identifiers_typed_into_the_wrong_column_are_masked_in_the_quarantine(tmp_path: Path) -> None:
    """A name in Gender, a SIN (valid checksum) in a date, an e-mail, a phone: none reaches the
    quarantine or its export as it is; each becomes its type and a keyed hash, the same for the
    same value; ordinary bad values stay readable, so they can be fixed."""
    from typer.testing import CliRunner

    from esmonitor.cli import app

    path = tmp_path / "clients.csv"
    path.write_text("client_id,registered_on,birth_year,social_assistance,gender\n"
                    "1,2023-01-01,1990,ow,Amélie Tremblay\n2,046 454 286,1990,ow,man\n"
                    "3,2023-01-01,1990,ow,jane.doe@example.com\n4,2023-13-01,1990,ow,man\n"
                    "5,2023-01-01,19x0,ow,(416) 555-0199\n6,2023-01-01,1990,ow,Amélie Tremblay\n", "utf-8")
    (tmp_path / "key").write_text("cd" * 32 + "\n", "ascii")
    (tmp_path / "key").chmod(0o600)
    runner = CliRunner()
    w = str(tmp_path / "w.duckdb")
    result = runner.invoke(app, ["ingest", str(path), "-w", w, "--key-file", str(tmp_path / "key"),
                                 "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["quarantine", "-w", w, "-o", str(tmp_path / "q.csv")]).exit_code == 0
    exported = (tmp_path / "q.csv").read_text("utf-8")
    with duckdb.connect(w, read_only=True) as con:
        stored = " ".join(str(v) for row in con.execute("SELECT * FROM quarantine").fetchall() for v in row)
    for text in (exported, stored):
        for planted in ("Amélie", "Tremblay", "046 454 286", "jane.doe", "example.com", "555-0199"):
            assert planted not in text, planted
        assert "2023-13-01" in text and "19x0" in text
    names = [line.split(",")[3] for line in exported.splitlines() if ",gender," in line and "NAME" in line]
    assert len(names) == 2 and names[0] == names[1] and names[0].startswith("[NAME:")
    for kind in ("SIN", "EMAIL", "PHONE"):
        assert f"[{kind}:" in exported


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_unicode_text_files_load_whole_with_clean_headers(clients: tuple[list[str], list[list[str]]],
                                                          tmp_path: Path, encoding: str) -> None:
    """Excel's "Unicode Text" (UTF-16 with a byte-order mark, tab-separated, CRLF) and UTF-32
    load every record, headers without NUL characters, read in their encoding (no copy)."""
    import codecs

    from esmonitor.ingest.sources import inspect

    header, records = clients
    out = io.StringIO()
    csv.writer(out, delimiter="\t", lineterminator="\r\n").writerows([header, *records])
    path = tmp_path / "clients.txt"
    bom = {"utf-16-be": codecs.BOM_UTF16_BE}.get(encoding, b"")
    path.write_bytes(bom + out.getvalue().encode(encoding))
    source = inspect(path)
    assert source.encoding in ("utf-16", "utf-32") and source.delimiter == "\t"
    assert list(source.headers) == header and not any("\x00" in h for h in source.headers)
    report, quarantined = _ingest(tmp_path, path)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (200, 200, 0), quarantined
    assert not list(tmp_path.glob("*.staging/*"))


def test_a_control_character_in_an_id_is_quarantined(clients: tuple[list[str], list[list[str]]],
                                                     tmp_path: Path) -> None:
    """A NUL inside a client id (or another control character) is quarantined as
    control_character, so that client is not stored apart from the same id written cleanly."""
    header, records = clients
    records = [list(r) for r in records]
    records[4][0] = records[4][0][:3] + "\x00" + records[4][0][3:]
    records[7][0] = records[7][0] + "\x1b"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *records])
    path = tmp_path / "clients.csv"
    path.write_text(out.getvalue(), "utf-8")
    report, quarantined = _ingest(tmp_path, path)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (200, 198, 2)
    assert quarantined == [(6, "control_character"), (9, "control_character")]


def test_a_workbook_names_the_sheet_it_reads_and_a_bomb_is_refused_quickly(tmp_path: Path) -> None:
    """Every sheet is examined: the first with a header is read and named, the others listed;
    the column map's sheet chooses another. A workbook that inflates past the cap (a 6 MB file
    of 2.7 GB once took 157 s and 7 GB) is refused in seconds, in bounded memory."""
    import resource
    import time
    import zipfile

    import xlsxwriter

    from esmonitor.errors import InputFileError
    from esmonitor.ingest.sources import check_workbook, inspect

    book = tmp_path / "clients.xlsx"
    with xlsxwriter.Workbook(str(book)) as wb:
        wb.add_worksheet("Notes")
        for name, ids in (("Clients", ["1", "2"]), ("Archive", ["3"])):
            ws = wb.add_worksheet(name)
            for c, h in enumerate(["client_id", "registered_on", "birth_year", "social_assistance"]):
                ws.write(0, c, h)
            for r, i in enumerate(ids, start=1):
                for c, v in enumerate([i, "2023-01-01", "1990", "ow"]):
                    ws.write_string(r, c, v)
    first = inspect(book)
    assert (first.sheet, first.other_sheets) == ("Clients", ("Archive",))
    assert inspect(book, sheet="Archive").sheet == "Archive"
    with pytest.raises(InputFileError, match="has no sheet 'Clients2'"):
        inspect(book, sheet="Clients2")
    (tmp_path / "map.toml").write_text('[[file]]\nmatch = "clients*"\nentity = "client"\nsheet = "Archive"\n', "utf-8")
    with Warehouse(tmp_path / "w.duckdb") as w:
        options = IngestOptions(mapping=load_mapping(tmp_path / "map.toml"))
        (report,) = ingest_files(w, [book], Pseudonymizer(KEY), options)
    assert (report.sheet, report.rows_loaded) == ("Archive", 1)
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("xl/worksheets/sheet1.xml", "w") as part:
            block = b"<row><c><v>0</v></c></row>" * 40_000
            for _ in range(300):  # about 300 MiB inflated, a few hundred KiB on disk
                part.write(block)
    assert bomb.stat().st_size < 5 << 20
    before, started = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    with pytest.raises(InputFileError, match="inflates to more than 256 MiB"):
        check_workbook(bomb)
    assert time.perf_counter() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500 * 1024  # KiB on Linux


def test_a_survey_export_among_extracts_and_a_file_of_no_known_column_are_refused(tmp_path: Path) -> None:
    """A survey export dropped among the extracts is refused whole with the command to use (it
    was taken for a provider file and its rows quarantined as junk); a file whose columns are no
    field says which headers it saw and which fields it expected (it gave the engine's own
    "SELECT clause without selection list")."""
    from esmonitor.ingest.columns import detect_entity, plan_columns
    from esmonitor.synth.voices import write_voices

    voices = tmp_path / "voices"
    write_voices(voices, seed=3, respondents={"job_seeker": 20, "esp_staff": 10, "ssm_staff": 5, "employer": 5})
    exports = sorted(p for p in voices.iterdir() if p.suffix in (".csv", ".xlsx"))
    assert len(exports) >= 4
    with Warehouse(tmp_path / "w.duckdb") as w:
        reports = ingest_files(w, exports, Pseudonymizer(KEY))
    assert all(r.status == "rejected" and "survey export" in (r.message or "") and r.rows_read == 0
               for r in reports), [(r.path, r.message) for r in reports]
    odd = tmp_path / "providers.csv"
    odd.write_text("colour,shape\nred,round\n", "utf-8")
    headers = ("colour", "shape")
    with pytest.raises(Exception, match=r"none of its columns is a field of provider \(its headers: 'colour', 'sha"):
        plan_columns(detect_entity(odd, headers), headers, None, odd)
    with Warehouse(tmp_path / "w.duckdb") as w:
        (report,) = ingest_files(w, [odd], Pseudonymizer(KEY))
    assert report.status == "rejected" and "none of its columns" in (report.message or "")
    assert "SELECT" not in (report.message or "")


def test_identifier_columns_of_answers_are_dropped_and_listed(tmp_path: Path) -> None:
    """`voices redact` drops the e-mail, name, phone, IP address and respondent-id columns of its
    input (it passed them through) and says so; `voices ingest` lists them as never stored."""
    import polars as pl
    from typer.testing import CliRunner

    from esmonitor.cli import app
    from esmonitor.synth.voices import write_voices

    answers = tmp_path / "answers.csv"
    pl.DataFrame({"Email Address": ["a@b.ca"], "Name": ["Jo Smith"], "Phone": ["416-555-0199"],
                  "IP Address": ["10.0.0.1"], "ResponseId": ["R_1"], "answer": ["Call Jo at 416-555-0199"],
                  "catchment": ["TOR"]}).write_csv(answers)
    out = tmp_path / "clean.csv"
    result = CliRunner().invoke(app, ["voices", "redact", str(answers), "--text", "answer", "--out", str(out)])
    assert result.exit_code == 0, result.output
    kept = pl.read_csv(out)
    assert kept.columns == ["answer", "catchment", "language"] and "416" not in kept["answer"][0]
    said = " ".join(result.output.split())
    assert all(c in said for c in ("Email Address", "Name", "Phone", "IP Address", "ResponseId"))
    voices = tmp_path / "voices"
    write_voices(voices, seed=3, respondents={"job_seeker": 20, "esp_staff": 10, "ssm_staff": 5, "employer": 5})
    (tmp_path / "key").write_text("ef" * 32 + "\n", "ascii")
    (tmp_path / "key").chmod(0o600)
    result = CliRunner().invoke(app, ["voices", "ingest", str(voices), "-w", str(tmp_path / "w.duckdb"),
                                      "--key-file", str(tmp_path / "key"), "--json"])
    assert result.exit_code == 0, result.output
    reports = json.loads(result.stdout[result.stdout.index("{"):])["files"]
    limesurvey = [r for r in reports if r["format"] == "limesurvey"]
    assert limesurvey and all({"ipaddr", "token"} <= set(r["dropped_identifier_columns"]) for r in limesurvey)


def test_the_same_responses_in_other_bytes_add_nothing(tmp_path: Path) -> None:
    """Survey responses ingested again from a file with other bytes (re-exported with CRLF line
    ends) are recognised by their content (each response's keyed id): nothing is added."""
    from typer.testing import CliRunner

    from esmonitor.cli import app
    from esmonitor.synth.voices import write_voices

    voices = tmp_path / "voices"
    write_voices(voices, seed=3, respondents={"job_seeker": 20, "esp_staff": 10, "ssm_staff": 5, "employer": 30})
    (tmp_path / "key").write_text("ef" * 32 + "\n", "ascii")
    (tmp_path / "key").chmod(0o600)
    w = str(tmp_path / "w.duckdb")
    args = ["-w", w, "--key-file", str(tmp_path / "key"), "--json", "--instrument", "employer", "--wave", "2023"]
    first = CliRunner().invoke(app, ["voices", "ingest", str(voices / "employer_2023.csv"), *args])
    assert first.exit_code == 0, first.output
    again = tmp_path / "employer_2023_reexported.csv"
    again.write_bytes((voices / "employer_2023.csv").read_bytes().replace(b"\n", b"\r\n"))
    second = CliRunner().invoke(app, ["voices", "ingest", str(again), *args])
    assert second.exit_code == 0, second.output
    (before,) = json.loads(first.stdout[first.stdout.index("{"):])["files"]
    (after,) = json.loads(second.stdout[second.stdout.index("{"):])["files"]
    assert before["responses_loaded"] == 30 and not after["skipped"]
    assert (after["responses_loaded"], after["responses_already_stored"]) == (0, 30)
    with duckdb.connect(w, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM survey_response").fetchone()[0] == 30


@pytest.mark.parametrize("where", ["none", "first", "last"])
def test_the_scan_counts_lines_and_finds_control_bytes_across_chunks(tmp_path: Path, where: str) -> None:
    """The one read that hashes a file also counts its lines (a CRLF split between two chunks
    is one line end) and finds any control byte, wherever it lies: a file without one skips the
    per-cell check, so a miss here would let a NUL into an id."""
    import hashlib
    import re

    from esmonitor.ingest import sources

    body = bytearray()
    while len(body) < 2 * sources._CHUNK + 10:
        body += b"a1,b2,c3\r\n" if len(body) % 3 else b"x,y\rz,w\n"
    body[sources._CHUNK - 1:sources._CHUNK + 1] = b"\r\n"  # a CRLF across the first boundary
    if where != "none":
        body[5 if where == "first" else len(body) - 3] = 0x00
    path = tmp_path / "f.csv"
    path.write_bytes(bytes(body))
    scan = sources._scan(path)
    assert scan.sha256 == hashlib.sha256(bytes(body)).hexdigest()
    expected = len(re.findall(rb"\r\n|\r|\n", bytes(body))) + (0 if body[-1:] in (b"\n", b"\r") else 1)
    assert scan.lines == expected
    assert scan.control_free is (where == "none")


ENGINE_WORDS = ("Error:", "magic", "calamine", "Invalid Input", "IO Error", "Binder", "Parser", "Traceback",
                "duckdb", "arrow", "thrift")


def test_a_damaged_file_is_refused_with_its_name_and_what_to_do(clients: tuple[list[str], list[list[str]]],
                                                                 tmp_path: Path) -> None:
    """Whatever the reader's failure (a truncated Parquet file, a page damaged behind a sound
    footer, a workbook that is not one, a workbook whose sheet is garbled), the report names the
    file, says what it is and what to do, and carries no word of the engine's."""
    import zipfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    from esmonitor.ingest.columns import Mapping

    header, records = clients
    good = tmp_path / "good.parquet"
    many = [r for _ in range(25) for r in records]
    pq.write_table(pa.table({h: [r[i] for r in many] for i, h in enumerate(header)}), good, compression="none")
    data = good.read_bytes()
    (tmp_path / "truncated.parquet").write_bytes(data[: len(data) // 2])
    middle = bytearray(data)
    middle[100:len(data) // 2] = bytes(len(data) // 2 - 100)  # the column chunks zeroed; the footer intact
    (tmp_path / "paged.parquet").write_bytes(bytes(middle))
    (tmp_path / "notabook.xlsx").write_text("client_id,registered_on\nC1,2023-01-01\n", "utf-8")
    with zipfile.ZipFile(tmp_path / "garbled.xlsx", "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook><sheets><sheet name='a' r:id='x'/></sheets>")
    names = ["truncated.parquet", "paged.parquet", "notabook.xlsx", "garbled.xlsx"]
    with Warehouse(tmp_path / "w.duckdb") as w:
        reports = ingest_files(w, [tmp_path / n for n in names], Pseudonymizer(KEY),
                               IngestOptions(mapping=Mapping(), entity="client"))
        assert w.count("client") == 0
    assert sorted(Path(r.path).name for r in reports) == sorted(names)
    for r in reports:
        message = r.message or ""
        assert r.status == "rejected" and r.rows_loaded == 0, (r.path, r.status, message)
        assert Path(r.path).name in message and ("export" in message or "save it again" in message), message
        assert not any(word.lower() in message.lower() for word in ENGINE_WORDS), message
