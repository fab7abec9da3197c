"""Report benchmark: the full public monitoring report (HTML and PDF, English and French) on a
1,000,000-client province, once its indicators can be computed and its evaluation exists.

Run from the repository root::

    .venv/bin/python benchmarks/report.py [--clients 1000000]

Build (printed, not part of the figures): a clean synthetic province loaded straight into a
warehouse (``esmonitor.synth.loader.load_province``), its synthetic surveys ingested, then the
evaluation run and kept in the warehouse as ``esmonitor demo`` keeps it (the rollout's staggered
difference-in-differences with its bootstrap, permutations and synthetic controls; the provider
ratings).

Measured, each in a fresh child process:

- ``report``: ``esmonitor report --audience public`` as the command runs it: the evidence
  gathered for the public (every indicator table through disclosure control, funding, voices,
  data quality; the saved evaluation read back), then the document, its charts, the HTML and the
  PDF in each language;
- ``baseline``: the public indicator table of the whole catalogue by fiscal year
  (``esmonitor indicators --audience public --grain fiscal_year``), the one table any published
  report of these indicators needs.

Target (printed PASS/FAIL): ``report`` under 60 s.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness import Result, finish, peak_rss_mib, print_phases, run_phases, versions

PHASES = ("build", "report", "baseline")
TARGET_S = 60.0


def phase_build(workdir: Path, clients: int, seed: int) -> Result:
    from esmonitor.cli import run_voices_ingest
    from esmonitor.evaluation.providers import (
        SYSTEM_COVARIATES,
        SYSTEM_OUTCOME,
        provider_inputs,
        rate_providers,
        unemployment_monthly,
    )
    from esmonitor.evaluation.rollout import evaluate_rollout_on
    from esmonitor.indicators.engine import frames_from
    from esmonitor.synth import SynthConfig, generate
    from esmonitor.synth.loader import load_province
    from esmonitor.synth.voices import write_voices
    from esmonitor.warehouse import Warehouse

    start = time.perf_counter()
    path = workdir / "warehouse.duckdb"
    path.unlink(missing_ok=True)
    with Warehouse(path) as w:
        load_province(w, generate(SynthConfig(clients=clients, seed=seed)))
    write_voices(workdir / "voices", seed=seed)
    key = workdir / "key"
    key.write_text("00" * 32 + "\n", "ascii")
    key.chmod(0o600)
    run_voices_ingest(path, [workdir / "voices"], None, None, key)
    loaded = time.perf_counter() - start
    with Warehouse(path, read_only=True) as w:
        frames = frames_from(w)
        rollout = evaluate_rollout_on(w, frames).as_dict()
        ratings = rate_providers(provider_inputs(frames, unemployment_monthly(w)), outcome=SYSTEM_OUTCOME,
                                 provider="provider_id", covariates=SYSTEM_COVARIATES).as_dict()
    with Warehouse(path) as w:
        w.save_result("rollout", rollout)
        w.save_result("providers", ratings)
    evaluated = time.perf_counter() - start - loaded
    print(f"    province and surveys loaded in {loaded:.1f} s; evaluation in {evaluated:.1f} s")
    return {"phase": "build", "seconds": time.perf_counter() - start, "peak_rss_mib": peak_rss_mib(), "files": 0}


def phase_measure(phase: str, workdir: Path) -> Result:
    from esmonitor.disclosure.access import Audience, Policy
    from esmonitor.warehouse import Warehouse

    path = workdir / "warehouse.duckdb"
    start = time.perf_counter()
    files: list[str] = []
    if phase == "report":
        from esmonitor.report.evidence import gather
        from esmonitor.report.publish import write_reports

        steps: list[tuple[str, float]] = []
        evidence = gather(path, Policy(Audience("public")), save=False,
                          progress=lambda m: steps.append((m, time.perf_counter() - start)))
        written = write_reports(evidence, workdir / "report",
                                progress=lambda m: steps.append((m, time.perf_counter() - start)))
        files = [f"{w.path.name} {w.bytes / 1024:,.0f} KiB {w.seconds:.1f} s" for w in written]
        for message, at in steps:
            print(f"    {at:6.1f} s  {message}")
    else:
        from esmonitor.disclosure.release import public_indicators
        from esmonitor.indicators.engine import frames_from

        with Warehouse(path, read_only=True) as w:
            frames = frames_from(w)
        public_indicators(frames, grain="fiscal_year")
    return {"phase": phase, "seconds": time.perf_counter() - start, "peak_rss_mib": peak_rss_mib(), "files": files}


def main() -> int:
    ran = run_phases(__file__, __doc__, PHASES, phase_build, phase_measure)
    if ran is None:
        return 0
    args, results = ran
    print_phases(results)
    for f in results["report"]["files"]:
        print(f"    {f}")
    report, base = results["report"], results["baseline"]
    print(f"report / baseline (the public indicator table alone): {report['seconds'] / base['seconds']:.2f}")
    checks = [(f"public report, HTML and PDF in English and French, {args.clients:,} clients: "
               f"{report['seconds']:.1f} s (target < {TARGET_S:.0f})", report["seconds"] < TARGET_S)]
    return finish(args, checks, {"versions": versions(("polars", "duckdb", "altair", "vl-convert-python",
                                                       "weasyprint")), "clients": args.clients, "results": results})


if __name__ == "__main__":
    raise SystemExit(main())
