"""What one set of bronze rows does to silver: shared by the stream's foreachBatch and the
batch rebuild (``pipelines.jobs.silver_job``); only the sinks differ.

:func:`process_bronze` classifies the rows once (persisted), then writes in this order:
quarantine; then per event type its typed table and its window aggregates (the four types
side by side in a micro-batch); ``stream_watermarks`` last. Incremental (stream) sinks
append and replace (windows, watermarks), reading what earlier batches left
(watermarks, typed tables); batch sinks overwrite and start from nothing.
"""

from __future__ import annotations

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
from pipelines.silver_windows import (
    chat_summary_minute,
    transactions_minute,
    viewer_timeseries,
)
from pipelines.spark import in_parallel, sql_str

TYPED_TABLES = {t.event_type: t.name for t in catalog.typed()}  # event type -> table
WINDOW_TABLES: dict[str, tuple[str, Callable[[DataFrame, SilverParams], DataFrame]]] = {
    "chat_summary_minute": (
        "chat",
        lambda df, p: chat_summary_minute(df, p.window_seconds, p.slide_seconds, p.top_emotes),
    ),
    "viewer_timeseries": (
        "viewer",
        lambda df, p: viewer_timeseries(df, p.window_seconds, p.slide_seconds),
    ),
    "transactions_minute": (
        "transaction",
        lambda df, p: transactions_minute(df, p.window_seconds, p.slide_seconds, p.base_currency),
    ),
}
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


@dataclass(frozen=True)
class _TypeStats:
    min_us: int  # min / max ts of the valid, non-late rows, as epoch microseconds
    max_us: int
    streams: list[str]
    # min of ts and (stream_meta) started_at: the earliest broadcast time the rows touch
    since_us: int


def _at(micros: int, shift_seconds: int = 0):
    return F.timestamp_micros(F.lit(micros + shift_seconds * 1_000_000))


def _read(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.format("delta").load(path)


def _candidate_stats(classified: DataFrame) -> tuple[dict[str, _TypeStats], bool]:
    """Per event type, the ts range and streams of the valid, non-late rows; and whether
    any row passed validation (the watermarks then move)."""
    candidate_ts = F.when(F.col("_candidate"), F.col("ts"))
    rows = (
        classified.filter(F.col("_valid"))
        .groupBy("event_type")
        .agg(
            F.unix_micros(F.min(candidate_ts)).alias("lo"),
            F.unix_micros(F.max(candidate_ts)).alias("hi"),
            F.collect_set(F.when(F.col("_candidate"), F.col("stream_id"))).alias("streams"),
            F.unix_micros(F.min(F.when(F.col("_candidate"), F.least("ts", "_started_at")))).alias(
                "since"
            ),
        )
        .collect()
    )
    stats = {
        r["event_type"]: _TypeStats(r["lo"], r["hi"], sorted(r["streams"]), r["since"])
        for r in rows
        if r["lo"] is not None
    }
    return stats, bool(rows)


def _seen_in_silver(spark: SparkSession, job: SilverJob, stats: dict[str, _TypeStats]) -> DataFrame:
    """(event_type, event_id) and Kafka coordinates of the rows silver holds from ``batch
    min ts − watermark`` on."""
    parts = [
        _read(spark, job.paths[TYPED_TABLES[t]])
        .filter(F.col("ts") >= _at(s.min_us, -job.params.watermark_seconds))
        .select(F.lit(t).alias("event_type"), "event_id", "topic", "partition", "offset")
        for t, s in stats.items()
    ]
    empty = small_frame(spark, [], SEEN_SCHEMA)
    return reduce(DataFrame.unionByName, parts, empty)


def _write_windows(
    spark: SparkSession, job: SilverJob, event_type: str, stats: dict, sinks: SilverSinks
) -> None:
    """Recompute the windows of ``event_type`` the batch touched from its typed table (all
    of them in batch mode) and replace them."""
    p = job.params
    for table, (source_type, compute) in WINDOW_TABLES.items():
        if source_type != event_type:
            continue
        typed = _read(spark, job.paths[TYPED_TABLES[event_type]])
        if not sinks.incremental:
            sinks.replace(compute(typed, p), job.paths[table], "true")
            continue
        s = stats.get(event_type)
        if s is None:
            continue
        # Every window holding a valid, non-late row of the batch (duplicates included, so
        # a retried batch whose rows already reached the typed table still refreshes them)
        # starts in (min ts - window, max ts]; its rows lie in (min ts - window, max ts +
        # window). The windows in that range are recomputed whole and replace the old ones.
        streams = ", ".join(sql_str(x) for x in s.streams)
        lo, hi = s.min_us - p.window_seconds * 1_000_000, s.max_us
        where = (
            f"stream_id IN ({streams}) AND window_start > timestamp_micros({lo}) "
            f"AND window_start <= timestamp_micros({hi})"
        )
        rows = typed.filter(
            (F.col("ts") > _at(lo)) & (F.col("ts") < _at(hi, p.window_seconds))
            & F.col("stream_id").isin(*s.streams)
        )  # fmt: skip
        sinks.replace(compute(rows, p).filter(F.expr(where)), job.paths[table], where)


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


@dataclass(frozen=True)
class SilverChange:
    """What a micro-batch changed in silver for one stream, as gold reads it (epoch seconds,
    bounds included): ``ws_lo``..``ws_hi`` holds every window start it recomputed (None: no
    window changed), ``lo_s``..``hi_s`` those and the windows its new chat can reach (None:
    only metadata changed); no event it added is older than ``since_s``, nor any broadcast
    start it announced."""

    stream_id: str
    ws_lo: int | None
    ws_hi: int | None
    lo_s: int | None
    hi_s: int | None
    since_s: int


def silver_changes(stats: dict[str, _TypeStats], window_seconds: int) -> list[SilverChange]:
    """Per stream, the ranges :func:`_write_windows` replaced and the new chat reaches."""
    windowed = {source_type for source_type, _ in WINDOW_TABLES.values()}
    ranges: dict[str, list[int]] = {}
    since: dict[str, int] = {}
    for event_type, s in stats.items():
        # Windows starting in (min ts − window, max ts]; whole seconds, widened outwards.
        span = [s.min_us // 1_000_000 - window_seconds, -(-s.max_us // 1_000_000)]
        for stream_id in s.streams:
            bounds = ranges.setdefault(stream_id, [])
            if event_type in windowed:
                bounds.extend(span)
            # Per event type, not per stream: early for some streams, which only costs work.
            since[stream_id] = min(since.get(stream_id, s.since_us), s.since_us)
    return [
        SilverChange(stream_id, min(b, default=None), max(b, default=None),
                     min(b, default=None), max(b, default=None), since[stream_id] // 1_000_000)
        for stream_id, b in sorted(ranges.items())
    ]  # fmt: skip


def process_bronze(
    spark: SparkSession, job: SilverJob, bronze: DataFrame, sinks: SilverSinks
) -> list[SilverChange]:
    """Classify ``bronze`` and write every silver table; returns what changed per stream."""
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
    try:
        stats, any_valid = _candidate_stats(stage)
        seen = _seen_in_silver(spark, job, stats) if sinks.incremental else None
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
        # Quarantine first: on a retry, rows already in a typed table would look like duplicates.
        if counts.get("quarantine") or not sinks.incremental:
            sinks.append(to_quarantine(classified), job.paths["quarantine"])

        def write_type(event_type: str) -> None:
            if counts.get(event_type) or not sinks.incremental:
                typed = to_typed(classified, event_type, job.lexicon)
                sinks.append(typed, job.paths[TYPED_TABLES[event_type]])
            _write_windows(spark, job, event_type, stats, sinks)

        # The four event types touch disjoint tables: a micro-batch writes them side by side
        # (most of a small commit is waiting on Delta's log, not CPU). A batch rebuild goes
        # one type at a time, to keep its memory to one big job.
        workers = len(TYPED_TABLES) if sinks.incremental else 1
        in_parallel(spark, write_type, TYPED_TABLES, workers)
        if any_valid or not sinks.incremental:
            _write_watermarks(spark, job, classified, sinks)
        return silver_changes(stats, p.window_seconds)
    finally:
        if classified is not None:
            classified.unpersist()
        stage.unpersist()
