"""The hypercube search: a fast way to choose secondary cells with a proof of protection.

For a primary cell ``p`` in a table with margins, pick in every dimension a *move*: a set of codes
with signs (+1 at p's code) that keeps that dimension's equations — a sibling with the opposite
sign (``+a, -b``: their parent does not change), or p's chain of ancestors up to ``Total`` with
the same sign (``+a, +parent, ..., +Total``). A code that has children brings a chain down to a
leaf with its own sign, so its own equation holds too. The outer product of one move per
dimension is a *hypercube* of cells with signs ``d``; every equation of the table runs along one
dimension with the others fixed, so ``A d = 0``. Hiding the hypercube's cells lets an attacker's
solution move by ``t d`` for any ``t`` in ``[-min(x: d = +1), min(x: d = -1)]`` while every cell
stays non-negative, so p's feasible interval is at least as wide as the sum of those two minima.
Among the hypercubes wide enough, the one that hides the least (by cost) is chosen; cells already
hidden cost nothing, so hypercubes chosen earlier are re-used.

This is the idea of Repsilber's GHMITER hypercube method (used by τ-ARGUS), here with hierarchies
handled by chains and with each choice checked against the whole system of linked tables: a
hypercube that moves a cell another table also publishes is only a proof if that table's
equations still hold, and otherwise is left for the linear-programming repair in
:mod:`esmonitor.disclosure.suppression`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from esmonitor.disclosure.table import TOTAL, Table

MAX_CUBES = 20_000     # hypercubes examined per primary cell (the cheapest moves are kept)
MAX_MOVES = 64         # moves kept per code and dimension
MAX_CHAINS = 6         # chains down to a leaf per code


@dataclass(frozen=True)
class Moves:
    """Per code of one dimension: padded codes (m, L) and signs (m, L; 0 = padding)."""

    codes: list[np.ndarray]
    signs: list[np.ndarray]


def dimension_moves(nodes: list[tuple[str, ...]]) -> Moves:
    index = {node: i for i, node in enumerate(nodes)}
    parent = np.full(len(nodes), -1)
    children: list[list[int]] = [[] for _ in nodes]
    for i, node in enumerate(nodes):
        depth = sum(v != TOTAL for v in node)
        if depth:
            j = index[node[: depth - 1] + (TOTAL,) * (len(node) - depth + 1)]
            parent[i] = j
            children[j].append(i)

    chains_memo: dict[int, list[list[int]]] = {}

    def down(a: int) -> list[list[int]]:
        if a not in chains_memo:
            if not children[a]:
                chains_memo[a] = [[a]]
            else:
                chains_memo[a] = [[a, *c] for kid in children[a] for c in down(kid)][:MAX_CHAINS]
        return chains_memo[a]

    def up(a: int) -> list[int]:
        out = []
        while parent[a] >= 0:
            a = int(parent[a])
            out.append(a)
        return out

    codes, signs = [], []
    for a in range(len(nodes)):
        moves: list[list[tuple[int, int]]] = [[(n, 1) for n in chain + up(a)] for chain in down(a)]
        siblings = [] if parent[a] < 0 else [b for b in children[int(parent[a])] if b != a]
        for b in siblings:
            for chain in down(a):
                for other in down(b):
                    moves.append([(n, 1) for n in chain] + [(n, -1) for n in other])
        moves = [m for m in moves if len(m) > 1][:MAX_MOVES]  # a lone Total cannot move
        width = max((len(m) for m in moves), default=1)
        c = np.zeros((len(moves), width), dtype=np.int64)
        s = np.zeros((len(moves), width), dtype=np.int8)
        for r, m in enumerate(moves):
            c[r, : len(m)] = [n for n, _ in m]
            s[r, : len(m)] = [g for _, g in m]
        codes.append(c)
        signs.append(s)
    return Moves(codes, signs)


@dataclass
class Cube:
    cells: np.ndarray   # table cell indices
    signs: np.ndarray   # +1 / -1
    width: float        # the interval width it proves for the primary cell


def best_cube(table: Table, moves: list[Moves], cell: int, values: np.ndarray, hidden: np.ndarray,
              cost: np.ndarray, width: float, avoid: np.ndarray | None = None) -> Cube | None:
    """The cheapest hypercube through ``cell`` proving an interval at least ``width`` wide; if
    none is wide enough, the widest. Arrays are indexed by the table's cells; ``avoid`` is a
    penalty for touching a cell at all, hidden or not (a cell a linked table also publishes)."""
    shape = table.shape
    pos = np.unravel_index(cell, shape)
    strides = np.array([int(np.prod(shape[k + 1:])) for k in range(len(shape))], dtype=np.int64)
    per_dim = [(moves[k].codes[pos[k]], moves[k].signs[pos[k]]) for k in range(len(shape))]
    if any(c.shape[0] == 0 for c, _ in per_dim):
        return None
    per_dim = _trim(per_dim, pos, strides, hidden, cost)
    d = len(per_dim)
    index = np.zeros([1] * (2 * d), dtype=np.int64)
    sign = np.ones([1] * (2 * d), dtype=np.int8)
    for k, (c, s) in enumerate(per_dim):
        view = [1] * (2 * d)
        view[k], view[d + k] = c.shape
        index = index + (c * strides[k]).reshape(view)
        sign = sign * s.reshape(view)
    n_cubes = int(np.prod([c.shape[0] for c, _ in per_dim]))
    index = np.broadcast_to(index, sign.shape).reshape(n_cubes, -1)
    sign = sign.reshape(n_cubes, -1)
    x = values[index]
    total = np.where((sign != 0) & ~hidden[index], cost[index], 0.0).sum(axis=1)
    if avoid is not None:
        total += np.where(sign != 0, avoid[index], 0.0).sum(axis=1)
    upward = np.where(sign < 0, x, np.inf).min(axis=1)
    downward = np.where(sign > 0, x, np.inf).min(axis=1)
    proved = upward + downward
    allowed = np.isfinite(total)  # an infinite penalty: a cell that must stay published
    if not allowed.any():
        return None
    good = np.flatnonzero((proved >= width - 1e-9) & allowed)
    pick = int(good[np.argmin(total[good])]) if good.size else int(np.argmax(np.where(allowed, proved, -1.0)))
    keep = sign[pick] != 0
    return Cube(index[pick][keep], sign[pick][keep].astype(float), float(proved[pick]))


def _trim(per_dim: list[tuple[np.ndarray, np.ndarray]], pos: tuple[Any, ...], strides: np.ndarray, hidden: np.ndarray,
          cost: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Keep at most MAX_CUBES combinations: drop the dearest moves (cost of their cells on the
    line through the primary cell) from the dimension with most moves."""
    out = list(per_dim)
    base = int(np.dot(pos, strides))
    while np.prod([c.shape[0] for c, _ in out], dtype=float) > MAX_CUBES:
        k = int(np.argmax([c.shape[0] for c, _ in out]))
        c, s = out[k]
        line = base + (c - pos[k]) * strides[k]
        dear = np.where((s != 0) & ~hidden[line], cost[line], 0.0).sum(axis=1)
        keep = np.sort(np.argsort(dear, kind="stable")[: max(1, c.shape[0] // 2)])
        out[k] = (c[keep], s[keep])
    return out

