"""Chat signals per stream and sliding window: what the chat-spike detector looks at.

Real highlights show in chat as more than volume (Lightor, Han et al. 2019: message count,
length and similarity): after something happens, many people, often ones who seldom
chat, type the same short reaction at once. Per window (``window_seconds`` long, one
starting every ``slide_seconds``), over the chat messages whose ``ts`` lies in it:

- ``messages``: chat messages;
- ``chatters``: distinct ``user_id``s;
- ``chorus_messages``: messages whose normalised text (:func:`normalised_text`) is at most
  ``CHORUS_MAX_CHARS`` long and typed by at least ``CHORUS_MIN_CHATTERS`` distinct
  chatters in the window ("LETS GOOO", "Pog", "666"). A pasted wall of text is long, a
  lone spammer one chatter: neither is a chorus;
- ``message_chars``: the summed length of the messages (characters);
- ``fresh_chatters``: chatters with a message in the window whose previous message on the
  stream came more than ``fresh_gap_seconds`` earlier, or who had none.

With ``fresh_gap_seconds`` at least the window (the settings insist), only a chatter's
first message in a window can be fresh, and it is the first of the chatter's first pane
there. So chatters and fresh chatters come from one row per chatter and 10-second pane
(first and last message time): each row opens the windows its pane lies in that the
chatter's previous pane did not, and whether the chatter is fresh there is whether the
pane's first message came ``fresh_gap_seconds`` after the previous pane's last. No
message is sorted, and no (window, chatter) pair is collected.

The detector (``gold_moments``) compares the rates derived from these with the stream's own
trailing baseline. Windows without chat have no row.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

CHORUS_MAX_CHARS = 25
CHORUS_MIN_CHATTERS = 3


def normalised_text(message: Column) -> Column:
    """Lower-cased, whitespace collapsed and trimmed, runs of three or more of one character
    folded to two ("WHAAAAT  !!!!" -> "whaat !!"), so a chorus is not split by spelling."""
    spaced = F.trim(F.regexp_replace(F.lower(message), r"\s+", " "))
    return F.regexp_replace(spaced, r"(.)\1{2,}", "$1$1")


def chat_signal_windows(
    chat: DataFrame, window_seconds: int, slide_seconds: int, fresh_gap_seconds: int
) -> DataFrame:
    """``chat_messages`` rows -> one row per stream and window with chat: stream_id,
    window_start, window_end and the signals above."""
    n = window_seconds // slide_seconds
    if fresh_gap_seconds < window_seconds:
        raise ValueError(f"fresh_gap_seconds {fresh_gap_seconds} < window {window_seconds}")
    rows = chat.select(
        "stream_id",
        "user_id",
        F.unix_micros("ts").alias("ts_us"),
        F.length("message").alias("chars"),
        normalised_text(F.col("message")).alias("text"),
        (F.floor(F.unix_micros("ts") / (slide_seconds * 1_000_000)) * slide_seconds).alias(
            "pane_s"
        ),
    )

    def windows_of(partials: DataFrame) -> DataFrame:
        """Pane rows -> one row per window they fall in (``start_s``): n panes each."""
        starts = F.transform(
            F.sequence(F.lit(0), F.lit(n - 1)), lambda k: F.col("pane_s") - k * slide_seconds
        )
        return partials.withColumn("start_s", F.explode(starts)).drop("pane_s")

    key = ["stream_id", "start_s"]
    # Each 10-second pane is summed once and then joins the windows it lies in: copying
    # every message into its windows cost most of gold. Distinct chatters are counted by
    # grouping on them (plain hash aggregates, which spill) rather than by collecting
    # sets: a 10M-event rebuild ran out of memory in the set aggregates.
    volume = (
        rows.groupBy("stream_id", "pane_s")
        .agg(F.count(F.lit(1)).alias("n"), F.sum("chars").alias("chars"))
        .transform(windows_of)
        .groupBy(*key)
        .agg(F.sum("n").alias("messages"), F.sum("chars").alias("message_chars"))
    )
    by_chatter = Window.partitionBy("stream_id", "user_id").orderBy("pane_s")
    previous = F.lag("pane_s").over(by_chatter)
    gap = F.col("first_us") - F.lag("last_us").over(by_chatter)
    people = (
        rows.groupBy("stream_id", "user_id", "pane_s")
        .agg(F.min("ts_us").alias("first_us"), F.max("ts_us").alias("last_us"))
        .withColumns(
            {
                "fresh": F.coalesce(gap > fresh_gap_seconds * 1_000_000, F.lit(True)),
                # The windows this pane opens for the chatter: those after the previous pane.
                "first_start": F.greatest(
                    F.col("pane_s") - (n - 1) * slide_seconds, previous + slide_seconds
                ),
            }
        )
        .withColumn(
            "start_s",
            F.explode(F.sequence("first_start", "pane_s", F.lit(slide_seconds).cast("long"))),
        )
        .groupBy(*key)
        .agg(
            F.count(F.lit(1)).alias("chatters"),
            F.count(F.when(F.col("fresh"), 1)).alias("fresh_chatters"),
        )
    )
    # A chorus is short: only short texts need counting per text.
    chorus = (
        rows.filter(F.length("text") <= CHORUS_MAX_CHARS)
        .groupBy("stream_id", "pane_s", "text", "user_id")
        .agg(F.count(F.lit(1)).alias("n"))
        .transform(windows_of)
        .groupBy(*key, "text", "user_id")
        .agg(F.sum("n").alias("n"))
        .groupBy(*key, "text")
        .agg(F.sum("n").alias("n"), F.count(F.lit(1)).alias("users"))
        .filter(F.col("users") >= CHORUS_MIN_CHATTERS)
        .groupBy(*key)
        .agg(F.sum("n").alias("chorus_messages"))
    )
    signals = (volume.join(people, on=key).join(chorus, on=key, how="left")).withColumn(
        "chorus_messages", F.coalesce("chorus_messages", F.lit(0))
    )
    return signals.select(
        "stream_id",
        F.timestamp_seconds("start_s").alias("window_start"),
        F.timestamp_seconds(F.col("start_s") + window_seconds).alias("window_end"),
        "messages",
        "chatters",
        "chorus_messages",
        "message_chars",
        "fresh_chatters",
    )
