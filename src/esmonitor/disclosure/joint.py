"""Protecting a new release together with everything already published from the same data.

One *measure* (the referrals, one indicator's numerator, the checkpoints a funding model pays,
the answers to one survey question, ...) may be released many times: by provider and quarter, by
catchment and fiscal year, by stream. Each release is safe on its own, yet an attacker combines
them: a catchment's quarter is the sum of its providers' quarters, a fiscal year the sum of its
four quarters. What links the releases is that all of them are sums of the same records.

So every released cell is placed in one **super table** of the measure: the table over the
common refinement of every release (in each family of nested columns — period
``fiscal_year:quarter:month``, place ``ssm_id:catchment_id:provider_id:site_id``, or a single
column such as ``stream`` — the finest level any release used, with every coarser level used as
a level of the hierarchy). A released cell is the super table's cell whose key (the most specific
code in each family) is the same. The super table's equations are then every additive relation
between all released cells, and:

* the **new release** is protected by :func:`esmonitor.disclosure.suppression.protect` on the
  super table, with the cells earlier releases published *locked* (they cannot be taken back),
  the cells they hid kept hidden, the cells nobody released hidden (an attacker does not know
  them; they cost nothing to hide), and as primary cells the new release's small cells **and
  every earlier release's primary cells** (a new release must not narrow an old secret);
* the **audit** (:func:`attack`) runs the attacker over the super table with only the published
  cells known: every primary cell of every release gets its interval.

Counts of distinct people (one client in two quarters is one client in their fiscal year) are
not exactly additive: the super table sums the finest cells, the model an attacker would use if
the counts were additive. For a hidden cell this model is the stricter one (a sum pins a cell that
an inequality only bounds), so protection against it is protection against the true relations.

Vorob'ev's theorem (1962) says when the linked margins hold everything an attacker can use: when
the releases' families form an acyclic hypergraph (e.g. {period, place}, {period, place,
stream}, {period, source}), every set of consistent margins is the margin of some non-negative
table, so the super table's equations and non-negativity are the complete description. A set of
releases whose families form a cycle ({place, stream}, {place, social assistance}, {stream,
social assistance}) would add constraints the margins do not show; :func:`check_acyclic` refuses
such a release.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from esmonitor.disclosure.attacker import feasible_intervals
from esmonitor.disclosure.suppression import PRIMARY, PUBLISHED, SECONDARY, primary_cells, protect
from esmonitor.disclosure.table import TOTAL, CellKey, System, Table, build_table, link
from esmonitor.errors import EsmonitorError, UserInputError

PERIOD_CHAIN = ("fiscal_year", "quarter", "month")
PLACE_CHAIN = ("ssm_id", "catchment_id", "provider_id", "site_id")
TOL = 1e-7


class ReleaseRefused(UserInputError):
    """A public release that cannot be protected together with what is already published."""

    exit_code = 3


@dataclass(frozen=True)
class Measure:
    """What is counted, and how to count it by any set of columns (the finest combination of
    ``columns``: one row per combination with its count in ``value``, codes as text)."""

    id: str
    counts: Callable[[list[str]], pl.DataFrame]
    chains: tuple[tuple[str, ...], ...] = (PERIOD_CHAIN, PLACE_CHAIN)


@dataclass(frozen=True)
class Released:
    """Cells of one measure released by one release: keys, values and statuses."""

    keys: list[CellKey]
    values: np.ndarray
    status: np.ndarray  # published, primary, secondary


def key_text(key: CellKey) -> str:
    """A cell key as stored in the ledger: sorted [column, code] pairs in JSON."""
    return json.dumps(sorted([list(p) for p in key]), ensure_ascii=False)


def key_from_text(text: str) -> CellKey:
    return frozenset((str(c), str(v)) for c, v in json.loads(text))


def canonical_key(codes: dict[str, str], chains: Sequence[Sequence[str]]) -> CellKey:
    """The cell's identity across releases: in each family the most specific code that is not
    Total (a column outside every chain is a family of its own)."""
    out: list[tuple[str, str]] = []
    chained: set[str] = set()
    for chain in chains:
        chained.update(chain)
        for column in reversed(chain):
            value = codes.get(column)
            if value is not None and value != TOTAL:
                out.append((column, value))
                break
    out += [(c, v) for c, v in codes.items() if c not in chained and v != TOTAL]
    return frozenset(out)


def families(keys: Iterable[CellKey], chains: Sequence[Sequence[str]]) -> list[tuple[str, ...]]:
    """The super table's dimensions: per chain, the columns any key uses (coarsest first); then
    every other column, alone."""
    used = {c for key in keys for c, _ in key}
    out = [tuple(c for c in chain if c in used) for chain in chains]
    chained = {c for chain in chains for c in chain}
    return [f for f in out if f] + [(c,) for c in sorted(used - chained)]


def family_of(column: str, chains: Sequence[Sequence[str]]) -> str:
    for chain in chains:
        if column in chain:
            return chain[0]
    return column


def check_acyclic(release_families: Sequence[frozenset[str]], measure: str) -> None:
    """Refuse a set of releases whose families form a cycle (see :func:`is_acyclic`)."""
    edges = _gyo(release_families)
    if len(edges) > 1:
        raise ReleaseRefused(
            f"{measure}: the releases of these data would break it down by "
            f"{'; '.join(' × '.join(sorted(e)) for e in edges)}, which form a cycle: together they say more "
            "than their shared totals, and they cannot be protected jointly here",
            hint="publish these breakdowns as one table (e.g. --by with all their columns), or from new data")


@dataclass
class Joint:
    """The cells an attacker relates across a measure's releases: one table per clique (see
    :func:`cliques`), linked where they share cells."""

    system: System
    index: dict[CellKey, int]

    @property
    def keys(self) -> list[CellKey]:
        out: list[CellKey] = [frozenset()] * len(self.system.values)
        for key, i in self.index.items():
            out[i] = key
        return out

    @property
    def values(self) -> np.ndarray:
        return self.system.values

    @property
    def equations(self) -> Any:
        return self.system.equations

    def __len__(self) -> int:
        return len(self.system.values)


def release_edge(keys: Iterable[CellKey], levels: Sequence[tuple[str, ...]]) -> frozenset[str]:
    """The columns one release fixes: in each family, every level used by the measure's releases
    (``levels``, coarsest first) down to the finest level this release uses (a count by provider
    is also a count by catchment, whatever the release shows)."""
    used = {c for key in keys for c, _ in key}
    out: set[str] = set()
    for family in levels:
        deepest = max((i for i, c in enumerate(family) if c in used), default=-1)
        out.update(family[: deepest + 1])
    return frozenset(out)


def is_acyclic(edges: Iterable[frozenset[str]]) -> bool:
    """Whether a hypergraph is acyclic (GYO reduction: repeatedly drop a vertex found in one edge
    only, and an edge contained in another; acyclic when at most one edge is left)."""
    return len(_gyo(edges)) <= 1


def _gyo(edges: Iterable[frozenset[str]]) -> list[set[str]]:
    """What is left of ``edges`` after the GYO reduction."""
    work = [set(e) for e in {frozenset(e) for e in edges if e}]
    changed = True
    while changed and len(work) > 1:
        changed = False
        counts: dict[str, int] = {}
        for e in work:
            for v in e:
                counts[v] = counts.get(v, 0) + 1
        for e in work:
            lone = {v for v in e if counts[v] == 1}
            if lone:
                e -= lone
                changed = True
        kept: list[set[str]] = []
        for i, e in enumerate(work):
            inside = any(e <= f and (e != f or j < i) for j, f in enumerate(work) if j != i)
            if e and not inside:
                kept.append(e)
            else:
                changed = True
        work = kept
    return work


def cliques(edges: Sequence[frozenset[str]], chains: Sequence[Sequence[str]]) -> list[frozenset[str]]:
    """The tables an attacker needs, as sets of columns: the maximal release edges when they form
    an acyclic hypergraph (Vorob'ev: margins consistent on what two tables share are then the
    margins of one non-negative table, so the linked tables say all the full table would);
    otherwise the releases of each set of families merged; otherwise one table of everything."""
    def maximal(sets: Iterable[frozenset[str]]) -> list[frozenset[str]]:
        unique = sorted(set(sets), key=lambda e: (-len(e), sorted(e)))
        out: list[frozenset[str]] = []
        for e in unique:
            if not any(e <= f for f in out):
                out.append(e)
        return out or [frozenset()]

    found = maximal(edges)
    if is_acyclic(found):
        return found
    by_families: dict[frozenset[str], frozenset[str]] = {}
    for e in edges:
        fams = frozenset(family_of(c, chains) for c in e)
        by_families[fams] = by_families.get(fams, frozenset()) | e
    found = maximal(by_families.values())
    if is_acyclic(found):
        return found
    return [frozenset().union(*edges)]


def super_table(measure: Measure, releases: Sequence[Sequence[CellKey]]) -> Joint:
    """Everything an attacker relates across the cells of ``releases`` (each a list of keys): one
    table of the measure per clique of :func:`cliques`, each over its columns with every margin,
    linked where they share cells. Values come from the measure's finest cells of each table;
    counts of distinct people are not additive, so two tables may disagree on what they share:
    each table after the first (in the order of a junction tree) is then scaled, within each cell
    of what it shares with its parent, to the parent's value there (additive measures are left
    as they are)."""
    keys = [k for r in releases for k in r]
    levels = families(keys, measure.chains)
    edges = [release_edge(r, levels) for r in releases if r]
    parts = cliques(edges, measure.chains) if edges else [frozenset()]
    order = _junction_order(parts)
    frames: dict[frozenset[str], pl.DataFrame] = {}
    tables: list[Table] = []
    for clique, parent in order:
        columns = [c for family in levels for c in family if c in clique]
        dims = [tuple(c for c in family if c in clique) for family in levels]
        dims = [d for d in dims if d]
        if not columns:
            interior = measure.counts([]).with_columns(pl.lit("all").alias("_all"))
            tables.append(build_table(interior, ["_all"], "value"))
            frames[clique] = interior.select("value")
            continue
        interior = measure.counts(columns).with_columns(
            pl.col(c).cast(pl.String).fill_null("(missing)") for c in columns).select(*columns, "value")
        if parent is not None:
            interior = _scaled(interior, frames[parent], [c for c in columns if c in parent])
        frames[clique] = interior
        tables.append(build_table(interior, [d[-1] for d in dims], "value",
                                  hierarchies=[":".join(d) for d in dims if len(d) > 1]))
    system = link(tables)
    index: dict[CellKey, int] = {}
    for t, ids in zip(tables, system.cell_of, strict=True):
        index.update(zip(t.keys, ids.tolist(), strict=True))
    missing = [k for k in keys if k not in index]
    if missing:
        raise EsmonitorError(f"{measure.id}: released cell {dict(missing[0])} is not a cell of the measure's "
                             "table (the data changed under the same data version?)")
    return Joint(system, index)


def _junction_order(parts: list[frozenset[str]]) -> list[tuple[frozenset[str], frozenset[str] | None]]:
    """The cliques in the order of a maximum spanning tree of their intersections (a junction
    tree when the cliques are acyclic), each with its parent."""
    order: list[tuple[frozenset[str], frozenset[str] | None]] = [(parts[0], None)]
    done = [parts[0]]
    rest = list(parts[1:])
    while rest:
        best = max(((len(c & d), -i, j) for i, c in enumerate(rest) for j, d in enumerate(done)))
        clique = rest.pop(-best[1])
        order.append((clique, done[best[2]]))
        done.append(clique)
    return order


def _scaled(interior: pl.DataFrame, parent: pl.DataFrame, shared: list[str]) -> pl.DataFrame:
    """``interior`` scaled within each combination of ``shared`` to ``parent``'s total there."""
    if not shared:
        mine, theirs = float(interior["value"].sum()), float(parent["value"].sum())
        return interior if mine in (0.0, theirs) else interior.with_columns(pl.col("value") * (theirs / mine))
    target = parent.group_by(shared).agg(pl.col("value").sum().alias("_target"))
    out = interior.join(interior.group_by(shared).agg(pl.col("value").sum().alias("_own")), on=shared, how="left") \
        .join(target, on=shared, how="left")
    ratio = pl.when((pl.col("_own") > 0) & pl.col("_target").is_not_null()) \
        .then(pl.col("_target") / pl.col("_own")).otherwise(1.0)
    return out.with_columns(pl.when(ratio == 1.0).then(pl.col("value")).otherwise(pl.col("value") * ratio)
                            .alias("value")).drop("_own", "_target")


def protect_jointly(measure: Measure, earlier: Sequence[Released], new_keys: list[CellKey],
                    new_values: np.ndarray, min_count: float, publish_zeros: bool,
                    forced: np.ndarray | None = None,
                    prebuilt: Joint | None = None) -> np.ndarray:
    """The status of each new cell (published, primary, secondary) such that no primary cell of
    the new release or of any earlier one can be narrowed below ``min_count`` by everything
    published together (an earlier primary cell counts while its value is still primary at
    ``min_count``: one held back by a release made with a higher K is only withheld). ``forced``
    marks new cells that must be hidden anyway (their row is hidden for another measure of the same
    indicator); ``prebuilt`` is the super table of these keys."""
    table = prebuilt or super_table(measure, [r.keys for r in earlier] + [new_keys])
    index = table.index
    n = len(table)
    old_published = np.zeros(n, dtype=bool)
    old_hidden = np.zeros(n, dtype=bool)
    old_primary = np.zeros(n, dtype=bool)
    released = np.zeros(n, dtype=bool)
    for r in earlier:
        ids = np.fromiter((index[k] for k in r.keys), dtype=np.int64, count=len(r.keys))
        released[ids] = True
        old_published[ids[r.status == PUBLISHED]] = True
        # a cell an earlier release withheld as small stays protected while it is small by today's
        # rule; one withheld only because that release asked for a higher K is free again. The
        # cells hidden to protect others stay hidden (a release repeated gives the same table).
        small = primary_cells(r.values, min_count, publish_zeros)
        old_primary[ids[(r.status == PRIMARY) & small]] = True
        old_hidden[ids[(r.status == SECONDARY) | ((r.status == PRIMARY) & small)]] = True
    new_ids = np.fromiter((index[k] for k in new_keys), dtype=np.int64, count=len(new_keys))
    values = np.zeros(n)
    values[new_ids] = new_values
    new = np.zeros(n, dtype=bool)
    new[new_ids] = True
    new_primary = new & primary_cells(values, min_count, publish_zeros) & ~old_published
    primary = old_primary | new_primary
    hidden = ~(new | released) | old_hidden
    if forced is not None:
        hidden[new_ids[np.asarray(forced, dtype=bool)]] = True
    hidden &= ~primary
    try:
        result = protect(table.system, primary, min_count, hidden=hidden, locked=old_published & ~primary)
    except EsmonitorError as err:
        raise ReleaseRefused(f"{measure.id}: this release cannot be protected together with the releases "
                             f"already made from these data ({err})",
                             hint="ask for a coarser breakdown or grain, or for the breakdowns already "
                                  "released (esmonitor releases lists them)") from None
    suppressed = result.suppressed
    status = np.where(primary, PRIMARY, np.where(suppressed, SECONDARY, PUBLISHED))
    clash = new & old_published & (status != PUBLISHED)
    if clash.any():  # cannot happen: locked cells stay published
        raise EsmonitorError(f"{measure.id}: a published cell would be hidden again")
    return np.asarray(status[new_ids])


@dataclass(frozen=True)
class Exposure:
    key: CellKey
    value: float
    low: float
    high: float

    @property
    def width(self) -> float:
        return self.high - self.low


def attack(measure: Measure, releases: Sequence[Released]) -> list[Exposure]:
    """Every primary cell of ``releases`` with its interval, from everything they published."""
    table = super_table(measure, [r.keys for r in releases])
    index = table.index
    n = len(table)
    published = np.zeros(n, dtype=bool)
    primary = np.zeros(n, dtype=bool)
    for r in releases:
        ids = np.fromiter((index[k] for k in r.keys), dtype=np.int64, count=len(r.keys))
        published[ids[r.status == PUBLISHED]] = True
        primary[ids[r.status == PRIMARY]] = True
    values = table.values
    return _exposures(table, values, values, published, primary)


def _exposures(table: Joint, values: np.ndarray, truth: np.ndarray, published: np.ndarray,
               primary: np.ndarray) -> list[Exposure]:
    """Each primary cell's interval given the published cells; a primary cell that another
    release published is known exactly (an interval of width 0)."""
    cells = np.flatnonzero(primary & ~published)
    intervals = feasible_intervals(table.equations, values, ~published, cells=cells)
    keys = table.keys
    found = [Exposure(keys[c], float(truth[c]), intervals[int(c)].low, intervals[int(c)].high)
             for c in cells.tolist()]
    return found + [Exposure(keys[c], float(truth[c]), float(truth[c]), float(truth[c]))
                    for c in np.flatnonzero(primary & published).tolist()]


def exposed(found: Sequence[Exposure], min_count: float) -> list[Exposure]:
    return [e for e in found if e.width < min_count - TOL]


SURVEY_CHAIN = ("rollout", "phase", "catchment_id")


def chains_of(measure_id: str) -> tuple[tuple[str, ...], ...]:
    """The families of nested columns of a measure, from its id (the gate names its measures so):
    survey answers nest catchment in phase in rollout; funded-outcome and data-quality counts
    have none; every other measure has the period and place chains."""
    kind = measure_id.split(":", 1)[0]
    if kind == "survey":
        return (SURVEY_CHAIN,)
    if kind in ("outcomes", "quality"):
        return ()
    return (PERIOD_CHAIN, PLACE_CHAIN)


def skeleton(measure_id: str, keys: Iterable[CellKey], parents: dict[str, dict[str, str]]) -> Measure:
    """A measure with the structure of released cells and no data: its counts are zero over the
    grid of the finest codes released in each family, with the coarser codes of each chain taken
    from ``parents`` (child column -> code -> parent code) or, for periods, from the labels. An
    attacker's intervals depend only on this structure and the published values, so the audit
    needs nothing else."""
    chains = chains_of(measure_id)
    keys = list(keys)
    codes: dict[str, set[str]] = {}
    for key in keys:
        for column, code in key:
            codes.setdefault(column, set()).add(code)

    def counts(columns: list[str]) -> pl.DataFrame:
        dims = families(keys, chains)
        grid: pl.DataFrame | None = None
        for family in dims:
            finest = family[-1]
            part = pl.DataFrame({finest: sorted(codes.get(finest, set()))}, schema={finest: pl.String})
            for child, parent in zip(reversed(family[1:]), reversed(family[:-1]), strict=True):
                part = part.with_columns(_parent(pl.col(child), child, parent, parents).alias(parent))
            grid = part if grid is None else grid.join(part, how="cross")
        assert grid is not None
        return grid.select(*columns).unique().with_columns(pl.lit(0.0).alias("value"))

    return Measure(measure_id, counts, chains)


def _parent(child: pl.Expr, column: str, parent: str, parents: dict[str, dict[str, str]]) -> pl.Expr:
    if column == "month" and parent == "quarter":
        return child.map_elements(quarter_of_month, return_dtype=pl.String)
    if column == "month" and parent == "fiscal_year":
        return child.map_elements(lambda m: fiscal_year_of_quarter(quarter_of_month(m)), return_dtype=pl.String)
    if column == "quarter" and parent == "fiscal_year":
        return child.map_elements(fiscal_year_of_quarter, return_dtype=pl.String)
    mapping = parents.get(f"{column}>{parent}")
    if mapping is None:
        raise EsmonitorError(f"no reference data place {column} codes in {parent}")
    return child.replace_strict(mapping, default="(missing)", return_dtype=pl.String)


def attack_published(measure_id: str, releases: Sequence[Released],
                     parents: dict[str, dict[str, str]]) -> list[Exposure]:
    """:func:`attack` on the released cells alone: the structure from :func:`skeleton`, the
    values of the published cells from the releases (the ledger), nothing else."""
    measure = skeleton(measure_id, [k for r in releases for k in r.keys], parents)
    table = super_table(measure, [r.keys for r in releases])
    index = table.index
    values = np.zeros(len(table))
    truth = np.zeros(len(table))
    published = np.zeros(len(table), dtype=bool)
    primary = np.zeros(len(table), dtype=bool)
    for r in releases:
        ids = np.fromiter((index[k] for k in r.keys), dtype=np.int64, count=len(r.keys))
        truth[ids] = r.values
        shown = r.status == PUBLISHED
        values[ids[shown]] = r.values[shown]
        published[ids[shown]] = True
        primary[ids[r.status == PRIMARY]] = True
    return _exposures(table, values, truth, published, primary)


# -- period labels --------------------------------------------------------------------------------
def quarter_of_month(month: str) -> str:
    year, m = int(month[:4]), int(month[5:7])
    return f"{year}Q{(m - 1) // 3 + 1}"


def fiscal_year_of_quarter(quarter: str) -> str:
    year, q = int(quarter[:4]), int(quarter[5])
    start = year - 1 if q == 1 else year
    return f"FY{start}-{(start + 1) % 100:02d}"


def with_coarser_periods(frame: pl.DataFrame, finest: str, wanted: Sequence[str]) -> pl.DataFrame:
    """Add the coarser period columns of ``wanted`` derived from the ``finest`` one."""
    out = frame
    if finest == "month" and ("quarter" in wanted or "fiscal_year" in wanted):
        out = out.with_columns(pl.col("month").map_elements(quarter_of_month, return_dtype=pl.String)
                               .alias("quarter"))
    if finest in ("month", "quarter") and "fiscal_year" in wanted:
        out = out.with_columns(pl.col("quarter").map_elements(fiscal_year_of_quarter, return_dtype=pl.String)
                               .alias("fiscal_year"))
    return out
