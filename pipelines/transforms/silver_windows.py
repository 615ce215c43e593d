"""What silver's windowed aggregates mean: stream × sliding window, over the typed rows.

Windows are Spark's ``window(ts, "<window_seconds> seconds", "<slide_seconds> seconds")``,
aligned to the epoch: with 60 s / 10 s an event at 12:00:25 counts in the six windows
starting 11:59:30 … 12:00:20. This module is the definition, written over the typed rows
themselves. The pipeline does not run it: the settle step combines the hot path's
10-second panes into the stored windows (``pipelines.transforms.silver_panes.windows``) and the Live
page does the same in DuckDB (``pipelines.serving.queries``), far less work than re-reading every
event of a window; ``tests/test_silver_job.py`` holds both to these functions, bit for bit.

- ``chat_summary_minute``: chat_count, unique_chatters (exact distinct user_id),
  top_emotes (the ``top_n`` most frequent entries of the ``emotes`` lists, count desc then
  emote name asc), sentiment_mean, positive_count (≥ 0.05), negative_count (≤ −0.05).
- ``viewer_timeseries``: avg/min/max viewers, last_viewers (viewer_count of the latest ts;
  a tie goes to the later arrival), samples.
- ``transactions_minute``: tx_count, revenue (sum of amount_base), per-tx_type count and
  revenue (0 when none), currency = the base currency.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.core import schemas
from pipelines.transforms.common import (
    SENTIMENT_EXACT,
    conform,
    count_emotes,
    empty_emotes,
    rank_emote_counts,
    spark_type,
)
from pipelines.transforms.sentiment import NEGATIVE_THRESHOLD, POSITIVE_THRESHOLD

WINDOW_KEY = ["stream_id", "window_start", "window_end"]


def explode_windows(df: DataFrame, window_seconds: int, slide_seconds: int) -> DataFrame:
    """One row per (event, sliding window it falls in), with window_start/window_end."""
    window = F.window("ts", f"{window_seconds} seconds", f"{slide_seconds} seconds")
    return (
        df.withColumn("_window", window)
        .withColumn("window_start", F.col("_window.start"))
        .withColumn("window_end", F.col("_window.end"))
        .drop("_window")
    )


def chat_summary_minute(
    chat: DataFrame, window_seconds: int, slide_seconds: int, top_n: int
) -> DataFrame:
    """Typed chat rows (with sentiment) -> ``CHAT_SUMMARY_MINUTE``."""
    windowed = chat.transform(explode_windows, window_seconds, slide_seconds)
    counts = windowed.groupBy(*WINDOW_KEY).agg(
        F.count(F.lit(1)).alias("chat_count"),
        F.countDistinct("user_id").alias("unique_chatters"),
        # A double sum depends on the order rows arrive in (micro-batch files vs. one
        # rebuild); a decimal sum does not, so stream and batch agree to the last bit.
        F.avg(F.col("sentiment").cast(SENTIMENT_EXACT)).cast("double").alias("sentiment_mean"),
        F.count(F.when(F.col("sentiment") >= POSITIVE_THRESHOLD, 1)).alias("positive_count"),
        F.count(F.when(F.col("sentiment") <= NEGATIVE_THRESHOLD, 1)).alias("negative_count"),
    )
    top = rank_emote_counts(count_emotes(windowed, WINDOW_KEY), WINDOW_KEY, top_n)
    return (
        counts.join(top, on=WINDOW_KEY, how="left")
        .withColumn("top_emotes", F.coalesce(F.col("top_emotes"), empty_emotes()))
        .transform(conform, schemas.CHAT_SUMMARY_MINUTE)
    )


def viewer_timeseries(viewers: DataFrame, window_seconds: int, slide_seconds: int) -> DataFrame:
    """Typed viewer rows -> ``VIEWER_TIMESERIES``."""
    latest = F.max(F.struct("ts", "ingest_time", "topic", "partition", "offset", "viewer_count"))
    return (
        viewers.transform(explode_windows, window_seconds, slide_seconds)
        .groupBy(*WINDOW_KEY)
        .agg(
            F.avg("viewer_count").alias("avg_viewers"),
            F.min("viewer_count").alias("min_viewers"),
            F.max("viewer_count").alias("max_viewers"),
            latest["viewer_count"].alias("last_viewers"),
            F.count(F.lit(1)).alias("samples"),
        )
        .transform(conform, schemas.VIEWER_TIMESERIES)
    )


def transactions_minute(
    transactions: DataFrame, window_seconds: int, slide_seconds: int, base_currency: str
) -> DataFrame:
    """Typed transaction rows -> ``TRANSACTIONS_MINUTE`` (amounts in the base currency)."""
    zero = F.lit(0).cast(spark_type(schemas.MONEY))
    per_type = []
    for t in schemas.TX_TYPES:
        is_t = F.col("tx_type") == t
        per_type += [
            F.count(F.when(is_t, 1)).alias(f"{t}_count"),
            F.coalesce(F.sum(F.when(is_t, F.col("amount_base"))), zero).alias(f"{t}_revenue"),
        ]
    return (
        transactions.transform(explode_windows, window_seconds, slide_seconds)
        .groupBy(*WINDOW_KEY)
        .agg(
            F.count(F.lit(1)).alias("tx_count"),
            F.coalesce(F.sum("amount_base"), zero).alias("revenue"),
            *per_type,
        )
        .withColumn("currency", F.lit(base_currency))
        .transform(conform, schemas.TRANSACTIONS_MINUTE)
    )
