"""Write a synthetic province as the files a real extract consists of, plus its manifest.

Shapes (chosen to exercise every ingest path):

==================  =========  ==================================================================
file                format     headers
==================  =========  ==================================================================
providers.xlsx      XLSX       English labels ("Provider code", "Organisation name", ...)
sites.xlsx          XLSX       English labels
clients.csv         CSV        case-system headers; ``--dirty``: Windows-1252, semicolons,
                               French code labels, and two direct-identifier columns
referrals.csv       CSV        case-system headers
assessments.parquet Parquet    canonical names
action_plans.csv    CSV        canonical names; ``--dirty``: two malformed lines at the end
services.parquet    Parquet    canonical names
employers.xlsx      XLSX       English labels
jobs_export.csv     CSV        CaMS-style abbreviations, mapped by ``column_map.toml``
lfs_1410038701.csv  CSV        Statistics Canada full-table layout (UTF-8 with byte-order mark)
==================  =========  ==================================================================

``--dirty`` plants defects at known rates in known rows and records each one (file, row, column,
value, expected rule) in ``manifest.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from esmonitor.model.codes import CODE_LISTS, statcan_dguid
from esmonitor.model.entities import ENTITIES
from esmonitor.synth.province import Province

EMPLOYMENT_MAPPING = {
    "JOB_ID": "spell_id", "CLNT_ID": "client_id", "EMPLR_ID": "employer_id",
    "JOB_STRT_DT": "job_start", "JOB_END_DT": "job_end", "WKLY_HRS": "hours_per_week",
    "HRLY_WAGE_AMT": "hourly_wage", "SBSDY_IND": "subsidized", "SBSDY_END_DT": "subsidy_end",
    "SELF_EMP_IND": "self_employed", "SELF_EMP_NET_INC_4WK": "self_employment_net_income_4wk",
    "NOC_CD": "noc_code", "NAICS_CD": "naics_sector", "EVDNC_TYP": "evidence_type",
}

CASE_SYSTEM_HEADERS: dict[str, dict[str, str]] = {
    "client": {
        "client_id": "CaMS Client ID", "registered_on": "Registration Date",
        "birth_year": "Year of Birth", "gender": "Gender", "lgbtq": "2SLGBTQI+",
        "indigenous": "Indigenous Identity", "francophone": "Francophone",
        "racialized": "Racialized Identity", "disability": "Person with a Disability",
        "disability_type": "Type of Disability", "criminal_record": "Criminal Record",
        "precarious_work": "Precarious Work History", "born_in_canada": "Born in Canada",
        "arrival_year": "Year of Arrival", "dependents": "Number of Dependents",
        "education": "Highest Education", "social_assistance": "SA Status",
        "hours_worked_at_intake": "Current Hours", "current_wage": "Current Wage",
        "goal_wage": "Goal Wage",
    },
    "referral": {
        "referral_id": "Referral Number", "client_id": "CaMS Client ID",
        "source": "Referral Source", "referral_date": "Date Referred", "site_id": "Site Code",
        "result": "Referral Outcome", "result_date": "Outcome Date",
    },
}

FILES: dict[str, tuple[str, str]] = {  # entity -> (file name, style)
    "provider": ("providers.xlsx", "labels"),
    "site": ("sites.xlsx", "labels"),
    "client": ("clients.csv", "case"),
    "referral": ("referrals.csv", "case"),
    "assessment": ("assessments.parquet", "canonical"),
    "action_plan": ("action_plans.csv", "canonical"),
    "service": ("services.parquet", "canonical"),
    "employer": ("employers.xlsx", "labels"),
    "employment": ("jobs_export.csv", "cams"),
    "labour_market": ("lfs_1410038701.csv", "statcan"),
}

PLANTED_NAME = "Zébulon Quixotte-Tremblay"
PLANTED_SIN = "046 454 286"


@dataclass
class Defect:
    file: str
    row: int
    column: str | None
    value: str
    rule: str
    kind: str


def _headers(entity: str, style: str) -> dict[str, str]:
    fields = ENTITIES[entity].fields
    if style == "labels":
        return {f.name: f.en for f in fields}
    if style == "case":
        return CASE_SYSTEM_HEADERS[entity]
    if style == "cams":
        return {v: k for k, v in EMPLOYMENT_MAPPING.items()}
    return {f.name: f.name for f in fields}


def _as_text(df: pl.DataFrame, entity: str) -> pl.DataFrame:
    """Every column as the text an extract shows: ISO dates, Y/N flags, plain numbers."""
    out = []
    for f in ENTITIES[entity].fields:
        if f.name not in df.columns:
            continue
        col = pl.col(f.name)
        dtype = df.schema[f.name]
        expr: pl.Expr
        if dtype == pl.Boolean:
            expr = pl.when(col).then(pl.lit("Y")).when(~col).then(pl.lit("N"))
        elif dtype == pl.Date:
            expr = col.dt.strftime("%Y-%m-%d")
        else:
            expr = col.cast(pl.String)
        out.append(expr.alias(f.name))
    return df.select(out)


def _statcan_layout(lmi: pl.DataFrame) -> pl.DataFrame:
    """The long CSV Statistics Canada serves for table 14-10-0387 ("Download entire table")."""
    names = {c.code: c.en.replace("–", "-") for c in CODE_LISTS["economic_region"].codes}
    long = lmi.unpivot(index=["economic_region", "month"],
                       on=["unemployment_rate", "employment_rate", "participation_rate"],
                       variable_name="measure", value_name="VALUE")
    label = {"unemployment_rate": "Unemployment rate", "employment_rate": "Employment rate",
             "participation_rate": "Participation rate"}
    member = {"unemployment_rate": 7, "employment_rate": 9, "participation_rate": 8}
    er_index = {code: i + 2 for i, code in enumerate(sorted(names))}
    return long.sort(["month", "economic_region", "measure"]).select(
        pl.col("month").dt.strftime("%Y-%m").alias("REF_DATE"),
        pl.col("economic_region").replace_strict(names).add(", Ontario").alias("GEO"),
        pl.col("economic_region").map_elements(statcan_dguid, return_dtype=pl.String).alias("DGUID"),
        pl.col("measure").replace_strict(label).alias("Labour force characteristics"),
        pl.lit("Estimate").alias("Statistics"),
        pl.lit("Unadjusted").alias("Data type"),
        pl.lit("Percentage").alias("UOM"), pl.lit("239").alias("UOM_ID"),
        pl.lit("units").alias("SCALAR_FACTOR"), pl.lit("0").alias("SCALAR_ID"),
        (pl.lit("v") + (pl.col("economic_region").cast(pl.Int64) * 100
                        + pl.col("measure").replace_strict(member, return_dtype=pl.Int64))
         .cast(pl.String)).alias("VECTOR"),
        (pl.col("economic_region").replace_strict(er_index, return_dtype=pl.Int64).cast(pl.String)
         + "." + pl.col("measure").replace_strict(member, return_dtype=pl.Int64).cast(pl.String)
         + ".1.1").alias("COORDINATE"),
        pl.col("VALUE").cast(pl.String),
        pl.lit(None, dtype=pl.String).alias("STATUS"), pl.lit(None, dtype=pl.String).alias("SYMBOL"),
        pl.lit(None, dtype=pl.String).alias("TERMINATED"), pl.lit("1").alias("DECIMALS"),
    )


class _Planter:
    """Plants defects in distinct rows of one text table and records them."""

    def __init__(self, rng: np.random.Generator, df: pl.DataFrame, file: str, first_row: int,
                 rate: float) -> None:
        self.rng, self.df, self.file, self.first_row, self.rate = rng, df, file, first_row, rate
        self.free = np.ones(df.height, dtype=bool)
        self.defects: list[Defect] = []

    def rows(self, eligible: np.ndarray | None = None) -> np.ndarray:
        ok = self.free if eligible is None else self.free & eligible
        candidates = np.flatnonzero(ok)
        k = min(len(candidates), max(1, round(self.rate * self.df.height)))
        chosen = np.sort(self.rng.choice(candidates, k, replace=False)) if k else candidates[:0]
        self.free[chosen] = False
        return chosen

    def set(self, column: str, rows: np.ndarray, make: Callable[[int], str], rule: str, kind: str) -> None:
        values = self.df[column].to_list()
        for r in rows:
            values[r] = make(int(r))
            self.defects.append(Defect(self.file, int(r) + self.first_row, column, values[r], rule, kind))
        self.df = self.df.with_columns(pl.Series(column, values, dtype=pl.String))

    def duplicate(self, rows: np.ndarray, key: str) -> None:
        extra = self.df[rows.tolist()]
        start = self.df.height
        self.df = pl.concat([self.df, extra])
        for i in range(len(rows)):
            self.defects.append(Defect(self.file, start + i + self.first_row, key,
                                       str(extra[key][i]), "duplicate_row", "duplicate"))


def write_province(province: Province, out: Path, *, dirty: bool | None = None,
                   progress: Callable[[str], None] | None = None) -> dict[str, object]:
    """Write every file and manifest.json into ``out``; returns the manifest."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dirty = province.config.dirty if dirty is None else dirty
    rng = np.random.default_rng(province.config.seed + 1)
    rate = 0.004
    defects: list[Defect] = []
    file_defects: list[dict[str, str]] = []
    written = {}
    for entity, (name, style) in FILES.items():
        if progress:
            progress(name)
        df = province.tables[entity]
        path = out / name
        if style == "statcan":
            _statcan_layout(df).write_csv(path.with_suffix(".tmp"))
            path.write_bytes(b"\xef\xbb\xbf" + path.with_suffix(".tmp").read_bytes())
            path.with_suffix(".tmp").unlink()
            written[entity] = name
            continue
        text = _as_text(df, entity)
        first_row = 1 if path.suffix == ".parquet" else 2
        if dirty:
            planter = _Planter(rng, text, name, first_row, rate)
            _plant(entity, planter)
            text = planter.df
            defects.extend(planter.defects)
        headers = _headers(entity, style)
        text = text.rename({k: v for k, v in headers.items() if k in text.columns})
        if entity == "client" and dirty:
            text = text.with_columns(
                pl.Series("Client Name", [PLANTED_NAME if i == 0 else f"Person {i}"
                                          for i in range(text.height)]),
                pl.Series("SIN", [PLANTED_SIN if i == 0 else f"{100000000 + i:09d}"
                                  for i in range(text.height)]))
            file_defects.append({"file": name, "kind": "direct_identifier",
                                 "columns": "Client Name,SIN"})
        if path.suffix == ".xlsx":
            text.write_excel(path, worksheet=entity, autofit=False)
        elif path.suffix == ".parquet":
            _typed_for_parquet(text, entity).write_parquet(path)
        elif entity == "client" and dirty:
            path.write_bytes(text.write_csv(separator=";").encode("cp1252"))
            file_defects.append({"file": name, "kind": "encoding", "value": "cp1252"})
            file_defects.append({"file": name, "kind": "delimiter", "value": ";"})
        else:
            text.write_csv(path)
            if dirty and entity == "action_plan":
                defects.extend(_append_malformed_lines(path, text))
        written[entity] = name
    (out / "column_map.toml").write_text(_mapping_toml(), encoding="utf-8")
    manifest = province.manifest()
    manifest["files"] = written
    manifest["mapping_file"] = "column_map.toml"
    manifest["dirty"] = dirty
    manifest["defects"] = [d.__dict__ for d in defects]
    manifest["file_defects"] = file_defects
    manifest["planted_identifiers"] = {"name": PLANTED_NAME, "sin": PLANTED_SIN} if dirty else {}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), "utf-8")
    return manifest


def _typed_for_parquet(text: pl.DataFrame, entity: str) -> pl.DataFrame:
    """Parquet carries types: dates as DATE and numbers as DOUBLE where the text allows."""
    out = []
    for f in ENTITIES[entity].fields:
        if f.name not in text.columns:
            continue
        col = pl.col(f.name)
        if f.type == "date":
            out.append(col.str.to_date("%Y-%m-%d", strict=False).alias(f.name)
                       if text[f.name].drop_nulls().str.contains(r"^\d{4}-\d{2}-\d{2}$").all()
                       else col)
        elif f.type == "decimal":
            out.append(col.cast(pl.Float64, strict=False).alias(f.name)
                       if text[f.name].drop_nulls().str.contains(r"^-?[0-9.]+$").all() else col)
        else:
            out.append(col)
    return text.select(out)


def _plant(entity: str, p: _Planter) -> None:
    """The defects of one file (each in rows of its own, so each fires exactly one rule)."""
    if entity == "client":
        p.set("registered_on", p.rows(), lambda r: "2023-02-30", "invalid_date", "impossible_date")
        p.set("registered_on", p.rows(), lambda r: "next Tuesday", "invalid_date", "unparseable_date")
        p.set("gender", p.rows(), lambda r: "Q", "unknown_code", "unknown_code")
        p.set("birth_year", p.rows(), lambda r: "1890", "out_of_range", "out_of_range")
        # French labels, valid spellings, only readable if the encoding is detected
        values = p.df["gender"].to_list()
        french = {"woman": "Femme", "man": "Homme", "prefer_not": "Préfère ne pas répondre"}
        idx = np.flatnonzero(p.free)[::7]
        for r in idx:
            values[r] = french.get(values[r], values[r])
        p.df = p.df.with_columns(pl.Series("gender", values, dtype=pl.String))
    elif entity == "referral":
        p.set("client_id", p.rows(), lambda r: f"ZZ{r:09d}", "orphan_reference", "orphan")
        p.set("source", p.rows(), lambda r: "Facebook ad", "unknown_code", "unknown_code")
        has_result = p.df["result_date"].is_not_null().to_numpy()
        dates = p.df["referral_date"].to_list()
        p.set("result_date", p.rows(has_result),
              lambda r: _shift(dates[r], -5), "date_order", "date_order")
    elif entity == "assessment":
        p.set("stream", p.rows(), lambda r: "D", "unknown_code", "unknown_code")
        p.set("score", p.rows(), lambda r: "1.7", "out_of_range", "out_of_range")
    elif entity == "action_plan":
        p.set("start_date", p.rows(), lambda r: "1899-12-31", "date_out_of_range", "date_out_of_range")
    elif entity == "service":
        p.set("plan_id", p.rows(), lambda r: f"EAP9{r:08d}X", "orphan_reference", "orphan")
        p.set("service_type", p.rows(), lambda r: "coffee", "unknown_code", "unknown_code")
        p.duplicate(p.rows(), "service_id")
    elif entity == "employment":
        p.set("hours_per_week", p.rows(), lambda r: "168", "out_of_range", "out_of_range")
        p.set("hourly_wage", p.rows(), lambda r: "seventeen", "invalid_number", "invalid_number")
        p.set("job_start", p.rows(), lambda r: "2024-04-31", "invalid_date", "impossible_date")


def _append_malformed_lines(path: Path, text: pl.DataFrame) -> list[Defect]:
    """Two lines a spreadsheet export can produce: a stray extra field and a cut-off line."""
    first = text.head(2).write_csv(include_header=False).splitlines()
    lines = [first[0] + ",stray note", first[1].rsplit(",", 2)[0]]
    with path.open("a", encoding="utf-8", newline="") as fh:
        fh.write("\n".join(lines) + "\n")
    start = text.height + 2  # header is line 1
    return [Defect(path.name, start + i, None, "", "malformed_row", "malformed_line")
            for i in range(len(lines))]


def _shift(iso: str, days: int) -> str:
    d = np.datetime64(iso, "D") + np.timedelta64(days, "D")
    return str(d)


def _mapping_toml() -> str:
    lines = [
        "# Column mapping for extracts whose headers differ from esmonitor's field names.",
        "# One [[file]] entry per file-name pattern; see docs/ingest.md.",
        "",
        "[[file]]",
        'match = "jobs_export*.csv"',
        'entity = "employment"',
        "",
        "[file.columns]",
    ]
    lines += [f'{k} = "{v}"' for k, v in EMPLOYMENT_MAPPING.items()]
    return "\n".join(lines) + "\n"
