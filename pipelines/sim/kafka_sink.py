"""A kafka-python producer set up for Telemetra's event topics (used by produce and replay).

Tuned for throughput without loss: ``acks='all'`` with idempotence, batches of up to
256 KiB lingering 20 ms, no compression (the client is pure Python: compressing costs
more CPU than loopback bandwidth saves; measured in bench/producer_rate.py). Connection
problems surface as one-line ``BrokerUnavailable`` errors within ``connect_timeout_s``
instead of hanging; delivery failures are counted and raised at ``flush``.
"""

from __future__ import annotations

import logging

from kafka import KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from kafka.partitioner import DefaultPartitioner
from kafka.partitioner.abc import Partitioner

from pipelines.config import EVENT_TYPES, Settings


class ProducerError(RuntimeError):
    """Sending failed; the message is one line."""


class BrokerUnavailable(ProducerError):
    """The broker (or a topic's metadata) could not be reached in time."""


MAX_REQUEST_BYTES = 2 * 1024 * 1024  # the local broker's message.max.bytes is as large
# A record batch with one record: the batch header (61 bytes) and the record's own header
# (length, attributes, timestamp and offset deltas, key length, value length, headers: at
# most 27 bytes as varints), besides the key and value themselves.
RECORD_OVERHEAD_BYTES = 88


def record_size_limits(settings: Settings, timeout_ms: int = 10_000) -> dict[str, int]:
    """Per event type, the largest value the topic takes: its ``max.message.bytes`` (the
    broker's ``message.max.bytes`` unless the topic overrides it), capped by the producer's
    request size. The broker refuses a larger record, and an idempotent producer treats
    that as fatal: every record after it would fail too. Where the cluster does not say
    (no describe rights), the producer's cap alone."""
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
    except KafkaError as exc:
        logging.getLogger(__name__).debug("no topic configs (%s): producer cap only", exc)
        return limits
    for topic, configs in found.get("topic", {}).items():
        value = configs.get(MAX_MESSAGE, {}).get("value")
        if topic in topics and value is not None:
            limits[topics[topic]] = min(MAX_REQUEST_BYTES, int(value))
    return limits


MAX_MESSAGE = "max.message.bytes"


class _MemoPartitioner(Partitioner):
    """The default murmur2 key partitioner, memoized: there are only a few keys (channels)."""

    def __init__(self) -> None:
        self._default = DefaultPartitioner()
        self._memo: dict[tuple[str, bytes, int], int] = {}

    def partition(self, topic, key, serialized_key, value, serialized_value, cluster) -> int:
        parts = cluster.partitions_for_topic(topic)
        memo_key = (topic, serialized_key, len(parts) if parts else 0)
        found = self._memo.get(memo_key)
        if found is None:
            found = self._default.partition(
                topic, key, serialized_key, value, serialized_value, cluster
            )
            if serialized_key is not None:
                self._memo[memo_key] = found
        return found


class Sink:
    """Send (event type, key, value) to ``settings.topic(event_type)``; a context manager."""

    def __init__(self, settings: Settings, connect_timeout_s: float = 10.0, **overrides) -> None:
        self.servers = settings.kafka_bootstrap_servers
        self.topics = {t: settings.topic(t) for t in EVENT_TYPES}
        self._keys: dict[str, bytes] = {}
        self.failed = 0
        self.first_error: str | None = None
        timeout_ms = int(connect_timeout_s * 1000)
        config = {
            "bootstrap_servers": self.servers.split(","),
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 20,
            "batch_size": 256 * 1024,
            "max_request_size": MAX_REQUEST_BYTES,
            "compression_type": None,
            "partitioner": _MemoPartitioner(),
            "bootstrap_timeout_ms": timeout_ms,
            "max_block_ms": timeout_ms,
            "client_id": "telemetra-producer",
            **overrides,
        }
        net_log = logging.getLogger("kafka.net")
        level = net_log.level
        # Each refused bootstrap attempt logs ERROR lines; the failure is reported once below.
        net_log.setLevel(logging.CRITICAL)
        try:
            self._producer = KafkaProducer(**config)
        except (KafkaConnectionError, KafkaTimeoutError, OSError) as exc:
            raise BrokerUnavailable(
                f"cannot reach Kafka at {self.servers} within {connect_timeout_s:.0f}s "
                f"({type(exc).__name__}); is the broker up? (`telemetra kafka start`)"
            ) from None
        finally:
            net_log.setLevel(level)

    def send(self, event_type: str, key: str, value: bytes) -> None:
        key_bytes = self._keys.get(key)
        if key_bytes is None:
            key_bytes = self._keys[key] = key.encode("utf-8")
        topic = self.topics[event_type]
        try:
            future = self._producer.send(topic, value=value, key=key_bytes)
        except KafkaTimeoutError:
            raise BrokerUnavailable(
                f"no metadata for topic {topic} from {self.servers}: does it exist? "
                "(`telemetra kafka start` creates the topics)"
            ) from None
        future.add_errback(self._on_error)

    def _on_error(self, exc: Exception) -> None:
        self.failed += 1
        if self.first_error is None:
            self.first_error = f"{type(exc).__name__}: {exc}"

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until everything sent so far is acknowledged; raise if any record failed."""
        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            raise ProducerError(f"flushing to {self.servers} failed: {exc}") from None
        if self.failed:
            raise ProducerError(
                f"{self.failed} records were not delivered; first: {self.first_error}"
            )

    def close(self) -> None:
        self._producer.close(timeout=10)

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
