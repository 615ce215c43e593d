"""Silver's panes: each stream's accepted events as additive partials per 10-second pane.

The hot path appends the panes of every micro-batch (one row per stream × pane × batch)
and never rewrites one: a late event inside the watermark simply adds a row for its old
pane. A sliding window (``window_seconds`` long, starting every ``slide_seconds``) is the
combination of the ``window_seconds / slide_seconds`` panes it covers, and gives exactly
the numbers of ``pipelines.silver_windows``:

- chat_count, positive_count, negative_count: sums;
- unique_chatters: the size of the union of the panes' ``chatters`` (exact, not a sketch);
- sentiment_mean: sum of ``sentiment_sum`` / sum of ``sentiment_n`` (decimal sums, so the
  order panes arrive in cannot change a bit);
- top_emotes: the ``emote_counts`` summed per emote, count desc then name asc;
- avg/min/max viewers: viewer_sum / viewer_samples, min, max; last_viewers: that of the
  pane with the greatest ``last_viewer_*`` (ts, ingest_time, topic, partition, offset);
- tx_count, revenue and the per-type counts and revenues: sums.

``pipelines.queries`` does this combination in DuckDB for the Live page; the settle step
computes the stored windows from the typed rows with ``pipelines.silver_windows``.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines import schemas
from pipelines.sentiment import NEGATIVE_THRESHOLD, POSITIVE_THRESHOLD
from pipelines.silver_windows import SENTIMENT_EXACT

PANE_KEY = ["stream_id", "pane_start", "pane_end"]


def with_pane(df: DataFrame, slide_seconds: int) -> DataFrame:
    """Adds pane_start/pane_end: the ``slide_seconds`` tumbling window of ``ts``."""
    pane = F.window("ts", f"{slide_seconds} seconds")
    return df.withColumns({"pane_start": pane.start, "pane_end": pane.end})


def _common(since: Column) -> list[Column]:
    return [
        F.count(F.lit(1)).alias("events"),
        F.min("ts").alias("first_ts"),
        F.max("ts").alias("last_ts"),
        F.min(since).alias("since_ts"),
        F.max("ingest_time").alias("last_ingest_time"),
    ]


def _chat(chat: DataFrame, slide_seconds: int) -> DataFrame:
    panes = chat.transform(with_pane, slide_seconds)
    emotes = (
        panes.select(*PANE_KEY, F.explode("emotes").alias("emote"))
        .groupBy(*PANE_KEY, "emote")
        .agg(F.count(F.lit(1)).alias("count"))
        .groupBy(*PANE_KEY)
        .agg(F.array_sort(F.collect_list(F.struct("emote", "count"))).alias("emote_counts"))
    )
    counts = panes.groupBy(*PANE_KEY).agg(
        *_common(F.col("ts")),
        F.count(F.lit(1)).alias("chat_count"),
        F.array_sort(F.collect_set("user_id")).alias("chatters"),
        F.sum(F.col("sentiment").cast(SENTIMENT_EXACT)).alias("sentiment_sum"),
        F.count("sentiment").alias("sentiment_n"),
        F.count(F.when(F.col("sentiment") >= POSITIVE_THRESHOLD, 1)).alias("positive_count"),
        F.count(F.when(F.col("sentiment") <= NEGATIVE_THRESHOLD, 1)).alias("negative_count"),
    )
    return counts.join(emotes, on=PANE_KEY, how="left")


def _viewers(viewers: DataFrame, slide_seconds: int) -> DataFrame:
    last = F.max(F.struct("ts", "ingest_time", "topic", "partition", "offset", "viewer_count"))
    return (
        viewers.transform(with_pane, slide_seconds)
        .groupBy(*PANE_KEY)
        .agg(
            *_common(F.col("ts")),
            F.count(F.lit(1)).alias("viewer_samples"),
            F.sum("viewer_count").alias("viewer_sum"),
            F.min("viewer_count").alias("viewer_min"),
            F.max("viewer_count").alias("viewer_max"),
            last.alias("_last"),
        )
        .select(
            "*",
            *[
                F.col(f"_last.{f}").alias(f"last_viewer_{f}")
                for f in ("ts", "ingest_time", "topic", "partition", "offset")
            ],
            F.col("_last.viewer_count").alias("last_viewers"),
        )
        .drop("_last")
    )


def _transactions(transactions: DataFrame, slide_seconds: int) -> DataFrame:
    per_type = []
    for t in schemas.TX_TYPES:
        is_t = F.col("tx_type") == t
        per_type += [
            F.count(F.when(is_t, 1)).alias(f"{t}_count"),
            F.sum(F.when(is_t, F.col("amount_base"))).alias(f"{t}_revenue"),
        ]
    return (
        transactions.transform(with_pane, slide_seconds)
        .groupBy(*PANE_KEY)
        .agg(
            *_common(F.col("ts")),
            F.count(F.lit(1)).alias("tx_count"),
            F.sum("amount_base").alias("revenue"),
            *per_type,
        )
    )


def _meta(meta: DataFrame, slide_seconds: int) -> DataFrame:
    return (
        meta.transform(with_pane, slide_seconds)
        .groupBy(*PANE_KEY)
        .agg(*_common(F.least("ts", "started_at")), F.count(F.lit(1)).alias("meta_count"))
    )


_PARTIALS = {"chat": _chat, "viewer": _viewers, "transaction": _transactions, "stream_meta": _meta}
_COMMON = ("events", "first_ts", "last_ts", "since_ts", "last_ingest_time")


def panes(typed: dict[str, DataFrame], slide_seconds: int, batch_id: int | None) -> DataFrame:
    """Typed rows by event type (``chat`` with sentiment) -> ``PANES``: one row per stream ×
    pane, the partials of every event type side by side (0 or null where a type has none)."""
    parts = [
        _PARTIALS[event_type](rows, slide_seconds)
        for event_type, rows in typed.items()
        if event_type in _PARTIALS
    ]
    stacked = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), parts)
    combine = {
        "events": F.sum,
        "first_ts": F.min,
        "last_ts": F.max,
        "since_ts": F.min,
        "last_ingest_time": F.max,
    }
    # Each event type filled its own columns of a stacked row: one non-null value each.
    own = [
        F.first(f.name, ignorenulls=True).alias(f.name)
        for f in schemas.PANES.fields
        if f.name not in (*PANE_KEY, "batch_id", *_COMMON)
    ]
    merged = stacked.groupBy(*PANE_KEY).agg(*[fn(c).alias(c) for c, fn in combine.items()], *own)
    zero_counts = {
        c: F.coalesce(F.col(c), F.lit(0))
        for c in ("chat_count", "sentiment_n", "positive_count", "negative_count",
                  "viewer_samples", "tx_count", "meta_count",
                  *[f"{t}_count" for t in schemas.TX_TYPES])
    }  # fmt: skip
    no_emotes = F.array().cast(schemas.EMOTE_COUNTS)
    return (
        merged.withColumns(zero_counts)
        .withColumn("emote_counts", F.coalesce("emote_counts", no_emotes))
        .withColumn("batch_id", F.lit(batch_id).cast("long"))
        .select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schemas.PANES.fields])
    )
