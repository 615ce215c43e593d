"""The hour rollup of the minute windows, defined once for both engines.

``gold/stream_hour_metrics`` holds, per stream and UTC hour of ``window_start``, what a
long-range comparison needs. Spark builds it from ``gold/stream_minute_metrics``
(``pipelines.transforms.gold.rollup_hours``); the query layer tops it up with the minute
windows of a range's ragged ends (``pipelines.serving.queries``). Both render the SQL
below, so an hour row and the same windows rolled up on the fly always agree.

Sums over time (messages, transactions, revenue, sentiment) add only the *tiling*
windows: a sliding window whose start is a multiple of its length. Those cover time
without overlap, so each message counts once; every other window overlaps them.
Averages are kept as their parts (a sum and a count) so hours combine exactly, and sums
of doubles are decimals (6 places): a decimal sum does not depend on the order rows
arrive in, so a streamed hour equals a rebuilt one bit for bit.
"""

from __future__ import annotations

from pipelines.core.schemas import EXACT_SUM as _EXACT

EXACT_SUM = f"DECIMAL({_EXACT.precision},{_EXACT.scale})"


def tiling(epoch_ms: str) -> str:
    """SQL: is this window one of the tiling ones? ``epoch_ms`` is the engine's function
    from a timestamp to epoch milliseconds (Spark ``unix_millis``, DuckDB ``epoch_ms``)."""
    return f"{epoch_ms}(window_start) % ({epoch_ms}(window_end) - {epoch_ms}(window_start)) = 0"


# What one minute window adds to its hour, per stream_hour_metrics column: SQL over a
# stream_minute_metrics row with a boolean ``tiling`` column (both engines parse it).
WINDOW_PARTS: dict[str, str] = {
    "windows": "1",
    "first_window_start": "window_start",
    "last_window_end": "window_end",
    "max_viewers": "max_viewers",
    "avg_viewers_sum": f"CAST(avg_viewers AS {EXACT_SUM})",
    "avg_viewers_windows": "CASE WHEN avg_viewers IS NULL THEN 0 ELSE 1 END",
    "max_chat_count": "chat_count",
    "chat_count": "CASE WHEN tiling THEN chat_count ELSE 0 END",
    "tx_count": "CASE WHEN tiling THEN tx_count ELSE 0 END",
    "revenue": "CASE WHEN tiling THEN revenue ELSE 0 END",
    "sentiment_sum": f"CASE WHEN tiling THEN CAST(sentiment_mean * chat_count AS {EXACT_SUM}) END",
    "sentiment_messages": (
        "CASE WHEN tiling AND sentiment_mean IS NOT NULL THEN chat_count ELSE 0 END"
    ),
}

# How parts (of windows, or of whole hours) combine: the SQL aggregate per column.
COMBINE: dict[str, str] = {
    "windows": "sum",
    "first_window_start": "min",
    "last_window_end": "max",
    "max_viewers": "max",
    "avg_viewers_sum": "sum",
    "avg_viewers_windows": "sum",
    "max_chat_count": "max",
    "chat_count": "sum",
    "tx_count": "sum",
    "revenue": "sum",
    "sentiment_sum": "sum",
    "sentiment_messages": "sum",
}


def parts_sql() -> str:
    """SQL select list: a window's parts, named as the hour table's columns."""
    return ", ".join(f"{sql} AS {name}" for name, sql in WINDOW_PARTS.items())


def combine_sql(columns: tuple[str, ...] = tuple(COMBINE)) -> str:
    """SQL select list: ``columns`` combined over a group of parts."""
    return ", ".join(f"{COMBINE[c]}({c}) AS {c}" for c in columns)
