"""Release-ledger benchmark: a new public release protected jointly with 20 earlier ones, and the
audit of everything published.

Run from the repository root::

    .venv/bin/python benchmarks/ledger.py [--clients 50000] [--json results.json]

A synthetic province (the demo's size by default) is loaded straight into a warehouse. Twenty
public indicator releases of several indicators, breakdowns and grains (the mix a monitor would
publish over a year) go through the release gate, each recorded in the ledger. Then:

- ``joint``: the 21st release (referrals by provider and quarter: many small cells) through the
  gate, protected jointly with the 20 in the ledger — target under 20 s;
- ``alone`` (the baseline, same run): the same table protected on its own, as each run was
  before the ledger (``disclosure.release.public_indicators``); the ratio joint / alone is
  reported;
- ``audit``: ``disclosure-audit --ledger``, every primary cell of the 21 releases attacked with
  everything published at once — target under 60 s;
- information loss: cells and value suppressed by the ledger's joint protection against each
  release protected alone, over all 21 releases (the table in docs/disclosure.md).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

EARLIER = (
    ("referrals", "catchment_id", "quarter"), ("referrals", "catchment_id", "fiscal_year"),
    ("referrals", "provider_id", "fiscal_year"), ("referrals", "source", "quarter"), ("referrals", "", "month"),
    ("referral_to_intake", "catchment_id", "fiscal_year"), ("referral_to_intake", "source", "fiscal_year"),
    ("clients_served", "catchment_id", "quarter"), ("clients_served", "provider_id", "fiscal_year"),
    ("clients_served", "stream", "fiscal_year"), ("outcome_3m_per_served", "catchment_id", "fiscal_year"),
    ("outcome_3m_per_served", "stream", "fiscal_year"), ("intake_stream_c", "catchment_id", "quarter"),
    ("job_start_rate", "catchment_id", "fiscal_year"), ("job_start_rate", "social_assistance", "fiscal_year"),
    ("clients_served", "social_assistance", "quarter"), ("outcome_3m_per_served", "social_assistance", "fiscal_year"),
    ("referrals", "catchment_id", "month"), ("clients_served", "catchment_id,stream", "fiscal_year"),
    ("job_start_rate", "provider_id", "fiscal_year"),
)
NEW = ("referrals", "provider_id", "quarter")
JOINT_TARGET_S, AUDIT_TARGET_S = 20.0, 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import polars as pl

    from esmonitor.disclosure import ledger
    from esmonitor.disclosure.gate import Gate
    from esmonitor.disclosure.release import public_indicators
    from esmonitor.indicators.engine import frames_from
    from esmonitor.synth import SynthConfig, generate
    from esmonitor.synth.loader import load_province
    from esmonitor.warehouse import Warehouse

    workdir = Path(tempfile.mkdtemp(prefix="esmonitor-ledger-bench-"))
    path = workdir / "warehouse.duckdb"
    started = time.perf_counter()
    with Warehouse(path) as w:
        load_province(w, generate(SynthConfig(clients=args.clients, seed=args.seed)))
        frames = frames_from(w)
    print(f"province of {args.clients:,} clients loaded in {time.perf_counter() - started:.1f} s")
    gate = Gate.open(path, "benchmark", "public")
    joint_hidden = alone_hidden = 0
    joint_value = alone_value = 0.0
    results: dict[str, Any] = {"clients": args.clients, "releases": []}

    def release(indicator: str, by: str, grain: str) -> tuple[float, float]:
        nonlocal joint_hidden, alone_hidden, joint_value, alone_value
        breakdowns = [b for b in by.split(",") if b]
        t0 = time.perf_counter()
        joint = gate.indicators(frames, [indicator], breakdowns, grain)
        joint_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        alone = public_indicators(frames, [indicator], breakdowns, grain)
        alone_s = time.perf_counter() - t0
        keys = ["period", *breakdowns]
        truth = public_indicators(frames, [indicator], breakdowns, grain, min_count=1, publish_zeros=True)
        column = "denominator" if truth["denominator"].drop_nulls().len() else "value"

        def lost(table: pl.DataFrame) -> tuple[int, float]:
            hidden = table.filter(pl.col("status") != "published").select(keys).with_columns(
                pl.col(k).cast(pl.String) for k in keys)
            true = truth.select(*keys, column).with_columns(pl.col(k).cast(pl.String) for k in keys)
            return hidden.height, float(hidden.join(true, on=keys, how="left")[column].fill_null(0).sum())

        (jc, jv), (ac, av) = lost(joint), lost(alone)
        joint_hidden += jc
        alone_hidden += ac
        joint_value += jv
        alone_value += av
        results["releases"].append({"indicator": indicator, "by": by, "grain": grain, "rows": joint.height,
                                    "joint_s": joint_s, "alone_s": alone_s, "hidden_joint": jc,
                                    "hidden_alone": ac, "value_joint": jv, "value_alone": av})
        print(f"  {indicator:<24} by {by or '-':<22} {grain:<12} {joint.height:>6,} rows  joint {joint_s:6.1f} s"
              f"  alone {alone_s:6.1f} s  hidden {jc:>5,} / {ac:>5,}")
        return joint_s, alone_s

    print("20 earlier public releases through the gate (joint) and protected alone:")
    for indicator, by, grain in EARLIER:
        release(indicator, by, grain)
    print("the 21st release:")
    joint_s, alone_s = release(*NEW)
    t0 = time.perf_counter()
    with Warehouse(path, read_only=True) as w:
        audited = ledger.audit(w, measure_for=gate.measure_for(frames_from(w)))
    audit_s = time.perf_counter() - t0
    narrowest = min((a.width for a in audited), default=float("inf"))
    results.update(joint_s=joint_s, alone_s=alone_s, ratio=joint_s / alone_s, audit_s=audit_s,
                   audited_primary_cells=len(audited), narrowest=narrowest,
                   hidden_joint=joint_hidden, hidden_alone=alone_hidden, value_joint=joint_value,
                   value_alone=alone_value)
    print(f"information loss over the 21 releases: joint {joint_hidden:,} rows ({joint_value:,.0f} people or "
          f"events), alone {alone_hidden:,} rows ({alone_value:,.0f})")
    checks = [(f"21st release jointly with 20: {joint_s:.1f} s (alone {alone_s:.1f} s, ratio "
               f"{joint_s / alone_s:.1f}; target < {JOINT_TARGET_S:.0f} s)", joint_s < JOINT_TARGET_S),
              (f"ledger audit: {len(audited):,} primary cells in {audit_s:.1f} s, narrowest {narrowest:g} "
               f"(target < {AUDIT_TARGET_S:.0f} s, >= 10)", audit_s < AUDIT_TARGET_S and narrowest >= 10 - 1e-6)]
    for text, ok in checks:
        print(("PASS " if ok else "FAIL ") + text)
    if args.json:
        args.json.write_text(json.dumps(results | {"checks": [{"check": t, "pass": ok} for t, ok in checks]},
                                        indent=1), "utf-8")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
