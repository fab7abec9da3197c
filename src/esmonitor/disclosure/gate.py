"""The release gate: the one door between the warehouse and any audience.

Every product a command, the report or (later) the site and the API shows — indicator tables,
funded-outcome counts, funding reports, provider ratings, the rollout evaluation, survey
summaries, themes and quotes, data-quality summaries — leaves through a :class:`Gate` built
from one :class:`~esmonitor.disclosure.access.Policy` (audience, K, zero handling; see
:func:`~esmonitor.disclosure.access.resolve_policy`). No other module tests the audience.

For an audience under disclosure control (``public``) each product is protected **as what it
is** and **together with every earlier public release of the same data version**: its counts
become cells of the measures they count (:mod:`esmonitor.disclosure.joint`), protected jointly
with the cells already in the release ledger (:mod:`esmonitor.disclosure.ledger`), and the new
release is recorded there in the same step. Whatever cannot be protected jointly is refused
with a message that says why. Figures derived from counts (rates, means, money) are shown only
where every count they are computed from is published.

Every output made from synthetic data carries :data:`SYNTHETIC_NOTICE`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from esmonitor.disclosure import ledger
from esmonitor.disclosure.access import Policy, Scope, resolve_policy
from esmonitor.disclosure.joint import (
    PERIOD_CHAIN,
    PLACE_CHAIN,
    Measure,
    ReleaseRefused,
    canonical_key,
    check_acyclic,
    family_of,
    protect_jointly,
    super_table,
    with_coarser_periods,
)
from esmonitor.disclosure.suppression import PRIMARY, PUBLISHED, SECONDARY
from esmonitor.disclosure.table import TOTAL, CellKey
from esmonitor.errors import EsmonitorError, WarehouseError
from esmonitor.model.synthetic import NOTICE_FIELD, SYNTHETIC_NOTICE, notice_text
from esmonitor.warehouse import Warehouse

GRAIN_COLUMN = {"month": "month", "quarter": "quarter", "fiscal_year": "fiscal_year"}


@dataclass
class Part:
    """The cells one product puts out for one measure: key, value and row of the product each
    belongs to; the parts of one ``group`` share one suppression pattern by row."""

    measure: Measure
    keys: list[CellKey]
    values: np.ndarray
    rows: np.ndarray
    group: str


@dataclass
class Gate:
    """What one command run may show (see the module docstring)."""

    warehouse: Path
    policy: Policy
    command: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    _synthetic: bool | None = None
    _cache: dict[Any, pl.DataFrame] = field(default_factory=dict)

    @classmethod
    def open(cls, warehouse: Path, command: str, audience: str | None = None, min_count: float | None = None,
             publish_zeros: bool = False, parameters: Mapping[str, Any] | None = None) -> Gate:
        return cls(Path(warehouse), resolve_policy(audience, min_count, publish_zeros), command,
                   dict(parameters or {}))

    # -- the policy ----------------------------------------------------------------------------
    @property
    def audience(self) -> str:
        return str(self.policy.audience)

    @property
    def public(self) -> bool:
        """Whether output is under disclosure control (and recorded in the ledger)."""
        return self.policy.audience.is_public

    @property
    def whole_province(self) -> bool:
        """Province or admin: every pseudonymized record, no disclosure control."""
        return self.policy.audience.tier in ("province", "admin")

    @property
    def min_count(self) -> float:
        return self.policy.min_count

    def require_records(self, what: str) -> None:
        self.policy.require_records(what)

    def require(self, tier: str, what: str) -> None:
        self.policy.require(tier, what)

    def scope(self, w: Warehouse) -> Scope:
        return self.policy.scope(w)

    # -- synthetic data ------------------------------------------------------------------------
    def synthetic(self, w: Warehouse | None = None) -> bool:
        """Whether the warehouse's data were made by ``esmonitor synth``."""
        if self._synthetic is None:
            if w is not None:
                self._synthetic = w.synthetic() is not None
            else:
                with Warehouse(self.warehouse, read_only=True) as opened:
                    self._synthetic = opened.synthetic() is not None
        return self._synthetic

    def stamp(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A JSON payload with the synthetic-data notice added when the data are synthetic."""
        if not self.synthetic():
            return payload
        return {NOTICE_FIELD: dict(SYNTHETIC_NOTICE), **payload}

    def stamp_frame(self, frame: pl.DataFrame) -> pl.DataFrame:
        """A table with a column stating that its data are synthetic (when they are)."""
        if not self.synthetic():
            return frame
        return frame.with_columns(pl.lit(notice_text()).alias(NOTICE_FIELD))

    # -- indicators ----------------------------------------------------------------------------
    def indicators(self, frames: Any, ids: Sequence[str] | None, by: Sequence[str], grain: str,
                   start: date | None = None, end: date | None = None, as_of: date | None = None) -> pl.DataFrame:
        """The indicator table for this audience. Public: with every margin, each count column of
        each indicator protected jointly with the ledger (one pattern per indicator), whole
        periods only, at the data's own as-of date."""
        from esmonitor.indicators.catalogue import BY_ID
        from esmonitor.indicators.engine import compute_many

        window = {"start": start, "end": end}
        if not self.public:
            return compute_many(frames, ids, by=list(by), grain=grain, **window)
        from esmonitor.disclosure.release import COUNT_COLUMNS, HIERARCHY, VALUE_COLUMNS, indicator_margins
        from esmonitor.disclosure.table import build_table

        self.check_window(grain, start, end)
        self.check_as_of(as_of)

        def compute(breakdowns: list[str], period_grain: str) -> pl.DataFrame:
            return compute_many(frames, ids, by=breakdowns, grain=period_grain, **window)

        table = compute(list(by), grain)
        margins = indicator_margins(compute, list(by), grain)
        windowed = start is not None or end is not None  # a window's own total is not a period: not released
        keys = ["period", *by]
        rows = pl.concat([table, margins], how="diagonal_relaxed").with_columns(
            pl.col(k).cast(pl.String).fill_null("(missing)") for k in keys)
        nested = [c for c in HIERARCHY if c in by]
        hierarchies = [":".join(nested)] if len(nested) > 1 else []
        dims = [c for c in keys if c not in nested[:-1]]
        parts: list[Part] = []
        out_rows: list[pl.DataFrame] = []
        offset = 0
        for (name,), part in rows.group_by(["indicator"], maintain_order=True):
            indicator = BY_ID[str(name)]
            counts = [c for c in COUNT_COLUMNS[indicator.statistic] if c in part.columns]
            interior = part.filter(pl.all_horizontal([pl.col(k) != TOTAL for k in keys]))
            if interior.is_empty():
                continue
            # every cell of the grid gets a row: a missing row would tell that the count is zero
            grid = build_table(interior.select(*keys, pl.lit(0.0).alias("_n")), dims, "_n",
                               hierarchies=hierarchies).cells.select(keys)
            if windowed:
                grid = grid.filter(pl.col("period") != TOTAL)
            fixed = {c: part[c][0] for c in ("indicator", "grain", "ci_method") if c in part.columns}
            part = grid.join(part, on=keys, how="left").with_columns(
                *[pl.lit(v).alias(c) for c, v in fixed.items()], *[pl.col(c).fill_null(0.0) for c in counts])
            if indicator.statistic in ("count", "distinct", "repeat", "caseload"):
                part = part.with_columns(pl.col("value").fill_null(0.0))
            cell_keys = [self._indicator_key(r, by, grain) for r in part.select(keys).iter_rows(named=True)]
            for column in counts:
                values = part[column].fill_null(0.0).to_numpy().astype(float)
                parts.append(Part(self.indicator_measure(frames, indicator.id, column), cell_keys, values,
                                  np.arange(offset, offset + part.height), indicator.id))
            out_rows.append(part)
            offset += part.height
        if not out_rows:
            return table.with_columns(pl.lit(PUBLISHED).alias("status"))
        everything = pl.concat(out_rows, how="diagonal_relaxed")
        status = self._row_status(self._protect("indicators", parts), parts, everything.height)
        everything = everything.with_columns(pl.Series("status", status, dtype=pl.String))
        hidden = pl.col("status") != PUBLISHED
        return everything.with_columns(pl.when(hidden).then(None).otherwise(pl.col(c)).alias(c)
                                       for c in VALUE_COLUMNS if c in everything.columns).select(
            *table.columns, "status")

    def _indicator_key(self, row: dict[str, Any], by: Sequence[str], grain: str) -> CellKey:
        codes = {b: str(row[b]) for b in by}
        if grain != "all" and row["period"] not in (TOTAL, "all"):
            codes[GRAIN_COLUMN[grain]] = str(row["period"])
        return canonical_key(codes, (PERIOD_CHAIN, PLACE_CHAIN))

    def indicator_measure(self, frames: Any, indicator: str, column: str) -> Measure:
        from esmonitor.indicators.engine import compute_many

        def counts(columns: list[str]) -> pl.DataFrame:
            periods = [c for c in PERIOD_CHAIN if c in columns]
            finest = periods[-1] if periods else "all"
            others = [c for c in columns if c not in PERIOD_CHAIN]
            key = (indicator, tuple(others), finest)
            if key not in self._cache:
                self._cache[key] = compute_many(frames, [indicator], by=others, grain=finest)
            t = self._cache[key].with_columns(pl.col(c).cast(pl.String).fill_null("(missing)") for c in others)
            if periods:
                t = with_coarser_periods(t.with_columns(pl.col("period").cast(pl.String).alias(finest)), finest,
                                         periods)
            return t.select(*columns, pl.col(column).fill_null(0.0).cast(pl.Float64).alias("value"))

        return Measure(f"indicator:{indicator}:{column}", counts)

    def measure_for(self, frames: Any) -> Callable[[str], Measure | None]:
        """For the ledger audit: a measure's own counts from the data, for the measures whose
        released margins are not sums of their cells (indicators: counts of distinct people), so
        the attack runs on the additive model the protection used; None for the others."""
        def measure(measure_id: str) -> Measure | None:
            kind, _, rest = measure_id.partition(":")
            indicator, _, column = rest.rpartition(":")
            return self.indicator_measure(frames, indicator, column) if kind == "indicator" else None

        return measure

    def check_window(self, grain: str, start: date | None, end: date | None) -> None:
        if start is None and end is None:
            return
        if grain == "all":
            raise ReleaseRefused("a public table over all periods covers the whole data: --from and --to are not "
                                 "allowed with --grain all", hint="use --grain month, quarter or fiscal_year")
        if start is not None and start != _period_start(start, grain):
            first = _period_start(start, grain)
            following = _period_end(start, grain) + timedelta(days=1)
            raise ReleaseRefused(
                f"--from {start.isoformat()} starts in the middle of a {_grain_word(grain)}: public output covers "
                "whole periods only (two releases a day apart would give away that day's counts)",
                hint=f"use --from {first.isoformat()} or --from {following.isoformat()}")
        if end is not None and end != _period_end(end, grain):
            last = _period_end(end, grain)
            before = _period_start(end, grain) - timedelta(days=1)
            raise ReleaseRefused(
                f"--to {end.isoformat()} ends in the middle of a {_grain_word(grain)}: public output covers whole "
                "periods only (two releases a day apart would give away that day's counts)",
                hint=f"use --to {before.isoformat()} or --to {last.isoformat()}")

    def check_as_of(self, as_of: date | None) -> None:
        if as_of is None:
            return
        from esmonitor.indicators.outcomes import resolve_as_of

        with Warehouse(self.warehouse, read_only=True) as w:
            default = resolve_as_of(w, None)
        if as_of != default:
            raise ReleaseRefused(f"--as-of {as_of.isoformat()}: public output is computed at the data's own as-of "
                                 f"date ({default.isoformat()}); two as-of dates side by side would give away "
                                 "the outcomes decided between them", hint="leave --as-of out")

    # -- generic joint protection --------------------------------------------------------------
    @contextmanager
    def _ledger(self) -> Iterator[Warehouse]:
        try:
            w = Warehouse(self.warehouse)
        except WarehouseError as err:
            raise ReleaseRefused(f"public output is recorded in the release ledger inside the warehouse, and "
                                 f"{self.warehouse} cannot be written ({err})",
                                 hint="run where the warehouse can be written, or close the other program "
                                      "using it") from None
        try:
            yield w
        finally:
            w.close()

    def _protect(self, product: str, parts: Sequence[Part], publish_zeros: bool | None = None) -> list[np.ndarray]:
        """Each part's cell statuses, protected jointly with the ledger and with each other (the
        parts of one measure are one set of cells); the release recorded."""
        zeros = self.policy.publish_zeros if publish_zeros is None else publish_zeros
        measures: dict[str, list[int]] = {}  # measure id -> the parts that count it
        for i, p in enumerate(parts):
            measures.setdefault(p.measure.id, []).append(i)
        with self._ledger() as w:
            data_version = w.data_version()
            synthetic = self.synthetic(w)
            before = ledger.earlier(w, data_version, sorted(measures))
            merged: dict[str, tuple[Measure, list[CellKey], np.ndarray]] = {}
            for measure_id, members in measures.items():
                measure = parts[members[0]].measure
                keys = [k for i in members for k in parts[i].keys]
                values = np.concatenate([parts[i].values for i in members])
                old = before[measure_id]
                check_acyclic([_families(r.keys, measure) for r in old]
                              + [_families(parts[i].keys, measure) for i in members], measure_id)
                merged[measure_id] = (measure, keys, values)
            tables = {m: super_table(measure, [r.keys for r in before[m]] + [parts[i].keys for i in measures[m]])
                      for m, (measure, _, _) in merged.items()}
            forced = {p.group: np.zeros(0, dtype=bool) for p in parts}
            for p in parts:
                size = int(p.rows.max()) + 1 if p.rows.size else 0
                if forced[p.group].size < size:
                    forced[p.group] = np.zeros(size, dtype=bool)
            statuses: list[np.ndarray] = [np.empty(0, dtype=object)] * len(parts)
            for _ in range(12):
                for measure_id, (measure, keys, values) in merged.items():
                    members = measures[measure_id]
                    found = protect_jointly(measure, before[measure_id], keys, values, self.min_count, zeros,
                                            np.concatenate([forced[parts[i].group][parts[i].rows] for i in members]),
                                            prebuilt=tables[measure_id])
                    bounds = np.cumsum([0] + [len(parts[i].keys) for i in members])
                    for i, lo, hi in zip(members, bounds[:-1], bounds[1:], strict=True):
                        statuses[i] = found[lo:hi]
                grown = False
                for p, status in zip(parts, statuses, strict=True):
                    hidden_rows = p.rows[status != PUBLISHED]
                    if (~forced[p.group][hidden_rows]).any():
                        forced[p.group][hidden_rows] = True
                        grown = True
                if not grown:
                    break
            cells = {}
            for measure_id, (_, keys, values) in merged.items():
                status = np.concatenate([statuses[i] for i in measures[measure_id]])
                cells[measure_id] = (keys, values.tolist(), status.tolist())
            ledger.record(w, data_version=data_version, audience=self.audience, min_count=self.min_count,
                          publish_zeros=zeros, product=product, command=self.command,
                          parameters=self.parameters, synthetic=synthetic, cells=cells)
        return statuses

    @staticmethod
    def _row_status(statuses: Sequence[np.ndarray], parts: Sequence[Part], rows: int) -> list[str]:
        primary = np.zeros(rows, dtype=bool)
        hidden = np.zeros(rows, dtype=bool)
        for p, s in zip(parts, statuses, strict=True):
            primary[p.rows[s == PRIMARY]] = True
            hidden[p.rows[s != PUBLISHED]] = True
        return [str(s) for s in np.where(primary, PRIMARY, np.where(hidden, SECONDARY, PUBLISHED)).tolist()]

    # -- tables of counts ----------------------------------------------------------------------
    def count_part(self, measure: Measure, frame: pl.DataFrame, dims: Sequence[str], value: str = "value",
                   group: str | None = None) -> tuple[Part, pl.DataFrame]:
        """A table of counts (interior rows over ``dims``) with every margin, as one part of a
        release, and its cells (dimension columns with Total, value)."""
        from esmonitor.disclosure.table import build_table

        table = build_table(frame.select(*dims, value), list(dims), value,
                            hierarchies=_hierarchies(dims, measure.chains))
        cells = table.cells.drop("cell")
        keys = [canonical_key({c: str(v) for c, v in r.items()}, measure.chains)
                for r in cells.select(table.columns).iter_rows(named=True)]
        return Part(measure, keys, table.values, np.arange(len(keys)), group or measure.id), cells

    def protect_parts(self, product: str, parts: Sequence[tuple[Part, pl.DataFrame]],
                      publish_zeros: bool | None = None) -> list[pl.DataFrame]:
        """Each table of :meth:`count_part` with a ``status`` column, protected jointly with the
        ledger and recorded as one release; hidden values emptied."""
        statuses = self._protect(product, [p for p, _ in parts], publish_zeros)
        out = []
        for (_, cells), status in zip(parts, statuses, strict=True):
            cells = cells.with_columns(pl.Series("status", status.tolist(), dtype=pl.String))
            out.append(cells.with_columns(pl.when(pl.col("status") == PUBLISHED).then(pl.col("value"))
                                          .alias("value")))
        return out

    def frame_measure(self, measure_id: str, frame: pl.DataFrame,
                      chains: tuple[tuple[str, ...], ...] = (PERIOD_CHAIN, PLACE_CHAIN)) -> Measure:
        """A measure that counts the rows of ``frame`` (one row per person, answer, payment...)."""

        def counts(columns: list[str]) -> pl.DataFrame:
            if not columns:
                return pl.DataFrame({"value": [float(frame.height)]})
            return frame.group_by(columns).len().select(
                *[pl.col(c).cast(pl.String).fill_null("(missing)") for c in columns],
                pl.col("len").cast(pl.Float64).alias("value"))

        return Measure(measure_id, counts, chains)

    def counted(self, measure_id: str, frame: pl.DataFrame, dims: Sequence[str],
                chains: tuple[tuple[str, ...], ...] = (PERIOD_CHAIN, PLACE_CHAIN),
                group: str | None = None) -> tuple[Part, pl.DataFrame]:
        """:meth:`count_part` of the rows of ``frame`` counted over ``dims``."""
        measure = self.frame_measure(measure_id, frame, chains)
        interior = measure.counts(list(dims))
        return self.count_part(measure, interior, dims, group=group)

    # -- products ------------------------------------------------------------------------------
    def checkpoint_counts(self, result: pl.DataFrame) -> pl.DataFrame:
        """Funded-outcome checkpoints by checkpoint and status (columns checkpoint, status, len;
        public: hidden counts empty)."""
        counts = result.group_by("checkpoint", "status").len()
        if not self.public:
            return counts
        frame = result.select(pl.col("checkpoint").cast(pl.String), pl.col("status").alias("outcome"))
        (cells,) = self.protect_parts("outcomes", [self.counted("outcomes:checkpoint_status", frame,
                                                                ["checkpoint", "outcome"], chains=())])
        return cells.filter((pl.col("checkpoint") != TOTAL) & (pl.col("outcome") != TOTAL)).select(
            pl.col("checkpoint").cast(pl.Int64), pl.col("outcome").alias("status"), pl.col("value").alias("len"))

    def funding(self, result: Any, groups: Sequence[str], rewards: pl.DataFrame,
                served: pl.DataFrame | None = None, second: Any = None,
                intakes: pl.DataFrame | None = None) -> dict[str, Any]:
        """A funding model's payments for this audience: ``totals`` by ``groups``, ``envelopes``
        (catchment × fiscal year), ``rewards`` (per client served, by stream) and ``shown``
        (whether each piece of money is shown). Public: the checkpoints paid (by the groups,
        catchment, fiscal year, stream and checkpoint) and the clients served (by provider and
        stream) are protected as one release, and an amount is shown only where every count it
        is computed from through the payment schedule is published (with ``second``, a second
        model's payments on the same outcomes, both models' counts must be). ``providers_shown``:
        the providers whose clients served by stream are all published (None: every one).
        ``intakes`` (catchment_id, phase before/after IES, stream_c yes/no: one row per intake)
        are protected in the same release for the creaming watch; ``watch_shown`` names the
        catchments whose four counts and the province's four are all published (None: every
        one)."""
        groups = list(groups)
        totals = result.totals(groups)
        envelopes = result.envelopes
        if not self.public:
            return {"totals": totals, "envelopes": envelopes, "rewards": rewards, "providers_shown": None,
                    "watch_shown": None}
        dims = list(dict.fromkeys([*groups, "catchment_id", "fiscal_year", "stream", "checkpoint"]))
        models = [result] + ([second] if second is not None else [])
        # the province's checkpoints by stream (what the per-client rewards are computed from) go
        # out first, as a release of their own: the finer table is then protected around them
        # instead of hiding these large margins as secondary cells; unless the finer table is
        # mostly small counts (it is then withheld whole, and the rewards with it)
        counted = [(f"funding:checkpoints_paid:{_events(m.trail)}",
                    m.trail.with_columns(pl.col("checkpoint").cast(pl.String))) for m in models]
        parts = [self.counted(measure_id, trail, dims) for measure_id, trail in counted]
        if not _mostly_small(parts[0][0].values, self.min_count, self.policy.publish_zeros):
            self.protect_parts("funding", [self.counted(measure_id, trail, ["stream", "checkpoint"])
                                           for measure_id, trail in counted])
        if served is not None:
            mature = served.filter(pl.col("mature_job") & pl.col("stream").is_in(["A", "B", "C"]))
            parts.append(self.counted("funding:clients_served_a_year_ago", mature, ["provider_id", "stream"]))
        if intakes is not None:
            parts.append(self.counted("funding:intakes", intakes, ["catchment_id", "phase", "stream_c"]))
        tables = self.protect_parts("funding", parts)
        paid = tables[: len(models)]

        def shown(keys: list[str]) -> pl.DataFrame:
            """Per combination of ``keys``: whether every count of it by stream and checkpoint is published."""
            flags = None
            for cells in paid:
                free = [c for c in ("stream", "checkpoint") if c not in keys]
                rest = [c for c in dims if c not in keys and c not in free]
                part = cells.filter(pl.all_horizontal([pl.col(c) != TOTAL for c in [*keys, *free]])
                                    & pl.all_horizontal([pl.col(c) == TOTAL for c in rest] or [pl.lit(True)]))
                ok = part.group_by(keys).agg((pl.col("status") == PUBLISHED).all().alias("_shown"))
                flags = ok if flags is None else flags.join(ok, on=keys, how="full", coalesce=True).with_columns(
                    (pl.col("_shown").fill_null(False) & pl.col("_shown_right").fill_null(False)).alias("_shown")
                ).drop("_shown_right")
            assert flags is not None
            return flags

        def withhold(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
            framed = frame.with_columns(pl.col(k).cast(pl.String) for k in keys)
            joined = framed.join(shown(keys), on=keys, how="left").with_columns(pl.col("_shown").fill_null(False))
            figures = [c for c in frame.columns if c not in keys]
            return joined.with_columns(
                *[pl.when(pl.col("_shown")).then(pl.col(c)).otherwise(None).alias(c) for c in figures],
                pl.when(pl.col("_shown")).then(pl.lit(PUBLISHED)).otherwise(pl.lit(SECONDARY)).alias("status"),
            ).drop("_shown")

        out: dict[str, Any] = {"totals": withhold(totals, groups),
                               "envelopes": withhold(envelopes, ["catchment_id", "fiscal_year"]),
                               "providers_shown": [], "watch_shown": None}
        if intakes is not None:
            cells = tables[-1].filter((pl.col("phase") != TOTAL) & (pl.col("stream_c") != TOTAL))
            province = cells.filter(pl.col("catchment_id") == TOTAL)
            if (province["status"] == PUBLISHED).all():
                own = cells.filter(pl.col("catchment_id") != TOTAL)
                out["watch_shown"] = sorted(set(own["catchment_id"].to_list()) - set(
                    own.filter(pl.col("status") != PUBLISHED)["catchment_id"].to_list()))
            else:
                out["watch_shown"] = []
            tables = tables[:-1]
        if served is not None:
            clients = tables[-1].filter((pl.col("provider_id") == TOTAL) & (pl.col("stream") != TOTAL))
            per = withhold(rewards, ["stream"]).join(
                clients.select("stream", pl.col("status").alias("_clients")), on="stream", how="left")
            ok = (pl.col("status") == PUBLISHED) & (pl.col("_clients") == PUBLISHED)
            out["rewards"] = per.with_columns(
                *[pl.when(ok).then(pl.col(c)).otherwise(None).alias(c) for c in rewards.columns if c != "stream"],
                pl.when(ok).then(pl.lit(PUBLISHED)).otherwise(pl.lit(SECONDARY)).alias("status")).drop("_clients")
            by_provider = tables[-1].filter((pl.col("provider_id") != TOTAL) & (pl.col("stream") != TOTAL))
            out["providers_shown"] = sorted(set(by_provider["provider_id"].to_list()) - set(
                by_provider.filter(pl.col("status") != PUBLISHED)["provider_id"].to_list()))
        else:
            out["rewards"] = withhold(rewards, ["stream"])
        return out

    def survey(self, frame: pl.DataFrame, summary: pl.DataFrame, by: Sequence[str],
               compare_on: str | None = None) -> tuple[pl.DataFrame, set[str] | None]:
        """The closed-question summary for this audience. Public: each question's answers by
        the groups and choice (with every margin) are protected jointly with the ledger; a
        group's n is shown when its total is published, a choice's count when its cell is, and
        the mean, agree share and their intervals only when all five counts are (they are
        computed from them). With ``compare_on``, also the groups of that column whose whole
        distribution is published for every question (comparisons are shown only between
        those)."""
        from esmonitor.voices.closed import LIKERT, protect_summary

        by = list(by)
        if self.whole_province:
            return summary, None
        if not self.public:  # an SSM's own catchments: protected on their own
            return protect_summary(summary, by=by, min_count=self.min_count), None
        likert = frame.filter(pl.col("value").is_in(list(LIKERT))).with_columns(pl.col("value").alias("choice"))
        chains = (("rollout", "phase", "catchment_id"),)
        questions = sorted(summary["question"].unique().to_list()) if summary.height else []
        separate = compare_on is not None and compare_on not in by
        summaries, comparisons = [], []
        for q in questions:
            answers = likert.filter(pl.col("question") == q)
            summaries.append(self.counted(f"survey:{q}", answers, [*by, "choice"], chains=chains))
            if separate:
                assert compare_on is not None
                comparisons.append(self.counted(f"survey:{q}", answers, [compare_on, "choice"], chains=chains,
                                                group=f"compare:{q}"))
        tables = self.protect_parts("survey summary", summaries + comparisons) if questions else []
        out = []
        figures = ["n", "mean", "mean_low", "mean_high", "agree", "agree_low", "agree_high"]
        for q, cells in zip(questions, tables[: len(summaries)], strict=True):
            rows = summary.filter(pl.col("question") == q).with_columns(pl.col(by).cast(pl.String))
            inner = cells.filter(pl.all_horizontal([pl.col(g) != TOTAL for g in by]))
            total = inner.filter(pl.col("choice") == TOTAL).select(*by, pl.col("status"))
            whole = inner.filter(pl.col("choice") != TOTAL).group_by(by).agg(
                (pl.col("status") == PUBLISHED).all().alias("_whole"))
            rows = rows.join(total, on=by, how="left").join(whole, on=by, how="left").with_columns(
                pl.col("_whole").fill_null(False))
            shown_n = pl.col("status") == PUBLISHED
            rows = rows.with_columns(
                pl.when(shown_n).then(pl.col("n")).otherwise(None).alias("n"),
                *[pl.when(pl.col("_whole") & shown_n).then(pl.col(c)).otherwise(None).alias(c)
                  for c in figures if c != "n" and c in rows.columns])
            for choice in LIKERT:
                cell = inner.filter(pl.col("choice") == choice).select(*by, pl.col("status").alias("_s"))
                rows = rows.join(cell, on=by, how="left").with_columns(
                    pl.when(pl.col("_s") == PUBLISHED).then(pl.col(f"n_{choice}")).otherwise(None)
                    .alias(f"n_{choice}")).drop("_s")
            out.append(rows.drop("_whole"))
        comparable: set[str] | None = None
        if compare_on is not None:
            for cells in tables[len(summaries):] if separate else tables:
                others = [c for c in cells.columns if c not in (compare_on, "choice", "value", "status")]
                inner = cells.filter((pl.col(compare_on) != TOTAL) & (pl.col("choice") != TOTAL)
                                     & pl.all_horizontal([pl.col(c) == TOTAL for c in others] or [pl.lit(True)]))
                ok = set(inner[compare_on].to_list()) - set(
                    inner.filter(pl.col("status") != PUBLISHED)[compare_on].to_list())
                comparable = ok if comparable is None else comparable & ok
        return (pl.concat(out, how="diagonal_relaxed") if out else summary), comparable

    def comparisons(self, found: list[dict[str, Any]], comparable: set[str] | None, first: str,
                    second: str) -> list[dict[str, Any]]:
        """Survey comparisons (``n_first``, ``n_second``, difference...) for this audience: the
        province sees all; the public those whose two groups' distributions are published for
        every question (``comparable`` from :meth:`survey`); an SSM those of K answers a side."""
        if self.whole_province:
            return found
        if self.public:
            return found if comparable is not None and {first, second} <= comparable else []
        return [c for c in found if min(c["n_first"], c["n_second"]) >= self.min_count]

    def ratings(self, result: Any, clients: pl.DataFrame, outcome: str) -> tuple[Any, int]:
        """Provider ratings for this audience, and how many were withheld (see
        :meth:`hidden_providers`); public: the number of clients is that of the providers shown."""
        import dataclasses

        with Warehouse(self.warehouse, read_only=True) as w:
            own = self.scope(w).providers(w) or set()
        hidden = self.hidden_providers(clients, outcome, own)
        if hidden is None:
            return result, 0
        kept = tuple(p for p in result.providers if p.provider not in hidden)
        return dataclasses.replace(result, providers=kept, n_clients=sum(p.n for p in kept)), \
            len(result.providers) - len(kept)

    def hidden_providers(self, clients: pl.DataFrame, outcome: str, own: set[str]) -> set[str] | None:
        """The providers whose rating this audience may not see (None: it sees every one).
        Narrower than the province: its ``own`` providers are shown, others only with at least K
        clients on each side of the outcome. Public: the clients by provider and outcome are
        protected jointly with the ledger, and a provider is shown when both its counts are."""
        from esmonitor.evaluation.providers import shown_to_all

        if self.whole_province:
            return None
        if not self.public:
            sides = clients.group_by("provider_id").agg(pl.len().alias("n"), pl.col(outcome).cast(pl.Float64).mean()
                                                         .alias("observed"))
            return {str(r["provider_id"]) for r in sides.iter_rows(named=True)
                    if r["provider_id"] not in own and not shown_to_all(r["n"], r["observed"], self.min_count)}
        frame = clients.with_columns(pl.when(pl.col(outcome).cast(pl.Boolean)).then(pl.lit("achieved"))
                                     .otherwise(pl.lit("not_achieved")).alias("outcome"))
        (cells,) = self.protect_parts("provider ratings", [self.counted(
            f"ratings:{outcome}", frame, ["provider_id", "outcome"])])
        inner = cells.filter((pl.col("provider_id") != TOTAL) & (pl.col("outcome") != TOTAL))
        return {str(p) for p in inner.filter(pl.col("status") != PUBLISHED)["provider_id"].to_list()}

    def rollout(self, data: dict[str, Any], frames: Any,
                without: Callable[[list[str]], dict[str, Any]] | None = None) -> dict[str, Any]:
        """The rollout evaluation for this audience. Public: computed only from units whose every
        quarter of the indicator is published in a protected release of the indicator by unit and
        quarter. Every estimate is a function of the panel's cells — each cohort's group-time
        effects, their aggregations, the fixed-effects diagnostic, each synthetic control's gaps,
        fit and post-period mean — and a linear one with all cells published but one gives that
        one away. So a unit with a withheld quarter is left out and the evaluation made again
        without it (``without``: the evaluation without the given units), saying which; where it
        cannot be (no ``without``, or too few units left) the evaluation is withheld whole."""
        if not self.public or "skipped" in data:
            return data
        column = "catchment_id" if data["level"] == "catchment" else "provider_id"
        table = self.indicators(frames, [data["indicator"]], [column], "quarter")
        published = {(str(r[column]), str(r["period"])) for r in table.filter(pl.col("status") == PUBLISHED)
                     .select(column, "period").iter_rows(named=True)}

        def small_units(result: dict[str, Any]) -> tuple[list[str], int, int]:
            # a result saved before its panel was recorded: every unit and quarter of the table
            units = result.get("panel_units") or sorted({str(u) for u in table[column].drop_nulls()} - {TOTAL})
            periods = result.get("panel_periods") or sorted({str(p) for p in table["period"].drop_nulls()} - {TOTAL})
            hidden = [(u, p) for u in units for p in periods if (u, p) not in published]
            return sorted({u for u, _ in hidden}), len(hidden), len(units) * len(periods)

        left_out, hidden, cells = small_units(data)
        if not left_out:
            return data
        withheld = {"skipped": f"{hidden} of the {cells} {data['level']} × quarter cells of {data['indicator']} "
                               "behind the evaluation are withheld (small counts, or hidden to protect them), and "
                               "every estimate is computed from them",
                    "withheld": {"small_cells": hidden, "cells": cells, "level": data["level"],
                                 "indicator": data["indicator"], "min_count": self.min_count}}
        if without is None:
            return withheld
        try:
            again = without(left_out)
        except EsmonitorError:
            return withheld  # too few units left for the panel
        if small_units(again)[1] or set(again.get("panel_units") or ()) & set(left_out):
            return withheld
        return again | {"left_out": {"units": left_out, "reason": f"{hidden} of their quarters are withheld "
                                                                    "(small counts, or hidden to protect them)"}}

    def quality(self, rules: pl.DataFrame) -> pl.DataFrame:
        """Quarantined rows by file and rule (columns file_name, rule, rows). Public: protected
        with their margins (each file's total), zeros published (a rule that never fired says
        nothing about a person)."""
        if self.whole_province:
            return rules.with_columns(pl.lit(PUBLISHED).alias("status"))
        if not self.public:
            from esmonitor.disclosure.release import disclose_frame

            cells = disclose_frame(rules, ["file_name", "rule"], "rows", min_count=self.min_count,
                                   publish_zeros=True).cells
            return cells.with_columns(pl.when(pl.col("status") == PUBLISHED).then(pl.col("value"))
                                      .alias("value")).rename({"value": "rows"})
        measure = Measure("quality:quarantined_rows", lambda columns: rules.group_by(columns).agg(
            pl.col("rows").sum().cast(pl.Float64).alias("value")) if columns else pl.DataFrame(
            {"value": [float(rules["rows"].sum())]}), ())
        part = self.count_part(measure, rules.select("file_name", "rule", pl.col("rows").alias("value")),
                               ["file_name", "rule"])
        (cells,) = self.protect_parts("data quality", [part], publish_zeros=True)
        return cells.rename({"value": "rows"})

    def themes(self, found: dict[str, Any]) -> dict[str, Any]:
        """Themes of open answers for this audience: narrower than the province, only themes of
        at least K answers (quotes already come only from groups of K respondents)."""
        if self.whole_province:
            return found
        return {lang: block | {"themes": [t for t in block["themes"] if t["size"] >= self.min_count]}
                for lang, block in found.items()}


def _mostly_small(values: np.ndarray, min_count: float, publish_zeros: bool) -> bool:
    """Whether a table's cells (with their margins) are mostly primary: the share at which
    protection withholds a table whole."""
    from esmonitor.disclosure.suppression import MOSTLY_SMALL, primary_cells

    return bool(primary_cells(values, min_count, publish_zeros).mean() >= MOSTLY_SMALL) if values.size else False


def _events(trail: pl.DataFrame) -> str:
    """The identity of a set of paid checkpoints (two models that pay the same events count the
    same thing, whatever they pay for them)."""
    import hashlib

    pairs = trail.select(pl.concat_str([pl.col("client_id"), pl.col("checkpoint").cast(pl.String)], separator="|")
                         .sort().alias("e"))["e"].to_list()
    return hashlib.sha256("\n".join(pairs).encode()).hexdigest()[:16]


def _families(keys: Sequence[CellKey], measure: Measure) -> frozenset[str]:
    return frozenset(family_of(c, measure.chains) for key in keys for c, _ in key)


def _hierarchies(dims: Sequence[str], chains: Sequence[Sequence[str]]) -> list[str]:
    out = []
    for chain in chains:
        used = [c for c in chain if c in dims]
        if len(used) > 1:
            out.append(":".join(used))
    return out


def _grain_word(grain: str) -> str:
    return {"month": "month", "quarter": "quarter", "fiscal_year": "fiscal year"}[grain]


def _period_start(day: date, grain: str) -> date:
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year if day.month >= 4 else day.year - 1, 4, 1)


def _period_end(day: date, grain: str) -> date:
    start = _period_start(day, grain)
    months = {"month": 1, "quarter": 3, "fiscal_year": 12}[grain]
    year, month = divmod(start.month - 1 + months, 12)
    return date(start.year + year, month + 1, 1) - timedelta(days=1)

