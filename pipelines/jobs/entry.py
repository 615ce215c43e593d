"""spark-submit entry points: ``spark-submit pipelines/<layer>.py [--mode M] [--trigger T]``.

Config is read here, once, from conf/ and the environment; the jobs get it passed down.
Under spark-submit the master and ``--jars`` come from the spark-submit command line.
"""

from __future__ import annotations

import argparse

from pipelines.config import entry_point_settings


def submit_main(layer: str, argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"pipelines/{layer}.py")
    parser.add_argument("--mode", choices=("stream", "batch"), default="stream")
    parser.add_argument("--trigger", default=None, help="availableNow | processing:10s")
    args = parser.parse_args(argv)
    settings = entry_point_settings()

    from pipelines.jobs import runner
    from pipelines.jobs.spark import build_spark

    spark = build_spark(settings, app_name=f"telemetra-{layer}")
    if args.mode == "batch":
        print(runner.run_batch(spark, settings, layer))
    else:
        runner.run_stream(spark, settings, layer, runner.parse_trigger(args.trigger, settings))
