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
