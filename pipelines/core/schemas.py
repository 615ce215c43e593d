"""Every schema Telemetra has, defined once: the Kafka events and each lake table.

The schemas are Arrow schemas, so the parts that never start Spark (the DuckDB query
layer, the app, the producer's tests) read them without pyspark. Spark code converts
them with ``pipelines.transforms.common.spark_type``; the conversion is exact (Arrow's
``timestamp[us, tz=UTC]`` is Spark's TIMESTAMP, ``decimal128`` its DECIMAL).

Events are UTF-8 JSON (README, "Event formats"). ``EVENT_SCHEMAS`` is what silver parses
with ``from_json``; the producer's generators are tested against the same fields. Table
schemas are the contracts each transform ends with (its final ``select``).
"""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 2)

# ---- events (Kafka value) ----------------------------------------------------------
ENVELOPE_FIELDS = ["event_id", "event_type", "stream_id", "ts", "schema_version"]
TX_TYPES = ("subscription", "gift_sub", "bits", "donation")
STREAM_STATUSES = ("live", "offline")


def _envelope() -> list[pa.Field]:
    return [
        pa.field("event_id", pa.string()),
        pa.field("event_type", pa.string()),
        pa.field("stream_id", pa.string()),
        pa.field("ts", pa.string()),  # ISO-8601 UTC with ms; typed in silver
        pa.field("schema_version", pa.int32()),
    ]


CHAT_EVENT = pa.schema(
    _envelope()
    + [
        pa.field("user_id", pa.string()),
        pa.field("username", pa.string()),
        pa.field("message", pa.string()),
        pa.field("emotes", pa.list_(pa.string())),
        pa.field("badges", pa.list_(pa.string())),
    ]
)
VIEWER_EVENT = pa.schema(_envelope() + [pa.field("viewer_count", pa.int64())])
TRANSACTION_EVENT = pa.schema(
    _envelope()
    + [
        pa.field("user_id", pa.string()),
        pa.field("tx_type", pa.string()),
        pa.field("amount", MONEY),
        pa.field("currency", pa.string()),
        pa.field("tier", pa.string()),
        pa.field("gift_count", pa.int32()),
    ]
)
STREAM_META_EVENT = pa.schema(
    _envelope()
    + [
        pa.field("status", pa.string()),
        pa.field("title", pa.string()),
        pa.field("category", pa.string()),
        pa.field("language", pa.string()),
        pa.field("started_at", pa.string()),
    ]
)
EVENT_SCHEMAS: dict[str, pa.Schema] = {
    "chat": CHAT_EVENT,
    "viewer": VIEWER_EVENT,
    "transaction": TRANSACTION_EVENT,
    "stream_meta": STREAM_META_EVENT,
}

# ---- bronze ---------------------------------------------------------------------------
KAFKA_COORDINATES = [
    pa.field("topic", pa.string(), nullable=False),
    pa.field("partition", pa.int32(), nullable=False),
    pa.field("offset", pa.int64(), nullable=False),
    pa.field("kafka_timestamp", TIMESTAMP),
    pa.field("ingest_time", TIMESTAMP, nullable=False),
]
BRONZE_EVENTS = pa.schema(
    [
        pa.field("key", pa.string()),
        pa.field("value", pa.binary()),  # exactly the bytes Kafka held
        *KAFKA_COORDINATES,
        pa.field("ingest_date", pa.date32(), nullable=False),
    ]
)

# ---- silver: typed events -------------------------------------------------------------
_SILVER_ENVELOPE = [
    pa.field("event_id", pa.string(), nullable=False),
    pa.field("stream_id", pa.string(), nullable=False),
    pa.field("ts", TIMESTAMP, nullable=False),
]
_LINEAGE = [
    pa.field("topic", pa.string()),
    pa.field("partition", pa.int32()),
    pa.field("offset", pa.int64()),
    pa.field("ingest_time", TIMESTAMP),
]
CHAT_MESSAGES = pa.schema(
    _SILVER_ENVELOPE
    + [
        pa.field("user_id", pa.string()),
        pa.field("username", pa.string()),
        pa.field("message", pa.string()),
        pa.field("emotes", pa.list_(pa.string())),
        pa.field("badges", pa.list_(pa.string())),
        pa.field("sentiment", pa.float64()),  # VADER compound in [-1, 1]
    ]
    + _LINEAGE
)
VIEWER_COUNTS = pa.schema(_SILVER_ENVELOPE + [pa.field("viewer_count", pa.int64())] + _LINEAGE)
TRANSACTIONS = pa.schema(
    _SILVER_ENVELOPE
    + [
        pa.field("user_id", pa.string()),
        pa.field("tx_type", pa.string()),
        pa.field("amount", MONEY),
        pa.field("currency", pa.string()),
        pa.field("tier", pa.string()),
        pa.field("gift_count", pa.int32()),
        pa.field("amount_base", MONEY),  # amount in the configured base currency
    ]
    + _LINEAGE
)
STREAM_META = pa.schema(
    _SILVER_ENVELOPE
    + [
        pa.field("status", pa.string()),
        pa.field("title", pa.string()),
        pa.field("category", pa.string()),
        pa.field("language", pa.string()),
        pa.field("started_at", TIMESTAMP),
    ]
    + _LINEAGE
)
QUARANTINE = pa.schema(
    [
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
        pa.field("event_type", pa.string()),  # from the topic when the JSON does not say
        pa.field("event_id", pa.string()),
        pa.field("stream_id", pa.string()),
        pa.field("raw_value", pa.binary()),
        *KAFKA_COORDINATES,
    ]
)

# Where silver's rows are stored: one table, a row per bronze row, partitioned by kind
# (an event type, or "quarantine"). The typed tables and quarantine above are its views
# (``pipelines.core.catalog``): one append per micro-batch instead of five. Every column of
# every view, nullable (a kind fills its own), plus ``kind``; a quarantined row that
# parsed keeps its ``ts`` (late and duplicate rows: lateness is judged against them).
SILVER_KINDS = ("chat", "viewer", "transaction", "stream_meta", "quarantine")


def _silver_events() -> pa.Schema:
    fields = {"kind": pa.field("kind", pa.string(), nullable=False)}
    for view in (CHAT_MESSAGES, VIEWER_COUNTS, TRANSACTIONS, STREAM_META, QUARANTINE):
        for f in view:
            known = fields.setdefault(f.name, f.with_nullable(True))
            if known.type != f.type:
                raise TypeError(f"silver column {f.name} has two types")
    return pa.schema(list(fields.values()))


SILVER_EVENTS = _silver_events()

# ---- silver: windowed aggregates (stream × window) --------------------------------------
EMOTE_COUNTS = pa.list_(pa.struct([pa.field("emote", pa.string()), pa.field("count", pa.int64())]))

# ---- silver: 10-second panes, the hot path's aggregates -----------------------------------
# One row per stream × pane (slide_seconds long) × micro-batch: additive partials of the
# events that batch accepted. A sliding window is the combination of the panes it covers
# (pipelines.serving.queries combines them for the Live page;
# pipelines.transforms.silver_panes says how).
SENTIMENT_SUM = pa.decimal128(30, 17)  # Spark's sum of DECIMAL(20,17) compound scores
PANES = pa.schema(
    [
        pa.field("stream_id", pa.string(), nullable=False),
        pa.field("pane_start", TIMESTAMP, nullable=False),
        pa.field("pane_end", TIMESTAMP, nullable=False),
        pa.field("batch_id", pa.int64()),  # the hot micro-batch; null in a batch rebuild
        pa.field("events", pa.int64()),  # accepted events of every type
        pa.field("first_ts", TIMESTAMP),
        pa.field("last_ts", TIMESTAMP),
        # earliest time the events reach: their ts and any broadcast start they announce
        pa.field("since_ts", TIMESTAMP),
        pa.field("last_ingest_time", TIMESTAMP),
        pa.field("chat_count", pa.int64()),
        pa.field("chatters", pa.list_(pa.string())),  # distinct user_ids, sorted
        pa.field("sentiment_sum", SENTIMENT_SUM),
        pa.field("sentiment_n", pa.int64()),  # messages with a sentiment score
        pa.field("positive_count", pa.int64()),
        pa.field("negative_count", pa.int64()),
        pa.field("emote_counts", EMOTE_COUNTS),  # every emote of the pane, not a top list
        pa.field("viewer_samples", pa.int64()),
        pa.field("viewer_sum", pa.int64()),
        pa.field("viewer_min", pa.int64()),
        pa.field("viewer_max", pa.int64()),
        # the pane's latest viewer count, by (ts, ingest_time, topic, partition, offset);
        # flat columns, not a struct: Great Expectations lists a struct's fields as columns
        pa.field("last_viewer_ts", TIMESTAMP),
        pa.field("last_viewer_ingest_time", TIMESTAMP),
        pa.field("last_viewer_topic", pa.string()),
        pa.field("last_viewer_partition", pa.int32()),
        pa.field("last_viewer_offset", pa.int64()),
        pa.field("last_viewers", pa.int64()),
        pa.field("tx_count", pa.int64()),
        pa.field("revenue", pa.decimal128(28, 2)),
        *[
            f
            for t in TX_TYPES
            for f in (
                pa.field(f"{t}_count", pa.int64()),
                pa.field(f"{t}_revenue", pa.decimal128(28, 2)),
            )
        ],  # fmt: skip
        pa.field("meta_count", pa.int64()),
    ]
)
_WINDOW_KEY = [
    pa.field("stream_id", pa.string(), nullable=False),
    pa.field("window_start", TIMESTAMP, nullable=False),
    pa.field("window_end", TIMESTAMP, nullable=False),
]
CHAT_SUMMARY_MINUTE = pa.schema(
    _WINDOW_KEY
    + [
        pa.field("chat_count", pa.int64()),
        pa.field("unique_chatters", pa.int64()),
        pa.field("top_emotes", EMOTE_COUNTS),
        pa.field("sentiment_mean", pa.float64()),
        pa.field("positive_count", pa.int64()),
        pa.field("negative_count", pa.int64()),
    ]
)
VIEWER_TIMESERIES = pa.schema(
    _WINDOW_KEY
    + [
        pa.field("avg_viewers", pa.float64()),
        pa.field("min_viewers", pa.int64()),
        pa.field("max_viewers", pa.int64()),
        pa.field("last_viewers", pa.int64()),
        pa.field("samples", pa.int64()),
    ]
)
TRANSACTIONS_MINUTE = pa.schema(
    _WINDOW_KEY
    + [
        pa.field("tx_count", pa.int64()),
        pa.field("revenue", MONEY),
        *[
            f
            for t in TX_TYPES
            for f in (pa.field(f"{t}_count", pa.int64()), pa.field(f"{t}_revenue", MONEY))
        ],
        pa.field("currency", pa.string()),
    ]
)

# ---- gold -------------------------------------------------------------------------------
STREAM_MINUTE_METRICS = pa.schema(
    _WINDOW_KEY
    + [
        pa.field("avg_viewers", pa.float64()),
        pa.field("max_viewers", pa.int64()),
        pa.field("last_viewers", pa.int64()),
        pa.field("chat_count", pa.int64()),
        pa.field("unique_chatters", pa.int64()),
        pa.field("sentiment_mean", pa.float64()),
        pa.field("positive_count", pa.int64()),
        pa.field("negative_count", pa.int64()),
        pa.field("top_emotes", EMOTE_COUNTS),
        pa.field("tx_count", pa.int64()),
        pa.field("revenue", MONEY),
    ]
)
# Per stream and clock hour (UTC) of window_start: what a long-range comparison needs, so it
# reads a row per hour instead of 360 sliding windows. What each column sums, and why the
# sums are decimals: ``pipelines.core.rollup``.
EXACT_SUM = pa.decimal128(28, 6)
STREAM_HOUR_METRICS = pa.schema(
    [
        pa.field("stream_id", pa.string(), nullable=False),
        pa.field("hour_start", TIMESTAMP, nullable=False),
        pa.field("windows", pa.int64()),  # sliding windows starting in the hour
        pa.field("first_window_start", TIMESTAMP),
        pa.field("last_window_end", TIMESTAMP),
        pa.field("max_viewers", pa.int64()),
        pa.field("avg_viewers_sum", EXACT_SUM),  # sum of avg_viewers over the windows
        pa.field("avg_viewers_windows", pa.int64()),  # windows with an avg_viewers
        pa.field("max_chat_count", pa.int64()),  # busiest sliding window
        pa.field("chat_count", pa.int64()),  # tiling windows: messages in the hour
        pa.field("tx_count", pa.int64()),  # tiling
        pa.field("revenue", MONEY),  # tiling
        pa.field("sentiment_sum", EXACT_SUM),  # tiling: sum of sentiment_mean * chat_count
        pa.field("sentiment_messages", pa.int64()),  # tiling: chat_count where sentiment known
    ]
)
MOMENTS = pa.schema(
    [
        pa.field("moment_id", pa.string(), nullable=False),
        pa.field("stream_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("start_ts", TIMESTAMP, nullable=False),
        pa.field("end_ts", TIMESTAMP, nullable=False),
        pa.field("peak_ts", TIMESTAMP),
        pa.field("peak_value", pa.float64()),
        pa.field("score", pa.float64()),
        pa.field("baseline_mean", pa.float64()),
        pa.field("baseline_std", pa.float64()),
        pa.field("top_emotes", EMOTE_COUNTS),
        pa.field("sample_messages", pa.list_(pa.string())),
    ]
)
STREAM_SUMMARY = pa.schema(
    [
        pa.field("stream_id", pa.string(), nullable=False),
        pa.field("broadcast_id", pa.string(), nullable=False),
        pa.field("started_at", TIMESTAMP),
        pa.field("ended_at", TIMESTAMP),
        pa.field("title", pa.string()),
        pa.field("category", pa.string()),
        pa.field("peak_viewers", pa.int64()),
        pa.field("avg_viewers", pa.float64()),
        pa.field("messages", pa.int64()),
        pa.field("unique_chatters", pa.int64()),
        pa.field("revenue", MONEY),
        pa.field("top_emotes", EMOTE_COUNTS),
        pa.field("moment_count", pa.int64()),
        # Chatters whose first message on this stream (in the lake) is in this broadcast,
        # and the broadcast's other chatters: unique_chatters = first_time + returning.
        pa.field("first_time_chatters", pa.int64()),
        pa.field("returning_chatters", pa.int64()),
    ]
)
CHATTERS = pa.schema(
    [
        pa.field("stream_id", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("first_ts", TIMESTAMP, nullable=False),  # the user's first message here
    ]
)
STREAMS = pa.schema(
    [
        pa.field("stream_id", pa.string(), nullable=False),
        pa.field("status", pa.string()),
        pa.field("title", pa.string()),
        pa.field("category", pa.string()),
        pa.field("language", pa.string()),
        pa.field("started_at", TIMESTAMP),
        pa.field("last_event_ts", TIMESTAMP),
    ]
)

# ---- gold: data quality (one row per validated table or check per run) -------------------
QUALITY_RUNS = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("run_time", TIMESTAMP, nullable=False),
        pa.field("layer", pa.string(), nullable=False),
        pa.field("table", pa.string(), nullable=False),  # a table, or a cross-table check
        pa.field("suite", pa.string(), nullable=False),  # <layer>.<table>
        # passed | warning | failed | missing | error
        pa.field("status", pa.string(), nullable=False),
        pa.field("success", pa.bool_()),  # no critical expectation failed; null if missing
        pa.field("expectations", pa.int32()),
        pa.field("passed", pa.int32()),
        pa.field("failed", pa.int32()),
        pa.field("critical_failed", pa.int32()),
        pa.field("warning_failed", pa.int32()),
        pa.field("failed_expectations", pa.list_(pa.string())),
        pa.field("row_count", pa.int64()),
        pa.field("observed_value", pa.float64()),  # a check's headline number (e.g. the rate)
        pa.field("report_path", pa.string()),  # the Data Docs page of this validation
        pa.field("duration_seconds", pa.float64()),
    ]
)
