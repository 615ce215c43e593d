"""Catch-up: how long the streaming pipeline takes to carry a backlog in Kafka to gold.

Starts a broker of its own (``--kafka-port``, a run folder and lake of its own), puts
``--events`` events into it with the producer's ``--fast`` mode (``--channels`` channels,
event times spread over the span that ends now), then times one
``telemetra run all --mode stream --trigger availableNow``: bronze reads Kafka, silver
and gold follow, and the command returns when gold holds everything. Then it counts:
records in Kafka, rows in bronze, silver typed rows + quarantine, gold windows.

    .venv/bin/python bench/catchup.py [--events 1000000] [--channels 20] [--s3]

With ``--s3`` the lake (and the checkpoints) go to a local S3 server the bench starts
(SeaweedFS, ``make seaweedfs``), and it also reports the S3 requests the catch-up made, by
type, and per micro-batch (micro-batches counted from the queries' checkpoint commits).

Writes JSON to ``--out`` (default bench/results/catchup.json, catchup-s3.json with ``--s3``)
and prints it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import psutil
import requests
from deltalake import DeltaTable
from kafka import KafkaConsumer, TopicPartition
from results_io import machine, write_result

from pipelines.config import EVENT_TYPES, PROJECT_ROOT, Settings, load_settings
from pipelines.jobs import kafka_ready
from pipelines.ops import kafka_local, stack
from pipelines.ops.s3_local import LocalS3

S3_BUCKET = "catchup"
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}


def bench_settings(
    args: argparse.Namespace, work: Path, prefix: str = "catchup", log_level: str = "WARNING"
) -> Settings:
    """Settings of a bench's own broker, topics and lake; exported to the environment so
    the programs it starts get them too."""
    os.environ.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{args.kafka_port}",
            "TELEMETRA_KAFKA_PORT": str(args.kafka_port),
            "TELEMETRA_KAFKA_TOPIC_PREFIX": f"{prefix}.events",
            "TELEMETRA_LAKE_ROOT": str(work / "lake"),
            "TELEMETRA_RUN_DIR": str(work / "run"),
            "LOG_LEVEL": log_level,
        }
    )
    return load_settings()


def _table(settings: Settings, layer: str, table: str) -> DeltaTable:
    return DeltaTable(settings.table_path(layer, table), storage_options=settings.storage_options)


def rows(settings: Settings, layer: str, table: str) -> int:
    return _table(settings, layer, table).to_pyarrow_dataset().count_rows()


def silver_rows(settings: Settings) -> dict[str, int]:
    """silver/events rows per kind (an event type, or quarantine)."""
    kinds = _table(settings, "silver", "events").to_pyarrow_dataset()
    counts = kinds.to_table(columns=["kind"]).column("kind").value_counts().to_pylist()
    return {c["values"]: c["counts"] for c in counts}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.ops.cli", *args]


@contextlib.contextmanager
def own_stack(
    args: argparse.Namespace, prefix: str = "catchup", log_level: str = "WARNING"
) -> Iterator[tuple[Path, Settings]]:
    """A run folder, lake and broker of the bench's own (its ``--kafka-port``); shut down
    and, unless ``--keep``, removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix=f"telemetra-{prefix}-"))
    settings = bench_settings(args, work, prefix, log_level)
    try:
        yield work, settings
    finally:
        stack.shutdown(settings)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def fill_kafka(settings: Settings, args: argparse.Namespace) -> tuple[dict[str, int], float]:
    """Start the bench's broker and put the backlog into it: (records per event type, s)."""
    stack.ensure_supervisord(settings)
    stack.start(settings, "kafka")
    kafka_ready.wait_until_ready(settings)
    kafka_local.ensure_topics(settings)
    channels = ",".join(f"catchup_{i:02d}" for i in range(args.channels))
    started = time.monotonic()
    subprocess.run(
        cli("produce", "--channels", channels, "--rate", str(args.rate), "--fast",
            "--count", str(args.events), "--processes", "2", "--seed", "7"),
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    produce_s = time.monotonic() - started
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        by_type = {
            t: sum(consumer.end_offsets(
                [TopicPartition(settings.topic(t), p) for p in range(settings.kafka_partitions)]
            ).values())
            for t in EVENT_TYPES
        }  # fmt: skip
    finally:
        consumer.close()
    return by_type, produce_s


def catch_up(settings: Settings, work: Path) -> dict:
    """One ``telemetra run all --trigger availableNow`` over the backlog, timed, and the
    rows it left in each layer."""
    started = time.monotonic()
    log = work / "pipeline.log"  # a file, not a pipe: nobody would drain a pipe meanwhile
    pipeline = subprocess.Popen(
        cli("run", "all", "--mode", "stream", "--trigger", "availableNow"),
        stdout=subprocess.DEVNULL, stderr=log.open("w"),
    )  # fmt: skip
    peak_rss = 0
    while pipeline.poll() is None:
        try:
            procs = [psutil.Process(pipeline.pid), *psutil.Process(pipeline.pid).children(True)]
            peak_rss = max(peak_rss, sum(p.memory_info().rss for p in procs))
        except psutil.NoSuchProcess:
            pass
        time.sleep(1)
    catchup_s = time.monotonic() - started
    if pipeline.returncode != 0:
        raise RuntimeError(f"pipeline failed: {log.read_text()[-2000:]}")
    silver = silver_rows(settings)
    return {
        "catchup_s": round(catchup_s, 1),
        "pipeline_peak_rss_mib": round(peak_rss / 2**20),
        "bronze_rows": rows(settings, "bronze", "events"),
        "silver_rows": silver,
        "silver_plus_quarantine": sum(silver.values()),
        "gold_minute_windows": rows(settings, "gold", "stream_minute_metrics"),
        "gold_moments": rows(settings, "gold", "moments"),
    }


@contextlib.contextmanager
def s3_lake(work: Path) -> Iterator[LocalS3]:
    """A local S3 server with a bucket, and the lake moved onto it for every program the
    bench starts (through the environment, as a user would)."""
    with LocalS3(work / "s3") as server:
        server.create_bucket(S3_BUCKET)
        os.environ.update(
            TELEMETRA_LAKE_ROOT=f"s3a://{S3_BUCKET}/lake",
            AWS_ENDPOINT_URL=server.endpoint,
            **S3_CREDENTIALS,
        )
        yield server


def s3_requests(server: LocalS3) -> dict[str, int]:
    """Requests the server answered so far, by type (GET, PUT, LIST, DELETE...)."""
    counts: dict[str, int] = {}
    for line in requests.get(server.metrics_url, timeout=10).text.splitlines():
        if line.startswith("SeaweedFS_s3_request_total{") and f'bucket="{S3_BUCKET}"' in line:
            kind = line.split('type="')[1].split('"')[0]
            counts[kind] = counts.get(kind, 0) + int(float(line.rsplit(" ", 1)[1]))
    return counts


def micro_batches(server: LocalS3) -> dict[str, int]:
    """Committed micro-batches per streaming query: the files under each checkpoint's
    ``commits/`` (ListObjectsV2 pages of the bucket's checkpoint prefix)."""
    import xml.etree.ElementTree as ET

    ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
    params = {"list-type": "2", "prefix": "lake/_checkpoints/"}
    batches: dict[str, int] = {}
    while True:
        reply = requests.get(f"{server.endpoint}/{S3_BUCKET}", params=params, timeout=30)
        root = ET.fromstring(reply.content)
        for key in root.iterfind("s3:Contents/s3:Key", ns):
            query, _, rest = key.text.removeprefix(params["prefix"]).partition("/commits/")
            if rest.isdigit():
                batches[query] = batches.get(query, 0) + 1
        token = root.findtext("s3:NextContinuationToken", namespaces=ns)
        if not token:
            return batches
        params["continuation-token"] = token


def main(args: argparse.Namespace) -> dict:
    with (
        own_stack(args) as (work, settings),
        s3_lake(work) if args.s3 else contextlib.nullcontext() as server,
    ):
        settings = load_settings() if server else settings  # the lake on S3
        by_type, produce_s = fill_kafka(settings, args)
        in_kafka = sum(by_type.values())
        before = s3_requests(server) if server else {}
        done = catch_up(settings, work)
        if server:
            after, batches = s3_requests(server), micro_batches(server)
            used = {k: after[k] - before.get(k, 0) for k in after}
            done.update(
                s3_requests=used,
                micro_batches=batches,
                s3_requests_per_micro_batch=round(sum(used.values()) / sum(batches.values())),
            )
        result = {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(),
            "events_requested": args.events,
            "channels": args.channels,
            "lake": "s3 (SeaweedFS on loopback)" if args.s3 else "local disk",
            "produce_s": round(produce_s, 1),
            "records_in_kafka": in_kafka,
            "catchup_s": done["catchup_s"],
            "catchup_events_per_s": round(in_kafka / done["catchup_s"]),
            **{k: v for k, v in done.items() if k != "catchup_s"},
            "nothing_lost": in_kafka == done["bronze_rows"] == done["silver_plus_quarantine"],
        }  # fmt: skip
    return write_result(result, args.out)


def backlog_parser(doc: str, name: str, kafka_port: int) -> argparse.ArgumentParser:
    """The options of a bench that fills its own broker with a backlog."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--rate", type=float, default=50.0, help="events/s per channel")
    # its controller listens on the next port
    parser.add_argument("--kafka-port", type=int, default=kafka_port)
    parser.add_argument("--keep", action="store_true", help="keep the run folder and lake")
    parser.add_argument("--out", default=str(PROJECT_ROOT / f"bench/results/{name}.json"))
    return parser


def _args() -> argparse.Namespace:
    parser = backlog_parser(__doc__, "catchup", 19292)
    parser.add_argument("--s3", action="store_true", help="the lake on a local S3 server")
    args = parser.parse_args()
    if args.s3 and args.out == parser.get_default("out"):
        args.out = str(PROJECT_ROOT / "bench/results/catchup-s3.json")
    return args


if __name__ == "__main__":
    main(_args())
