"""Gold moments: anomalies in each stream's window series (pure transforms).

Each window is compared with a trailing baseline of the same stream's earlier windows
(window functions over epoch seconds, no UDFs); flagged windows of one stream and kind
merge into moments (gaps and islands), which get context from the chat inside them.
``moment_scope`` bounds what a streaming upsert must recompute so that it gives what a
full rebuild gives.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from pipelines.core.contract import MOMENT_KINDS
from pipelines.core.schemas import MOMENTS
from pipelines.transforms.common import conform, empty_emotes
from pipelines.transforms.gold import epoch, rank_top_emotes


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

    @property
    def island_gap_seconds(self) -> int:
        """Largest gap between two flagged window starts that still makes one moment."""
        return self.slide_seconds + self.merge_gap_seconds

    @property
    def reach_seconds(self) -> int:
        """How far before its own start a window's baseline reaches."""
        return self.baseline_seconds + self.window_seconds


# ---- moments: trailing baseline, flags, islands, context ------------------------------------
def with_trailing_baseline(metrics: DataFrame, rules: MomentRules) -> DataFrame:
    """Baseline stats (``base_<metric>_n|mean|std``) per window, over the same stream's
    windows starting in [start - baseline - window, start - window): never overlapping it."""
    w = (
        Window.partitionBy("stream_id")
        .orderBy(epoch("window_start"))
        .rangeBetween(-rules.reach_seconds, -rules.window_seconds - 1)
    )
    stats = {}
    for name in ("chat", "viewers", "revenue", "sentiment"):
        col = _metric(name)
        stats[f"base_{name}_n"] = F.count(col).over(w)
        stats[f"base_{name}_mean"] = F.avg(col).over(w)
        # Population std: the baseline is the whole trailing population, not a sample of it.
        stats[f"base_{name}_std"] = F.stddev_pop(col).over(w)
    return metrics.withColumns(stats)


def _metric(name: str) -> Column:
    """The window value each kind of moment looks at."""
    return {
        "chat": F.col("chat_count").cast("double"),
        "viewers": F.col("avg_viewers"),
        "revenue": F.col("revenue").cast("double"),
        "sentiment": F.col("sentiment_mean"),
    }[name]


def _candidate(kind: str, metric: str, flagged: Column, value: Column, score: Column) -> Column:
    return F.struct(
        F.lit(kind).alias("kind"),
        F.coalesce(flagged, F.lit(False)).alias("flagged"),
        value.cast("double").alias("value"),
        score.cast("double").alias("score"),
        F.col(f"base_{metric}_mean").alias("baseline_mean"),
        F.col(f"base_{metric}_std").alias("baseline_std"),
    )


def _z(metric: str, value: Column, floor: Column) -> Column:
    std = F.col(f"base_{metric}_std")
    return (value - F.col(f"base_{metric}_mean")) / F.greatest(std, floor)


def explode_flagged_windows(baselined: DataFrame, rules: MomentRules) -> DataFrame:
    """One row per (window, kind) whose value breaks its trailing baseline."""

    def enough(metric: str) -> Column:
        return F.col(f"base_{metric}_n") >= rules.min_baseline_windows

    def poisson_floor(metric: str) -> Column:
        # Counts and money are roughly Poisson: a flat baseline (std ~ 0) is measured in
        # sqrt(mean) units and never in less than 1, so one extra message is no spike.
        mean = F.col(f"base_{metric}_mean")
        return F.greatest(F.sqrt(F.greatest(mean, F.lit(0.0))), F.lit(1.0))

    chat, revenue = _metric("chat"), _metric("revenue")
    chat_z = _z("chat", chat, poisson_floor("chat"))
    revenue_z = _z("revenue", revenue, poisson_floor("revenue"))
    peak, base = F.col("max_viewers").cast("double"), F.col("base_viewers_mean")
    sentiment = F.col("sentiment_mean")
    sentiment_z = F.abs(_z("sentiment", sentiment, F.lit(rules.sentiment_std_floor)))
    candidates = F.array(
        _candidate(
            "chat_spike",
            "chat",
            enough("chat") & (chat >= rules.chat_min_count) & (chat_z >= rules.chat_z),
            chat,
            chat_z,
        ),
        _candidate(
            "raid",
            "viewers",
            enough("viewers")
            & (peak >= base * (1 + rules.viewer_jump_ratio))
            & (peak - base >= rules.viewer_min_jump),
            peak,
            (peak - base) / F.greatest(base, F.lit(1.0)),
        ),
        _candidate(
            "revenue_burst",
            "revenue",
            enough("revenue") & (revenue >= rules.revenue_min) & (revenue_z >= rules.revenue_z),
            revenue,
            revenue_z,
        ),
        _candidate(
            "sentiment_swing",
            "sentiment",
            enough("sentiment")
            & (F.col("chat_count") >= rules.sentiment_min_messages)
            & (sentiment_z >= rules.sentiment_z),
            sentiment,
            sentiment_z,
        ),
    )
    return (
        baselined.select(
            "stream_id", "window_start", "window_end", F.explode(candidates).alias("c")
        )
        .filter(F.col("c.flagged"))
        .select("stream_id", "window_start", "window_end", "c.*")
        .drop("flagged")
    )


def moment_id(stream_id: Column, kind: Column, start_ts: Column) -> Column:
    """Stable id: the same stream, kind and start always give the same moment."""
    return F.sha2(F.concat_ws("|", stream_id, kind, F.unix_micros(start_ts).cast("string")), 256)


def merge_moment_windows(flags: DataFrame, rules: MomentRules) -> DataFrame:
    """Gaps and islands: flagged windows of one stream and kind whose starts are at most
    slide + merge gap apart form one moment, peaking at its highest score."""
    order = Window.partitionBy("stream_id", "kind").orderBy("window_start")
    gap = epoch("window_start") - F.lag(epoch("window_start")).over(order)
    opens = F.when(gap.isNull() | (gap > rules.island_gap_seconds), 1).otherwise(0)
    so_far = order.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    islands = flags.withColumn("_opens", opens).withColumn("_island", F.sum("_opens").over(so_far))
    # Highest score wins; on a tie the earlier window.
    peak = F.max(
        F.struct(
            "score",
            (-epoch("window_start")).alias("_earlier"),
            "window_start",
            "value",
            "baseline_mean",
            "baseline_std",
        )
    )
    moments = islands.groupBy("stream_id", "kind", "_island").agg(
        F.min("window_start").alias("start_ts"),
        F.max("window_end").alias("end_ts"),
        peak.alias("p"),
    )
    return moments.select(
        moment_id(F.col("stream_id"), F.col("kind"), F.col("start_ts")).alias("moment_id"),
        "stream_id",
        "kind",
        "start_ts",
        "end_ts",
        F.col("p.window_start").alias("peak_ts"),
        F.col("p.value").alias("peak_value"),
        F.col("p.score").alias("score"),
        F.col("p.baseline_mean").alias("baseline_mean"),
        F.col("p.baseline_std").alias("baseline_std"),
    )


def enrich_moment_context(
    moments: DataFrame, chat_messages: DataFrame, rules: MomentRules
) -> DataFrame:
    """Top emotes and up to ``sample_messages`` messages of the chat inside [start_ts, end_ts).

    Counted on the messages themselves: summing the sliding windows' top lists would count
    each message window/slide times and miss emotes outside each window's top n.
    Samples are ordered by (ts, event_id); a chat spike prefers messages with its top emote.
    """
    chat = chat_messages.select(
        F.col("stream_id").alias("_sid"), "ts", "event_id", "message", "emotes"
    )
    inside = moments.select("moment_id", "stream_id", "kind", "start_ts", "end_ts").join(
        chat,
        on=(F.col("stream_id") == F.col("_sid"))
        & (F.col("ts") >= F.col("start_ts"))
        & (F.col("ts") < F.col("end_ts")),
        how="inner",
    )
    top = rank_top_emotes(inside, ["moment_id"], rules.top_emotes)
    prefer = (F.col("kind") == "chat_spike") & F.array_contains(
        "emotes", F.col("top_emotes")[0]["emote"]
    )
    order = Window.partitionBy("moment_id").orderBy(
        F.coalesce(prefer, F.lit(False)).desc(), "ts", "event_id"
    )
    samples = (
        inside.join(top, on="moment_id", how="left")
        .withColumn("_rank", F.row_number().over(order))
        .filter(F.col("_rank") <= rules.sample_messages)
        .groupBy("moment_id")
        .agg(
            F.transform(
                F.sort_array(F.collect_list(F.struct("_rank", "message"))),
                lambda x: x["message"],
            ).alias("sample_messages")
        )
    )
    enriched = moments.join(top, on="moment_id", how="left").join(
        samples, on="moment_id", how="left"
    )
    return conform(
        enriched.withColumns(
            {
                "top_emotes": F.coalesce(F.col("top_emotes"), empty_emotes()),
                "sample_messages": F.coalesce(
                    F.col("sample_messages"), F.array().cast("array<string>")
                ),
            }
        ),
        MOMENTS,
    )


def moment_scope(changes: DataFrame, old_moments: DataFrame, rules: MomentRules) -> DataFrame:
    """Per (stream_id, kind) the window-start range [scope_lo, scope_hi] (epoch seconds)
    whose moments must be recomputed after ``changes`` (stream_id, lo_s, hi_s).

    A change at t can flag windows up to t + baseline + window; islands within the merge
    gap of those windows may merge or split, and they end where the old moments touching
    that range ended (windows outside it kept their flags). Recomputing every window in
    the scope and replacing the old moments starting in it gives what a full rebuild gives.
    """
    g = rules.island_gap_seconds
    touch = (
        changes.filter(F.col("lo_s").isNotNull())
        .groupBy("stream_id")
        .agg(
            (F.min("lo_s") - g).alias("t_lo"),
            (F.max("hi_s") + rules.reach_seconds + g).alias("t_hi"),
        )
        .withColumn("kind", F.explode(F.array(*[F.lit(k) for k in MOMENT_KINDS])))
    )
    old = old_moments.select(
        "stream_id",
        "kind",
        epoch("start_ts").alias("_first"),
        (epoch("end_ts") - rules.window_seconds).alias("_last"),
    )
    touching = (F.col("_last") >= F.col("t_lo")) & (F.col("_first") <= F.col("t_hi"))
    return (
        touch.join(old, on=["stream_id", "kind"], how="left")
        .groupBy("stream_id", "kind", "t_lo", "t_hi")
        .agg(
            F.min(F.when(touching, F.col("_first"))).alias("_first"),
            F.max(F.when(touching, F.col("_last"))).alias("_last"),
        )
        .select(
            "stream_id",
            "kind",
            F.least("t_lo", "_first").alias("scope_lo"),
            F.greatest("t_hi", "_last").alias("scope_hi"),
        )
    )


def filter_in_scope(rows: DataFrame, scope: DataFrame, ts_col: str = "window_start") -> DataFrame:
    """Rows of (stream_id, kind) whose ``ts_col`` lies in that pair's scope."""
    return (
        rows.join(scope, on=["stream_id", "kind"], how="inner")
        .filter(epoch(ts_col).between(F.col("scope_lo"), F.col("scope_hi")))
        .drop("scope_lo", "scope_hi")
    )


def detect_moments(
    metrics: DataFrame,
    chat_messages: DataFrame,
    rules: MomentRules,
    scope: DataFrame | None = None,
) -> DataFrame:
    """stream_minute_metrics -> moments (MOMENTS); with ``scope`` only the moments in it
    (``metrics`` must then reach ``rules.reach_seconds`` before each scope)."""
    flags = metrics.transform(with_trailing_baseline, rules).transform(
        explode_flagged_windows, rules
    )
    if scope is not None:
        flags = filter_in_scope(flags, scope)
    return flags.transform(merge_moment_windows, rules).transform(
        enrich_moment_context, chat_messages, rules
    )
