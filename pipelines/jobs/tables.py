"""Reading and writing catalog tables from Spark, views included.

A view (``catalog.Table.is_view``: the typed silver tables, quarantine) has no files: its
rows are the rows of ``silver/events`` of its kind. :func:`read` and :func:`read_stream`
give any table's rows in its own schema; :func:`as_events` turns a view's rows into
``silver/events`` rows (the silver job's writes, and tests building a lake by hand).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.core import catalog
from pipelines.core.catalog import Table


def _table(table: Table | str) -> Table:
    return catalog.table(*table.split("/", 1)) if isinstance(table, str) else table


def select_view(events: DataFrame, table: Table) -> DataFrame:
    """``silver/events`` rows -> the rows of ``table`` (a view), in its schema."""
    return events.filter(F.col("kind") == table.kind).select(
        *[F.col(f.name).cast(f.dataType) for f in table.schema.fields]
    )


def as_events(rows: DataFrame, table: Table | str) -> DataFrame:
    """Rows of a view, in its schema -> ``silver/events`` rows (other kinds' columns null)."""
    table = _table(table)
    have = set(rows.columns)
    return rows.select(
        *[
            (F.lit(table.kind) if f.name == "kind" else F.col(f.name) if f.name in have
             else F.lit(None)).cast(f.dataType).alias(f.name)
            for f in catalog.EVENTS.schema.fields
        ]
    )  # fmt: skip


def read(spark: SparkSession, lake_root: str, table: Table | str) -> DataFrame:
    """A catalog table's current rows (``"layer/name"`` or a :class:`Table`)."""
    table = _table(table)
    df = spark.read.format("delta").load(table.stored.path(lake_root))
    return select_view(df, table) if table.is_view else df


def read_stream(
    spark: SparkSession, lake_root: str, table: Table | str, **options: str
) -> DataFrame:
    """A catalog table's appends as a Delta stream (``options`` go to the reader)."""
    table = _table(table)
    df = spark.readStream.format("delta").options(**options).load(table.stored.path(lake_root))
    return select_view(df, table) if table.is_view else df


def write(rows: DataFrame, lake_root: str, table: Table | str, mode: str = "append") -> None:
    """Write rows in ``table``'s schema (tests and tools building a lake by hand). For a
    view, ``overwrite`` replaces only its own kind's rows of ``silver/events``."""
    table = _table(table)
    writer = (as_events(rows, table) if table.is_view else rows).write.format("delta")
    if table.is_view:
        writer = writer.partitionBy("kind")
        if mode == "overwrite":
            writer = writer.option("replaceWhere", f"kind = '{table.kind}'")
    writer.mode(mode).save(table.stored.path(lake_root))
