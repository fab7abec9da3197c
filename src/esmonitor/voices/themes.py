"""Themes in open answers, found automatically and reproducibly.

Per language: TF-IDF over words and word pairs (scikit-learn; English stop words from
scikit-learn, French ones shipped in ``data/stopwords_fr.txt``; accents folded; redaction
placeholders dropped), reduced by truncated SVD (latent semantic analysis) and clustered by
k-means. The number of themes is given or chosen by the silhouette score among 2 to
``min(12, answers / 60)`` (measured on synthetic answers with planted themes: left free, the
silhouette keeps rising as themes split into near-identical wordings). Each theme gets its
keywords (the terms by which its answers stand out from the rest), a label made of the first
three, its size, and its most representative answers (nearest the centre). The same input and
seed give the same themes: every random step takes the seed.

The codebook workflow (:func:`cohen_kappa`, :func:`suggest_codes`): analysts code a sample, the
platform reports agreement between coders and between model and coders, and suggests codes for
the rest (a linear classifier trained on the coded sample).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

ANSWERS_PER_THEME = 60  # with the number of themes chosen automatically
PLACEHOLDERS = ("name", "email", "phone", "sin", "health_card", "case_number", "address", "postal_code",
                "employer")


@dataclass(frozen=True)
class Theme:
    id: int
    label: str
    keywords: tuple[str, ...]
    size: int
    quotes: tuple[int, ...]  # indices of the most representative answers, best first


@dataclass(frozen=True)
class Themes:
    language: str
    assignment: np.ndarray  # theme id per answer
    themes: tuple[Theme, ...]
    silhouette: float


@lru_cache(maxsize=2)
def stop_words(language: str) -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    if language == "en":
        words = set(ENGLISH_STOP_WORDS)
    elif language == "fr":
        from esmonitor.voices.language import french_stop_words

        words = {part for w in french_stop_words() for part in re.split(r"['’]", w) if part}
    else:
        raise ValueError(f"no stop words for {language!r}")
    from sklearn.feature_extraction.text import strip_accents_unicode

    return frozenset({strip_accents_unicode(w) for w in words} | set(PLACEHOLDERS))


def find_themes(texts: Sequence[str], language: str, n_themes: int | None = None, seed: int = 0,
                max_themes: int = 12, quotes: int = 3) -> Themes:
    """Themes of answers in one language (see the module docstring)."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import normalize

    if len(texts) < 4:
        raise ValueError("at least 4 answers are needed to find themes")
    vectorizer = TfidfVectorizer(strip_accents="unicode", lowercase=True, stop_words=sorted(stop_words(language)),
                                 ngram_range=(1, 2), min_df=2, max_df=0.5, sublinear_tf=True,
                                 token_pattern=r"(?u)\b[^\W\d_][^\W\d_]+\b")
    x = vectorizer.fit_transform(texts)
    terms = np.asarray(vectorizer.get_feature_names_out())
    dims = max(2, min(100, x.shape[1] - 1, x.shape[0] - 1))
    z = normalize(TruncatedSVD(n_components=dims, random_state=seed).fit_transform(x))
    # at most one theme per ANSWERS_PER_THEME answers: the silhouette keeps rising as clusters split
    # into near-identical wordings, so without a floor on theme size it would always take the most
    ceiling = min(max_themes, max(2, len(texts) // ANSWERS_PER_THEME), len(texts) - 1)
    candidates = [n_themes] if n_themes else list(range(2, ceiling + 1))
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for k in candidates:
        model = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z)
        score = float(silhouette_score(z, model.labels_, sample_size=min(len(texts), 5000), random_state=seed))
        if best is None or score > best[0]:
            best = (score, model.labels_, model.cluster_centers_)
    assert best is not None
    score, labels, centres = best
    overall = np.asarray(x.mean(axis=0)).ravel()
    themes = []
    for k in range(centres.shape[0]):
        members = np.flatnonzero(labels == k)
        lift = np.asarray(x[members].mean(axis=0)).ravel() - overall
        keywords = tuple(terms[np.argsort(-lift, kind="stable")[:8]])
        nearest = members[np.argsort(-(z[members] @ centres[k]), kind="stable")[:quotes]]
        themes.append(Theme(k, " / ".join(keywords[:3]), keywords, int(members.size), tuple(int(i) for i in nearest)))
    return Themes(language, labels.astype(int), tuple(themes), score)


def _agreement_table(first: Sequence[str], second: Sequence[str]) -> np.ndarray:
    if len(first) != len(second) or not first:
        raise ValueError("two codings of the same, non-empty set of answers are needed")
    codes = sorted(set(first) | set(second))
    index = {c: i for i, c in enumerate(codes)}
    table = np.zeros((len(codes), len(codes)))
    for a, b in zip(first, second, strict=True):
        table[index[a], index[b]] += 1
    return table


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float:
    """Cohen's kappa between two codings of the same answers: (observed agreement - chance
    agreement) / (1 - chance agreement), chance from each coder's own code frequencies."""
    table = _agreement_table(first, second)
    n = table.sum()
    observed = np.trace(table) / n
    chance = float((table.sum(axis=1) / n) @ (table.sum(axis=0) / n))
    return 1.0 if chance == 1 else float((observed - chance) / (1 - chance))


@dataclass(frozen=True)
class Kappa:
    kappa: float
    se: float  # large-sample standard error (Fleiss, Cohen and Everitt 1969)
    low: float
    high: float
    n: int


def kappa_interval(first: Sequence[str], second: Sequence[str], alpha: float = 0.05) -> Kappa:
    """Cohen's kappa with its large-sample interval (statsmodels' ``cohens_kappa``: the
    Fleiss–Cohen–Everitt variance; checked against Fleiss and Paik's and Stata's worked examples)."""
    from statsmodels.stats.inter_rater import cohens_kappa

    table = _agreement_table(first, second)
    if table.shape[0] == 1:  # one code only: perfect agreement, nothing to vary
        return Kappa(1.0, 0.0, 1.0, 1.0, int(table.sum()))
    from statistics import NormalDist

    found = cohens_kappa(table)
    kappa, se = float(found.kappa), float(found.std_kappa)
    z = NormalDist().inv_cdf(1 - alpha / 2)
    return Kappa(kappa, se, kappa - z * se, kappa + z * se, int(table.sum()))


def model_agreement(texts: Sequence[str], coded: dict[int, str], language: str, folds: int = 5,
                    seed: int = 0) -> float:
    """Cohen's kappa between the analysts' codes and the model's, each coded answer predicted by
    a model trained without it (``folds``-fold cross-validation)."""
    rows = sorted(coded)
    if len(rows) < 2 * folds:
        raise ValueError(f"code at least {2 * folds} answers to measure the model's agreement")
    order = np.random.default_rng(seed).permutation(len(rows))
    predicted: dict[int, str] = {}
    for f in range(folds):
        held = {rows[i] for i in order[f::folds]}
        train = {i: coded[i] for i in rows if i not in held}
        suggested = suggest_codes(texts, train, language, seed)
        predicted.update({i: suggested[i] for i in held})
    return cohen_kappa([coded[i] for i in rows], [predicted[i] for i in rows])


def suggest_codes(texts: Sequence[str], coded: dict[int, str], language: str, seed: int = 0) -> list[str]:
    """A code for every answer, learned from the answers analysts coded (index -> code): TF-IDF
    and a linear classifier (logistic regression); coded answers keep their code."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    if len(set(coded.values())) < 2:
        raise ValueError("code at least two different codes before asking for suggestions")
    vectorizer = TfidfVectorizer(strip_accents="unicode", stop_words=sorted(stop_words(language)),
                                 ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b[^\W\d_][^\W\d_]+\b")
    x = vectorizer.fit_transform(texts)
    rows = sorted(coded)
    model = LogisticRegression(max_iter=2000, random_state=seed).fit(x[rows], [coded[i] for i in rows])
    out = [str(c) for c in model.predict(x)]
    for i, code in coded.items():
        out[i] = code
    return out
