"""Warehouse tables derived from the canonical model, built as sqlglot syntax trees.

Column types are looked up per field type (one table, not branches), so another engine only needs
its own dialect name: sqlglot renders ``DOUBLE`` as ``DOUBLE PRECISION`` for PostgreSQL, and so on.
"""

from __future__ import annotations

import sqlglot.expressions as exp

from esmonitor.model.entities import ENTITIES, Entity

FIELD_SQL_TYPES: dict[str, str] = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "code": "VARCHAR",
    "date": "DATE",
    "month": "DATE",
    "integer": "INTEGER",
    "decimal": "DOUBLE",
    "boolean": "BOOLEAN",
}

#: Columns every entity table carries besides the model's fields.
SYSTEM_COLUMNS: tuple[tuple[str, str], ...] = (("_batch_id", "VARCHAR"),)
HISTORY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_superseded_by_batch", "VARCHAR"),
    ("_superseded_at", "TIMESTAMP"),
)

BATCHES_TABLE = "_ingest_batches"
QUARANTINE_TABLE = "quarantine"
META_TABLE = "_meta"
MINIMUM_WAGE_TABLE = "minimum_wage"
RELEASES_TABLE = "_releases"
RELEASE_CELLS_TABLE = "_release_cells"
AGG_OBSERVATIONS_TABLE = "aggregate_observation"
AGG_RELEASES_TABLE = "aggregate_release"
AGG_NOTES_TABLE = "aggregate_note"

#: One published number per row (esmonitor.model.aggregates): a source's own table in tidy form.
AGGREGATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("release_id", "VARCHAR"), ("measure", "VARCHAR"), ("measure_label", "VARCHAR"), ("period_type", "VARCHAR"),
    ("period", "VARCHAR"), ("period_label", "VARCHAR"), ("period_start", "DATE"), ("period_end", "DATE"),
    ("geo_type", "VARCHAR"), ("geo_id", "VARCHAR"), ("geo_label", "VARCHAR"), ("catchment_id", "VARCHAR"),
    ("client_type", "VARCHAR"), ("dimension", "VARCHAR"), ("group", "VARCHAR"), ("interval_months", "BIGINT"),
    ("programme", "VARCHAR"), ("detail", "VARCHAR"), ("unit", "VARCHAR"), ("value", "DOUBLE"), ("status", "VARCHAR"),
    ("symbol", "VARCHAR"), ("bound_low", "DOUBLE"), ("bound_high", "DOUBLE"), ("sheet", "VARCHAR"),
    ("source_row", "BIGINT"), ("source_column", "VARCHAR"), ("_batch_id", "VARCHAR"),
)

SYSTEM_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    BATCHES_TABLE: (
        ("batch_id", "VARCHAR"), ("file_name", "VARCHAR"), ("file_sha256", "VARCHAR"),
        ("entity", "VARCHAR"), ("rows_read", "BIGINT"), ("rows_loaded", "BIGINT"),
        ("rows_quarantined", "BIGINT"), ("rows_new", "BIGINT"), ("rows_replaced", "BIGINT"),
        ("rows_unchanged", "BIGINT"), ("started_at", "TIMESTAMP"), ("finished_at", "TIMESTAMP"),
    ),
    QUARANTINE_TABLE: (
        ("batch_id", "VARCHAR"), ("file_name", "VARCHAR"), ("entity", "VARCHAR"),
        ("source_row", "BIGINT"), ("column_name", "VARCHAR"), ("value", "VARCHAR"),
        ("rule", "VARCHAR"), ("message", "VARCHAR"), ("record", "VARCHAR"),
    ),
    META_TABLE: (("key", "VARCHAR"), ("value", "VARCHAR")),
    # survey responses (esmonitor.voices): respondents pseudonymized, open text redacted before storage
    "survey_response": (
        ("response_id", "VARCHAR"), ("form_id", "VARCHAR"), ("role", "VARCHAR"), ("catchment_id", "VARCHAR"),
        ("wave", "VARCHAR"), ("submitted_at", "TIMESTAMP"), ("language", "VARCHAR"), ("source", "VARCHAR"),
        ("_batch_id", "VARCHAR"),
    ),
    "survey_answer": (
        ("response_id", "VARCHAR"), ("question", "VARCHAR"), ("value", "VARCHAR"), ("theme", "VARCHAR"),
        ("_batch_id", "VARCHAR"),
    ),
    # the questions of exports of other survey tools (esmonitor.voices.exports): labels in both languages
    "survey_question": (
        ("form_id", "VARCHAR"), ("question", "VARCHAR"), ("label_en", "VARCHAR"), ("label_fr", "VARCHAR"),
        ("kind", "VARCHAR"), ("_batch_id", "VARCHAR"),
    ),
    MINIMUM_WAGE_TABLE: (("effective_date", "DATE"), ("cad_per_hour", "DOUBLE")),
    # the release ledger (esmonitor.disclosure.ledger): every public release and every cell it published or hid
    RELEASES_TABLE: (
        ("release_id", "VARCHAR"), ("data_version", "VARCHAR"), ("code_version", "VARCHAR"),
        ("audience", "VARCHAR"), ("min_count", "DOUBLE"), ("publish_zeros", "BOOLEAN"), ("product", "VARCHAR"),
        ("command", "VARCHAR"), ("parameters", "VARCHAR"), ("synthetic", "BOOLEAN"), ("created_at", "TIMESTAMP"),
        ("cells", "BIGINT"),
    ),
    AGG_OBSERVATIONS_TABLE: AGGREGATE_COLUMNS,
    f"{AGG_OBSERVATIONS_TABLE}__history": AGGREGATE_COLUMNS + HISTORY_COLUMNS,
    AGG_RELEASES_TABLE: (
        ("release_id", "VARCHAR"), ("title", "VARCHAR"), ("publisher", "VARCHAR"), ("reference", "VARCHAR"),
        ("released", "VARCHAR"), ("licence", "VARCHAR"), ("kind", "VARCHAR"), ("file_name", "VARCHAR"),
        ("file_sha256", "VARCHAR"), ("_batch_id", "VARCHAR"),
    ),
    AGG_NOTES_TABLE: (("release_id", "VARCHAR"), ("sheet", "VARCHAR"), ("text", "VARCHAR"), ("_batch_id", "VARCHAR")),
    RELEASE_CELLS_TABLE: (
        ("release_id", "VARCHAR"), ("measure", "VARCHAR"), ("cell", "VARCHAR"), ("value", "DOUBLE"),
        ("status", "VARCHAR"),
    ),
}


def column_defs(columns: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> list[exp.ColumnDef]:
    return [
        exp.ColumnDef(this=exp.to_identifier(name, quoted=True), kind=exp.DataType.build(sql_type))
        for name, sql_type in columns
    ]


def create_table(name: str, columns: list[tuple[str, str]] | tuple[tuple[str, str], ...],
                 *, temporary: bool = False, replace: bool = False) -> exp.Create:
    schema = exp.Schema(this=exp.to_table(name, quoted=True), expressions=column_defs(columns))
    props = exp.Properties(expressions=[exp.TemporaryProperty()]) if temporary else None
    return exp.Create(this=schema, kind="TABLE", exists=not replace, replace=replace,
                      properties=props)


def entity_columns(entity: Entity) -> list[tuple[str, str]]:
    return [(f.name, FIELD_SQL_TYPES[f.type]) for f in entity.fields]


def history_table(entity: Entity) -> str:
    return f"{entity.table}__history"


#: Labour-market measures pivoted to one row per economic region and month (estimates only).
LABOUR_MARKET_MEASURES: dict[str, str] = {
    "unemployment_rate": "unemployment rate",
    "employment_rate": "employment rate",
    "participation_rate": "participation rate",
}


def labour_market_monthly_view() -> exp.Create:
    """``labour_market_monthly``: economic_region, month and one column per rate."""
    measures = [
        exp.alias_(exp.Max(this=exp.Case().when(
            exp.Lower(this=exp.column("characteristic")).eq(exp.Literal.string(label)),
            exp.column("value"))), name)
        for name, label in LABOUR_MARKET_MEASURES.items()
    ]
    query = (exp.select("economic_region", "month", *measures).from_("labour_market")
             .where(exp.Lower(this=exp.column("statistic")).eq(exp.Literal.string("estimate")))
             .group_by("economic_region", "month"))
    return exp.Create(this=exp.to_table("labour_market_monthly"), kind="VIEW", expression=query,
                      replace=True)


def all_tables() -> list[exp.Create]:
    """Every table of an esmonitor warehouse, in creation order."""
    creates: list[exp.Create] = []
    for entity in ENTITIES.values():
        cols = entity_columns(entity) + list(SYSTEM_COLUMNS)
        creates.append(create_table(entity.table, cols))
        if not entity.reference_data:
            creates.append(create_table(history_table(entity), cols + list(HISTORY_COLUMNS)))
    for name, system_cols in SYSTEM_TABLES.items():
        creates.append(create_table(name, system_cols))
    return creates
