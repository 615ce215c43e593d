"""Silver: parse, validate, type, dedupe and quarantine bronze records (pure transforms).

One function, :func:`classify`, decides the fate of a set of new bronze rows. Batch runs
call it on all of bronze at once, the stream on each micro-batch (``foreachBatch`` in
``pipelines.jobs.silver_job``), so both give the same silver. Every bronze row ends in
exactly one place: a typed table or ``silver/quarantine`` (silver rows + quarantine rows
= bronze rows); both are views of one stored table, ``silver/events`` (:func:`to_events`).

1. **Validation**, first failing rule wins, in this order (``reason``; ``detail``):
   ``not_utf8``, ``oversized`` (> max_message_bytes), ``invalid_json`` (not a JSON object,
   or a null value), ``unknown_event_type``, ``topic_mismatch`` (event_type not the
   topic's), ``missing_field`` (an envelope or ``REQUIRED_FIELDS`` field absent or JSON
   null; detail = the field), ``wrong_type`` (present but not parseable as its schema type;
   detail = the field), ``bad_timestamp`` (ts, or a present started_at, not ISO-8601, or
   before ``min_event_date``: judged on the event alone, so 1970 cannot open a stream),
   ``future_timestamp`` (ts > the record's Kafka timestamp, else its ingest time,
   + max_future_seconds: never the wall clock, so batch and stream agree),
   ``negative_value`` (viewer_count < 0, amount ≤ 0), ``invalid_value`` (tx_type or
   status not allowed), ``unknown_currency`` (not in the rate table), and last
   ``invalid_value`` again when amount_base overflows DECIMAL(18,2). Each record is
   parsed once, ``from_json(text, EVENT_SCHEMAS[topic's type])``; only a record that is
   not a JSON object or has a mistyped field is parsed again, into a map that tells
   "absent" from "mistyped" (:func:`with_typed`). Spark's JSON reader turns any JSON scalar
   into a string field, so string fields never fail ``wrong_type``; amounts are rounded
   half-up to cents; a JSON object followed by trailing garbage parses as the object.
2. **Lateness** per stream: a valid event is ``late`` when its ts < (max ts of the valid
   events of its stream that arrived before it, by an earlier ``(ingest_time,
   kafka_timestamp)``) − watermark_seconds; events of the same millisecond are not late
   against each other (across topics Kafka gives them no order). "Before" spans
   earlier micro-batches through ``stored_max`` (kept by the stream's driver,
   ``pipelines.jobs.silver_state``; empty in batch mode) and the batch itself through a
   running max over arrival order.
3. **Dedupe** on (event_type, event_id): among valid, non-late rows the first arrival
   wins, later copies are ``duplicate``; so are rows whose event_id silver accepted in an
   earlier micro-batch (:func:`with_silver_dedupe`, fed from the driver's state). Neither
   rule sees a micro-batch's own rows as history when the batch is replayed after a
   crash, so a replay routes every row as the first attempt did.
   Lateness and dedupe look at the valid rows only, so they run on narrow copies of them
   (:func:`verdicts`: key, envelope, arrival order).
4. **Sentiment** of valid chat rows: the valences of their tokens
   (``pipelines.transforms.sentiment``) are summed over narrow rows too
   (:func:`chat_valence`), and the wide rows (raw bytes, parsed fields) take both results
   in hash joins (:func:`with_notes`): shuffled once, never sorted.
5. **silver/events** (:func:`to_events`): one projection turns each row into its typed row
   or its quarantine row, matching ``pipelines.core.schemas``; :func:`to_typed` and
   :func:`to_quarantine` are its views. Transactions get ``amount_base`` =
   amount × rate_to_usd(currency) / rate_to_usd(base) from ``conf/currency_rates.csv``.

Windowed aggregates are combined from the 10-second panes (``pipelines.transforms.silver_panes``;
their definition over the typed rows: ``pipelines.transforms.silver_windows``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import reduce
from itertools import chain

import pyarrow as pa
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import MapType, StringType

from pipelines.core import catalog, schemas
from pipelines.core.contract import EVENT_TYPES, REQUIRED_FIELDS
from pipelines.transforms.common import conform, spark_type
from pipelines.transforms.sentiment import compound, valences
from pipelines.transforms.views import select_view

ARRIVAL_ORDER = ("ingest_time", "kafka_timestamp", "topic", "partition", "offset")
# What tells bronze rows apart: Kafka coordinates, and the ingest time in case a topic was
# deleted and made again (its offsets start over).
ROW_KEY = ["topic", "partition", "offset", "ingest_time"]
TYPED_SCHEMAS: dict[str, pa.Schema] = {t.event_type: t.schema for t in catalog.typed()}
REASONS = (
    "not_utf8", "oversized", "invalid_json", "unknown_event_type", "topic_mismatch",
    "missing_field", "wrong_type", "bad_timestamp", "future_timestamp", "negative_value",
    "invalid_value", "unknown_currency", "late", "duplicate",
)  # fmt: skip
# The typed parse's column for the raw text of a record with a mistyped field.
_CORRUPT = "_corrupt"
_CORRUPT_FIELD = pa.field(_CORRUPT, pa.string())
# One wording whether the first copy is in this micro-batch or already in silver: stream
# and batch runs must write the same quarantine rows.
DUPLICATE_DETAIL = "event_id arrived before"


@dataclass(frozen=True)
class SilverParams:
    """The configuration silver's transforms need, as plain values."""

    topic_types: Mapping[str, str]  # Kafka topic -> event_type it carries
    max_message_bytes: int = 65_536
    max_future_seconds: int = 300
    min_event_date: date = date(2005, 1, 1)
    watermark_seconds: int = 120
    window_seconds: int = 60
    slide_seconds: int = 10
    top_emotes: int = 5
    base_currency: str = "USD"


def _seconds(n: int) -> Column:
    return F.expr(f"INTERVAL {int(n)} SECONDS")


def with_decoded(df: DataFrame, max_message_bytes: int) -> DataFrame:
    """Raw bytes -> ``_text`` (valid UTF-8 no longer than ``max_message_bytes``, else null)."""
    text = F.col("value").cast("string")
    parseable = F.is_valid_utf8(text) & (F.length("value") <= max_message_bytes)
    return df.withColumns(
        {
            "_size": F.length("value"),
            "_utf8": F.is_valid_utf8(text),
            "_text": F.when(parseable, text),
        }
    )


def _envelope(field: str) -> Column:
    """An envelope field from the typed parse of the record (null if absent or mistyped)."""
    return F.coalesce(*[F.col(f"_{t}")[field] for t in EVENT_TYPES])


def raw_field(name: str) -> Column:
    """A top-level field as the JSON text had it (JSON null -> null): from the field map
    where the record needed one, else from its typed parse (a string field there holds
    the same text)."""
    return F.coalesce(F.col("_fields")[name], _envelope(name))


def with_typed(df: DataFrame, topic_types: Mapping[str, str]) -> DataFrame:
    """Parse each record once, with the event schema of its topic; add typed envelope
    columns. Only a record that parse cannot answer for (its topic carries no event type,
    it is not a JSON object, or a field has the wrong JSON type) is parsed a second time,
    into ``_fields``, a map of its top-level values as strings that tells "absent" from
    "mistyped" (null for every other record)."""
    topic_map = F.create_map(*[F.lit(x) for x in chain.from_iterable(topic_types.items())])
    df = df.withColumn("_topic_type", topic_map[F.col("topic")])
    corrupt = {"columnNameOfCorruptRecord": _CORRUPT}
    df = df.withColumns(
        {
            f"_{t}": F.when(
                F.col("_topic_type") == t,
                F.from_json("_text", spark_type(schema.append(_CORRUPT_FIELD)), corrupt),
            )
            for t, schema in schemas.EVENT_SCHEMAS.items()
        }
    )
    parsed = reduce(lambda a, b: a | b, [F.col(f"_{t}").isNotNull() for t in EVENT_TYPES])
    answered = parsed & F.coalesce(*[F.col(f"_{t}")[_CORRUPT] for t in EVENT_TYPES]).isNull()
    df = df.withColumn(
        "_fields", F.when(~answered, F.from_json("_text", MapType(StringType(), StringType())))
    )
    json_type = raw_field("event_type")
    df = df.withColumns(
        {
            "_object": answered | F.col("_fields").isNotNull(),
            "_json_type": json_type,
            "event_type": F.when(json_type.isin(*EVENT_TYPES), json_type),
        }
    )
    return df.withColumns(
        {
            "event_id": _envelope("event_id"),
            "stream_id": _envelope("stream_id"),
            "ts": F.try_to_timestamp(_envelope("ts")),
            "_started_at": F.try_to_timestamp(F.col("_stream_meta.started_at")),
        }
    )


def rates_to_base(rates: DataFrame, base_currency: str) -> DataFrame:
    """(currency, rate_to_usd) -> (currency, rate_to_base): multiply an amount to convert."""
    base = rates.filter(F.col("currency") == base_currency).select(
        F.col("rate_to_usd").alias("_base_rate")
    )
    return rates.crossJoin(base).select(
        "currency", (F.col("rate_to_usd") / F.col("_base_rate")).alias("rate_to_base")
    )


def with_amount_base(df: DataFrame, rates_base: DataFrame) -> DataFrame:
    """Look up the transaction currency's rate (null = unknown) and compute amount_base."""
    lookup = rates_base.select(
        F.col("currency").alias("_currency"), F.col("rate_to_base").alias("_rate")
    )
    return (
        df.withColumn("_currency", F.col("_transaction.currency"))
        .join(F.broadcast(lookup), on="_currency", how="left")
        .withColumn(
            "_amount_base",
            (F.col("_transaction.amount") * F.col("_rate")).try_cast(spark_type(schemas.MONEY)),
        )
    )


def _rules(p: SilverParams) -> list[tuple[Column, str, Column]]:
    """(condition, reason, detail) in the order they are checked; the first true one wins."""
    fields, etype = F.col("_fields"), F.col("event_type")
    lit = F.lit
    rules = [
        (~F.col("_utf8"), "not_utf8", lit("value is not valid UTF-8")),
        (F.col("_size") > p.max_message_bytes, "oversized",
         F.format_string("%d bytes > %d", F.col("_size"), lit(p.max_message_bytes))),
        (~F.col("_object"), "invalid_json", lit("value is not a JSON object")),
        (etype.isNull(), "unknown_event_type", F.coalesce(F.col("_json_type"), lit("(absent)"))),
        (F.col("_topic_type").isNull() | (F.col("_topic_type") != etype), "topic_mismatch",
         F.format_string("event_type %s on topic %s", etype, F.col("topic"))),
    ]  # fmt: skip
    payload = {t: [name for name in s.names if name not in schemas.ENVELOPE_FIELDS]
               for t, s in schemas.EVENT_SCHEMAS.items()}  # fmt: skip

    # A field absent or mistyped is null in the parsed struct too. That cheap test goes
    # first, so a valid row skips the lookups in the field map (each a scan of its keys):
    # classification of 200k records took 9 s instead of 12-14 s.
    for name in schemas.ENVELOPE_FIELDS:
        missing = _envelope(name).isNull() & fields[name].isNull()
        rules.append((missing, "missing_field", lit(name)))
    for t in EVENT_TYPES:
        for name in REQUIRED_FIELDS[t]:
            missing = (etype == t) & F.col(f"_{t}")[name].isNull() & fields[name].isNull()
            rules.append((missing, "missing_field", lit(name)))
    for name in schemas.ENVELOPE_FIELDS:
        mistyped = _envelope(name).isNull() & fields[name].isNotNull()
        rules.append((mistyped, "wrong_type", lit(name)))
    for t in EVENT_TYPES:
        for name in payload[t]:
            bad = (etype == t) & F.col(f"_{t}")[name].isNull() & fields[name].isNotNull()
            rules.append((bad, "wrong_type", lit(name)))
    tx, meta = F.col("_transaction"), F.col("_stream_meta")
    horizon = F.coalesce(F.col("kafka_timestamp"), F.col("ingest_time"))
    floor = F.lit(p.min_event_date).cast("timestamp")
    rules += [
        (F.col("ts").isNull(), "bad_timestamp", F.format_string("ts %s", raw_field("ts"))),
        (meta["started_at"].isNotNull() & F.col("_started_at").isNull(), "bad_timestamp",
         F.format_string("started_at %s", meta["started_at"])),
        (F.col("ts") < floor, "bad_timestamp",
         F.format_string("ts %s before %s", raw_field("ts"), lit(str(p.min_event_date)))),
        (F.col("_started_at") < floor, "bad_timestamp",
         F.format_string("started_at %s before %s", meta["started_at"],
                         lit(str(p.min_event_date)))),
        (F.col("ts") > horizon + _seconds(p.max_future_seconds), "future_timestamp",
         F.format_string("ts %s > kafka time %s + %ds", raw_field("ts"), horizon.cast("string"),
                         lit(p.max_future_seconds))),
        (F.col("_viewer.viewer_count") < 0, "negative_value", lit("viewer_count")),
        (tx["amount"] <= 0, "negative_value", lit("amount")),
        (~tx["tx_type"].isin(*schemas.TX_TYPES), "invalid_value",
         F.format_string("tx_type %s", tx["tx_type"])),
        (~meta["status"].isin(*schemas.STREAM_STATUSES), "invalid_value",
         F.format_string("status %s", meta["status"])),
        (tx.isNotNull() & F.col("_rate").isNull(), "unknown_currency", tx["currency"]),
        (tx.isNotNull() & F.col("_amount_base").isNull(), "invalid_value", lit("amount_base")),
    ]  # fmt: skip
    return rules


def with_validation(df: DataFrame, params: SilverParams) -> DataFrame:
    """Add ``reason``/``detail`` (null when valid) and the ``_valid`` flag."""

    def verdict(reason: str, detail: Column) -> Column:
        return F.struct(F.lit(reason).alias("reason"), detail.cast("string").alias("detail"))

    (cond, reason, detail), *rest = _rules(params)
    outcome = reduce(lambda acc, r: acc.when(r[0], verdict(r[1], r[2])), rest,
                     F.when(cond, verdict(reason, detail)))  # fmt: skip
    return (
        df.withColumn("_outcome", outcome)
        .withColumns(
            {
                "reason": F.col("_outcome.reason"),
                "detail": F.col("_outcome.detail"),
                "_valid": F.col("_outcome").isNull(),
            }
        )
        .drop("_outcome")
    )


def _narrowed(df: DataFrame) -> DataFrame:
    """Keep what quarantine needs of the raw JSON (its event_id, stream_id and type) and
    drop the wide working columns (decoded text, the field map) before any shuffle."""
    known_type = F.when(F.col("_json_type").isin(*EVENT_TYPES), F.col("_json_type"))
    return df.withColumns(
        {
            "_q_event_type": F.coalesce(known_type, F.col("_topic_type")),
            "_q_event_id": raw_field("event_id"),
            "_q_stream_id": F.coalesce(raw_field("stream_id"), F.col("key")),
        }
    ).drop(
        "_text", "_fields", "_object", "_utf8", "_size", "_json_type", "_currency", "_rate", "key"
    )


def _reject(df: DataFrame, condition: Column, reason: str, detail: Column) -> DataFrame:
    return df.withColumns(
        {
            "reason": F.when(condition, F.lit(reason)).otherwise(F.col("reason")),
            "detail": F.when(condition, detail).otherwise(F.col("detail")),
        }
    )


def with_lateness(df: DataFrame, stored_max: DataFrame, watermark_seconds: int) -> DataFrame:
    """Mark valid events behind their stream's max earlier ts − watermark as ``late``.

    Earlier means an earlier (ingest_time, kafka_timestamp): records of one millisecond
    on different topics have no order Kafka knows (a replay at full speed sends thousands
    a millisecond), so none of them is late against another."""
    by_arrival = Window.partitionBy("stream_id").orderBy("ingest_time", "kafka_timestamp")
    earlier = (
        Window.partitionBy("stream_id").orderBy("_tick").rangeBetween(Window.unboundedPreceding, -1)
    )
    stored = stored_max.select("stream_id", F.col("max_event_ts").alias("_stored_max"))
    df = (
        df.join(F.broadcast(stored), on="stream_id", how="left")
        .withColumn("_tick", F.dense_rank().over(by_arrival))
        .withColumn("_running_max", F.max(F.when(F.col("_valid"), F.col("ts"))).over(earlier))
        .withColumn("_prev_max", F.greatest("_running_max", "_stored_max"))
    )
    late = F.col("_valid") & (F.col("ts") < F.col("_prev_max") - _seconds(watermark_seconds))
    detail = F.format_string(
        "ts %s < stream max %s - %ds",
        F.col("ts").cast("string"),
        F.col("_prev_max").cast("string"),
        F.lit(watermark_seconds),
    )
    return _reject(df, late, "late", detail).drop(
        "_tick", "_running_max", "_stored_max", "_prev_max"
    )


def with_batch_dedupe(df: DataFrame) -> DataFrame:
    """Among valid, non-late rows the first arrival of an (event_type, event_id) wins."""
    df = df.withColumn("_candidate", F.col("reason").isNull())
    first = Window.partitionBy("_candidate", "event_type", "event_id").orderBy(*ARRIVAL_ORDER)
    df = df.withColumn("_copy", F.row_number().over(first))
    dup = F.col("_candidate") & (F.col("_copy") > 1)
    return _reject(df, dup, "duplicate", F.lit(DUPLICATE_DETAIL)).drop("_copy", "_candidate")


def with_silver_dedupe(df: DataFrame, known: DataFrame) -> DataFrame:
    """Rows whose (event_type, event_id) silver accepted in an earlier micro-batch become
    ``duplicate``; ``known`` holds those pairs (``pipelines.jobs.silver_state``)."""
    known = known.select("event_type", "event_id", F.lit(True).alias("_known"))
    df = df.join(F.broadcast(known), on=["event_type", "event_id"], how="left")
    dup = F.col("reason").isNull() & F.col("_known").isNotNull()
    return _reject(df, dup, "duplicate", F.lit(DUPLICATE_DETAIL)).drop("_known")


def checked(bronze: DataFrame, params: SilverParams, rates_base: DataFrame) -> DataFrame:
    """Bronze rows -> the same rows with validation's ``reason`` (steps 1 and 4's parse):
    row by row, no shuffle."""
    return (
        bronze.transform(with_decoded, params.max_message_bytes)
        .transform(with_typed, params.topic_types)
        .transform(with_amount_base, rates_base)
        .transform(with_validation, params)
        .transform(_narrowed)
    )


def verdicts(rows: DataFrame, stored_max: DataFrame, watermark_seconds: int) -> DataFrame:
    """The valid rows that lateness or dedupe reject: ``ROW_KEY``, ``_verdict``,
    ``_verdict_detail``. Both orderings run over narrow rows (the key, the envelope and
    the arrival order): sorting the wide rows, raw bytes and parsed structs, ran a
    10M-event rebuild out of heap."""
    narrow = rows.filter(F.col("_valid")).select(
        *ROW_KEY, "stream_id", "event_type", "event_id", "ts", "kafka_timestamp", "_valid",
        F.lit(None).cast("string").alias("reason"), F.lit(None).cast("string").alias("detail"),
    )  # fmt: skip
    return (
        narrow.transform(with_lateness, stored_max, watermark_seconds)
        .transform(with_batch_dedupe)
        .filter(F.col("reason").isNotNull())
        .select(
            *ROW_KEY, F.col("reason").alias("_verdict"), F.col("detail").alias("_verdict_detail")
        )
    )


def chat_valence(rows: DataFrame, lexicon: DataFrame) -> DataFrame:
    """``ROW_KEY`` and ``valence_sum`` of each valid chat row among the checked ``rows``:
    the sum of its tokens' sentiment valences (``pipelines.transforms.sentiment``), summed
    over narrow rows (a key and a number)."""
    chat = rows.filter(F.col("_valid") & (F.col("event_type") == "chat"))
    messages = chat.select(*ROW_KEY, F.col("_chat.message").alias("message"))
    return (
        valences(messages, lexicon, ROW_KEY)
        .groupBy(*ROW_KEY)
        .agg(F.sum("valence").alias("valence_sum"))
    )


def with_notes(rows: DataFrame, found: DataFrame, valence: DataFrame) -> DataFrame:
    """Bring back to the checked ``rows`` what was worked out on narrow copies of them:
    :func:`verdicts` (``found``: a verdict becomes the row's ``reason``/``detail``) and
    :func:`chat_valence` (``valence``: ``valence_sum``, for :func:`to_events`). Both are
    hash joins on ``ROW_KEY``: the wide rows are shuffled once (the second join finds them
    partitioned already) and never sorted."""
    return (
        rows.join(valence.hint("shuffle_hash"), on=ROW_KEY, how="left")
        .join(found.hint("shuffle_hash"), on=ROW_KEY, how="left")
        .withColumns(
            {
                "reason": F.coalesce("reason", "_verdict"),
                "detail": F.when(F.col("_verdict").isNotNull(), F.col("_verdict_detail")).otherwise(
                    F.col("detail")
                ),
            }
        )
        .drop("_verdict", "_verdict_detail")
    )


def classify(
    bronze: DataFrame,
    params: SilverParams,
    rates_base: DataFrame,
    stored_max: DataFrame,
    lexicon: DataFrame,
) -> DataFrame:
    """Bronze rows -> one row each with ``reason`` (null = accepted so far), typed parts
    and, on valid chat rows, ``valence_sum``.

    ``stored_max`` is (stream_id, max_event_ts) from earlier batches (empty in batch mode).
    Dedupe against what silver already holds is a separate step, :func:`with_silver_dedupe`.
    The jobs persist :func:`checked` first (it is read three times); this is the same, in one go.
    """
    rows = checked(bronze, params, rates_base)
    found = verdicts(rows, stored_max, params.watermark_seconds)
    return with_notes(rows, found, chat_valence(rows, lexicon))


def filter_accepted(df: DataFrame, event_type: str) -> DataFrame:
    return df.filter(F.col("reason").isNull() & (F.col("event_type") == event_type))


def _typed_columns(event_type: str) -> dict[str, Column]:
    """The columns of one typed table, from a classified row of its type."""
    special = {
        "event_id": F.col("event_id"),
        "stream_id": F.col("stream_id"),
        "ts": F.col("ts"),
        "amount_base": F.col("_amount_base"),
        "started_at": F.col("_started_at"),
        "sentiment": compound(F.col("valence_sum")),  # chat: chat_valence()
        **{c: F.col(c) for c in ROW_KEY},
    }
    return {
        name: special.get(name, F.col(f"_{event_type}.{name}"))
        for name in TYPED_SCHEMAS[event_type].names
    }


def _quarantine_columns() -> dict[str, Column]:
    """The columns of a quarantine row (with its ts when it passed validation: late and
    duplicate rows, which lateness counts)."""
    return {
        "reason": F.col("reason"),
        "detail": F.col("detail"),
        "event_type": F.col("_q_event_type"),
        "event_id": F.col("_q_event_id"),
        "stream_id": F.col("_q_stream_id"),
        "raw_value": F.col("value"),
        **{f.name: F.col(f.name) for f in schemas.KAFKA_COORDINATES},
        "ts": F.when(F.col("_valid"), F.col("ts")),
    }


def to_events(df: DataFrame) -> DataFrame:
    """Every classified row (:func:`classify`, or :func:`with_notes` on :func:`checked`
    rows) -> its ``silver/events`` row, in one projection: its typed row (kind = its event
    type; chat with its sentiment from ``valence_sum``) or its quarantine row (kind
    quarantine)."""
    kind = F.when(F.col("reason").isNotNull(), F.lit("quarantine")).otherwise(F.col("event_type"))
    by_kind = {t.event_type: _typed_columns(t.event_type) for t in catalog.typed()}
    by_kind["quarantine"] = _quarantine_columns()
    rows = df.withColumn("kind", kind)
    columns = [F.col("kind")]
    for field in spark_type(schemas.SILVER_EVENTS):
        if field.name == "kind":
            continue
        value = None
        for k, cols in by_kind.items():
            if field.name in cols:
                when = F.when if value is None else value.when
                value = when(F.col("kind") == k, cols[field.name])
        columns.append(value.cast(field.dataType).alias(field.name))
    return conform(rows.select(*columns), schemas.SILVER_EVENTS)


def to_typed(df: DataFrame, event_type: str) -> DataFrame:
    """Accepted rows of one type -> its typed table's schema."""
    (table,) = catalog.typed(event_type)
    return select_view(to_events(filter_accepted(df, event_type)), table)


def to_quarantine(df: DataFrame) -> DataFrame:
    """Rejected rows -> ``silver/quarantine``, raw bytes and Kafka coordinates kept."""
    rejected = df.filter(F.col("reason").isNotNull())
    return select_view(to_events(rejected), catalog.table("silver", "quarantine"))
