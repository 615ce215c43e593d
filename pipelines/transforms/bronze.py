"""Bronze: every Kafka record, exactly as received, with its Kafka coordinates.

Transformations only; reading Kafka and writing Delta live in ``pipelines/jobs/bronze_job.py``.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.core.schemas import BRONZE_EVENTS


def with_bronze_columns(kafka_df: DataFrame) -> DataFrame:
    """Kafka source rows -> bronze rows: raw bytes kept, coordinates and ingest time added.

    ``current_timestamp()`` is fixed per micro-batch, so every row of one batch shares its
    ``ingest_time``; silver relies on that for its arrival order.
    """
    return kafka_df.select(
        F.col("key").cast("string").alias("key"),
        F.col("value"),
        F.col("topic"),
        F.col("partition").cast("int").alias("partition"),
        F.col("offset").cast("long").alias("offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        F.current_timestamp().alias("ingest_time"),
    ).select(
        *[F.col(name) for name in BRONZE_EVENTS.names if name != "ingest_date"],
        F.to_date(F.col("ingest_time")).alias("ingest_date"),
    )
