"""The query layer against the hand-designed gold lake of ``gold_fixture``.

Expected values are worked out by hand from the fixture rows; the arithmetic is in the
comments. Windows are 60 s long and slide 10 s; the "tiling" windows (start a multiple of
60 s) are alpha's 17:00:00 and 17:01:00, beta's 12:59:00 and 13:00:00.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from gold_fixture import (
    ALPHA_BROADCAST,
    ALPHA_OLD_BROADCAST,
    BETA_BROADCAST,
    at,
    gold_lake,  # noqa: F401 (fixture)
    write_one_stream,
)

from pipelines.core import schemas
from pipelines.serving.queries import GOLD_SCHEMAS, GoldQueries
from pipelines.transforms.common import spark_type


def ts(hour: int, minute: int, second: int = 0) -> pd.Timestamp:
    return pd.Timestamp(at(hour, minute, second))


@pytest.fixture
def q(gold_lake) -> GoldQueries:  # noqa: F811
    return GoldQueries(gold_lake)


def test_list_streams_puts_live_first_then_most_recent(q):
    streams = q.list_streams()
    # gamma's last event (17:20) is newer than alpha's (17:02:25), but alpha is live.
    assert streams["stream_id"].tolist() == ["alpha", "gamma", "beta"]
    assert streams["is_live"].tolist() == [True, False, False]
    assert streams["last_event_ts"].tolist() == [ts(17, 2, 25), ts(17, 20), ts(13, 0, 30)]
    assert streams["title"].iloc[1] is None
    assert streams.attrs["message"] is None


def test_live_snapshot_takes_newest_window_and_one_window_length_before(q):
    snap = q.live_snapshot("alpha")
    assert len(snap) == 1
    row = snap.iloc[0]
    # Newest window starts 17:01:10; one length (60 s) earlier is 17:00:10.
    assert row["window_start"] == ts(17, 1, 10)
    assert (row["viewers"], row["viewers_before"]) == (300, 108)
    assert (row["chat_count"], row["chat_count_before"]) == (50, 14)
    assert (row["unique_chatters"], row["unique_chatters_before"]) == (35, 9)
    assert row["sentiment_mean"] == pytest.approx(0.40)
    # Hour before 17:02:10, tiling windows 17:00:00 (5.00, 1 sale) + 17:01:00 (30.00, 4).
    assert row["revenue_recent"] == pytest.approx(35.00)
    assert row["tx_count_recent"] == 5
    assert row["last_event_ts"] == ts(17, 2, 25)
    assert (row["status"], row["is_live"], row["title"]) == ("live", True, "Alpha plays Celeste")


def test_live_snapshot_of_an_offline_stream_with_a_falling_count(q):
    row = q.live_snapshot("beta").iloc[0]
    # Newest window 13:00:00 (25 viewers); 12:59:00 is the latest start <= 12:59:00 (41).
    assert (row["viewers"], row["viewers_before"]) == (25, 41)
    # Tiling 12:59:00 (4.99) + 13:00:00 (100.00); the null-revenue window does not tile.
    assert row["revenue_recent"] == pytest.approx(104.99)
    assert row["tx_count_recent"] == 2
    assert not row["is_live"]


def test_live_snapshot_lookback_bounds_the_revenue(q):
    # 70 s before 17:02:10 is 17:01:00: only that tiling window (30.00, 4 sales).
    row = q.live_snapshot("alpha", lookback=timedelta(seconds=70)).iloc[0]
    assert (row["revenue_recent"], row["tx_count_recent"]) == (pytest.approx(30.0), 4)
    # 60 s: from 17:01:10, no tiling window left: no revenue (null), not zero.
    row = q.live_snapshot("alpha", lookback=timedelta(seconds=60)).iloc[0]
    assert pd.isna(row["revenue_recent"])


def test_live_snapshot_of_stream_without_metrics_and_of_unknown_stream(q):
    gamma = q.live_snapshot("gamma")
    assert len(gamma) == 1
    assert pd.isna(gamma.iloc[0]["viewers"]) and pd.isna(gamma.iloc[0]["window_end"])
    assert gamma.iloc[0]["last_event_ts"] == ts(17, 20)
    assert q.live_snapshot("nobody").empty


def test_minute_metrics_keeps_windows_starting_in_range(q):
    m = q.minute_metrics("alpha", start=at(17, 0, 30), end=at(17, 1))
    assert m["window_start"].tolist() == [ts(17, 0, 30), ts(17, 0, 40), ts(17, 0, 50)]
    assert m["last_viewers"].tolist() == [112, 120, 250]
    assert m["revenue"].tolist() == [0.0, 12.5, 20.0]
    assert m["tiling"].tolist() == [False, False, False]
    whole = q.minute_metrics("alpha")
    assert len(whole) == 8
    assert whole.loc[whole["tiling"], "window_start"].tolist() == [ts(17, 0), ts(17, 1)]


def test_minute_metrics_nulls_and_empty_lists_come_through(q):
    assert "top_emotes" not in q.minute_metrics("beta").columns
    beta = q.minute_metrics("beta", with_emotes=True).set_index("window_start")
    quiet = beta.loc[ts(12, 59, 20)]
    assert pd.isna(quiet["sentiment_mean"]) and pd.isna(quiet["revenue"])
    assert quiet["top_emotes"] == []
    assert beta.loc[ts(13, 0), "top_emotes"] is None
    assert beta.loc[ts(12, 59, 10), "top_emotes"] == [{"emote": "NotLikeThis", "count": 3}]


def test_top_emotes_sums_tiling_windows_only(q):
    # 17:00:00: Kappa 6, PogChamp 3; 17:01:00: PogChamp 25, LUL 8, Kappa 4.
    assert _pairs(q.top_emotes("alpha")) == [("PogChamp", 28), ("Kappa", 10), ("LUL", 8)]
    assert _pairs(q.top_emotes("alpha", start=at(17, 0, 30))) == [
        ("PogChamp", 25),
        ("LUL", 8),
        ("Kappa", 4),
    ]
    assert _pairs(q.top_emotes("alpha", limit=2)) == [("PogChamp", 28), ("Kappa", 10)]
    # 12:59:00: NotLikeThis 3, Kappa 1; 13:00:00 has none (null list).
    assert _pairs(q.top_emotes("beta")) == [("NotLikeThis", 3), ("Kappa", 1)]


def _pairs(df: pd.DataFrame) -> list[tuple[str, int]]:
    return list(zip(df["emote"], df["count"], strict=True))


def test_moments_newest_first_with_context(q):
    moments = q.moments()
    # Both alpha moments start 17:00:50; the higher score comes first.
    assert moments["moment_id"].tolist() == ["m-alpha-raid", "m-alpha-chat", "m-beta-rev"]
    assert moments["duration_seconds"].tolist() == [70.0, 30.0, 60.0]
    assert moments["title"].tolist() == ["Alpha plays Celeste"] * 2 + ["Beta chats"]
    raid = moments.iloc[0]
    assert raid["sample_messages"] == ["raid hype!", "welcome raiders"]
    assert raid["top_emotes"] == [{"emote": "PogChamp", "count": 25}, {"emote": "LUL", "count": 8}]
    assert moments.iloc[2]["top_emotes"] is None
    # Each in the broadcast that had started by its peak (alpha's of today, not yesterday's).
    assert moments["broadcast_id"].tolist() == [ALPHA_BROADCAST] * 2 + [BETA_BROADCAST]
    started = [t.to_pydatetime() for t in moments["broadcast_started_at"]]
    assert started == [at(16, 30), at(16, 30), at(12, 0)]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"kinds": ["raid", "chat_spike"], "min_score": 5}, ["m-alpha-raid"]),
        ({"stream_ids": ["beta"]}, ["m-beta-rev"]),
        ({"min_score": 4.2}, ["m-alpha-raid", "m-alpha-chat", "m-beta-rev"]),
        ({"kinds": []}, []),
        # Overlap: the raid ends 17:02:00 >= 17:01:30, the chat spike ended at 17:01:20.
        ({"start": at(17, 1, 30)}, ["m-alpha-raid"]),
        # The revenue burst starts at 13:00:00, not before the (exclusive) end.
        ({"end": at(13, 0)}, []),
    ],
)
def test_moments_filters(q, filters, expected):
    assert q.moments(**filters)["moment_id"].tolist() == expected


def test_broadcast_summaries_newest_first_with_durations(q):
    alpha = q.broadcast_summaries("alpha")
    assert alpha["broadcast_id"].tolist() == [ALPHA_BROADCAST, ALPHA_OLD_BROADCAST]
    assert alpha["is_live"].tolist() == [True, False]
    # Live: 16:30:00 to the last event 17:02:25 = 1945 s; yesterday 18:00-21:00.
    assert alpha["duration_minutes"].tolist() == pytest.approx([1945 / 60, 180.0])
    assert alpha["revenue"].tolist() == [35.0, 250.0]
    assert alpha["messages_per_chatter"].tolist() == pytest.approx([232 / 95, 4100 / 610])
    assert alpha["first_time_chatters"].tolist() == [60, 610]
    assert alpha["returning_chatters"].tolist() == [35, 0]
    everything = q.broadcast_summaries()
    assert everything["broadcast_id"].tolist() == [
        ALPHA_BROADCAST,
        BETA_BROADCAST,
        ALPHA_OLD_BROADCAST,
    ]


def test_compare_broadcasts_in_the_given_order_with_rates(q):
    cmp = q.compare_broadcasts([("beta", BETA_BROADCAST), ("alpha", ALPHA_BROADCAST)])
    assert cmp["broadcast_id"].tolist() == [BETA_BROADCAST, ALPHA_BROADCAST]
    # beta: 12:00:00-13:00:30 = 60.5 min, 13 messages, 104.99 revenue.
    # alpha: 1945 s = 32.4167 min, 232 messages, 35.00 revenue.
    assert cmp["messages_per_minute"].tolist() == pytest.approx([13 / 60.5, 232 / (1945 / 60)])
    assert cmp["revenue_per_hour"].tolist() == pytest.approx(
        [104.99 / (60.5 / 60), 35.0 / (1945 / 3600)]
    )
    assert q.compare_broadcasts([("alpha", "no-such-broadcast")]).empty


def test_first_time_chatters_per_window_from_the_chatters_table(spark, tmp_path):
    # First messages: u1 12:00:05 and u2 12:00:15 (s), u3 at 11:00 (long before the range),
    # u4 on another stream. A first message at t counts in the six windows holding it:
    # window starts from t's 10-s pane back 50 s, kept in [12:00:00, 12:01:00).
    rows = [("s", "u1", at(12, 0, 5)), ("s", "u2", at(12, 0, 15)), ("s", "u3", at(11, 0)),
            ("t", "u4", at(12, 0, 5))]  # fmt: skip
    spark.createDataFrame(rows, spark_type(schemas.CHATTERS)).write.format("delta").save(
        str(tmp_path / "gold" / "chatters")
    )
    got = GoldQueries(str(tmp_path)).first_time_chatters("s", start=at(12, 0), end=at(12, 1))
    assert dict(zip(got["window_start"], got["first_time_chatters"], strict=True)) == {
        ts(12, 0): 2,  # u1 (pane 12:00:00) and u2 (pane 12:00:10)
        ts(12, 0, 10): 1,  # u2: its windows start 11:59:20 .. 12:00:10
    }


def test_compare_streams_whole_range(q):
    cmp = q.compare_streams(["beta", "alpha", "gamma"]).set_index("stream_id")
    assert cmp.index.tolist() == ["beta", "alpha", "gamma"]
    # alpha: avg of 8 avg_viewers = 1172 / 8; tiling: 12 + 60 messages, 5 + 30 revenue,
    # sentiment (0.10 * 12 + 0.70 * 60) / 72 = 0.6.
    alpha = cmp.loc["alpha"]
    assert (alpha["peak_viewers"], alpha["peak_chat_per_minute"]) == (305, 60)
    assert alpha["avg_viewers"] == pytest.approx(146.5)
    assert (alpha["messages"], alpha["revenue"], alpha["moments"]) == (72, 35.0, 2)
    assert alpha["sentiment"] == pytest.approx(0.6)
    # beta: (40 + 41 + 39 + 30) / 4; tiling 5 + 2 messages, 4.99 + 100 revenue,
    # sentiment (-0.20 * 5 + 0.50 * 2) / 7 = 0.
    beta = cmp.loc["beta"]
    assert (beta["peak_viewers"], beta["avg_viewers"]) == (43, pytest.approx(37.5))
    assert (beta["messages"], beta["revenue"], beta["moments"]) == (7, 104.99, 1)
    assert beta["sentiment"] == pytest.approx(0.0)
    gamma = cmp.loc["gamma"]
    assert (gamma["messages"], gamma["revenue"], gamma["moments"]) == (0, 0.0, 0)
    assert pd.isna(gamma["peak_viewers"])


def test_compare_streams_over_a_range(q):
    # Windows 17:00:30..17:01:00: max_viewers 118, 125, 260, 300; avg (106+110+150+240)/4;
    # the one tiling window is 17:01:00 (60 messages, 30.00, sentiment 0.70).
    alpha = q.compare_streams(["alpha"], start=at(17, 0, 30), end=at(17, 1, 10)).iloc[0]
    assert (alpha["peak_viewers"], alpha["avg_viewers"]) == (300, pytest.approx(151.5))
    assert (alpha["messages"], alpha["revenue"]) == (60, 30.0)
    assert alpha["sentiment"] == pytest.approx(0.7)
    assert alpha["moments"] == 2  # both start at 17:00:50
    assert (alpha["first_window"], alpha["last_window"]) == (ts(17, 0, 30), ts(17, 2))


def test_compare_streams_joins_whole_hours_and_the_minutes_around_them(q):
    # 12:59:10..14:00: the hour 13:00 from stream_hour_metrics (the 13:00:00 window: 30/35
    # viewers, 2 messages, 100.00, sentiment 0.50), 12:59:10 and 12:59:20 from the minute
    # windows (41 and 39 avg viewers, max 43 and 41, 6 and 0 messages, neither tiling).
    beta = q.compare_streams(["beta"], start=at(12, 59, 10), end=at(14, 0)).iloc[0]
    assert (beta["peak_viewers"], beta["peak_chat_per_minute"]) == (43, 6)
    assert beta["avg_viewers"] == pytest.approx((41 + 39 + 30) / 3)
    assert (beta["messages"], beta["revenue"]) == (2, 100.0)
    assert beta["sentiment"] == pytest.approx(0.5)
    assert (beta["first_window"], beta["last_window"]) == (ts(12, 59, 10), ts(13, 1))


def test_values_are_bound_not_pasted(q):
    assert q.live_snapshot("alpha' OR '1'='1").empty
    assert q.moments(stream_ids=["x') OR true --"]).empty
    assert q.minute_metrics("beta'; DROP TABLE streams; --").empty
    assert len(q.list_streams()) == 3


def test_queries_leave_the_lake_unchanged(q):
    before = q.table_versions()
    q.list_streams(), q.moments(), q.compare_streams(["alpha"]), q.live_snapshot("alpha")
    assert q.table_versions() == before == dict.fromkeys(GOLD_SCHEMAS, 0)


def test_fresh_lake_gives_empty_frames_and_a_message(tmp_path):
    q = GoldQueries(str(tmp_path / "lake"))
    assert q.missing_tables() == list(GOLD_SCHEMAS)
    streams = q.list_streams()
    assert streams.empty
    assert list(streams.columns[:2]) == ["stream_id", "status"]
    assert "gold/streams" in streams.attrs["message"]
    metrics = q.minute_metrics("alpha")
    assert metrics.empty
    assert "revenue" in metrics.columns
    assert "gold/stream_minute_metrics" in metrics.attrs["message"]
    for frame in (q.live_snapshot("alpha"), q.moments(), q.broadcast_summaries()):
        assert frame.empty and frame.attrs["missing"]
    assert q.top_emotes("alpha").empty
    assert q.compare_broadcasts([("a", "b")]).empty


def test_new_table_versions_are_seen_without_reopening(spark, tmp_path):
    lake = str(tmp_path / "lake")
    q = GoldQueries(lake, recheck_seconds=0)
    assert q.list_streams().empty  # not there yet
    path = q.table_path("streams")
    row = ("s1", "live", "t", "c", "en", at(10, 0), at(10, 5))
    spark.createDataFrame([row], spark_type(schemas.STREAMS)).write.format("delta").save(path)
    assert q.list_streams()["stream_id"].tolist() == ["s1"]
    row2 = ("s2", "live", "t", "c", "en", at(11, 0), at(11, 5))
    spark.createDataFrame([row2], spark_type(schemas.STREAMS)).write.format("delta").mode(
        "append"
    ).save(path)
    assert q.list_streams()["stream_id"].tolist() == ["s2", "s1"]
    assert q.table_versions()["streams"] == 1


def test_snapshot_reads_older_history_when_the_streams_table_runs_ahead(spark, tmp_path):
    # The streams table says the last event was 3 h after the newest window: the bounded
    # (recent) read finds nothing, the full read must still find the window.
    lake = str(tmp_path / "lake")
    q = GoldQueries(lake)
    stream = ("s1", "live", "t", "c", "en", at(9, 0), at(13, 0))
    window = ("s1", at(10, 0), at(10, 1), 5.0, 6, 7, 1, 1, 0.0, 0, 0, None, 0, None)
    write_one_stream(spark, lake, stream, [window])
    row = q.live_snapshot("s1").iloc[0]
    assert (row["window_start"], row["viewers"]) == (ts(10, 0), 7)
    assert pd.isna(row["viewers_before"])


def test_live_snapshot_shows_the_newest_viewer_count_when_the_newest_window_has_none(
    spark, tmp_path
):
    # A window with chat but no viewer event has null viewers (seen right after start-up).
    # (stream, start, end, avg, max, last viewers, chat, unique, sentiment, +, -, emotes,
    #  sales, revenue)
    lake = str(tmp_path / "lake")
    q = GoldQueries(lake)
    windows = [
        ("s1", at(10, 0, 0), at(10, 1, 0), 40.0, 42, 40, 3, 2, 0.0, 0, 0, None, 0, None),
        ("s1", at(10, 0, 10), at(10, 1, 10), 44.0, 46, 45, 4, 3, 0.0, 0, 0, None, 0, None),
        ("s1", at(10, 1, 10), at(10, 2, 10), 60.0, 71, 70, 8, 5, 0.0, 0, 0, None, 0, None),
        ("s1", at(10, 1, 20), at(10, 2, 20), None, None, None, 9, 6, 0.0, 0, 0, None, 0, None),
    ]
    write_one_stream(spark, lake, None, windows)
    row = q.live_snapshot("s1").iloc[0]
    # Chat from the newest window (10:01:20; one length before it: 10:00:10); viewers from
    # the newest counted one (10:01:10, 70) against one length before that (10:00:10, 45).
    assert row["window_start"] == ts(10, 1, 20)
    assert (row["chat_count"], row["chat_count_before"]) == (9, 4)
    assert (row["viewers"], row["viewers_before"]) == (70, 45)


@pytest.mark.parametrize(
    ("status", "newest_shown", "chat"),
    # Live, newest event 10:02:15: the 10:01:20 window (ends 10:02:20) is still filling, so
    # the newest complete one is 10:01:10. Offline: every window is final.
    [("live", ts(10, 1, 10), (8, 4)), ("offline", ts(10, 1, 20), (2, 4))],
)
def test_live_snapshot_skips_windows_still_filling(spark, tmp_path, status, newest_shown, chat):
    lake = str(tmp_path / "lake")
    q = GoldQueries(lake)
    stream = ("s1", status, "t", "c", "en", at(9, 0), at(10, 2, 15))
    windows = [
        ("s1", at(10, 0, 10), at(10, 1, 10), 44.0, 46, 45, 4, 3, 0.0, 0, 0, None, 0, None),
        ("s1", at(10, 1, 10), at(10, 2, 10), 60.0, 71, 70, 8, 5, 0.0, 0, 0, None, 0, None),
        ("s1", at(10, 1, 20), at(10, 2, 20), 61.0, 72, 71, 2, 2, 0.0, 0, 0, None, 0, None),
    ]
    write_one_stream(spark, lake, stream, windows)
    row = q.live_snapshot("s1").iloc[0]
    assert row["window_start"] == newest_shown
    assert row["window_complete"]
    # One length before 10:01:10 or 10:01:20 is the 10:00:10 window (4 messages).
    assert (row["chat_count"], row["chat_count_before"]) == chat


def test_live_snapshot_in_a_streams_first_minute_takes_the_newest_filling_window(spark, tmp_path):
    # Events from 10:00:05 to 10:00:08 only: every window holding them ends after 10:00:08.
    lake = str(tmp_path / "lake")
    q = GoldQueries(lake)
    stream = ("s1", "live", "t", "c", "en", at(10, 0, 5), at(10, 0, 8))
    windows = [
        ("s1", at(9, 59, 50), at(10, 0, 50), 44.0, 46, 45, 3, 2, 0.0, 0, 0, None, 0, None),
        ("s1", at(10, 0, 0), at(10, 1, 0), 44.0, 46, 45, 3, 2, 0.0, 0, 0, None, 0, None),
    ]
    write_one_stream(spark, lake, stream, windows)
    row = q.live_snapshot("s1").iloc[0]
    assert (row["window_start"], row["window_complete"]) == (ts(10, 0), False)
    assert (row["chat_count"], row["viewers"]) == (3, 45)
