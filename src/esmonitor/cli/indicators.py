"""Numbers from the warehouse: ``outcomes`` (the funded-outcome engine) and ``indicators`` (the
catalogue)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from esmonitor.cli.common import (
    AudienceOpt,
    MinCountOpt,
    PublishZerosOpt,
    WarehouseOpt,
    console,
    out,
    parse_date,
    policy_for,
    user_errors,
)
from esmonitor.cli.output import check_format, emit_frame


@user_errors
def outcomes(
    warehouse: WarehouseOpt,
    client: Annotated[str | None, typer.Argument(help="A client pseudonym: explain its checkpoints.")] = None,
    as_of: Annotated[str | None, typer.Option(help="As-of date YYYY-MM-DD (default: latest date in the data).")] = None,
    rules_doc: Annotated[Path | None, typer.Option(help="Write the rules as Markdown to this file and exit.")] = None,
    audience: AudienceOpt = None,
    min_count: MinCountOpt = 10,
) -> None:
    """Funded outcomes at 1, 3, 6 and 12 months (IES rules); with CLIENT, why each was reached or not."""
    if rules_doc is not None:
        from esmonitor.indicators.docs import render_outcomes_markdown

        rules_doc.write_text(render_outcomes_markdown(), "utf-8")
        console.print(f"Wrote {rules_doc}")
        return
    import polars as pl

    from esmonitor.disclosure.gate import Gate
    from esmonitor.indicators.outcomes import explain as explain_client
    from esmonitor.indicators.outcomes import funded_outcomes, inputs_from, resolve_as_of
    from esmonitor.warehouse import Warehouse

    gate = Gate.open(warehouse, "outcomes", audience, min_count, parameters={"as_of": as_of})
    if client:
        gate.require_records("a client's checkpoints")
    if gate.public:
        gate.check_as_of(parse_date(as_of))
    with Warehouse(warehouse, read_only=True) as w:
        used_as_of = resolve_as_of(w, parse_date(as_of))
        starters, spells = inputs_from(w)
        allowed = gate.scope(w).client_ids(w)
    if allowed is not None:  # another provider's clients are as invisible as unknown ones
        starters = starters.filter(pl.col("client_id").is_in(sorted(allowed)))
        spells = spells.filter(pl.col("client_id").is_in(sorted(allowed)))
    result = funded_outcomes(starters, spells, used_as_of)
    if client:
        out.print("\n".join(explain_client(result, spells, client)), highlight=False)
        return
    table = Table(title=f"Funded outcomes by checkpoint (as of {used_as_of}; job starters)")
    for col in ("checkpoint", "achieved", "not achieved", "unknown", "pending", "rate, decided"):
        table.add_column(col, justify="right")
    counts = gate.checkpoint_counts(result)
    if gate.public:
        table.title = f"{table.title}; public: small counts, and cells that would reveal them, hidden"
    for k in sorted(result["checkpoint"].unique().to_list()):
        by = {r["status"]: r["len"] for r in counts.filter(counts["checkpoint"] == k).iter_rows(named=True)}
        parts = [by.get(s, 0) for s in ("achieved", "not_achieved", "unknown", "pending")]
        decided = None if None in parts[:3] else sum(parts[:3])
        rate = f"{100 * parts[0] / decided:.1f} %" if decided else "-"
        table.add_row(f"{k} months", *["suppressed" if v is None else f"{v:,.0f}" for v in parts], rate)
    out.print(table)


@user_errors
def indicators(
    warehouse: WarehouseOpt,
    ids: Annotated[str | None, typer.Option("--id", help="Comma-separated indicator ids (default: all).")] = None,
    by: Annotated[str | None, typer.Option(help="Comma-separated breakdowns, e.g. catchment_id,stream.")] = None,
    grain: Annotated[str, typer.Option(help="month, quarter, fiscal_year or all.")] = "quarter",
    start: Annotated[str | None, typer.Option("--from", help="First date YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last date YYYY-MM-DD.")] = None,
    as_of: Annotated[str | None, typer.Option(help="As-of date of the outcome engine.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, parquet or json.")] = "table",
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the catalogue and exit.")] = False,
    catalogue_doc: Annotated[Path | None, typer.Option(help="Write docs/indicators.md here and exit.")] = None,
    audience: AudienceOpt = None,
    min_count: MinCountOpt = 10,
    publish_zeros: PublishZerosOpt = False,
    source: Annotated[str | None, typer.Option(
        help="record (extracts), aggregate (published tables) or both; default: whatever the warehouse holds.")]
    = None,
) -> None:
    """Compute catalogue indicators into one tidy table (value, numerator, denominator, 95 % interval).

    From published tables (--source aggregate) the rows carry their source (the release) and the
    bounds its suppressed cells leave (bound_low, bound_high); the interval then spans both.

    With --audience public the table comes with its margins (Total rows) and every count, rate
    and mean passes the disclosure layer (a status column says which rows are published); with
    provider:<id> or ssm:<id> only that provider's or catchment's clients count."""
    from esmonitor.indicators.catalogue import BY_ID, CATALOGUE
    from esmonitor.indicators.engine import frames_from
    from esmonitor.warehouse import Warehouse

    if catalogue_doc is not None:
        from esmonitor.indicators.docs import render_catalogue_markdown

        catalogue_doc.write_text(render_catalogue_markdown(), "utf-8")
        console.print(f"Wrote {catalogue_doc}")
        return
    if list_:
        listing = Table(title="Indicator catalogue")
        for col in ("id", "English", "Français", "statistic"):
            listing.add_column(col)
        for i in CATALOGUE:
            listing.add_row(i.id, i.en, i.fr, i.statistic)
        out.print(listing)
        return
    check_format(fmt, out_file, allowed=("table", "csv", "parquet", "json"))
    chosen = ids.split(",") if ids else None
    from esmonitor.indicators import published

    with Warehouse(warehouse, read_only=True) as w:
        held = published.holds(w)
    if source not in (None, "record", "aggregate", "both"):
        from esmonitor.errors import UserInputError

        raise UserInputError(f"unknown source {source!r}", hint="record, aggregate or both")
    use = source or ("both" if held["record"] and held["aggregate"] else "aggregate" if held["aggregate"]
                     else "record")
    aggregate_ids = tuple(i for i in (chosen or published.INDICATORS) if i in published.DEFINITIONS)
    if use == "both" and chosen and not aggregate_ids:
        use = "record"  # only record-level indicators asked for
    if use in ("aggregate", "both"):
        with Warehouse(warehouse, read_only=True) as w:
            from_tables = published.compute(w, aggregate_ids or None)
        if use == "aggregate" or not held["record"]:
            emit_frame(from_tables, fmt, out_file, title="Indicators from published tables (by fiscal year)")
            if out_file:
                console.print(f"Wrote {from_tables.height:,} rows to {out_file}")
            return
    chosen = [i for i in chosen if i not in published.DEFINITIONS] if chosen else None
    needed = sorted({BY_ID[i].frame for i in chosen if i in BY_ID}) if chosen else None
    policy = policy_for(audience, min_count, publish_zeros)
    with Warehouse(warehouse, read_only=True) as w:
        scope = policy.scope(w)
        frames = frames_from(w, parse_date(as_of), needed=needed)
    if scope.column is not None:
        frames = frames.only(scope.column, sorted(scope.values))
    breakdowns = by.split(",") if by else []
    window = {"start": parse_date(start), "end": parse_date(end)}
    from esmonitor.disclosure.gate import Gate

    gate = Gate(warehouse, policy, "indicators", {"id": ids, "by": by, "grain": grain, "from": start, "to": end})
    # public: with its margins, protected jointly with every earlier public release of these data
    table = gate.indicators(frames, chosen, breakdowns, grain, as_of=parse_date(as_of), **window)
    if use == "both":
        import polars as pl

        # `basis` says where a row comes from; a breakdown may itself be called `source` (of a referral)
        table = pl.concat([table.with_columns(pl.lit("records").alias("basis")),
                           from_tables.with_columns(pl.lit("published tables").alias("basis"))], how="diagonal_relaxed")
    emit_frame(table, fmt, out_file, title=f"Indicators by {grain} (as of {frames.as_of})")
    if out_file:
        console.print(f"Wrote {table.height:,} rows to {out_file}")
