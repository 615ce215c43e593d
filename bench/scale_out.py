"""Scale-out: the backfill's Spark rebuild on the local standalone cluster, one worker
and then two (one core each), over the same bronze.

On this 2-core machine the workers share the cores with the driver, so the figures show
that the batch jobs spread over the executors a cluster gives them, not a speed-up.

    .venv/bin/python bench/scale_out.py [--events 2000000] [--channels 20]

Writes JSON to ``--out`` (default bench/results/scale_out.json) and prints it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from backfill import write_bronze
from results_io import write_result

from pipelines.config import PROJECT_ROOT, load_settings
from pipelines.ops import cluster


def rebuild_on(settings, master: str) -> dict:
    """Silver then gold in batch mode on ``master``; how many executors took part."""
    from pipelines.jobs import runner
    from pipelines.jobs.spark import build_spark

    spark = build_spark(
        settings.model_copy(update={"spark_master": master}),
        app_name="telemetra-bench-scale-out",
        **{"spark.executor.memory": "1g", "spark.ui.enabled": "false"},
    )
    try:
        started = time.perf_counter()
        for layer in ("silver", "gold"):
            runner.run_batch(spark, settings, layer)
        elapsed = time.perf_counter() - started
        # getExecutorInfos lists the driver too.
        executors = len(spark.sparkContext._jsc.sc().statusTracker().getExecutorInfos()) - 1
    finally:
        spark.stop()
    return {"total_s": round(elapsed, 1), "executors_seen": executors}


def main(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="telemetra-scale-out-"))
    settings = load_settings(
        lake_root=str(work / "lake"), run_dir=str(work / "run"), spark_shuffle_partitions=4
    )
    channels = [f"bench_{i:02d}" for i in range(args.channels)]
    runs = []
    try:
        bronze = write_bronze(
            settings.table_path("bronze", "events"), settings, args.events, channels, 20.0
        )
        for workers in (1, 2):
            cluster.cluster_up(settings, workers=workers, worker_cores=1, worker_memory="1500m")
            run = {"workers": workers, **rebuild_on(settings, cluster.master_url())}
            run["events_per_s"] = round(bronze["records"] / run["total_s"])
            runs.append(run)
            print(json.dumps(run), flush=True)
    finally:
        cluster.cluster_down(settings)
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "events": bronze["records"],
        "runs": runs,
    }
    return write_result(result, args.out)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--out", default=str(PROJECT_ROOT / "bench/results/scale_out.json"))
    return parser.parse_args()


if __name__ == "__main__":
    main(_args())
