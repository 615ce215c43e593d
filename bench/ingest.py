"""Sustained ingest, freshness and footprint of the local stack, step by step.

Brings up its own local stack under supervisord (broker on ``--kafka-port``, the
one-application streaming pipeline, the app, the quality checker), in a run folder and
lake of its own, so a running ``telemetra up`` is not disturbed. A trickle of events runs
until gold first shows the bench channels (``first_gold_after_s``: the stack's start-up,
not part of any step). Then, for each offered rate (events/s over all channels), runs
the paced producer for ``--step-seconds`` and samples every 2 s:

- lag: records in Kafka (end offsets) minus rows in bronze (the Delta log's counts);
- freshness: now minus the newest event time the Live page's query layer knows for the
  bench channels (``GoldQueries.list_streams(fresh=True)``: the hot path's panes);
- footprint: resident memory of every process of the stack (psutil, whole process trees).

A step is *sustained* when, after its first third (warm-up), bronze lands at least 95% of
the offered rate (measured from its first to its last commit in that time) and the lag
does not grow by more than 5% of the offered rate per second (least-squares slope).
Stepping stops after the first step that is not sustained.

    .venv/bin/python bench/ingest.py [--rates 1000,5000,10000,20000,40000] [--step-seconds 180]

Writes JSON to ``--out`` (default bench/results/ingest.json) and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil
import pyarrow as pa
from deltalake import DeltaTable
from kafka import KafkaConsumer, TopicPartition
from results_io import write_result

from pipelines.config import PROJECT_ROOT, Settings, load_settings
from pipelines.jobs import kafka_ready
from pipelines.ops import kafka_local, stack
from pipelines.serving.queries import GoldQueries

SAMPLE_S = 2.0
# The whole local stack but the producer, which the bench paces itself (its RSS is the
# bench's own process).
STACK = ("kafka", "pipeline", "app", "quality")


def bench_settings(args: argparse.Namespace, work: Path) -> Settings:
    """Settings of the bench stack; exported to the environment so its programs get them."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{args.kafka_port}",
        "TELEMETRA_KAFKA_PORT": str(args.kafka_port),
        "TELEMETRA_KAFKA_TOPIC_PREFIX": "bench.events",
        "TELEMETRA_LAKE_ROOT": str(work / "lake"),
        "TELEMETRA_RUN_DIR": str(work / "run"),
        "TELEMETRA_APP_PORT": str(args.app_port),
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    return load_settings()


# ---- measurements ---------------------------------------------------------------------------
def kafka_records(consumer: KafkaConsumer, settings: Settings) -> int:
    parts = [
        TopicPartition(t, p) for t in settings.topics for p in range(settings.kafka_partitions)
    ]
    return sum(consumer.end_offsets(parts).values())


def table_rows(path: str) -> int:
    """Rows of a Delta table, from its log's file statistics; 0 before it exists."""
    try:
        actions = DeltaTable(path).get_add_actions(flatten=True)
    except Exception:  # no table yet  # noqa: BLE001
        return 0
    return int(sum(pa.table(actions).column("num_records").to_pylist()))


def bronze_rows(settings: Settings) -> int:
    return table_rows(settings.table_path("bronze", "events"))


def newest_event_age(queries: GoldQueries, channels: list[str]) -> float | None:
    streams = queries.list_streams(fresh=True)
    newest = streams.loc[streams["stream_id"].isin(channels), "last_event_ts"].max()
    if newest is None or newest != newest:  # None or NaT
        return None
    return (datetime.now(timezone.utc) - newest.to_pydatetime()).total_seconds()


def stack_rss(settings: Settings) -> dict[str, int]:
    """Resident bytes per program of the stack, each with all its child processes."""
    out = {}
    for name in STACK:
        pid = stack.ctl(settings, "pid", name).stdout.strip()
        if not pid.isdigit() or int(pid) == 0:
            continue
        try:
            root = psutil.Process(int(pid))
            procs = [root, *root.children(recursive=True)]
            out[name] = sum(p.memory_info().rss for p in procs if p.is_running())
        except psutil.NoSuchProcess:
            continue
    return out


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    xs, ys = zip(*points, strict=True)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


# ---- one step ---------------------------------------------------------------------------------
def run_step(settings: Settings, rate: int, args, consumer, queries) -> dict:
    channels = [f"bench_{i:02d}" for i in range(args.channels)]
    processes = 1 if rate <= 10_000 else 2
    producer = subprocess.Popen(
        [sys.executable, "-m", "pipelines.ops.cli", "produce", "--channels", ",".join(channels),
         "--rate", str(rate / len(channels)), "--duration", str(args.step_seconds),
         "--processes", str(processes), "--seed", str(rate)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    started = time.monotonic()
    samples, peak_rss = [], {}
    while producer.poll() is None:
        t = time.monotonic() - started
        lag = kafka_records(consumer, settings) - bronze_rows(settings)
        samples.append({"t": t, "landed": bronze_rows(settings), "lag": lag,
                        "age": newest_event_age(queries, channels)})  # fmt: skip
        for name, rss in stack_rss(settings).items():
            peak_rss[name] = max(peak_rss.get(name, 0), rss)
        time.sleep(SAMPLE_S)
    if producer.returncode != 0:
        raise RuntimeError(f"producer failed at {rate}/s: {producer.stderr.read()[-500:]}")
    return summarize(rate, processes, samples, peak_rss, args.step_seconds)


def commit_to_commit_rate(samples: list[dict]) -> float:
    """Rows per second bronze landed from the first to the last commit seen in ``samples``.

    Bronze grows one micro-batch at a time (every 20-30 s on 2 cores), so a rate taken
    between the window's edges counts one batch more or less depending on where the edges
    fall: a fifth of the rate with four or five batches in the window. Between commits it
    spans whole batch intervals. 0 when fewer than two commits were seen."""
    pairs = zip(samples, samples[1:], strict=False)
    commits = [s for prev, s in pairs if s["landed"] != prev["landed"]]
    if len(commits) < 2:
        return 0.0
    return (commits[-1]["landed"] - commits[0]["landed"]) / (commits[-1]["t"] - commits[0]["t"])


def summarize(rate, processes, samples, peak_rss, step_seconds) -> dict:
    steady = [s for s in samples if s["t"] >= step_seconds / 3]
    landed_rate = commit_to_commit_rate(steady)
    edges_rate = (steady[-1]["landed"] - steady[0]["landed"]) / (steady[-1]["t"] - steady[0]["t"])
    lag_slope = slope([(s["t"], s["lag"]) for s in steady])
    ages = [s["age"] for s in steady if s["age"] is not None]
    return {
        "offered_per_s": rate,
        "producer_processes": processes,
        "landed_per_s": round(landed_rate),
        "landed_per_s_window_edges": round(edges_rate),  # landed/s before 27 Nov 23:00
        "lag_growth_per_s": round(lag_slope),
        "lag_at_end": samples[-1]["lag"],
        "sustained": landed_rate >= 0.95 * rate and lag_slope <= 0.05 * rate,
        "freshness_s": {"p50": percentile(ages, 0.50), "p95": percentile(ages, 0.95),
                        "samples": len(ages)},
        "peak_rss_mib": {k: round(v / 2**20) for k, v in peak_rss.items()},
        "peak_rss_total_mib": round(sum(peak_rss.values()) / 2**20),
    }  # fmt: skip


def warm_up(args: argparse.Namespace, queries: GoldQueries, timeout_s: float = 900) -> float:
    """Produce a trickle (10 events/s per channel) until gold shows the bench channels, so
    the first step does not measure Spark's start; returns the seconds that took."""
    channels = [f"bench_{i:02d}" for i in range(args.channels)]
    producer = subprocess.Popen(
        [sys.executable, "-m", "pipelines.ops.cli", "produce", "--channels", ",".join(channels),
         "--rate", "10", "--seed", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    started = time.monotonic()
    try:
        while newest_event_age(queries, channels) is None:
            if time.monotonic() - started > timeout_s:
                raise RuntimeError(f"gold showed no bench channel within {timeout_s:.0f} s")
            time.sleep(SAMPLE_S)
    finally:
        producer.terminate()
        producer.wait(timeout=30)
    return round(time.monotonic() - started, 1)


# ---- run ---------------------------------------------------------------------------------
def main(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="telemetra-ingest-"))
    settings = bench_settings(args, work)
    steps = []
    try:
        stack.ensure_supervisord(settings)
        for name in STACK:
            stack.start(settings, name)
            if name == "kafka":
                kafka_ready.wait_until_ready(settings)
                kafka_local.ensure_topics(settings)
        consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
        queries = GoldQueries(settings.lake_root)
        warm_up_s = warm_up(args, queries)
        for rate in args.rates:
            steps.append(run_step(settings, rate, args, consumer, queries))
            print(json.dumps(steps[-1]), flush=True)
            if not steps[-1]["sustained"]:
                break
        consumer.close()
    finally:
        stack.shutdown(settings)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    memory_gib = round(psutil.virtual_memory().total / 2**30)
    sustained = [s["offered_per_s"] for s in steps if s["sustained"]]
    result = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "memory_gib": memory_gib,
                    "python": platform.python_version()},
        "channels": args.channels,
        "step_seconds": args.step_seconds,
        "trigger_seconds": settings.spark_trigger_seconds,
        "first_gold_after_s": warm_up_s,
        "shuffle_partitions": settings.spark_shuffle_partitions,
        "steps": steps,
        "max_sustained_per_s": max(sustained, default=0),
    }  # fmt: skip
    return write_result(result, args.out)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1000, 5000, 10000, 20000, 40000])  # fmt: skip
    parser.add_argument("--step-seconds", type=int, default=180)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--kafka-port", type=int, default=19092)
    parser.add_argument("--app-port", type=int, default=18501)
    parser.add_argument("--keep", action="store_true", help="keep the run folder and lake")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "bench/results/ingest.json"))
    return parser.parse_args()


if __name__ == "__main__":
    main(_args())
