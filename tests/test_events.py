"""The synthetic event generator: determinism, rates, schema, realistic payloads, vocabulary.

Pure Python, no broker. Expected values come from the spec (rate x span, hand-written
price tables, the conf/ tables), never from the generator's own constants.
Ground truth of injected moments: tests/test_event_moments.py; bad input:
tests/test_event_faults.py.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections import Counter
from datetime import timedelta
from itertools import islice

import pytest
from event_helpers import START, parsed_run, read_csv, run, ts_of
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from pipelines.core.contract import REQUIRED_FIELDS
from pipelines.core.schemas import ENVELOPE_FIELDS, EVENT_SCHEMAS
from pipelines.sim import event_vocab

TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
CURRENCIES = {"USD", "EUR", "GBP", "CAD", "AUD", "BRL", "JPY", "SEK", "PLN", "MXN"}
SUB_PRICES = {"1000": 4.99, "2000": 9.99, "3000": 24.99}
KNOWN_BADGES = {"broadcaster", "moderator", "vip", "subscriber", "premium"}


@pytest.fixture(scope="module")
def half_hour():
    """Two channels, 30 minutes at 10 events/s."""
    return parsed_run(["alpha", "bravo"], rate=10.0, minutes=30, seed=11)


def test_same_seed_same_records_other_seed_differs():
    a = [(r.topic_type, r.key, r.value, r.ts_ms, r.kind) for r in run(["x"], minutes=5)[1]]
    b = [(r.topic_type, r.key, r.value, r.ts_ms, r.kind) for r in run(["x"], minutes=5)[1]]
    c = [r.value for r in run(["x"], minutes=5, seed=8)[1]]
    assert a == b
    assert len(set(c) & {v for _, _, v, _, _ in a}) == 0


def test_channel_streams_do_not_depend_on_the_other_channels():
    alone = [r.value for r in run(["x"], minutes=20, bad_ratio=0.05)[1]]
    together = [
        r.value for r in run(["w", "x", "y"], minutes=20, bad_ratio=0.05)[1] if r.key == "x"
    ]
    assert alone == together


def test_rate_is_events_per_second_per_channel_over_30_minutes():
    _, records = run(["a", "b", "c", "d"], rate=20.0, minutes=30, seed=3)
    per_channel = Counter(r.key for r in records)
    # Chat's own rhythm (a per-second activity factor with a few seconds' memory, organic
    # bursts, moments) moves one channel's 30 minutes by about 4% (one sd): a channel
    # within 12%, the mean of four within 5%.
    for channel, n in per_channel.items():
        assert abs(n - 36_000) / 36_000 < 0.12, (channel, n)
    assert abs(sum(per_channel.values()) / 4 - 36_000) / 36_000 < 0.05


def test_records_in_event_time_order_and_ts_format():
    _, records = run(["a", 'la "straße"'], minutes=10)  # stream ids needing JSON escapes
    times = [r.ts_ms for r in records]
    assert times == sorted(times)
    for rec in records:
        event = json.loads(rec.value)
        assert TS_RE.match(event["ts"]), event["ts"]
        assert ts_of(event) == rec.event_ts
        # Compact UTF-8 JSON, envelope first.
        assert list(event)[:5] == ENVELOPE_FIELDS
        assert json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode() == rec.value


def test_good_events_fit_the_schema(half_hour):
    timelines, _, records = half_hour
    events = {e["event_id"]: e for t in timelines.values() for e in t}
    assert len(events) == len(records)  # event_ids are unique
    for rec in records:
        event = events[json.loads(rec.value)["event_id"]]
        etype = event["event_type"]
        assert etype == rec.topic_type and event["stream_id"] == rec.key
        assert set(event) <= set(EVENT_SCHEMAS[etype].names), event
        for name in (*ENVELOPE_FIELDS, *REQUIRED_FIELDS[etype]):
            assert event.get(name) is not None, (name, event)
        assert event["schema_version"] == 1
    assert all(uuid.UUID(i).version == 4 for i in islice(events, 1000))


def test_payload_values_are_realistic(half_hour):
    by_stream, _, _ = half_hour
    for events in by_stream.values():
        for e in events:
            if e["event_type"] == "viewer":
                assert isinstance(e["viewer_count"], int) and e["viewer_count"] >= 0
            elif e["event_type"] == "chat":
                tokens = [t for t in e["message"].split() if t in event_vocab.EMOTES]
                assert tokens == e["emotes"], e
                assert set(e["badges"]) <= KNOWN_BADGES
            elif e["event_type"] == "transaction":
                check_transaction(e)
            else:
                assert e["status"] in ("live", "offline") and TS_RE.match(e["started_at"])


def check_transaction(e: dict) -> None:
    assert e["currency"] in CURRENCIES and e["amount"] > 0
    if e["tx_type"] == "subscription":
        assert e["amount"] == SUB_PRICES[e["tier"]] and e["currency"] == "USD"
    elif e["tx_type"] == "gift_sub":
        assert e["amount"] == round(e["gift_count"] * 4.99, 2) and e["gift_count"] >= 1
    elif e["tx_type"] == "bits":
        assert e["currency"] == "USD" and e["amount"] * 100 == int(e["amount"] * 100)
    else:
        assert e["tx_type"] == "donation"


def test_viewers_sampled_every_five_seconds_and_chat_dominates(half_hour):
    by_stream, _, _ = half_hour
    events = by_stream["alpha"]
    viewers = [ts_of(e) for e in events if e["event_type"] == "viewer"]
    gaps = {round((b - a).total_seconds()) for a, b in zip(viewers, viewers[1:], strict=False)}
    assert gaps == {5}
    kinds = Counter(e["event_type"] for e in events)
    assert kinds["chat"] > 0.9 * len(events) and kinds["transaction"] > 0


def test_stream_meta_live_at_start_offline_at_end():
    _, records = run(["a"], minutes=5)
    first, last = json.loads(records[0].value), json.loads(records[-1].value)
    assert first["event_type"] == last["event_type"] == "stream_meta"
    assert first["status"] == "live" and last["status"] == "offline"
    assert first["started_at"] == "2026-03-01T20:00:00.000Z" == last["started_at"]
    assert ts_of(last) < START + timedelta(minutes=5)


def test_emote_popularity_is_zipf_like(half_hour):
    by_stream, _, _ = half_hour
    counts = Counter(
        em for e in by_stream["bravo"] if e["event_type"] == "chat" for em in e["emotes"]
    )
    freq = sorted(counts.values(), reverse=True)
    assert len(freq) >= 15
    assert freq[0] >= 3 * freq[4]
    # Least-squares slope of log(frequency) against log(rank) over the first 15 ranks.
    xs = [math.log(r) for r in range(1, 16)]
    ys = [math.log(f) for f in freq[:15]]
    mx, my = sum(xs) / 15, sum(ys) / 15
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    assert -2.0 < slope < -0.7, slope


def test_emote_moods_agree_with_the_emote_sentiment_table():
    valence = {row["emote"]: float(row["valence"]) for row in read_csv("emote_sentiment.csv")}
    words = SentimentIntensityAnalyzer().lexicon
    assert all(valence[e] > 0 for e in event_vocab.HAPPY_EMOTES)
    assert all(valence[e] < 0 for e in event_vocab.SAD_EMOTES)
    for e in event_vocab.SPIKE_EMOTES:
        assert e not in valence and e.lower() not in words
    assert set(event_vocab.EMOTES) == (
        event_vocab.HAPPY_EMOTES | event_vocab.SAD_EMOTES | set(event_vocab.SPIKE_EMOTES)
    )


def test_donation_currencies_are_in_the_rate_table():
    known = {row["currency"] for row in read_csv("currency_rates.csv")}
    assert CURRENCIES <= known
    assert {c for c, *_ in event_vocab.DONATION_CURRENCIES} == CURRENCIES


def test_phrases_score_as_their_group_in_vader():
    vader = SentimentIntensityAnalyzer()

    def score(text):
        return vader.polarity_scores(text)["compound"]

    assert all(score(p) > 0.3 for p in event_vocab.POSITIVE_PHRASES)
    assert all(score(p) < -0.3 for p in event_vocab.NEGATIVE_PHRASES)
    assert all(score(p) == 0 for p in event_vocab.NEUTRAL_PHRASES)
    assert all(score(e) == 0 for e in event_vocab.EMOTES)


def test_generated_records_are_exactly_the_bytes_of_encode_event():
    # The generator splices a prebuilt envelope and the payload's JSON instead of encoding
    # a dict per record: the bytes must be the ones encode_event gives for that event.
    from pipelines.sim.event_codec import encode_event

    _, records = run(["splice_a", "splice_b"], rate=20.0, minutes=3)
    good = [r for r in records if r.kind == "good"]
    assert len(good) > 3000
    for rec in good:
        assert encode_event(json.loads(rec.value)) == rec.value
