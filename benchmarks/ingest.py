"""Ingest benchmark: validated ingest versus a plain DuckDB load of the same files.

Run from the repository root::

    .venv/bin/python benchmarks/ingest.py --clients 1000000

Three phases, each in a fresh child process (this script re-run with ``--phase``) so that the
peak resident memory of one phase does not pollute the next; each child reads
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (KiB on Linux) just before it exits. The parent
only orchestrates and never imports the engine, so what a child could inherit from it is small.

1. ``generate``: a clean synthetic province (``esmonitor.synth``, ``dirty=False``) written as
   extract files (CSV, XLSX, Parquet, a Statistics Canada CSV) into ``WORKDIR/province``.
2. ``raw`` (the baseline): each file into a fresh DuckDB file without any validation:
   ``CREATE TABLE AS SELECT * FROM read_csv(...)`` / ``read_parquet(...)``, and XLSX read with
   fastexcel (the reader the ingest uses) into Arrow, then ``CREATE TABLE AS`` from it.
3. ``validated``: ``esmonitor.ingest.pipeline.ingest_files`` into a fresh warehouse, as
   ``esmonitor ingest WORKDIR/province`` does (mapping from the folder's ``column_map.toml``).

The figures are informational: targets are validated/raw time <= 3.0 and validated peak memory
<= 4 GiB, each printed as PASS or FAIL; the exit code is 0 either way, 1 only if a phase crashes.
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

from harness import (
    EXTENSIONS,
    Result,
    base_parser,
    input_files,
    peak_rss_mib,
    spawn,
    sql_string,
    versions,
    write_results,
)

RATIO_TARGET = 3.0
MEMORY_TARGET_MIB = 4 * 1024
PHASES = ("generate", "raw", "validated")
VERSIONED = ("duckdb", "fastexcel", "polars", "pyarrow")


# -- helpers used in the child processes ---------------------------------------------------------


def _count_rows(path: Path) -> int:
    """Data rows in one extract file (header excluded)."""
    import duckdb
    import fastexcel
    import pyarrow.parquet as pq

    kind = EXTENSIONS[path.suffix.lower()]
    if kind == "parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    if kind == "xlsx":
        return int(fastexcel.read_excel(str(path)).load_sheet(0).height)
    with duckdb.connect() as con:
        sql = f"SELECT count(*) FROM read_csv({sql_string(str(path))}, all_varchar = true)"
        return int(con.execute(sql).fetchall()[0][0])


def phase_generate(workdir: Path, clients: int, seed: int) -> Result:
    from esmonitor.synth import SynthConfig, generate, write_province

    folder = workdir / "province"
    if folder.exists():
        shutil.rmtree(folder)
    started = time.perf_counter()
    province = generate(SynthConfig(clients=clients, seed=seed, dirty=False))
    generated = time.perf_counter()
    write_province(province, folder)
    written = time.perf_counter()
    del province
    files = {p.name: {"rows": _count_rows(p), "bytes": p.stat().st_size}
             for p in input_files(folder)}
    return {
        "seconds": written - started,
        "generate_seconds": generated - started,
        "write_seconds": written - generated,
        "rows": sum(f["rows"] for f in files.values()),
        "files": files,
    }


def phase_raw(workdir: Path, run: int) -> Result:
    """The baseline: every file into a fresh DuckDB file, engine defaults, no validation."""
    import duckdb
    import fastexcel

    db = workdir / f"raw-{run}.duckdb"
    db.unlink(missing_ok=True)
    files: dict[str, Result] = {}
    started = time.perf_counter()
    con = duckdb.connect(str(db))
    for path in input_files(workdir / "province"):
        t0 = time.perf_counter()
        table = '"' + path.stem.replace('"', "") + '"'
        kind = EXTENSIONS[path.suffix.lower()]
        if kind == "csv":
            con.execute(
                f"CREATE TABLE {table} AS SELECT * FROM read_csv({sql_string(str(path))})"
            ).fetchall()
        elif kind == "parquet":
            con.execute(
                f"CREATE TABLE {table} AS SELECT * FROM read_parquet({sql_string(str(path))})"
            ).fetchall()
        else:
            arrow = fastexcel.read_excel(str(path)).load_sheet(0).to_arrow()
            con.register("_xlsx", arrow)
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM _xlsx").fetchall()
            con.unregister("_xlsx")
            del arrow
        rows = int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        files[path.name] = {"rows": rows, "seconds": time.perf_counter() - t0}
    con.close()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": sum(f["rows"] for f in files.values()),
        "files": files,
        "db_bytes": db.stat().st_size,
    }


def phase_validated(workdir: Path, run: int) -> Result:
    """esmonitor's validated ingest of the same folder into a fresh warehouse."""
    from esmonitor.ingest.columns import load_mapping
    from esmonitor.ingest.pipeline import IngestOptions, ingest_files
    from esmonitor.ingest.pseudonym import Pseudonymizer, load_or_create_key
    from esmonitor.warehouse import Warehouse

    folder = workdir / "province"
    db = workdir / f"warehouse-{run}.duckdb"
    db.unlink(missing_ok=True)
    options = IngestOptions(mapping=load_mapping(folder / "column_map.toml"))
    pseudonymizer = Pseudonymizer(load_or_create_key(workdir / "pseudonym.key"))
    started = time.perf_counter()
    with Warehouse(db) as warehouse:
        reports = ingest_files(warehouse, input_files(folder), pseudonymizer, options)
    seconds = time.perf_counter() - started
    files = {
        Path(r.path).name: {
            "rows": r.rows_read, "rows_loaded": r.rows_loaded,
            "rows_quarantined": r.rows_quarantined, "status": r.status,
            "seconds": r.seconds, "message": r.message,
        }
        for r in reports
    }
    return {
        "seconds": seconds,
        "rows": sum(r.rows_read for r in reports),
        "rows_loaded": sum(r.rows_loaded for r in reports),
        "rows_quarantined": sum(r.rows_quarantined for r in reports),
        "files": files,
        "db_bytes": db.stat().st_size,
    }


def run_phase(args: argparse.Namespace) -> int:
    """Child-process entry point: run one phase, write its result (with peak RSS) as JSON."""
    workdir = Path(args.workdir)
    if args.phase == "generate":
        result = phase_generate(workdir, args.clients, args.seed)
    elif args.phase == "raw":
        result = phase_raw(workdir, args.run)
    else:
        result = phase_validated(workdir, args.run)
    result["peak_rss_mib"] = peak_rss_mib()
    Path(args.result).write_text(json.dumps(result, indent=2), "utf-8")
    return 0


# -- the parent: orchestration and report (kept free of heavy imports) ----------------------------


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 else "-"


def report(summary: Result) -> None:
    gen, raw, val = summary["generate"], summary["raw"], summary["validated"]
    print()
    print(f"Files ({summary['clients']:,} clients, seed {summary['seed']}):")
    print(f"  {'file':<22} {'rows':>12} {'MiB':>8} {'raw s':>8} {'valid. s':>9} {'ratio':>7}")
    for name, info in gen["files"].items():
        r = raw["files"].get(name, {}).get("seconds", 0.0)
        v = val["files"].get(name, {}).get("seconds", 0.0)
        ratio = f"{v / r:.1f}" if r > 0 else "-"
        print(f"  {name:<22} {info['rows']:>12,} {info['bytes'] / 2**20:>8.1f} {r:>8.2f} "
              f"{v:>9.2f} {ratio:>7}")
    print(f"  {'total':<22} {gen['rows']:>12,}")
    inspect_s = val["seconds"] - sum(f["seconds"] for f in val["files"].values())
    print(f"  validated ingest outside the per-file batches (inspect: hash, encoding, headers; "
          f"warehouse open/close): {inspect_s:.2f} s")
    print()
    print(f"  {'phase':<24} {'seconds':>9} {'rows':>12} {'rows/s':>12} {'peak RSS MiB':>13}")
    rows = (("generate + write", gen), ("raw DuckDB load", raw), ("validated ingest", val))
    for label, res in rows:
        print(f"  {label:<24} {res['seconds']:>9.2f} {res['rows']:>12,} "
              f"{_rate(res['rows'], res['seconds']):>12} {res['peak_rss_mib']:>13,.0f}")
    if summary["repeat"] > 1:
        print(f"  (raw and validated: fastest of {summary['repeat']} runs; peak RSS: highest)")
        for label, key in (("raw", "raw_runs"), ("validated", "validated_runs")):
            times = " / ".join(f"{r['seconds']:.2f}" for r in summary[key])
            print(f"  {label} runs: {times} s")
    print(f"  validated: {val['rows_loaded']:,} rows loaded, {val['rows_quarantined']:,} "
          "quarantined")
    mismatched = [n for n, f in gen["files"].items()
                  if not f["rows"] == raw["files"].get(n, {}).get("rows")
                  == val["files"].get(n, {}).get("rows")]
    if mismatched:
        print(f"  note: row counts differ between file, raw and validated: {', '.join(mismatched)}")
    bad = [n for n, f in val["files"].items() if f["status"] != "loaded"]
    if bad:
        print(f"  note: files not cleanly loaded: {', '.join(bad)}")
    ratio = summary["ratio"]
    mem = val["peak_rss_mib"]
    print()
    print(f"validated/raw time: {ratio:.2f}x (target <= {RATIO_TARGET:.1f}x): "
          f"{'PASS' if summary['ratio_pass'] else 'FAIL'}")
    print(f"validated peak memory: {mem:,.0f} MiB (target <= {MEMORY_TARGET_MIB:,} MiB): "
          f"{'PASS' if summary['memory_pass'] else 'FAIL'}")


def _best(runs: list[Result]) -> Result:
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__, PHASES, "runs of the raw and validated phases (fastest is reported)")
    args = parser.parse_args(argv)
    if args.phase:
        return run_phase(args)

    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="esmonitor-bench-")) if temporary else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        gen = spawn(__file__, "generate", args, workdir)
        raws, vals = [], []
        for run in range(args.repeat):
            raws.append(spawn(__file__, "raw", args, workdir, run, show_run=True))
            vals.append(spawn(__file__, "validated", args, workdir, run, show_run=True))
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    raw, val = _best(raws), _best(vals)
    ratio = val["seconds"] / raw["seconds"]
    summary: Result = {
        "clients": args.clients, "seed": args.seed, "repeat": args.repeat,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **versions(VERSIONED)},
        "generate": gen, "raw": raw, "validated": val,
        "raw_runs": raws, "validated_runs": vals,
        "ratio": ratio, "ratio_target": RATIO_TARGET, "ratio_pass": ratio <= RATIO_TARGET,
        "memory_target_mib": MEMORY_TARGET_MIB,
        "memory_pass": val["peak_rss_mib"] <= MEMORY_TARGET_MIB,
    }
    report(summary)
    write_results(args.json, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
