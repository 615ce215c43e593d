"""The producer every source sends with (pipelines/sim/kafka_sink.py), on the real broker:
missing topics fail at once in one line, a record the broker refuses is counted and
reported at flush while the others land, and keys land where Java's partitioner (and
kafka-python's) puts them."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.partitioner.default import murmur2

from pipelines.sim.kafka_sink import BrokerUnavailable, ProducerError, Sink


def _records(settings, topic: str, expected: int) -> list:
    consumer = KafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap_servers,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=3000)  # fmt: skip
    got, deadline = [], time.monotonic() + 30
    try:
        while len(got) < expected and time.monotonic() < deadline:
            got.extend(consumer)
    finally:
        consumer.close()
    return got


def test_missing_topics_fail_at_once_in_one_line(kafka_broker):
    nowhere = kafka_broker.model_copy(update={"kafka_topic_prefix": "never.created"})
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable) as err:
        Sink(nowhere)
    assert time.monotonic() - started < 15
    assert "no metadata for topic never.created." in str(err.value)
    assert "\n" not in str(err.value)


def test_a_refused_record_is_reported_and_the_rest_land(kafka_settings):
    topic = kafka_settings.topic("viewer")
    admin = KafkaAdminClient(bootstrap_servers=kafka_settings.kafka_bootstrap_servers)
    one_mib = {"max.message.bytes": str(1024 * 1024)}
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=one_mib)])
    admin.close()
    with Sink(kafka_settings) as sink:
        sink.send("viewer", "s", b'{"n":0}')
        sink.send("viewer", "s", b"x" * 1_500_000)  # over the topic's 1 MiB
        for n in range(1, 301):
            sink.send("viewer", "s", b'{"n":%d}' % n)
        with pytest.raises(ProducerError) as err:
            sink.flush()
    assert "1 records were not delivered" in str(err.value)
    assert "MSG_SIZE_TOO_LARGE" in str(err.value)
    got = _records(kafka_settings, topic, 301)
    assert sorted(int(m.value[5:-1]) for m in got) == list(range(301))


def test_keys_land_on_the_partition_javas_partitioner_picks(kafka_settings):
    topic = kafka_settings.topic("chat")
    keys = [f"channel_{i}" for i in range(24)] + ["ünïcode_ch", "😀"]
    with Sink(kafka_settings) as sink:
        for key in keys:
            sink.send("chat", key, b"{}")
        sink.flush()
    got = _records(kafka_settings, topic, len(keys))
    parts = kafka_settings.kafka_partitions
    assert len(got) == len(keys) and parts >= 2 and len({m.partition for m in got}) == parts
    for m in got:
        assert m.partition == (murmur2(m.key) & 0x7FFFFFFF) % parts, m.key
