"""A Kafka producer set up for Telemetra's event topics (used by produce, replay and the
live source): librdkafka through ``confluent-kafka``.

A C client, because sending is most of a replay's cost in a pure-Python one: kafka-python
builds record batches in Python at about 16k records per CPU-second, librdkafka at about
500k (``bench/import_rate.py``, issue 25). kafka-python stays the project's client for
everything else (topic admin, consumers in tests and benches).

Tuned for throughput without loss: ``acks=all`` with idempotence, batches lingering
20 ms, no compression (loopback bandwidth is cheap), Java's murmur2 partitioner (a key
lands where any other Kafka client would put it). Connection problems surface as
one-line ``BrokerUnavailable`` errors within ``connect_timeout_s`` instead of hanging,
as does a missing topic; delivery failures are counted and raised at ``flush``, a fatal
producer error (idempotence broken) at the next ``send``.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaError, KafkaException, Producer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import KafkaError as AdminError

from pipelines.config import EVENT_TYPES, Settings

log = logging.getLogger(__name__)


class ProducerError(RuntimeError):
    """Sending failed; the message is one line."""


class BrokerUnavailable(ProducerError):
    """The broker (or a topic's metadata) could not be reached in time."""


MAX_REQUEST_BYTES = 2 * 1024 * 1024  # the local broker's message.max.bytes is as large
# A record batch with one record: the batch header (61 bytes) and the record's own header
# (length, attributes, timestamp and offset deltas, key length, value length, headers: at
# most 27 bytes as varints), besides the key and value themselves.
RECORD_OVERHEAD_BYTES = 88
MAX_MESSAGE = "max.message.bytes"
POLL_EVERY = 256  # sends between serving librdkafka's callbacks (errors only),
POLL_SECONDS = 1.0  # or at least this often: a slow live source hears of errors too


def record_size_limits(settings: Settings, timeout_ms: int = 10_000) -> dict[str, int]:
    """Per event type, the largest value the topic takes: its ``max.message.bytes`` (the
    broker's ``message.max.bytes`` unless the topic overrides it), capped by the producer's
    request size. The broker refuses a larger record, and the producer can only count
    the refusal at flush; checked before sending, the caller can say which line it was.
    Where the cluster does not say (no describe rights), the producer's cap alone."""
    topics = {settings.topic(t): t for t in EVENT_TYPES}
    limits = dict.fromkeys(EVENT_TYPES, MAX_REQUEST_BYTES)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
            request_timeout_ms=timeout_ms,
        )
        try:
            found = admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic, configs={MAX_MESSAGE: None})
                 for topic in topics],
                config_filter="all",
            )  # fmt: skip
        finally:
            admin.close()
    except AdminError as exc:
        log.debug("no topic configs (%s): producer cap only", exc)
        return limits
    for topic, configs in found.get("topic", {}).items():
        value = configs.get(MAX_MESSAGE, {}).get("value")
        if topic in topics and value is not None:
            limits[topics[topic]] = min(MAX_REQUEST_BYTES, int(value))
    return limits


class Sink:
    """Send (event type, key, value) to ``settings.topic(event_type)``; a context manager."""

    def __init__(self, settings: Settings, connect_timeout_s: float = 10.0, **overrides) -> None:
        self.servers = settings.kafka_bootstrap_servers
        self.topics = {t: settings.topic(t) for t in EVENT_TYPES}
        self.failed = 0
        self.first_error: str | None = None
        self.fatal: str | None = None
        self._unpolled = 0
        self._poll_due = time.monotonic() + POLL_SECONDS
        config = {
            "bootstrap.servers": self.servers,
            "client.id": "telemetra-producer",
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 20,
            "batch.size": 1024 * 1024,
            "message.max.bytes": MAX_REQUEST_BYTES,
            "compression.type": "none",
            "partitioner": "murmur2_random",
            "message.timeout.ms": 120_000,
            "delivery.report.only.error": True,
            "on_delivery": self._on_delivery,
            "error_cb": self._on_error,
            "logger": log,
            "log_level": 2,  # critical only: errors reach error_cb and become our one line
            **overrides,
        }
        self._producer = Producer(config)
        self._check_topics(connect_timeout_s)

    def _check_topics(self, timeout_s: float) -> None:
        """Fail now, in one line, if the broker or one of the topics is not there."""
        try:
            meta = self._producer.list_topics(timeout=timeout_s)
        except KafkaException:
            raise BrokerUnavailable(
                f"cannot reach Kafka at {self.servers} within {timeout_s:.0f}s; is the broker "
                "up? (`telemetra kafka start`)"
            ) from None
        for topic in self.topics.values():
            found = meta.topics.get(topic)
            if found is None or found.error is not None:
                raise BrokerUnavailable(
                    f"no metadata for topic {topic} from {self.servers}: does it exist? "
                    "(`telemetra kafka start` creates the topics)"
                )

    def send(self, event_type: str, key: str, value: bytes) -> None:
        topic = self.topics[event_type]
        while True:
            try:
                self._producer.produce(topic, value, key)
                break
            except BufferError:  # the local queue is full: wait for the broker to take some
                self._producer.poll(0.05)
        self._unpolled += 1
        if self._unpolled >= POLL_EVERY or time.monotonic() >= self._poll_due:
            self._unpolled = 0
            self._poll_due = time.monotonic() + POLL_SECONDS
            self._producer.poll(0)
            if self.fatal:
                raise ProducerError(f"the producer stopped: {self.fatal}")

    def _on_delivery(self, err: KafkaError | None, _msg) -> None:
        if err is not None:
            self.failed += 1
            if self.first_error is None:
                self.first_error = f"{err.name()}: {err.str()}"

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self.fatal = self.fatal or f"{err.name()}: {err.str()}"
        else:
            log.debug("kafka: %s", err.str())  # transient; librdkafka retries

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until everything sent so far is acknowledged; raise if any record failed."""
        left = self._producer.flush(-1 if timeout_s is None else timeout_s)
        if self.fatal:
            raise ProducerError(f"the producer stopped: {self.fatal}")
        if left:
            raise ProducerError(f"flushing to {self.servers}: {left} records not acknowledged "
                                f"within {timeout_s}s")  # fmt: skip
        if self.failed:
            raise ProducerError(
                f"{self.failed} records were not delivered; first: {self.first_error}"
            )

    def close(self) -> None:
        self._producer.flush(10)

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
