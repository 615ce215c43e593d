"""What one set of bronze rows does to silver: shared by the hot path's foreachBatch (the
medallion query, the silver layer query) and the batch rebuild; only the sinks differ.

:func:`process_bronze` classifies the rows once (persisted), then writes quarantine, the
four typed tables, the batch's 10-second panes (``pipelines.silver_panes``) and
``stream_watermarks``, side by side in a micro-batch. Incremental (stream) sinks
append, reading only the watermarks and the typed rows inside the watermark (dedupe);
batch sinks overwrite and start from nothing. The sliding windows and gold are the
settle step's (``pipelines.jobs.settle_job``), off this path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType, TimestampType

from pipelines import catalog, schemas
from pipelines.sentiment import small_frame
from pipelines.silver import (
    ARRIVAL_ORDER,
    SilverParams,
    classify,
    to_quarantine,
    to_typed,
    with_silver_dedupe,
)
from pipelines.silver_panes import panes
from pipelines.spark import in_parallel

TYPED_TABLES = {t.event_type: t.name for t in catalog.typed()}  # event type -> table
SEEN_SCHEMA = StructType(
    [StructField("event_type", StringType()), StructField("event_id", StringType()),
     *schemas.KAFKA_COORDINATES[:3]]
)  # fmt: skip
STORED_MAX_SCHEMA = StructType(
    [StructField("stream_id", StringType()), StructField("max_event_ts", TimestampType())]
)


@dataclass(frozen=True)
class SilverJob:
    """Everything a silver run needs, built once per job (lexicon and rates included)."""

    params: SilverParams
    bronze_path: str
    paths: dict[str, str]  # silver table name -> path
    rates_base: DataFrame  # (currency, rate_to_base)
    lexicon: DataFrame  # pipelines.sentiment.lexicon_df


@dataclass(frozen=True)
class SilverSinks:
    """How results land: ``incremental`` (stream: append, idempotent per batch id through
    Delta's txnAppId/txnVersion, or replace the rows matching a predicate with rows
    recomputed from the tables, which a replay repeats unchanged) or not (batch: every
    table overwritten, whatever the predicate)."""

    incremental: bool
    append: Callable[[DataFrame, str], None]
    replace: Callable[[DataFrame, str, str], None]  # (rows, path, SQL predicate)
    batch_id: int | None
    app_id: str | None = None  # the stream's txnAppId: with batch_id, names the micro-batch


def _at(micros: int, shift_seconds: int = 0):
    return F.timestamp_micros(F.lit(micros + shift_seconds * 1_000_000))


def _read(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.format("delta").load(path)


def _candidate_stats(classified: DataFrame) -> tuple[dict[str, int], bool]:
    """Per event type, the min ts (epoch µs) of the valid, non-late rows; and whether any
    row passed validation (the watermarks then move)."""
    rows = (
        classified.filter(F.col("_valid"))
        .groupBy("event_type")
        .agg(F.unix_micros(F.min(F.when(F.col("_candidate"), F.col("ts")))).alias("lo"))
        .collect()
    )
    return {r["event_type"]: r["lo"] for r in rows if r["lo"] is not None}, bool(rows)


def _seen_in_silver(spark: SparkSession, job: SilverJob, min_ts: dict[str, int]) -> DataFrame:
    """(event_type, event_id) and Kafka coordinates of the rows silver holds from ``batch
    min ts − watermark`` on."""
    parts = [
        _read(spark, job.paths[TYPED_TABLES[t]])
        .filter(F.col("ts") >= _at(lo, -job.params.watermark_seconds))
        .select(F.lit(t).alias("event_type"), "event_id", "topic", "partition", "offset")
        for t, lo in min_ts.items()
    ]
    empty = small_frame(spark, [], SEEN_SCHEMA)
    return reduce(DataFrame.unionByName, parts, empty)


def _written_by(sinks: SilverSinks) -> Column:
    """True on a watermark row this very micro-batch wrote (a first attempt that crashed
    after writing the watermarks, before the batch was committed)."""
    return (F.col("batch_id") == F.lit(sinks.batch_id)) & (F.col("txn_app_id") == sinks.app_id)


def _max_before_batch(sinks: SilverSinks) -> Column:
    """A watermark row's max_event_ts as it stood before this micro-batch, so a replay
    judges lateness as the first attempt did, not against the batch's own events."""
    return F.when(_written_by(sinks), F.col("prev_max_event_ts")).otherwise(F.col("max_event_ts"))


def _write_watermarks(
    spark: SparkSession, job: SilverJob, classified: DataFrame, sinks: SilverSinks
) -> None:
    """Per stream: the max ts so far (and before this batch), and the ts and ingest time of
    its last valid arrival."""
    last = F.max(F.struct(*ARRIVAL_ORDER, "ts"))
    progress = (
        classified.filter(F.col("_valid"))
        .groupBy("stream_id")
        .agg(
            F.max("ts").alias("max_event_ts"),
            last["ts"].alias("last_event_ts"),
            last["ingest_time"].alias("last_ingest_time"),
        )
        .withColumn("prev_max_event_ts", F.lit(None).cast("timestamp"))
        .withColumn("batch_id", F.lit(sinks.batch_id).cast("long"))
        .withColumn("txn_app_id", F.lit(sinks.app_id).cast("string"))
        .withColumn("updated_at", F.current_timestamp())
    )
    path = job.paths["stream_watermarks"]
    if sinks.incremental:
        # One row per stream: rewriting the small table whole is cheaper than a MERGE.
        old = _read(spark, path)
        old = old.withColumn("_before", _max_before_batch(sinks))
        seen = F.col("s.stream_id").isNotNull()
        progress = old.alias("t").join(
            progress.alias("s"), F.col("t.stream_id") == F.col("s.stream_id"), "full_outer"
        )
        progress = progress.select(
            F.coalesce("s.stream_id", "t.stream_id").alias("stream_id"),
            F.when(seen, F.greatest("t._before", "s.max_event_ts"))
            .otherwise(F.col("t.max_event_ts"))
            .alias("max_event_ts"),
            F.when(seen, F.col("t._before"))
            .otherwise(F.col("t.prev_max_event_ts"))
            .alias("prev_max_event_ts"),
            *[
                F.when(seen, F.col(f"s.{c}")).otherwise(F.col(f"t.{c}")).alias(c)
                for c in (
                    "last_event_ts",
                    "last_ingest_time",
                    "batch_id",
                    "txn_app_id",
                    "updated_at",
                )
            ],  # fmt: skip
        )
    fields = schemas.STREAM_WATERMARKS.fields
    sinks.replace(progress.select(*[F.col(f.name).cast(f.dataType) for f in fields]), path, "true")


def process_bronze(
    spark: SparkSession, job: SilverJob, bronze: DataFrame, sinks: SilverSinks
) -> None:
    """Classify ``bronze`` and write the silver tables of the hot path."""
    p = job.params
    if sinks.incremental:
        stored = _read(spark, job.paths["stream_watermarks"]).select(
            "stream_id", _max_before_batch(sinks).alias("max_event_ts")
        )
    else:
        stored = small_frame(spark, [], STORED_MAX_SCHEMA)
    # On disk, not in the heap: a backfill's classified rows (raw bytes, parsed fields) are
    # wide, and caching 1M of them in memory ran a 2 GB driver out of heap.
    stage = classify(bronze, p, job.rates_base, stored).persist(StorageLevel.DISK_ONLY)
    classified = None
    typed: dict[str, DataFrame] = {}
    try:
        min_ts, any_valid = _candidate_stats(stage)
        seen = _seen_in_silver(spark, job, min_ts) if sinks.incremental else None
        classified = stage if seen is None else stage.transform(with_silver_dedupe, seen)
        classified = classified.persist(StorageLevel.DISK_ONLY)
        counts = {
            (r["event_type"] if r["accepted"] else "quarantine"): r["count"]
            for r in classified.groupBy(
                F.when(F.col("reason").isNull(), F.col("event_type")).alias("event_type"),
                F.col("reason").isNull().alias("accepted"),
            )
            .count()
            .collect()
        }
        for event_type in TYPED_TABLES:
            typed[event_type] = to_typed(classified, event_type, job.lexicon).persist(
                StorageLevel.DISK_ONLY
            )
        writes: list[Callable[[], None]] = []
        if counts.get("quarantine") or not sinks.incremental:
            writes.append(lambda: sinks.append(to_quarantine(classified), job.paths["quarantine"]))
        for event_type, rows in typed.items():
            if counts.get(event_type) or not sinks.incremental:
                path = job.paths[TYPED_TABLES[event_type]]
                writes.append(functools.partial(sinks.append, rows, path))
        if any(counts.get(t) for t in TYPED_TABLES) or not sinks.incremental:
            pane_rows = panes(typed, p.slide_seconds, sinks.batch_id)
            writes.append(lambda: sinks.append(pane_rows, job.paths["panes"]))
        if any_valid or not sinks.incremental:
            writes.append(lambda: _write_watermarks(spark, job, classified, sinks))
        # The tables are disjoint and the order does not matter to a replay (dedupe ignores
        # the batch's own rows, lateness reads the maximum before the batch), so a
        # micro-batch writes them side by side: most of a small commit is waiting on Delta's
        # log, not CPU. A batch rebuild goes one at a time, to keep its memory to one job.
        in_parallel(spark, lambda write: write(), writes, len(writes) if sinks.incremental else 1)
    finally:
        for rows in typed.values():
            rows.unpersist()
        if classified is not None:
            classified.unpersist()
        stage.unpersist()
