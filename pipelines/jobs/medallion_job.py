"""The hot path as one streaming query: Kafka -> bronze -> silver rows and panes.

``telemetra run all`` (and ``spark-submit pipelines/jobs/submit.py all``) runs this query and,
beside it, the settle query (``pipelines.jobs.settle_job``). Each micro-batch of Kafka
records goes, before the next one starts:

1. to bronze: the records, with their bronze columns, appended to ``bronze/events``;
2. through silver: the same rows through :func:`~pipelines.jobs.silver_process.process_bronze`
   (the code the silver layer query runs on the bronze stream): the batch's 10-second
   panes, then ``silver/events`` (the typed rows and quarantine).

Three appends (bronze beside the two silver ones) and no Delta read: what silver remembers
between batches (lateness, dedupe) is in the driver (``pipelines.jobs.silver_state``).

That is all the Live page needs (it combines the panes into windows); the sliding window
tables and gold are the settle query's, which follows the typed tables on its own cadence
and never holds this query up.

Exactly once: every append carries txnAppId ``telemetra-medallion-<query id>`` and
txnVersion (the batch id). A batch replayed after a crash reads the same Kafka offsets
with the same ``ingest_time`` (Spark keeps the batch timestamp in its offset log), so the
appends it already made are skipped and the rest are made with the same rows.

The layer queries (``telemetra run bronze|silver``) keep their own checkpoints; a lake is
fed by this query or by them, never both (``pipelines.jobs.runner`` refuses to mix).
"""

from __future__ import annotations

import functools

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from pipelines.config import Settings
from pipelines.jobs import bronze_job, crash_points, kafka_ready, silver_job
from pipelines.jobs.silver_process import SilverJob, process_bronze
from pipelines.jobs.spark import in_parallel, use_codegen_for, use_pool
from pipelines.transforms.bronze import with_bronze_columns

QUERY_NAME = "medallion"


def start_stream(spark: SparkSession, settings: Settings, trigger: dict) -> StreamingQuery:
    """Kafka through every layer; checkpoint ``settings.checkpoint_path("medallion")``."""
    silver_job.ensure_tables(spark, settings)  # bronze's table too
    job = silver_job.build_job(spark, settings)
    # `telemetra up` starts the pipeline before the broker, so the JVM and the tables are
    # ready by the time Kafka answers.
    kafka_ready.wait_until_ready(settings)
    return (
        bronze_job.read_kafka_stream(spark, settings)
        .transform(with_bronze_columns)
        .writeStream.foreachBatch(functools.partial(process_batch, job=job, settings=settings))
        .option("checkpointLocation", settings.checkpoint_path(QUERY_NAME))
        .queryName(QUERY_NAME)
        .trigger(**trigger)
        .start()
    )


def process_batch(batch_df: DataFrame, batch_id: int, job: SilverJob, settings: Settings) -> None:
    """foreachBatch: one micro-batch of Kafka records into bronze and silver."""
    spark = batch_df.sparkSession
    use_pool(spark, "hot")
    query_id = spark.sparkContext.getLocalProperty("sql.streaming.queryId")
    app_id = f"telemetra-{QUERY_NAME}-{query_id}"
    # Read from Kafka once: bronze's write and silver's classification both use the rows.
    # In as many partitions as the application has cores, not one per Kafka partition: every
    # stage over the rows runs a task per partition, and each task deserializes the stage's
    # plan; a demo batch of 50 records in 10 partitions spent more time on that than on the
    # records.
    cores = spark.sparkContext.defaultParallelism
    rows = batch_df.coalesce(cores).persist(StorageLevel.DISK_ONLY)
    crash_points.begin_batch(QUERY_NAME, batch_id)
    try:
        use_codegen_for(spark, rows.count(), settings)  # the count reads Kafka, once
        sinks = silver_job.stream_sinks(app_id, batch_id)
        # Bronze's append and silver's work are independent (each append is skipped on a
        # replay that finds it made): side by side, bronze costs the batch no time.
        steps = [
            lambda: sinks.append(rows, bronze_job.bronze_path(settings)),
            lambda: process_bronze(spark, job, rows, sinks),
        ]
        in_parallel(spark, lambda step: step(), steps, len(steps))
    finally:
        rows.unpersist()
    crash_points.end_batch(QUERY_NAME)
