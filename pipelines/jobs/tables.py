"""Reading and writing catalog tables from Spark, views included.

A view (``catalog.Table.is_view``: the typed silver tables, quarantine) has no files: its
rows are the rows of ``silver/events`` of its kind. :func:`read` and :func:`read_stream`
give any table's rows in its own schema (the row mapping between a view and
``silver/events`` is in ``pipelines.transforms.views``).
"""

from __future__ import annotations

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from pipelines.core.catalog import Table
from pipelines.transforms.common import spark_type
from pipelines.transforms.views import as_events, select_view, table_of


def ensure(spark: SparkSession, lake_root: str, table: Table | str, **properties: str) -> None:
    """Create a stored table (its catalog schema and partitioning, ``properties`` set) if
    it is missing, and add the catalog columns an existing one lacks: a lake an older
    version wrote takes new columns (nullable, null in its old rows; the next rebuild or
    recomputation fills them) without being rebuilt. Nothing is dropped or retyped."""
    table = table_of(table)
    path = table.path(lake_root)
    builder = DeltaTable.createIfNotExists(spark).location(path)
    builder = builder.addColumns(spark_type(table.schema)).partitionedBy(*table.partition_by)
    for key, value in properties.items():
        builder = builder.property(key, value)
    try:
        builder.execute()
    except Exception:
        # Another job may create the same table at the same moment; only missing is wrong.
        if not DeltaTable.isDeltaTable(spark, path):
            raise
    have = set(DeltaTable.forPath(spark, path).toDF().columns)
    missing = [f for f in spark_type(table.schema).fields if f.name not in have]
    if missing:
        columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({columns})")


def read(spark: SparkSession, lake_root: str, table: Table | str) -> DataFrame:
    """A catalog table's current rows (``"layer/name"`` or a :class:`Table`)."""
    table = table_of(table)
    df = spark.read.format("delta").load(table.stored.path(lake_root))
    return select_view(df, table) if table.is_view else df


def read_stream(
    spark: SparkSession, lake_root: str, table: Table | str, **options: str
) -> DataFrame:
    """A catalog table's appends as a Delta stream (``options`` go to the reader)."""
    table = table_of(table)
    df = spark.readStream.format("delta").options(**options).load(table.stored.path(lake_root))
    return select_view(df, table) if table.is_view else df


def write(rows: DataFrame, lake_root: str, table: Table | str, mode: str = "append") -> None:
    """Write rows in ``table``'s schema (tests and tools building a lake by hand). For a
    view, ``overwrite`` replaces only its own kind's rows of ``silver/events``."""
    table = table_of(table)
    writer = (as_events(rows, table) if table.is_view else rows).write.format("delta")
    if table.is_view:
        writer = writer.partitionBy("kind")
        if mode == "overwrite":
            writer = writer.option("replaceWhere", f"kind = '{table.kind}'")
    writer.mode(mode).save(table.stored.path(lake_root))
