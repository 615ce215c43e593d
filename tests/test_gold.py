"""Gold transforms (pipelines/transforms/gold.py, pipelines/transforms/gold_moments.py) on
tiny inline frames.

Expected values are worked out by hand in the comments. Window geometry in the moment
tests: 60 s windows sliding 10 s, baseline 120 s, so the baseline of the window starting
at s covers the windows starting in [s - 180, s - 60): 12 windows once history is long
enough (chat spikes: 30 s windows, so [s - 150, s - 30)). ``w(i)`` is the window starting
at T0 + 10 i seconds.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import StructType
from spark_schemas import (
    CHAT_MESSAGES,
    CHAT_SUMMARY_MINUTE,
    MOMENTS,
    STREAM_HOUR_METRICS,
    STREAM_META,
    STREAM_MINUTE_METRICS,
    TRANSACTIONS,
    TRANSACTIONS_MINUTE,
    VIEWER_COUNTS,
    VIEWER_TIMESERIES,
)

from pipelines.jobs import params
from pipelines.transforms.chat_signals import chat_signal_windows
from pipelines.transforms.gold import (
    chatter_spans,
    join_minute_metrics,
    latest_stream_state,
    rollup_hours,
    summarize_broadcasts,
)
from pipelines.transforms.gold_moments import (
    MomentRules,
    chat_spike_flags,
    detect_moments,
    enrich_moment_context,
    explode_flagged_windows,
    merge_moment_windows,
    moment_scope,
    with_trailing_baseline,
)

UTC = timezone.utc
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def w(i: int) -> datetime:
    return T0 + timedelta(seconds=10 * i)


def epoch(value: datetime) -> float:
    """Collected timestamps are naive local time; .timestamp() reads them back as such."""
    return value.timestamp()


@pytest.fixture
def rules(settings) -> MomentRules:
    return replace(
        params.moment_rules(settings),
        window_seconds=60,
        slide_seconds=10,
        baseline_seconds=120,
        min_baseline_windows=12,
        chat_z=4.0,
        chat_min_count=30,
        viewer_jump_ratio=0.3,
        viewer_min_jump=100,
        revenue_z=4.0,
        revenue_min=50.0,
        sentiment_z=4.0,
        sentiment_min_messages=30,
        sentiment_std_floor=0.05,
        merge_gap_seconds=10,
        top_emotes=2,
        sample_messages=3,
        chat_window_seconds=30,
        chat_min_seconds=10,
        fresh_gap_seconds=30,  # the least the settings allow: the chat window
        reaction_lag_seconds=15,
    )


def metric(stream, i, chat=0, avg=None, peak=None, revenue="0", sentiment=None):
    """A stream_minute_metrics row for window w(i)."""
    return (stream, w(i), w(i) + timedelta(seconds=60), avg, peak, peak, chat, chat, sentiment,
            0, 0, [], 0, Decimal(revenue))  # fmt: skip


def metrics_df(spark, rows):
    return spark.createDataFrame(rows, STREAM_MINUTE_METRICS)


def chat(stream, at, user, message, emotes, event_id=None):
    return (event_id or f"{stream}-{at.isoformat()}-{user}", stream, at, user, user, message,
            emotes, [], 0.0, "t", 0, 0, at)  # fmt: skip


def no_chat(spark):
    return spark.createDataFrame([], CHAT_MESSAGES)


def flagged(spark, rows, rules):
    out = metrics_df(spark, rows).transform(with_trailing_baseline, rules)
    return out.transform(explode_flagged_windows, rules)


def money_series(stream, bursts: dict[int, int], last=22):
    """Revenue 20 in every window up to ``last`` except the ``bursts`` {index: revenue}."""
    return [metric(stream, i, revenue=str(bursts.get(i, 20))) for i in range(last + 1)]


# ---- baseline and flags (metric kinds) ---------------------------------------------------------
def test_revenue_z_against_trailing_baseline(spark, rules):
    # w(0..11) alternate 10, 30 (mean 20, population std 10), w(12..17) are 20, then
    # w(18) = 60 with baseline w(0..11): z = (60 - 20) / max(10, sqrt(20), 1) = 4.0, flagged.
    # Stream b is the same with 59: z = 3.9, not flagged.
    base = [10 if i % 2 == 0 else 30 for i in range(12)] + [20] * 6
    rows = [metric(s, i, revenue=str(c)) for s in "ab" for i, c in enumerate(base)]
    rows += [metric("a", 18, revenue="60"), metric("b", 18, revenue="59")]
    stats = {
        (r.stream_id, epoch(r.window_start)): r
        for r in metrics_df(spark, rows).transform(with_trailing_baseline, rules).collect()
    }
    at18 = stats[("a", epoch(w(18)))]
    assert (at18.base_revenue_n, at18.base_revenue_mean, at18.base_revenue_std) == (12, 20.0, 10.0)
    # w(17): baseline starts in [-10, 110) -> w(0..10), eleven windows.
    assert stats[("a", epoch(w(17)))].base_revenue_n == 11

    flags = flagged(spark, rows, rules).collect()
    assert [(f.stream_id, f.kind, epoch(f.window_start)) for f in flags] == [
        ("a", "revenue_burst", epoch(w(18)))
    ]
    assert flags[0].score == pytest.approx(4.0)
    assert (flags[0].value, flags[0].baseline_mean, flags[0].baseline_std) == (60.0, 20.0, 10.0)


def test_min_baseline_windows_respected(spark, rules):
    # w(11)'s baseline: starts in [-70, 50) -> w(0..4), five windows of 10 (std 0):
    # z = (100 - 10) / sqrt(10) = 28.5. Flagged with a minimum of 5, not with 6.
    rows = [metric("a", i, revenue="10") for i in range(11)] + [metric("a", 11, revenue="100")]
    five = flagged(spark, rows, replace(rules, min_baseline_windows=5)).collect()
    assert [(f.kind, epoch(f.window_start)) for f in five] == [("revenue_burst", epoch(w(11)))]
    assert five[0].score == pytest.approx(90 / 10**0.5)
    assert flagged(spark, rows, replace(rules, min_baseline_windows=6)).collect() == []


# ---- moments --------------------------------------------------------------------------------
def test_consecutive_flags_merge_into_one_moment(spark, rules):
    # Baseline all 20 (std 0, floor sqrt(20)): w(18..20) = 50, 80, 60 all flagged, one
    # moment from w(18) to w(20) + 60 s peaking at w(19), score 60 / sqrt(20).
    moments = detect_moments(
        metrics_df(spark, money_series("a", {18: 50, 19: 80, 20: 60})), no_chat(spark), rules
    ).collect()
    assert len(moments) == 1
    m = moments[0]
    assert (m.stream_id, m.kind) == ("a", "revenue_burst")
    assert (epoch(m.start_ts), epoch(m.end_ts)) == (epoch(w(18)), epoch(w(20)) + 60)
    assert (epoch(m.peak_ts), m.peak_value) == (epoch(w(19)), 80.0)
    assert m.score == pytest.approx(60 / 20**0.5)
    assert (m.baseline_mean, m.baseline_std) == (20.0, 0.0)
    assert (m.top_emotes, m.sample_messages) == ([], [])


def test_gap_within_merge_gap_joins_wider_gap_splits(spark, rules):
    # Flags 20 s apart (= slide 10 + merge gap 10) join; 30 s apart stay two moments.
    joined = detect_moments(
        metrics_df(spark, money_series("a", {18: 60, 20: 60})), no_chat(spark), rules
    ).collect()
    assert [(epoch(m.start_ts), epoch(m.end_ts)) for m in joined] == [
        (epoch(w(18)), epoch(w(20)) + 60)
    ]
    split = detect_moments(
        metrics_df(spark, money_series("a", {18: 60, 21: 60})), no_chat(spark), rules
    ).collect()
    assert sorted((epoch(m.start_ts), epoch(m.end_ts)) for m in split) == [
        (epoch(w(18)), epoch(w(18)) + 60),
        (epoch(w(21)), epoch(w(21)) + 60),
    ]


def test_moment_id_stable_and_distinct(spark, rules):
    series = metrics_df(spark, money_series("a", {18: 60, 21: 60}))
    first = {
        epoch(m.start_ts): m.moment_id
        for m in detect_moments(series, no_chat(spark), rules).collect()
    }
    again = {
        epoch(m.start_ts): m.moment_id
        for m in detect_moments(series, no_chat(spark), rules).collect()
    }
    assert first == again
    assert len(set(first.values())) == 2
    micros = int(w(18).timestamp()) * 1_000_000
    assert first[epoch(w(18))] == hashlib.sha256(f"a|revenue_burst|{micros}".encode()).hexdigest()


def test_raid(spark, rules):
    # Baseline avg viewers 500; w(18) peaks at 800 >= 500 * 1.3 and jumps 300 >= 100:
    # a raid scored 300 / 500 = 0.6. Stream b peaks at 640 < 650: no raid.
    rows = [metric(s, i, avg=500.0, peak=520) for s in "ab" for i in range(18)]
    rows += [metric("a", 18, avg=700.0, peak=800), metric("b", 18, avg=600.0, peak=640)]
    moments = detect_moments(metrics_df(spark, rows), no_chat(spark), rules).collect()
    assert [(m.stream_id, m.kind) for m in moments] == [("a", "raid")]
    assert (moments[0].peak_value, moments[0].baseline_mean) == (800.0, 500.0)
    assert moments[0].score == pytest.approx(0.6)


def test_revenue_burst_needs_the_minimum(spark, rules):
    # Baseline revenue alternates 0 and 10 (mean 5, std 5 > sqrt(5)): w(18) = 60 gives
    # z = 11, a burst; stream b's 45 has z = 8 but is under the 50 minimum.
    base = ["0" if i % 2 == 0 else "10" for i in range(12)] + ["5"] * 6
    rows = [metric(s, i, revenue=r) for s in "ab" for i, r in enumerate(base)]
    rows += [metric("a", 18, revenue="60"), metric("b", 18, revenue="45")]
    moments = detect_moments(metrics_df(spark, rows), no_chat(spark), rules).collect()
    assert [(m.stream_id, m.kind) for m in moments] == [("a", "revenue_burst")]
    assert moments[0].score == pytest.approx(11.0)
    assert (moments[0].baseline_mean, moments[0].baseline_std) == (5.0, 5.0)


def test_sentiment_swing(spark, rules):
    # Baseline sentiment 0.1 (std 0 -> floor 0.05); w(18) at -0.3 with 40 messages:
    # |z| = 0.4 / 0.05 = 8.
    rows = [metric("a", i, chat=40, sentiment=0.1) for i in range(18)]
    rows.append(metric("a", 18, chat=40, sentiment=-0.3))
    moments = detect_moments(metrics_df(spark, rows), no_chat(spark), rules).collect()
    assert [(m.kind, m.peak_value) for m in moments] == [("sentiment_swing", -0.3)]
    assert moments[0].score == pytest.approx(8.0)


def test_moment_context_top_emotes_and_samples(spark, rules):
    # Chat spike on a: [w(18), w(20) + 60 s) = [12:03:00, 12:04:20). Messages inside: 7;
    # one before the start and one exactly at the end are outside. Kappa x4, Pog x4, LUL
    # x1 -> top 2 (Kappa 4, Pog 4: a tie, by name). Samples: the most repeated texts
    # ("pog pog" and "kappa" twice each, in the case first typed), then by time.
    # Sentiment swing on b (a drop: peak -0.3 under baseline 0.1): the most negative first.
    start = w(18)
    at = lambda s: start + timedelta(seconds=s)  # noqa: E731
    msgs = [
        chat("a", at(-1), "u0", "too early Kappa", ["Kappa"]),
        chat("a", at(1), "u1", "hello", []),
        chat("a", at(2), "u2", "Pog Pog", ["Pog", "Pog"]),
        chat("a", at(3), "u3", "Kappa LUL", ["Kappa", "LUL"]),
        chat("a", at(50), "u4", "Kappa", ["Kappa"]),
        chat("a", at(55), "u8", "KAPPA", ["Kappa"]),
        chat("a", at(60), "u5", "Kappa again", ["Kappa"]),
        chat("a", at(61), "u9", "pog   pog", ["Pog", "Pog"]),
        chat("a", w(20) + timedelta(seconds=60), "u6", "too late Kappa", ["Kappa"]),
        chat("c", at(5), "u7", "other stream Kappa", ["Kappa"]),
    ]
    for i, mood in enumerate([-0.2, 0.5, -0.9, -0.5]):
        row = list(chat("b", at(i), f"v{i}", f"mood {mood}", []))
        row[8] = mood
        msgs.append(tuple(row))
    end = w(20) + timedelta(seconds=60)
    moments = [
        ("m1", "a", "chat_spike", start, end, start, 60.0, 4.0, 20.0, 1.0),
        ("m2", "b", "sentiment_swing", start, end, start, -0.3, 8.0, 0.1, 0.0),
    ]
    bare = StructType([f for f in MOMENTS if f.name not in ("top_emotes", "sample_messages")])
    got = {
        m.moment_id: m
        for m in enrich_moment_context(
            spark.createDataFrame(moments, bare), spark.createDataFrame(msgs, CHAT_MESSAGES), rules
        ).collect()
    }
    assert [(e.emote, e["count"]) for e in got["m1"].top_emotes] == [("Kappa", 4), ("Pog", 4)]
    assert got["m1"].sample_messages == ["Pog Pog", "Kappa", "hello"]
    assert got["m2"].sample_messages == ["mood -0.9", "mood -0.5", "mood -0.2"]


# ---- chat spikes: signals, robust z, reaction length and lag ----------------------------------
def test_chat_signal_windows_by_definition(spark):
    # 30-s windows sliding 10 s, fresh after 600 s of silence. Stream a, seconds from T0:
    #   -700 u1 "hi"            (u1's earlier message: 700 s before -> u1 fresh at 1)
    #   -100 u2 "hi"            (u2 spoke 100 s before 2 -> not fresh at 2)
    #      1 u1 "LETS GOOOO"     -> "lets goo"
    #      2 u2 "lets   gooo"    -> "lets goo"
    #      3 u3 "Lets Goooooo"   -> "lets goo"  (3 chatters: a chorus of 3 so far)
    #      4 u1 "LETS GOOO"      -> "lets goo"  (4 chorus messages, still 3 chatters)
    #  5, 6, 7 u4, u5, u6 the same 34-character line: 3 chatters, but too long for a chorus
    #     12 u3 "Lets Gooo"      -> "lets goo"  (u3 again, in the next pane: still 3 chatters)
    #     15 u2 "W"              (one chatter: no chorus)
    # Window [0, 30): 5 + 3 + 1 = 9 messages, chatters u1..u6 = 6 (u3 once), chorus 5,
    # fresh: u1, u3, u4, u5, u6 = 5 (u2's previous message is 100 s before), chars
    # 10 + 11 + 12 + 9 + 3 * 34 + 9 + 1 = 154.
    # Window [-10, 20): the same 9 messages (1 to 15).
    # Window [-20, 10): without 12 and 15: 7 messages, 6 chatters, chorus 4, chars 144.
    # Window [10, 40): u3 at 12 and "W": 2 messages, 2 chatters, no chorus (one chatter
    # of "lets goo"), chars 10, none fresh (u3 spoke at 3, u2 at 2).
    line = "this is a much longer line of text"
    assert len(line) == 34
    at = lambda s: T0 + timedelta(seconds=s)  # noqa: E731
    msgs = [
        chat("a", at(-700), "u1", "hi", []),
        chat("a", at(-100), "u2", "hi", []),
        chat("a", at(1), "u1", "LETS GOOOO", []),
        chat("a", at(2), "u2", "lets   gooo", []),
        chat("a", at(3), "u3", "Lets Goooooo", []),
        chat("a", at(4), "u1", "LETS GOOO", []),
        *[chat("a", at(4 + i), f"u{3 + i}", line, []) for i in (1, 2, 3)],
        chat("a", at(12), "u3", "Lets Gooo", []),
        chat("a", at(15), "u2", "W", []),
    ]
    got = {
        epoch(r.window_start) - T0.timestamp(): (r.messages, r.chatters, r.chorus_messages,
                                                 r.message_chars, r.fresh_chatters)
        for r in chat_signal_windows(spark.createDataFrame(msgs, CHAT_MESSAGES), 30, 10, 600)
        .collect()
    }  # fmt: skip
    assert got[0] == (9, 6, 5, 154, 5)
    assert got[-10] == (9, 6, 5, 154, 5)
    assert got[-20] == (7, 6, 4, 144, 5)
    assert got[10] == (2, 2, 0, 10, 0)
    # Window [-100, -70): u2's first "hi", so u2 is fresh there.
    assert got[-100] == (1, 1, 0, 2, 1)


SIGNALS = (
    "stream_id string, window_start timestamp, window_end timestamp, messages long, "
    "chatters long, chorus_messages long, message_chars long, fresh_chatters long"
)


def signal(stream, i, messages, chorus, chars, chatters, fresh):
    return (stream, w(i), w(i) + timedelta(seconds=30), messages, chatters, chorus, chars, fresh)


def test_chat_spike_needs_more_chat_and_chat_of_another_kind(spark, rules):
    # Baseline w(0..14): messages alternate 20, 40; a fifth of them chorus, 20 characters
    # each, half as many chatters (10, 20), half of those fresh. w(15)'s baseline is
    # w(0..11) (window starts in [w(0), w(12))): six 10s and six 20s of chatters, quartiles
    # (linear) 10, 15, 20, so median 15 and spread 10 / 1.349 = 7.413 > sqrt(15).
    # a: 80 messages from 40 chatters, chorus half, 10 characters each, fresh half:
    #    z chatters = 25 / 7.413 = 3.372; z chorus = 0.3 / sqrt(0.2 * 0.8 / 80) = 6.708;
    #    z short = 10 / 0.5 = 20; z fresh = 0; kind = 26.708 / sqrt 3 = 15.42;
    #    score = min(3.372, 15.42) = 3.372 >= 3: flagged.
    # b: the same from 35 chatters: z chatters = 20 / 7.413 = 2.698, not flagged.
    # c: 80 messages of ordinary chat (the baseline's shares): kind z 0, not flagged.
    # d: an emote train, 160 messages (z messages 130 / 14.826 = 8.8) from 20 chatters
    #    (z 0.67): a few typing fast are not a spike.
    rules = replace(rules, chat_z=3.0, chat_min_count=15)
    rows = [
        signal(s, i, m, m // 5, 20 * m, m // 2, m // 4)
        for s in "abcd"
        for i, m in enumerate([20, 40] * 7 + [20])
    ]
    rows += [
        signal("a", 15, 80, 40, 800, 40, 20),
        signal("b", 15, 80, 40, 800, 35, 20),
        signal("c", 15, 80, 16, 1600, 40, 20),
        signal("d", 15, 160, 150, 1600, 20, 10),
    ]
    flags = chat_spike_flags(spark.createDataFrame(rows, SIGNALS), rules).collect()
    assert [(f.stream_id, f.kind, epoch(f.window_start)) for f in flags] == [
        ("a", "chat_spike", epoch(w(15)))
    ]
    assert flags[0].score == pytest.approx(25 / (10 / 1.349))
    assert flags[0].value == 80.0
    assert flags[0].baseline_mean == 30.0
    assert flags[0].baseline_std == pytest.approx(20 / 1.349)


def test_chat_spike_must_last_and_starts_a_reaction_lag_early(spark, rules):
    # a: chat_spike flags at w(10), w(11) (30-s windows): 10 s from first to last flagged
    # window, kept, starting 15 s before w(10). b: one flagged window, dropped. c: a
    # revenue burst of one window: other kinds need no length and have no lag.
    def flag(stream, kind, i, length):
        return (stream, w(i), w(i) + timedelta(seconds=length), kind, 50.0, 5.0, 20.0, 4.0)

    rows = [flag("a", "chat_spike", 10, 30), flag("a", "chat_spike", 11, 30),
            flag("b", "chat_spike", 10, 30), flag("c", "revenue_burst", 10, 60)]  # fmt: skip
    schema = (
        "stream_id string, window_start timestamp, window_end timestamp, kind string, "
        "value double, score double, baseline_mean double, baseline_std double"
    )
    got = {
        m.stream_id: m
        for m in merge_moment_windows(spark.createDataFrame(rows, schema), rules).collect()
    }
    assert sorted(got) == ["a", "c"]
    a = got["a"]
    assert (epoch(a.start_ts), epoch(a.end_ts)) == (epoch(w(10)) - 15, epoch(w(11)) + 30)
    micros = int(w(10).timestamp()) * 1_000_000
    assert a.moment_id == hashlib.sha256(f"a|chat_spike|{micros}".encode()).hexdigest()
    assert (epoch(got["c"].start_ts), epoch(got["c"].end_ts)) == (epoch(w(10)), epoch(w(10)) + 60)


def _ordinary_and_reactions(late: bool):
    """Stream a: one message a second from ten regulars (each its own text), a reaction
    (three new chatters a second typing POGGERS) in seconds 300-329 and, when ``late``
    has arrived, another in 345-374."""
    at = lambda s: T0 + timedelta(seconds=s)  # noqa: E731
    msgs = [chat("a", at(t), f"u{t % 10}", f"ordinary message number {t}", []) for t in range(600)]
    bursts = [range(300, 330)] + ([range(345, 375)] if late else [])
    msgs += [
        chat("a", at(t), f"r{t}-{j}", "POGGERS", []) for b in bursts for t in b for j in range(3)
    ]
    return msgs


def test_chat_spike_scoped_recompute_equals_full_rebuild(spark, rules):
    # Late chat (a second reaction) arrives after the first was detected; recomputing the
    # scope of the change, with the chat the scope reaches back to, must give exactly the
    # moments a full rebuild gives, though the reaction lag moves start_ts before the scope.
    rules = replace(rules, fresh_gap_seconds=60)
    metrics = metrics_df(spark, [])
    old_chat = spark.createDataFrame(_ordinary_and_reactions(False), CHAT_MESSAGES)
    new_chat = spark.createDataFrame(_ordinary_and_reactions(True), CHAT_MESSAGES)
    old = detect_moments(metrics, old_chat, rules)
    assert [m.kind for m in old.collect()] == ["chat_spike"]
    t0 = int(T0.timestamp())
    # The metric windows the late chat touched: starts in [345 - 50, 374].
    changes = spark.createDataFrame(
        [("a", t0 + 295, t0 + 374)], "stream_id string, lo_s long, hi_s long"
    )
    scope = moment_scope(changes, old, rules).filter(F.col("kind") == "chat_spike")
    lo, hi = scope.select(F.min("scope_lo"), F.max("scope_hi")).first()
    near = F.unix_seconds("ts").between(lo - rules.reach_seconds, hi + rules.window_seconds)
    fresh = detect_moments(metrics, new_chat.filter(near), rules, scope=scope)
    lag = rules.reaction_lag_seconds
    in_scope = (F.unix_seconds("start_ts") + lag).between(F.col("scope_lo"), F.col("scope_hi"))
    kept = (
        old.join(scope, on=["stream_id", "kind"], how="left")
        .filter(F.col("scope_lo").isNull() | ~in_scope)
        .select(*MOMENTS.names)
    )
    upserted = sorted(kept.unionByName(fresh).collect())
    full = sorted(detect_moments(metrics, new_chat, rules).collect())
    assert full != sorted(old.collect())
    assert upserted == full


def test_moments_schema_is_the_contract(spark, rules):
    out = detect_moments(metrics_df(spark, money_series("a", {})), no_chat(spark), rules)
    assert [(f.name, f.dataType) for f in out.schema] == [(f.name, f.dataType) for f in MOMENTS]


def test_scoped_recompute_equals_full_rebuild(spark, rules):
    # Viewers 100, then 1000 from w(18): a raid while 1000 >= 1.3 x baseline mean, i.e.
    # while at most 8 of the 12 baseline windows are raised: w(18..32), one moment.
    # A late revision drops w(28) to 100: no merge gap (0), so w(18..27) and w(29..32).
    # Its scope must reach back to the old moment's start w(18): recomputing only from
    # w(28) - 10 s would leave the old w(18..32) moment beside the new pieces.
    rules = replace(rules, merge_gap_seconds=0)

    def series(dip: bool):
        level = {i: 100 if i < 18 or (dip and i == 28) else 1000 for i in range(41)}
        return metrics_df(spark, [metric("a", i, avg=float(v), peak=v) for i, v in level.items()])

    old = detect_moments(series(False), no_chat(spark), rules)
    assert [(epoch(m.start_ts), epoch(m.end_ts)) for m in old.collect()] == [
        (epoch(w(18)), epoch(w(32)) + 60)
    ]
    t28 = int(w(28).timestamp())
    changes = spark.createDataFrame([("a", t28, t28)], "stream_id string, lo_s long, hi_s long")
    scope = moment_scope(changes, old, rules)
    # Changed flags reach w(28) + 210 s (baseline 120 + window 60 + the 30-s fresh gap);
    # islands within 10 s of [w(28), w(49)] may change.
    hi = int(w(50).timestamp())
    assert {(s.kind, s.scope_lo, s.scope_hi) for s in scope.collect()} == {
        ("raid", int(w(18).timestamp()), hi),
        *((k, int(w(27).timestamp()), hi)
          for k in ("chat_spike", "revenue_burst", "sentiment_swing")),
    }  # fmt: skip

    fresh = detect_moments(series(True), no_chat(spark), rules, scope=scope)
    in_scope = F.unix_seconds("start_ts").between(F.col("scope_lo"), F.col("scope_hi"))
    kept = (
        old.join(scope, on=["stream_id", "kind"], how="left")
        .filter(F.col("scope_lo").isNull() | ~in_scope)
        .select(*MOMENTS.names)
    )
    upserted = sorted(kept.unionByName(fresh).collect())
    full = sorted(detect_moments(series(True), no_chat(spark), rules).collect())
    assert [(epoch(m.start_ts), epoch(m.end_ts)) for m in full] == [
        (epoch(w(18)), epoch(w(27)) + 60),
        (epoch(w(29)), epoch(w(32)) + 60),
    ]
    assert upserted == full


# ---- stream_minute_metrics ------------------------------------------------------------------
def test_minute_metrics_full_outer_join_fills_missing_parts(spark):
    # Chat in w(0), w(1); viewers in w(0), w(2); sales in w(1) only.
    end = {i: w(i) + timedelta(seconds=60) for i in range(3)}
    chat_rows = [
        ("s", w(0), end[0], 5, 3, [("Kappa", 2)], 0.5, 2, 1),
        ("s", w(1), end[1], 7, 4, [], -0.2, 1, 3),
    ]
    viewer_rows = [
        ("s", w(0), end[0], 100.0, 90, 110, 105, 6),
        ("s", w(2), end[2], 50.0, 40, 60, 45, 6),
    ]
    money = Decimal
    tx_rows = [("s", w(1), end[1], 2, money("9.99"), 1, money("4.99"), 0, money("0"), 0,
                money("0"), 1, money("5.00"), "USD")]  # fmt: skip
    out = join_minute_metrics(
        spark.createDataFrame(chat_rows, CHAT_SUMMARY_MINUTE),
        spark.createDataFrame(viewer_rows, VIEWER_TIMESERIES),
        spark.createDataFrame(tx_rows, TRANSACTIONS_MINUTE),
    )
    assert out.schema.names == STREAM_MINUTE_METRICS.names
    got = sorted(
        (tuple(epoch(v) if isinstance(v, datetime) else v for v in r) for r in out.collect()),
        key=lambda r: r[1],
    )
    zero = money("0.00")
    assert got == [
        (
            "s",
            epoch(w(0)),
            epoch(end[0]),
            100.0,
            110,
            105,
            5,
            3,
            0.5,
            2,
            1,
            [("Kappa", 2)],
            0,
            zero,
        ),
        ("s", epoch(w(1)), epoch(end[1]), None, None, None, 7, 4, -0.2, 1, 3, [], 2, money("9.99")),
        ("s", epoch(w(2)), epoch(end[2]), 50.0, 60, 45, 0, 0, None, 0, 0, [], 0, zero),
    ]


def test_hour_rollup_keeps_the_parts_of_each_average(spark):
    money = Decimal

    def metric(stream, start, avg, mx, chat, sentiment, tx, revenue):
        return (stream, start, start + timedelta(seconds=60), avg, mx, mx, chat, chat,
                sentiment, 0, 0, [], tx, money(revenue))  # fmt: skip

    rows = [
        metric("s", w(-1), 10.0, 12, 3, 0.1, 0, "0"),  # 11:59:50: hour 11, not tiling
        metric("s", w(0), 100.0, 110, 5, 0.5, 1, "9.99"),  # 12:00:00 tiling
        metric("s", w(1), 102.0, 120, 8, -0.5, 1, "5.00"),  # 12:00:10
        metric("s", w(6), None, None, 2, None, 2, "1.01"),  # 12:01:00 tiling, no viewers
        metric("s", w(359), 50.0, 55, 1, 0.0, 0, "0"),  # 12:59:50
        metric("t", w(180), 7.0, 7, 4, 0.25, 0, "0"),  # 12:30:00 tiling
    ]
    out = rollup_hours(spark.createDataFrame(rows, STREAM_MINUTE_METRICS))
    assert [(f.name, f.dataType) for f in out.schema] == [
        (f.name, f.dataType) for f in STREAM_HOUR_METRICS
    ]
    got = {(r.stream_id, epoch(r.hour_start)): r for r in out.collect()}
    noon, eleven = epoch(T0), epoch(T0 - timedelta(hours=1))
    assert sorted(got) == [("s", eleven), ("s", noon), ("t", noon)]
    s12 = got[("s", noon)]
    assert (s12.windows, epoch(s12.first_window_start), epoch(s12.last_window_end)) == (
        4,
        epoch(w(0)),
        epoch(w(359) + timedelta(seconds=60)),
    )
    # Viewers over the three windows that have them: 100 + 102 + 50 = 252.
    assert (s12.max_viewers, s12.avg_viewers_sum, s12.avg_viewers_windows) == (
        120,
        money("252.000000"),
        3,
    )
    # Tiling 12:00:00 and 12:01:00: 5 + 2 messages, 1 + 2 sales, 9.99 + 1.01; sentiment
    # only where known: 0.5 * 5 over 5 messages.
    assert (s12.max_chat_count, s12.chat_count, s12.tx_count, s12.revenue) == (
        8,
        7,
        3,
        money("11.00"),
    )
    assert (s12.sentiment_sum, s12.sentiment_messages) == (money("2.500000"), 5)
    s11 = got[("s", eleven)]
    assert (s11.windows, s11.max_viewers, s11.chat_count, s11.revenue) == (1, 12, 0, money("0"))
    assert (s11.sentiment_sum, s11.sentiment_messages) == (None, 0)
    t12 = got[("t", noon)]
    assert (t12.chat_count, t12.sentiment_sum, t12.sentiment_messages) == (4, money("1.000000"), 4)


# ---- stream_summary and streams ------------------------------------------------------------
def at(hour: int, minute: int, second: int = 0) -> datetime:
    return T0.replace(hour=hour, minute=minute, second=second)


def meta(stream, ts, status, title=None, category=None, language=None, started_at=None):
    return (f"{stream}-m-{ts.isoformat()}", stream, ts, status, title, category, language,
            started_at, "t", 0, 0, ts)  # fmt: skip


def viewer(stream, ts, count):
    return (f"{stream}-v-{ts.isoformat()}", stream, ts, count, "t", 0, 0, ts)


def sale(stream, ts, amount):
    money = Decimal(amount)
    return (f"{stream}-x-{ts.isoformat()}", stream, ts, "u", "donation", money, "USD", None,
            None, money, "t", 0, 0, ts)  # fmt: skip


def moment_at(stream, start):
    return (f"m-{start.isoformat()}", stream, "chat_spike", start, start + timedelta(seconds=60),
            start, 1.0, 1.0, 0.0, 0.0, [], [])  # fmt: skip


def broadcast_id(stream, start):
    micros = int(start.timestamp()) * 1_000_000
    return hashlib.sha256(f"{stream}|{micros}".encode()).hexdigest()


def test_stream_summary_per_broadcast(spark):
    # Broadcasts of s: events before the first live start (09:55, 09:58) form one starting
    # at the first event and ending at the live start; 10:00 live until offline at 10:30
    # (chat at 10:40 after offline still belongs to it); 11:00 live (title changed at 11:20
    # under the same started_at), open. u1 chats twice in the 10:00 broadcast: 4 chatters,
    # all first-time; in the evening u1 and u9 are back (returning), nobody is new.
    metas = [
        meta("s", at(10, 0, 5), "live", "Morning", "Chess", "en", at(10, 0)),
        meta("s", at(10, 30), "offline"),
        meta("s", at(11, 0, 3), "live", "Evening", "Chess", "en", at(11, 0)),
        meta("s", at(11, 20), "live", "Evening 2", "Just Chatting", "en", at(11, 0)),
    ]
    chats = [
        chat("s", at(9, 55), "u9", "early", []),
        chat("s", at(10, 1), "u1", "hi Kappa", ["Kappa"]),
        chat("s", at(10, 10), "u2", "Kappa Pog", ["Kappa", "Pog"]),
        chat("s", at(10, 20), "u1", "Pog", ["Pog"]),
        chat("s", at(10, 29), "u3", "LUL", ["LUL"]),
        chat("s", at(10, 40), "u4", "bye Pog", ["Pog"]),
        chat("s", at(11, 1), "u1", "back", []),
        chat("s", at(11, 2), "u9", "me too", []),
    ]
    viewers = [viewer("s", at(9, 58), 10)] + [
        viewer("s", at(10, m), n) for m, n in ((1, 100), (15, 300), (29, 200))
    ]
    sales = [sale("s", at(10, 5), "5.00"), sale("s", at(10, 25), "10.50")]
    moments = [moment_at("s", at(10, 10)), moment_at("s", at(11, 5)), moment_at("s", at(11, 10))]
    chat_rows = spark.createDataFrame(chats, CHAT_MESSAGES)
    out = summarize_broadcasts(
        spark.createDataFrame(metas, STREAM_META),
        chat_rows,
        spark.createDataFrame(viewers, VIEWER_COUNTS),
        spark.createDataFrame(sales, TRANSACTIONS),
        spark.createDataFrame(moments, MOMENTS),
        chatter_spans(chat_rows),
        top_emotes=2,
    )
    got = {r.broadcast_id: r for r in out.collect()}
    pre, morning, evening = (broadcast_id("s", t) for t in (at(9, 55), at(10, 0), at(11, 0)))
    assert set(got) == {pre, morning, evening}

    def summary(r):
        return (epoch(r.started_at), r.ended_at and epoch(r.ended_at), r.title, r.category,
                r.peak_viewers, r.avg_viewers, r.messages, r.unique_chatters, r.revenue,
                [(e.emote, e["count"]) for e in r.top_emotes], r.moment_count,
                r.first_time_chatters, r.returning_chatters)  # fmt: skip

    assert summary(got[pre]) == (
        epoch(at(9, 55)), epoch(at(10, 0)), None, None, 10, 10.0, 1, 1,
        Decimal("0.00"), [], 0, 1, 0,
    )  # fmt: skip
    assert summary(got[morning]) == (
        epoch(at(10, 0)), epoch(at(10, 30)), "Morning", "Chess", 300, 200.0, 5, 4,
        Decimal("15.50"), [("Pog", 3), ("Kappa", 2)], 1, 4, 0,
    )  # fmt: skip
    assert summary(got[evening]) == (
        epoch(at(11, 0)), None, "Evening 2", "Just Chatting", None, None, 2, 2,
        Decimal("0.00"), [], 2, 0, 2,
    )  # fmt: skip


def test_chatters_keep_each_users_first_message(spark):
    # Chat arrives in any order; a message without a user names no chatter.
    chats = [
        chat("s", at(10, 5), "u1", "later", []),
        chat("s", at(10, 1), "u1", "first", []),
        chat("s", at(10, 3), "u2", "hi", []),
        chat("t", at(9, 0), "u1", "other stream", []),
        chat("s", at(10, 0), None, "anonymous", []),
    ]
    rows = chatter_spans(spark.createDataFrame(chats, CHAT_MESSAGES)).collect()
    assert {(r.stream_id, r.user_id, epoch(r.first_ts)) for r in rows} == {
        ("s", "u1", epoch(at(10, 1))),
        ("s", "u2", epoch(at(10, 3))),
        ("t", "u1", epoch(at(9, 0))),
    }


def test_streams_latest_metadata(spark):
    # s went offline (the offline event has no title: the last known one stays); t has only
    # a watermark; u is live without one.
    metas = [
        meta("s", at(10, 0, 5), "live", "Morning", "Chess", "en", at(10, 0)),
        meta("s", at(10, 30), "offline"),
        meta("u", at(10, 0), "live", "U live", "Art", "de", at(9, 59)),
    ]
    last = spark.createDataFrame(
        [("s", at(10, 40)), ("t", at(8, 0))], "stream_id string, last_event_ts timestamp"
    )
    rows = latest_stream_state(spark.createDataFrame(metas, STREAM_META), last).collect()

    def state(r):
        times = (r.started_at, r.last_event_ts)
        return (r.status, r.title, r.category, r.language, *(t and epoch(t) for t in times))

    got = {r.stream_id: state(r) for r in rows}
    assert got == {
        "s": ("offline", "Morning", "Chess", "en", epoch(at(10, 0)), epoch(at(10, 40))),
        "t": (None, None, None, None, None, epoch(at(8, 0))),
        "u": ("live", "U live", "Art", "de", epoch(at(9, 59)), None),
    }
