"""Reading and checking a user's long table (one row per unit and time) for the estimators."""

from __future__ import annotations

import warnings
from typing import Any

import polars as pl

from esmonitor.errors import UserInputError


def as_polars(data: Any) -> pl.DataFrame:
    """A Polars frame from a Polars or pandas frame."""
    if isinstance(data, pl.DataFrame):
        return data
    try:
        return pl.from_pandas(data)
    except (TypeError, ValueError) as err:
        raise UserInputError("data must be a Polars or pandas data frame") from err


def require_columns(df: pl.DataFrame, **roles: str) -> None:
    missing = [f"{role} column {name!r}" for role, name in roles.items() if name not in df.columns]
    if missing:
        raise UserInputError(f"missing {', '.join(missing)}", hint=f"columns are: {', '.join(df.columns)}")


def require_numeric(df: pl.DataFrame, column: str, role: str) -> pl.DataFrame:
    """The column cast to float; a clear error naming the first value that is not a number."""
    cast = df.with_columns(pl.col(column).cast(pl.Float64, strict=False).alias(column))
    bad = df.filter(cast[column].is_null() & df[column].is_not_null())
    if bad.height:
        raise UserInputError(f"{role} column {column!r} is not numeric (first bad value: {bad[column][0]!r})")
    if cast[column].is_null().any():
        raise UserInputError(f"{role} column {column!r} has missing values ({cast[column].null_count()} rows)")
    return cast


def require_binary(df: pl.DataFrame, column: str, role: str = "treatment") -> pl.DataFrame:
    """The column as 0.0/1.0 floats, or a clear error naming what else was found."""
    df = require_numeric(df, column, role)
    values = set(df[column].unique().to_list())
    if not values <= {0.0, 1.0}:
        raise UserInputError(f"{role} column {column!r} must be 0 or 1 (found {sorted(values)[:5]})")
    return df


def feols(formula: str, frame: Any, cluster: str) -> Any:
    """pyfixest's ``feols`` with CR1 errors clustered by ``cluster``. pyfixest still uses pandas'
    deprecated ``inplace=`` arguments; that warning is theirs and says nothing about the fit."""
    import pyfixest as pf

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The inplace keyword", category=DeprecationWarning)
        fit = pf.feols(formula, data=frame, vcov={"CRV1": cluster})
        fit.coef(), fit.se(), fit.confint()  # computed here, inside the filter
    return fit
