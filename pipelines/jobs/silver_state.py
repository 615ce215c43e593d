"""What a silver stream remembers between micro-batches, kept in the driver.

Two things decide a row's fate beyond the row itself (``pipelines.transforms.silver``):

- **lateness**: each stream's newest event time among the valid events that arrived
  before (``max_us``);
- **dedupe**: the (event_type, event_id) of the events silver already accepted (``seen``).

Both used to be Delta reads every micro-batch (and the maxima a table rewritten every
micro-batch). Here they are a dict each, kept in the driver and updated after a batch's
writes have all committed. ``seen`` keeps an id while its event time is within
``watermark_seconds`` of its stream's maximum (up to a quarter more: eviction runs when
a maximum has moved that far): a copy of an older event is late anyway unless it carries
a different ts, and a batch rebuild, which sees every row at once, would still call such
a copy a duplicate (the one way stream and batch can differ; see the README).

A query's first micro-batch (and the first after a failed one) rebuilds the state from
``silver/events``: the rows of earlier micro-batches, that is rows ingested before this
batch's first ``ingest_time`` (Spark keeps a batch's timestamp in its offset log, so a
replay has the same one and does not see its own half-written rows as history).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType, TimestampType

from pipelines.jobs.spark import small_frame

STORED_MAX_SCHEMA = StructType(
    [StructField("stream_id", StringType()), StructField("max_event_ts", TimestampType())]
)
# Quarantined rows that passed validation: their ts counts for their stream's maximum.
VALID_REASONS = ("late", "duplicate")


class SilverState:
    """Per stream the newest valid event time, and the ids accepted within the watermark."""

    def __init__(self, watermark_seconds: int) -> None:
        self.horizon_us = watermark_seconds * 1_000_000
        self.loaded = False
        self.max_us: dict[str, int] = {}
        self.seen: dict[tuple[str, str], tuple[str, int]] = {}  # (type, id) -> (stream, ts)
        self._evicted_at: dict[str, int] = {}  # stream -> its max at the last eviction

    def reset(self) -> None:
        """Forget everything: the next micro-batch rebuilds from the table."""
        self.__init__(self.horizon_us // 1_000_000)

    def load(self, spark: SparkSession, events_path: str, before: dt.datetime) -> None:
        """Rebuild from the ``silver/events`` rows ingested before ``before``."""
        self.reset()
        events = spark.read.format("delta").load(events_path)
        events = events.filter(F.col("ingest_time") < F.lit(before))
        valid = (F.col("kind") != "quarantine") | F.col("reason").isin(*VALID_REASONS)
        maxima = (
            events.filter(valid & F.col("ts").isNotNull())
            .groupBy("stream_id")
            .agg(F.unix_micros(F.max("ts")).alias("max_us"))
        )
        self.max_us = {r["stream_id"]: r["max_us"] for r in maxima.collect()}
        if self.max_us:
            recent = (
                events.filter(F.col("kind") != "quarantine")
                .join(F.broadcast(maxima), on="stream_id", how="inner")
                .filter(F.unix_micros("ts") >= F.col("max_us") - self.horizon_us)
                .select(
                    F.col("kind").alias("event_type"), "event_id", "stream_id",
                    F.unix_micros("ts").alias("ts_us"),
                )
            )  # fmt: skip
            self._remember(recent.toArrow())
        self._evicted_at = dict(self.max_us)
        self.loaded = True

    def stored_max(self, spark: SparkSession) -> DataFrame:
        """(stream_id, max_event_ts) before the coming micro-batch, for ``classify``."""
        return small_frame(spark, list(self.max_us.items()), STORED_MAX_SCHEMA)  # µs ints

    def known(self, candidates: pa.Table) -> set[tuple[str, str]]:
        """(event_type, event_id) of the candidates silver already accepted."""
        return {k for k in _keys(candidates) if k in self.seen}

    def advance(self, valid: pa.Table, accepted: pa.Table) -> None:
        """After a batch committed: its valid rows move the maxima, its accepted rows join
        ``seen``; ids that fell behind their stream's watermark are let go."""
        for stream_id, ts_us in zip(
            valid.column("stream_id").to_pylist(), valid.column("ts_us").to_pylist(), strict=True
        ):
            if ts_us > self.max_us.get(stream_id, ts_us - 1):
                self.max_us[stream_id] = ts_us
            self._evicted_at.setdefault(stream_id, ts_us)
        self._remember(accepted)
        moved = [
            s for s, us in self.max_us.items()
            if us - self._evicted_at.get(s, us) > self.horizon_us // 4
        ]  # fmt: skip
        if moved:
            self.seen = {
                key: (s, ts) for key, (s, ts) in self.seen.items()
                if ts >= self.max_us[s] - self.horizon_us
            }  # fmt: skip
            self._evicted_at.update({s: self.max_us[s] for s in moved})

    def _remember(self, rows: pa.Table) -> None:
        columns = [rows.column(c).to_pylist() for c in ("event_type", "event_id", "stream_id")]
        for event_type, event_id, stream_id, ts_us in zip(
            *columns, rows.column("ts_us").to_pylist(), strict=True
        ):
            self.seen[(event_type, event_id)] = (stream_id, ts_us)


def _keys(rows: pa.Table) -> zip:
    """(event_type, event_id) of each row."""
    return zip(
        rows.column("event_type").to_pylist(), rows.column("event_id").to_pylist(), strict=True
    )


def accepted(valid: pa.Table, known: set[tuple[str, str]]) -> pa.Table:
    """The candidates of ``valid`` (rows still accepted after lateness and the batch's own
    dedupe) that are not copies of ``known`` events."""
    candidates = valid.filter(valid.column("candidate"))
    if not known:
        return candidates
    return candidates.filter(pa.array([k not in known for k in _keys(candidates)], pa.bool_()))
