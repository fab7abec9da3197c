"""Reading real-world extract shapes: encodings, delimiters, layouts, mappings, missing columns."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from conftest import TEST_KEY, Ingested
from esmonitor.errors import InputFileError, MappingError, UserInputError
from esmonitor.ingest import pipeline
from esmonitor.ingest.columns import detect_entity, load_mapping, normalise_header
from esmonitor.ingest.pipeline import IngestOptions
from esmonitor.ingest.pseudonym import Pseudonymizer
from esmonitor.ingest.sources import detect_delimiter, detect_encoding, inspect
from esmonitor.warehouse import Warehouse

P = Pseudonymizer(TEST_KEY)
CLIENT_HEADER = "client_id;registered_on;birth_year;gender;social_assistance\n"


@pytest.mark.parametrize(("text", "encoding", "expected"), [
    ("a,b\né,€\n", "utf-8", "utf-8"),
    ("a,b\né,€\n", "utf-8-sig", "utf-8-sig"),
    ("a,b\né,€ – œ\n", "cp1252", "cp1252"),
    ("a,b\nplain\n", "ascii", "utf-8"),
])
def test_encoding_detection(tmp_path: Path, text: str, encoding: str, expected: str) -> None:
    f = tmp_path / "x.csv"
    f.write_bytes(text.encode(encoding))
    assert detect_encoding(f) == expected


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_detection(delimiter: str) -> None:
    sample = "\n".join(delimiter.join(row) for row in
                       [["id", "date", "name"], ["1", "2023-01-01", "a, b"], ["2", "2023-01-02", "c"]])
    assert detect_delimiter(sample) == delimiter


def test_windows_1252_semicolon_file_with_french_labels_loads(tmp_path: Path) -> None:
    f = tmp_path / "clients.csv"
    f.write_bytes((CLIENT_HEADER + "1;2023-01-05;1990;Préfère ne pas répondre;Ontario au travail\n"
                   "2;2023/01/06;1991;Femme;POSPH\n").encode("cp1252"))
    with Warehouse(tmp_path / "w.duckdb") as w:
        [r] = pipeline.ingest_files(w, [f], P)
        rows = sorted(w.fetchall("SELECT registered_on::VARCHAR, gender, social_assistance FROM client"))
    assert (r.encoding, r.delimiter, r.rows_loaded) == ("cp1252", ";", 2)
    assert rows == [("2023-01-05", "prefer_not", "ow"), ("2023-01-06", "woman", "odsp")]


def test_quarantine_names_file_row_column_value_and_rule(tmp_path: Path) -> None:
    f = tmp_path / "clients.csv"
    f.write_text(CLIENT_HEADER.replace(";", ",") + "1,2023-01-05,1990,woman,ow\n"
                 "2,2023-13-01,1991,woman,ow\n3,2023-01-01,19x1,woman,ow\n4,2023-01-01,1990,zebra,ow\n"
                 "5,2023-01-01,1990,woman,\n")
    with Warehouse(tmp_path / "w.duckdb") as w:
        [r] = pipeline.ingest_files(w, [f], P)
        rows = w.fetchall("SELECT file_name, source_row, column_name, value, rule FROM quarantine "
                          "ORDER BY source_row")
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (5, 1, 4)
    assert rows == [("clients.csv", 3, "registered_on", "2023-13-01", "invalid_date"),
                    ("clients.csv", 4, "birth_year", "19x1", "invalid_number"),
                    ("clients.csv", 5, "gender", "zebra", "unknown_code"),
                    ("clients.csv", 6, "social_assistance", None, "missing_value")]


def test_missing_required_column_quarantines_every_row(tmp_path: Path) -> None:
    f = tmp_path / "clients.csv"
    f.write_text("client_id,birth_year\n1,1990\n2,1991\n")
    with Warehouse(tmp_path / "w.duckdb") as w:
        [r] = pipeline.ingest_files(w, [f], P)
        rules = w.fetchall("SELECT DISTINCT column_name, rule FROM quarantine ORDER BY 1")
        assert w.count("client") == 0
    assert r.status == "rejected"
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (2, 0, 2)
    assert rules == [("registered_on", "missing_column"), ("social_assistance", "missing_column")]


def test_statcan_layout_values_equal_the_generated_series(clean_ingested: Ingested) -> None:
    source = pl.read_csv(clean_ingested.extracts / "lfs_1410038701.csv")
    sample = source.filter(pl.col("REF_DATE") == "2020-04").filter(
        pl.col("Labour force characteristics") == "Unemployment rate")
    with Warehouse(clean_ingested.warehouse, read_only=True) as w:
        for dguid, value in zip(sample["DGUID"], sample["VALUE"], strict=True):
            stored = w.scalar("SELECT value FROM labour_market WHERE economic_region = ? AND "
                              "month = DATE '2020-04-01' AND characteristic = 'Unemployment rate' "
                              "AND statistic = 'Estimate'", [dguid[-4:]])
            assert stored == pytest.approx(value)


def test_plain_long_labour_market_table(tmp_path: Path) -> None:
    f = tmp_path / "labour_market.csv"
    f.write_text("economic_region,month,characteristic,value\n3550,2024-01,Unemployment rate,7.1\n"
                 "Toronto,2024-02,Unemployment rate,8.0\n9999,2024-01,Unemployment rate,5\n")
    with Warehouse(tmp_path / "w.duckdb") as w:
        [r] = pipeline.ingest_files(w, [f], P)
        rows = sorted(w.fetchall("SELECT economic_region, month::VARCHAR, statistic, value FROM labour_market"))
    assert rows == [("3530", "2024-02-01", "Estimate", 8.0), ("3550", "2024-01-01", "Estimate", 7.1)]
    assert r.quarantine_by_rule == {"unknown_code": 1}


def test_mapping_file_maps_renamed_columns_and_rejects_bad_fields(tmp_path: Path) -> None:
    mapping = tmp_path / "map.toml"
    mapping.write_text('[[file]]\nmatch = "export*.csv"\nentity = "client"\ndate_formats = ["%d/%m/%Y"]\n'
                       '[file.columns]\nCLNT = "client_id"\nREG = "registered_on"\nYOB = "birth_year"\n'
                       'SA = "social_assistance"\nJUNK = ""\n')
    f = tmp_path / "export_2024.csv"
    f.write_text("CLNT,REG,YOB,SA,JUNK\n1,31/01/2024,1990,ow,x\n")
    with Warehouse(tmp_path / "w.duckdb") as w:
        [r] = pipeline.ingest_files(w, [f], P, IngestOptions(mapping=load_mapping(mapping)))
        assert w.fetchall("SELECT registered_on::VARCHAR FROM client") == [("2024-01-31",)]
    assert r.ignored_columns == []
    bad = tmp_path / "bad.toml"
    bad.write_text('[[file]]\nmatch = "x*"\nentity = "client"\n[file.columns]\nA = "shoe_size"\n')
    with pytest.raises(MappingError, match="shoe_size"):
        load_mapping(bad)
    bad.write_text('[[file]]\nmatch = "x*"\nentity = "clients"\n')
    with pytest.raises(MappingError, match="unknown entity 'clients'"):
        load_mapping(bad)
    # the red-team cases: a target no field has, a misspelt key, a value of the wrong kind, not UTF-8
    for text, says in (('[[file]]\nmatch = "c*"\n[file.columns]\nGender = "gendre"\n', "'gendre' not fields of any"),
                       ('[[file]]\nmatch = "c*"\ndate_format = ["%d/%m/%Y"]\n',
                        r"unknown key 'file\[1\]\.date_format' \(allowed: match, entity, columns, date_formats"),
                       ('[[file]]\nmatch = "c*"\ncolumns = "x"\n', r"file\[1\]\.columns = 'x': input should be"),
                       ('[[file]]\nmatch = "c*"\ncell_cap = 0\n', "cell_cap = 0: input should be greater")):
        bad.write_text(text, "utf-8")
        with pytest.raises(MappingError, match=says):
            load_mapping(bad)
    bad.write_bytes("[[file]]\nmatch = \"caf\u00e9*\"\n".encode("cp1252"))
    with pytest.raises(MappingError, match=r"not UTF-8 text \(byte 22, line 2\)"):
        load_mapping(bad)


def test_a_funding_model_file_is_checked_key_by_key(tmp_path: Path) -> None:
    from esmonitor.funding.model import load_model

    path = tmp_path / "model.toml"
    path.write_text('[model]\nid = "x"\nversion = "1"\nkind = "per_outcome"\n[shares]\nperformance = [0.2]\n'
                    '[payments]\nA = { 1 = "34" }\n[caps]\nshortfal = "none"\n', "utf-8")
    with pytest.raises(UserInputError, match=r"payments\.A\.1 = '34': input should be a valid number; unknown key "
                                             r"'caps\.shortfal' \(allowed: pot, shortfall, surplus\)"):
        load_model(path)


def test_entity_detection_by_name_and_by_headers(tmp_path: Path) -> None:
    assert detect_entity(Path("referrals_2024Q3.csv"), ()) == "referral"
    assert detect_entity(Path("14100387.csv"), ()) == "labour_market"
    headers = ("Referral Number", "CaMS Client ID", "Referral Source", "Date Referred", "Site Code",
               "Referral Outcome")
    assert detect_entity(Path("export.csv"), headers) == "referral"
    with pytest.raises(InputFileError, match="cannot tell"):
        detect_entity(Path("export.csv"), ("a", "b"))


def test_unreadable_inputs_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="file not found"):
        inspect(tmp_path / "nope.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InputFileError, match="unsupported file type"):
        inspect(tmp_path / "x.json")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputFileError, match="is empty"):
        inspect(tmp_path / "empty.csv")
    (tmp_path / "fake.xlsx").write_text("not a workbook")
    with pytest.raises(InputFileError, match="Excel"):
        inspect(tmp_path / "fake.xlsx")


def test_header_normalisation() -> None:
    assert normalise_header("  Date référée (AAAA-MM-JJ) ") == "date_referee_aaaa_mm_jj"
    assert normalise_header("CaMS Client ID") == "cams_client_id"


def test_monthly_labour_market_view_pivots_the_three_rates(clean_ingested: Ingested) -> None:
    source = pl.read_csv(clean_ingested.extracts / "lfs_1410038701.csv").filter(
        (pl.col("REF_DATE") == "2024-06") & (pl.col("DGUID") == "2016A00053550"))
    expected = dict(zip(source["Labour force characteristics"], source["VALUE"], strict=True))
    with Warehouse(clean_ingested.warehouse, read_only=True) as w:
        row = w.fetchall("SELECT unemployment_rate, employment_rate, participation_rate "
                         "FROM labour_market_monthly WHERE economic_region = '3550' "
                         "AND month = DATE '2024-06-01'")
    assert row == [(pytest.approx(expected["Unemployment rate"]),
                    pytest.approx(expected["Employment rate"]),
                    pytest.approx(expected["Participation rate"]))]


def test_duplicate_rows_and_conflicting_keys_in_one_file(tmp_path: Path) -> None:
    f = tmp_path / "clients.csv"
    f.write_text("client_id,registered_on,birth_year,social_assistance\n"
                 "1,2023-01-01,1990,ow\n2,2023-01-01,1991,ow\n1,2023-01-01,1990,ow\n"
                 " 2 ,2023-01-01,1999,ow\n3,2023-01-01,1990,none\n")
    with Warehouse(tmp_path / "w.duckdb") as w:
        [r] = pipeline.ingest_files(w, [f], P)
        rows = w.fetchall("SELECT source_row, rule FROM quarantine ORDER BY source_row")
        kept = sorted(w.fetchall("SELECT birth_year FROM client"))
    assert rows == [(4, "duplicate_row"), (5, "duplicate_key")]
    assert kept == [(1990,), (1990,), (1991,)]
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (5, 3, 2)


def test_typed_parquet_columns_are_checked_without_text_round_trip(tmp_path: Path) -> None:
    import datetime as dt

    f = tmp_path / "clients.parquet"
    pl.DataFrame({
        "client_id": ["a", "b", "c"],
        "registered_on": [dt.date(2023, 1, 5), dt.date(1999, 12, 31), None],
        "birth_year": [1990, 1991, 2050],
        "social_assistance": ["ow", "none", "odsp"],
        "hours_worked_at_intake": [10.5, None, 30.0],
    }).write_parquet(f)
    with Warehouse(tmp_path / "w.duckdb") as w:
        [r] = pipeline.ingest_files(w, [f], P)
        problems = w.fetchall("SELECT source_row, column_name, value, rule FROM quarantine ORDER BY 1, 2")
        loaded = w.fetchall("SELECT registered_on::VARCHAR, birth_year, hours_worked_at_intake FROM client")
    assert problems == [(2, "registered_on", "1999-12-31", "date_out_of_range"),
                        (3, "birth_year", "2050", "out_of_range"),
                        (3, "registered_on", None, "missing_value")]
    assert loaded == [("2023-01-05", 1990, 10.5)]
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (3, 1, 2)


def test_malformed_csv_lines_are_quarantined_and_later_rows_keep_their_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "clients.csv"
    f.write_text("client_id,registered_on,birth_year,social_assistance\n"
                 "1,2023-01-01,1990,ow\n"
                 "2,2023-01-01,1990,ow,Jane Doe,046 454 286\n"
                 "3,2023-01-01\n"
                 "4,2023-01-01,1990,ow\n"
                 "5,2023-13-01,1990,ow\n")
    with Warehouse(tmp_path / "w.duckdb", engine_config={"force_compression": "uncompressed"}) as w:
        [r] = pipeline.ingest_files(w, [f], P)
        rows = w.fetchall("SELECT source_row, rule FROM quarantine ORDER BY source_row")
        assert w.count("client") == 2
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (5, 2, 3)
    assert rows == [(3, "malformed_row"), (4, "malformed_row"), (6, "invalid_date")]
    blob = (tmp_path / "w.duckdb").read_bytes()
    assert b"Jane Doe" not in blob and b"046 454 286" not in blob
