"""Silver's panes: each stream's accepted events as additive partials per 10-second pane.

The hot path appends the panes of every micro-batch (one row per stream × pane × batch)
and never rewrites one: a late event inside the watermark simply adds a row for its old
pane. A sliding window (``window_seconds`` long, starting every ``slide_seconds``) is the
combination of the ``window_seconds / slide_seconds`` panes it covers, and gives exactly
the numbers of ``pipelines.transforms.silver_windows``:

- chat_count, positive_count, negative_count: sums;
- unique_chatters: the size of the union of the panes' ``chatters`` (exact, not a sketch);
- sentiment_mean: sum of ``sentiment_sum`` / sum of ``sentiment_n`` (decimal sums, so the
  order panes arrive in cannot change a bit);
- top_emotes: the ``emote_counts`` summed per emote, count desc then name asc;
- avg/min/max viewers: viewer_sum / viewer_samples, min, max; last_viewers: that of the
  pane with the greatest ``last_viewer_*`` (ts, ingest_time, topic, partition, offset);
- tx_count, revenue and the per-type counts and revenues: sums.

``pipelines.serving.queries`` does this combination in DuckDB for the Live page, :func:`windows`
in Spark for the settle step's stored window tables.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
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

PANE_KEY = ["stream_id", "pane_start", "pane_end"]


def with_pane(df: DataFrame, slide_seconds: int) -> DataFrame:
    """Adds pane_start/pane_end: the ``slide_seconds`` tumbling window of ``ts``."""
    pane = F.window("ts", f"{slide_seconds} seconds")
    return df.withColumns({"pane_start": pane.start, "pane_end": pane.end})


def _partials() -> list[Column]:
    """The aggregates of one pane, each event type's from its own rows (``kind``)."""
    kind = F.col("kind")
    chat, viewer, tx, meta = (kind == k for k in ("chat", "viewer", "transaction", "stream_meta"))
    since = F.when(meta, F.least("ts", "started_at")).otherwise(F.col("ts"))
    sentiment = F.when(chat, F.col("sentiment"))
    last = F.max(
        F.when(viewer, F.struct("ts", "ingest_time", "topic", "partition", "offset",
                                "viewer_count"))
    )  # fmt: skip
    per_type = []
    for t in schemas.TX_TYPES:
        is_t = tx & (F.col("tx_type") == t)
        per_type += [
            F.count(F.when(is_t, 1)).alias(f"{t}_count"),
            F.sum(F.when(is_t, F.col("amount_base"))).alias(f"{t}_revenue"),
        ]
    return [
        F.count(F.lit(1)).alias("events"),
        F.min("ts").alias("first_ts"),
        F.max("ts").alias("last_ts"),
        F.min(since).alias("since_ts"),
        F.max("ingest_time").alias("last_ingest_time"),
        F.count(F.when(chat, 1)).alias("chat_count"),
        # null, not [], for a pane without chat
        F.when(F.count(F.when(chat, 1)) > 0,
               F.array_sort(F.collect_set(F.when(chat, F.col("user_id"))))).alias("chatters"),
        F.sum(sentiment.cast(SENTIMENT_EXACT)).alias("sentiment_sum"),
        F.count(sentiment).alias("sentiment_n"),
        F.count(F.when(sentiment >= POSITIVE_THRESHOLD, 1)).alias("positive_count"),
        F.count(F.when(sentiment <= NEGATIVE_THRESHOLD, 1)).alias("negative_count"),
        F.count(F.when(viewer, 1)).alias("viewer_samples"),
        F.sum(F.when(viewer, F.col("viewer_count"))).alias("viewer_sum"),
        F.min(F.when(viewer, F.col("viewer_count"))).alias("viewer_min"),
        F.max(F.when(viewer, F.col("viewer_count"))).alias("viewer_max"),
        *[last[f].alias(f"last_viewer_{f}")
          for f in ("ts", "ingest_time", "topic", "partition", "offset")],
        last["viewer_count"].alias("last_viewers"),
        F.count(F.when(tx, 1)).alias("tx_count"),
        F.sum(F.when(tx, F.col("amount_base"))).alias("revenue"),
        *per_type,
        F.count(F.when(meta, 1)).alias("meta_count"),
    ]  # fmt: skip


def panes(events: DataFrame, slide_seconds: int, batch_id: int | None) -> DataFrame:
    """``silver/events`` rows -> ``PANES``: one row per stream × pane of the accepted
    events (quarantine left out), every event type's partials side by side (0 or null
    where a type has none). One aggregation, and one more for the emotes."""
    rows = events.filter(F.col("kind") != "quarantine").transform(with_pane, slide_seconds)
    emotes = (
        count_emotes(rows.filter(F.col("kind") == "chat"), PANE_KEY)
        .groupBy(*PANE_KEY)
        .agg(F.array_sort(F.collect_list(F.struct("emote", "count"))).alias("emote_counts"))
    )
    return (
        rows.groupBy(*PANE_KEY)
        .agg(*_partials())
        .join(emotes, on=PANE_KEY, how="left")
        .withColumn("emote_counts", F.coalesce("emote_counts", empty_emotes()))
        .withColumn("batch_id", F.lit(batch_id).cast("long"))
        .transform(conform, schemas.PANES)
    )


def windows(
    panes: DataFrame, window_seconds: int, slide_seconds: int, top_n: int, base_currency: str
) -> dict[str, DataFrame]:
    """``PANES`` rows -> the sliding windows that hold chat, viewer or transaction events,
    combined from their panes by the rules above (several rows of one pane, from several
    micro-batches, combine as different panes do): ``chat_summary_minute``,
    ``viewer_timeseries`` and ``transactions_minute``, each in its schema. Exact: the
    numbers of ``pipelines.transforms.silver_windows`` over the typed rows themselves."""
    n = window_seconds // slide_seconds
    # Pane k of a window starts k slides after it: each pane is in n windows.
    covering = panes.withColumn("_k", F.explode(F.sequence(F.lit(0), F.lit(n - 1)))).withColumn(
        "window_start",
        F.timestamp_seconds(F.unix_seconds("pane_start") - F.col("_k") * slide_seconds),
    )
    key = ["stream_id", "window_start"]
    last = F.max(F.struct(*[F.col(f"last_viewer_{f}")
                            for f in ("ts", "ingest_time", "topic", "partition", "offset")],
                          F.col("last_viewers").alias("viewers")))  # fmt: skip
    # As Spark's avg of the DECIMAL(20,17) scores: their DECIMAL(30,17) sum over a
    # DECIMAL(20,0) count, rounded to avg's DECIMAL(24,21), then a double.
    sentiment = (
        (
            F.sum("sentiment_sum").cast(spark_type(schemas.SENTIMENT_SUM))
            / F.sum("sentiment_n").cast("decimal(20,0)")
        )
        .cast("decimal(24,21)")
        .cast("double")
    )
    per_type = [
        agg
        for t in schemas.TX_TYPES
        for agg in (F.sum(f"{t}_count").alias(f"{t}_count"),
                    F.coalesce(F.sum(f"{t}_revenue"), F.lit(0)).alias(f"{t}_revenue"))
    ]  # fmt: skip
    combined = covering.groupBy(*key).agg(
        F.sum("chat_count").alias("chat_count"),
        F.size(F.array_distinct(F.flatten(F.collect_list("chatters")))).alias("unique_chatters"),
        F.when(F.sum("sentiment_n") > 0, sentiment).alias("sentiment_mean"),
        F.sum("positive_count").alias("positive_count"),
        F.sum("negative_count").alias("negative_count"),
        F.sum("viewer_samples").alias("samples"),
        F.when(F.sum("viewer_samples") > 0, F.sum("viewer_sum") / F.sum("viewer_samples"))
        .alias("avg_viewers"),
        F.min("viewer_min").alias("min_viewers"),
        F.max("viewer_max").alias("max_viewers"),
        last["viewers"].alias("last_viewers"),
        F.sum("tx_count").alias("tx_count"),
        F.coalesce(F.sum("revenue"), F.lit(0)).alias("revenue"),
        *per_type,
    ).withColumns({
        "window_end": F.timestamp_seconds(F.unix_seconds("window_start") + window_seconds),
        "currency": F.lit(base_currency),
    })  # fmt: skip
    emotes = (
        covering.select(*key, F.explode("emote_counts").alias("e"))
        .groupBy(*key, F.col("e.emote").alias("emote"))
        .agg(F.sum("e.count").alias("count"))
    )
    top = rank_emote_counts(emotes, key, top_n)
    chat = (
        combined.filter(F.col("chat_count") > 0)
        .join(top, on=key, how="left")
        .withColumn("top_emotes", F.coalesce("top_emotes", empty_emotes()))
    )
    return {
        "chat_summary_minute": conform(chat, schemas.CHAT_SUMMARY_MINUTE),
        "viewer_timeseries": conform(
            combined.filter(F.col("samples") > 0), schemas.VIEWER_TIMESERIES
        ),
        "transactions_minute": conform(
            combined.filter(F.col("tx_count") > 0), schemas.TRANSACTIONS_MINUTE
        ),
    }
