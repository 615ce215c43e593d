"""Gold: the serving tables the dashboard reads (pure transforms).

stream_minute_metrics, stream_hour_metrics, stream_summary, chatters and streams are built here;
moments live in ``pipelines/transforms/gold_moments.py``. The job module
(``pipelines/jobs/gold_job.py``) reads silver, calls these and writes gold; batch rebuilds
and streaming upserts share the functions.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from pipelines.core import rollup
from pipelines.core.schemas import (
    CHATTERS,
    MONEY,
    STREAM_HOUR_METRICS,
    STREAM_MINUTE_METRICS,
    STREAM_SUMMARY,
    STREAMS,
)
from pipelines.transforms.common import (
    conform,
    count_emotes,
    empty_emotes,
    rank_emote_counts,
    spark_type,
)

_KEYS = ["stream_id", "window_start"]


def epoch(col: str) -> Column:
    """Epoch seconds of a timestamp column (window starts are whole seconds)."""
    return F.unix_seconds(F.col(col))


def rank_top_emotes(chat: DataFrame, keys: list[str], n: int) -> DataFrame:
    """keys + ``top_emotes``: the n most used emotes of the chat rows' ``emotes`` lists
    per key (count desc, name asc)."""
    return rank_emote_counts(count_emotes(chat, keys), keys, n)


# ---- stream_minute_metrics ----------------------------------------------------------------
def join_minute_metrics(
    chat_summary: DataFrame, viewer_timeseries: DataFrame, transactions_minute: DataFrame
) -> DataFrame:
    """Full outer join of the three window aggregates: missing parts give 0 counts, null viewers."""
    chat = chat_summary.select(
        *_KEYS,
        F.col("window_end").alias("_end_chat"),
        "chat_count",
        "unique_chatters",
        "sentiment_mean",
        "positive_count",
        "negative_count",
        "top_emotes",
    )
    viewers = viewer_timeseries.select(
        *_KEYS,
        F.col("window_end").alias("_end_viewers"),
        "avg_viewers",
        "max_viewers",
        "last_viewers",
    )
    tx = transactions_minute.select(
        *_KEYS, F.col("window_end").alias("_end_tx"), "tx_count", "revenue"
    )
    joined = chat.join(viewers, on=_KEYS, how="full").join(tx, on=_KEYS, how="full")
    zero = {
        c: F.coalesce(F.col(c), F.lit(0))
        for c in ("chat_count", "unique_chatters", "positive_count", "negative_count", "tx_count")
    }
    return conform(
        joined.withColumns(
            {
                "window_end": F.coalesce("_end_chat", "_end_viewers", "_end_tx"),
                **zero,
                "top_emotes": F.coalesce(F.col("top_emotes"), empty_emotes()),
                "revenue": F.coalesce(F.col("revenue"), F.lit(0).cast(spark_type(MONEY))),
            }
        ),
        STREAM_MINUTE_METRICS,
    )


HOUR = 3600


def hour_of(col: str) -> Column:
    """The UTC clock hour a timestamp falls in (epoch arithmetic: no session time zone)."""
    return F.timestamp_seconds(F.floor(epoch(col) / HOUR) * HOUR)


def rollup_hours(metrics: DataFrame) -> DataFrame:
    """stream_minute_metrics -> stream_hour_metrics: one row per stream and hour of
    window_start, the rollup ``pipelines.core.rollup`` defines."""
    parts = metrics.withColumn("tiling", F.expr(rollup.tiling("unix_millis"))).select(
        "stream_id",
        hour_of("window_start").alias("hour_start"),
        *[F.expr(sql).alias(name) for name, sql in rollup.WINDOW_PARTS.items()],
    )
    hours = parts.groupBy("stream_id", "hour_start").agg(
        *[F.expr(f"{agg}({name})").alias(name) for name, agg in rollup.COMBINE.items()]
    )
    return conform(hours, STREAM_HOUR_METRICS)


# ---- stream_summary -------------------------------------------------------------------------
def with_broadcast_spans(stream_meta: DataFrame, event_times: DataFrame) -> DataFrame:
    """(stream_id, broadcast_id, b_start, b_next): a stream's broadcasts as [b_start, b_next).

    A broadcast starts at a ``live`` event's started_at (repeated live events with the same
    started_at are the same broadcast) and lasts until the next broadcast starts, so
    chat after ``offline`` stays with the broadcast it follows and no event is left out.
    Events before the first live start (or a stream without one) form a broadcast that
    starts at the stream's first event time (``event_times``: stream_id, ts).
    """
    live = (
        stream_meta.filter(F.col("status") == "live")
        .select("stream_id", F.coalesce("started_at", "ts").alias("b_start"))
        .distinct()
    )
    first_live = live.groupBy("stream_id").agg(F.min("b_start").alias("_first_live"))
    pre_live = (
        event_times.groupBy("stream_id")
        .agg(F.min("ts").alias("b_start"))
        .join(first_live, on="stream_id", how="left")
        .filter(F.col("_first_live").isNull() | (F.col("b_start") < F.col("_first_live")))
        .select("stream_id", "b_start")
    )
    order = Window.partitionBy("stream_id").orderBy("b_start")
    return live.unionByName(pre_live).select(
        "stream_id",
        F.sha2(F.concat_ws("|", "stream_id", F.unix_micros("b_start").cast("string")), 256).alias(
            "broadcast_id"
        ),
        "b_start",
        F.lead("b_start").over(order).alias("b_next"),
    )


def meta_time() -> Column:
    """When a stream_meta event counts for the broadcasts: a live event at the start it
    announces (its started_at, whatever its own ts), any other at its ts."""
    return F.when(F.col("status") == "live", F.coalesce("started_at", "ts")).otherwise(F.col("ts"))


def with_broadcast(events: DataFrame, spans: DataFrame, ts: Column) -> DataFrame:
    """Events tagged with the broadcast whose span holds ``ts`` (inner: every event has one
    when ``spans`` were built from the same events)."""
    s = spans.withColumnRenamed("stream_id", "_sid")
    inside = (
        (F.col("stream_id") == F.col("_sid"))
        & (ts >= F.col("b_start"))
        & (F.col("b_next").isNull() | (ts < F.col("b_next")))
    )
    return events.join(s, on=inside, how="inner").drop("_sid")


def _latest(col: str) -> Column:
    """The newest non-null value of ``col`` (max_by skips null orderings)."""
    return F.max_by(col, F.when(F.col(col).isNotNull(), F.struct("ts", "event_id"))).alias(col)


def chatter_spans(chat_messages: DataFrame) -> DataFrame:
    """CHATTERS: per stream and user, the time of their first message. It makes a chatter
    first-time in one broadcast (and window) and returning in every later one. Chat
    without a user_id names no chatter and is left out, as unique_chatters does."""
    return conform(
        chat_messages.filter(F.col("user_id").isNotNull())
        .groupBy("stream_id", "user_id")
        .agg(F.min("ts").alias("first_ts")),
        CHATTERS,
    )


def summarize_broadcasts(
    stream_meta: DataFrame,
    chat_messages: DataFrame,
    viewer_counts: DataFrame,
    transactions: DataFrame,
    moments: DataFrame,
    chatters: DataFrame,
    top_emotes: int,
) -> DataFrame:
    """One row per stream and broadcast (STREAM_SUMMARY), counted on the events themselves:
    sliding windows would count each event window/slide times. ``chatters`` (CHATTERS,
    over the stream's whole chat) says whose first message falls in which broadcast."""
    times = [
        df.select("stream_id", "ts")
        for df in (stream_meta, chat_messages, viewer_counts, transactions)
    ]
    spans = with_broadcast_spans(
        stream_meta, times[0].unionByName(times[1]).unionByName(times[2]).unionByName(times[3])
    )
    by = ["stream_id", "broadcast_id"]
    meta = (
        with_broadcast(stream_meta, spans, meta_time())
        .groupBy(*by)
        .agg(
            F.min(F.when(F.col("status") == "offline", F.col("ts"))).alias("_offline"),
            _latest("title"),
            _latest("category"),
        )
    )
    chat = with_broadcast(chat_messages, spans, F.col("ts"))
    chat_stats = chat.groupBy(*by).agg(
        F.count(F.lit(1)).alias("messages"), F.countDistinct("user_id").alias("unique_chatters")
    )
    emotes = rank_top_emotes(chat, by, top_emotes)
    viewers = (
        with_broadcast(viewer_counts, spans, F.col("ts"))
        .groupBy(*by)
        .agg(
            F.max("viewer_count").alias("peak_viewers"), F.avg("viewer_count").alias("avg_viewers")
        )
    )
    revenue = (
        with_broadcast(transactions, spans, F.col("ts"))
        .groupBy(*by)
        .agg(F.sum("amount_base").alias("revenue"))
    )
    moment_count = (
        with_broadcast(moments, spans, F.col("start_ts"))
        .groupBy(*by)
        .agg(F.count(F.lit(1)).alias("moment_count"))
    )
    first_time = (
        with_broadcast(chatters, spans, F.col("first_ts"))
        .groupBy(*by)
        .agg(F.count(F.lit(1)).alias("first_time_chatters"))
    )
    summary = spans
    for part in (meta, chat_stats, emotes, viewers, revenue, moment_count, first_time):
        summary = summary.join(part, on=by, how="left")
    return conform(
        summary.withColumns(
            {
                "started_at": F.col("b_start"),
                # Open while live; a new broadcast without an offline event closes this one.
                "ended_at": F.coalesce("_offline", "b_next"),
                "messages": F.coalesce("messages", F.lit(0)),
                "unique_chatters": F.coalesce("unique_chatters", F.lit(0)),
                "revenue": F.coalesce(F.col("revenue"), F.lit(0)).cast(spark_type(MONEY)),
                "top_emotes": F.coalesce(F.col("top_emotes"), empty_emotes()),
                "moment_count": F.coalesce("moment_count", F.lit(0)),
                "first_time_chatters": F.coalesce("first_time_chatters", F.lit(0)),
                "returning_chatters": F.coalesce("unique_chatters", F.lit(0))
                - F.coalesce("first_time_chatters", F.lit(0)),
            }
        ),
        STREAM_SUMMARY,
    )


# ---- streams --------------------------------------------------------------------------------
def latest_stream_state(stream_meta: DataFrame, last_events: DataFrame) -> DataFrame:
    """Per stream (STREAMS): status of the newest meta event, the newest non-null title,
    category, language and started_at, and ``last_event_ts`` from ``last_events``
    (stream_id, last_event_ts)."""
    meta = stream_meta.groupBy("stream_id").agg(
        F.max_by("status", F.struct("ts", "event_id")).alias("status"),
        *[_latest(c) for c in ("title", "category", "language", "started_at")],
    )
    last = last_events.groupBy("stream_id").agg(F.max("last_event_ts").alias("last_event_ts"))
    return conform(meta.join(last, on="stream_id", how="full"), STREAMS)
