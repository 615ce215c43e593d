"""The local single-node Kafka broker (KRaft, no ZooKeeper) and topic admin.

The broker runs from the jars `make setup` resolved into ``<jars_dir>/kafka`` with a capped
heap and its data under ``<run_dir>/kafka``. Everything else here (topics, status, consume)
talks to whatever ``KAFKA_BOOTSTRAP_SERVERS`` points at, local or not.
"""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from pipelines.config import Settings

log = logging.getLogger(__name__)

BROKER_MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"


def broker_dir(settings: Settings) -> Path:
    return settings.run_path / "kafka"


def _classpath(settings: Settings) -> str:
    jars = settings.jars_path / "kafka"
    if not any(jars.glob("kafka_2.13-*.jar")):
        raise RuntimeError(f"Kafka broker jars missing under {jars}: run `make setup`")
    return f"{jars}/*"


def write_broker_config(settings: Settings, data_dir: Path) -> Path:
    """server.properties for a combined broker+controller node on 127.0.0.1."""
    port, controller_port = settings.kafka_port, settings.kafka_port + 1
    retention_ms = int(settings.kafka_log_retention_hours * 3600 * 1000)
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir / "data"),
        "num.partitions": str(settings.kafka_partitions),
        "auto.create.topics.enable": "false",
        "log.retention.ms": str(retention_ms),
        # Retention is checked every 5 minutes by default; a minute keeps the fault test short.
        "log.retention.check.interval.ms": "60000",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "message.max.bytes": str(2 * 1024 * 1024),
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "server.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    (data_dir / "log4j2.properties").write_text(_LOG4J2)
    return path


_LOG4J2 = """\
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
logger.kafka.name = kafka.server.KafkaRaftServer
logger.kafka.level = INFO
logger.started.name = kafka.server.BrokerServer
logger.started.level = INFO
"""


def _java(settings: Settings, data_dir: Path, main: str, *args: str) -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("java not found on PATH: the local broker needs Java 17+")
    heap = settings.kafka_heap
    return [
        java,
        f"-Xmx{heap}",
        f"-Xms{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:ActiveProcessorCount=2",
        f"-Dlog4j2.configurationFile={data_dir / 'log4j2.properties'}",
        "-cp",
        _classpath(settings),
        main,
        *args,
    ]


def prepare_broker(settings: Settings, data_dir: Path | None = None) -> list[str]:
    """Write config, format the KRaft storage once, return the broker's command line."""
    data_dir = data_dir or broker_dir(settings)
    config = write_broker_config(settings, data_dir)
    if not (data_dir / "data" / "meta.properties").exists():
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        cmd = _java(
            settings,
            data_dir,
            STORAGE_TOOL,
            "format",
            f"--cluster-id={cluster_id}",
            f"--config={config}",
        )
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"formatting Kafka storage failed: {result.stderr.strip()[-500:]}")
    return _java(settings, data_dir, BROKER_MAIN, str(config))


def ensure_topics(settings: Settings) -> list[str]:
    """Create the four event topics if missing; return the ones created."""
    retention_ms = str(int(settings.kafka_log_retention_hours * 3600 * 1000))
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in settings.topics if t not in existing]
        new = [
            NewTopic(
                t,
                num_partitions=settings.kafka_partitions,
                replication_factor=1,
                topic_configs={"retention.ms": retention_ms, "max.message.bytes": "2097152"},
            )
            for t in missing
        ]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
        return missing
    finally:
        admin.close()


def describe_topics(settings: Settings) -> list[dict]:
    """Topic name, partitions and end offsets (message count) for the event topics."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        rows = []
        for topic in settings.topics:
            parts = consumer.partitions_for_topic(topic)
            if parts is None:
                rows.append({"topic": topic, "partitions": 0, "messages": None})
                continue
            from kafka import TopicPartition

            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            ends = consumer.end_offsets(tps)
            begins = consumer.beginning_offsets(tps)
            count = sum(ends[tp] - begins[tp] for tp in tps)
            rows.append({"topic": topic, "partitions": len(tps), "messages": count})
        return rows
    finally:
        consumer.close()


def consume(
    settings: Settings, topics: list[str], max_messages: int, timeout_s: float = 10.0
) -> Iterator[tuple[str, int, int, bytes | None]]:
    """Yield (topic, partition, offset, value) from the beginning, up to max_messages."""
    consumer = KafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(timeout_s * 1000),
    )
    try:
        for n, msg in enumerate(consumer, start=1):
            yield msg.topic, msg.partition, msg.offset, msg.value
            if n >= max_messages:
                break
    finally:
        consumer.close()
