"""Runs one layer or all of them, streaming or batch, in one Spark application.

``telemetra run all`` starts the bronze, silver and gold streaming queries in a single
driver (one JVM on a 2-core machine). With ``availableNow`` the layers catch up one after
the other and the call returns; with a processing-time trigger it runs until stopped.
"""

from __future__ import annotations

import importlib
import logging
import re
import signal
import threading

from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from pipelines.config import Settings

log = logging.getLogger(__name__)

LAYERS = ("bronze", "silver", "gold")


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


def _job(layer: str):
    return importlib.import_module(f"pipelines.jobs.{layer}_job")


def layers_for(name: str) -> tuple[str, ...]:
    if name == "all":
        return LAYERS
    if name not in LAYERS:
        raise ValueError(f"layer must be one of bronze, silver, gold, all; got {name!r}")
    return (name,)


def run_batch(spark: SparkSession, settings: Settings, layer: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in layers_for(layer):
        log.info("batch %s", name)
        counts.update(_job(name).run_batch(spark, settings))
    return counts


def run_stream(spark: SparkSession, settings: Settings, layer: str, trigger: dict) -> None:
    """Start the layers' queries; block until they finish (availableNow) or one fails."""
    names = layers_for(layer)
    if trigger.get("availableNow"):
        # Catch up layer by layer so one call carries new Kafka records all the way to gold.
        for name in names:
            query = _start(spark, settings, name, trigger)
            _await(query)
            if _hit_spark_55271(query):
                query = _start(spark, settings, name, trigger)
                _await(query)
            _raise_if_failed(query)
        return
    queries = {name: _start(spark, settings, name, trigger) for name in names}
    stopping = _stop_on_sigterm()
    restarted: set[str] = set()
    try:
        while True:
            _await_any(spark, stopping)
            if stopping.is_set():
                log.info("SIGTERM: stopping %d queries", len(queries))
                break
            ended = [name for name, query in queries.items() if not query.isActive]
            again = [n for n in ended if n not in restarted and _hit_spark_55271(queries[n])]
            if not again or len(again) < len(ended):
                break
            spark.streams.resetTerminated()
            for name in again:
                restarted.add(name)
                queries[name] = _start(spark, settings, name, trigger)
    finally:
        for query in queries.values():
            if query.isActive:
                query.stop()
    for query in queries.values():
        _raise_if_failed(query)


def _start(spark: SparkSession, settings: Settings, name: str, trigger: dict) -> StreamingQuery:
    return _job(name).start_stream(spark, settings, trigger)


def _await(query: StreamingQuery) -> None:
    """Block until the query ends; a failure stays on ``query.exception()``."""
    try:
        query.awaitTermination()
    except StreamingQueryException:
        pass


def _await_any(spark: SparkSession, stopping: threading.Event) -> None:
    """Block until a query ends or SIGTERM arrives; a failure stays on ``query.exception()``.

    Waits in one-second slices so the signal handler never has to call into the JVM while
    this thread is inside a py4j call (that fails with a reentrant-read error)."""
    while not stopping.is_set():
        try:
            if spark.streams.awaitAnyTermination(timeout=1):
                return
        except StreamingQueryException:
            return


# SPARK-55271 (Spark 4.1.1): a Kafka query restarted with a planned but uncommitted batch (the
# driver died mid-batch) runs that batch, commits it, then fails in the progress report
# (KafkaMicroBatchStream.metrics on offsets it has not fetched yet). The checkpoint is
# consistent by then and the next start plans normally, so starting once more is safe.
_SPARK_55271 = 'because the return value of "scala.Option.get()" is null'


def _hit_spark_55271(query: StreamingQuery) -> bool:
    error = query.exception()
    if query.name != "bronze" or error is None or _SPARK_55271 not in _error_text(error):
        return False
    log.warning("bronze: restarting once after SPARK-55271 (Kafka source metrics on recovery)")
    return True


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
