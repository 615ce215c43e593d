"""Peer: Quix Streams and Telemetra's Spark pipeline on the same Kafka backlog, in one run.

Starts a broker of its own (``--kafka-port``), puts ``--events`` events into it with the
producer's ``--fast`` mode (as ``bench/catchup.py`` does), then:

1. **Quix Streams** (one Python process, RocksDB state; ``--quix-only`` runs it alone)
   reads the chat topic from the start and computes what the dashboard's chat chart
   needs: per stream, 1-minute windows sliding 10 s (``window_seconds`` /
   ``slide_seconds``) with the message count and the distinct chatters, closed windows
   emitted (``.final()``). Timed from the process start to its last chat record.
2. **Telemetra**: ``telemetra run all --mode stream --trigger availableNow`` carries every
   record (all four topics) through bronze, silver (parse, validate, dedupe, lateness,
   sentiment, all window tables) and gold (metrics, moments, summaries), and returns when
   gold holds everything.

The rates are records per second over the records each one reads (Quix: the chat topic;
Telemetra: all four topics, about 98% chat). The work differs: Quix counts and collects
user ids of raw chat records; Telemetra validates, dedupes and lands every record and
computes far more. Both figures and the ratio go to ``--out`` (bench/results/peer.json).

    .venv/bin/python bench/peer.py [--events 1000000] [--channels 20]

Needs Quix Streams (``pip install -e '.[bench]'``, which ``make bench`` does).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil
from catchup import backlog_parser, catch_up, fill_kafka, own_stack
from results_io import machine, write_result

from pipelines.config import load_settings
from pipelines.sim.event_codec import parse_ts


def quix_windows(args: argparse.Namespace) -> dict:
    """The Quix Streams app: the chat topic from the start, windows per stream (the key)."""
    from quixstreams import Application
    from quixstreams.dataframe.windows import Collect, Count

    settings = load_settings()
    expected, done = args.expect, {"n": 0, "at": None}
    started = time.monotonic()

    def processed(topic: str, partition: int, offset: int) -> None:
        done["n"] += 1
        if done["n"] >= expected and done["at"] is None:
            done["at"] = time.monotonic()
            app.stop()

    app = Application(
        broker_address=settings.kafka_bootstrap_servers,
        consumer_group=f"telemetra-peer-{os.getpid()}",
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        on_message_processed=processed,
        loglevel="WARNING",
        use_changelog_topics=False,  # state is local; Telemetra's windows are in Delta
    )
    topic = app.topic(
        settings.topic("chat"),
        value_deserializer="json",
        timestamp_extractor=lambda value, headers, ts, kind: parse_ts(value["ts"]),
    )
    windows = {"emitted": 0, "messages": 0}

    def tally(row: dict) -> None:
        windows["emitted"] += 1
        windows["messages"] += row["chat_count"]

    (
        app.dataframe(topic)
        .hopping_window(duration_ms=settings.window_seconds * 1000,
                        step_ms=settings.slide_seconds * 1000,
                        grace_ms=settings.watermark_seconds * 1000)
        # Collect appends each user id to the window's store and hands the list over when
        # the window closes: far cheaper per record than a Reduce that rewrites a set
        # (4,069 records/s with one, measured here).
        .agg(chat_count=Count(), chatters=Collect("user_id"))
        .final()
        .apply(lambda row: {**row, "chatters": len(set(row["chatters"]))})
        .update(tally)
    )  # fmt: skip
    app.run()
    seconds = (done["at"] or time.monotonic()) - started
    return {
        "records": done["n"],
        "seconds": round(seconds, 1),
        "records_per_s": round(done["n"] / seconds),
        "closed_windows_emitted": windows["emitted"],
        "window_messages": windows["messages"],
    }


def run_quix(settings, work: Path, expect: int) -> dict:
    """Run :func:`quix_windows` in a process of its own; its wall time and peak memory."""
    out = work / "quix.json"
    cmd = [sys.executable, __file__, "--quix-only", "--expect", str(expect),
           "--state-dir", str(work / "quix-state"), "--quix-out", str(out)]  # fmt: skip
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=(work / "quix.log").open("w"))
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, psutil.Process(proc.pid).memory_info().rss)
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.5)
    if proc.returncode != 0:
        raise RuntimeError(f"quix failed: {(work / 'quix.log').read_text()[-2000:]}")
    result = json.loads(out.read_text())
    result["process_s"] = round(time.monotonic() - started, 1)
    result["peak_rss_mib"] = round(peak / 2**20)
    return result


def main(args: argparse.Namespace) -> dict:
    with own_stack(args, prefix="peer") as (work, settings):
        in_kafka, produce_s = fill_kafka(settings, args)
        chat = in_kafka["chat"]
        quix = run_quix(settings, work, expect=chat)
        spark = catch_up(settings, work)
        spark_rate = sum(in_kafka.values()) / spark["catchup_s"]
        result = {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(),
            "events_requested": args.events,
            "channels": args.channels,
            "records_in_kafka": in_kafka,
            "produce_s": round(produce_s, 1),
            "quix": quix,
            "telemetra": {**spark, "records_per_s": round(spark_rate)},
            "telemetra_over_quix": round(spark_rate / quix["records_per_s"], 2),
        }  # fmt: skip
    return write_result(result, args.out)


def _args() -> argparse.Namespace:
    parser = backlog_parser(__doc__, "peer", 19492)
    parser.add_argument("--quix-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", default="", help=argparse.SUPPRESS)
    parser.add_argument("--quix-out", default="", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    parsed = _args()
    if parsed.quix_only:
        Path(parsed.quix_out).write_text(json.dumps(quix_windows(parsed)))
    else:
        main(parsed)
