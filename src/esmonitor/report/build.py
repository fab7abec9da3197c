"""From the evidence to the document, in one language: the tables behind every section, their
charts, the plain-language text around them and the findings (:mod:`esmonitor.report.findings`)."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import polars as pl
from scipy.stats import norm

from esmonitor.indicators.catalogue import BY_ID
from esmonitor.indicators.stats import Z95
from esmonitor.model.codes import REFERRAL_SOURCE
from esmonitor.report import charts
from esmonitor.report.document import (
    N_,
    Column,
    DataTable,
    Document,
    Figure,
    Paragraph,
    Quotes,
    Section,
    TableRef,
    fmt,
)
from esmonitor.report.evidence import GAP_IDS, TOTAL, Evidence, indicator_ids
from esmonitor.report.i18n import Language

PHASES = {"prototype": N_("Prototype (2021)"), "phase1": N_("Phase 1 (2023)"), "phase2": N_("Phase 2 (2024)"),
          "phase3": N_("Phase 3 (2025)")}
WAITS = {"days_referral_to_intake": N_("Referral to intake"),
         "days_intake_to_assessment": N_("Intake to Common Assessment"),
         "days_assessment_to_plan": N_("Assessment to action plan")}
CHECKPOINTS = {"outcome_1m_per_served": N_("1 month"), "outcome_3m_per_served": N_("3 months"),
               "outcome_6m_per_served": N_("6 months"), "outcome_12m_per_served": N_("12 months")}
#: gap indicator -> (the group, the group it is compared with)
GROUPS = {
    "gap_outcome_3m_social_assistance": (N_("social-assistance clients"), N_("other clients")),
    "gap_outcome_3m_indigenous": (N_("Indigenous clients"), N_("other clients")),
    "gap_outcome_3m_francophone": (N_("francophone clients"), N_("other clients")),
    "gap_outcome_3m_racialized": (N_("racialized clients"), N_("other clients")),
    "gap_outcome_3m_disability": (N_("clients with a disability"), N_("other clients")),
    "gap_outcome_3m_lgbtq": (N_("2SLGBTQI+ clients"), N_("other clients")),
    "gap_outcome_3m_women": (N_("women"), N_("men")),
}
ROLES = {"job_seeker": N_("Job seekers"), "esp_staff": N_("Provider staff"), "ssm_staff": N_("SSM staff"),
         "employer": N_("Employers")}
STATUS = {"published": N_("shown"), "primary": N_("suppressed: fewer than K people"),
          "secondary": N_("suppressed: protects another cell")}
AGGREGATIONS = {"dynamic": N_("Average over time since go-live"), "simple": N_("Average over all treated quarters"),
                "group": N_("Average over phases"), "calendar": N_("Average over calendar quarters")}
#: the normal quantile of the providers' outer funnel limits (99.8 %, two-sided)
Z998 = float(norm.ppf(0.999))


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in frame.to_dicts()]


class Builder:
    def __init__(self, ev: Evidence, L: Language, commentary: dict[str, list[str]] | None = None) -> None:
        self.ev, self.L, self._ = ev, L, L.gettext
        self.tables: dict[str, DataTable] = {}
        self.figures: dict[str, Figure] = {}
        self.commentary = commentary or {}
        self.K = ev.min_count

    # -- helpers ---------------------------------------------------------------------------------
    def table(self, id_: str, title: str, columns: list[Column], rows: list[dict[str, Any]], source: str,
              note: str = "") -> TableRef:
        self.tables[id_] = DataTable(id_, title, columns, rows, source, note, protected=self.ev.public)
        return TableRef(id_)

    def figure(self, id_: str, title: str, alt_text: str, spec: dict[str, Any], table_id: str) -> Figure:
        fig = Figure(id_, title, alt_text, spec, table_id)
        self.figures[id_] = fig
        return fig

    def f(self, kind: str, value: Any) -> str:
        return fmt(self.L, kind, value)

    def source(self, what: str, by: str = "") -> str:
        control = f"disclosure control K = {self.K}" if self.ev.public else f"audience {self.ev.audience}"
        return f"{what}{' by ' + by if by else ''}, grain {self.ev.grain}; {control}"

    def indicator_rows(self, frame: pl.DataFrame, ids: list[str] | tuple[str, ...], **fixed: str) -> pl.DataFrame:
        periods = [*self.ev.periods]
        out = frame.filter(pl.col("indicator").is_in(list(ids)) & pl.col("period").is_in(periods))
        for column, value in fixed.items():
            out = out.filter(pl.col(column) == value)
        return out.with_columns(pl.col("period").cast(pl.Enum(periods))).sort("indicator", "period").with_columns(
            pl.col("period").cast(pl.String))

    def ci(self, kind: str) -> list[Column]:
        return [Column("low", self._("95 % CI low"), kind), Column("high", self._("95 % CI high"), kind)]

    def estimates(self, table_id: str, title: str, ids: list[str], labels: dict[str, Any], labelled: list[Column],
                  value: Column, count: Column, extra: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """A province table of estimates by period (value, interval, people counted, status) for
        ``ids``; ``labels`` gives each indicator's label columns (``labelled``)."""
        rows = [{"period": r["period"], "indicator": r["indicator"], **labels[r["indicator"]],
                 value.key: r["value"], "low": r["ci_low"], "high": r["ci_high"], count.key: r["denominator"],
                 **{k: r[v] for k, v in (extra or {}).items()}, "status": r["status"]}
                for r in self.indicator_rows(self.ev.province, ids).to_dicts()]
        self.table(table_id, title, [Column("period", self._("Period"), "period"), *labelled, value,
                                     *self.ci(value.kind), count], rows, self.source("indicators " + ", ".join(ids)))
        return rows

    def name(self, indicator: str) -> str:
        i = BY_ID[indicator]
        return i.fr if self.L.code == "fr" else i.en

    def catchment_name(self, cid: str) -> str:
        for c in self.ev.catchments:
            if c["catchment_id"] == cid:
                return str(c["name_fr"] if self.L.code == "fr" else c["name_en"])
        return cid

    def source_label(self, code: str) -> str:
        if code == TOTAL:
            return self._("All referrals")
        for c in REFERRAL_SOURCE.codes:
            if c.code == code:
                return c.fr if self.L.code == "fr" else c.en
        return code

    # -- sections --------------------------------------------------------------------------------
    def system(self) -> Section:
        _ = self._
        s = Section("system", _("The system"))
        ev = self.ev
        rows = [{"catchment_id": c["catchment_id"], "name": self.catchment_name(c["catchment_id"]), "ssm": c["ssm"],
                 "phase": _(PHASES[c["phase"]]), "transition_start": c["transition_start"],
                 "ies_start": c["ies_start"]} for c in ev.catchments]
        s.blocks.append(Paragraph(_(
            "Integrated Employment Services (IES) are run in 15 catchment areas, each by a Service System Manager "
            "(SSM) that funds local Employment Service Providers. The areas moved to IES in phases, from the three "
            "prototypes in 2021 to the last areas in 2025.")))
        served = self.ev.by_catchment.filter((pl.col("indicator") == "outcome_3m_per_served")
                                             & (pl.col("period") == ev.period))
        values = {r["catchment_id"]: r for r in served.to_dicts()}
        cells = []
        for r in rows:
            v = values.get(r["catchment_id"], {})
            cells.append({"catchment_id": r["catchment_id"], "name": r["name"], "phase": r["phase"],
                          "value": "" if v.get("value") is None else self.f("share", v["value"])})
        out = self.indicator_rows(self.ev.by_catchment, ["outcome_3m_per_served", "clients_served",
                                                         "intake_stream_c"]).filter(pl.col("period") == ev.period)
        wide: dict[str, dict[str, Any]] = {}
        for r in out.to_dicts():
            row = wide.setdefault(r["catchment_id"], {"catchment_id": r["catchment_id"],
                                                      "name": self.catchment_name(r["catchment_id"])
                                                      if r["catchment_id"] != TOTAL else _("Province"),
                                                      "period": r["period"]})
            row[r["indicator"]] = r["value"]
            row[f"{r['indicator']}_status"] = r["status"]
        self.table("catchments", _("Catchment areas, their managers and their move to IES"), [
            Column("catchment_id", _("Code")), Column("name", _("Catchment area")), Column("ssm", _("SSM")),
            Column("phase", _("Phase")), Column("transition_start", _("Transition began")),
            Column("ies_start", _("IES began"))], rows, "reference data: catchments")
        ref = self.table("catchment_outcomes", _("Clients served, 3-month outcomes and stream C share by catchment"), [
            Column("name", _("Catchment area")), Column("period", _("Period"), "period"),
            Column("clients_served", self.name("clients_served"), "count"),
            Column("outcome_3m_per_served", self.name("outcome_3m_per_served"), "share"),
            Column("intake_stream_c", self.name("intake_stream_c"), "share")],
            sorted(wide.values(), key=lambda r: (r["catchment_id"] == TOTAL, r["name"])),
            self.source("indicators clients_served, outcome_3m_per_served, intake_stream_c", "catchment_id"))
        title = _("The 15 catchment areas by rollout phase, with their 3-month outcome rate {in_period}").format(
            in_period=self.L.in_period(ev.period))
        alt_text = _("Schematic tile map of Ontario's 15 catchment areas, north at the top, coloured by the phase "
                     "in which each moved to IES; each tile shows the area's code and its 3-month outcome rate.")
        phases = [_(v) for v in PHASES.values()]
        s.blocks += [self.figure("tile_map", title, alt_text, charts.tile_map(cells, alt_text, _("Phase"), phases),
                                 "catchment_outcomes"), TableRef("catchments"), ref]
        return s

    def access(self) -> Section:
        _ = self._
        ev = self.ev
        s = Section("access", _("Access: referrals, intake and waits"))
        volume = self.indicator_rows(ev.province, ["referrals", "clients_served"])
        wide: dict[str, dict[str, Any]] = {}
        for r in volume.to_dicts():
            wide.setdefault(r["period"], {"period": r["period"]})[r["indicator"]] = r["value"]
        self.table("volume", _("Referrals and clients served by period"), [
            Column("period", _("Period"), "period"), Column("referrals", self.name("referrals"), "count"),
            Column("clients_served", self.name("clients_served"), "count")], list(wide.values()),
            self.source("indicators referrals, clients_served"))
        funnel = ev.by_source.filter(pl.col("period") == ev.period)
        rows: dict[str, dict[str, Any]] = {}
        for r in funnel.to_dicts():
            row = rows.setdefault(r["source"], {"source": r["source"], "label": self.source_label(r["source"]),
                                                "period": r["period"]})
            if r["indicator"] == "referrals":
                row["referrals"] = r["value"]
                row["status"] = r["status"]
            elif r["indicator"] == "referral_to_intake":
                row |= {"conversion": r["value"], "conversion_low": r["ci_low"], "conversion_high": r["ci_high"],
                        "resolved": r["denominator"]}
            else:
                row["median_days"] = r["value"]
        funnel_rows = sorted(rows.values(), key=lambda r: (r["source"] == TOTAL, r["label"]))
        self.table("funnel", _("From referral to intake by source of referral, {period}").format(
            period=self.L.period(ev.period)), [
            Column("label", _("Referred by")), Column("referrals", self.name("referrals"), "count"),
            Column("resolved", _("Resolved referrals"), "count"),
            Column("conversion", self.name("referral_to_intake"), "share"),
            Column("conversion_low", _("95 % CI low"), "share"), Column("conversion_high", _("95 % CI high"), "share"),
            Column("median_days", _("Median days to intake"), "days")], funnel_rows,
            self.source("indicators referrals, referral_to_intake, days_referral_to_intake", "source"))
        shown = [r for r in funnel_rows if r.get("conversion") is not None and r["source"] != TOTAL]
        title = _("How often a referral led to an intake, by who referred, {period}").format(
            period=self.L.period(ev.period))
        alt_text = _("Bar chart of the share of resolved referrals that led to an intake for each source of "
                     "referral, with 95 % confidence intervals as lines.")
        s.blocks.append(Paragraph(_(
            "A referral is the door into employment services; an intake is the first meeting with a provider. "
            "Resolved referrals are those that led to an intake, were declined or were not attended.")))
        if shown:
            s.blocks.append(self.figure("funnel_chart", title, alt_text, charts.bars(
                shown, category="label", value="conversion", low="conversion_low", high="conversion_high",
                alt_text=alt_text, x_title=self.name("referral_to_intake")),
                "funnel"))
        s.blocks += [TableRef("funnel"), TableRef("volume")]
        wrows = self.estimates("waits", _("Median waits in days, by period"), list(WAITS),
                               {i: {"wait": _(w)} for i, w in WAITS.items()}, [Column("wait", _("Step"))],
                               Column("days", _("Median days"), "days"), Column("people", _("People"), "count"))
        title = _("Median waits between the steps of getting help, by period")
        alt_text = _("Line chart of the median number of days from referral to intake, from intake to Common "
                     "Assessment and from assessment to action plan, in each period.")
        chart_rows = [r | {"period_label": self.L.period(r["period"])} for r in wrows if r["days"] is not None]
        if chart_rows:
            s.blocks.append(self.figure("waits_chart", title, alt_text, charts.lines(
                chart_rows, x="period_label", y="days", series="wait", alt_text=alt_text,
                x_title=_("Period"), y_title=_("Median days"), percent=False, zero=True,
                sort=[self.L.period(p) for p in ev.periods]), "waits"))
        s.blocks.append(TableRef("waits"))
        return s

    def served(self) -> Section:
        _ = self._
        ev = self.ev
        s = Section("served", _("Who is served: the stream mix (the creaming watch)"))
        s.blocks.append(Paragraph(_(
            "The Common Assessment places each new client in stream A (lowest need), B or C (highest need). "
            "Because outcome payments differ by stream, a falling stream C share among new clients can mean "
            "that harder-to-serve people are being turned away.")))
        rows = self.estimates("streams", _("Share of newly assessed clients in each stream, by period"),
                              [f"intake_stream_{x}" for x in "abc"], {f"intake_stream_{x}": {"stream": x.upper()}
                                                                       for x in "abc"},
                              [Column("stream", _("Stream"))], Column("share", _("Share"), "share"),
                              Column("assessed", _("Clients assessed"), "count"))
        title = _("The stream mix of newly assessed clients, by period")
        alt_text = _("Stacked bar chart of the shares of new clients placed in streams A, B and C in each period.")
        shown = [r | {"period_label": self.L.period(r["period"]), "stream_label": _("Stream {s}").format(
            s=r["stream"])} for r in rows if r["share"] is not None]
        if shown:
            s.blocks.append(self.figure("streams_chart", title, alt_text, charts.stacked(
                shown, x="period_label", y="share", series="stream_label", alt_text=alt_text,
                x_title=_("Period"), y_title=_("Share of new clients"),
                sort=[self.L.period(p) for p in ev.periods]), "streams"))
        s.blocks.append(TableRef("streams"))
        return s

    def outcomes(self) -> Section:
        _ = self._
        ev = self.ev
        s = Section("outcomes", _("Outcomes at 1, 3, 6 and 12 months"))
        s.blocks.append(Paragraph(_(
            "A funded outcome is reached when a client is employed or in training at the checkpoint under the IES "
            "rules. Rates are per client served (with an action plan), counting only clients served long enough "
            "ago for the checkpoint to be decided.")))
        rows = self.estimates("outcomes", _("Funded outcome rates per client served, by checkpoint and period"),
                              list(CHECKPOINTS), {i: {"checkpoint": _(c)} for i, c in CHECKPOINTS.items()},
                              [Column("checkpoint", _("Checkpoint"))], Column("rate", _("Rate"), "share"),
                              Column("clients", _("Clients counted"), "count"), extra={"achieved": "numerator"})
        self.tables["outcomes"].columns.insert(-1, Column("achieved", _("Clients with the outcome"), "count"))
        title = _("Funded outcome rates by checkpoint and period, with 95 % intervals")
        alt_text = _("Line chart of the share of clients served who reached a funded outcome at 1, 3, 6 and 12 "
                     "months, one line per checkpoint, with interval bars.")
        shown = [r | {"period_label": self.L.period(r["period"])} for r in rows if r["rate"] is not None]
        if shown:
            s.blocks.append(self.figure("outcomes_chart", title, alt_text, charts.lines(
                shown, x="period_label", y="rate", series="checkpoint", low="low", high="high",
                alt_text=alt_text, x_title=_("Period (start of the action plan)"), y_title=_("Outcome rate"),
                sort=[self.L.period(p) for p in ev.periods]), "outcomes"))
        s.blocks.append(TableRef("outcomes"))
        return s

    def gaps(self) -> Section:
        _ = self._
        ev = self.ev
        s = Section("gaps", _("Who is left behind: outcome gaps"))
        s.blocks.append(Paragraph(_(
            "Each gap is the 3-month outcome rate of the comparison group minus that of the group named, in "
            "percentage points: a positive gap means the group is behind. Intervals are Newcombe's 95 % intervals "
            "for a difference of proportions.")))
        rows = self.estimates("gaps", _("3-month outcome gaps by group and period (percentage points)"),
                              list(GAP_IDS), {i: {"group": _(g), "reference": _(r)} for i, (g, r) in GROUPS.items()},
                              [Column("group", _("Group")), Column("reference", _("Compared with"))],
                              Column("gap", _("Gap (points)"), "points"),
                              Column("clients", _("Clients counted"), "count"))
        now = [r | {"gap_pts": 100 * r["gap"], "low_pts": 100 * r["low"], "high_pts": 100 * r["high"]}
               for r in rows if r["period"] == ev.period and r["gap"] is not None and r["low"] is not None]
        title = _("3-month outcome gaps {in_period}: points behind the comparison group").format(
            in_period=self.L.in_period(ev.period))
        alt_text = _("Dot plot of the 3-month outcome gap of each group against its comparison group, in "
                     "percentage points, with 95 % intervals; the dashed line marks no gap.")
        if now:
            s.blocks.append(self.figure("gaps_chart", title, alt_text, charts.intervals(
                now, category="group", value="gap_pts", low="low_pts", high="high_pts",
                alt_text=alt_text, x_title=_("Gap (points)"), y_title=_("Group")), "gaps"))
        trend = [r | {"gap_pts": 100 * r["gap"], "period_label": self.L.period(r["period"])} for r in rows
                 if r["gap"] is not None]
        if len({r["period"] for r in trend}) > 1:
            title = _("3-month outcome gaps by group, tracked over time (points behind the comparison group)")
            alt_text = _("Line chart of each group's 3-month outcome gap in percentage points in each period, one "
                         "line per group; the intervals are in the table.")
            s.blocks.append(self.figure("gaps_trend_chart", title, alt_text, charts.lines(
                trend, x="period_label", y="gap_pts", series="group", alt_text=alt_text, x_title=_("Period"),
                y_title=_("Gap (points)"), percent=False, zero=True, sort=[self.L.period(p) for p in ev.periods]),
                "gaps"))
        s.blocks.append(TableRef("gaps"))
        return s

    def rollout(self) -> Section:
        _ = self._
        ev = self.ev
        s = Section("rollout", _("The rollout's impact"))
        r = ev.rollout
        if r is None and ev.rollout_withheld:
            s.blocks.append(Paragraph(_(
                "The rollout's estimates are withheld: {small} of the {cells} area and quarter cells they are "
                "computed from are counts below {k}, and each estimate would help narrow them.").format(
                small=self.L.number(ev.rollout_withheld["small_cells"]),
                cells=self.L.number(ev.rollout_withheld["cells"]), k=self.L.number(ev.min_count)), "caveat"))
            return s
        if r is None:
            s.blocks.append(Paragraph(_("The rollout could not be evaluated on these data: {reason}").format(
                reason=ev.rollout_skipped or ""), "caveat"))
            return s
        s.blocks.append(Paragraph(_(
            "The catchment areas moved to IES at different dates, so areas that had not yet moved serve as the "
            "comparison for those that had (staggered difference-in-differences, Callaway and Sant'Anna). The "
            "outcome is the job-start rate of clients served in each area and quarter; the transition quarters "
            "before each go-live are set aside.")))
        if r.get("left_out"):
            names = [self.catchment_name(u) if r["level"] == "catchment" else u for u in r["left_out"]["units"]]
            s.blocks.append(Paragraph(_(
                "To publish no small count, the estimates leave out {units}: some of their quarters are counts "
                "below {k}, or are hidden to protect such counts.").format(units=", ".join(names),
                                                                         k=self.L.number(ev.min_count)), "caveat"))
        effect = r["effect"]
        pre = r.get("pretrend") or {}
        ri = r.get("randomization") or {}
        rows = [{"estimate": "dynamic", "label": _(AGGREGATIONS["dynamic"]), "effect": effect["att"],
                 "se": effect["se"], "low": effect["ci"][0], "high": effect["ci"][1]}]
        for name in ("simple", "group", "calendar"):
            agg = r["did"].get("aggregate", {}).get(name)
            if agg and agg.get("se") is not None:
                rows.append({"estimate": name, "label": _(AGGREGATIONS[name]), "effect": agg["att"],
                             "se": agg["se"], "low": agg["att"] - Z95 * agg["se"],
                             "high": agg["att"] + Z95 * agg["se"]})
        rows.append({"estimate": "twfe", "label": _("Two-way fixed effects (diagnostic only)"),
                     "effect": r["twfe"]["estimate"], "se": r["twfe"]["se"],
                     "low": r["twfe"]["estimate"] - Z95 * r["twfe"]["se"],
                     "high": r["twfe"]["estimate"] + Z95 * r["twfe"]["se"]})
        self.table("rollout_effects", _("Effect of IES on the job-start rate (percentage points)"), [
            Column("label", _("Estimate")), Column("effect", _("Effect (points)"), "signed_points"),
            *self.ci("signed_points")],
            rows, f"evaluation rollout: {r['units']} {r['level']}s, {r['first_period']} to {r['last_period']}")
        tests = []
        if pre:
            tests.append({"test": "pretrend", "label": _("Pre-trend test (no difference before the transition)"),
                          "statistic": pre["statistic"], "p_value": pre["p_value"]})
        if ri:
            tests.append({"test": "randomization", "label": _("Randomization inference (go-live dates reassigned)"),
                          "statistic": None, "p_value": ri["p_value"]})
        self.table("rollout_tests", _("Checks on the rollout estimate"), [
            Column("label", _("Check")), Column("statistic", _("Statistic"), "ratio"),
            Column("p_value", _("p-value"), "p")], tests, "evaluation rollout: pre-trend and randomization tests")
        window = -r["anticipation_quarters"] - 4
        es = [{"event_time": e["event_time"], "effect": e["att"], "low": e["band"][0], "high": e["band"][1]}
              for e in r["event_study"] if e["event_time"] >= window and e["band"][0] is not None
              and not math.isnan(e["band"][0])]
        self.table("event_study", _("Effect by quarters since go-live (simultaneous 95 % bands, points)"), [
            Column("event_time", _("Quarters since go-live"), "text"),
            Column("effect", _("Effect (points)"), "signed_points"),
            Column("low", _("Band low"), "signed_points"), Column("high", _("Band high"), "signed_points")], es,
            "evaluation rollout: dynamic aggregation, bootstrap bands")
        title = _("Effect of IES on the job-start rate by quarters since go-live")
        alt_text = _("Event-study chart: the estimated effect in percentage points for each quarter before and "
                     "after an area's go-live, with simultaneous 95 % bands; the shaded quarters are the "
                     "transition, the dashed line marks no effect.")
        pts = [e | {"effect_pts": 100 * e["effect"], "low_pts": 100 * e["low"], "high_pts": 100 * e["high"]}
               for e in es]
        if pts:
            s.blocks.append(self.figure("event_study_chart", title, alt_text, charts.intervals(
                pts, category="event_time", value="effect_pts", low="low_pts", high="high_pts",
                alt_text=alt_text, x_title=_("Effect (points)"), y_title=_("Quarters since go-live"),
                numeric_category=True, shade=(-r["anticipation_quarters"] - 0.5, -0.5)), "event_study"))
        s.blocks += [TableRef("event_study"), TableRef("rollout_effects"), TableRef("rollout_tests")]
        if pre and pre["p_value"] < 0.05:
            s.blocks.append(Paragraph(_(
                "Caution: before the transition, the areas that moved were already on a different path from the "
                "others (pre-trend test p = {p}). The estimate may mix the effect of IES with that difference.")
                .format(p=self.f("p", pre["p_value"])), "caveat"))
        sc = [{"unit": u, "name": self.catchment_name(u), "treatment_period": v["treatment_period"],
               "gap": v["att_post_mean"], "pre_rmspe": v["pre_rmspe"], "placebo_p": v["placebo_p_value"]}
              for u, v in r["synthetic_controls"].items()]
        if sc:
            self.table("synthetic_controls", _("Synthetic controls for the prototype areas (points)"), [
                Column("name", _("Catchment area")), Column("treatment_period", _("From"), "text"),
                Column("gap", _("Mean gap after (points)"), "signed_points"),
                Column("pre_rmspe", _("Fit before (RMSPE, points)"), "points"),
                Column("placebo_p", _("Placebo p-value"), "p")], sc, "evaluation rollout: synthetic controls")
            s.blocks.append(Paragraph(_(
                "The three prototype areas moved first, with no area yet untreated to compare them with for long. "
                "Each is compared with a synthetic control: a weighted mix of later areas that tracked it before "
                "2021. The placebo p-value is the share of areas whose own placebo gap is as large.")))
            s.blocks.append(TableRef("synthetic_controls"))
            paths = [{"unit": u, "name": self.catchment_name(u), "period": g["period"], "gap": g["gap"]}
                     for u, v in r["synthetic_controls"].items() for g in v["gaps"]]
            self.table("synthetic_control_gaps", _("Each prototype area minus its synthetic control, by quarter "
                                                   "(points)"), [
                Column("name", _("Catchment area")), Column("period", _("Quarter"), "period"),
                Column("gap", _("Gap (points)"), "signed_points")], paths, "evaluation rollout: synthetic controls")
            title = _("Prototype areas against their synthetic controls, by quarter")
            alt_text = _("Line chart of the difference in job-start rate, in percentage points, between each "
                         "prototype area and its synthetic control in each quarter; before 2021 the lines should "
                         "stay near zero, after it they show the estimated effect.")
            order = sorted({p["period"] for p in paths})
            pts = [p | {"gap_pts": 100 * p["gap"], "period_label": self.L.period(p["period"])} for p in paths
                   if p["gap"] is not None]  # a quarter the public edition withholds
            if pts:
                s.blocks.append(self.figure("synthetic_chart", title, alt_text, charts.lines(
                    pts, x="period_label", y="gap_pts", series="name", alt_text=alt_text, x_title=_("Quarter"),
                    y_title=_("Gap (points)"), percent=False, zero=True, sort=[self.L.period(p) for p in order]),
                    "synthetic_control_gaps"))
                s.blocks.append(TableRef("synthetic_control_gaps"))
        s.blocks.append(Paragraph(_(
            "What this can and cannot say: the estimate compares areas that had moved with areas that had not yet "
            "moved, in the same quarters. It assumes that, without IES, both would have followed parallel paths, "
            "and that nothing else changed at each area's go-live. Local shocks at the same dates, or differences "
            "in who was referred, would bias it. A wide interval means the data cannot tell a small effect from "
            "none."), "caveat"))
        return s

    def providers(self) -> Section:
        _ = self._
        ev = self.ev
        s = Section("providers", _("Providers, once their clients' needs are accounted for"))
        p = ev.providers
        if p is None:
            s.blocks.append(Paragraph(_("Providers were not rated: too few clients served a year ago or more."),
                                      "caveat"))
            return s
        s.blocks.append(Paragraph(_(
            "Each provider's job-start rate is compared with the rate expected for its own clients (their stream, "
            "social assistance, background and local unemployment), then shrunk toward the average in proportion "
            "to its uncertainty. This is a funnel plot, not a league table: providers inside the funnel are "
            "within what chance alone would give.")))
        rows = []
        for r in sorted(p["providers"], key=lambda r: r["provider"]):
            low, high = ((r["expected"] + c) / r["expected"] for c in r["ci"])
            rows.append({"provider": r["provider"], "n": r["n"], "observed": r["observed"],
                         "expected": r["expected"], "raw_ratio": r["raw_ratio"], "ratio": r["ratio"],
                         "low": low, "high": high, "band": r["band"]})
        self.table("providers", _("Providers: observed against expected job-start rates"), [
            Column("provider", _("Provider")), Column("n", _("Clients"), "count"),
            Column("observed", _("Observed"), "share"), Column("expected", _("Expected"), "share"),
            Column("raw_ratio", _("Observed / expected"), "ratio"), Column("ratio", _("Shrunk ratio"), "ratio"),
            *self.ci("ratio")], rows,
            f"evaluation providers: {p['model']} risk adjustment, fitted on every provider"
            + (f"; shown with at least {self.K} clients on each side of the outcome" if ev.public else ""))
        if ev.providers_withheld:
            s.blocks.append(Paragraph(_("{n} providers are not shown: fewer than {k} of their clients on one side "
                                        "of the outcome.").format(n=self.f("count", ev.providers_withheld),
                                                                  k=self.f("count", self.K)), "note"))
        if rows:
            total_n = sum(r["n"] for r in rows)
            pbar = sum(r["expected"] * r["n"] for r in rows) / total_n
            lo, hi = max(min(r["n"] for r in rows) * 0.8, 5), max(r["n"] for r in rows) * 1.2
            limits = []
            for level, z in (("95 %", Z95), ("99.8 %", Z998)):
                for side in (-1, 1):
                    for i in range(41):
                        n = lo * (hi / lo) ** (i / 40)
                        limits.append({"n": n, "limit": 1 + side * z * math.sqrt(pbar * (1 - pbar) / n) / pbar,
                                       "level": level, "line": f"{level}{side}"})
            title = _("Providers' observed-to-expected ratios against their number of clients")
            alt_text = _("Funnel plot: each dot is a provider, placed by its number of clients (log scale) and its "
                         "ratio of observed to expected job starts; dashed curves are the 95 % and 99.8 % limits "
                         "around a ratio of 1.")
            s.blocks.append(self.figure("providers_chart", title, alt_text, charts.funnel(
                [{"provider": r["provider"], "n": r["n"], "ratio": r["raw_ratio"]} for r in rows], limits,
                alt_text=alt_text, x_title=_("Clients (log scale)"), y_title=_("Observed / expected"),
                limit_title=_("Limits")), "providers"))
        s.blocks.append(TableRef("providers"))
        return s

    def funding(self) -> Section:
        _ = self._
        ev = self.ev
        s = Section("funding", _("Funding: what the rules paid and what they reward"))
        fu = ev.funding
        if fu is None:
            s.blocks.append(Paragraph(_("No funded outcome was paid on these data."), "caveat"))
            return s
        s.blocks.append(Paragraph(_(
            "Outcome payments follow the IES rules: a payment per client at each funded checkpoint, larger for "
            "stream C than for stream A, capped by each area's performance envelope. Amounts are what the rules "
            "would pay on the outcomes recorded, not what was actually transferred.")))
        per = [{"stream": r["stream"], "clients": r["clients"], "per_client": r["per_client"], "low": r["low"],
                "high": r["high"]} for r in _rows(fu["per_client"])]
        self.table("funding_per_client", _("Expected outcome payment per client served, by stream"), [
            Column("stream", _("Stream")), Column("clients", _("Clients served"), "count"),
            Column("per_client", _("Per client"), "money"), *self.ci("money")], per,
            f"funding report: model {fu['model']['id']}")
        title = _("Expected outcome payment per client served, by stream")
        alt_text = _("Bar chart of the outcome payment a provider can expect per client served in streams A, B "
                     "and C under the IES rules, with 95 % intervals.")
        shown = [r | {"stream_label": _("Stream {s}").format(s=r["stream"])} for r in per
                 if r["per_client"] is not None]
        if shown:
            s.blocks.append(self.figure("funding_chart", title, alt_text, charts.bars(
                shown, category="stream_label", value="per_client", low="low", high="high",
                alt_text=alt_text, x_title=_("Dollars per client served"), percent=False),
                "funding_per_client"))
        gaps = [{"model": key, "label": label, "gap": g["gap"], "low": g["low"], "high": g["high"]}
                for key, label, g in (("ies", _("IES rules"), fu["gap"]), ("ies_flat", _("Weights flattened"),
                                                                            fu["flat_gap"])) if g is not None]
        self.table("funding_gap", _("Stream A minus stream C: the difference in expected payment per client served"),
                   [Column("label", _("Rules")), Column("gap", _("A minus C per client"), "money"),
                    *self.ci("money")], gaps,
                   f"funding report: creaming gap, model {fu['model']['id']} and the same with flattened weights")
        s.blocks += [TableRef("funding_per_client"), TableRef("funding_gap")]
        years = [{"fiscal_year": r["fiscal_year"], "stream": r["stream"], "paid": r["paid"],
                  "checkpoints": r["checkpoints"], "status": r.get("status", "published")}
                 for r in _rows(fu["by_year"]) if r["fiscal_year"] != TOTAL and r["stream"] != TOTAL]
        self.table("funding_by_year", _("Outcome payments by fiscal year and stream"), [
            Column("fiscal_year", _("Fiscal year"), "period"), Column("stream", _("Stream")),
            Column("checkpoints", _("Funded checkpoints"), "count"), Column("paid", _("Paid"), "money0")], years,
            f"funding report: model {fu['model']['id']}, totals by fiscal_year and stream")
        scen = [{"stream": r["stream"], "ies": r["ies"], "flat": r["ies_flat"], "difference": r["difference"],
                 "status": r.get("status", "published")} for r in _rows(fu["scenario"])]
        self.table("funding_scenario", _("All years: IES rules against the same rules with stream weights "
                                         "flattened"), [
            Column("stream", _("Stream")), Column("ies", _("IES rules"), "money0"),
            Column("flat", _("Weights flattened"), "money0"), Column("difference", _("Difference"), "money0")],
            scen, "funding simulate: ies against ies_flat by stream")
        s.blocks += [TableRef("funding_by_year"), TableRef("funding_scenario")]
        return s

    def voices(self) -> Section:
        _ = self._
        ev = self.ev
        s = Section("voices", _("What job seekers, providers, managers and employers say"))
        v = ev.voices
        if v is None:
            s.blocks.append(Paragraph(_("No survey answers are in the warehouse."), "caveat"))
            return s
        from esmonitor.voices.instruments import builtin

        questions: dict[str, str] = {}
        for role in ROLES:
            for q in builtin(role).questions:
                questions.setdefault(q.name, q.fr if self.L.code == "fr" else q.en)
        rows = [{"role": r["role"], "role_label": _(ROLES.get(r["role"], r["role"])), "wave": r["wave"],
                 "question": r["question"], "question_label": questions.get(r["question"], r["question"]),
                 "n": r["n"], "agree": r["agree"], "agree_low": r["agree_low"], "agree_high": r["agree_high"],
                 "mean": r["mean"], "status": r.get("status", "published")}
                for r in _rows(v["summary"].sort("role", "question", "wave"))]
        self.table("voices_summary", _("Closed questions: share who agree, by role and survey wave"), [
            Column("role_label", _("Respondents")), Column("question_label", _("Statement")),
            Column("wave", _("Wave")), Column("n", _("Answers"), "count"),
            Column("agree", _("Agree"), "share"), Column("agree_low", _("95 % CI low"), "share"),
            Column("agree_high", _("95 % CI high"), "share"), Column("mean", _("Mean (1 to 5)"), "score")], rows,
            "voices summary by role and wave" + (f"; disclosure control K = {self.K}" if ev.public else ""))
        seekers = [r | {"label": f"{r['wave']} · {r['question_label']}"} for r in rows
                   if r["role"] == "job_seeker" and r["agree"] is not None]
        title = _("Job seekers who agree, by statement and survey wave")
        alt_text = _("Bar chart of the share of job seekers who agree with each statement of the survey, one bar "
                     "per survey wave, with 95 % intervals.")
        if seekers:
            s.blocks.append(self.figure("voices_chart", title, alt_text, charts.bars(
                seekers, category="label", value="agree", low="agree_low", high="agree_high",
                alt_text=alt_text, x_title=_("Share who agree"), colour="wave"),
                "voices_summary"))
        s.blocks.append(TableRef("voices_summary"))
        ch = v["change"]
        if ch is not None:
            self.table("voices_change", _("Change in job seekers' answers between survey waves (1 to 5 scale)"), [
                Column("question_label", _("Statement")), Column("first", _("First wave")),
                Column("second", _("Second wave")), Column("difference", _("Change"), "signed_score"),
                *self.ci("signed_score")],
                [{"question": ch["question"], "question_label": questions.get(ch["question"], ch["question"]),
                  "role": ch["role"], "first": ch["first"], "second": ch["second"], "difference": ch["difference"],
                  "low": ch["low"], "high": ch["high"]}], "voices compare: Welch's t interval")
            s.blocks.append(TableRef("voices_change"))
        trows = []
        for lang, themes in v["themes"].items():
            for t in themes:
                trows.append({"language": lang, "label": t["label"], "size": t["size"],
                              "keywords": ", ".join(t["keywords"][:5])})
        if trows:
            self.table("themes", _("Themes of the open answers"), [
                Column("language", _("Language")), Column("label", _("Theme")), Column("size", _("Answers"), "count"),
                Column("keywords", _("Key words"))], trows,
                "voices themes (redacted answers)" + (f"; themes of at least {self.K} answers" if ev.public else ""))
            s.blocks.append(Paragraph(_(
                "Open answers are redacted (names, contacts and case numbers removed), then grouped into themes by "
                "their words. Quotes come only from groups of at least {k} respondents.").format(
                k=self.f("count", self.K))))
            s.blocks.append(TableRef("themes"))
            items = []
            for themes in v["themes"].values():
                for t in themes:
                    if t["quotes"]:
                        items.append((f"{t['label']} ({self.f('count', t['size'])})", t["quotes"]))
            if items:
                s.blocks.append(Quotes(_("What people wrote"), items[:8]))
        return s

    def quality(self) -> Section:
        _ = self._
        ev = self.ev
        s = Section("quality", _("Data quality and methods"))
        s.blocks.append(Paragraph(_(
            "Rows that break a validation rule are kept out of the figures and held for correction (quarantined); "
            "the rest of the file is loaded.")))
        files = [{"file_name": r["file_name"], "entity": r["entity"], "rows_quarantined": r["rows_quarantined"],
                  **({"rows_read": r["rows_read"], "rows_loaded": r["rows_loaded"]} if not ev.public else {}),
                  "status": r["status"]} for r in _rows(ev.quality["files"])]
        columns = [Column("file_name", _("File")), Column("entity", _("Contents"))]
        if not ev.public:
            columns += [Column("rows_read", _("Rows read"), "count"), Column("rows_loaded", _("Rows loaded"), "count")]
        self.table("quality_files", _("Files loaded and rows quarantined"),
                   [*columns, Column("rows_quarantined", _("Rows quarantined"), "count")], files,
                   "ingest ledger" + (f"; quarantined totals under disclosure control K = {self.K}"
                                      if ev.public else ""))
        rules = _rows(ev.quality["rules"])
        self.table("quality_rules", _("Quarantined rows by file and rule"), [
            Column("file_name", _("File")), Column("rule", _("Rule")), Column("rows", _("Rows"), "count")], rules,
            "quarantine" + (f"; disclosure control K = {self.K}" if ev.public else ""))
        s.blocks += [TableRef("quality_files"), TableRef("quality_rules")]
        if ev.public:
            s.blocks.append(Paragraph(_(
                "How figures are protected: no published count, and no count that can be worked out from the "
                "published ones, is below {k}. Cells below {k} are suppressed (primary), and other cells are "
                "suppressed so that the hidden ones cannot be recovered from totals (secondary). A dash (—) marks "
                "a suppressed figure.").format(k=self.f("count", self.K))))
            counts = []
            for tid, t in self.tables.items():
                statuses = [r.get("status") for r in t.rows if r.get("status")]
                if statuses:
                    counts.append({"table": t.title, "table_id": tid,
                                   "published": statuses.count("published"), "primary": statuses.count("primary"),
                                   "secondary": statuses.count("secondary")})
            self.table("suppression", _("Suppressed rows in each table of this report"), [
                Column("table", _("Table")), Column("published", _(STATUS["published"]), "count"),
                Column("primary", _(STATUS["primary"]), "count"),
                Column("secondary", _(STATUS["secondary"]), "count")], counts, "this report")
            s.blocks.append(TableRef("suppression"))
        defs = [{"id": i, "name": self.name(i), "definition": BY_ID[i].definition_fr if self.L.code == "fr"
                 else BY_ID[i].definition_en} for i in indicator_ids()]
        self.table("definitions", _("Definitions of the indicators"), [
            Column("id", _("Identifier")), Column("name", _("Indicator")), Column("definition", _("Definition"))],
            defs, "indicator catalogue")
        versions = [{"item": k, "version": v} for k, v in ev.versions.items()]
        self.table("versions", _("Versions of the data and the code"), [
            Column("item", _("Component")), Column("version", _("Version"))], versions, "this report")
        s.blocks += [TableRef("definitions"), TableRef("versions")]
        return s


def build(ev: Evidence, lang: str, commentary: dict[str, list[str]] | None = None,
          generated: date | None = None) -> Document:
    """The whole report in ``lang``; ``commentary`` maps a section id (or ``recommendations``)
    to the analyst's paragraphs, shown apart from the computed text."""
    from esmonitor.report.findings import find_all

    L = Language(lang)
    _ = L.gettext
    b = Builder(ev, L, commentary)
    sections = [b.system(), b.access(), b.served(), b.outcomes(), b.gaps(), b.rollout(), b.providers(), b.funding(),
                b.voices(), b.quality()]
    findings = find_all(b.tables, L, ev)
    # each chart's title states its finding: the clearest finding drawn from the chart's data
    shows = {"funnel_chart": "conversion", "waits_chart": "wait", "streams_chart": "stream_c",
             "outcomes_chart": "outcome_3m", "gaps_chart": "gap", "event_study_chart": "rollout",
             "providers_chart": "providers", "funding_chart": "funding", "voices_chart": "voices"}
    for fig in b.figures.values():
        best = next((f for f in findings if f.rule == shows.get(fig.id)), None)
        if best is not None:
            fig.headline = best.statement
    summary = Section("summary", _("Summary of findings"))
    for s in [summary, *sections]:
        s.commentary = list((commentary or {}).get(s.id, []))
    audience = {"public": _("Public edition"), "province": _("Province edition"), "admin": _("Province edition")}.get(
        ev.audience, _("Edition for {audience}").format(audience=ev.audience))
    title = _("Integrated Employment Services in Ontario: monitoring report, {period}").format(
        period=L.period(ev.period))
    subtitle = _("{edition}. Data as of {date}.").format(edition=audience, date=L.date(ev.as_of))
    meta = {"period": ev.period, "previous": ev.previous, "grain": ev.grain, "as_of": ev.as_of.isoformat(),
            "min_count": ev.min_count, "generated": (generated or date.today()).isoformat(),
            "versions": ev.versions}
    return Document(lang, title, subtitle, ev.audience, ev.public, [summary, *sections], findings, b.tables,
                    b.figures, list((commentary or {}).get("recommendations", [])), meta, ev.synthetic)
