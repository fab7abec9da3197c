"""The release ledger: every public release made from the warehouse, and every cell it put out.

A statistical agency keeps a register of the tables it released from each version of its data,
and protects a new table together with everything already out. esmonitor keeps that register in
the warehouse itself (tables ``_releases`` and ``_release_cells``): for each public release its
data version, code version, audience, K, zero handling, product, command and parameters, and for
each cell its measure, key, true value and status (published, primary, secondary). The gate
(:mod:`esmonitor.disclosure.gate`) reads the earlier releases of the same data version before it
protects a new one (:func:`esmonitor.disclosure.joint.protect_jointly`) and records the new one
in the same step.

The ledger holds the true values of hidden cells: it is as confidential as the warehouse.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import sqlglot.expressions as exp

from esmonitor.disclosure.joint import Measure, Released, key_from_text, key_text
from esmonitor.disclosure.table import CellKey
from esmonitor.warehouse import Warehouse
from esmonitor.warehouse.schema import RELEASE_CELLS_TABLE, RELEASES_TABLE


@dataclass(frozen=True)
class ReleaseRecord:
    release_id: str
    data_version: str
    code_version: str
    audience: str
    min_count: float
    publish_zeros: bool
    product: str
    command: str
    parameters: dict[str, Any]
    synthetic: bool
    created_at: datetime
    cells: int


def code_version() -> str:
    return f"esmonitor {metadata.version('esmonitor')}"


def _exists(w: Warehouse, table: str) -> bool:
    query = exp.select(exp.func("count", exp.Star())).from_(exp.to_table("information_schema.tables")).where(
        exp.column("table_name").eq(exp.Literal.string(table)))
    return bool(w.scalar(query))


CELL_SCHEMA = {"release_id": pl.String, "measure": pl.String, "cell": pl.String, "value": pl.Float64,
               "status": pl.String}


def cells(w: Warehouse, data_version: str, measures: Sequence[str] | None = None) -> pl.DataFrame:
    """Every cell released from ``data_version`` (of ``measures`` only, if given): release,
    measure, cell key (JSON), value, status; by release (oldest first), measure and cell."""
    if not _exists(w, RELEASE_CELLS_TABLE):
        return pl.DataFrame(schema=CELL_SCHEMA)
    condition: exp.Expr = exp.column("data_version", "r").eq(exp.Literal.string(data_version))
    if measures is not None:
        condition = exp.and_(condition, exp.column("measure", "c").isin(*[exp.Literal.string(m) for m in measures]))
    query = (exp.select("c.release_id", "c.measure", "c.cell", "c.value", "c.status")
             .from_(exp.alias_(exp.to_table(RELEASE_CELLS_TABLE), "c"))
             .join(exp.alias_(exp.to_table(RELEASES_TABLE), "r"), on="c.release_id = r.release_id")
             .where(condition).order_by("r.created_at", "c.release_id", "c.measure", "c.cell"))
    return pl.DataFrame(w.arrow(query), schema=CELL_SCHEMA)


def earlier(w: Warehouse, data_version: str, measures: Sequence[str]) -> dict[str, list[Released]]:
    """The cells of every earlier release of ``data_version``, by measure (one entry per release,
    oldest first)."""
    out: dict[str, list[Released]] = {m: [] for m in measures}
    if not measures:
        return out
    frame = cells(w, data_version, measures)
    if frame.is_empty():
        return out
    for (_, measure), part in frame.group_by(["release_id", "measure"], maintain_order=True):
        out[str(measure)].append(_released(part))
    return out


def _released(part: pl.DataFrame) -> Released:
    """One release's cells of one measure, from rows of :func:`cells`."""
    return Released([key_from_text(t) for t in part["cell"].to_list()], part["value"].to_numpy().astype(float),
                    np.asarray(part["status"].to_list(), dtype=object))


def record(w: Warehouse, *, data_version: str, audience: str, min_count: float, publish_zeros: bool,
           product: str, command: str, parameters: Mapping[str, Any], synthetic: bool,
           cells: Mapping[str, tuple[Sequence[CellKey], Sequence[float], Sequence[str]]]) -> str:
    """Write one release and its cells (by measure: keys, values, statuses); returns its id."""
    release_id = f"{datetime.now().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    rows: dict[str, list[Any]] = {"release_id": [], "measure": [], "cell": [], "value": [], "status": []}
    for measure, (keys, values, status) in cells.items():
        seen: set[str] = set()
        for key, value, s in zip(keys, values, status, strict=True):
            text = key_text(key)
            if text in seen:
                continue
            seen.add(text)
            rows["release_id"].append(release_id)
            rows["measure"].append(measure)
            rows["cell"].append(text)
            rows["value"].append(float(value))
            rows["status"].append(str(s))
    with w.transaction():
        w.insert_arrow(RELEASES_TABLE, pa.table({
            "release_id": [release_id], "data_version": [data_version], "code_version": [code_version()],
            "audience": [audience], "min_count": [float(min_count)], "publish_zeros": [publish_zeros],
            "product": [product], "command": [command],
            "parameters": [json.dumps(dict(parameters), default=str, sort_keys=True)],
            "synthetic": [synthetic], "created_at": [datetime.now()], "cells": [len(rows["cell"])]}))
        if rows["cell"]:
            w.insert_arrow(RELEASE_CELLS_TABLE, pa.table(rows))
    return release_id


def releases(w: Warehouse, data_version: str | None = None) -> list[ReleaseRecord]:
    """Every release in the ledger (of one data version, or all), oldest first."""
    if not _exists(w, RELEASES_TABLE):
        return []
    query = exp.select("*").from_(RELEASES_TABLE).order_by("created_at", "release_id")
    if data_version is not None:
        query = query.where(exp.column("data_version").eq(exp.Literal.string(data_version)))
    frame = pl.DataFrame(w.arrow(query))
    return [ReleaseRecord(**{**r, "parameters": json.loads(r["parameters"] or "{}")})
            for r in frame.iter_rows(named=True)]



def reference_parents(w: Warehouse) -> dict[str, dict[str, str]]:
    """Which code of a coarser column each code sits in, for the nested columns the gate uses
    (site in provider in catchment in SSM; catchment in phase in rollout), from the warehouse's
    reference tables: ``{"child>parent": {code: parent code}}``."""
    places = pl.DataFrame(w.arrow(
        exp.select("s.site_id", "p.provider_id", "p.catchment_id", "c.ssm_id", "c.phase")
        .from_(exp.alias_(exp.to_table("catchment"), "c"))
        .join(exp.alias_(exp.to_table("provider"), "p"), on="p.catchment_id = c.catchment_id", join_type="left")
        .join(exp.alias_(exp.to_table("site"), "s"), on="s.provider_id = p.provider_id", join_type="left")))
    places = places.with_columns(pl.when(pl.col("phase") == "prototype").then(pl.lit("prototype"))
                                 .otherwise(pl.lit("later")).alias("rollout"))
    order = ["site_id", "provider_id", "catchment_id", "ssm_id"]
    out: dict[str, dict[str, str]] = {}
    pairs = [(a, b) for i, a in enumerate(order) for b in order[i + 1:]]
    pairs += [("catchment_id", "phase"), ("catchment_id", "rollout"), ("phase", "rollout")]
    for child, parent in pairs:
        known = places.select(child, parent).drop_nulls().unique()
        out[f"{child}>{parent}"] = {str(a): str(b) for a, b in known.iter_rows()}
    return out


@dataclass(frozen=True)
class AuditedCell:
    measure: str
    cell: str
    value: float
    low: float
    high: float

    @property
    def width(self) -> float:
        return self.high - self.low


def audit(w: Warehouse, data_version: str | None = None,
          measure_for: Callable[[str], Measure | None] | None = None) -> list[AuditedCell]:
    """Every primary cell of every release of ``data_version`` (default: the warehouse's data
    now) with its interval, attacked with everything those releases published at once, measure by
    measure: the structure from the released cells and the reference data, no unreleased value.
    ``measure_for`` may give a measure's own counts (an indicator's, from the data): the attack
    then runs on the additive model the protection used, which counts of distinct people need
    (their published margins are not the sums of their cells, so the structure alone would
    contradict them)."""
    from esmonitor.disclosure.joint import attack, attack_published

    version = data_version or w.data_version()
    frame = cells(w, version)
    parents = reference_parents(w)
    out: list[AuditedCell] = []
    for (measure,), part in frame.group_by(["measure"], maintain_order=True):
        releases = [_released(rel) for _, rel in part.group_by(["release_id"], maintain_order=True)]
        own = measure_for(str(measure)) if measure_for is not None else None
        found = attack(own, releases) if own is not None else attack_published(str(measure), releases, parents)
        for e in found:
            out.append(AuditedCell(str(measure), key_text(e.key), e.value, e.low, e.high))
    return out
