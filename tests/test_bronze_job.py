"""Bronze against the real broker: every record lands once, bytes untouched, reruns add nothing."""

from __future__ import annotations

import pytest
from kafka import KafkaProducer

from pipelines.jobs import bronze_job

pytestmark = pytest.mark.integration

RECORDS = [
    ("chat", b"demo", b'{"event_type":"chat","event_id":"a1"}'),
    ("viewer", b"demo", b'{"event_type":"viewer","viewer_count":-5}'),
    ("transaction", b"demo", b"{not json"),
    ("stream_meta", None, b"\xff\xfe not utf-8 \x80"),
    ("chat", b"demo", b""),
]


def _send(settings, records) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    for event_type, key, value in records:
        producer.send(settings.topic(event_type), key=key, value=value)
    producer.flush()
    producer.close()


def test_stream_lands_every_record_exactly_once_with_raw_bytes(spark, kafka_settings):
    _send(kafka_settings, RECORDS)
    query = bronze_job.start_stream(spark, kafka_settings, {"availableNow": True})
    query.awaitTermination()
    assert query.exception() is None

    bronze = spark.read.format("delta").load(bronze_job.bronze_path(kafka_settings))
    rows = bronze.collect()
    assert len(rows) == len(RECORDS)
    landed = sorted((r.topic, bytes(r.value)) for r in rows)
    expected = sorted((kafka_settings.topic(t), v) for t, _, v in RECORDS)
    assert landed == expected
    assert all(r.ingest_date == r.ingest_time.date() for r in rows)
    assert {r.key for r in rows} == {"demo", None}
    # Kafka coordinates are unique: nothing doubled.
    assert bronze.select("topic", "partition", "offset").distinct().count() == len(RECORDS)

    # A second catch-up with nothing new adds nothing; new records are appended once.
    _send(kafka_settings, RECORDS[:2])
    for _ in range(2):
        again = bronze_job.start_stream(spark, kafka_settings, {"availableNow": True})
        again.awaitTermination()
    assert spark.read.format("delta").load(bronze_job.bronze_path(kafka_settings)).count() == 7


def test_batch_mode_inserts_only_what_bronze_lacks(spark, kafka_settings):
    _send(kafka_settings, RECORDS)
    first = bronze_job.run_batch(spark, kafka_settings)
    second = bronze_job.run_batch(spark, kafka_settings)
    assert first == {"bronze.events": 5, "inserted": 5}
    assert second == {"bronze.events": 5, "inserted": 0}
