"""Code lists (controlled vocabularies) of the canonical model, bilingual.

Each code list maps a canonical code to English and French labels and to the spellings found in
real extracts (aliases). Ingest normalises a raw value by trimming it, folding case and looking it
up among codes, labels and aliases; anything else is quarantined with rule ``unknown_code``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Code:
    code: str
    en: str
    fr: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class CodeList:
    name: str
    description: str
    codes: tuple[Code, ...]
    spellings: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        spellings: dict[str, str] = {}
        for c in self.codes:
            for raw in (c.code, c.en, c.fr, *c.aliases):
                key = normalise_spelling(raw)
                previous = spellings.setdefault(key, c.code)
                if previous != c.code:
                    raise ValueError(f"code list {self.name}: {raw!r} means both {previous} and {c.code}")
        object.__setattr__(self, "spellings", spellings)

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.codes)

    def label(self, code: str, lang: str = "en") -> str:
        for c in self.codes:
            if c.code == code:
                return c.fr if lang == "fr" else c.en
        raise KeyError(f"{code!r} is not a code of {self.name}")


def normalise_spelling(raw: str) -> str:
    """The form in which spellings are compared: trimmed, lower case, single spaces."""
    return " ".join(raw.strip().lower().split())


_PNA = ("pna", "prefer not to answer", "prefers not to answer", "préfère ne pas répondre",
        "prefere ne pas repondre", "declined to answer", "99")


def _yes_no_pna(name: str, description: str) -> CodeList:
    return CodeList(name, description, (
        Code("yes", "Yes", "Oui", ("y", "oui", "o", "true", "t", "1")),
        Code("no", "No", "Non", ("n", "non", "false", "f", "0")),
        Code("prefer_not", "Prefer not to answer", "Préfère ne pas répondre", _PNA),
    ))


YES_NO_PNA = _yes_no_pna("yes_no_pna", "Common Assessment answer with 'prefer not to answer'")

BOOLEAN = CodeList("boolean", "Yes/no flag", (
    Code("true", "Yes", "Oui", ("y", "yes", "oui", "o", "t", "1")),
    Code("false", "No", "Non", ("n", "no", "non", "f", "0")),
))

GENDER = CodeList("gender", "Gender identity as asked by the Common Assessment", (
    Code("woman", "Woman", "Femme", ("f", "female", "w", "femme")),
    Code("man", "Man", "Homme", ("m", "male", "homme", "h")),
    Code("gender_diverse", "Gender-diverse", "Diversité de genre",
         ("non-binary", "nonbinary", "x", "another gender", "two-spirit")),
    Code("prefer_not", "Prefer not to answer", "Préfère ne pas répondre", _PNA),
))

DISABILITY_TYPE = CodeList("disability_type", "Main type of disability reported", (
    Code("sensory", "Sensory", "Sensorielle"),
    Code("physical", "Physical", "Physique"),
    Code("cognitive", "Cognitive", "Cognitive", ("learning", "intellectual")),
    Code("mental_health", "Mental health", "Santé mentale", ("mental health",)),
    Code("other", "Other", "Autre"),
    Code("multiple", "Multiple", "Multiple"),
    Code("prefer_not", "Prefer not to answer", "Préfère ne pas répondre", _PNA),
))

EDUCATION = CodeList("education", "Highest level of education completed", (
    Code("less_than_secondary", "Less than secondary", "Moins que le secondaire",
         ("less than high school", "no diploma")),
    Code("secondary", "Secondary school diploma", "Diplôme d'études secondaires",
         ("high school", "grade 12")),
    Code("some_postsecondary", "Some post-secondary", "Études postsecondaires partielles"),
    Code("college", "College or apprenticeship", "Collège ou apprentissage",
         ("apprenticeship", "trades")),
    Code("bachelor", "Bachelor's degree", "Baccalauréat", ("university", "bachelors")),
    Code("graduate", "Graduate degree", "Diplôme d'études supérieures", ("masters", "phd")),
    Code("prefer_not", "Prefer not to answer", "Préfère ne pas répondre", _PNA),
))

SOCIAL_ASSISTANCE = CodeList("social_assistance", "Social-assistance status at intake", (
    Code("ow", "Ontario Works", "Ontario au travail", ("ontario works",)),
    Code("odsp", "ODSP", "POSPH", ("ontario disability support program", "posph")),
    Code("none", "Not on social assistance", "Aucune aide sociale", ("no", "non-sa", "n/a")),
))

REFERRAL_SOURCE = CodeList("referral_source", "Who referred the person to employment services", (
    Code("ow", "Ontario Works caseworker", "Agent d'Ontario au travail", ("ontario works",)),
    Code("odsp", "ODSP caseworker", "Agent du POSPH", ("posph",)),
    Code("self", "Self-referred", "Autoréférence", ("walk-in", "walk in", "self-referral")),
    Code("other", "Other", "Autre", ("community agency", "partner")),
))

REFERRAL_RESULT = CodeList("referral_result", "What became of a referral", (
    Code("intake", "Intake completed", "Accueil effectué", ("intake completed", "accepted")),
    Code("declined", "Declined", "Refusé"),
    Code("no_show", "Did not attend", "Absent", ("no show", "no-show", "did not attend")),
    Code("pending", "Pending", "En attente", ("open",)),
))

STREAM = CodeList("stream", "Common Assessment service stream (A lowest need, C highest)", (
    Code("A", "Stream A", "Volet A", ("stream a", "a")),
    Code("B", "Stream B", "Volet B", ("stream b", "b")),
    Code("C", "Stream C", "Volet C", ("stream c", "c")),
))

CLOSURE_REASON = CodeList("closure_reason", "Why an employment action plan was closed", (
    Code("employed", "Employed", "En emploi"),
    Code("training", "In education or training", "En formation", ("education",)),
    Code("moved", "Moved away", "Déménagement"),
    Code("lost_contact", "Lost contact", "Perte de contact", ("lost contact",)),
    Code("declined_services", "Declined further services", "A refusé les services"),
    Code("other", "Other", "Autre"),
))

SERVICE_TYPE = CodeList("service_type", "IES service types (domain brief, section 3)", (
    Code("pre_employment", "Pre-employment services", "Services préalables à l'emploi"),
    Code("job_search", "Job search", "Recherche d'emploi"),
    Code("job_matching", "Job matching and placement", "Jumelage et placement",
         ("job matching", "placement")),
    Code("training", "Training", "Formation"),
    Code("financial_support", "Employment-related financial supports",
         "Soutiens financiers liés à l'emploi", ("erfs", "financial supports")),
    Code("retention", "Retention support", "Soutien au maintien en emploi"),
    Code("specialized_disability", "Specialized services: persons with disabilities",
         "Services spécialisés : personnes handicapées"),
    Code("specialized_indigenous", "Specialized services: Indigenous",
         "Services spécialisés : Autochtones"),
    Code("specialized_francophone", "Specialized services: francophone",
         "Services spécialisés : francophones"),
    Code("specialized_youth", "Specialized services: youth", "Services spécialisés : jeunes"),
))

EVIDENCE_TYPE = CodeList("evidence_type", "Proof of employment held by the provider", (
    Code("pay_stub", "Pay stub", "Talon de paie", ("paystub", "pay stub")),
    Code("employer_letter", "Employer letter", "Lettre de l'employeur"),
    Code("self_report", "Self-report (not accepted)", "Autodéclaration (non acceptée)"),
    Code("none", "No evidence", "Aucune preuve"),
))

NAICS_SECTOR = CodeList("naics_sector", "NAICS 2022 sector (two-digit)", (
    Code("11", "Agriculture, forestry, fishing and hunting",
         "Agriculture, foresterie, pêche et chasse"),
    Code("21", "Mining, quarrying, and oil and gas extraction",
         "Extraction minière, exploitation en carrière, et extraction de pétrole et de gaz"),
    Code("22", "Utilities", "Services publics"),
    Code("23", "Construction", "Construction"),
    Code("31-33", "Manufacturing", "Fabrication", ("31", "32", "33")),
    Code("41", "Wholesale trade", "Commerce de gros"),
    Code("44-45", "Retail trade", "Commerce de détail", ("44", "45")),
    Code("48-49", "Transportation and warehousing", "Transport et entreposage", ("48", "49")),
    Code("51", "Information and cultural industries", "Industrie de l'information et industrie culturelle"),
    Code("52", "Finance and insurance", "Finance et assurances"),
    Code("53", "Real estate and rental and leasing", "Services immobiliers et services de location et de location à bail"),
    Code("54", "Professional, scientific and technical services", "Services professionnels, scientifiques et techniques"),
    Code("55", "Management of companies and enterprises", "Gestion de sociétés et d'entreprises"),
    Code("56", "Administrative and support, waste management and remediation services",
         "Services administratifs, services de soutien, services de gestion des déchets et services d'assainissement"),
    Code("61", "Educational services", "Services d'enseignement"),
    Code("62", "Health care and social assistance", "Soins de santé et assistance sociale"),
    Code("71", "Arts, entertainment and recreation", "Arts, spectacles et loisirs"),
    Code("72", "Accommodation and food services", "Services d'hébergement et de restauration"),
    Code("81", "Other services (except public administration)", "Autres services (sauf les administrations publiques)"),
    Code("91", "Public administration", "Administrations publiques"),
))

EMPLOYER_SIZE = CodeList("employer_size", "Employer size band (employees)", (
    Code("1-4", "1 to 4 employees", "1 à 4 employés", ("micro",)),
    Code("5-19", "5 to 19 employees", "5 à 19 employés"),
    Code("20-99", "20 to 99 employees", "20 à 99 employés"),
    Code("100-499", "100 to 499 employees", "100 à 499 employés"),
    Code("500+", "500 employees or more", "500 employés ou plus", ("500 or more",)),
))

ORGANISATION_TYPE = CodeList("organisation_type", "Kind of organisation", (
    Code("non_profit", "Non-profit", "Organisme sans but lucratif", ("nonprofit", "not-for-profit")),
    Code("for_profit", "For-profit", "À but lucratif", ("private",)),
    Code("college", "College", "Collège"),
    Code("municipal", "Municipality", "Municipalité", ("municipality",)),
    Code("indigenous_org", "Indigenous organisation", "Organisme autochtone"),
))

PHASE = CodeList("phase", "IES rollout phase", (
    Code("prototype", "Prototype", "Prototype"),
    Code("phase1", "Phase 1", "Phase 1"),
    Code("phase2", "Phase 2", "Phase 2"),
    Code("phase3", "Phase 3", "Phase 3"),
))

_ONTARIO_ECONOMIC_REGIONS = (
    ("3510", "Ottawa", "Ottawa"),
    ("3515", "Kingston–Pembroke", "Kingston–Pembroke"),
    ("3520", "Muskoka–Kawarthas", "Muskoka–Kawarthas"),
    ("3530", "Toronto", "Toronto"),
    ("3540", "Kitchener–Waterloo–Barrie", "Kitchener–Waterloo–Barrie"),
    ("3550", "Hamilton–Niagara Peninsula", "Hamilton–Péninsule du Niagara"),
    ("3560", "London", "London"),
    ("3570", "Windsor–Sarnia", "Windsor–Sarnia"),
    ("3580", "Stratford–Bruce Peninsula", "Stratford–Péninsule de Bruce"),
    ("3590", "Northeast", "Nord-Est"),
    ("3595", "Northwest", "Nord-Ouest"),
)


def statcan_dguid(code: str, vintage: int = 2016) -> str:
    """Statistics Canada's DGUID of an economic region, e.g. 3550 -> '2016A00053550'."""
    return f"{vintage}A0005{code}"


def _economic_region(code: str, en: str, fr: str) -> Code:
    # Extracts name a region by code, by DGUID (any vintage) or by Statistics Canada's GEO label,
    # in which names use a plain hyphen: "Hamilton-Niagara Peninsula, Ontario".
    hyphen = en.replace("–", "-")
    aliases = (*(statcan_dguid(code, v) for v in (2011, 2016, 2021)),
               f"{hyphen}, Ontario", hyphen, f"{en}, Ontario")
    return Code(code, en, fr, tuple(dict.fromkeys(a for a in aliases if a not in (en, fr))))


ECONOMIC_REGION = CodeList(
    "economic_region", "Statistics Canada economic regions of Ontario",
    tuple(_economic_region(*r) for r in _ONTARIO_ECONOMIC_REGIONS),
)

CODE_LISTS: dict[str, CodeList] = {
    cl.name: cl
    for cl in (
        YES_NO_PNA, BOOLEAN, GENDER, DISABILITY_TYPE, EDUCATION, SOCIAL_ASSISTANCE,
        REFERRAL_SOURCE, REFERRAL_RESULT, STREAM, CLOSURE_REASON, SERVICE_TYPE, EVIDENCE_TYPE,
        NAICS_SECTOR, EMPLOYER_SIZE, ORGANISATION_TYPE, PHASE, ECONOMIC_REGION,
    )
}
