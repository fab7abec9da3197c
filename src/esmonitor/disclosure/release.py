"""Protecting and auditing tables as users hold them: frames in, frames out.

* :func:`disclose_frame` — interior cells in; every cell with its margins and a status out
  (``esmonitor disclose``).
* :func:`audit_frame` — a table as published (margins included, suppressed values empty) in;
  each suppressed cell's feasible interval out (``esmonitor disclosure-audit``).
* :func:`protect_indicators` — the indicator table, with its margins, for a public audience
  (``esmonitor indicators --audience public``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from esmonitor.disclosure.attacker import feasible_intervals
from esmonitor.disclosure.suppression import (
    PRIMARY,
    PUBLISHED,
    SECONDARY,
    Protection,
    dominance_cells,
    primary_cells,
    protect,
)
from esmonitor.disclosure.table import TOTAL, Table, build_table, largest_contributions
from esmonitor.errors import UserInputError
from esmonitor.model.aggregates import parse_cell

DEFAULT_MIN_COUNT = 10
#: A cell its source already hid (``<5``, ``x``, ``SP``): it stays hidden, and so does every
#: margin that contains it (its value is not known).
SOURCE = "hidden_by_source"


def read_counts(data: pl.DataFrame, value: str) -> pl.DataFrame:
    """The ``value`` column as numbers, as published tables write them: ``"1,200"`` is 1200;
    ``<5``, ``x``, ``SP``, ``..`` are hidden cells (``_value`` empty, ``_low``/``_high`` their bounds,
    ``_code`` the code). Anything else is refused, naming the row and the value."""
    if value not in data.columns:
        raise UserInputError(f"no column {value!r}", hint=f"columns are: {', '.join(data.columns)}")
    column = data.get_column(value)
    if column.dtype.is_numeric():
        return data.with_columns(pl.col(value).cast(pl.Float64).alias("_value"), pl.col(value).cast(pl.Float64)
                                 .alias("_low"), pl.col(value).cast(pl.Float64).alias("_high"),
                                 pl.lit(None, dtype=pl.String).alias("_code"))
    text = column.cast(pl.String)
    parsed = {v: parse_cell(v) for v in text.unique().to_list()}
    bad = [v for v, c in parsed.items() if c is None]
    if bad:
        row = text.to_list().index(bad[0]) + 2
        raise UserInputError(f"row {row}, column {value!r}: {bad[0]!r} is neither a number nor a suppression code",
                             hint="counts are numbers (1,200 is read as 1200) or a code: <5, x, SP, .., F")
    def pick(attr: str) -> list[Any]:
        out = []
        for v in text.to_list():
            c = parsed[v]
            assert c is not None
            got = getattr(c, attr)
            out.append(float(got) if isinstance(got, int | float) and not isinstance(got, bool) else got)
        return out
    codes = [parsed[v].symbol or None if parsed[v].value is None else None for v in text.to_list()]  # type: ignore[union-attr]
    return data.with_columns(pl.Series("_value", pick("value"), dtype=pl.Float64),
                             pl.Series("_low", pick("low"), dtype=pl.Float64),
                             pl.Series("_high", pick("high"), dtype=pl.Float64),
                             pl.Series("_code", codes, dtype=pl.String))


@dataclass(frozen=True)
class Disclosed:
    cells: pl.DataFrame   # dimension columns, value, status
    protection: Protection

    @property
    def information_loss(self) -> dict[str, float]:
        return self.protection.information_loss()


def _check_min_count(min_count: float) -> None:
    if not min_count > 0:
        raise UserInputError(f"--min-count must be positive (got {min_count})")


def disclose_frame(frame: Any, dims: Sequence[str], value: str, hierarchies: Sequence[str] = (),
                   min_count: float = DEFAULT_MIN_COUNT, publish_zeros: bool = False, cost: str = "value",
                   method: str = "hypercube", top1: str | None = None, top2: str | None = None,
                   contributors: str | None = None, dominance: tuple[int, float] = (2, 0.85),
                   protection: float = 0.10) -> Disclosed:
    """Add every margin to a table of interior cells and protect it.

    A table of **counts** (the default): status ``primary`` for counts ``0 < n < min_count`` (and
    zeros unless published), ``secondary`` for the cells hidden so that no primary cell can be
    narrowed below ``min_count``, else ``published``.

    A table of **sums** (earnings): give ``top1`` (and ``top2``), each interior cell's largest
    (second-largest) single contribution. A cell is primary when its ``dominance`` = (n, k) rule
    holds (the n largest contributions exceed k of the total; a margin's largest contributions
    are found among its interior cells'), or when ``contributors`` (a column counting them) is
    below ``min_count``; every primary cell's interval must then be at least ``2 × protection``
    of its value wide (no one can estimate it within ``protection`` either way)."""
    _check_min_count(min_count)
    data = frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame)
    if value not in data.columns or any(d not in data.columns for d in dims):
        build_table(data, list(dims), value, hierarchies=list(hierarchies))  # says which column is missing
    counts = read_counts(data, value)
    coded = counts.get_column("_value").is_null() & counts.get_column("_code").is_not_null()
    frame = counts.with_columns(pl.col("_value").fill_null(0.0).alias(value), coded.cast(pl.Float64).alias("_coded")) \
        .drop("_value", "_low", "_high", "_code")
    table = build_table(frame, list(dims), value, hierarchies=list(hierarchies))
    by_source = (build_table(frame, list(dims), "_coded", hierarchies=list(hierarchies)).values > 0) if coded.any() \
        else np.zeros(len(table.values), dtype=bool)
    values = table.values
    if top1 is None:
        if contributors is not None or top2 is not None:
            raise UserInputError("--contributors and --top2 describe a table of sums: give --top1 too")
        primary = primary_cells(values, min_count, publish_zeros)
        need: float | np.ndarray = min_count
    else:
        n, k = dominance
        if n == 2 and top2 is None:
            raise UserInputError("the (2, k) dominance rule needs each cell's second-largest contribution (--top2)",
                                 hint="or use --dominance 1,K")
        if not 0 < protection < 1:
            raise UserInputError(f"--protection must be a share between 0 and 1 (got {protection})")
        tops = largest_contributions(table, frame, top1, top2)
        primary = dominance_cells(values, tops[:, 0], tops[:, 1], n=n, k=k)
        if contributors is not None:
            people = build_table(frame, list(dims), contributors, hierarchies=list(hierarchies)).values
            primary |= primary_cells(people, min_count, publish_zeros)
        typical = float(np.median(values[values > 0])) if (values > 0).any() else 1.0
        need = 2 * protection * np.where(values > 0, values, typical)
    primary = primary & ~by_source
    result = protect(table, primary, need, cost=cost, method=method, hidden=by_source if by_source.any() else None)
    status = np.where(by_source, SOURCE, np.asarray(result.table_status().tolist(), dtype=object))
    cells = table.cells.with_columns(pl.Series("status", status.tolist(), dtype=pl.String))
    if by_source.any():  # its value is not known: never shown as 0
        cells = cells.with_columns(pl.when(pl.col("status") == SOURCE).then(None).otherwise(pl.col("value"))
                                   .alias("value"))
    return Disclosed(cells.drop("cell"), result)


def audit_frame(frame: Any, dims: Sequence[str], value: str, hierarchies: Sequence[str] = (),
                status: str | None = None, min_count: float = DEFAULT_MIN_COUNT) -> pl.DataFrame:
    """What an attacker learns from a published table: for each suppressed cell (empty value, or
    a ``status`` other than ``published``, or absent), the interval of values consistent with
    every published cell. ``exposed`` marks a cell narrowed below ``min_count`` — among the
    primary cells when the statuses say which they are, else among all suppressed cells."""
    _check_min_count(min_count)
    data = frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame)
    table = build_table(_interior_skeleton(data, dims, value, hierarchies), list(dims), value, list(hierarchies))
    columns = table.columns
    data = read_counts(data.with_columns(pl.col(c).cast(pl.String) for c in columns), value)
    known = data.with_columns(pl.col("_value").alias("_published"))
    if status is not None:
        if status not in data.columns:
            raise UserInputError(f"no status column {status!r}", hint=f"columns are: {', '.join(data.columns)}")
        known = known.with_columns(pl.when(pl.col(status) == PUBLISHED).then(pl.col("_published")).alias("_published"))
    extra = ([pl.col(status).alias("_status")] if status is not None else [])
    merged = table.cells.join(known.select(*columns, "_published", "_low", "_high", *extra), on=columns,
                              how="left").sort("cell")
    if merged.height != table.cells.height:
        raise UserInputError("the published table has two rows for the same cell")
    published = merged["_published"].to_numpy()
    suppressed = np.isnan(np.asarray(published, dtype=float))
    values = np.nan_to_num(np.asarray(published, dtype=float))
    # a code bounds its cell: <5 is 1 to 4; x only by the table
    low = merged["_low"].fill_null(0.0).to_numpy().astype(float)
    high = merged["_high"].fill_null(np.inf).to_numpy().astype(float)
    intervals = feasible_intervals(table.equations, values, suppressed, upper=np.where(suppressed, high, np.inf),
                                   lower=np.where(suppressed, low, 0.0))
    rows = []
    for cell in np.flatnonzero(suppressed):
        iv = intervals[int(cell)]
        record = {c: merged[c][int(cell)] for c in columns}
        known_status = merged["_status"][int(cell)] if status is not None else None
        at_risk = known_status in (None, PRIMARY) if status is not None else True
        rows.append({**record, "status": known_status or "suppressed", "low": iv.low,
                     "high": None if np.isinf(iv.high) else iv.high, "width": iv.width,
                     "exposed": bool(at_risk and iv.width < min_count - 1e-7)})
    schema = {**{c: pl.String for c in columns}, "status": pl.String, "low": pl.Float64, "high": pl.Float64,
              "width": pl.Float64, "exposed": pl.Boolean}
    return pl.DataFrame(rows, schema=schema)


def _interior_skeleton(data: pl.DataFrame, dims: Sequence[str], value: str,
                       hierarchies: Sequence[str]) -> pl.DataFrame:
    """The interior rows of a published table (no Total anywhere), with their values zeroed: the
    structure the equations come from, whatever was suppressed."""
    from esmonitor.disclosure.table import dimensions

    columns = [c for d in dimensions(list(dims), list(hierarchies)) for c in d.columns]
    missing = [c for c in [*columns, value] if c not in data.columns]
    if missing:
        raise UserInputError(f"missing column(s) {', '.join(map(repr, missing))}",
                             hint=f"columns are: {', '.join(data.columns)}")
    interior = data.with_columns(pl.col(c).cast(pl.String) for c in columns).filter(
        pl.all_horizontal([pl.col(c) != TOTAL for c in columns]))
    if interior.height == 0:
        raise UserInputError("the published table has no interior rows (every row has a Total)")
    return interior.select(*columns).unique().with_columns(pl.lit(0.0).alias(value))


# -- indicators ------------------------------------------------------------------------------------
COUNT_COLUMNS = {  # per statistic: the count columns whose cells are protected
    "count": ("value",), "distinct": ("value",), "repeat": ("value",), "caseload": ("value",),
    "proportion": ("numerator", "denominator"), "mean": ("denominator",), "median": ("denominator",),
    "gap": ("numerator", "denominator", "reference_numerator", "reference_denominator"),
}
VALUE_COLUMNS = ("numerator", "denominator", "value", "ci_low", "ci_high", "reference_numerator",
                 "reference_denominator")


HIERARCHY = ("ssm_id", "catchment_id", "provider_id", "site_id")  # each nested in the one before


def indicator_margins(compute: Callable[[list[str], str], pl.DataFrame], by: Sequence[str],
                      grain: str) -> pl.DataFrame:
    """Every margin of an indicator table, computed by the engine itself at the coarser levels
    (``compute(breakdowns, grain)``; all periods is grain ``all``), with ``Total`` in each
    collapsed column: medians and distinct counts are right at every level, not summed."""
    frames = []
    for period_kept in (True, False):
        for size in range(len(by) + 1):
            for kept in itertools.combinations(by, size):
                if period_kept and size == len(by):
                    continue  # the interior itself
                part = compute(list(kept), grain if period_kept else "all")
                part = part.with_columns(pl.col(c).cast(pl.String) for c in kept)
                part = part.with_columns(*[pl.lit(TOTAL).alias(c) for c in by if c not in kept])
                if not period_kept:
                    part = part.with_columns(pl.lit(TOTAL).alias("period"), pl.lit(grain).alias("grain"))
                frames.append(part)
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def public_indicators(frames: Any, ids: Sequence[str] | None = None, by: Sequence[str] = (),
                      grain: str = "quarter", min_count: float = DEFAULT_MIN_COUNT, publish_zeros: bool = False,
                      **window: Any) -> pl.DataFrame:
    """The catalogue's indicators for a public audience: computed (with every margin) by the
    indicator engine on ``frames``, then protected by :func:`protect_indicators`."""
    from esmonitor.indicators.catalogue import CATALOGUE
    from esmonitor.indicators.engine import compute_many

    def compute(breakdowns: list[str], period_grain: str) -> pl.DataFrame:
        return compute_many(frames, ids, by=breakdowns, grain=period_grain, **window)

    table = compute(list(by), grain)
    margins = indicator_margins(compute, list(by), grain)
    return protect_indicators(table, list(by), {i.id: i.statistic for i in CATALOGUE}, margins=margins,
                              min_count=min_count, publish_zeros=publish_zeros)


def protect_indicators(table: pl.DataFrame, by: Sequence[str], statistics: dict[str, str],
                       margins: pl.DataFrame | None = None, min_count: float = DEFAULT_MIN_COUNT,
                       publish_zeros: bool = False) -> pl.DataFrame:
    """The indicator table for a public audience, with its margins.

    For each indicator, each of its count columns (a count's value; a rate's numerator and
    denominator; a mean's or median's number of people) is a table over period × breakdowns
    with every margin (nested breakdowns such as catchment and provider as a hierarchy),
    protected as counts. The columns of one indicator share one pattern (a rate is published only
    if its numerator and denominator both are). ``margins`` (from :func:`indicator_margins`) are
    released with the table, under the same statuses; a row not published keeps its keys and a
    ``status``, with every number emptied."""
    _check_min_count(min_count)
    keys = ["period", *by]
    nested = [c for c in HIERARCHY if c in by]
    hierarchies = [":".join(nested)] if len(nested) > 1 else []
    dims = [c for c in keys if c not in nested[:-1]]
    pieces = [table.with_columns(pl.col(k).cast(pl.String).fill_null("(missing)") for k in keys)]
    if margins is not None and margins.height:
        pieces.append(margins.with_columns(pl.col(k).cast(pl.String).fill_null("(missing)") for k in keys))
    everything = pl.concat(pieces, how="diagonal_relaxed")
    out = []
    for indicator, part in everything.group_by("indicator", maintain_order=True):
        name = str(indicator[0])
        interior = part.filter(pl.all_horizontal([pl.col(k) != TOTAL for k in keys]))
        columns = [c for c in COUNT_COLUMNS[statistics[name]] if c in part.columns]
        tables = [build_table(interior.select(*keys, pl.col(c).fill_null(0.0).alias("n")), dims, "n",
                              hierarchies=hierarchies) for c in columns]
        status = _joint_status(tables, min_count, publish_zeros, keys)
        # every cell of the grid gets a row: a missing row would tell that the count is zero
        fixed = {c: part[c][0] for c in ("indicator", "grain", "ci_method") if c in part.columns}
        part = status.join(part, on=keys, how="left").with_columns(
            *[pl.lit(v).alias(c) for c, v in fixed.items()],
            *[pl.col(c).fill_null(0.0) for c in ("numerator", "denominator") if c in COUNT_COLUMNS[
                statistics[name]]])
        if statistics[name] in ("count", "distinct", "repeat", "caseload"):
            part = part.with_columns(pl.col("value").fill_null(0.0))
        hidden = pl.col("status") != PUBLISHED
        out.append(part.with_columns(pl.when(hidden).then(None).otherwise(pl.col(c)).alias(c)
                                     for c in VALUE_COLUMNS if c in part.columns).select(*table.columns, "status"))
    if not out:
        return table.with_columns(pl.lit(PUBLISHED).alias("status"))
    return pl.concat(out, how="diagonal_relaxed")


def _joint_status(tables: list[Table], min_count: float, publish_zeros: bool, keys: list[str]) -> pl.DataFrame:
    """Protect several count tables over the same cells so that one pattern serves all: a cell
    hidden in any is hidden in every one (repeated until no table needs more)."""
    primaries = [primary_cells(t.values, min_count, publish_zeros) for t in tables]
    primary = np.logical_or.reduce(primaries)
    hidden = primary.copy()
    for _ in range(20):
        before = hidden.copy()
        for t, own in zip(tables, primaries, strict=True):
            hidden |= protect(t, own, min_count, hidden=hidden).suppressed
        if (hidden == before).all():
            break
    status = np.where(primary, PRIMARY, np.where(hidden, SECONDARY, PUBLISHED))
    return tables[0].cells.select(keys).with_columns(pl.Series("status", status.tolist(), dtype=pl.String))


def protect_totals(table: pl.DataFrame, groups: Sequence[str], count: str, min_count: float) -> pl.DataFrame:
    """Totals (of money, say) for the public: the number of contributions behind each total
    (``count``) is protected as a table of counts with its margins (a total over fewer than K is
    primary; others are hidden so that none can be worked out from the margins), and every
    figure of a hidden row is withheld."""
    groups = list(groups)
    keys = table.select(*[pl.col(g).cast(pl.String).fill_null("(missing)") for g in groups])
    counts = keys.with_columns(table[count].fill_null(0).alias(count))
    cells = disclose_frame(counts, groups, count, min_count=min_count, publish_zeros=True).cells
    status = cells.select(*groups, "status")
    shown = table.with_columns(*[pl.col(g).cast(pl.String).fill_null("(missing)") for g in groups]).join(
        status, on=groups, how="left")
    hidden = pl.col("status") != PUBLISHED
    figures = [c for c in table.columns if c not in groups]
    return shown.with_columns(pl.when(hidden).then(None).otherwise(pl.col(c)).alias(c) for c in figures)
