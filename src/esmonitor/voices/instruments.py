"""Survey instruments as data, in XLSForm (the format of KoboToolbox and ODK), English and French.

An instrument is a ``survey`` sheet (one row per question: ``type``, ``name``, ``label::English
(en)``, ``label::Français (fr)``, and esmonitor's ``theme``), a ``choices`` sheet (``list_name``,
``name``, both labels) and a ``settings`` sheet (``form_id``, ``default_language``). esmonitor
ships one per role — ESP staff, SSM staff, job seekers, employers — on the themes monitors ask
about, each with Likert items, a select-multiple and open questions; ``write_xlsform`` writes one
for KoboToolbox, ``read_xlsform`` reads a user's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from esmonitor.errors import UserInputError

ROLES = ("esp_staff", "ssm_staff", "job_seeker", "employer")
EN, FR = "label::English (en)", "label::Français (fr)"
LIKERT = "agree5"


@dataclass(frozen=True)
class Question:
    type: str        # XLSForm type: "select_one agree5", "select_multiple barriers", "text", "integer", ...
    name: str
    en: str
    fr: str
    theme: str = ""

    @property
    def kind(self) -> str:
        return self.type.split()[0]

    @property
    def list_name(self) -> str | None:
        parts = self.type.split()
        return parts[1] if len(parts) > 1 else None


@dataclass(frozen=True)
class Instrument:
    form_id: str
    role: str
    questions: tuple[Question, ...]
    choices: dict[str, tuple[tuple[str, str, str], ...]]  # list -> (name, en, fr)

    def question(self, name: str) -> Question | None:
        return next((q for q in self.questions if q.name == name), None)

    @property
    def answerable(self) -> tuple[Question, ...]:
        return tuple(q for q in self.questions if q.kind not in ("begin_group", "end_group", "note", "calculate"))


CHOICES: dict[str, tuple[tuple[str, str, str], ...]] = {
    LIKERT: (("1", "Strongly disagree", "Tout à fait en désaccord"), ("2", "Disagree", "En désaccord"),
             ("3", "Neither agree nor disagree", "Ni en accord ni en désaccord"), ("4", "Agree", "D'accord"),
             ("5", "Strongly agree", "Tout à fait d'accord")),
    "barriers": (("transport", "Transportation", "Transport"), ("childcare", "Childcare", "Garde d'enfants"),
                 ("language", "Language", "Langue"), ("disability", "Disability", "Handicap"),
                 ("digital", "Internet or computer access", "Accès à Internet ou à un ordinateur"),
                 ("housing", "Housing", "Logement"), ("none", "None of these", "Aucun de ceux-ci")),
    "catchment": (),  # filled from the reference data
    "yesno": (("yes", "Yes", "Oui"), ("no", "No", "Non"),
              ("prefer_not", "Prefer not to say", "Préfère ne pas répondre")),
}
EQUITY = ("francophone", "indigenous", "disability")  # optional self-identification (job seekers)

_COMMON_END = (
    Question("begin_group", "open", "Your comments", "Vos commentaires"),
    Question("text", "improve", "What one change would most improve employment services?",
             "Quel changement améliorerait le plus les services d'emploi?", "open"),
    Question("text", "comments", "Anything else you would like to tell us?",
             "Autre chose que vous aimeriez nous dire?", "open"),
    Question("end_group", "open", "", ""),
)
_START = (
    Question("select_one catchment", "catchment_id", "Which area are you in?", "Dans quelle région êtes-vous?"),
)


def _likert(name: str, en: str, fr: str, theme: str) -> Question:
    return Question(f"select_one {LIKERT}", name, en, fr, theme)


_ABOUT_YOU = (
    Question("begin_group", "about_you", "About you (optional)", "À propos de vous (facultatif)"),
    Question("select_one yesno", "francophone", "Do you identify as francophone?",
             "Vous identifiez-vous comme francophone?", "equity"),
    Question("select_one yesno", "indigenous", "Do you identify as Indigenous (First Nations, Métis or Inuit)?",
             "Vous identifiez-vous comme Autochtone (Premières Nations, Métis ou Inuit)?", "equity"),
    Question("select_one yesno", "disability", "Do you have a disability?", "Avez-vous un handicap?", "equity"),
    Question("end_group", "about_you", "", ""),
)

_ITEMS: dict[str, tuple[Question, ...]] = {
    "job_seeker": (
        _likert("wait_ok", "I was seen quickly after I was referred.", "On m'a reçu rapidement après ma référence.",
                "wait_times"),
        _likert("stream_fit", "The services I got fit my needs.", "Les services reçus correspondaient à mes besoins.",
                "streaming"),
        _likert("accessible", "The services were accessible to me.", "Les services m'étaient accessibles.",
                "disability_access"),
        _likert("language_ok", "I was served in the language of my choice.",
                "J'ai été servi dans la langue de mon choix.", "francophone_indigenous"),
        _likert("helped_job", "The services helped me find or keep a job.",
                "Les services m'ont aidé à trouver ou à garder un emploi.", "employer_partnerships"),
        Question("select_multiple barriers", "barriers", "What made it harder to take part?",
                 "Qu'est-ce qui a rendu votre participation plus difficile?", "disability_access"),
    ),
    "esp_staff": (
        _likert("referrals_ok", "Referrals reach us with the information we need.",
                "Les références nous parviennent avec l'information nécessaire.", "referrals"),
        _likert("admin_ok", "Administrative work leaves enough time for clients.",
                "Le travail administratif laisse assez de temps pour les clients.", "admin_burden"),
        _likert("funding_ok", "Our funding covers the cost of serving clients well.",
                "Notre financement couvre le coût d'un bon service aux clients.", "funding"),
        _likert("stream_accurate", "Clients are placed in the right stream.",
                "Les clients sont placés dans le bon volet.", "streaming"),
        _likert("wait_ok", "Clients are seen within a reasonable time.",
                "Les clients sont reçus dans un délai raisonnable.", "wait_times"),
        Question("integer", "caseload", "How many clients are on your caseload?",
                 "Combien de clients suivez-vous?", "admin_burden"),
    ),
    "ssm_staff": (
        _likert("funding_ok", "The funding model lets providers serve clients with complex needs.",
                "Le modèle de financement permet de servir les clients aux besoins complexes.", "funding"),
        _likert("referrals_ok", "Referral pathways from social assistance work well.",
                "Les références de l'aide sociale fonctionnent bien.", "referrals"),
        _likert("francophone_ok", "Francophone and Indigenous clients have services suited to them.",
                "Les clients francophones et autochtones ont des services adaptés.", "francophone_indigenous"),
        _likert("admin_ok", "Reporting requirements are reasonable.", "Les exigences de reddition de comptes "
                "sont raisonnables.", "admin_burden"),
    ),
    "employer": (
        _likert("partner_ok", "Working with employment service providers is easy.",
                "Travailler avec les fournisseurs de services d'emploi est facile.", "employer_partnerships"),
        _likert("candidates_fit", "The candidates referred to us fit our needs.",
                "Les candidats qui nous sont proposés répondent à nos besoins.", "employer_partnerships"),
        _likert("subsidy_ok", "Wage subsidies and incentives are easy to use.",
                "Les subventions salariales et incitatifs sont faciles à utiliser.", "funding"),
        _likert("accommodation_ok", "We get the support we need to accommodate workers with disabilities.",
                "Nous recevons l'appui nécessaire pour accommoder les travailleurs handicapés.", "disability_access"),
    ),
}


def builtin(role: str) -> Instrument:
    """The instrument esmonitor ships for ``role``."""
    if role not in ROLES:
        raise UserInputError(f"no built-in instrument for {role!r}", hint=f"one of {', '.join(ROLES)}")
    from esmonitor.model.reference import catchments

    group = Question("begin_group", "experience", "Your experience", "Votre expérience")
    end = Question("end_group", "experience", "", "")
    questions = (*_START, group, *_ITEMS[role], end, *(_ABOUT_YOU if role == "job_seeker" else ()), *_COMMON_END)
    choices = dict(CHOICES)
    choices["catchment"] = tuple((c.catchment_id, c.name_en, c.name_fr) for c in catchments())
    return Instrument(f"esmonitor_{role}", role, questions, choices)


def write_xlsform(instrument: Instrument, path: Path) -> None:
    """An XLSForm workbook (survey, choices, settings) KoboToolbox and ODK can import."""
    import polars as pl
    from xlsxwriter import Workbook

    survey = pl.DataFrame([{"type": q.type, "name": q.name, EN: q.en, FR: q.fr, "theme": q.theme}
                           for q in instrument.questions])
    choices = pl.DataFrame([{"list_name": name, "name": c[0], EN: c[1], FR: c[2]}
                            for name, rows in instrument.choices.items() for c in rows])
    settings = pl.DataFrame({"form_id": [instrument.form_id], "default_language": ["English (en)"],
                             "role": [instrument.role]})
    with Workbook(str(path)) as book:
        survey.write_excel(book, worksheet="survey")
        choices.write_excel(book, worksheet="choices")
        settings.write_excel(book, worksheet="settings")


def read_xlsform(path: Path) -> Instrument:
    """A user's XLSForm (``label`` or ``label::...`` columns; ``settings`` may name the role)."""
    import polars as pl

    try:
        sheets: dict[str, Any] = pl.read_excel(path, sheet_id=0)
    except Exception as err:  # the engine's own errors, for a file that is not a workbook
        raise UserInputError(f"{path}: not a readable XLSForm workbook ({err})") from None
    if "survey" not in sheets:
        raise UserInputError(f"{path}: no 'survey' sheet", hint="an XLSForm has survey, choices and settings sheets")
    survey = sheets["survey"].fill_null("")

    def label(row: dict[str, Any], language: str) -> str:
        for key in row:
            if key.startswith("label") and (language in key or key == "label"):
                return str(row[key])
        return str(row.get("label", ""))

    questions = tuple(Question(str(r["type"]).strip(), str(r["name"]).strip(), label(r, "en"), label(r, "fr"),
                               str(r.get("theme", ""))) for r in survey.iter_rows(named=True) if r.get("type"))
    choices: dict[str, list[tuple[str, str, str]]] = {}
    if "choices" in sheets:
        for r in sheets["choices"].fill_null("").iter_rows(named=True):
            if r.get("list_name"):
                choices.setdefault(str(r["list_name"]), []).append((str(r["name"]), label(r, "en"), label(r, "fr")))
    settings = sheets.get("settings")
    first = settings.row(0, named=True) if settings is not None and settings.height else {}
    return Instrument(str(first.get("form_id") or path.stem), str(first.get("role") or ""), questions,
                      {k: tuple(v) for k, v in choices.items()})
