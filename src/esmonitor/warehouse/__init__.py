"""Storage: the one place in esmonitor that talks to a database engine.

Everything above this package hands it sqlglot syntax trees or Arrow tables; the default engine is
an embedded DuckDB file. Another engine (PostgreSQL, Spark) comes in by implementing the same
:class:`~esmonitor.warehouse.core.Warehouse` surface with its own dialect name.
"""

from esmonitor.warehouse.core import DEFAULT_WAREHOUSE, Warehouse, default_warehouse_path

__all__ = ["DEFAULT_WAREHOUSE", "Warehouse", "default_warehouse_path"]
