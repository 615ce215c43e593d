"""Runs one layer or all of them, streaming or batch, in one Spark application.

Streaming, ``telemetra run all`` starts the hot query, which carries each micro-batch of
Kafka records into bronze and silver's rows and panes (``pipelines.jobs.medallion_job``),
and, once its first batch is done, beside it the settle query, which follows silver's
typed tables into the windows and gold on its own cadence (``pipelines.jobs.settle_job``).
``run hot`` starts the hot query alone, ``run gold`` the settle query alone (each in a
process of its own, say). ``run bronze`` and ``run silver`` start that layer's own query,
which follows the layer below (Kafka, bronze's Delta log). Kafka reaches silver one way
or the other: each keeps its own position, so this module refuses to start one where the
other ran. With ``availableNow`` the call returns once caught up; with a processing-time
trigger it runs until stopped. Batch, ``run all`` rebuilds the layers one after the other
(``run hot``: bronze and silver).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import signal
import sys
import threading
import time
from collections.abc import Callable

from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery, StreamingQueryListener

from pipelines.config import Settings
from pipelines.jobs import bronze_job, crash_points, medallion_job, settle_job, silver_job
from pipelines.jobs.spark import hadoop_path, session_conf

log = logging.getLogger(__name__)

LAYERS = ("bronze", "silver", "gold")
HOT = "hot"  # the hot query alone: Kafka to bronze, silver's rows and panes


def parse_trigger(trigger: str | None, settings: Settings) -> dict:
    """'availableNow' | 'processing:10s' | None (config default) -> trigger(...) kwargs."""
    if trigger is None:
        return {"processingTime": f"{settings.spark_trigger_seconds} seconds"}
    if trigger == "availableNow":
        return {"availableNow": True}
    match = re.fullmatch(r"processing:(\d+)(ms|s|m)?", trigger)
    if not match:
        raise ValueError(f"--trigger must be availableNow or processing:<N>s, got {trigger!r}")
    unit = {"ms": "milliseconds", "s": "seconds", "m": "minutes", None: "seconds"}[match.group(2)]
    return {"processingTime": f"{match.group(1)} {unit}"}


# Streaming `run all` starts the settle query once the hot one's first batch is done, or
# after this long (a stream with nothing to read yet).
BESIDE_AFTER_S = 60
MEDALLION = "medallion"  # the hot query of `run all`: pipelines.jobs.medallion_job
SETTLE = "settle"  # windows and gold, in both ways of running: pipelines.jobs.settle_job
_JOBS = {"bronze": bronze_job, "silver": silver_job, "gold": settle_job,
         MEDALLION: medallion_job, SETTLE: settle_job}  # fmt: skip
_KAFKA_QUERIES = ("bronze", MEDALLION)


def layers_for(name: str) -> tuple[str, ...]:
    """The layers ``name`` covers: a layer, ``hot`` (bronze and silver) or ``all``."""
    if name == "all":
        return LAYERS
    if name == HOT:
        return LAYERS[:2]
    if name not in LAYERS:
        raise ValueError(f"layer must be one of bronze, silver, gold, hot, all; got {name!r}")
    return (name,)


def queries_for(layer: str) -> tuple[str, ...]:
    """The streaming queries of ``layer``, the one to watch first."""
    if layer == "all":
        return (MEDALLION, SETTLE)
    if layer == HOT:
        return (MEDALLION,)
    return (SETTLE,) if layer == "gold" else layers_for(layer)


def run_batch(
    spark: SparkSession,
    settings: Settings,
    layer: str,
    before: Callable[[SparkSession, Settings, str], None] | None = None,
) -> dict[str, int]:
    """Rebuild the layers of ``layer`` one after the other; ``before(spark, settings, name)``
    runs before each (the quality gate: ``pipelines.quality.quality_job``)."""
    counts: dict[str, int] = {}
    with session_conf(spark, rebuild_conf(spark, settings)):
        for name in layers_for(layer):
            if before is not None:
                before(spark, settings, name)
            log.info("batch %s", name)
            counts.update(_JOBS[name].run_batch(spark, settings))
    return counts


# A rebuild's shuffles are sized by the data, ~16 MB of bronze files a partition (adaptive
# execution merges the small ones): the 4 partitions a stream's micro-batches want held
# 2.5M rows each in a 10M-event rebuild.
REBUILD_BYTES_PER_PARTITION = 16 * 2**20


def rebuild_conf(spark: SparkSession, settings: Settings) -> dict[str, str]:
    """Session settings for a batch rebuild: shuffles sized by the data; a write task
    keeps one file open per table partition (silver/events has five kinds) instead of
    sorting its rows by partition first; no auto compaction after each write (it rewrote
    the small kinds' files at once, 10 s of a 1M rebuild: ``telemetra maintain`` does it)."""
    return {
        "spark.sql.shuffle.partitions": str(rebuild_partitions(spark, settings)),
        "spark.sql.maxConcurrentOutputFileWriters": "8",
        "spark.databricks.delta.autoCompact.enabled": "false",
    }


def rebuild_partitions(spark: SparkSession, settings: Settings) -> int:
    """Shuffle partitions for a batch rebuild of the lake's bronze."""
    path = bronze_job.bronze_path(settings)
    fs, folder = hadoop_path(spark, path + "/_delta_log")
    if not fs.exists(folder):
        return settings.spark_shuffle_partitions
    size = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()["sizeInBytes"] or 0
    return max(settings.spark_shuffle_partitions, -(-size // REBUILD_BYTES_PER_PARTITION))


# Streaming runs without generated code. A micro-batch plans a few dozen small queries whose
# filters hold that batch's time bounds as literals, and Spark writes literals into the
# generated Java source, so every batch compiled new classes for most of its stages (a JVM
# profile put code generation at 42% of the driver's CPU). Interpreted expressions (Spark
# then skips whole-stage code generation too) took 2,000 events/s micro-batches from
# 33-36 s to 23-28 s; whole-stage code generation off alone, where each operator compiles
# its own expressions instead, made them slower (35-37 s); bench/HISTORY.md has the runs.
# A batch rebuild plans each query once and keeps code generation. ``spark_conf`` can
# override.
STREAMING_SQL_CONF = {"spark.sql.codegen.factoryMode": "NO_CODEGEN"}


def streaming_session(spark: SparkSession, settings: Settings) -> SparkSession:
    """A session of ``spark``'s application for the streaming query, with
    :data:`STREAMING_SQL_CONF` (a batch run in the same application keeps its own conf)."""
    session = spark.newSession()
    for key, value in STREAMING_SQL_CONF.items():
        session.conf.set(key, settings.spark_conf.get(key, value))
    return session


def run_stream(spark: SparkSession, settings: Settings, layer: str, trigger: dict) -> None:
    """Start the queries of ``layer`` (``all``: the hot medallion query and the settle
    query; else the layer's) in a :func:`streaming_session`; block until caught up
    (availableNow: one query after the other, so settling sees everything the hot path
    wrote), stopped (SIGTERM) or failed."""
    crash_points.arm(settings.test_kill_after_commit)  # off unless a crash test sets it
    spark = streaming_session(spark, settings)
    names = queries_for(layer)
    for name in names:
        _refuse_mixed_feeds(spark, settings, name)
    listener = BatchLog(bar=bool(trigger.get("availableNow")) and sys.stderr.isatty())
    spark.streams.addListener(listener)
    stopping = None if trigger.get("availableNow") else _stop_on_sigterm()
    try:
        if trigger.get("availableNow"):
            for name in names:
                _run_query(spark, settings, name, trigger, stopping, beside=[])
            return
        beside: list[StreamingQuery] = []

        def start_beside() -> None:
            if not beside:
                beside.extend(_start(spark, settings, name, trigger) for name in names[1:])

        try:
            _run_query(spark, settings, names[0], trigger, stopping, beside, start_beside)
        finally:
            for query in beside:
                if query.isActive:
                    query.stop()
        for query in beside:
            _raise_if_failed(query)
    finally:
        spark.streams.removeListener(listener)


def _run_query(
    spark: SparkSession,
    settings: Settings,
    name: str,
    trigger: dict,
    stopping: threading.Event | None,
    beside: list[StreamingQuery],
    start_beside: Callable[[], None] | None = None,
) -> None:
    """Run query ``name`` until it ends, ``stopping`` is set or a query ``beside`` it ends;
    finish first the batch a crash interrupted, quietly (SPARK-55271 below).
    ``start_beside`` starts the queries beside it once its first batch is done."""
    pending = _pending_batch(spark, settings, name)
    if pending is not None:
        log.info("%s: finishing batch %d, which a crash interrupted", name, pending)
    quiet = contextlib.nullcontext() if pending is None else _quiet_stream_errors(spark)
    with quiet:
        query = _start(spark, settings, name, trigger)
        _wait(query, stopping, beside, start_beside)
    error = _error_text(query.exception()) if query.exception() else ""
    if pending is not None and error and _SPARK_55271 not in error:
        log.error("%s failed finishing batch %d:\n%s", name, pending, error)
    if _hit_spark_55271(query):
        query = _start(spark, settings, name, trigger)
        _wait(query, stopping, beside, start_beside)
    _raise_if_failed(query)


def _wait(
    query: StreamingQuery,
    stopping: threading.Event | None,
    beside: list[StreamingQuery],
    start_beside: Callable[[], None] | None = None,
) -> None:
    """Block until the query ends (a failure stays on ``query.exception()``), a query
    ``beside`` it ends, or, when ``stopping`` is given, until it is set (SIGTERM); then
    stop the query cleanly. ``start_beside`` is called once the query's first batch is
    done (or after :data:`BESIDE_AFTER_S`): a cold JVM's first batch is the slowest, and
    what the Live page waits for after ``telemetra up``; the settle query would only
    compete with it for the two cores.

    Waits in one-second slices so the signal handler never has to call into the JVM while
    this thread is inside a py4j call (that fails with a reentrant-read error)."""
    started = time.monotonic()
    try:
        while query.isActive and not (stopping and stopping.is_set()):
            if start_beside is not None and (
                query.lastProgress is not None or time.monotonic() - started > BESIDE_AFTER_S
            ):
                start_beside()
                start_beside = None
            if not all(other.isActive for other in beside):
                break
            try:
                query.awaitTermination(timeout=1)
            except StreamingQueryException:
                return
        if stopping and stopping.is_set():
            log.info("SIGTERM: stopping %s", query.name)
    finally:
        if query.isActive:
            query.stop()


class BatchLog(StreamingQueryListener):
    """One log line per micro-batch that read rows: the query, its rows, how long the batch
    took, its rate and how many records waited in Kafka beyond it when it was planned (so
    the pipeline log shows where streaming time goes and how a backlog drains). With
    ``bar`` (``availableNow`` on a terminal) a progress bar over the backlog as well."""

    def __init__(self, bar: bool = False) -> None:
        super().__init__()
        self._bar = None
        if bar:
            from rich.progress import Progress

            self._bar = Progress(transient=True)
            self._task = self._bar.add_task("catching up", total=None)
            self._done = 0

    def onQueryStarted(self, event) -> None:
        log.info("query %s started (run %s)", event.name, event.runId)
        if self._bar is not None:
            self._bar.start()

    def onQueryProgress(self, event) -> None:
        progress = event.progress
        if not progress.numInputRows:
            return
        seconds = progress.batchDuration / 1000
        lag = kafka_lag(progress.sources)
        behind = "" if lag is None else f"; {lag:,} more were waiting in Kafka"
        # Where the time went beyond the batch's own writes (foreachBatch is addBatch).
        parts = {k: v for k, v in (progress.durationMs or {}).items() if v >= 100}
        split = ", ".join(f"{k} {v / 1000:.1f} s" for k, v in sorted(parts.items()))
        log.info(
            "%s batch %d: %s rows in %.1f s (%s rows/s)%s [%s]",
            progress.name,
            progress.batchId,
            f"{progress.numInputRows:,}",
            seconds,
            f"{progress.numInputRows / max(seconds, 0.001):,.0f}",
            behind,
            split,
        )
        if self._bar is not None:
            self._done += progress.numInputRows
            total = None if lag is None else self._done + lag
            self._bar.update(self._task, completed=self._done, total=total)

    def onQueryIdle(self, event) -> None:
        pass

    def onQueryTerminated(self, event) -> None:
        if self._bar is not None:
            self._bar.stop()


def kafka_lag(sources) -> int | None:
    """Records the Kafka sources of a batch had not reached yet (latest minus end offsets,
    summed over partitions); None when no source is Kafka."""
    lag, seen = 0, False
    for source in sources:
        if not source.description.startswith("Kafka"):
            continue
        seen = True
        end = json.loads(source.endOffset or "{}")
        latest = json.loads(source.latestOffset or "{}")
        for topic, partitions in latest.items():
            for partition, offset in partitions.items():
                lag += max(0, offset - end.get(topic, {}).get(partition, offset))
    return lag if seen else None


def _refuse_mixed_feeds(spark: SparkSession, settings: Settings, name: str) -> None:
    """Fail when the lake's checkpoints show it is fed the other way (medallion query vs
    layer queries): the new query would read Kafka (or bronze) from its own start and write
    records the lake already holds a second time."""
    if name not in (*_KAFKA_QUERIES, "silver"):
        return  # the settle query reads silver whichever way silver is fed
    others = ("bronze", "silver") if name == MEDALLION else (MEDALLION,)
    found = []
    for other in others:
        fs, path = hadoop_path(spark, settings.checkpoint_path(other))
        if fs.exists(path):
            found.append(other)
    if found:
        ran = "`run all`" if found == [MEDALLION] else "`run " + "`, `run ".join(found) + "`"
        raise RuntimeError(
            f"this lake is fed by {ran} (see {settings.checkpoint_path('')}): starting "
            f"{name} as well would write its records twice; keep running it "
            "the way it was started, or use a new lake_root"
        )


def _start(spark: SparkSession, settings: Settings, name: str, trigger: dict) -> StreamingQuery:
    return _JOBS[name].start_stream(spark, settings, trigger)


# SPARK-55271 (Spark 4.1.1): a Kafka query restarted with a planned but uncommitted batch (the
# driver died mid-batch) runs that batch, commits it, then fails in the progress report
# (KafkaMicroBatchStream.metrics on offsets it has not fetched yet). The checkpoint is
# consistent by then and the next start plans normally, so starting once more is safe.
_SPARK_55271 = 'because the return value of "scala.Option.get()" is null'


def _hit_spark_55271(query: StreamingQuery) -> bool:
    error = query.exception()
    if query.name not in _KAFKA_QUERIES or error is None:
        return False
    if _SPARK_55271 not in _error_text(error):
        return False
    log.info("%s: recovered batch committed; starting again (SPARK-55271)", query.name)
    return True


def _pending_batch(spark: SparkSession, settings: Settings, name: str) -> int | None:
    """The batch a crashed run of a Kafka query planned and did not commit (its offsets
    are logged, its commit is not), or None."""
    if name not in _KAFKA_QUERIES:
        return None
    root = settings.checkpoint_path(name)
    fs, offsets = hadoop_path(spark, root + "/offsets")
    _, commits = hadoop_path(spark, root + "/commits")

    def newest(path) -> int:
        if not fs.exists(path):
            return -1
        names = [status.getPath().getName() for status in fs.listStatus(path)]
        return max((int(n) for n in names if n.isdigit()), default=-1)

    planned = newest(offsets)
    return planned if planned > newest(commits) else None


# Spark logs a query's failure with its whole stack trace (hundreds of lines) before the
# Python side sees it. Recovering a crashed Kafka query fails once by design (SPARK-55271),
# so for that start the trace is held back; any other failure is still logged in full below.
_STREAM_LOGGERS = (
    "org.apache.spark.sql.execution.streaming.runtime.MicroBatchExecution",
    "org.apache.spark.sql.execution.streaming.runtime.StreamExecution",
)


@contextlib.contextmanager
def _quiet_stream_errors(spark: SparkSession):
    jvm = spark.sparkContext._jvm
    configurator = jvm.org.apache.logging.log4j.core.config.Configurator
    manager = jvm.org.apache.logging.log4j.LogManager
    before = {name: manager.getLogger(name).getLevel() for name in _STREAM_LOGGERS}
    for name in _STREAM_LOGGERS:
        configurator.setLevel(name, jvm.org.apache.logging.log4j.Level.OFF)
    try:
        yield
    finally:
        for name, level in before.items():
            configurator.setLevel(name, level)


# Spark's Kafka source names these failures (error class KAFKA_DATA_LOSS.*) and suggests
# a source option the user cannot set; say what happened and which flag to use instead.
_DATA_LOSS_MARKS = ("KAFKA_DATA_LOSS", "Some data may have been lost")


def _error_text(error: Exception | None) -> str:
    """The message and its causes: Spark often wraps the reason ("Exception thrown in
    awaitResult") and keeps it only in the cause chain (PySpark's captured ``_cause``)."""
    parts = []
    while error is not None and len(parts) < 20:
        parts += [str(error), str(getattr(error, "_stackTrace", "") or "")]
        error = getattr(error, "_cause", None) or error.__cause__
    return "\n".join(parts)


def _raise_if_failed(query) -> None:
    error = query.exception()
    if error is None:
        return
    if any(mark in _error_text(error) for mark in _DATA_LOSS_MARKS):
        raise RuntimeError(
            f"streaming query {query.name} failed: Kafka no longer holds records the checkpoint "
            "has not read yet (aged out by retention, or the topic was recreated); run again "
            "with --allow-data-loss to skip them (Spark logs each gap; bronze's offsets show it)"
        )
    raise RuntimeError(f"streaming query {query.name} failed: {error}")


def _stop_on_sigterm() -> threading.Event:
    """Supervisor stops us with SIGTERM: the handler only sets the returned event; the wait
    loop sees it and stops the queries cleanly, so checkpoints stay consistent."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    return stopping
