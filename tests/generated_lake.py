"""A lake the real pipeline built, for tests that need silver and gold together.

Events come from the producer's own generator (``pipelines.sim.events.generate``, with its
injected moments) and go straight into ``bronze/events`` as the bronze job would have
written them: partition 0, offsets in send order, the Kafka timestamp at each record's
due time, one ingest time at the span's end. Then the silver and gold batch jobs run.
No broker: the Kafka leg has tests of its own (``test_pipeline_e2e.py``).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

from pyspark.sql import SparkSession

from pipelines.config import Settings
from pipelines.core.schemas import BRONZE_EVENTS
from pipelines.jobs import bronze_job, runner
from pipelines.jobs.spark import small_frame
from pipelines.sim.event_codec import from_ms
from pipelines.sim.events import generate

START = datetime(2026, 3, 1, 20, 0, tzinfo=timezone.utc)


def build_lake(
    spark: SparkSession,
    settings: Settings,
    channels: list[str],
    minutes: int,
    rate: float = 5.0,
    seed: int = 2,
) -> list[dict]:
    """Bronze, silver and gold under ``settings.lake_root``; returns the injected moments
    (the generator's ground-truth rows)."""
    end = START + timedelta(minutes=minutes)
    records = generate(channels, rate, START, end, seed)
    offsets: Counter = Counter()
    rows = []
    for rec in records:
        topic = settings.topic(rec.topic_type)
        rows.append(
            (rec.key, rec.value, topic, 0, offsets[topic], from_ms(rec.ts_ms), end, end.date())
        )
        offsets[topic] += 1
    bronze_job.ensure_table(spark, settings)
    small_frame(spark, rows, BRONZE_EVENTS).write.format("delta").mode("append").save(
        bronze_job.bronze_path(settings)
    )
    runner.run_batch(spark, settings, "silver")
    runner.run_batch(spark, settings, "gold")
    return records.truth_rows()
