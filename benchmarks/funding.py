"""Funding benchmark: payments and one scenario comparison on a 1,000,000-client province.

Run from the repository root::

    .venv/bin/python benchmarks/funding.py [--clients 1000000]

Build (printed, not part of the figures): a clean synthetic province loaded straight into a
warehouse (``esmonitor.synth.loader.load_province``), then the funding inputs (the funded-outcome
checkpoints and the clients served, from the indicator engine's frames) written to Parquet: the
outcome engine is measured by ``benchmarks/indicators.py``, not here.

Measured, each in a fresh child process, inputs loaded before the clock starts:

- ``ours``: the IES model's payments with the trail, envelopes and rewards by stream, the same
  under the flat-weights scenario, and the comparison by SSM, provider and stream;
- ``baseline``: a hand-written Polars join of the achieved checkpoints to the IES rates and a
  group-by sum per catchment and year, twice (no trail, caps, envelopes or rewards): what any
  implementation pays.

Target (printed PASS/FAIL): ``ours`` under 20 s.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness import Result, finish, peak_rss_mib, print_phases, run_phases, versions

PHASES = ("build", "ours", "baseline")
TARGET_S = 20.0


def phase_build(workdir: Path, clients: int, seed: int) -> Result:
    from esmonitor.indicators.engine import frames_from
    from esmonitor.synth import SynthConfig, generate
    from esmonitor.synth.loader import load_province
    from esmonitor.warehouse import Warehouse

    start = time.perf_counter()
    path = workdir / "warehouse.duckdb"
    path.unlink(missing_ok=True)
    with Warehouse(path) as w:
        load_province(w, generate(SynthConfig(clients=clients, seed=seed)))
        frames = frames_from(w, needed=["outcome", "client"])
    frames.get("outcome").select("client_id", "checkpoint", "checkpoint_date", "status", "catchment_id", "ssm_id",
                                 "provider_id", "stream").write_parquet(workdir / "outcomes.parquet")
    frames.get("client").select("client_id", "stream", "catchment_id", "provider_id", "mature_job",
                                "services").write_parquet(workdir / "clients.parquet")
    return {"phase": "build", "seconds": time.perf_counter() - start, "peak_rss_mib": peak_rss_mib(), "rows": 0}


def phase_measure(phase: str, workdir: Path) -> Result:
    import polars as pl

    from esmonitor.funding.model import load_model
    from esmonitor.funding.payments import pay
    from esmonitor.funding.report import compare, flat, incentives
    from esmonitor.model.reference import catchments

    outcomes = pl.read_parquet(workdir / "outcomes.parquet")
    clients = pl.read_parquet(workdir / "clients.parquet")
    model = load_model("ies")
    starts = {c.catchment_id: c.ies_start for c in catchments()}
    start = time.perf_counter()
    if phase == "ours":
        first = pay(outcomes, model, starts)
        second = pay(outcomes, flat(model), starts)
        incentives(first, clients)
        incentives(second, clients)
        for by in (["ssm_id"], ["provider_id"], ["stream"]):
            compare(first, second, by)
        total = float(first.trail["paid"].sum())
    else:
        total = 0.0
        for m in (model, flat(model)):
            rates = pl.DataFrame([{"stream": s, "checkpoint": k, "amount": v} for s, t in m.payments.items()
                                  for k, v in t.items()])
            sums = (outcomes.filter(pl.col("status") == "achieved").join(rates, on=["stream", "checkpoint"])
                    .group_by("catchment_id", pl.col("checkpoint_date").dt.year()).agg(pl.col("amount").sum()))
            total = total or float(sums["amount"].sum())
    return {"phase": phase, "seconds": time.perf_counter() - start, "peak_rss_mib": peak_rss_mib(),
            "rows": outcomes.height, "total": total}


def main() -> int:
    ran = run_phases(__file__, __doc__, PHASES, phase_build, phase_measure)
    if ran is None:
        return 0
    args, results = ran
    print_phases(results, ("rows", "checkpoints"))
    ours, base = results["ours"], results["baseline"]
    print(f"ours / baseline: {ours['seconds'] / base['seconds']:.1f}; baseline sum of IES rates over every achieved "
          "checkpoint (no IES-start filter, no caps): "
          f"${base['total']:,.0f}, paid after caps: ${ours['total']:,.0f}")
    checks = [(f"payments and a scenario for {args.clients:,} clients: {ours['seconds']:.1f} s "
               f"(target < {TARGET_S:.0f})", ours["seconds"] < TARGET_S)]
    return finish(args, checks, {"versions": versions(("polars", "numpy")), "clients": args.clients,
                                 "results": results})


if __name__ == "__main__":
    raise SystemExit(main())
