"""The whole pipeline as one streaming query: Kafka -> bronze -> silver -> gold.

``telemetra run all`` (and ``spark-submit pipelines/medallion.py``) runs this query. Each
micro-batch of Kafka records goes through every layer before the next one starts:

1. bronze: the records, with their bronze columns, appended to ``bronze/events``;
2. silver: the same rows through :func:`~pipelines.jobs.silver_process.process_bronze`
   (the code the silver job runs on a micro-batch of the bronze stream);
3. gold: the streams and time ranges silver changed, through
   :func:`~pipelines.jobs.gold_job.upsert_changes` (the code the gold job runs on silver's
   change feed).

Why one query and not the three layer queries chained through Delta: on a small machine
every Delta stream source and every trigger adds seconds of latency, and three queries
compete for two cores. One query pays one trigger, reads Kafka once, and a batch that
takes longer simply takes in more records next time.

Exactly once: every append (bronze, quarantine, the typed silver tables) carries txnAppId
``telemetra-medallion-<query id>`` and txnVersion (the batch id). A batch replayed after a
crash reads the same Kafka offsets with the same ``ingest_time`` (Spark keeps the batch
timestamp in its offset log), so the appends it already made are skipped and the rest are
made with the same rows; the windows, watermarks and gold tables are recomputed from the
tables and overwritten with the same rows.

The layer queries (``telemetra run bronze|silver|gold``) keep their own checkpoints; a lake
is fed by this query or by them, never both (``pipelines.jobs.runner`` refuses to mix).
"""

from __future__ import annotations

import functools

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from pipelines import crash_points, kafka_local
from pipelines.bronze import with_bronze_columns
from pipelines.config import Settings
from pipelines.jobs import bronze_job, gold_job, silver_job
from pipelines.jobs.silver_process import SilverJob, process_bronze

QUERY_NAME = "medallion"


def start_stream(spark: SparkSession, settings: Settings, trigger: dict) -> StreamingQuery:
    """Kafka through every layer; checkpoint ``settings.checkpoint_path("medallion")``."""
    crash_points.arm(settings.test_kill_after_commit)
    silver_job.ensure_tables(spark, settings)  # bronze's table too
    gold_job.ensure_gold_tables(spark, settings)
    job = silver_job.build_job(spark, settings)
    # `telemetra up` starts the pipeline before the broker, so the JVM and the tables are
    # ready by the time Kafka answers.
    kafka_local.wait_until_ready(settings)
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
    """foreachBatch: one micro-batch of bronze rows through bronze, silver and gold."""
    spark = batch_df.sparkSession
    query_id = spark.sparkContext.getLocalProperty("sql.streaming.queryId")
    app_id = f"telemetra-{QUERY_NAME}-{query_id}"
    # Read from Kafka once: bronze's write and silver's classification both use the rows.
    rows = batch_df.persist(StorageLevel.DISK_ONLY)
    crash_points.begin_batch(batch_id)
    try:
        sinks = silver_job.stream_sinks(app_id, batch_id)
        sinks.append(rows, bronze_job.bronze_path(settings))
        changed = process_bronze(spark, job, rows, sinks)
    finally:
        rows.unpersist()
    gold_job.upsert_changes(spark, settings, changed)
    crash_points.end_batch()
