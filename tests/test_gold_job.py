"""Gold job on a small silver lake: batch finds the moments; streaming over silver's change
feed, fed in two steps (appends and MERGE updates in between), ends equal to a batch
rebuild of the final silver; reruns change nothing.

Silver (default settings: 60 s windows sliding 10 s, 600 s baseline, 12 windows minimum;
chat z-threshold 4, which this module pins: the default is now 8),
window i starts at T0 + 10 i s; part 1 holds windows 0..119, part 2 adds 120..149 and
updates 117..119:
- alpha: chat 18/20/22; spikes of 120 in windows 108..113 and of 200 in 140..145. The
  second spike's baseline holds the first (mean ~30, std ~30): 120 would not be enough.
- beta: viewers 500, then a raid: max 900 from window 115 on, while its baseline mean
  stays under 900 / 1.3 (at window 149 it is 670); revenue 100 in window 130 on a
  baseline of 0 (part 2).
Expected moments, worked out from those numbers:
- alpha chat_spike [12:18:00, 12:19:50) and [12:23:20, 12:25:10)
- beta raid [12:19:10, 12:25:50) (after part 1: [12:19:10, 12:20:50))
- beta revenue_burst [12:21:40, 12:22:40)
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from pipelines.jobs import gold_job
from pipelines.schemas import (
    CHAT_MESSAGES,
    CHAT_SUMMARY_MINUTE,
    STREAM_META,
    TRANSACTIONS,
    TRANSACTIONS_MINUTE,
    VIEWER_COUNTS,
    VIEWER_TIMESERIES,
)

UTC = timezone.utc
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
AVAILABLE_NOW = {"availableNow": True}


@pytest.fixture
def settings(settings):
    """The conftest settings with the chat z-threshold these hand-built windows were worked
    out for (the second spike scores between 4 and 8)."""
    return settings.model_copy(update={"moment_chat_z": 4.0})


WATERMARKS = "stream_id string, max_event_ts timestamp"


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


def events_part1():
    chats = [chat_msg("alpha", at(m, 15), f"u{m % 5}", "hello", []) for m in range(20)]
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


def write_silver(spark, settings, aggregates, events, watermarks, merge_chat=False) -> None:
    """Append aggregates and events; with ``merge_chat`` the chat windows are upserted
    (MERGE, as silver does while windows are open: the change feed then holds updates)."""
    schemas = (CHAT_SUMMARY_MINUTE, VIEWER_TIMESERIES, TRANSACTIONS_MINUTE)
    for table, schema, rows in zip(gold_job.SILVER_AGGREGATES, schemas, aggregates, strict=True):
        path = settings.table_path("silver", table)
        DeltaTable.createIfNotExists(spark).location(path).addColumns(schema).property(
            "delta.enableChangeDataFeed", "true"
        ).execute()
        df = spark.createDataFrame(rows, schema)
        if merge_chat and table == "chat_summary_minute":
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
    schemas = (CHAT_MESSAGES, STREAM_META, VIEWER_COUNTS, TRANSACTIONS)
    for table, schema, rows in zip(
        ("chat_messages", "stream_meta", "viewer_counts", "transactions"), schemas, events,
        strict=True,
    ):  # fmt: skip
        df = spark.createDataFrame(rows, schema)
        df.write.format("delta").mode("append").save(settings.table_path("silver", table))
    spark.createDataFrame(watermarks, WATERMARKS).write.format("delta").mode("overwrite").save(
        settings.table_path("silver", "stream_watermarks")
    )


def stream_once(spark, settings) -> None:
    query = gold_job.start_stream(spark, settings, AVAILABLE_NOW)
    query.awaitTermination()
    assert query.exception() is None
    assert query.name == "gold"


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


# Two streaming runs and two rebuilds: minutes on a busy 2-core machine.
@pytest.mark.timeout(3600)
def test_stream_equals_batch_and_reruns_change_nothing(spark, settings):
    write_silver(
        spark, settings, aggregate_rows(range(120)), events_part1(),
        [("alpha", at(20)), ("beta", at(20))],
    )  # fmt: skip
    stream_once(spark, settings)
    first = gold_snapshot(spark, settings)
    assert moment_spans(first["moments"]) == {
        span("alpha", "chat_spike", at(18), at(19, 50)),
        span("beta", "raid", at(19, 10), at(20, 50)),
    }
    assert len(first["stream_minute_metrics"]) == 240

    # Part 2: chat windows 117..119 revised (late chat), windows 120..149 new, more events.
    chat_rev = aggregate_rows(range(117, 120), chat_bump=2)[0]
    chat_new, viewers_new, sales_new = aggregate_rows(range(120, 150))
    write_silver(
        spark, settings, (chat_rev + chat_new, viewers_new, sales_new), events_part2(),
        [("alpha", at(25, 50)), ("beta", at(25, 50))], merge_chat=True,
    )  # fmt: skip
    stream_once(spark, settings)
    streamed = gold_snapshot(spark, settings)

    counts = gold_job.run_batch(spark, settings)
    batch = gold_snapshot(spark, settings)
    assert counts["gold.stream_minute_metrics"] == 300
    assert moment_spans(batch["moments"]) == {
        span("alpha", "chat_spike", at(18), at(19, 50)),
        span("alpha", "chat_spike", at(23, 20), at(25, 10)),
        span("beta", "raid", at(19, 10), at(25, 50)),
        span("beta", "revenue_burst", at(21, 40), at(22, 40)),
    }
    for table in gold_job.GOLD_TABLES:
        assert streamed[table] == batch[table], table

    gold_job.run_batch(spark, settings)
    again = gold_snapshot(spark, settings)
    assert again == batch
    ids = [r.moment_id for r in again["moments"]]
    assert len(ids) == len(set(ids)) == 4

    spike = next(r for r in again["moments"] if r.start_ts.timestamp() == at(18).timestamp())
    assert [e.emote for e in spike.top_emotes] == ["PogChamp"]
    assert spike.sample_messages == ["PogChamp!"] * 5
    alpha = [r for r in again["stream_summary"] if r.stream_id == "alpha"]
    assert [(r.title, r.moment_count, r.ended_at.timestamp()) for r in alpha] == [
        ("Alpha A", 2, at(24, 30).timestamp())
    ]
    gamma = sorted(
        (r.started_at.timestamp(), r.ended_at.timestamp(), r.title, r.messages)
        for r in again["stream_summary"]
        if r.stream_id == "gamma"
    )
    assert gamma == [
        (at(1).timestamp(), at(4).timestamp(), "G1", 3),  # chat at 12:01-12:03
        (at(8).timestamp(), at(10).timestamp(), "G2", 1),  # 12:09; closed by G3's start
        (at(10).timestamp(), at(19).timestamp(), "G3", 3),  # 12:10, 12:15, 12:16
    ]
    streams = {r.stream_id: (r.status, r.title) for r in again["streams"]}
    assert streams == {
        "alpha": ("offline", "Alpha A"),
        "beta": ("live", "Beta raid!"),
        "gamma": ("offline", "G3"),
    }


def test_first_affected_broadcast():
    starts = [1_000_000, 5_000_000, 9_000_000]  # epoch µs: broadcasts from 1 s, 5 s, 9 s
    assert gold_job.first_affected(starts, 0) is None  # before them all: the whole stream
    assert gold_job.first_affected(starts, 1) == 1_000_000
    assert gold_job.first_affected(starts, 7) == 5_000_000
    assert gold_job.first_affected(starts, 9) == 9_000_000
    assert gold_job.first_affected(starts, 100) == 9_000_000
    assert gold_job.first_affected([], 100) is None  # a stream gold has not summarized yet


def test_replayed_batch_writes_the_same_rows(spark, settings):
    # The same micro-batch written twice (a replay after a crash): gold recomputes the same
    # parts from the same silver, so every table holds exactly the same rows afterwards.
    write_silver(spark, settings, aggregate_rows(range(3)), ([], [], [], []), [("alpha", at(1))])
    gold_job.ensure_gold_tables(spark, settings)
    changes = (
        spark.read.format("delta")
        .load(settings.table_path("silver", "chat_summary_minute"))
        .select(
            "stream_id",
            "window_start",
            F.unix_seconds("window_start").alias("lo_s"),
            F.unix_seconds("window_start").alias("hi_s"),
            F.unix_seconds("window_start").alias("since_s"),
        )
    )

    def contents():
        return {
            t: sorted(map(repr, spark.read.format("delta").load(settings.table_path("gold", t))
                          .collect()))
            for t in gold_job.GOLD_TABLES
        }  # fmt: skip

    gold_job.upsert_gold_batch(changes, 7, settings)
    written = contents()
    assert len(written["stream_minute_metrics"]) == 6
    assert len(written["streams"]) == 1
    gold_job.upsert_gold_batch(changes, 7, settings)
    assert contents() == written
