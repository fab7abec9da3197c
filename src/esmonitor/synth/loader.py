"""A synthetic province straight into a warehouse, without writing extracts.

For benchmarks and the estimator tests that need many provinces (20 seeds of the rollout): the
tables go in as generated, already clean, so validation and pseudonymization are skipped. Real
data never takes this path: it comes through ``esmonitor ingest``. Only columns of the canonical
model are loaded (anything else the generator made is dropped, as ingest would drop it).
"""

from __future__ import annotations

import polars as pl

from esmonitor.model.entities import ENTITIES, LOAD_ORDER
from esmonitor.synth.province import Province
from esmonitor.warehouse import Warehouse
from esmonitor.warehouse.schema import LABOUR_MARKET_MEASURES

BATCH = "synthetic-direct-load"


def _labour_market_long(wide: pl.DataFrame) -> pl.DataFrame:
    return (wide.unpivot(index=["economic_region", "month"], on=list(LABOUR_MARKET_MEASURES),
                         variable_name="measure", value_name="value")
            .with_columns(pl.col("measure").replace_strict(LABOUR_MARKET_MEASURES).alias("characteristic"),
                          pl.lit("Estimate").alias("statistic"))
            .drop("measure"))


def load_province(warehouse: Warehouse, province: Province) -> dict[str, int]:
    """Insert every table of ``province``; returns rows loaded per table."""
    loaded: dict[str, int] = {}
    with warehouse.transaction():
        for name in LOAD_ORDER:
            frame = province.tables[name]
            if name == "labour_market":
                frame = _labour_market_long(frame)
            columns = [f.name for f in ENTITIES[name].fields if f.name in frame.columns]
            table = frame.select(columns).with_columns(pl.lit(BATCH).alias("_batch_id")).to_arrow()
            warehouse.insert_arrow(ENTITIES[name].table, table)
            loaded[name] = frame.height
        warehouse.set_meta("created_by", "synthetic direct load")
        warehouse.mark_synthetic({"generator": "esmonitor synth", "seed": province.config.seed,
                                  "clients": province.config.clients})
    return loaded
