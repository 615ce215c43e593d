"""Quality as a job: the gate in front of batch rebuilds, the scheduled loop, spark-submit.

- ``gate(spark, settings, layer)``: before rebuilding ``layer`` (silver or gold), validate
  its input layer (bronze or silver) and raise ``QualityGateError`` when a critical
  expectation fails; warnings never stop anything.
- ``run_batch_gated``: the batch runner with that gate in front of every layer.
- ``quality_loop``: ``run_quality(all)`` every ``interval_s`` seconds, forever, in its own
  small Spark driver (``local[1]``); what it finds is recorded, nothing is stopped.
- ``main``: ``spark-submit pipelines/quality/quality_job.py [--layer L] [--loop]``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time

from pyspark.sql import SparkSession

from pipelines.config import Settings, entry_point_settings
from pipelines.quality.quality import run_quality
from pipelines.quality.quality_report import QualityReport

log = logging.getLogger(__name__)

# The layer a rebuild reads: gating a rebuild validates this one.
GATE_INPUT = {"silver": "bronze", "gold": "silver"}


class QualityGateError(RuntimeError):
    """A critical expectation failed on a rebuild's input; the message is one line."""

    def __init__(self, layer: str, report: QualityReport) -> None:
        self.report = report
        failed = report.critical_failures
        pages = {r.report_path for r in report.results if r.success is False and r.report_path}
        where = pages.pop() if len(pages) == 1 else report.report_path
        super().__init__(
            f"quality gate stopped the {layer} rebuild before writing: "
            f"{len(failed)} critical expectation(s) failed on {GATE_INPUT[layer]}: "
            f"{'; '.join(failed)}. Report: {where}"
        )


def gate(spark: SparkSession, settings: Settings, layer: str) -> None:
    """Validate the input of a ``layer`` rebuild; raise ``QualityGateError`` on a critical
    failure. ``bronze`` has no lake input and passes."""
    if layer == "bronze":
        return
    if layer not in GATE_INPUT:
        raise ValueError(f"gate: layer must be bronze, silver or gold; got {layer!r}")
    report = run_quality(spark, settings, GATE_INPUT[layer])
    for name in report.warnings:
        log.warning("quality gate (%s): warning %s", layer, name)
    if not report.success:
        raise QualityGateError(layer, report)
    log.info("quality gate (%s): %s passed", layer, GATE_INPUT[layer])


def run_batch_gated(spark: SparkSession, settings: Settings, layer: str) -> dict[str, int]:
    """``runner.run_batch`` with the gate before each silver and gold rebuild."""
    from pipelines.jobs import runner

    return runner.run_batch(spark, settings, layer, before=gate)


def quality_spark(settings: Settings) -> SparkSession:
    """One small driver for the checker: one core, little memory, no UI."""
    from pipelines.jobs.spark import build_spark

    small = settings.model_copy(
        update={
            "spark_master": "local[1]",
            "spark_driver_memory": settings.quality_driver_memory,
            "spark_shuffle_partitions": 1,
        }
    )
    return build_spark(small, app_name="telemetra-quality", **{"spark.ui.enabled": "false"})


def quality_loop(
    settings: Settings,
    interval_s: float | None = None,
    *,
    spark: SparkSession | None = None,
    runs: int | None = None,
    start_after_s: float = 0.0,
) -> None:
    """Run every suite every ``interval_s`` seconds (default ``quality_interval_seconds``),
    the first run ``start_after_s`` seconds from now, until SIGTERM/SIGINT (or ``runs``
    runs). Failures are logged and recorded in
    ``gold/quality_runs``; a run that raises is logged and the loop goes on. Without
    ``spark`` it starts (and at the end stops) its own small session."""
    interval = interval_s or settings.quality_interval_seconds
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():  # signals only reach it
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    if stop.wait(start_after_s):
        return
    session = spark or quality_spark(settings)
    done = 0
    try:
        while not stop.is_set() and (runs is None or done < runs):
            started = time.monotonic()
            try:
                report = run_quality(session, settings, "all")
                verdict = "passed" if report.success else "FAILED"
                log.info("quality run %s: %s", report.run_id, verdict)
                for name in report.critical_failures + report.warnings:
                    log.warning("quality: %s", name)
            except Exception:
                log.exception("quality run failed")
            done += 1
            if runs is None or done < runs:
                stop.wait(max(1.0, interval - (time.monotonic() - started)))
    finally:
        if spark is None:
            session.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> None:
    """``spark-submit pipelines/quality/quality_job.py [--layer L] [--loop [--interval S]]``."""
    parser = argparse.ArgumentParser(prog="pipelines/quality/quality_job.py")
    parser.add_argument("--layer", choices=("bronze", "silver", "gold", "all"), default="all")
    parser.add_argument("--loop", action="store_true", help="run on a schedule until stopped")
    parser.add_argument("--interval", type=float, default=None, help="seconds between runs")
    args = parser.parse_args(argv)
    settings = entry_point_settings()
    if args.loop:
        quality_loop(settings, args.interval)
        return
    from pipelines.jobs.spark import build_spark

    spark = build_spark(settings, app_name="telemetra-quality")
    try:
        report = run_quality(spark, settings, args.layer)
    finally:
        spark.stop()
    print(report)
    sys.exit(0 if report.success else 1)


if __name__ == "__main__":
    main()
