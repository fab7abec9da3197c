"""The canonical entities of esmonitor: fields, types, codes, keys and references.

This module is the single source of truth for what a record is. Ingest derives its validation
rules from it, the warehouse derives its tables from it, and ``docs/data-model.md`` is generated
from it (``esmonitor data-model``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from esmonitor.model.codes import CODE_LISTS

FieldType = Literal["id", "text", "date", "month", "integer", "decimal", "code", "boolean"]

#: Earliest and latest plausible dates in an employment-services extract.
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2035, 12, 31)


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    en: str
    fr: str
    required: bool = False
    codes: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    references: str | None = None  # "entity.field"
    pseudonymize: bool = False
    aliases: tuple[str, ...] = ()
    default: str | None = None  # value used when the column is absent or blank

    @property
    def pseudonym_domain(self) -> str:
        """Identifiers of different kinds get different pseudonyms for the same raw value."""
        return self.name.removesuffix("_id")

    def __post_init__(self) -> None:
        if (self.type == "code") != (self.codes is not None):  # boolean fields use the BOOLEAN list
            raise ValueError(f"field {self.name}: a code field needs a code list and only it")
        if self.codes is not None and self.codes not in CODE_LISTS:
            raise ValueError(f"field {self.name}: unknown code list {self.codes}")


@dataclass(frozen=True)
class DateOrder:
    """``later`` must not be before ``earlier`` when both are present."""

    earlier: str
    later: str


@dataclass(frozen=True)
class Entity:
    name: str
    table: str
    en: str
    fr: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    date_orders: tuple[DateOrder, ...] = ()
    file_stems: tuple[str, ...] = ()
    reference_data: bool = False

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def references(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.references)


def _id(name: str, en: str, fr: str, **kw: object) -> Field:
    return Field(name, "id", en, fr, **kw)  # type: ignore[arg-type]


def _client_ref() -> Field:
    """The pseudonymized client an event belongs to (same spellings in every extract)."""
    return _id("client_id", "Client (pseudonymous)", "Client (pseudonyme)", required=True,
               pseudonymize=True, references="client.client_id",
               aliases=("cams client id", "client number", "clnt_id"))


def _site_ref() -> Field:
    return _id("site_id", "Site", "Point de service", required=True, references="site.site_id",
               aliases=("site code", "location id"))


def _yn(name: str, en: str, fr: str) -> Field:
    return Field(name, "code", en, fr, codes="yes_no_pna")


CATCHMENT = Entity(
    "catchment", "catchment", "Catchment area", "Zone desservie",
    (
        _id("catchment_id", "Catchment code", "Code de la zone", required=True),
        Field("name_en", "text", "Name (English)", "Nom (anglais)", required=True),
        Field("name_fr", "text", "Name (French)", "Nom (français)", required=True),
        Field("phase", "code", "Rollout phase", "Phase de déploiement", required=True, codes="phase"),
        _id("ssm_id", "Service System Manager", "Gestionnaire de système de services",
            required=True, references="ssm.ssm_id"),
        Field("economic_region", "code", "Statistics Canada economic region",
              "Région économique de Statistique Canada", required=True, codes="economic_region"),
        Field("transition_start", "date", "Start of transition year", "Début de la transition",
              required=True),
        Field("ies_start", "date", "IES go-live date", "Date de lancement des SEI", required=True),
        Field("ies_start_confirmed", "boolean", "Go-live date publicly confirmed",
              "Date de lancement confirmée publiquement", required=True),
    ),
    key=("catchment_id",),
    date_orders=(DateOrder("transition_start", "ies_start"),),
    reference_data=True,
)

SSM = Entity(
    "ssm", "ssm", "Service System Manager (SSM)", "Gestionnaire de système de services (GSS)",
    (
        _id("ssm_id", "SSM code", "Code du GSS", required=True),
        Field("name", "text", "Organisation name", "Nom de l'organisme", required=True),
    ),
    key=("ssm_id",),
    reference_data=True,
)

PROVIDER = Entity(
    "provider", "provider", "Employment Service Provider (ESP)",
    "Fournisseur de services d'emploi (FSE)",
    (
        _id("provider_id", "Provider code", "Code du fournisseur", required=True,
            aliases=("esp_id", "esp code", "provider code")),
        Field("name", "text", "Organisation name", "Nom de l'organisme", required=True,
              aliases=("provider name", "esp name")),
        _id("catchment_id", "Catchment", "Zone desservie", required=True,
            references="catchment.catchment_id", aliases=("catchment", "catchment code")),
        Field("organisation_type", "code", "Kind of organisation", "Type d'organisme",
              codes="organisation_type", aliases=("org type",)),
        Field("francophone_designated", "boolean", "Designated to serve in French",
              "Désigné pour servir en français", aliases=("fls designated",)),
    ),
    key=("provider_id",),
    file_stems=("providers", "provider", "esp", "esps"),
)

SITE = Entity(
    "site", "site", "Service delivery site", "Point de service",
    (
        _id("site_id", "Site code", "Code du point de service", required=True,
            aliases=("site code", "location id")),
        _id("provider_id", "Provider", "Fournisseur", required=True,
            references="provider.provider_id", aliases=("esp_id", "provider code")),
        Field("name", "text", "Site name", "Nom du point de service", required=True,
              aliases=("site name",)),
        Field("municipality", "text", "Municipality", "Municipalité", aliases=("city", "town")),
        Field("opened", "date", "Opened", "Ouverture", aliases=("open date",)),
        Field("closed", "date", "Closed", "Fermeture", aliases=("close date",)),
    ),
    key=("site_id",),
    date_orders=(DateOrder("opened", "closed"),),
    file_stems=("sites", "site", "locations"),
)

CLIENT = Entity(
    "client", "client", "Client (job seeker)", "Client (chercheur d'emploi)",
    (
        _id("client_id", "Client (pseudonymous)", "Client (pseudonyme)", required=True,
            pseudonymize=True, aliases=("cams client id", "client number", "clnt_id")),
        Field("registered_on", "date", "Registration date", "Date d'inscription", required=True,
              aliases=("registration date", "date registered")),
        Field("birth_year", "integer", "Year of birth", "Année de naissance", required=True,
              minimum=1930, maximum=2012, aliases=("year of birth", "yob")),
        Field("gender", "code", "Gender", "Genre", codes="gender"),
        _yn("lgbtq", "2SLGBTQI+", "2ELGBTQI+"),
        _yn("indigenous", "Indigenous identity", "Identité autochtone"),
        _yn("francophone", "Francophone", "Francophone"),
        _yn("racialized", "Racialized identity", "Identité racisée"),
        _yn("disability", "Person with a disability", "Personne handicapée"),
        Field("disability_type", "code", "Type of disability", "Type de handicap",
              codes="disability_type"),
        _yn("criminal_record", "Criminal record", "Casier judiciaire"),
        _yn("precarious_work", "Precarious work history", "Antécédents de travail précaire"),
        _yn("born_in_canada", "Born in Canada", "Né au Canada"),
        Field("arrival_year", "integer", "Year of arrival in Canada", "Année d'arrivée au Canada",
              minimum=1930, maximum=2035, aliases=("year of arrival",)),
        Field("dependents", "integer", "Number of dependents", "Nombre de personnes à charge",
              minimum=0, maximum=20),
        Field("education", "code", "Highest education", "Scolarité la plus élevée",
              codes="education"),
        Field("social_assistance", "code", "Social assistance at intake",
              "Aide sociale à l'accueil", required=True, codes="social_assistance",
              aliases=("sa status", "income source")),
        Field("hours_worked_at_intake", "decimal", "Weekly hours worked at intake",
              "Heures hebdomadaires travaillées à l'accueil", minimum=0, maximum=100,
              aliases=("current hours",)),
        Field("current_wage", "decimal", "Current hourly wage", "Salaire horaire actuel",
              minimum=0, maximum=500),
        Field("goal_wage", "decimal", "Goal hourly wage", "Salaire horaire visé",
              minimum=0, maximum=500),
    ),
    key=("client_id",),
    file_stems=("clients", "client", "job_seekers", "participants"),
)

REFERRAL = Entity(
    "referral", "referral", "Referral", "Aiguillage",
    (
        _id("referral_id", "Referral number", "Numéro d'aiguillage", required=True,
            aliases=("referral number", "referral no")),
        _client_ref(),
        Field("source", "code", "Referral source", "Source de l'aiguillage", required=True,
              codes="referral_source", aliases=("referral source", "referred by")),
        Field("referral_date", "date", "Referral date", "Date d'aiguillage", required=True,
              aliases=("date referred", "referred on")),
        _id("site_id", "Receiving site", "Point de service destinataire", required=True,
            references="site.site_id", aliases=("site code", "location id")),
        Field("result", "code", "Result", "Résultat", required=True, codes="referral_result",
              aliases=("referral outcome", "status")),
        Field("result_date", "date", "Result date", "Date du résultat",
              aliases=("intake date", "outcome date")),
    ),
    key=("referral_id",),
    date_orders=(DateOrder("referral_date", "result_date"),),
    file_stems=("referrals", "referral"),
)

ASSESSMENT = Entity(
    "assessment", "assessment", "Common Assessment", "Évaluation commune",
    (
        _id("assessment_id", "Assessment number", "Numéro d'évaluation", required=True),
        _client_ref(),
        _site_ref(),
        Field("assessment_date", "date", "Assessment date", "Date d'évaluation", required=True,
              aliases=("ca date", "date assessed")),
        Field("stream", "code", "Stream", "Volet", required=True, codes="stream",
              aliases=("service stream", "ca stream")),
        Field("score", "decimal", "Risk score (0 to 1)", "Score de risque (0 à 1)",
              minimum=0, maximum=1, aliases=("ca score", "risk score")),
    ),
    key=("assessment_id",),
    file_stems=("assessments", "assessment", "common_assessments", "ca"),
)

ACTION_PLAN = Entity(
    "action_plan", "action_plan", "Employment Action Plan (EAP)", "Plan d'action d'emploi (PAE)",
    (
        _id("plan_id", "Plan number", "Numéro du plan", required=True,
            aliases=("eap id", "eap number", "plan number")),
        _client_ref(),
        _site_ref(),
        Field("start_date", "date", "Plan start", "Début du plan", required=True,
              aliases=("eap start", "start")),
        Field("close_date", "date", "Plan close", "Fermeture du plan",
              aliases=("eap close", "closed", "end date")),
        Field("closure_reason", "code", "Closure reason", "Motif de fermeture",
              codes="closure_reason", aliases=("reason closed",)),
    ),
    key=("plan_id",),
    date_orders=(DateOrder("start_date", "close_date"),),
    file_stems=("action_plans", "action_plan", "eaps", "eap", "plans"),
)

SERVICE = Entity(
    "service", "service", "Service received", "Service reçu",
    (
        _id("service_id", "Service number", "Numéro du service", required=True),
        _id("plan_id", "Action plan", "Plan d'action", required=True,
            references="action_plan.plan_id", aliases=("eap id", "eap number", "plan number")),
        _client_ref(),
        Field("service_type", "code", "Service type", "Type de service", required=True,
              codes="service_type", aliases=("service", "type")),
        Field("start_date", "date", "Start", "Début", required=True, aliases=("service start",)),
        Field("end_date", "date", "End", "Fin", aliases=("service end",)),
        Field("cost", "decimal", "Cost (CAD)", "Coût ($ CA)", minimum=0, maximum=100_000,
              aliases=("amount", "cost cad")),
    ),
    key=("service_id",),
    date_orders=(DateOrder("start_date", "end_date"),),
    file_stems=("services", "service"),
)

EMPLOYER = Entity(
    "employer", "employer", "Employer", "Employeur",
    (
        _id("employer_id", "Employer (pseudonymous)", "Employeur (pseudonyme)", required=True,
            pseudonymize=True, aliases=("employer number", "emplr_id")),
        Field("naics_sector", "code", "NAICS sector", "Secteur SCIAN", required=True,
              codes="naics_sector", aliases=("naics", "sector")),
        Field("size_band", "code", "Size band", "Taille", codes="employer_size",
              aliases=("size", "employees")),
    ),
    key=("employer_id",),
    file_stems=("employers", "employer"),
)

EMPLOYMENT = Entity(
    "employment", "employment", "Employment spell", "Période d'emploi",
    (
        _id("spell_id", "Employment record number", "Numéro de l'emploi", required=True,
            aliases=("job id", "employment id", "job_id")),
        _client_ref(),
        _id("employer_id", "Employer (pseudonymous)", "Employeur (pseudonyme)",
            pseudonymize=True, references="employer.employer_id",
            aliases=("employer number", "emplr_id")),
        Field("job_start", "date", "Job start", "Début de l'emploi", required=True,
              aliases=("start date", "job start date")),
        Field("job_end", "date", "Job end", "Fin de l'emploi", aliases=("end date",)),
        Field("hours_per_week", "decimal", "Hours per week", "Heures par semaine", required=True,
              minimum=0, maximum=100, aliases=("weekly hours", "hours")),
        Field("hourly_wage", "decimal", "Hourly wage (CAD)", "Salaire horaire ($ CA)",
              required=True, minimum=0, maximum=500, aliases=("wage", "hourly rate")),
        Field("subsidized", "boolean", "Subsidized placement", "Placement subventionné",
              required=True, aliases=("wage subsidy",)),
        Field("subsidy_end", "date", "Subsidy end", "Fin de la subvention"),
        Field("self_employed", "boolean", "Self-employed", "Travail autonome", required=True,
              aliases=("self employment",)),
        Field("self_employment_net_income_4wk", "decimal",
              "Self-employment net income over 4 weeks (CAD)",
              "Revenu net de travail autonome sur 4 semaines ($ CA)", minimum=0, maximum=100_000),
        Field("noc_code", "text", "NOC 2021 occupation (5 digits)", "Profession CNP 2021 (5 chiffres)",
              pattern=r"^[0-9]{5}$", aliases=("noc", "occupation")),
        Field("naics_sector", "code", "NAICS sector", "Secteur SCIAN", codes="naics_sector",
              aliases=("naics", "sector")),
        Field("evidence_type", "code", "Evidence of employment", "Preuve d'emploi",
              required=True, codes="evidence_type", aliases=("evidence", "proof")),
    ),
    key=("spell_id",),
    date_orders=(DateOrder("job_start", "job_end"), DateOrder("job_start", "subsidy_end")),
    file_stems=("employment", "employments", "jobs", "employment_spells", "placements"),
)

LABOUR_MARKET = Entity(
    "labour_market", "labour_market", "Labour-market context (Labour Force Survey)",
    "Contexte du marché du travail (Enquête sur la population active)",
    (
        Field("economic_region", "code", "Economic region", "Région économique", required=True,
              codes="economic_region", aliases=("er", "region", "dguid")),
        Field("month", "month", "Reference month", "Mois de référence", required=True,
              aliases=("ref_date", "period")),
        Field("characteristic", "text", "Labour force characteristic",
              "Caractéristique de la population active", required=True,
              aliases=("labour force characteristics", "indicator", "measure")),
        Field("statistic", "text", "Statistic", "Statistique", required=True,
              aliases=("statistics",), default="Estimate"),
        Field("value", "decimal", "Value", "Valeur", aliases=("rate",)),
        Field("status", "text", "Statistics Canada status flag", "Indicateur d'état de Statistique Canada"),
    ),
    key=("economic_region", "month", "characteristic", "statistic"),
    file_stems=("labour_market", "lfs", "14100387", "1410038701", "labour_force"),
)

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (CATCHMENT, SSM, PROVIDER, SITE, CLIENT, REFERRAL, ASSESSMENT, ACTION_PLAN, SERVICE,
              EMPLOYER, EMPLOYMENT, LABOUR_MARKET)
}

#: Order in which files of one ingest run are loaded, parents before children.
LOAD_ORDER: tuple[str, ...] = (
    "provider", "site", "client", "employer", "referral", "assessment", "action_plan", "service",
    "employment", "labour_market",
)

INGESTIBLE: tuple[str, ...] = tuple(n for n in LOAD_ORDER)


def _check_references() -> None:
    for e in ENTITIES.values():
        for f in e.references:
            assert f.references is not None
            target_entity, target_field = f.references.split(".")
            ENTITIES[target_entity].field(target_field)  # raises when the model is inconsistent


_check_references()
