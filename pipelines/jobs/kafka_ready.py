"""Is the Kafka broker up? A one-line answer before a job starts reading it.

A stream waits for a broker that is starting; a batch job fails fast, where Spark's
Kafka reader would retry for minutes and end in a page of Java.
"""

from __future__ import annotations

import logging
import socket
import time

from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from pipelines.config import Settings

log = logging.getLogger(__name__)


def _port_open(bootstrap: str, timeout_s: float) -> bool:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
            return True
    except OSError:
        return False


def broker_answers(bootstrap: str, timeout_s: float = 3.0) -> bool:
    # A closed port fails fast here; kafka-python's own probe would retry for much longer.
    if not _port_open(bootstrap, timeout_s):
        return False
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000)
        )
    except (KafkaError, OSError) as exc:
        log.debug("broker at %s does not answer: %s", bootstrap, exc)
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def wait_until_ready(settings: Settings, at_most_s: float | None = None) -> None:
    """Wait for the broker up to ``kafka_wait_seconds`` (or ``at_most_s``, if shorter), then
    fail in one line: a stream waits for a broker that is starting; a batch job fails fast,
    where Spark's Kafka reader would retry for minutes and end in a page of Java."""
    timeout_s = settings.kafka_wait_seconds
    if at_most_s is not None:
        timeout_s = min(timeout_s, at_most_s)
    bootstrap = settings.kafka_bootstrap_servers
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if broker_answers(bootstrap):
            return
        time.sleep(0.5)
    raise RuntimeError(f"Kafka at {bootstrap} did not answer within {timeout_s:.0f}s")
