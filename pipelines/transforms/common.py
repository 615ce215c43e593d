"""What every layer's transforms share: Spark types from the Arrow schemas, the schema
contract, and the ranking of emotes (silver windows, silver panes and gold rank them the
same way, so their top lists agree).
"""

from __future__ import annotations

from functools import cache

import pyarrow as pa
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema, from_arrow_type
from pyspark.sql.types import DataType

from pipelines.core.schemas import EMOTE_COUNTS

# Sentiment is averaged as a decimal: compound scores lie in [-1, 1], and a decimal sum
# does not depend on the order rows are added in (a stream equals a rebuild bit for bit).
SENTIMENT_EXACT = "decimal(20,17)"


@cache
def spark_type(arrow: pa.Schema | pa.DataType) -> DataType:
    """Spark's type for an Arrow schema (a ``StructType``) or data type; exact for every
    type ``pipelines.core.schemas`` uses, nullability included."""
    if isinstance(arrow, pa.Schema):
        return from_arrow_schema(arrow, prefer_timestamp_ntz=False)
    return from_arrow_type(arrow, prefer_timestamp_ntz=False)


def conform(df: DataFrame, schema: pa.Schema) -> DataFrame:
    """The schema contract: exactly the schema's columns, in order, cast to its types."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in spark_type(schema)])


def empty_emotes() -> Column:
    """An empty top-emotes list (a window or summary without emotes)."""
    return F.array().cast(spark_type(EMOTE_COUNTS))


def count_emotes(rows: DataFrame, keys: list[str], emotes: str = "emotes") -> DataFrame:
    """keys, emote, count: how often each emote of the ``emotes`` lists occurs per key.
    A null entry in a list is not an emote and is not counted."""
    return (
        rows.select(*keys, F.explode(emotes).alias("emote"))
        .filter(F.col("emote").isNotNull())
        .groupBy(*keys, "emote")
        .agg(F.count(F.lit(1)).alias("count"))
    )


def rank_emote_counts(counts: DataFrame, keys: list[str], n: int) -> DataFrame:
    """(keys, emote, count) -> keys + ``top_emotes``: the n greatest counts of each key
    (count desc, then emote name asc) as a list of (emote, count)."""
    rank = F.row_number().over(Window.partitionBy(*keys).orderBy(F.desc("count"), F.asc("emote")))
    return (
        counts.withColumn("_rank", rank)
        .filter(F.col("_rank") <= n)
        .groupBy(*keys)
        .agg(
            F.transform(
                F.sort_array(F.collect_list(F.struct("_rank", "emote", "count"))),
                lambda x: F.struct(x["emote"].alias("emote"), x["count"].alias("count")),
            ).alias("top_emotes")
        )
    )
