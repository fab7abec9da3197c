"""Disclosure control of any table of counts or sums: ``disclose`` and ``disclosure-audit``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from esmonitor.cli.common import (
    JsonOpt,
    MinCountOpt,
    PublishZerosOpt,
    console,
    out,
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
    table: Annotated[Path, typer.Argument(help="A published table with its margins (.csv or .parquet): "
                                               "Total in a dimension column marks a margin, an empty "
                                               "value a suppressed cell.")],
    dims: DimsOpt,
    value: ValueOpt,
    hierarchy: HierarchyOpt = None,
    status: Annotated[str | None, typer.Option(help="Column of statuses (published, primary, secondary): "
                                                     "only cells not 'published' are unknown, and only "
                                                     "primary cells must stay K wide.")] = None,
    min_count: MinCountOpt = 10,
    as_json: JsonOpt = False,
) -> None:
    """Attack a published table: each suppressed cell's interval of values consistent with every
    published number (linear programming). Exit code 1 if any cell is narrowed below K."""
    from esmonitor.disclosure.release import audit_frame

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
