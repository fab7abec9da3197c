"""Primary and secondary cell suppression.

**Primary** (:func:`primary_cells`): a count with ``0 < n < K`` (default K = 10); a zero too
unless zeros are published; for magnitude tables, a cell dominated by one or two contributors
(:func:`dominance_cells`, the (n, k) rule).

**Secondary** (:func:`protect`): more cells are hidden until no primary cell can be narrowed: for
every primary cell the interval of values consistent with everything published (non-negative,
the attacker's linear programs) must be at least K wide. The cells to add are chosen by linear
programming (HiGHS through SciPy), one failing primary cell at a time, in the model of Fischetti
and Salazar (2001): find the cheapest set of cells to hide such that two deviation vectors y+ and
y- exist that keep every equation of the table, move only hidden cells, keep every cell
non-negative (y >= -x), and move the primary cell up and down by K in total:

    minimise   sum_c w_c s_c                      (w_c = 1 + x_c, or 1 to count cells)
    subject to A y+ = 0,  A y- = 0,
               -x_c s_c <= y+_c, y-_c <= K s_c,   s_c = 1 for cells already hidden,
               y+_p - y-_p >= K,                  0 <= s_c <= 1.

Every cell that either vector moves is hidden; the vectors then prove the interval of p is at
least K wide, whatever fractional values s took. After each round the attacker re-checks every
primary cell (a pattern chosen for one cell can protect others, and is re-used: hidden cells cost
nothing), until all hold.

A table whose cells are at least 60 % primary (:data:`MOSTLY_SMALL`; a small province cut
finely), half of which no hypercube protects, is withheld whole: the
patterns would hide nearly everything anyway, one slow linear program at a time; the attacker
then checks what the locked cells alone give away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import sparse

from esmonitor.disclosure.attacker import feasible_intervals
from esmonitor.disclosure.hypercube import Moves, best_cube, dimension_moves
from esmonitor.disclosure.table import TOTAL, System, Table, link
from esmonitor.errors import EsmonitorError, UserInputError

PUBLISHED, PRIMARY, SECONDARY = "published", "primary", "secondary"
MOSTLY_SMALL = 0.6  # share of primary cells (with half of them beyond hypercubes): the table is withheld whole
DEAR = 0.25  # a hypercube that would hide a margin above this share of the grand total is left to the LP
TOL = 1e-7


def primary_cells(values: np.ndarray, min_count: float = 10, publish_zeros: bool = False) -> np.ndarray:
    """Counts below ``min_count`` (and zeros unless ``publish_zeros``)."""
    values = np.asarray(values, dtype=float)
    small = (values > 0) & (values < min_count)
    return small if publish_zeros else small | (values == 0)


def dominance_cells(totals: np.ndarray, top1: np.ndarray, top2: np.ndarray, n: int = 2,
                    k: float = 0.85) -> np.ndarray:
    """The (n, k) dominance rule for magnitude cells (sums such as earnings): primary when the
    ``n`` largest contributors (1 or 2) make up more than ``k`` of the cell's total."""
    if n not in (1, 2) or not 0 < k <= 1:
        raise UserInputError(f"the dominance rule takes n = 1 or 2 contributors and a share 0 < k <= 1 (got {n}, {k})")
    top = np.asarray(top1, dtype=float) + (np.asarray(top2, dtype=float) if n == 2 else 0.0)
    totals = np.asarray(totals, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (totals > 0) & (top / np.where(totals > 0, totals, 1.0) > k)


@dataclass(frozen=True)
class Protection:
    status: np.ndarray  # per cell of the system: published, primary, secondary
    system: System
    hypercubes: int      # primary cells protected by a hypercube (with its proof)
    linear_programs: int  # repair patterns found by linear programming
    rounds: int

    @property
    def suppressed(self) -> np.ndarray:
        return np.asarray(self.status != PUBLISHED)

    def table_status(self, which: int = 0) -> np.ndarray:
        """Status of each cell of one of the tables (in its own cell order)."""
        return np.asarray(self.status[self.system.cell_of[which]])

    def information_loss(self) -> dict[str, float]:
        values = self.system.values
        hidden = self.status == SECONDARY
        return {"cells": len(values), "primary_cells": int((self.status == PRIMARY).sum()),
                "secondary_cells": int(hidden.sum()), "secondary_value": float(values[hidden].sum()),
                "suppressed_cells": int(self.suppressed.sum()),
                "suppressed_value": float(values[self.suppressed].sum()), "total_value": float(values.sum())}


def protect(tables: Table | list[Table] | System, primary: np.ndarray, min_width: float | np.ndarray,
            cost: str = "value",
            method: str = "hypercube", hidden: np.ndarray | None = None, locked: np.ndarray | None = None,
            cleanup: bool = True, max_rounds: int = 50) -> Protection:
    """Hide further cells until every primary cell's feasible interval is at least ``min_width``
    wide (one number, or one per cell of the system: e.g. a share of each cell's value for sums).

    ``primary`` is indexed by the cells of the (linked) system. Each primary cell first gets the
    cheapest hypercube that proves its protection (:mod:`esmonitor.disclosure.hypercube`); cells
    whose hypercube is not a proof for the whole system (too narrow, or it moves a cell that a
    linked table also publishes) are checked by the attacker and repaired by linear programming.
    ``cost`` is what is minimised: ``value`` (1 + the cell's value: lose little of the total) or
    ``cells`` (lose few cells). ``hidden`` marks cells already withheld for another reason (they
    need no protection of their own, and re-using them costs nothing); ``locked`` marks cells that
    must stay published (margins released elsewhere). ``method="linear-programming"``
    skips the hypercubes and protects every primary cell by the linear programs alone (slower; a
    second, independent way). ``cleanup`` then publishes again, largest first, every secondary
    cell that no proof needs: a primary cell whose hypercube used it keeps its protection if
    another hypercube made only of hidden cells proves it."""
    system = tables if isinstance(tables, System) else link([tables] if isinstance(tables, Table) else tables)
    values = system.values
    primary = np.asarray(primary, dtype=bool)
    if primary.shape != values.shape:
        raise ValueError(f"primary has {primary.size} cells, the system {values.size}")
    need = np.broadcast_to(np.asarray(min_width, dtype=float), values.shape).copy()
    if method not in ("hypercube", "linear-programming"):
        raise UserInputError(f"unknown method {method!r}", hint="hypercube or linear-programming")
    if cost not in ("value", "cells"):
        raise UserInputError(f"unknown cost {cost!r}", hint="value or cells")
    weight = 1.0 + values if cost == "value" else np.ones_like(values)
    shared = np.bincount(np.concatenate([np.zeros(0, dtype=np.int64), *system.cell_of]), minlength=len(values)) > 1
    avoid = np.where(shared, weight.sum(), 0.0)  # keep hypercubes off cells another table publishes
    lock = np.zeros_like(primary) if locked is None else np.asarray(locked, dtype=bool) & ~primary
    avoid = np.where(lock, np.inf, avoid)
    withheld = np.zeros_like(primary) if hidden is None else np.asarray(hidden, dtype=bool)
    hidden = primary | withheld
    unproven: set[int] = set()
    proofs: dict[int, tuple[int, int, np.ndarray]] = {}  # primary -> (table, its cell there, cube cells)
    cubes = 0
    all_moves: dict[int, list[Moves]] = {}
    for which, table in enumerate(system.tables):
        ids = system.cell_of[which]
        if method != "hypercube" or not table.nodes or not primary[ids].any():
            continue
        moves = all_moves[which] = [dimension_moves(n) for n in table.nodes]
        local_values = values[ids]
        local_cost = weight[ids]
        dear = table.cells.select(pl.any_horizontal([pl.col(c) == TOTAL for c in table.columns])).to_series()
        dear = dear.to_numpy() & (local_values > DEAR * local_values.max())
        order = np.flatnonzero(primary[ids])
        for cell in order[np.argsort(-local_values[order], kind="stable")]:
            cube = best_cube(table, moves, int(cell), local_values, hidden[ids], local_cost, float(need[ids[cell]]),
                             avoid[ids] if (shared | lock).any() else None)
            if cube is None:
                unproven.add(int(ids[cell]))
                continue
            if (dear[cube.cells] & ~hidden[ids[cube.cells]]).any():
                unproven.add(int(ids[cell]))  # a cube that hides a large margin: linear programming may do better
                continue
            hidden[ids[cube.cells]] = True
            if cube.width >= need[ids[cell]] - TOL and _is_proof(system, ids[cube.cells], cube.signs):
                cubes += 1
                proofs[int(ids[cell])] = (which, int(cell), ids[cube.cells])
            else:
                unproven.add(int(ids[cell]))
    many = primary.sum()
    if method == "hypercube" and len(unproven) > 0.5 * many and many >= MOSTLY_SMALL * len(values):
        # a table mostly of small counts that hypercubes cannot protect: withheld whole (what the
        # attacker then knows comes from the locked cells alone, checked below; no pattern could
        # hide less than nearly everything, one slow linear program at a time)
        hidden = hidden | ~lock
        unproven = set(np.flatnonzero(primary).tolist())
        cleanup = False
    if cleanup and proofs and not unproven:
        hidden = _cleanup(system, all_moves, proofs, hidden, primary | withheld, weight, avoid, need)
    if method != "hypercube":  # every primary cell to the linear programs (or to the check)
        unproven = set(np.flatnonzero(primary).tolist())
    hidden, solved, rounds = _repair(system.equations, values, primary, hidden, sorted(unproven), need,
                                     1.0 + values if cost == "value" else np.ones_like(values), lock, max_rounds)
    return Protection(_status(primary, hidden), system, cubes, solved, rounds)  # withheld cells: secondary


def _is_proof(system: System, cells: np.ndarray, signs: np.ndarray) -> bool:
    """Whether moving ``cells`` by ``signs`` keeps every equation of the (linked) system."""
    vector = np.zeros(len(system.values))
    np.add.at(vector, cells, signs)
    return not np.abs(system.equations @ vector).max(initial=0.0) > TOL


def _cleanup(system: System, all_moves: dict[int, list[Moves]], proofs: dict[int, tuple[int, int, np.ndarray]],
             hidden: np.ndarray, keep: np.ndarray, weight: np.ndarray, avoid: np.ndarray,
             need: np.ndarray) -> np.ndarray:
    hidden = hidden.copy()
    users: dict[int, set[int]] = {}
    for p, (_, _, cells) in proofs.items():
        for c in cells.tolist():
            users.setdefault(c, set()).add(p)
    candidates = np.flatnonzero(hidden & ~keep)
    for c in candidates[np.argsort(-weight[candidates], kind="stable")].tolist():
        hidden[c] = False
        replaced: dict[int, tuple[int, int, np.ndarray]] = {}
        for p in sorted(users.get(c, ())):
            which, local, _ = proofs[p]
            ids = system.cell_of[which]
            only_hidden = np.where(hidden[ids], avoid[ids], np.inf)  # nothing new may be hidden
            cube = best_cube(system.tables[which], all_moves[which], local, system.values[ids], hidden[ids],
                             weight[ids], float(need[p]), only_hidden)
            if cube is None or cube.width < need[p] - TOL or not _is_proof(system, ids[cube.cells], cube.signs):
                hidden[c] = True
                break
            replaced[p] = (which, local, ids[cube.cells])
        if hidden[c]:
            continue
        for p, proof in replaced.items():
            for old in proofs[p][2].tolist():
                users[old].discard(p)
            for new in proof[2].tolist():
                users.setdefault(new, set()).add(p)
            proofs[p] = proof
    return hidden


def _repair(equations: sparse.csr_matrix, values: np.ndarray, primary: np.ndarray, hidden: np.ndarray,
            check: list[int], need: np.ndarray, weight: np.ndarray, lock: np.ndarray,
            max_rounds: int) -> tuple[np.ndarray, int, int]:
    """Attack the cells in ``check``; for each too narrow, add the cells of a Fischetti–Salazar
    pattern; repeat until all hold."""
    hidden = hidden.copy()
    model: _PatternModel | None = None
    solved = 0
    cells = np.asarray(check, dtype=np.int64)
    for round_ in range(1, max_rounds + 1):
        if cells.size == 0:
            return hidden, solved, round_
        intervals = feasible_intervals(equations, values, hidden, cells=cells)
        failing = [c for c, iv in intervals.items() if iv.width < need[c] - TOL]
        if not failing:
            return hidden, solved, round_
        model = model or _PatternModel(equations, values, float(need[primary].max()), weight, lock)
        for cell in sorted(failing, key=lambda c: -values[c]):
            if solved and feasible_intervals(equations, values, hidden, cells=np.array([cell]))[cell].width \
                    >= need[cell] - TOL:
                continue
            hidden |= model.pattern(cell, hidden, float(need[cell]))
            solved += 1
        cells = np.flatnonzero(primary)  # a repair can only widen intervals, but check them all once more
    raise EsmonitorError(f"secondary suppression did not converge in {max_rounds} rounds")


def _status(primary: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    status = np.full(primary.shape, PUBLISHED, dtype=object)
    status[hidden] = SECONDARY
    status[primary] = PRIMARY
    return status


class _PatternModel:
    """The Fischetti–Salazar linear program of the module docstring, built once for a table; each
    call changes only the target cell, the hidden cells' bounds and costs, and re-solves from the
    previous basis. Variables: [y+ (n), y- (n), s (n)]."""

    def __init__(self, equations: sparse.csr_matrix, values: np.ndarray, width: float, weight: np.ndarray,
                 lock: np.ndarray) -> None:
        import highspy

        from esmonitor.disclosure.attacker import new_highs

        self.values, self.width = values, width
        n = self.n = len(values)
        a = equations.tocsr()
        m = a.shape[0]
        zero_n = sparse.csr_matrix((m, n))
        eye = sparse.identity(n, format="csr")
        zero = sparse.csr_matrix((n, n))
        rows = sparse.vstack([
            sparse.hstack([a, zero_n, zero_n]), sparse.hstack([zero_n, a, zero_n]),   # A y = 0
            sparse.hstack([eye, zero, -width * eye]),                                # y+ - K s <= 0
            sparse.hstack([eye, zero, sparse.diags(values)]),                        # y+ + x s >= 0
            sparse.hstack([zero, eye, -width * eye]),                                # y- - K s <= 0
            sparse.hstack([zero, eye, sparse.diags(values)]),                        # y- + x s >= 0
            sparse.csr_matrix((1, 3 * n)),                                           # target row
        ]).tocsc()
        inf = highspy.kHighsInf
        lower = np.concatenate([np.zeros(2 * m), np.full(n, -inf), np.zeros(n), np.full(n, -inf), np.zeros(n),
                                [width]])
        upper = np.concatenate([np.zeros(2 * m), np.zeros(n), np.full(n, inf), np.zeros(n), np.full(n, inf), [inf]])
        self.target_row = 2 * m + 4 * n
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = 3 * n, rows.shape[0]
        lp.col_cost_ = np.concatenate([np.zeros(2 * n), weight])
        lp.col_lower_ = np.concatenate([-values, -values, np.zeros(n)])
        lp.col_upper_ = np.concatenate([np.full(2 * n, width), np.where(lock, 0.0, 1.0)])
        lp.row_lower_, lp.row_upper_ = lower, upper
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = rows.indptr
        lp.a_matrix_.index_ = rows.indices
        lp.a_matrix_.value_ = rows.data.astype(float)
        self.h: Any = new_highs()
        self.h.passModel(lp)
        self.previous: int | None = None
        self.fixed = np.zeros(n, dtype=bool)

    def pattern(self, cell: int, hidden: np.ndarray, width: float) -> np.ndarray:
        import highspy

        n, h = self.n, self.h
        h.changeRowBounds(self.target_row, width, highspy.kHighsInf)
        newly = np.flatnonzero(hidden & ~self.fixed)
        for i in newly:  # hidden cells cost nothing and count as hidden
            h.changeColBounds(2 * n + int(i), 1.0, 1.0)
            h.changeColCost(2 * n + int(i), 0.0)
        self.fixed |= hidden
        if self.previous is not None:
            h.changeCoeff(self.target_row, self.previous, 0.0)
            h.changeCoeff(self.target_row, n + self.previous, 0.0)
        h.changeCoeff(self.target_row, cell, 1.0)
        h.changeCoeff(self.target_row, n + cell, -1.0)
        self.previous = cell
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise EsmonitorError(f"no suppression pattern can protect cell {cell} by {width:g} "
                                 f"({h.modelStatusToString(h.getModelStatus())}); the table may be too small "
                                 "for this threshold")
        x = np.asarray(h.getSolution().col_value)
        moved = (np.abs(x[:n]) > TOL) | (np.abs(x[n:2 * n]) > TOL)
        moved[cell] = True
        return np.asarray(moved, dtype=bool)
