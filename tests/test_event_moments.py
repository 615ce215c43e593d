"""Ground truth of the injected moments: each label matches what was injected, and only that.

Checked on a two-hour, three-channel run with thresholds from the spec (modest chat
spikes, x1.4 viewers, x10 revenue) and sentiment scored independently (VADER, and VADER words plus
conf/emote_sentiment.csv as silver does).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest
from event_helpers import START, between, emote_aware_scorer, parsed_run, ts_of
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

# Rough USD per unit, written by hand for the revenue check (not the generator's table).
USD_PER = {"USD": 1, "EUR": 1.1, "GBP": 1.25, "CAD": 0.73, "AUD": 0.65, "BRL": 0.2,
           "JPY": 0.0067, "SEK": 0.095, "PLN": 0.25, "MXN": 0.058}  # fmt: skip


@pytest.fixture(scope="module")
def long_run():
    """Three channels, two hours at 10 events/s."""
    return parsed_run(["alpha", "bravo", "charlie"], rate=10.0, minutes=120, seed=11)


def windows(long_run, kind):
    by_stream, truth, _ = long_run
    for row in truth:
        if row["kind"] == kind:
            start, end = ts_of({"ts": row["start"]}), ts_of({"ts": row["end"]})
            yield by_stream[row["stream_id"]], start, end


def rate_per_s(events, event_type, lo, hi) -> float:
    return len(between(events, event_type, lo, hi)) / (hi - lo).total_seconds()


def test_moments_are_spread_out_after_the_warmup(long_run):
    _, truth, _ = long_run
    by_stream = defaultdict(list)
    for row in truth:
        by_stream[row["stream_id"]].append(row)
    assert set(by_stream) == {"alpha", "bravo", "charlie"}
    assert {row["kind"] for row in truth} == {
        "chat_spike",
        "raid",
        "revenue_burst",
        "sentiment_swing",
    }
    for rows in by_stream.values():
        assert 8 <= len(rows) <= 12  # about one per 10 minutes after the first 12
        spans = [(ts_of({"ts": r["start"]}), ts_of({"ts": r["end"]})) for r in rows]
        assert spans[0][0] >= START + timedelta(minutes=12)
        assert spans[-1][1] <= START + timedelta(minutes=120)
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start - end >= timedelta(minutes=8)


def mean_length(chats) -> float:
    return sum(len(e["message"]) for e in chats) / len(chats)


def test_chat_spike_is_modest_more_chat_and_shorter(long_run):
    # Real highlights lift chat 1.5-4x at their peak for 20-90 s after a lag, not 60 z:
    # over the whole labelled span (lag and fade included, on top of chat's own bursts)
    # between 1.1x and 5x the five minutes before, and messages get shorter on average.
    found = 0
    for events, start, end in windows(long_run, "chat_spike"):
        before = between(events, "chat", start - timedelta(minutes=5), start)
        during = between(events, "chat", start, end)
        ratio = rate_per_s(events, "chat", start, end) / (len(before) / 300)
        assert 1.1 <= ratio <= 5.0, (start, ratio)
        assert mean_length(during) < mean_length(before), start
        found += 1
    assert found >= 3


def test_chat_per_second_is_overdispersed(long_run):
    # Real chat comes in bursts: per-second counts vary far more than a Poisson count
    # of the same mean (variance = mean) would. Minutes 20-30 of each stream.
    by_stream, _, _ = long_run
    for events in by_stream.values():
        lo = START + timedelta(minutes=20)
        seconds = [0] * 600
        for e in between(events, "chat", lo, lo + timedelta(minutes=10)):
            seconds[int((ts_of(e) - lo).total_seconds())] += 1
        mean = sum(seconds) / 600
        variance = sum((c - mean) ** 2 for c in seconds) / 600
        assert variance >= 2 * mean, (mean, variance)


def test_raid_lifts_viewers_but_not_chat_into_a_spike(long_run):
    found = 0
    for events, start, end in windows(long_run, "raid"):
        before = [
            e["viewer_count"]
            for e in between(events, "viewer", start - timedelta(minutes=5), start)
        ]
        during = [e["viewer_count"] for e in between(events, "viewer", start, end)]
        assert sum(during) / len(during) >= 1.4 * sum(before) / len(before)
        chat_before = rate_per_s(events, "chat", start - timedelta(minutes=5), start)
        # Raiders add 10-20% more chat; chat's own bursts move a 90-s span by up to ~1.6x.
        assert rate_per_s(events, "chat", start, end) < 2.0 * chat_before
        assert any("raid from" in e["message"] for e in between(events, "chat", start, end))
        found += 1
    assert found >= 3


def usd(events) -> float:
    return sum(e["amount"] * USD_PER[e["currency"]] for e in events)


def test_revenue_burst_is_ten_times_the_usual_minute(long_run):
    found = 0
    for events, start, end in windows(long_run, "revenue_burst"):
        before = between(events, "transaction", start - timedelta(minutes=10), start)
        per_minute_before = usd(before) / 10
        assert usd(between(events, "transaction", start, end)) >= 10 * per_minute_before
        found += 1
    assert found >= 3


@pytest.mark.parametrize("kind", ["chat_spike", "raid"])
def test_spikes_and_raids_move_sentiment_less_than_a_swing(long_run, kind):
    # Neutral reactions and raid greetings dilute chat's mood a little (by up to ~0.15);
    # a sentiment swing moves it by 0.3 or more (below).
    score = emote_aware_scorer()
    for events, start, end in windows(long_run, kind):
        before = between(events, "chat", start - timedelta(minutes=5), start)
        during = between(events, "chat", start, end)
        mean_before = sum(score(e["message"]) for e in before) / len(before)
        mean_during = sum(score(e["message"]) for e in during) / len(during)
        assert abs(mean_during - mean_before) < 0.2, (kind, start, mean_before, mean_during)


def test_sentiment_swing_moves_emote_aware_sentiment(long_run):
    score = emote_aware_scorer()
    for events, start, end in windows(long_run, "sentiment_swing"):
        before = between(events, "chat", start - timedelta(minutes=5), start)
        during = between(events, "chat", start, end)
        mean_before = sum(score(e["message"]) for e in before) / len(before)
        mean_during = sum(score(e["message"]) for e in during) / len(during)
        assert abs(mean_during - mean_before) >= 0.3


def test_sentiment_swing_moves_vader_sentiment_at_a_normal_rate(long_run):
    vader = SentimentIntensityAnalyzer()

    def mean_sentiment(chats):
        return sum(vader.polarity_scores(e["message"])["compound"] for e in chats) / len(chats)

    found = 0
    for events, start, end in windows(long_run, "sentiment_swing"):
        before = between(events, "chat", start - timedelta(minutes=5), start)
        during = between(events, "chat", start, end)
        assert abs(mean_sentiment(during) - mean_sentiment(before)) >= 0.3
        ratio = rate_per_s(events, "chat", start, end) / rate_per_s(
            events, "chat", start - timedelta(minutes=5), start
        )
        assert 0.6 < ratio < 1.7  # chat's own bursts, not a spike
        found += 1
    assert found >= 3
