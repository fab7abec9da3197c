"""Published-tables benchmark: ingest of an FOI-style workbook and a full Statistics Canada table
versus a raw load of the same files, and indicators from the published tables.

Run from the repository root::

    .venv/bin/python benchmarks/published.py --rows 200000 --lfs-rows 2000000

Phases, each in a fresh child process (peak memory per phase, ``ru_maxrss``):

1. ``generate``: ``foi_release.xlsx`` (a Notes sheet, then an ``Employment Outcomes`` sheet of
   ``--rows`` rows: 15 catchments × 5 fiscal years × 3 client types × 4 intervals × demographic
   groups, Employed and Total with ``<5`` and ``x`` cells) and ``14100387.csv`` (``--lfs-rows`` rows
   in the StatCan full-table layout, UTF-8 with BOM: the 11 Ontario and other provinces' regions,
   every month back from 2026, nine characteristics, four statistics).
2. ``raw`` (the baseline): the CSV into a fresh DuckDB file with ``read_csv`` and the workbook's
   sheets read by fastexcel (the reader the ingest uses; DuckDB's own Excel reader is an
   extension downloaded at run time) into DuckDB tables.
3. ``validated``: ``esmonitor.ingest.pipeline.ingest_files`` of both into a fresh warehouse, as
   ``esmonitor ingest`` does.
4. ``indicators``: every indicator from the published tables on that warehouse
   (``esmonitor indicators --source aggregate``); target under 5 s.

Figures are informational; the exit code is 1 only if a phase crashes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness import Result, peak_rss_mib, positive, versions, write_results

PHASES = ("generate", "raw", "validated", "indicators")
VERSIONED = ("duckdb", "fastexcel", "polars", "xlsxwriter")
INDICATOR_TARGET_S = 5.0


def phase_generate(workdir: Path, rows: int, lfs_rows: int, seed: int) -> Result:
    import numpy as np
    import polars as pl
    import xlsxwriter

    from esmonitor.model.codes import CODE_LISTS
    from esmonitor.model.reference import catchments

    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    names = [c.name_en.replace("–", "-") for c in catchments()]
    years = [f"{y}-{(y + 1) % 100:02d}" for y in range(2020, 2025)]
    intervals = ["1 month", "3 months", "6 months", "12 months"]
    per_group = len(names) * len(years) * 3 * len(intervals)
    groups = max(1, rows // per_group - 1)
    book = xlsxwriter.Workbook(str(workdir / "foi_release.xlsx"), {"constant_memory": True})
    notes = book.add_worksheet("Notes")
    notes.write(0, 0, "Integrated Employment Services data (SYNTHETIC, for a benchmark)")
    notes.write(1, 0, "Counts under 5 are shown as <5; x marks a cell hidden so that another cannot be derived.")
    sheet = book.add_worksheet("Employment Outcomes")
    header = ["Catchment Area", "Fiscal Year", "Client Type", "Demographic", "Group", "Interval", "Employed", "Total"]
    for j, h in enumerate(header):
        sheet.write(0, j, h)
    r = 1

    def shown(v: int) -> object:
        return "<5" if 0 < v < 5 else v

    for name in names:
        for year in years:
            for interval in intervals:
                # groups of one dimension, SA and non-SA; "All" rows are their sums, as in a real table
                sa_t = rng.integers(0, 200, groups)
                other_t = rng.integers(0, 400, groups)
                sa_e, other_e = rng.binomial(sa_t, 0.3), rng.binomial(other_t, 0.45)
                rows_of = []
                for g in range(groups):
                    dim, grp = ("Country of birth", f"Country {g:03d}")
                    rows_of.append((dim, grp, int(sa_e[g]), int(sa_t[g]), int(other_e[g]), int(other_t[g])))
                rows_of.append(("All", "All", int(sa_e.sum()), int(sa_t.sum()), int(other_e.sum()), int(other_t.sum())))
                for dim, grp, se, st, oe, ot in rows_of:
                    for client, e, t in (("SA", se, st), ("Non-SA", oe, ot), ("All", se + oe, st + ot)):
                        cells = [shown(e), shown(t)]
                        if dim != "All" and rng.random() < 0.03:
                            cells[0] = "x"
                        for j, v in enumerate([name, year, client, dim, grp, interval, *cells]):
                            sheet.write(r, j, v)
                        r += 1
    book.close()
    written_foi = r - 1
    ers = [c.code for c in CODE_LISTS["economic_region"].codes] + [f"{p}{i:02d}" for p in
                                                                   ("10", "12", "13", "24", "46", "47", "48", "59")
                                                                   for i in range(10, 90, 10)]
    characteristics = ["Population", "Labour force", "Employment", "Full-time employment", "Part-time employment",
                       "Unemployment", "Unemployment rate", "Participation rate", "Employment rate"]
    statistics = ["Estimate", "Standard error of estimate", "Standard error of month-to-month change",
                  "Standard error of year-over-year change"]
    months_needed = max(1, lfs_rows // (len(ers) * len(characteristics) * len(statistics)))
    months = pl.date_range(pl.date(2026, 10, 1) - pl.duration(days=31 * (months_needed - 1)), pl.date(2026, 10, 1),
                           "1mo", eager=True).dt.strftime("%Y-%m").tail(months_needed)
    grid = (pl.DataFrame({"REF_DATE": months}).join(pl.DataFrame({"er": ers}), how="cross")
            .join(pl.DataFrame({"Labour force characteristics": characteristics}), how="cross")
            .join(pl.DataFrame({"Statistics": statistics}), how="cross"))
    n = grid.height
    value = rng.normal(50, 20, n).round(1)
    status = np.where(rng.random(n) < 0.02, "..", np.where(rng.random(n) < 0.03, "E", ""))
    lfs = grid.with_columns(
        (pl.lit("Region ") + pl.col("er") + pl.lit(", Ontario")).alias("GEO"),
        (pl.lit("2016A0005") + pl.col("er")).alias("DGUID"),
        pl.lit("Unadjusted").alias("Data type"), pl.lit("Percentage").alias("UOM"), pl.lit("239").alias("UOM_ID"),
        pl.lit("units").alias("SCALAR_FACTOR"), pl.lit("0").alias("SCALAR_ID"), pl.lit("v1").alias("VECTOR"),
        pl.lit("1.1.1").alias("COORDINATE"),
        pl.when(pl.Series(status) == "..").then(pl.lit("")).otherwise(pl.Series(value).cast(pl.String)).alias("VALUE"),
        pl.Series("STATUS", status), pl.lit("").alias("SYMBOL"), pl.lit("").alias("TERMINATED"),
        pl.lit("1").alias("DECIMALS"),
    ).select("REF_DATE", "GEO", "DGUID", "Labour force characteristics", "Statistics", "Data type", "UOM", "UOM_ID",
             "SCALAR_FACTOR", "SCALAR_ID", "VECTOR", "COORDINATE", "VALUE", "STATUS", "SYMBOL", "TERMINATED",
             "DECIMALS")
    path = workdir / "14100387.csv"
    with path.open("wb") as fh:
        fh.write("\ufeff".encode())
        lfs.write_csv(fh)
    return {"seconds": time.perf_counter() - started, "foi_rows": written_foi, "lfs_rows": lfs.height,
            "foi_bytes": (workdir / "foi_release.xlsx").stat().st_size, "lfs_bytes": path.stat().st_size}


def phase_raw(workdir: Path, run: int) -> Result:
    import duckdb
    import fastexcel

    db = workdir / f"raw-{run}.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    out: Result = {}
    t0 = time.perf_counter()
    con.read_csv(str(workdir / "14100387.csv")).create("lfs")
    out["lfs_seconds"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    reader = fastexcel.read_excel(str(workdir / "foi_release.xlsx"))
    for i, name in enumerate(reader.sheet_names):
        con.from_arrow(reader.load_sheet(name, header_row=None, dtypes="string").to_arrow()).create(f"sheet_{i}")
    out["foi_seconds"] = time.perf_counter() - t1
    con.close()
    out["seconds"] = time.perf_counter() - t0
    return out


def phase_validated(workdir: Path, run: int) -> Result:
    from esmonitor.ingest.pipeline import ingest_files
    from esmonitor.ingest.pseudonym import Pseudonymizer, load_or_create_key
    from esmonitor.warehouse import Warehouse

    db = workdir / "warehouse.duckdb"
    db.unlink(missing_ok=True)
    pseudonymizer = Pseudonymizer(load_or_create_key(workdir / "pseudonym.key"))
    out: Result = {}
    started = time.perf_counter()
    with Warehouse(db) as w:
        for key, name in (("lfs", "14100387.csv"), ("foi", "foi_release.xlsx")):
            t0 = time.perf_counter()
            [report] = ingest_files(w, [workdir / name], pseudonymizer)
            out[f"{key}_seconds"] = time.perf_counter() - t0
            out[f"{key}_report"] = {"status": report.status, "cells_read": report.cells_read,
                                    "cells_loaded": report.cells_loaded, "cells_quarantined": report.cells_quarantined,
                                    "cells_suppressed": report.cells_suppressed, "message": report.message}
    out["seconds"] = time.perf_counter() - started
    return out


def phase_indicators(workdir: Path, run: int) -> Result:
    from esmonitor.indicators import published
    from esmonitor.warehouse import Warehouse

    started = time.perf_counter()
    with Warehouse(workdir / "warehouse.duckdb", read_only=True) as w:
        table = published.compute(w)
    return {"seconds": time.perf_counter() - started, "rows": table.height}


def spawn(phase: str, args: argparse.Namespace, workdir: Path, run: int = 0) -> Result:
    import subprocess

    result_path = workdir / f"result-{phase}-{run}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--workdir", str(workdir),
           "--rows", str(args.rows), "--lfs-rows", str(args.lfs_rows), "--seed", str(args.seed),
           "--run", str(run), "--result", str(result_path)]
    print(f"... {phase}", flush=True)
    proc = subprocess.run(cmd, check=False)
    if proc.returncode != 0 or not result_path.exists():
        raise RuntimeError(f"phase {phase!r} failed with exit code {proc.returncode}")
    result: Result = json.loads(result_path.read_text("utf-8"))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=positive, default=200_000)
    parser.add_argument("--lfs-rows", type=positive, default=2_000_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--run", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        workdir = Path(args.workdir)
        run = {"generate": lambda: phase_generate(workdir, args.rows, args.lfs_rows, args.seed),
               "raw": lambda: phase_raw(workdir, args.run), "validated": lambda: phase_validated(workdir, args.run),
               "indicators": lambda: phase_indicators(workdir, args.run)}[args.phase]
        result = run()
        result["peak_rss_mib"] = peak_rss_mib()
        Path(args.result).write_text(json.dumps(result, indent=2), "utf-8")
        return 0
    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="esmonitor-bench-")) if temporary else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        results = {phase: spawn(phase, args, workdir) for phase in PHASES}
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    gen, raw, val, ind = (results[p] for p in PHASES)
    print()
    print(f"FOI workbook: {gen['foi_rows']:,} rows ({gen['foi_bytes'] / 2**20:.1f} MiB); StatCan table: "
          f"{gen['lfs_rows']:,} rows ({gen['lfs_bytes'] / 2**20:.1f} MiB)")
    print(f"  {'file':<14} {'raw s':>8} {'ingest s':>9} {'ratio':>7}")
    for key in ("foi", "lfs"):
        print(f"  {key:<14} {raw[key + '_seconds']:>8.2f} {val[key + '_seconds']:>9.2f} "
              f"{val[key + '_seconds'] / raw[key + '_seconds']:>7.1f}")
        rep = val[f"{key}_report"]
        print(f"    {rep['status']}: {rep['cells_read']:,} numbers read, {rep['cells_loaded']:,} loaded, "
              f"{rep['cells_quarantined']:,} quarantined, {rep['cells_suppressed']:,} hidden by the source")
    print(f"  peak memory: raw {raw['peak_rss_mib']:,.0f} MiB, ingest {val['peak_rss_mib']:,.0f} MiB "
          f"({val['peak_rss_mib'] / raw['peak_rss_mib']:.1f}x)")
    print(f"indicators from the published tables: {ind['rows']:,} rows in {ind['seconds']:.2f} s (target under "
          f"{INDICATOR_TARGET_S:.0f} s: {'PASS' if ind['seconds'] < INDICATOR_TARGET_S else 'FAIL'})")
    summary = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "rows": args.rows, "lfs_rows": args.lfs_rows,
               "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **versions(VERSIONED)},
               **results}
    write_results(args.json, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
