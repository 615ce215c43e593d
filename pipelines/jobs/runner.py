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

from pyspark.sql import SparkSession

from pipelines.config import Settings

log = logging.getLogger(__name__)

LAYERS = ("bronze", "silver", "gold")


def parse_trigger(trigger: str | None, settings: Settings) -> dict:
    """'availableNow' | 'processing:10s' | None (config default) -> DataStreamWriter.trigger kwargs."""
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
            query = _job(name).start_stream(spark, settings, trigger)
            query.awaitTermination()
            _raise_if_failed(query)
        return
    queries = [_job(name).start_stream(spark, settings, trigger) for name in names]
    _stop_on_sigterm(queries)
    try:
        spark.streams.awaitAnyTermination()
    finally:
        for query in queries:
            if query.isActive:
                query.stop()
    for query in queries:
        _raise_if_failed(query)


def _raise_if_failed(query) -> None:
    error = query.exception()
    if error is not None:
        raise RuntimeError(f"streaming query {query.name} failed: {error}")


def _stop_on_sigterm(queries) -> None:
    """Supervisor stops us with SIGTERM: stop the queries cleanly so checkpoints are consistent."""

    def handler(signum, frame):
        log.info("signal %s: stopping %d queries", signum, len(queries))
        for query in queries:
            query.stop()

    signal.signal(signal.SIGTERM, handler)
