"""Bronze job: Kafka -> ``bronze/events`` (append-only Delta, partitioned by ingest date).

Streaming is exactly-once through the Delta sink and its checkpoint. The batch mode reads
every offset Kafka still holds and inserts the records bronze does not have yet (keyed by
topic, partition, offset), so a rerun changes nothing.
"""

from __future__ import annotations

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from pipelines.config import Settings
from pipelines.core import catalog
from pipelines.jobs import kafka_ready, tables
from pipelines.transforms.bronze import with_bronze_columns

TABLE = catalog.table("bronze", "events")


def bronze_path(settings: Settings) -> str:
    return TABLE.path(settings.lake_root)


def ensure_table(spark: SparkSession, settings: Settings) -> None:
    tables.ensure(spark, settings.lake_root, TABLE, **{"delta.appendOnly": "true"})


def _kafka_options(settings: Settings) -> dict[str, str]:
    return {
        "kafka.bootstrap.servers": settings.kafka_bootstrap_servers,
        "subscribe": ",".join(settings.topics),
        "startingOffsets": settings.kafka_starting_offsets,
        "failOnDataLoss": str(settings.kafka_fail_on_data_loss).lower(),
    }


def read_kafka_stream(spark: SparkSession, settings: Settings) -> DataFrame:
    return (
        spark.readStream.format("kafka")
        .options(**_kafka_options(settings))
        .option("maxOffsetsPerTrigger", settings.kafka_max_offsets_per_trigger)
        .load()
    )


def start_stream(spark: SparkSession, settings: Settings, trigger: dict) -> StreamingQuery:
    ensure_table(spark, settings)
    kafka_ready.wait_until_ready(settings)
    return (
        read_kafka_stream(spark, settings)
        .transform(with_bronze_columns)
        .writeStream.format("delta")
        .outputMode("append")
        .option("checkpointLocation", settings.checkpoint_path("bronze"))
        .queryName("bronze")
        .trigger(**trigger)
        .start(bronze_path(settings))
    )


def run_batch(spark: SparkSession, settings: Settings) -> dict[str, int]:
    """Insert every record Kafka still holds that bronze lacks; returns counts."""
    kafka_ready.wait_until_ready(settings, at_most_s=30)
    ensure_table(spark, settings)
    options = _kafka_options(settings) | {"startingOffsets": "earliest", "endingOffsets": "latest"}
    records = spark.read.format("kafka").options(**options).load().transform(with_bronze_columns)
    target = DeltaTable.forPath(spark, bronze_path(settings))
    before = target.toDF().count()
    (
        target.alias("t")
        .merge(
            records.alias("s"),
            "t.topic = s.topic AND t.partition = s.partition AND t.offset = s.offset",
        )
        .whenNotMatchedInsertAll()
        .execute()
    )
    after = spark.read.format("delta").load(bronze_path(settings)).count()
    return {"bronze.events": after, "inserted": after - before}
