"""Backfill: time the batch rebuild of silver and gold from a large bronze, beside a
single-node DuckDB reference over the same bronze Parquet files, and check they agree.

1. Bronze is written straight to Delta (no Kafka) from the producer's own generator:
   ``--events`` records of ``--channels`` channels, good input only, with synthetic Kafka
   coordinates. Not timed as part of the rebuild.
2. Spark: ``runner.run_batch(silver)`` then ``runner.run_batch(gold)``: the very code
   ``telemetra run all --mode batch`` runs, on ``--master`` (default local[2]).
3. DuckDB reference (threads = CPU count), in plain SQL over bronze's Parquet files: JSON
   parse, dedupe on event_id, sentiment with the same lexicon, the same sliding windows
   (chat count, distinct chatters, sentiment, top emotes, viewers, transactions), and chat
   spikes as gold finds them: the chat signals of 30-s windows (distinct chatters,
   chorus, message length, fresh chatters), the robust z of each against the trailing
   baseline, and the gaps-and-islands merge.
4. Agreement: per (stream, window) every column above, and the chat spikes by (stream,
   start, end). Not covered: the other moment kinds (raids, revenue, sentiment swings),
   moment context (samples, top emotes) and the stream tables; the output says so.

    .venv/bin/python bench/backfill.py [--events 10000000] [--channels 50]

Writes JSON to ``--out`` (default bench/results/backfill.json) and prints it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
import zlib
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from results_io import write_result

from pipelines.config import PROJECT_ROOT, load_settings
from pipelines.jobs import params
from pipelines.jobs.lexicon import read_emote_lexicon, read_vader_lexicon, vader_lexicon_path
from pipelines.sim.events import generate
from pipelines.transforms.chat_signals import CHORUS_MAX_CHARS, CHORUS_MIN_CHATTERS
from pipelines.transforms.gold_moments import MomentRules

CHUNK = 500_000


# ---- 1. bronze --------------------------------------------------------------------------
def write_bronze(path: str, settings, events: int, channels: list[str], rate: float) -> dict:
    """``events`` generated records as bronze rows (partition by key hash, offsets counted
    per topic partition, ingest time 2 s after the event), appended in chunks."""
    end = datetime.now(timezone.utc).replace(microsecond=0)
    span = timedelta(seconds=events / rate / len(channels) * 1.02)
    gen = generate(channels, rate, end - span, end, seed=11, bad_ratio=0.0)
    return {
        **write_records(path, settings, gen, events),
        "event_span_hours": round(span.total_seconds() / 3600, 2),
    }


def write_records(path: str, settings, records, limit: int | None = None) -> dict:
    """Generated ``records`` (at most ``limit``) as bronze rows."""
    offsets: dict[tuple[str, int], int] = defaultdict(int)
    started, written = time.perf_counter(), 0
    columns: dict[str, list] = defaultdict(list)
    for record in records:
        topic = settings.topic(record.topic_type)
        partition = zlib.crc32(record.key.encode()) % settings.kafka_partitions
        ts = datetime.fromtimestamp(record.ts_ms / 1000, timezone.utc)
        ingest = ts + timedelta(seconds=2)
        for name, value in (
            ("key", record.key), ("value", record.value), ("topic", topic),
            ("partition", partition), ("offset", offsets[topic, partition]),
            ("kafka_timestamp", ts), ("ingest_time", ingest), ("ingest_date", ingest.date()),
        ):  # fmt: skip
            columns[name].append(value)
        offsets[topic, partition] += 1
        written += 1
        if written % CHUNK == 0 or written == limit:
            _append(path, columns)
            columns = defaultdict(list)
        if written == limit:
            break
    if columns:
        _append(path, columns)
    return {"records": written, "seconds": round(time.perf_counter() - started, 1)}


BRONZE_ARROW = pa.schema([
    ("key", pa.string()), ("value", pa.binary()), ("topic", pa.string()),
    ("partition", pa.int32()), ("offset", pa.int64()),
    ("kafka_timestamp", pa.timestamp("us", tz="UTC")),
    ("ingest_time", pa.timestamp("us", tz="UTC")),
    ("ingest_date", pa.date32()),
])  # fmt: skip


def _append(path: str, columns: dict[str, list]) -> None:
    table = pa.table(columns, schema=BRONZE_ARROW)
    write_deltalake(path, table, mode="append", partition_by=["ingest_date"])


# ---- 2. Spark ---------------------------------------------------------------------------
def spark_rebuild(settings, master: str) -> dict:
    from pipelines.jobs import runner
    from pipelines.jobs.spark import build_spark

    spark = build_spark(
        settings.model_copy(update={"spark_master": master}),
        app_name="telemetra-bench-backfill",
        **{"spark.ui.enabled": "false"},
    )
    try:
        timings = {}
        for layer in ("silver", "gold"):
            started = time.perf_counter()
            runner.run_batch(spark, settings, layer)
            timings[f"{layer}_s"] = round(time.perf_counter() - started, 1)
    finally:
        spark.stop()
    timings["total_s"] = round(sum(timings.values()), 1)
    return timings


# ---- 3. DuckDB reference ------------------------------------------------------------------
def duckdb_reference(
    bronze_files: list[str], rates_csv: Path, rules: MomentRules, base_currency: str
) -> tuple[dict, duckdb.DuckDBPyConnection]:
    """Run the reference; returns timings and the connection holding its result tables."""
    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    w, s = rules.window_seconds, rules.slide_seconds
    # Values are bound; window geometry and thresholds are numbers from config, formatted in
    # because DuckDB takes no parameters in window frames.
    bound = {"files": bronze_files, "rates": str(rates_csv), "base": base_currency}
    numbers = {
        "w": int(w), "s": int(s), "k": int(w // s),
        "min_n": int(rules.min_baseline_windows), "min_count": int(rules.chat_min_count),
        "z": float(rules.chat_z), "gap": int(rules.island_gap_seconds),
        "top": int(rules.top_emotes), "cw": int(rules.chat_window_seconds),
        "cn": int(rules.chat_window_seconds // s), "fresh": int(rules.fresh_gap_seconds),
        "base_reach": int(rules.baseline_seconds + rules.chat_window_seconds),
        "chat_min": int(rules.chat_min_seconds), "lag": int(rules.reaction_lag_seconds),
        "chorus_chars": CHORUS_MAX_CHARS, "chorus_chatters": CHORUS_MIN_CHATTERS,
    }  # fmt: skip
    con.register("lexicon", lexicon_table())
    started = time.perf_counter()
    for step in REFERENCE_SQL:
        sql = step.format(**numbers)
        con.execute(sql, {k: v for k, v in bound.items() if f"${k}" in sql})
    return {"total_s": round(time.perf_counter() - started, 1)}, con


def lexicon_table() -> pa.Table:
    """Silver's sentiment lexicon (VADER's words, conf/emote_sentiment.csv's emotes)."""
    words = read_vader_lexicon(vader_lexicon_path())
    emotes = read_emote_lexicon(PROJECT_ROOT / "conf/emote_sentiment.csv")
    rows = [(t, v, "word") for t, v in words.items()] + [(t, v, "emote") for t, v in emotes.items()]
    term, valence, kind = zip(*rows, strict=True)
    return pa.table({"term": term, "valence": valence, "kind": kind})


REFERENCE_SQL = [
    # Parse every record once; keep the first arrival of each event_id (as silver does).
    """CREATE TABLE events AS
       SELECT * EXCLUDE (rn) FROM (
         SELECT j->>'event_id' AS event_id, j->>'event_type' AS event_type,
                j->>'stream_id' AS stream_id, CAST(j->>'ts' AS TIMESTAMPTZ) AS ts,
                j->>'user_id' AS user_id, CAST(j->>'viewer_count' AS BIGINT) AS viewer_count,
                j->>'message' AS message,
                CASE WHEN j->>'event_type' = 'chat'
                     THEN from_json(j->'emotes', '["VARCHAR"]') END AS emotes,
                CAST(j->>'amount' AS DECIMAL(18, 4)) AS amount, j->>'currency' AS currency,
                row_number() OVER (PARTITION BY j->>'event_id'
                                   ORDER BY ingest_time, topic, "partition", "offset") AS rn
         FROM (SELECT CAST(decode(value) AS JSON) AS j, ingest_time, topic, "partition", "offset"
               FROM read_parquet($files)))
       WHERE rn = 1""",
    """CREATE TABLE rates AS
       SELECT r.currency, r.rate_to_usd / b.rate_to_usd AS rate_to_base
       FROM read_csv($rates, comment = '#') r, read_csv($rates, comment = '#') b
       WHERE b.currency = $base""",
    # Sentiment as silver scores it (pipelines/transforms/sentiment.py): whitespace
    # tokens (Java's \s), an emote's valence (case-sensitive) or else VADER's for the token
    # stripped of ASCII punctuation at both ends (kept whole when two or fewer characters
    # remain) and lower-cased; the sum s normalised to s / sqrt(s² + 15); no hit: 0.
    """CREATE TABLE sentiment AS
       WITH tokens AS (
         SELECT event_id, unnest(regexp_split_to_array(message, '[ \t\n\x0b\f\r]+')) AS token
         FROM events WHERE event_type = 'chat'),
       keyed AS (
         SELECT event_id, token,
                regexp_replace(token, '^[[:punct:]]+|[[:punct:]]+$', '', 'g') AS stripped
         FROM tokens),
       scored AS (
         SELECT k.event_id, coalesce(e.valence, w.valence) AS v
         FROM keyed k
         LEFT JOIN lexicon e ON e.kind = 'emote' AND e.term = k.token
         LEFT JOIN lexicon w ON w.kind = 'word'
              AND w.term = lower(CASE WHEN length(k.stripped) <= 2 THEN k.token
                                      ELSE k.stripped END))
       SELECT event_id, coalesce(sum(v) / sqrt(sum(v) * sum(v) + 15), 0.0) AS sentiment
       FROM scored GROUP BY event_id""",
    # The sliding windows an event falls in: starts aligned to the epoch, every slide.
    """CREATE TABLE windowed AS
       SELECT e.*, s.sentiment,
              to_timestamp(floor(epoch(e.ts) / {s}) * {s} - i * {s}) AS window_start
       FROM events e LEFT JOIN sentiment s USING (event_id), range(0, {k}) t(i)
       WHERE e.event_type IN ('chat', 'viewer', 'transaction')""",
    """CREATE TABLE ref_windows AS
       SELECT stream_id, window_start,
              count(*) FILTER (event_type = 'chat') AS chat_count,
              count(DISTINCT user_id) FILTER (event_type = 'chat') AS unique_chatters,
              avg(sentiment) FILTER (event_type = 'chat') AS sentiment_mean,
              count(*) FILTER (event_type = 'chat' AND sentiment >= 0.05) AS positive_count,
              count(*) FILTER (event_type = 'chat' AND sentiment <= -0.05) AS negative_count,
              avg(viewer_count) FILTER (event_type = 'viewer') AS avg_viewers,
              min(viewer_count) FILTER (event_type = 'viewer') AS min_viewers,
              max(viewer_count) FILTER (event_type = 'viewer') AS max_viewers,
              count(*) FILTER (event_type = 'transaction') AS tx_count,
              sum(round(w.amount * r.rate_to_base, 2)) FILTER (event_type = 'transaction')
                AS revenue
       FROM windowed w LEFT JOIN rates r USING (currency)
       GROUP BY ALL""",
    # Each window's top emotes: the {top} most frequent entries of the chat rows' emotes
    # lists, count desc then name asc (pipelines/transforms/common.py: rank_emote_counts).
    """CREATE TABLE ref_emotes AS
       SELECT stream_id, window_start,
              list({{'emote': emote, 'count': n}} ORDER BY n DESC, emote) AS top_emotes
       FROM (SELECT stream_id, window_start, emote, n,
                    row_number() OVER (PARTITION BY stream_id, window_start
                                       ORDER BY n DESC, emote) AS r
             FROM (SELECT stream_id, window_start, emote, count(*) AS n
                   FROM (SELECT stream_id, window_start, unnest(emotes) AS emote
                         FROM windowed WHERE event_type = 'chat')
                   WHERE emote IS NOT NULL GROUP BY ALL))
       WHERE r <= {top} GROUP BY ALL""",
    # Chat spikes as gold finds them (pipelines/transforms/chat_signals.py and
    # gold_moments.chat_spike_flags): per chat message whether its chatter is fresh (no
    # message on the stream in the {fresh} s before) and its normalised text (lower case,
    # whitespace runs to one space, trimmed, runs of 3+ of a character folded to 2; RE2 has
    # no back-references, so the fold is a list filter), and its 10-s pane.
    """CREATE TABLE chat_rows AS
       SELECT stream_id, user_id, length(message) AS chars,
              floor(epoch_us(ts) / ({s} * 1000000)) * {s} AS pane_s,
              coalesce(epoch_us(ts) - lag(epoch_us(ts)) OVER (
                PARTITION BY stream_id, user_id ORDER BY ts, event_id) > {fresh} * 1000000,
                true) AS fresh,
              array_to_string(list_filter(c, lambda x, i: i < 3 OR x <> c[i - 1]
                                                           OR x <> c[i - 2]), '') AS text
       FROM (SELECT *, string_split(trim(regexp_replace(lower(message),
                                                        '[ \t\n\x0b\f\r]+', ' ', 'g')),
                                    '') AS c
             FROM events WHERE event_type = 'chat')""",
    # The signals per 30-s window: each message lies in the {cn} windows whose start is
    # its pane's or up to {cn} - 1 slides before.
    """CREATE TABLE chat_signals AS
       WITH spread AS (
         SELECT r.*, pane_s - i * {s} AS start_s FROM chat_rows r, range(0, {cn}) t(i)),
       chorus AS (
         SELECT stream_id, start_s, sum(n) AS chorus_messages FROM (
           SELECT stream_id, start_s, text, count(*) AS n, count(DISTINCT user_id) AS u
           FROM spread WHERE length(text) <= {chorus_chars} GROUP BY ALL)
         WHERE u >= {chorus_chatters} GROUP BY ALL)
       SELECT stream_id, start_s, count(*) AS messages, count(DISTINCT user_id) AS chatters,
              coalesce(any_value(c.chorus_messages), 0) AS chorus_messages,
              sum(chars) AS message_chars,
              count(DISTINCT user_id) FILTER (fresh) AS fresh_chatters
       FROM spread LEFT JOIN chorus c USING (stream_id, start_s)
       GROUP BY stream_id, start_s""",
    # Robust z of each signal against the trailing baseline (windows starting in
    # [start - baseline - cw, start - cw)): (value - median) / max(IQR / 1.349, floor, 1e-3);
    # score = least(z chatters, (z chorus + z short + z fresh) / sqrt 3).
    """CREATE TABLE chat_flags AS
       WITH v AS (
         SELECT stream_id, start_s, messages, chatters::DOUBLE AS chatters_v,
                chorus_messages / messages AS chorus_v, -message_chars / messages AS short_v,
                fresh_chatters / chatters AS fresh_v
         FROM chat_signals),
       q AS (
         SELECT *, count(*) OVER b AS base_n,
                quantile_cont(chatters_v, [0.25, 0.5, 0.75]) OVER b AS qc,
                quantile_cont(chorus_v, [0.25, 0.5, 0.75]) OVER b AS qo,
                quantile_cont(short_v, [0.25, 0.5, 0.75]) OVER b AS qs,
                quantile_cont(fresh_v, [0.25, 0.5, 0.75]) OVER b AS qf
         FROM v
         WINDOW b AS (PARTITION BY stream_id ORDER BY start_s
                      RANGE BETWEEN {base_reach} PRECEDING AND ({cw} + 1) PRECEDING)),
       z AS (
         SELECT *,
           (chatters_v - qc[2]) / greatest((qc[3] - qc[1]) / 1.349,
                                           sqrt(greatest(qc[2], 1.0)), 1e-3) AS zc,
           (chorus_v - qo[2]) / greatest((qo[3] - qo[1]) / 1.349,
                                         sqrt(qo[2] * (1 - qo[2]) / messages), 1e-3) AS zo,
           (short_v - qs[2]) / greatest((qs[3] - qs[1]) / 1.349, 0.5, 1e-3) AS zs,
           (fresh_v - qf[2]) / greatest((qf[3] - qf[1]) / 1.349,
                                        sqrt(qf[2] * (1 - qf[2]) / chatters_v), 1e-3) AS zf
         FROM q)
       SELECT stream_id, start_s FROM z
       WHERE base_n >= {min_n} AND messages >= {min_count}
         AND least(zc, (zo + zs + zf) / sqrt(3)) >= {z}""",
    # Gaps and islands: flags at most slide + merge gap apart make one spike; it must
    # span {chat_min} s of flagged windows and starts {lag} s before its first window.
    """CREATE TABLE ref_spikes AS
       SELECT stream_id, to_timestamp(min(start_s) - {lag}) AS start_ts,
              to_timestamp(max(start_s) + {cw}) AS end_ts
       FROM (SELECT *, sum(opens) OVER (PARTITION BY stream_id ORDER BY start_s) AS island
             FROM (SELECT *, CASE WHEN start_s - lag(start_s)
                                   OVER (PARTITION BY stream_id ORDER BY start_s) <= {gap}
                                  THEN 0 ELSE 1 END AS opens
                   FROM chat_flags))
       GROUP BY stream_id, island
       HAVING max(start_s) - min(start_s) >= {chat_min}""",
]


# ---- 4. agreement ----------------------------------------------------------------------
def compare(con: duckdb.DuckDBPyConnection, settings) -> dict:
    """Spark's silver windows and gold chat spikes against the reference tables."""
    for name, layer, table in (
        ("chat", "silver", "chat_summary_minute"), ("viewers", "silver", "viewer_timeseries"),
        ("tx", "silver", "transactions_minute"), ("moments", "gold", "moments"),
    ):  # fmt: skip
        table_path = settings.table_path(layer, table)
        con.register(f"spark_{name}", DeltaTable(table_path).to_pyarrow_dataset())
    windows = con.execute(COMPARE_WINDOWS).fetchone()
    spikes = con.execute(COMPARE_SPIKES).fetchone()
    return {
        "windows_compared": windows[0],
        "window_mismatches": dict(
            zip(
                ("chat", "sentiment", "emotes", "viewers", "transactions"), windows[1:], strict=True
            )
        ),
        "chat_spikes": {"spark": spikes[0], "reference": spikes[1], "in_both": spikes[2]},
        "covers": "chat_count, unique_chatters, sentiment_mean (±1e-9), positive and "
        "negative counts, top emotes, avg/min/max viewers, tx_count, revenue (±0.01 per "
        "transaction), chat spikes (stream, start, end); not the other moment kinds",
        "agree": windows[1:] == (0, 0, 0, 0, 0) and spikes[0] == spikes[1] == spikes[2],
    }


COMPARE_WINDOWS = """
    SELECT count(*),
           count(*) FILTER (coalesce(c.chat_count, 0) <> r.chat_count
                            OR coalesce(c.unique_chatters, 0) <> r.unique_chatters),
           count(*) FILTER (c.sentiment_mean IS DISTINCT FROM r.sentiment_mean
                                AND NOT abs(c.sentiment_mean - r.sentiment_mean) <= 1e-9
                            OR coalesce(c.positive_count, 0) <> r.positive_count
                            OR coalesce(c.negative_count, 0) <> r.negative_count),
           count(*) FILTER (coalesce(len(c.top_emotes), 0) + coalesce(len(e.top_emotes), 0) > 0
                            AND c.top_emotes IS DISTINCT FROM e.top_emotes),
           count(*) FILTER (v.avg_viewers IS DISTINCT FROM r.avg_viewers
                                AND abs(v.avg_viewers - r.avg_viewers) > 1e-9
                            OR v.min_viewers IS DISTINCT FROM r.min_viewers
                            OR v.max_viewers IS DISTINCT FROM r.max_viewers),
           count(*) FILTER (coalesce(t.tx_count, 0) <> r.tx_count
                            OR abs(coalesce(t.revenue, 0) - coalesce(r.revenue, 0))
                               > 0.01 * r.tx_count)
    FROM ref_windows r
    LEFT JOIN spark_chat c USING (stream_id, window_start)
    LEFT JOIN ref_emotes e USING (stream_id, window_start)
    LEFT JOIN spark_viewers v USING (stream_id, window_start)
    LEFT JOIN spark_tx t USING (stream_id, window_start)"""

COMPARE_SPIKES = """
    WITH s AS (SELECT stream_id, start_ts, end_ts FROM spark_moments WHERE kind = 'chat_spike')
    SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM ref_spikes),
           (SELECT count(*) FROM s JOIN ref_spikes r USING (stream_id, start_ts, end_ts))"""


# ---- run ---------------------------------------------------------------------------------
def main(args: argparse.Namespace) -> dict:
    work = Path(args.work or tempfile.mkdtemp(prefix="telemetra-backfill-"))
    settings = load_settings(lake_root=str(work / "lake"), spark_shuffle_partitions=args.partitions)
    bronze = settings.table_path("bronze", "events")
    channels = [f"bench_{i:02d}" for i in range(args.channels)]
    try:
        result = {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "load_average_before": [round(x, 2) for x in os.getloadavg()]},
            "master": args.master,
            "driver_memory": settings.spark_driver_memory,
            "shuffle_partitions": args.partitions,
            "bronze": write_bronze(bronze, settings, args.events, channels, args.rate),
        }  # fmt: skip
        events = result["bronze"]["records"]
        spark = spark_rebuild(settings, args.master)
        files = DeltaTable(bronze).file_uris()
        ref, con = duckdb_reference(
            files,
            PROJECT_ROOT / "conf/currency_rates.csv",
            params.moment_rules(settings),
            settings.base_currency,
        )
        spark["events_per_s"] = round(events / spark["total_s"])
        ref["events_per_s"] = round(events / ref["total_s"])
        result |= {
            "spark": spark,
            "duckdb_reference": ref,
            "spark_time_over_reference": round(spark["total_s"] / ref["total_s"], 2),
            "agreement": compare(con, settings),
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        }
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return write_result(result, args.out)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--rate", type=float, default=20.0, help="events/s per channel")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--partitions", type=int, default=4, help="spark.sql.shuffle.partitions")
    parser.add_argument("--work", help="working folder (default: a new temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the lake afterwards")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "bench/results/backfill.json"))
    return parser.parse_args()


if __name__ == "__main__":
    main(_args())
