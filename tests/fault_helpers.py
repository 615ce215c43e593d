"""Tools for the fault tests: the pipeline as a process of its own, raw records, waiting.

Kept out of the test bodies so each test reads as the fault and what must hold after it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient

from pipelines.config import Settings
from pipelines.sim.kafka_sink import Sink
from pipelines.sim.producer import ProduceStats

TELEMETRA = Path(sys.executable).with_name("telemetra")


def pipeline_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment a ``telemetra`` process needs to use the test's broker, topics, lake."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "TELEMETRA_KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "TELEMETRA_LAKE_ROOT": settings.lake_root,
        "TELEMETRA_SPARK_SHUFFLE_PARTITIONS": str(settings.spark_shuffle_partitions),
        "TELEMETRA_SPARK_DRIVER_MEMORY": "1g",
        "LOG_LEVEL": "WARNING",
    }
    env.update({k.upper(): v for k, v in overrides.items()})
    return env


def start_pipeline(settings: Settings, log_path: Path, *args: str, **env: str) -> subprocess.Popen:
    """``telemetra run <args>`` in a session of its own (so its JVM can be killed with it)."""
    log = open(log_path, "w")
    return subprocess.Popen(
        [str(TELEMETRA), "run", *args],
        env=pipeline_env(settings, **env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def run_cli(
    settings: Settings, *args: str, timeout_s: float = 300, **env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(TELEMETRA), *args],
        env=pipeline_env(settings, **env),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def kill_hard(proc: subprocess.Popen) -> None:
    """kill -9 the process and everything it started (the Spark driver's JVM included)."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def send_raw(settings: Settings, records: Iterable[tuple[str, str, bytes | None]]) -> int:
    """Send (event type, key, value) records, values as they are; returns how many."""
    n = 0
    with Sink(settings) as sink:
        for event_type, key, value in records:
            sink.send(event_type, key, value)
            n += 1
        sink.flush()
    return n


def end_offsets(settings: Settings) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        parts = [
            TopicPartition(t, p)
            for t in settings.topics
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        return consumer.end_offsets(parts)
    finally:
        consumer.close()


def age_out(settings: Settings, before: dict[TopicPartition, int]) -> None:
    """Move each partition's log start to ``before``, as retention does to old segments."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        admin.delete_records(before, timeout_ms=30_000)
    finally:
        admin.close()


def delta_rows(path: str) -> int:
    """Rows of a Delta table from its log's file statistics (no Spark); 0 while missing."""
    from deltalake import DeltaTable

    if not DeltaTable.is_deltatable(path):
        return 0
    actions = DeltaTable(path).get_add_actions(flatten=True)
    return sum(n or 0 for n in actions.column("num_records").to_pylist())


def with_extra(stats: ProduceStats, sent_by_type: Counter, good: int = 0) -> ProduceStats:
    """``stats`` plus records sent outside the producer (by event type; ``good`` of them valid)."""
    total = replace(stats, by_topic=Counter(stats.by_topic), by_kind=Counter(stats.by_kind))
    total.sent += sum(sent_by_type.values())
    total.by_topic.update(sent_by_type)
    total.by_kind["good"] += good
    return total
