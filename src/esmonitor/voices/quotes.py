"""Safe quotes: an open answer is quoted only after redaction, and only when the group it is
attributed to (role × catchment × wave, and any equity attribute shown with it) holds at least K
respondents — otherwise the quote could point at the one person in that group."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from esmonitor.voices.redact import Redactor

DEFAULT_GROUP = ("role", "catchment_id", "wave")


def safe_quotes(responses: Any, text: str = "answer", group: Sequence[str] = DEFAULT_GROUP, min_count: int = 10,
                redactor: Redactor | None = None, candidates: Sequence[int] | None = None) -> pl.DataFrame:
    """The quotable answers among ``candidates`` (row numbers; default all): redacted, with their
    group and its size; answers from groups of fewer than ``min_count`` respondents are left out."""
    frame = responses if isinstance(responses, pl.DataFrame) else pl.from_pandas(responses)
    missing = [c for c in [text, *group] if c not in frame.columns]
    if missing:
        raise ValueError(f"missing column(s) {', '.join(missing)}")
    redactor = redactor or Redactor()
    sized = frame.with_row_index("_row").with_columns(pl.len().over(list(group)).alias("group_size"))
    if candidates is not None:
        sized = sized.filter(pl.col("_row").is_in(list(candidates)))
    shown = sized.filter((pl.col("group_size") >= min_count) & pl.col(text).is_not_null())
    quotes = [redactor.redact(t) for t in shown[text].to_list()]
    return shown.select("_row", *group, "group_size").with_columns(pl.Series("quote", quotes, dtype=pl.String))


def quoted_themes(frame: pl.DataFrame, text: str = "answer", language: str = "language",
                  group: Sequence[str] = DEFAULT_GROUP, min_count: int = 10, n_themes: int | None = None,
                  seed: int = 0, redactor: Redactor | None = None, min_answers: int = 4,
                  quotes: int = 3) -> dict[str, dict[str, Any]]:
    """The themes of the open answers in each language (``language`` column: en or fr; languages
    with fewer than ``min_answers`` answers are skipped): for each theme its label, keywords, size,
    size by group (groups of at least K only) and up to ``quotes`` safe quotes, the theme's most
    representative answers first."""
    import numpy as np

    from esmonitor.voices.themes import find_themes

    out: dict[str, dict[str, Any]] = {}
    groups = list(group)
    for lang in ("en", "fr"):
        part = frame.filter(pl.col(language) == lang)
        if part.height < min_answers:
            continue
        found = find_themes(part[text].to_list(), lang, n_themes=n_themes, seed=seed)
        part = part.with_columns(pl.Series("theme", found.assignment))
        safe = safe_quotes(part, text=text, group=groups, min_count=min_count, redactor=redactor)
        quotable = dict(zip(safe["_row"].to_list(), safe["quote"].to_list(), strict=True))
        entries = []
        for theme in found.themes:
            members = [int(i) for i in np.flatnonzero(found.assignment == theme.id)]
            chosen = [i for i in dict.fromkeys([*theme.quotes, *members]) if i in quotable][:quotes]
            sizes = part.filter(pl.col("theme") == theme.id).group_by(groups).len().sort(groups).to_dicts() \
                if groups else []
            entries.append({"theme": theme.id, "label": theme.label, "keywords": list(theme.keywords),
                            "size": theme.size, "by_group": [s for s in sizes if s["len"] >= min_count],
                            "quotes": [quotable[i] for i in chosen]})
        out[lang] = {"answers": part.height, "silhouette": found.silhouette, "themes": entries}
    return out
