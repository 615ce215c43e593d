"""Gold moments: anomalies in each stream's window series (pure transforms).

Each window is compared with a trailing baseline of the same stream's earlier windows
(window functions over epoch seconds, no UDFs); flagged windows of one stream and kind
merge into moments (gaps and islands), which get context from the chat inside them.

Chat spikes are found on the chat itself (``pipelines.transforms.chat_signals``, 30-s
windows), the other kinds on ``stream_minute_metrics``. A chat spike must be both more chat
than usual and chat of a different kind: its score is the smaller of the message count's
robust z and the combined robust z of the chorus share, the shortness of messages and the
share of fresh chatters, each against the stream's own trailing median and interquartile
range, so one threshold serves a stream of 20 messages a minute and one of 2,000.
``moment_scope`` bounds what a streaming upsert must recompute so that it gives what a
full rebuild gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from pipelines.core.contract import MOMENT_KINDS
from pipelines.core.schemas import MOMENTS
from pipelines.transforms.chat_signals import chat_signal_windows, normalised_text
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
    chat_window_seconds: int = 30
    chat_min_seconds: int = 10
    fresh_gap_seconds: int = 600
    reaction_lag_seconds: int = 15
    sample_messages: int = 5

    @property
    def island_gap_seconds(self) -> int:
        """Largest gap between two flagged window starts that still makes one moment."""
        return self.slide_seconds + self.merge_gap_seconds

    @property
    def reach_seconds(self) -> int:
        """How far before a window's start what decides its flag reaches: its baseline,
        and for chat the history that makes a chatter fresh."""
        longest = max(self.window_seconds, self.chat_window_seconds)
        return self.baseline_seconds + longest + self.fresh_gap_seconds

    def lag_of(self, kind: str) -> int:
        """How far a moment's start_ts lies before its first flagged window: chat reacts
        ``reaction_lag_seconds`` after what happened (published: 10-27 s)."""
        return self.reaction_lag_seconds if kind == "chat_spike" else 0

    def lag_seconds(self, kind: Column) -> Column:
        """:meth:`lag_of` for a column of kinds."""
        return F.when(kind == "chat_spike", self.lag_of("chat_spike")).otherwise(0)

    def window_of(self, kind: Column) -> Column:
        """The window length each kind is detected on."""
        return F.when(kind == "chat_spike", self.chat_window_seconds).otherwise(self.window_seconds)


# ---- moments: trailing baseline, flags, islands, context ------------------------------------
def with_trailing_baseline(metrics: DataFrame, rules: MomentRules) -> DataFrame:
    """Baseline stats (``base_<metric>_n|mean|std``) per window, over the same stream's
    windows starting in [start - baseline - window, start - window): never overlapping it."""
    w = (
        Window.partitionBy("stream_id")
        .orderBy(epoch("window_start"))
        .rangeBetween(-rules.baseline_seconds - rules.window_seconds, -rules.window_seconds - 1)
    )
    stats = {}
    for name in ("viewers", "revenue", "sentiment"):
        col = _metric(name)
        stats[f"base_{name}_n"] = F.count(col).over(w)
        stats[f"base_{name}_mean"] = F.avg(col).over(w)
        # Population std: the baseline is the whole trailing population, not a sample of it.
        stats[f"base_{name}_std"] = F.stddev_pop(col).over(w)
    return metrics.withColumns(stats)


def _metric(name: str) -> Column:
    """The window value each kind of moment looks at."""
    return {
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
    """One row per (window, kind) whose value breaks its trailing baseline (raids, revenue
    bursts and sentiment swings; chat spikes come from :func:`chat_spike_flags`)."""

    def enough(metric: str) -> Column:
        return F.col(f"base_{metric}_n") >= rules.min_baseline_windows

    def poisson_floor(metric: str) -> Column:
        # Counts and money are roughly Poisson: a flat baseline (std ~ 0) is measured in
        # sqrt(mean) units and never in less than 1, so one extra message is no spike.
        mean = F.col(f"base_{metric}_mean")
        return F.greatest(F.sqrt(F.greatest(mean, F.lit(0.0))), F.lit(1.0))

    revenue = _metric("revenue")
    revenue_z = _z("revenue", revenue, poisson_floor("revenue"))
    peak, base = F.col("max_viewers").cast("double"), F.col("base_viewers_mean")
    sentiment = F.col("sentiment_mean")
    sentiment_z = F.abs(_z("sentiment", sentiment, F.lit(rules.sentiment_std_floor)))
    candidates = F.array(
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


# ---- chat spikes: count and kind of chat against the stream's own recent chat ---------------
_ROBUST_SD = 1.349  # the interquartile range of a normal distribution, in standard deviations


def _chat_signals() -> dict[str, tuple[Column, Callable[[Column], Column]]]:
    """Each chat signal's value per window, and the least spread it is measured in given
    the baseline median (so a flat baseline is no licence to flag noise): Poisson for a
    count, binomial for a share of this window's messages or chatters, half a character
    for the mean message length."""
    return {
        "messages": (
            F.col("messages").cast("double"),
            lambda med: F.sqrt(F.greatest(med, F.lit(1.0))),
        ),
        "chatters": (
            F.col("chatters").cast("double"),
            lambda med: F.sqrt(F.greatest(med, F.lit(1.0))),
        ),
        "chorus": (
            F.col("chorus_messages") / F.col("messages"),
            lambda med: F.sqrt(med * (1 - med) / F.col("messages")),
        ),
        "short": (-F.col("message_chars") / F.col("messages"), lambda med: F.lit(0.5)),
        "fresh": (
            F.col("fresh_chatters") / F.col("chatters"),
            lambda med: F.sqrt(med * (1 - med) / F.col("chatters")),
        ),
    }


def chat_spike_flags(signals: DataFrame, rules: MomentRules) -> DataFrame:
    """Chat signal windows (``chat_signal_windows``) -> flagged chat_spike windows, in the
    columns of :func:`explode_flagged_windows`.

    Each signal's robust z: (value - median) / max(IQR / 1.349, its floor) over the same
    stream's windows starting in [start - baseline - window, start - window). The score is
    min(z of distinct chatters, (z chorus + z short + z fresh) / sqrt 3): more people
    talking, and talking differently; volume alone (a busy stretch, a raid's arrivals) or
    kind alone (a quiet minute of emotes) is no spike. Distinct chatters rather than
    messages: a few regulars typing faster (an emote train, a spammer) add messages, not
    people. A flag's value, baseline_mean and baseline_std are the messages, their median
    and robust spread.
    """
    reach = rules.baseline_seconds + rules.chat_window_seconds
    base = (
        Window.partitionBy("stream_id")
        .orderBy(epoch("window_start"))
        .rangeBetween(-reach, -rules.chat_window_seconds - 1)
    )
    z = {}
    for name, (value, floor) in _chat_signals().items():
        q = F.percentile(value, F.array(*[F.lit(p) for p in (0.25, 0.5, 0.75)])).over(base)
        med = F.col(f"_q_{name}")[1]
        spread = (F.col(f"_q_{name}")[2] - F.col(f"_q_{name}")[0]) / _ROBUST_SD
        signals = signals.withColumn(f"_q_{name}", q)
        z[name] = (value - med) / F.greatest(spread, floor(med), F.lit(1e-3))
    content = (z["chorus"] + z["short"] + z["fresh"]) / 3**0.5
    score = F.least(z["chatters"], content)
    signals = signals.withColumn("_base_n", F.count(F.lit(1)).over(base))
    flagged = (
        (F.col("_base_n") >= rules.min_baseline_windows)
        & (F.col("messages") >= rules.chat_min_count)
        & (score >= rules.chat_z)
    )
    return signals.filter(flagged).select(
        "stream_id",
        "window_start",
        "window_end",
        F.lit("chat_spike").alias("kind"),
        F.col("messages").cast("double").alias("value"),
        score.alias("score"),
        F.col("_q_messages")[1].alias("baseline_mean"),
        ((F.col("_q_messages")[2] - F.col("_q_messages")[0]) / _ROBUST_SD).alias("baseline_std"),
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
        F.min("window_start").alias("first_window"),
        F.max("window_end").alias("end_ts"),
        peak.alias("p"),
    )
    # A chat spike's flagged windows must span chat_min_seconds (a reaction lasts; a
    # two-second emote burst lights up a window or two), and it starts reaction_lag
    # before chat answered. The id stays that of its first window.
    kind = F.col("kind")
    span = epoch("end_ts") - rules.window_of(kind) - epoch("first_window")
    lasting = (kind != "chat_spike") | (span >= rules.chat_min_seconds)
    return moments.filter(lasting).select(
        moment_id(F.col("stream_id"), kind, F.col("first_window")).alias("moment_id"),
        "stream_id",
        "kind",
        F.timestamp_seconds(epoch("first_window") - rules.lag_seconds(kind)).alias("start_ts"),
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
    The samples show what drove the moment: for a chat spike the most repeated messages
    (by normalised text, each once, as first typed), for a sentiment swing the messages
    furthest in its direction (most negative for a drop), otherwise the first messages;
    ties by (ts, event_id).
    """
    chat = chat_messages.select(
        F.col("stream_id").alias("_sid"), "ts", "event_id", "message", "emotes", "sentiment"
    )
    inside = moments.select(
        "moment_id", "stream_id", "kind", "start_ts", "end_ts", "peak_value", "baseline_mean"
    ).join(
        chat,
        on=(F.col("stream_id") == F.col("_sid"))
        & (F.col("ts") >= F.col("start_ts"))
        & (F.col("ts") < F.col("end_ts")),
        how="inner",
    )
    top = rank_top_emotes(inside, ["moment_id"], rules.top_emotes)
    same_text = Window.partitionBy("moment_id", "_text")
    kind = F.col("kind")
    direction = F.when(F.col("peak_value") < F.col("baseline_mean"), -1.0).otherwise(1.0)
    drove = (
        F.when(kind == "chat_spike", F.col("_repeats"))
        .when(kind == "sentiment_swing", F.coalesce(F.col("sentiment") * direction, F.lit(-2.0)))
        .otherwise(0)
    )
    order = Window.partitionBy("moment_id").orderBy(drove.desc(), "ts", "event_id")
    samples = (
        inside.withColumn("_text", normalised_text(F.col("message")))
        .withColumn("_repeats", F.count(F.lit(1)).over(same_text))
        .withColumn("_nth", F.row_number().over(same_text.orderBy("ts", "event_id")))
        .filter((kind != "chat_spike") | (F.col("_nth") == 1))
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
    the scope and replacing the old moments whose first window starts in it (start_ts plus
    :meth:`MomentRules.lag_of` its kind) gives what a full rebuild gives.
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
    kind = F.col("kind")
    old = old_moments.select(
        "stream_id",
        "kind",
        (epoch("start_ts") + rules.lag_seconds(kind)).alias("_first"),
        (epoch("end_ts") - rules.window_of(kind)).alias("_last"),
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
    """stream_minute_metrics and chat_messages -> moments (MOMENTS); with ``scope`` only
    the moments in it (``metrics`` and ``chat_messages`` must then reach
    ``rules.reach_seconds`` before each scope)."""
    signals = chat_signal_windows(
        chat_messages, rules.chat_window_seconds, rules.slide_seconds, rules.fresh_gap_seconds
    )
    flags = (
        metrics.transform(with_trailing_baseline, rules)
        .transform(explode_flagged_windows, rules)
        .unionByName(chat_spike_flags(signals, rules))
    )
    if scope is not None:
        flags = filter_in_scope(flags, scope)
    return flags.transform(merge_moment_windows, rules).transform(
        enrich_moment_context, chat_messages, rules
    )
