"""The release gate and its ledger: a deployment's floor, whole periods, and public releases
protected jointly with every earlier release of the same data (attacked by a second,
independent linear program over the finest cells)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.optimize import linprog

from esmonitor.disclosure import ledger
from esmonitor.disclosure.access import AccessDenied, resolve_policy
from esmonitor.disclosure.gate import Gate
from esmonitor.disclosure.joint import (
    PERIOD_CHAIN,
    PLACE_CHAIN,
    ReleaseRefused,
    attack,
    canonical_key,
    exposed,
    fiscal_year_of_quarter,
    quarter_of_month,
    super_table,
)
from esmonitor.disclosure.release import public_indicators
from esmonitor.indicators.engine import Frames, frames_from
from esmonitor.synth import SynthConfig, generate
from esmonitor.synth.loader import load_province
from esmonitor.warehouse import Warehouse

K = 10
RELEASES = ((["provider_id"], "quarter"), (["provider_id"], "fiscal_year"), (["catchment_id"], "quarter"))


def _province(folder: Path, clients: int) -> tuple[Path, Frames]:
    path = folder / "w.duckdb"
    with Warehouse(path) as w:
        load_province(w, generate(SynthConfig(clients=clients, seed=11)))
        frames = frames_from(w, needed=["referral"])
    return path, frames


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Frames]:
    return _province(tmp_path_factory.mktemp("ledger"), 2_000)


@pytest.fixture(scope="module")
def larger(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Frames]:
    return _province(tmp_path_factory.mktemp("ledger-larger"), 20_000)


def _clear(path: Path) -> None:
    with Warehouse(path) as w:
        w.execute("DELETE FROM _release_cells")
        w.execute("DELETE FROM _releases")


# -- the deployment's policy --------------------------------------------------------------------------
def test_the_floor_can_be_raised_never_lowered(tmp_path: Path) -> None:
    assert resolve_policy("public").min_count == 10
    assert resolve_policy("public", 15).min_count == 15
    with pytest.raises(AccessDenied, match="below the floor of K = 10"):
        resolve_policy("public", 1)
    with pytest.raises(AccessDenied, match="zero counts"):
        resolve_policy("public", publish_zeros=True)
    pinned = {"ESMONITOR_AUDIENCE": "public"}
    assert str(resolve_policy(None, environ=pinned).audience) == "public"
    with pytest.raises(AccessDenied, match="limited to public"):
        resolve_policy("province", environ=pinned)
    with pytest.raises(AccessDenied):
        resolve_policy(None, 1, environ=pinned)
    policy = tmp_path / "policy.toml"
    policy.write_text('audience = "public"\nmin_count = 5\npublish_zeros = true\n', "utf-8")
    env = {"ESMONITOR_POLICY": str(policy)}
    chosen = resolve_policy(None, environ=env)
    assert (str(chosen.audience), chosen.min_count, chosen.publish_zeros) == ("public", 5, False)
    assert resolve_policy(None, 5, publish_zeros=True, environ=env).publish_zeros
    with pytest.raises(AccessDenied, match="floor of K = 5"):
        resolve_policy(None, 4, environ=env)
    with pytest.raises(AccessDenied, match="limited to public"):
        resolve_policy("admin", environ=env)
    assert resolve_policy("admin", 1).min_count == 1  # no disclosure control for the whole province


def test_a_bad_policy_file_is_refused_with_its_rule(tmp_path: Path) -> None:
    bad = tmp_path / "policy.toml"
    bad.write_text("min_count = 0\n", "utf-8")
    with pytest.raises(Exception, match="min_count = 0: input should be greater than or equal to 1"):
        resolve_policy("public", environ={"ESMONITOR_POLICY": str(bad)})
    bad.write_text("min_count = 10\nmin_cont = 3\n", "utf-8")
    with pytest.raises(Exception, match=r"unknown key 'min_cont' \(allowed: audience, min_count, publish_zeros\)"):
        resolve_policy("public", environ={"ESMONITOR_POLICY": str(bad)})
    bad.write_text('publish_zeros = "no"\n', "utf-8")
    with pytest.raises(Exception, match="publish_zeros = 'no': input should be a valid boolean"):
        resolve_policy("public", environ={"ESMONITOR_POLICY": str(bad)})
    with pytest.raises(Exception, match="not found"):
        resolve_policy("public", environ={"ESMONITOR_POLICY": str(tmp_path / "none.toml")})


# -- whole periods ---------------------------------------------------------------------------------------
def test_a_window_moved_by_a_day_is_refused(province: tuple[Path, Frames]) -> None:
    path, frames = province
    _clear(path)
    gate = Gate.open(path, "indicators", "public")
    with pytest.raises(ReleaseRefused, match="middle of a quarter") as err:
        gate.indicators(frames, ["referrals"], ["catchment_id"], "quarter", start=date(2023, 4, 2))
    assert "--from 2023-04-01" in (err.value.hint or "")
    with pytest.raises(ReleaseRefused, match="middle of a fiscal year"):
        gate.indicators(frames, ["referrals"], ["catchment_id"], "fiscal_year", end=date(2024, 3, 30))
    table = gate.indicators(frames, ["referrals"], ["catchment_id"], "quarter", start=date(2023, 4, 1),
                            end=date(2024, 3, 31))
    assert set(table["period"].to_list()) == {"2023Q2", "2023Q3", "2023Q4", "2024Q1"}  # no window total
    with pytest.raises(ReleaseRefused, match="as-of"):
        gate.indicators(frames, ["referrals"], ["catchment_id"], "quarter", as_of=date(2024, 1, 1))


# -- joint protection ----------------------------------------------------------------------------------
def _independent_attack(releases: list[pl.DataFrame], parents: dict[str, str], cells: list[dict[str, str]],
                        ) -> list[tuple[float, float]]:
    """min and max of each cell in ``cells`` over non-negative provider × quarter counts that
    agree with every published cell of ``releases`` (SciPy's linprog: a second implementation)."""
    atoms = sorted({(r["provider_id"], r["period"]) for t in releases for r in t.iter_rows(named=True)
                    if r.get("provider_id") not in (None, "Total") and r["grain"] == "quarter"
                    and r["period"] != "Total"})
    index = {a: i for i, a in enumerate(atoms)}

    def members(row: dict[str, str]) -> np.ndarray:
        vector = np.zeros(len(atoms))
        for (provider, quarter), i in index.items():
            if "provider_id" in row and row["provider_id"] != "Total" and row["provider_id"] != provider:
                continue
            if "catchment_id" in row and row["catchment_id"] != "Total" and row["catchment_id"] != parents[provider]:
                continue
            period = row["period"]
            if period != "Total" and period not in (quarter, fiscal_year_of_quarter(quarter)):
                continue
            vector[i] = 1.0
        return vector

    rows, rhs = [], []
    for t in releases:
        for r in t.filter(pl.col("status") == "published").iter_rows(named=True):
            rows.append(members(r))
            rhs.append(r["value"])
    a, b = np.array(rows), np.array(rhs)
    out = []
    for cell in cells:
        c = members(cell)
        low = linprog(c, A_eq=a, b_eq=b, bounds=(0, None), method="highs")
        high = linprog(-c, A_eq=a, b_eq=b, bounds=(0, None), method="highs")
        assert low.status == 0 and high.status in (0, 3)
        out.append((low.fun, np.inf if high.status == 3 else -high.fun))
    return out


def _primaries(releases: list[pl.DataFrame], truth: list[pl.DataFrame], seed: int, n: int,
               among: slice = slice(None)) -> list[dict[str, str]]:
    rows = [{k: v for k, v in r.items() if k in ("provider_id", "catchment_id", "period") and v is not None}
            | {"_true": t}
            for rel, tru in list(zip(releases, truth, strict=True))[among]
            for r, t in zip(rel.iter_rows(named=True), tru["value"].to_list(), strict=True)
            if r["status"] == "primary" and 0 < t < K]
    rng = np.random.default_rng(seed)
    return [rows[i] for i in rng.choice(len(rows), size=min(n, len(rows)), replace=False)]


def test_releases_protected_jointly_narrow_no_primary_cell(province: tuple[Path, Frames]) -> None:
    path, frames = province
    _clear(path)
    gate = Gate.open(path, "indicators", "public")
    released = [gate.indicators(frames, ["referrals"], by, grain) for by, grain in RELEASES]
    with Warehouse(path, read_only=True) as w:
        parents = dict(w.fetchall("SELECT provider_id, catchment_id FROM provider"))
        records = ledger.releases(w, w.data_version())
        old = ledger.earlier(w, w.data_version(), ["indicator:referrals:value"])["indicator:referrals:value"]
    assert [r.product for r in records] == ["indicators"] * 3 and all(r.min_count == K for r in records)
    # the ledger's own attack over every release at once
    found = attack(gate.indicator_measure(frames, "referrals", "value"), old)
    assert len(found) > 100 and not exposed(found, K)
    # the audit, from the ledger and the reference data alone, finds the same intervals
    with Warehouse(path, read_only=True) as w:
        audited = {(a.cell, round(a.low, 6), round(a.high, 6)) for a in ledger.audit(w)}
    assert audited == {(ledger.key_text(e.key), round(e.low, 6), round(e.high, 6)) for e in found}
    # a second attacker over the finest cells, on what the public holds
    truth = [public_indicators(frames, ["referrals"], by, grain, min_count=1, publish_zeros=True)
             for by, grain in RELEASES]
    truth = [t.join(r.select("period", *by), on=["period", *by], how="semi") for t, (by, _), r in
             zip(truth, RELEASES, released, strict=True)]
    truth = [r.select("period", *by).join(t, on=["period", *by], how="left").select(pl.col("value").fill_null(0.0))
             for t, (by, _), r in zip(truth, RELEASES, released, strict=True)]
    cells = _primaries(released, truth, seed=3, n=40)
    assert len(cells) == 40
    for cell, (low, high) in zip(cells, _independent_attack(released, parents, cells), strict=True):
        assert low - 1e-6 <= cell["_true"] <= high + 1e-6
        assert high - low >= K - 1e-6, cell


def _month_attack(releases: list[pl.DataFrame], parents: dict[str, str], providers: list[str], sources: list[str],
                  months: list[str], cells: list[dict[str, str]]) -> list[tuple[float, float]]:
    """min and max of each cell over non-negative provider × source × month counts (the full
    table, not the linked tables the gate uses) that agree with every published cell."""
    from scipy import sparse

    atoms = [(p, s, m) for p in providers for s in sources for m in months]
    quarter = {m: quarter_of_month(m) for m in months}

    def members(row: dict[str, str]) -> list[int]:
        out = []
        for i, (provider, source, month) in enumerate(atoms):
            if row.get("provider_id", "Total") not in ("Total", provider):
                continue
            if row.get("catchment_id", "Total") not in ("Total", parents[provider]):
                continue
            if row.get("source", "Total") not in ("Total", source):
                continue
            if row["period"] not in ("Total", month, quarter[month], fiscal_year_of_quarter(quarter[month])):
                continue
            out.append(i)
        return out

    rows, cols, rhs = [], [], []
    for t in releases:
        for r in t.filter(pl.col("status") == "published").iter_rows(named=True):
            found = members(r)
            rows += [len(rhs)] * len(found)
            cols += found
            rhs.append(r["value"])
    a = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(rhs), len(atoms)))
    out = []
    for cell in cells:
        c = np.zeros(len(atoms))
        c[members(cell)] = 1.0
        low = linprog(c, A_eq=a, b_eq=np.array(rhs), bounds=(0, None), method="highs")
        high = linprog(-c, A_eq=a, b_eq=np.array(rhs), bounds=(0, None), method="highs")
        assert low.status == 0 and high.status in (0, 3)
        out.append((low.fun, np.inf if high.status == 3 else -high.fun))
    return out


def test_releases_of_different_breakdowns_are_linked_through_what_they_share(province: tuple[Path, Frames]) -> None:
    """Releases by provider × fiscal year, by source × quarter and by catchment × month are
    protected as three linked tables (not their product); the attacker over the full provider ×
    source × month table finds the same interval for each primary cell, and none narrower than K."""
    path, frames = province
    _clear(path)
    gate = Gate.open(path, "indicators", "public")
    breakdowns = ((["provider_id"], "fiscal_year"), (["source"], "quarter"), (["catchment_id"], "month"))
    released = [gate.indicators(frames, ["referrals"], by, grain) for by, grain in breakdowns]
    with Warehouse(path, read_only=True) as w:
        parents = dict(w.fetchall("SELECT provider_id, catchment_id FROM provider"))
        old = ledger.earlier(w, w.data_version(), ["indicator:referrals:value"])["indicator:referrals:value"]
    measure = gate.indicator_measure(frames, "referrals", "value")
    joint = super_table(measure, [r.keys for r in old])
    assert len(joint.system.tables) == 3
    found = {frozenset(dict(e.key).items()): e for e in attack(measure, old)}
    assert found and not exposed(list(found.values()), K)
    providers = sorted(released[0].filter(pl.col("provider_id") != "Total")["provider_id"].unique().to_list())
    sources = sorted(released[1].filter(pl.col("source") != "Total")["source"].unique().to_list())
    months = sorted(released[2].filter(pl.col("period") != "Total")["period"].unique().to_list())
    hidden = [{k: v for k, v in r.items() if k in ("provider_id", "source", "catchment_id", "period")}
              for t in released for r in t.filter(pl.col("status") == "primary").iter_rows(named=True)]
    rng = np.random.default_rng(5)
    cells = [hidden[i] for i in rng.choice(len(hidden), size=min(25, len(hidden)), replace=False)]
    assert len(cells) >= 20
    for cell, (low, high) in zip(cells, _month_attack(released, parents, providers, sources, months, cells),
                                 strict=True):
        assert high - low >= K - 1e-6, cell
        codes = {k: v for k, v in cell.items() if k != "period" and v != "Total"}
        period = cell["period"]
        if period != "Total":
            codes["month" if len(period) == 7 else "quarter" if "Q" in period else "fiscal_year"] = period
        mine = found[frozenset(canonical_key(codes, (PERIOD_CHAIN, PLACE_CHAIN)))]
        assert (round(mine.low, 5), round(mine.high, 5)) == (round(low, 5), round(high, 5)), cell


def test_the_same_releases_protected_alone_expose_cells(larger: tuple[Path, Frames]) -> None:
    """The attack the gate answers: each release protected on its own leaks when combined."""
    path, frames = larger
    alone = [public_indicators(frames, ["referrals"], by, grain) for by, grain in RELEASES]
    with Warehouse(path, read_only=True) as w:
        parents = dict(w.fetchall("SELECT provider_id, catchment_id FROM provider"))
    truth = [public_indicators(frames, ["referrals"], by, grain, min_count=1, publish_zeros=True)
             .select(pl.col("value")) for by, grain in RELEASES]
    cells = _primaries(alone, truth, seed=4, n=60, among=slice(1, None))  # coarser cells: sums of finer ones
    narrow = [c for c, (low, high) in zip(cells, _independent_attack(alone, parents, cells), strict=True)
              if high - low < K - 1e-6]
    assert narrow, "releases protected one at a time should be narrowed when combined"


def test_a_pinned_public_account_cannot_lower_the_floor_or_shift_a_window(province: tuple[Path, Frames],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from esmonitor.cli import app

    path, _ = province
    monkeypatch.setenv("ESMONITOR_AUDIENCE", "public")
    runner = CliRunner()
    base = ["indicators", "-w", str(path), "--id", "referrals", "--by", "catchment_id", "--format", "csv"]
    low = runner.invoke(app, [*base, "--min-count", "1", "--publish-zeros"])
    assert low.exit_code == 3 and "below the floor of K = 10" in low.output and "Traceback" not in low.output
    zeros = runner.invoke(app, [*base, "--publish-zeros"])
    assert zeros.exit_code == 3 and "zero counts" in zeros.output
    shifted = runner.invoke(app, [*base, "--grain", "quarter", "--from", "2023-04-02"])
    assert shifted.exit_code == 3 and "middle of a quarter" in shifted.output and "--from 2023-04-01" in shifted.output
    ratings = runner.invoke(app, ["evaluate", "providers", "-w", str(path), "--min-count", "1", "--json"])
    assert ratings.exit_code == 3 and "floor" in ratings.output


def test_two_tables_of_one_measure_in_one_release_are_protected_together(province: tuple[Path, Frames]) -> None:
    """A product that puts out one measure twice (by provider, and by catchment × source) is one
    set of cells: the attacker over both finds no primary cell narrower than K."""
    path, frames = province
    _clear(path)
    gate = Gate.open(path, "test", "public")
    referrals = frames.get("referral")
    parts = [gate.counted("test:referrals", referrals, ["provider_id"]),
             gate.counted("test:referrals", referrals, ["catchment_id", "source"])]
    tables = gate.protect_parts("test", parts)
    assert all("status" in t.columns for t in tables)
    with Warehouse(path, read_only=True) as w:
        old = ledger.earlier(w, w.data_version(), ["test:referrals"])["test:referrals"]
    assert len(old) == 1 and len(old[0].keys) == len(set(parts[0][0].keys) | set(parts[1][0].keys))
    found = attack(gate.frame_measure("test:referrals", referrals), old)
    assert found and not exposed(found, K)


def test_releases_and_the_ledger_audit_commands(province: tuple[Path, Frames]) -> None:
    """`esmonitor releases` lists the ledger; `disclosure-audit --ledger` attacks it whole, passes
    on the gate's releases and fails (exit 1) once a release publishes what hid a primary cell."""
    import json

    from typer.testing import CliRunner

    from esmonitor.cli import app

    path, frames = province
    _clear(path)
    gate = Gate.open(path, "indicators", "public", parameters={"by": "provider_id"})
    gate.indicators(frames, ["referrals"], ["provider_id"], "fiscal_year")
    runner = CliRunner()
    listed = runner.invoke(app, ["releases", "-w", str(path), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)["releases"]
    assert [(r["product"], r["min_count"], r["parameters"]) for r in rows] == [
        ("indicators", 10.0, {"by": "provider_id"})]
    audited = runner.invoke(app, ["disclosure-audit", "--ledger", "-w", str(path), "--json"])
    assert audited.exit_code == 0, audited.output
    report = json.loads(audited.output)
    assert report["exposed"] == 0 and len(report["cells"]) > 10
    assert runner.invoke(app, ["releases", "-w", str(path), "--audience", "public"]).exit_code == 3
    with Warehouse(path) as w:  # a careless second release: the same cells, all published but one primary
        version = w.data_version()
        (first,) = ledger.earlier(w, version, ["indicator:referrals:value"])["indicator:referrals:value"]
        kept = int(np.flatnonzero((first.status == "primary") & (first.values > 0))[0])
        careless = np.full(first.status.shape, "published", dtype=object)
        careless[kept] = "primary"
        ledger.record(w, data_version=version, audience="public", min_count=K, publish_zeros=False,
                      product="indicators", command="test", parameters={}, synthetic=True,
                      cells={"indicator:referrals:value": (first.keys, first.values.tolist(), careless.tolist())})
    leaky = runner.invoke(app, ["disclosure-audit", "--ledger", "-w", str(path), "--json"])
    assert leaky.exit_code == 1 and json.loads(leaky.output[: leaky.output.rindex("}") + 1])["exposed"] > 0


def test_a_release_at_a_higher_k_binds_no_later_release_at_the_floor(province: tuple[Path, Frames]) -> None:
    """A release made with K = 40 withholds counts of 10 to 39 as if they were small; a later
    release of the same table at the floor (K = 10) publishes most of them, while
    every count below 10 stays K wide against both releases at once (the ledger's attacker and the
    audit command agree)."""
    import json

    from typer.testing import CliRunner

    from esmonitor.cli import app

    path, frames = province
    _clear(path)
    measure = "indicator:referrals:value"
    Gate.open(path, "indicators", "public", min_count=40).indicators(frames, ["referrals"], ["catchment_id"], "quarter")
    Gate.open(path, "indicators", "public").indicators(frames, ["referrals"], ["catchment_id"], "quarter")
    with Warehouse(path, read_only=True) as w:
        high, floor = ledger.earlier(w, w.data_version(), [measure])[measure]
    _clear(path)
    Gate.open(path, "indicators", "public").indicators(frames, ["referrals"], ["catchment_id"], "quarter")
    with Warehouse(path, read_only=True) as w:
        (alone,) = ledger.earlier(w, w.data_version(), [measure])[measure]
    before = dict(zip(high.keys, high.status, strict=True))
    after = dict(zip(floor.keys, floor.status, strict=True))
    middle = [k for k, v in zip(high.keys, high.values, strict=True) if before[k] == "primary" and v >= K]
    assert len(middle) > 10 and sum(after[k] == "published" for k in middle) > len(middle) / 2
    # what the first hid to protect others stays hidden; the rest is as the floor release alone
    lone = dict(zip(alone.keys, alone.status, strict=True))
    assert all(after[k] == lone[k] for k in after if before.get(k) != "secondary" and lone[k] == "primary")
    found = attack(Gate.open(path, "indicators", "public").indicator_measure(frames, "referrals", "value"),
                   [high, floor])
    small = [e for e in found if e.value < K]
    assert len(small) > 10 and not exposed(small, K)
    with Warehouse(path) as w:  # the audit command on the two releases
        version = w.data_version()
        w.execute("DELETE FROM _release_cells")
        w.execute("DELETE FROM _releases")
        for r, k in ((high, 40), (floor, K)):
            ledger.record(w, data_version=version, audience="public", min_count=k, publish_zeros=False,
                          product="indicators", command="test", parameters={}, synthetic=True,
                          cells={measure: (r.keys, r.values.tolist(), r.status.tolist())})
    audited = CliRunner().invoke(app, ["disclosure-audit", "--ledger", "-w", str(path), "--json"])
    assert audited.exit_code == 0, audited.output
    report = json.loads(audited.output)
    assert report["exposed"] == 0 and report["min_count"] == K
    assert {c["cell"] for c in report["cells"]} == {ledger.key_text(e.key) for e in small}
