"""Closed questions: distributions, means and shares with intervals, optional weights, and
comparisons across waves and between prototype and later catchments.

For each Likert (1-5) question and group: the number answering, the distribution over the five
choices, the mean with a 95 % interval (t, or with weights the Kish effective sample size), and
the share agreeing (4 or 5) with a Wilson interval. Weights post-stratify to a population per
catchment (e.g. the number of providers or clients there): each response weighs its catchment's
population share over its sample share. ``compare`` gives the difference in means between two
groups (Welch's t-test, SciPy). For a public audience the counts pass the disclosure layer: a
group's figures are published only if its count is, and each choice's count only if that cell is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
import sqlglot.expressions as exp
from scipy import stats

from esmonitor.indicators.stats import wilson

LIKERT = ("1", "2", "3", "4", "5")


def answers_frame(warehouse: Any) -> pl.DataFrame:
    """Every answer with its response's role, catchment, wave, the catchment's phase (and
    ``rollout``: prototype or later) and the respondent's optional equity answers."""
    from esmonitor.voices.instruments import EQUITY

    def col(name: str, table: str) -> exp.Column:
        return exp.column(name, table=table, quoted=True)

    def table(name: str, alias: str) -> exp.Table:
        return exp.table_(name, alias=alias, quoted=True)

    answered = [exp.alias_(exp.Max(this=exp.case().when(exp.column("question").eq(exp.Literal.string(q)),
                                                        exp.column("value"))), q, quoted=True) for q in EQUITY]
    equity = exp.select("response_id", *answered).from_("survey_answer").group_by("response_id")
    rollout = (exp.case().when(col("phase", "c").eq(exp.Literal.string("prototype")), exp.Literal.string("prototype"))
               .else_(exp.Literal.string("later")))
    query = (exp.select(*(col(n, "a") for n in ("response_id", "question", "value", "theme")),
                        *(col(n, "r") for n in ("role", "catchment_id", "wave")), col("phase", "c"),
                        exp.alias_(rollout, "rollout"), *(col(q, "e") for q in EQUITY))
             .from_(table("survey_answer", "a"))
             .join(table("survey_response", "r"), using=["response_id"])
             .join(table("catchment", "c"), using=["catchment_id"], join_type="left")
             .join(equity.subquery("e"), using=["response_id"], join_type="left"))
    frame = pl.from_arrow(warehouse.arrow(query))
    assert isinstance(frame, pl.DataFrame)  # an Arrow table becomes a frame, never a series
    return frame


def poststratify(frame: pl.DataFrame, population: dict[str, float], unit: str = "catchment_id") -> pl.DataFrame:
    """A ``weight`` per answer: population share of its catchment over its share of respondents."""
    missing = sorted(set(frame[unit].unique().to_list()) - set(population))
    if missing:
        raise ValueError(f"no population for {', '.join(map(str, missing))}")
    responses = frame.select("response_id", unit).unique()
    sample = responses.group_by(unit).len()
    total_pop = sum(population[u] for u in sample[unit].to_list())
    factors = {u: (population[u] / total_pop) / (n / responses.height) for u, n in sample.iter_rows()}
    return frame.with_columns(pl.col(unit).replace_strict(factors, return_dtype=pl.Float64).alias("weight"))


def likert_summary(frame: pl.DataFrame, by: Sequence[str] = ("wave",), weighted: bool = False) -> pl.DataFrame:
    """One row per Likert question and group (see the module docstring)."""
    likert = frame.filter(pl.col("value").is_in(list(LIKERT)))
    keys = ["question", *by]
    rows = []
    for key, part in likert.group_by(keys, maintain_order=True):
        x = part["value"].cast(pl.Float64).to_numpy()
        w = part["weight"].to_numpy() if weighted else np.ones_like(x)
        n = len(x)
        mean = float(np.average(x, weights=w))
        if n > 1:
            var = float(np.average((x - mean) ** 2, weights=w)) * n / (n - 1)
            n_eff = w.sum() ** 2 / (w ** 2).sum()
            half = stats.t.ppf(0.975, max(n_eff - 1, 1)) * np.sqrt(var / n_eff)
        else:
            n_eff, half = 1.0, np.nan
        agree = float(w[x >= 4].sum() / w.sum())
        low, high = wilson(np.array([agree * n_eff]), np.array([n_eff]))
        counts = {f"n_{c}": int((part["value"] == c).sum()) for c in LIKERT}
        rows.append({**dict(zip(keys, key, strict=True)), "n": n, **counts, "mean": mean,
                     "mean_low": mean - half, "mean_high": mean + half, "agree": agree,
                     "agree_low": float(low[0]), "agree_high": float(high[0])})
    schema_keys = {k: pl.String for k in keys}
    return pl.DataFrame(rows, schema_overrides=schema_keys) if rows else pl.DataFrame(schema=schema_keys)


def compare(frame: pl.DataFrame, question: str, column: str, first: str, second: str) -> dict[str, float]:
    """Difference in mean (second minus first) between two groups of ``column`` for one Likert
    question, with Welch's 95 % interval and p-value."""
    part = frame.filter((pl.col("question") == question) & pl.col("value").is_in(list(LIKERT)))
    a = part.filter(pl.col(column) == first)["value"].cast(pl.Float64).to_numpy()
    b = part.filter(pl.col(column) == second)["value"].cast(pl.Float64).to_numpy()
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"{question}: fewer than 2 answers in {first!r} or {second!r}")
    test = stats.ttest_ind(b, a, equal_var=False)
    ci = test.confidence_interval(0.95)
    return {"difference": float(b.mean() - a.mean()), "low": float(ci.low), "high": float(ci.high),
            "p_value": float(test.pvalue), "n_first": len(a), "n_second": len(b)}


def protect_summary(summary: pl.DataFrame, by: Sequence[str], min_count: float = 10) -> pl.DataFrame:
    """The public version: each question's table of counts (groups × choices, with margins) is
    protected as counts; a group's figures are shown only if its total is published, and each
    choice's count only if its cell is."""
    from esmonitor.disclosure.release import disclose_frame

    out = []
    for _, part in summary.group_by("question", maintain_order=True):
        choices = [f"n_{c}" for c in LIKERT]
        long = part.select(*by, *choices).unpivot(index=list(by), on=choices, variable_name="choice",
                                                  value_name="count")
        long = long.with_columns(pl.col(list(by)).cast(pl.String))
        cells = disclose_frame(long, [*by, "choice"], "count", min_count=min_count).cells
        total = cells.filter(pl.col("choice") == "Total").select(*by, pl.col("status").alias("status"))
        shown = part.with_columns(pl.col(list(by)).cast(pl.String)).join(total, on=list(by), how="left")
        hidden = pl.col("status") != "published"
        figures = ["n", "mean", "mean_low", "mean_high", "agree", "agree_low", "agree_high"]
        shown = shown.with_columns(pl.when(hidden).then(None).otherwise(pl.col(c)).alias(c) for c in figures)
        for choice in LIKERT:
            cell = cells.filter(pl.col("choice") == f"n_{choice}").select(*by, pl.col("status").alias("_s"))
            shown = shown.join(cell, on=list(by), how="left").with_columns(
                pl.when(pl.col("_s") != "published").then(None).otherwise(pl.col(f"n_{choice}"))
                .alias(f"n_{choice}")).drop("_s")
        out.append(shown)
    return pl.concat(out, how="diagonal_relaxed") if out else summary
