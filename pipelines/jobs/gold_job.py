"""Gold: silver -> ``gold/{stream_minute_metrics, stream_hour_metrics, moments,
stream_summary, chatters, streams}``, as the settle step's second half
(``pipelines.jobs.settle_job``).

Batch (:func:`run_batch`) rebuilds every gold table from silver (overwrite: a rerun
changes nothing). Incrementally (:func:`upsert_changes`, one call per settle micro-batch)
it takes what changed in silver per stream, recomputes the part of each gold table those
changes can influence with the same transforms as batch, and overwrites exactly that part
(``replaceWhere``), so gold ends equal to a batch rebuild of the same silver. A replayed
micro-batch recomputes the same parts from the same silver and writes the same rows
again, so the writes need no txnAppId/txnVersion. One call costs five Delta writes (one
per gold table) whatever its size. ``chatters`` is the exception: each user's first
message time is a running minimum, merged in from the new chat (:func:`merge_chatters`,
a MERGE that only lowers it), which a replay cannot change either.
"""

from __future__ import annotations

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from pipelines.config import Settings
from pipelines.core import catalog
from pipelines.jobs import params, tables
from pipelines.jobs.spark import in_parallel, retry_on_conflict, small_frame, sql_str
from pipelines.transforms.common import spark_type
from pipelines.transforms.gold import (
    HOUR,
    chatter_spans,
    join_minute_metrics,
    latest_stream_state,
    meta_time,
    rollup_hours,
    summarize_broadcasts,
)
from pipelines.transforms.gold_moments import detect_moments, moment_scope

SILVER_AGGREGATES = {t.name: t.schema for t in catalog.windows()}
SILVER_EVENTS = {t.name: t.schema for t in catalog.typed()}
GOLD_TABLES = {t.name: (t.schema, list(t.keys)) for t in catalog.gold()}
_CHANGES = StructType(
    [StructField(n, t) for n, t in [("stream_id", StringType()), ("lo_s", LongType()),
                                    ("hi_s", LongType())]]
)  # fmt: skip
_SCOPES = StructType(
    [StructField(n, t) for n, t in [("stream_id", StringType()), ("kind", StringType()),
                                    ("scope_lo", LongType()), ("scope_hi", LongType())]]
)  # fmt: skip


def gold_path(settings: Settings, table: str) -> str:
    return settings.table_path("gold", table)


def ensure_gold_tables(spark: SparkSession, settings: Settings) -> None:
    def create(table: str) -> None:
        tables.ensure(spark, settings.lake_root, catalog.table("gold", table))

    in_parallel(spark, create, GOLD_TABLES, workers=4)


def read_silver(spark: SparkSession, settings: Settings, table: str) -> DataFrame:
    """A silver table, or an empty one of its schema when silver has not written it yet."""
    entry = catalog.table("silver", table)
    if not DeltaTable.isDeltaTable(spark, entry.stored.path(settings.lake_root)):
        return spark.createDataFrame([], spark_type(entry.schema))
    return tables.read(spark, settings.lake_root, entry)


def read_last_events(
    spark: SparkSession, settings: Settings, since_s: int | None = None
) -> DataFrame:
    """(stream_id, last_event_ts): the newest event time per stream in silver's typed
    rows, which the settle step follows. With ``since_s`` (epoch s) only the rows from
    then on: a lower bound on every stream wanted."""
    typed = F.col("kind") != "quarantine"  # the typed rows, all kinds at once
    rows = read_silver(spark, settings, "events").filter(typed).select("stream_id", "ts")
    if since_s is not None:
        rows = rows.filter(F.col("ts") >= F.timestamp_seconds(F.lit(since_s)))
    return rows.groupBy("stream_id").agg(F.max("ts").alias("last_event_ts"))


def _read_gold(spark: SparkSession, settings: Settings, table: str) -> DataFrame:
    return spark.read.format("delta").load(gold_path(settings, table))


# ---- batch ------------------------------------------------------------------------------------
def run_batch(spark: SparkSession, settings: Settings) -> dict[str, int]:
    """Rebuild every gold table from silver; returns the row count of each."""
    ensure_gold_tables(spark, settings)
    rules = params.moment_rules(settings)
    silver = {t: read_silver(spark, settings, t) for t in {**SILVER_AGGREGATES, **SILVER_EVENTS}}

    def overwrite(df: DataFrame, table: str) -> DataFrame:
        df.write.format("delta").mode("overwrite").save(gold_path(settings, table))
        return _read_gold(spark, settings, table)

    metrics = overwrite(
        join_minute_metrics(
            silver["chat_summary_minute"],
            silver["viewer_timeseries"],
            silver["transactions_minute"],
        ),
        "stream_minute_metrics",
    )
    overwrite(rollup_hours(metrics), "stream_hour_metrics")
    moments = overwrite(detect_moments(metrics, silver["chat_messages"], rules), "moments")
    chatters = overwrite(chatter_spans(silver["chat_messages"]), "chatters")
    summary = summarize_broadcasts(
        silver["stream_meta"],
        silver["chat_messages"],
        silver["viewer_counts"],
        silver["transactions"],
        moments,
        chatters,
        rules.top_emotes,
    )
    overwrite(summary, "stream_summary")
    overwrite(
        latest_stream_state(silver["stream_meta"], read_last_events(spark, settings)), "streams"
    )
    return {f"gold.{t}": _read_gold(spark, settings, t).count() for t in GOLD_TABLES}


# ---- incremental ------------------------------------------------------------------------------
def upsert_changes(spark: SparkSession, settings: Settings, changed: list[Row]) -> None:
    """Bring gold up to date with what changed in silver, one row per stream: ``stream_id``;
    ``ws_lo``/``ws_hi``, the first and last window start (epoch s) whose aggregates changed
    (null when none); ``lo_s``/``hi_s``, the time range (epoch s) the changes reach, window
    starts and new chat alike (null for a metadata-only change); ``since_s``, the earliest
    event time (epoch s) or broadcast start a change brings."""
    if not changed:
        return
    stream_ids = sorted(r.stream_id for r in changed)

    def moments_then_summaries() -> None:
        scope_lo = _upsert_moments(spark, settings, changed)  # the summaries count them
        since = {r.stream_id: min(r.since_s, scope_lo.get(r.stream_id, r.since_s)) for r in changed}
        _upsert_summaries(spark, settings, since)

    def minutes_then_the_rest() -> None:
        _upsert_minute_metrics(spark, settings, changed)
        # These read the minute metrics written by then; each writes its own table.
        rest = [lambda: _upsert_hours(spark, settings, changed), moments_then_summaries]
        in_parallel(spark, lambda step: step(), rest, len(rest))

    # `streams` reads silver only, so it goes beside the minute metrics: the dashboard's
    # stream list and its first charts appear together.
    since_s = min(r.since_s for r in changed)
    steps = [minutes_then_the_rest, lambda: _upsert_streams(spark, settings, stream_ids, since_s)]
    in_parallel(spark, lambda step: step(), steps, len(steps))


Range = tuple[tuple[str, ...], int, int]  # (key values, lo, hi): epoch seconds, both included


def _in_ranges(col: str, keys: tuple[str, ...], ranges: list[Range]) -> str:
    """SQL: rows whose ``keys`` equal one range's key values and whose ``col`` lies in that
    range. Written as the first key IN (...) and ``col`` in the overall span, which Delta's
    file skipping uses, AND an exact CASE per key, which it leaves alone. (One OR term per
    range made the skipping code outgrow the JVM's 64 KB method limit with a few dozen
    streams: Spark then spent seconds compiling it on every batch, and failed.)"""
    first = sorted({values[0] for values, _, _ in ranges})
    span = _between(col, min(lo for _, lo, _ in ranges), max(hi for _, _, hi in ranges))
    return (
        f"{keys[0]} IN ({', '.join(sql_str(v) for v in first)}) AND {span} "
        f"AND {_case(col, keys, ranges)}"
    )


def _case(col: str, keys: tuple[str, ...], ranges: list[Range]) -> str:
    if not keys:
        return " OR ".join(f"({_between(col, lo, hi)})" for _, lo, hi in ranges)
    groups: dict[str, list[Range]] = {}
    for values, lo, hi in ranges:
        groups.setdefault(values[0], []).append((values[1:], lo, hi))
    branches = " ".join(
        f"WHEN {sql_str(value)} THEN {_case(col, keys[1:], group)}"
        for value, group in sorted(groups.items())
    )
    return f"(CASE {keys[0]} {branches} ELSE false END)"


def _between(col: str, lo: int, hi: int) -> str:
    """Window starts and event times compared on epoch seconds, whatever the session zone."""
    return f"{col} >= timestamp_seconds({lo}) AND {col} < timestamp_seconds({hi + 1})"


def _replace(df: DataFrame, settings: Settings, table: str, where: str) -> None:
    """Overwrite exactly the rows matching ``where`` with ``df`` (whose rows all match it)."""
    writer = df.write.format("delta").mode("overwrite").option("replaceWhere", where)
    path = gold_path(settings, table)
    retry_on_conflict(lambda: writer.save(path), what=path)


def _upsert_minute_metrics(spark: SparkSession, settings: Settings, changed: list[Row]) -> None:
    """Recompute every window of each stream between its first and last changed one."""
    ranges = [((r.stream_id,), r.ws_lo, r.ws_hi) for r in changed if r.ws_lo is not None]
    if not ranges:
        return
    where = _in_ranges("window_start", ("stream_id",), ranges)

    def part(table: str) -> DataFrame:
        return read_silver(spark, settings, table).filter(F.expr(where))

    fresh = join_minute_metrics(
        part("chat_summary_minute"), part("viewer_timeseries"), part("transactions_minute")
    )
    _replace(fresh, settings, "stream_minute_metrics", where)


def _upsert_hours(spark: SparkSession, settings: Settings, changed: list[Row]) -> None:
    """Recompute every hour holding a window :func:`_upsert_minute_metrics` rewrote."""
    ranges = [
        ((r.stream_id,), r.ws_lo // HOUR * HOUR, r.ws_hi // HOUR * HOUR + HOUR - 1)
        for r in changed
        if r.ws_lo is not None
    ]
    if not ranges:
        return
    minutes = _read_gold(spark, settings, "stream_minute_metrics").filter(
        F.expr(_in_ranges("window_start", ("stream_id",), ranges))
    )
    where = _in_ranges("hour_start", ("stream_id",), ranges)
    _replace(rollup_hours(minutes), settings, "stream_hour_metrics", where)


def _upsert_moments(spark: SparkSession, settings: Settings, changed: list[Row]) -> dict[str, int]:
    """Recompute the moments in each (stream, kind) scope (see ``moment_scope``), replacing
    the old ones that start in it; returns the earliest scope start (epoch s) per stream."""
    rules = params.moment_rules(settings)
    # small_frame, not createDataFrame(list): a list becomes a Python RDD, and Python
    # workers start on every micro-batch that scans it.
    changes = small_frame(spark, [(r.stream_id, r.lo_s, r.hi_s) for r in changed], _CHANGES)
    scopes = moment_scope(changes, _read_gold(spark, settings, "moments"), rules).collect()
    if not scopes:
        return {}
    scope = small_frame(spark, [tuple(r) for r in scopes], _SCOPES)
    # The windows the scopes' baselines reach back to, and the chat their moments can hold.
    near = [
        (
            (stream_id,),
            min(s.scope_lo for s in scopes if s.stream_id == stream_id) - rules.reach_seconds,
            max(s.scope_hi for s in scopes if s.stream_id == stream_id) + rules.window_seconds,
        )
        for stream_id in sorted({s.stream_id for s in scopes})
    ]
    metrics = _read_gold(spark, settings, "stream_minute_metrics").filter(
        F.expr(_in_ranges("window_start", ("stream_id",), near))
    )
    chat = read_silver(spark, settings, "chat_messages").filter(
        F.expr(_in_ranges("ts", ("stream_id",), near))
    )
    fresh = detect_moments(metrics, chat, rules, scope=scope)
    in_scope = [
        (
            (s.stream_id, s.kind),
            s.scope_lo - rules.lag_of(s.kind),
            s.scope_hi - rules.lag_of(s.kind),
        )
        for s in scopes
    ]
    where = _in_ranges("start_ts", ("stream_id", "kind"), in_scope)
    _replace(fresh, settings, "moments", where)
    first: dict[str, int] = {}
    for s in scopes:
        first[s.stream_id] = min(first.get(s.stream_id, s.scope_lo), s.scope_lo)
    return first


def merge_chatters(spark: SparkSession, settings: Settings, chat: DataFrame) -> None:
    """Merge new chat rows (stream_id, user_id, ts) into ``chatters``: a new user is
    inserted, a known one's first_ts only ever lowered (late chat). Running it twice on
    the same rows changes nothing, so a replayed micro-batch needs no txn ids; the
    summaries read the table after it (they count first-time chatters)."""
    new = chatter_spans(chat)
    target = DeltaTable.forPath(spark, gold_path(settings, "chatters")).alias("t")
    merge = (
        target.merge(new.alias("n"), "t.stream_id = n.stream_id AND t.user_id = n.user_id")
        .whenMatchedUpdate(condition="n.first_ts < t.first_ts", set={"first_ts": "n.first_ts"})
        .whenNotMatchedInsertAll()
    )
    retry_on_conflict(merge.execute, what=gold_path(settings, "chatters"))


def _streams_in(stream_ids: list[str]) -> str:
    return f"stream_id IN ({', '.join(sql_str(s) for s in stream_ids)})"


def _upsert_summaries(spark: SparkSession, settings: Settings, since: dict[str, int]) -> None:
    """stream_summary for the streams that changed (``since``: stream -> earliest change,
    epoch s). Broadcasts that end before a stream's earliest change keep their rows, so
    only the broadcasts from the stored one holding that change on are recomputed from
    their own events (a new broadcast start can only split that one); a stream whose
    change comes before its first stored broadcast is recomputed whole."""
    stored = (
        _read_gold(spark, settings, "stream_summary")
        .filter(F.expr(_streams_in(sorted(since))))
        .select("stream_id", F.unix_micros("started_at").alias("start_us"))
        .collect()
    )
    starts: dict[str, list[int]] = {}
    for r in stored:
        starts.setdefault(r.stream_id, []).append(r.start_us)
    first = {sid: first_affected(starts.get(sid, []), t) for sid, t in since.items()}

    def mine(df: DataFrame, at: Column) -> DataFrame:
        """The rows whose time ``at`` lies in a recomputed broadcast (Spark pushes the
        filter through the alias, so Delta still skips files on a plain column)."""
        where = F.expr(_from_broadcasts(first, "_at"))
        return df.withColumn("_at", at).filter(where).drop("_at")

    summary = summarize_broadcasts(
        # A live event belongs to the broadcast it announces (see summarize_broadcasts).
        mine(read_silver(spark, settings, "stream_meta"), meta_time()),
        mine(read_silver(spark, settings, "chat_messages"), F.col("ts")),
        mine(read_silver(spark, settings, "viewer_counts"), F.col("ts")),
        mine(read_silver(spark, settings, "transactions"), F.col("ts")),
        mine(_read_gold(spark, settings, "moments"), F.col("start_ts")),
        mine(_read_gold(spark, settings, "chatters"), F.col("first_ts")),
        settings.top_emotes,
    )
    # A live event announcing a start ahead of its own ts can open a broadcast before the
    # first one recomputed: that broadcast is not recomputed, and its row stays as stored.
    where = _from_broadcasts(first, "started_at")
    _replace(summary.filter(F.expr(where)), settings, "stream_summary", where)


def first_affected(starts_us: list[int], since_s: int) -> int | None:
    """The start (epoch µs) of the stored broadcast holding ``since_s``, or None when it
    lies before every stored start (the stream is then recomputed whole)."""
    held = [s for s in starts_us if s <= since_s * 1_000_000]
    return max(held, default=None)


def _from_broadcasts(first: dict[str, int | None], col: str) -> str:
    """SQL: rows of the given streams at or after each one's first recomputed broadcast
    (all rows of a stream recomputed whole); exact to the microsecond. The overall bound
    in front is what Delta's file skipping can use."""
    branches = " ".join(
        f"WHEN {sql_str(sid)} THEN "
        + ("true" if start is None else f"{col} >= timestamp_micros({start})")
        for sid, start in sorted(first.items())
    )
    exact = f"(CASE stream_id {branches} ELSE false END)"
    if None in first.values():
        return f"{_streams_in(sorted(first))} AND {exact}"
    span = f"{col} >= timestamp_micros({min(first.values())})"
    return f"{_streams_in(sorted(first))} AND {span} AND {exact}"


def _upsert_streams(
    spark: SparkSession, settings: Settings, stream_ids: list[str], since_s: int
) -> None:
    """streams (latest metadata and last event), recomputed for the streams that changed.
    Each of them has a new event at or after ``since_s``, so its newest event is there."""
    where = _streams_in(stream_ids)
    meta = read_silver(spark, settings, "stream_meta").filter(F.expr(where))
    last_events = read_last_events(spark, settings, since_s).filter(F.expr(where))
    _replace(latest_stream_state(meta, last_events), settings, "streams", where)
