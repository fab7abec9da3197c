"""Disclosure control: primary rules against Statistics Norway's published examples and hand-made
hierarchies; secondary suppression attacked by linear programming on random tables (hypothesis);
information loss against a simple row/column heuristic, whose leaks the attacker finds."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esmonitor.disclosure.attacker import feasible_intervals
from esmonitor.disclosure.suppression import PRIMARY, PUBLISHED, SECONDARY, dominance_cells, primary_cells, protect
from esmonitor.disclosure.table import TOTAL, build_table, link
from esmonitor.errors import UserInputError

VIGNETTE = json.loads((Path(__file__).parent / "fixtures" / "gauss_suppression_vignette.json").read_text("utf-8"))


# -- primary suppression --------------------------------------------------------------------------
def _vignette_cases() -> list[dict]:
    return [e for e in VIGNETTE["examples"] if e["complete"] and "dimVar" in e["args"]]


@pytest.mark.parametrize("example", _vignette_cases(), ids=lambda e: e["formatted_table_caption"].split(":")[0])
def test_primary_cells_match_gauss_suppression_vignette(example: dict) -> None:
    args = example["args"]
    data = VIGNETTE["datasets"][args["data"].split("[")[0]]
    if args["data"].endswith("[-2, ]"):
        data = data[:1] + data[2:]
    frame = pl.DataFrame(data)
    hierarchy = ["eu:geo"] if "eu" in args["dimVar"] else []
    table = build_table(frame, [d for d in args["dimVar"] if d != "eu"], "freq", hierarchies=hierarchy)
    # GaussSuppression's rule is freq <= maxN (zeros too unless protectZeros = FALSE): K = maxN + 1
    primary = primary_cells(table.values, min_count=args["maxN"] + 1,
                            publish_zeros=not args.get("protectZeros", True))
    ours = {}
    for row, flag in zip(table.cells.iter_rows(named=True), primary, strict=True):
        geo = row["geo"] if row["geo"] != TOTAL or "eu" not in row else row["eu"]  # theirs prints EU in geo
        ours[(row["age"], geo)] = (row["value"], bool(flag))
    assert len(example["rows"]) >= 8
    for published in example["rows"]:
        key = (published["age"], published["geo"])
        assert key in ours, key
        value, flag = ours[key]
        assert value == published["freq"], key
        if args.get("structuralEmpty") and value == 0:
            continue  # a structural zero (the row was dropped): not a count of anyone
        assert flag == published["primary"], (key, value)


def test_primary_rule_on_a_hand_made_hierarchy() -> None:
    # catchment:provider x stream; margins and primaries worked out by hand for K = 5
    rows = [("C1", "P1", "A", 7), ("C1", "P1", "B", 2), ("C1", "P2", "A", 1), ("C1", "P2", "B", 0),
            ("C2", "P3", "A", 12), ("C2", "P3", "B", 3)]
    frame = pl.DataFrame(rows, schema=["catchment", "provider", "stream", "n"], orient="row")
    table = build_table(frame, ["provider", "stream"], "n", hierarchies=["catchment:provider"])
    assert len(table) == (1 + 2 + 3) * 3  # Total, 2 catchments, 3 providers x Total + 2 streams
    cells = {(r["catchment"], r["provider"], r["stream"]): r["value"] for r in table.cells.iter_rows(named=True)}
    assert cells[("C1", TOTAL, TOTAL)] == 10 and cells[("C1", TOTAL, "B")] == 2
    assert cells[("C1", "P2", TOTAL)] == 1 and cells[(TOTAL, TOTAL, "A")] == 20 and cells[(TOTAL, TOTAL, TOTAL)] == 25
    flags = primary_cells(table.values, min_count=5)
    hand = {("C1", "P1", "B"), ("C1", "P2", "A"), ("C1", "P2", "B"), ("C1", "P2", TOTAL), ("C1", TOTAL, "B"),
            ("C2", "P3", "B"), ("C2", TOTAL, "B"), ("C1", "P1", TOTAL) if cells[("C1", "P1", TOTAL)] < 5 else None,
            (TOTAL, TOTAL, "B") if cells[(TOTAL, TOTAL, "B")] < 5 else None}
    hand.discard(None)
    got = {key for key, f in zip(cells, flags, strict=True) if f}
    assert got == hand
    zeros_published = primary_cells(table.values, min_count=5, publish_zeros=True)
    assert {k for k, f in zip(cells, zeros_published, strict=True) if f} == hand - {("C1", "P2", "B")}


def test_dominance_rule_by_hand() -> None:
    totals = np.array([100.0, 100.0, 100.0, 0.0])
    top1 = np.array([90.0, 50.0, 40.0, 0.0])
    top2 = np.array([5.0, 40.0, 10.0, 0.0])
    assert dominance_cells(totals, top1, top2, n=1, k=0.85).tolist() == [True, False, False, False]
    assert dominance_cells(totals, top1, top2, n=2, k=0.85).tolist() == [True, True, False, False]


def test_table_errors_name_the_problem() -> None:
    frame = pl.DataFrame({"a": ["x", "Total"], "n": [1, 2]})
    with pytest.raises(UserInputError, match="reserved code"):
        build_table(frame, ["a"], "n")
    with pytest.raises(UserInputError, match="non-negative"):
        build_table(pl.DataFrame({"a": ["x", "y"], "n": [1, -2]}), ["a"], "n")
    with pytest.raises(UserInputError, match="missing column"):
        build_table(pl.DataFrame({"a": ["x"], "n": [1]}), ["b"], "n")
    with pytest.raises(UserInputError, match="same combination"):
        build_table(pl.DataFrame({"a": ["x", "x"], "n": [1, 2]}), ["a"], "n")
    tangled = pl.DataFrame({"p": ["A", "B"], "c": ["x", "x"], "n": [1, 2]})
    with pytest.raises(UserInputError, match="tree"):
        build_table(tangled, ["c"], "n", hierarchies=["p:c"])


# -- secondary suppression -------------------------------------------------------------------------
def test_two_by_three_example_is_protected_with_the_interior_only() -> None:
    """dataset_a with K = 3: young/Iceland (2) and young/Portugal (0) are primary. Young/Spain must
    go too (else the pair sums to 7 - 5 = 2), and each column needs a second hidden cell: the six
    interior cells, no margin, as worked by hand."""
    frame = pl.DataFrame(VIGNETTE["datasets"]["dataset_a"]).drop("eu")
    table = build_table(frame, ["age", "geo"], "freq")
    result = protect(table, primary_cells(table.values, 3), 3)
    status = dict(zip(table.cells.select("age", "geo").rows(), result.table_status(), strict=True))
    interior = {k for k in status if TOTAL not in k}
    assert {k for k, s in status.items() if s != PUBLISHED} == interior
    assert status[("young", "Iceland")] == status[("young", "Portugal")] == PRIMARY
    widths = feasible_intervals(table.equations, table.values, result.suppressed)
    young_iceland = table.cells.filter((pl.col("age") == "young") & (pl.col("geo") == "Iceland"))["cell"][0]
    assert (widths[young_iceland].low, widths[young_iceland].high) == (0.0, 5.0)  # by hand: column total 5


def _random_table(rng: np.random.Generator, sizes: list[int], hierarchical: bool) -> tuple[pl.DataFrame, list, list]:
    names = [f"d{k}" for k in range(len(sizes))]
    codes = [[f"{n}_{i}" for i in range(s)] for n, s in zip(names, sizes, strict=True)]
    rows = []
    for combo in itertools.product(*codes):
        kind = rng.random()
        value = 0 if kind < 0.1 else int(rng.integers(1, 10)) if kind < 0.35 else int(rng.integers(10, 60))
        rows.append((*combo, value))
    frame = pl.DataFrame(rows, schema=[*names, "n"], orient="row")
    hierarchy = []
    if hierarchical:  # group the first dimension's codes into two parents
        frame = frame.with_columns(pl.when(pl.col("d0").str.extract(r"_(\d+)$").cast(pl.Int32) % 2 == 0)
                                   .then(pl.lit("g_even")).otherwise(pl.lit("g_odd")).alias("g"))
        hierarchy = ["g:d0"]
    return frame, names, hierarchy


def _assert_protected(equations, values, status: np.ndarray, k: float) -> None:
    suppressed = status != PUBLISHED
    primary = np.flatnonzero(status == PRIMARY)
    intervals = feasible_intervals(equations, values, suppressed, cells=primary)
    for cell in primary:
        iv = intervals[int(cell)]
        assert iv.low <= values[cell] + 1e-6 <= iv.high + 2e-6
        assert iv.width >= k - 1e-6, (int(cell), iv)


tables = st.tuples(st.integers(0, 2**32 - 1), st.lists(st.integers(2, 4), min_size=1, max_size=4),
                   st.booleans(), st.sampled_from([3, 5, 10]), st.booleans(), st.sampled_from(["hypercube"] * 3 + [
                       "linear-programming"]))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables)
def test_random_tables_are_protected_against_the_attacker(case: tuple) -> None:
    seed, sizes, hierarchical, k, publish_zeros, method = case
    if int(np.prod(sizes)) > 120:
        sizes = sizes[:3]
    rng = np.random.default_rng(seed)
    frame, names, hierarchy = _random_table(rng, sizes, hierarchical and sizes[0] >= 3)
    table = build_table(frame, names, "n", hierarchies=hierarchy)
    primary = primary_cells(table.values, k, publish_zeros)
    result = protect(table, primary, k, method=method)
    status = result.table_status()
    if method == "linear-programming":
        assert result.hypercubes == 0  # (no pattern is needed when the primary cells already protect each other)
    assert ((status == PRIMARY) == primary).all()          # every primary stays primary ...
    assert not (primary & (status == PUBLISHED)).any()     # ... and none is published
    _assert_protected(table.equations, table.values, status, k)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.sampled_from([5, 10]), st.sampled_from(["hypercube", "linear-programming"]))
def test_linked_tables_are_protected_jointly(seed: int, k: int, method: str) -> None:
    """catchment x stream x quarter and catchment x group share the catchment totals; attacked as
    one system (what someone holding both releases can do)."""
    rng = np.random.default_rng(seed)
    first, _, _ = _random_table(rng, [4, 3, 3], False)
    first = first.rename({"d0": "catchment", "d1": "stream", "d2": "quarter"})
    totals = first.group_by("catchment").agg(pl.col("n").sum()).sort("catchment")
    second_rows = []
    for catchment, total in totals.iter_rows():  # split each catchment total over three groups
        cuts = np.sort(rng.integers(0, total + 1, size=2))
        for group, n in zip(("g1", "g2", "g3"), np.diff([0, *cuts, total]), strict=True):
            second_rows.append((catchment, group, int(n)))
    second = pl.DataFrame(second_rows, schema=["catchment", "group", "n"], orient="row")
    t1 = build_table(first, ["catchment", "stream", "quarter"], "n")
    t2 = build_table(second, ["catchment", "group"], "n")
    system = link([t1, t2])
    assert len(system.values) == len(t1) + len(t2) - 5  # 4 catchment totals and the grand total
    primary = primary_cells(system.values, k)
    result = protect(system, primary, k, method=method)
    assert not (primary & (result.status == PUBLISHED)).any()
    _assert_protected(system.equations, system.values, result.status, k)
    # each table alone is protected too, and a shared cell has one status in both
    for which, table in enumerate((t1, t2)):
        status = result.table_status(which)
        _assert_protected(table.equations, table.values, status, k) if (status == PRIMARY).any() else None
    shared = np.intersect1d(system.cell_of[0], system.cell_of[1])
    assert shared.size == 5


# -- information loss against a simple heuristic ----------------------------------------------------
def line_heuristic(equations, values: np.ndarray, primary: np.ndarray) -> np.ndarray:
    """Hide the smallest other cell of every row and column (every equation) that has exactly one
    hidden cell, until none has."""
    hidden = primary.copy()
    eq = equations.tocsr()
    changed = True
    while changed:
        changed = False
        for r in range(eq.shape[0]):
            cells = eq.indices[eq.indptr[r]:eq.indptr[r + 1]]
            if hidden[cells].sum() == 1:
                others = cells[~hidden[cells]]
                hidden[others[np.argmin(values[others])]] = True
                changed = True
    return hidden


def repaired_heuristic(equations, values: np.ndarray, primary: np.ndarray, k: float) -> np.ndarray:
    """The heuristic made safe the simple way: while the attacker narrows a primary cell, also
    hide the smallest published cell sharing an equation with it, and re-apply the line rule."""
    hidden = line_heuristic(equations, values, primary)
    eq = equations.tocsc()
    while True:
        widths = feasible_intervals(equations, values, hidden, cells=np.flatnonzero(primary))
        leaking = [c for c, iv in widths.items() if iv.width < k - 1e-9]
        if not leaking:
            return hidden
        by_column = eq
        for cell in leaking:
            rows = by_column.indices[by_column.indptr[cell]:by_column.indptr[cell + 1]]
            near = np.unique(equations.tocsr()[rows].indices)
            near = near[~hidden[near]]
            if near.size:
                hidden[near[np.argmin(values[near])]] = True
        hidden = line_heuristic(equations, values, hidden)


def test_information_loss_is_no_worse_than_the_line_heuristic_and_the_heuristic_leaks() -> None:
    rng = np.random.default_rng(2026)
    ours = {"cells": 0, "value": 0.0}
    theirs = {"cells": 0, "value": 0.0}
    leaks = 0
    for _ in range(12):
        sizes = [int(s) for s in rng.integers(3, 6, size=int(rng.integers(2, 4)))]
        frame, names, _ = _random_table(rng, sizes, False)
        table = build_table(frame, names, "n")
        primary = primary_cells(table.values, 10)
        if not primary.any():
            continue
        values = table.values
        naive = line_heuristic(table.equations, values, primary)
        widths = feasible_intervals(table.equations, values, naive, cells=np.flatnonzero(primary))
        leaks += sum(iv.width < 10 - 1e-9 for iv in widths.values())
        safe = repaired_heuristic(table.equations, values, primary, 10)
        result = protect(table, primary, 10)
        loss = result.information_loss()
        assert loss["suppressed_cells"] == int(result.suppressed.sum())
        assert loss["suppressed_value"] == pytest.approx(values[result.suppressed].sum())
        ours["cells"] += loss["suppressed_cells"]
        ours["value"] += loss["suppressed_value"]
        theirs["cells"] += int(safe.sum())
        theirs["value"] += float(values[safe].sum())
    assert leaks > 0, "the simple heuristic should leave some primary cell narrower than K"
    assert ours["value"] <= theirs["value"]
    assert ours["cells"] <= theirs["cells"] * 1.05


def test_protect_reports_its_work_and_statuses() -> None:
    frame = pl.DataFrame({"a": ["x", "x", "y", "y", "z", "z"], "b": ["p", "q"] * 3, "n": [3, 30, 40, 50, 60, 70]})
    table = build_table(frame, ["a", "b"], "n")
    result = protect(table, primary_cells(table.values, 10), 10)
    status = result.table_status()
    assert set(status) == {PUBLISHED, PRIMARY, SECONDARY}
    assert result.hypercubes == 1 and result.linear_programs == 0
    loss = result.information_loss()
    assert loss["primary_cells"] == 1 and loss["secondary_cells"] == 3  # the cheapest rectangle: 30, 40, 50
    assert loss["secondary_value"] == 30 + 40 + 50


# -- the command line ----------------------------------------------------------------------------------
def _invoke(*args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from esmonitor.cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_disclose_command_json_shape_and_the_audit_of_its_release(tmp_path: Path) -> None:
    source = tmp_path / "cells.csv"
    pl.DataFrame(VIGNETTE["datasets"]["dataset_a"]).drop("eu").write_csv(source)
    code, output = _invoke("disclose", str(source), "--dims", "age,geo", "--value", "freq", "--min-count", "3",
                           "--json")
    assert code == 0, output
    data = json.loads(output)
    assert set(data) >= {"cells"}
    assert len(data["cells"]) == 12 and all(set(c) == {"age", "geo", "value", "status"} for c in data["cells"])
    cells = {(c["age"], c["geo"]): c for c in data["cells"]}
    assert cells[(TOTAL, TOTAL)] == {"age": TOTAL, "geo": TOTAL, "value": 20.0, "status": "published"}
    assert cells[("young", "Iceland")]["status"] == "primary" and cells[("old", "Spain")]["status"] == "secondary"
    assert data["information_loss"]["suppressed_cells"] == 6
    # the masked release, audited: nothing narrower than K; then publish one hidden cell and it leaks
    release = tmp_path / "release.csv"
    code, _ = _invoke("disclose", str(source), "--dims", "age,geo", "--value", "freq", "--min-count", "3",
                      "--mask", "--out", str(release))
    assert code == 0 and pl.read_csv(release).filter(pl.col("status") != "published")["value"].null_count() == 6
    code, output = _invoke("disclosure-audit", str(release), "--dims", "age,geo", "--value", "value",
                           "--status", "status", "--min-count", "3", "--json")
    assert code == 0, output
    audit = json.loads(output)
    assert audit["exposed"] == 0 and len(audit["cells"]) == 6
    widths = {(c["age"], c["geo"]): (c["low"], c["high"]) for c in audit["cells"]}
    assert widths[("young", "Iceland")] == (0.0, 5.0)  # column total 5, row total 7: by hand
    leaky = pl.read_csv(release).with_columns(
        pl.when((pl.col("age") == "young") & (pl.col("geo") == "Spain")).then(5.0).otherwise(pl.col("value"))
        .alias("value")).drop("status")
    leaky.write_csv(tmp_path / "leaky.csv")
    code, output = _invoke("disclosure-audit", str(tmp_path / "leaky.csv"), "--dims", "age,geo", "--value", "value",
                           "--min-count", "3", "--json")
    assert code == 1
    report = json.loads(output[: output.rindex("}") + 1])  # the warning on standard error comes after
    found = {(c["age"], c["geo"]): c for c in report["cells"]}
    # young/Iceland + young/Portugal = 7 - 5: each is pinned to [0, 2]; old/Spain to exactly 6
    assert (found[("young", "Iceland")]["low"], found[("young", "Iceland")]["high"]) == (0.0, 2.0)
    assert found[("old", "Spain")]["width"] == 0.0 and found[("old", "Spain")]["exposed"]


def test_disclose_bad_input_names_file_row_column_value_and_rule(tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("area,n\nx,5\ny,-3\nz,12\n", "utf-8")
    code, output = _invoke("disclose", str(source), "--dims", "area", "--value", "n")
    assert code == 2
    text = " ".join(output.split())
    assert "bad.csv" in text and "row 2" in text and "column 'n'" in text and "value -3" in text
    assert "non-negative" in text and "Traceback" not in output
    code, output = _invoke("disclose", str(source), "--dims", "region", "--value", "n")
    assert code == 2 and "region" in output
    code, output = _invoke("disclose", str(tmp_path / "missing.csv"), "--dims", "a", "--value", "n")
    assert code == 2 and "not found" in output


def test_table_of_sums_dominance_and_contributor_rules_by_hand(tmp_path: Path) -> None:
    """Earnings by region x sector. N/retail: the two largest earners hold 950 of 1,000 (> 85 %);
    S/retail: 8 contributors (< 10). No margin is dominated (their two largest, found among the
    interior cells', hold under half). The cheapest protection hides the health column's two cells
    too; then N/retail lies anywhere in [0, 2500], far wider than 2 x 10 % of its 1,000."""
    rows = [("N", "retail", 1000, 900, 50, 12), ("N", "health", 2000, 500, 400, 20),
            ("S", "retail", 1500, 300, 200, 8), ("S", "health", 2500, 400, 300, 30)]
    source = tmp_path / "earnings.csv"
    schema = ["region", "sector", "earnings", "top1", "top2", "people"]
    pl.DataFrame(rows, schema=schema, orient="row").write_csv(source)
    code, output = _invoke("disclose", str(source), "--dims", "region,sector", "--value", "earnings", "--top1", "top1",
                           "--top2", "top2", "--contributors", "people", "--json")
    assert code == 0, output
    status = {(c["region"], c["sector"]): c["status"] for c in json.loads(output)["cells"]}
    assert {k for k, s in status.items() if s == "primary"} == {("N", "retail"), ("S", "retail")}
    assert {k for k, s in status.items() if s == "secondary"} == {("N", "health"), ("S", "health")}
    frame = pl.read_csv(source)
    table = build_table(frame, ["region", "sector"], "earnings")
    from esmonitor.disclosure.table import largest_contributions

    tops = dict(zip(table.cells.select("region", "sector").rows(),
                    map(tuple, largest_contributions(table, frame, "top1", "top2")), strict=True))
    assert tops[("N", TOTAL)] == (900.0, 500.0) and tops[(TOTAL, TOTAL)] == (900.0, 500.0)
    assert tops[(TOTAL, "health")] == (500.0, 400.0)
    hidden = np.array([status[k] != "published" for k in table.cells.select("region", "sector").rows()])
    widths = feasible_intervals(table.equations, table.values, hidden)
    n_retail = table.cells.filter((pl.col("region") == "N") & (pl.col("sector") == "retail"))["cell"][0]
    assert (widths[n_retail].low, widths[n_retail].high) == (0.0, 2500.0)
    # the (1, k) rule alone: 900 of 1,000 is over 85 % too; --top2 is then not needed
    code, output = _invoke("disclose", str(source), "--dims", "region,sector", "--value", "earnings", "--top1", "top1",
                           "--dominance", "1,0.85", "--json")
    assert code == 0 and {(c["region"], c["sector"]) for c in json.loads(output)["cells"]
                          if c["status"] == "primary"} == {("N", "retail")}
    code, output = _invoke("disclose", str(source), "--dims", "region,sector", "--value", "earnings", "--top1", "top1")
    assert code == 2 and "--top2" in output


def test_cells_nothing_published_bounds_are_zero_to_unbounded_unless_forced() -> None:
    """Nothing published: one linear program finds which cells a solution can move (their
    maximum is unbounded); a cell the equations force to zero keeps a maximum of 0. Checked
    against SciPy's linprog, cell by cell."""
    from scipy import sparse
    from scipy.optimize import linprog

    interior = pl.DataFrame({"a": ["x", "x", "y", "y"], "b": ["p", "q", "p", "q"], "n": [3.0, 0.0, 5.0, 2.0]})
    table = build_table(interior, ["a", "b"], "n")
    everything = np.ones(len(table), dtype=bool)
    found = feasible_intervals(table.equations, table.values, everything)
    assert all(iv.low == 0 and iv.high == np.inf for iv in found.values())
    # x0 - x1 = 0 and x1 + x2 = 0 force x0 = x1 = x2 = 0; x3 is free
    equations = sparse.csr_matrix(np.array([[1.0, -1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]))
    found = feasible_intervals(equations, np.zeros(4), np.ones(4, dtype=bool))
    for cell in range(4):
        c = np.zeros(4)
        c[cell] = -1.0
        high = linprog(c, A_eq=equations.toarray(), b_eq=np.zeros(3), bounds=(0, None), method="highs")
        expected = np.inf if high.status == 3 else -high.fun
        assert (found[cell].low, found[cell].high) == (0.0, expected)
    assert [found[c].high for c in range(4)] == [0.0, 0.0, 0.0, np.inf]


def test_a_table_of_mostly_small_counts_is_withheld_whole_and_stays_safe() -> None:
    """Most cells primary and beyond hypercubes: every cell but the locked ones is hidden, and
    the attacker (from the locked cells alone) finds every primary cell at least K wide."""
    rng = np.random.default_rng(3)
    codes = list(itertools.product([f"c{i}" for i in range(6)], [f"s{j}" for j in range(4)], ["k1", "k2", "k3"]))
    interior = pl.DataFrame({"c": [x[0] for x in codes], "s": [x[1] for x in codes], "k": [x[2] for x in codes],
                             "n": rng.integers(0, 4, len(codes)).astype(float)})
    table = build_table(interior, ["c", "s", "k"], "n")
    primary = primary_cells(table.values, 10)
    assert primary.mean() >= 0.6
    locked = np.array([k == frozenset() for k in table.keys])  # the grand total, published elsewhere
    result = protect(table, primary, 10, locked=locked & ~primary)
    hidden = result.suppressed
    assert hidden[~locked].all() and not hidden[locked & ~primary].any()
    intervals = feasible_intervals(table.equations, table.values, hidden, cells=np.flatnonzero(primary))
    assert all(iv.width >= 10 - 1e-7 for iv in intervals.values())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=2, max_value=5),
       st.integers(min_value=2, max_value=5), st.floats(min_value=0.2, max_value=0.8))
def test_skipping_solves_that_a_found_solution_settles_changes_no_interval(seed: int, rows: int, cols: int,
                                                                          share: float) -> None:
    """The attacker skips a linear program when a solution it already has reaches the bound that
    bound propagation gives; on random two-way tables with margins, some cells ``<5`` (in [1, 4])
    and some hidden, every interval equals the one from solving every program, and lies within
    the propagated bounds."""
    from esmonitor.disclosure import attacker

    rng = np.random.default_rng(seed)
    interior = rng.integers(0, 12, (rows, cols))
    frame = pl.DataFrame([{"r": f"r{i}", "c": f"c{j}", "v": int(interior[i, j])}
                          for i in range(rows) for j in range(cols)])
    table = build_table(frame, ["r", "c"], "v")
    values = np.asarray(table.values, dtype=float)
    hidden = rng.random(len(values)) < share
    small = hidden & (values >= 1) & (values <= 4) & (rng.random(len(values)) < 0.5)
    upper, lower = np.where(small, 4.0, np.inf), np.where(small, 1.0, 0.0)
    fast = feasible_intervals(table.equations, values, hidden, upper=upper, lower=lower)
    original = attacker._extremes
    try:
        attacker._extremes = lambda a, b, caps, targets: original(a, b, caps, targets, shortcut=False)  # type: ignore[assignment]
        slow = feasible_intervals(table.equations, values, hidden, upper=upper, lower=lower)
    finally:
        attacker._extremes = original  # type: ignore[assignment]
    assert fast.keys() == slow.keys()
    for c in fast:
        assert fast[c].low == pytest.approx(slow[c].low, abs=1e-6)
        assert fast[c].high == pytest.approx(slow[c].high, abs=1e-6)
        assert fast[c].low <= values[c] + 1e-6 and values[c] <= fast[c].high + 1e-6  # the truth is feasible


def test_bound_propagation_by_hand() -> None:
    """x + y = 10, y + z = 4, x, y, z >= 0, y <= 3: propagation gives x in [7, 10] (y is at most
    3), y in [0, 3], z in [1, 4]."""
    from scipy import sparse

    from esmonitor.disclosure.attacker import propagated_bounds

    a = sparse.csr_matrix(np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]))
    low, high = propagated_bounds(a, np.array([10.0, 4.0]), np.zeros(3), np.array([np.inf, 3.0, np.inf]))
    assert low.tolist() == [7.0, 0.0, 1.0] and high.tolist() == [10.0, 3.0, 4.0]
