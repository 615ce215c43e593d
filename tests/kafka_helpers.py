"""A real single-node Kafka broker the tests start, stop and restart themselves."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from pathlib import Path

from kafka import KafkaConsumer

from pipelines.config import Settings
from pipelines.jobs import kafka_ready
from pipelines.ops import kafka_local


def free_port_pair() -> int:
    """A port p with p and p+1 free (client and controller listeners)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65000:
            with socket.socket() as s2:
                try:
                    s2.bind(("127.0.0.1", port + 1))
                    return port
                except OSError:
                    continue
    raise RuntimeError("no free port pair")


class LocalBroker:
    """The project's broker (``kafka_local``) on free ports with its data under ``data_dir``.

    ``stop`` then ``start`` restarts it on the same ports and data, as an outage would.
    """

    def __init__(self, base: Settings, data_dir: Path) -> None:
        port = free_port_pair()
        self.settings = base.model_copy(
            update={"kafka_port": port, "kafka_bootstrap_servers": f"127.0.0.1:{port}"}
        )
        self.data_dir = data_dir
        self._proc: subprocess.Popen | None = None
        self._log = None

    def start(self, timeout_s: float = 120) -> Settings:
        cmd = kafka_local.prepare_broker(self.settings, self.data_dir)
        self._log = open(self.data_dir / "broker.log", "a")
        self._proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        kafka_ready.wait_until_ready(self.settings, at_most_s=timeout_s)
        return self.settings

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._log.close()
        self._proc = None


def with_fresh_topics(broker: Settings, root: Path, prefix: str, **update) -> Settings:
    """``broker``'s settings on four new, empty topics (a unique prefix), the lake under
    ``root``, plus any other ``update``; the topics are created."""
    settings = broker.model_copy(
        update={
            "kafka_topic_prefix": f"{prefix}{uuid.uuid4().hex[:8]}.events",
            "lake_root": str(Path(root) / "lake"),
            **update,
        }
    )
    kafka_local.ensure_topics(settings)
    return settings


TYPES = ("chat", "viewer", "transaction", "stream_meta")


def read_all(settings, expected: int, timeout_s: float = 30.0) -> list[tuple[str, bytes, bytes]]:
    """(event type of the topic, key, value) of every record on the four topics."""
    topic_type = {settings.topic(t): t for t in TYPES}
    consumer = KafkaConsumer(
        *topic_type,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    got, deadline = [], time.monotonic() + timeout_s
    try:
        while len(got) < expected and time.monotonic() < deadline:
            for msg in consumer:
                got.append((topic_type[msg.topic], msg.key, msg.value))
                if len(got) >= expected:
                    break
        # Anything beyond the expected count would be a bug too: drain briefly.
        got += [(topic_type[m.topic], m.key, m.value) for m in consumer]
    finally:
        consumer.close()
    return got
