"""Access tiers: each audience sees exactly what it should, through every command that exports;
the public indicator table survives the attacker."""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from conftest import Ingested
from esmonitor.cli import app
from esmonitor.disclosure.access import AUDIENCE_ENV, AccessDenied, Audience, resolve_audience
from esmonitor.disclosure.attacker import feasible_intervals
from esmonitor.disclosure.table import TOTAL, build_table
from esmonitor.errors import UserInputError

runner = CliRunner()


def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def two_providers(clean_ingested: Ingested) -> dict[str, str]:
    """Two providers and, for each, a client with a job start seen only at that provider."""
    with duckdb.connect(str(clean_ingested.warehouse), read_only=True) as con:
        rows = con.execute("""
            WITH seen AS (
                SELECT client_id, site_id FROM referral UNION ALL SELECT client_id, site_id FROM action_plan),
            only_one AS (
                SELECT x.client_id, min(s.provider_id) AS provider_id FROM seen x JOIN site s USING (site_id)
                GROUP BY 1 HAVING count(DISTINCT s.provider_id) = 1),
            started AS (
                SELECT DISTINCT o.client_id, o.provider_id FROM only_one o
                JOIN action_plan e USING (client_id) JOIN employment j ON j.client_id = e.client_id
                     AND j.job_start >= e.start_date)
            SELECT provider_id, min(client_id), count(*) FROM started GROUP BY 1 ORDER BY 3 DESC LIMIT 2""").fetchall()
    assert len(rows) == 2
    (p1, c1, _), (p2, c2, _) = rows
    return {"p1": p1, "c1": c1, "p2": p2, "c2": c2}


# -- the audience and its ceiling ------------------------------------------------------------------
@pytest.mark.parametrize(("ceiling", "asked", "allowed"), [
    (None, None, "province"), (None, "admin", "admin"), (None, "public", "public"),
    ("province", "ssm:S01", "ssm:S01"), ("province", "provider:P1", "provider:P1"), ("province", "admin", None),
    ("provider:P1", None, "provider:P1"), ("provider:P1", "public", "public"), ("provider:P1", "provider:P2", None),
    ("provider:P1", "province", None), ("provider:P1", "ssm:S01", None), ("ssm:S01", "provider:P1", None),
    ("public", "province", None), ("public", None, "public"), ("admin", "province", "province"),
])
def test_audience_ceiling_narrows_never_widens(ceiling: str | None, asked: str | None, allowed: str | None) -> None:
    if allowed is None:
        with pytest.raises(AccessDenied):
            resolve_audience(asked, ceiling or "")
    else:
        assert str(resolve_audience(asked, ceiling or "")) == allowed


@pytest.mark.parametrize("text", ["everyone", "provider", "ssm:", "province:ON", "admin:x"])
def test_bad_audiences_are_named(text: str) -> None:
    with pytest.raises(UserInputError):
        Audience.parse(text)


# -- record-level commands ---------------------------------------------------------------------------
def test_provider_cannot_read_another_providers_client(clean_ingested: Ingested, two_providers: dict) -> None:
    w = str(clean_ingested.warehouse)
    p1, c1, c2 = two_providers["p1"], two_providers["c1"], two_providers["c2"]
    code, own = _cli("outcomes", c1, "-w", w, "--audience", f"provider:{p1}")
    assert code == 0 and "placement" in own  # its own client: the checkpoints and the evidence
    code, full = _cli("outcomes", c2, "-w", w, "--audience", "province")
    assert code == 0 and "placement" in full
    code, other = _cli("outcomes", c2, "-w", w, "--audience", f"provider:{p1}")
    assert code == 0 and "placement" not in other
    code, unknown = _cli("outcomes", "no-such-client", "-w", w, "--audience", f"provider:{p1}")
    # indistinguishable from no one
    assert " ".join(other.replace(c2, "X").split()) == " ".join(unknown.replace("no-such-client", "X").split())
    # the same through the account's ceiling, with no --audience at all, and no way around it
    env = {AUDIENCE_ENV: f"provider:{p1}"}
    assert "placement" not in _cli("outcomes", c2, "-w", w, env=env)[1]
    assert _cli("outcomes", c2, "-w", w, "--audience", "province", env=env)[0] == 3
    assert _cli("outcomes", c2, "-w", w, "--audience", f"provider:{two_providers['p2']}", env=env)[0] == 3


@pytest.mark.parametrize("command", [["quarantine", "-o", "{tmp}/q.csv"], ["summary", "--json"]])
@pytest.mark.parametrize(("audience", "allowed"), [("public", False), ("provider:{p1}", False), ("ssm:{ssm}", False),
                                                   ("province", True), ("admin", True)])
def test_whole_warehouse_views_need_province(clean_ingested: Ingested, two_providers: dict, tmp_path,
                                             command: list[str], audience: str, allowed: bool) -> None:
    with duckdb.connect(str(clean_ingested.warehouse), read_only=True) as con:
        ssm = con.execute("SELECT min(ssm_id) FROM catchment").fetchone()[0]
    args = [a.format(tmp=tmp_path) for a in command]
    code, output = _cli(*args, "-w", str(clean_ingested.warehouse), "--audience",
                        audience.format(p1=two_providers["p1"], ssm=ssm))
    assert (code == 0) == allowed, output
    if not allowed:
        assert code == 3 and "audience" in output


def test_public_never_gets_a_record(clean_ingested: Ingested, two_providers: dict) -> None:
    code, output = _cli("outcomes", two_providers["c1"], "-w", str(clean_ingested.warehouse), "--audience", "public")
    assert code == 3 and "record-level" in output and "placement" not in output


# -- aggregates by scope -------------------------------------------------------------------------------
def _indicator(w: str, *args: str) -> pl.DataFrame:
    code, output = _cli("indicators", "-w", w, "--format", "csv", *args)
    assert code == 0, output
    from io import StringIO

    return pl.read_csv(StringIO(output), infer_schema_length=None)


def test_provider_and_ssm_aggregates_count_only_their_clients(clean_ingested: Ingested, two_providers: dict) -> None:
    w = str(clean_ingested.warehouse)
    p1 = two_providers["p1"]
    with duckdb.connect(w, read_only=True) as con:
        by_provider = dict(con.execute("""SELECT s.provider_id, count(*) FROM referral r JOIN site s USING (site_id)
                                          WHERE r.referral_date IS NOT NULL GROUP BY 1""").fetchall())
        catchment, ssm = con.execute("SELECT p.catchment_id, c.ssm_id FROM provider p JOIN catchment c "
                                     "USING (catchment_id) WHERE provider_id = ?", [p1]).fetchone()
        by_catchment = dict(con.execute("""SELECT p.catchment_id, count(*) FROM referral r JOIN site s USING (site_id)
                                           JOIN provider p USING (provider_id)
                                           WHERE r.referral_date IS NOT NULL GROUP BY 1""").fetchall())
        managed = [r[0] for r in con.execute("SELECT catchment_id FROM catchment WHERE ssm_id = ?", [ssm]).fetchall()]
    mine = _indicator(w, "--id", "referrals", "--grain", "all", "--by", "provider_id", "--audience", f"provider:{p1}")
    assert mine["provider_id"].to_list() == [p1]
    assert mine["value"].sum() == by_provider[p1]
    everyone = _indicator(w, "--id", "referrals", "--grain", "all", "--by", "provider_id")
    assert dict(zip(everyone["provider_id"], everyone["value"], strict=True)) == by_provider
    theirs = _indicator(w, "--id", "referrals", "--grain", "all", "--audience", f"ssm:{ssm}")
    assert theirs["value"].sum() == sum(by_catchment.get(c, 0) for c in managed)
    one = _indicator(w, "--id", "referrals", "--grain", "all", "--audience", f"ssm:{catchment}")
    assert one["value"].sum() == by_catchment[catchment]


def test_public_indicator_table_survives_the_attacker(warehouse_copy) -> None:
    """The public table (interior and margins) publishes no count below K; and an attacker who
    knows every published row cannot narrow any hidden small count (zeros included) below K —
    checked for a count and for both halves of a rate, against the private values."""
    w = str(warehouse_copy)  # its own: public releases go into the ledger
    k = 10
    ids = "referrals,job_start_rate"
    keys = ["period", "catchment_id", "stream"]
    public = _indicator(w, "--id", ids, "--by", "catchment_id,stream", "--grain", "fiscal_year", "--audience",
                        "public", "--min-count", str(k)).with_columns(pl.col(keys).cast(pl.String))
    private = _indicator(w, "--id", ids, "--by", "catchment_id,stream", "--grain", "fiscal_year").with_columns(
        pl.col(keys).cast(pl.String).fill_null("(missing)"))
    assert set(public["status"]) == {"published", "primary", "secondary"}
    margins = public.filter(pl.any_horizontal([pl.col(c) == TOTAL for c in keys]))
    assert margins.filter((pl.col("period") == TOTAL) & (pl.col("catchment_id") == TOTAL)).height >= 2
    shown = public.filter(pl.col("status") == "published")
    rate = shown.filter(pl.col("indicator") == "job_start_rate")
    assert (rate["denominator"] >= k).all() and (rate["numerator"] >= k).all()
    assert (rate["value"] - rate["numerator"] / rate["denominator"]).abs().max() < 1e-12
    assert (shown.filter(pl.col("indicator") == "referrals")["value"] >= k).all()
    hidden = public.filter(pl.col("status") != "published")
    assert hidden["value"].is_null().all() and hidden["denominator"].is_null().all()
    # a published margin is the engine's own figure at that level: the grand total of referrals
    grand = shown.filter((pl.col("indicator") == "referrals") & pl.all_horizontal([pl.col(c) == TOTAL for c in keys]))
    assert grand["value"].to_list() == [private.filter(pl.col("indicator") == "referrals")["value"].sum()]
    for indicator, column in (("referrals", "value"), ("job_start_rate", "numerator"),
                              ("job_start_rate", "denominator")):
        values = private.filter(pl.col("indicator") == indicator).select(*keys, column)
        table = build_table(values, keys, column)
        cells = table.cells.join(public.filter(pl.col("indicator") == indicator).select(*keys, "status"),
                                 on=keys, how="left").sort("cell")
        assert cells["status"].null_count() == 0  # every cell of the grid has a row
        suppressed = (cells["status"] != "published").to_numpy()
        small = table.values < k
        assert (suppressed >= small).all()
        intervals = feasible_intervals(table.equations, table.values, suppressed, cells=np.flatnonzero(small))
        assert len(intervals) == small.sum() > 0
        assert all(iv.width >= k - 1e-6 for iv in intervals.values()), indicator


def test_provider_ratings_and_creaming_by_audience(warehouse_copy, two_providers: dict, tmp_path) -> None:
    import json

    w = str(warehouse_copy)  # its own: public releases go into the ledger
    k = 10
    code, output = _cli("evaluate", "providers", "-w", w, "--json")
    assert code == 0, output
    everyone = {p["provider"]: p for p in json.loads(output)["providers"]}
    code, output = _cli("evaluate", "providers", "-w", w, "--json", "--audience", "public", "--min-count", str(k))
    assert code == 0, output
    public = {p["provider"]: p for p in json.loads(output[output.index("{"):])["providers"]}
    enough = {p for p, r in everyone.items() if min(r["n"] * r["observed"], r["n"] * (1 - r["observed"])) >= k - 1e-9}
    assert set(public) == enough and enough != set(everyone)  # some are withheld, the rest are unchanged
    for p in public:  # two fits of the same model: equal up to floating-point noise
        assert public[p]["band"] == everyone[p]["band"] and public[p]["n"] == everyone[p]["n"]
        assert public[p]["ratio"] == pytest.approx(everyone[p]["ratio"], rel=1e-6)
    small = min(everyone, key=lambda p: min(everyone[p]["n"] * everyone[p]["observed"],
                                            everyone[p]["n"] * (1 - everyone[p]["observed"])))
    code, output = _cli("evaluate", "providers", "-w", w, "--json", "--audience", f"provider:{small}")
    assert code == 0 and small in {p["provider"] for p in json.loads(output[output.index("{"):])["providers"]}
    # creaming counts: never public; a provider gets its own rows only
    assert _cli("evaluate", "providers", "-w", w, "--audience", "public", "--creaming", str(tmp_path / "c.csv"))[0] == 3
    p1 = two_providers["p1"]
    code, output = _cli("evaluate", "providers", "-w", w, "--audience", f"provider:{p1}", "--creaming",
                        str(tmp_path / "mine.csv"))
    assert code == 0, output
    assert set(pl.read_csv(tmp_path / "mine.csv")["provider_id"]) == {p1}
