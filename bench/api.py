"""The API's targets (issue 26): metrics latency on a big lake, and /live's push to many clients.

1. ``GET /streams/{id}/metrics`` for the last 24 h at 1-minute resolution on the
   ``bench/app_queries.py`` lake (``--days`` × ``--streams``, default 30 × 50; generated once,
   reused with ``--reuse``): ``--requests`` requests over random streams, each the first page
   of 100 points, and the whole day walked page by page (15 requests, 1,440 points).
   Target: p95 ≤ 50 ms per request.
2. ``--clients`` WebSocket clients (default 200) on one stream of that lake, in this
   process; ``--rounds`` times a new pane of that stream is appended to ``silver/panes``
   with ``deltalake`` (a Delta commit, as the hot path makes one each micro-batch), and
   each client's delay from the end of the commit to its ``stream.metrics`` message is
   taken. Target: p95 ≤ 2 s. The API process's memory (RSS) is read before the clients
   connect and after the last round.

``telemetra api`` runs as a process of its own on a free port, as ``make up`` runs it.

    .venv/bin/python bench/api.py [--reuse] [--clients 200] [--rounds 15]

Prints JSON and writes it to ``--out`` (default bench/results/api.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import psutil
import pyarrow as pa
import websockets
from app_queries import generate_lake
from deltalake import write_deltalake
from results_io import machine, write_result

from pipelines.core import schemas
from pipelines.serving.queries import GoldQueries

TELEMETRA = Path(sys.executable).with_name("telemetra")
LIVE_STREAM = "stream_00"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float]) -> dict:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return {"n": len(values), "p50": round(statistics.median(values), 4), "p95": round(p95, 4),
            "max": round(values[-1], 4)}  # fmt: skip


def start_api(lake: Path, run_dir: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "TELEMETRA_LAKE_ROOT": str(lake), "TELEMETRA_RUN_DIR": str(run_dir),
           "LOG_LEVEL": "WARNING", "TELEMETRA_API_KEEPALIVE_SECONDS": "60"}  # fmt: skip
    proc = subprocess.Popen([str(TELEMETRA), "api", "--port", str(port)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the API did not answer within 60 s")


def metrics_latency(base: str, end: datetime, streams: int, requests: int, walks: int) -> dict:
    rng = random.Random(1)
    day = {"from": (end - timedelta(days=1)).isoformat(), "to": end.isoformat(),
           "resolution": "1m", "first": 100}  # fmt: skip
    first_page, walk_s, walk_requests = [], [], []
    with httpx.Client(base_url=base, timeout=30) as client:
        client.get(f"/streams/{LIVE_STREAM}/metrics", params=day).raise_for_status()  # warm
        for _ in range(requests):
            sid = f"stream_{rng.randrange(streams):02d}"
            t0 = time.perf_counter()
            response = client.get(f"/streams/{sid}/metrics", params=day)
            first_page.append(time.perf_counter() - t0)
            response.raise_for_status()
            assert len(response.json()["data"]) == 100
        for _ in range(walks):
            sid = f"stream_{rng.randrange(streams):02d}"
            t0, points, after = time.perf_counter(), 0, None
            while True:
                t1 = time.perf_counter()
                params = {**day, **({"after": after} if after else {})}
                body = client.get(f"/streams/{sid}/metrics", params=params).json()
                walk_requests.append(time.perf_counter() - t1)
                points += len(body["data"])
                after = body["pagination"]["cursor"]
                if after is None:
                    break
            walk_s.append(time.perf_counter() - t0)
            assert points == 1440, points
    return {"first_page_s": _pct(first_page), "walk_request_s": _pct(walk_requests),
            "walk_1440_points_s": _pct(walk_s)}  # fmt: skip


def _pane(now: datetime, batch: int) -> pa.Table:
    start = now.replace(second=now.second - now.second % 10, microsecond=0)
    row = {"stream_id": LIVE_STREAM, "pane_start": start,
           "pane_end": start + timedelta(seconds=10), "batch_id": batch, "events": 40,
           "first_ts": start, "last_ts": now, "since_ts": start, "last_ingest_time": now,
           "chat_count": 30 + batch, "chatters": [f"u{i}" for i in range(20)],
           "sentiment_n": 0, "positive_count": 5, "negative_count": 2,
           "emote_counts": [{"emote": "Kappa", "count": 3}], "viewer_samples": 1,
           "viewer_sum": 1000 + batch, "viewer_min": 1000 + batch, "viewer_max": 1000 + batch,
           "last_viewer_ts": now, "last_viewers": 1000 + batch, "tx_count": 0}  # fmt: skip
    return pa.Table.from_pylist([row], schema=schemas.PANES)


async def live_push(base: str, lake: Path, proc: psutil.Process, clients: int, rounds: int) -> dict:
    url = base.replace("http://", "ws://") + f"/live/{LIVE_STREAM}"
    panes = str(lake / "silver" / "panes")
    write_deltalake(panes, _pane(datetime.now(timezone.utc), 0), mode="append")
    rss_before = proc.memory_info().rss
    sockets = [await websockets.connect(url, max_queue=None) for _ in range(clients)]
    delays: list[float] = []
    landed = {"at": 0.0}

    async def listen(ws) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message["metadata"].get("subscription_type") == "stream.metrics" and landed["at"]:
                delays.append(time.perf_counter() - landed["at"])

    tasks = [asyncio.create_task(listen(ws)) for ws in sockets]
    await asyncio.sleep(3)  # welcomes and the current metrics
    for batch in range(1, rounds + 1):
        table = _pane(datetime.now(timezone.utc), batch)
        await asyncio.to_thread(write_deltalake, panes, table, mode="append")
        landed["at"] = time.perf_counter()
        await asyncio.sleep(3)
    rss_after = proc.memory_info().rss
    for ws in sockets:
        await ws.close()
    for task in tasks:
        task.cancel()
    received = len(delays)
    return {"clients": clients, "rounds": rounds, "messages": received,
            "expected_messages": clients * rounds, "push_delay_s": _pct(delays),
            "api_rss_mib": {"before_clients": round(rss_before / 2**20),
                            "with_clients": round(rss_after / 2**20)}}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--lake", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true", help="keep an existing generated lake")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--walks", type=int, default=20)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "api.json"))
    args = parser.parse_args()
    lake = args.lake or Path("/tmp") / f"telemetra-bench-stream-{args.days}d"
    if not (args.reuse and (lake / "gold" / "streams").is_dir()):
        print(f"generating {args.days} days × {args.streams} streams under {lake}", flush=True)
        generate_lake(lake, args.days, args.streams, "stream")
    # the generated windows end where the streams' last events are (a midnight)
    newest = GoldQueries(str(lake)).list_streams()["last_event_ts"].max().to_pydatetime()
    end = (newest + timedelta(seconds=1)).replace(microsecond=0)
    port = _free_port()
    with tempfile.TemporaryDirectory() as run_dir:
        api = start_api(lake, Path(run_dir), port)
        try:
            base = f"http://127.0.0.1:{port}"
            metrics = metrics_latency(base, end, args.streams, args.requests, args.walks)
            print(json.dumps(metrics), flush=True)
            live = asyncio.run(live_push(base, lake, psutil.Process(api.pid), args.clients,
                                         args.rounds))  # fmt: skip
        finally:
            api.terminate()
            api.wait(timeout=30)
    write_result({"machine": machine(), "lake": {"days": args.days, "streams": args.streams},
                  "metrics_24h_1m": metrics, "live": live,
                  "targets": {"metrics_p95_s": 0.05, "push_p95_s": 2.0}}, args.out)  # fmt: skip


if __name__ == "__main__":
    main()
