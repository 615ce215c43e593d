"""Cross-table quality checks: small frames computed from several lake tables.

Great Expectations validates one table at a time; volume, the quarantine rate and
freshness compare tables with each other. Each check here computes a frame of a few rows
with Spark and hands it to the same GE run as the tables (``checks:`` in
``conf/quality.yaml``), so its result is in the same summary, Data Docs and
``gold/quality_runs`` as every other expectation.

Silver and bronze move while the streams run, so volume and the quarantine rate look only
at what both hold: per Kafka (topic, partition), the offsets up to the lower of the highest
one in bronze and the highest one in ``silver/events`` (typed rows and quarantine; both
are written in offset order within a partition). Every bronze row up to that offset must
be in silver exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from pipelines.config import Settings
from pipelines.core import catalog
from pipelines.jobs import tables

SILVER_EVENT_TABLES = tuple(t.name for t in catalog.typed())
COORDINATES = ("topic", "partition", "offset")

VOLUME = StructType(
    [
        StructField("topic", StringType()),
        StructField("partition", IntegerType()),
        StructField("processed_offset", LongType()),
        StructField("bronze_rows", LongType()),
        StructField("silver_rows", LongType()),
        StructField("quarantine_rows", LongType()),
        StructField("accounted_rows", LongType()),
    ]
)
QUARANTINE_RATE = StructType(
    [
        StructField("since", TimestampType()),
        StructField("bronze_rows", LongType()),
        StructField("quarantine_rows", LongType()),
        StructField("quarantine_rate", DoubleType()),
    ]
)
FRESHNESS = StructType(
    [
        StructField("stream_id", StringType()),
        StructField("status", StringType()),
        StructField("newest_event_ts", TimestampType()),
        StructField("age_seconds", DoubleType()),
    ]
)


@dataclass(frozen=True)
class CheckFrame:
    """A check's rows (already computed: a local frame) and its headline number."""

    frame: DataFrame
    observed_value: float | None


def read_table(spark: SparkSession, settings: Settings, layer: str, table: str) -> DataFrame | None:
    """A catalog table (a view too), or None when it has no files yet."""
    entry = catalog.table(layer, table)
    if not DeltaTable.isDeltaTable(spark, entry.stored.path(settings.lake_root)):
        return None
    return tables.read(spark, settings.lake_root, entry)


def _processed(spark: SparkSession, settings: Settings) -> tuple[DataFrame, DataFrame] | None:
    """(bronze coordinates, silver+quarantine coordinates), both up to the offset both have
    reached per partition; None when there is no bronze yet."""
    bronze = read_table(spark, settings, "bronze", "events")
    if bronze is None:
        return None
    events = read_table(spark, settings, "silver", "events")
    if events is None:
        accounted = bronze.select(*COORDINATES, F.lit(False).alias("quarantined"), "ingest_time")
        accounted = accounted.limit(0)
    else:
        quarantined = (F.col("kind") == "quarantine").alias("quarantined")
        accounted = events.select(*COORDINATES, quarantined, "ingest_time")
    # The hot query appends a micro-batch's bronze and silver rows side by side, so silver
    # may hold a batch whose bronze commit is still on its way: the frontier is the lower of
    # the two per partition (everything up to it is in both, or a row is missing).
    keys = ["topic", "partition"]
    progress = (
        accounted.groupBy(*keys).agg(F.max("offset").alias("silver_offset"))
        .join(bronze.groupBy(*keys).agg(F.max("offset").alias("bronze_offset")), on=keys)
        .select(*keys, F.least("silver_offset", "bronze_offset").alias("processed_offset"))
    )  # fmt: skip
    keep = F.col("offset") <= F.col("processed_offset")
    bronze_done = bronze.join(progress, on=keys, how="inner").filter(keep)
    accounted_done = accounted.join(progress, on=keys, how="inner").filter(keep)
    return bronze_done, accounted_done


def volume(spark: SparkSession, settings: Settings, now: datetime) -> CheckFrame | None:
    """Per (topic, partition): bronze rows vs silver + quarantine rows, up to silver's progress."""
    processed = _processed(spark, settings)
    if processed is None:
        return None
    bronze_done, accounted_done = processed
    keys = ["topic", "partition"]
    b = bronze_done.groupBy(*keys).agg(
        F.first("processed_offset").alias("processed_offset"), F.count("*").alias("bronze_rows")
    )
    a = accounted_done.groupBy(*keys).agg(
        F.count("*").alias("accounted_rows"),
        F.count_if(F.col("quarantined")).alias("quarantine_rows"),
    )
    zero = F.lit(0).cast("long")
    rows = (
        b.join(a, on=keys, how="full_outer")
        .select(
            *keys,
            F.col("processed_offset"),
            F.coalesce(F.col("bronze_rows"), zero).alias("bronze_rows"),
            F.coalesce(F.col("quarantine_rows"), zero).alias("quarantine_rows"),
            F.coalesce(F.col("accounted_rows"), zero).alias("accounted_rows"),
        )
        .withColumn("silver_rows", F.col("accounted_rows") - F.col("quarantine_rows"))
        .select(*VOLUME.fieldNames())
        .orderBy(*keys)
        .collect()
    )
    unaccounted = sum(abs(r["bronze_rows"] - r["accounted_rows"]) for r in rows)
    return CheckFrame(spark.createDataFrame(rows, VOLUME), float(unaccounted))


def quarantine_rate(spark: SparkSession, settings: Settings, now: datetime) -> CheckFrame | None:
    """Quarantined share of the processed bronze rows ingested in the lookback window."""
    processed = _processed(spark, settings)
    if processed is None:
        return None
    bronze_done, accounted_done = processed
    minutes = settings.quality_quarantine_lookback_minutes
    since = now - timedelta(minutes=minutes) if minutes else None
    recent = (F.col("ingest_time") >= F.lit(since)) if since else F.lit(True)
    bronze_rows = bronze_done.filter(recent).count()
    quarantined = accounted_done.filter(recent & F.col("quarantined")).count()
    rate = quarantined / bronze_rows if bronze_rows else None
    frame = spark.createDataFrame([(since, bronze_rows, quarantined, rate)], QUARANTINE_RATE)
    return CheckFrame(frame, rate)


def freshness(spark: SparkSession, settings: Settings, now: datetime) -> CheckFrame | None:
    """Per stream whose latest stream_meta says live: the age of its newest silver event."""
    meta = read_table(spark, settings, "silver", "stream_meta")
    if meta is None:
        return None
    latest = Window.partitionBy("stream_id").orderBy(F.col("ts").desc(), F.col("offset").desc())
    live = (
        meta.withColumn("_n", F.row_number().over(latest))
        .filter((F.col("_n") == 1) & (F.col("status") == "live"))
        .select("stream_id", "status")
    )
    events = reduce(
        DataFrame.unionByName,
        [
            df.select("stream_id", "ts")
            for name in SILVER_EVENT_TABLES
            if (df := read_table(spark, settings, "silver", name)) is not None
        ],
    )
    newest = events.groupBy("stream_id").agg(F.max("ts").alias("newest_event_ts"))
    # Ages in Spark: collected timestamps come back naive in the driver's local zone.
    age = F.lit(now.timestamp()) - F.unix_micros(F.col("newest_event_ts")) / 1_000_000
    rows = (
        live.join(newest, on="stream_id", how="left")
        .select("stream_id", "status", "newest_event_ts", age.alias("age_seconds"))
        .orderBy("stream_id")
        .collect()
    )
    oldest = max((r["age_seconds"] for r in rows if r["age_seconds"] is not None), default=None)
    return CheckFrame(spark.createDataFrame(rows, FRESHNESS), oldest)


CHECKS: dict[str, Callable[[SparkSession, Settings, datetime], CheckFrame | None]] = {
    "volume": volume,
    "quarantine_rate": quarantine_rate,
    "freshness": freshness,
}
