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
