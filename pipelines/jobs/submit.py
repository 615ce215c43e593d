"""The spark-submit entry point of every layer:
``spark-submit ... pipelines/jobs/submit.py LAYER [--mode stream|batch] [--trigger T]``,
LAYER one of bronze, silver, gold, hot, all (``telemetra cluster submit`` builds the line).

Config is read here, once, from conf/ and the environment; the jobs get it passed down.
Under spark-submit the master and ``--jars`` come from the spark-submit command line.
"""

from __future__ import annotations

import argparse

from pipelines.config import entry_point_settings
from pipelines.jobs import runner
from pipelines.jobs.spark import build_spark

LAYERS = (*runner.LAYERS, runner.HOT, "all")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="pipelines/jobs/submit.py")
    parser.add_argument("layer", choices=LAYERS)
    parser.add_argument("--mode", choices=("stream", "batch"), default="stream")
    parser.add_argument("--trigger", default=None, help="availableNow | processing:10s")
    args = parser.parse_args(argv)
    settings = entry_point_settings()
    spark = build_spark(settings, app_name=f"telemetra-{args.layer}")
    if args.mode == "batch":
        print(runner.run_batch(spark, settings, args.layer))
    else:
        trigger = runner.parse_trigger(args.trigger, settings)
        runner.run_stream(spark, settings, args.layer, trigger)


if __name__ == "__main__":
    main()
