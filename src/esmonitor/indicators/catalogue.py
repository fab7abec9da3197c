"""The indicator catalogue, declared as data.

Each :class:`Indicator` names the unit-record frame it is computed from (see
:mod:`esmonitor.indicators.engine`), the date that places a record in a period, and the
numerator and denominator as Polars expressions over that frame. ``docs/indicators.md`` is
generated from this list (``esmonitor indicators --catalogue-doc``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

Statistic = Literal["count", "proportion", "median", "mean", "gap", "distinct", "repeat", "caseload"]
Unit = Literal["people", "referrals", "proportion", "percentage points", "days", "CAD per hour",
               "services per person", "employers", "action plans", "CAD"]
Better = Literal["higher", "lower"] | None

#: Breakdowns every person-level frame carries.
PLACE = ("catchment_id", "ssm_id", "provider_id", "site_id")
PEOPLE = ("stream", "social_assistance", "gender", "indigenous", "francophone", "racialized",
          "disability", "lgbtq")


@dataclass(frozen=True)
class Indicator:
    id: str
    en: str
    fr: str
    definition_en: str
    definition_fr: str
    frame: str
    date: str
    statistic: Statistic
    unit: Unit
    better: Better
    numerator: pl.Expr  # a boolean filter (count, proportion) or the value (median, mean)
    denominator: pl.Expr | None = None  # boolean filter of the records in the denominator
    numerator_text: str = ""
    denominator_text: str = ""
    breakdowns: tuple[str, ...] = PLACE + PEOPLE
    #: for gaps: the focus group and the group it is compared with (value = reference - focus)
    focus: pl.Expr | None = None
    reference: pl.Expr | None = None


_c = pl.col
TRUE = pl.lit(True)


def _outcome_rate(k: int) -> list[Indicator]:
    achieved = _c("status") == "achieved"
    at_k = _c("checkpoint") == k
    decided = at_k & (_c("status") != "pending")
    return [
        Indicator(
            f"outcome_{k}m_per_starter", f"{k}-month funded outcome rate (job starters)",
            f"Taux de résultats financés à {k} mois (personnes ayant commencé un emploi)",
            f"Share of job starters whose {k}-month checkpoint is achieved under the IES rules; "
            "checkpoints still pending at the as-of date are left out. Period: job start.",
            f"Part des personnes ayant commencé un emploi dont le point de contrôle de {k} mois est "
            "atteint selon les règles des SEI; les points encore en attente sont exclus. Période : "
            "début de l'emploi.",
            "outcome", "placement_start", "proportion", "proportion", "higher",
            at_k & achieved, decided, f"starters achieved at {k} months",
            f"starters whose {k}-month checkpoint is decided"),
        Indicator(
            f"outcome_{k}m_per_served", f"{k}-month funded outcome rate (clients served)",
            f"Taux de résultats financés à {k} mois (clients servis)",
            f"Share of clients served (with an action plan) who reached a funded {k}-month outcome; "
            f"clients whose plan began less than {k + 3} months before the as-of date are left out. "
            "Period: action plan start.",
            f"Part des clients servis (avec un plan d'action) ayant atteint un résultat financé à {k} "
            f"mois; les clients dont le plan a commencé moins de {k + 3} mois avant la date de "
            "référence sont exclus. Période : début du plan.",
            "client", "plan_start", "proportion", "proportion", "higher",
            _c(f"achieved_{k}m"), _c(f"mature_{k}m"), f"clients achieved at {k} months",
            "clients served long enough ago"),
    ]


CATALOGUE: tuple[Indicator, ...] = (
    Indicator(
        "referrals", "Referrals", "Aiguillages",
        "Referrals received. Break down by source for referrals by source.",
        "Aiguillages reçus. Ventiler par source pour les aiguillages par source.",
        "referral", "referral_date", "count", "referrals", None, TRUE,
        numerator_text="referrals", breakdowns=(*PLACE, "source", *PEOPLE)),
    Indicator(
        "referral_to_intake", "Referral-to-intake conversion", "Conversion de l'aiguillage à l'accueil",
        "Share of resolved referrals (not pending) that led to an intake.",
        "Part des aiguillages résolus (non en attente) ayant mené à un accueil.",
        "referral", "referral_date", "proportion", "proportion", "higher",
        _c("result") == "intake", _c("result") != "pending", "referrals with an intake",
        "resolved referrals", breakdowns=(*PLACE, "source", *PEOPLE)),
    Indicator(
        "days_referral_to_intake", "Median days from referral to intake",
        "Nombre médian de jours entre l'aiguillage et l'accueil",
        "Median number of days between a referral and its intake, for referrals that led to one.",
        "Nombre médian de jours entre un aiguillage et l'accueil qui en a découlé.",
        "referral", "referral_date", "median", "days", "lower",
        _c("days_to_intake"), _c("result") == "intake", "days to intake", "referrals with an intake",
        breakdowns=(*PLACE, "source", *PEOPLE)),
    Indicator(
        "days_intake_to_assessment", "Median days from intake to Common Assessment",
        "Nombre médian de jours entre l'accueil et l'évaluation commune",
        "Median days between a client's intake (the intake that answered their referral, or their "
        "registration) and their first Common Assessment.",
        "Nombre médian de jours entre l'accueil d'un client et sa première évaluation commune.",
        "client", "plan_start", "median", "days", "lower",
        _c("days_intake_to_assessment"), _c("days_intake_to_assessment").is_not_null(),
        "days", "clients assessed"),
    Indicator(
        "days_assessment_to_plan", "Median days from assessment to action plan",
        "Nombre médian de jours entre l'évaluation et le plan d'action",
        "Median days between the first Common Assessment and the start of the first action plan.",
        "Nombre médian de jours entre la première évaluation commune et le début du premier plan "
        "d'action.",
        "client", "plan_start", "median", "days", "lower",
        _c("days_assessment_to_plan"), _c("days_assessment_to_plan").is_not_null(),
        "days", "clients with both dates"),
    Indicator(
        "clients_served", "Clients served (new action plans)", "Clients servis (nouveaux plans d'action)",
        "People whose first employment action plan started in the period.",
        "Personnes dont le premier plan d'action d'emploi a commencé pendant la période.",
        "client", "plan_start", "count", "people", None, TRUE, numerator_text="clients"),
    *[Indicator(
        f"intake_stream_{s.lower()}", f"Share of new clients in stream {s}",
        f"Part des nouveaux clients dans le volet {s}",
        f"Share of newly assessed clients placed in stream {s} (the creaming watch: a falling stream C "
        "share among intakes can mean harder clients are turned away).",
        f"Part des clients nouvellement évalués placés dans le volet {s} (une baisse de la part du "
        "volet C peut signaler l'écrémage).",
        "client", "assessment_date", "proportion", "proportion", None,
        _c("stream") == s, _c("stream").is_not_null(), f"clients in stream {s}", "clients assessed",
        breakdowns=PLACE + PEOPLE[1:]) for s in "ABC"],
    Indicator(
        "service_intensity", "Services per client served", "Services par client servi",
        "Mean number of services recorded for a client served, by the start of their first plan.",
        "Nombre moyen de services enregistrés par client servi.",
        "client", "plan_start", "mean", "services per person", None,
        _c("services"), TRUE, "services", "clients served"),
    Indicator(
        "pre_employment_completion", "Completion of pre-employment services",
        "Achèvement des services préalables à l'emploi",
        "Share of clients who started pre-employment services and have one with an end date.",
        "Part des clients ayant commencé des services préalables à l'emploi qui en ont terminé un.",
        "client", "plan_start", "proportion", "proportion", "higher",
        _c("pre_employment_completed"), _c("pre_employment_started"),
        "clients who completed", "clients who started"),
    *[ind for k in (1, 3, 6, 12) for ind in _outcome_rate(k)],
    Indicator(
        "retention_12m_given_1m", "Retention: 12-month outcome after a 1-month outcome",
        "Maintien : résultat à 12 mois après un résultat à 1 mois",
        "Share of job starters with an achieved 1-month outcome whose 12-month checkpoint, once "
        "decided, is also achieved. Period: job start.",
        "Part des personnes ayant un résultat à 1 mois dont le point de contrôle de 12 mois, une fois "
        "décidé, est aussi atteint. Période : début de l'emploi.",
        "starter", "placement_start", "proportion", "proportion", "higher",
        _c("achieved_12m"), _c("achieved_1m") & _c("decided_12m"),
        "starters achieved at 12 months", "starters achieved at 1 month, 12 months decided"),
    Indicator(
        "median_starting_wage", "Median starting wage", "Salaire de départ médian",
        "Median hourly wage of the job a client started after their action plan began.",
        "Salaire horaire médian de l'emploi commencé après le début du plan d'action.",
        "starter", "placement_start", "median", "CAD per hour", "higher",
        _c("starting_wage"), TRUE, "hourly wage", "job starters",
        breakdowns=(*PLACE, *PEOPLE, "naics_sector", "noc_broad")),
    Indicator(
        "job_starters", "Job starters", "Personnes ayant commencé un emploi",
        "Clients who started a job after their action plan began. Break down by naics_sector or "
        "noc_broad for employment by sector and occupation.",
        "Clients ayant commencé un emploi après le début de leur plan d'action. Ventiler par "
        "naics_sector ou noc_broad pour l'emploi par secteur et par profession.",
        "starter", "placement_start", "count", "people", None, TRUE, numerator_text="job starters",
        breakdowns=(*PLACE, *PEOPLE, "naics_sector", "noc_broad")),
)

EQUITY_GROUPS: dict[str, tuple[str, str]] = {
    "indigenous": ("Indigenous clients", "clients autochtones"),
    "francophone": ("francophone clients", "clients francophones"),
    "racialized": ("racialized clients", "clients racisés"),
    "disability": ("clients with a disability", "clients handicapés"),
    "lgbtq": ("2SLGBTQI+ clients", "clients 2ELGBTQI+"),
}


def _gap(id_: str, en_group: str, fr_group: str, focus: pl.Expr, reference: pl.Expr,
         en_ref: str, fr_ref: str, drop: str) -> Indicator:
    return Indicator(
        id_, f"3-month outcome gap: {en_group}", f"Écart de résultats à 3 mois : {fr_group}",
        f"3-month funded outcome rate per client served of {en_ref} minus that of {en_group}, in "
        "proportion points (positive: the group is behind), with Newcombe's interval for a "
        "difference of proportions. Clients who preferred not to answer are in neither group.",
        f"Taux de résultats financés à 3 mois par client servi des {fr_ref} moins celui des "
        f"{fr_group}, en points de proportion (positif : le groupe est en retard), avec "
        "l'intervalle de Newcombe. Les clients ayant préféré ne pas répondre ne sont dans aucun groupe.",
        "client", "plan_start", "gap", "percentage points", "lower",
        _c("achieved_3m"), _c("mature_3m"), "clients achieved at 3 months, per group",
        "clients served long enough ago, per group",
        breakdowns=tuple(b for b in PLACE + PEOPLE if b != drop), focus=focus, reference=reference)


GAPS: tuple[Indicator, ...] = (
    _gap("gap_outcome_3m_social_assistance", "social-assistance clients", "clients de l'aide sociale",
         _c("social_assistance") != "none", _c("social_assistance") == "none",
         "other clients", "autres clients", "social_assistance"),
    *[_gap(f"gap_outcome_3m_{attr}", en, fr, _c(attr) == "yes", _c(attr) == "no",
           "other clients", "autres clients", attr) for attr, (en, fr) in EQUITY_GROUPS.items()],
    _gap("gap_outcome_3m_women", "women", "femmes", _c("gender") == "woman", _c("gender") == "man",
         "men", "hommes", "gender"),
)

EMPLOYERS: tuple[Indicator, ...] = (
    Indicator(
        "hiring_employers", "Distinct hiring employers", "Employeurs distincts ayant embauché",
        "Number of distinct employers who hired a job starter in the period.",
        "Nombre d'employeurs distincts ayant embauché une personne pendant la période.",
        "starter", "placement_start", "distinct", "employers", "higher",
        _c("employer_id"), _c("employer_id").is_not_null(), "employers", "-",
        breakdowns=(*PLACE, "naics_sector")),
    Indicator(
        "repeat_employers", "Repeat employers", "Employeurs récurrents",
        "Number of employers who hired two or more job starters in the period.",
        "Nombre d'employeurs ayant embauché au moins deux personnes pendant la période.",
        "starter", "placement_start", "repeat", "employers", "higher",
        _c("employer_id"), _c("employer_id").is_not_null(), "employers with 2+ hires", "-",
        breakdowns=(*PLACE, "naics_sector")),
)

JOB_STARTS: tuple[Indicator, ...] = (
    Indicator(
        "job_start_rate", "Job-start rate (clients served)", "Taux d'entrée en emploi (clients servis)",
        "Share of clients served whose action plan began at least 12 months before the as-of date "
        "and who started a job after it began (any job, before the funded-outcome rules).",
        "Part des clients servis dont le plan d'action a commencé au moins 12 mois avant la date de "
        "référence et qui ont commencé un emploi après ce début (tout emploi, avant les règles de "
        "résultats financés).",
        "client", "plan_start", "proportion", "proportion", "higher",
        _c("started_job"), _c("mature_job"), "clients who started a job", "clients served 12+ months ago"),
    Indicator(
        "gap_job_start_social_assistance", "Job-start gap: social-assistance clients",
        "Écart d'entrée en emploi : clients de l'aide sociale",
        "Job-start rate of other clients minus that of social-assistance clients, in proportion "
        "points (positive: social-assistance clients are behind), with Newcombe's interval.",
        "Taux d'entrée en emploi des autres clients moins celui des clients de l'aide sociale, en "
        "points de proportion (positif : ces derniers sont en retard), avec l'intervalle de Newcombe.",
        "client", "plan_start", "gap", "percentage points", "lower",
        _c("started_job"), _c("mature_job"), "clients who started a job, per group",
        "clients served 12+ months ago, per group",
        breakdowns=tuple(b for b in PLACE + PEOPLE if b != "social_assistance"),
        focus=_c("social_assistance") != "none", reference=_c("social_assistance") == "none"),
)

SYSTEM: tuple[Indicator, ...] = (
    Indicator(
        "active_caseload", "Active caseload", "Charge de cas active",
        "Employment action plans open at the end of the period (started, not yet closed). With "
        "--grain all: open on the as-of date.",
        "Plans d'action d'emploi ouverts à la fin de la période (commencés, pas encore fermés). Avec "
        "--grain all : ouverts à la date de référence.",
        "plan", "start_date", "caseload", "action plans", None, TRUE,
        numerator_text="open plans", denominator_text="close_date"),
    Indicator(
        "wioa_employment_q2", "Employment rate, 2nd quarter after exit (WIOA)",
        "Taux d'emploi, 2e trimestre après la sortie (WIOA)",
        "Share of closed action plans (exits) whose client held any job during the second calendar "
        "quarter after the exit quarter, as in the US WIOA primary indicator; exits whose second "
        "quarter has not ended by the as-of date are left out. Period: exit.",
        "Part des plans d'action fermés (sorties) dont le client occupait un emploi pendant le "
        "deuxième trimestre civil suivant celui de la sortie, comme l'indicateur principal WIOA "
        "américain. Période : sortie.",
        "exiter", "close_date", "proportion", "proportion", "higher",
        _c("employed_q2"), _c("decided_q2"), "exits employed in the 2nd quarter after",
        "exits whose 2nd quarter after has ended"),
    Indicator(
        "wioa_employment_q4", "Employment rate, 4th quarter after exit (WIOA)",
        "Taux d'emploi, 4e trimestre après la sortie (WIOA)",
        "As wioa_employment_q2, for the fourth calendar quarter after the exit quarter.",
        "Comme wioa_employment_q2, pour le quatrième trimestre civil suivant celui de la sortie.",
        "exiter", "close_date", "proportion", "proportion", "higher",
        _c("employed_q4"), _c("decided_q4"), "exits employed in the 4th quarter after",
        "exits whose 4th quarter after has ended"),
    Indicator(
        "wioa_median_earnings_q2", "Median earnings, 2nd quarter after exit (WIOA)",
        "Gains médians, 2e trimestre après la sortie (WIOA)",
        "Median quarterly earnings (hours x hourly wage x weeks worked in the quarter, summed over "
        "jobs) of exits employed in the second quarter after the exit quarter.",
        "Gains trimestriels médians (heures x salaire horaire x semaines travaillées, additionnés sur "
        "les emplois) des sorties en emploi au deuxième trimestre suivant la sortie.",
        "exiter", "close_date", "median", "CAD", "higher",
        _c("earnings_q2"), _c("decided_q2") & _c("employed_q2"), "earnings", "exits employed in Q2"),
)

CATALOGUE = (*CATALOGUE, *JOB_STARTS, *GAPS, *EMPLOYERS, *SYSTEM)

BY_ID: dict[str, Indicator] = {i.id: i for i in CATALOGUE}
assert len(BY_ID) == len(CATALOGUE), "duplicate indicator id"
