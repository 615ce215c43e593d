"""What one set of bronze rows does to silver: shared by the hot path's foreachBatch (the
medallion query, the silver layer query) and the batch rebuild; only the sinks differ.

:func:`process_bronze` checks the rows once (``pipelines.transforms.silver.checked``, kept on
disk), judges lateness and dedupe and sums chat sentiment on narrow copies of them, joins
the results back with one shuffle of the wide rows
(``pipelines.transforms.silver.with_notes``), then appends the batch's 10-second panes
(``pipelines.transforms.silver_panes``) and then ``silver/events`` (the typed rows and the
quarantine rows). A rebuild writes ``silver/events`` first and makes the panes from it.
What a stream remembers between micro-batches (each stream's newest event time, the ids
accepted recently) is in the driver (``pipelines.jobs.silver_state``): a micro-batch reads
and rewrites no Delta table. Batch sinks overwrite and start from nothing. The sliding
windows and gold are the settle step's (``pipelines.jobs.settle_job``), off this path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from pipelines.jobs.silver_state import STORED_MAX_SCHEMA, SilverState, accepted
from pipelines.jobs.spark import small_frame
from pipelines.transforms.silver import (
    SilverParams,
    chat_valence,
    checked,
    to_events,
    verdicts,
    with_notes,
    with_silver_dedupe,
)
from pipelines.transforms.silver_panes import panes

KNOWN_SCHEMA = StructType(
    [StructField("event_type", StringType()), StructField("event_id", StringType())]
)


@dataclass(frozen=True)
class SilverJob:
    """Everything a silver run needs, built once per job (lexicon and rates included)."""

    params: SilverParams
    bronze_path: str
    events_path: str  # silver/events
    panes_path: str  # silver/panes
    rates_base: DataFrame  # (currency, rate_to_base)
    lexicon: DataFrame  # pipelines.jobs.lexicon.lexicon_df
    state: SilverState  # the stream's memory between micro-batches (unused by a rebuild)


@dataclass(frozen=True)
class SilverSinks:
    """How results land: ``incremental`` (stream: append, idempotent per batch id through
    Delta's txnAppId/txnVersion) or not (batch: every table overwritten)."""

    incremental: bool
    append: Callable[[DataFrame, str], None]
    batch_id: int | None


def _valid_rows(stage: DataFrame) -> pa.Table:
    """The rows that passed validation, as the state needs them (event time in µs)."""
    return (
        stage.filter(F.col("_valid"))
        .select(
            "event_type", "event_id", "stream_id", F.unix_micros("ts").alias("ts_us"),
            F.col("reason").isNull().alias("candidate"),
        )
        .toArrow()
    )  # fmt: skip


def process_bronze(
    spark: SparkSession, job: SilverJob, bronze: DataFrame, sinks: SilverSinks
) -> None:
    """Classify ``bronze`` and write the silver tables of the hot path."""
    state = job.state if sinks.incremental else None
    if state is not None and not state.loaded:
        first = bronze.agg(F.min("ingest_time")).first()[0]
        if first is None:
            return  # an empty micro-batch
        state.load(spark, job.events_path, first)
    stored = state.stored_max(spark) if state else small_frame(spark, [], STORED_MAX_SCHEMA)
    # On disk, not in the heap: a backfill's checked rows (raw bytes, parsed fields) are
    # wide, and caching 1M of them in memory ran a 2 GB driver out of heap. Read three
    # times: by lateness and dedupe and by the chat tokens (narrow columns), by the writes.
    stage = checked(bronze, job.params, job.rates_base).persist(StorageLevel.DISK_ONLY)
    events = found = valence = None
    try:
        # Late and duplicate rows, chat rows' sentiment: narrow. A stream reads them twice
        # (the state's valid rows, the writes), so it keeps them; a rebuild reads them once.
        found = verdicts(stage, stored, job.params.watermark_seconds)
        valence = chat_valence(stage, job.lexicon)
        if state is not None:
            found, valence = found.persist(), valence.persist()
        classified, valid, new = with_notes(stage, found, valence), None, None
        if state is not None:
            valid = _valid_rows(classified)
            known = state.known(valid.filter(valid.column("candidate")))
            new = accepted(valid, known)
            if known:
                known_rows = small_frame(spark, sorted(known), KNOWN_SCHEMA)
                classified = classified.transform(with_silver_dedupe, known_rows)
        events = to_events(classified)
        if not sinks.incremental:
            # A rebuild: write silver/events once, then make the panes from what it wrote
            # (narrow columns, read back) instead of keeping a copy of every row.
            sinks.append(events, job.events_path)
            written = spark.read.format("delta").load(job.events_path)
            sinks.append(panes(written, job.params.slide_seconds, None), job.panes_path)
            return
        events = events.persist(StorageLevel.DISK_ONLY)
        if events.count() == 0:
            return
        # Panes first, then silver/events: the settle step follows silver/events and
        # combines the panes of the windows its rows touch, so a micro-batch's panes must
        # be committed when its rows appear. (A replay skips whichever append committed.)
        if new is None or new.num_rows:  # panes of accepted events only
            sinks.append(panes(events, job.params.slide_seconds, sinks.batch_id), job.panes_path)
        sinks.append(events, job.events_path)
        if state is not None:
            state.advance(valid, new)
    except BaseException:
        if state is not None:
            state.reset()  # half a batch may have been applied: rebuild from the table
        raise
    finally:
        for frame in (events, found, valence):
            if frame is not None:
                frame.unpersist()
        stage.unpersist()
