"""Disclosure control of any table of counts or sums: ``disclose`` and ``disclosure-audit``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from esmonitor.cli.common import (
    AudienceOpt,
    JsonOpt,
    MinCountOpt,
    PublishZerosOpt,
    WarehouseOpt,
    console,
    out,
    policy_for,
    read_table,
    user_errors,
)
from esmonitor.cli.output import print_frame, print_json, write_frame
from esmonitor.errors import UserInputError

TableArg = Annotated[Path, typer.Argument(help="Table of cells (.csv or .parquet).")]
DimsOpt = Annotated[str, typer.Option("--dims", help="Comma-separated dimension columns, e.g. catchment,stream.")]
HierarchyOpt = Annotated[list[str] | None, typer.Option(
    "--hierarchy", help="PARENT:CHILD (repeatable, chains allowed: catchment:provider:site). The parent "
                        "column is added as a level of the child's dimension.")]
ValueOpt = Annotated[str, typer.Option("--value", help="Column of counts.")]


def _dims(text: str) -> list[str]:
    dims = [d.strip() for d in text.split(",") if d.strip()]
    if not dims:
        raise UserInputError("--dims needs at least one column")
    return dims


def _in_file(path: Path, err: UserInputError) -> UserInputError:
    text = str(err)
    return err if text.startswith(str(path)) else UserInputError(f"{path}: {text}", hint=err.hint)


@user_errors
def disclose(
    table: TableArg,
    dims: DimsOpt,
    value: ValueOpt,
    hierarchy: HierarchyOpt = None,
    min_count: MinCountOpt = 10,
    publish_zeros: PublishZerosOpt = False,
    cost: Annotated[str, typer.Option(help="What to lose least of: value (cells weighted by their count) "
                                           "or cells.")] = "value",
    method: Annotated[str, typer.Option(help="hypercube (fast, each choice proven) or linear-programming.")]
    = "hypercube",
    mask: Annotated[bool, typer.Option("--mask", help="Empty the value of every suppressed cell (the "
                                                      "version to publish).")] = False,
    top1: Annotated[str | None, typer.Option(help="A table of sums (e.g. earnings): column of each interior "
                                                  "cell's largest single contribution (dominance rule).")] = None,
    top2: Annotated[str | None, typer.Option(help="Column of each cell's second-largest contribution.")] = None,
    contributors: Annotated[str | None, typer.Option(help="A table of sums: column counting the contributors "
                                                          "(fewer than K: primary).")] = None,
    dominance: Annotated[str, typer.Option(help="The (n, k) rule for sums: primary when the n largest "
                                                "contributions exceed k of the cell.")] = "2,0.85",
    protection: Annotated[float, typer.Option(help="A table of sums: no hidden cell may be estimated within "
                                                   "this share of its value either way.")] = 0.10,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write the cells (.csv or .parquet).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Protect a table of interior counts: add every margin (and hierarchy level), then mark each
    cell published, primary (0 < n < K) or secondary (hidden so that no primary cell can be
    narrowed below K by anyone who knows the published cells). With --top1 the table holds sums
    (earnings) and the dominance rule decides the primary cells."""
    import polars as pl

    from esmonitor.disclosure.release import disclose_frame

    started = time.perf_counter()
    try:
        n_text, _, k_text = dominance.partition(",")
        rule = (int(n_text), float(k_text))
    except ValueError:
        raise UserInputError(f"--dominance {dominance!r} must look like N,K (e.g. 2,0.85)") from None
    try:
        result = disclose_frame(read_table(table), _dims(dims), value, hierarchy or [], min_count=min_count,
                                publish_zeros=publish_zeros, cost=cost, method=method, top1=top1, top2=top2,
                                contributors=contributors, dominance=rule, protection=protection)
    except UserInputError as err:
        raise _in_file(table, err) from None
    cells = result.cells
    if mask:
        cells = cells.with_columns(pl.when(pl.col("status") == "published").then(pl.col("value")).alias("value"))
    if out_file is not None:
        write_frame(cells, out_file)
    loss = result.information_loss
    if as_json:
        print_json({"cells": cells.to_dicts(), "information_loss": loss, "min_count": min_count})
        return
    shown = Table(title=f"{table.name}: {loss['cells']:,} cells with margins, K = {min_count:g}")
    for col in ("", "cells", "value"):
        shown.add_column(col, justify="right" if col else "left")
    shown.add_row("primary", f"{loss['primary_cells']:,}", f"{loss['suppressed_value'] - loss['secondary_value']:,.0f}")
    shown.add_row("secondary", f"{loss['secondary_cells']:,}", f"{loss['secondary_value']:,.0f}")
    shown.add_row("published", f"{loss['cells'] - loss['suppressed_cells']:,}",
                  f"{loss['total_value'] - loss['suppressed_value']:,.0f}")
    out.print(shown)
    console.print(f"{result.protection.hypercubes} primary cells protected by a proven hypercube, "
                  f"{result.protection.linear_programs} by linear programming; "
                  f"{time.perf_counter() - started:.1f} s")
    if out_file is not None:
        console.print(f"Wrote {cells.height:,} cells to {out_file}")
    elif cells.height <= 60:
        print_frame(cells, number="g")
    else:
        console.print("Use --out FILE or --json for the cells.")


@user_errors
def disclosure_audit(
    warehouse: WarehouseOpt,
    table: Annotated[Path | None, typer.Argument(help="A published table with its margins (.csv or .parquet): "
                                                      "Total in a dimension column marks a margin, an empty "
                                                      "value a suppressed cell.")] = None,
    dims: Annotated[str | None, typer.Option("--dims", help="Comma-separated dimension columns, e.g. "
                                                            "catchment,stream (with TABLE).")] = None,
    value: Annotated[str | None, typer.Option("--value", help="Column of counts (with TABLE).")] = None,
    hierarchy: HierarchyOpt = None,
    status: Annotated[str | None, typer.Option(help="Column of statuses (published, primary, secondary): "
                                                     "only cells not 'published' are unknown, and only "
                                                     "primary cells must stay K wide.")] = None,
    min_count: MinCountOpt = 10,
    ledger: Annotated[bool, typer.Option("--ledger", help="Instead of TABLE: attack everything the release "
                                                          "ledger says was published from the warehouse's "
                                                          "current data, all releases at once.")] = False,
    audience: AudienceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Attack a published table: each suppressed cell's interval of values consistent with every
    published number (linear programming). Exit code 1 if any cell is narrowed below K. With
    --ledger: every primary cell of every public release of the current data, attacked with
    everything published together (province or admin: the ledger holds the hidden values), each
    small count (below --min-count, the public floor by default) checked to stay K wide."""
    from esmonitor.disclosure.release import audit_frame

    if ledger:
        _audit_ledger(warehouse, audience, min_count, as_json)
        return
    if table is None or dims is None or value is None:
        raise UserInputError("give a TABLE with --dims and --value, or --ledger",
                             hint="esmonitor disclosure-audit release.csv --dims catchment,stream --value value")
    try:
        found = audit_frame(read_table(table), _dims(dims), value, hierarchy or [], status=status,
                            min_count=min_count)
    except UserInputError as err:
        raise _in_file(table, err) from None
    exposed = int(found["exposed"].sum()) if found.height else 0
    if as_json:
        print_json({"cells": found.to_dicts(), "exposed": exposed, "min_count": min_count})
    else:
        print_frame(found.sort("width").head(40), f"{table.name}: {found.height:,} suppressed cells, "
                    f"{exposed:,} narrowed below {min_count:g}", number="g", missing="-")
    if exposed:
        console.print(f"[bold red]{exposed} suppressed cell(s) can be narrowed below {min_count:g}[/]")
        raise typer.Exit(1)


def _audit_ledger(warehouse: Path, audience: str | None, min_count: float, as_json: bool) -> None:
    from esmonitor.disclosure import ledger as register
    from esmonitor.warehouse import Warehouse

    policy = policy_for(audience)
    policy.require("province", "the release ledger (it holds the values of hidden cells)")
    started = time.perf_counter()
    from esmonitor.disclosure.gate import Gate
    from esmonitor.indicators.engine import frames_from

    with Warehouse(warehouse, read_only=True) as w:
        version = w.data_version()
        frames = frames_from(w)
        gate = Gate(warehouse, policy, "disclosure-audit")

        found = register.audit(w, version, gate.measure_for(frames))
    k = min_count
    # a primary cell is at risk while its count is below K: one a release made with a higher K
    # held back is only withheld, and a later release at the floor may publish it
    found = [a for a in found if a.value < k]
    exposed = [a for a in found if a.width < k - 1e-7]
    if as_json:
        print_json({"data_version": version, "min_count": k, "exposed": len(exposed),
                    "cells": [{"measure": a.measure, "cell": a.cell, "value": a.value, "low": a.low,
                               "high": None if a.high == float("inf") else a.high, "width": a.width,
                               "exposed": a.width < k - 1e-7} for a in found]})
    else:
        shown = Table(title=f"Release ledger of data version {version}: {len(found):,} primary cells attacked "
                            f"with everything published ({time.perf_counter() - started:.1f} s)")
        for col in ("measure", "primary cells", "narrowest interval", f"narrower than {k:g}"):
            shown.add_column(col, justify="left" if col == "measure" else "right")
        by: dict[str, list[float]] = {}
        for a in found:
            by.setdefault(a.measure, []).append(a.width)
        for measure, widths in sorted(by.items()):
            shown.add_row(measure, f"{len(widths):,}", f"{min(widths):g}", f"{sum(w < k - 1e-7 for w in widths):,}")
        out.print(shown)
    if exposed:
        console.print(f"[bold red]{len(exposed)} primary cell(s) can be narrowed below {k:g}[/]")
        raise typer.Exit(1)


@user_errors
def releases(
    warehouse: WarehouseOpt,
    every_version: Annotated[bool, typer.Option("--all", help="Releases of every data version, not only of "
                                                              "the current data.")] = False,
    audience: AudienceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The release ledger: every public release made from the warehouse (data and code version,
    audience, K, zero handling, product, command and parameters, number of cells)."""
    from esmonitor.disclosure import ledger as register
    from esmonitor.warehouse import Warehouse

    policy_for(audience).require("province", "the release ledger")
    with Warehouse(warehouse, read_only=True) as w:
        version = w.data_version()
        found = register.releases(w, None if every_version else version)
    rows = [{"release_id": r.release_id, "created_at": r.created_at.isoformat(timespec="seconds"),
             "data_version": r.data_version, "code_version": r.code_version, "audience": r.audience,
             "min_count": r.min_count, "publish_zeros": r.publish_zeros, "product": r.product,
             "command": r.command, "parameters": r.parameters, "synthetic": r.synthetic, "cells": r.cells}
            for r in found]
    if as_json:
        print_json({"data_version": version, "releases": rows})
        return
    shown = Table(title=f"Public releases ({'all data versions' if every_version else 'data version ' + version})")
    for col in ("created", "product", "command", "K", "zeros", "cells", "parameters"):
        shown.add_column(col, justify="right" if col in ("K", "cells") else "left")
    for i, r in enumerate(rows):
        shown.add_row(str(r["created_at"]), str(r["product"]), str(r["command"]), f"{r['min_count']:g}",
                      "published" if r["publish_zeros"] else "protected", f"{r['cells']:,}",
                      ", ".join(f"{k}={v}" for k, v in found[i].parameters.items() if v is not None))
    out.print(shown)
    if not rows:
        console.print("No public release recorded for these data yet.")
