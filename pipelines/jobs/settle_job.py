"""Settle step: silver's panes and typed rows -> the window tables and gold, off the hot path.

The hot path (``pipelines.jobs.medallion_job``) only appends: bronze, the typed silver
rows and quarantine, and the 10-second panes the Live page reads. Everything that
rewrites part of a table runs here, on its own cadence (``settle_seconds``):

1. the sliding windows (``silver/chat_summary_minute``, ``viewer_timeseries``,
   ``transactions_minute``) a set of new typed rows touches are recomputed whole from
   their 10-second panes (``pipelines.transforms.silver_panes.windows``) and replace the old ones
   (``replaceWhere``);
2. beside them the new chat's users are merged into ``gold/chatters``
   (``pipelines.jobs.gold_job.merge_chatters``);
3. gold follows: minute metrics, the hour rollup, moments, broadcast summaries and
   ``streams`` (``pipelines.jobs.gold_job.upsert_changes``).

As a stream (:func:`start_stream`, query ``settle``) it follows the appends to
``silver/events``; each micro-batch recomputes what those rows can influence. Every write is a
recomputation from the tables, so a replayed micro-batch writes the same rows again and
needs no txn ids. As a batch (:func:`run_batch`) it rebuilds every window from the panes
and every gold table: stream and batch give the same tables.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from pipelines.config import Settings
from pipelines.core import catalog
from pipelines.jobs import crash_points, gold_job, params, silver_job, tables
from pipelines.jobs.spark import in_parallel, retry_on_conflict, sql_str, use_pool
from pipelines.transforms.silver_panes import windows

QUERY_NAME = "settle"
# window table -> the event type it aggregates
WINDOW_TABLES = {
    "chat_summary_minute": "chat",
    "viewer_timeseries": "viewer",
    "transactions_minute": "transaction",
}


@dataclass(frozen=True)
class TypeStats:
    """New rows of one event type: their ts range (epoch µs), streams, and the earliest
    time they reach (ts, or a broadcast start a metadata event announces)."""

    min_us: int
    max_us: int
    streams: list[str]
    since_us: int


@dataclass(frozen=True)
class SilverChange:
    """What new silver rows change for one stream, as gold reads it (epoch seconds, bounds
    included): ``ws_lo``..``ws_hi`` holds every window start the windows step recomputed
    (None: no window changed), ``lo_s``..``hi_s`` the same range (None: only metadata
    changed); no event is older than ``since_s``, nor any broadcast start announced."""

    stream_id: str
    ws_lo: int | None
    ws_hi: int | None
    lo_s: int | None
    hi_s: int | None
    since_s: int


def _at(micros: int):
    return F.timestamp_micros(F.lit(micros))


def write_windows(
    spark: SparkSession, settings: Settings, stats: dict[str, TypeStats] | None
) -> None:
    """Recompute the windows the new rows touch (``stats``; None: every window, a batch
    rebuild) from the panes (``pipelines.transforms.silver_panes.windows``) and replace them, the
    three tables side by side. The hot path commits a micro-batch's panes before its
    ``silver/events`` rows, so the panes of every row this step follows are there."""
    p = params.silver_params(settings)
    panes = tables.read(spark, settings.lake_root, "silver/panes")
    window_us, slide_us = p.window_seconds * 1_000_000, p.slide_seconds * 1_000_000
    if stats is not None:
        touched = [s for t, s in stats.items() if t in WINDOW_TABLES.values()]
        if not touched:
            return
        # Windows holding a new row start in (min ts - window, max ts]; their panes start
        # in (min ts - window - slide, max ts + window).
        lo = min(s.min_us for s in touched) - window_us - slide_us
        hi = max(s.max_us for s in touched) + window_us
        streams = sorted({x for s in touched for x in s.streams})
        panes = panes.filter(
            (F.col("pane_start") > _at(lo)) & (F.col("pane_start") < _at(hi))
            & F.col("stream_id").isin(*streams)
        )  # fmt: skip
    combined = windows(panes, p.window_seconds, p.slide_seconds, p.top_emotes, p.base_currency)

    def write(table: str) -> None:
        path = settings.table_path("silver", table)
        if stats is None:
            combined[table].write.format("delta").mode("overwrite").save(path)
            return
        s = stats.get(WINDOW_TABLES[table])
        if s is None:
            return
        # Every window holding a new row of this type starts in (min ts - window, max ts].
        streams = ", ".join(sql_str(x) for x in s.streams)
        where = (
            f"stream_id IN ({streams}) AND window_start > timestamp_micros({s.min_us - window_us}) "
            f"AND window_start <= timestamp_micros({s.max_us})"
        )
        writer = combined[table].filter(F.expr(where)).write.format("delta")
        writer = writer.mode("overwrite").option("replaceWhere", where)
        retry_on_conflict(lambda: writer.save(path), what=path)

    # A rebuild goes one table at a time, to keep its memory to one big job.
    in_parallel(spark, write, WINDOW_TABLES, 1 if stats is None else len(WINDOW_TABLES))


def silver_changes(stats: dict[str, TypeStats], window_seconds: int) -> list[SilverChange]:
    """Per stream, the window starts :func:`write_windows` replaced and the earliest time
    its new rows reach."""
    windowed = set(WINDOW_TABLES.values())
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


# ---- stream -----------------------------------------------------------------------------
def read_appends(spark: SparkSession, settings: Settings) -> DataFrame:
    """Streaming (event_type, stream_id, ts, since_ts, user_id) of the typed rows appended to
    ``silver/events`` (quarantine left out). A silver batch rebuild overwrites the table
    (skipped here): the settle batch rebuild that follows it recomputes everything."""
    appended = tables.read_stream(
        spark, settings.lake_root, catalog.EVENTS, skipChangeCommits="true"
    ).filter(F.col("kind") != "quarantine")
    since = F.when(F.col("kind") == "stream_meta", F.least("ts", "started_at")).otherwise(
        F.col("ts")
    )
    return appended.select(
        F.col("kind").alias("event_type"), "stream_id", "ts", since.alias("since_ts"), "user_id"
    )


def stats_of(rows: DataFrame) -> dict[str, TypeStats]:
    """Per event type, the :class:`TypeStats` of ``rows`` (from :func:`read_appends`)."""
    found = (
        rows.groupBy("event_type")
        .agg(
            F.unix_micros(F.min("ts")).alias("lo"),
            F.unix_micros(F.max("ts")).alias("hi"),
            F.collect_set("stream_id").alias("streams"),
            F.unix_micros(F.min("since_ts")).alias("since"),
        )
        .collect()
    )
    return {
        r["event_type"]: TypeStats(r["lo"], r["hi"], sorted(r["streams"]), r["since"])
        for r in found
    }


def settle_batch(batch_df: DataFrame, batch_id: int, settings: Settings) -> None:
    """foreachBatch: the windows, then gold, for the typed rows in ``batch_df``."""
    spark = batch_df.sparkSession
    use_pool(spark, "settle")
    crash_points.begin_batch(QUERY_NAME, batch_id)
    stats = stats_of(batch_df)
    if stats:
        steps = [lambda: write_windows(spark, settings, stats)]
        if "chat" in stats:
            chat = batch_df.filter(F.col("event_type") == "chat")
            steps.append(lambda: gold_job.merge_chatters(spark, settings, chat))
        in_parallel(spark, lambda step: step(), steps, len(steps))
        gold_job.upsert_changes(spark, settings, silver_changes(stats, settings.window_seconds))
    crash_points.end_batch(QUERY_NAME)


def start_stream(spark: SparkSession, settings: Settings, trigger: dict) -> StreamingQuery:
    """Follow the typed tables into windows and gold; checkpoint ``checkpoint_path("settle")``.
    A processing-time trigger runs every ``settle_seconds`` instead of the hot path's."""
    silver_job.ensure_tables(spark, settings)
    gold_job.ensure_gold_tables(spark, settings)
    if "processingTime" in trigger:
        trigger = {"processingTime": f"{settings.settle_seconds} seconds"}
    return (
        read_appends(spark, settings)
        .writeStream.foreachBatch(functools.partial(settle_batch, settings=settings))
        .option("checkpointLocation", settings.checkpoint_path(QUERY_NAME))
        .queryName(QUERY_NAME)
        .trigger(**trigger)
        .start()
    )


# ---- batch ------------------------------------------------------------------------------
def run_batch(spark: SparkSession, settings: Settings) -> dict[str, int]:
    """Rebuild every window and gold table from the typed tables; row counts of each."""
    silver_job.ensure_tables(spark, settings)
    write_windows(spark, settings, None)
    counts = {
        f"silver.{t.name}": tables.read(spark, settings.lake_root, t).count()
        for t in catalog.windows()
    }
    return {**counts, **gold_job.run_batch(spark, settings)}
