"""Disclosure-control benchmark: protecting a publication-sized table, alone and linked.

Run from the repository root::

    .venv/bin/python benchmarks/disclosure.py

The table is catchment (15) × stream (3) × social assistance (2) × quarter (20) counts with every
margin (16 × 4 × 3 × 21 = 4,032 cells), drawn so that catchments differ in size as Ontario's do
and many quarterly cells are small; the linked release adds catchment × equity group (8 mutually
exclusive groups) sharing the catchment totals and the grand total. K = 10, zeros protected.
Two volumes: ``small`` (about 29,000 people in the table: a third of the cells small, the hard
case, as in a table of one equity group or of a small stream) and ``province`` (40 times more,
still less than a 1,000,000-client province puts in such a table: no cell is small, nothing is
suppressed, and the run shows what the layer costs when there is nothing to do).

Phases, each in a fresh child process (wall time, peak memory, cells suppressed):

- ``primary-*``: building the table with its margins and applying the primary rule only (the
  baseline: what any suppression must pay, and what a table with only small cells hidden loses);
- ``protect-*``: the full protection (primary, then secondary by hypercubes with LP repair);
- ``audit-linked``: the attacker's 2 linear programs per primary cell on the protected linked
  release (what ``esmonitor disclosure-audit`` costs; it also proves the protection holds).

Target (printed PASS/FAIL): protecting the linked release in under 10 s.

Then, unless ``--ledger-clients 0``, the release ledger's figures (``benchmarks/ledger.py`` on a
synthetic province of ``--ledger-clients`` clients, the demo's 50,000 by default): a new public
release protected jointly with 20 earlier ones (target under 20 s) and the audit of the whole
ledger (target under 60 s), the joint release against the same release protected alone in the same run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import Result, base_parser, peak_rss_mib, run_child, spawn_all, versions, write_results

PHASES = ("primary-single", "protect-single", "primary-linked", "protect-linked", "audit-linked",
          "primary-linked-province", "protect-linked-province")
SCALES = {"small": 1.0, "province": 40.0}
K = 10
TARGET_S = 10.0


def tables(seed: int, scale: float = 1.0) -> tuple[Any, Any]:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    size = rng.lognormal(0, 0.8, 15)
    size = 40 * scale * size / size.mean()  # people per catchment and quarter (before shares) / 2
    rows = []
    for c in range(15):
        for s, share_s in zip("ABC", (0.45, 0.35, 0.20), strict=True):
            for sa, share_sa in (("yes", 0.35), ("no", 0.65)):
                for q in range(20):
                    ramp = 0.4 + 0.6 * q / 19
                    rows.append((f"C{c + 1:02d}", s, sa, f"Q{q + 1:02d}",
                                 int(rng.poisson(size[c] * share_s * share_sa * ramp * 2))))
    first = pl.DataFrame(rows, schema=["catchment", "stream", "sa", "quarter", "n"], orient="row")
    totals = first.group_by("catchment").agg(pl.col("n").sum()).sort("catchment")
    groups = ("indigenous", "francophone", "racialized", "disability", "newcomer", "youth", "older", "none")
    shares = np.array([0.04, 0.03, 0.2, 0.12, 0.08, 0.15, 0.08, 0.3])
    second_rows = []
    for catchment, total in totals.iter_rows():
        counts = rng.multinomial(total, shares / shares.sum())
        second_rows += [(catchment, g, int(n)) for g, n in zip(groups, counts, strict=True)]
    second = pl.DataFrame(second_rows, schema=["catchment", "group", "n"], orient="row")
    return first, second


def run_phase(phase: str, seed: int) -> Result:
    import numpy as np

    from esmonitor.disclosure.attacker import feasible_intervals
    from esmonitor.disclosure.suppression import primary_cells, protect
    from esmonitor.disclosure.table import build_table, link

    first, second = tables(seed, SCALES["province" if phase.endswith("province") else "small"])
    start = time.perf_counter()
    built = [build_table(first, ["catchment", "stream", "sa", "quarter"], "n")]
    if "linked" in phase:
        built.append(build_table(second, ["catchment", "group"], "n"))
    system = link(built)
    primary = primary_cells(system.values, K)
    out: Result = {"phase": phase, "cells": len(system.values), "primary_cells": int(primary.sum())}
    if phase.startswith("primary"):
        out.update(suppressed_cells=int(primary.sum()), suppressed_value=float(system.values[primary].sum()))
    else:
        result = protect(system, primary, K)
        loss = result.information_loss()
        out.update(suppressed_cells=loss["suppressed_cells"], suppressed_value=loss["suppressed_value"],
                   hypercubes=result.hypercubes, linear_programs=result.linear_programs)
        if phase.startswith("audit"):
            start = time.perf_counter()
            intervals = feasible_intervals(system.equations, system.values, result.suppressed,
                                           cells=np.flatnonzero(primary))
            out["narrowest"] = min(iv.width for iv in intervals.values())
    out.update(seconds=time.perf_counter() - start, peak_rss_mib=peak_rss_mib(),
               total_value=float(system.values.sum()))
    return out


def main() -> int:
    parser = base_parser(__doc__, PHASES, "unused (one run per phase)")
    parser.add_argument("--ledger-clients", type=int, default=50_000,
                        help="clients of the province of the release-ledger figures (0: skip them)")
    args = parser.parse_args()
    if run_child(args, lambda a: run_phase(a.phase, a.seed)):
        return 0
    results = spawn_all(__file__, PHASES, args)
    print()
    print(f"{'phase':<16}{'cells':>7}{'primary':>9}{'suppressed':>12}{'% value':>9}{'seconds':>9}{'peak MiB':>10}")
    for phase, r in results.items():
        share = 100 * r["suppressed_value"] / r["total_value"]
        print(f"{phase:<16}{r['cells']:>7,}{r['primary_cells']:>9,}{r['suppressed_cells']:>12,}{share:>8.1f}%"
              f"{r['seconds']:>9.2f}{r['peak_rss_mib']:>10.0f}")
    large = results["protect-linked-province"]
    print(f"province volume: protect {large['seconds']:.2f} s, primary-only "
          f"{results['primary-linked-province']['seconds']:.2f} s")
    linked, base = results["protect-linked"], results["primary-linked"]
    single = results["protect-single"]
    print(f"protect / primary-only time: single {single['seconds'] / results['primary-single']['seconds']:.1f}, "
          f"linked {linked['seconds'] / base['seconds']:.1f}; secondary cells added: single "
          f"{single['suppressed_cells'] - single['primary_cells']:,}, linked "
          f"{linked['suppressed_cells'] - linked['primary_cells']:,}; LP repairs "
          f"{single['linear_programs']} and {linked['linear_programs']}")
    audit = results["audit-linked"]
    checks = [(f"protect linked release, small volume: {linked['seconds']:.2f} s (target < {TARGET_S:.0f})",
               linked["seconds"] < TARGET_S),
              (f"protect linked release, province volume: {large['seconds']:.2f} s (target < {TARGET_S:.0f})",
               large["seconds"] < TARGET_S),
              (f"attacker on the protected linked release: narrowest primary interval {audit['narrowest']:.3f} "
               f"(must be >= {K}) in {audit['seconds']:.1f} s", audit["narrowest"] >= K - 1e-6)]
    if args.ledger_clients > 0:
        print(f"\nthe release ledger (benchmarks/ledger.py, {args.ledger_clients:,} clients):", flush=True)
        command = [sys.executable, "-u", str(Path(__file__).with_name("ledger.py")),
                   "--clients", str(args.ledger_clients)]
        checks.append(("release-ledger figures (joint release < 20 s, audit < 60 s)",
                       subprocess.run(command, check=False).returncode == 0))
    for text, ok in checks:
        print(("PASS " if ok else "FAIL ") + text)
    write_results(args.json, {"versions": versions(("highspy", "polars", "numpy", "scipy")),
                              "results": results, "checks": [{"check": t, "pass": ok} for t, ok in checks]})
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
