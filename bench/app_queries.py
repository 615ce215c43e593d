"""Latency of every query the app's pages run, over a generated gold lake.

    python bench/app_queries.py [--days 30] [--streams 50] [--lake PATH] [--reuse]
                                [--layout stream|time] [--iterations 30]

The lake: ``--days`` × ``--streams`` of 1-minute windows sliding every 10 s (the
defaults of conf/defaults.yaml), i.e. 8,640 windows per stream per day, plus one
broadcast per stream per day, three moments per stream per day and the streams table.
It is written with the ``deltalake`` package (fast, no Spark), one commit per day, in the
gold schemas of ``pipelines/core/schemas.py``; ``stream_hour_metrics`` is then the gold job's
own rollup of those windows, run with Spark. ``--layout time`` keeps arrival order (all
streams interleaved): what the streaming sink writes and ``telemetra maintain``'s
compaction keeps. ``--layout stream`` sorts each day's file by stream then time: what
clustering by stream (OPTIMIZE ZORDER BY (stream_id, window_start)) would give.

The queries run through ``GoldQueries`` directly, i.e. without the app's st.cache_data,
so every call pays the full DuckDB + Parquet cost. Prints p50/p95 per query and writes
them to ``bench/results/app_queries-<layout>.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
from deltalake import WriterProperties, write_deltalake

from pipelines.config import load_settings
from pipelines.core import contract, schemas
from pipelines.jobs.spark import build_spark
from pipelines.serving.queries import GoldQueries
from pipelines.transforms.gold import rollup_hours

DAY = 86_400
EMOTES = np.array(["Kappa", "PogChamp", "LUL", "KEKW", "monkaS", "OMEGALUL", "Pog", "PepeHands",
                   "Sadge", "catJAM", "EZ", "5Head", "HeyGuys", "NotLikeThis", "BibleThump",
                   "Kreygasm", "ResidentSleeper", "TriHard", "WutFace", "DansGame"])  # fmt: skip
KINDS = np.array(contract.MOMENT_KINDS)
RESULTS = Path(__file__).resolve().parent / "results"


def _emote_lists(rng: np.random.Generator, n: int, per_row: int = 3) -> pa.Array:
    """n lists of ``per_row`` {emote, count} structs, counts descending."""
    names = pa.array(EMOTES[rng.integers(0, len(EMOTES), n * per_row)])
    counts = pa.array(np.sort(rng.integers(1, 60, (n, per_row)), axis=1)[:, ::-1].ravel())
    structs = pa.StructArray.from_arrays([names, counts], names=["emote", "count"])
    return pa.ListArray.from_arrays(pa.array(np.arange(n + 1) * per_row, pa.int32()), structs)


def metrics_day(rng, ids: list[str], day0: datetime, slide: int, window: int, layout: str):
    steps = DAY // slide
    n = len(ids) * steps
    stream = np.repeat(np.arange(len(ids)), steps)
    offset = np.tile(np.arange(steps) * slide, len(ids))
    base = np.exp(rng.normal(6.5, 1.2, len(ids)))[stream]  # ~700 viewers, long tail
    wave = 1 + 0.4 * np.sin(2 * np.pi * offset / DAY + stream)
    viewers = np.maximum(0, base * wave * rng.normal(1, 0.03, n)).astype(np.int64)
    chat = rng.poisson(viewers * 0.05 + 1)
    tx = rng.poisson(0.3, n)
    starts = np.datetime64(day0.replace(tzinfo=None), "us") + offset.astype("timedelta64[s]")
    ts = pa.timestamp("us", tz="UTC")
    columns = {
        "stream_id": pa.array(np.array(ids)[stream]),
        "window_start": pa.array(starts, ts),
        "window_end": pa.array(starts + np.timedelta64(window, "s"), ts),
        "avg_viewers": viewers * 0.98,
        "max_viewers": (viewers * 1.05).astype(np.int64),
        "last_viewers": viewers,
        "chat_count": chat,
        "unique_chatters": (chat * 0.6).astype(np.int64),
        "sentiment_mean": np.clip(rng.normal(0.1, 0.2, n), -1, 1),
        "positive_count": (chat * 0.4).astype(np.int64),
        "negative_count": (chat * 0.1).astype(np.int64),
        "top_emotes": _emote_lists(rng, n),
        "tx_count": tx,
        "revenue": pa.array(np.round(tx * 4.99, 2)).cast(pa.decimal128(18, 2)),
    }
    table = pa.Table.from_pydict(columns, schema=schemas.STREAM_MINUTE_METRICS)
    if layout == "time":
        table = table.sort_by([("window_start", "ascending"), ("stream_id", "ascending")])
    return table


def small_tables(rng, ids: list[str], first: datetime, days: int) -> dict[str, pa.Table]:
    """Moments (3 per stream per day), one broadcast per stream per day, the streams."""
    end = first + timedelta(days=days)
    moments, summaries = [], []
    for d in range(days):
        day0 = first + timedelta(days=d)
        for sid in ids:
            summaries.append(_summary(rng, sid, day0))
            for _ in range(3):
                moments.append(_moment(rng, sid, day0, len(moments)))
    streams = [
        {"stream_id": sid, "status": "live" if i < 10 else "offline", "title": f"{sid} title",
         "category": "Just Chatting", "language": "en", "started_at": end - timedelta(hours=3),
         "last_event_ts": end - timedelta(seconds=1 + i)}
        for i, sid in enumerate(ids)
    ]  # fmt: skip
    rows = {"moments": moments, "stream_summary": summaries, "streams": streams}
    return {
        name: pa.Table.from_pylist(data, schema=getattr(schemas, name.upper()))
        for name, data in rows.items()
    }


def _moment(rng, sid: str, day0: datetime, n: int) -> dict:
    start = day0 + timedelta(seconds=int(rng.integers(0, DAY - 600)))
    return {
        "moment_id": f"{sid}-{n}", "stream_id": sid, "kind": str(rng.choice(KINDS)),
        "start_ts": start, "end_ts": start + timedelta(seconds=int(rng.integers(20, 300))),
        "peak_ts": start + timedelta(seconds=10), "peak_value": float(rng.uniform(50, 900)),
        "score": float(rng.uniform(4, 12)), "baseline_mean": 100.0, "baseline_std": 10.0,
        "top_emotes": [{"emote": "Pog", "count": 40}], "sample_messages": ["Pog", "wow"],
    }  # fmt: skip


def _summary(rng, sid: str, day0: datetime) -> dict:
    start = day0 + timedelta(hours=int(rng.integers(0, 12)))
    return {
        "stream_id": sid, "broadcast_id": f"{sid}-{start:%Y%m%dT%H%M}", "started_at": start,
        "ended_at": start + timedelta(hours=int(rng.integers(2, 10))), "title": f"{sid} title",
        "category": "Just Chatting", "peak_viewers": int(rng.integers(100, 20000)),
        "avg_viewers": float(rng.uniform(50, 9000)), "messages": int(rng.integers(1000, 90000)),
        "unique_chatters": int(rng.integers(100, 9000)),
        "revenue": Decimal(f"{rng.uniform(0, 5000):.2f}"),
        "top_emotes": [{"emote": "Kappa", "count": 900}], "moment_count": 3,
    }  # fmt: skip


def generate_lake(root: Path, days: int, n_streams: int, layout: str, seed: int = 7) -> datetime:
    """Write the gold lake; returns the end of the generated period (UTC)."""
    rng = np.random.default_rng(seed)
    ids = [f"stream_{i:02d}" for i in range(n_streams)]
    end = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    first = end - timedelta(days=days)
    shutil.rmtree(root, ignore_errors=True)
    props = WriterProperties(max_row_group_size=16_384, compression="SNAPPY")
    for d in range(days):
        table = metrics_day(rng, ids, first + timedelta(days=d), 10, 60, layout)
        write_deltalake(str(root / "gold" / "stream_minute_metrics"), table, mode="append",
                        writer_properties=props)  # fmt: skip
        print(f"  day {d + 1}/{days}: {table.num_rows:,} windows", flush=True)
    for name, table in small_tables(rng, ids, first, days).items():
        write_deltalake(str(root / "gold" / name), table, mode="overwrite")
    write_hour_rollup(root)
    return end


def write_hour_rollup(root: Path) -> None:
    """stream_hour_metrics, by the gold job's own rollup (Spark) of the minute windows."""
    t0 = time.perf_counter()
    spark = build_spark(load_settings(), "bench-hour-rollup")
    try:
        gold = root / "gold"
        minutes = spark.read.format("delta").load(str(gold / "stream_minute_metrics"))
        rollup_hours(minutes).coalesce(1).write.format("delta").mode("overwrite").save(
            str(gold / "stream_hour_metrics")
        )
    finally:
        spark.stop()
    print(f"  hour rollup written in {time.perf_counter() - t0:.0f} s", flush=True)


def page_queries(q: GoldQueries, rng: random.Random, end: datetime, ids: list[str]) -> dict:
    """Every query the pages run, as the pages call them, on a random stream each time."""
    hour, day, week = end - timedelta(hours=1), end - timedelta(days=1), end - timedelta(days=7)
    # The app's comparison periods end at the newest event, mid-hour: the minute windows
    # around the whole hours are read too.
    mid = end - timedelta(minutes=17, seconds=30)
    moment = q.moments().iloc[0]
    pad = timedelta(minutes=5)
    keys = list(q.broadcast_summaries()[["stream_id", "broadcast_id"]].itertuples(index=False))

    def pick() -> str:
        return rng.choice(ids)

    return {
        "live: list_streams": lambda: q.list_streams(),
        "live: live_snapshot": lambda: q.live_snapshot(pick()),
        "live: minute_metrics 1 h": lambda: q.minute_metrics(pick(), hour, end),
        "live: minute_metrics 24 h": lambda: q.minute_metrics(pick(), day, end),
        "live: top_emotes 1 h": lambda: q.top_emotes(pick(), hour, end, limit=12),
        "live: moments of stream 1 h": lambda: q.moments(stream_ids=[pick()], start=hour, end=end),
        "live+moments: moment context ±5 min": lambda: q.minute_metrics(
            moment["stream_id"], moment["start_ts"] - pad, moment["end_ts"] + pad
        ),
        "broadcasts: broadcast_summaries(stream)": lambda: q.broadcast_summaries(pick()),
        "broadcasts: broadcast_summaries(all)": lambda: q.broadcast_summaries(),
        "broadcasts: compare_broadcasts(2)": lambda: q.compare_broadcasts(
            [tuple(k) for k in rng.sample(keys, 2)]
        ),
        "broadcasts: compare_streams(3, all data)": lambda: q.compare_streams(rng.sample(ids, 3)),
        "broadcasts: compare_streams(3, 24 h)": lambda: q.compare_streams(
            rng.sample(ids, 3), mid - timedelta(days=1), mid
        ),
        "broadcasts: compare_streams(3, 7 d)": lambda: q.compare_streams(
            rng.sample(ids, 3), mid - timedelta(days=7), mid
        ),
        "moments: moments(all)": lambda: q.moments(),
        "moments: moments(2 kinds, score>=6, 7 d)": lambda: q.moments(
            kinds=["raid", "chat_spike"], min_score=6, start=week, end=end
        ),
    }


def measure(queries: dict[str, Callable], iterations: int) -> dict[str, dict]:
    results = {}
    for name, run in queries.items():
        t0 = time.perf_counter()
        run()
        first = time.perf_counter() - t0
        times = []
        for _ in range(iterations):
            t0 = time.perf_counter()
            rows = len(run())
            times.append(time.perf_counter() - t0)
        times.sort()
        results[name] = {
            "first_ms": round(first * 1000, 1),
            "p50_ms": round(statistics.median(times) * 1000, 1),
            "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))] * 1000, 1),
            "rows": rows,
        }
        r = results[name]
        print(f"{name:45s} p50 {r['p50_ms']:8.1f} ms  p95 {r['p95_ms']:8.1f} ms  "
              f"first {r['first_ms']:8.1f} ms  rows {rows}", flush=True)  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--layout", choices=["stream", "time"], default="stream")
    parser.add_argument("--lake", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true", help="keep an existing generated lake")
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    lake = args.lake or Path("/tmp") / f"telemetra-bench-{args.layout}-{args.days}d"
    ids = [f"stream_{i:02d}" for i in range(args.streams)]
    if args.reuse and (lake / "gold" / "streams").is_dir():
        print(f"reusing {lake}")
    else:
        print(f"generating {args.days} days × {args.streams} streams under {lake}")
        t0 = time.perf_counter()
        generate_lake(lake, args.days, args.streams, args.layout)
        print(f"  generated in {time.perf_counter() - t0:.0f} s")
    q = GoldQueries(str(lake))
    end = q.list_streams()["last_event_ts"].max().to_pydatetime() + timedelta(seconds=1)
    results = measure(page_queries(q, random.Random(1), end, ids), args.iterations)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"app_queries-{args.layout}.json"
    size = sum(f.stat().st_size for f in lake.rglob("*") if f.is_file())
    meta = {"days": args.days, "streams": args.streams, "layout": args.layout,
            "windows": args.days * args.streams * DAY // 10, "lake_bytes": size,
            "iterations": args.iterations}  # fmt: skip
    out.write_text(json.dumps({"lake": meta, "queries": results}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
