"""The attacker: what can be learned about each suppressed cell from what was published.

Given the published values and the table's equations, each suppressed cell's value lies in the
interval [min, max] of that cell over all non-negative solutions of the equations — two linear
programs per suppressed cell, solved with HiGHS (``highspy``). The system is first split into
its independent parts (suppressed cells linked through equations that still contain an
unknown); each part's model is built once and only the objective changes between solves, so
HiGHS starts every solve from the previous basis. This is the audit of a published table
(``esmonitor disclosure-audit``) and the check the protection is tested against.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from esmonitor.errors import EsmonitorError


@dataclass(frozen=True)
class Interval:
    cell: int
    low: float
    high: float  # inf when nothing published bounds it

    @property
    def width(self) -> float:
        return self.high - self.low


def feasible_intervals(equations: sparse.csr_matrix, values: np.ndarray, suppressed: np.ndarray,
                       cells: np.ndarray | None = None, upper: np.ndarray | None = None,
                       lower: np.ndarray | None = None) -> dict[int, Interval]:
    """For each suppressed cell (or only ``cells``), its interval of values consistent with the
    published cells, the equations and non-negativity (and ``upper`` and ``lower`` bounds if
    given: a cell published as ``<5`` lies in [1, 4])."""
    suppressed = np.asarray(suppressed, dtype=bool)
    unknown = np.flatnonzero(suppressed)
    if unknown.size == 0:
        return {}
    if lower is not None and np.any(np.asarray(lower, dtype=float)[unknown] > 0):
        # x = floor + y, y >= 0: the same problem in y, its answer shifted back
        floor = np.zeros(len(values))
        floor[unknown] = np.nan_to_num(np.asarray(lower, dtype=float)[unknown], nan=0.0)
        caps = None if upper is None else np.asarray(upper, dtype=float) - floor
        if caps is not None and np.any(caps[unknown] < -1e-9):
            raise EsmonitorError("a hidden cell's lower bound is above its upper bound")
        shifted = np.where(suppressed, 0.0, np.asarray(values, dtype=float))
        rows = equations.tocsr()
        # the floors move to the right-hand side as if they were published parts
        known = rows @ floor
        extra = sparse.csr_matrix(known.reshape(-1, 1))
        with_floor = sparse.hstack([rows, extra]).tocsr()
        found = feasible_intervals(with_floor, np.append(shifted, 1.0), np.append(suppressed, False), cells,
                                   None if caps is None else np.append(caps, np.inf))
        return {c: Interval(c, iv.low + floor[c], iv.high + floor[c]) for c, iv in found.items()}
    wanted = set(unknown.tolist() if cells is None else np.asarray(cells).tolist())
    a = equations.tocsc()
    a_unknown = a[:, unknown]
    rhs = -(a[:, ~suppressed] @ values[~suppressed])
    rows = np.flatnonzero(a_unknown.getnnz(axis=1) > 0)
    a_unknown = a_unknown[rows].tocsr()
    rhs = rhs[rows]
    # independent parts: unknown cells connected through shared equations
    incidence = (a_unknown != 0).astype(np.int8)
    graph = (incidence.T @ incidence).tocsr()
    _, label = connected_components(graph, directed=False)
    out: dict[int, Interval] = {}
    # the parts' members in one sort (not one scan of every cell per part: thousands of parts)
    # only the parts that hold a wanted cell (most parts of a large table are one slack each)
    order = np.argsort(label, kind="stable")
    last = np.cumsum(np.bincount(label))
    first = last - np.bincount(label)
    position = np.full(len(values), -1)
    position[unknown] = np.arange(unknown.size)
    asked = np.asarray(sorted(wanted), dtype=np.int64)
    asked = asked[(asked >= 0) & (asked < len(values))]
    asked = asked[position[asked] >= 0]
    by_column = a_unknown.tocsc()
    for part in np.unique(label[position[asked]]):
        members = order[first[part]:last[part]]
        sub = by_column[:, members]
        keep = np.unique(sub.indices)
        sub, b = sub.tocsr()[keep], rhs[keep]
        caps = np.full(len(members), np.inf) if upper is None else np.asarray(upper, dtype=float)[unknown[members]]
        targets = [k for k, j in enumerate(members) if int(unknown[j]) in wanted]
        if sub.shape[0] == 0:  # no equation constrains these cells
            for k in targets:
                cell = int(unknown[members[k]])
                out[cell] = Interval(cell, 0.0, float(caps[k]))
            continue
        if not np.any(b) and not np.isfinite(caps).any():
            # nothing published bounds these cells: each is 0 at least, and unbounded above when
            # some solution of the homogeneous equations moves it (one linear program for all)
            ray = _rays(sub, targets)
            bounded = [k for k, up in zip(targets, ray, strict=True) if not up]
            ends = dict(zip(bounded, _extremes(sub, b, caps, bounded), strict=True)) if bounded else {}
            for k, up in zip(targets, ray, strict=True):
                cell = int(unknown[members[k]])
                out[cell] = Interval(cell, 0.0, np.inf) if up else Interval(cell, 0.0, ends[k][1])
            continue
        for k, (low, high) in zip(targets, _extremes_parallel(sub, b, caps, targets), strict=True):
            cell = int(unknown[members[k]])
            out[cell] = Interval(cell, low, high)
    return out


_BANNER_SHOWN = False


def new_highs() -> Any:
    """A silent HiGHS instance. HiGHS prints a banner on standard output the first time one is
    made in a process, below Python (so ``--json`` output would be spoiled): that first one is
    made with the file descriptor pointed elsewhere."""
    global _BANNER_SHOWN
    import os
    import sys

    import highspy

    if not _BANNER_SHOWN:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as sink:
                os.dup2(sink.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _BANNER_SHOWN = True
    else:
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


def _rays(a: sparse.csr_matrix, targets: list[int]) -> list[bool]:
    """For each target, whether some x >= 0 with a x = 0 moves it (its maximum is then
    unbounded): one linear program for all, max sum of t over a x = 0, x >= 0, t_j <= x_j,
    t_j <= 1 (x may be scaled at will, so t_j reaches 1 exactly when some solution moves j)."""
    from scipy.optimize import linprog

    m, n = a.shape
    k = len(targets)
    pick = sparse.csr_matrix((np.ones(k), (np.arange(k), np.asarray(targets))), shape=(k, n))
    equal = sparse.hstack([a, sparse.csr_matrix((m, k))]).tocsr()
    below = sparse.hstack([-pick, sparse.identity(k, format="csr")]).tocsr()  # t - x <= 0
    cost = np.concatenate([np.zeros(n), -np.ones(k)])
    found = linprog(cost, A_ub=below, b_ub=np.zeros(k), A_eq=equal, b_eq=np.zeros(m),
                    bounds=[(0, None)] * n + [(0, 1)] * k, method="highs")
    if found.status != 0:
        return [False] * k
    return [bool(v > 1 - 1e-6) for v in found.x[n:]]


PARALLEL_FROM = 64  # targets in one part before the solves are shared among threads


def _extremes_parallel(a: sparse.csr_matrix, b: np.ndarray, caps: np.ndarray,
                       targets: list[int]) -> list[tuple[float, float]]:
    """:func:`_extremes` with the targets dealt out to one thread per core (HiGHS releases the
    GIL while it solves; each thread has its own model)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    workers = min(os.cpu_count() or 1, 8, max(1, len(targets) // PARALLEL_FROM))
    if workers == 1:
        return _extremes(a, b, caps, targets)
    chunks = [targets[i::workers] for i in range(workers)]
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(lambda chunk: _extremes(a, b, caps, chunk), chunks))
    found = {k: v for chunk, part in zip(chunks, parts, strict=True) for k, v in zip(chunk, part, strict=True)}
    return [found[k] for k in targets]


@functools.cache
def _settled() -> frozenset[Any]:
    """The statuses that answer the question (the others mean the solve itself went wrong)."""
    import highspy

    s = highspy.HighsModelStatus
    return frozenset({s.kOptimal, s.kUnbounded, s.kUnboundedOrInfeasible, s.kInfeasible})


def _afresh(h: Any) -> Any:
    """Solve the model in ``h`` again from scratch with HiGHS's defaults, then put back the fast
    warm-start settings for the next objective."""
    h.clearSolver()
    h.setOptionValue("presolve", "on")
    h.setOptionValue("simplex_strategy", 1)
    h.run()
    status = h.getModelStatus()
    h.setOptionValue("presolve", "off")
    h.setOptionValue("simplex_strategy", 4)
    return status


def propagated_bounds(a: sparse.csr_matrix, b: np.ndarray, low: np.ndarray, high: np.ndarray,
                      rounds: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Outer bounds of every variable over {a x = b, low <= x <= high} by bound propagation: each
    row solved for each of its variables given the others' bounds, repeated ``rounds`` times.
    Always contains the exact interval (often equals it): a solve can be skipped when a feasible
    point already reaches the propagated bound."""
    a = a.tocsr()
    rows = np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))
    cols, coef = a.indices, a.data.astype(float)
    low, high = np.asarray(low, dtype=float).copy(), np.asarray(high, dtype=float).copy()
    m = a.shape[0]
    for _ in range(rounds):
        # each term's least and greatest value, a_ij x_j
        lo_t = np.where(coef > 0, coef * low[cols], coef * high[cols])
        hi_t = np.where(coef > 0, coef * high[cols], coef * low[cols])
        lo_inf, hi_inf = ~np.isfinite(lo_t), ~np.isfinite(hi_t)
        lo_sum = np.bincount(rows, np.where(lo_inf, 0.0, lo_t), m)
        hi_sum = np.bincount(rows, np.where(hi_inf, 0.0, hi_t), m)
        lo_n, hi_n = np.bincount(rows, lo_inf, m), np.bincount(rows, hi_inf, m)
        # the other terms of the row: the row's sum less this term (infinite if another term is)
        others_lo = np.where(lo_n[rows] - lo_inf > 0, -np.inf, lo_sum[rows] - np.where(lo_inf, 0.0, lo_t))
        others_hi = np.where(hi_n[rows] - hi_inf > 0, np.inf, hi_sum[rows] - np.where(hi_inf, 0.0, hi_t))
        with np.errstate(invalid="ignore"):
            # a_ij x_j = b_i - others  →  x_j between (b - others_hi) / a and (b - others_lo) / a
            one = (b[rows] - others_hi) / coef
            two = (b[rows] - others_lo) / coef
        cand_low = np.where(coef > 0, one, two)
        cand_high = np.where(coef > 0, two, one)
        tighter_low = np.full(len(low), -np.inf)
        tighter_high = np.full(len(high), np.inf)
        np.maximum.at(tighter_low, cols, np.nan_to_num(cand_low, nan=-np.inf))
        np.minimum.at(tighter_high, cols, np.nan_to_num(cand_high, nan=np.inf))
        moved_low, moved_high = tighter_low > low + 1e-9, tighter_high < high - 1e-9
        if not (moved_low.any() or moved_high.any()):
            break
        low, high = np.maximum(low, tighter_low), np.minimum(high, tighter_high)
    return low, high


def _extremes(a: sparse.csr_matrix, b: np.ndarray, caps: np.ndarray, targets: list[int],
              shortcut: bool = True) -> list[tuple[float, float]]:
    """min and max of each target variable over {a x = b, 0 <= x <= caps}, one HiGHS model.
    With ``shortcut``, a solve is skipped when some solution already found reaches the bound
    propagation gives (a bound no solution can pass): the answer is the same."""
    import highspy

    h: Any = new_highs()
    settled = _settled()
    # only the objective changes between solves: the last basis stays primal feasible, so the
    # primal simplex without presolve restarts from it (measured ~30 times faster than the default)
    h.setOptionValue("presolve", "off")
    h.setOptionValue("simplex_strategy", 4)
    inf = highspy.kHighsInf
    n = a.shape[1]
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, a.shape[0]
    lp.col_cost_ = np.zeros(n)
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = np.where(np.isfinite(caps), caps, inf)
    lp.row_lower_ = lp.row_upper_ = np.asarray(b, dtype=float)
    csc = a.tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr
    lp.a_matrix_.index_ = csc.indices
    lp.a_matrix_.value_ = csc.data.astype(float)
    h.passModel(lp)
    out = []
    previous = None
    if shortcut:
        floor, ceiling = propagated_bounds(csc, np.asarray(b, dtype=float), np.zeros(n),
                                           np.where(np.isfinite(caps), caps, np.inf))
        seen_low, seen_high = np.full(n, np.inf), np.full(n, -np.inf)
    solved = 0
    for k in targets:
        ends = []
        for sense in (highspy.ObjSense.kMinimize, highspy.ObjSense.kMaximize):
            if shortcut and solved:
                if sense == highspy.ObjSense.kMinimize and seen_low[k] <= floor[k] + 1e-7:
                    ends.append(float(floor[k]))
                    continue
                if sense == highspy.ObjSense.kMaximize and seen_high[k] >= ceiling[k] - 1e-7:
                    ends.append(float(ceiling[k]))
                    continue
            if previous != k:
                if previous is not None:
                    h.changeColCost(previous, 0.0)
                h.changeColCost(k, 1.0)
                previous = k
            h.changeObjectiveSense(sense)
            h.run()
            status = h.getModelStatus()
            if status not in settled:
                # the warm-started primal simplex can stall on a degenerate basis (HiGHS says
                # "Unknown"): solve this one afresh, with presolve and the default strategy
                status = _afresh(h)
            solved += 1
            if status == highspy.HighsModelStatus.kOptimal:
                ends.append(float(h.getInfo().objective_function_value))
                if shortcut:  # every solution is a witness of what each variable can be
                    x = np.asarray(h.getSolution().col_value)
                    np.minimum(seen_low, x, out=seen_low)
                    np.maximum(seen_high, x, out=seen_high)
            elif status in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible) \
                    and sense == highspy.ObjSense.kMaximize:
                ends.append(np.inf)
            else:
                raise EsmonitorError(f"the attack's linear program failed ({h.modelStatusToString(status)}); "
                                     "are the published values consistent with the table?")
        out.append((ends[0], ends[1]))
    return out
