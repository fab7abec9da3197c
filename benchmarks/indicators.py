"""Indicator benchmark: the indicator engine against plain pandas and hand-written DuckDB SQL.

Run from the repository root::

    .venv/bin/python benchmarks/indicators.py --clients 1000000

A clean synthetic province (``esmonitor.synth``, ``dirty=False``) is written as extract files and
ingested into a warehouse with ``esmonitor.ingest.pipeline.ingest_files``, as ``benchmarks/ingest.py``
does. Those build steps are timed and printed but are not part of the figures. Every phase runs in
a fresh child process (this script re-run with ``--phase``), which reads its own peak resident
memory (``ru_maxrss``, KiB on Linux) just before it exits; the parent only orchestrates, never
imports the engine, and compares the children's results.

Build (not part of the figures):

1. ``generate``: the province's extract files into ``WORKDIR/province``.
2. ``ingest``: the validated ingest into ``WORKDIR/warehouse.duckdb``.
3. ``prepare``: the funded-outcome statuses, from ``esmonitor.indicators.outcomes.outcomes_from``
   once, written to ``WORKDIR/funded_outcomes.parquet``. The pandas and SQL implementations of the
   3-month outcome rate take them from there (loaded before their clock starts): the outcome
   engine itself is not what is compared.

Measured:

4. ``catalogue`` and ``catalogue_by``: ``frames_from(warehouse)`` then
   ``compute_many(frames, grain="quarter")``, the second with ``by=["catchment_id"]``.
5. ``engine``, ``pandas``, ``sql``: three headline indicators, (a) ``outcome_3m_per_starter`` by
   catchment and quarter, (b) ``referral_to_intake`` by catchment (grain "all"), (c)
   ``intake_stream_a/b/c`` by quarter. ``engine`` times ``frames_from`` once, then ``compute`` on
   the frames; ``pandas`` reads the warehouse tables it needs with DuckDB's ``.df()`` and uses
   merge and groupby (its time includes the reads); ``sql`` runs one hand-written query per
   indicator on the warehouse connection. The three must give the same numerators and
   denominators, or the run fails.

Targets, printed as PASS or FAIL: pandas time / engine time at least 20x, engine time / SQL time
at most 1.5x, and frames_from + compute_many for the full catalogue under 60 s. The exit code is
0 either way; 1 only if a phase crashes or the implementations disagree.
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
from typing import Any

from harness import Result, base_parser, input_files, peak_rss_mib, spawn, sql_string, versions, write_results

PANDAS_TARGET = 20.0     # pandas time / engine time, at least
SQL_TARGET = 1.5         # engine time / SQL time, at most
CATALOGUE_TARGET_S = 60.0  # frames_from + compute_many, under
BUILD = ("generate", "ingest", "prepare")
MEASURED = ("catalogue", "catalogue_by", "engine", "pandas", "sql")
PHASES = BUILD + MEASURED
HEADLINE = {  # label -> the indicator ids it covers
    "a": ("outcome_3m_per_starter",),
    "b": ("referral_to_intake",),
    "c": ("intake_stream_a", "intake_stream_b", "intake_stream_c"),
}
HEADLINE_TEXT = {
    "a": "(a) outcome_3m_per_starter, catchment x quarter",
    "b": "(b) referral_to_intake, catchment (all)",
    "c": "(c) intake_stream_a/b/c, quarter",
}
WAREHOUSE = "warehouse.duckdb"
OUTCOMES = "funded_outcomes.parquet"
MARKER = "built.json"

Rows = list[list[Any]]  # [key..., numerator, denominator], sorted


# -- helpers used in the child processes ---------------------------------------------------------


def _rows(records: list[tuple[Any, ...]] | list[list[Any]]) -> Rows:
    """Normalised result rows: keys as text, numerator and denominator as floats, sorted."""
    out = [[*(str(k) for k in r[:-2]), float(r[-2]), float(r[-1])] for r in records]
    return sorted(out)


def phase_generate(workdir: Path, clients: int, seed: int) -> Result:
    from esmonitor.synth import SynthConfig, generate, write_province

    folder = workdir / "province"
    if folder.exists():
        shutil.rmtree(folder)
    started = time.perf_counter()
    province = generate(SynthConfig(clients=clients, seed=seed, dirty=False))
    write_province(province, folder)
    return {"seconds": time.perf_counter() - started}


def phase_ingest(workdir: Path) -> Result:
    from esmonitor.ingest.columns import load_mapping
    from esmonitor.ingest.pipeline import IngestOptions, ingest_files
    from esmonitor.ingest.pseudonym import Pseudonymizer, load_or_create_key
    from esmonitor.warehouse import Warehouse

    folder = workdir / "province"
    db = workdir / WAREHOUSE
    db.unlink(missing_ok=True)
    options = IngestOptions(mapping=load_mapping(folder / "column_map.toml"))
    pseudonymizer = Pseudonymizer(load_or_create_key(workdir / "pseudonym.key"))
    started = time.perf_counter()
    with Warehouse(db) as warehouse:
        reports = ingest_files(warehouse, input_files(folder), pseudonymizer, options)
        tables = {t: warehouse.count(t) for t in ("client", "referral", "action_plan", "assessment",
                                                   "employment", "service")}
    seconds = time.perf_counter() - started
    not_loaded = [Path(r.path).name for r in reports if r.status != "loaded"]
    return {
        "seconds": seconds,
        "rows": sum(r.rows_read for r in reports),
        "rows_loaded": sum(r.rows_loaded for r in reports),
        "not_loaded": not_loaded,
        "tables": tables,
        "db_bytes": db.stat().st_size,
    }


def phase_prepare(workdir: Path) -> Result:
    """The funded-outcome statuses, once: an input of the pandas and SQL versions, not timed there."""
    from esmonitor.indicators.outcomes import outcomes_from
    from esmonitor.warehouse import Warehouse

    started = time.perf_counter()
    with Warehouse(workdir / WAREHOUSE, read_only=True) as warehouse:
        outcomes, as_of = outcomes_from(warehouse)
    seconds = time.perf_counter() - started
    (outcomes.select("client_id", "checkpoint", "status", "placement_start")
     .write_parquet(workdir / OUTCOMES))
    return {"seconds": seconds, "rows": outcomes.height, "as_of": as_of.isoformat()}


def phase_catalogue(workdir: Path, by: list[str]) -> Result:
    """frames_from + compute_many over the whole catalogue, quarterly."""
    from esmonitor.indicators.catalogue import CATALOGUE
    from esmonitor.indicators.engine import compute_many, frames_from
    from esmonitor.warehouse import Warehouse

    with Warehouse(workdir / WAREHOUSE, read_only=True) as warehouse:
        t0 = time.perf_counter()
        frames = frames_from(warehouse)
        t1 = time.perf_counter()
    table = compute_many(frames, grain="quarter", by=by)
    t2 = time.perf_counter()
    return {
        "frames_seconds": t1 - t0,
        "compute_seconds": t2 - t1,
        "seconds": t2 - t0,
        "indicators": len(CATALOGUE),
        "rows": table.height,
        "frame_rows": {n: frames.get(n).height for n in ("referral", "client", "starter", "outcome")},
    }


def phase_engine(workdir: Path) -> Result:
    """frames_from once (timed on its own), then compute for each headline indicator."""
    from esmonitor.indicators.catalogue import BY_ID
    from esmonitor.indicators.engine import compute, frames_from
    from esmonitor.warehouse import Warehouse

    options = {"a": {"by": ["catchment_id"], "grain": "quarter"},
               "b": {"by": ["catchment_id"], "grain": "all"},
               "c": {"by": [], "grain": "quarter"}}
    with Warehouse(workdir / WAREHOUSE, read_only=True) as warehouse:
        t0 = time.perf_counter()
        frames = frames_from(warehouse)
        frames_seconds = time.perf_counter() - t0
    seconds: dict[str, float] = {}
    results: dict[str, Rows] = {}
    for label, ids in HEADLINE.items():
        by, grain = options[label]["by"], str(options[label]["grain"])
        started = time.perf_counter()
        tables = {i: compute(BY_ID[i], frames, by=by, grain=grain) for i in ids}
        seconds[label] = time.perf_counter() - started
        for i, table in tables.items():
            results[i] = _rows(table.select("period", *by, "numerator", "denominator").rows())
    return {"frames_seconds": frames_seconds, "seconds": seconds, "results": results}


# The pandas versions: what an analyst's notebook would do. Read whole tables into DataFrames
# (``con.execute(sql).df()``), merge, keep each person's first record by sorting, group and sum.
# Each function's time includes its reads; the Reader only adds up the read time to report it apart.
def _pandas_quarter(dates: Any) -> Any:
    import pandas as pd

    d = pd.to_datetime(dates)
    return d.dt.year.astype(str) + "Q" + d.dt.quarter.astype(str)


class Reader:
    """``con.execute(sql).df()``, with the time spent reading added up (reported apart)."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.seconds = 0.0

    def df(self, sql: str) -> Any:
        started = time.perf_counter()
        frame = self.con.execute(sql).df()
        self.seconds += time.perf_counter() - started
        return frame


def pandas_outcome_3m(con: Reader, statuses: Any) -> dict[str, Rows]:
    plans = con.df("SELECT * FROM action_plan")
    site = con.df("SELECT * FROM site")
    provider = con.df("SELECT * FROM provider")
    plans = plans.merge(site[["site_id", "provider_id"]], on="site_id").merge(
        provider[["provider_id", "catchment_id"]], on="provider_id")
    home = plans.sort_values(["client_id", "start_date", "plan_id"]).groupby("client_id").head(1)
    at3 = statuses[(statuses["checkpoint"] == 3) & (statuses["status"] != "pending")]
    at3 = at3.merge(home[["client_id", "catchment_id"]], on="client_id")
    at3 = at3.assign(period=_pandas_quarter(at3["placement_start"]),
                     numerator=(at3["status"] == "achieved").astype(float), denominator=1.0)
    table = at3.groupby(["period", "catchment_id"], as_index=False)[["numerator", "denominator"]].sum()
    return {"outcome_3m_per_starter": _rows(table.values.tolist())}


def pandas_referral_to_intake(con: Reader) -> dict[str, Rows]:
    referral = con.df("SELECT * FROM referral")
    site = con.df("SELECT * FROM site")
    provider = con.df("SELECT * FROM provider")
    df = referral.merge(site[["site_id", "provider_id"]], on="site_id").merge(
        provider[["provider_id", "catchment_id"]], on="provider_id")
    df = df.dropna(subset=["referral_date", "result"])
    df = df[df["result"] != "pending"]
    table = (df.assign(numerator=(df["result"] == "intake").astype(float), denominator=1.0)
             .groupby("catchment_id", as_index=False)[["numerator", "denominator"]].sum())
    table.insert(0, "period", "all")
    return {"referral_to_intake": _rows(table.values.tolist())}


def pandas_intake_streams(con: Reader) -> dict[str, Rows]:
    assessment = con.df("SELECT * FROM assessment")
    plans = con.df("SELECT * FROM action_plan")
    served = set(plans["client_id"])
    first = (assessment[assessment["client_id"].isin(served)]
             .sort_values(["client_id", "assessment_date"]).groupby("client_id").head(1))
    first = first.dropna(subset=["assessment_date"])
    first = first.assign(period=_pandas_quarter(first["assessment_date"]))
    out: dict[str, Rows] = {}
    for stream in "ABC":
        table = (first.assign(numerator=(first["stream"] == stream).astype(float),
                              denominator=first["stream"].notna().astype(float))
                 .groupby("period", as_index=False)[["numerator", "denominator"]].sum())
        out[f"intake_stream_{stream.lower()}"] = _rows(table.values.tolist())
    return out


def phase_pandas(workdir: Path) -> Result:
    import duckdb
    import pandas as pd

    statuses = pd.read_parquet(workdir / OUTCOMES)  # the outcome engine's output: not timed
    seconds: dict[str, float] = {}
    read_seconds: dict[str, float] = {}
    results: dict[str, Rows] = {}
    with duckdb.connect(str(workdir / WAREHOUSE), read_only=True) as con:
        for label in HEADLINE:
            reader = Reader(con)
            started = time.perf_counter()
            if label == "a":
                out = pandas_outcome_3m(reader, statuses)
            elif label == "b":
                out = pandas_referral_to_intake(reader)
            else:
                out = pandas_intake_streams(reader)
            seconds[label] = time.perf_counter() - started
            read_seconds[label] = reader.seconds
            results.update(out)
    return {"seconds": seconds, "read_seconds": read_seconds, "results": results}


# Hand-written SQL on the warehouse connection. The tie-break on a client's first plan (start date,
# then plan id) and first assessment (date, then stream) matches the pandas sort order.
SQL = {
    "a": """
        WITH home AS (
            SELECT client_id, arg_min(site_id, (start_date, plan_id)) AS site_id
            FROM action_plan GROUP BY client_id)
        SELECT concat(year(o.placement_start), 'Q', quarter(o.placement_start)) AS period, p.catchment_id,
               count_if(o.status = 'achieved') AS numerator, count(*) AS denominator
        FROM funded_outcome o JOIN home h USING (client_id) JOIN site s USING (site_id)
        JOIN provider p USING (provider_id)
        WHERE o.checkpoint = 3 AND o.status <> 'pending'
        GROUP BY ALL""",
    "b": """
        SELECT 'all' AS period, p.catchment_id,
               count_if(r.result = 'intake') AS numerator, count(*) AS denominator
        FROM referral r JOIN site s USING (site_id) JOIN provider p USING (provider_id)
        WHERE r.result <> 'pending' AND r.referral_date IS NOT NULL
        GROUP BY ALL""",
    "c": """
        WITH first AS (
            SELECT client_id, min(assessment_date) AS assessed_on,
                   arg_min(stream, (assessment_date, stream)) AS stream
            FROM assessment WHERE client_id IN (SELECT client_id FROM action_plan)
            GROUP BY client_id)
        SELECT concat(year(assessed_on), 'Q', quarter(assessed_on)) AS period,
               count_if(stream = 'A') AS a, count_if(stream = 'B') AS b, count_if(stream = 'C') AS c,
               count(stream) AS denominator
        FROM first WHERE assessed_on IS NOT NULL
        GROUP BY ALL""",
}


def phase_sql(workdir: Path) -> Result:
    import duckdb

    seconds: dict[str, float] = {}
    results: dict[str, Rows] = {}
    with duckdb.connect(str(workdir / WAREHOUSE), read_only=True) as con:
        # the outcome engine's output, as a temporary table: not timed
        con.execute("CREATE TEMP TABLE funded_outcome AS SELECT * FROM read_parquet("
                    f"{sql_string(str(workdir / OUTCOMES))})")
        for label, sql in SQL.items():
            started = time.perf_counter()
            records = con.execute(sql).fetchall()
            seconds[label] = time.perf_counter() - started
            if label == "c":
                for k, stream in enumerate("abc"):
                    results[f"intake_stream_{stream}"] = _rows([(r[0], r[1 + k], r[4]) for r in records])
            else:
                results[HEADLINE[label][0]] = _rows(records)
    return {"seconds": seconds, "results": results}


def run_phase(args: argparse.Namespace) -> int:
    """Child-process entry point: run one phase, write its result (with peak RSS) as JSON."""
    workdir = Path(args.workdir)
    phase = args.phase
    if phase == "generate":
        result = phase_generate(workdir, args.clients, args.seed)
    elif phase == "ingest":
        result = phase_ingest(workdir)
    elif phase == "prepare":
        result = phase_prepare(workdir)
    elif phase in ("catalogue", "catalogue_by"):
        result = phase_catalogue(workdir, ["catchment_id"] if phase == "catalogue_by" else [])
    elif phase == "engine":
        result = phase_engine(workdir)
    elif phase == "pandas":
        result = phase_pandas(workdir)
    else:
        result = phase_sql(workdir)
    result["peak_rss_mib"] = peak_rss_mib()
    Path(args.result).write_text(json.dumps(result, indent=2), "utf-8")
    return 0


# -- the parent: orchestration and report (kept free of heavy imports) ----------------------------


def build(args: argparse.Namespace, workdir: Path) -> Result:
    """Province files, warehouse and funded outcomes, or those of an earlier run (--reuse)."""
    marker = workdir / MARKER
    wanted = {"clients": args.clients, "seed": args.seed}
    if args.reuse and marker.exists():
        built: Result = json.loads(marker.read_text("utf-8"))
        if {k: built.get(k) for k in wanted} == wanted and (workdir / OUTCOMES).exists():
            built["reused"] = True
            print(f"... reusing the warehouse built earlier in the workdir ({built['date']})", flush=True)
            return built
    marker.unlink(missing_ok=True)
    built = {**wanted, "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
             **{p: spawn(__file__, p, args, workdir) for p in BUILD}}
    marker.write_text(json.dumps(built, indent=2), "utf-8")
    built["reused"] = False
    return built


def _fastest(runs: list[Result], label: str) -> Result:
    return min(runs, key=lambda r: float(r["seconds"][label]))


def _best(runs: list[Result]) -> Result:
    """Fastest of the runs, per timed figure (per indicator for the headline phases, with the read
    time of that same run); the highest peak memory."""
    best = dict(runs[0])
    for key, value in runs[0].items():
        if key == "seconds" and isinstance(value, dict):
            fastest = {k: _fastest(runs, k) for k in value}
            best["seconds"] = {k: r["seconds"][k] for k, r in fastest.items()}
            if "read_seconds" in runs[0]:
                best["read_seconds"] = {k: r["read_seconds"][k] for k, r in fastest.items()}
        elif key.endswith("seconds") and not isinstance(value, dict):
            best[key] = min(r[key] for r in runs)
    best["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    return best


def check_agreement(engine: Result, pandas: Result, sql: Result) -> list[str]:
    """Indicator ids whose numerators or denominators differ between the three implementations."""
    ids = [i for ids in HEADLINE.values() for i in ids]
    return [i for i in ids
            if not engine["results"].get(i) == pandas["results"].get(i) == sql["results"].get(i)]


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf")


def _pass(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def summarise(summary: Result) -> None:
    """Ratios and pass/fail, stored in the summary."""
    eng, pdx, sql = summary["engine"], summary["pandas"], summary["sql"]
    per: dict[str, Result] = {}
    for label in HEADLINE:
        e, p, s = eng["seconds"][label], pdx["seconds"][label], sql["seconds"][label]
        per[label] = {"engine": e, "pandas": p, "sql": s,
                      "pandas_over_engine": _ratio(p, e), "engine_over_sql": _ratio(e, s)}
    e_total = sum(eng["seconds"].values())
    p_total = sum(pdx["seconds"].values())
    s_total = sum(sql["seconds"].values())
    summary["headline"] = per
    summary["totals"] = {
        "engine": e_total, "pandas": p_total, "sql": s_total,
        "pandas_over_engine": _ratio(p_total, e_total), "engine_over_sql": _ratio(e_total, s_total),
        "pandas_over_engine_with_frames": _ratio(p_total, e_total + eng["frames_seconds"]),
    }
    cat = summary["catalogue"]
    summary["targets"] = {
        "pandas_over_engine": {"target": f">= {PANDAS_TARGET:g}x",
                               "pass": summary["totals"]["pandas_over_engine"] >= PANDAS_TARGET,
                               "each_pass": all(v["pandas_over_engine"] >= PANDAS_TARGET for v in per.values())},
        "engine_over_sql": {"target": f"<= {SQL_TARGET:g}x",
                            "pass": summary["totals"]["engine_over_sql"] <= SQL_TARGET,
                            "each_pass": all(v["engine_over_sql"] <= SQL_TARGET for v in per.values())},
        "catalogue_seconds": {"target": f"< {CATALOGUE_TARGET_S:g} s",
                              "pass": cat["seconds"] < CATALOGUE_TARGET_S,
                              "by_catchment_pass": summary["catalogue_by"]["seconds"] < CATALOGUE_TARGET_S},
    }


def report(summary: Result) -> None:
    built = summary["build"]
    ing, prep = built["ingest"], built["prepare"]
    print()
    print(f"Warehouse: {summary['clients']:,} clients, seed {summary['seed']}"
          + (" (reused from an earlier run)" if built.get("reused") else ""))
    print(f"  build, not part of the figures: generate + write {built['generate']['seconds']:.1f} s, "
          f"validated ingest {ing['seconds']:.1f} s ({ing['rows_loaded']:,} of {ing['rows']:,} rows loaded)")
    tables = ", ".join(f"{k} {v:,}" for k, v in ing["tables"].items())
    print(f"  tables: {tables}")
    print(f"  funded outcomes (outcomes_from, once; as of {prep['as_of']}): {prep['seconds']:.2f} s, "
          f"{prep['rows']:,} rows; an untimed input of the pandas and SQL versions of (a)")

    cat, cby = summary["catalogue"], summary["catalogue_by"]
    print()
    print(f"Full catalogue ({cat['indicators']} indicators), frames_from + compute_many(grain='quarter'):")
    print(f"  {'breakdown':<16} {'frames_from s':>14} {'compute_many s':>15} {'total s':>9} {'rows out':>10} "
          f"{'peak RSS MiB':>13}")
    for label, res in (("none", cat), ("catchment_id", cby)):
        print(f"  {label:<16} {res['frames_seconds']:>14.2f} {res['compute_seconds']:>15.2f} "
              f"{res['seconds']:>9.2f} {res['rows']:>10,} {res['peak_rss_mib']:>13,.0f}")
    rows = ", ".join(f"{k} {v:,}" for k, v in cat["frame_rows"].items())
    print(f"  frame rows: {rows}")

    eng, pdx, sql = summary["engine"], summary["pandas"], summary["sql"]
    print()
    print("Headline indicators (seconds; engine = compute on frames already built):")
    print(f"  {'indicator':<48} {'engine':>8} {'pandas':>8} {'SQL':>8} {'pandas/eng':>11} {'eng/SQL':>8}")
    for label, res in summary["headline"].items():
        print(f"  {HEADLINE_TEXT[label]:<48} {res['engine']:>8.3f} {res['pandas']:>8.3f} {res['sql']:>8.3f} "
              f"{res['pandas_over_engine']:>10.1f}x {res['engine_over_sql']:>7.2f}x")
    tot = summary["totals"]
    print(f"  {'total':<48} {tot['engine']:>8.3f} {tot['pandas']:>8.3f} {tot['sql']:>8.3f} "
          f"{tot['pandas_over_engine']:>10.1f}x {tot['engine_over_sql']:>7.2f}x")
    print(f"  frames_from (engine, once for all indicators): {eng['frames_seconds']:.2f} s; "
          f"pandas / (engine + frames_from): {tot['pandas_over_engine_with_frames']:.2f}x")
    reads = ", ".join(f"({k}) {v:.2f} s" for k, v in pdx["read_seconds"].items())
    print(f"  pandas time spent reading the tables with .df(): {reads}")
    print(f"  peak RSS MiB: engine (frames + compute) {eng['peak_rss_mib']:,.0f}, pandas {pdx['peak_rss_mib']:,.0f}, "
          f"SQL {sql['peak_rss_mib']:,.0f}")
    print("  pandas times include reading the warehouse tables with DuckDB .df(); pandas and SQL take the")
    print("  funded-outcome statuses of (a) from outcomes_from, loaded before their clock starts.")
    print(f"  numerators and denominators: engine, pandas and SQL agree on all "
          f"{sum(len(v) for v in HEADLINE.values())} indicators")
    if summary["repeat"] > 1:
        print(f"  (fastest of {summary['repeat']} runs per figure; peak RSS: highest)")

    t = summary["targets"]
    print()
    print(f"pandas/engine time: {tot['pandas_over_engine']:.1f}x over the three (target "
          f"{t['pandas_over_engine']['target']}): {_pass(t['pandas_over_engine']['pass'])}; each indicator: "
          f"{_pass(t['pandas_over_engine']['each_pass'])}")
    print(f"engine/SQL time: {tot['engine_over_sql']:.2f}x over the three (target {t['engine_over_sql']['target']}): "
          f"{_pass(t['engine_over_sql']['pass'])}; each indicator: {_pass(t['engine_over_sql']['each_pass'])}")
    print(f"full catalogue time: {cat['seconds']:.1f} s, {cby['seconds']:.1f} s by catchment (target "
          f"{t['catalogue_seconds']['target']}): {_pass(t['catalogue_seconds']['pass'])}, "
          f"{_pass(t['catalogue_seconds']['by_catchment_pass'])}")


def _memory_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__, PHASES, "runs of each measured phase (fastest is reported)")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the warehouse an earlier run built in --workdir with the same --clients "
                             "and --seed (skips generate, ingest and prepare)")
    args = parser.parse_args(argv)
    if args.phase:
        return run_phase(args)

    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="esmonitor-bench-")) if temporary else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[Result]] = {p: [] for p in MEASURED}
    try:
        built = build(args, workdir)
        for run in range(args.repeat):
            for phase in MEASURED:
                runs[phase].append(spawn(__file__, phase, args, workdir, run, show_run=args.repeat > 1))
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    for eng, pdx, sql in zip(runs["engine"], runs["pandas"], runs["sql"], strict=True):
        differ = check_agreement(eng, pdx, sql)
        if differ:
            print(f"error: engine, pandas and SQL give different numerators or denominators for "
                  f"{', '.join(differ)}", file=sys.stderr)
            return 1
    summary: Result = {
        "clients": args.clients, "seed": args.seed, "repeat": args.repeat,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": {"cpus": os.cpu_count(), "memory_gib": _memory_gib(), "platform": platform.platform(),
                    **versions(("duckdb", "pandas", "polars", "pyarrow"))},
        "build": built,
        **{p: _best(r) for p, r in runs.items()},
        "runs": runs,
    }
    summarise(summary)
    report(summary)
    write_results(args.json, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
