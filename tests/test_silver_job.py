"""Silver job on a hand-written bronze table: batch rebuild, the stream, replays.

Bronze holds 21 records in two appends (ingest 12:10 and 12:11). By hand:

- accepted: chat c1 c2 c3 c4 c5 c7, viewer v1 v2 v3, transaction t1 t2 t3, stream_meta m1;
- quarantined (8): broken JSON, negative viewers, unknown currency, not UTF-8, topic
  mismatch, c1's second copy (same append), c2's second copy (next append) and c6, late:
  11:56:00 is behind s1's max of 12:00:30 by more than the 120 s watermark.
"""

from __future__ import annotations

import shutil
from datetime import UTC, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable
from pyspark.sql import functions as F
from silver_fixture import ARRIVAL, at, bronze_df, event, record

from pipelines.core import catalog
from pipelines.core.schemas import CHATTERS
from pipelines.jobs import bronze_job, params, settle_job, tables
from pipelines.jobs.silver_job import (
    build_job,
    ensure_tables,
    make_batch_function,
    run_batch,
    start_stream,
)
from pipelines.serving.queries import GoldQueries
from pipelines.transforms.common import spark_type
from pipelines.transforms.silver_windows import (
    chat_summary_minute,
    transactions_minute,
    viewer_timeseries,
)

SECOND = ARRIVAL + timedelta(minutes=1)
THIRD = ARRIVAL + timedelta(minutes=2)


def chat(eid, seconds, message, emotes, user, stream="s1"):
    return event("chat", eid, at(seconds), stream=stream, message=message, emotes=emotes,
                 user_id=user, username=user)  # fmt: skip


C1 = chat("c1", 5, "I love this stream PogChamp", ["PogChamp"], "u1")
C2 = chat("c2", 15, "this is boring", [], "u2")
PART1 = [
    record(C1, "chat", 0),
    record(C2, "chat", 1),
    record(chat("c3", 25, "hello Kappa", ["Kappa"], "u1"), "chat", 2),
    record(chat("c4", 180, "gg", [], "u3", stream="s2"), "chat", 3, key="s2"),
    record(C1, "chat", 4),
    record(b'{"event_id":"x","event_type":"chat","str', "chat", 5),
    record(event("viewer", "v1", at(0), viewer_count=100), "viewer", 0),
    record(event("viewer", "v2", at(30), viewer_count=120), "viewer", 1),
    record(event("viewer", "vbad", at(31), viewer_count=-5), "viewer", 2),
    record(event("transaction", "t1", at(10), amount=10.0, currency="EUR"), "transaction", 0),
    record(event("transaction", "t2", at(20), tx_type="bits", amount=1.0), "transaction", 1),
    record(event("transaction", "tbad", at(21), currency="XYZ"), "transaction", 2),
    record(event("stream_meta", "m1", at(0)), "stream_meta", 0),
]
PART2 = [
    # c6 arrives first in its append: only the max kept from the first one makes it late.
    record(chat("c6", -240, "late hi", [], "u1"), "chat", 6, ingest=SECOND),
    record(chat("c5", 45, "LUL LUL", ["LUL", "LUL"], "u3"), "chat", 7, ingest=SECOND),
    record(C2, "chat", 8, ingest=SECOND),
    record(chat("c7", 150, "hi", [], "u3", stream="s2"), "chat", 9, key="s2", ingest=SECOND),
    record(event("viewer", "v3", at(60), viewer_count=90), "viewer", 3, ingest=SECOND),
    record(b"\xc3\x28 not utf-8", "viewer", 4, ingest=SECOND),
    record(event("viewer", "vx", at(61)), "chat", 10, ingest=SECOND),  # a viewer on chat
    record(event("transaction", "t3", at(50), tx_type="subscription", amount=4.99),
           "transaction", 3, ingest=SECOND),
]  # fmt: skip
WINDOWS = ("chat_summary_minute", "viewer_timeseries", "transactions_minute")
TYPED_TABLES = {t.event_type: t.name for t in catalog.typed()}
SILVER = (*TYPED_TABLES.values(), "quarantine", "events", *WINDOWS, "panes")


def append_bronze(spark, settings, records):
    bronze_job.ensure_table(spark, settings)
    bronze_df(spark, records).write.format("delta").mode("append").save(
        bronze_job.bronze_path(settings)
    )


def table(spark, settings, name):
    df = tables.read(spark, settings.lake_root, f"silver/{name}")
    if name == "panes":
        # Each micro-batch appends its own partial of a pane: compare the panes' totals.
        return df.groupBy("stream_id", "pane_start").agg(
            F.sum("events").alias("events"),
            F.sum("chat_count").alias("chat_count"),
            F.sort_array(F.array_distinct(F.flatten(F.collect_list("chatters")))).alias("who"),
            F.sum("viewer_samples").alias("viewer_samples"),
            F.sum("revenue").alias("revenue"),
        )
    return df


def version(spark, settings, name):
    path = catalog.table("silver", name).path(settings.lake_root)
    return DeltaTable.forPath(spark, path).history(1).first()["version"]


def run_available_now(spark, settings):
    """The silver stream, then the settle stream (the windows), each caught up."""
    query = start_stream(spark, settings, {"availableNow": True})
    query.awaitTermination()
    assert query.exception() is None
    settle = settle_job.start_stream(spark, settings, {"availableNow": True})
    settle.awaitTermination()
    assert settle.exception() is None
    return query


@pytest.fixture(scope="module")
def batch_lake(spark, tmp_path_factory, base_settings):
    settings = base_settings.model_copy(
        update={"lake_root": str(tmp_path_factory.mktemp("silver_batch") / "lake")}
    )
    append_bronze(spark, settings, PART1 + PART2)
    counts = run_batch(spark, settings)
    settle_job.write_windows(spark, settings, None)
    return settings, counts


@pytest.fixture(scope="module")
def stream_lake(spark, tmp_path_factory, base_settings):
    """Two availableNow runs, one bronze append before each: (settings, last query)."""
    settings = base_settings.model_copy(
        update={"lake_root": str(tmp_path_factory.mktemp("silver_stream") / "lake")}
    )
    append_bronze(spark, settings, PART1)
    run_available_now(spark, settings)
    append_bronze(spark, settings, PART2)
    return settings, run_available_now(spark, settings)


def test_batch_counts(batch_lake):
    _, counts = batch_lake
    assert counts["silver.input_rows"] == 21
    assert counts["silver.chat_messages"] == 6
    assert counts["silver.viewer_counts"] == 3
    assert counts["silver.transactions"] == 3
    assert counts["silver.stream_meta"] == 1
    assert counts["silver.quarantine"] == 8
    assert counts["silver.events"] == len(PART1) + len(PART2)
    typed = sum(counts[f"silver.{t}"] for t in TYPED_TABLES.values())
    assert typed + counts["silver.quarantine"] == counts["silver.input_rows"]


def test_batch_quarantine_reasons(spark, batch_lake):
    settings, _ = batch_lake
    rows = table(spark, settings, "quarantine").collect()
    assert sorted((r["reason"], r["event_id"]) for r in rows) == sorted(
        [("invalid_json", None), ("negative_value", "vbad"), ("unknown_currency", "tbad"),
         ("not_utf8", None), ("topic_mismatch", "vx"), ("duplicate", "c1"),
         ("duplicate", "c2"), ("late", "c6")]
    )  # fmt: skip
    dup = [r for r in rows if r["event_id"] == "c1"][0]
    assert (dup["offset"], dup["raw_value"]) == (4, PART1[4][1])  # the second copy


def test_batch_windows_by_hand(spark, batch_lake):
    settings, _ = batch_lake

    def window(name, seconds=0, stream="s1"):
        df = table(spark, settings, name)
        return df.filter((F.col("stream_id") == stream) & (F.col("window_start") == at(seconds)))

    (chat_w,) = window("chat_summary_minute").collect()  # c1 c2 c3 c5
    assert (chat_w["chat_count"], chat_w["unique_chatters"]) == (4, 3)
    assert [(e["emote"], e["count"]) for e in chat_w["top_emotes"]] == [
        ("LUL", 2), ("Kappa", 1), ("PogChamp", 1),
    ]  # fmt: skip
    # 0.827130 (love+PogChamp), -0.318211 (boring), 0.128037 (Kappa 0.5), 0.612372 (LUL×2)
    mean = (0.827130 - 0.318211 + 0.128037 + 0.612372) / 4
    assert chat_w["sentiment_mean"] == pytest.approx(mean, abs=1e-5)
    assert (chat_w["positive_count"], chat_w["negative_count"]) == (3, 1)
    (viewer_w,) = window("viewer_timeseries").collect()  # v1 100 @0s, v2 120 @30s
    assert (viewer_w["avg_viewers"], viewer_w["last_viewers"], viewer_w["samples"]) == (
        110.0,
        120,
        2,
    )
    (tx_w,) = window("transactions_minute").collect()  # t1 10 EUR = 10.80, t2 1.00, t3 4.99
    assert (tx_w["tx_count"], tx_w["revenue"]) == (3, Decimal("16.79"))
    assert (tx_w["donation_revenue"], tx_w["bits_revenue"], tx_w["subscription_revenue"]) == (
        Decimal("10.80"), Decimal("1.00"), Decimal("4.99"),
    )  # fmt: skip


@pytest.mark.parametrize("name", SILVER)
def test_stream_equals_batch(spark, batch_lake, stream_lake, name):
    assert_df_equality(
        table(spark, stream_lake[0], name),
        table(spark, batch_lake[0], name),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_rerunning_batch_changes_nothing(spark, batch_lake):
    settings, counts = batch_lake
    before = {n: table(spark, settings, n).collect() for n in ("quarantine", "chat_summary_minute")}
    assert run_batch(spark, settings) == counts
    settle_job.write_windows(spark, settings, None)
    for name, rows in before.items():
        assert sorted(map(repr, table(spark, settings, name).collect())) == sorted(map(repr, rows))


def test_replayed_batch_id_changes_nothing(spark, stream_lake):
    """Run the stream's last micro-batch again, as Spark does after a crash before its
    commit: same query id (txnAppId), same batch id, same bronze rows. The appends are
    skipped (no new version): nothing changes."""
    settings, query = stream_lake
    batch_id = query.lastProgress["batchId"]
    assert query.lastProgress["numInputRows"] == len(PART2)
    process = make_batch_function(build_job(spark, settings), app_id=f"telemetra-silver-{query.id}")
    appended = ("events", "panes")
    versions = {n: version(spark, settings, n) for n in appended}
    rows = {n: sorted(map(repr, table(spark, settings, n).collect())) for n in SILVER}
    process(bronze_df(spark, PART2), batch_id)
    assert {n: version(spark, settings, n) for n in appended} == versions
    assert {n: sorted(map(repr, table(spark, settings, n).collect())) for n in SILVER} == rows
    typed = sum(table(spark, settings, t).count() for t in TYPED_TABLES.values())
    assert typed + table(spark, settings, "quarantine").count() == len(PART1) + len(PART2)


def test_batch_function_outside_a_query_needs_an_app_id(spark, stream_lake):
    process = make_batch_function(build_job(spark, stream_lake[0]))
    with pytest.raises(ValueError, match="app_id"):
        process(bronze_df(spark, PART2), 0)


def test_stream_after_batch_resumes_after_the_rebuilt_version(spark, batch_lake):
    settings, counts = batch_lake
    append_bronze(
        spark, settings, [record(chat("c8", 55, "nice", [], "u4"), "chat", 11, ingest=THIRD)]
    )
    run_available_now(spark, settings)
    assert table(spark, settings, "chat_messages").count() == counts["silver.chat_messages"] + 1
    assert table(spark, settings, "quarantine").count() == counts["silver.quarantine"]


def test_replay_routes_rows_as_the_first_attempt_did(spark, base_settings, tmp_path):
    """A micro-batch whose silver writes all committed, then died (in gold, say), runs again.
    Its rows are now in silver/events, which the new driver rebuilds its state from: the
    replay must not take them for earlier arrivals. The batch had no rejected row, so
    nothing stops a quarantine append that the first attempt never made (issue 21: every
    row of a batch ended both in its typed table and in quarantine as a duplicate)."""
    settings = base_settings.model_copy(update={"lake_root": str(tmp_path / "lake")})
    records = [
        # s9 opens with an event three minutes before its next one, in the same batch:
        # against the batch's own max it would be late.
        record(chat("s9-a", -180, "first", [], "u1", stream="s9"), "chat", 0, key="s9"),
        record(chat("s9-b", 0, "second", [], "u2", stream="s9"), "chat", 1, key="s9"),
        record(event("viewer", "s9-v", at(0), stream="s9"), "viewer", 0, key="s9"),
    ]
    ensure_tables(spark, settings)
    for _ in range(2):  # the first attempt, then its replay (a new driver: state rebuilt)
        process = make_batch_function(build_job(spark, settings), app_id="telemetra-test-replay")
        process(bronze_df(spark, records), 0)
        assert table(spark, settings, "quarantine").count() == 0
        assert table(spark, settings, "chat_messages").count() == 2
        assert table(spark, settings, "viewer_counts").count() == 1
        late = table(spark, settings, "chat_messages").filter(F.col("event_id") == "s9-a")
        assert late.count() == 1


def test_panes_by_hand(spark, batch_lake):
    """Panes are 10 s: [12:00:00, 12:00:10) of s1 holds c1 (u1, PogChamp), v1 (100
    viewers) and m1; [12:00:10, 12:00:20) holds c2 (u2, no emote) and t1 (10 EUR)."""
    settings, _ = batch_lake
    s1 = spark.read.format("delta").load(settings.table_path("silver", "panes"))
    s1 = s1.filter(F.col("stream_id") == "s1")
    (first,) = s1.filter(F.col("pane_start") == at(0)).collect()
    (second,) = s1.filter(F.col("pane_start") == at(10)).collect()
    assert (first["events"], first["chat_count"], first["meta_count"]) == (3, 1, 1)
    assert first["chatters"] == ["u1"]
    assert [(e["emote"], e["count"]) for e in first["emote_counts"]] == [("PogChamp", 1)]
    assert (first["viewer_samples"], first["viewer_sum"], first["last_viewers"]) == (
        1, 100, 100,
    )  # fmt: skip
    assert first["tx_count"] == 0 and first["revenue"] is None
    assert (second["chat_count"], second["chatters"], second["emote_counts"]) == (1, ["u2"], [])
    assert (second["tx_count"], second["revenue"], second["donation_revenue"]) == (
        1, Decimal("10.80"), Decimal("10.80"),
    )  # fmt: skip
    assert second["viewer_samples"] == 0 and second["last_viewers"] is None


def test_fresh_window_by_hand(stream_lake):
    """The Live page's window [12:00:00, 12:01:00) of s1, combined by DuckDB from the
    panes of both micro-batches, has the numbers worked out by hand in
    test_batch_windows_by_hand (the stream lake: the batch lake gains c8 in another test)."""
    settings, _ = stream_lake
    q = GoldQueries(settings.lake_root, window_seconds=60, slide_seconds=10)
    fresh = q.minute_metrics("s1", start=at(0), end=at(1), fresh=True)
    (w,) = fresh.to_dict("records")
    assert (w["chat_count"], w["unique_chatters"], w["positive_count"], w["negative_count"]) == (
        4, 3, 3, 1,
    )  # fmt: skip
    mean = (0.827130 - 0.318211 + 0.128037 + 0.612372) / 4
    assert w["sentiment_mean"] == pytest.approx(mean, abs=1e-5)
    assert (w["avg_viewers"], w["max_viewers"], w["last_viewers"]) == (110.0, 120, 120)
    assert (w["tx_count"], w["revenue"]) == (3, pytest.approx(16.79))
    emotes = q.top_emotes("s1", start=at(0), end=at(1), fresh=True)
    # panes [12:00:00, 12:01:00) of s1: c1 PogChamp, c3 Kappa, c5 LUL LUL
    assert list(emotes.itertuples(index=False, name=None)) == [
        ("LUL", 2), ("Kappa", 1), ("PogChamp", 1),
    ]  # fmt: skip


def test_fresh_first_time_chatters_by_hand(spark, stream_lake, tmp_path):
    """s1's first messages in the panes: u1 12:00:05, u2 12:00:15, u3 12:00:45 (c6, u1's
    late one, is quarantined). A first message counts in the six windows holding its pane."""
    settings, _ = stream_lake
    lake = tmp_path / "lake"
    shutil.copytree(settings.lake_root, lake)
    q = GoldQueries(str(lake), recheck_seconds=0, window_seconds=60, slide_seconds=10)

    def firsts():
        got = q.first_time_chatters("s1", start=at(0), end=at(60), fresh=True)
        pairs = zip(got["window_start"], got["first_time_chatters"], strict=True)
        return {t.to_pydatetime(): n for t, n in pairs}

    # Each chatter is first-time in their first pane (what settling merged agrees).
    assert firsts() == {at(0): 3, at(10): 2, at(20): 1, at(30): 1, at(40): 1}
    # Had u1 first chatted yesterday, u1 would be returning here.
    yesterday = at(0) - timedelta(days=1)
    spark.createDataFrame([("s1", "u1", yesterday)], spark_type(CHATTERS)).write.format(
        "delta"
    ).mode("overwrite").save(str(lake / "gold" / "chatters"))
    assert firsts() == {at(0): 2, at(10): 2, at(20): 1, at(30): 1, at(40): 1}


@pytest.mark.parametrize("lake", ["batch_lake", "stream_lake"])
def test_panes_combine_into_the_settled_windows(spark, request, lake):
    """Every window DuckDB combines from the panes equals the window the settle step
    computed from the typed rows (pipelines.transforms.silver_windows), late rows and duplicates
    quarantined alike; the stream lake's panes come from two micro-batches."""
    settings = request.getfixturevalue(lake)[0]
    q = GoldQueries(settings.lake_root, window_seconds=60, slide_seconds=10)
    chat = {(r["stream_id"], r["window_start"]): r
            for r in table(spark, settings, "chat_summary_minute").collect()}  # fmt: skip
    viewers = {(r["stream_id"], r["window_start"]): r
               for r in table(spark, settings, "viewer_timeseries").collect()}  # fmt: skip
    tx = {(r["stream_id"], r["window_start"]): r
          for r in table(spark, settings, "transactions_minute").collect()}  # fmt: skip
    seen = set()
    for stream in ("s1", "s2"):
        for w in q.minute_metrics(stream, fresh=True).to_dict("records"):
            # Spark hands back naive local times; DuckDB UTC ones
            key = (stream, w["window_start"].tz_convert(None).to_pydatetime())
            key = (stream, key[1].replace(tzinfo=UTC).astimezone().replace(tzinfo=None))
            seen.add(key)
            c, v, t = chat.get(key), viewers.get(key), tx.get(key)
            assert w["chat_count"] == (c["chat_count"] if c else 0), key
            assert w["unique_chatters"] == (c["unique_chatters"] if c else 0), key
            if c is not None:
                assert w["sentiment_mean"] == pytest.approx(c["sentiment_mean"], abs=1e-12)
                assert (w["positive_count"], w["negative_count"]) == (
                    c["positive_count"], c["negative_count"],
                )  # fmt: skip
            if v is None:
                assert pd.isna(w["last_viewers"]), key
            else:
                assert w["avg_viewers"] == pytest.approx(v["avg_viewers"], rel=1e-12)
                assert (w["max_viewers"], w["last_viewers"]) == (
                    v["max_viewers"], v["last_viewers"],
                )  # fmt: skip
            assert w["tx_count"] == (t["tx_count"] if t else 0), key
            assert w["revenue"] == pytest.approx(float(t["revenue"]) if t else 0.0), key
    assert seen == set(chat) | set(viewers) | set(tx)


@pytest.mark.parametrize("lake", ["batch_lake", "stream_lake"])
def test_windows_from_panes_equal_windows_from_the_typed_rows(spark, request, lake):
    """The settle step combines panes into the window tables; the definition is over the
    typed rows (pipelines.transforms.silver_windows): both agree to the last bit, the stream lake's
    panes coming from two micro-batches and its late row and duplicates quarantined."""
    settings = request.getfixturevalue(lake)[0]
    p = params.silver_params(settings)
    by_definition = {
        "chat_summary_minute": chat_summary_minute(
            table(spark, settings, "chat_messages"), 60, 10, p.top_emotes
        ),
        "viewer_timeseries": viewer_timeseries(table(spark, settings, "viewer_counts"), 60, 10),
        "transactions_minute": transactions_minute(
            table(spark, settings, "transactions"), 60, 10, p.base_currency
        ),
    }
    for name, expected in by_definition.items():
        assert_df_equality(
            table(spark, settings, name), expected, ignore_row_order=True, ignore_nullable=True
        )
