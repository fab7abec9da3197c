"""Findings: rules that read the report's tables and state what they show in a sentence with its
number, its interval and a comparison, ranked by how clear they are (the estimate over its
standard error; findings whose interval excludes no difference first).

Each rule reads only the :class:`DataTable` it cites, so a finding can always be checked against
its table: the statement's numbers are that row's cells, formatted for the locale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from esmonitor.indicators.stats import Z95
from esmonitor.report.document import DataTable, Finding, fmt
from esmonitor.report.i18n import Language

Tables = dict[str, DataTable]


def _se(low: float | None, high: float | None) -> float | None:
    if low is None or high is None or high <= low:
        return None
    return (high - low) / (2 * Z95)


def _certainty(value: float, low: float | None, high: float | None) -> float:
    se = _se(low, high)
    return abs(value) / se if se else 0.0


def _clear(low: float | None, high: float | None) -> bool:
    return low is not None and high is not None and (low > 0 or high < 0)


def _row(table: DataTable, **key: Any) -> dict[str, Any] | None:
    for r in table.rows:
        if all(r.get(k) == v for k, v in key.items()):
            return r
    return None


def _change(now: dict[str, Any], before: dict[str, Any], value: str = "value", low: str = "low",
            high: str = "high") -> tuple[float, float | None, float | None]:
    """The difference of two independent estimates, with a normal 95 % interval from theirs."""
    d = now[value] - before[value]
    s1, s2 = _se(now.get(low), now.get(high)), _se(before.get(low), before.get(high))
    if s1 is None or s2 is None:
        return d, None, None
    half = Z95 * (s1 ** 2 + s2 ** 2) ** 0.5
    return d, d - half, d + half


def gap_findings(tables: Tables, L: Language, period: str, previous: str | None) -> list[Finding]:
    _ = L.gettext
    table = tables.get("gaps")
    if table is None:
        return []
    out = []
    for r in table.rows:
        if r["period"] != period or r["gap"] is None or r["low"] is None:
            continue
        values = {"group": r["group"], "reference": r["reference"], "period": L.period(period),
                  "in_period": L.in_period(period), "value": fmt(L, "points", abs(r["gap"])),
                  "low": fmt(L, "points", r["low"]), "high": fmt(L, "points", r["high"])}
        if r["low"] > 0:
            text = _("Outcomes at 3 months for {group} were {value} points lower than for {reference} {in_period} "
                     "(95 % CI {low} to {high})").format(**values)
        elif r["high"] < 0:  # the group is ahead: the interval of the lead is that of the gap, negated
            values |= {"low": fmt(L, "points", -r["high"]), "high": fmt(L, "points", -r["low"])}
            text = _("Outcomes at 3 months for {group} were {value} points higher than for {reference} {in_period} "
                     "(95 % CI {low} to {high})").format(**values)
        else:
            text = _("Outcomes at 3 months for {group} and {reference} did not clearly differ {in_period}: a gap "
                     "of {gap} points (95 % CI {low} to {high})").format(**values, gap=fmt(L, "points", r["gap"]))
        before = _row(table, period=previous, indicator=r["indicator"]) if previous else None
        if before is not None and before["gap"] is not None:
            values_before = {"in_previous": L.in_period(previous or ""), "before": fmt(L, "points", before["gap"])}
            delta = r["gap"] - before["gap"]
            if abs(delta) < 0.01:
                text += _(", about the same as {in_previous} ({before} points)").format(**values_before)
            elif delta > 0:
                text += _(", wider than {in_previous} ({before} points)").format(**values_before)
            else:
                text += _(", narrower than {in_previous} ({before} points)").format(**values_before)
        out.append(Finding(f"gap:{r['indicator']}", "gap", text + ".", "gaps",
                           {"period": period, "indicator": r["indicator"]}, r["gap"], r["low"], r["high"], "points",
                           _certainty(r["gap"], r["low"], r["high"]), _clear(r["low"], r["high"])))
    return out


def _trend(tables: Tables, L: Language, table_id: str, key: dict[str, Any], value: str, period: str,
           previous: str | None, rule: str, sentence: Callable[[dict[str, str], str], str]) -> list[Finding]:
    """A rate in ``period`` with its interval, and its change from ``previous``."""
    table = tables.get(table_id)
    if table is None:
        return []
    now = _row(table, period=period, **key)
    if now is None or now.get(value) is None or now.get("low") is None:
        return []
    before = _row(table, period=previous, **key) if previous else None
    words = {"value": fmt(L, "share", now[value]), "low": fmt(L, "share", now["low"]),
             "high": fmt(L, "share", now["high"]), "period": L.period(period), "in_period": L.in_period(period)}
    direction = ""
    d, dlo, dhi = now[value], now["low"], now["high"]
    if before is not None and before.get(value) is not None:
        d, dlo, dhi = _change(now, before, value)
        words |= {"previous": L.period(previous or ""), "in_previous": L.in_period(previous or ""),
                  "before": fmt(L, "share", before[value]),
                  "change": fmt(L, "points", abs(d))}
        direction = "up" if d > 0.0005 else "down" if d < -0.0005 else "same"
    text = sentence(words, direction)
    return [Finding(f"{rule}:{period}", rule, text, table_id, {"period": period, **key}, now[value], now["low"],
                    now["high"], "share", _certainty(d, dlo, dhi) if direction else 0.0,
                    _clear(dlo, dhi) if direction else False, {"change": d} if direction else {})]


def _since(L: Language, w: dict[str, str], direction: str, down: str | None = None) -> str:
    """How a rate moved from the period before: up, down (``down`` overrides the wording) or the same."""
    _ = L.gettext
    if direction == "up":
        return _(", up {change} points from {before} {in_previous}").format(**w)
    if direction == "down":
        return (down or _(", down {change} points from {before} {in_previous}")).format(**w)
    if direction == "same":
        return _(", the same as {in_previous}").format(**w)
    return ""


def outcome_finding(tables: Tables, L: Language, period: str, previous: str | None) -> list[Finding]:
    _ = L.gettext

    def sentence(w: dict[str, str], direction: str) -> str:
        return _("{value} of clients served reached a funded 3-month outcome {in_period} (95 % CI {low} to {high})"
                 ).format(**w) + _since(L, w, direction) + "."

    return _trend(tables, L, "outcomes", {"indicator": "outcome_3m_per_served"}, "rate", period, previous,
                  "outcome_3m", sentence)


def stream_finding(tables: Tables, L: Language, period: str, previous: str | None) -> list[Finding]:
    _ = L.gettext

    def sentence(w: dict[str, str], direction: str) -> str:
        return _("Stream C (the highest need) made up {value} of newly assessed clients {in_period} (95 % CI {low} "
                 "to {high})").format(**w) + _since(
            L, w, direction, _(", down {change} points from {before} {in_previous}: watch for creaming")) + "."

    return _trend(tables, L, "streams", {"stream": "C"}, "share", period, previous, "stream_c", sentence)


def wait_finding(tables: Tables, L: Language, period: str, previous: str | None) -> list[Finding]:
    _ = L.gettext
    table = tables.get("waits")
    now = _row(table, period=period, indicator="days_referral_to_intake") if table else None
    if table is None or now is None or now["days"] is None or now["low"] is None:
        return []
    words = {"value": fmt(L, "days", now["days"]), "low": fmt(L, "days", now["low"]),
             "high": fmt(L, "days", now["high"]), "period": L.period(period), "in_period": L.in_period(period)}
    text = _("Half of the referrals that led to an intake waited {value} days or fewer {in_period} (95 % CI {low} "
             "to {high} days)").format(**words)
    before = _row(table, period=previous, indicator="days_referral_to_intake") if previous else None
    certainty, clear = 0.0, False
    if before is not None and before["days"] is not None:
        text += _(", against {before} days {in_previous}").format(before=fmt(L, "days", before["days"]),
                                                                  in_previous=L.in_period(previous or ""))
        d, lo, hi = _change(now, before, "days")
        certainty, clear = _certainty(d, lo, hi), _clear(lo, hi)
    return [Finding(f"wait:{period}", "wait", text + ".", "waits",
                    {"period": period, "indicator": "days_referral_to_intake"}, now["days"], now["low"],
                    now["high"], "days", certainty, clear)]


def conversion_finding(tables: Tables, L: Language, period: str, previous: str | None) -> list[Finding]:
    _ = L.gettext
    table = tables.get("funnel")
    if table is None:
        return []
    rows = [r for r in table.rows if r["source"] != "Total" and r.get("conversion") is not None
            and r.get("conversion_low") is not None]
    total = _row(table, source="Total")
    if len(rows) < 2 or total is None or total.get("conversion") is None:
        return []
    low = min(rows, key=lambda r: r["conversion"])
    words = {"source": low["label"], "period": L.period(period), "in_period": L.in_period(period),
             "value": fmt(L, "share", low["conversion"]),
             "low": fmt(L, "share", low["conversion_low"]), "high": fmt(L, "share", low["conversion_high"]),
             "all": fmt(L, "share", total["conversion"])}
    text = _("Referrals from the source “{source}” led to an intake least often {in_period}: {value} (95 % CI {low} "
             "to {high}), against {all} for all referrals.").format(**words)
    d = low["conversion"] - total["conversion"]
    return [Finding(f"conversion:{period}", "conversion", text, "funnel", {"source": low["source"]},
                    low["conversion"], low["conversion_low"], low["conversion_high"], "share",
                    _certainty(d, low["conversion_low"] - total["conversion"],
                               low["conversion_high"] - total["conversion"]),
                    low["conversion_high"] < total["conversion"])]


def rollout_finding(tables: Tables, L: Language, period: str, previous: str | None) -> list[Finding]:
    _ = L.gettext
    table = tables.get("rollout_effects")
    row = _row(table, estimate="dynamic") if table else None
    if table is None or row is None:
        return []
    words = {"value": fmt(L, "signed_points", row["effect"]), "low": fmt(L, "signed_points", row["low"]),
             "high": fmt(L, "signed_points", row["high"])}
    if _clear(row["low"], row["high"]):
        text = _("After go-live, IES changed the job-start rate of clients served by {value} points on average "
                 "(95 % CI {low} to {high})").format(**words)
    else:
        text = _("The data cannot tell whether IES changed the job-start rate of clients served: {value} points on "
                 "average after go-live (95 % CI {low} to {high})").format(**words)
    tests = tables.get("rollout_tests")
    pre = _row(tests, test="pretrend") if tests else None
    if pre is not None:
        if pre["p_value"] < 0.05:
            text += _("; but the areas already differed before the transition (pre-trend test p = {p}), so read it "
                      "with care").format(p=fmt(L, "p", pre["p_value"]))
        else:
            text += _("; no difference was detected before the transition (pre-trend test p = {p})").format(
                p=fmt(L, "p", pre["p_value"]))
    return [Finding("rollout", "rollout", text + ".", "rollout_effects", {"estimate": "dynamic"}, row["effect"],
                    row["low"], row["high"], "signed_points", _certainty(row["effect"], row["low"], row["high"]),
                    _clear(row["low"], row["high"]))]


def provider_finding(tables: Tables, L: Language, period: str, previous: str | None) -> list[Finding]:
    _ = L.gettext
    table = tables.get("providers")
    if table is None or not table.rows:
        return []
    above = sum(1 for r in table.rows if r["low"] > 1)
    below = sum(1 for r in table.rows if r["high"] < 1)
    n = len(table.rows)
    text = _("Of {n} providers rated, {above} did better than expected for their clients and {below} did worse "
             "(95 % intervals of the ratio excluding 1); the others are within what chance would give.").format(
        n=fmt(L, "count", n), above=fmt(L, "count", above), below=fmt(L, "count", below))
    return [Finding("providers", "providers", text, "providers", {}, float(above + below), None, None, "count",
                    0.0, False, {"rated": n, "above": above, "below": below})]


def funding_finding(tables: Tables, L: Language, period: str, previous: str | None) -> list[Finding]:
    _ = L.gettext
    table = tables.get("funding_per_client")
    gaps = tables.get("funding_gap")
    a = _row(table, stream="A") if table else None
    c = _row(table, stream="C") if table else None
    gap = _row(gaps, model="ies") if gaps else None
    if a is None or c is None or gap is None or a["per_client"] is None or c["per_client"] is None:
        return []
    # the interval of the amount stated ("$66.58 less": the interval of C minus A)
    low, high = (-gap["high"], -gap["low"]) if gap["gap"] < 0 else (gap["low"], gap["high"])
    words = {"a": fmt(L, "money", a["per_client"]), "c": fmt(L, "money", c["per_client"]),
             "gap": fmt(L, "money", abs(gap["gap"])), "low": fmt(L, "money", low), "high": fmt(L, "money", high)}
    if gap["gap"] < 0:
        text = _("Under the IES rules a provider can expect {gap} less per stream A client served than per stream C "
                 "client ({a} against {c}; 95 % CI of the difference {low} to {high}): the rules do not reward "
                 "serving the easiest clients.").format(**words)
    else:
        text = _("Under the IES rules a provider can expect {gap} more per stream A client served than per stream C "
                 "client ({a} against {c}; 95 % CI of the difference {low} to {high}): the rules reward serving the "
                 "easiest clients.").format(**words)
    return [Finding("funding", "funding", text, "funding_gap", {"model": "ies"}, gap["gap"], gap["low"],
                    gap["high"], "money", _certainty(gap["gap"], gap["low"], gap["high"]),
                    _clear(gap["low"], gap["high"]), {"a": a["per_client"], "c": c["per_client"]})]


def voices_finding(tables: Tables, L: Language, period: str, previous: str | None) -> list[Finding]:
    _ = L.gettext
    table = tables.get("voices_change")
    if table is None or not table.rows:
        return []
    r = table.rows[0]
    words = {"question": r["question_label"], "first": r["first"], "second": r["second"],
             "value": fmt(L, "signed_score", r["difference"]), "low": fmt(L, "signed_score", r["low"]),
             "high": fmt(L, "signed_score", r["high"])}
    text = _("Job seekers' answers to “{question}” moved by {value} on the 1 to 5 scale between the {first} and "
             "{second} surveys (95 % CI {low} to {high}).").format(**words)
    return [Finding("voices", "voices", text, "voices_change", {"question": r["question"]}, r["difference"],
                    r["low"], r["high"], "signed_score", _certainty(r["difference"], r["low"], r["high"]),
                    _clear(r["low"], r["high"]))]


RULES = (gap_findings, outcome_finding, stream_finding, wait_finding, conversion_finding, rollout_finding,
         provider_finding, funding_finding, voices_finding)


def find_all(tables: Tables, L: Language, ev: Any) -> list[Finding]:
    """Every rule's findings, clearest first."""
    found = [f for rule in RULES for f in rule(tables, L, ev.period, ev.previous)]
    return sorted(found, key=lambda f: (not f.clear, -f.certainty, f.id))
