"""Gold on a small silver lake, as the settle step runs it.

Three ways in:

1. Hand-built window tables (so the moments can be worked out by hand), brought into gold
   by ``gold_job.upsert_changes`` in two steps (new windows, revised windows and more
   events in between), each step told what changed per stream (``SilverChange``, derived
   here from the rows written): gold ends equal to a batch rebuild of the final silver,
   finds the moments below, and reruns change nothing.
2. The settle query itself (``settle_job.start_stream``, availableNow) over typed silver
   rows appended in two steps, the second revising windows the first wrote: the windows it
   writes hold the chat counted by hand, and windows and gold equal a settle batch rebuild.
3. One settle micro-batch (``settle_job.settle_batch``) run twice, as a replay after a
   crash: every window and gold table holds the same rows afterwards.

Hand-built windows (default settings: 60 s windows sliding 10 s, 600 s baseline, 12
windows minimum), window i starts at T0 + 10 i s; part 1 holds windows 0..119, part 2
adds 120..149 and revises 117..119:
- alpha: chat 18/20/22, with bumps of 120 and 200 (no chat spike: those come from the
  chat messages themselves, and alpha's chat is one message a minute);
- beta: viewers 500, then a raid: max 900 from window 115 on, while its baseline mean
  stays under 900 / 1.3 (at window 149 it is 670); revenue 100 in window 130 on a
  baseline of 0 (part 2).
Chat (default settings: 30-s windows, minimum 15 messages, z 3, reaction lag 15 s):
- delta: a regular message every 5 s from five regulars (each text its own), six per
  30-s window; in part 1 forty new chatters type "PogChamp!" in 12:18:10-12:18:29.5, in
  part 2 forty more "LUL LUL" in 12:24:10-12:24:29.5. The 30-s windows holding them
  (12:17:50..12:18:20, 12:23:50..12:24:20) have 26-46 messages against a baseline of 6
  (z >= 20 / sqrt 6 = 8.2), and a chorus of fresh chatters typing short messages.
Expected moments, worked out from those numbers:
- delta chat_spike [12:17:35, 12:18:50) and [12:23:35, 12:24:50) (start: the first
  flagged window less the reaction lag)
- beta raid [12:19:10, 12:25:50) (after part 1: [12:19:10, 12:20:50))
- beta revenue_burst [12:21:40, 12:22:40)
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import reduce
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType
from spark_schemas import (
    CHAT_MESSAGES,
    CHAT_SUMMARY_MINUTE,
    STREAM_META,
    STREAM_SUMMARY,
    TRANSACTIONS,
    TRANSACTIONS_MINUTE,
    VIEWER_COUNTS,
    VIEWER_TIMESERIES,
)

from pipelines.jobs import gold_job, settle_job, silver_job, tables
from pipelines.jobs.settle_job import SilverChange
from pipelines.transforms import views
from pipelines.transforms.silver_panes import panes

UTC = timezone.utc
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
AVAILABLE_NOW = {"availableNow": True}


WINDOWS = ("chat_summary_minute", "viewer_timeseries", "transactions_minute")
WINDOW_SCHEMAS = (CHAT_SUMMARY_MINUTE, VIEWER_TIMESERIES, TRANSACTIONS_MINUTE)
TYPED = ("chat_messages", "stream_meta", "viewer_counts", "transactions")
TYPED_SCHEMAS = (CHAT_MESSAGES, STREAM_META, VIEWER_COUNTS, TRANSACTIONS)


def w(i: int) -> datetime:
    return T0 + timedelta(seconds=10 * i)


def at(minute: int, second: int = 0) -> datetime:
    return T0 + timedelta(minutes=minute, seconds=second)


def alpha_chat(i: int) -> int:
    if 108 <= i <= 113:
        return 120
    if 140 <= i <= 145:
        return 200
    return (18, 20, 22)[i % 3]


def beta_viewers(i: int) -> tuple[float, int]:
    """(avg, max) of window i: the raid at 12:20 enters windows from 115 on."""
    if i < 115:
        return 500.0, 520
    return min(500.0 + 400.0 * (i - 114) / 6, 900.0), 900


def aggregate_rows(windows: range, chat_bump: int = 0):
    chat, viewers, sales = [], [], []
    for i in windows:
        end = w(i) + timedelta(seconds=60)
        emotes = [("PogChamp", 5)] if alpha_chat(i) > 100 else []
        chat.append(("alpha", w(i), end, alpha_chat(i) + chat_bump, 10, emotes, 0.1, 5, 1))
        chat.append(("beta", w(i), end, 15, 5, [], 0.0, 1, 1))
        viewers.append(("alpha", w(i), end, 500.0, 480, 520, 500, 6))
        avg, peak = beta_viewers(i)
        viewers.append(("beta", w(i), end, avg, 480, peak, peak, 6))
        if i % 6 == 0:
            sales.append(_sales_row("alpha", i, "5.00"))
        if i == 130:
            sales.append(_sales_row("beta", i, "100.00"))
    return chat, viewers, sales


def _sales_row(stream: str, i: int, revenue: str):
    money = Decimal(revenue)
    zero = Decimal("0")
    return (stream, w(i), w(i) + timedelta(seconds=60), 1, money, 0, zero, 0, zero, 0, zero, 1,
            money, "USD")  # fmt: skip


def chat_msg(stream, ts, user, message, emotes):
    return (f"{stream}-c-{ts.isoformat()}-{user}", stream, ts, user, user, message, emotes, [],
            0.1, "t", 0, 0, ts)  # fmt: skip


def meta(stream, ts, status, title=None, started_at=None):
    return (f"{stream}-m-{ts.isoformat()}", stream, ts, status, title, "Chess", "en",
            started_at, "t", 0, 0, ts)  # fmt: skip


def viewer(stream, ts, count):
    return (f"{stream}-v-{ts.isoformat()}", stream, ts, count, "t", 0, 0, ts)


def sale(stream, ts, amount):
    money = Decimal(amount)
    return (f"{stream}-x-{ts.isoformat()}", stream, ts, "u1", "donation", money, "USD", None,
            None, money, "t", 0, 0, ts)  # fmt: skip


def delta_chat(seconds: range, fans: str, fan_text: str, emotes: list[str], at_s: int):
    """delta's regulars (a message every 5 s in ``seconds``) and forty fans typing
    ``fan_text`` two a second from ``at_s`` seconds after T0."""
    chats = [chat_msg("delta", T0 + timedelta(seconds=t), f"d{t // 5 % 5}",
                      f"hello there, message {t // 5}", []) for t in seconds[::5]]  # fmt: skip
    chats += [chat_msg("delta", T0 + timedelta(seconds=at_s + j / 2), f"{fans}{j}", fan_text,
                       emotes) for j in range(40)]  # fmt: skip
    return chats


def events_part1():
    chats = [chat_msg("alpha", at(m, 15), f"u{m % 5}", "hello", []) for m in range(20)]
    chats += delta_chat(range(0, 1200), "pog", "PogChamp!", ["PogChamp"], 18 * 60 + 10)
    chats += [
        chat_msg("alpha", at(18, 50 + k), f"fan{k}", "PogChamp!", ["PogChamp"]) for k in range(8)
    ]
    chats += [chat_msg("beta", at(0, 30), "b0", "first!", [])]
    chats += [
        chat_msg("beta", at(m, 40), f"b{m % 3}", "hey Kappa", ["Kappa"]) for m in range(2, 20)
    ]
    chats += [chat_msg("gamma", at(m, 20), "g1", "hi", []) for m in (1, 2, 3, 9)]
    metas = [
        meta("alpha", at(0), "live", "Alpha A", at(-5)),
        meta("beta", at(2), "live", "Beta", at(2)),
        *GAMMA_PART1,
    ]
    viewers = [viewer(s, at(m), 500) for s in ("alpha", "beta") for m in range(20)]
    sales = [sale("alpha", at(m, 5), "5.00") for m in (1, 7, 13)]
    return chats, metas, viewers, sales


# gamma: chat only, and three broadcasts. Part 1 opens two (G1 from 12:01, offline at 12:04;
# G2 from 12:08); part 2 brings chat from 12:15 on and a live event at 12:16 announcing a start
# at 12:10 (G3), which splits G2: gold's stream then recomputes G2 on, and leaves G1 as stored.
GAMMA_PART1 = [
    meta("gamma", at(1), "live", "G1", at(1)),
    meta("gamma", at(4), "offline"),
    meta("gamma", at(8), "live", "G2", at(8)),
]
GAMMA_PART2 = [meta("gamma", at(16), "live", "G3", at(10)), meta("gamma", at(19), "offline")]


def events_part2():
    chats = [chat_msg("alpha", at(m, 15), f"u{m % 5}", "hello", []) for m in range(20, 25)]
    chats += delta_chat(range(1200, 1500), "lul", "LUL LUL", ["LUL", "LUL"], 24 * 60 + 10)
    chats += [
        chat_msg("alpha", at(24, 10 + k), f"fan{k}", "LUL LUL", ["LUL", "LUL"]) for k in range(6)
    ]
    chats += [
        chat_msg("beta", at(m, 40), f"b{m % 3}", "raid Kappa", ["Kappa"]) for m in range(20, 25)
    ]
    chats += [chat_msg("gamma", at(m, 20), "g2", "yo", []) for m in (10, 15, 16)]
    metas = [
        meta("alpha", at(24, 30), "offline"),
        meta("beta", at(22), "live", "Beta raid!", at(2)),
        *GAMMA_PART2,
    ]
    viewers = [viewer("alpha", at(m), 500) for m in range(20, 25)]
    viewers += [viewer("beta", at(m), 900) for m in range(20, 25)]
    sales = [sale("alpha", at(21, 5), "5.00"), sale("beta", at(21, 45), "100.00")]
    return chats, metas, viewers, sales


def epoch(t: datetime) -> int:
    return int(t.timestamp())


def write_typed(spark, settings, events) -> None:
    """Append (chat, meta, viewers, sales) rows to the four typed silver tables, their
    panes first (as the hot path does: the settle step combines the panes)."""
    rows = [
        views.as_events(spark.createDataFrame(r, schema), f"silver/{table}")
        for table, schema, r in zip(TYPED, TYPED_SCHEMAS, events, strict=True)
    ]
    appended = reduce(DataFrame.unionByName, rows)
    batch_id = next(_PANE_BATCHES)
    tables.write(panes(appended, settings.slide_seconds, batch_id), settings.lake_root,
                 "silver/panes")  # fmt: skip
    tables.write(appended, settings.lake_root, "silver/events")


_PANE_BATCHES = itertools.count()


def write_silver(spark, settings, aggregates, events, revise_chat=False) -> None:
    """Append hand-built window rows and typed events; with ``revise_chat`` the chat windows
    given replace the stored ones with the same key (MERGE) and new ones are added."""
    for table, schema, rows in zip(WINDOWS, WINDOW_SCHEMAS, aggregates, strict=True):
        path = settings.table_path("silver", table)
        DeltaTable.createIfNotExists(spark).location(path).addColumns(schema).execute()
        df = spark.createDataFrame(rows, schema)
        if revise_chat and table == "chat_summary_minute":
            (
                DeltaTable.forPath(spark, path)
                .alias("t")
                .merge(
                    df.alias("s"), "t.stream_id = s.stream_id AND t.window_start = s.window_start"
                )
                .whenMatchedUpdateAll()
                .whenNotMatchedInsertAll()
                .execute()
            )
        else:
            df.write.format("delta").mode("append").save(path)
    write_typed(spark, settings, events)


def changes_of(aggregates, events, window_seconds: int = 60) -> list[SilverChange]:
    """What writing ``aggregates`` and ``events`` changed in silver, per stream, in the
    terms gold reads (epoch seconds, bounds included): the window starts written; those
    and every window start a new chat message can fall in, [ts - window, ts]; the earliest
    window start, event time or announced broadcast start. Stream metadata alone reaches no
    window."""
    starts: dict[str, list[int]] = {}
    reach: dict[str, list[int]] = {}
    since: dict[str, list[int]] = {}
    for rows in aggregates:
        for r in rows:  # (stream_id, window_start, ...)
            starts.setdefault(r[0], []).append(epoch(r[1]))
            since.setdefault(r[0], []).append(epoch(r[1]))
    chats, metas, viewers, sales = events
    for r in chats:  # (event_id, stream_id, ts, ...)
        reach.setdefault(r[1], []).extend([epoch(r[2]) - window_seconds, epoch(r[2])])
    for r in [*chats, *metas, *viewers, *sales]:
        since.setdefault(r[1], []).append(epoch(r[2]))
    for r in metas:
        if r[7] is not None:  # started_at
            since[r[1]].append(epoch(r[7]))
    out = []
    for stream_id in sorted(since):
        ws = starts.get(stream_id, [])
        span = ws + reach.get(stream_id, [])
        out.append(
            SilverChange(stream_id, min(ws, default=None), max(ws, default=None),
                         min(span, default=None), max(span, default=None), min(since[stream_id]))
        )  # fmt: skip
    return out


def gold_snapshot(spark, settings) -> dict[str, list]:
    out = {}
    for table, (_, keys) in gold_job.GOLD_TABLES.items():
        rows = spark.read.format("delta").load(settings.table_path("gold", table)).collect()
        out[table] = sorted(rows, key=lambda r, keys=keys: tuple(str(r[k]) for k in keys))
    return out


def moment_spans(rows) -> set[tuple]:
    return {(r.stream_id, r.kind, r.start_ts.timestamp(), r.end_ts.timestamp()) for r in rows}


def span(stream, kind, start: datetime, end: datetime) -> tuple:
    return (stream, kind, start.timestamp(), end.timestamp())


def upsert(spark, settings, aggregates, events, revise_chat=False) -> None:
    """Write silver, then bring gold up to date the way a settle micro-batch does."""
    write_silver(spark, settings, aggregates, events, revise_chat)
    gold_job.merge_chatters(spark, settings, spark.createDataFrame(events[0], TYPED_SCHEMAS[0]))
    gold_job.upsert_changes(spark, settings, changes_of(aggregates, events))


def gamma_broadcasts(summaries) -> list[tuple]:
    """gamma's broadcasts as (start, end, title, messages), oldest first."""
    return sorted(
        (r.started_at.timestamp(), r.ended_at.timestamp(), r.title, r.messages)
        for r in summaries
        if r.stream_id == "gamma"
    )


# Worked out by hand from the fixture's metadata and chat.
GAMMA_BROADCASTS = [
    (at(1).timestamp(), at(4).timestamp(), "G1", 3),  # chat at 12:01-12:03
    (at(8).timestamp(), at(10).timestamp(), "G2", 1),  # 12:09; closed by G3's start
    (at(10).timestamp(), at(19).timestamp(), "G3", 3),  # 12:10, 12:15, 12:16
]


# Two incremental steps and two rebuilds: minutes on a busy 2-core machine.
@pytest.mark.timeout(3600)
def test_incremental_gold_equals_batch_and_reruns_change_nothing(spark, settings):
    gold_job.ensure_gold_tables(spark, settings)
    upsert(spark, settings, aggregate_rows(range(120)), events_part1())
    first = gold_snapshot(spark, settings)
    assert moment_spans(first["moments"]) == {
        span("delta", "chat_spike", at(17, 35), at(18, 50)),
        span("beta", "raid", at(19, 10), at(20, 50)),
    }
    assert len(first["stream_minute_metrics"]) == 240

    # Part 2: chat windows 117..119 revised (late chat), windows 120..149 new, more events.
    chat_rev = aggregate_rows(range(117, 120), chat_bump=2)[0]
    chat_new, viewers_new, sales_new = aggregate_rows(range(120, 150))
    upsert(
        spark, settings, (chat_rev + chat_new, viewers_new, sales_new), events_part2(),
        revise_chat=True,
    )  # fmt: skip
    streamed = gold_snapshot(spark, settings)

    counts = gold_job.run_batch(spark, settings)
    batch = gold_snapshot(spark, settings)
    assert counts["gold.stream_minute_metrics"] == 300
    assert moment_spans(batch["moments"]) == {
        span("delta", "chat_spike", at(17, 35), at(18, 50)),
        span("delta", "chat_spike", at(23, 35), at(24, 50)),
        span("beta", "raid", at(19, 10), at(25, 50)),
        span("beta", "revenue_burst", at(21, 40), at(22, 40)),
    }
    revised = {r.window_start.timestamp(): r.chat_count for r in streamed["stream_minute_metrics"]
               if r.stream_id == "alpha"}  # fmt: skip
    assert revised[w(117).timestamp()] == alpha_chat(117) + 2
    for table in gold_job.GOLD_TABLES:
        assert streamed[table] == batch[table], table

    gold_job.run_batch(spark, settings)
    again = gold_snapshot(spark, settings)
    assert again == batch
    ids = [r.moment_id for r in again["moments"]]
    assert len(ids) == len(set(ids)) == 4

    spike = next(r for r in again["moments"] if r.start_ts.timestamp() == at(17, 35).timestamp())
    assert [e.emote for e in spike.top_emotes] == ["PogChamp"]
    # The most repeated text once, then the rest by time: regular messages from 12:17:35.
    assert spike.sample_messages == ["PogChamp!"] + [
        f"hello there, message {k}" for k in range(211, 215)
    ]
    alpha = [r for r in again["stream_summary"] if r.stream_id == "alpha"]
    assert [(r.title, r.moment_count, r.ended_at.timestamp()) for r in alpha] == [
        ("Alpha A", 0, at(24, 30).timestamp())
    ]
    delta = [r for r in again["stream_summary"] if r.stream_id == "delta"]
    assert [(r.messages, r.moment_count) for r in delta] == [(300 + 80, 2)]
    assert gamma_broadcasts(again["stream_summary"]) == GAMMA_BROADCASTS
    streams = {r.stream_id: (r.status, r.title) for r in again["streams"]}
    assert streams == {
        "alpha": ("offline", "Alpha A"),
        "beta": ("live", "Beta raid!"),
        "gamma": ("offline", "G3"),
        "delta": (None, None),  # chat only: no stream metadata
    }


def test_first_affected_broadcast():
    starts = [1_000_000, 5_000_000, 9_000_000]  # epoch µs: broadcasts from 1 s, 5 s, 9 s
    assert gold_job.first_affected(starts, 0) is None  # before them all: the whole stream
    assert gold_job.first_affected(starts, 1) == 1_000_000
    assert gold_job.first_affected(starts, 7) == 5_000_000
    assert gold_job.first_affected(starts, 9) == 9_000_000
    assert gold_job.first_affected(starts, 100) == 9_000_000
    assert gold_job.first_affected([], 100) is None  # a stream gold has not summarized yet


def chat_windows(chats, window_seconds: int = 60, slide_seconds: int = 10) -> Counter:
    """chat_count per (stream, window start), counted by hand from the messages' times."""
    counts: Counter = Counter()
    for r in chats:  # (event_id, stream_id, ts, ...)
        t = r[2]
        start = t.replace(microsecond=0) - timedelta(seconds=t.second % slide_seconds)
        for k in range(window_seconds // slide_seconds):
            counts[(r[1], (start - timedelta(seconds=k * slide_seconds)).timestamp())] += 1
    return counts


def chat_counts(spark, settings, layer: str, table: str) -> Counter:
    rows = (
        spark.read.format("delta").load(settings.table_path(layer, table))
        .filter(F.col("chat_count") > 0).collect()
    )  # fmt: skip
    return Counter({(r.stream_id, r.window_start.timestamp()): r.chat_count for r in rows})


def window_snapshot(spark, settings) -> dict[str, list]:
    return {
        t: sorted(spark.read.format("delta").load(settings.table_path("silver", t)).collect(),
                  key=lambda r: (r.stream_id, r.window_start))
        for t in WINDOWS
    }  # fmt: skip


def settle_once(spark, settings) -> None:
    query = settle_job.start_stream(spark, settings, AVAILABLE_NOW)
    query.awaitTermination()
    assert query.exception() is None
    assert query.name == "settle"


# Two streaming runs and a rebuild: minutes on a busy 2-core machine.
@pytest.mark.timeout(3600)
def test_the_settle_query_brings_typed_rows_into_windows_and_gold(spark, settings):
    silver_job.ensure_tables(spark, settings)
    part1 = events_part1()
    write_typed(spark, settings, part1)
    settle_once(spark, settings)
    assert chat_counts(spark, settings, "silver", "chat_summary_minute") == chat_windows(part1[0])

    # Part 2: later events, and late chat in windows part 1 already wrote.
    late = [chat_msg("alpha", at(18, 58), "late1", "PogChamp", ["PogChamp"]),
            chat_msg("beta", at(10, 45), "late2", "hi", [])]  # fmt: skip
    # Late fans lengthen delta's first reaction: the settle step must recompute its moment.
    late += [chat_msg("delta", at(18, 30) + timedelta(seconds=j / 2), f"late-pog{j}", "PogChamp!",
                      ["PogChamp"]) for j in range(20)]  # fmt: skip
    chats2, metas2, viewers2, sales2 = events_part2()
    write_typed(spark, settings, (chats2 + late, metas2, viewers2, sales2))
    settle_once(spark, settings)
    windows, streamed = window_snapshot(spark, settings), gold_snapshot(spark, settings)

    expected = chat_windows(part1[0] + chats2 + late)
    assert expected[("alpha", at(18, 10).timestamp())] == 1 + 8 + 1  # 12:18:15, fans, late
    assert chat_counts(spark, settings, "silver", "chat_summary_minute") == expected
    assert chat_counts(spark, settings, "gold", "stream_minute_metrics") == expected

    counts = settle_job.run_batch(spark, settings)
    assert counts["silver.chat_summary_minute"] == len(expected)
    assert window_snapshot(spark, settings) == windows
    assert gold_snapshot(spark, settings) == streamed

    assert gamma_broadcasts(streamed["stream_summary"]) == GAMMA_BROADCASTS
    streams = {
        r.stream_id: (r.status, r.title, r.last_event_ts.timestamp()) for r in streamed["streams"]
    }
    assert streams == {
        "alpha": ("offline", "Alpha A", at(24, 30).timestamp()),  # the offline event
        "beta": ("live", "Beta raid!", at(24, 40).timestamp()),  # chat at 12:24:40
        "gamma": ("offline", "G3", at(19).timestamp()),
        "delta": (None, None, at(24, 55).timestamp()),  # its last regular message
    }
    spikes = {span(r.stream_id, r.kind, r.start_ts, r.end_ts) for r in streamed["moments"]
              if r.kind == "chat_spike"}  # fmt: skip
    # The late fans (12:18:30-12:18:39.5) flag the windows up to 12:18:30 too.
    assert spikes == {span("delta", "chat_spike", at(17, 35), at(19)),
                      span("delta", "chat_spike", at(23, 35), at(24, 50))}  # fmt: skip
    assert Path(settings.checkpoint_path("settle"), "commits").is_dir()
    assert not Path(settings.checkpoint_path("gold")).exists()


def test_a_lake_from_before_new_columns_gets_them(spark, settings):
    # stream_summary as an older version wrote it: without the chatter split.
    new = ["first_time_chatters", "returning_chatters"]
    old = StructType([f for f in STREAM_SUMMARY.fields if f.name not in new])
    path = settings.table_path("gold", "stream_summary")
    row = ("s", "b1", at(0), None, "T", "C", 5, 5.0, 3, 2, None, [], 0)
    spark.createDataFrame([row], old).write.format("delta").save(path)
    gold_job.ensure_gold_tables(spark, settings)
    (got,) = spark.read.format("delta").load(path).collect()
    assert list(got.asDict()) == [f.name for f in old.fields] + new  # added at the end
    assert (got.messages, got.first_time_chatters, got.returning_chatters) == (3, None, None)
    gold_job.ensure_gold_tables(spark, settings)  # nothing left to add: no new commit
    assert DeltaTable.forPath(spark, path).history().count() == 2


def test_chatters_merge_lowers_first_times_and_replays_change_nothing(spark, settings):
    gold_job.ensure_gold_tables(spark, settings)

    def merge(*chats):
        gold_job.merge_chatters(spark, settings, spark.createDataFrame(chats, CHAT_MESSAGES))

    def firsts():
        rows = spark.read.format("delta").load(settings.table_path("gold", "chatters")).collect()
        return {(r.stream_id, r.user_id): r.first_ts.timestamp() for r in rows}

    merge(chat_msg("s", at(5), "u1", "hi", []), chat_msg("s", at(3), "u2", "yo", []))
    # Late chat from u1 (earlier), newer chat from u2 (later), a new user and another stream.
    late = (
        chat_msg("s", at(1), "u1", "early", []),
        chat_msg("s", at(9), "u2", "again", []),
        chat_msg("s", at(0), "u3", "new", []),
        chat_msg("t", at(7), "u1", "elsewhere", []),
    )
    merge(*late)
    expected = {("s", "u1"): at(1).timestamp(), ("s", "u2"): at(3).timestamp(),
                ("s", "u3"): at(0).timestamp(), ("t", "u1"): at(7).timestamp()}  # fmt: skip
    assert firsts() == expected
    merge(*late)  # replayed
    assert firsts() == expected


def test_a_replayed_settle_batch_writes_the_same_rows(spark, settings):
    # The same micro-batch settled twice (a replay after a crash): the windows and gold are
    # recomputed from the same silver, so every table holds exactly the same rows afterwards.
    silver_job.ensure_tables(spark, settings)
    gold_job.ensure_gold_tables(spark, settings)
    write_typed(spark, settings, (
        [chat_msg("alpha", at(0, 5), "u1", "hi", [])],
        [meta("alpha", at(0), "live", "A", at(0))],
        [viewer("beta", at(0, 5), 100)],
        [],
    ))  # fmt: skip
    # What the settle query reads for those appends (settle_job.read_appends).
    appended = spark.createDataFrame(
        [("chat", "alpha", at(0, 5), at(0, 5), "u1"), ("stream_meta", "alpha", at(0), at(0), None),
         ("viewer", "beta", at(0, 5), at(0, 5), None)],
        "event_type string, stream_id string, ts timestamp, since_ts timestamp, user_id string",
    )  # fmt: skip
    shape = [(f.name, f.dataType) for f in settle_job.read_appends(spark, settings).schema]
    assert [(f.name, f.dataType) for f in appended.schema] == shape

    def contents():
        names = [("silver", t) for t in WINDOWS] + [("gold", t) for t in gold_job.GOLD_TABLES]
        return {
            t: sorted(map(repr, spark.read.format("delta").load(settings.table_path(layer, t))
                          .collect()))
            for layer, t in names
        }  # fmt: skip

    settle_job.settle_batch(appended, 7, settings)
    written = contents()
    # 12:00:05 falls in the six windows starting 11:59:20 .. 12:00:00.
    assert len(written["chat_summary_minute"]) == len(written["viewer_timeseries"]) == 6
    assert len(written["stream_minute_metrics"]) == 12  # alpha's chat, beta's viewers
    assert len(written["streams"]) == 2
    assert len(written["chatters"]) == 1  # u1 on alpha
    settle_job.settle_batch(appended, 7, settings)
    assert contents() == written
