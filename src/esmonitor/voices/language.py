"""Language of an open answer: English or French (Lingua, whose models come inside the package).

Short or mixed answers that Lingua cannot decide with confidence are ``und`` (undetermined)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

LANGUAGES = ("en", "fr")


@lru_cache(maxsize=1)
def french_stop_words() -> tuple[str, ...]:
    """French function words (``data/stopwords_fr.txt``, comment lines skipped): for the theme
    finder's stop words and the redactor's list of words that are never names."""
    from importlib import resources

    text = (resources.files("esmonitor.voices") / "data" / "stopwords_fr.txt").read_text("utf-8")
    return tuple(w for line in text.splitlines() if not line.startswith("#") for w in line.split())
UNDETERMINED = "und"


@lru_cache(maxsize=1)
def _detector() -> Any:
    from lingua import Language, LanguageDetectorBuilder

    return (LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.FRENCH)
            .with_minimum_relative_distance(0.05).build())


def detect(texts: Sequence[str | None]) -> list[str]:
    """One code per text: ``en``, ``fr`` or ``und``."""
    from lingua import Language

    codes = {Language.ENGLISH: "en", Language.FRENCH: "fr"}
    present = [(i, t) for i, t in enumerate(texts) if t and t.strip()]
    found = _detector().detect_languages_in_parallel_of([t for _, t in present]) if present else []
    out = [UNDETERMINED] * len(texts)
    for (i, _), language in zip(present, found, strict=True):
        out[i] = codes.get(language, UNDETERMINED)
    return out
