"""Indicators from published tables (aggregate observations), in the same tidy table as the
record-level ones, with where each number comes from and the bounds suppression leaves.

A published table hides some cells (``<5``, ``x``); what it still publishes — its totals, the
other cells of a row — pins each hidden cell to an interval. Those intervals are the tightest ones
consistent with the table's own margins: the disclosure attacker's linear programs (HiGHS) over
the table's additive relations (:func:`esmonitor.model.aggregates.relations`), with ``<5`` cells
at least 1 and at most 4. A rate whose numerator or denominator is hidden is then only partially
identified: ``bound_low``/``bound_high`` hold the rates possible across those intervals, and the
interval (``ci_low``/``ci_high``) is the union of the Wilson (rates) or Newcombe (gaps) intervals
over the corners of the box of possible counts — it holds sampling uncertainty and suppression
together. A rate made of published numbers has equal bounds and the ordinary interval.

Indicators (bilingual definitions in :data:`DEFINITIONS`): ``employed_exit_reported`` and
``employed_{1,3,6,12}m_reported`` (employed at that checkpoint over the clients the source counts
for it), ``sa_referral_to_intake`` (intakes of social-assistance clients over their referrals) and
``gap_employed_3m_social_assistance`` (non-SA minus SA rate at 3 months: positive when SA clients
are behind, as the catalogue's gaps are), by catchment, fiscal year and demographic group.
Site-level sources are summed to the catchment (and their bounds with them).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import sparse

from esmonitor.errors import EsmonitorError
from esmonitor.indicators.stats import newcombe_difference, wilson
from esmonitor.model.aggregates import relations
from esmonitor.warehouse import Warehouse
from esmonitor.warehouse import schema as S


@dataclass(frozen=True)
class Definition:
    en: str
    fr: str
    definition_en: str
    definition_fr: str


_CHECKPOINTS = {0: ("at exit", "à la sortie"), 1: ("at 1 month", "à 1 mois"), 3: ("at 3 months", "à 3 mois"),
                6: ("at 6 months", "à 6 mois"), 12: ("at 12 months", "à 12 mois")}


def _employed_id(k: int) -> str:
    return "employed_exit_reported" if k == 0 else f"employed_{k}m_reported"


DEFINITIONS: dict[str, Definition] = {
    **{_employed_id(k): Definition(
        f"Employed {en} (as published)", f"En emploi {fr} (tel que publié)",
        f"Clients the source reports employed {en} over the clients it counts for that checkpoint (the "
        "total with a status where it gives one, else the clients assisted less those with no outcome "
        "recorded). Not the funded-outcome "
        "rate: sources define employment and the checkpoint their own way.",
        f"Clients que la source déclare en emploi {fr} sur les clients qu'elle compte pour ce point de "
        "contrôle (le total ayant un statut s'il est donné, sinon les clients aidés moins ceux sans résultat "
        "inscrit). Ce n'est pas "
        "le taux de résultats financés : chaque source définit l'emploi et le point de contrôle.")
      for k, (en, fr) in _CHECKPOINTS.items()},
    "sa_referral_to_intake": Definition(
        "Intakes per referral of social-assistance clients (as published)",
        "Accueils par aiguillage des clients de l'aide sociale (tel que publié)",
        "Intakes of social-assistance clients over their referrals to employment services, same catchment "
        "and fiscal year.",
        "Accueils de clients de l'aide sociale sur leurs aiguillages vers les services d'emploi, même zone "
        "et même exercice."),
    "gap_employed_3m_social_assistance": Definition(
        "Employment gap at 3 months: social-assistance clients (as published)",
        "Écart d'emploi à 3 mois : clients de l'aide sociale (tel que publié)",
        "Share employed at 3 months of other clients minus that of social-assistance clients, in proportion "
        "points (positive: SA clients are behind), with Newcombe's interval over the counts suppression "
        "allows.",
        "Part en emploi à 3 mois des autres clients moins celle des clients de l'aide sociale, en points de "
        "proportion (positif : les clients de l'aide sociale sont en retard), avec l'intervalle de Newcombe "
        "sur les effectifs que la suppression permet."),
}
INDICATORS = tuple(DEFINITIONS)

#: The breakdowns of an aggregate indicator row.
BY = ("catchment_id", "client_type", "dimension", "group")
COLUMNS = ("indicator", "grain", "period", *BY, "numerator", "denominator", "value", "ci_low", "ci_high",
           "ci_method", "release", "bound_low", "bound_high")


def holds(warehouse: Warehouse) -> dict[str, bool]:
    """Whether the warehouse holds record-level extracts, published tables, or both."""
    return {"record": warehouse.count("client") > 0, "aggregate": warehouse.count(S.AGG_OBSERVATIONS_TABLE) > 0}


def observations(warehouse: Warehouse) -> pl.DataFrame:
    import sqlglot.expressions as exp

    found = pl.from_arrow(warehouse.arrow(exp.select("*").from_(exp.to_table(S.AGG_OBSERVATIONS_TABLE))))
    assert isinstance(found, pl.DataFrame)
    return found


def cell_bounds(obs: pl.DataFrame) -> pl.DataFrame:
    """Each count's interval: a published count is its value; a hidden one (suppressed, or not
    available) the tightest interval its release's relations allow, ``low`` and ``high``."""
    out = []
    for _, part in obs.with_row_index("_pos").group_by("release_id", maintain_order=True):
        out.append(_release_bounds(part.drop("_pos")))
    if not out:
        return obs.with_columns(pl.lit(None, dtype=pl.Float64).alias("low"),
                                pl.lit(None, dtype=pl.Float64).alias("high"))
    return pl.concat(out, how="vertical")


def _release_bounds(obs: pl.DataFrame) -> pl.DataFrame:
    from esmonitor.disclosure.attacker import feasible_intervals

    n = obs.height
    published = obs.get_column("value").is_not_null().to_numpy()
    low = np.where(published, obs.get_column("value").fill_null(0).to_numpy(), np.nan)
    high = low.copy()
    hidden = ~published
    floor = obs.get_column("bound_low").fill_null(0).to_numpy().astype(float)
    cap = obs.get_column("bound_high").fill_null(np.inf).to_numpy().astype(float)
    edges = relations(obs)
    if hidden.any() and not edges.is_empty():
        # only the relations with a hidden cell say anything about one (the others hold among
        # published numbers); numbered afresh so that the matrix has no empty rows
        concerned = edges.filter(pl.Series(hidden[edges["total"].to_numpy()] | hidden[edges["part"].to_numpy()]))
        edges = edges.filter(pl.col("rel").is_in(concerned.get_column("rel").unique().implode()))
        edges = edges.with_columns(pl.col("rel").rank("dense").cast(pl.Int64).sub(1).alias("rel"))
    if hidden.any() and not edges.is_empty():
        rels = edges.select("rel", "equal").unique("rel").sort("rel")
        loose = rels.filter(~pl.col("equal")).get_column("rel").to_numpy()  # parts may not be all: a slack each
        slack = np.arange(len(loose))
        size = n + len(loose)
        totals = edges.select("rel", "total").unique()
        rows = np.concatenate([totals["rel"].to_numpy(), loose, edges["rel"].to_numpy()])
        cols = np.concatenate([totals["total"].to_numpy(), n + slack, edges["part"].to_numpy()])
        vals = np.concatenate([np.ones(totals.height), -np.ones(len(loose)), -np.ones(edges.height)])
        a = sparse.csr_matrix((vals, (rows, cols)), shape=(len(rels), size))
        values = np.concatenate([np.nan_to_num(low, nan=0.0), np.zeros(len(loose))])
        unknown = np.concatenate([hidden, np.ones(len(loose), dtype=bool)])
        upper = np.concatenate([cap, np.full(len(loose), np.inf)])
        lower = np.concatenate([np.where(hidden, floor, 0.0), np.zeros(len(loose))])
        involved = np.zeros(n, dtype=bool)
        involved[edges["total"].to_numpy()] = True
        involved[edges["part"].to_numpy()] = True
        wanted = np.flatnonzero(hidden & involved)
        try:
            found = feasible_intervals(a, values, unknown, cells=wanted, upper=upper, lower=lower)
        except EsmonitorError:  # the table contradicts itself: only each cell's own code bounds it
            found = {}
        for cell, iv in found.items():
            low[cell], high[cell] = iv.low, iv.high
    alone = hidden & np.isnan(low)  # hidden, in no relation: only its own code bounds it
    low[alone], high[alone] = floor[alone], cap[alone]
    return obs.with_columns(pl.Series("low", low), pl.Series("high", high))


RELEASE_FIELDS = ("release_id", "title", "publisher", "reference", "released", "licence", "kind")


def releases(warehouse: Warehouse) -> list[dict[str, Any]]:
    """The warehouse's release register, one dict per release (``RELEASE_FIELDS``)."""
    import sqlglot.expressions as exp

    query = exp.select(*RELEASE_FIELDS).from_(exp.to_table(S.AGG_RELEASES_TABLE)).order_by("release_id")
    return [dict(zip(RELEASE_FIELDS, r, strict=True)) for r in warehouse.fetchall(query)]


def citation(release: dict[str, Any]) -> str:
    """How a figure from ``release`` cites it: publisher, title, release date, reference (an FOI
    number, a URL or a DOI), as far as the register knows them."""
    return ", ".join(str(release[k]) for k in ("publisher", "title", "released", "reference") if release.get(k)) \
        or str(release.get("release_id", ""))


def compute(warehouse: Warehouse, ids: tuple[str, ...] | None = None) -> pl.DataFrame:
    """Every aggregate indicator (or ``ids``) the warehouse's published tables allow, each row with
    its release's citation."""
    obs = observations(warehouse)
    if obs.is_empty():
        return pl.DataFrame(schema=_schema())
    found = indicators_from(obs, ids)
    cite = {r["release_id"]: citation(r) for r in releases(warehouse)}
    return found.with_columns(pl.col("release").replace_strict(cite, default=pl.col("release"), return_dtype=pl.String)
                              .alias("citation"))


def indicators_from(obs: pl.DataFrame, ids: tuple[str, ...] | None = None) -> pl.DataFrame:
    counts = obs.filter((pl.col("unit").is_in(["count", ""]) | pl.col("unit").is_null())
                        & (pl.col("period_type") == "fiscal_year") & pl.col("catchment_id").is_not_null())
    if counts.is_empty():
        return pl.DataFrame(schema=_schema())
    cells = cell_bounds(counts)
    keys = ["release_id", "measure", "period", "catchment_id", "client_type", "dimension", "group", "interval_months"]
    by_catchment = cells.group_by(keys).agg(
        pl.col("value").sum().alias("value"), pl.col("value").is_null().any().alias("_hidden"),
        pl.col("low").sum().alias("low"), pl.col("high").sum().alias("high"))
    by_catchment = by_catchment.with_columns(pl.when(pl.col("_hidden")).then(None).otherwise(pl.col("value"))
                                             .alias("value")).drop("_hidden")
    wanted = set(ids or INDICATORS)
    parts = []
    for k in _CHECKPOINTS:
        name = _employed_id(k)
        if name in wanted:
            parts.append(_rate(by_catchment, name, k))
    if "sa_referral_to_intake" in wanted:
        parts.append(_referral_to_intake(by_catchment))
    if "gap_employed_3m_social_assistance" in wanted:
        parts.append(_gap(_rate(by_catchment, "employed_3m_reported", 3)))
    found = [p for p in parts if not p.is_empty()]
    if not found:
        return pl.DataFrame(schema=_schema())
    return pl.concat(found, how="diagonal_relaxed").select(*COLUMNS, *[c for c in
                                                                     ("reference_numerator", "reference_denominator")
                                                                     if any(c in p.columns for p in found)]) \
        .sort("indicator", "release", "period", "catchment_id", "client_type", "dimension", "group")


def _schema() -> dict[str, pl.DataType]:
    text = {"indicator", "grain", "period", *BY, "ci_method", "release", "citation"}
    return {c: (pl.String() if c in text else pl.Float64()) for c in (*COLUMNS, "citation")}


def _pair(cells: pl.DataFrame, numerator: pl.Expr, denominator: pl.Expr, join_on: list[str]) -> pl.DataFrame:
    num = cells.filter(numerator).select(*join_on, pl.col("value").alias("n"), pl.col("low").alias("n_low"),
                                         pl.col("high").alias("n_high"))
    den = cells.filter(denominator).select(*join_on, pl.col("value").alias("d"), pl.col("low").alias("d_low"),
                                           pl.col("high").alias("d_high"))
    return num.join(den, on=join_on)


def _rate(cells: pl.DataFrame, name: str, k: int) -> pl.DataFrame:
    on = ["release_id", "period", "catchment_id", "client_type", "dimension", "group"]
    at_k = pl.col("interval_months") == k
    with_total = _pair(cells, (pl.col("measure") == "outcome_employed") & at_k,
                       (pl.col("measure") == "outcome_total") & at_k, on)
    # a source without a total for the checkpoint (ES client outcomes): the clients assisted less
    # those with no outcome recorded for it (out_*_null), whose bounds move the other way
    assisted = _pair(cells, (pl.col("measure") == "outcome_employed") & at_k,
                     pl.col("measure") == "clients_assisted", on)
    missing = cells.filter((pl.col("measure") == "outcome_missing") & at_k).select(
        *on, pl.col("value").alias("m"), pl.col("low").alias("m_low"), pl.col("high").alias("m_high"))
    assisted = assisted.join(missing, on=on, how="left").with_columns(
        (pl.col("d") - pl.col("m").fill_null(0)).alias("d"),
        (pl.col("d_low") - pl.col("m_high").fill_null(0)).clip(lower_bound=0).alias("d_low"),
        (pl.col("d_high") - pl.col("m_low").fill_null(0)).alias("d_high"),
    ).with_columns(pl.when(pl.col("m").is_null() & pl.col("m_low").is_not_null()).then(None)
                   .otherwise(pl.col("d")).alias("d")).drop("m", "m_low", "m_high")
    pairs = pl.concat([with_total, assisted.join(with_total.select(on), on=on, how="anti")])
    return _ratio(pairs, name)


def _referral_to_intake(cells: pl.DataFrame) -> pl.DataFrame:
    on = ["release_id", "period", "catchment_id", "dimension", "group"]
    sa_referrals = cells.filter((pl.col("measure") == "referrals") & pl.col("client_type").is_in(["sa", "all"]))
    # FOI releases count referrals of social-assistance clients only: "all" there means SA
    sa_referrals = sa_referrals.sort("client_type", descending=True).unique(on, keep="first").with_columns(
        pl.lit("sa").alias("client_type"))
    intakes = cells.filter((pl.col("measure") == "intakes") & (pl.col("client_type") == "sa"))
    pairs = _pair(pl.concat([intakes, sa_referrals], how="vertical_relaxed"), pl.col("measure") == "intakes",
                  pl.col("measure") == "referrals", [*on, "client_type"])
    return _ratio(pairs, "sa_referral_to_intake")


def _ratio(pairs: pl.DataFrame, name: str) -> pl.DataFrame:
    if pairs.is_empty():
        return pl.DataFrame(schema=_schema())
    n_low, n_high = pairs["n_low"].to_numpy(), pairs["n_high"].to_numpy()
    d_low, d_high = pairs["d_low"].to_numpy(), pairs["d_high"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        bound_low = np.where(d_high > 0, n_low / d_high, np.nan)
        bound_high = np.where(d_low > 0, np.minimum(n_high / d_low, 1.0), np.where(d_high > 0, 1.0, np.nan))
    lows, highs = [], []
    for n, d in itertools.product((n_low, n_high), (d_low, d_high)):
        dd = np.where(np.isfinite(d), d, np.nan)
        nn = np.minimum(n, dd)
        lo, hi = wilson(nn, dd)
        lows.append(lo)
        highs.append(hi)
    with warnings.catch_warnings():  # a row whose every corner is empty gives NaN, set below
        warnings.simplefilter("ignore", RuntimeWarning)
        ci_low, ci_high = np.nanmin(np.vstack(lows), axis=0), np.nanmax(np.vstack(highs), axis=0)
    ci_low = np.where(np.isinf(d_high) | np.isinf(n_low), 0.0, ci_low)  # a denominator without a ceiling
    ci_high = np.where(np.isinf(n_high) | (d_low <= 0), 1.0, ci_high)
    point = pairs["n"].is_not_null() & pairs["d"].is_not_null()
    return pairs.with_columns(
        pl.lit(name).alias("indicator"), pl.lit("fiscal_year").alias("grain"),
        pl.col("n").alias("numerator"), pl.col("d").alias("denominator"),
        pl.when(point & (pl.col("d") > 0)).then(pl.col("n") / pl.col("d")).otherwise(None).alias("value"),
        pl.Series("ci_low", ci_low), pl.Series("ci_high", ci_high),
        pl.when(point).then(pl.lit("wilson")).otherwise(pl.lit("wilson over the suppression bounds"))
        .alias("ci_method"), pl.col("release_id").alias("release"),
        pl.Series("bound_low", bound_low), pl.Series("bound_high", bound_high),
    ).filter(pl.col("bound_low").is_not_nan())


def _gap(rates: pl.DataFrame) -> pl.DataFrame:
    """Non-SA minus SA, with Newcombe's interval over every corner of both boxes of counts."""
    if rates.is_empty():
        return pl.DataFrame(schema=_schema())
    on = ["release", "period", "catchment_id", "dimension", "group"]
    sa = rates.filter(pl.col("client_type") == "sa")
    other = rates.filter(pl.col("client_type") == "non_sa")
    both = other.join(sa, on=on, suffix="_sa")
    if both.is_empty():
        return pl.DataFrame(schema=_schema())
    corners_low, corners_high = [], []
    for rn, rd, fn, fd in itertools.product(("n_low", "n_high"), ("d_low", "d_high"),
                                            ("n_low_sa", "n_high_sa"), ("d_low_sa", "d_high_sa")):
        x1, n1 = both[rn].to_numpy(), both[rd].to_numpy()
        x2, n2 = both[fn].to_numpy(), both[fd].to_numpy()
        _, lo, hi = newcombe_difference(np.minimum(x1, n1), n1, np.minimum(x2, n2), n2)
        corners_low.append(lo)
        corners_high.append(hi)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ci_low = np.nanmin(np.vstack(corners_low), axis=0)
        ci_high = np.nanmax(np.vstack(corners_high), axis=0)
    # an unbounded count: the gap can be anything its rates' bounds allow
    ci_low = np.minimum(ci_low, (both["bound_low"] - both["bound_high_sa"]).to_numpy())
    ci_high = np.maximum(ci_high, (both["bound_high"] - both["bound_low_sa"]).to_numpy())
    point = pl.col("value").is_not_null() & pl.col("value_sa").is_not_null()
    return both.select(
        pl.lit("gap_employed_3m_social_assistance").alias("indicator"), pl.lit("fiscal_year").alias("grain"),
        "period", "catchment_id", pl.lit("sa").alias("client_type"), "dimension", "group",
        pl.col("numerator_sa").alias("numerator"), pl.col("denominator_sa").alias("denominator"),
        pl.when(point).then(pl.col("value") - pl.col("value_sa")).otherwise(None).alias("value"),
        pl.Series("ci_low", ci_low), pl.Series("ci_high", ci_high),
        pl.when(point).then(pl.lit("newcombe (hybrid score)")).otherwise(
            pl.lit("newcombe over the suppression bounds")).alias("ci_method"),
        "release", (pl.col("bound_low") - pl.col("bound_high_sa")).alias("bound_low"),
        (pl.col("bound_high") - pl.col("bound_low_sa")).alias("bound_high"),
        pl.col("numerator").alias("reference_numerator"), pl.col("denominator").alias("reference_denominator"))
