"""Published tables in: ES client outcomes, FOI workbooks, social-assistance caseloads, Statistics
Canada tables and generic tidy tables become one stored number per row, every cell accounted for
(stored, or quarantined with file, sheet, row, column, value and rule).

Every expected value below is worked out by hand from the file the test writes.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from datetime import date
from pathlib import Path

import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import TEST_KEY
from esmonitor.cli import app
from esmonitor.errors import MappingError
from esmonitor.ingest.columns import load_mapping
from esmonitor.ingest.pipeline import FileReport, IngestOptions, ingest_files
from esmonitor.ingest.pseudonym import Pseudonymizer
from esmonitor.warehouse import Warehouse

P = Pseudonymizer(TEST_KEY)
runner = CliRunner()

ES_HEADER = ("est_region,fiscal_year,eo_program,sds_id,sds_name,sds_sec,num_assist,out_exit_sum_emp,out_exit_sum_te,"
             "out_exit_unemp,out_exit_sum_oth,out_exit_unkn,out_exit_null,out_3_sum_emp,out_3_sum_te,out_3_unemp,"
             "out_3_oth,out_3_unkn,out_3_null")
STATCAN_HEADER = ("REF_DATE,GEO,DGUID,Labour force characteristics,Statistics,Data type,UOM,UOM_ID,SCALAR_FACTOR,"
                  "SCALAR_ID,VECTOR,COORDINATE,VALUE,STATUS,SYMBOL,TERMINATED,DECIMALS")
FOI_OUTCOME_HEADER = ["Catchment Area", "Fiscal Year", "Client Type", "Demographic", "Group", "Interval", "Employed",
                      "Total"]
OBS = ("SELECT source_row, source_column, measure, period, geo_type, geo_id, catchment_id, client_type, dimension, "
       "\"group\", interval_months, value, status, bound_low, bound_high FROM aggregate_observation")


def ingest(warehouse: Path, *files: Path, options: IngestOptions | None = None) -> list[FileReport]:
    with Warehouse(warehouse) as w:
        return ingest_files(w, list(files), P, options or IngestOptions())


def query(warehouse: Path, sql: str) -> list[tuple]:
    with Warehouse(warehouse) as w:
        return w.fetchall(sql)


def cli_ingest(tmp_path: Path, *args: str) -> object:
    (tmp_path / "key").write_text("ab" * 32 + "\n", "ascii")
    (tmp_path / "key").chmod(0o600)
    return runner.invoke(app, ["ingest", *args, "-w", str(tmp_path / "w.duckdb"), "--key-file", str(tmp_path / "key"),
                               "--report", str(tmp_path / "report.json")])


def flat(output: str) -> str:
    """CLI output with rich's line wrapping undone."""
    return " ".join(output.split())


def workbook(path: Path, sheets: list[tuple[str, list[list[object]]]]) -> Path:
    """An xlsx file: each sheet's rows from A1, None an empty cell, a [] row an empty row."""
    wb = xlsxwriter.Workbook(str(path))
    for name, rows in sheets:
        ws = wb.add_worksheet(name)
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                if cell is None:
                    continue
                if isinstance(cell, str):
                    ws.write_string(i, j, cell)  # numbers typed as text stay text
                else:
                    ws.write_number(i, j, cell)
    wb.close()
    return path


# -- 1. ES client outcomes by site -------------------------------------------------------------------

ES_ROWS = [
    "Durham,2022-2023,ES,1273,Centre d'emploi Pétawawa,ES,\"1,200\",600,200,150,x,SP,50,400,100,100,50,150,300",
    "Northeast,2022-2023,ES,1301,Services d'emploi du Nord-Est – Timmins,ES,80,40,10,10,5,5,10,x,SP,20,5,5,30",
    "Kitchener-Waterloo-Barrie,2022-2023,ES,3005,Emploi Barrie,ES,30,10,5,5,5,3,2,5,5,5,5,5,5",
]


def es_file(folder: Path) -> Path:
    f = folder / "Dataset_ES_Client_Outcomes_2223_Table_1.csv"
    f.write_bytes(("\r\n".join([ES_HEADER, *ES_ROWS]) + "\r\n").encode("cp1252"))
    return f


def test_es_client_outcomes_in_windows_1252_every_number_with_status_and_bounds(tmp_path: Path) -> None:
    f = es_file(tmp_path)
    assert "é".encode("cp1252") in f.read_bytes()  # really Windows-1252, not UTF-8
    [r] = ingest(tmp_path / "w.duckdb", f)
    assert (r.status, r.source_kind, r.entity, r.encoding) == (
        "loaded", "es_outcomes", "aggregate:es_outcomes", "cp1252")
    # 3 sites x 13 number columns; x and SP twice each
    assert (r.rows_read, r.cells_read, r.cells_loaded, r.cells_quarantined, r.cells_suppressed) == (3, 39, 39, 0, 4)
    assert r.cells_read == r.cells_loaded + r.cells_quarantined
    rows = query(tmp_path / "w.duckdb", "SELECT source_column, measure, interval_months, value, status, symbol, "
                 "bound_low, bound_high FROM aggregate_observation WHERE geo_id = '1273' ORDER BY source_column")
    published = "published"
    assert sorted(rows) == sorted([
        ("num_assist", "clients_assisted", None, 1200.0, published, "", 1200.0, 1200.0),  # "1,200" quoted
        ("out_exit_sum_emp", "outcome_employed", 0, 600.0, published, "", 600.0, 600.0),
        ("out_exit_sum_te", "outcome_training", 0, 200.0, published, "", 200.0, 200.0),
        ("out_exit_unemp", "outcome_unemployed", 0, 150.0, published, "", 150.0, 150.0),
        ("out_exit_sum_oth", "outcome_other", 0, None, "suppressed", "x", 0.0, None),
        ("out_exit_unkn", "outcome_unknown", 0, None, "suppressed", "SP", 0.0, None),
        ("out_exit_null", "outcome_missing", 0, 50.0, published, "", 50.0, 50.0),
        ("out_3_sum_emp", "outcome_employed", 3, 400.0, published, "", 400.0, 400.0),
        ("out_3_sum_te", "outcome_training", 3, 100.0, published, "", 100.0, 100.0),
        ("out_3_unemp", "outcome_unemployed", 3, 100.0, published, "", 100.0, 100.0),
        ("out_3_oth", "outcome_other", 3, 50.0, published, "", 50.0, 50.0),
        ("out_3_unkn", "outcome_unknown", 3, 150.0, published, "", 150.0, 150.0),
        ("out_3_null", "outcome_missing", 3, 300.0, published, "", 300.0, 300.0),
    ])
    other = dict(((g, c), (v, s)) for g, c, v, s in query(
        tmp_path / "w.duckdb", "SELECT geo_id, source_column, value, status FROM aggregate_observation "
        "WHERE geo_id <> '1273'"))
    assert other[("1301", "num_assist")] == (80.0, "published")
    assert other[("1301", "out_3_sum_emp")] == (None, "suppressed")
    assert other[("1301", "out_3_sum_te")] == (None, "suppressed")
    assert other[("1301", "out_3_null")] == (30.0, "published")
    assert other[("3005", "out_exit_unkn")] == (3.0, "published")
    assert len(other) == 26
    # sites attached to the catchment their est_region names; one period, the programme kept
    assert sorted(query(tmp_path / "w.duckdb", "SELECT DISTINCT geo_type, geo_id, catchment_id, period, period_type, "
                        "period_start, period_end, programme FROM aggregate_observation")) == [
        ("site", "1273", "DUR", "FY2022-23", "fiscal_year", date(2022, 4, 1), date(2023, 3, 31), "ES"),
        ("site", "1301", "NEA", "FY2022-23", "fiscal_year", date(2022, 4, 1), date(2023, 3, 31), "ES"),
        ("site", "3005", "KWB", "FY2022-23", "fiscal_year", date(2022, 4, 1), date(2023, 3, 31), "ES"),
    ]
    ledger = query(tmp_path / "w.duckdb", "SELECT file_name, entity, rows_read, rows_loaded, rows_quarantined, "
                   "rows_new, rows_replaced, rows_unchanged FROM _ingest_batches")
    assert ledger == [("Dataset_ES_Client_Outcomes_2223_Table_1.csv", "aggregate:es_outcomes", 39, 39, 0, 39, 0, 0)]
    assert query(tmp_path / "w.duckdb", "SELECT release_id, kind, file_name FROM aggregate_release") == [
        ("es_outcomes:Dataset_ES_Client_Outcomes_2223_Table_1", "es_outcomes",
         "Dataset_ES_Client_Outcomes_2223_Table_1.csv")]
    assert query(tmp_path / "w.duckdb", "SELECT count(*) FROM quarantine") == [(0,)]


def test_es_client_outcomes_keep_the_accented_site_name(tmp_path: Path) -> None:
    """sds_name is the only human-readable label of a site: read in Windows-1252, it should be
    stored (as the observation's geo_label) with its accents intact."""
    [r] = ingest(tmp_path / "w.duckdb", es_file(tmp_path))
    assert r.status == "loaded"
    labels = dict(query(tmp_path / "w.duckdb", "SELECT DISTINCT geo_id, geo_label FROM aggregate_observation"))
    assert labels["1273"] == "Centre d'emploi Pétawawa"
    assert labels["1301"] == "Services d'emploi du Nord-Est – Timmins"


# -- 2. FOI workbook -------------------------------------------------------------------------------

NOTES = ["Integrated Employment Services data, FOI request A-2025-00123",
         "Counts under 5 are shown as <5; x marks a count hidden to protect another.",
         "Source: Ministry of Labour, Immigration, Training and Skills Development"]
OUTCOME_ROWS: list[list[object]] = [
    ["Peel", "2022-23", "SA", "All", "All", "3 months", 120, 400],
    ["Peel", "2022-23", "Non-SA", "All", "All", "3 months", "350", "700"],
    ["Peel", "2022-23", "SA", "Gender", "Women", "3 months", "<5", "x"],
    ["Peel", "2022-23", "SA", "Gender", "Men", "3 months", 60, 180],
    ["Muskoka–Kawarthas", "2022-23", "SA", "Langue", "Français", "12 months", 45, 150],
]
#: (row, column, measure, period, geo_type, geo_id, catchment, client, dimension, group, months, value, status, low,
#: high) of the Employment Outcomes sheet, worked out by hand
OUTCOMES_EXPECTED = [
    (2, "Employed", "outcome_employed", "FY2022-23", "catchment", "PEL", "PEL", "sa", "all", "all", 3, 120.0,
     "published", 120.0, 120.0),
    (2, "Total", "outcome_total", "FY2022-23", "catchment", "PEL", "PEL", "sa", "all", "all", 3, 400.0, "published",
     400.0, 400.0),
    (3, "Employed", "outcome_employed", "FY2022-23", "catchment", "PEL", "PEL", "non_sa", "all", "all", 3, 350.0,
     "published", 350.0, 350.0),
    (3, "Total", "outcome_total", "FY2022-23", "catchment", "PEL", "PEL", "non_sa", "all", "all", 3, 700.0,
     "published", 700.0, 700.0),
    (4, "Employed", "outcome_employed", "FY2022-23", "catchment", "PEL", "PEL", "sa", "Gender", "Women", 3, None,
     "suppressed", 1.0, 4.0),
    (4, "Total", "outcome_total", "FY2022-23", "catchment", "PEL", "PEL", "sa", "Gender", "Women", 3, None,
     "suppressed", 0.0, None),
    (5, "Employed", "outcome_employed", "FY2022-23", "catchment", "PEL", "PEL", "sa", "Gender", "Men", 3, 60.0,
     "published", 60.0, 60.0),
    (5, "Total", "outcome_total", "FY2022-23", "catchment", "PEL", "PEL", "sa", "Gender", "Men", 3, 180.0,
     "published", 180.0, 180.0),
    (6, "Employed", "outcome_employed", "FY2022-23", "catchment", "MKW", "MKW", "sa", "Langue", "Français", 12, 45.0,
     "published", 45.0, 45.0),
    (6, "Total", "outcome_total", "FY2022-23", "catchment", "MKW", "MKW", "sa", "Langue", "Français", 12, 150.0,
     "published", 150.0, 150.0),
]


def foi_workbook(path: Path) -> Path:
    return workbook(path, [
        ("Notes", [[line] for line in NOTES]),
        ("Referrals", [["Table 1. Referrals of social assistance recipients to IES, by catchment area"], [],
                       ["Catchment Area", "Fiscal Year", "Referrals"],
                       ["Peel", "2021-22", 1520], ["Hamilton–Niagara Peninsula", "2021-22", "2,310"],
                       ["Muskoka–Kawarthas", "2021-22", "<5"]]),
        ("Employment Outcomes", [FOI_OUTCOME_HEADER, *OUTCOME_ROWS]),
        ("Intakes", [["Catchment Area", "Fiscal Year", "Client Type", "Intakes"],
                     ["Durham", "2023-24", "SA", 210], ["Durham", "2023-24", "Non-SA", "1,045"]]),
    ])


def test_foi_workbook_every_sheet_examined_notes_kept_titles_skipped(tmp_path: Path) -> None:
    f = foi_workbook(tmp_path / "IES_FOI_A-2025-00123.xlsx")
    [r] = ingest(tmp_path / "w.duckdb", f)
    assert (r.status, r.source_kind) == ("loaded", "foi_workbook")
    assert r.sheet == "Referrals, Employment Outcomes, Intakes"  # the sheets read
    assert r.notes_sheets == ["Notes"]
    # 3 referrals + 10 outcomes + 2 intakes; <5 twice and x once
    assert (r.rows_read, r.cells_read, r.cells_loaded, r.cells_quarantined, r.cells_suppressed) == (10, 15, 15, 0, 3)
    w = tmp_path / "w.duckdb"
    assert sorted(query(w, OBS + " WHERE sheet = 'Employment Outcomes'")) == sorted(OUTCOMES_EXPECTED)
    # the header is on the third line of its sheet, below a title and a blank line: data from row 4
    assert sorted(query(w, OBS + " WHERE sheet = 'Referrals'")) == [
        (4, "Referrals", "referrals", "FY2021-22", "catchment", "PEL", "PEL", "all", "all", "all", None, 1520.0,
         "published", 1520.0, 1520.0),
        (5, "Referrals", "referrals", "FY2021-22", "catchment", "HNP", "HNP", "all", "all", "all", None, 2310.0,
         "published", 2310.0, 2310.0),
        (6, "Referrals", "referrals", "FY2021-22", "catchment", "MKW", "MKW", "all", "all", "all", None, None,
         "suppressed", 1.0, 4.0),
    ]
    assert sorted(query(w, OBS + " WHERE sheet = 'Intakes'")) == [
        (2, "Intakes", "intakes", "FY2023-24", "catchment", "DUR", "DUR", "sa", "all", "all", None, 210.0,
         "published", 210.0, 210.0),
        (3, "Intakes", "intakes", "FY2023-24", "catchment", "DUR", "DUR", "non_sa", "all", "all", None, 1045.0,
         "published", 1045.0, 1045.0),
    ]
    assert query(w, "SELECT count(*) FROM aggregate_observation WHERE sheet = 'Notes'") == [(0,)]
    assert query(w, "SELECT release_id, sheet, text FROM aggregate_note") == [
        ("foi_workbook:IES_FOI_A-2025-00123", "Notes", "\n".join(NOTES))]
    assert query(w, "SELECT count(*) FROM quarantine") == [(0,)]


def test_foi_csv_copy_in_windows_1252_gives_the_same_observations(tmp_path: Path) -> None:
    book = foi_workbook(tmp_path / "IES_FOI.xlsx")
    copy = tmp_path / "Employment Outcomes.csv"
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows([FOI_OUTCOME_HEADER, *OUTCOME_ROWS])
    copy.write_bytes(text.getvalue().encode("cp1252"))
    [rb] = ingest(tmp_path / "book.duckdb", book)
    [rc] = ingest(tmp_path / "copy.duckdb", copy)
    assert (rc.status, rc.source_kind, rc.encoding) == ("loaded", "foi_workbook", "cp1252")
    assert rb.status == "loaded"
    assert (rc.cells_read, rc.cells_loaded, rc.cells_suppressed) == (10, 10, 2)
    from_copy = query(tmp_path / "copy.duckdb", OBS)
    assert sorted(from_copy) == sorted(OUTCOMES_EXPECTED)
    assert sorted(from_copy) == sorted(query(tmp_path / "book.duckdb", OBS + " WHERE sheet = 'Employment Outcomes'"))


# -- 3. social-assistance caseload -----------------------------------------------------------------

SA_NAME = "OW_Cases - Selected_Subgroups_and_Characteristics_of_SA_Recipients 2019-20_to_2022_23.csv"


def test_sa_caseload_delivery_agents_in_english_and_french_attached_to_catchments(tmp_path: Path) -> None:
    f = tmp_path / SA_NAME
    f.write_text(
        "Fiscal Year,CMSM/DSSAB,Catchment Area,Cases with children under 6,Recipients reporting employment earnings\n"
        '2019-20,City of Toronto,Toronto,"12,345","8,020"\n'
        "2019-20,Ville d'Ottawa,Ottawa,\"2,101\",na\n"
        "2020-21,Conseil d'administration des services sociaux du district de Cochrane,Nord-Est,310,95\n"
        "2020-21,Kenora DSSAB,Northwest,120,na\n"
        '2020-21,Municipalité régionale de Peel,Peel,"1,050",640\n'
        '2020-21,Comté de Simcoe,Kitchener–Waterloo–Barrie,880,"2 450"\n', "utf-8")
    [r] = ingest(tmp_path / "w.duckdb", f)
    assert (r.status, r.source_kind) == ("loaded", "sa_caseload")
    assert (r.rows_read, r.cells_read, r.cells_loaded, r.cells_quarantined, r.cells_suppressed) == (6, 12, 12, 0, 0)
    children, earnings = "cases_with_children_under_6", "recipients_reporting_employment_earnings"
    rows = query(tmp_path / "w.duckdb", "SELECT measure, period, geo_type, geo_id, catchment_id, value, status, "
                 "bound_low, bound_high FROM aggregate_observation")
    agent = "delivery_agent"
    assert sorted(rows) == sorted([
        (children, "FY2019-20", agent, "TORONTO", "TOR", 12345.0, "published", 12345.0, 12345.0),
        (earnings, "FY2019-20", agent, "TORONTO", "TOR", 8020.0, "published", 8020.0, 8020.0),
        (children, "FY2019-20", agent, "OTTAWA", "OTT", 2101.0, "published", 2101.0, 2101.0),
        (earnings, "FY2019-20", agent, "OTTAWA", "OTT", None, "not_available", None, None),
        (children, "FY2020-21", agent, "COCHRANE", "NEA", 310.0, "published", 310.0, 310.0),
        (earnings, "FY2020-21", agent, "COCHRANE", "NEA", 95.0, "published", 95.0, 95.0),
        (children, "FY2020-21", agent, "KENORA", "NWE", 120.0, "published", 120.0, 120.0),
        (earnings, "FY2020-21", agent, "KENORA", "NWE", None, "not_available", None, None),
        (children, "FY2020-21", agent, "PEEL", "PEL", 1050.0, "published", 1050.0, 1050.0),
        (earnings, "FY2020-21", agent, "PEEL", "PEL", 640.0, "published", 640.0, 640.0),
        (children, "FY2020-21", agent, "SIMCOE", "KWB", 880.0, "published", 880.0, 880.0),
        (earnings, "FY2020-21", agent, "SIMCOE", "KWB", 2450.0, "published", 2450.0, 2450.0),
    ])


def test_sa_caseload_with_the_catchment_column_before_the_delivery_agent(tmp_path: Path) -> None:
    """Two delivery agents of one catchment: whichever column comes first, each agent is its own
    place (not both read as the catchment, the second then a duplicate)."""
    f = tmp_path / "ow_cases.csv"
    f.write_text("Fiscal Year,Catchment Area,CMSM/DSSAB,OW cases\n"
                 '2021-22,Hamilton–Niagara Peninsula,City of Hamilton,"9,100"\n'
                 '2021-22,Hamilton–Niagara Peninsula,Regional Municipality of Niagara,"7,200"\n', "utf-8")
    [r] = ingest(tmp_path / "w.duckdb", f)
    assert r.source_kind == "sa_caseload"
    assert (r.status, r.quarantine_by_rule) == ("loaded", {})
    assert sorted(query(tmp_path / "w.duckdb", "SELECT geo_type, geo_id, catchment_id, value "
                        "FROM aggregate_observation")) == [("delivery_agent", "HAMILTON", "HNP", 9100.0),
                                                           ("delivery_agent", "NIAGARA", "HNP", 7200.0)]


# -- 4. Statistics Canada --------------------------------------------------------------------------

def statcan_line(ref: str, geo: str, dguid: str, characteristic: str, value: str, status: str = "",
                 statistic: str = "Estimate", symbol: str = "") -> str:
    uom, uom_id, scalar, scalar_id = (("Percentage", "239", "units", "0") if characteristic.endswith("rate")
                                      else ("Persons", "249", "thousands", "3"))
    return (f'{ref},"{geo}",{dguid},{characteristic},{statistic},Unadjusted,{uom},{uom_id},{scalar},{scalar_id},'
            f"v1,1.1.1,{value},{status},{symbol},,1")


def statcan_file(path: Path, lines: list[str]) -> Path:
    path.write_bytes(("\n".join([STATCAN_HEADER, *lines]) + "\n").encode("utf-8-sig"))
    return path


LFS_LINES = [
    statcan_line("2024-01", "Hamilton--Niagara Peninsula, Ontario", "2016A00053550", "Unemployment rate", "6.8"),
    statcan_line("2024-01", "Kingston--Pembroke, Ontario", "2021S05003515", "Unemployment rate", "5.2", "E"),
    statcan_line("2024-01", "Kitchener--Waterloo--Barrie, Ontario", "", "Unemployment rate", "", "F"),
    statcan_line("2024-01", "Stratford--Bruce Peninsula, Ontario", "2021S05003580", "Employment rate", "", ".."),
    statcan_line("2024-01", "Toronto, Ontario", "2011A00053530", "Employment", "3412.5"),
    statcan_line("2024-01", "Muskoka--Kawarthas, Ontario", "2016A00053520", "Participation rate", "", "x"),
    statcan_line("2024-02", "Windsor--Sarnia, Ontario", "2026B00073570", "Unemployment rate", "7.9"),  # unknown form
    statcan_line("2024-02", "London, Ontario", "2016A00053560", "Participation rate", "64.1"),
    statcan_line("2024-02", "Ottawa, Ontario", "2016A00053510", "Unemployment rate", "0.6",
                 statistic="Standard error of estimate"),
    statcan_line("2024-02", "Ottawa, Ontario", "2016A00053510", "Unemployment rate", "5.9"),
]


def test_statcan_lfs_table_geo_names_dguids_statuses_and_labour_market(tmp_path: Path) -> None:
    f = statcan_file(tmp_path / "14100387.csv", LFS_LINES)
    assert f.read_bytes().startswith(b"\xef\xbb\xbf")
    [r] = ingest(tmp_path / "w.duckdb", f)
    assert (r.status, r.source_kind, r.encoding) == ("loaded", "statcan", "utf-8-sig")
    assert (r.rows_read, r.cells_read, r.cells_loaded, r.cells_quarantined, r.cells_suppressed) == (10, 10, 10, 0, 1)
    w = tmp_path / "w.duckdb"
    rows = query(w, "SELECT source_row, measure, period, period_type, geo_type, geo_id, catchment_id, value, status, "
                 "symbol, bound_low, bound_high, unit FROM aggregate_observation")
    er, month, pct = "economic_region", "month", "Percentage"
    ur, emp_rate, part = "unemployment_rate", "employment_rate", "participation_rate"
    assert sorted(rows) == [
        (2, ur, "2024-01", month, er, "3550", "HNP", 6.8, "published", "", 6.8, 6.8, pct),
        (3, ur, "2024-01", month, er, "3515", "KPM", 5.2, "estimate", "E", 5.2, 5.2, pct),
        (4, ur, "2024-01", month, er, "3540", "KWB", None, "unreliable", "F", None, None, pct),  # no DGUID: by GEO
        (5, emp_rate, "2024-01", month, er, "3580", "SBP", None, "not_available", "..", None, None, pct),
        (6, "employment", "2024-01", month, er, "3530", None, 3412.5, "published", "", 3412.5, 3412.5,
         "Persons (thousands)"),  # the Toronto ER spans five catchments: none attached
        (7, part, "2024-01", month, er, "3520", "MKW", None, "suppressed", "x", 0.0, None, pct),
        (8, ur, "2024-02", month, er, "3570", "WSA", 7.9, "published", "", 7.9, 7.9, pct),  # unknown DGUID: by GEO
        (9, part, "2024-02", month, er, "3560", "LON", 64.1, "published", "", 64.1, 64.1, pct),
        (10, ur, "2024-02", month, er, "3510", "OTT", 0.6, "published", "", 0.6, 0.6, pct),
        (11, ur, "2024-02", month, er, "3510", "OTT", 5.9, "published", "", 5.9, 5.9, pct),
    ]
    assert query(w, "SELECT DISTINCT detail FROM aggregate_observation WHERE source_row = 10") == [
        ("Statistics=Standard error of estimate; Data type=Unadjusted",)]
    lm = query(w, "SELECT economic_region, month, characteristic, statistic, value, coalesce(status, '') "
               "FROM labour_market")
    jan, feb = date(2024, 1, 1), date(2024, 2, 1)
    assert sorted(lm) == sorted([
        ("3550", jan, "Unemployment rate", "Estimate", 6.8, ""),
        ("3515", jan, "Unemployment rate", "Estimate", 5.2, "E"),
        ("3540", jan, "Unemployment rate", "Estimate", None, "F"),
        ("3580", jan, "Employment rate", "Estimate", None, ".."),
        ("3520", jan, "Participation rate", "Estimate", None, "x"),
        ("3570", feb, "Unemployment rate", "Estimate", 7.9, ""),
        ("3560", feb, "Participation rate", "Estimate", 64.1, ""),
        ("3510", feb, "Unemployment rate", "Standard error of estimate", 0.6, ""),
        ("3510", feb, "Unemployment rate", "Estimate", 5.9, ""),
    ])  # "Employment" is a level, not one of the three rates
    assert query(w, "SELECT unemployment_rate FROM labour_market_monthly WHERE economic_region = '3510'") == [(5.9,)]
    assert query(w, "SELECT title FROM aggregate_release") == [("Statistics Canada, Table 14-10-0387-01",)]


@pytest.mark.parametrize(("status", "value", "expected"), [("F", "61.0", "unreliable"), ("x", "0", "suppressed")])
def test_statcan_status_decides_even_when_value_is_filled(tmp_path: Path, status: str, value: str,
                                                          expected: str) -> None:
    """STATUS F ("too unreliable to be published") and x (suppressed) say what the number is,
    whether or not the VALUE column holds something."""
    f = statcan_file(tmp_path / "14100387.csv", [
        statcan_line("2024-01", "London, Ontario", "2016A00053560", "Participation rate", value, status)])
    [r] = ingest(tmp_path / "w.duckdb", f)
    assert r.status == "loaded"
    assert query(tmp_path / "w.duckdb", "SELECT status, symbol FROM aggregate_observation") == [(expected, status)]


def test_statcan_ontario_row_of_a_province_and_economic_region_table(tmp_path: Path) -> None:
    """Table 14-10-0387-01 is by province *and* economic region: the Ontario row (DGUID
    2016A000235) is the province, not an unknown place."""
    f = statcan_file(tmp_path / "14100387.csv", [
        statcan_line("2024-01", "Ontario", "2016A000235", "Unemployment rate", "6.1"),
        statcan_line("2024-01", "London, Ontario", "2016A00053560", "Unemployment rate", "6.3")])
    [r] = ingest(tmp_path / "w.duckdb", f)
    assert (r.status, r.quarantine_by_rule) == ("loaded", {})
    assert sorted(query(tmp_path / "w.duckdb", "SELECT geo_type, geo_id, value FROM aggregate_observation")) == [
        ("economic_region", "3560", 6.3), ("province", "ON", 6.1)]


def test_statcan_table_other_than_the_lfs_loads_into_aggregate_observation(tmp_path: Path) -> None:
    f = tmp_path / "14100392.csv"
    header = ("REF_DATE,GEO,DGUID,North American Industry Classification System (NAICS),UOM,UOM_ID,SCALAR_FACTOR,"
              "SCALAR_ID,VECTOR,COORDINATE,VALUE,STATUS,SYMBOL,TERMINATED,DECIMALS")
    f.write_bytes((header + "\n"
                   '2023,"London, Ontario",2016A00053560,"Total, all industries",Persons,249,thousands,3,v1,1.1,'
                   "372.4,,,,1\n"
                   '2023,"London, Ontario",2016A00053560,Construction [23],Persons,249,thousands,3,v2,1.2,28.9,,,,1\n'
                   '2023,"Ottawa, Ontario",2016A00053510,Construction [23],Persons,249,thousands,3,v3,2.2,,x,,,1\n'
                   ).encode("utf-8-sig"))
    [r] = ingest(tmp_path / "w.duckdb", f)
    assert (r.status, r.source_kind, r.cells_loaded, r.cells_suppressed) == ("loaded", "statcan", 3, 1)
    rows = query(tmp_path / "w.duckdb", "SELECT measure, measure_label, period, period_type, geo_id, value, status, "
                 "unit FROM aggregate_observation")
    assert sorted(rows) == [
        ("construction_23", "Construction [23]", "2023", "year", "3510", None, "suppressed", "Persons (thousands)"),
        ("construction_23", "Construction [23]", "2023", "year", "3560", 28.9, "published", "Persons (thousands)"),
        ("total_all_industries", "Total, all industries", "2023", "year", "3560", 372.4, "published",
         "Persons (thousands)"),
    ]
    assert query(tmp_path / "w.duckdb", "SELECT count(*) FROM labour_market") == [(0,)]
    assert query(tmp_path / "w.duckdb", "SELECT title FROM aggregate_release") == [
        ("Statistics Canada, Table 14-10-0392-01",)]


def test_statcan_release_cites_the_tables_doi(tmp_path: Path) -> None:
    """Statistics Canada's DOI of table 14-10-0387-01 is 10.25318/1410038701-eng (the 10-digit
    product id), as printed on every table page."""
    f = statcan_file(tmp_path / "14100387.csv", LFS_LINES[:1])
    ingest(tmp_path / "w.duckdb", f)
    assert query(tmp_path / "w.duckdb", "SELECT reference FROM aggregate_release") == [
        ("https://doi.org/10.25318/1410038701-eng",)]


def test_statcan_revision_replaces_the_preliminary_number(tmp_path: Path) -> None:
    """The same table downloaded again after a revision (SYMBOL p -> r, a new VALUE) is the same
    number of the same release: it replaces the preliminary one, which goes to the history."""
    f = tmp_path / "14100387.csv"
    statcan_file(f, [statcan_line("2024-01", "London, Ontario", "2016A00053560", "Unemployment rate", "6.0",
                                  symbol="p")])
    [first] = ingest(tmp_path / "w.duckdb", f)
    statcan_file(f, [statcan_line("2024-01", "London, Ontario", "2016A00053560", "Unemployment rate", "6.2",
                                  symbol="r")])
    [second] = ingest(tmp_path / "w.duckdb", f)
    assert (first.status, second.status) == ("loaded", "loaded")
    assert query(tmp_path / "w.duckdb", "SELECT geo_id, value FROM aggregate_observation") == [("3560", 6.2)]
    assert query(tmp_path / "w.duckdb", "SELECT value FROM aggregate_observation__history") == [(6.0,)]
    assert (second.rows_new, second.rows_replaced) == (0, 1)


# -- 5. generic tidy table with a mapping file ------------------------------------------------------

def test_generic_table_loads_with_a_toml_mapping_and_custom_codes(tmp_path: Path) -> None:
    data = tmp_path / "ssm_participants_2024.csv"
    data.write_text("Quarter,Region,Participants,Comment\n2024Q1,Peel,812,\n2024Q1,York,supp,small\n"
                    "2024Q2,Halton,<20,\n2024Q2,Durham,n.d.,late\n2024Q3,Toronto,\"1,204\",\n", "utf-8")
    mapping = tmp_path / "map.toml"
    mapping.write_text("""
[[file]]
match = "ssm_participants_*.csv"

[file.release]
id = "ssm-participants-2024"
title = "Participants by catchment, 2024"
publisher = "Example SSM"
reference = "data-sharing agreement DSA-17"
released = "2024-10-15"
licence = "internal use"

[file.aggregate]
measure = "participants"
geo_type = "catchment"
columns = { period = "Quarter", geography = "Region", value = "Participants" }
codes = { "supp" = [0], "<20" = [1, 19], "n.d." = "not_available" }
""", "utf-8")
    result = cli_ingest(tmp_path, str(data), "--mapping", str(mapping))
    assert result.exit_code == 0, result.output
    [entry] = json.loads((tmp_path / "report.json").read_text("utf-8"))["files"]
    assert (entry["status"], entry["source_kind"], entry["cells_read"], entry["cells_loaded"],
            entry["cells_suppressed"]) == ("loaded", "generic", 5, 5, 2)
    w = tmp_path / "w.duckdb"
    rows = query(w, "SELECT release_id, measure, period, period_type, period_start, period_end, geo_id, value, status, "
                 "symbol, bound_low, bound_high FROM aggregate_observation")
    rel, m = "ssm-participants-2024", "participants"
    q1, q2, q3 = (date(2024, 1, 1), date(2024, 3, 31)), (date(2024, 4, 1), date(2024, 6, 30)), \
        (date(2024, 7, 1), date(2024, 9, 30))
    assert sorted(rows, key=lambda r: r[6]) == sorted([
        (rel, m, "2024Q1", "quarter", *q1, "PEL", 812.0, "published", "", 812.0, 812.0),
        (rel, m, "2024Q1", "quarter", *q1, "YRK", None, "suppressed", "supp", 0.0, None),
        (rel, m, "2024Q2", "quarter", *q2, "HAL", None, "suppressed", "<20", 1.0, 19.0),
        (rel, m, "2024Q2", "quarter", *q2, "DUR", None, "not_available", "n.d.", None, None),
        (rel, m, "2024Q3", "quarter", *q3, "TOR", 1204.0, "published", "", 1204.0, 1204.0),
    ], key=lambda r: r[6])
    assert query(w, "SELECT release_id, title, publisher, reference, released, licence, kind FROM aggregate_release") \
        == [(rel, "Participants by catchment, 2024", "Example SSM", "data-sharing agreement DSA-17", "2024-10-15",
             "internal use", "generic")]


# -- 6. bad input: the quarantine, refusals -------------------------------------------------------------

def test_bad_cells_of_a_workbook_go_to_the_quarantine_with_sheet_row_column_value_rule(tmp_path: Path) -> None:
    f = workbook(tmp_path / "foi_problems.xlsx", [("Employment Outcomes", [
        FOI_OUTCOME_HEADER,
        ["Peel", "2022-23", "SA", "All", "All", "3 months", 120, 400],
        ["Peel", "sometime", "SA", "All", "All", "6 months", 10, 40],  # period
        ["Atlantis", "2022-23", "SA", "All", "All", "6 months", 10, 40],  # place
        ["York", "2022-23", "SA", "All", "All", "6 months", "twelve", 40],  # value
        ["York", "2022-23", "SA", "All", "All", "12 months", 90, 60],  # Employed > Total
    ])])
    [r] = ingest(tmp_path / "w.duckdb", f)
    assert r.status == "loaded_with_quarantine"
    # 10 cells: row 2 both, row 5 Total, row 6 Employed stored; 6 set aside
    assert (r.cells_read, r.cells_loaded, r.cells_quarantined) == (10, 4, 6)
    assert r.quarantine_by_rule == {"period_unparsed": 1, "total_below_parts": 1, "unknown_geography": 1,
                                    "value_not_number_or_code": 1}
    w = tmp_path / "w.duckdb"
    assert query(w, "SELECT file_name, source_row, column_name, value, rule FROM quarantine ORDER BY source_row") == [
        ("foi_problems.xlsx", 3, "Employment Outcomes!Fiscal Year", "sometime", "period_unparsed"),
        ("foi_problems.xlsx", 4, "Employment Outcomes!Catchment Area", "Atlantis", "unknown_geography"),
        ("foi_problems.xlsx", 5, "Employment Outcomes!Employed", "twelve", "value_not_number_or_code"),
        ("foi_problems.xlsx", 6, "Employment Outcomes!Total", "60", "total_below_parts"),
    ]
    messages = [m for (m,) in query(w, "SELECT message FROM quarantine ORDER BY source_row")]
    assert messages[0].startswith("sheet 'Employment Outcomes', row 3, column 'Fiscal Year': 'sometime'")
    assert "at least 90" in messages[3]
    assert sorted(query(w, "SELECT source_row, source_column, value FROM aggregate_observation")) == [
        (2, "Employed", 120.0), (2, "Total", 400.0), (5, "Total", 40.0), (6, "Employed", 90.0)]
    assert query(w, "SELECT rows_read, rows_loaded, rows_quarantined FROM _ingest_batches") == [(10, 4, 6)]


def test_outcome_categories_adding_to_more_than_the_clients_assisted(tmp_path: Path) -> None:
    f = tmp_path / "es_outcomes_london.csv"
    f.write_text("\n".join([ES_HEADER,
                            "London,2022-2023,ES,2001,Site A,ES,100,60,20,10,5,5,5,10,10,10,10,10,10",  # exit: 105
                            "London,2022-2023,ES,2002,Site B,ES,50,10,10,10,10,10,10,x,x,x,x,x,x",  # exit: 60
                            "London,2022-2023,ES,2003,Site C,ES,40,20,10,x,x,5,5,5,5,5,5,5,5"]) + "\n", "utf-8")
    [r] = ingest(tmp_path / "w.duckdb", f)
    assert (r.status, r.cells_read, r.cells_loaded, r.cells_quarantined) == ("loaded_with_quarantine", 39, 37, 2)
    w = tmp_path / "w.duckdb"
    assert query(w, "SELECT source_row, column_name, value, rule FROM quarantine ORDER BY source_row") == [
        (2, "num_assist", "100", "total_below_parts"), (3, "num_assist", "50", "total_below_parts")]
    assert "at least 105" in query(w, "SELECT message FROM quarantine WHERE source_row = 2")[0][0]
    assert query(w, "SELECT geo_id, value FROM aggregate_observation WHERE measure = 'clients_assisted'") == [
        ("2003", 40.0)]
    assert query(w, "SELECT value FROM aggregate_observation WHERE geo_id = '2001' "
                 "AND source_column = 'out_exit_sum_emp'") == [(60.0,)]  # the parts are kept


def test_nothing_of_a_person_typed_into_a_published_table_is_echoed(tmp_path: Path) -> None:
    """A name in the place column, an e-mail and a phone number in counts: each is set aside, and
    none reaches the quarantine or its export as it is (record-level ingest masks them so)."""
    f = workbook(tmp_path / "foi_people.xlsx", [("Employment Outcomes", [
        FOI_OUTCOME_HEADER,
        ["Amélie Tremblay", "2022-23", "SA", "All", "All", "3 months", 10, 40],
        ["York", "2022-23", "SA", "All", "All", "3 months", "jane.doe@example.com", 40],
        ["York", "2022-23", "Non-SA", "All", "All", "3 months", "(416) 555-0199", 70],
    ])])
    result = cli_ingest(tmp_path, str(f))
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    w = tmp_path / "w.duckdb"
    assert sorted(query(w, "SELECT source_row, column_name, rule FROM quarantine")) == [
        (2, "Employment Outcomes!Catchment Area", "unknown_geography"),
        (3, "Employment Outcomes!Employed", "value_not_number_or_code"),
        (4, "Employment Outcomes!Employed", "value_not_number_or_code")]
    assert sorted(query(w, "SELECT source_row, source_column, value FROM aggregate_observation")) == [
        (3, "Total", 40.0), (4, "Total", 70.0)]
    assert runner.invoke(app, ["quarantine", "-w", str(w), "-o", str(tmp_path / "q.csv")]).exit_code == 0
    exported = (tmp_path / "q.csv").read_text("utf-8")
    stored = " ".join(str(v) for row in query(w, "SELECT * FROM quarantine") for v in row)
    for text in (exported, stored, result.output):
        for planted in ("Amélie", "Tremblay", "jane.doe", "example.com", "555-0199"):
            assert planted not in text, planted


def test_a_sin_in_a_count_cell_is_not_read_as_a_number(tmp_path: Path) -> None:
    """"046 454 286" (a SIN, valid checksum) is not a count written with thousands separators: a
    grouped number never starts with a zero. It is set aside, not stored as 46,454,286."""
    f = workbook(tmp_path / "foi_sin.xlsx", [("Employment Outcomes", [
        FOI_OUTCOME_HEADER, ["York", "2022-23", "SA", "All", "All", "3 months", 12, "046 454 286"]])])
    [r] = ingest(tmp_path / "w.duckdb", f)
    assert r.quarantine_by_rule == {"value_not_number_or_code": 1}
    w = tmp_path / "w.duckdb"
    assert query(w, "SELECT source_row, source_column, value FROM aggregate_observation") == [(2, "Employed", 12.0)]
    assert query(w, "SELECT source_row, column_name FROM quarantine") == [(2, "Employment Outcomes!Total")]


def test_csv_with_an_unclosed_quote_is_refused_whole_with_its_line(tmp_path: Path) -> None:
    f = tmp_path / "referrals_2023.csv"
    f.write_text('Catchment Area,Fiscal Year,Referrals\nPeel,2022-23,100\nYork,2022-23,"200\n'
                 "Durham,2022-23,300\nHalton,2022-23,50\n", "utf-8")
    [r] = ingest(tmp_path / "w.duckdb", f)
    assert r.status == "rejected"
    assert "nothing was loaded" in r.message
    assert re.search(r"\bline 3\b", r.message), r.message  # the quote opens on line 3
    w = tmp_path / "w.duckdb"
    for table in ("aggregate_observation", "aggregate_release", "quarantine", "_ingest_batches"):
        assert query(w, f"SELECT count(*) FROM {table}") == [(0,)], table


@pytest.mark.parametrize("name", ["budget.csv", "budget.xlsx"])
def test_a_file_of_no_known_layout_is_refused_with_a_clear_message(tmp_path: Path, name: str) -> None:
    f = tmp_path / name
    if name.endswith(".csv"):
        f.write_text("Line item,Amount\nRent,1200\nSalaries,54000\n", "utf-8")
    else:
        workbook(f, [("Budget", [["Line item", "Amount"], ["Rent", 1200], ["Salaries", 54000]])])
    [r] = ingest(tmp_path / "w.duckdb", f)
    assert r.status == "rejected"
    assert "nor is it a published table" in r.message and "--source-kind" in r.message
    assert "[file.aggregate]" in r.message
    assert query(tmp_path / "w.duckdb", "SELECT count(*) FROM aggregate_observation") == [(0,)]


def test_cli_shows_the_refusal_of_an_unknown_layout_whole(tmp_path: Path) -> None:
    """The message names "[file.aggregate]" (where a mapping file describes another layout): the
    terminal must show it, not swallow it as console markup."""
    f = tmp_path / "budget.csv"
    f.write_text("Line item,Amount\nRent,1200\n", "utf-8")
    result = cli_ingest(tmp_path, str(f))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "nor is it a published table" in flat(result.output)
    assert "[file.aggregate]" in flat(result.output)


# -- 7. idempotency and corrections ---------------------------------------------------------------

def test_same_file_skipped_corrected_file_replaces_changed_cells(tmp_path: Path) -> None:
    f = tmp_path / "referrals_by_catchment.csv"
    w = tmp_path / "w.duckdb"
    f.write_text("Catchment Area,Fiscal Year,Referrals\nPeel,2022-23,100\nYork,2022-23,<5\nDurham,2022-23,300\n",
                 "utf-8")
    [first] = ingest(w, f)
    [again] = ingest(w, f)
    assert (first.status, first.rows_new) == ("loaded", 3)
    assert again.status == "skipped_already_ingested"
    assert again.batch_id == first.batch_id
    assert query(w, "SELECT count(*) FROM _ingest_batches") == [(1,)]
    f.write_text("Catchment Area,Fiscal Year,Referrals\nPeel,2022-23,100\nYork,2022-23,3\nDurham,2022-23,310\n"
                 "Halton,2022-23,50\n", "utf-8")
    [fixed] = ingest(w, f)
    assert fixed.status == "loaded"
    assert (fixed.rows_new, fixed.rows_replaced, fixed.rows_unchanged) == (1, 2, 1)
    assert sorted(query(w, "SELECT geo_id, value, status FROM aggregate_observation")) == [
        ("DUR", 310.0, "published"), ("HAL", 50.0, "published"), ("PEL", 100.0, "published"),
        ("YRK", 3.0, "published")]
    assert sorted(query(w, "SELECT geo_id, value, status, symbol, _superseded_by_batch "
                        "FROM aggregate_observation__history")) == [
        ("DUR", 300.0, "published", "", fixed.batch_id), ("YRK", None, "suppressed", "<5", fixed.batch_id)]
    assert query(w, "SELECT release_id FROM aggregate_release") == [("foi_workbook:referrals_by_catchment",)]
    assert query(w, "SELECT rows_new, rows_replaced, rows_unchanged FROM _ingest_batches ORDER BY rows_read") == [
        (3, 0, 0), (1, 2, 1)]


# -- 8. forcing the kind ---------------------------------------------------------------------------

def test_source_kind_forces_a_layout_and_an_unknown_kind_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "ssm_table.csv"
    f.write_text("Catchment,Year,Participants\nPeel,2023,40\nYork,2023,<5\n", "utf-8")
    [plain] = ingest(tmp_path / "plain.duckdb", f)
    assert plain.status == "rejected"  # no measure it knows: not recognised by itself
    [forced] = ingest(tmp_path / "forced.duckdb", f, options=IngestOptions(source_kind="foi_workbook"))
    assert (forced.status, forced.source_kind, forced.cells_loaded) == ("loaded", "foi_workbook", 2)
    assert sorted(query(tmp_path / "forced.duckdb", "SELECT measure, period, period_type, geo_id, value, status "
                        "FROM aggregate_observation")) == [
        ("participants", "2023", "year", "PEL", 40.0, "published"),
        ("participants", "2023", "year", "YRK", None, "suppressed")]
    [bad] = ingest(tmp_path / "bad.duckdb", f, options=IngestOptions(source_kind="census"))
    assert bad.status == "rejected"
    assert "unknown source kind 'census'" in bad.message and "foi_workbook" in bad.message
    result = cli_ingest(tmp_path, str(f), "--source-kind", "census")
    assert result.exit_code == 2
    assert "unknown source kind 'census'" in flat(result.output) and "Traceback" not in result.output
    result = cli_ingest(tmp_path, str(f), "--source-kind", "foi_workbook")
    assert result.exit_code == 0, result.output
    mapping = tmp_path / "map.toml"
    mapping.write_text('[[file]]\nmatch = "*.csv"\nsource_kind = "census"\n', "utf-8")
    with pytest.raises(MappingError):
        load_mapping(mapping)


def test_forcing_a_kind_that_does_not_fit_loads_nothing(tmp_path: Path) -> None:
    f = statcan_file(tmp_path / "14100387.csv", LFS_LINES[:2])
    [r] = ingest(tmp_path / "w.duckdb", f, options=IngestOptions(source_kind="es_outcomes"))
    assert r.status == "rejected"
    assert query(tmp_path / "w.duckdb", "SELECT count(*) FROM aggregate_observation") == [(0,)]


# -- 9. property: every cell read is stored or quarantined ----------------------------------------

cells = st.one_of(st.integers(0, 500).map(str), st.sampled_from(["<5", "x", "SP", "..", "na", "", "F", "1,200"]),
                  st.sampled_from(["abc", "1.2.3", "5-"]))
rows_strategy = st.lists(st.tuples(st.sampled_from(["Peel", "York", "Atlantis", "Nord-Est"]),
                                   st.sampled_from(["2022-23", "FY2023-24", "2024", "someday"]),
                                   st.sampled_from(["SA", "Non-SA", "", "martian"]), cells, cells),
                         min_size=1, max_size=8)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows_strategy)
def test_every_cell_read_is_stored_or_quarantined(tmp_path: Path, rows: list[tuple[str, ...]]) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        f = Path(folder) / "outcomes.csv"
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(
            [["Catchment Area", "Fiscal Year", "Client Type", "Employed", "Total"], *rows])
        f.write_text(text.getvalue(), "utf-8")
        with Warehouse(Path(folder) / "w.duckdb") as w:
            [r] = ingest_files(w, [f], P)
            stored = set(w.fetchall("SELECT source_row, source_column FROM aggregate_observation"))
            problems = w.fetchall("SELECT source_row, column_name FROM quarantine")
            ledger = w.fetchall("SELECT rows_read, rows_loaded, rows_quarantined FROM _ingest_batches")
    assert r.status in ("loaded", "loaded_with_quarantine"), r.message
    assert (r.rows_read, r.cells_read) == (len(rows), 2 * len(rows))
    assert r.cells_loaded + r.cells_quarantined == r.cells_read
    assert len(stored) == r.cells_loaded
    row_wide = {row for row, column in problems if column in ("Catchment Area", "Fiscal Year", "Client Type")}
    own = set(problems)
    for i in range(len(rows)):
        for column in ("Employed", "Total"):
            cell = (i + 2, column)
            assert (cell in stored) != (cell[0] in row_wide or cell in own), (cell, rows)
    assert ledger == [(r.cells_read, r.cells_loaded, r.cells_quarantined)]
