"""Synthetic open answers with known themes and planted identifiers.

Each answer is assembled from phrases written for this purpose (``data/open_answer_phrases.json``,
English and Canadian French, written independently of the theme finder): an optional opener, one
core sentence of its theme, up to two detail sentences of the same theme, an optional closer, and
in some answers a sentence carrying a planted name, phone number or e-mail address. The theme
and every planted identifier are returned with the answer (the ground truth the tests and the
manifest use).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

FIRST_NAMES = {
    "en": ["Priya", "Michael", "Jennifer", "Ahmed", "Sarah", "Wei", "Olivia", "Daniel", "Fatima", "Jason", "Grace",
           "Mohammed", "Emily", "Raj", "Kayla", "Tyler", "Mei", "Omar", "Hannah", "Carlos"],
    "fr": ["Sophie", "Jean-François", "Émilie", "Mathieu", "Nathalie", "Karim", "Isabelle", "Marc-André", "Chloé",
           "Olivier", "Mélanie", "Yasmine", "Guillaume", "Amélie", "Patrice", "Josée", "Samir", "Geneviève",
           "Étienne", "Fanny"],
}
LAST_NAMES = ["Sharma", "Tremblay", "Nguyen", "Gagnon", "Patel", "Roy", "Smith", "Côté", "Chen", "Bouchard", "Ali",
              "Lavoie", "Williams", "Fortin", "Singh", "Gauthier", "Brown", "Morin", "Wong", "Pelletier"]
AREA_CODES = ["416", "647", "905", "613", "705", "519", "807", "289"]


@dataclass(frozen=True)
class OpenAnswer:
    text: str
    language: str
    theme: str
    planted: tuple[tuple[str, str], ...]  # (type, text) of each planted identifier


@lru_cache(maxsize=1)
def phrases() -> dict[str, Any]:
    text = (resources.files("esmonitor.synth") / "data" / "open_answer_phrases.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def open_answers(n: int, language: str, seed: int, identifier_share: float = 0.3,
                 themes: tuple[str, ...] | None = None, weights: np.ndarray | None = None) -> list[OpenAnswer]:
    """``n`` answers in ``language`` (``en`` or ``fr``), themes drawn with ``weights`` (default
    equal), about ``identifier_share`` of them carrying planted identifiers."""
    data = phrases()
    themes = themes or tuple(data["themes"])
    rng = np.random.default_rng(seed)
    p = np.full(len(themes), 1 / len(themes)) if weights is None else np.asarray(weights) / np.sum(weights)
    words = data[language]
    out = []
    for _ in range(n):
        theme = themes[int(rng.choice(len(themes), p=p))]
        parts = []
        if rng.random() < 0.4:
            parts.append(_pick(rng, words["openers"]))
        parts.append(_pick(rng, words[theme]["core"]))
        for detail in rng.choice(len(words[theme]["detail"]), size=int(rng.integers(0, 3)), replace=False):
            parts.append(words[theme]["detail"][int(detail)])
        planted: list[tuple[str, str]] = []
        if rng.random() < identifier_share:
            template = _pick(rng, words["identifier_sentences"])
            values = {"name": _name(rng, language), "phone": _phone(rng), "email": _email(rng, language)}
            for slot, value in values.items():
                if "{" + slot + "}" in template:
                    planted.append((slot, value))
            parts.insert(int(rng.integers(1, len(parts) + 1)), template.format(**values))
        if rng.random() < 0.3:
            parts.append(_pick(rng, words["closers"]))
        text = " ".join(parts)
        if rng.random() < 0.1:
            text = text.lower()  # some people write everything in lower case
            planted = [(kind, value.lower()) for kind, value in planted]
        out.append(OpenAnswer(text, language, theme, tuple(planted)))
    return out


def _pick(rng: np.random.Generator, items: list[str]) -> str:
    return items[int(rng.integers(len(items)))]


def _name(rng: np.random.Generator, language: str) -> str:
    first = _pick(rng, FIRST_NAMES[language])
    return first if rng.random() < 0.4 else f"{first} {_pick(rng, LAST_NAMES)}"


def _phone(rng: np.random.Generator) -> str:
    area, middle, last = _pick(rng, AREA_CODES), "555", f"01{int(rng.integers(0, 100)):02d}"
    style = int(rng.integers(4))
    return [f"{area}-{middle}-{last}", f"({area}) {middle} {last}", f"{area}.{middle}.{last}",
            f"+1 {area} {middle} {last}"][style]


def _email(rng: np.random.Generator, language: str) -> str:
    first = _pick(rng, FIRST_NAMES[language]).lower().replace("é", "e").replace("è", "e").replace("ç", "c")
    last = _pick(rng, LAST_NAMES).lower().replace("ô", "o").replace("é", "e")
    domain = _pick(rng, ["gmail.com", "outlook.com", "yahoo.ca", "videotron.ca", "rogers.com", "example.org"])
    return f"{first.replace('-', '')}.{last}{int(rng.integers(1, 99))}@{domain}"


# -- whole surveys -------------------------------------------------------------------------------------
WAVES = ("2023", "2025")
OPEN_THEMES = {  # the themes each role writes about, with weights
    "job_seeker": {"wait_times": 3, "streaming": 2, "disability_access": 2, "francophone_indigenous": 1,
                   "referrals": 1, "employer_partnerships": 1},
    "esp_staff": {"admin_burden": 3, "funding": 3, "referrals": 2, "streaming": 1, "wait_times": 1},
    "ssm_staff": {"funding": 2, "referrals": 2, "admin_burden": 2, "francophone_indigenous": 1},
    "employer": {"employer_partnerships": 3, "funding": 1, "disability_access": 1},
}
PLANTED_CLOSED = (  # (role, question, what changes, latent shift on the 1-5 scale)
    ("job_seeker", "wait_ok", "wave 2025 against wave 2023", -0.8),
    ("esp_staff", "admin_ok", "prototype catchments against the others", -0.7),
)


def write_voices(out: Path, seed: int, respondents: dict[str, int] | None = None) -> dict[str, Any]:
    """Survey exports for every built-in instrument and wave into ``out`` (job seekers and ESP
    staff as KoboToolbox exports, SSM staff and employers as LimeSurvey exports), the XLSForms,
    and ``manifest.json`` with the planted closed-question effects and each response's open
    answer theme and planted identifiers."""

    from esmonitor.model.reference import catchments
    from esmonitor.voices.instruments import LIKERT, builtin, write_xlsform

    out.mkdir(parents=True, exist_ok=True)
    (out / "instruments").mkdir(exist_ok=True)
    counts = respondents or {"job_seeker": 400, "esp_staff": 150, "ssm_staff": 60, "employer": 120}
    rng = np.random.default_rng(seed)
    areas = catchments()
    prototype = {c.catchment_id for c in areas if c.phase == "prototype"}
    manifest: dict[str, Any] = {"generator": "esmonitor synth", "seed": seed, "waves": list(WAVES),
                                "files": {}, "responses": {},
                                "planted_closed": [dict(zip(("role", "question", "contrast", "shift"), p,
                                                            strict=True)) for p in PLANTED_CLOSED]}
    for role, n in counts.items():
        instrument = builtin(role)
        write_xlsform(instrument, out / "instruments" / f"{role}.xlsx")
        themes = OPEN_THEMES[role]
        for w, wave in enumerate(WAVES):
            rows = []
            texts = open_answers(n, "en", seed + 100 * w + len(role), themes=tuple(themes),
                                 weights=np.array(list(themes.values()), dtype=float))
            french = open_answers(n, "fr", seed + 100 * w + len(role) + 7, themes=tuple(themes),
                                  weights=np.array(list(themes.values()), dtype=float))
            for i in range(n):
                area = areas[int(rng.integers(len(areas)))].catchment_id
                lang = "fr" if rng.random() < 0.25 else "en"
                answer = french[i] if lang == "fr" else texts[i]
                record: dict[str, Any] = {"catchment_id": area}
                for q in instrument.answerable:
                    if q.type == f"select_one {LIKERT}":
                        shift = sum(s for r, name, contrast, s in PLANTED_CLOSED if r == role and name == q.name and (
                            (contrast.startswith("wave") and wave == WAVES[-1])
                            or (contrast.startswith("prototype") and area in prototype)))
                        record[q.name] = str(int(np.clip(np.rint(rng.normal(3.3 + shift, 1.0)), 1, 5)))
                    elif q.kind == "select_multiple":
                        options = [c[0] for c in instrument.choices[q.list_name or ""] if c[0] != "none"]
                        record[q.name] = " ".join(o for o in options if rng.random() < 0.2) or "none"
                    elif q.list_name == "yesno":
                        share = {"francophone": 0.1, "indigenous": 0.06, "disability": 0.2}.get(q.name, 0.1)
                        draw = rng.random()
                        record[q.name] = "yes" if draw < share else "prefer_not" if draw > 0.95 else "no"
                    elif q.kind == "integer":
                        record[q.name] = str(int(rng.integers(15, 90)))
                    elif q.name == "improve":
                        record[q.name] = answer.text
                    elif q.kind == "text":
                        record[q.name] = ""
                rid = f"{role[:3]}-{wave}-{i:05d}-{int(rng.integers(16**6)):06x}"
                manifest["responses"][rid] = {"theme": answer.theme, "language": lang,
                                              "planted": [list(p) for p in answer.planted]}
                rows.append((rid, lang, record))
            name = f"{role}_{wave}"
            path = _write_survey(out, name, role, instrument, rows, wave, rng)
            manifest["files"][path.name] = {"role": role, "wave": wave, "format": _FORMATS[role]}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), "utf-8")
    return manifest


_FORMATS = {"job_seeker": "kobo-csv", "esp_staff": "kobo-xlsx", "ssm_staff": "limesurvey", "employer": "limesurvey"}


def _write_survey(out: Path, name: str, role: str, instrument: Any, rows: list[tuple[str, str, dict[str, Any]]],
                  wave: str,
                  rng: np.random.Generator) -> Path:
    import polars as pl

    fmt = _FORMATS[role]
    records = []
    for rid, lang, record in rows:
        if fmt.startswith("kobo"):
            row: dict[str, str] = {"start": f"{wave}-04-01T09:00:00", "end": f"{wave}-04-01T09:12:00"}
            group = "experience"
            for q in instrument.answerable:
                if q.name == "catchment_id":
                    row["catchment_id"] = record["catchment_id"]
                elif q.kind == "text":
                    row[f"open/{q.name}"] = record[q.name]
                elif q.kind == "select_multiple":
                    row[f"{group}/{q.name}"] = record[q.name]
                    for option, _, _ in instrument.choices[q.list_name or ""]:
                        row[f"{group}/{q.name}/{option}"] = "1" if option in record[q.name].split() else "0"
                else:
                    row[f"{group}/{q.name}"] = record[q.name]
            row.update({"_id": str(int(rng.integers(10**6, 10**7))), "_uuid": rid,
                        "_submission_time": f"{wave}-04-01T09:12:30", "_submitted_by": "enumerator01",
                        "_validation_status": "", "__version__": "v1"})
        else:
            row = {"id": rid, "submitdate": f"{wave}-04-01 09:12:30", "lastpage": "3", "startlanguage": lang,
                   "token": f"tok{int(rng.integers(10**6))}", "ipaddr": "10.0.0.1"}
            for q in instrument.answerable:
                key = q.name.replace("_", "")
                if q.kind == "select_multiple":
                    for option, _, _ in instrument.choices[q.list_name or ""]:
                        row[f"{key}[{option}]"] = "Y" if option in record[q.name].split() else ""
                else:
                    row[key] = record[q.name]
        records.append(row)
    frame = pl.DataFrame(records)
    if fmt == "kobo-xlsx":
        path = out / f"{name}.xlsx"
        frame.write_excel(path)
    else:
        path = out / f"{name}.csv"
        frame.write_csv(path, separator=";" if fmt == "kobo-csv" else ",")
    return path
