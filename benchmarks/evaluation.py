"""Evaluation benchmark: Callaway–Sant'Anna and provider ratings, against the fastest alternatives.

Run from the repository root::

    .venv/bin/python benchmarks/evaluation.py            # 100,000 and 1,000,000 rows; 1,000,000 clients

Callaway–Sant'Anna on a synthetic panel (10 periods, cohorts adopting in periods 4, 6 and 8 and a
never-treated group, one covariate, a known effect of 1) of 100,000 and 1,000,000 unit-period
rows, doubly robust, never-treated controls; every implementation produces the same things: the
group-time effects and the simple, group, dynamic and calendar aggregations with analytical
standard errors and bootstrap simultaneous bands (999 draws):

- ``ours``: ``esmonitor.evaluation.staggered.callaway_santanna`` (checks, balancing, renaming,
  then moderndid);
- ``moderndid``: the same calls made directly (the fastest maintained implementation we found on
  PyPI: csdid 0.4.3 took 1.55 times as long at 1,000,000 rows in our trials);
- ``csdid``: run too when it is installed (``uv pip install csdid``); it is not a dependency.

Provider ratings on ``--clients`` synthetic clients (about 70 providers, stream, social
assistance, four demographic flags, unemployment and system phase as risk factors):

- ``ours``: ``esmonitor.evaluation.providers.rate_providers``;
- ``glm``: the baseline every implementation must pay, statsmodels' logistic GLM on the same
  design matrix (no maintained package does provider ratings, so the ratio says how much the
  rest — encoding, aggregation, shrinkage, bands — adds).

Each phase runs in a fresh child process and reports wall time and peak resident memory. Targets
(printed PASS/FAIL): ours no slower than moderndid (ratio at most 1.10: the same work plus
checks) and under 30 s at 1,000,000 rows; provider ratings under 30 s.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from harness import Result, base_parser, peak_rss_mib, run_child, spawn_all, versions, write_results

SIZES = {"100k": 10_000, "1m": 100_000}  # units; 10 periods each
PERIODS = 10
RATIO_TARGET = 1.10
TIME_TARGET_S = 30.0
DID = tuple(f"did-{impl}-{size}" for size in SIZES for impl in ("ours", "moderndid", "csdid"))
PHASES = (*DID, "providers-ours", "providers-glm")


def panel(units: int, seed: int) -> Any:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    g = rng.choice([0, 4, 6, 8], size=units)
    u = np.repeat(np.arange(units), PERIODS)
    t = np.tile(np.arange(1, PERIODS + 1), units)
    gg = np.repeat(g, PERIODS)
    x = np.repeat(rng.normal(size=units), PERIODS)
    y = 0.5 * x + 0.1 * t + rng.normal(size=u.size) + np.where((gg > 0) & (t >= gg), 1.0, 0.0)
    return pl.DataFrame({"unit": u, "t": t, "g": gg, "x": x, "y": y})


def clients(n: int, seed: int) -> Any:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    providers = np.array([f"P{j:03d}" for j in range(70)])
    prov = rng.integers(0, 70, n)
    quality = rng.normal(0, 0.35, 70)
    stream = rng.choice(["A", "B", "C"], n, p=[0.3, 0.4, 0.3])
    sa = rng.choice(["ow", "odsp", "none"], n, p=[0.3, 0.12, 0.58])
    flags = {k: rng.choice(["yes", "no", "prefer_not"], n, p=[p, 0.95 - p, 0.05])
             for k, p in (("indigenous", 0.08), ("francophone", 0.05), ("racialized", 0.3), ("disability", 0.25))}
    unemployment = rng.normal(6.5, 1.5, n)
    phase = rng.choice(["before", "transition", "ies"], n)
    lin = (-0.3 + np.select([stream == "B", stream == "C"], [-0.5, -1.2], 0.0) - 0.3 * (sa != "none")
           - 0.1 * (unemployment - 6.5) + 0.3 * (phase == "ies") + quality[prov])
    y = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(np.int8)
    return pl.DataFrame({"provider": providers[prov], "y": y, "stream": stream, "social_assistance": sa,
                         **flags, "unemployment": unemployment, "phase": phase})


COVARIATES = ("stream", "social_assistance", "indigenous", "francophone", "racialized", "disability",
              "unemployment", "phase")


def _did(impl: str, data: Any) -> float:
    import warnings

    if impl == "ours":
        from esmonitor.evaluation.staggered import callaway_santanna

        result = callaway_santanna(data, outcome="y", unit="unit", time="t", first_treated="g", covariates=["x"])
        return result.aggregate("dynamic").overall.att
    if impl == "moderndid":
        import moderndid

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mp = moderndid.att_gt(data=data, yname="y", tname="t", idname="unit", gname="g", xformla="~x",
                                 est_method="dr", boot=False, cband=False, biters=999)
            out = {}
            for kind in ("simple", "group", "dynamic", "calendar"):
                moderndid.aggte(mp, type=kind, boot=True, cband=True, biters=999)
                out[kind] = moderndid.aggte(mp, type=kind, boot=False, cband=False).overall_att
        return float(out["dynamic"])
    from csdid.att_gt import ATTgt  # optional

    frame = data.to_pandas()
    fit = ATTgt(yname="y", gname="g", idname="unit", tname="t", xformla="y~x", data=frame).fit(est_method="dr")
    for kind in ("simple", "group", "dynamic", "calendar"):
        fit.aggte(typec=kind)
    return float("nan")


def run_phase(phase: str, workdir: Path, n_clients: int, seed: int) -> Result:
    if phase.startswith("did-"):
        _, impl, size = phase.split("-")
        if impl == "csdid":
            try:
                import csdid  # noqa: F401
            except ImportError:
                return {"phase": phase, "skipped": "csdid is not installed"}
        data = panel(SIZES[size], seed)
        start = time.perf_counter()
        att = _did(impl, data)
        return {"phase": phase, "rows": data.height, "seconds": time.perf_counter() - start, "att": att,
                "peak_rss_mib": peak_rss_mib()}
    data = clients(n_clients, seed)
    start = time.perf_counter()
    if phase == "providers-ours":
        from esmonitor.evaluation.providers import rate_providers

        result = rate_providers(data, outcome="y", provider="provider", covariates=COVARIATES)
        extra = {"providers": len(result.providers), "tau": result.tau}
    else:
        import numpy as np
        import statsmodels.api as sm

        from esmonitor.evaluation.providers import design_matrix

        x, _ = design_matrix(data, COVARIATES)
        sm.GLM(data["y"].to_numpy().astype(float), np.column_stack([np.ones(len(x)), x]),
               family=sm.families.Binomial()).fit()
        extra = {}
    return {"phase": phase, "rows": data.height, "seconds": time.perf_counter() - start,
            "peak_rss_mib": peak_rss_mib(), **extra}


def main() -> int:
    parser = base_parser(__doc__, PHASES, "unused (one run per phase)")
    args = parser.parse_args()
    if run_child(args, lambda a: run_phase(a.phase, a.workdir, a.clients, a.seed)):
        return 0
    results = spawn_all(__file__, PHASES, args)
    print()
    print(f"{'phase':<22}{'rows':>12}{'seconds':>10}{'peak MiB':>10}")
    for phase, r in results.items():
        if "skipped" in r:
            print(f"{phase:<22}{'':>12}{'skipped: ' + r['skipped']:>30}")
            continue
        print(f"{phase:<22}{r['rows']:>12,}{r['seconds']:>10.2f}{r['peak_rss_mib']:>10.0f}")
    checks = []
    for size in SIZES:
        ours, ref = results[f"did-ours-{size}"], results[f"did-moderndid-{size}"]
        ratio = ours["seconds"] / ref["seconds"]
        checks.append((f"Callaway–Sant'Anna {size}: ours / moderndid = {ratio:.2f} (target <= {RATIO_TARGET})",
                       ratio <= RATIO_TARGET))
        if abs(ours["att"] - ref["att"]) > 1e-9:
            print(f"implementations disagree at {size}: {ours['att']} vs {ref['att']}")
            return 1
        csdid = results[f"did-csdid-{size}"]
        if "seconds" in csdid:
            print(f"csdid / ours at {size}: {csdid['seconds'] / ours['seconds']:.2f}")
    checks.append((f"Callaway–Sant'Anna 1m: {results['did-ours-1m']['seconds']:.1f} s (target < {TIME_TARGET_S:.0f})",
                   results["did-ours-1m"]["seconds"] < TIME_TARGET_S))
    prov, glm = results["providers-ours"], results["providers-glm"]
    checks.append((f"provider ratings, {prov['rows']:,} clients: {prov['seconds']:.1f} s "
                   f"(target < {TIME_TARGET_S:.0f}); logistic GLM alone {glm['seconds']:.1f} s, "
                   f"ratio {prov['seconds'] / glm['seconds']:.2f}", prov["seconds"] < TIME_TARGET_S))
    for text, ok in checks:
        print(("PASS " if ok else "FAIL ") + text)
    write_results(args.json, {"versions": versions(("moderndid", "polars", "statsmodels", "numpy")),
                              "clients": args.clients, "results": results,
                              "checks": [{"check": t, "pass": ok} for t, ok in checks]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
