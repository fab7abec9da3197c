"""The DuckDB warehouse (default engine)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot.expressions as exp

from esmonitor.errors import UnreadableInputError, WarehouseError
from esmonitor.model import reference
from esmonitor.warehouse import schema

DEFAULT_WAREHOUSE = "esmonitor.duckdb"
WAREHOUSE_ENV = "ESMONITOR_WAREHOUSE"
SCHEMA_VERSION = "1"


def default_warehouse_path() -> Path:
    return Path(os.environ.get(WAREHOUSE_ENV) or DEFAULT_WAREHOUSE)


Sql = exp.Expr | str


class Warehouse:
    """An esmonitor warehouse in one DuckDB file.

    All SQL arrives as sqlglot expressions (rendered here in this engine's dialect) or as plain
    statements written in this module. Use it as a context manager, or call :meth:`close`.
    """

    dialect = "duckdb"

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False,
                 memory_limit: str | None = None, engine_config: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        if read_only and not self.path.exists():
            raise WarehouseError(f"no warehouse at {self.path}",
                                 hint="run `esmonitor ingest` or `esmonitor demo` first, or pass --warehouse")
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = dict(engine_config or {})
        if memory_limit:
            config["memory_limit"] = memory_limit
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only, config=config)
        except duckdb.Error as err:
            raise WarehouseError(f"cannot open warehouse {self.path}: {err}",
                                 hint="is another esmonitor process using it?") from err
        if not read_only:
            self._ensure_schema()
        elif self.meta("schema_version") is None:
            raise WarehouseError(f"{self.path} is not an esmonitor warehouse")

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def _ensure_schema(self) -> None:
        with self.transaction():
            for create in schema.all_tables():
                self.execute(create)
            self.execute(schema.labour_market_monthly_view())
            if self.meta("schema_version") is None:
                self.set_meta("schema_version", SCHEMA_VERSION)
                self._load_reference_data()

    def _load_reference_data(self) -> None:
        catchments = reference.catchments()
        ssm_names = {c.ssm_id: c.ssm for c in catchments}
        self.insert_arrow("ssm", pa.table({
            "ssm_id": list(ssm_names), "name": list(ssm_names.values()),
            "_batch_id": ["reference"] * len(ssm_names),
        }))
        self.insert_arrow("catchment", pa.table({
            "catchment_id": [c.catchment_id for c in catchments],
            "name_en": [c.name_en for c in catchments],
            "name_fr": [c.name_fr for c in catchments],
            "phase": [c.phase for c in catchments],
            "ssm_id": [c.ssm_id for c in catchments],
            "economic_region": [c.economic_region for c in catchments],
            "transition_start": [c.transition_start for c in catchments],
            "ies_start": [c.ies_start for c in catchments],
            "ies_start_confirmed": [c.ies_start_confirmed for c in catchments],
            "_batch_id": ["reference"] * len(catchments),
        }))
        wages = reference.minimum_wage_schedule()
        self.insert_arrow(schema.MINIMUM_WAGE_TABLE, pa.table({
            "effective_date": [w.effective_date for w in wages],
            "cad_per_hour": [w.cad_per_hour for w in wages],
        }))

    # -- statements ----------------------------------------------------------------------------
    def render(self, sql: Sql) -> str:
        return sql if isinstance(sql, str) else sql.sql(self.dialect)

    def execute(self, sql: Sql, params: Sequence[Any] | None = None) -> None:
        """Run a statement to completion (its result, if any, is discarded)."""
        self.fetchall(sql, params)

    def fetchall(self, sql: Sql, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            return self.con.execute(self.render(sql), params).fetchall()
        except duckdb.Error as err:
            # A file being read turned out unreadable or malformed (a corrupt Parquet page, say):
            # the readers raise these, or the bare base class (a damaged Parquet footer's Thrift).
            if not isinstance(err, duckdb.IOException | duckdb.InvalidInputException) and type(err) is not duckdb.Error:
                raise
            raise UnreadableInputError("an input file could not be read while it was processed (damaged or "
                                       "malformed data)") from err

    def scalar(self, sql: Sql, params: Sequence[Any] | None = None) -> Any:
        rows = self.fetchall(sql, params)
        return rows[0][0] if rows else None

    def arrow(self, sql: Sql, params: Sequence[Any] | None = None) -> pa.Table:
        if params:
            return self.con.execute(self.render(sql), params).to_arrow_table()
        return self.con.sql(self.render(sql)).to_arrow_table()

    def count(self, table: str) -> int:
        return int(self.scalar(exp.select(exp.func("count", exp.Star())).from_(exp.to_table(table))))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All statements inside commit together or not at all."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")

    # -- data in -------------------------------------------------------------------------------
    def insert_arrow(self, table: str, data: pa.Table) -> None:
        """Append an Arrow table whose columns are a subset of ``table``'s, by name."""
        name = f"_arrow_in_{id(data)}"
        self.con.register(name, data)
        try:
            cols = [exp.to_identifier(c, quoted=True) for c in data.column_names]
            insert = exp.Insert(
                this=exp.Schema(this=exp.to_table(table), expressions=cols),
                expression=exp.select(*[exp.column(c, quoted=True) for c in data.column_names]).from_(name),
            )
            self.execute(insert)
        finally:
            self.con.unregister(name)

    def upsert(self, table: str, data: pa.Table, key: Sequence[str], compare: Sequence[str],
               batch_id: str, history: str | None = None) -> tuple[int, int, int]:
        """Rows of ``data`` in by ``key`` (NULL equal to NULL): a new key is inserted; a stored row
        whose ``compare`` columns differ is replaced (and copied to ``history`` with the batch that
        superseded it); an identical one is replaced by itself. Returns (new, replaced, same)."""
        name = f"_upsert_{id(data)}"
        self.con.register(name, data)

        def col(c: str, t: str) -> exp.Column:
            return exp.column(c, table=t, quoted=True)

        try:
            stored = exp.alias_(exp.to_table(table, quoted=True), "s", table=True)
            incoming = exp.alias_(exp.to_table(name), "n", table=True)
            match = exp.and_(*[exp.NullSafeEQ(this=col(k, "s"), expression=col(k, "n")) for k in key])
            differs = exp.or_(*[exp.NullSafeNEQ(this=col(c, "s"), expression=col(c, "n")) for c in compare])
            pairs = exp.select(exp.func("count", exp.Star())).from_(stored).join(incoming, on=match)
            replaced = int(self.scalar(pairs.where(differs)))
            same = int(self.scalar(pairs.copy().where(exp.Not(this=exp.paren(differs.copy())))))
            if replaced and history:
                moved = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("s")),
                                   exp.Literal.string(batch_id), exp.func("now")).from_(stored.copy()) \
                    .join(incoming.copy(), on=match.copy()).where(differs.copy())
                self.execute(exp.insert(moved, exp.to_table(history, quoted=True)))
            there = exp.select(exp.Literal.number(1)).from_(incoming.copy()).where(
                exp.and_(*[exp.NullSafeEQ(this=exp.column(k, table=table, quoted=True), expression=col(k, "n"))
                           for k in key]))
            self.execute(exp.delete(exp.to_table(table, quoted=True), exp.Exists(this=there)))
            cols = [exp.to_identifier(c, quoted=True) for c in data.column_names]
            self.execute(exp.Insert(this=exp.Schema(this=exp.to_table(table, quoted=True), expressions=cols),
                                    expression=exp.select(*[exp.column(c, quoted=True) for c in data.column_names])
                                    .from_(name)))
        finally:
            self.con.unregister(name)
        return data.num_rows - replaced - same, replaced, same

    def register_arrow(self, name: str, data: pa.Table) -> None:
        self.con.register(name, data)

    def unregister(self, name: str) -> None:
        self.con.unregister(name)

    def stage_csv(self, view: str, path: Path, *, delimiter: str, columns: Sequence[str],
                  rejects: str, max_line_size: int | None = None) -> None:
        """Expose a CSV file as a view of text columns (never typed by the engine's guesses).

        Lines that do not parse (too many or too few fields, an unclosed quote) are left out of
        the view and recorded in the temporary table ``rejects`` (line number, error type) when
        the view is read; the caller quarantines them. A line longer than ``max_line_size``
        characters is such a line (``LINE SIZE OVER MAXIMUM``)."""
        for table in (rejects, f"{rejects}_scans"):
            self.drop_table(table)
        rel = self.con.read_csv(
            str(path), header=True, auto_detect=False, columns={c: "VARCHAR" for c in columns},
            delimiter=delimiter, quotechar='"', escapechar='"', store_rejects=True,
            rejects_table=rejects, rejects_scan=f"{rejects}_scans",
            max_line_size=max_line_size,
        )
        rel.create_view(view, replace=True)

    def stage_parquet(self, view: str, path: Path) -> None:
        """Expose a Parquet file as a view, with its 0-based ``file_row_number``."""
        self.con.read_parquet(str(path), file_row_number=True).create_view(view, replace=True)

    def drop_view(self, view: str) -> None:
        self.execute(exp.Drop(tables=[exp.to_table(view)], kind="VIEW", exists=True))

    def drop_table(self, table: str) -> None:
        self.execute(exp.Drop(tables=[exp.to_table(table)], kind="TABLE", exists=True))

    # -- metadata ------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        try:
            value = self.scalar(
                exp.select("value").from_(schema.META_TABLE).where(exp.column("key").eq(exp.Literal.string(key)))
            )
        except duckdb.CatalogException:
            return None
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        self.execute(exp.delete(schema.META_TABLE, exp.column("key").eq(exp.Literal.string(key))))
        self.insert_arrow(schema.META_TABLE, pa.table({"key": [key], "value": [value]}))

    def data_version(self) -> str:
        """A short fingerprint of the administrative data loaded so far (their ingest batches and
        files; survey exports are left out, no evaluation reads them): results computed on the
        warehouse are stored with it and reused only while it holds."""
        columns = [exp.column("batch_id"), exp.column("file_sha256")]
        not_survey = exp.NullSafeNEQ(this=exp.column("entity"), expression=exp.Literal.string("survey_response"))
        rows = self.fetchall(exp.select(*columns).distinct().from_(schema.BATCHES_TABLE).where(not_survey)
                             .order_by(*(exp.Ordered(this=c.copy(), nulls_first=False) for c in columns)))
        return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]

    def save_result(self, name: str, payload: dict[str, Any]) -> None:
        """Keep a computed result (an evaluation, say) with the data version it was computed on."""
        self.set_meta(f"result:{name}", json.dumps({"data_version": self.data_version(), "payload": payload},
                                                   default=str))

    def saved_result(self, name: str) -> dict[str, Any] | None:
        """A result saved by :meth:`save_result`, or None if there is none or the data changed since."""
        text = self.meta(f"result:{name}")
        if text is None:
            return None
        stored = json.loads(text)
        return stored["payload"] if stored.get("data_version") == self.data_version() else None

    def mark_synthetic(self, origin: dict[str, Any]) -> None:
        """Record that data in this warehouse were made by ``esmonitor synth`` (kept for good:
        a warehouse that ever held synthetic data is stamped as such in everything it publishes)."""
        if self.meta("synthetic") is None:
            self.set_meta("synthetic", json.dumps(origin, default=str))

    def synthetic(self) -> dict[str, Any] | None:
        """What :meth:`mark_synthetic` recorded, or None when the data are not synthetic."""
        text = self.meta("synthetic")
        return None if text is None else dict(json.loads(text))

    def size_bytes(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0
