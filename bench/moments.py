"""Moments on realistic synthetic chat, scored by ``telemetra eval moments``.

1. ``--channels`` channels of ``--hours`` hours from the producer's generator (highlights
   of 1.5-4x chat for 20-90 s after a reaction lag, organic bursts that are not
   highlights, bursty chat; ``pipelines/sim/event_sim.py``) are written straight to bronze
   (no Kafka), with the truth to a JSON Lines file.
2. ``telemetra run silver --mode batch``, then ``gold``, build silver and gold: the
   pipeline's own detector at the configured (default) settings.
3. ``telemetra eval moments --labels truth.jsonl --json`` scores gold/moments: precision,
   recall and F1 per kind and overall (±30 s), precision@10 per stream.
4. False positives on organic bursts: chat spikes matching no label that overlap (±30 s)
   an organic burst, per hour of stream, beside those overlapping nothing.

    .venv/bin/python bench/moments.py [--channels 20] [--hours 2] [--rate 10]

Writes JSON to ``--out`` (default bench/results/moments.json) and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from backfill import write_records
from deltalake import DeltaTable
from results_io import write_result

from pipelines.config import PROJECT_ROOT, Settings
from pipelines.serving.moment_eval import load_labels, match, moments_from_rows
from pipelines.sim.events import generate

START = datetime(2026, 12, 1, 18, tzinfo=timezone.utc)


def telemetra(env: dict, *args: str) -> str:
    cli = Path(sys.executable).with_name("telemetra")
    done = subprocess.run([str(cli), *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"telemetra {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout


def organic_false_positives(settings, truth: Path, organic: list, tolerance: int) -> dict:
    """Chat spikes that match no label, split by whether they overlap an organic burst."""
    rows = DeltaTable(settings.table_path("gold", "moments")).to_pyarrow_table().to_pylist()
    spikes = moments_from_rows(r for r in rows if r["kind"] == "chat_spike")
    labels = [lab for lab in load_labels(truth) if lab.kind == "chat_spike"]
    matched, _ = match(spikes, labels, tolerance)
    pad = timedelta(seconds=tolerance)
    on_organic = nothing = 0
    for i, m in enumerate(spikes):
        if i in matched:
            continue
        if any(o.stream_id == m.stream_id and m.start <= o.end + pad and m.end >= o.start - pad
               for o in organic):  # fmt: skip
            on_organic += 1
        else:
            nothing += 1
    return {"chat_spikes": len(spikes), "unmatched_on_organic_bursts": on_organic,
            "unmatched_on_nothing": nothing}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=20)
    ap.add_argument("--names", help="comma-separated channel names (instead of ch00, ch01...)")
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--rate", type=float, default=10.0, help="events/s per channel")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--tolerance", type=int, default=30)
    ap.add_argument("--out", default=str(PROJECT_ROOT / "bench/results/moments.json"))
    ap.add_argument("--keep", help="build the lake (and truth.jsonl) in this folder and keep it")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="telemetra-moments-") as scratch:
        tmp = args.keep or scratch
        # A batch rebuild of this size wants more heap than the live stack's 1.5 GiB.
        env = {"TELEMETRA_SPARK_DRIVER_MEMORY": "6g", **os.environ,
               "TELEMETRA_LAKE_ROOT": f"{tmp}/lake"}  # fmt: skip
        settings = Settings(lake_root=env["TELEMETRA_LAKE_ROOT"])
        channels = (
            args.names.split(",") if args.names else [f"ch{i:02d}" for i in range(args.channels)]
        )
        args.channels = len(channels)
        end = START + timedelta(hours=args.hours)
        gen = generate(channels, args.rate, START, end, seed=args.seed, bad_ratio=0.0)
        bronze = write_records(settings.table_path("bronze", "events"), settings, gen)
        truth = Path(tmp) / "truth.jsonl"
        truth.write_text("".join(json.dumps(r) + "\n" for r in gen.truth_rows()))
        organic = moments_from_rows(
            {"stream_id": m.stream_id, "kind": m.kind, "score": 0.0,
             "start_ts": datetime.fromtimestamp(m.start_ms / 1000, timezone.utc),
             "end_ts": datetime.fromtimestamp(m.end_ms / 1000, timezone.utc)}
            for m in gen.organic_truth
        )  # fmt: skip

        started = time.perf_counter()
        for layer in ("silver", "gold"):
            telemetra(env, "run", layer, "--mode", "batch")
        build_s = round(time.perf_counter() - started, 1)
        scored = json.loads(
            telemetra(
                env,
                "eval",
                "moments",
                "--labels",
                str(truth),
                "--json",
                "--tolerance",
                str(args.tolerance),
            )  # fmt: skip
        )
        fps = organic_false_positives(settings, truth, organic, args.tolerance)

    hours = args.channels * args.hours
    per_hour = {
        "on_organic_bursts_per_stream_hour": round(fps["unmatched_on_organic_bursts"] / hours, 3),
        "on_nothing_per_stream_hour": round(fps["unmatched_on_nothing"] / hours, 3),
    }
    result = {
        "what": "gold/moments at default settings vs the generator's truth (eval moments)",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "channels": args.channels,
        "hours": args.hours,
        "rate": args.rate,
        "seed": args.seed,
        "bronze_records": bronze["records"],
        "batch_build_s": build_s,
        "eval": scored,
        "organic_bursts": len(organic),
        "false_positives": {**fps, **per_hour},
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
