"""Soak: the streaming pipeline kill -9'd every few minutes under load; the books after each crash.

Starts a broker of its own (``--kafka-port``, a run folder and lake of its own) and the paced
producer at ``--rate`` events/s over ``--channels`` channels (with ``--bad-ratio`` bad
records) for ``--minutes``. The pipeline (``telemetra run all``, its own process group)
runs beside it and is SIGKILLed, with its JVM, every 2-4 minutes at a random moment. After
each kill ``telemetra run all --trigger availableNow`` finishes what the dead run left (the
interrupted batch and the backlog up to that moment), the books are read, and the
continuous pipeline is started again while the producer keeps producing.

The books (``pipelines.quality.accounting``, DuckDB over the Delta tables): per Kafka partition
bronze holds every offset exactly once (nothing lost, nothing doubled); every bronze row is
in exactly one silver table or quarantine (by Kafka coordinates); no event_id is in two
typed rows. At the end the producer stops, the pipeline catches up, and bronze must equal
the records in Kafka and the typed rows the good records produced.

    .venv/bin/python bench/soak.py [--minutes 30] [--rate 500] [--seed 1]

Writes JSON to ``--out`` (default bench/results/soak.json) and prints it.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from catchup import cli, own_stack
from ingest import kafka_records
from kafka import KafkaConsumer
from results_io import machine, write_result

from pipelines.config import PROJECT_ROOT
from pipelines.jobs import kafka_ready
from pipelines.ops import kafka_local, stack
from pipelines.quality.accounting import lake_books, unbalanced


def start_pipeline(log: Path) -> subprocess.Popen:
    return subprocess.Popen(cli("run", "all"), stdout=subprocess.DEVNULL,
                            stderr=log.open("a"), start_new_session=True)  # fmt: skip


def catch_up(log: Path) -> float:
    started = time.monotonic()
    with log.open("a") as out:
        subprocess.run(cli("run", "all", "--trigger", "availableNow"), check=True,
                       stdout=subprocess.DEVNULL, stderr=out)  # fmt: skip
    return time.monotonic() - started


def main(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    with own_stack(args, prefix="soak", log_level="INFO") as (work, settings):
        log = work / "pipeline.log"
        crashes = []
        stack.ensure_supervisord(settings)
        stack.start(settings, "kafka")
        kafka_ready.wait_until_ready(settings)
        kafka_local.ensure_topics(settings)
        channels = ",".join(f"soak_{i:02d}" for i in range(args.channels))
        producer = subprocess.Popen(
            cli("produce", "--channels", channels, "--rate", str(args.rate / args.channels),
                "--duration", str(args.minutes * 60), "--seed", str(args.seed),
                "--bad-ratio", str(args.bad_ratio)),
            stdout=subprocess.PIPE, stderr=(work / "producer.log").open("w"), text=True,
        )  # fmt: skip
        began = time.monotonic()
        pipeline = start_pipeline(log)
        while producer.poll() is None:
            wait = rng.uniform(120, 240)
            if time.monotonic() - began + wait > args.minutes * 60:
                break
            time.sleep(wait)
            if pipeline.poll() is not None:
                raise RuntimeError(f"the pipeline died on its own: {log.read_text()[-3000:]}")
            os.killpg(pipeline.pid, signal.SIGKILL)
            pipeline.wait()
            at = round(time.monotonic() - began)
            recovery_s = catch_up(log)
            figures = lake_books(settings)
            crashes.append({"killed_at_s": at, "recovery_s": round(recovery_s, 1), **figures,
                            "balanced": not unbalanced(figures)})  # fmt: skip
            print(crashes[-1], flush=True)
            pipeline = start_pipeline(log)
        out, _ = producer.communicate()
        os.killpg(pipeline.pid, signal.SIGTERM)
        pipeline.wait(timeout=120)
        catch_up(log)
        consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
        in_kafka = kafka_records(consumer, settings)
        consumer.close()
        final = lake_books(settings)
        result = {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(),
            "minutes": args.minutes, "rate": args.rate, "channels": args.channels,
            "bad_ratio": args.bad_ratio, "seed": args.seed,
            "producer": out.strip().splitlines()[-1] if out.strip() else "",
            "records_in_kafka": in_kafka,
            "crashes": crashes,
            "final": final,
            "balanced_after_every_crash": all(c["balanced"] for c in crashes),
            "balanced_at_the_end": not unbalanced(final)
            and final["bronze_rows"] == in_kafka == final["silver_rows"],
        }  # fmt: skip
    return write_result(result, args.out)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=500, help="events/s over all channels")
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--bad-ratio", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kafka-port", type=int, default=19392)
    parser.add_argument("--keep", action="store_true", help="keep the run folder and lake")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "bench/results/soak.json"))
    return parser.parse_args()


if __name__ == "__main__":
    main(_args())
