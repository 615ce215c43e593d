"""Gold: the serving tables and the moments found in the window series (pure transforms).

The job module (``pipelines/jobs/gold_job.py``) reads silver, calls these and writes gold;
batch rebuilds and the streaming upserts use the same functions. Times are compared in
epoch seconds: window starts are whole seconds (aligned to the slide).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from pipelines.config import Settings
from pipelines.schemas import (
    EMOTE_COUNTS,
    MOMENT_KINDS,
    MOMENTS,
    MONEY,
    STREAM_MINUTE_METRICS,
    STREAM_SUMMARY,
    STREAMS,
)

_KEYS = ["stream_id", "window_start"]


@dataclass(frozen=True)
class MomentRules:
    """Window geometry and anomaly thresholds (the ``moment_*`` settings)."""

    window_seconds: int
    slide_seconds: int
    baseline_seconds: int
    min_baseline_windows: int
    chat_z: float
    chat_min_count: int
    viewer_jump_ratio: float
    viewer_min_jump: int
    revenue_z: float
    revenue_min: float
    sentiment_z: float
    sentiment_min_messages: int
    sentiment_std_floor: float
    merge_gap_seconds: int
    top_emotes: int
    sample_messages: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> MomentRules:
        return cls(
            **{f: getattr(settings, f"moment_{f}") for f in _MOMENT_SETTING_FIELDS},
            window_seconds=settings.window_seconds,
            slide_seconds=settings.slide_seconds,
            top_emotes=settings.top_emotes,
        )

    @property
    def island_gap_seconds(self) -> int:
        """Largest gap between two flagged window starts that still makes one moment."""
        return self.slide_seconds + self.merge_gap_seconds

    @property
    def reach_seconds(self) -> int:
        """How far before its own start a window's baseline reaches."""
        return self.baseline_seconds + self.window_seconds


_MOMENT_SETTING_FIELDS = (
    "baseline_seconds min_baseline_windows chat_z chat_min_count viewer_jump_ratio "
    "viewer_min_jump revenue_z revenue_min sentiment_z sentiment_min_messages "
    "sentiment_std_floor merge_gap_seconds"
).split()


def _epoch(col: str) -> Column:
    return F.unix_seconds(F.col(col))


def _contract(df: DataFrame, schema) -> DataFrame:
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def _empty_emotes() -> Column:
    return F.array().cast(EMOTE_COUNTS)


# ---- stream_minute_metrics ----------------------------------------------------------------
def join_minute_metrics(
    chat_summary: DataFrame, viewer_timeseries: DataFrame, transactions_minute: DataFrame
) -> DataFrame:
    """Full outer join of the three window aggregates: missing parts give 0 counts, null viewers."""
    chat = chat_summary.select(
        *_KEYS, F.col("window_end").alias("_end_chat"), "chat_count", "unique_chatters",
        "sentiment_mean", "positive_count", "negative_count", "top_emotes",
    )
    viewers = viewer_timeseries.select(
        *_KEYS, F.col("window_end").alias("_end_viewers"), "avg_viewers", "max_viewers",
        "last_viewers",
    )
    tx = transactions_minute.select(
        *_KEYS, F.col("window_end").alias("_end_tx"), "tx_count", "revenue"
    )
    joined = chat.join(viewers, on=_KEYS, how="full").join(tx, on=_KEYS, how="full")
    zero = {c: F.coalesce(F.col(c), F.lit(0)) for c in
            ("chat_count", "unique_chatters", "positive_count", "negative_count", "tx_count")}
    return _contract(
        joined.withColumns(
            {
                "window_end": F.coalesce("_end_chat", "_end_viewers", "_end_tx"),
                **zero,
                "top_emotes": F.coalesce(F.col("top_emotes"), _empty_emotes()),
                "revenue": F.coalesce(F.col("revenue"), F.lit(0).cast(MONEY)),
            }
        ),
        STREAM_MINUTE_METRICS,
    )


# ---- moments: trailing baseline, flags, islands, context ------------------------------------
