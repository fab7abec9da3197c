"""The monitor's report: what the published tables say, each figure with the release it comes from.

Built only from aggregate observations (``esmonitor demo --monitor``, or a warehouse holding only
published tables): employment at 3 months as published by catchment and year, the gap between
social-assistance clients and the others, intakes per referral of SA clients, the rollout (or the
reason it cannot be evaluated from these tables), and the list of releases with their citation.
Every table carries a ``source`` column naming its release; the Sources section cites each one.
The numbers were already published by their sources: hidden cells stay hidden (shown as their
bounds, never as a value) and nothing is derived that the sources' own margins do not give.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from esmonitor.indicators.published import DEFINITIONS, citation
from esmonitor.model.reference import catchments
from esmonitor.report.document import Column, DataTable, Document, Paragraph, Section, TableRef
from esmonitor.report.i18n import Language


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [dict(r) for r in frame.iter_rows(named=True)]


def monitor_document(indicators: pl.DataFrame, releases: list[dict[str, Any]], rollout: dict[str, Any] | str,
                     lang: str, *, versions: dict[str, str], synthetic: bool = False,
                     generated: date | None = None) -> Document:
    """The report in ``lang``: ``rollout`` is the evaluation's JSON form, or the reason it was refused."""
    L = Language(lang)
    _ = L.gettext
    names = {c.catchment_id: (c.name_en if lang == "en" else c.name_fr) for c in catchments()}
    cite = {r["release_id"]: citation(r) for r in releases}
    tables: dict[str, DataTable] = {}
    sections: list[Section] = []

    def table(id_: str, title: str, frame: pl.DataFrame, kind: str) -> TableRef:
        rows = frame.with_columns(
            pl.col("catchment_id").replace_strict(names, default=pl.col("catchment_id")).alias("catchment"),
            pl.col("release").replace_strict(cite, default=pl.col("release")).alias("citation"))
        columns = [Column("catchment", _("Catchment")), Column("period", _("Fiscal year"), "period"),
                   Column("value", _("As published"), kind), Column("ci_low", _("Low (95 %)"), kind),
                   Column("ci_high", _("High (95 %)"), kind), Column("bound_low", _("Least possible"), kind),
                   Column("bound_high", _("Most possible"), kind), Column("citation", _("Source"))]
        tables[id_] = DataTable(id_, title, columns, _rows(rows.select([c.key for c in columns])),
                                _("Published tables; hidden cells bounded by the tables' own margins"))
        return TableRef(id_)

    intro = Section("published", _("What the published tables say"), [
        Paragraph(_("Every figure in this report was published by the source named beside it. Where a source "
                    "hid a count (shown as <5 or x), the figure is not known: the report gives the least and the "
                    "most it can be given the source's own totals, and an interval that allows for both the "
                    "hidden count and chance.")),
    ])
    if synthetic:
        intro.blocks.insert(0, Paragraph(_("These figures come from synthetic data made by esmonitor synth: they "
                                           "describe no real person or place."), "caveat"))
    sections.append(intro)
    everyone = indicators.filter((pl.col("dimension") == "all") & (pl.col("group") == "all"))
    employed = everyone.filter((pl.col("indicator") == "employed_3m_reported") & (pl.col("client_type") == "all"))
    if employed.height:
        sections.append(Section("employed", _("Employed 3 months after service, as published"), [
            table("employed_3m", _("Clients employed at 3 months, by catchment and fiscal year"),
                  employed.sort("catchment_id", "period"), "share")]))
    gap = everyone.filter(pl.col("indicator") == "gap_employed_3m_social_assistance")
    if gap.height:
        sections.append(Section("gap", _("Social-assistance clients left behind"), [
            Paragraph(_("The gap is the share of other clients employed at 3 months minus the share of "
                        "social-assistance clients, in percentage points: positive when social-assistance clients "
                        "are behind.")),
            table("sa_gap_3m", _("Employment gap at 3 months, social-assistance clients"),
                  gap.sort("catchment_id", "period"), "signed_points")]))
    intake = everyone.filter(pl.col("indicator") == "sa_referral_to_intake")
    if intake.height:
        sections.append(Section("intake", _("From referral to intake"), [
            table("sa_referral_to_intake", _("Intakes per referral of social-assistance clients"),
                  intake.sort("catchment_id", "period"), "share")]))
    sections.append(_rollout_section(rollout, L, tables))
    sources = DataTable("sources", _("Releases used"), [
        Column("release_id", _("Release")), Column("title", _("Title")), Column("publisher", _("Publisher")),
        Column("released", _("Released")), Column("reference", _("Reference")), Column("licence", _("Licence"))],
        [{k: r.get(k) or "" for k in ("release_id", "title", "publisher", "released", "reference", "licence")}
         for r in releases], _("The release register of the warehouse"))
    tables["sources"] = sources
    sections.append(Section("sources", _("Sources"), [TableRef("sources")]))
    title = _("Integrated Employment Services in Ontario: what the published tables say")
    subtitle = _("Monitor's edition, from published tables only. Made {date}.").format(
        date=L.date(generated or date.today()))
    meta = {"releases": [r["release_id"] for r in releases], "generated": (generated or date.today()).isoformat(),
            "versions": versions,
            "min_count": 5}  # the sources' own threshold (<5): what a withheld figure's note says
    return Document(lang, title, subtitle, "public", True, sections, [], tables, {}, [], meta, synthetic)


def _indicator_name(indicator: str, L: Language) -> str:
    found = DEFINITIONS.get(indicator)
    return indicator if found is None else (found.fr if L.code == "fr" else found.en)


def _refusal(rollout: dict[str, Any], L: Language) -> str:
    """Why the published tables cannot answer, in the report's language (the rule decides; an
    unknown rule keeps the evaluation's own words)."""
    _ = L.gettext
    values = {"indicator": "", "kinds": "", "units": "", "years": "", "hidden": "", **rollout.get("params", {})}
    values["indicator"] = _indicator_name(str(values["indicator"]), L)
    values["kinds"] = ", ".join(values["kinds"]) if isinstance(values["kinds"], list) else values["kinds"]
    words = {
        "no_published": _("the published tables give no {indicator} for these clients."),
        "kinds_differ": _("{indicator} comes from releases of different kinds ({kinds}), which do not measure the "
                          "same thing: joining them at go-live would make the change of definition look like an "
                          "effect."),
        "releases_overlap": _("two releases give {indicator} for the same catchment and year."),
        "not_observed_before": _("no catchment is seen in the published years both before its move to IES began and "
                                 "after it went live: a table that starts with IES cannot show what IES changed."),
        "suppressed_years": _("{hidden} catchments are not published for every fiscal year (the source hid their "
                              "counts in some years), and none of the others is seen both before its move to IES "
                              "began and after it went live."),
        "too_few": _("too few catchments ({units}) or fiscal years ({years}) to compare."),
        "no_comparison": _("after each go-live, every other catchment in the published years was already changing "
                           "over to IES or under it, so none can serve as the comparison."),
    }.get(str(rollout.get("rule")))
    return words.format(**values) if words else str(rollout.get("refused", ""))


def _rollout_section(rollout: dict[str, Any] | str, L: Language, tables: dict[str, DataTable]) -> Section:
    _ = L.gettext
    section = Section("rollout", _("Did the move to IES change employment?"))
    if isinstance(rollout, str) or "refused" in rollout:
        reason = rollout if isinstance(rollout, str) else _refusal(rollout, L)
        section.blocks.append(Paragraph(_("The published tables cannot answer this: {reason}").format(reason=reason),
                                        "caveat"))
        return section
    effect = rollout["effect"]
    section.blocks.append(Paragraph(_(
        "Average change in “{indicator}” after go-live: {att} percentage points (95 % interval {low} to {high}; "
        "{units} catchments, {first} to {last}, from {releases}).").format(
        indicator=_indicator_name(rollout["indicator"], L), att=L.signed(100 * effect["att"], 1),
        low=L.signed(100 * effect["ci"][0], 1),
        high=L.signed(100 * effect["ci"][1], 1), units=rollout["units"], first=L.period(rollout["first_period"]),
        last=L.period(rollout["last_period"]), releases=", ".join(rollout["releases"]))))
    if rollout.get("randomization"):
        section.blocks.append(Paragraph(_("Randomization inference over the go-live dates: p = {p}.").format(
            p=L.number(rollout["randomization"]["p_value"], 3))))
    names = {c.catchment_id: (c.name_fr if L.code == "fr" else c.name_en) for c in catchments()}
    rules = rollout.get("left_out_rules", {})
    for unit, why in rollout.get("left_out", {}).items():
        rule = rules.get(unit, {})
        name = names.get(unit, unit)
        if rule.get("rule") == "not_every_year":
            text = _("Left out: {name} (not published for every fiscal year).").format(name=name)
        elif rule.get("rule") == "not_observed_before":
            text = _("Left out: {name} (its move to IES began in {transition} and the published years start in "
                     "{first}, so it is not seen before).").format(
                name=name, transition=L.period(rule["transition"]), first=L.period(rule["first"]))
        else:
            text = _("Left out: {unit} ({why}).").format(unit=name, why=why)
        section.blocks.append(Paragraph(text, "note"))
    aside = rollout.get("set_aside") or {}
    if aside:
        section.blocks.append(Paragraph(_(
            "Years after {after} set aside: {units} began the move to IES within the published years without a full "
            "year under it, so they are no fair comparison from then on.").format(
            after=L.period(aside["after"]), units=", ".join(names.get(u, u) for u in aside["units"])), "note"))
    tables["rollout_event_study"] = DataTable(
        "rollout_event_study", _("Effect by fiscal years since go-live"),
        [Column("event_time", _("Years since go-live")), Column("att", _("Effect"), "signed_points")],
        [{"event_time": e["event_time"], "att": e["att"]} for e in rollout["event_study"]],
        _("Callaway–Sant'Anna on the published rates"))
    section.blocks.append(TableRef("rollout_event_study"))
    return section




def monitor_report(warehouse: Any, rollout: dict[str, Any] | str, lang: str,
                   generated: date | None = None) -> Document:
    """:func:`monitor_document` from a warehouse's published tables and release register."""
    from importlib import metadata

    from esmonitor.indicators import published

    indicators = published.compute(warehouse)
    releases = published.releases(warehouse)
    versions = {"esmonitor": metadata.version("esmonitor"), "data_version": warehouse.data_version()}
    return monitor_document(indicators, releases, rollout, lang, versions=versions,
                            synthetic=warehouse.synthetic() is not None, generated=generated)
