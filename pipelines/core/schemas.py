"""Every schema Telemetra has, defined once: the Kafka events and each lake table.

Events are UTF-8 JSON (design.md). ``EVENT_SCHEMAS`` is what silver parses with
``from_json``; the producer's generators are tested against the same fields.
Table schemas are the contracts each transform ends with (its final ``select``).
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

MONEY = DecimalType(18, 2)

# ---- events (Kafka value) ----------------------------------------------------------
ENVELOPE_FIELDS = ["event_id", "event_type", "stream_id", "ts", "schema_version"]
TX_TYPES = ("subscription", "gift_sub", "bits", "donation")
STREAM_STATUSES = ("live", "offline")


def _envelope() -> list[StructField]:
    return [
        StructField("event_id", StringType()),
        StructField("event_type", StringType()),
        StructField("stream_id", StringType()),
        StructField("ts", StringType()),  # ISO-8601 UTC with ms; typed in silver
        StructField("schema_version", IntegerType()),
    ]


CHAT_EVENT = StructType(
    _envelope()
    + [
        StructField("user_id", StringType()),
        StructField("username", StringType()),
        StructField("message", StringType()),
        StructField("emotes", ArrayType(StringType())),
        StructField("badges", ArrayType(StringType())),
    ]
)
VIEWER_EVENT = StructType(_envelope() + [StructField("viewer_count", LongType())])
TRANSACTION_EVENT = StructType(
    _envelope()
    + [
        StructField("user_id", StringType()),
        StructField("tx_type", StringType()),
        StructField("amount", MONEY),
        StructField("currency", StringType()),
        StructField("tier", StringType()),
        StructField("gift_count", IntegerType()),
    ]
)
STREAM_META_EVENT = StructType(
    _envelope()
    + [
        StructField("status", StringType()),
        StructField("title", StringType()),
        StructField("category", StringType()),
        StructField("language", StringType()),
        StructField("started_at", StringType()),
    ]
)
EVENT_SCHEMAS: dict[str, StructType] = {
    "chat": CHAT_EVENT,
    "viewer": VIEWER_EVENT,
    "transaction": TRANSACTION_EVENT,
    "stream_meta": STREAM_META_EVENT,
}

# ---- bronze ---------------------------------------------------------------------------
KAFKA_COORDINATES = [
    StructField("topic", StringType(), False),
    StructField("partition", IntegerType(), False),
    StructField("offset", LongType(), False),
    StructField("kafka_timestamp", TimestampType()),
    StructField("ingest_time", TimestampType(), False),
]
BRONZE_EVENTS = StructType(
    [
        StructField("key", StringType()),
        StructField("value", BinaryType()),  # exactly the bytes Kafka held
        *KAFKA_COORDINATES,
        StructField("ingest_date", DateType(), False),
    ]
)

# ---- silver: typed events -------------------------------------------------------------
_SILVER_ENVELOPE = [
    StructField("event_id", StringType(), False),
    StructField("stream_id", StringType(), False),
    StructField("ts", TimestampType(), False),
]
_LINEAGE = [
    StructField("topic", StringType()),
    StructField("partition", IntegerType()),
    StructField("offset", LongType()),
    StructField("ingest_time", TimestampType()),
]
CHAT_MESSAGES = StructType(
    _SILVER_ENVELOPE
    + [
        StructField("user_id", StringType()),
        StructField("username", StringType()),
        StructField("message", StringType()),
        StructField("emotes", ArrayType(StringType())),
        StructField("badges", ArrayType(StringType())),
        StructField("sentiment", DoubleType()),  # VADER compound in [-1, 1]
    ]
    + _LINEAGE
)
VIEWER_COUNTS = StructType(_SILVER_ENVELOPE + [StructField("viewer_count", LongType())] + _LINEAGE)
TRANSACTIONS = StructType(
    _SILVER_ENVELOPE
    + [
        StructField("user_id", StringType()),
        StructField("tx_type", StringType()),
        StructField("amount", MONEY),
        StructField("currency", StringType()),
        StructField("tier", StringType()),
        StructField("gift_count", IntegerType()),
        StructField("amount_base", MONEY),  # amount in the configured base currency
    ]
    + _LINEAGE
)
STREAM_META = StructType(
    _SILVER_ENVELOPE
    + [
        StructField("status", StringType()),
        StructField("title", StringType()),
        StructField("category", StringType()),
        StructField("language", StringType()),
        StructField("started_at", TimestampType()),
    ]
    + _LINEAGE
)
QUARANTINE = StructType(
    [
        StructField("reason", StringType(), False),
        StructField("detail", StringType()),
        StructField("event_type", StringType()),  # from the topic when the JSON does not say
        StructField("event_id", StringType()),
        StructField("stream_id", StringType()),
        StructField("raw_value", BinaryType()),
        *KAFKA_COORDINATES,
    ]
)

# Where silver's rows are stored: one table, a row per bronze row, partitioned by kind
# (an event type, or "quarantine"). The typed tables and quarantine above are its views
# (``pipelines.core.catalog``): one append per micro-batch instead of five. Every column of
# every view, nullable (a kind fills its own), plus ``kind``; a quarantined row that
# parsed keeps its ``ts`` (late and duplicate rows: lateness is judged against them).
SILVER_KINDS = ("chat", "viewer", "transaction", "stream_meta", "quarantine")


def _silver_events() -> StructType:
    fields = {"kind": StructField("kind", StringType(), False)}
    for view in (CHAT_MESSAGES, VIEWER_COUNTS, TRANSACTIONS, STREAM_META, QUARANTINE):
        for f in view.fields:
            known = fields.setdefault(f.name, StructField(f.name, f.dataType, True))
            if known.dataType != f.dataType:
                raise TypeError(f"silver column {f.name} has two types")
    fields["ts"] = StructField("ts", TimestampType(), True)
    return StructType(list(fields.values()))


SILVER_EVENTS = _silver_events()

# ---- silver: windowed aggregates (stream × window) --------------------------------------
EMOTE_COUNTS = ArrayType(
    StructType([StructField("emote", StringType()), StructField("count", LongType())])
)

# ---- silver: 10-second panes, the hot path's aggregates -----------------------------------
# One row per stream × pane (slide_seconds long) × micro-batch: additive partials of the
# events that batch accepted. A sliding window is the combination of the panes it covers
# (pipelines.serving.queries combines them for the Live page;
# pipelines.transforms.silver_panes says how).
SENTIMENT_SUM = DecimalType(30, 17)  # Spark's sum of DECIMAL(20,17) compound scores
PANES = StructType(
    [
        StructField("stream_id", StringType(), False),
        StructField("pane_start", TimestampType(), False),
        StructField("pane_end", TimestampType(), False),
        StructField("batch_id", LongType()),  # the hot micro-batch; null in a batch rebuild
        StructField("events", LongType()),  # accepted events of every type
        StructField("first_ts", TimestampType()),
        StructField("last_ts", TimestampType()),
        # earliest time the events reach: their ts and any broadcast start they announce
        StructField("since_ts", TimestampType()),
        StructField("last_ingest_time", TimestampType()),
        StructField("chat_count", LongType()),
        StructField("chatters", ArrayType(StringType())),  # distinct user_ids, sorted
        StructField("sentiment_sum", SENTIMENT_SUM),
        StructField("sentiment_n", LongType()),  # messages with a sentiment score
        StructField("positive_count", LongType()),
        StructField("negative_count", LongType()),
        StructField("emote_counts", EMOTE_COUNTS),  # every emote of the pane, not a top list
        StructField("viewer_samples", LongType()),
        StructField("viewer_sum", LongType()),
        StructField("viewer_min", LongType()),
        StructField("viewer_max", LongType()),
        # the pane's latest viewer count, by (ts, ingest_time, topic, partition, offset);
        # flat columns, not a struct: Great Expectations lists a struct's fields as columns
        StructField("last_viewer_ts", TimestampType()),
        StructField("last_viewer_ingest_time", TimestampType()),
        StructField("last_viewer_topic", StringType()),
        StructField("last_viewer_partition", IntegerType()),
        StructField("last_viewer_offset", LongType()),
        StructField("last_viewers", LongType()),
        StructField("tx_count", LongType()),
        StructField("revenue", DecimalType(28, 2)),
        *[
            f
            for t in TX_TYPES
            for f in (
                StructField(f"{t}_count", LongType()),
                StructField(f"{t}_revenue", DecimalType(28, 2)),
            )
        ],  # fmt: skip
        StructField("meta_count", LongType()),
    ]
)
_WINDOW_KEY = [
    StructField("stream_id", StringType(), False),
    StructField("window_start", TimestampType(), False),
    StructField("window_end", TimestampType(), False),
]
CHAT_SUMMARY_MINUTE = StructType(
    _WINDOW_KEY
    + [
        StructField("chat_count", LongType()),
        StructField("unique_chatters", LongType()),
        StructField("top_emotes", EMOTE_COUNTS),
        StructField("sentiment_mean", DoubleType()),
        StructField("positive_count", LongType()),
        StructField("negative_count", LongType()),
    ]
)
VIEWER_TIMESERIES = StructType(
    _WINDOW_KEY
    + [
        StructField("avg_viewers", DoubleType()),
        StructField("min_viewers", LongType()),
        StructField("max_viewers", LongType()),
        StructField("last_viewers", LongType()),
        StructField("samples", LongType()),
    ]
)
TRANSACTIONS_MINUTE = StructType(
    _WINDOW_KEY
    + [
        StructField("tx_count", LongType()),
        StructField("revenue", MONEY),
        *[
            f
            for t in TX_TYPES
            for f in (StructField(f"{t}_count", LongType()), StructField(f"{t}_revenue", MONEY))
        ],
        StructField("currency", StringType()),
    ]
)

# ---- gold -------------------------------------------------------------------------------
STREAM_MINUTE_METRICS = StructType(
    _WINDOW_KEY
    + [
        StructField("avg_viewers", DoubleType()),
        StructField("max_viewers", LongType()),
        StructField("last_viewers", LongType()),
        StructField("chat_count", LongType()),
        StructField("unique_chatters", LongType()),
        StructField("sentiment_mean", DoubleType()),
        StructField("positive_count", LongType()),
        StructField("negative_count", LongType()),
        StructField("top_emotes", EMOTE_COUNTS),
        StructField("tx_count", LongType()),
        StructField("revenue", MONEY),
    ]
)
# Per stream and clock hour (UTC) of window_start: what a long-range comparison needs, so it
# reads a row per hour instead of 360 sliding windows. The parts of an average are kept
# (sum and count), so hours combine exactly; the sums cover the tiling windows only (a
# window whose start is a multiple of its length), as in the query layer. Sums of doubles
# are kept as decimals (6 places): a decimal sum does not depend on the order rows are
# added in, so a streamed hour equals a rebuilt one bit for bit.
EXACT_SUM = DecimalType(28, 6)
STREAM_HOUR_METRICS = StructType(
    [
        StructField("stream_id", StringType(), False),
        StructField("hour_start", TimestampType(), False),
        StructField("windows", LongType()),  # sliding windows starting in the hour
        StructField("first_window_start", TimestampType()),
        StructField("last_window_end", TimestampType()),
        StructField("max_viewers", LongType()),
        StructField("avg_viewers_sum", EXACT_SUM),  # sum of avg_viewers over the windows
        StructField("avg_viewers_windows", LongType()),  # windows with an avg_viewers
        StructField("max_chat_count", LongType()),  # busiest sliding window
        StructField("chat_count", LongType()),  # tiling windows: messages in the hour
        StructField("tx_count", LongType()),  # tiling
        StructField("revenue", MONEY),  # tiling
        StructField("sentiment_sum", EXACT_SUM),  # tiling: sum of sentiment_mean * chat_count
        StructField("sentiment_messages", LongType()),  # tiling: chat_count where sentiment known
    ]
)
MOMENTS = StructType(
    [
        StructField("moment_id", StringType(), False),
        StructField("stream_id", StringType(), False),
        StructField("kind", StringType(), False),
        StructField("start_ts", TimestampType(), False),
        StructField("end_ts", TimestampType(), False),
        StructField("peak_ts", TimestampType()),
        StructField("peak_value", DoubleType()),
        StructField("score", DoubleType()),
        StructField("baseline_mean", DoubleType()),
        StructField("baseline_std", DoubleType()),
        StructField("top_emotes", EMOTE_COUNTS),
        StructField("sample_messages", ArrayType(StringType())),
    ]
)
STREAM_SUMMARY = StructType(
    [
        StructField("stream_id", StringType(), False),
        StructField("broadcast_id", StringType(), False),
        StructField("started_at", TimestampType()),
        StructField("ended_at", TimestampType()),
        StructField("title", StringType()),
        StructField("category", StringType()),
        StructField("peak_viewers", LongType()),
        StructField("avg_viewers", DoubleType()),
        StructField("messages", LongType()),
        StructField("unique_chatters", LongType()),
        StructField("revenue", MONEY),
        StructField("top_emotes", EMOTE_COUNTS),
        StructField("moment_count", LongType()),
    ]
)
STREAMS = StructType(
    [
        StructField("stream_id", StringType(), False),
        StructField("status", StringType()),
        StructField("title", StringType()),
        StructField("category", StringType()),
        StructField("language", StringType()),
        StructField("started_at", TimestampType()),
        StructField("last_event_ts", TimestampType()),
    ]
)

# ---- gold: data quality (one row per validated table or check per run) -------------------
QUALITY_RUNS = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("run_time", TimestampType(), False),
        StructField("layer", StringType(), False),
        StructField("table", StringType(), False),  # a table, or a cross-table check
        StructField("suite", StringType(), False),  # <layer>.<table>
        StructField("status", StringType(), False),  # passed | warning | failed | missing | error
        StructField("success", BooleanType()),  # no critical expectation failed; null if missing
        StructField("expectations", IntegerType()),
        StructField("passed", IntegerType()),
        StructField("failed", IntegerType()),
        StructField("critical_failed", IntegerType()),
        StructField("warning_failed", IntegerType()),
        StructField("failed_expectations", ArrayType(StringType())),
        StructField("row_count", LongType()),
        StructField("observed_value", DoubleType()),  # a check's headline number (e.g. the rate)
        StructField("report_path", StringType()),  # the Data Docs page of this validation
        StructField("duration_seconds", DoubleType()),
    ]
)
