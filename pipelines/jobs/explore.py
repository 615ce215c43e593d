"""Exploration that re-runs gold's moment detection with Spark (the notebook's threshold
sweep); what it shows is shaped by ``pipelines.serving.exploration``."""

from __future__ import annotations

import functools
from datetime import timedelta

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.config import Settings
from pipelines.jobs import params
from pipelines.jobs.gold_job import SILVER_AGGREGATES, read_silver
from pipelines.serving.exploration import MOMENT_COLUMNS, StreamData
from pipelines.transforms.chat_signals import chat_signal_windows
from pipelines.transforms.gold import join_minute_metrics
from pipelines.transforms.gold_moments import (
    chat_spike_flags,
    explode_flagged_windows,
    merge_moment_windows,
    with_trailing_baseline,
)


def moments_at_thresholds(
    spark: SparkSession | None,
    settings: Settings,
    data: StreamData,
    setting: str = "moment_chat_z",
    values: list[float] | None = None,
) -> pd.DataFrame:
    """The moments gold would hold for ``data``'s stream and span if ``setting`` (a
    threshold: not the baseline's length) had each of ``values``; one row per moment and
    value, the value in column ``setting``. The configured value is always included, so
    its rows can be checked against gold.

    The gold job's detection on silver: ``join_minute_metrics`` over the silver window
    aggregates with ``with_trailing_baseline``, and ``chat_signal_windows`` over the chat,
    once (thresholds do not move them), then per value ``explode_flagged_windows``,
    ``chat_spike_flags`` and ``merge_moment_windows`` with
    ``settings.model_copy(update=...)``. The chat context gold adds to each moment is
    left out: it does not decide what is found, and it is most of the cost."""
    if setting == "moment_baseline_seconds":
        raise ValueError("the baseline length is not a threshold: sweep it with a gold rebuild")
    values = sorted({float(v) for v in (values or [])} | {float(getattr(settings, setting))})
    if spark is None or data.empty:
        out = pd.DataFrame(columns=[setting, *MOMENT_COLUMNS])
        out.attrs["message"] = data.message or "No Spark session: nothing was re-run."
        return out
    base = params.moment_rules(settings)
    # Windows far enough back for the first window's baseline.
    lo = data.start - timedelta(seconds=base.reach_seconds)
    in_span = (F.col("stream_id") == data.stream_id) & F.col("window_start").between(lo, data.end)
    parts = [read_silver(spark, settings, t).filter(in_span) for t in SILVER_AGGREGATES]
    baselined = with_trailing_baseline(join_minute_metrics(*parts), base).cache()
    chat = read_silver(spark, settings, "chat_messages").filter(
        (F.col("stream_id") == data.stream_id)
        & F.col("ts").between(lo, data.end + timedelta(seconds=base.chat_window_seconds))
    )
    signals = chat_signal_windows(
        chat, base.chat_window_seconds, base.slide_seconds, base.fresh_gap_seconds
    ).cache()
    runs: list[DataFrame] = []
    for value in values:
        rules = params.moment_rules(settings.model_copy(update={setting: value}))
        flags = explode_flagged_windows(baselined, rules).unionByName(
            chat_spike_flags(signals, rules)
        )
        found = merge_moment_windows(flags, rules).filter(F.col("start_ts") >= data.start)
        runs.append(found.select(F.lit(value).alias(setting), *MOMENT_COLUMNS))
    try:
        found = functools.reduce(DataFrame.unionByName, runs).toPandas()
    finally:
        baselined.unpersist()
        signals.unpersist()
    for col in ("start_ts", "end_ts", "peak_ts"):
        found[col] = pd.to_datetime(found[col]).dt.tz_localize("UTC")
    found = found.sort_values([setting, "start_ts", "kind"], ignore_index=True)
    if found.empty:
        found.attrs["message"] = f"No moments at any {setting} in {values}."
    return found
