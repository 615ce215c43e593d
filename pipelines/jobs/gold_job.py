"""Gold job: silver -> ``gold/{stream_minute_metrics, moments, stream_summary, streams}``.

Batch rebuilds every gold table from silver (overwrite: a rerun changes nothing).
Streaming follows silver's change data feed: each micro-batch takes the keys that changed
(the window aggregates' CDF, plus appended chat messages and stream metadata), recomputes
what those keys can influence with the same transforms as batch, and MERGEs it in, so
gold ends equal to a batch rebuild of the same silver. Every MERGE of a micro-batch
carries txnAppId (the query id) / txnVersion (the batch id): a replayed batch is a no-op.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from pipelines.config import Settings
from pipelines.gold import (
    epoch,
    join_minute_metrics,
    latest_stream_state,
    summarize_broadcasts,
)
from pipelines.gold_moments import MomentRules, detect_moments, filter_in_scope, moment_scope
from pipelines.schemas import (
    CHAT_MESSAGES,
    CHAT_SUMMARY_MINUTE,
    MOMENTS,
    STREAM_META,
    STREAM_MINUTE_METRICS,
    STREAM_SUMMARY,
    STREAMS,
    TRANSACTIONS,
    TRANSACTIONS_MINUTE,
    VIEWER_COUNTS,
    VIEWER_TIMESERIES,
)

SILVER_AGGREGATES = {
    "chat_summary_minute": CHAT_SUMMARY_MINUTE,
    "viewer_timeseries": VIEWER_TIMESERIES,
    "transactions_minute": TRANSACTIONS_MINUTE,
}
SILVER_EVENTS = {
    "chat_messages": CHAT_MESSAGES,
    "viewer_counts": VIEWER_COUNTS,
    "transactions": TRANSACTIONS,
    "stream_meta": STREAM_META,
}
WATERMARKS = "stream_watermarks"  # silver: stream_id, max_event_ts, ...
GOLD_TABLES = {
    "stream_minute_metrics": (STREAM_MINUTE_METRICS, ["stream_id", "window_start"]),
    "moments": (MOMENTS, ["moment_id"]),
    "stream_summary": (STREAM_SUMMARY, ["stream_id", "broadcast_id"]),
    "streams": (STREAMS, ["stream_id"]),
}
QUERY_NAME = "gold"
_TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
_TXN_VERSION = "spark.databricks.delta.write.txnVersion"


def gold_path(settings: Settings, table: str) -> str:
    return settings.table_path("gold", table)


def silver_path(settings: Settings, table: str) -> str:
    return settings.table_path("silver", table)


def ensure_gold_tables(spark: SparkSession, settings: Settings) -> None:
    for table, (schema, _) in GOLD_TABLES.items():
        DeltaTable.createIfNotExists(spark).location(gold_path(settings, table)).addColumns(
            schema
        ).execute()


def ensure_silver_sources(spark: SparkSession, settings: Settings) -> None:
    """Create the silver tables the stream follows, empty, when silver has not yet: a
    Delta stream cannot start on a missing table. The aggregates get their change feed on
    from version 0, as silver creates them."""
    sources = {**SILVER_AGGREGATES, "chat_messages": CHAT_MESSAGES, "stream_meta": STREAM_META}
    for table, schema in sources.items():
        path = silver_path(settings, table)
        if DeltaTable.isDeltaTable(spark, path):
            continue
        builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(schema)
        if table in SILVER_AGGREGATES:
            builder = builder.property("delta.enableChangeDataFeed", "true")
        try:
            builder.execute()
        except Exception:
            # Silver may have created it at the same moment; only a still-missing table is wrong.
            if not DeltaTable.isDeltaTable(spark, path):
                raise


def read_silver(spark: SparkSession, settings: Settings, table: str) -> DataFrame:
    """A silver table, or an empty one of its schema when silver has not written it yet."""
    schema = {**SILVER_AGGREGATES, **SILVER_EVENTS}[table]
    path = silver_path(settings, table)
    if not DeltaTable.isDeltaTable(spark, path):
        return spark.createDataFrame([], schema)
    return spark.read.format("delta").load(path)


def read_last_events(spark: SparkSession, settings: Settings) -> DataFrame:
    """(stream_id, last_event_ts) from silver's per-stream watermarks."""
    path = silver_path(settings, WATERMARKS)
    if not DeltaTable.isDeltaTable(spark, path):
        return spark.createDataFrame([], "stream_id string, last_event_ts timestamp")
    return (
        spark.read.format("delta")
        .load(path)
        .select("stream_id", F.col("max_event_ts").alias("last_event_ts"))
    )


def _read_gold(spark: SparkSession, settings: Settings, table: str) -> DataFrame:
    return spark.read.format("delta").load(gold_path(settings, table))


# ---- batch ------------------------------------------------------------------------------------
def run_batch(spark: SparkSession, settings: Settings) -> dict[str, int]:
    """Rebuild every gold table from silver; returns the row count of each."""
    ensure_gold_tables(spark, settings)
    rules = MomentRules.from_settings(settings)
    silver = {t: read_silver(spark, settings, t) for t in {**SILVER_AGGREGATES, **SILVER_EVENTS}}

    def overwrite(df: DataFrame, table: str) -> DataFrame:
        df.write.format("delta").mode("overwrite").save(gold_path(settings, table))
        return _read_gold(spark, settings, table)

    metrics = overwrite(
        join_minute_metrics(
            silver["chat_summary_minute"],
            silver["viewer_timeseries"],
            silver["transactions_minute"],
        ),
        "stream_minute_metrics",
    )
    moments = overwrite(detect_moments(metrics, silver["chat_messages"], rules), "moments")
    summary = summarize_broadcasts(
        silver["stream_meta"],
        silver["chat_messages"],
        silver["viewer_counts"],
        silver["transactions"],
        moments,
        rules.top_emotes,
    )
    overwrite(summary, "stream_summary")
    overwrite(
        latest_stream_state(silver["stream_meta"], read_last_events(spark, settings)), "streams"
    )
    return {f"gold.{t}": _read_gold(spark, settings, t).count() for t in GOLD_TABLES}


# ---- streaming --------------------------------------------------------------------------------
def read_changes(spark: SparkSession, settings: Settings) -> DataFrame:
    """Streaming (stream_id, window_start, lo_s, hi_s): what changed in silver.

    Aggregate rows come from their change feed with their window key; appended chat
    messages and stream metadata (no window key) carry the window starts they can touch
    [ts - window, ts], so late chat outside any window update still reaches the moments.
    Metadata only affects the per-stream tables, so its range is null.
    """
    parts = []
    for table in SILVER_AGGREGATES:
        feed = (
            spark.readStream.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", 0)
            .load(silver_path(settings, table))
        )
        start = epoch("window_start")
        parts.append(
            feed.select("stream_id", "window_start", start.alias("lo_s"), start.alias("hi_s"))
        )
    for table in ("chat_messages", "stream_meta"):
        appended = (
            spark.readStream.format("delta")
            .option("skipChangeCommits", "true")  # OPTIMIZE/dedupe rewrites add no events
            .load(silver_path(settings, table))
        )
        lo, hi = epoch("ts") - settings.window_seconds, epoch("ts")
        if table == "stream_meta":
            lo = hi = F.lit(None).cast("long")
        parts.append(
            appended.select(
                "stream_id",
                F.lit(None).cast("timestamp").alias("window_start"),
                lo.alias("lo_s"),
                hi.alias("hi_s"),
            )
        )
    return functools.reduce(DataFrame.unionByName, parts)


def start_stream(spark: SparkSession, settings: Settings, trigger: dict) -> StreamingQuery:
    """Follow silver's changes into gold; checkpoint ``checkpoint_path("gold")``."""
    ensure_gold_tables(spark, settings)
    ensure_silver_sources(spark, settings)
    return (
        read_changes(spark, settings)
        .writeStream.foreachBatch(functools.partial(upsert_gold_batch, settings=settings))
        .option("checkpointLocation", settings.checkpoint_path(QUERY_NAME))
        .queryName(QUERY_NAME)
        .trigger(**trigger)
        .start()
    )


@contextmanager
def _idempotent(spark: SparkSession, app_id: str, version: int) -> Iterator[None]:
    """Delta skips a write whose (txnAppId, txnVersion) the table has already committed.
    ``spark`` is the micro-batch's own session, so other queries never see these confs."""
    spark.conf.set(_TXN_APP_ID, app_id)
    spark.conf.set(_TXN_VERSION, str(version))
    try:
        yield
    finally:
        spark.conf.unset(_TXN_APP_ID)
        spark.conf.unset(_TXN_VERSION)


def merge_replace(
    spark: SparkSession,
    path: str,
    upserts: DataFrame,
    stale: DataFrame | None,
    keys: list[str],
    txn: tuple[str, int],
) -> None:
    """One MERGE that upserts ``upserts`` and deletes the target rows in ``stale`` (rows
    of the recomputed scope that the recomputation no longer produces)."""
    source = upserts.withColumn("_delete", F.lit(False))
    if stale is not None:
        source = source.unionByName(
            stale.select(*upserts.columns).withColumn("_delete", F.lit(True))
        )
    values = {c: f"s.`{c}`" for c in upserts.columns}
    with _idempotent(spark, *txn):
        (
            DeltaTable.forPath(spark, path)
            .alias("t")
            .merge(source.alias("s"), " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys))
            .whenMatchedDelete(condition="s._delete")
            .whenMatchedUpdate(set=values)
            .whenNotMatchedInsert(condition="NOT s._delete", values=values)
            .execute()
        )


def upsert_gold_batch(batch_df: DataFrame, batch_id: int, settings: Settings) -> None:
    """foreachBatch: bring gold up to date with the silver keys in ``batch_df``."""
    spark = batch_df.sparkSession
    query_id = spark.sparkContext.getLocalProperty("sql.streaming.queryId")
    # The query id lives in the checkpoint: a new checkpoint restarts batch ids at 0 under
    # a new app id instead of being skipped as already written.
    txn = (f"telemetra-gold-{query_id or 'query'}", batch_id)
    changes = (
        batch_df.groupBy("stream_id", "window_start")
        .agg(F.min("lo_s").alias("lo_s"), F.max("hi_s").alias("hi_s"))
        .persist()
    )
    try:
        if changes.isEmpty():
            return
        _upsert_minute_metrics(spark, settings, changes, txn)
        _upsert_moments(spark, settings, changes, txn)
        streams = changes.select("stream_id").distinct()
        _upsert_stream_tables(spark, settings, streams, txn)
    finally:
        changes.unpersist()


def _upsert_minute_metrics(
    spark: SparkSession, settings: Settings, changes: DataFrame, txn: tuple[str, int]
) -> None:
    keys = GOLD_TABLES["stream_minute_metrics"][1]
    changed = changes.filter(F.col("window_start").isNotNull()).select(*keys)

    def part(table: str) -> DataFrame:
        return read_silver(spark, settings, table).join(changed, on=keys, how="left_semi")

    fresh = join_minute_metrics(
        part("chat_summary_minute"), part("viewer_timeseries"), part("transactions_minute")
    )
    gone = changed.join(fresh, on=keys, how="left_anti")
    stale = _read_gold(spark, settings, "stream_minute_metrics").join(
        gone, on=keys, how="left_semi"
    )
    merge_replace(spark, gold_path(settings, "stream_minute_metrics"), fresh, stale, keys, txn)


def _upsert_moments(
    spark: SparkSession, settings: Settings, changes: DataFrame, txn: tuple[str, int]
) -> None:
    """Recompute the moments in each stream's scope (see ``moment_scope``) and replace the
    old ones starting in it."""
    rules = MomentRules.from_settings(settings)
    old = _read_gold(spark, settings, "moments")
    scope = moment_scope(changes, old, rules)
    # The windows the scope's baselines reach back to, and the chat its moments can hold.
    reach = scope.groupBy("stream_id").agg(
        (F.min("scope_lo") - rules.reach_seconds).alias("_from"),
        (F.max("scope_hi") + rules.window_seconds).alias("_to"),
    )

    def near(df: DataFrame, ts: str) -> DataFrame:
        return (
            df.join(reach, on="stream_id", how="inner")
            .filter(epoch(ts).between(F.col("_from"), F.col("_to")))
            .drop("_from", "_to")
        )

    metrics = near(_read_gold(spark, settings, "stream_minute_metrics"), "window_start")
    chat = near(read_silver(spark, settings, "chat_messages"), "ts")
    fresh = detect_moments(metrics, chat, rules, scope=scope)
    stale = filter_in_scope(old, scope, ts_col="start_ts").join(fresh, "moment_id", "left_anti")
    merge_replace(spark, gold_path(settings, "moments"), fresh, stale, ["moment_id"], txn)


def _upsert_stream_tables(
    spark: SparkSession, settings: Settings, streams: DataFrame, txn: tuple[str, int]
) -> None:
    """stream_summary and streams, recomputed whole for the streams that changed."""

    def mine(df: DataFrame) -> DataFrame:
        return df.join(streams, on="stream_id", how="left_semi")

    meta = mine(read_silver(spark, settings, "stream_meta"))
    summary = summarize_broadcasts(
        meta,
        mine(read_silver(spark, settings, "chat_messages")),
        mine(read_silver(spark, settings, "viewer_counts")),
        mine(read_silver(spark, settings, "transactions")),
        mine(_read_gold(spark, settings, "moments")),
        settings.top_emotes,
    )
    keys = GOLD_TABLES["stream_summary"][1]
    stale = mine(_read_gold(spark, settings, "stream_summary")).join(summary, keys, "left_anti")
    merge_replace(spark, gold_path(settings, "stream_summary"), summary, stale, keys, txn)
    state = latest_stream_state(meta, mine(read_last_events(spark, settings)))
    merge_replace(spark, gold_path(settings, "streams"), state, None, ["stream_id"], txn)
