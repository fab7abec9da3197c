"""Readers for the published tables a monitor holds: each turns a file into aggregate observations.

Five layouts, each recognised from its headers (``--source-kind`` or a mapping file overrides):

* ``es_outcomes``: Ontario's open data "Employment Services client outcomes", one row per service
  delivery site and fiscal year (``est_region, fiscal_year, sds_id, num_assist, out_exit_*, out_3_*``);
* ``foi_workbook``: freedom-of-information tables (referrals, intakes, employment status at 1, 3, 6
  and 12 months by catchment, fiscal year, client type and demographic group), one table per sheet
  or per CSV copy; every sheet is examined, notes sheets are kept as the source's notes;
* ``sa_caseload``: Ontario Works and ODSP caseloads by delivery agent (CMSM/DSSAB) or office;
* ``statcan``: any Statistics Canada full-table CSV (``REF_DATE, GEO, DGUID, …, VALUE, STATUS``);
* ``generic``: any tidy table, its columns named in a TOML mapping.

A reader gives a frame of text cells with where each came from (sheet, row, column); :func:`tidy`
parses periods, places, client types, intervals and values once per distinct spelling and sets
aside, as problems, every cell it cannot use (file, sheet, row, column, value, rule).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from esmonitor.errors import InputFileError
from esmonitor.ingest.columns import normalise_header
from esmonitor.ingest.sources import SourceFile, check_workbook, unreadable, utf8_copy
from esmonitor.model import aggregates as A

KINDS = ("es_outcomes", "foi_workbook", "sa_caseload", "statcan", "generic")

#: The text frame every reader produces (all strings but the row number).
RAW_COLUMNS: dict[str, Any] = {
    "sheet": pl.String, "row": pl.Int64, "column": pl.String, "measure": pl.String, "measure_label": pl.String,
    "period": pl.String, "geo": pl.String, "geo_alt": pl.String, "geo_type": pl.String, "site_catchment": pl.String,
    "client_type": pl.String, "dimension": pl.String, "group": pl.String, "interval": pl.String,
    "programme": pl.String, "detail": pl.String, "value": pl.String, "unit": pl.String,
    "geo_name": pl.String, "flag": pl.String,  # a site's name; a source's flag on a number (StatCan's p, r)
    # the header each role was read from, for the quarantine
    **{f"h_{role}": pl.String for role in ("period", "geo", "site_catchment", "client_type", "interval")},
}

# -- header roles ----------------------------------------------------------------------------

ROLE_ALIASES: dict[str, tuple[str, ...]] = {
    "period": ("fiscal_year", "fiscal year", "fy", "year", "period", "exercice", "exercice financier",
               "annee financiere", "ref_date", "reference period", "month", "quarter"),
    "catchment": ("catchment", "catchment area", "catchment_area", "catchment name", "ies catchment",
                  "est_region", "est region", "zone desservie", "zone de service", "region", "area"),
    "delivery_agent": ("cmsm/dssab", "cmsm dssab", "cmsm", "dssab", "delivery agent", "service manager",
                       "ow delivery agent", "gestionnaire des services"),
    "office": ("odsp office", "office", "local office", "bureau"),
    "client_type": ("client type", "client_type", "sa status", "social assistance status", "sa_status",
                    "client group", "type de client", "sa / non-sa", "sa/non-sa", "income source"),
    "dimension": ("demographic", "demographic characteristic", "demographic dimension", "dimension",
                  "characteristic", "breakdown", "caracteristique"),
    "group": ("group", "demographic group", "category", "value label", "groupe", "categorie", "subgroup"),
    "interval": ("interval", "follow-up interval", "follow up", "checkpoint", "outcome interval", "months",
                 "months after exit", "intervalle", "suivi"),
    "programme": ("program", "programme", "eo_program", "stream"),
    "measure": ("measure", "indicator", "metric", "mesure", "indicateur"),
    "unit_ignore": ("sds_name", "site name", "sds_sec", "notes", "note", "footnote", "source"),
}
MEASURE_ALIASES: dict[str, tuple[str, ...]] = {
    "referrals": ("referrals", "sa referrals", "referrals to ies", "number of referrals", "aiguillages",
                  "referred"),
    "intakes": ("intakes", "intake", "completed intakes", "number of intakes", "accueils", "clients served"),
    "outcome_employed": ("employed", "number employed", "employed clients", "en emploi", "employed count"),
    "outcome_total": ("total", "clients", "total clients", "number of clients", "clients with status",
                      "status known", "total with status", "ensemble", "denominator"),
    "clients_assisted": ("assisted", "num_assist", "clients assisted"),
    "outcome_training": ("training", "in training", "education or training", "en formation"),
    "outcome_unemployed": ("unemployed", "not employed", "sans emploi"),
    "outcome_unknown": ("unknown", "status unknown", "inconnu"),
}
_ROLE = {normalise_header(a): role for role, aliases in ROLE_ALIASES.items() for a in aliases}
_MEASURE = {normalise_header(a): m for m, aliases in MEASURE_ALIASES.items() for a in aliases}

#: ES client outcomes: value columns → (measure, interval).
ES_VALUE_COLUMNS: dict[str, tuple[str, str]] = {
    "num_assist": ("clients_assisted", ""),
    **{f"out_{when}_{part}": (measure, "0" if when == "exit" else "3")
       for when in ("exit", "3")
       for part, measure in (("sum_emp", "outcome_employed"), ("sum_te", "outcome_training"),
                             ("unemp", "outcome_unemployed"), ("sum_oth", "outcome_other"), ("oth", "outcome_other"),
                             ("unkn", "outcome_unknown"), ("null", "outcome_missing"))},
}
STATCAN_FIXED = ("ref_date", "geo", "dguid", "uom", "uom_id", "scalar_factor", "scalar_id", "vector", "coordinate",
                 "value", "status", "symbol", "terminated", "decimals")
NOTES_SHEET = re.compile(r"^(?:notes?|read ?me|about|introduction|definitions?|contents|table of contents|"
                         r"remarques?|lisez[- ]moi|d[ée]finitions|sommaire|source|methodology|m[ée]thodologie)\b",
                         re.IGNORECASE)


@dataclass
class Sheet:
    name: str
    headers: list[str]
    frame: pl.DataFrame  # all text; column "_row": the row number a person sees in the file


@dataclass
class Read:
    """What a reader made of one file: the observations' text frame, the notes, the sheets."""

    kind: str
    raw: pl.DataFrame
    notes: list[tuple[str, str]] = field(default_factory=list)
    sheets_read: list[str] = field(default_factory=list)
    sheets_skipped: list[tuple[str, str]] = field(default_factory=list)  # (sheet, why)
    rows_read: int = 0


# -- reading files as text -------------------------------------------------------------------

def sheets_of(source: SourceFile, workdir: Path) -> list[Sheet]:
    """Every sheet of a workbook (or the one table of a CSV), as text, header row found."""
    if source.format == "csv":
        return [_csv_sheet(source, workdir)]
    if source.format != "xlsx":
        raise InputFileError(str(source.path), "an aggregate table must be a CSV or XLSX file",
                             hint="export it from its tool as CSV or XLSX")
    import fastexcel

    check_workbook(source.path)
    out = []
    try:
        reader = fastexcel.read_excel(str(source.path))
        for name in reader.sheet_names:
            grid = reader.load_sheet(name, header_row=None, dtypes="string").to_polars()
            out.append(_grid_sheet(name, grid))
    except InputFileError:
        raise
    except Exception as err:  # fastexcel's own error types
        raise unreadable(source.path, "xlsx", err) from None
    return out


def _csv_sheet(source: SourceFile, workdir: Path) -> Sheet:
    """A CSV table as text. One streaming pass checks that every record parses (a published table
    is loaded whole or not at all) and finds its width; the columnar reader then reads it."""
    encoding = source.encoding or "utf-8"
    width, start = 0, 1
    with source.path.open("r", encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=source.delimiter or ",", strict=True)
        try:
            for row in reader:
                width = max(width, len(row))
                start = reader.line_num + 1
        except csv.Error:
            raise InputFileError(str(source.path), f"the record that starts on line {start} does not parse as CSV; "
                                 "nothing was loaded",
                                 hint="a published table is loaded whole or not at all: close the quote opened on "
                                      "that line (or remove it) and ingest again") from None
    if width == 0:
        return Sheet("", [], pl.DataFrame())
    text = utf8_copy(source, workdir)
    try:
        grid = pl.read_csv(text, has_header=False, infer_schema=False, separator=source.delimiter or ",",
                           schema={f"c{i}": pl.String for i in range(width)},
                           encoding="utf8", raise_if_empty=False)
    except pl.exceptions.PolarsError as err:
        raise unreadable(source.path, "csv", err) from None
    return _grid_sheet("", grid)


def _line_of(err: csv.Error) -> str:
    m = re.search(r"line (\d+)", str(err))
    return m.group(1) if m else "?"


def _grid_sheet(name: str, grid: pl.DataFrame) -> Sheet:
    """A sheet read without a header: the header is the first row with at least two filled cells
    of which one names a period or a place (title lines above it are skipped)."""
    if grid.width == 0 or grid.height == 0:
        return Sheet(name, [], pl.DataFrame())
    grid = grid.select(pl.all().cast(pl.String))
    header_at = None
    for i, row in enumerate(grid.head(30).iter_rows()):
        cells = [str(c).strip() for c in row if c is not None and str(c).strip()]
        if len(cells) >= 2 and any(_ROLE.get(normalise_header(c)) in ("period", "catchment", "delivery_agent",
                                                                       "office") or normalise_header(c) in
                                   ("ref_date", "sds_id") for c in cells):
            header_at = i
            break
    if header_at is None:
        return Sheet(name, [], grid)
    raw_headers = [str(c).strip() if c is not None else "" for c in grid.row(header_at)]
    headers = []
    for i, h in enumerate(raw_headers):
        h = h.lstrip("\ufeff") or f"column {i + 1}"
        headers.append(h if h not in headers else f"{h} ({i + 1})")
    body = grid.slice(header_at + 1).rename(dict(zip(grid.columns, headers, strict=True)))
    body = body.with_row_index("_row", offset=header_at + 2).with_columns(pl.col("_row").cast(pl.Int64))
    filled = pl.any_horizontal([pl.col(h).is_not_null() & (pl.col(h).str.strip_chars() != "") for h in headers])
    return Sheet(name, headers, body.filter(filled))


def notes_text(sheet: Sheet) -> str:
    grid = sheet.frame
    lines = []
    for row in grid.iter_rows():
        cells = [str(c).strip() for c in row if c is not None and str(c).strip()]
        if cells:
            lines.append(" ".join(cells))
    return "\n".join([*([" | ".join(sheet.headers)] if sheet.headers else []), *lines])


# -- detection -------------------------------------------------------------------------------

def kind_of(headers: Iterable[str], path: Path | None = None) -> str | None:
    """The layout a table's headers belong to, or None when they are none of the published ones."""
    folded = {normalise_header(h) for h in headers}
    if {"sds_id", "num_assist"} <= folded or ({"est_region", "fiscal_year"} <= folded
                                              and any(h.startswith("out_exit") for h in folded)):
        return "es_outcomes"
    if {"ref_date", "geo", "value"} <= folded and folded & {"dguid", "status", "scalar_factor", "uom"}:
        return "statcan"
    roles = {_ROLE.get(h) for h in folded}
    if roles & {"delivery_agent", "office"} and "period" in roles:
        return "sa_caseload"
    if "period" in roles and "catchment" in roles and (
            {_MEASURE.get(h) for h in folded} & {"referrals", "intakes", "outcome_employed", "outcome_total"}
            or "client_type" in roles or "interval" in roles or _period_columns(headers)):
        return "foi_workbook"
    return None


def detect(source: SourceFile, workdir: Path, explicit: str | None = None) -> tuple[str, list[Sheet]] | None:
    """The kind of published table a file is and its sheets, or None when it is not one."""
    if explicit is not None and explicit not in KINDS:
        raise InputFileError(str(source.path), f"unknown source kind {explicit!r}", hint=f"one of: {', '.join(KINDS)}")
    if source.format == "parquet":
        return None
    first = kind_of(source.headers, source.path)
    if explicit is None and first is None and source.format == "csv":
        return None
    sheets = sheets_of(source, workdir)
    kinds = {kind_of(s.headers) for s in sheets if s.headers}
    kinds.discard(None)
    if explicit:
        return explicit, sheets
    if not kinds:
        return None
    if len(kinds) > 1:
        # a workbook of several tables: FOI when any sheet is an FOI table, else the first found
        return ("foi_workbook" if "foi_workbook" in kinds else sorted(k for k in kinds if k)[0]), sheets
    return next(iter(k for k in kinds if k)), sheets


# -- the readers -----------------------------------------------------------------------------

def read(kind: str, source: SourceFile, sheets: list[Sheet], mapping: A.GenericMapping | None = None) -> Read:
    out = Read(kind, pl.DataFrame(schema=RAW_COLUMNS))
    parts = []
    for sheet in sheets:
        label = sheet.name or source.path.name
        if (sheet.name and NOTES_SHEET.match(sheet.name.strip())) or (not sheet.headers and sheet.frame.height):
            text = notes_text(sheet)
            if text:
                out.notes.append((sheet.name, text))
            if not (sheet.name and NOTES_SHEET.match(sheet.name.strip())):
                out.sheets_skipped.append((label, "no header row naming a period or a place: kept as notes"))
            continue
        if not sheet.headers:
            continue
        sheet_kind = kind if kind == "generic" else (kind_of(sheet.headers) or kind)
        if sheet_kind != kind and kind != "foi_workbook":
            out.sheets_skipped.append((label, f"a {sheet_kind} table, not {kind}"))
            continue
        reader = READERS[sheet_kind if sheet_kind in READERS else kind]
        frame = reader(sheet, source, mapping)
        out.rows_read += sheet.frame.height
        out.sheets_read.append(label)
        parts.append(frame.select([pl.col(c).cast(t) if c in frame.columns else pl.lit(None, dtype=t).alias(c)
                                   for c, t in RAW_COLUMNS.items()]))
    if parts:
        out.raw = pl.concat(parts, how="vertical")
    return out


def _text(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.String)


def _long(sheet: Sheet, ids: dict[str, str], values: dict[str, tuple[str, str]],
          consts: dict[str, str]) -> pl.DataFrame:
    """Melt ``values`` (header → (measure, interval)) into one row per cell, ``ids`` (role → header)
    kept as columns, ``consts`` (role → value) added."""
    frame = sheet.frame
    keep = ["_row", *dict.fromkeys(ids.values())]
    long = frame.select([*keep, *values]).unpivot(index=keep, on=list(values), variable_name="column",
                                                  value_name="value")
    measure = pl.col("column").replace_strict({h: m for h, (m, _) in values.items()}, default=None)
    interval = pl.col("column").replace_strict({h: i for h, (_, i) in values.items()}, default=None)
    exprs = [pl.col("_row").alias("row"), pl.col("column"), pl.col("value").cast(pl.String),
             pl.lit(sheet.name).alias("sheet"), pl.col("column").alias("measure_label")]
    if "measure" not in consts and "measure" not in ids:
        exprs.append(measure.alias("measure"))
    if "interval" not in ids and "interval" not in consts:
        exprs.append(interval.alias("interval"))
    for role, header in ids.items():
        exprs.append(_text(header).alias(role))
        if f"h_{role}" in RAW_COLUMNS:
            exprs.append(pl.lit(header).alias(f"h_{role}"))
    for role, value in consts.items():
        exprs.append(pl.lit(value).alias(role))
    return long.select(exprs)


def _read_es_outcomes(sheet: Sheet, source: SourceFile, mapping: A.GenericMapping | None) -> pl.DataFrame:
    by_fold = {normalise_header(h): h for h in sheet.headers}
    values = {by_fold[k]: v for k, v in ES_VALUE_COLUMNS.items() if k in by_fold}
    ids = {"period": by_fold.get("fiscal_year", ""), "geo": by_fold.get("sds_id", ""),
           "site_catchment": by_fold.get("est_region", ""), "programme": by_fold.get("eo_program", ""),
           "geo_name": by_fold.get("sds_name", "")}
    missing = [k for k in ("fiscal_year", "sds_id", "est_region") if k not in by_fold]
    if missing:
        raise InputFileError(str(source.path), f"an ES client-outcomes table without {', '.join(missing)}",
                             hint="the open-data file has est_region, fiscal_year and sds_id columns")
    ids = {k: v for k, v in ids.items() if v}
    return _long(sheet, ids, values, {"geo_type": "site"})


def _period_columns(headers: Iterable[str]) -> list[str]:
    return [h for h in headers if A.parse_period(h) is not None and normalise_header(h) not in _ROLE]


def _read_table(sheet: Sheet, source: SourceFile, mapping: A.GenericMapping | None) -> pl.DataFrame:
    """FOI tables, caseloads and generic tidy tables: columns by role, the rest values."""
    roles: dict[str, str] = {}
    values: dict[str, tuple[str, str]] = {}
    mapped = {v: ("geo" if k == "geography" else k) for k, v in (mapping.columns if mapping else {}).items()}
    wide_periods = _period_columns(sheet.headers)
    for h in sheet.headers:
        if h in mapped:
            roles.setdefault(mapped[h], h)
            continue
        if mapping and h in mapping.values:
            values[h] = (mapping.values[h], "")
            continue
        key = normalise_header(h)
        role = _ROLE.get(key)
        if role == "unit_ignore":
            continue
        if role in ("catchment", "delivery_agent", "office"):
            # the finest place a row names is its place (an agent's row also names its catchment)
            finer = {"catchment": 0, "office": 1, "delivery_agent": 2}
            if "geo" not in roles or finer[role] > finer[roles["_geo_type"]]:
                roles["geo"] = h
                roles["_geo_type"] = role
            continue
        if role and role not in roles:
            roles[role] = h
            continue
        if h in wide_periods:
            values[h] = ("", "")
            continue
        measure = (_MEASURE[key], "") if key in _MEASURE else _interval_measure(key)
        if measure:
            values[h] = measure
        elif mapping is None or not mapping.columns:
            values[h] = (_slug(h), "")  # a column of numbers with a name of its own: its own measure
    if "value" in roles:
        values[roles.pop("value")] = ("", "")
    consts: dict[str, str] = {}
    geo_type = roles.pop("_geo_type", None)
    consts["geo_type"] = (mapping.geo_type if mapping and mapping.geo_type else None) or geo_type or "catchment"
    if mapping and mapping.measure:
        consts["measure"] = mapping.measure
    elif "measure" not in roles and any(m == "" for m, _ in values.values()):
        consts["measure"] = _sheet_measure(sheet.name, source.path)
    if "period" not in roles and wide_periods:
        frame = _long(sheet, roles, values, consts)
        return frame.with_columns(pl.col("column").alias("period"))
    return _long(sheet, roles, values, consts)


def _interval_measure(key: str) -> tuple[str, str] | None:
    """Wide outcome columns: ``employed_3_months``, ``3_month_employed``, ``total_12m``, ``employed_at_exit``."""
    m = re.fullmatch(r"(?:(\d{1,2})_?(?:m|mo|month|months|mois)_)?(employed|total|en_emploi|clients)"
                     r"(?:_(?:at_)?(?:(\d{1,2})_?(?:m|mo|month|months|mois)|(exit)))?", key)
    if not m or not (m.group(1) or m.group(3) or m.group(4)):
        return None
    months = m.group(1) or m.group(3) or "0"
    measure = "outcome_employed" if m.group(2) in ("employed", "en_emploi") else "outcome_total"
    return measure, months


def _sheet_measure(name: str, path: Path) -> str:
    key = normalise_header(name or path.stem)
    for alias, measure in sorted(_MEASURE.items(), key=lambda kv: -len(kv[0])):
        if alias and alias in key:
            return measure
    return _slug(name or path.stem)


def _slug(text: str) -> str:
    return normalise_header(text) or "value"


def _read_statcan(sheet: Sheet, source: SourceFile, mapping: A.GenericMapping | None) -> pl.DataFrame:
    """Any Statistics Canada full table: one row per number; the dimension columns (between DGUID
    and UOM) become the measure (the first) and the detail (the rest, ``name=member; …``)."""
    by_fold = {normalise_header(h): h for h in sheet.headers}
    dims = [h for h in sheet.headers if normalise_header(h) not in STATCAN_FIXED]
    first, rest = (dims[0], dims[1:]) if dims else (None, [])
    frame = sheet.frame
    geo = pl.coalesce(_text(by_fold["dguid"]).str.strip_chars().replace("", None), _text(by_fold["geo"])) \
        if "dguid" in by_fold else _text(by_fold["geo"])
    geo_alt = _text(by_fold["geo"])  # a DGUID of a form not known: the place by its name
    status = _text(by_fold["status"]).str.strip_chars() if "status" in by_fold else pl.lit("")
    symbol = _text(by_fold["symbol"]).str.strip_chars() if "symbol" in by_fold else pl.lit("")
    value = _text(by_fold["value"]).str.strip_chars()
    # STATUS changes what VALUE means: "x", "..", "F" with an empty VALUE become the cell's code
    # STATUS decides what VALUE means: "x", "..", "F" hide the number even where one is filled in
    hides = status.is_in(["x", "X", "..", ".", "...", "F"])
    cell = pl.when(hides | value.is_null() | (value == "")).then(pl.coalesce(status.replace("", None), pl.lit(""))) \
        .otherwise(pl.when(status == "E").then(value + "E").otherwise(value))
    detail = pl.concat_str([pl.lit(f"{h}=") + _text(h) for h in rest], separator="; ") if rest else pl.lit("")
    unit = _text(by_fold["uom"]) if "uom" in by_fold else pl.lit("")
    scalar = _text(by_fold["scalar_factor"]) if "scalar_factor" in by_fold else pl.lit("units")
    return frame.select(
        pl.lit(sheet.name).alias("sheet"), pl.col("_row").alias("row"), pl.lit(by_fold["value"]).alias("column"),
        (_text(first).map_batches(lambda s: s.map_elements(_slug, return_dtype=pl.String, skip_nulls=True))
         if first else pl.lit("value")).alias("measure"),
        (_text(first) if first else pl.lit("")).alias("measure_label"),
        _text(by_fold["ref_date"]).alias("period"), geo.alias("geo"), geo_alt.alias("geo_alt"),
        pl.lit("economic_region").alias("geo_type"),
        pl.lit(by_fold["ref_date"]).alias("h_period"),
        pl.lit(f"{by_fold['dguid']}/{by_fold['geo']}" if "dguid" in by_fold else by_fold["geo"]).alias("h_geo"),
        detail.alias("detail"), cell.alias("value"),
        pl.when(scalar.str.to_lowercase().is_in(["units", ""])).then(unit).otherwise(unit + " (" + scalar + ")")
        .alias("unit"),
        symbol.alias("flag"),
    )


READERS = {"es_outcomes": _read_es_outcomes, "foi_workbook": _read_table, "sa_caseload": _read_table,
           "generic": _read_table, "statcan": _read_statcan}


# -- from text to observations ---------------------------------------------------------------

OBSERVATION_COLUMNS: dict[str, Any] = {
    "release_id": pl.String, "measure": pl.String, "measure_label": pl.String, "period_type": pl.String,
    "period": pl.String, "period_label": pl.String, "period_start": pl.Date, "period_end": pl.Date,
    "geo_type": pl.String, "geo_id": pl.String, "geo_label": pl.String, "catchment_id": pl.String,
    "client_type": pl.String, "dimension": pl.String, "group": pl.String, "interval_months": pl.Int64,
    "programme": pl.String, "detail": pl.String, "unit": pl.String, "value": pl.Float64, "status": pl.String,
    "symbol": pl.String, "bound_low": pl.Float64, "bound_high": pl.Float64, "sheet": pl.String,
    "source_row": pl.Int64, "source_column": pl.String,
}
#: A published number is identified by these (one value per key per release).
OBSERVATION_KEY = ("release_id", "measure", "period", "geo_type", "geo_id", "client_type", "dimension", "group",
                   "interval_months", "programme", "detail")


@dataclass
class Tidy:
    observations: pl.DataFrame
    problems: pl.DataFrame  # sheet, row, column, value, rule, message


def tidy(read_: Read, release_id: str, codes: dict[str, A.Code] | None = None) -> Tidy:
    """Parse every distinct spelling once; rows that cannot be used become problems."""
    raw = read_.raw.with_columns(
        pl.col(c).fill_null("") for c in ("client_type", "dimension", "group", "interval", "programme", "detail",
                                          "unit", "site_catchment", "measure_label", "sheet", "period", "value", "geo",
                                          "geo_type", "geo_alt", "geo_name", "flag"))
    table = {**A.SUPPRESSION_CODES, **(codes or {})}
    statcan = read_.kind == "statcan"
    problems: list[pl.DataFrame] = []

    def parsed(col: str | list[str], fn: Any, schema: dict[str, Any]) -> pl.DataFrame:
        """One row per distinct spelling of ``col`` with what ``fn`` makes of it (a tuple)."""
        cols = [col] if isinstance(col, str) else col
        distinct = raw.select(cols).unique()
        rows = [(*key, *fn(*key)) for key in distinct.iter_rows()]
        return pl.DataFrame(rows, schema={**{c: pl.String for c in cols}, **schema}, orient="row")

    def period(v: str) -> tuple[Any, ...]:
        p = A.parse_period(v, prefer="month" if statcan else "fiscal_year")
        return (p.label, p.type, p.start, p.end) if p else (None, None, None, None)

    def cell(v: str) -> tuple[Any, ...]:
        c = A.parse_cell(v, table)
        if c is None:
            return None, None, None, None, ""
        return (c.status, c.value, None if c.low is None else float(c.low), None if c.high is None else float(c.high),
                c.symbol)

    def place(g: str, t: str, alt: str) -> tuple[Any, ...]:
        if t == "site":
            found = g.strip() or None
            return (found, "site" if found else None, None)
        kind = t if t in ("catchment", "economic_region", "delivery_agent") else None
        p = A.find_place(g, kind) or (A.find_place(alt, kind) if alt else None)
        if p is None and statcan:  # another province's region, a province, Canada: kept, in no catchment
            p = A.statcan_place(g, alt)
        return (p.geo_id, p.geo_type, p.catchment_id) if p else (None, None, None)

    def site_catchment(v: str) -> tuple[Any, ...]:
        p = A.find_place(v, "catchment") if v else None
        return (p.catchment_id if p else None,)

    def interval(v: str) -> tuple[Any, ...]:
        months = A.interval_months(v) if v != "" else None
        return months, v == "" or months is not None

    frame = raw.join(parsed("period", period, {"_period": pl.String, "period_type": pl.String,
                                                "period_start": pl.Date, "period_end": pl.Date}),
                     on="period", how="left")
    frame = frame.join(parsed("value", cell, {"status": pl.String, "_value": pl.Float64, "bound_low": pl.Float64,
                                              "bound_high": pl.Float64, "symbol": pl.String}),
                       on="value", how="left")
    frame = frame.join(parsed(["geo", "geo_type", "geo_alt"], place, {"geo_id": pl.String, "_geo_type": pl.String,
                                                                      "catchment_id": pl.String}),
                       on=["geo", "geo_type", "geo_alt"], how="left")
    frame = frame.join(parsed("site_catchment", site_catchment, {"_site_catchment": pl.String}),
                       on="site_catchment", how="left")
    frame = frame.join(parsed("client_type", lambda v: (A.client_type(v) if v else "all",),
                              {"_client_type": pl.String}), on="client_type", how="left")
    frame = frame.join(parsed("interval", interval, {"interval_months": pl.Int64, "_interval_ok": pl.Boolean}),
                       on="interval", how="left").sort("sheet", "row", maintain_order=True)
    site = pl.col("geo_type") == "site"
    frame = frame.with_columns(
        pl.when(site).then(pl.col("_site_catchment")).otherwise(pl.col("catchment_id")).alias("catchment_id"))
    checks = [
        ("period_unparsed", pl.col("_period").is_null(),
         "is not a period (a fiscal year such as 2023-24 or FY2023-24, a month such as 2024-01, a quarter "
         "such as 2024Q1, or a year)", "period"),
        ("unknown_geography", pl.col("_geo_type").is_null() | (site & pl.col("geo_id").is_in(["", None])),
         "names no catchment, economic region or delivery agent esmonitor knows", "geo"),
        ("unknown_site_region", site & pl.col("_site_catchment").is_null(),
         "the site's est_region names no catchment", "site_catchment"),
        ("value_not_number_or_code", pl.col("status").is_null(),
         "is neither a number nor a suppression code (<5, x, SP, .., F, …)", "value"),
        ("unknown_client_type", pl.col("_client_type").is_null(),
         "is not a client type (SA, non-SA, all)", "client_type"),
        ("unknown_interval", ~pl.col("_interval_ok"),
         "is not an outcome interval (exit, 1, 3, 6 or 12 months)", "interval"),
        ("unknown_measure", pl.col("measure").is_null() | (pl.col("measure") == ""),
         "names no measure", "column"),
    ]
    bad = pl.lit(False)
    for rule, flag, message, col in checks:
        hit = frame.filter(flag)
        if hit.height:
            shown = pl.col(col).cast(pl.String).fill_null("")
            header = pl.col("column") if col in ("value", "column") else pl.coalesce(pl.col(f"h_{col}"), pl.lit(col))
            found = hit.select("sheet", "row", header.alias("column"), shown.alias("value"), pl.lit(rule).alias("rule"),
                               (pl.lit("'") + shown + pl.lit(f"' {message}")).alias("message"))
            # a row-wide problem (its period, its place) is one line for the row, not one per number
            problems.append(found if col in ("value", "column") else found.unique(["sheet", "row"], keep="first",
                                                                                  maintain_order=True))
        bad = bad | flag
    good = frame.filter(~bad)
    observations = good.select(
        pl.lit(release_id).alias("release_id"), "measure", "measure_label", "period_type",
        pl.col("_period").alias("period"), pl.col("period").alias("period_label"), "period_start", "period_end",
        pl.col("_geo_type").alias("geo_type"), "geo_id",
        pl.when(pl.col("geo_name") != "").then(pl.col("geo_name")).otherwise(pl.col("geo")).alias("geo_label"),
        "catchment_id",
        pl.col("_client_type").alias("client_type"),
        pl.col("dimension").map_elements(A.all_or, return_dtype=pl.String).alias("dimension"),
        pl.col("group").map_elements(A.all_or, return_dtype=pl.String).alias("group"),
        "interval_months", "programme", "detail", "unit", pl.col("_value").alias("value"), "status",
        pl.when(pl.col("symbol").fill_null("") != "").then(pl.col("symbol")).otherwise(pl.col("flag")).alias("symbol"),
        "bound_low", "bound_high", "sheet", pl.col("row").alias("source_row"), pl.col("column").alias("source_column"))
    observations, dup = _duplicates(observations)
    if dup.height:
        problems.append(dup)
    observations, inconsistent = check_totals(observations)
    if inconsistent.height:
        problems.append(inconsistent)
    empty = pl.DataFrame(schema={"sheet": pl.String, "row": pl.Int64, "column": pl.String, "value": pl.String,
                                 "rule": pl.String, "message": pl.String})
    return Tidy(observations, pl.concat([empty, *problems], how="vertical_relaxed") if problems else empty)


def _duplicates(obs: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two cells of one release for the same key: the second and later are problems."""
    key = [c for c in OBSERVATION_KEY if c != "release_id"]
    obs = obs.with_columns(pl.int_range(pl.len()).over(key).alias("_n"))
    dup = obs.filter(pl.col("_n") > 0)
    problems = dup.select("sheet", pl.col("source_row").alias("row"), pl.col("source_column").alias("column"),
                          _number("value").fill_null(pl.col("symbol")).alias("value"),
                          pl.lit("duplicate_cell").alias("rule"),
                          pl.lit("the same measure, period, place and group appear again in this release "
                                 "(an earlier row has it); keep one").alias("message"))
    return obs.filter(pl.col("_n") == 0).drop("_n"), problems


def _number(col: str) -> pl.Expr:
    """A count as a person writes it: 40, not 40.0."""
    v = pl.col(col)
    return pl.when(v == v.round(0)).then(v.cast(pl.Int64).cast(pl.String)).otherwise(v.cast(pl.String))


def check_totals(obs: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A published total that its parts contradict: smaller than what its parts add up to (published
    parts, and the least a hidden part can be: ``<5`` is at least 1), or, where the parts are the
    whole (outcome categories, SA and non-SA), larger than the most they can add up to. The total is
    a problem and is not loaded; its parts are."""
    edges = A.relations(obs)
    if edges.is_empty():
        return obs, pl.DataFrame()
    indexed = obs.with_row_index("_i").with_columns(pl.col("_i").cast(pl.Int64))
    least = pl.when(pl.col("value").is_not_null()).then(pl.col("value")).otherwise(pl.col("bound_low").fill_null(0))
    most = pl.when(pl.col("value").is_not_null()).then(pl.col("value")).otherwise(pl.col("bound_high"))
    parts = edges.join(indexed.select(pl.col("_i").alias("part"), least.alias("_least"), most.alias("_most")),
                       on="part").group_by("rel", "total", "equal").agg(
        pl.col("_least").sum().alias("_parts"),
        pl.when(pl.col("_most").is_null().any()).then(None).otherwise(pl.col("_most").sum()).alias("_ceiling"))
    joined = parts.join(indexed.select(pl.col("_i").alias("total"), "value"), on="total").filter(
        pl.col("value").is_not_null())
    below = joined.filter(pl.col("_parts") > pl.col("value") + 0.5)
    above = joined.filter(pl.col("equal") & pl.col("_ceiling").is_not_null()
                          & (pl.col("value") > pl.col("_ceiling") + 0.5))
    if below.is_empty() and above.is_empty():
        return obs, pl.DataFrame()
    problems = []
    for found, rule, says in ((below, "total_below_parts", "smaller than its parts, which add up to at least "),
                              (above, "total_above_parts", "larger than its parts can add up to: at most ")):
        if found.is_empty():
            continue
        worst = found.group_by("total").agg(pl.col("_parts").max(), pl.col("_ceiling").min())
        bad = indexed.join(worst, left_on="_i", right_on="total")
        amount = "_parts" if rule == "total_below_parts" else "_ceiling"
        problems.append(bad.select(
            "_i", "sheet", pl.col("source_row").alias("row"), pl.col("source_column").alias("column"),
            _number("value").alias("value"), pl.lit(rule).alias("rule"),
            (pl.lit("the total ") + _number("value") + pl.lit(" (") + pl.col("measure") + pl.lit(f") is {says}")
             + _number(amount) + pl.lit("; the total is set aside, its parts are loaded: check the source"))
            .alias("message")))
    found_problems = pl.concat(problems).unique("_i", keep="first", maintain_order=True)
    kept = indexed.filter(~pl.col("_i").is_in(found_problems.get_column("_i").implode())).drop("_i")
    return kept, found_problems.drop("_i")
