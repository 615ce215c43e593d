"""Producer throughput: synthetic events/s into Kafka with ``--fast``, at 1 and 2 processes.

Starts no broker: it expects one at ``KAFKA_BOOTSTRAP_SERVERS`` (default from
conf/defaults.yaml, 127.0.0.1:9092), e.g. after ``telemetra kafka start``. Each run sends
to four fresh topics (prefix ``bench<random>.events``) that are deleted afterwards unless
``--keep-topics``, so the pipeline's topics are untouched. Also measures generation alone
(no Kafka) in one process.

    .venv/bin/python bench/producer_rate.py [--count 300000] [--processes 1,2]

Prints JSON and writes it to ``--out`` (default bench/results/producer_rate.json).
Wall-clock rates depend on what else the machine runs (the broker shares its cores), so
CPU seconds are reported too: ``events_per_cpu_s`` is the producer's own cost.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
import uuid
from datetime import datetime, timedelta, timezone

from kafka.admin import KafkaAdminClient
from results_io import write_result

from pipelines.config import PROJECT_ROOT, load_settings
from pipelines.jobs import kafka_ready
from pipelines.ops import kafka_local
from pipelines.sim.events import generate
from pipelines.sim.producer import produce


def generation_rate(channels: list[str], rate: float, count: int) -> dict:
    """Records/s of ``pipelines.sim.events`` alone, one process, bad_ratio 0.05."""
    end = datetime.now(timezone.utc)
    span = timedelta(seconds=count / rate / len(channels) * 1.06)
    gen = generate(channels, rate, end - span, end, seed=1, bad_ratio=0.05)
    started, cpu, n = time.perf_counter(), _cpu_s(), 0
    for n, _ in enumerate(gen, start=1):
        if n == count:
            break
    elapsed, cpu = time.perf_counter() - started, _cpu_s() - cpu
    return {
        "records": n,
        "elapsed_s": round(elapsed, 3),
        "records_per_s": round(n / elapsed),
        "cpu_s": round(cpu, 3),
        "records_per_cpu_s": round(n / cpu),
    }


def _cpu_s() -> float:
    """CPU seconds used by this process and its finished children (workers), all threads."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def produce_rate(settings, channels, rate, count, processes) -> dict:
    bench = settings.model_copy(
        update={"kafka_topic_prefix": f"bench{uuid.uuid4().hex[:8]}.events"}
    )
    kafka_local.ensure_topics(bench)
    try:
        cpu = _cpu_s()
        stats = produce(bench, channels, rate, count=count, fast=True, seed=1,
                        processes=processes, progress=False)  # fmt: skip
        # The producer's CPU only (not the broker's): its cost whatever else runs.
        cpu = _cpu_s() - cpu
    finally:
        if not ARGS.keep_topics:
            admin = KafkaAdminClient(bootstrap_servers=bench.kafka_bootstrap_servers)
            try:
                admin.delete_topics(bench.topics)
            finally:
                admin.close()
    return {
        "processes": processes,
        "records": stats.sent,
        "elapsed_s": round(stats.elapsed_s, 3),
        "events_per_s": round(stats.rate),
        "cpu_s": round(cpu, 3),
        "events_per_cpu_s": round(stats.sent / cpu),
        "by_topic": dict(stats.by_topic),
    }


def main() -> dict:
    settings = load_settings()
    channels = [f"bench_{i}" for i in range(ARGS.channels)]
    kafka_ready.wait_until_ready(settings, at_most_s=30)
    result = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "channels": ARGS.channels,
        "rate_per_channel": ARGS.rate,
        "generation_only": generation_rate(channels, ARGS.rate, ARGS.count),
        "produce_fast": [
            produce_rate(settings, channels, ARGS.rate, ARGS.count, p) for p in ARGS.processes
        ],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    return write_result(result, ARGS.out)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300_000, help="records per run")
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--rate", type=float, default=100.0, help="events/s per channel")
    parser.add_argument(
        "--processes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2]
    )
    parser.add_argument("--out", default=str(PROJECT_ROOT / "bench/results/producer_rate.json"))
    parser.add_argument("--keep-topics", action="store_true")
    return parser.parse_args()


if __name__ == "__main__":  # the guard matters: worker processes are spawned
    ARGS = _args()
    main()
