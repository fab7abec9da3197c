"""Generate a synthetic province, deterministic for a seed, with known planted effects.

Everything is drawn with one ``numpy.random.Generator`` seeded from the configuration, in a fixed
order, with vectorised operations (a million clients take seconds). The returned
:class:`Province` holds canonical-shaped tables (Polars) and the ground truth; :mod:`.writer`
turns them into files shaped like real extracts.

Planted effects (all on the log-odds scale of "employed during the action plan", see
:class:`Truth`): the IES effect after each catchment's real go-live date, a dip during its
transition year, provider quality, the social-assistance gap, local unemployment; creaming (the
intake rate of high-need referrals falls after go-live in chosen catchments); the
referral-to-intake gap for social-assistance referrals (wider after go-live).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

import numpy as np
import polars as pl
from numpy.typing import NDArray

from esmonitor.errors import UserInputError
from esmonitor.model import reference

DAY = np.timedelta64(1, "D")

#: Share of the province's clients in each catchment (rough population weights).
CATCHMENT_WEIGHTS: dict[str, float] = {
    "HNP": 0.10, "MKW": 0.04, "PEL": 0.10, "HAL": 0.04, "KPM": 0.04, "SBP": 0.03, "YRK": 0.07,
    "DUR": 0.05, "KWB": 0.08, "LON": 0.06, "OTT": 0.08, "WSA": 0.05, "NEA": 0.05, "NWE": 0.02,
    "TOR": 0.19,
}

MUNICIPALITIES: dict[str, tuple[str, ...]] = {
    "HNP": ("Hamilton", "St. Catharines", "Niagara Falls", "Welland", "Brantford"),
    "MKW": ("Peterborough", "Lindsay", "Bracebridge", "Cobourg"),
    "PEL": ("Brampton", "Mississauga", "Caledon"),
    "HAL": ("Oakville", "Burlington", "Milton"),
    "KPM": ("Kingston", "Pembroke", "Belleville", "Brockville"),
    "SBP": ("Stratford", "Owen Sound", "Goderich"),
    "YRK": ("Markham", "Vaughan", "Newmarket", "Richmond Hill"),
    "DUR": ("Oshawa", "Whitby", "Pickering", "Ajax"),
    "KWB": ("Kitchener", "Waterloo", "Cambridge", "Barrie", "Guelph"),
    "LON": ("London", "St. Thomas", "Woodstock"),
    "OTT": ("Ottawa", "Orléans", "Kanata", "Cornwall", "Hawkesbury"),
    "WSA": ("Windsor", "Sarnia", "Chatham", "Leamington"),
    "NEA": ("Sudbury", "Timmins", "North Bay", "Sault Ste. Marie", "Hearst", "Kapuskasing"),
    "NWE": ("Thunder Bay", "Kenora", "Dryden", "Fort Frances"),
    "TOR": ("Toronto", "Scarborough", "North York", "Etobicoke", "East York"),
}

PROVIDER_WORDS = ("Community", "Career", "Employment", "Pathways", "Futures", "Horizons",
                  "Opportunity", "Skills", "WorkLink", "Bridges", "Compass", "Connexions")
FRENCH_PROVIDER_NAMES = ("Centre d'emploi Étoile du Nord", "Carrefour Emploi Francophone",
                         "Services d'emploi Élan", "Réseau Accès Emploi")

NOC_CODES = ("64100", "65200", "65201", "65310", "75110", "75101", "73300", "94141", "95100",
             "14400", "13110", "64409", "63200", "44101", "72310", "85100", "33102", "62020")
NAICS = ("11", "21", "22", "23", "31-33", "41", "44-45", "48-49", "51", "52", "53", "54", "55",
         "56", "61", "62", "71", "72", "81", "91")
NAICS_WEIGHTS = np.array([1, 0.5, 0.3, 7, 9, 4, 14, 6, 1.5, 2, 1.5, 4, 0.3, 8, 3, 12, 2, 12, 4, 2])
SERVICE_TYPES = ("pre_employment", "job_search", "job_matching", "training", "financial_support",
                 "retention", "specialized_disability", "specialized_indigenous",
                 "specialized_francophone", "specialized_youth")
SERVICE_COST = np.array([250, 150, 400, 2500, 600, 300, 1200, 900, 700, 500], dtype=float)


@dataclass(frozen=True)
class SynthConfig:
    clients: int = 20_000
    seed: int = 2024
    start: date = date(2018, 4, 1)
    as_of: date = date(2026, 9, 30)
    dirty: bool = False
    creaming_catchments: tuple[str, ...] = ("HAL", "LON", "WSA")

    def __post_init__(self) -> None:
        if self.clients < 100:
            raise UserInputError(f"a synthetic province needs at least 100 clients, not {self.clients}")
        if self.as_of <= self.start:
            raise UserInputError(f"as_of ({self.as_of}) must come after start ({self.start})")


@dataclass(frozen=True)
class Truth:
    """Ground truth planted in the data (log-odds scale unless said otherwise)."""

    base_log_odds: float = -0.35
    stream_log_odds: dict[str, float] = field(default_factory=lambda: {"A": 0.9, "B": 0.3, "C": -0.5})
    ies_effect: float = 0.40
    transition_dip: float = -0.30
    social_assistance_gap: float = -0.35
    unemployment_per_point: float = -0.10
    unemployment_reference: float = 6.5
    provider_quality_sd: float = 0.35
    referral_intake_probability: dict[str, float] = field(default_factory=lambda: {
        "self": 0.90, "other": 0.86, "ow": 0.74, "odsp": 0.72})
    social_assistance_intake_drop_after_ies: float = 0.08
    creaming_high_need_intake_factor: float = 0.70
    stream_shares_target: dict[str, float] = field(default_factory=lambda: {"A": 0.22, "B": 0.31, "C": 0.47})


@dataclass
class Province:
    config: SynthConfig
    truth: Truth
    tables: dict[str, pl.DataFrame]
    provider_quality: dict[str, float]
    realised: dict[str, object]
    #: Per client with an action plan: the planted probability ``p`` of employment during the plan
    #: (the logistic of :class:`Truth`'s linear predictor; ``employed`` is a draw from it). Kept in
    #: memory for the truth of outcome rates (:mod:`esmonitor.synth.releases`); written nowhere.
    employment_probability: pl.DataFrame | None = None

    def manifest(self) -> dict[str, object]:
        cfg = asdict(self.config)
        cfg["start"], cfg["as_of"] = self.config.start.isoformat(), self.config.as_of.isoformat()
        return {
            "generator": "esmonitor synth",
            "config": cfg,
            "planted_effects": {
                **asdict(self.truth),
                "creaming_catchments": list(self.config.creaming_catchments),
                "provider_quality": self.provider_quality,
                "go_live": {c.catchment_id: c.ies_start.isoformat() for c in reference.catchments()},
                "transition_start": {c.catchment_id: c.transition_start.isoformat()
                                     for c in reference.catchments()},
            },
            "realised": self.realised,
            "row_counts": {name: df.height for name, df in self.tables.items()},
        }


def _frame(columns: dict[str, object], **kw: object) -> pl.DataFrame:
    """A DataFrame from numpy columns; object arrays (text with gaps) go in as Python lists."""
    fixed = {k: (v.tolist() if isinstance(v, np.ndarray) and v.dtype == object else v)
             for k, v in columns.items()}
    return pl.DataFrame(fixed, **kw)  # type: ignore[arg-type]


def _d64(d: date) -> np.datetime64:
    return np.datetime64(d.isoformat(), "D")


def _choice(rng: np.random.Generator, values: tuple[str, ...] | list[str], p: np.ndarray | list[float],
            size: int) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.asarray(values, dtype=object)[rng.choice(len(values), size=size, p=p / p.sum())]


def _yes_no_pna(rng: np.random.Generator, prevalence: np.ndarray | float, n: int,
                pna: float = 0.045) -> tuple[np.ndarray, np.ndarray]:
    """(codes, true yes) for a Common Assessment item answered 'prefer not' with prob ``pna``."""
    yes = rng.random(n) < prevalence
    code = np.where(yes, "yes", "no").astype(object)
    code[rng.random(n) < pna] = "prefer_not"
    return code, yes


def _logistic(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-x))


def labour_market(rng: np.random.Generator, start: date, as_of: date) -> pl.DataFrame:
    """Monthly unemployment, employment and participation rates per Ontario economic region,
    with the 2020 pandemic shock (peak April 2020, half-life six months)."""
    months = np.arange(np.datetime64(f"{start.year - 1}-01"), np.datetime64(as_of.isoformat()[:7]) + 1,
                       dtype="datetime64[M]")
    regions = sorted({c.economic_region for c in reference.catchments()})
    base = dict(zip(regions, rng.uniform(5.0, 8.0, len(regions)), strict=True))
    rows = []
    month_index = (months - np.datetime64("2020-04", "M")).astype(int)
    shock = np.where(month_index >= 0, 6.5 * 0.5 ** (month_index / 6.0), 0.0)
    shock[month_index == -1] = 1.5  # March 2020
    season = 0.6 * np.cos(2 * np.pi * (months.astype(int) % 12) / 12)
    for er in regions:
        noise = np.zeros(len(months))
        eps = rng.normal(0, 0.15, len(months))
        for i in range(1, len(months)):
            noise[i] = 0.8 * noise[i - 1] + eps[i]
        shock_scale = rng.uniform(0.8, 1.2)
        u = np.round(base[er] + season + shock_scale * shock + noise, 1)
        e = np.round(62.0 - 0.9 * (u - base[er]) + rng.normal(0, 0.2, len(months)), 1)
        p = np.round(66.0 - 0.3 * (u - base[er]) + rng.normal(0, 0.2, len(months)), 1)
        rows.append(pl.DataFrame({
            "economic_region": [er] * len(months),
            "month": months.astype("datetime64[D]"),
            "unemployment_rate": u, "employment_rate": e, "participation_rate": p,
        }))
    return pl.concat(rows)


def generate(config: SynthConfig) -> Province:
    rng = np.random.default_rng(config.seed)
    truth = Truth()
    n = config.clients
    catchments = reference.catchments()
    cids = [c.catchment_id for c in catchments]
    by_id = {c.catchment_id: c for c in catchments}

    # -- providers and sites ---------------------------------------------------------------------
    providers, sites, quality = [], [], {}
    french_names = list(FRENCH_PROVIDER_NAMES)
    for c in catchments:
        for k in range(int(rng.integers(3, 7))):
            pid = f"{c.catchment_id}-P{k + 1:02d}"
            if c.catchment_id in ("NEA", "OTT") and k == 0 and french_names:
                name = french_names.pop(0)
            else:
                w = rng.choice(len(PROVIDER_WORDS), 2, replace=False)
                name = f"{PROVIDER_WORDS[w[0]]} {PROVIDER_WORDS[w[1]]} {c.name_en.split('–')[0]}"
            org = _choice(rng, ["non_profit", "for_profit", "college", "municipal"],
                          [0.6, 0.15, 0.15, 0.1], 1)[0]
            providers.append({"provider_id": pid, "name": name, "catchment_id": c.catchment_id,
                              "organisation_type": org,
                              "francophone_designated": bool(name in FRENCH_PROVIDER_NAMES)})
            quality[pid] = float(np.round(rng.normal(0, truth.provider_quality_sd), 4))
            towns = MUNICIPALITIES[c.catchment_id]
            for j in range(int(rng.integers(1, 4))):
                town = towns[int(rng.integers(len(towns)))]
                opened = date.fromordinal(date(2012, 1, 1).toordinal() + int(rng.integers(0, 2000)))
                sites.append({"site_id": f"{pid}-S{j + 1}", "provider_id": pid,
                              "name": f"{name} – {town}", "municipality": town,
                              "opened": opened, "closed": None})
    providers_df = pl.DataFrame(providers)
    sites_df = pl.DataFrame(sites, schema_overrides={"opened": pl.Date, "closed": pl.Date})
    site_ids = sites_df["site_id"].to_numpy()
    site_catchment = np.array([s.split("-")[0] for s in site_ids])

    # -- clients -------------------------------------------------------------------------------
    w = np.array([CATCHMENT_WEIGHTS[c] for c in cids])
    catchment = np.asarray(cids, dtype=object)[rng.choice(len(cids), n, p=w / w.sum())]
    site = np.empty(n, dtype=object)
    for cid in cids:
        idx = np.flatnonzero(catchment == cid)
        options = site_ids[site_catchment == cid]
        site[idx] = options[rng.integers(0, len(options), len(idx))]
    provider = np.array(["-".join(s.split("-")[:2]) for s in site], dtype=object)
    span = int((_d64(config.as_of) - _d64(config.start)) / DAY) - 20
    referred = _d64(config.start) + rng.integers(0, span, n) * DAY
    ref_year = referred.astype("datetime64[Y]").astype(int) + 1970
    age = np.clip(np.round(17 + rng.gamma(2.2, 9.0, n)), 16, 70).astype(int)
    gender = _choice(rng, ["woman", "man", "gender_diverse", "prefer_not"], [0.46, 0.48, 0.01, 0.05], n)
    sa = _choice(rng, ["ow", "odsp", "none"], [0.30, 0.12, 0.58], n)
    gta = np.isin(catchment, ["PEL", "YRK", "DUR", "HAL", "TOR"])
    francophone_p = np.select([catchment == "NEA", catchment == "OTT"], [0.28, 0.15], 0.03)
    lgbtq, _ = _yes_no_pna(rng, 0.08, n)
    indigenous, indigenous_yes = _yes_no_pna(rng, np.where(catchment == "NWE", 0.25, 0.05), n)
    francophone, _ = _yes_no_pna(rng, francophone_p, n)
    racialized, _ = _yes_no_pna(rng, np.where(gta, 0.55, 0.2), n)
    disability, disability_yes = _yes_no_pna(rng, np.where(sa == "odsp", 0.95, 0.18), n)
    disability_type = np.where(  # type: ignore[call-overload]  # None marks "not applicable"
        disability_yes,
        _choice(rng, ["sensory", "physical", "cognitive", "mental_health", "other", "multiple",
                      "prefer_not"], [0.1, 0.25, 0.15, 0.3, 0.05, 0.1, 0.05], n), None)
    criminal, criminal_yes = _yes_no_pna(rng, 0.08, n)
    precarious, precarious_yes = _yes_no_pna(rng, 0.35, n)
    born_canada, born_yes = _yes_no_pna(rng, np.where(gta, 0.5, 0.8), n, pna=0.02)
    arrival = np.where(~born_yes & (born_canada == "no"),
                       np.maximum(ref_year - rng.integers(0, 25, n), ref_year - age + 1), np.nan)
    dependents = np.where(rng.random(n) < 0.04, np.nan, rng.poisson(0.8, n))
    education = _choice(rng, ["less_than_secondary", "secondary", "some_postsecondary", "college",
                              "bachelor", "graduate", "prefer_not"],
                        [0.14, 0.30, 0.12, 0.20, 0.15, 0.05, 0.04], n)
    hours_bucket = rng.random(n)
    hours_at_intake = np.where(hours_bucket < 0.80, 0.0,
                               np.where(hours_bucket < 0.92, np.round(rng.uniform(5, 19.5, n)),
                                        np.round(rng.uniform(20, 38, n))))
    wage_now = reference_minimum_wage(referred)
    current_wage = np.where(hours_at_intake > 0, np.round(wage_now * rng.uniform(1.0, 1.4, n), 2), np.nan)
    goal_wage = np.round(wage_now * rng.uniform(1.05, 1.8, n), 2)

    # latent need: drives the Common Assessment score and stream
    risk = (0.8 * (sa == "ow") + 1.2 * (sa == "odsp") + 0.6 * disability_yes + 0.5 * criminal_yes
            + 0.5 * (education == "less_than_secondary") + 0.3 * (age >= 50) + 0.4 * precarious_yes
            + 0.3 * indigenous_yes + 0.5 * (hours_at_intake == 0) + rng.normal(0, 0.8, n))

    # -- referrals and the referral-to-intake funnel -------------------------------------------
    source = np.where(sa == "ow", np.where(rng.random(n) < 0.9, "ow", "self"),
                      np.where(sa == "odsp", np.where(rng.random(n) < 0.85, "odsp", "self"),
                               np.where(rng.random(n) < 0.75, "self", "other"))).astype(object)
    go_live = np.array([_d64(by_id[c].ies_start) for c in catchment])
    transition = np.array([_d64(by_id[c].transition_start) for c in catchment])
    post_ies = referred >= go_live
    p_intake = np.vectorize(truth.referral_intake_probability.get)(source).astype(float)
    sa_source = np.isin(source, ["ow", "odsp"])
    p_intake = p_intake - truth.social_assistance_intake_drop_after_ies * (sa_source & post_ies)
    high_need_cut = np.quantile(risk, 1 - truth.stream_shares_target["C"])
    creaming = np.isin(catchment, list(config.creaming_catchments)) & post_ies & (risk >= high_need_cut)
    p_intake_without_creaming = p_intake
    p_intake = np.where(creaming, p_intake * truth.creaming_high_need_intake_factor, p_intake)
    took_up = rng.random(n) < p_intake
    recent = referred > _d64(config.as_of) - 30 * DAY
    wait = np.ceil(rng.gamma(2.0, np.where(post_ies, 11.0, 8.0), n)).astype(int) + 1
    result = np.where(took_up, "intake",
                      _choice(rng, ["declined", "no_show"], [0.45, 0.55], n)).astype(object)
    result_date = referred + wait * DAY
    pending = recent & (rng.random(n) < 0.5) | (result_date > _d64(config.as_of))
    result[pending] = "pending"
    result_date = np.where(pending, np.datetime64("NaT"), result_date)
    intake = result == "intake"

    # -- assessments: stream from latent need, thresholds set on prototype intakes --------------
    proto = np.isin(catchment, ["HNP", "MKW", "PEL"]) & intake
    t = truth.stream_shares_target
    cut_a = np.quantile(risk[proto], t["A"]) if proto.any() else np.quantile(risk, t["A"])
    cut_b = np.quantile(risk[proto], t["A"] + t["B"]) if proto.any() else np.quantile(risk, t["A"] + t["B"])
    stream = np.where(risk < cut_a, "A", np.where(risk < cut_b, "B", "C")).astype(object)
    score = np.round(_logistic((risk - np.median(risk)) * 1.3), 4)
    ia = np.flatnonzero(intake)
    assessed_on = result_date[ia] + rng.integers(0, 11, len(ia)) * DAY
    keep = assessed_on <= _d64(config.as_of)
    ia, assessed_on = ia[keep], assessed_on[keep]

    # -- employment action plans -----------------------------------------------------------------
    plan_start = assessed_on + rng.integers(0, 15, len(ia)) * DAY
    keep = plan_start <= _d64(config.as_of)
    ip, plan_start = ia[keep], plan_start[keep]
    m = len(ip)
    plan_days = np.ceil(rng.gamma(2.5, 75.0, m)).astype(int) + 14
    plan_close = plan_start + plan_days * DAY

    # employment probability (the outcome with planted effects)
    in_transition = (plan_start >= transition[ip]) & (plan_start < go_live[ip])
    after_go_live = plan_start >= go_live[ip]
    lmi = labour_market(rng, config.start, config.as_of)
    er = np.array([by_id[c].economic_region for c in catchment[ip]])
    unemp = _unemployment_at(lmi, er, plan_start)
    q = np.array([quality[p] for p in provider[ip]])
    stream_effect = np.vectorize(truth.stream_log_odds.get)(stream[ip]).astype(float)
    lin0 = (truth.base_log_odds + stream_effect + q
            + truth.social_assistance_gap * (sa[ip] != "none")
            + truth.unemployment_per_point * (unemp - truth.unemployment_reference)
            + truth.transition_dip * in_transition)
    lin = lin0 + truth.ies_effect * after_go_live
    p_job = _logistic(lin)
    employed = rng.random(m) < p_job
    job_lag = np.ceil(rng.gamma(1.6, 45.0, m)).astype(int) + 7
    job_start = plan_start + job_lag * DAY
    employed &= job_start <= _d64(config.as_of)
    plan_close = np.where(employed, np.maximum(plan_close, job_start + 30 * DAY), plan_close)
    open_plan = plan_close > _d64(config.as_of)
    closure = np.where(employed, "employed",
                       _choice(rng, ["training", "moved", "lost_contact", "declined_services", "other"],
                               [0.25, 0.1, 0.35, 0.15, 0.15], m)).astype(object)
    closure[open_plan] = None
    plan_close = np.where(open_plan, np.datetime64("NaT"), plan_close)

    # -- services ----------------------------------------------------------------------------------
    per_plan = 1 + rng.poisson(np.select([stream[ip] == "A", stream[ip] == "B"], [1.2, 2.2], 3.2))
    sp = np.repeat(np.arange(m), per_plan)
    type_p = np.array([0.22, 0.2, 0.14, 0.08, 0.12, 0.06, 0.06, 0.04, 0.04, 0.04])
    stype_idx = rng.choice(len(SERVICE_TYPES), len(sp), p=type_p)
    s_start = plan_start[sp] + rng.integers(0, 60, len(sp)) * DAY
    s_end = s_start + np.ceil(rng.gamma(1.5, 20, len(sp))).astype(int) * DAY
    s_keep = s_start <= _d64(config.as_of)
    sp, stype_idx, s_start, s_end = sp[s_keep], stype_idx[s_keep], s_start[s_keep], s_end[s_keep]
    s_end = np.where(s_end > _d64(config.as_of), np.datetime64("NaT"), s_end)
    cost = np.round(SERVICE_COST[stype_idx] * rng.lognormal(0, 0.3, len(sp)), 2)

    # -- employers and employment spells ----------------------------------------------------------
    n_employers = max(20, n // 8)
    employer_ids = np.array([f"EMP{i:07d}" for i in range(n_employers)], dtype=object)
    employer_sector = _choice(rng, NAICS, NAICS_WEIGHTS, n_employers)
    employer_size = _choice(rng, ["1-4", "5-19", "20-99", "100-499", "500+"],
                            [0.25, 0.3, 0.25, 0.12, 0.08], n_employers)
    employer_pick_p = 1.0 / np.arange(1, n_employers + 1) ** 0.7
    employer_pick_p /= employer_pick_p.sum()

    spells = _employment_spells(rng, config, ip[employed], job_start[employed], hours_at_intake,
                                referred, employer_ids, employer_sector, employer_pick_p)

    client_ids = np.array([f"{c}{i:08d}" for c, i in zip(catchment, range(n), strict=True)], dtype=object)
    tables: dict[str, pl.DataFrame] = {
        "provider": providers_df,
        "site": sites_df,
        "client": _frame({
            "client_id": client_ids, "registered_on": referred,
            "birth_year": ref_year - age, "gender": gender, "lgbtq": lgbtq,
            "indigenous": indigenous, "francophone": francophone, "racialized": racialized,
            "disability": disability, "disability_type": disability_type,
            "criminal_record": criminal, "precarious_work": precarious,
            "born_in_canada": born_canada, "arrival_year": arrival, "dependents": dependents,
            "education": education, "social_assistance": sa,
            "hours_worked_at_intake": hours_at_intake, "current_wage": current_wage,
            "goal_wage": goal_wage,
        }, schema_overrides={"disability_type": pl.String}).with_columns(
            pl.col("arrival_year").fill_nan(None).cast(pl.Int64),
            pl.col("dependents").fill_nan(None).cast(pl.Int64),
            pl.col("current_wage").fill_nan(None)),
        "referral": _frame({
            "referral_id": [f"R{i:09d}" for i in range(n)], "client_id": client_ids,
            "source": source, "referral_date": referred, "site_id": site, "result": result,
            "result_date": result_date,
        }),
        "assessment": _frame({
            "assessment_id": [f"A{i:09d}" for i in ia], "client_id": client_ids[ia],
            "site_id": site[ia], "assessment_date": assessed_on, "stream": stream[ia],
            "score": score[ia],
        }),
        "action_plan": _frame({
            "plan_id": [f"EAP{i:09d}" for i in ip], "client_id": client_ids[ip], "site_id": site[ip],
            "start_date": plan_start, "close_date": plan_close, "closure_reason": closure,
        }, schema_overrides={"closure_reason": pl.String}),
        "service": _frame({
            "service_id": [f"SV{i:010d}" for i in range(len(sp))],
            "plan_id": [f"EAP{i:09d}" for i in ip[sp]], "client_id": client_ids[ip[sp]],
            "service_type": np.asarray(SERVICE_TYPES, dtype=object)[stype_idx],
            "start_date": s_start, "end_date": s_end, "cost": cost,
        }),
        "employer": _frame({"employer_id": employer_ids, "naics_sector": employer_sector,
                                  "size_band": employer_size}),
        "employment": spells.with_columns(
            pl.Series("client_id", client_ids[spells["client_index"].to_numpy()])).drop("client_index")
        .select(["spell_id", "client_id", "employer_id", "job_start", "job_end", "hours_per_week",
                 "hourly_wage", "subsidized", "subsidy_end", "self_employed",
                 "self_employment_net_income_4wk", "noc_code", "naics_sector", "evidence_type"]),
        "labour_market": lmi,
    }

    # -- realised ground truth ---------------------------------------------------------------------
    treated = after_go_live
    att = float(np.mean(_logistic(lin[treated]) - _logistic(lin0[treated]))) if treated.any() else 0.0
    proto_intake = np.isin(catchment[ia], ["HNP", "MKW", "PEL"])
    mix = {s: float(np.mean(stream[ia][proto_intake] == s)) for s in "ABC"} if proto_intake.any() else {}
    sa_client = sa[ip] != "none"
    creaming_window_start: np.ndarray = go_live + 60 * DAY
    mature_plan = plan_start <= _d64(config.as_of) - 365 * DAY
    realised: dict[str, object] = {
        "ies_att_probability_points": round(100 * att, 3),
        "employment_rate_sa": float(np.mean(employed[sa_client])) if sa_client.any() else None,
        "employment_rate_non_sa": float(np.mean(employed[~sa_client])) if (~sa_client).any() else None,
        "prototype_stream_mix": mix,
        "intake_rate_by_source": {s: float(np.mean(intake[source == s])) for s in ("self", "other", "ow", "odsp")
                                  if (source == s).any()},
        "clients_with_plan": int(m),
        "clients_employed": int(employed.sum()),
        # Expected (model) job-start rates for plans begun at least a year before the as-of date,
        # averaged over the drawn clients: the truth a job-start-rate indicator should recover.
        "expected_job_start_rate_mature_plans": _expected_rates(p_job, sa_client, mature_plan),
        # The IES effect in probability points (mean over clients of p with IES - p without) by
        # catchment and quarter of plan start, mature plans after go-live: the truth of the
        # rollout's group-time effects.
        "ies_effect_points_by_catchment_quarter": _cell_means(
            _logistic(lin) - _logistic(lin0), catchment[ip], plan_start, treated & mature_plan),
        # Expected stream C share of intakes in the creaming catchments, referrals from 60 days
        # after go-live to 90 days before the as-of date, with and without the planted creaming.
        "expected_stream_c_share_creaming_catchments": _expected_share(
            stream == "C", p_intake, p_intake_without_creaming,
            np.isin(catchment, list(config.creaming_catchments))
            & (referred >= creaming_window_start)
            & (referred <= _d64(config.as_of) - 90 * DAY)),
    }
    return Province(config, truth, tables, quality, realised,
                    pl.DataFrame({"client_id": client_ids[ip].tolist(), "p_employed": p_job}))


def _cell_means(value: np.ndarray, catchment: np.ndarray, day: np.ndarray,
                keep: np.ndarray) -> dict[str, dict[str, float]]:
    month = day.astype("datetime64[M]").astype(int)
    label = np.array([f"{1970 + m // 12}Q{(m % 12) // 3 + 1}" for m in month], dtype=object)
    cells = pl.DataFrame({"c": catchment[keep].tolist(), "q": label[keep].tolist(), "v": value[keep]})
    out: dict[str, dict[str, float]] = {}
    for c, q, v in cells.group_by("c", "q").agg(pl.col("v").mean()).sort("c", "q").iter_rows():
        out.setdefault(c, {})[q] = round(float(v), 6)
    return out


def _expected_rates(p: np.ndarray, sa_client: np.ndarray, mature: np.ndarray) -> dict[str, float]:
    sa = float(np.mean(p[mature & sa_client])) if (mature & sa_client).any() else float("nan")
    other = float(np.mean(p[mature & ~sa_client])) if (mature & ~sa_client).any() else float("nan")
    return {"social_assistance": sa, "other": other, "gap": other - sa}


def _expected_share(member: np.ndarray, p: np.ndarray, p0: np.ndarray, window: np.ndarray) -> dict[str, float]:
    def share(q: np.ndarray) -> float:
        w = q[window]
        return float(np.sum(w * member[window]) / np.sum(w)) if w.sum() > 0 else float("nan")

    return {"with_creaming": share(p), "without_creaming": share(p0)}


def reference_minimum_wage(days: np.ndarray) -> np.ndarray:
    schedule = reference.minimum_wage_schedule()
    eff = np.array([_d64(w.effective_date) for w in schedule])
    rates = np.array([w.cad_per_hour for w in schedule])
    return rates[np.clip(np.searchsorted(eff, days, side="right") - 1, 0, None)]


def _unemployment_at(lmi: pl.DataFrame, er: np.ndarray, days: np.ndarray) -> np.ndarray:
    month = days.astype("datetime64[M]").astype("datetime64[D]")
    lookup = {(r, m): u for r, m, u in zip(lmi["economic_region"].to_list(),
                                           lmi["month"].to_numpy().astype("datetime64[D]"),
                                           lmi["unemployment_rate"].to_list(), strict=True)}
    return np.array([lookup.get((r, m), 6.5) for r, m in zip(er, month, strict=True)])


def _employment_spells(rng: np.random.Generator, config: SynthConfig, clients: np.ndarray,
                       starts: np.ndarray, hours_at_intake: np.ndarray, referred: np.ndarray,
                       employer_ids: np.ndarray, employer_sector: np.ndarray,
                       pick_p: np.ndarray) -> pl.DataFrame:
    as_of = _d64(config.as_of)
    parts = []

    def spell_block(client_idx: np.ndarray, start: np.ndarray, employer_idx: np.ndarray,
                    hours: np.ndarray, self_emp: np.ndarray) -> dict[str, np.ndarray]:
        k = len(client_idx)
        # many entry-level jobs pay exactly the minimum wage in force; a few (4 %) pay less
        wage = np.round(reference_minimum_wage(start) * np.maximum(1.0, rng.lognormal(0.10, 0.14, k)), 2)
        below = rng.random(k) < 0.04
        wage = np.where(below, np.round(reference_minimum_wage(start) - rng.uniform(0.25, 2.0, k), 2), wage)
        end = start + np.ceil(rng.exponential(330, k)).astype(int) * DAY
        end = np.where(end > as_of, np.datetime64("NaT"), end)
        subsidized = (rng.random(k) < 0.06) & ~self_emp
        subsidy_end = np.where(subsidized, start + rng.integers(60, 200, k) * DAY, np.datetime64("NaT"))
        subsidy_end = np.where(subsidy_end > as_of, np.datetime64("NaT"), subsidy_end)
        evidence = _choice(rng, ["pay_stub", "employer_letter", "self_report", "none"],
                           [0.6, 0.25, 0.1, 0.05], k)
        net_income = np.where(self_emp, np.round(hours * 4 * reference_minimum_wage(start)
                                                 * rng.uniform(0.6, 1.6, k), 2), np.nan)
        return {
            "client_index": client_idx, "employer_index": np.where(self_emp, -1, employer_idx),
            "job_start": start, "job_end": end, "hours_per_week": hours, "hourly_wage": wage,
            "subsidized": subsidized, "subsidy_end": subsidy_end, "self_employed": self_emp,
            "self_employment_net_income_4wk": net_income,
            "noc_code": _choice(rng, NOC_CODES, np.ones(len(NOC_CODES)), k),
            "evidence_type": evidence,
        }

    # jobs held at intake (needed for the new-employer rule)
    working = np.flatnonzero(hours_at_intake >= 20)
    pre_start = referred[working] - rng.integers(60, 1500, len(working)) * DAY
    pre_emp = rng.choice(len(employer_ids), len(working), p=pick_p)
    pre = spell_block(working, pre_start, pre_emp, hours_at_intake[working].astype(float),
                      np.zeros(len(working), dtype=bool))
    parts.append(pre)
    # jobs found during the action plan
    k = len(clients)
    hours = np.where(rng.random(k) < 0.78, np.clip(np.round(rng.normal(32, 6, k) * 2) / 2, 20, 48),
                     np.round(rng.uniform(8, 19.5, k) * 2) / 2)
    emp = rng.choice(len(employer_ids), k, p=pick_p)
    # a third of clients already working at intake return to the same employer
    prior = {int(c): int(e) for c, e in zip(working, pre_emp, strict=True)}
    same = np.array([c in prior for c in clients]) & (rng.random(k) < 0.33)
    emp = np.where(same, np.array([prior.get(int(c), 0) for c in clients]), emp)
    self_emp = rng.random(k) < 0.03
    parts.append(spell_block(clients, starts, emp, hours, self_emp))
    # job stacking: a second, overlapping part-time job for some clients
    stack = np.flatnonzero(rng.random(k) < 0.05)
    parts.append(spell_block(clients[stack], starts[stack] + rng.integers(0, 20, len(stack)) * DAY,
                             rng.choice(len(employer_ids), len(stack), p=pick_p),
                             np.round(rng.uniform(8, 15, len(stack))), np.zeros(len(stack), dtype=bool)))
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    observed = merged["job_start"] <= as_of  # a stacked second job may start after the extract
    merged = {key: v[observed] for key, v in merged.items()}
    order = np.lexsort((merged["job_start"], merged["client_index"]))
    merged = {key: v[order] for key, v in merged.items()}
    e_idx = merged.pop("employer_index")
    total = len(e_idx)
    df = _frame({
        "spell_id": [f"J{i:09d}" for i in range(total)],
        **{key: v for key, v in merged.items()},
        "employer_id": np.where(e_idx >= 0, employer_ids[np.maximum(e_idx, 0)], None),
        "naics_sector": np.where(e_idx >= 0, employer_sector[np.maximum(e_idx, 0)], None),
    }, schema_overrides={"employer_id": pl.String, "naics_sector": pl.String})
    return df.with_columns(pl.col("self_employment_net_income_4wk").fill_nan(None))
