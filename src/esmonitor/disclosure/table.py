"""Tables with margins: every cell and every additive relation between them.

A table is given by its interior cells (one row per combination of the finest codes, with a
value). Each *dimension* is one column, or a chain of columns forming a hierarchy
(``catchment:provider:site``, ``fiscal_year:quarter:month``): the finest column's codes are the
leaves, each coarser column's codes are inner nodes, and ``Total`` is the root. The table holds
every combination of nodes — the interior cells, the subtotals at every level and the grand total
— and one linear equation for each inner node and each combination of the other dimensions:
``cell(node, rest) = sum of cell(child, rest)``.

Cells of several tables are identified by their *key*: the most specific code of every
dimension that is not ``Total``. Two tables released together (sharing a margin, or cells)
therefore share variables, and protecting or attacking them jointly is just one larger system.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy import sparse

from esmonitor.errors import UserInputError

TOTAL = "Total"
CellKey = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Dimension:
    """One dimension: a chain of columns, coarsest first (a single column is a chain of one)."""

    columns: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.columns[-1]


def dimensions(dims: list[str] | tuple[str, ...], hierarchies: list[str] | tuple[str, ...] = ()) -> list[Dimension]:
    """Dimensions from a list of columns and ``PARENT:CHILD`` links (chains allowed: A:B, B:C, or
    A:B:C). A parent may be named in ``dims`` or not: it joins its child's dimension either way."""
    parent_of: dict[str, str] = {}
    child_of: dict[str, str] = {}
    for link_text in hierarchies:
        parts = [p.strip() for p in link_text.split(":")]
        if len(parts) < 2 or not all(parts):
            raise UserInputError(f"hierarchy {link_text!r} must look like PARENT:CHILD")
        for parent, child in itertools.pairwise(parts):
            if parent_of.get(child, parent) != parent:
                raise UserInputError(f"column {child!r} has two parents ({parent_of[child]!r} and {parent!r})")
            if child_of.get(parent, child) != child:
                raise UserInputError(f"column {parent!r} is the parent of two columns ({child_of[parent]!r} and "
                                     f"{child!r}): give each hierarchy as one chain")
            parent_of[child], child_of[parent] = parent, child
    out: list[Dimension] = []
    for column in dict.fromkeys([*dims, *parent_of]):
        if column in child_of:
            continue  # a parent: part of its child's chain
        chain = [column]
        while chain[0] in parent_of:
            chain.insert(0, parent_of[chain[0]])
        out.append(Dimension(tuple(chain)))
    if not out:
        raise UserInputError("at least one dimension is needed")
    return out


@dataclass
class Table:
    """All cells of a table with margins, and its equations as a sparse matrix (rows: equations,
    columns: cells; +1 for the total, -1 for each part)."""

    dims: list[Dimension]
    cells: pl.DataFrame  # one column per dimension column (codes or Total), "value", "key" (int index)
    equations: sparse.csr_matrix
    keys: list[CellKey] = field(default_factory=list)
    nodes: list[list[tuple[str, ...]]] = field(default_factory=list)  # per dimension, in grid order

    @property
    def shape(self) -> tuple[int, ...]:
        """Cells form a dense grid: cell i sits at ``np.unravel_index(i, shape)`` over ``nodes``."""
        return tuple(len(n) for n in self.nodes)

    @property
    def values(self) -> np.ndarray:
        return np.asarray(self.cells["value"].to_numpy(), dtype=float)

    @property
    def columns(self) -> list[str]:
        return [c for d in self.dims for c in d.columns]

    def __len__(self) -> int:
        return self.cells.height


def _nodes(frame: pl.DataFrame, dim: Dimension) -> list[tuple[str, ...]]:
    """Every node of a dimension as a full-width tuple (coarse to fine, Total-padded)."""
    width = len(dim.columns)
    leaves = frame.select(dim.columns).unique().rows()
    nodes: set[tuple[str, ...]] = {(TOTAL,) * width}
    for leaf in leaves:
        for depth in range(1, width + 1):
            nodes.add(tuple(leaf[:depth]) + (TOTAL,) * (width - depth))
    return sorted(nodes, key=lambda n: (sum(v != TOTAL for v in n), n))


def _children(nodes: list[tuple[str, ...]]) -> dict[tuple[str, ...], list[tuple[str, ...]]]:
    out: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for node in nodes:
        depth = sum(v != TOTAL for v in node)
        if depth == 0:
            continue
        parent = node[: depth - 1] + (TOTAL,) * (len(node) - depth + 1)
        out.setdefault(parent, []).append(node)
    return out


def build_table(interior: Any, dims: list[str] | tuple[str, ...], value: str,
                hierarchies: list[str] | tuple[str, ...] = ()) -> Table:
    """All cells and equations from interior cells (one row per finest combination)."""
    frame = interior if isinstance(interior, pl.DataFrame) else pl.from_pandas(interior)
    structure = dimensions(dims, hierarchies)
    columns = [c for d in structure for c in d.columns]
    missing = [c for c in [*columns, value] if c not in frame.columns]
    if missing:
        raise UserInputError(f"missing column(s) {', '.join(map(repr, missing))}",
                             hint=f"columns are: {', '.join(frame.columns)}")
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in columns)
    for c in columns:
        if frame[c].is_null().any():
            first = int(frame.with_row_index("_row").filter(pl.col(c).is_null())["_row"][0]) + 1
            raise UserInputError(f"row {first}, column {c!r}: empty code breaks the rule 'every interior cell "
                                 f"has a code in each dimension' ({frame[c].null_count()} such row(s))")
        if (frame[c] == TOTAL).any():
            raise UserInputError(f"column {c!r} uses the reserved code {TOTAL!r}; margins are added here")
    numeric = frame[value].cast(pl.Float64, strict=False)
    bad = frame.with_row_index("_row").filter(numeric.is_null() | (numeric < 0))
    if bad.height:
        raise UserInputError(f"row {bad['_row'][0] + 1}, column {value!r}: value {bad[value][0]!r} breaks the rule "
                             f"'a count is a non-negative number' ({bad.height} such row(s))",
                             hint="fix or remove these rows; nothing was protected")
    frame = frame.with_columns(numeric.alias(value))
    if frame.select(pl.struct(columns).is_duplicated().any()).item():
        raise UserInputError("two rows for the same combination of codes: give one row per interior cell")
    for dim in structure:  # a child code must sit under one parent only
        for depth in range(1, len(dim.columns)):
            child, parents = dim.columns[depth], dim.columns[:depth]
            clash = frame.group_by(child).agg(pl.struct(parents).n_unique().alias("n")).filter(pl.col("n") > 1)
            if clash.height:
                raise UserInputError(f"code {clash[child][0]!r} of {child!r} sits under more than one "
                                     f"{parents[-1]!r}: the hierarchy must be a tree")

    node_lists = [_nodes(frame, d) for d in structure]
    # value of every cell: each interior row counts toward all its ancestors in every dimension
    sums = _to_every_cell(frame.select([*columns, value]), structure).group_by(columns).agg(
        pl.col(value).sum().alias("value"))
    grid_rows = [tuple(v for node in combo for v in node) for combo in itertools.product(*node_lists)]
    grid = pl.DataFrame(grid_rows, schema=columns, orient="row")
    cells = (grid.with_row_index("cell").join(sums, on=columns, how="left").sort("cell")
             .with_columns(pl.col("value").fill_null(0.0)).select("cell", *columns, "value"))
    index = {row[:-1]: row[-1] for row in cells.select([*columns, "cell"]).iter_rows()}

    rows, cols, vals = [], [], []
    eq = 0
    for i in range(len(structure)):
        others = [node_lists[j] for j in range(len(structure)) if j != i]
        for parent, kids in _children(node_lists[i]).items():
            for rest in itertools.product(*others):
                def key(node: tuple[str, ...], i: int = i, rest: tuple[tuple[str, ...], ...] = rest) -> tuple[str, ...]:
                    parts = [*rest[:i], node, *rest[i:]]
                    return tuple(v for p in parts for v in p)

                rows.append(eq)
                cols.append(index[key(parent)])
                vals.append(1.0)
                for kid in kids:
                    rows.append(eq)
                    cols.append(index[key(kid)])
                    vals.append(-1.0)
                eq += 1
    matrix = sparse.csr_matrix((vals, (rows, cols)), shape=(eq, cells.height))
    keys = [cell_key(dict(zip(columns, r, strict=True)), structure) for r in cells.select(columns).iter_rows()]
    return Table(structure, cells, matrix, keys, node_lists)


def _to_every_cell(frame: pl.DataFrame, structure: list[Dimension]) -> pl.DataFrame:
    """Each interior row repeated once for every cell it counts toward (itself and each margin)."""
    for dim in structure:
        variants = []
        for depth in range(len(dim.columns) + 1):
            keep = dim.columns[:depth]
            variants.append(frame.with_columns(pl.lit(TOTAL).alias(c) for c in dim.columns if c not in keep))
        frame = pl.concat(variants)
    return frame


def largest_contributions(table: Table, interior: Any, top1: str, top2: str | None = None) -> np.ndarray:
    """For every cell of ``table``, its two largest single contributions (an array of shape
    (cells, 2)), from each interior cell's largest (and second-largest) contribution: a margin's
    are the two largest among those of the interior cells it sums."""
    frame = interior if isinstance(interior, pl.DataFrame) else pl.from_pandas(interior)
    columns = table.columns
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in columns)
    parts = [frame.select(*columns, pl.col(top1).cast(pl.Float64).alias("_c"))]
    if top2 is not None:
        parts.append(frame.select(*columns, pl.col(top2).cast(pl.Float64).alias("_c")))
    for part in parts:
        bad = part.with_row_index("_row").filter(pl.col("_c").is_null() | (pl.col("_c") < 0))
        if bad.height:
            raise UserInputError(f"row {bad['_row'][0] + 1}: a largest contribution must be a non-negative number")
    spread = _to_every_cell(pl.concat(parts), table.dims).group_by(columns).agg(pl.col("_c").top_k(2).alias("_top"))
    found = table.cells.select("cell", *columns).join(spread, on=columns, how="left").sort("cell")
    top = found.select(pl.col("_top").list.get(0, null_on_oob=True).fill_null(0.0).alias("a"),
                       pl.col("_top").list.get(1, null_on_oob=True).fill_null(0.0).alias("b"))
    return top.to_numpy()


def cell_key(codes: dict[str, str], structure: list[Dimension]) -> CellKey:
    """The identity of a cell across tables: the most specific non-Total code of each dimension."""
    out = []
    for dim in structure:
        for column in reversed(dim.columns):
            if codes[column] != TOTAL:
                out.append((column, codes[column]))
                break
    return frozenset(out)


@dataclass
class System:
    """One or more tables as one system: unique cells (by key), their values and all equations."""

    tables: list[Table]
    values: np.ndarray
    equations: sparse.csr_matrix
    cell_of: list[np.ndarray]  # per table: system index of each of its cells


def link(tables: list[Table]) -> System:
    """Tables released together: cells with the same key are one variable; the values must agree."""
    index: dict[CellKey, int] = {}
    values: list[float] = []
    cell_of = []
    for t in tables:
        ids = np.empty(len(t), dtype=np.int64)
        for i, (key, v) in enumerate(zip(t.keys, t.values, strict=True)):
            if key in index:
                j = index[key]
                if abs(values[j] - v) > 1e-9 * max(1.0, abs(v)):
                    raise UserInputError(f"linked tables disagree on cell {dict(key) or 'Total'}: {values[j]} vs {v}")
            else:
                j = index[key] = len(values)
                values.append(float(v))
            ids[i] = j
        cell_of.append(ids)
    n = len(values)
    blocks = []
    for t, ids in zip(tables, cell_of, strict=True):
        m = t.equations.tocoo()
        blocks.append(sparse.csr_matrix((m.data, (m.row, ids[m.col])), shape=(m.shape[0], n)))
    return System(tables, np.asarray(values), sparse.vstack(blocks).tocsr() if blocks else sparse.csr_matrix((0, n)),
                  cell_of)
