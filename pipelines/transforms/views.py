"""Views of ``silver/events``: the typed silver tables and quarantine have no files of their
own (``catalog.Table.is_view``); their rows are the rows of ``silver/events`` of their kind.
:func:`select_view` reads a view's rows out of it, :func:`as_events` turns a view's rows
into ``silver/events`` rows (the silver job's writes, and tests building a lake by hand).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.core import catalog
from pipelines.core.catalog import Table
from pipelines.transforms.common import conform, spark_type


def table_of(table: Table | str) -> Table:
    """A :class:`Table`, or the catalog table ``"layer/name"`` names."""
    return catalog.table(*table.split("/", 1)) if isinstance(table, str) else table


def select_view(events: DataFrame, table: Table) -> DataFrame:
    """``silver/events`` rows -> the rows of ``table`` (a view), in its schema."""
    return events.filter(F.col("kind") == table.kind).transform(conform, table.schema)


def as_events(rows: DataFrame, table: Table | str) -> DataFrame:
    """Rows of a view, in its schema -> ``silver/events`` rows (other kinds' columns null)."""
    table = table_of(table)
    have = set(rows.columns)
    return rows.select(
        *[
            (F.lit(table.kind) if f.name == "kind" else F.col(f.name) if f.name in have
             else F.lit(None)).cast(f.dataType).alias(f.name)
            for f in spark_type(catalog.EVENTS.schema)
        ]
    )  # fmt: skip
